"""nbgrader preprocessors that put dflab answer checking into ``nbgrader autograde``.

Registered in ``c.Autograde.autograde_preprocessors`` (see :func:`autograde_pipeline`):

* ``dflab.grading.execute.SandboxedExecute`` replaces nbgrader's ``Execute``:
  the submission runs confined, on the graded trainee's own evidence.
* :class:`TraineeEvidence` is the unsandboxed alternative (:func:`stock_pipeline`,
  unsafe for untrusted code): it runs *before* nbgrader's ``Execute`` and points the
  kernel at the graded trainee's evidence (``$DFLAB_EVIDENCE``).
* :class:`CheckAnswers` runs *after* execution and *before* ``SaveAutoGrades``:
  for every autograder test cell that records answers it replaces the cell's
  outputs with nothing (correct) or one error output saying what was wrong,
  without the expected value.  nbgrader's own ``SaveAutoGrades`` then scores
  the cell (an error output scores 0), so gradebook, feedback and totals stay
  native nbgrader.
* ``dflab.grading.sanitize.SanitizeSubmission`` runs right after ``CheckAnswers``:
  the outputs and markdown a submission produced are made safe to render as HTML
  before nbgrader stores the notebook that formgrader and feedback show.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode, from_dict
from nbformat.v4 import new_code_cell
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode
from traitlets.config import Config

from dflab.errors import DflabError
from dflab.grading.checks import CheckFile, check_answer, checks_for
from dflab.grading.sanitize import one_line
from dflab.lab.answers import ANSWER_MIME
from dflab.lab.evidence import EVIDENCE_ENV
from dflab.lab.recorded import answer_names

ERROR_NAME = "AnswerCheck"
NOT_RUN = "no answer recorded (was the cell run?)"


def key_file(evidence_root: Path, student: str) -> Path:
    """Where a trainee's answer key lives: ``<evidence root>/<student>/key/answer_key.json``."""
    return evidence_root / student / "key" / "answer_key.json"


def student_id(resources: ResourcesDict) -> str:
    """The graded student's id, as ``nbgrader autograde`` puts it in the resources."""
    try:
        return str(resources["nbgrader"]["student"])
    except KeyError as exc:
        raise DflabError("no student id in the nbgrader resources: run this preprocessor inside "
                         "`nbgrader autograde`") from exc


def trainee_evidence(evidence_root: Path, student: str, where: str) -> Path:
    """``<evidence root>/<student>/evidence``, or one clear error (naming the ``where`` setting) if it is not built."""
    evidence = evidence_root / student / "evidence"
    if not (evidence / "manifest.json").is_file():
        raise DflabError(f"no evidence for trainee {student!r} (expected {evidence}/manifest.json)", where)
    return evidence


