"""Emptying a test's temporary folder (tests/conftest.py, and fixtures that make folders of their own)."""

from __future__ import annotations

import os
from pathlib import Path


def empty(folder: Path) -> None:
    """Remove what ``folder`` holds, keeping ``folder``; never below a mount point; errors ignored (best effort)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                if os.path.ismount(path):
                    continue
                empty(path)
                path.rmdir()
            else:
                path.unlink()
        except OSError:
            continue
