"""Seed a trainee's workspace with the lab's files, once, never over the trainee's own work."""

from __future__ import annotations

import shutil
from pathlib import Path

# Left in the workspace after seeding: a trainee who deletes a lab file on purpose does not get it
# back at the next restart.
SEEDED_MARK = ".dflab-seeded"


def seed_workspace(seed: Path, workspace: Path) -> bool:
    """Copy ``seed``'s tree into ``workspace`` unless it was seeded before; return whether it copied.

    Existing files are never overwritten: a workspace that was half-seeded when a CLI crashed is
    completed, and anything the trainee saved stays as it is.
    """
    workspace.mkdir(parents=True, exist_ok=True)
    mark = workspace / SEEDED_MARK
    if mark.exists():
        return False
    for src in sorted(seed.rglob("*")):
        dest = workspace / src.relative_to(seed)
        if src.is_dir():
            dest.mkdir(exist_ok=True)
        elif not dest.exists():
            shutil.copy2(src, dest)
    mark.touch()
    return True
