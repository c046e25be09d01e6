"""Lab 04 Network, graded for real: a course made by `dflab course init`, real `nbgrader autograde`, a real kernel.

Each grading test submits one notebook as one trainee and reads the scores back from nbgrader's own gradebook;
the last test runs the solution notebook in a kernel and checks its answers against tshark on the same capture.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient
from nbgrader.api import Gradebook

from dflab.grading.checks import check_answer, load_checks, lookup
from dflab.grading.course import init_course
from dflab.grading.preprocessor import answer_names
from dflab.lab.answers import ANSWER_MIME
from tests.test_lab_02_disk import key, nbgrader, solution_cells

ROOT = Path(__file__).resolve().parents[1]
LAB = "04-network"
NB = "04-network.ipynb"
SECRET = "test-secret"
FULL_MARKS = 17
pytestmark = pytest.mark.xdist_group("lab-04-network")  # one worker: the course is built once per module


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("course")
    roster = tmp_path_factory.mktemp("roster") / "roster.csv"  # not next to lab 02's: modules may share a basetemp
    roster.write_text("id,name,email\nalice,Alice Adams,alice@example.org\nbob,Bob Brown,bob@example.org\n")
    result = init_course(root, roster, LAB, SECRET)
    assert result.evidence_built == ["alice", "bob"] and result.students_added == ["alice", "bob"] and result.released
    return root


# Lab-parameterised versions of tests/test_lab_02_disk.py's helpers (there they are bound to its LAB constant).

def source_nb(root: Path) -> nbformat.NotebookNode:
    return nbformat.read(root / "source" / LAB / NB, as_version=4)


def points(root: Path) -> dict[str, float]:
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
            for c in source_nb(root).cells if c.metadata.get("nbgrader", {}).get("grade")}


def submit_and_grade(root: Path, student: str, nb: nbformat.NotebookNode) -> dict[str, float]:
    """Put ``nb`` in submitted/<student>/, run `nbgrader autograde`, return grade id -> auto score."""
    dest = root / "submitted" / student / LAB
    dest.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest / NB)
    proc = nbgrader(root, "autograde", LAB, "--student", student, "--force")
    assert proc.returncode == 0, proc.stderr[-3000:]
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {g.name: g.auto_score for g in gb.find_submission_notebook(LAB, LAB, student).grades}


def feedback(root: Path, student: str, grade_id: str) -> list[dict]:
    nb = nbformat.read(root / "autograded" / student / LAB / NB, as_version=4)
    [cell] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell.outputs


def expected_values(root: Path, student: str) -> dict[str, object]:
    """Every answer this lab grades, as the student's key holds it (check-file key paths)."""
    checks = load_checks(ROOT / "graders" / f"{LAB}.yaml")
    k = key(root, student)
    return {name: lookup(k, checks.key_path(name), "key") for name in checks.checks}


def test_check_file_key_paths_point_at_the_planned_facts(course_dir: Path) -> None:
    k = key(course_dir, "alice")  # drop_domain is the name the capture's DNS resolved to the drop's address
    assert k["answers"]["drop_domain"] == k["namespace"]["flows.dns-drop.qname"]
    assert k["namespace"]["flows.dns-drop.answer"] == k["answers"]["drop_ip"]
    lab = yaml.safe_load((ROOT / "labs" / LAB / "lab.yaml").read_text())
    graded = {n for c in source_nb(course_dir).cells for n in answer_names(c.source)}
    assert graded == set(lab["answers"]) == set(load_checks(ROOT / "graders" / f"{LAB}.yaml").checks)
    assert {n for step in lab["steps"] for n in step["answers"]} == graded


def test_solution_scores_full_marks_against_each_trainees_own_evidence(course_dir: Path) -> None:
    full = points(course_dir)
    assert sum(full.values()) == FULL_MARKS
    for student in ("alice", "bob"):
        assert submit_and_grade(course_dir, student, source_nb(course_dir)) == full
        assert all(feedback(course_dir, student, g) == [] for g in full)


def test_blank_release_scores_zero(course_dir: Path) -> None:
    released = nbformat.read(course_dir / "release" / LAB / NB, as_version=4)
    scores = submit_and_grade(course_dir, "bob", released)
    assert scores == dict.fromkeys(points(course_dir), 0.0)
    [out] = feedback(course_dir, "bob", "check-payload-hash")
    assert out["ename"] == "AnswerCheck"
    assert out["evalue"] == ("payload_sha256: no answer recorded (was the cell run?) "
                             "[NameError: name 'payload_sha256' is not defined]")


