"""The events around a session and a shutdown, as Windows 10 writes them: what an examiner lines up with SYSTEM's
ShutdownTime and with the logons.

An administrator's interactive logon under UAC is two 4624s, the elevated session first (ElevatedToken Yes) and
the limited one, each naming the other as TargetLinkedLogonId, with a 4672 for the elevated one's privileges.
A session ends with 4647 (the user logged off) and a 4634 for each of its logon ids. Shutting down writes User32's
1074 and Kernel-General's 13 in System, and the Eventlog service's 1100 closes Security.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dflab.evidence.windows.evtx import values as v
from dflab.evidence.windows.evtx.events import (
    EVENTLOG,
    SECURITY,
    SECURITY_AUDITING,
    SYSTEM,
    Execution,
    Logged,
    Logon,
    Machine,
)
from dflab.evidence.windows.evtx.log import Provider

USER32 = Provider("User32", "b0aa8734-56f7-41cc-b2f4-de228e98b946", event_source_name="User32", in_template=True)
KERNEL_GENERAL = Provider("Microsoft-Windows-Kernel-General", "a68ca8b7-004f-d7b6-a698-07e2de0f1f5d")
ADMIN_PRIVILEGES = "\r\n\t\t\t".join((
    "SeSecurityPrivilege", "SeTakeOwnershipPrivilege", "SeLoadDriverPrivilege", "SeBackupPrivilege",
    "SeRestorePrivilege", "SeDebugPrivilege", "SeSystemEnvironmentPrivilege", "SeImpersonatePrivilege",
    "SeDelegateSessionUserImpersonatePrivilege"))
"""The sensitive privileges an administrator's elevated token holds, as 4672 lists them."""


def _lsa(text: str) -> v.Value:
    return v.string(text, terminated=True)


def _security(machine: Machine, time: datetime, event_id: int, task: int, fields: tuple) -> Logged:
    return Logged(time, SECURITY, SECURITY_AUDITING, event_id, fields, machine.lsass, level=0, task=task)


def admin_logon(logon: Logon, elevated_id: int, machine: Machine) -> list[Logged | Logon]:
    """The linked pair and 4672 for ``logon`` (its ``logon_id`` the limited session's, which processes run in)."""
    elevated = Logon(**{**logon.__dict__, "logon_id": elevated_id, "elevated": True,
                        "linked_logon_id": logon.logon_id})
    limited = Logon(**{**logon.__dict__, "linked_logon_id": elevated_id})
    privileges = _security(machine, logon.time, 4672, 12548, (
        ("SubjectUserSid", v.sid(logon.user_sid)), ("SubjectUserName", _lsa(logon.user)),
        ("SubjectDomainName", _lsa(machine.netbios)), ("SubjectLogonId", v.hex_int64(elevated_id)),
        ("PrivilegeList", _lsa(ADMIN_PRIVILEGES))))
    return [elevated, privileges, limited]


def logoff(time: datetime, user: str, sid: str, logon_type: int, logon_ids: tuple[int, ...],
           machine: Machine, *, by_user: bool = True) -> list[Logged]:
    """4647 when the user chose to log off (``by_user``), then 4634 for each logon id of the session."""
    target = (("TargetUserSid", v.sid(sid)), ("TargetUserName", _lsa(user)),
              ("TargetDomainName", _lsa(machine.netbios)))
    events = [_security(machine, time, 4647, 12545, (*target, ("TargetLogonId", v.hex_int64(logon_ids[0]))))
              ] if by_user else []
    for number, logon_id in enumerate(logon_ids, start=1):
        events.append(_security(machine, time + timedelta(milliseconds=40 * number), 4634, 12545, (
            *target, ("TargetLogonId", v.hex_int64(logon_id)), ("LogonType", v.uint32(logon_type)))))
    return events


def system_shutdown(time: datetime, user: str, sid: str, machine: Machine,
                    winlogon: Execution) -> tuple[Logged, Logged]:
    """System's part of the user's shutdown from the Start menu: User32's 1074 nine seconds before, Kernel-General's
    13 at ``time`` (its StopTime, which SYSTEM's ShutdownTime also records)."""
    return (
        Logged(time - timedelta(seconds=9), SYSTEM, USER32, 1074, (
            ("param1", v.string(rf"C:\Windows\Explorer.EXE ({machine.netbios})")),
            ("param2", v.string(machine.netbios)), ("param3", v.string("Other (Unplanned)")),
            ("param4", v.string("0x0")), ("param5", v.string("power off")), ("param6", v.string("")),
            ("param7", v.string(rf"{machine.netbios}\{user}"))),
            winlogon, keywords=0x8080000000000000, qualifiers=32768, user_sid=sid),
        Logged(time, SYSTEM, KERNEL_GENERAL, 13, (("StopTime", v.filetime_value(time)),), machine.kernel,
               task=2, keywords=0x8000000000000080),
    )


def security_shutdown(time: datetime, machine: Machine) -> Logged:
    """Security's last record as the Eventlog service stops, two seconds before the machine is off."""
    return Logged(time - timedelta(seconds=2), SECURITY, EVENTLOG, 1100, (), machine.eventlog, level=4, task=103,
                  keywords=0x4020000000000000, user_data="ServiceShutdown")
