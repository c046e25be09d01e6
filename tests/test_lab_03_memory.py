"""Lab 03 Memory, graded for real: a course made by `dflab course init`, real `nbgrader autograde`, a real kernel
running volatility3 on each trainee's own memory image.

Each test submits one notebook as one trainee and reads the scores back from nbgrader's own gradebook.
The lab-independent helpers (running nbgrader, reading a key, finding solution cells) come from lab 02's tests.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml
from nbgrader.api import Gradebook

from dflab.grading.checks import check_answer, load_checks, lookup
from dflab.grading.course import init_course
from tests.test_lab_02_disk import key, nbgrader, solution_cells

ROOT = Path(__file__).resolve().parents[1]
LAB = "03-memory"
NB = "03-memory.ipynb"
SECRET = "test-secret"
FULL_MARKS = 15
pytestmark = pytest.mark.xdist_group("lab-03-memory")  # one worker: the course is built once per module


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("course")
    roster = root.parent / "roster.csv"
    roster.write_text("id,name,email\nalice,Alice Adams,alice@example.org\nbob,Bob Brown,bob@example.org\n")
    result = init_course(root, roster, LAB, SECRET)
    assert result.evidence_built == ["alice", "bob"] and result.students_added == ["alice", "bob"] and result.released
    return root


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
    """Every graded answer's expected value for ``student``, read through the check file's key paths."""
    checks = load_checks(ROOT / "graders" / f"{LAB}.yaml")
    k = key(root, student)
    return {name: lookup(k, checks.key_path(name), student) for name in checks.checks}


def test_notebook_lab_yaml_and_check_file_name_the_same_answers() -> None:
    """Each test cell only records answers; every answer is recorded once, has a shape and a check."""
    nb = nbformat.read(ROOT / "labs" / LAB / "source.ipynb", as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    recorded = [re.fullmatch(r"answer\('(\w+)', (\w+)\);", c.source).groups() for c in tests]
    assert all(name == var for name, var in recorded)
    names = [name for name, _ in recorded]
    meta = yaml.safe_load((ROOT / "labs" / LAB / "lab.yaml").read_text(encoding="utf-8"))
    assert sorted(names) == sorted(set(names)) == sorted(meta["answers"]) \
        == sorted(load_checks(ROOT / "graders" / f"{LAB}.yaml").checks)
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
    full = points(course_dir)
    assert sum(full.values()) == FULL_MARKS
    for student in ("alice", "bob"):
        assert submit_and_grade(course_dir, student, source_nb(course_dir)) == full
        assert all(feedback(course_dir, student, g) == [] for g in full)
        graded = nbformat.read(course_dir / "autograded" / student / LAB / NB, as_version=4)
        [tree] = [c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "answer-hidden"]
        want = expected_values(course_dir, student)
        assert f"{want['hidden_comm']} ({want['hidden_pid']})   <== not in pslist: hidden" in tree.outputs[0]["text"]


def test_blank_release_scores_zero(course_dir: Path) -> None:
    released = nbformat.read(course_dir / "release" / LAB / NB, as_version=4)
    scores = submit_and_grade(course_dir, "bob", released)
    assert scores == dict.fromkeys(points(course_dir), 0.0)
    [out] = feedback(course_dir, "bob", "check-hidden-pid")
    assert out["ename"] == "AnswerCheck"
    assert out["evalue"] == ("hidden_pid: no answer recorded (was the cell run?) "
                             "[NameError: name 'hidden_pid' is not defined]")


def test_partly_answered_scores_the_expected_partial_marks(course_dir: Path) -> None:
    nb = source_nb(course_dir)
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in solution_cells(nb)}
    by_id["answer-hidden"].source = "# YOUR CODE HERE\nraise NotImplementedError()"
    by_id["answer-injected"].source = 'injected_address = "0x7f0000000000"'
    scores = submit_and_grade(course_dir, "alice", nb)
    expected = points(course_dir) | {"check-hidden-pid": 0.0, "check-hidden-comm": 0.0, "check-injected": 0.0}
    assert scores == expected and sum(scores.values()) == FULL_MARKS - 5
    [out] = feedback(course_dir, "alice", "check-injected")
    assert out["evalue"] == "injected_address: hash/hex value does not match your evidence"
    [out] = feedback(course_dir, "alice", "check-hidden-comm")
    assert out["evalue"] == ("hidden_comm: no answer recorded (was the cell run?) "
                             "[NameError: name 'hidden_comm' is not defined]")
    shown = json.dumps(feedback(course_dir, "alice", "check-injected"))
    assert expected_values(course_dir, "alice")["injected_address"].removeprefix("0x") not in shown


def copied_answers_notebook(root: Path, values_from: str) -> nbformat.NotebookNode:
    """The solution notebook with every answer typed in as a literal taken from one trainee's key (copying)."""
    nb = source_nb(root)
    first, *rest = solution_cells(nb)
    first.source = "\n".join(f"{n} = {v!r}" for n, v in expected_values(root, values_from).items())
    for cell in rest:
        cell.source = "pass"
    return nb


def test_copied_answers_score_only_where_the_variants_coincide(course_dir: Path) -> None:
    full = points(course_dir)
    copied = copied_answers_notebook(course_dir, "alice")
    assert submit_and_grade(course_dir, "alice", copy.deepcopy(copied)) == full

    checks = load_checks(ROOT / "graders" / f"{LAB}.yaml")
    alice, bob = key(course_dir, "alice"), key(course_dir, "bob")
    test_names = {c.metadata["nbgrader"]["grade_id"]: re.findall(r"answer\('(\w+)'", c.source)
                  for c in source_nb(course_dir).cells if c.metadata.get("nbgrader", {}).get("grade")}
    expected = {grade_id: full[grade_id] if all(
        check_answer(checks, n, lookup(alice, checks.key_path(n), "k"), bob, "k")[0] for n in names) else 0.0
        for grade_id, names in test_names.items()}
    scores = submit_and_grade(course_dir, "bob", copied)
    assert scores == expected
    assert scores == dict.fromkeys(full, 0.0)  # with this course secret, every answer differs between the two


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
        for name, value in expected_values(course_dir, student).items():
            forms = {str(value), json.dumps(value)[1:-1]} if isinstance(value, str) else {str(value)}
            for form in forms:  # as typed, and JSON-escaped as it would sit in the .ipynb
                assert not re.search(rf"(?<![\w.]){re.escape(form)}(?![\w])", text), f"{student}: {name} released"


def test_nbgrader_validate(course_dir: Path) -> None:
    alice = course_dir / "evidence" / "alice" / "evidence"
    proc = nbgrader(course_dir, "validate", f"source/{LAB}/{NB}", evidence=alice)
    assert "Success! Your notebook passes all the tests." in proc.stdout, proc.stdout + proc.stderr
    proc = nbgrader(course_dir, "validate", "--invert", f"release/{LAB}/{NB}", evidence=alice)
    assert "Success! The notebook does not pass any tests." in proc.stdout, proc.stdout + proc.stderr
