"""Lab 01 Live response, graded for real: each trainee's own suspect, a real kernel, real `nbgrader autograde`.

A trainee's run is the notebook executed beside their running suspect in fresh namespaces, as in their container
(tests/livekit.py); what they hand in is the notebook folder with its case folder.  Grading re-executes the
notebook where no suspect runs and reads the *submitted* case folder.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from dflab.errors import DflabError
from dflab.grading.checks import check_answer, load_checks, lookup
from dflab.lab_meta import REPO
from dflab.live import witness
from dflab.live.collect import LOG_NAME
from dflab.live.custody import Transfer, close_case
from dflab.live.traits import suspect_seed
from dflab.scenario.draw import DEMO_SECRET
from tests.forgekit import fabricate, sign
from tests.labkit import LOCAL_SANDBOX, SECRET, Lab, key, leaked_forms, nbgrader
from tests.livekit import run_as_trainee

LAB = Lab("01-live", "01-live.ipynb")
CASE = "case"
pytestmark = pytest.mark.xdist_group("lab-01-live")  # one worker: the course and the trainees' runs are shared
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
COLLECTION = {"check-order", "check-hashes", "check-completeness", "check-custody"}
TRAITS = {"check-collected-exe", "check-collected-held-file", "check-collected-listener", "check-collected-sink",
          "check-collected-session"}
UNSEALED = "carry no seal of your running suspect for the time they state"


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("course")
    return LAB.build_course(root, root.parent / "roster.csv")


def trainee_run(root: Path, student: str, nb: nbformat.NotebookNode, name: str) -> Path:
    """``nb`` run by ``student`` in their environment, beside their suspect; returns the folder they hand in."""
    folder = root.parent / "trainees" / name / LAB.id
    folder.mkdir(parents=True)
    shutil.copy(root / "source" / LAB.id / "lab.yaml", folder / "lab.yaml")
    nbformat.write(nb, folder / LAB.nb)
    figures = run_as_trainee(folder, LAB.nb, suspect_seed(student, SECRET))
    assert figures["suspect_running"] == "running"
    return folder


@pytest.fixture(scope="module")
def solutions(course_dir: Path) -> dict[str, Path]:
    """Each trainee's run of the solution notebook."""
    return {s: trainee_run(course_dir, s, LAB.source_nb(course_dir), f"{s}-solution") for s in ("alice", "bob")}


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def submit(root: Path, student: str, folder: Path) -> dict[str, float]:
    """Hand in ``folder`` (notebook, lab.yaml, case folder) as ``student``; autograde; grade id -> score."""
    dest = root / "submitted" / student / LAB.id
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(folder, dest)
    proc = nbgrader(root, "autograde", LAB.id, "--student", student, "--force", *LOCAL_SANDBOX)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {g.name: g.auto_score for g in gb.find_submission_notebook(LAB.id, LAB.id, student).grades}


def evalue(root: Path, student: str, grade_id: str) -> str:
    [out] = LAB.feedback(root, student, grade_id)
    return out["evalue"]


def test_solution_scores_full_marks_and_regrading_leaves_the_collection_intact(course_dir, solutions) -> None:
    full = LAB.points(course_dir)
    assert sum(full.values()) == 25
    for student, folder in solutions.items():
        handed_in = digest(folder / CASE)
        assert LOG_NAME in handed_in and "custody.json" in handed_in and "custody.jsonld" in handed_in
        assert submit(course_dir, student, folder) == full
        assert all(LAB.feedback(course_dir, student, g) == [] for g in full)
        # The grader's re-execution (no suspect there) replayed the closed case, and read only what was handed in.
        assert digest(course_dir / "autograded" / student / LAB.id / CASE) == handed_in
        assert digest(course_dir / "submitted" / student / LAB.id / CASE) == handed_in


def test_blank_release_scores_zero(course_dir) -> None:
    folder = course_dir.parent / "trainees" / "blank" / LAB.id
    folder.mkdir(parents=True)
    for name in (LAB.nb, "lab.yaml"):
        shutil.copy(course_dir / "release" / LAB.id / name, folder / name)
    scores = submit(course_dir, "bob", folder)
    assert scores == dict.fromkeys(LAB.points(course_dir), 0.0)
    assert evalue(course_dir, "bob", "check-suspect-name") == (
        "suspect_name: no answer recorded (was the cell run?) [NameError: name 'suspect_name' is not defined]")
    assert evalue(course_dir, "bob", "check-order") == ("collection_order: no answer recorded (was the cell run?) "
                                                        "[DflabError: case: nothing has been collected into the case "
                                                        "folder yet]")
    # Recorded anyway (by hand), a case folder that was never handed in scores 0 with a reason.
    checks, bob = LAB.checks(), key(course_dir, "bob")
    assert check_answer(checks, "collection_order", CASE, bob, "k", folder) == (
        False, "no case directory 'case' was handed in with the notebook")


