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

from dataclasses import dataclass, fields
from datetime import datetime
from urllib.parse import urlsplit

from dflab.errors import DflabError
from dflab.evidence.windows.registry import TimeZone


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

    def __post_init__(self) -> None:
        if not 1 <= len(self.computer_name) <= 15 or not self.computer_name.replace("-", "").isalnum():
            raise DflabError("a NetBIOS computer name is 1-15 letters, digits or '-'", self.computer_name)
        if urlsplit(self.download_url).scheme not in ("http", "https"):
            raise DflabError("the download URL is not http(s)", self.download_url)
        names = (self.payload_name, self.implant_name, *self.documents)
        if len({n.lower() for n in names}) != len(names) or any(not n or "\\" in n or "/" in n for n in names):
            raise DflabError("file names must be distinct plain names", ", ".join(names))
        rids = [u.rid for u in (self.user, *self.other_users)]
        if len(set(rids)) != len(rids) or min(rids) < 1000:
            raise DflabError(f"user RIDs {rids} repeat or fall below 1000", "workstation users")
