"""The case's event logs: the story's logons, processes, service, script block and the Security log's clearing.

Every event the story causes is listed; ``build_logs`` keeps what Windows would keep, so the Security events before
the 1102 are gone from Security.evtx (their record ids are skipped) while System's 7045 and PowerShell's 4104 of the
same minutes remain: the gap an investigator is meant to notice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

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
from dflab.evidence.windows.evtx.events import SECURITY, console_started
from dflab.evidence.windows.evtx.lifecycle import admin_logon, logoff, security_shutdown
from dflab.evidence.windows.evtx.log import EventLog
from dflab.evidence.windows.evtx.routine import Uptime, Windows, system_history

from .decisions import RUN_KEY, Decisions, draw, windows_path
from .description import WorkstationCase

EXPLORER = r"C:\Windows\explorer.exe"
POWERSHELL = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
LOGON_HOST = r"C:\Windows\System32\svchost.exe"
"""The process Windows 10's 4624 names for keyboard and Remote Desktop logons."""
WORKDAYS = range(5)
"""Monday to Friday: the days the user turned the machine on before the story."""


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
            f"Set-ItemProperty -Path 'HKLM:\\SOFTWARE\\{RUN_KEY}' -Name '{case.run_value_name}' "
            f"-Value '{decided.implant_command}'\n")


POWERSHELL_STARTUP = timedelta(milliseconds=1_630)
"""From powershell.exe's start (its 4688, the Prefetch trace's start) to the persistence script's 4104: the console
starts up (40961, 53504, 40962 at ``events.CONSOLE_*``), then reads the script from its standard input."""


def powershell_started(case: WorkstationCase) -> datetime:
    """When the payload started powershell.exe: the script block it compiled is the story's ``persisted``."""
    return case.timeline.persisted - POWERSHELL_STARTUP


def elevated_logon_id(limited: int) -> int:
    """The elevated half of an administrator's linked logon: LSA creates it just before the limited one, so its
    id is a little lower (the limited one is the id processes and the key name)."""
    return limited - 0x20 - limited % 0x1C0


def first_session_end(case: WorkstationCase) -> datetime:
    """The intruder's first Remote Desktop session ends after the deletion, well before the next morning."""
    t = case.timeline
    return t.file_deleted + min(timedelta(minutes=17), (t.next_logon - t.file_deleted) / 2)


def winlogon(decided: Decisions) -> Execution:
    """winlogon.exe, which logs the user's shutdown (1074); started in the boot before lsass, so a lower pid."""
    pid = decided.pids["lsass"] - 4
    while pid in decided.pids.values():
        pid -= 4
    return Execution(pid, pid + 12)


