"""A Windows 10 workstation's System log from its installation on: the records every boot, day and shutdown
leave, so the story's events sit among weeks of ordinary ones with record numbers that run from 1.

Each boot writes Kernel-General's 12 (the OS started, its StartTime the boot), the EventLog service's 6009 and 6005
(it started) and the Service Control Manager's 7036 for every service that starts with Windows; each noon 6013
(the uptime); while it runs, trigger-started services (Windows Update, BITS, the Modules Installer…) start and stop
again, each a 7036 pair; each shutdown is User32's 1074 (the user chose Shut down), 7036s of services stopping,
6006 (the EventLog service stopped) and Kernel-General's 13. What is drawn (service times, how many) comes from
the ``seed``, so the same case gives the same log.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dflab.evidence.windows.evtx import values as v
from dflab.evidence.windows.evtx.events import (
    EVENTLOG_SOURCE,
    SERVICE_CONTROL_MANAGER,
    SYSTEM,
    Execution,
    Logged,
    Machine,
)
from dflab.evidence.windows.evtx.lifecycle import KERNEL_GENERAL, system_shutdown
from dflab.evidence.windows.evtx.log import ClassicData
from dflab.scenario import draw as seeded

BOOT_SERVICES = (
    "Windows Event Log", "Group Policy Client", "DHCP Client", "DNS Client", "Network Location Awareness",
    "Network List Service", "Network Store Interface Service", "Windows Defender Firewall", "Base Filtering Engine",
    "Windows Audio Endpoint Builder", "Windows Audio", "Security Accounts Manager", "Print Spooler",
    "Task Scheduler", "Windows Management Instrumentation", "Cryptographic Services", "Windows Font Cache Service",
    "Connected User Experiences and Telemetry", "Windows Search", "Security Center", "User Manager",
    "Shell Hardware Detection", "Windows Push Notifications System Service", "Windows License Manager Service",
    "Remote Desktop Services", "Remote Desktop Services UserMode Port Redirector", "Delivery Optimization",
    "Microsoft Defender Antivirus Service", "Diagnostic Policy Service", "Distributed Link Tracking Client",
)
"""Services that start with every boot (Windows 10 22H2, Pro, auto-start), in the order SCM reports them."""
TRIGGERED = (
    "Windows Update", "Background Intelligent Transfer Service", "Windows Modules Installer",
    "WinHTTP Web Proxy Auto-Discovery Service", "Device Setup Manager", "Network Setup Service",
    "Windows Error Reporting Service", "Microsoft Store Install Service", "Update Orchestrator Service",
    "Software Protection", "Microsoft Account Sign-in Assistant", "Windows Time", "Device Association Service",
    "AppX Deployment Service (AppXSVC)", "Client License Service (ClipSVC)", "Windows Biometric Service",
)
"""Services started on demand and stopped when idle: what fills most of a workstation's System log."""
SERVICE_KEYS = {
    "Windows Event Log": "EventLog", "Group Policy Client": "gpsvc", "DHCP Client": "Dhcp", "DNS Client": "Dnscache",
    "Network Location Awareness": "NlaSvc", "Network List Service": "netprofm",
    "Network Store Interface Service": "nsi", "Windows Defender Firewall": "mpssvc", "Base Filtering Engine": "BFE",
    "Windows Audio Endpoint Builder": "AudioEndpointBuilder", "Windows Audio": "Audiosrv",
    "Security Accounts Manager": "SamSs", "Print Spooler": "Spooler", "Task Scheduler": "Schedule",
    "Windows Management Instrumentation": "Winmgmt", "Cryptographic Services": "CryptSvc",
    "Windows Font Cache Service": "FontCache", "Connected User Experiences and Telemetry": "DiagTrack",
    "Windows Search": "WSearch", "Security Center": "wscsvc", "User Manager": "UserManager",
    "Shell Hardware Detection": "ShellHWDetection", "Windows Push Notifications System Service": "WpnService",
    "Windows License Manager Service": "LicenseManager", "Remote Desktop Services": "TermService",
    "Remote Desktop Services UserMode Port Redirector": "UmRdpService", "Delivery Optimization": "DoSvc",
    "Microsoft Defender Antivirus Service": "WinDefend", "Diagnostic Policy Service": "DPS",
    "Distributed Link Tracking Client": "TrkWks",
    "Windows Update": "wuauserv", "Background Intelligent Transfer Service": "BITS",
    "Windows Modules Installer": "TrustedInstaller", "WinHTTP Web Proxy Auto-Discovery Service": "WinHttpAutoProxySvc",
    "Device Setup Manager": "DsmSvc", "Network Setup Service": "NetSetupSvc",
    "Windows Error Reporting Service": "WerSvc", "Microsoft Store Install Service": "InstallService",
    "Update Orchestrator Service": "UsoSvc", "Software Protection": "sppsvc",
    "Microsoft Account Sign-in Assistant": "wlidsvc", "Windows Time": "W32Time",
    "Device Association Service": "DeviceAssociationService", "AppX Deployment Service (AppXSVC)": "AppXSvc",
    "Client License Service (ClipSVC)": "ClipSVC", "Windows Biometric Service": "WbioSrvc",
}
"""Each service's key name under ``Services`` (what 7036's binary names), by the display name its text shows."""
SERVICE_RUNNING, SERVICE_STOPPED = 4, 1
"""SERVICE_RUNNING and SERVICE_STOPPED, the state 7036's binary gives after the key name."""
STOPPED_AT_SHUTDOWN = ("Windows Search", "Windows Push Notifications System Service", "User Manager",
                       "Remote Desktop Services", "Print Spooler")


