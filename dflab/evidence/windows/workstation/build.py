"""One Windows workstation from its case: hives, logs and files on one NTFS volume on one GPT disk, and the answers.

``build_workstation`` is the whole pipeline: decide the shared facts, write the hives and logs, plan the volume
that holds them with the story's files, lay the disk out, and state the answer key from the same decisions (never
read back from the bytes, so a writer that drops a fact is caught by the readers, not copied into the key). The one
thing the key takes from a writer is each file's MFT entry: the volume writer numbers records by creation time, and
its ``Volume.records`` is that numbering's single statement.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from dflab.atomic import write_bytes
from dflab.evidence.windows.gptdisk import WindowsDisk, WindowsDiskPlan, build_windows_disk
from dflab.evidence.windows.registry import workstation_hives

from .answers import answer_key
from .decisions import Decisions, decide
from .description import WorkstationCase
from .files import story_files
from .hives import registry_facts
from .logs import event_logs


@dataclass(frozen=True)
class Workstation:
    """The disk, the decisions it was built from, and the answer key (JSON-ready)."""

    disk: WindowsDisk
    decided: Decisions
    facts: dict[str, Any]

    def write(self, image: str | os.PathLike[str], answers: str | os.PathLike[str]) -> None:
        """The raw disk image (sparse) and the answer key as JSON, each written atomically."""
        self.disk.write(image)
        write_bytes(answers, (json.dumps(self.facts, indent=2, sort_keys=True) + "\n").encode())


def build_workstation(case: WorkstationCase, decided: Decisions | None = None) -> Workstation:
    """The case's disk and answer key; the same case (seed included) always gives the same bytes. ``decided`` is
    ``decide(case)`` when the caller already made it (resolving a spec does, to check the writers' limits)."""
    decided = decide(case) if decided is None else decided
    hives = workstation_hives(registry_facts(case, decided))
    logs = event_logs(case, decided)
    planned = story_files(case, decided, hives, {name: log.to_bytes() for name, log in logs.items()},
                          {name: log.events[-1].time for name, log in logs.items()})
    disk = build_windows_disk(WindowsDiskPlan(case.seed, planned.plan, int(case.timeline.installed.timestamp())))
    return Workstation(disk, decided, answer_key(case, decided, disk.windows.records, planned))
