"""``SandboxedExecute``: nbgrader's ``Execute`` step, with the submission confined in a sandbox.

A drop-in replacement for ``nbgrader.preprocessors.Execute`` in
``c.Autograde.autograde_preprocessors``.  For each submission it:

1. takes the student from nbgrader's resources and checks their evidence exists;
2. runs the notebook in a sandbox (dflab.grading.sandbox) on a private copy of
   the autograded assignment directory, with only ``<evidence_root>/<student>/evidence``
   mounted, read-only; the key never enters the sandbox;
3. copies back **only outputs and execution counts**, cell by cell, matched by
   index: the notebook nbgrader holds keeps its own sources and metadata (so its
   checksums and ``CheckAnswers`` see the instructor's test cells).  What comes
   back is untrusted: cells that do not line up, or outputs that are not valid
   nbformat, mark every graded cell tampered;
4. when the sandbox stopped early (time, memory, output, dead kernel), puts one
   error output on the cell where it stopped, so nbgrader scores it 0; cells
   after it have no outputs and score 0 through ``CheckAnswers``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import nbformat
from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode, from_dict
from nbgrader import utils
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Enum, Float, Integer, List, Unicode

from dflab.grading.preprocessor import student_id, trainee_evidence
from dflab.grading.sandbox import KINDS, Limits, SandboxResult, pick_sandbox
from dflab.grading.sandbox.docker_sandbox import DEFAULT_IMAGE
from dflab.grading.validate import Refused, lab_limits, open_submission, scan
from dflab.provision.trainee_container import GRADING_LIMITS

ERROR_NAME = "Sandbox"


def submission_problem(workdir: Path, student: str) -> str:
    """Why the submission nbgrader is autograding is not plain files ("" when it is).

    ``dflab grade`` validates before nbgrader runs; a direct ``nbgrader autograde`` does not, and nbgrader
    copies ``submitted/`` into ``autograded/`` as root, following links (a link to a key becomes a copy of
    it).  So the submitted folder itself is scanned here, the way dflab grade does, without following links.
    ``workdir`` is ``<course>/autograded/<student>/<lab>``.
    """
    root, lab = workdir.parents[2], workdir.name
    if not (root / "submitted" / student / lab).exists():
        return ""  # not laid out as a course (a notebook graded on its own): nothing to compare with
    try:
        with open_submission(root, student, lab) as top:
            return scan(top, []).problem
    except Refused as exc:
        return str(exc)
    except OSError as exc:
        return f"the submission cannot be read ({exc.strerror or type(exc).__name__})"


def sandbox_error(text: str) -> NotebookNode:
    """One error output (nbgrader scores a graded cell holding one 0) that says why, in the feedback."""
    return from_dict({"output_type": "error", "ename": ERROR_NAME, "evalue": text,
                      "traceback": [f"{ERROR_NAME}: {text}"]})


class SandboxedExecute(NbGraderPreprocessor):
    """Execute the submission in a sandbox and keep only its outputs (see the module doc)."""

    sandbox = Enum(list(KINDS), default_value="auto",
                   help="auto (Docker when an engine answers, else local), docker or local.").tag(config=True)
    image = Unicode(DEFAULT_IMAGE, help="The trainee image the Docker sandbox runs.").tag(config=True)
    evidence_root = Unicode("", help="Directory holding <student>/evidence (and <student>/key, never mounted)."
                            ).tag(config=True)
    hide_paths = List(Unicode(), help="Directories the local sandbox hides (course directory, lab sources); "
                      "the evidence root is always hidden.").tag(config=True)
    # Defaults: dflab.provision.trainee_container.GRADING_LIMITS, the grading run's limits.
    timeout = Integer(GRADING_LIMITS.cell_timeout_s, help="Seconds one cell may run before it is interrupted."
                      ).tag(config=True)
    wall_s = Float(GRADING_LIMITS.wall_s, help="Seconds one whole submission may run.").tag(config=True)
    cpus = Float(GRADING_LIMITS.cpus, help="CPUs one submission may use.").tag(config=True)
    memory_bytes = Integer(GRADING_LIMITS.memory_bytes, help="Memory (swap included) one submission may use."
                           ).tag(config=True)
    pids = Integer(GRADING_LIMITS.pids, help="Processes one submission may run at once.").tag(config=True)
    max_output_bytes = Integer(GRADING_LIMITS.max_output_bytes, help="Bytes of output the whole notebook may "
                               "produce.").tag(config=True)

    @property
    def limits(self) -> Limits:
        return Limits(cpus=self.cpus, memory_bytes=self.memory_bytes, pids=self.pids, wall_s=self.wall_s,
                      cell_timeout_s=self.timeout, max_output_bytes=self.max_output_bytes)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        student = student_id(resources)
        root = Path(self.evidence_root).expanduser()
        evidence = trainee_evidence(root, student, "SandboxedExecute.evidence_root")
        hide = [root, *(Path(p).expanduser() for p in self.hide_paths)]
        sandbox = pick_sandbox(self.sandbox, self.image, hide=[p for p in hide if p.is_dir()])
        workdir = Path(resources["metadata"]["path"])
        problem = submission_problem(workdir, student)
        if problem:  # nbgrader copied it already, following any link: nothing of it may run
            self.log.warning("submission refused: %s", problem)
            merge_outputs(nb, SandboxResult(None, "error", f"submission refused: {problem}", 0.0))
            return nb, resources
        # The lab's own hand-in size (its lab.yaml in the course's source/): room for its files in the sandbox.
        handed_in = lab_limits(Path(CourseDirectory(parent=self).root), str(resources["nbgrader"]["assignment"]))
        limits = replace(self.limits, hand_in_bytes=handed_in.submission_bytes)  # base.private_bytes floors it
        result = sandbox.run(nb, workdir, evidence, limits)
        self.log.info("%s sandbox: %s in %.1f s%s", sandbox.kind, result.status, result.seconds,
                      f" ({result.reason})" if result.reason else "")
        merge_outputs(nb, result)
        return nb, resources


def merge_outputs(nb: NotebookNode, result: SandboxResult) -> None:
    """Copy outputs and execution counts from ``result.notebook`` into ``nb``; mark where execution stopped."""
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for i in code:
        nb.cells[i].outputs, nb.cells[i].execution_count = [], None
    ran = result.notebook
    if ran is not None and not _lines_up(nb, ran):
        _tampered(nb, "tampered: the executed notebook does not match the submission's cells")
        return
    if ran is not None:
        for i in code:
            outputs, count = ran.cells[i].get("outputs", []), ran.cells[i].get("execution_count")
            nb.cells[i].outputs = list(outputs) if isinstance(outputs, list) else []
            nb.cells[i].execution_count = count if isinstance(count, int) and not isinstance(count, bool) else None
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError:
            _tampered(nb, "tampered: the executed notebook holds invalid outputs")
            return
    if result.status != "ok" and code:
        stop = result.cell if result.cell in code else code[0]
        nb.cells[stop].outputs.append(sandbox_error(_why(result)))


def _why(result: SandboxResult) -> str:
    return {"timeout": "stopped: ", "oom": "stopped: ", "output_too_large": "",
            "killed": "stopped: "}.get(result.status, "not executed: ") + (result.reason or result.status)


def _lines_up(nb: NotebookNode, ran: NotebookNode) -> bool:
    """The executed notebook has the same cells, same types, same sources, in the same order."""
    cells = ran.get("cells")
    if not isinstance(cells, list) or len(cells) != len(nb.cells):
        return False
    return all(isinstance(r, dict) and r.get("cell_type") == c.cell_type and r.get("source") == c.source
               for c, r in zip(nb.cells, cells, strict=True))


def _tampered(nb: NotebookNode, text: str) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if utils.is_grade(cell):
                cell.outputs = [sandbox_error(text)]