@dataclass(frozen=True)
class Uptime:
    """One boot of the machine: when Windows started and when it was shut down (None: it ran past the story)."""

    boot: datetime
    shutdown: datetime | None


@dataclass(frozen=True)
class Windows:
    """The installed version Kernel-General's 12 and EventLog's 6009 report; the time zone 6013 names (its
    standard bias in minutes, UTC = local + bias, and key name) and whose noon it is written at."""

    build: int = 19045
    revision: int = 3803
    bias: int = -60
    zone: str = "W. Europe Standard Time"
    product: str = "Windows 10 Pro"
    build_lab: str = "19041.vb_release.191206-1406"


def uptime_binary(windows: Windows, computer: str, seed: str) -> bytes:
    """6013's binary: the version record the EventLog service appends (as in the real log of shared/samples)."""
    parts = ("1.1", "0", windows.product, f"10.0.{windows.build} Build {windows.build}  ", "Multiprocessor Free",
             windows.build_lab, f"{_draw(seed, 'uptime-id', 1 << 32):08x}", "Not Available", "Not Available", "9",
             "4", "2048", "409", computer, "")
    return "".join(part + "\0" for part in parts).encode("utf-16-le")


def classic(time: datetime, event_id: int, strings: tuple[str, ...] | None, binary: bytes | None) -> Logged:
    """An event of the EventLog service's NT source, as Windows 10 still writes them."""
    return Logged(time, SYSTEM, EVENTLOG_SOURCE, event_id, (), Execution(0, 0), keywords=0x0080000000000000,
                  qualifiers=32768, classic=ClassicData(strings, binary))


