"""A Shell Link (.lnk) file as Explorer writes it in ``Recent`` when a document is opened (MS-SHLLINK).

Header (target's $STANDARD_INFORMATION times, size, attributes), LinkTargetIDList (``shellitems``), LinkInfo
(volume serial, drive type, label, local base path), StringData (relative path from the link's folder, working
directory), and the TrackerDataBlock the Distributed Link Tracking client reads: the machine's NetBIOS name and the
volume and file object IDs (the file's also stored in its $OBJECT_ID attribute), so a later NTFS plan can give the
target the same ids, then the volume's mount GUID as System.VolumeId (``propstore``). Every field is an input; the
same target gives the same bytes.
"""

from __future__ import annotations

import ntpath
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dflab.errors import DflabError
from dflab.evidence.windows.lnk.propstore import volume_id_block
from dflab.evidence.windows.lnk.shellitems import Entry, id_list
from dflab.evidence.windows.wintypes import filetime

SHELL_LINK_CLSID = uuid.UUID("00021401-0000-0000-c000-000000000046")
HAS_ID_LIST, HAS_LINK_INFO, HAS_RELATIVE_PATH, HAS_WORKING_DIR = 0x1, 0x2, 0x8, 0x10
IS_UNICODE, ENABLE_TARGET_METADATA = 0x80, 0x80000
FLAGS = HAS_ID_LIST | HAS_LINK_INFO | HAS_RELATIVE_PATH | HAS_WORKING_DIR | IS_UNICODE | ENABLE_TARGET_METADATA
SW_SHOWNORMAL = 1
DRIVE_FIXED = 3
VOLUME_ID_AND_LOCAL_BASE_PATH = 0x1
TRACKER_SIGNATURE = 0xA000_0003
_UUID_EPOCH = datetime(1582, 10, 15, tzinfo=UTC)


@dataclass(frozen=True)
class Volume:
    """The volume the target is on: drive letter, serial (the boot sector's low 32 bits), label, its link
    tracking id (the GUID in ``$Volume``'s $OBJECT_ID) and its mount manager GUID (``\\\\?\\Volume{…}``)."""

    drive: str
    serial: int
    label: str
    object_id: uuid.UUID
    guid: uuid.UUID


@dataclass(frozen=True)
class Target:
    """An opened document: the path's components from the root (directories, then the file), the volume, the
    file's object id (a version-1 GUID: ``object_id``), and the machine that made the link."""

    volume: Volume
    entries: tuple[Entry, ...]
    object_id: uuid.UUID
    machine: str

    @property
    def path(self) -> str:
        return self.volume.drive.upper() + "\\" + "\\".join(e.name for e in self.entries)


def object_id(created: datetime, mac: bytes, clock_sequence: int) -> uuid.UUID:
    """The version-1 GUID Windows gives a file when a link to it is made: its time, the machine's MAC address and
    a clock sequence, so the id itself dates the link and names the network card."""
    if len(mac) != 6 or not 0 <= clock_sequence < 1 << 14:
        raise DflabError("object id needs a 6-byte MAC and a 14-bit clock sequence", mac.hex())
    if created.tzinfo is None:
        raise DflabError("time has no time zone; object ids hold UTC", created.isoformat())
    ticks = (created - _UUID_EPOCH) // timedelta(microseconds=1) * 10  # 100 ns since the Gregorian reform
    return uuid.UUID(fields=(ticks & 0xFFFF_FFFF, ticks >> 32 & 0xFFFF, (ticks >> 48 & 0x0FFF) | 0x1000,
                             0x80 | clock_sequence >> 8, clock_sequence & 0xFF, int.from_bytes(mac, "big")))


def _header(file: Entry) -> bytes:
    # A folder's link has no working directory (Explorer writes none: the folder is where it would be).
    flags = FLAGS & ~HAS_WORKING_DIR if file.directory else FLAGS
    return struct.pack("<I16sIIQQQIiIHHII", 0x4C, SHELL_LINK_CLSID.bytes_le, flags, file.attributes,
                       filetime(file.created), filetime(file.accessed), filetime(file.modified), file.size, 0,
                       SW_SHOWNORMAL, 0, 0, 0, 0)


def _ansi(text: str, what: str) -> bytes:
    try:
        return text.encode("cp1252") + b"\0"
    except UnicodeEncodeError:
        raise DflabError(f"{what} does not fit the ANSI code page", text) from None


def _link_info(target: Target) -> bytes:
    label = _ansi(target.volume.label, "volume label")
    volume_id = struct.pack("<IIII", 16 + len(label), DRIVE_FIXED, target.volume.serial & 0xFFFF_FFFF, 0x10) + label
    base = _ansi(target.path, "target path")
    header_size = 0x1C
    base_offset = header_size + len(volume_id)
    suffix_offset = base_offset + len(base)
    body = volume_id + base + b"\0"
    return struct.pack("<IIIIIII", header_size + len(body), header_size, VOLUME_ID_AND_LOCAL_BASE_PATH,
                       header_size, base_offset, 0, suffix_offset) + body


def _string(text: str) -> bytes:
    if len(text) >= 1 << 16:
        raise DflabError("link string is too long", text[:60])
    return struct.pack("<H", len(text)) + text.encode("utf-16-le")


def _machine(name: str) -> bytes:
    """The tracker's MachineID: the NetBIOS name as the link tracking service stores it, lower case, NUL-padded."""
    if not name.isascii() or not 1 <= len(name) <= 15:
        raise DflabError("machine id must be a NetBIOS name (1-15 ASCII characters)", name)
    return name.lower().encode("ascii").ljust(16, b"\0")


def _tracker(target: Target) -> bytes:
    droid = target.volume.object_id.bytes_le + target.object_id.bytes_le
    body = struct.pack("<II", 0x58, 0) + _machine(target.machine) + droid + droid
    return struct.pack("<II", 8 + len(body), TRACKER_SIGNATURE) + body


def relative_path(link_folder: str, target_path: str) -> str:
    """The target's path relative to the folder holding the link, as Explorer stores it (``..\\..\\Documents\\x``)."""
    return ntpath.relpath(target_path, link_folder)


def shell_link(target: Target, link_folder: str) -> bytes:
    """The .lnk bytes for ``target``, stored in ``link_folder`` (``C:\\Users\\<user>\\AppData\\Roaming\\Microsoft\\
    Windows\\Recent`` for a document Explorer opened, and for the folder it was opened from: ``target`` a folder)."""
    if not target.entries:
        raise DflabError("a link's target has no path", target.path)
    if not 0 <= target.volume.serial < 1 << 32:
        raise DflabError("volume serial must fit 32 bits", hex(target.volume.serial))
    file = target.entries[-1]
    if not 0 <= file.size < 1 << 32:
        raise DflabError("a link header holds sizes below 4 GiB", target.path)
    working = b"" if file.directory else _string(ntpath.dirname(target.path))
    return (_header(file) + id_list(target.volume.drive, target.entries) + _link_info(target)
            + _string(relative_path(link_folder, target.path)) + working
            + _tracker(target) + volume_id_block(target.volume.guid) + b"\0\0\0\0")
