"""Shared helpers for the graded-lab tests (tests/test_lab_0*.py): build a course, run real nbgrader, read grades.

Every lab test module drives the same course layout (source/, release/, submitted/, autograded/, evidence/,
gradebook.db); only the lab id and its notebook name differ, so those are bound once in a `Lab` and the
helpers that need them are its methods.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from dflab.grading.checks import CheckFile, load_checks, lookup
from dflab.grading.course import init_course
from dflab.lab_meta import load_lab
from tests.haystack import small_spec_file

ROOT = Path(__file__).resolve().parents[1]
SECRET = "test-secret"
# The lab tests grade through the local sandbox so they need no image; the Docker sandbox has its own tests
# (tests/test_grading_sandbox.py).
LOCAL_SANDBOX = ("--SandboxedExecute.sandbox=local",)
ROSTER = "id,name,email\nalice,Alice Adams,alice@example.org\nbob,Bob Brown,bob@example.org\n"
# A lab test about grading (a blank release, partial or copied answers, deleted cells, hostile hand-ins, nbgrader
# validate) rather than the lesson: it runs on the lab's case without the installed system (tests/haystack.py),
# which grades the same way at a fraction of the cost; the lesson's own tests (each trainee's solution, the no-code
# path, the real session) run on the bundled case. See `course_fixtures`.
ABOUT_GRADING = pytest.mark.about_grading


def nbgrader(root: Path, *args: str, evidence: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `nbgrader` CLI in course ``root`` with a minimal environment, as an instructor's shell would."""
    env = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]), "HOME": str(root)}
    if evidence:
        env["DFLAB_EVIDENCE"] = str(evidence)
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=900)


def key(root: Path, student: str) -> dict:
    """``student``'s answer key, as `dflab course init` wrote it next to their evidence."""
    return json.loads((root / "evidence" / student / "key" / "answer_key.json").read_text())


