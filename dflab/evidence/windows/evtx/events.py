"""The events a Windows intrusion leaves in its logs, as the real providers write them.

Each dataclass is one event kind an investigator looks for; :func:`build_logs` turns a list of them into one
:class:`~dflab.evidence.windows.evtx.log.EventLog` per channel, in time order. Provider names, GUIDs, event
versions, tasks, keywords, field order and field types are those of real Windows 10 logs (checked against the
third-party samples in ``shared/samples/windows/evtx``): Security-Auditing's strings keep the trailing NUL LSA
writes, its logon and process ids are HexInt64, the Service Control Manager's 7045 carries Qualifiers 16384.

A :class:`LogCleared` (1102) does what clearing does: the records of its channel before it are gone from the
file, and record ids go on from where they were (the cleared records keep their numbers, unseen).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dflab.errors import DflabError
from dflab.evidence.windows.evtx import values as v
from dflab.evidence.windows.evtx.log import ClassicData, Event, EventData, EventLog, Provider, UserData

SECURITY_AUDITING = Provider("Microsoft-Windows-Security-Auditing", "54849625-5478-4994-a5ba-3e3b0328c30d")
EVENTLOG = Provider("Microsoft-Windows-Eventlog", "fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148", in_template=True)
SERVICE_CONTROL_MANAGER = Provider("Service Control Manager", "555908d1-a6d7-4695-8e1e-26931d2012f4",
                                   event_source_name="Service Control Manager", in_template=True)
EVENTLOG_SOURCE = Provider("EventLog", None, classic=True)  # the NT source of 6005, 6006, 6009, 6013
POWERSHELL = Provider("Microsoft-Windows-PowerShell", "a0c1853b-5c40-4b15-8766-3cf1c58f985a")

SECURITY = "Security"
SYSTEM = "System"
POWERSHELL_OPERATIONAL = "Microsoft-Windows-PowerShell/Operational"
FILE_NAMES = {  # as in C:\Windows\System32\winevt\Logs ("/" is written "%4")
    SECURITY: "Security.evtx",
    SYSTEM: "System.evtx",
    POWERSHELL_OPERATIONAL: "Microsoft-Windows-PowerShell%4Operational.evtx",
}
LOG_CLEARED_NAMESPACE = "http://manifests.microsoft.com/win/2004/08/windows/eventlog"
AUDIT_SUCCESS = 0x8020000000000000
SCRIPT_BLOCK_PART = 10_000  # PowerShell logs a long script block in parts of this many characters
LOCAL_SYSTEM = "S-1-5-18"
SYSTEM_LOGON_ID = 0x3E7


@dataclass(frozen=True)
class Execution:
    """The process and thread that logged an event (``<Execution ProcessID ThreadID>``)."""

    process_id: int
    thread_id: int


@dataclass(frozen=True)
class Machine:
    """The workstation whose logs these are, and the system processes that write them."""

    computer: str
    domain: str
    lsass: Execution  # Security-Auditing's logons (4624)
    kernel: Execution  # process creation (4688) is logged from the System process
    eventlog: Execution  # the Eventlog service (1102)
    services: Execution  # services.exe, the Service Control Manager (7045)

    @property
    def netbios(self) -> str:
        """The machine's NetBIOS name: local accounts' domain, the ``$`` account's stem."""
        return self.computer.split(".")[0].upper()


@dataclass(frozen=True)
class Logon:
    """4624, an account logged on: type 2 at the keyboard, 10 over Remote Desktop (IpAddress: the client)."""

    time: datetime
    logon_type: int
    user: str
    user_sid: str
    logon_id: int
    ip_address: str = "127.0.0.1"
    ip_port: int = 0
    workstation: str | None = None  # the client's name for type 10; the machine's own by default
    logon_process: str = "User32 "  # sic: LSA pads the name with a space
    authentication_package: str = "Negotiate"
    process_name: str = r"C:\Windows\System32\svchost.exe"
    process_id: int = 0
    elevated: bool = False
    linked_logon_id: int = 0
    """An administrator's logon under UAC is two sessions, the elevated and the limited, each naming the other."""


