"""Locate the real third-party sample evidence in ``../shared/samples`` (never copied into the repo).

Outside contributors may not have that folder: their sample tests skip with a
reason.  On CI (``CI`` set) a missing folder is a failure, so a broken
checkout can never pass by skipping everything.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"


def sample(relative: str) -> Path:
    """Return the path of one sample file, or skip/fail (see module doc) when absent."""
    if not SAMPLES.is_dir():
        message = f"sample evidence folder {SAMPLES} is absent"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set, so this is an error)")
        pytest.skip(f"{message}; clone the shared samples beside the repo to run these tests")
    path = SAMPLES / relative
    if not path.is_file():
        pytest.fail(f"sample {relative} missing from {SAMPLES}")
    return path


def tool(name: str) -> str:
    """Return the path of a real command-line tool; a missing tool is a test failure, not a skip."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"required tool {name!r} is not installed (it is part of the lab image)")
    return found
