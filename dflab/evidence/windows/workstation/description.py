"""What a Windows workstation case is, as its author states it: the machine, its users, the story's times, a seed.

Everything else (SIDs, serials, process and logon ids, file sizes and contents, MFT records) is decided from these
by ``decisions``, once, so that every artefact that mentions a thing names the same one. The story is told in UTC;
the time zone only says what the machine's clock showed (SYSTEM's TimeZoneInformation).

The story, in order: the user logs on at the keyboard, plugs in a USB stick and copies documents from it, opens
one; the stick is removed. The intruder logs on over Remote Desktop with the user's password, downloads the
payload with the browser, runs it (it drops the implant, timestomped to look as old as Windows), persists it as a
service and a Run value, clears the Security log, sends one document to the Recycle Bin and deletes another for
good. The next day the user logs on (the Run value starts the implant) and the intruder comes back. Clearing the log
removed the Security events before it; the System and PowerShell logs, the registry and the file system keep them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from dflab.errors import DflabError
from dflab.evidence.windows.registry import TimeZone

# -- what Windows accepts as a name (each check returns why not, or None); the spec's validation uses them too -------
_RESERVED_FILE_CHARS = set('<>:"/\\|?*')
_DEVICE_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_ACCOUNT_CHARS = set('"/\\[]:;|=,+*?<>@')
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _controls(name: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in name)


def file_name_problem(name: str) -> str | None:
    """Why Win32 refuses ``name`` as one file or folder name (Explorer, CreateFileW): reserved characters and
    controls, a trailing dot or space (silently stripped, so the file would not be the one named), device names
    (``CON``, ``nul.txt``), more than 255 characters."""
    if not name or name in (".", ".."):
        return "a file name is not empty, '.' or '..'"
    if len(name) > 255:
        return f"a file name is at most 255 characters ({len(name)})"
    if _controls(name) or _RESERVED_FILE_CHARS & set(name):
        return 'a Windows file name holds no control character nor any of <>:"/\\|?*'
    if name[-1] in ". ":
        return "a Windows file name does not end with a dot or a space (Win32 strips them)"
    if name.split(".", 1)[0].rstrip(" ").upper() in _DEVICE_NAMES:
        return "CON, PRN, AUX, NUL, COM1-9 and LPT1-9 are device names, not file names, on Windows"
    return None


def account_name_problem(name: str) -> str | None:
    """Why Windows refuses ``name`` for a local account (``net user``, lusrmgr): at most 20 characters, not only
    dots and spaces, none of ``"/\\[]:;|=,+*?<>@`` nor a control character; the profile folder is named after it,
    so it must be a file name too."""
    if not name or len(name) > 20:
        return f"an account name is 1-20 characters ({len(name)})"
    if not name.strip(". "):
        return "an account name is not only dots and spaces"
    if _controls(name) or _ACCOUNT_CHARS & set(name):
        return 'an account name holds no control character nor any of "/\\[]:;|=,+*?<>@'
    return file_name_problem(name)


def service_name_problem(name: str) -> str | None:
    """Why the Service Control Manager (or a Run value's name in regedit) refuses ``name``: 1-256 characters, no
    slash, backslash or control character."""
    if not 1 <= len(name) <= 256 or "/" in name or "\\" in name or _controls(name):
        return "a service or Run value name is 1-256 characters without '/', '\\' or a control character"
    return None


def computer_name_problem(name: str) -> str | None:
    """Why Windows refuses ``name`` as a computer (NetBIOS) name: 1-15 letters, digits or '-', not only digits."""
    if not 1 <= len(name) <= 15 or not name.isascii() or not name.replace("-", "").isalnum() or name.isdigit():
        return "a NetBIOS computer name is 1-15 letters, digits or '-', not only digits"
    return None


def host_name_problem(name: str) -> str | None:
    """Why ``name`` is not a DNS host name a resolver would ask for: dot-separated labels of 1-63 letters, digits
    or '-' (not at either end), 253 characters in all."""
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return "a host name is labels of 1-63 letters, digits or '-' (not first or last), dot-separated, 253 at most"
    return None


def unicast_problem(address: str) -> str | None:
    """Why ``address`` is not an IPv4 unicast address a host can have (0.0.0.0, broadcast, multicast, loopback,
    link-local and reserved ones are not)."""
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return "not an IPv4 address"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local:
        return "not a unicast IPv4 address a host can have (unspecified, broadcast, multicast, loopback, link-local " \
               "or reserved)"
    return None


def url_path_problem(url: str) -> str | None:
    """Why a download URL cannot be told the same by every artefact: Zone.Identifier and History keep a query or a
    fragment, the request line drops the fragment; names are plain printable ASCII."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "the download URL is not http(s)"
    if "?" in url or "#" in url:
        return "the download URL holds no query ('?') or fragment ('#')"
    if not url.isascii() or _controls(url) or any(c.isspace() for c in url):
        return "the download URL is printable ASCII without spaces"
    return None


# Windows 10's registry data of the time zones a case can use (HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\
# Time Zones\<key>): bias (UTC = local + bias, minutes), tzres.dll's standard and daylight name ids, daylight
# bias, and the yearly switches as SYSTEMTIME (month, day of week, week of month 5 = last, hour). One without
# daylight saving has zero switches.
TIME_ZONES: dict[str, TimeZone] = {
    "W. Europe Standard Time": TimeZone(),
    "Romance Standard Time": TimeZone("Romance Standard Time", -60, "@tzres.dll,-302", "@tzres.dll,-301", 0, -60,
                                      (0, 10, 0, 5, 3, 0, 0, 0), (0, 3, 0, 5, 2, 0, 0, 0)),
    "GMT Standard Time": TimeZone("GMT Standard Time", 0, "@tzres.dll,-262", "@tzres.dll,-261", 0, -60,
                                  (0, 10, 0, 5, 2, 0, 0, 0), (0, 3, 0, 5, 1, 0, 0, 0)),
}


def _switch(year: int, rule: tuple[int, ...]) -> datetime:
    """The local time of a yearly SYSTEMTIME switch in ``year`` (week 5 = the month's last such weekday)."""
    month, weekday, week, hour = rule[1], rule[2], rule[3], rule[4]
    first = datetime(year, month, 1)
    day = first + timedelta(days=(weekday - (first.weekday() + 1) % 7) % 7 + 7 * (week - 1))
    while day.month != month:  # week 5 in a month with four such weekdays
        day -= timedelta(days=7)
    return day.replace(hour=hour)


def time_zone_at(key_name: str, when: datetime) -> TimeZone:
    """The time zone ``key_name`` as the registry holds it at ``when`` (the machine's last shutdown): whether it was
    then on daylight time decides ``ActiveTimeBias``."""
    tz = TIME_ZONES.get(key_name)
    if tz is None:
        raise DflabError(f"not a time zone dflab writes (choose from {', '.join(TIME_ZONES)})", key_name)
    if tz.daylight_start[1] == 0:
        return tz
    local = when.astimezone(UTC).replace(tzinfo=None) - timedelta(minutes=tz.bias)  # standard local time
    begins = _switch(local.year, tz.daylight_start)
    ends = _switch(local.year, tz.standard_start) + timedelta(minutes=tz.daylight_bias)  # said in daylight time
    return replace(tz, in_daylight_time=begins <= local < ends)


@dataclass(frozen=True)
class User:
    """A local account: ``rid`` 1000 and up (lower ones are Windows' own)."""

    name: str
    rid: int
    full_name: str = ""


@dataclass(frozen=True)
class Timeline:
    """When each step of the story happened (timezone-aware; stored in UTC), in this order."""

    installed: datetime
    logon: datetime
    usb_inserted: datetime
    document_opened: datetime
    usb_removed: datetime
    remote_logon: datetime
    downloaded: datetime
    payload_run: datetime
    persisted: datetime
    log_cleared: datetime
    file_recycled: datetime
    file_deleted: datetime
    next_logon: datetime
    returned: datetime
    shutdown: datetime

    def __post_init__(self) -> None:
        previous = None
        for item in fields(self):
            when = getattr(self, item.name)
            if not isinstance(when, datetime) or when.tzinfo is None:
                raise DflabError("story time is not a timezone-aware datetime", f"timeline.{item.name}")
            if previous is not None and when <= previous[1]:
                raise DflabError(f"happens before or with {previous[0]} ({previous[1].isoformat()})",
                                 f"timeline.{item.name} {when.isoformat()}")
            previous = (item.name, when)


@dataclass(frozen=True)
class WorkstationCase:
    """One Windows 10 workstation's case. ``user`` is the victim whose account the intruder uses; ``documents``
    are the names of the files copied from the stick: the first is opened, the second recycled, the third deleted."""

    computer_name: str
    user: User
    timeline: Timeline
    download_url: str
    payload_name: str
    implant_name: str
    service_name: str
    seed: str
    documents: tuple[str, str, str] = ("budget_2024.xlsx", "contacts.docx", "passwords.txt")
    other_users: tuple[User, ...] = ()
    time_zone: TimeZone = TimeZone()
    domain_name: str = "WORKGROUP"
    intruder_ip: str | None = None
    """Where the intruder's Remote Desktop logons come from, when a scenario spec places it (drawn per trainee from
    the spec's range); None: ``decisions`` draws one from the seed."""
    download_ip: str | None = None
    """The download server's address, when the spec names the host (what the capture shows the download from)."""
    c2_ip: str | None = None
    """The implant's command-and-control server's address, when the spec names the host (the capture's)."""

    c2_host: str | None = None
    """The host name the implant asks DNS for and calls, when the spec names the host (the capture's)."""
    run_value: str | None = None
    """The Run value's name, when the spec draws one apart from the service's (:attr:`run_value_name`)."""

    @property
    def run_value_name(self) -> str:
        """The name of the Run value that starts the implant at logon: the spec's, else the service's."""
        return self.run_value if self.run_value is not None else self.service_name

    def __post_init__(self) -> None:
        checks = [(computer_name_problem(self.computer_name), self.computer_name),
                  (url_path_problem(self.download_url), self.download_url),
                  *((file_name_problem(n), n) for n in (self.payload_name, self.implant_name, *self.documents)),
                  *((service_name_problem(n), n) for n in (self.service_name, self.run_value_name)),
                  *((account_name_problem(u.name), u.name) for u in (self.user, *self.other_users)),
                  *((unicast_problem(a), a) for a in (self.intruder_ip, self.download_ip, self.c2_ip) if a is not None),
                  (host_name_problem(self.c2_host) if self.c2_host is not None else None, self.c2_host),
                  (None if self.time_zone.key_name in TIME_ZONES else "not a time zone dflab writes",
                   self.time_zone.key_name)]
        for problem, value in checks:
            if problem:
                raise DflabError(problem, repr(value))
        names = (self.payload_name, self.implant_name, *self.documents)
        if len({n.lower() for n in names}) != len(names):
            raise DflabError("file names must be distinct (Windows ignores case)", ", ".join(names))
        accounts = [u.name.lower() for u in (self.user, *self.other_users)]
        if len(set(accounts)) != len(accounts):
            raise DflabError("two accounts have the same name ignoring case (Windows refuses the second)",
                             ", ".join(u.name for u in (self.user, *self.other_users)))
        rids = [u.rid for u in (self.user, *self.other_users)]
        if len(set(rids)) != len(rids) or min(rids) < 1000:
            raise DflabError(f"user RIDs {rids} repeat or fall below 1000", "workstation users")


def local_time(key_name: str, when: datetime) -> datetime:
    """``when`` as the clock of a machine in time zone ``key_name`` showed it (naive: Windows keeps local times
    without an offset), daylight time applied when it was in force then."""
    return (when - timedelta(minutes=time_zone_at(key_name, when).active_bias)).replace(tzinfo=None)