def test_disk_first_and_no_custody_record_lose_exactly_those_points(course_dir) -> None:
    nb = LAB.source_nb(course_dir)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    cells["collect-volatile"].source = 'passwd = collector.file("/etc/passwd")\n' + cells["collect-volatile"].source
    cells["close-case"].source = STUB
    folder = trainee_run(course_dir, "alice", nb, "alice-partial")
    scores = submit(course_dir, "alice", folder)
    assert scores == LAB.points(course_dir) | {"check-order": 0.0, "check-custody": 0.0}
    assert sum(scores.values()) == 20
    assert "network_connections (entry 3, network state" in evalue(course_dir, "alice", "check-order")
    assert "was collected after file (entry 2, disk" in evalue(course_dir, "alice", "check-order")
    assert evalue(course_dir, "alice", "check-custody") == (
        "collection_custody: no custody record (custody.json): the case was not closed")


def test_a_collection_passes_only_against_its_own_trainees_key(course_dir, solutions) -> None:
    """Alice's hand-in graded as bob: sound and sealed, but by alice's suspect; her findings and exhibits are not
    bob's either."""
    checks = LAB.checks()
    alice, bob = key(course_dir, "alice"), key(course_dir, "bob")
    tests = {c.metadata["nbgrader"]["grade_id"]: c.source for c in LAB.source_nb(course_dir).cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    full = LAB.points(course_dir)
    expected = {}
    for grade_id, source in tests.items():
        names = [n for n in checks.checks if f"answer('{n}'," in source]
        values = {n: CASE if checks.checks[n].compare == "live_collection" else lookup(alice, checks.key_path(n), "k")
                  for n in names}
        ok = all(check_answer(checks, n, v, bob, "k", solutions["alice"])[0] for n, v in values.items())
        expected[grade_id] = full[grade_id] if ok else 0.0
    assert all(expected[g] == 0.0 for g in COLLECTION | TRAITS | {"check-exe-hash", "check-held-hash", "check-beacon"})
    assert submit(course_dir, "bob", solutions["alice"]) == expected
    assert evalue(course_dir, "bob", "check-collected-exe") == (
        "collected_exe: no recovered executable has the suspect's hash")
    assert UNSEALED in evalue(course_dir, "bob", "check-custody")


def test_a_fabricated_case_folder_with_the_released_notebook_scores_zero(course_dir) -> None:
    """Issue 13 item 5: the released notebook untouched and a case folder made without collecting anything. As
    reported (the log's clock running backwards, a custody record signed anyway, 9/25 before), and done carefully
    (clocks that agree, close_case's own record, seals under the key the public demo secret gives): nothing."""
    forgeries = {"backwards": {"step_s": -7.0},
                 "careful": {"seal_key": witness.slot_key(suspect_seed("bob", DEMO_SECRET))}}
    for name, how in forgeries.items():
        folder = course_dir.parent / "trainees" / f"bob-forged-{name}" / LAB.id
        folder.mkdir(parents=True)
        for n in (LAB.nb, "lab.yaml"):
            shutil.copy(course_dir / "release" / LAB.id / n, folder / n)
        fabricate(folder / CASE, **how)
        if name == "careful":
            close_case(folder / CASE, [Transfer("bob", "Nightjar evidence custodian", "storage")])
        else:
            sign(folder / CASE)
        scores = submit(course_dir, "bob", folder)
        assert scores == dict.fromkeys(LAB.points(course_dir), 0.0), name
        assert UNSEALED in evalue(course_dir, "bob", "check-order")


def test_altered_exhibit_and_broken_log_score_zero_with_a_reason(course_dir, solutions) -> None:
    folder = course_dir.parent / "trainees" / "alice-tampered" / LAB.id
    shutil.copytree(solutions["alice"], folder)
    [held] = (folder / CASE).glob("*-fd-*.bin")
    held.write_bytes(held.read_bytes().replace(b"do not remove", b"do not delete"))
    scores = submit(course_dir, "alice", folder)
    lost = {"check-hashes", "check-completeness", "check-collected-held-file",
            # the re-executed notebook refuses the altered exhibit, so the recovery cell records nothing
            "check-exe-hash", "check-held-hash", "check-beacon"}
    assert scores == LAB.points(course_dir) | dict.fromkeys(lost, 0.0)
    assert evalue(course_dir, "alice", "check-hashes") == (
        f"collection_hashes: entry 8: {held.name} does not match its logged SHA-256")
    [refused] = LAB.feedback(course_dir, "alice", "answer-recovery")
    assert refused["ename"] == "EvidenceError" and "does not match its logged SHA-256 (altered?)" in refused["evalue"]

    # A log line edited after the fact breaks the hash chain and the custody record's log hash: graded, no crash.
    checks, alice = LAB.checks(), key(course_dir, "alice")
    log = folder / CASE / LOG_NAME
    lines = log.read_bytes().splitlines()
    lines[3] = lines[3].replace(b'"examiner":"', b'"examiner":"not ')
    log.write_bytes(b"\n".join(lines) + b"\n")
    ok, why = check_answer(checks, "collection_hashes", CASE, alice, "k", folder)
    assert not ok and "entry 5: hash chain broken" in why
    ok, why = check_answer(checks, "collection_custody", CASE, alice, "k", folder)
    assert not ok and why.startswith("the collection log changed after the custody record was written; ")
    assert "1 of 9 log entries (entry 4) carry no seal" in why and why.endswith("(and 1 more)")   # + the chain
    for outside in ("/etc", "../../../..", "../alice-solution"):
        assert check_answer(checks, "collection_order", outside, alice, "k", folder) == (
            False, "the case directory must be a relative path inside your assignment folder")


def test_release_has_no_solution_code_and_no_answer_values(course_dir) -> None:
    text = LAB.released_text(course_dir)
    checks = LAB.checks()
    for student in ("alice", "bob"):
        k = key(course_dir, student)
        live = k["facts"]["live"]
        values = [lookup(k, checks.key_path(n), "k") for n, c in checks.checks.items()
                  if c.compare != "live_collection"]
        values += [live["held_file"]["sha256"], live["user_trace"]["ssh_connection"], live["beacon"].split()[1]]
        for value in values:
            assert not (leaked := leaked_forms(text, value)), f"{student}: {leaked[0]!r} released"


def test_nbgrader_validate(course_dir, solutions) -> None:
    """The solution validates where it was collected (the closed case replays); the blank release fails every test."""
    copy = course_dir.parent / "validate"
    shutil.copytree(solutions["alice"], copy / "solution")
    shutil.copytree(course_dir / "release" / LAB.id, copy / "release")
    before = digest(copy / "solution" / CASE)
    proc = nbgrader(course_dir, "validate", str(copy / "solution" / LAB.nb))
    assert "Success! Your notebook passes all the tests." in proc.stdout, proc.stdout + proc.stderr
    assert digest(copy / "solution" / CASE) == before
    proc = nbgrader(course_dir, "validate", "--invert", str(copy / "release" / LAB.nb))
    assert "Success! The notebook does not pass any tests." in proc.stdout, proc.stdout + proc.stderr


def test_check_file_names_known_criteria_only(tmp_path: Path) -> None:
    bad = tmp_path / "01-live.yaml"
    bad.write_text("lab: 01-live\nchecks:\n  collection_order: {compare: live_collection, criterion: speed}\n")
    (tmp_path / "01-live.hooks.py").write_bytes((REPO / "labs" / "01-live" / "hooks.py").read_bytes())
    with pytest.raises(DflabError, match=r"01-live.yaml:3: checks.collection_order: criterion must be one of order,"):
        load_checks(bad)
    bad.write_text("lab: 01-live\nchecks:\n  beacon: {compare: exact, criterion: order}\n")
    with pytest.raises(DflabError, match="criterion is only for a kind the lab's hooks define"):
        load_checks(bad)
    # Without the lab's hooks beside it, its own kind is unknown, at its line.
    (tmp_path / "01-live.hooks.py").unlink()
    bad.write_text("lab: 01-live\nchecks:\n  collection_order: {compare: live_collection, criterion: order}\n")
    with pytest.raises(DflabError, match=r"01-live.yaml:3: checks.collection_order.compare: 'live_collection' is "
                       r"neither a dflab kind .* nor one the lab's hooks define \(none\)"):
        load_checks(bad)