class TraineeEvidence(NbGraderPreprocessor):
    """Point the kernel (started next by ``Execute``) at the graded trainee's evidence.

    The kernel inherits this process's environment; nbgrader autogrades one
    notebook at a time, so setting the variable per notebook is safe.  A
    missing evidence directory or key fails this submission only, before any
    trainee code runs.
    """

    evidence_root = Unicode("", help="Directory holding <student>/evidence and <student>/key.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        student = student_id(resources)
        root = Path(self.evidence_root).expanduser()
        evidence = trainee_evidence(root, student, "TraineeEvidence.evidence_root")
        if not key_file(root, student).is_file():
            raise DflabError(f"no answer key for trainee {student!r}", str(key_file(root, student)))
        os.environ[EVIDENCE_ENV] = str(evidence)
        return nb, resources


class CheckAnswers(NbGraderPreprocessor):
    """Score the answers each autograder test cell recorded against the graded trainee's key."""

    evidence_root = Unicode("", help="Directory holding <student>/key/answer_key.json.").tag(config=True)
    checks_dir = Unicode("", help="Directory holding the check files, <assignment id>.yaml.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        student = student_id(resources)
        path = key_file(Path(self.evidence_root).expanduser(), student)
        try:
            self._key = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise DflabError(f"no answer key for trainee {student!r}", str(path)) from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise DflabError(f"unreadable answer key: {exc}", str(path)) from exc
        self._key_where = str(path)
        self._submission = submitted_dir(self, resources)
        self._checks = checks_for(Path(self.checks_dir).expanduser(), str(resources["nbgrader"]["assignment"]))
        nb, resources = super().preprocess(nb, resources)
        deleted = restore_deleted_tests(nb, _source_test_cells(resources))
        if deleted:
            self.log.warning("deleted test cells scored 0: %s", ", ".join(deleted))
        return nb, resources

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict,
                        cell_index: int) -> tuple[NotebookNode, ResourcesDict]:
        if cell.cell_type != "code" or not utils.is_grade(cell) or utils.is_solution(cell):
            return cell, resources
        names = answer_names(cell.source)
        if not names:
            return cell, resources  # an ordinary nbgrader test cell: nbgrader scores it as usual
        reasons = grade_outputs(names, cell.get("outputs", []), self._checks, self._key, self._key_where,
                                self._submission)
        grade_id = cell.metadata["nbgrader"].get("grade_id", f"cell {cell_index}")
        if reasons:
            self.log.info("%s", one_line(f"{grade_id}: {'; '.join(reasons)}"))
        cell.outputs = [error_output(reasons)] if reasons else []
        return cell, resources


def submitted_dir(pp: NbGraderPreprocessor, resources: ResourcesDict) -> Path:
    """The trainee's folder in ``submitted/``: checks on handed-in files read it, never the copy the notebook
    was just re-executed in (whatever that run wrote is not what the trainee handed in)."""
    coursedir = CourseDirectory(parent=pp)
    info = resources["nbgrader"]
    return Path(coursedir.format_path(coursedir.submitted_directory, str(info["student"]), str(info["assignment"])))


def _source_test_cells(resources: ResourcesDict) -> list[tuple[str, float, str]]:
    """(grade id, points, source) of every autograder test cell of the instructor's notebook, from the gradebook."""
    info = resources["nbgrader"]
    with Gradebook(info["db_url"]) as gb:
        notebook = gb.find_notebook(info["notebook"], info["assignment"])
        sources = {c.name: c for c in notebook.source_cells}
        return [(g.name, float(g.max_score), sources[g.name].source) for g in notebook.grade_cells
                if g.cell_type == "code" and g.name in sources and g.name not in
                {s.name for s in notebook.solution_cells}]


def restore_deleted_tests(nb: NotebookNode, tests: list[tuple[str, float, str]]) -> list[str]:
    """Append a 0-scoring copy of every test cell the submission deleted; return their grade ids.

    Without this a deleted test cell keeps the grade it had in the gradebook
    (nbgrader only updates grades of cells present), so deleting a test cell
    after one good run would keep its points.  nbgrader's own
    ``OverwriteCells.add_missing_cells`` fails when an answer cell and its test
    cell are both deleted, so dflab re-adds them itself, after execution.
    """
    present = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
    missing = [t for t in tests if t[0] not in present]
    for grade_id, points, source in missing:
        cell = new_code_cell(source, outputs=[error_output([f"tampered: test cell {grade_id!r} was deleted"])])
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": points,
                                     "grade_id": grade_id, "schema_version": 3}
        nb.cells.append(cell)
    return [t[0] for t in missing]


def grade_outputs(names: list[str], outputs: list[Any], checks: CheckFile, key: dict[str, Any],
                  key_where: str, submission: Path | None = None) -> list[str]:
    """Why the recorded answers are not all correct (empty list: all correct, full points)."""
    recorded: dict[str, list[Any]] = {}
    reasons: list[str] = []
    errors = []
    for out in outputs:
        if out.get("output_type") == "error":
            errors.append(one_line(f"{out.get('ename', 'Error')}: {out.get('evalue', '')}".strip(), 300))
        data = out.get("data", {}) if out.get("output_type") in ("display_data", "execute_result") else {}
        if ANSWER_MIME not in data:
            continue
        payload = data[ANSWER_MIME]
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except json.JSONDecodeError:
                payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("name"), str) or "value" not in payload:
            reasons.append("malformed answer output (expected {name, value})")
            continue
        recorded.setdefault(payload["name"], []).append(payload["value"])
    for extra in sorted(set(recorded) - set(names)):
        reasons.append(f"tampered: this cell does not record {extra!r}")
    for name in names:
        values = recorded.get(name, [])
        if len(values) > 1:
            reasons.append(f"{name}: tampered ({len(values)} answer outputs, expected exactly one)")
        elif not values:
            reasons.append(f"{name}: {NOT_RUN}" + (f" [{errors[0]}]" if errors else ""))
        else:
            ok, why = check_answer(checks, name, values[0], key, key_where, submission)
            if not ok:
                reasons.append(f"{name}: {why}")
    return reasons


def error_output(reasons: list[str]) -> NotebookNode:
    """The one error output that makes nbgrader score a cell 0 and shows the trainee why."""
    text = "; ".join(reasons)
    return from_dict({"output_type": "error", "ename": ERROR_NAME, "evalue": text,
                      "traceback": [f"{ERROR_NAME}: {r}" for r in reasons]})


