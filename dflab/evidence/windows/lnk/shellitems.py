"""The LinkTargetIDList's shell items as Explorer writes them for a file on a local NTFS volume (MS-SHLLINK 2.2,
the shell item formats libfwsi documents).

The path is a root folder item (My Computer's CLSID), a volume item (``C:\\``), then one file entry item per
directory and the file, each with the ``0xBEEF0004`` extension block of Windows 8 and later (version 9): creation
and access times, the long name in UTF-16 and the entry's NTFS file reference (MFT entry and sequence), which is
what lets an examiner tie a link to an ``$MFT`` record even after the file was renamed or moved.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from dflab.errors import DflabError

MY_COMPUTER = uuid.UUID("20d04fe0-3aea-1069-a2d8-08002b30309d")
SORT_MY_COMPUTER = 0x50
FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_ARCHIVE = 0x10, 0x20
_DIRECTORY_ITEM, _FILE_ITEM = 0x31, 0x32
_EXTENSION_VERSION, _EXTENSION_SIGNATURE, _WINDOWS_8_IDENTIFIER = 9, 0xBEEF0004, 0x2E


@dataclass(frozen=True)
class Entry:
    """One component of the target's path as the volume holds it: its long and 8.3 names, its MFT entry and
    sequence, and its $STANDARD_INFORMATION times. ``size`` is the file's (0 for a directory)."""

    name: str
    mft_entry: int
    mft_sequence: int
    created: datetime
    modified: datetime
    accessed: datetime
    directory: bool
    size: int = 0
    short_name: str | None = None

    @property
    def attributes(self) -> int:
        return FILE_ATTRIBUTE_DIRECTORY if self.directory else FILE_ATTRIBUTE_ARCHIVE

    @property
    def file_reference(self) -> int:
        if not 0 <= self.mft_entry < 1 << 48 or not 0 <= self.mft_sequence < 1 << 16:
            raise DflabError("MFT entry must fit 48 bits and sequence 16 bits", self.name)
        return self.mft_entry | self.mft_sequence << 48


def fat_datetime(when: datetime) -> int:
    """``when`` (UTC) as the shell items' FAT date and time: date in the low 16 bits, time (2-second steps) in the
    high 16, the order ``DosDateTimeToVariantTime`` reads them in."""
    if when.tzinfo is None:
        raise DflabError("time has no time zone; shell item times are UTC", when.isoformat())
    t = when.astimezone(UTC)
    if not 1980 <= t.year <= 2107:
        raise DflabError("FAT times hold years 1980-2107", t.isoformat())
    date = (t.year - 1980) << 9 | t.month << 5 | t.day
    clock = t.hour << 11 | t.minute << 5 | t.second // 2
    return date | clock << 16


def _item(body: bytes) -> bytes:
    return struct.pack("<H", len(body) + 2) + body


def root_item() -> bytes:
    """The root folder item: My Computer."""
    return _item(bytes([0x1F, SORT_MY_COMPUTER]) + MY_COMPUTER.bytes_le)


def volume_item(drive: str) -> bytes:
    """The volume item for ``drive`` (``C:``): flags 0x2F and the drive path padded to Explorer's 25 bytes."""
    if len(drive) != 2 or not drive[0].isalpha() or drive[1] != ":":
        raise DflabError("drive must be a letter and a colon", drive)
    return _item(b"\x2f" + f"{drive.upper()}\\".encode("ascii").ljust(22, b"\0"))


def _extension(entry: Entry, item_offset: int) -> bytes:
    long_name = entry.name.encode("utf-16-le") + b"\0\0"
    body = struct.pack("<HIIIHHQQHII", _EXTENSION_VERSION, _EXTENSION_SIGNATURE, fat_datetime(entry.created),
                       fat_datetime(entry.accessed), _WINDOWS_8_IDENTIFIER, 0, entry.file_reference, 0, 0, 0, 0)
    block = body + long_name + struct.pack("<H", item_offset)
    return struct.pack("<H", len(block) + 2) + block


def file_item(entry: Entry) -> bytes:
    """A file entry item: type, size, FAT modification time, attributes, the primary (8.3) name in the system
    code page, then the 0xBEEF0004 extension block."""
    primary = entry.short_name or entry.name
    try:
        encoded = primary.encode("cp1252") + b"\0"
    except UnicodeEncodeError:
        raise DflabError("primary name does not fit the ANSI code page; give its 8.3 short name", primary) from None
    if len(encoded) % 2:
        encoded += b"\0"
    if entry.size >= 1 << 32:
        raise DflabError("shell items hold sizes below 4 GiB", entry.name)
    head = struct.pack("<BBIIH", _DIRECTORY_ITEM if entry.directory else _FILE_ITEM, 0, entry.size,
                       fat_datetime(entry.modified), entry.attributes) + encoded
    return _item(head + _extension(entry, 2 + len(head)))


def id_list(drive: str, entries: tuple[Entry, ...]) -> bytes:
    """The LinkTargetIDList: its size, the items, the two-byte terminator."""
    items = root_item() + volume_item(drive) + b"".join(file_item(e) for e in entries) + b"\0\0"
    return struct.pack("<H", len(items)) + items
