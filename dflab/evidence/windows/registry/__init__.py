"""Windows registry hives (regf 1.5), written deterministically, and the five hives of a Windows 10 workstation.

``Hive(root_name, last_written)`` → ``.key(path, last_written)`` → ``.value(name, type, data)`` →
``.to_bytes()`` is the reusable writer (``model.py``, laid out by ``regf.py``); ``system``, ``software``,
``sam`` and ``ntuser`` build the hives a case needs from ``WorkstationFacts``; ``workstation_hives`` returns them
all at the paths Windows keeps them, for the disk writer to place.
"""

from __future__ import annotations

from .facts import (
    Account,
    FixedVolume,
    Implant,
    NetworkInterface,
    ProgramRun,
    RecentDoc,
    Service,
    TimeZone,
    Typed,
    UsbStick,
    WorkstationFacts,
)
from .model import Hive, Key, ValueType
from .ntuser import ntuser_hive, usrclass_hive
from .regf import Layout
from .sam import sam_hive
from .software import software_hive
from .system import system_hive

__all__ = [
    "Account", "FixedVolume", "Hive", "Implant", "Key", "Layout", "NetworkInterface", "ProgramRun", "RecentDoc",
    "Service", "TimeZone", "Typed", "UsbStick", "ValueType", "WorkstationFacts", "ntuser_hive", "sam_hive",
    "software_hive", "system_hive", "usrclass_hive", "workstation_hives",
]

CONFIG = "Windows/System32/config"


def workstation_hives(facts: WorkstationFacts) -> dict[str, bytes]:
    """Every hive of ``facts``' machine, keyed by its path on the Windows volume ('/'-separated).

    Accounts that never logged on have no profile, so no NTUSER.DAT or UsrClass.dat.
    """
    hives = {
        f"{CONFIG}/SYSTEM": system_hive(facts).to_bytes(),
        f"{CONFIG}/SOFTWARE": software_hive(facts).to_bytes(),
        f"{CONFIG}/SAM": sam_hive(facts).to_bytes(),
    }
    for account in facts.accounts:
        if account.last_logon is None:
            continue
        home = f"Users/{account.name}"
        hives[f"{home}/NTUSER.DAT"] = ntuser_hive(facts, account).to_bytes()
        hives[f"{home}/AppData/Local/Microsoft/Windows/UsrClass.dat"] = usrclass_hive(facts, account).to_bytes()
    return hives
