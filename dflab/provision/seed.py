"""Seed a trainee's workspace with the lab's files, once, never over the trainee's own work."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dflab.errors import DflabError
from dflab.sparsecopy import copy_file

# Left in the workspace after seeding: a trainee who deletes a lab file on purpose does not get it
# back at the next restart.
SEEDED_MARK = ".dflab-seeded"


def seed_workspace(seed: Path, workspace: Path) -> bool:
    """Copy ``seed``'s tree into ``workspace`` unless it was seeded before; return whether it copied.

    Existing files are never overwritten: a workspace that was half-seeded when a CLI crashed is
    completed, and anything the trainee saved stays as it is.  Files are copied with their holes
    (dflab.sparsecopy: a sparse image in a handout costs its data, not its size) and a symbolic link in
    ``seed`` is refused (``DflabError``), never followed: the handout holds files, and a link there was
    planted to hand out what it points at.
    """
    workspace.mkdir(parents=True, exist_ok=True)
    mark = workspace / SEEDED_MARK
    if mark.exists():
        return False
    entries = [(src, os.lstat(src).st_mode) for src in sorted(seed.rglob("*"))]
    for src, mode in entries:  # all checked before anything is copied
        if stat.S_ISLNK(mode):
            raise DflabError("is a symbolic link in the lab's handout: refused (links are never followed)", str(src))
    for src, mode in entries:
        dest = workspace / src.relative_to(seed)
        if stat.S_ISDIR(mode):
            dest.mkdir(exist_ok=True)
        elif not os.path.lexists(dest):
            copy_file(src, dest)
    mark.touch()
    return True