def story_events(case: WorkstationCase, decided: Decisions) -> list[WindowsEvent]:
    t = case.timeline
    user, sid, ids, pid = case.user.name, decided.user_sid, decided.logon_ids, decided.pids
    payload = windows_path(decided.payload)
    service = decided.service  # the 7045 announces the key SYSTEM holds, field by field

    def console(step: str) -> Logon:
        return Logon(getattr(t, step), 2, user, sid, ids[step], process_name=LOGON_HOST, process_id=pid["svchost"])

    def remote(step: str) -> Logon:
        return Logon(getattr(t, step), 10, user, sid, ids[step], ip_address=decided.intruder_ip,
                     ip_port=decided.intruder_ports[step], workstation=decided.intruder_workstation,
                     process_name=LOGON_HOST, process_id=pid["svchost"])

    def admin(logon: Logon) -> list:
        return admin_logon(logon, elevated_logon_id(logon.logon_id), host)

    def ended(when: datetime, logon_type: int, step: str, by_user: bool = True) -> list:
        return logoff(when, user, sid, logon_type, (elevated_logon_id(ids[step]), ids[step]), host, by_user=by_user)

    host = machine(case, decided)
    end = first_session_end(case)
    closing = t.shutdown - timedelta(seconds=8)
    return [
        *admin(console("logon")),
        *admin(remote("remote_logon")),
        ProcessCreated(t.payload_run, pid["payload"], payload, f'"{payload}"', pid["explorer"], EXPLORER, user, sid,
                       ids["remote_logon"]),
        ProcessCreated(powershell_started(case), pid["powershell"], POWERSHELL, f"{POWERSHELL} -NoProfile -Command -",
                       pid["payload"], payload, user, sid, ids["remote_logon"]),
        *console_started(powershell_started(case), pid["powershell"], pid["powershell"] + 4, sid),
        ScriptBlock(t.persisted, persistence_script(case, decided), decided.script_block_id, sid, pid["powershell"],
                    pid["powershell"] + 4, warning=True),
        ServiceInstalled(service.installed, service.shown_name, service.image_path, service.service_type,
                         service.start_type, service.object_name),
        LogCleared(t.log_cleared, user, sid, elevated_logon_id(ids["remote_logon"])),  # clearing takes the admin
        *ended(end, 10, "remote_logon"),
        *ended(end + timedelta(seconds=1), 2, "logon", by_user=False),  # the console session RDP took over
        *admin(console("next_logon")),
        ProcessCreated(decided.implant_started, pid["implant"], windows_path(decided.implant), decided.implant_command,
                       pid["explorer2"], EXPLORER, user, sid, ids["next_logon"]),
        *admin(remote("returned")),
        *ended(closing, 10, "returned"),
        *ended(closing + timedelta(seconds=1), 2, "next_logon", by_user=False),
        security_shutdown(t.shutdown, host),
    ]


def uptimes(case: WorkstationCase) -> list[Uptime]:
    """The machine's boots from installation on: Windows Setup's first boot, then each workday the user turns it
    on a little before the time of the story's first logon and shuts it down some eight hours later; on the story's
    first day it stays on (the intruder's visit, the next morning's logon) until the story's shutdown."""
    t, seed = case.timeline, case.seed
    final = Uptime(max(t.logon - timedelta(minutes=4 + draw(seed, "boot/final", 22)), t.installed), t.shutdown)
    first_boot = t.installed + timedelta(minutes=2)
    out, day = [], 0
    while True:
        date = (t.installed + timedelta(days=day)).date()
        if date >= t.logon.date():
            break
        morning = datetime.combine(date, t.logon.timetz()) - timedelta(minutes=5 + draw(seed, f"boot/{day}", 40))
        boot = first_boot if day == 0 else morning
        evening = morning + timedelta(hours=8, minutes=draw(seed, f"shutdown/{day}", 100))
        if (day == 0 or date.weekday() in WORKDAYS) and evening > boot + timedelta(minutes=30):
            out.append(Uptime(boot, evening))
        day += 1
    return [*out, final] if not out or final.boot > out[-1].shutdown else out[:-1] + [final]


def security_before(case: WorkstationCase) -> int:
    """How many records Security held before the story's first (all cleared, so only their count shows, as
    the 1102's record number): each boot's few dozen, then a steady run of service logons while the machine is on."""
    t, count = case.timeline, 0
    for number, uptime in enumerate(uptimes(case)):
        end = min(uptime.shutdown, t.logon)
        hours = max((end - uptime.boot).total_seconds(), 0) / 3600
        count += 45 + draw(case.seed, f"security/boot/{number}", 50) + int(hours * (8 + draw(
            case.seed, f"security/rate/{number}", 14)))
    return count


def history(case: WorkstationCase, decided: Decisions) -> list[WindowsEvent]:
    """System's records of every boot since installation, the story's last shutdown among them."""
    zone = case.time_zone
    return system_history(machine(case, decided), uptimes(case), case.timeline.shutdown, case.seed, case.user.name,
                          decided.user_sid, winlogon(decided), Windows(bias=zone.bias, zone=zone.key_name))


def event_logs(case: WorkstationCase, decided: Decisions) -> dict[str, EventLog]:
    """Each log by its file name in ``winevt/Logs``, as clearing left it."""
    return build_logs(machine(case, decided), [*history(case, decided), *story_events(case, decided)],
                      {SECURITY: 1 + security_before(case)})
