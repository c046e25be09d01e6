"""The case's event logs: the story's logons, processes, service, script block and the Security log's clearing.

Every event the story causes is listed; ``build_logs`` keeps what Windows would keep, so the Security events before
the 1102 are gone from Security.evtx (their record ids are skipped) while System's 7045 and PowerShell's 4104 of the
same minutes remain: the gap an investigator is meant to notice.
"""

from __future__ import annotations

from dflab.evidence.windows.evtx import (
    Execution,
    LogCleared,
    Logon,
    Machine,
    ProcessCreated,
    ScriptBlock,
    ServiceInstalled,
    WindowsEvent,
    build_logs,
)
from dflab.evidence.windows.evtx.log import EventLog

from .decisions import RUN_KEY, Decisions, windows_path
from .description import WorkstationCase

EXPLORER = r"C:\Windows\explorer.exe"
POWERSHELL = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
LOGON_HOST = r"C:\Windows\System32\svchost.exe"
"""The process Windows 10's 4624 names for keyboard and Remote Desktop logons."""
FIRST_RECORD_ID = 1841
"""The logs were in use before the story: their record ids go on from an earlier count."""


def machine(case: WorkstationCase, decided: Decisions) -> Machine:
    pid = decided.pids
    return Machine(case.computer_name.upper(), case.domain_name, Execution(pid["lsass"], pid["lsass"] + 4),
                   Execution(4, 8), Execution(pid["eventlog"], pid["eventlog"] + 8),
                   Execution(pid["services"], pid["services"] + 4))


def persistence_script(case: WorkstationCase, decided: Decisions) -> str:
    """The PowerShell the payload ran to install the service and the Run value (logged as 4104); the payload
    had already dropped and timestomped the implant itself (SetFileTime), which no log records."""
    return (f"New-Service -Name '{case.service_name}' -BinaryPathName '{decided.implant_command}' "
            f"-StartupType Automatic\n"
            f"Set-ItemProperty -Path 'HKLM:\\SOFTWARE\\{RUN_KEY}' -Name '{case.service_name}' "
            f"-Value '{decided.implant_command}'\n")


def story_events(case: WorkstationCase, decided: Decisions) -> list[WindowsEvent]:
    t = case.timeline
    user, sid, ids, pid = case.user.name, decided.user_sid, decided.logon_ids, decided.pids
    payload = windows_path(decided.payload)
    service = decided.service  # the 7045 announces the key SYSTEM holds, field by field

    def console(step: str) -> Logon:
        return Logon(getattr(t, step), 2, user, sid, ids[step], process_name=LOGON_HOST, process_id=pid["svchost"])

    def remote(step: str) -> Logon:
        return Logon(getattr(t, step), 10, user, sid, ids[step], ip_address=decided.intruder_ip,
                     ip_port=decided.intruder_port, workstation=decided.intruder_workstation,
                     process_name=LOGON_HOST, process_id=pid["svchost"])

    return [
        console("logon"),
        remote("remote_logon"),
        ProcessCreated(t.payload_run, pid["payload"], payload, f'"{payload}"', pid["explorer"], EXPLORER, user, sid,
                       ids["remote_logon"]),
        ProcessCreated(t.persisted, pid["powershell"], POWERSHELL, f"{POWERSHELL} -NoProfile -Command -",
                       pid["payload"], payload, user, sid, ids["remote_logon"]),
        ScriptBlock(t.persisted, persistence_script(case, decided), decided.script_block_id, sid, pid["powershell"],
                    pid["powershell"] + 4, warning=True),
        ServiceInstalled(service.installed, service.shown_name, service.image_path, service.service_type,
                         service.start_type, service.object_name),
        LogCleared(t.log_cleared, user, sid, ids["remote_logon"]),
        console("next_logon"),
        ProcessCreated(decided.implant_started, pid["implant"], windows_path(decided.implant), decided.implant_command,
                       pid["explorer2"], EXPLORER, user, sid, ids["next_logon"]),
        remote("returned"),
    ]


def event_logs(case: WorkstationCase, decided: Decisions) -> dict[str, EventLog]:
    """Each log by its file name in ``winevt/Logs``, as clearing left it."""
    return build_logs(machine(case, decided), story_events(case, decided), FIRST_RECORD_ID)
