"""The kinds of evidence a variant can hold, and which of them a lab hands out (lab.yaml ``evidence:``).

Kept apart from the writers so that reading a lab's metadata (graders, sessions) does not import them.
"""

from __future__ import annotations

from collections.abc import Iterable

from dflab.errors import DflabError

# The case's evidence, in the order the writers run: what a variant holds unless a lab asks for less (or more).
CASE_KINDS = ("disk", "memory", "network")
# ``materials``: what labs' ``materials`` hooks derive from the case (documents under ``<lab id>/``,
# dflab.lab_hooks.labs_materials), only in the variants of labs that list it, so no trainee of another lab is handed,
# say, an examiner's report of their own case.
EVIDENCE_KINDS = (*CASE_KINDS, "materials")


def check_kinds(kinds: Iterable[str], where: str) -> tuple[str, ...]:
    """``kinds`` in writer order, disk included; an unknown kind is one clear line naming ``where``."""
    wanted = set(kinds)
    unknown = sorted(wanted - set(EVIDENCE_KINDS))
    if unknown:
        raise DflabError(f"unknown evidence kind {', '.join(map(repr, unknown))} (choose from "
                         f"{', '.join(EVIDENCE_KINDS)})", where)
    return tuple(k for k in EVIDENCE_KINDS if k in wanted or k == "disk")


# Evidence files by kind, as the writers name them (manifest paths, relative to evidence/).
_FILE_PREFIXES = (("disk.", "disk"), ("memory.", "memory"), ("symbols/", "memory"), ("network.", "network"),
                  ("capture.", "network"))  # capture.pcapng: a Windows workstation's (dflab.evidence.build)


def kinds_held(manifest_paths: Iterable[str]) -> set[str]:
    """The evidence kinds a built variant holds, from its manifest's file paths (a lab's folder: materials)."""
    held = set()
    for path in manifest_paths:
        kind = next((kind for prefix, kind in _FILE_PREFIXES if path.startswith(prefix)), None)
        held.add(kind or ("materials" if "/" in path else None))
    return held - {None}
