"""A lab's metadata (``labs/<lab>/lab.yaml``), read the same way by courses, sessions and bundles.

Its own module, importing neither nbgrader nor the evidence writers: a session's command line reads it
before anything else, and those imports cost more than half a second it need not wait for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dflab.errors import DflabError
from dflab.evidence.kinds import EVIDENCE_KINDS, check_kinds

REPO = Path(__file__).resolve().parents[1]


def load_lab(labs_dir: Path, lab: str) -> dict[str, Any]:
    """Read ``labs/<lab>/lab.yaml``; its ``scenario``, ``notebook`` and ``source`` say what to copy and build.

    ``evidence`` (optional, default every kind) lists the evidence kinds the lab hands out; it comes back as
    :func:`dflab.evidence.kinds.check_kinds` orders it, disk included.
    """
    path = labs_dir / lab / "lab.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DflabError(f"no lab {lab!r} (no lab.yaml)", str(path)) from exc
    except (OSError, yaml.YAMLError) as exc:
        raise DflabError(f"cannot read lab metadata: {exc}", str(path)) from exc
    for name in ("id", "scenario", "notebook", "source"):
        if not isinstance(data, dict) or not isinstance(data.get(name), str):
            raise DflabError(f"{name}: missing (a string is required)", str(path))
    if data["id"] != lab:
        raise DflabError(f"id: {data['id']!r} does not match the folder name {lab!r}", str(path))
    evidence = data.get("evidence", list(EVIDENCE_KINDS))
    if not isinstance(evidence, list) or not all(isinstance(k, str) for k in evidence):
        raise DflabError(f"evidence: must be a list of evidence kinds ({', '.join(EVIDENCE_KINDS)})", str(path))
    data["evidence"] = check_kinds(evidence, f"{path}: evidence")
    return data