@dataclass(frozen=True)
class ProcessCreated:
    """4688, a process was created (with command-line auditing on)."""

    time: datetime
    new_process_id: int
    new_process_name: str
    command_line: str
    parent_process_id: int
    parent_process_name: str
    user: str
    user_sid: str
    logon_id: int
    token_elevation: str = "%%1938"  # limited token; %%1936 full, %%1937 elevated
    mandatory_label: str = "S-1-16-8192"  # medium integrity


@dataclass(frozen=True)
class LogCleared:
    """1102, the Security log was cleared (UserData/LogFileCleared, written by the Eventlog service)."""

    time: datetime
    user: str
    user_sid: str
    logon_id: int


@dataclass(frozen=True)
class ServiceInstalled:
    """7045, a service was installed in the system (System log, Service Control Manager)."""

    time: datetime
    service_name: str
    image_path: str
    service_type: str = "user mode service"
    start_type: str = "auto start"
    account_name: str = "LocalSystem"
    user_sid: str = LOCAL_SYSTEM


@dataclass(frozen=True)
class ScriptBlock:
    """4104, PowerShell compiled a script block (one record per 10 000-character part of it)."""

    time: datetime
    text: str
    script_block_id: str
    user_sid: str
    process_id: int
    thread_id: int
    path: str = ""
    warning: bool = False  # PowerShell logs blocks it finds suspicious at Warning (3), others at Verbose (5)
    activity_id: str | None = None


@dataclass(frozen=True)
class Logged:
    """Any other event, given as its provider writes it: channel, header facts, and ``EventData`` fields in the
    order of the provider's manifest (logoffs, special privileges, a machine's boots and shutdowns)."""

    time: datetime
    channel: str
    provider: Provider
    event_id: int
    fields: tuple[tuple[str, v.Value], ...]
    execution: Execution
    version: int = 0
    level: int = 4
    task: int = 0
    opcode: int = 0
    keywords: int = AUDIT_SUCCESS
    user_sid: str | None = None
    qualifiers: int | None = None
    user_data: str | None = None
    """The ``UserData`` element (in the Eventlog's namespace) holding the fields, for events written so (1100)."""
    classic: ClassicData | None = None
    """A classic event's insertion strings and binary (its ``fields`` are then empty)."""
    binary: bytes | None = None
    """``EventData``'s ``<Binary>`` after the named fields (7036's service key name and state)."""


WindowsEvent = Logon | ProcessCreated | LogCleared | ServiceInstalled | ScriptBlock | Logged

CONSOLE_STARTING = timedelta(milliseconds=380)
IPC_LISTENING = timedelta(milliseconds=560)
CONSOLE_READY = timedelta(milliseconds=1_240)
"""From powershell.exe's start to its console's 40961 (starting up), the IPC thread's 53504 and 40962 (ready for
input): Windows PowerShell 5.1 loading the CLR and its engine on a desktop, about a second and a quarter."""


def console_started(started: datetime, process_id: int, thread_id: int, user_sid: str) -> list[Logged]:
    """What every Windows PowerShell console writes to the Operational log as it starts, before any script block:
    40961 (console starting, task 4 opcode 1, no data), 53504 (its named-pipe IPC thread listening, task 111 opcode
    10, logged from that thread: its process id and app domain) and 40962 (console ready, opcode 2). Version 1,
    Informational, keywords 0, as Windows 10's PowerShell writes them."""
    main = Execution(process_id, thread_id)
    ipc = Execution(process_id, thread_id + 0x38)
    return [
        Logged(started + CONSOLE_STARTING, POWERSHELL_OPERATIONAL, POWERSHELL, 40961, (), main, version=1, task=4,
               opcode=1, keywords=0, user_sid=user_sid),
        Logged(started + IPC_LISTENING, POWERSHELL_OPERATIONAL, POWERSHELL, 53504, (
            ("param1", v.string(str(process_id))), ("param2", v.string("DefaultAppDomain"))), ipc, version=1,
               task=111, opcode=10, keywords=0, user_sid=user_sid),
        Logged(started + CONSOLE_READY, POWERSHELL_OPERATIONAL, POWERSHELL, 40962, (), main, version=1, task=4,
               opcode=2, keywords=0, user_sid=user_sid),
    ]


