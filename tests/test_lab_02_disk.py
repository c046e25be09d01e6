"""Lab 02 Disk, graded for real: a course made by `dflab course init`, real `nbgrader autograde`, a real kernel.

Each test submits one notebook as one trainee and reads the scores back from nbgrader's own gradebook.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from dflab.course_cli import course
from dflab.errors import DflabError
from dflab.grading.checks import check_answer, lookup
from dflab.grading.course import init_course
from tests.labkit import (
    ABOUT_GRADING,
    SECRET,
    Lab,
    course_fixtures,
    key,
    leaked_forms,
    nbgrader,
    roster_of,
    solution_cells,
)

LAB = Lab("02-disk", "02-disk.ipynb")
pytestmark = pytest.mark.xdist_group("lab-02-disk")  # one worker: the course is built once per module


bundled_course, small_course, course_dir = course_fixtures(LAB)


def test_solution_scores_full_marks_against_each_trainees_own_evidence(course_dir: Path) -> None:
    LAB.assert_full_marks(course_dir, 13)


@ABOUT_GRADING
def test_blank_release_scores_zero(course_dir: Path) -> None:
    LAB.assert_blank_scores_zero(course_dir, "check-payload-hash", "payload_sha256")


@ABOUT_GRADING
def test_partly_answered_scores_the_expected_partial_marks(course_dir: Path) -> None:
    nb = LAB.source_nb(course_dir)
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in solution_cells(nb)}
    by_id["answer-slack"].source = "# YOUR CODE HERE\nraise NotImplementedError()"
    by_id["answer-payload-hash"].source = 'payload_sha256 = "0" * 64'
    scores = LAB.submit_and_grade(course_dir, "alice", nb)
    expected = LAB.points(course_dir) | {"check-slack": 0.0, "check-payload-hash": 0.0}
    assert scores == expected and sum(scores.values()) == 10
    [out] = LAB.feedback(course_dir, "alice", "check-payload-hash")
    assert out["evalue"] == "payload_sha256: hash/hex value does not match your evidence"
    assert key(course_dir, "alice")["answers"]["payload_sha256"] not in json.dumps(
        LAB.autograded_nb(course_dir, "alice").cells[-1])


@ABOUT_GRADING
def test_deleted_cells_score_zero_not_their_previous_grade(course_dir: Path) -> None:
    full = LAB.points(course_dir)
    assert LAB.submit_and_grade(course_dir, "alice", LAB.source_nb(course_dir)) == full
    nb = LAB.source_nb(course_dir)
    nb.cells = [c for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") not in ("check-slack", "answer-note", "check-note")]
    scores = LAB.submit_and_grade(course_dir, "alice", nb)
    assert scores == full | {"check-slack": 0.0, "check-note": 0.0}
    [out] = LAB.feedback(course_dir, "alice", "check-note")
    assert out["evalue"] == "tampered: test cell 'check-note' was deleted"


@ABOUT_GRADING
def test_copied_answers_score_only_where_the_variants_coincide(course_dir: Path) -> None:
    full = LAB.points(course_dir)
    copied = LAB.typed_in(course_dir, LAB.expected_values(course_dir, "alice", "key"))  # alice's answers, as literals
    assert LAB.submit_and_grade(course_dir, "alice", copy.deepcopy(copied)) == full

    checks = LAB.checks()
    alice, bob = key(course_dir, "alice"), key(course_dir, "bob")
    cell_of = {f"check-{g.removeprefix('check-')}": g for g in full}
    test_names = {c.metadata["nbgrader"]["grade_id"]: re.findall(r"answer\('(\w+)'", c.source)
                  for c in LAB.source_nb(course_dir).cells if c.metadata.get("nbgrader", {}).get("grade")}
    expected = {}
    for grade_id in cell_of:
        ok = all(check_answer(checks, n, lookup(alice, checks.key_path(n), "k"), bob, "k")[0]
                 for n in test_names[grade_id])
        expected[grade_id] = full[grade_id] if ok else 0.0
    scores = LAB.submit_and_grade(course_dir, "bob", copied)
    assert scores == expected
    assert 0 < sum(scores.values()) < sum(full.values())
    assert scores["check-payload-hash"] == 0 and scores["check-slack"] == 0 and scores["check-note"] == 0


def test_release_has_no_solution_code_and_no_answer_values(course_dir: Path) -> None:
    text = LAB.released_text(course_dir)
    for student in ("alice", "bob"):
        k = key(course_dir, student)
        values = [v for v in k["answers"].values()] + [k["evidence_manifest_sha256"]]
        for value in values:
            assert not (leaked := leaked_forms(text, value)), f"{student}: {leaked[0]!r} released"


@ABOUT_GRADING
def test_nbgrader_validate(course_dir: Path) -> None:
    LAB.assert_validates(course_dir)


@ABOUT_GRADING
def test_submission_without_evidence_fails_alone_with_a_clear_reason(course_dir: Path) -> None:
    dest = course_dir / "submitted" / "carol" / LAB.id
    dest.mkdir(parents=True)
    nbformat.write(LAB.source_nb(course_dir), dest / LAB.nb)
    try:
        proc = nbgrader(course_dir, "autograde", LAB.id, "--student", "carol", "--force")
    finally:
        (dest / LAB.nb).unlink()
        dest.rmdir()
    assert proc.returncode != 0
    assert "no evidence for trainee 'carol'" in proc.stderr
    assert "There was an error processing assignment '02-disk' for student 'carol'" in proc.stderr


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()
            and p.relative_to(root).parts[0] not in ("submitted", "autograded")}


def test_course_init_is_idempotent_and_rejects_a_bad_roster(course_dir: Path) -> None:
    roster = roster_of(course_dir)
    before = tree_digest(course_dir)
    run = CliRunner().invoke(course, ["init", str(course_dir), "--roster", str(roster), "--lab", LAB.id,
                                      "--secret", SECRET])
    assert run.exit_code == 0, run.output
    assert run.output.strip().endswith("up to date, nothing changed")
    assert tree_digest(course_dir) == before
    with pytest.raises(DflabError, match=r"\.dflab-course\.json: this course was built with a different course secret"):
        init_course(course_dir, roster, LAB.id, "another-secret")
    assert tree_digest(course_dir) == before
    bad = roster.parent / "bad.csv"
    bad.write_text("id,name\nalice,A\nAlice B,B\n")
    with pytest.raises(DflabError, match=r"bad.csv:3: trainee id 'Alice B' must be"):
        init_course(course_dir, bad, LAB.id, SECRET)