def test_partly_answered_scores_the_expected_partial_marks(course_dir: Path) -> None:
    nb = source_nb(course_dir)
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in solution_cells(nb)}
    by_id["answer-exfil"].source = "# YOUR CODE HERE\nraise NotImplementedError()"
    by_id["answer-credentials"].source += '\nftp_password = ftp_password + "x"'
    scores = submit_and_grade(course_dir, "alice", nb)
    lost = {"check-exfil-port": 0.0, "check-exfil-bytes": 0.0, "check-archive-hash": 0.0, "check-ftp-password": 0.0}
    assert scores == points(course_dir) | lost and sum(scores.values()) == FULL_MARKS - 5
    [out] = feedback(course_dir, "alice", "check-ftp-password")
    assert out["evalue"] == "ftp_password: not the value found in your evidence"
    [out] = feedback(course_dir, "alice", "check-exfil-port")
    assert out["evalue"] == ("exfil_port: no answer recorded (was the cell run?) "
                             "[NameError: name 'exfil_port' is not defined]")
    graded = nbformat.read(course_dir / "autograded" / "alice" / LAB / NB, as_version=4)
    feedback_text = json.dumps([c.get("outputs", []) for c in graded.cells
                                if c.metadata.get("nbgrader", {}).get("grade")])
    assert key(course_dir, "alice")["answers"]["ftp_password"] not in feedback_text  # feedback never shows the key


def copied_answers_notebook(root: Path, values_from: str) -> nbformat.NotebookNode:
    """The solution notebook with every answer typed in as a literal from one trainee's key (copying)."""
    values = expected_values(root, values_from)
    shapes = yaml.safe_load((ROOT / "labs" / LAB / "lab.yaml").read_text())["answers"]
    for name, value in values.items():
        if shapes[name]["shape"] == "time" and isinstance(value, (int, float)):  # the key holds epoch seconds
            values[name] = datetime.fromtimestamp(value, UTC).isoformat()
    nb = source_nb(root)
    first, *rest = solution_cells(nb)
    first.source = "\n".join(f"{n} = {v!r}" for n, v in values.items())
    for cell in rest:
        cell.source = "pass"
    return nb


def test_alices_answers_graded_as_bob_score_only_where_the_variants_coincide(course_dir: Path) -> None:
    full = points(course_dir)
    copied = copied_answers_notebook(course_dir, "alice")
    assert submit_and_grade(course_dir, "alice", copy.deepcopy(copied)) == full

    checks = load_checks(ROOT / "graders" / f"{LAB}.yaml")
    alice, bob = expected_values(course_dir, "alice"), key(course_dir, "bob")
    expected = {}
    for cell in source_nb(course_dir).cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            grade_id = cell.metadata["nbgrader"]["grade_id"]
            ok = all(check_answer(checks, n, alice[n], bob, "key")[0] for n in answer_names(cell.source))
            expected[grade_id] = full[grade_id] if ok else 0.0
    scores = submit_and_grade(course_dir, "bob", copied)
    assert scores == expected and sum(scores.values()) < FULL_MARKS
    for grade_id in ("check-capture", "check-payload-hash", "check-archive-hash", "check-ftp-password",
                     "check-intranet-password", "check-suspect-ip"):
        assert scores[grade_id] == 0, grade_id


