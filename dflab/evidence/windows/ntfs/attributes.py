"""Attribute records and the values of the attributes the writer uses (NTFS 3.1, as Windows 10 writes them).

An attribute is a header (resident: value inline; non-resident: VCN range, sizes and a runlist) followed by its
name in UTF-16 and its value or mapping pairs, each part 8-byte aligned. Values here are the fixed layouts:
$STANDARD_INFORMATION (the 0x48-byte form with owner, security id, quota and USN), $FILE_NAME, $VOLUME_INFORMATION.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from dflab.evidence.windows.ntfs.runlist import Run, encode


class AttrType(IntEnum):
    STANDARD_INFORMATION = 0x10
    ATTRIBUTE_LIST = 0x20
    FILE_NAME = 0x30
    OBJECT_ID = 0x40
    SECURITY_DESCRIPTOR = 0x50
    VOLUME_NAME = 0x60
    VOLUME_INFORMATION = 0x70
    DATA = 0x80
    INDEX_ROOT = 0x90
    INDEX_ALLOCATION = 0xA0
    BITMAP = 0xB0
    REPARSE_POINT = 0xC0
    EA_INFORMATION = 0xD0
    EA = 0xE0
    LOGGED_UTILITY_STREAM = 0x100


END = 0xFFFFFFFF
SPARSE = 0x8000
"""Attribute flag: some runs are holes (the header then carries the total allocated size)."""
INDEXED = 0x01
"""Resident flag of a $FILE_NAME: the attribute is referenced from an index."""


class Namespace(IntEnum):
    POSIX = 0
    WIN32 = 1
    DOS = 2
    WIN32_AND_DOS = 3


def align8(n: int) -> int:
    return (n + 7) & ~7


def ref(record: int, sequence: int) -> int:
    """A file reference: 48-bit record number, 16-bit sequence number."""
    return record | sequence << 48


@dataclass(frozen=True)
class Resident:
    type: AttrType
    value: bytes
    name: str = ""
    indexed: bool = False


@dataclass(frozen=True)
class NonResident:
    """A stream stored in clusters: ``runs`` cover ``allocated`` bytes, of which ``size`` are the stream's."""

    type: AttrType
    runs: tuple[Run, ...]
    size: int
    allocated: int
    name: str = ""
    sparse: bool = False


Attribute = Resident | NonResident


def sort_key(attr: Attribute) -> tuple[int, tuple[int, ...]]:
    """Windows' order of attributes in a record: by type, then by name (upper-cased, unnamed first)."""
    from dflab.evidence.windows.ntfs.upcase import collation_key

    return int(attr.type), collation_key(attr.name)


def encode_attribute(attr: Attribute, instance: int) -> bytes:
    """One attribute record, its length a multiple of 8."""
    name = attr.name.encode("utf-16-le")
    if isinstance(attr, Resident):
        name_offset = 0x18
        value_offset = align8(name_offset + len(name))
        length = align8(value_offset + len(attr.value))
        out = bytearray(length)
        struct.pack_into("<IIBBHHHIHBB", out, 0, attr.type, length, 0, len(attr.name), name_offset, 0, instance,
                         len(attr.value), value_offset, INDEXED if attr.indexed else 0, 0)
        out[name_offset:name_offset + len(name)] = name
        out[value_offset:value_offset + len(attr.value)] = attr.value
        return bytes(out)
    header = 0x48 if attr.sparse else 0x40
    pairs = encode(list(attr.runs))
    pairs_offset = align8(header + len(name))
    length = align8(pairs_offset + len(pairs))
    clusters = sum(r.length for r in attr.runs)
    out = bytearray(length)
    struct.pack_into("<IIBBHHHqqHBxxxxxqqq", out, 0, attr.type, length, 1, len(attr.name),
                     header, SPARSE if attr.sparse else 0, instance, 0, clusters - 1,
                     pairs_offset, 0, attr.allocated, attr.size, attr.size)
    if attr.sparse:
        in_use = sum(r.length for r in attr.runs if r.lcn is not None)
        struct.pack_into("<q", out, 0x40, in_use * (attr.allocated // clusters if clusters else 0))
    out[header:header + len(name)] = name
    out[pairs_offset:pairs_offset + len(pairs)] = pairs
    return bytes(out)


@dataclass(frozen=True)
class Times:
    """The four times NTFS keeps, as FILETIMEs, in the order it stores them."""

    created: int
    modified: int
    mft_changed: int
    accessed: int

    def pack(self) -> bytes:
        return struct.pack("<QQQQ", self.created, self.modified, self.mft_changed, self.accessed)


def standard_information(times: Times, attributes: int, security_id: int, usn: int = 0) -> bytes:
    """$STANDARD_INFORMATION, NTFS 3.x form: times, DOS attributes, max versions, version, class id, owner id,
    security id (into $Secure), quota charged, update sequence number (into $UsnJrnl)."""
    return times.pack() + struct.pack("<IIIIIIQQ", attributes, 0, 0, 0, 0, security_id, 0, usn)


def file_name(parent: int, name: str, times: Times, allocated: int, size: int, flags: int,
              namespace: Namespace) -> bytes:
    """$FILE_NAME: parent reference, the times as of the name's last change, sizes, flags and the name."""
    encoded = name.encode("utf-16-le")
    return (struct.pack("<Q", parent) + times.pack() + struct.pack("<QQIIBB", allocated, size, flags, 0,
                                                                      len(encoded) // 2, namespace) + encoded)


def volume_information(major: int = 3, minor: int = 1, flags: int = 0) -> bytes:
    return struct.pack("<QBBH", 0, major, minor, flags)
