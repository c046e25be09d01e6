"""$Extend\\$UsnJrnl:$J: the change journal, as USN_RECORD_V2 entries Windows 10 writes for a volume's file operations.

Each record names a file by its reference (record number and sequence number, as they were when the change
happened: a deleted file's record has since been reused or freed with a higher sequence), its parent's reference,
the time, the reasons accumulated since the file was opened (``CLOSE`` marks the last record of an open), its
attributes and its name then. A record is 8-byte aligned and never crosses a 4 KiB page: Windows pads the rest of a
page with zeros and starts the next record on the next page. A record's USN is its offset in $J.

Windows purges the journal from the front in steps of the allocation delta once it outgrows its maximum size, and
deallocates the purged clusters: $J is sparse up to the first record still kept, which is $Max's lowest valid USN.
The helpers below give the sequences of records Windows writes for the operations a case tells (a program creating
and writing a file, a browser adding Zone.Identifier, a timestomp, a rename or move, a delete), so a plan says what
happened and the journal says it the way Windows does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag

PAGE = 4096
HEADER = 0x3C
"""USN_RECORD_V2's fixed part; the file name follows it."""


class Reason(IntFlag):
    DATA_OVERWRITE = 0x1
    DATA_EXTEND = 0x2
    DATA_TRUNCATION = 0x4
    NAMED_DATA_OVERWRITE = 0x10
    NAMED_DATA_EXTEND = 0x20
    NAMED_DATA_TRUNCATION = 0x40
    FILE_CREATE = 0x100
    FILE_DELETE = 0x200
    EA_CHANGE = 0x400
    SECURITY_CHANGE = 0x800
    RENAME_OLD_NAME = 0x1000
    RENAME_NEW_NAME = 0x2000
    INDEXABLE_CHANGE = 0x4000
    BASIC_INFO_CHANGE = 0x8000
    HARD_LINK_CHANGE = 0x10000
    COMPRESSION_CHANGE = 0x20000
    ENCRYPTION_CHANGE = 0x40000
    OBJECT_ID_CHANGE = 0x80000
    REPARSE_POINT_CHANGE = 0x100000
    STREAM_CHANGE = 0x200000
    CLOSE = 0x80000000


@dataclass(frozen=True)
class UsnEvent:
    """One journal record about the planned file at ``path`` (its path in the plan, deleted files included).

    ``name`` and ``parent`` give the name and directory it had at the time when they differ from the planned ones:
    the old name of a rename or move."""

    path: str
    when: datetime | int
    reason: Reason
    name: str | None = None
    parent: str | None = None


def created(path: str, when: datetime | int, *, written: bool = True, name: str | None = None) -> tuple[UsnEvent, ...]:
    """A program creates ``path`` and (``written``) writes its content, then closes it; ``name``: the name it was
    created under, when it was renamed since."""
    reasons = [Reason.FILE_CREATE]
    if written:
        reasons.append(Reason.FILE_CREATE | Reason.DATA_EXTEND)
    reasons.append(reasons[-1] | Reason.CLOSE)
    return tuple(UsnEvent(path, when, r, name) for r in reasons)


def folder_created(path: str, when: datetime | int, *, attributes_set: bool = False) -> tuple[UsnEvent, ...]:
    """A folder is made; ``attributes_set``: then made hidden and system (``$Recycle.Bin`` and the SID folder)."""
    made = (UsnEvent(path, when, Reason.FILE_CREATE), UsnEvent(path, when, Reason.FILE_CREATE | Reason.CLOSE))
    return (*made, *basic_info_changed(path, when)) if attributes_set else made


def basic_info_changed(path: str, when: datetime | int) -> tuple[UsnEvent, ...]:
    """``path``'s times or attributes are set on an open handle, then it is closed: a timestomp (SetFileTime) or
    a file made hidden. The journal keeps no times, only that they changed; ``when`` is the change's own time."""
    return (UsnEvent(path, when, Reason.BASIC_INFO_CHANGE),
            UsnEvent(path, when, Reason.BASIC_INFO_CHANGE | Reason.CLOSE))


def stream_added(path: str, when: datetime | int) -> tuple[UsnEvent, ...]:
    """A named stream (the browser's Zone.Identifier) is added to an existing file and written."""
    first = Reason.STREAM_CHANGE
    second = first | Reason.NAMED_DATA_EXTEND
    return tuple(UsnEvent(path, when, r) for r in (first, second, second | Reason.CLOSE))


def renamed(path: str, when: datetime | int, old_name: str, old_parent: str | None = None) -> tuple[UsnEvent, ...]:
    """``path`` was ``old_parent/old_name`` (a rename, or a move within the volume: the Recycle Bin's too)."""
    return (UsnEvent(path, when, Reason.RENAME_OLD_NAME, old_name, old_parent),
            UsnEvent(path, when, Reason.RENAME_NEW_NAME),
            UsnEvent(path, when, Reason.RENAME_NEW_NAME | Reason.CLOSE))


def deleted(path: str, when: datetime | int) -> tuple[UsnEvent, ...]:
    """``path`` is deleted for good (Shift+Delete, or the Recycle Bin emptied): one record, as Windows writes it."""
    return (UsnEvent(path, when, Reason.FILE_DELETE | Reason.CLOSE),)


@dataclass(frozen=True)
class UsnRecord:
    """A record with everything resolved: references, FILETIME, attributes."""

    file_ref: int
    parent_ref: int
    timestamp: int
    reason: int
    attributes: int
    name: str

    def encode(self, usn: int) -> bytes:
        name = self.name.encode("utf-16-le")
        length = (HEADER + len(name) + 7) & ~7
        out = bytearray(length)
        struct.pack_into("<IHHQQqQIIIIHH", out, 0, length, 2, 0, self.file_ref, self.parent_ref, usn,
                         self.timestamp, self.reason, 0, 0, self.attributes, len(name), HEADER)
        out[HEADER:HEADER + len(name)] = name
        return bytes(out)


def journal(records: list[UsnRecord], first_usn: int) -> tuple[bytes, list[int]]:
    """The kept part of $J (from ``first_usn``, a page boundary) and each record's USN."""
    if first_usn % PAGE:
        raise ValueError(f"the journal's first USN {first_usn} is not on a {PAGE}-byte page")
    out = bytearray()
    usns = []
    for record in records:
        size = len(record.encode(0))
        if len(out) // PAGE != (len(out) + size - 1) // PAGE:
            out += bytes(-len(out) % PAGE)
        usns.append(first_usn + len(out))
        out += record.encode(first_usn + len(out))
    return bytes(out), usns


def max_stream(maximum_size: int, allocation_delta: int, journal_id: int, lowest_valid_usn: int) -> bytes:
    """$UsnJrnl:$Max: the journal's limits, its id (a FILETIME of its creation) and the first USN still kept."""
    return struct.pack("<QQQq", maximum_size, allocation_delta, journal_id, lowest_valid_usn)