def test_release_has_no_solution_code_and_no_answer_values(course_dir: Path) -> None:
    release = course_dir / "release" / LAB
    files = sorted(p for p in release.rglob("*") if p.is_file())
    assert [p.relative_to(release).as_posix() for p in files] == [NB, "lab.yaml"]
    text = "\n".join(p.read_text(encoding="utf-8") for p in files)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    for cell in solution_cells(source_nb(course_dir)):
        region = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
        for line in filter(None, (ln.strip() for ln in region.splitlines())):
            assert line not in text, f"solution line released: {line}"
    released = nbformat.read(release / NB, as_version=4)
    assert all(not c.get("outputs") for c in released.cells if c.cell_type == "code")
    tests = [c for c in released.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert tests and all(re.fullmatch(r"from dflab\.lab import answer\nanswer\('\w+', \w+\);", c.source) for c in tests)
    for student in ("alice", "bob"):
        values = list(expected_values(course_dir, student).values())
        values.append(datetime.fromtimestamp(key(course_dir, student)["facts"]["network"]["first_timestamp"],
                                             UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        for value in values:
            forms = {str(value), json.dumps(value)[1:-1]} if isinstance(value, str) else {str(value)}
            for form in forms:  # as typed, and JSON-escaped as it would sit in the .ipynb
                assert not re.search(rf"(?<![\w.]){re.escape(form)}(?![\w])", text), f"{student}: {form!r} released"


def test_nbgrader_validate(course_dir: Path) -> None:
    alice = course_dir / "evidence" / "alice" / "evidence"
    proc = nbgrader(course_dir, "validate", f"source/{LAB}/{NB}", evidence=alice)
    assert "Success! Your notebook passes all the tests." in proc.stdout, proc.stdout + proc.stderr
    proc = nbgrader(course_dir, "validate", "--invert", f"release/{LAB}/{NB}", evidence=alice)
    assert "Success! The notebook does not pass any tests." in proc.stdout, proc.stdout + proc.stderr


# ---------------------------------------------------------------------------------------- tshark cross-check

def run_solution(root: Path, student: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Execute the solution notebook in a real kernel on ``student``'s evidence; return the answers it recorded."""
    shutil.copy(root / "source" / LAB / "lab.yaml", workdir / "lab.yaml")
    monkeypatch.setenv("DFLAB_EVIDENCE", str(root / "evidence" / student / "evidence"))  # the kernel inherits it
    nb = source_nb(root)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    started = time.perf_counter()
    client.execute()
    print(f"lab 04 solution notebook: {time.perf_counter() - started:.1f} s end to end")  # reported, never asserted
    recorded = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            payload = out.get("data", {}).get(ANSWER_MIME)
            if payload:
                recorded[payload["name"]] = payload["value"]
    return recorded


def tshark(*args: str) -> str:
    proc = subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def followed_client_bytes(capture: Path, client: str, server: str) -> bytes:
    """What the client sent on one TCP connection, per `tshark -z follow,tcp,raw` (server lines are tab-indented)."""
    out = tshark("-r", str(capture), "-q", "-z", f"follow,tcp,raw,{client},{server}")
    body = out.split("Node 1:", 1)[1].split("\n", 1)[1].split("=" * 20, 1)[0]
    return bytes.fromhex("".join(ln for ln in body.splitlines() if ln and not ln.startswith("\t")))


def test_solution_answers_agree_with_tshark_on_the_same_capture(course_dir: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    answers = run_solution(course_dir, "alice", tmp_path, monkeypatch)
    assert answers == expected_values(course_dir, "alice") | {"capture_start": answers["capture_start"]}
    capture = course_dir / "evidence" / "alice" / "evidence" / "network.pcap"

    exported = tmp_path / "http-objects"
    tshark("-r", str(capture), "-q", "--export-objects", f"http,{exported}")
    by_hash = {hashlib.sha256(p.read_bytes()).hexdigest(): p.name for p in exported.iterdir()}
    payload_name = Path(key(course_dir, "alice")["answers"]["payload_path"]).name
    assert by_hash.get(answers["payload_sha256"]) == payload_name

    ftp = tshark("-r", str(capture), "-Y", 'ftp.request.command == "USER" || ftp.request.command == "PASS"',
                 "-T", "fields", "-e", "ip.dst", "-e", "ftp.request.command", "-e", "ftp.request.arg")
    assert ftp.splitlines() == [f"{answers['drop_ip']}\tUSER\t{answers['ftp_user']}",
                                f"{answers['drop_ip']}\tPASS\t{answers['ftp_password']}"]
    basic = tshark("-r", str(capture), "-Y", "http.authorization", "-T", "fields", "-e", "http.authbasic")
    assert basic.split(":", 1)[1].rstrip("\n") == answers["intranet_password"]

    client = key(course_dir, "alice")["namespace"]["flows.exfil.client_port"]
    sent = followed_client_bytes(capture, f"{answers['suspect_ip']}:{client}",
                                 f"{answers['c2_ip']}:{answers['exfil_port']}")
    assert len(sent) == answers["exfil_bytes"]
    assert hashlib.sha256(sent).hexdigest() == answers["archive_sha256"]
    count = tshark("-r", str(capture), "-T", "fields", "-e", "frame.number").split()
    assert len(count) == answers["packet_count"]
    first = float(tshark("-r", str(capture), "-c", "1", "-T", "fields", "-e", "frame.time_epoch"))
    assert datetime.fromisoformat(answers["capture_start"]).timestamp() == pytest.approx(first, abs=1e-6)
