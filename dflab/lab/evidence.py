"""Locate the trainee's evidence and check it against its manifest, as the notebooks' first and last step."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from dflab.errors import EvidenceError
from dflab.evidence.manifest import load_manifest, verify

if TYPE_CHECKING:  # pandas is imported by the notebook that calls verify_evidence, not by graders
    import pandas as pd

EVIDENCE_ENV = "DFLAB_EVIDENCE"
DEFAULT_EVIDENCE = "~/evidence"


def evidence_dir() -> Path:
    """The directory holding this trainee's evidence (``$DFLAB_EVIDENCE``, default ``~/evidence``).

    The grader sets the variable to the graded trainee's own evidence, so the
    same notebook analyses whichever variant it is run against.
    """
    raw = os.environ.get(EVIDENCE_ENV) or DEFAULT_EVIDENCE
    path = Path(raw).expanduser()
    if not (path / "manifest.json").is_file():
        raise EvidenceError(f"no evidence here (no manifest.json); set ${EVIDENCE_ENV} to the folder that holds "
                            "disk.img and manifest.json", str(path))
    return path


def verify_evidence(directory: Path | None = None) -> pd.DataFrame:
    """Re-hash every evidence file against ``manifest.json``; raise if any differs, else return the manifest table.

    Run it before analysis (the evidence is what was acquired) and after (the
    analysis changed nothing): ISO/IEC 27037 integrity, in one call.
    """
    directory = directory or evidence_dir()
    problems = verify(directory)
    if problems:
        raise EvidenceError("; ".join(f"{p.path}: {p.problem}" for p in problems), str(directory))
    import pandas as pd

    return pd.DataFrame(load_manifest(directory)["files"], columns=["path", "size", "sha256"])
