"""Collect a trainee's lab folder into the session's nbgrader layout: ``submitted/<trainee>/<lab>/``.

What nbgrader's own ``collect`` leaves there is the submitted files plus ``timestamp.txt``; dflab adds
``dflab-collect.json``, the SHA-256 of every file, the collection time and the workspace it came from,
so a grade can be tied to exactly the bytes that were collected. A submission is replaced as a whole
(built beside it, then renamed) and only when its files changed: re-collecting an unchanged folder
keeps the first timestamp, which is what late-submission rules look at.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dflab.atomic import atomic_dir, write_bytes

TIMESTAMP = "timestamp.txt"
MANIFEST = "dflab-collect.json"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"  # nbgrader's Exchange.timestamp_format default, in UTC
# Never part of a submission: editor and interpreter leftovers (as nbgrader's CourseDirectory.ignore).
IGNORED = {".ipynb_checkpoints", "__pycache__"}


@dataclass(frozen=True)
class Collected:
    """What ``collect`` did for one trainee."""

    trainee: str
    status: str  # collected, unchanged, no work
    files: int
    timestamp: str  # the submission's timestamp.txt ("" when there is none)


def _prune(tree: Path) -> None:
    """Drop what is not a regular file or directory (links could point at anything) and ignored names."""
    for p in sorted(tree.rglob("*"), key=lambda q: len(q.parts), reverse=True):
        if p.is_symlink() or not (p.is_file() or p.is_dir()):
            p.unlink()
        elif p.name in IGNORED:
            shutil.rmtree(p)


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
        if not export(exported):
            return Collected(trainee, "no work", 0, "")
        _prune(exported)
        files = hash_tree(exported)
        files.pop(TIMESTAMP, None)
        files.pop(MANIFEST, None)
        previous = _previous(dest)
        if previous is not None and previous[0] == files:
            return Collected(trainee, "unchanged", len(files), previous[1])
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
    return Collected(trainee, "collected", len(files), timestamp)