def _lsa(text: str) -> v.Value:
    return v.string(text, terminated=True)


def _logon(event: Logon, machine: Machine) -> Event:
    remote = event.logon_type == 10
    data = EventData((
        ("SubjectUserSid", v.sid(LOCAL_SYSTEM)), ("SubjectUserName", _lsa(machine.netbios + "$")),
        ("SubjectDomainName", _lsa(machine.domain)), ("SubjectLogonId", v.hex_int64(SYSTEM_LOGON_ID)),
        ("TargetUserSid", v.sid(event.user_sid)), ("TargetUserName", _lsa(event.user)),
        ("TargetDomainName", _lsa(machine.netbios)),
        ("TargetLogonId", v.hex_int64(event.logon_id)), ("LogonType", v.uint32(event.logon_type)),
        ("LogonProcessName", _lsa(event.logon_process)),
        ("AuthenticationPackageName", _lsa(event.authentication_package)),
        ("WorkstationName", _lsa(event.workstation or machine.netbios)),
        ("LogonGuid", v.guid(uuid.UUID(int=0))), ("TransmittedServices", _lsa("-")), ("LmPackageName", _lsa("-")),
        ("KeyLength", v.uint32(0)), ("ProcessId", v.hex_int64(event.process_id)),
        ("ProcessName", _lsa(event.process_name)), ("IpAddress", _lsa(event.ip_address)),
        ("IpPort", _lsa(str(event.ip_port))), ("ImpersonationLevel", _lsa("%%1833")),
        ("RestrictedAdminMode", _lsa("%%1843" if remote else "-")), ("TargetOutboundUserName", _lsa("-")),
        ("TargetOutboundDomainName", _lsa("-")), ("VirtualAccount", _lsa("%%1843")),
        ("TargetLinkedLogonId", v.hex_int64(event.linked_logon_id)),
        ("ElevatedToken", _lsa("%%1842" if event.elevated else "%%1843")),
    ))
    return Event(SECURITY_AUDITING, 4624, 2, 0, 12544, 0, AUDIT_SUCCESS, event.time, data, machine.computer,
                 None, machine.lsass.process_id, machine.lsass.thread_id)


def _process(event: ProcessCreated, machine: Machine) -> Event:
    data = EventData((
        ("SubjectUserSid", v.sid(event.user_sid)), ("SubjectUserName", _lsa(event.user)),
        ("SubjectDomainName", _lsa(machine.netbios)),
        ("SubjectLogonId", v.hex_int64(event.logon_id)), ("NewProcessId", v.hex_int64(event.new_process_id)),
        ("NewProcessName", _lsa(event.new_process_name)), ("TokenElevationType", _lsa(event.token_elevation)),
        ("ProcessId", v.hex_int64(event.parent_process_id)), ("CommandLine", _lsa(event.command_line)),
        ("TargetUserSid", v.sid("S-1-0-0")), ("TargetUserName", _lsa("-")), ("TargetDomainName", _lsa("-")),
        ("TargetLogonId", v.hex_int64(0)), ("ParentProcessName", _lsa(event.parent_process_name)),
        ("MandatoryLabel", v.sid(event.mandatory_label)),
    ))
    return Event(SECURITY_AUDITING, 4688, 2, 0, 13312, 0, AUDIT_SUCCESS, event.time, data, machine.computer,
                 None, machine.kernel.process_id, machine.kernel.thread_id)


def _cleared(event: LogCleared, machine: Machine) -> Event:
    data = UserData("LogFileCleared", LOG_CLEARED_NAMESPACE, (
        ("SubjectUserSid", v.sid(event.user_sid)), ("SubjectUserName", v.string(event.user)),
        ("SubjectDomainName", v.string(machine.netbios)),
        ("SubjectLogonId", v.hex_int64(event.logon_id)),
    ))
    return Event(EVENTLOG, 1102, 0, 4, 104, 0, 0x4020000000000000, event.time, data, machine.computer, None,
                 machine.eventlog.process_id, machine.eventlog.thread_id)


