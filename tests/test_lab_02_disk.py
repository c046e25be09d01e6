"""Lab 02 Disk, graded for real: a course made by `dflab course init`, real `nbgrader autograde`, a real kernel.

Each test submits one notebook as one trainee and reads the scores back from nbgrader's own gradebook.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbgrader.api import Gradebook

from dflab.course_cli import course
from dflab.errors import DflabError
from dflab.grading.checks import check_answer, load_checks, lookup
from dflab.grading.course import init_course

ROOT = Path(__file__).resolve().parents[1]
LAB = "02-disk"
NB = "02-disk.ipynb"
SECRET = "test-secret"
pytestmark = pytest.mark.xdist_group("lab-02-disk")  # one worker: the course is built once per module


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("course")
    roster = root.parent / "roster.csv"
    roster.write_text("id,name,email\nalice,Alice Adams,alice@example.org\nbob,Bob Brown,bob@example.org\n")
    result = init_course(root, roster, LAB, SECRET)
    assert result.evidence_built == ["alice", "bob"] and result.students_added == ["alice", "bob"] and result.released
    return root


def nbgrader(root: Path, *args: str, evidence: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]), "HOME": str(root)}
    if evidence:
        env["DFLAB_EVIDENCE"] = str(evidence)
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=900)


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


def key(root: Path, student: str) -> dict:
    return json.loads((root / "evidence" / student / "key" / "answer_key.json").read_text())


def solution_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


def test_solution_scores_full_marks_against_each_trainees_own_evidence(course_dir: Path) -> None:
    full = points(course_dir)
    assert sum(full.values()) == 13
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
    by_id["answer-slack"].source = "# YOUR CODE HERE\nraise NotImplementedError()"
    by_id["answer-payload-hash"].source = 'payload_sha256 = "0" * 64'
    scores = submit_and_grade(course_dir, "alice", nb)
    expected = points(course_dir) | {"check-slack": 0.0, "check-payload-hash": 0.0}
    assert scores == expected and sum(scores.values()) == 10
    [out] = feedback(course_dir, "alice", "check-payload-hash")
    assert out["evalue"] == "payload_sha256: hash/hex value does not match your evidence"
    assert key(course_dir, "alice")["answers"]["payload_sha256"] not in json.dumps(nbformat.read(
        course_dir / "autograded" / "alice" / LAB / NB, as_version=4).cells[-1])


def test_deleted_cells_score_zero_not_their_previous_grade(course_dir: Path) -> None:
    full = points(course_dir)
    assert submit_and_grade(course_dir, "alice", source_nb(course_dir)) == full
    nb = source_nb(course_dir)
    nb.cells = [c for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") not in ("check-slack", "answer-note", "check-note")]
    scores = submit_and_grade(course_dir, "alice", nb)
    assert scores == full | {"check-slack": 0.0, "check-note": 0.0}
    [out] = feedback(course_dir, "alice", "check-note")
    assert out["evalue"] == "tampered: test cell 'check-note' was deleted"


def copied_answers_notebook(root: Path, values_from: str) -> nbformat.NotebookNode:
    """The solution notebook with every answer typed in as a literal taken from one trainee's key (copying)."""
    checks = load_checks(ROOT / "graders" / f"{LAB}.yaml")
    k = key(root, values_from)
    nb = source_nb(root)
    first, *rest = solution_cells(nb)
    first.source = "\n".join(f"{n} = {lookup(k, checks.key_path(n), 'key')!r}" for n in checks.checks)
    for cell in rest:
        cell.source = "pass"
    return nb


def test_copied_answers_score_only_where_the_variants_coincide(course_dir: Path) -> None:
    full = points(course_dir)
    copied = copied_answers_notebook(course_dir, "alice")
    assert submit_and_grade(course_dir, "alice", copy.deepcopy(copied)) == full

    checks = load_checks(ROOT / "graders" / f"{LAB}.yaml")
    alice, bob = key(course_dir, "alice"), key(course_dir, "bob")
    cell_of = {f"check-{g.removeprefix('check-')}": g for g in full}
    test_names = {c.metadata["nbgrader"]["grade_id"]: re.findall(r"answer\('(\w+)'", c.source)
                  for c in source_nb(course_dir).cells if c.metadata.get("nbgrader", {}).get("grade")}
    expected = {}
    for grade_id in cell_of:
        ok = all(check_answer(checks, n, lookup(alice, checks.key_path(n), "k"), bob, "k")[0]
                 for n in test_names[grade_id])
        expected[grade_id] = full[grade_id] if ok else 0.0
    scores = submit_and_grade(course_dir, "bob", copied)
    assert scores == expected
    assert 0 < sum(scores.values()) < sum(full.values())
    assert scores["check-payload-hash"] == 0 and scores["check-slack"] == 0 and scores["check-note"] == 0


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
    for student in ("alice", "bob"):
        k = key(course_dir, student)
        values = [v for v in k["answers"].values()] + [k["evidence_manifest_sha256"]]
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


def test_submission_without_evidence_fails_alone_with_a_clear_reason(course_dir: Path) -> None:
    dest = course_dir / "submitted" / "carol" / LAB
    dest.mkdir(parents=True)
    nbformat.write(source_nb(course_dir), dest / NB)
    try:
        proc = nbgrader(course_dir, "autograde", LAB, "--student", "carol", "--force")
    finally:
        (dest / NB).unlink()
        dest.rmdir()
    assert proc.returncode != 0
    assert "no evidence for trainee 'carol'" in proc.stderr
    assert "There was an error processing assignment '02-disk' for student 'carol'" in proc.stderr


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()
            and p.relative_to(root).parts[0] not in ("submitted", "autograded")}


def test_course_init_is_idempotent_and_rejects_a_bad_roster(course_dir: Path) -> None:
    roster = course_dir.parent / "roster.csv"
    before = tree_digest(course_dir)
    run = CliRunner().invoke(course, ["init", str(course_dir), "--roster", str(roster), "--lab", LAB,
                                      "--secret", SECRET])
    assert run.exit_code == 0, run.output
    assert run.output.strip().endswith("up to date, nothing changed")
    assert tree_digest(course_dir) == before
    with pytest.raises(DflabError, match=r"\.dflab-course\.json: this course was built with a different course secret"):
        init_course(course_dir, roster, LAB, "another-secret")
    assert tree_digest(course_dir) == before
    bad = course_dir.parent / "bad.csv"
    bad.write_text("id,name\nalice,A\nAlice B,B\n")
    with pytest.raises(DflabError, match=r"bad.csv:3: trainee id 'Alice B' must be"):
        init_course(course_dir, bad, LAB, SECRET)
