"""Collect a trainee's lab folder into the session's nbgrader layout: ``submitted/<trainee>/<lab>/``.

What nbgrader's own ``collect`` leaves there is the submitted files plus ``timestamp.txt``; dflab adds
``dflab-collect.json``, the SHA-256 of every file, the collection time and the workspace it came from,
so a grade can be tied to exactly the bytes that were collected. A submission is replaced as a whole
(built beside it, then renamed) and only when its files changed: re-collecting an unchanged folder
keeps the first timestamp, which is what late-submission rules look at.

A folder whose notebooks are still the released ones (same cells and sources, no outputs: opened, maybe
saved, never worked on) is collected all the same but reported ``untouched`` rather than ``collected``,
so an instructor sees who handed in nothing before grading it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dflab.atomic import atomic_dir, write_bytes
from dflab.errors import DflabError

TIMESTAMP = "timestamp.txt"
MANIFEST = "dflab-collect.json"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"  # nbgrader's Exchange.timestamp_format default, in UTC
# Never part of a submission: editor and interpreter leftovers (as nbgrader's CourseDirectory.ignore).
IGNORED = {".ipynb_checkpoints", "__pycache__"}
UNTOUCHED_SLACK = 64 * 1024  # bytes of metadata (kernel, language, cell ids) a saved, untouched notebook may add


@dataclass(frozen=True)
class Collected:
    """What ``collect`` did for one trainee."""

    trainee: str
    status: str  # collected, untouched (collected, but the notebooks are the released ones), unchanged, no work,
    # not collected (``reason`` says why: a file past the workspace's quota, an engine that failed for this lab)
    files: int
    timestamp: str  # the submission's timestamp.txt ("" when there is none)
    reason: str = ""


NOT_COLLECTED = "not collected"
NO_WORK = "no work"
STATUSES = ("collected", "unchanged", "untouched", NO_WORK, NOT_COLLECTED)


def tally(results: list[Collected]) -> str:
    """``3 collected, 0 unchanged, 0 untouched, 1 no work`` (and ``N not collected`` when there are some): the
    line `dflab session collect` and the dashboard's Collect end with."""
    counts = {status: sum(c.status == status for c in results) for status in STATUSES}
    return ", ".join(f"{n} {status}" for status, n in counts.items() if n or status != NOT_COLLECTED)


def _prune(tree: Path) -> None:
    """Drop what is not a regular file or directory (links could point at anything) and ignored names."""
    for p in sorted(tree.rglob("*"), key=lambda q: len(q.parts), reverse=True):
        if p.is_symlink() or not (p.is_file() or p.is_dir()):
            p.unlink()
        elif p.name in IGNORED:
            shutil.rmtree(p)


def _plain(path: str) -> bool:
    """A regular file or folder (or gone): something a submission could hold, unlike a pipe or a socket."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return True
    return stat.S_ISREG(mode) or stat.S_ISDIR(mode)


def hash_tree(tree: Path) -> dict[str, dict[str, object]]:
    """``{relative path: {sha256, size}}`` of every regular file under ``tree``."""
    out: dict[str, dict[str, object]] = {}
    for p in sorted(tree.rglob("*")):
        if p.is_file() and not p.is_symlink():
            digest = hashlib.sha256()
            with p.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            out[p.relative_to(tree).as_posix()] = {"sha256": digest.hexdigest(), "size": p.stat().st_size}
    return out


def _cells(data: bytes) -> list[tuple[str, str, bool]] | None:
    """(cell type, source, has outputs) of each cell of a notebook file, or None when it is not one."""
    try:
        nb = json.loads(data.decode("utf-8"))
        cells = nb["cells"]
        return [(str(c["cell_type"]), "".join(c["source"]) if isinstance(c["source"], list) else str(c["source"]),
                 bool(c.get("outputs"))) for c in cells]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, MemoryError):
        return None


def untouched(exported: Path, release: Path) -> bool:
    """Whether every notebook of the release is in ``exported`` with the same cells and sources and no outputs
    added (execution counts and metadata aside).

    Only a file about the size of the released one is read (an untouched notebook differs from it by a
    few lines of metadata at most), so a hostile file costs nothing here.
    """
    notebooks = sorted(release.glob("*.ipynb")) if release.is_dir() else []
    if not notebooks:
        return False
    for original in notebooks:
        path = exported / original.name
        if path.is_symlink() or not path.is_file() or path.stat().st_size > original.stat().st_size + UNTOUCHED_SLACK:
            return False
        theirs, ours = _cells(path.read_bytes()), _cells(original.read_bytes())
        if theirs is None or theirs != ours:  # a cell added, removed or edited, or outputs where there were none
            return False
    return True


def _previous(dest: Path) -> tuple[dict[str, object], str] | None:
    """The files and timestamp of the submission already at ``dest`` (``None`` if there is none)."""
    try:
        manifest = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
        return manifest["files"], manifest["timestamp"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def collect_one(trainee: str, lab: str, course_root: Path, source: str,
                export: Callable[[Path], bool]) -> Collected:
    """Collect one trainee: ``export(dir)`` copies their lab folder into ``dir`` (``False``: no folder)."""
    parent = course_root / "submitted" / trainee
    parent.mkdir(parents=True, exist_ok=True)
    dest = parent / lab
    with tempfile.TemporaryDirectory(prefix=f".{lab}.", suffix=".export", dir=parent) as scratch:
        exported = Path(scratch) / lab
        try:
            found = export(exported)
        except DflabError as exc:
            # This trainee's folder could not be brought back (one file past any quota, the engine failing for
            # this lab): the others are still collected, and a submission collected before stays as it was.
            return Collected(trainee, NOT_COLLECTED, 0, "", reason=str(exc))
        except shutil.Error as exc:  # a copy that kept going past entries it could not copy
            if any(_plain(src) for src, *_ in exc.args[0]):
                raise  # a file or folder was not copied (a full disk): never collect half a submission
            found = exported.is_dir()  # only pipes, sockets, devices were left out: nothing a submission holds
        if not found:
            return Collected(trainee, NO_WORK, 0, "")
        _prune(exported)
        files = hash_tree(exported)
        files.pop(TIMESTAMP, None)
        files.pop(MANIFEST, None)
        previous = _previous(dest)
        if previous is not None and previous[0] == files:
            return Collected(trainee, "unchanged", len(files), previous[1])
        status = "untouched" if untouched(exported, course_root / "release" / lab) else "collected"
        now = datetime.now(UTC)
        timestamp = now.strftime(TIMESTAMP_FORMAT)
        with atomic_dir(dest, replace=True) as tmp:
            for rel in files:
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(exported / rel, tmp / rel)
            write_bytes(tmp / TIMESTAMP, timestamp.encode())
            manifest = {"trainee": trainee, "lab": lab, "timestamp": timestamp,
                        "collected_at": now.isoformat(timespec="microseconds"), "source": f"{source}:{lab}/",
                        "files": files}
            write_bytes(tmp / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n")
    return Collected(trainee, status, len(files), timestamp)
