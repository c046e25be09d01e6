"""Lab 03 Memory, graded for real: a course made by `dflab course init`, real `nbgrader autograde`, a real kernel
running volatility3 on each trainee's own memory image.

Each test submits one notebook as one trainee and reads the scores back from nbgrader's own gradebook.
The helpers shared by every lab's tests (running nbgrader, grading a submission, reading a key) are in tests/labkit.py.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from dflab.grading.checks import check_answer, lookup
from tests.labkit import ABOUT_GRADING, ROOT, Lab, course_fixtures, key, leaked_forms, solution_cells

LAB = Lab("03-memory", "03-memory.ipynb")
FULL_MARKS = 15
pytestmark = pytest.mark.xdist_group("lab-03-memory")  # one worker: the course is built once per module


bundled_course, small_course, course_dir = course_fixtures(LAB)


def expected_values(root: Path, student: str) -> dict[str, object]:
    """Every graded answer's expected value for ``student``, read through the check file's key paths."""
    return LAB.expected_values(root, student, student)


def test_notebook_lab_yaml_and_check_file_name_the_same_answers() -> None:
    """Each test cell only records answers; every answer is recorded once, has a shape and a check."""
    nb = nbformat.read(ROOT / "labs" / LAB.id / "source.ipynb", as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    recorded = [re.fullmatch(r"answer\('(\w+)', (\w+)\);", c.source).groups() for c in tests]
    assert all(name == var for name, var in recorded)
    names = [name for name, _ in recorded]
    meta = yaml.safe_load((ROOT / "labs" / LAB.id / "lab.yaml").read_text(encoding="utf-8"))
    assert sorted(names) == sorted(set(names)) == sorted(meta["answers"]) \
        == sorted(LAB.checks().checks)
    assert sorted(n for step in meta["steps"] for n in step["answers"]) == sorted(names)


def test_key_answers_describe_the_implant_volatility_sees(course_dir: Path) -> None:
    """The key's implant answers agree with the memory writer's facts: its entry, and bash as its parent."""
    for student in ("alice", "bob"):
        k = key(course_dir, student)
        ans, procs = k["answers"], k["facts"]["memory"]["processes"]
        [entry] = [p for p in procs if p["pid"] == ans["implant_pid"]]
        assert (entry["comm"], entry["ppid"], entry["args"]) == \
            (ans["implant_comm"], ans["implant_ppid"], ans["implant_cmdline"])
        assert [p["comm"] for p in procs if p["pid"] == entry["ppid"]] == ["bash"]
    assert expected_values(course_dir, "alice") != expected_values(course_dir, "bob")


def test_solution_scores_full_marks_against_each_trainees_own_evidence(course_dir: Path) -> None:
    LAB.assert_full_marks(course_dir, FULL_MARKS)
    for student in ("alice", "bob"):
        graded = LAB.autograded_nb(course_dir, student)
        [tree] = [c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "answer-hidden"]
        want = expected_values(course_dir, student)
        assert f"{want['hidden_comm']} ({want['hidden_pid']})   <== not in pslist: hidden" in tree.outputs[0]["text"]


@ABOUT_GRADING
def test_blank_release_scores_zero(course_dir: Path) -> None:
    LAB.assert_blank_scores_zero(course_dir, "check-hidden-pid", "hidden_pid")


@ABOUT_GRADING
def test_partly_answered_scores_the_expected_partial_marks(course_dir: Path) -> None:
    nb = LAB.source_nb(course_dir)
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in solution_cells(nb)}
    by_id["answer-hidden"].source = "# YOUR CODE HERE\nraise NotImplementedError()"
    by_id["answer-injected"].source = 'injected_address = "0x7f0000000000"'
    scores = LAB.submit_and_grade(course_dir, "alice", nb)
    expected = LAB.points(course_dir) | {"check-hidden-pid": 0.0, "check-hidden-comm": 0.0, "check-injected": 0.0}
    assert scores == expected and sum(scores.values()) == FULL_MARKS - 5
    [out] = LAB.feedback(course_dir, "alice", "check-injected")
    assert out["evalue"] == "injected_address: hash/hex value does not match your evidence"
    [out] = LAB.feedback(course_dir, "alice", "check-hidden-comm")
    assert out["evalue"] == ("hidden_comm: no answer recorded (was the cell run?) "
                             "[NameError: name 'hidden_comm' is not defined]")
    shown = json.dumps(LAB.feedback(course_dir, "alice", "check-injected"))
    assert expected_values(course_dir, "alice")["injected_address"].removeprefix("0x") not in shown


@ABOUT_GRADING
def test_copied_answers_score_only_where_the_variants_coincide(course_dir: Path) -> None:
    full = LAB.points(course_dir)
    copied = LAB.typed_in(course_dir, expected_values(course_dir, "alice"))  # alice's answers, as literals
    assert LAB.submit_and_grade(course_dir, "alice", copy.deepcopy(copied)) == full

    checks = LAB.checks()
    alice, bob = key(course_dir, "alice"), key(course_dir, "bob")
    test_names = {c.metadata["nbgrader"]["grade_id"]: re.findall(r"answer\('(\w+)'", c.source)
                  for c in LAB.source_nb(course_dir).cells if c.metadata.get("nbgrader", {}).get("grade")}
    expected = {grade_id: full[grade_id] if all(
        check_answer(checks, n, lookup(alice, checks.key_path(n), "k"), bob, "k")[0] for n in names) else 0.0
        for grade_id, names in test_names.items()}
    scores = LAB.submit_and_grade(course_dir, "bob", copied)
    assert scores == expected
    assert scores == dict.fromkeys(full, 0.0)  # with this course secret, every answer differs between the two


def test_release_has_no_solution_code_and_no_answer_values(course_dir: Path) -> None:
    text = LAB.released_text(course_dir)
    for student in ("alice", "bob"):
        for name, value in expected_values(course_dir, student).items():
            assert not leaked_forms(text, value), f"{student}: {name} released"


@ABOUT_GRADING
def test_nbgrader_validate(course_dir: Path) -> None:
    LAB.assert_validates(course_dir)
