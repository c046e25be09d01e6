"""Windows event logs (EVTX) written as the Windows event log service writes them, byte-identical for the same input.

``values`` holds the typed substitution values, ``binxml`` templates and their encoding into a chunk, ``chunk`` the
64 KiB chunk with its tables and CRCs, ``log`` the file (:class:`EventLog`) and the System template shapes, and
``events`` the intrusion events an investigator looks for (4624, 4688, 1102, 7045, 4104) built into logs.
"""

from dflab.evidence.windows.evtx.events import (
    Execution,
    LogCleared,
    Logged,
    Logon,
    Machine,
    ProcessCreated,
    ScriptBlock,
    ServiceInstalled,
    WindowsEvent,
    build_logs,
)
from dflab.evidence.windows.evtx.log import ClassicData, Event, EventData, EventLog, Provider, UserData

__all__ = ["ClassicData", "Event", "EventData", "EventLog", "Execution", "LogCleared", "Logged", "Logon", "Machine",
           "ProcessCreated", "Provider", "ScriptBlock", "ServiceInstalled", "UserData", "WindowsEvent", "build_logs"]
