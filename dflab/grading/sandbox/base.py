"""The sandbox contract: one interface, one backend per way of confining a submission.

In the spirit of JupyterHub's Spawner: :class:`Sandbox` says what every
backend does (execute one notebook with the graded trainee's evidence, within
:class:`Limits`, and report a :class:`SandboxResult`); ``DockerSandbox`` and
``LocalSandbox`` say how.  Both run :mod:`dflab.grading.sandbox.runner` next
to the kernel and read back what it wrote, size-capped, as untrusted data.
"""

from __future__ import annotations

import abc
import json
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import nbformat
from nbformat.notebooknode import NotebookNode

from dflab.grading.sandbox import runner

Status = Literal["ok", "timeout", "killed", "oom", "output_too_large", "error"]
Outcome = tuple[NotebookNode | None, Status, str, int | None]  # notebook, status, reason, cell where it stopped
CELL_TIMEOUT_S = 300  # a forensic cell may hash or carve a whole image: generous, but not unbounded
GiB = 1 << 30
MiB = 1 << 20
NOTEBOOK_IN = "in.ipynb"
NOTEBOOK_OUT = "out.ipynb"
SOFT_MARGIN_S = 15  # the runner stops this long before the hard wall-clock kill, so finished cells are kept


@dataclass(frozen=True)
class Limits:
    """What one submission may use. ``max_output_bytes`` bounds all outputs of the executed notebook."""

    cpus: float = 1.0
    memory_bytes: int = GiB
    pids: int = 256
    wall_s: float = 600.0
    cell_timeout_s: int = CELL_TIMEOUT_S
    max_output_bytes: int = 10 * MiB

    def runner_args(self) -> list[str]:
        """The runner's options for these limits (the soft deadline leaves time to write the result)."""
        soft = max(self.wall_s - SOFT_MARGIN_S, self.wall_s * 0.8)
        return ["--cell-timeout", str(int(self.cell_timeout_s)), "--max-output", str(int(self.max_output_bytes)),
                "--wall", f"{soft:.1f}", "--reap"]

    @property
    def max_notebook_bytes(self) -> int:
        """The largest result file read back: the outputs' budget plus room for sources and the caps' notes."""
        return self.max_output_bytes * 2 + 16 * MiB


@dataclass
class SandboxResult:
    """What came back: the executed notebook (untrusted) or None, a status, a reason, the time it took.

    ``cell`` is the index of the cell where execution stopped when the status is
    not ``ok`` and the runner said so (None: unknown).
    """

    notebook: NotebookNode | None
    status: Status
    reason: str
    seconds: float
    cell: int | None = None


class Sandbox(abc.ABC):
    """Execute one notebook, confined, on one trainee's evidence."""

    kind: str = ""

    @abc.abstractmethod
    def run(self, notebook: NotebookNode, workdir: Path, evidence: Path, limits: Limits) -> SandboxResult:
        """Execute ``notebook`` in a copy of ``workdir`` with ``evidence`` read-only at ``$DFLAB_EVIDENCE``.

        Never raises for anything the submission does (that is a status); raises
        DflabError only when the sandbox itself cannot be set up.
        """


def stage(notebook: NotebookNode, workdir: Path, private: Path) -> tuple[Path, Path]:
    """Copy ``workdir`` to ``private/work`` and write ``notebook`` to ``private/run/in.ipynb``; return both dirs.

    The copy keeps symlinks as links (a link the trainee submitted resolves
    inside the sandbox, not on the grader's side) and skips other notebooks'
    checkpoints.
    """
    work, run_dir = private / "work", private / "run"
    shutil.copytree(workdir, work, symlinks=True, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    run_dir.mkdir()
    nbformat.write(notebook, run_dir / NOTEBOOK_IN)
    return work, run_dir


def read_result(path: Path, limits: Limits, exit_code: int | None) -> Outcome:
    """Read the runner's result file as untrusted data: no symlinks, regular file, size-capped, valid notebook.

    A runner that did not exit 0 was killed (by the submission, or a limit):
    whatever file it left may be the submission's forgery, so it is discarded.
    """
    nb, status, reason, cell = _read_result(path, limits)
    if nb is not None and exit_code != 0:
        return None, "killed", f"the grading runner was killed (exit {exit_code})", None
    return nb, status, reason, cell


def _read_result(path: Path, limits: Limits) -> Outcome:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return None, "error", f"the sandbox wrote no result ({exc.strerror})", None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None, "error", "the sandbox's result is not a regular file", None
        if info.st_size > limits.max_notebook_bytes:
            return None, "output_too_large", f"output over {limits.max_output_bytes // MiB} MiB", None
        data = fh.read(limits.max_notebook_bytes + 1)
    if len(data) > limits.max_notebook_bytes:
        return None, "output_too_large", f"output over {limits.max_output_bytes // MiB} MiB", None
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    except (UnicodeDecodeError, json.JSONDecodeError, nbformat.reader.NotJSONError, ValueError) as exc:
        return None, "error", f"the sandbox's result is not a notebook ({type(exc).__name__})", None
    info_ = nb.metadata.get(runner.STATUS_KEY)
    status, reason, cell = "ok", "", None
    if isinstance(info_, dict) and info_.get("status") in ("timeout", "killed", "output_too_large", "error"):
        status, reason = info_["status"], str(info_.get("reason", ""))[:300]
        cell = info_.get("cell") if isinstance(info_.get("cell"), int) else None
    return nb, status, reason, cell
