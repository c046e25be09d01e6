"""One Windows 10 workstation told as one story across every artefact writer: registry, event logs, NTFS, GPT disk.

``WorkstationCase`` (``description``) is what an author gives; ``decide`` (``decisions``) fixes every shared fact
once; ``hives``, ``logs`` and ``files`` turn those into the registry's facts, the event logs and the volume plan;
``build_workstation`` (``build``) lays out the disk and ``answers`` states what an investigator should find.
"""

from .build import Workstation, build_workstation
from .decisions import Decisions, decide
from .description import Timeline, User, WorkstationCase

__all__ = ["Decisions", "Timeline", "User", "Workstation", "WorkstationCase", "build_workstation", "decide"]