def solution_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The cells a trainee answers in (nbgrader solution cells), in notebook order."""
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


def leaked_forms(text: str, value: object) -> list[str]:
    """The forms of ``value`` found as a whole token in ``text``: as typed, and JSON-escaped as in an .ipynb."""
    forms = {str(value), json.dumps(value)[1:-1]} if isinstance(value, str) else {str(value)}
    return [form for form in forms if re.search(rf"(?<![\w.]){re.escape(form)}(?![\w])", text)]


@dataclass(frozen=True)
class Lab:
    """One lab's course-facing names: its id (assignment, folder, check file) and its notebook's file name."""

    id: str
    nb: str

    def checks(self) -> CheckFile:
        """The lab's check file (graders/<id>.yaml)."""
        return load_checks(ROOT / "labs" / self.id / "grader.yaml")

    def build_course(self, root: Path, roster: Path, *, small: bool = False) -> Path:
        """`init_course` for alice and bob in ``root``, with the roster written at ``roster``; returns ``root``.
        ``small``: on the lab's case without its installed system (tests/haystack.py), for tests about grading."""
        roster.write_text(ROSTER)
        scenario = small_spec_file(load_lab(ROOT / "labs", self.id).scenario, roster.parent) if small else None
        result = init_course(root, roster, self.id, SECRET, scenario=scenario)
        assert result.evidence_built == ["alice", "bob"] and result.students_added == ["alice", "bob"] \
            and result.released
        return root

    def source_nb(self, root: Path) -> nbformat.NotebookNode:
        """The instructor's notebook (with solutions) as the course holds it."""
        return nbformat.read(root / "source" / self.id / self.nb, as_version=4)

    def released_nb(self, root: Path) -> nbformat.NotebookNode:
        """The notebook trainees receive."""
        return nbformat.read(root / "release" / self.id / self.nb, as_version=4)

    def autograded_nb(self, root: Path, student: str) -> nbformat.NotebookNode:
        """``student``'s notebook as `nbgrader autograde` left it (with test-cell outputs)."""
        return nbformat.read(root / "autograded" / student / self.id / self.nb, as_version=4)

    def points(self, root: Path) -> dict[str, float]:
        """Grade id -> the points each test cell is worth."""
        return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
                for c in self.source_nb(root).cells if c.metadata.get("nbgrader", {}).get("grade")}

    def submit_and_grade(self, root: Path, student: str, nb: nbformat.NotebookNode) -> dict[str, float]:
        """Put ``nb`` in submitted/<student>/, run `nbgrader autograde`, return grade id -> auto score."""
        dest = root / "submitted" / student / self.id
        dest.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest / self.nb)
        proc = nbgrader(root, "autograde", self.id, "--student", student, "--force", *LOCAL_SANDBOX)
        assert proc.returncode == 0, proc.stderr[-3000:]
        with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
            return {g.name: g.auto_score for g in gb.find_submission_notebook(self.id, self.id, student).grades}

    def feedback(self, root: Path, student: str, grade_id: str) -> list[dict]:
        """The outputs autograding left in test cell ``grade_id`` of ``student``'s notebook."""
        [cell] = [c for c in self.autograded_nb(root, student).cells
                  if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
        return cell.outputs

    def expected_values(self, root: Path, student: str, where: str) -> dict[str, object]:
        """Every answer the lab grades, as ``student``'s key holds it (check-file key paths; ``where`` names
        the key in lookup errors)."""
        checks = self.checks()
        k = key(root, student)
        return {name: lookup(k, checks.key_path(name), where) for name in checks.checks}

    def typed_in(self, root: Path, values: dict[str, object]) -> nbformat.NotebookNode:
        """The solution notebook with ``values`` typed in as literals in the first answer cell, the rest `pass`:
        what a trainee who copied someone's answers would submit."""
        nb = self.source_nb(root)
        first, *rest = solution_cells(nb)
        first.source = "\n".join(f"{n} = {v!r}" for n, v in values.items())
        for cell in rest:
            cell.source = "pass"
        return nb

    def released_text(self, root: Path) -> str:
        """Check the release holds just the notebook and lab.yaml, with no solution code and no outputs;
        return its text for the per-lab answer-value checks."""
        release = root / "release" / self.id
        files = sorted(p for p in release.rglob("*") if p.is_file())
        assert [p.relative_to(release).as_posix() for p in files] == [self.nb, "lab.yaml"]
        text = "\n".join(p.read_text(encoding="utf-8") for p in files)
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        for cell in solution_cells(self.source_nb(root)):
            region = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
            for line in filter(None, (ln.strip() for ln in region.splitlines())):
                assert line not in text, f"solution line released: {line}"
        released = nbformat.read(release / self.nb, as_version=4)
        assert all(not c.get("outputs") for c in released.cells if c.cell_type == "code")
        return text

    def assert_validates(self, root: Path) -> None:
        """`nbgrader validate` passes the source notebook and, inverted, fails every test of the release."""
        alice = root / "evidence" / "alice" / "evidence"
        proc = nbgrader(root, "validate", f"source/{self.id}/{self.nb}", evidence=alice)
        assert "Success! Your notebook passes all the tests." in proc.stdout, proc.stdout + proc.stderr
        proc = nbgrader(root, "validate", "--invert", f"release/{self.id}/{self.nb}", evidence=alice)
        assert "Success! The notebook does not pass any tests." in proc.stdout, proc.stdout + proc.stderr

    def assert_full_marks(self, root: Path, total: float) -> dict[str, float]:
        """The solution scores ``total`` points, all of them, for alice and bob, with no feedback; returns the
        points per grade id."""
        full = self.points(root)
        assert sum(full.values()) == total
        for student in ("alice", "bob"):
            assert self.submit_and_grade(root, student, self.source_nb(root)) == full
            assert all(self.feedback(root, student, g) == [] for g in full)
        return full

    def assert_blank_scores_zero(self, root: Path, grade_id: str, name: str) -> None:
        """The untouched release scores 0 everywhere, and test cell ``grade_id`` says answer ``name`` is
        missing."""
        scores = self.submit_and_grade(root, "bob", self.released_nb(root))
        assert scores == dict.fromkeys(self.points(root), 0.0)
        [out] = self.feedback(root, "bob", grade_id)
        assert out["ename"] == "AnswerCheck"
        assert out["evalue"] == (f"{name}: no answer recorded (was the cell run?) "
                                 f"[NameError: name '{name}' is not defined]")


def course_fixtures(lab: Lab) -> tuple[Callable[..., Path], Callable[..., Path], Callable[..., Path]]:
    """A lab module's courses for alice and bob: two module-scoped ones, each built when a test first asks for it
    (and emptied when the module ends, as every module fixture's folders are: tests/conftest.py),
    ``bundled_course`` on the lab's case as bundled and ``small_course`` on it without the installed system; and
    ``course_dir``, the one a test runs on (``small_course`` for a test marked `ABOUT_GRADING`). Bind all three in
    the module: ``bundled_course, small_course, course_dir = course_fixtures(LAB)``."""

    def built(factory: pytest.TempPathFactory, small: bool) -> Path:
        root = factory.mktemp("small-course" if small else "course")
        roster = roster_of(root)
        factory.mktemp(roster.parent.name, numbered=False)
        return lab.build_course(root, roster, small=small)

    @pytest.fixture(scope="module")
    def bundled_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return built(tmp_path_factory, small=False)

    @pytest.fixture(scope="module")
    def small_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return built(tmp_path_factory, small=True)

    return bundled_course, small_course, course_dir


def roster_of(course: Path) -> Path:
    """The roster a course of :func:`course_fixtures` was built from (in a folder of its own beside the course, with
    the small case's spec when it is one: modules may share a basetemp)."""
    return course.with_name(f"{course.name}-roster") / "roster.csv"


@pytest.fixture
def course_dir(request: pytest.FixtureRequest) -> Path:
    """The course a lab test runs on: ``small_course`` for a test marked `ABOUT_GRADING`, else ``bundled_course``."""
    small = request.node.get_closest_marker("about_grading") is not None
    return request.getfixturevalue("small_course" if small else "bundled_course")
