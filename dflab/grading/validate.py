"""Pre-validation of submissions in the grader's process, before any trainee code runs.

A submission nbgrader cannot grade (not a notebook, truncated JSON, a 1 GiB file, a notebook of another
lab, a trainee the gradebook does not know, no evidence to grade against) is refused here with one clear
reason, so it costs no worker time and every other submission is graded.  Nothing is read whole before
its size is known to be sane.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import nbformat

MAX_SUBMISSION_BYTES = 50 * 2**20  # a lab notebook with outputs is a few MiB; more is an output bomb or a mistake
_CHUNK = 2**20


@dataclass(frozen=True)
class LabShape:
    """What a submission of one lab must look like: its notebook names and their nbgrader cell ids."""

    lab: str
    notebooks: dict[str, set[str]]  # file name -> grade ids of its nbgrader cells

    @classmethod
    def from_source(cls, root: Path, lab: str) -> LabShape:
        """Read ``source/<lab>/*.ipynb`` (the instructor's notebooks)."""
        notebooks = {}
        for path in sorted((root / "source" / lab).glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            notebooks[path.name] = _grade_ids(nb)
        return cls(lab, notebooks)


@dataclass(frozen=True)
class Verdict:
    """A submission's fingerprint and, when it cannot be graded, why."""

    sha256: str
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason


def _grade_ids(nb: nbformat.NotebookNode) -> set[str]:
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if isinstance(c.get("metadata", {}).get("nbgrader"), dict) and "grade_id" in c.metadata["nbgrader"]}


def submission_files(folder: Path, ignore: list[str]) -> list[Path]:
    """The files nbgrader would pick up from a submission folder (its ignore patterns applied)."""
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not any(fnmatch(part, pat) for part in p.relative_to(folder).parts for pat in ignore))


def fingerprint(folder: Path, files: list[Path]) -> str:
    """SHA-256 over the submission's file names and contents; oversized files count by size and mtime.

    It decides whether a graded submission changed since; hashing a 1 GiB file to learn it is
    too large would be wasted work.
    """
    h = hashlib.sha256()
    for path in files:
        st = path.stat()
        h.update(f"{path.relative_to(folder).as_posix()}\0{st.st_size}\0".encode())
        if st.st_size > MAX_SUBMISSION_BYTES:
            h.update(f"mtime:{st.st_mtime_ns}\0".encode())
            continue
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()


def _notebook_problem(path: Path, shape: LabShape) -> str:
    """Why the notebook at ``path`` cannot be graded as ``shape``'s notebook, or '' if it can."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return f"{path.name} is not a notebook (not UTF-8 text)"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        runs_to_end = exc.msg.startswith("Unterminated string") and '"' not in text[exc.pos + 1:]
        if exc.pos >= len(text.rstrip()) or runs_to_end:
            return f"{path.name} is truncated (the JSON ends early, at line {exc.lineno}): re-save and resubmit"
        return f"{path.name} is not a notebook (invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg})"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return f"{path.name} is not a notebook (JSON without a list of cells)"
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except (nbformat.ValidationError, ValueError, KeyError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{path.name} is not a valid notebook ({first[:160]})"
    ids = _grade_ids(nb)
    ours, foreign = ids & shape.notebooks[path.name], ids - shape.notebooks[path.name]
    if len(foreign) >= len(ours):  # labs share a few ids (setup, check-manifest); a whole other lab brings many
        return (f"{path.name} is not lab {shape.lab}'s notebook ({len(foreign)} nbgrader cells it does not have, "
                f"{len(ours)} of its {len(shape.notebooks[path.name])}: another lab?)")
    return ""


def validate(root: Path, student: str, shape: LabShape, known: set[str], ignore: list[str]) -> Verdict:
    """Check ``submitted/<student>/<lab>/`` can be graded; see the module doc for what is refused."""
    folder = root / "submitted" / student / shape.lab
    files = submission_files(folder, ignore)
    sha = fingerprint(folder, files)
    if student not in known:
        return Verdict(sha, f"{student!r} is not in the gradebook (add them to the roster and re-run "
                            "`dflab course init`)")
    total = sum(p.stat().st_size for p in files)
    if total > MAX_SUBMISSION_BYTES:
        big = max(files, key=lambda p: p.stat().st_size)
        return Verdict(sha, f"submission too large: {total / 2**20:.0f} MiB ({big.name}), the limit is "
                            f"{MAX_SUBMISSION_BYTES // 2**20} MiB (clear the outputs and resubmit)")
    names = {p.relative_to(folder).as_posix() for p in files}
    for name in shape.notebooks:
        if name not in names:
            others = sorted(n for n in names if n.endswith(".ipynb"))
            found = f" (found {', '.join(others)}: wrong file name?)" if others else ""
            return Verdict(sha, f"no {name} in the submission{found}")
        problem = _notebook_problem(folder / name, shape)
        if problem:
            return Verdict(sha, problem)
    evidence = root / "evidence" / student
    if not (evidence / "evidence" / "manifest.json").is_file() or not (evidence / "key" / "answer_key.json").is_file():
        return Verdict(sha, f"no evidence or answer key for {student!r} in evidence/{student}/ (re-run "
                            "`dflab course init`)")
    return Verdict(sha)