def systemtime(moment: datetime) -> bytes:
    """SYSTEMTIME (UTC) as 6005's binary holds it, then eight zero bytes."""
    return struct.pack("<8H", moment.year, moment.month, (moment.weekday() + 1) % 7, moment.day, moment.hour,
                       moment.minute, moment.second, moment.microsecond // 1000) + bytes(8)


def _draw(seed: str, what: str, below: int) -> int:
    return seeded.number(seed, f"routine\0{what}", below)


def service_state_binary(key_name: str, running: bool) -> bytes:
    """7036's ``<Binary>``: the service's key name, a slash and its state's number, UTF-16LE with a NUL
    (``BITS/4``: 4200490054005300 2F003400 0000), as the SCM writes it."""
    return f"{key_name}/{SERVICE_RUNNING if running else SERVICE_STOPPED}\0".encode("utf-16-le")


def service_state(time: datetime, name: str, running: bool, services: Execution) -> Logged:
    """7036, a service entered the running or stopped state: its display name and state, and the binary naming
    its key."""
    return Logged(time, SYSTEM, SERVICE_CONTROL_MANAGER, 7036, (
        ("param1", v.string(name)), ("param2", v.string("running" if running else "stopped"))),
        services, keywords=0x8080000000000000, qualifiers=16384,
        binary=service_state_binary(SERVICE_KEYS.get(name, name), running))


def os_started(boot: datetime, kernel: Execution, windows: Windows) -> Logged:
    """Kernel-General's 12, written half a second into the boot, its StartTime the boot itself."""
    return Logged(boot + timedelta(milliseconds=540), SYSTEM, KERNEL_GENERAL, 12, (
        ("MajorVersion", v.uint32(10)), ("MinorVersion", v.uint32(0)), ("BuildVersion", v.uint32(windows.build)),
        ("QfeVersion", v.uint32(windows.revision)), ("ServiceVersion", v.uint16(0)), ("BootMode", v.uint32(0)),
        ("StartTime", v.filetime_value(boot))), kernel, task=1, keywords=0x8000000000000080, user_sid="S-1-5-18")


def uptime_events(machine: Machine, uptime: Uptime, until: datetime, seed: str, user: str, sid: str,
                  winlogon: Execution, windows: Windows = Windows()) -> list[Logged]:
    """One boot's records up to its shutdown (or ``until``): the boot, the day's services, the shutdown."""
    tag = uptime.boot.isoformat()
    started = uptime.boot + timedelta(seconds=24, milliseconds=_draw(seed, f"{tag}/eventlog", 900))
    events = [os_started(uptime.boot, machine.kernel, windows),
              classic(started, 6009, (f"{10:d}.00.", str(windows.build), "", "Multiprocessor Free", "0"), None),
              classic(started, 6005, None, systemtime(started))]
    at = uptime.boot + timedelta(seconds=14)
    for number, name in enumerate(BOOT_SERVICES):
        at += timedelta(milliseconds=120 + _draw(seed, f"{tag}/boot/{number}", 2400))
        events.append(service_state(at, name, True, machine.services))
    end = uptime.shutdown or until
    at = uptime.boot + timedelta(minutes=2)
    while True:  # on-demand services, a start every few minutes, each stopped again when idle
        at += timedelta(seconds=60 + _draw(seed, f"{tag}/gap/{at.isoformat()}", 900))
        name = TRIGGERED[_draw(seed, f"{tag}/which/{at.isoformat()}", len(TRIGGERED))]
        stop = at + timedelta(seconds=30 + _draw(seed, f"{tag}/idle/{at.isoformat()}", 240))
        if stop >= end - timedelta(seconds=30):
            break
        events += [service_state(at, name, True, machine.services), service_state(stop, name, False,
                                                                                     machine.services)]
    noon = datetime.combine(uptime.boot.date(), datetime.min.time(), uptime.boot.tzinfo) + timedelta(
        hours=12, minutes=windows.bias)
    while noon < end:  # the daily uptime report, at the time zone's (standard) noon
        if noon > started:
            up = str(int((noon - uptime.boot).total_seconds()))
            events.append(classic(noon, 6013, (up, "", up, "60", f"{windows.bias} {windows.zone}"),
                                  uptime_binary(windows, machine.netbios, seed)))
        noon += timedelta(days=1)
    if uptime.shutdown is not None:
        events += shutdown_events(machine, uptime.shutdown, user, sid, winlogon)
    return events


def shutdown_events(machine: Machine, time: datetime, user: str, sid: str, winlogon: Execution) -> list[Logged]:
    """The user's Shut down: 1074 first, services stopping, 13 at ``time``."""
    first, last = system_shutdown(time, user, sid, machine, winlogon)
    stopping = [service_state(time - timedelta(seconds=6 - number), name, False, machine.services)
                for number, name in enumerate(STOPPED_AT_SHUTDOWN)]
    return [first, *stopping, classic(time - timedelta(milliseconds=700), 6006, None, bytes([1]) + bytes(7)), last]


def system_history(machine: Machine, uptimes: Sequence[Uptime], until: datetime, seed: str, user: str, sid: str,
                   winlogon: Execution, windows: Windows = Windows()) -> list[Logged]:
    """Every boot's records, in time order within each boot (``build_logs`` sorts them with the story's)."""
    return [event for uptime in uptimes
            for event in uptime_events(machine, uptime, until, seed, user, sid, winlogon, windows)]