SANDBOXED_EXECUTE = "dflab.grading.execute.SandboxedExecute"
CHECK_ANSWERS = "dflab.grading.preprocessor.CheckAnswers"
SANITIZE = "dflab.grading.sanitize.SanitizeSubmission"


def _dotted(step: Any) -> str:
    """A preprocessor class by the name nbgrader's docs use (``nbgrader.preprocessors.SaveAutoGrades``): its
    package's, when the package exports it, else its module's."""
    if isinstance(step, str):
        return step
    package = step.__module__.rsplit(".", 1)[0]
    exported = getattr(importlib.import_module(package), step.__name__, None) is step
    return f"{package if exported else step.__module__}.{step.__name__}"


def nbgrader_defaults() -> list[str]:
    """nbgrader's own default ``Autograde.autograde_preprocessors``, as dotted names: dflab's pipelines derive
    from it, never copy it."""
    from nbgrader.converters.autograde import Autograde

    return [_dotted(step) for step in Autograde.class_traits()["autograde_preprocessors"].default()]


def _replace_execute(pipeline: list[str], steps: list[str]) -> list[str]:
    """``pipeline`` with nbgrader's ``Execute`` replaced by ``steps``."""
    execute = [i for i, name in enumerate(pipeline) if name.rsplit(".", 1)[-1] == "Execute"]
    if len(execute) != 1:
        raise DflabError(f"nbgrader's autograde pipeline has {len(execute)} Execute steps, dflab expects one: "
                         f"{pipeline}", "nbgrader.converters.autograde.Autograde")
    return [*pipeline[:execute[0]], *steps, *pipeline[execute[0] + 1:]]


def autograde_pipeline() -> list[str]:
    """nbgrader's default ``Autograde.autograde_preprocessors`` with ``Execute`` sandboxed, answers checked and
    what the submission produced sanitised.

    ``SandboxedExecute`` (dflab.grading.execute) runs the submission confined, on the trainee's evidence only;
    ``CheckAnswers`` then scores it in this process, against the key the sandbox never saw;
    ``SanitizeSubmission`` (dflab.grading.sanitize) makes the outputs and markdown safe to render before the
    notebook is stored, since formgrader and feedback render the stored notebook as HTML. The rest is nbgrader's
    (``SaveAutoGrades`` scores the cells; sanitising never touches what it reads: errors and ``text/plain``).
    """
    return _replace_execute(nbgrader_defaults(), [SANDBOXED_EXECUTE, CHECK_ANSWERS, SANITIZE])


def stock_pipeline() -> list[str]:
    """The unsandboxed pipeline: nbgrader's own ``Execute`` with the instructor's rights. UNSAFE for untrusted code.

    Kept for comparison (benchmarks/grading.py) and for trusted notebooks:
    the kernel can read every key, the gradebook and every submission.
    """
    return _replace_execute(nbgrader_defaults(), ["dflab.grading.preprocessor.TraineeEvidence",
                                                 "nbgrader.preprocessors.Execute", CHECK_ANSWERS, SANITIZE])


def html_preprocessors() -> list[str]:
    """``HTMLExporter.preprocessors`` for a course: the exporter formgrader and ``generate_feedback`` build from
    the course's config sanitises each notebook again before rendering it, so both stay clean for a notebook
    autograded before this step existed or by another pipeline (nbconvert's own default list is empty)."""
    return [SANITIZE]


def with_sanitizer(config: Config) -> Config:
    """``config`` (a course's nbgrader config) with :data:`SANITIZE` in its autograde pipeline and its HTML exporter.

    A course made before the step existed keeps its ``nbgrader_config.py`` until ``dflab course init`` runs
    again; `dflab grade` grades and writes feedback through this, so those are sanitised anyway. In the pipeline
    the step goes right after the answer check (else after the execute step, else first).
    """
    pipeline = [_dotted(p) for p in config.Autograde.get("autograde_preprocessors", None) or nbgrader_defaults()]
    if SANITIZE not in pipeline:
        after = [i for i, name in enumerate(pipeline) if name == CHECK_ANSWERS or name.endswith("Execute")]
        at = after[-1] + 1 if after else 0
        config.Autograde.autograde_preprocessors = [*pipeline[:at], SANITIZE, *pipeline[at:]]
    exporter = [_dotted(p) for p in config.HTMLExporter.get("preprocessors", None) or []]
    if SANITIZE not in exporter:
        config.HTMLExporter.preprocessors = [SANITIZE, *exporter]
    return config