def _service(event: ServiceInstalled, machine: Machine) -> Event:
    data = EventData((
        ("ServiceName", v.string(event.service_name)), ("ImagePath", v.string(event.image_path)),
        ("ServiceType", v.string(event.service_type)), ("StartType", v.string(event.start_type)),
        ("AccountName", v.string(event.account_name)),
    ))
    return Event(SERVICE_CONTROL_MANAGER, 7045, 0, 4, 0, 0, 0x8080000000000000, event.time, data,
                 machine.computer, event.user_sid, machine.services.process_id, machine.services.thread_id,
                 qualifiers=16384)


def _script_parts(event: ScriptBlock, machine: Machine) -> list[Event]:
    parts = [event.text[start:start + SCRIPT_BLOCK_PART]
             for start in range(0, max(len(event.text), 1), SCRIPT_BLOCK_PART)]
    return [Event(POWERSHELL, 4104, 1, 3 if event.warning else 5, 2, 15, 0, event.time, EventData((
        ("MessageNumber", v.int32(number)), ("MessageTotal", v.int32(len(parts))),
        ("ScriptBlockText", v.string(part)), ("ScriptBlockId", v.string(str(uuid.UUID(event.script_block_id)))),
        ("Path", v.string(event.path)),
    )), machine.computer, event.user_sid, event.process_id, event.thread_id, activity_id=event.activity_id)
        for number, part in enumerate(parts, start=1)]


def _channel_events(event: WindowsEvent, machine: Machine) -> tuple[str, list[Event]]:
    if isinstance(event, Logon):
        return SECURITY, [_logon(event, machine)]
    if isinstance(event, ProcessCreated):
        return SECURITY, [_process(event, machine)]
    if isinstance(event, LogCleared):
        return SECURITY, [_cleared(event, machine)]
    if isinstance(event, ServiceInstalled):
        return SYSTEM, [_service(event, machine)]
    if isinstance(event, ScriptBlock):
        return POWERSHELL_OPERATIONAL, _script_parts(event, machine)
    if isinstance(event, Logged):
        return event.channel, [Event(event.provider, event.event_id, event.version, event.level, event.task,
                                     event.opcode, event.keywords, event.time,
                                     event.classic if event.classic is not None else
                                     EventData(event.fields, event.binary) if event.user_data is None else
                                     UserData(event.user_data, LOG_CLEARED_NAMESPACE, event.fields),
                                     machine.computer, event.user_sid, event.execution.process_id,
                                     event.execution.thread_id, qualifiers=event.qualifiers)]
    raise DflabError(f"not a Windows event kind: {type(event).__name__}", "windows events")


def build_logs(machine: Machine, events: Sequence[WindowsEvent],
               first_record_id: int | Mapping[str, int] = 1) -> dict[str, EventLog]:
    """One EventLog per channel that has events, keyed by its file name, records in time order (stable).

    ``first_record_id``: the number of each channel's first event (by channel; absent ones start at 1), one more
    than the records the log held before (a cleared log's count them too: Windows never restarts the numbers)."""
    for event in events:
        if event.time.tzinfo is None:
            raise DflabError("event time has no time zone; give UTC times", f"{type(event).__name__} {event.time}")
    by_channel: dict[str, list[Event]] = {}
    for event in sorted(events, key=lambda item: item.time):
        try:
            channel, records = _channel_events(event, machine)
        except ValueError as exc:  # a malformed GUID (script block id, activity id)
            raise DflabError(str(exc), f"{type(event).__name__} at {event.time.isoformat()}") from exc
        by_channel.setdefault(channel, []).extend(records)
    logs = {}
    for channel, records in by_channel.items():
        cleared = max((i for i, record in enumerate(records) if record.event_id == 1102
                       and record.provider == EVENTLOG), default=0)
        first = first_record_id if isinstance(first_record_id, int) else first_record_id.get(channel, 1)
        log = EventLog(channel, first_record_id=first + cleared)
        log.events.extend(records[cleared:])
        logs[FILE_NAMES[channel]] = log
    return logs
