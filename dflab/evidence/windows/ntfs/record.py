"""FILE records: the 1024-byte MFT entries, laid out as Windows 10 writes them.

Header (signature, update sequence array at 0x30, $LogFile LSN, sequence number, hard-link count, first attribute
at 0x38, flags, bytes in use, base record, next attribute id, the record's own number), then the attributes in
Windows' order with instance ids from 0, the end marker, and the update sequence array applied.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dflab.evidence.windows.ntfs.attributes import END, Attribute, encode_attribute, sort_key
from dflab.evidence.windows.ntfs.fixup import protect, usa_size

RECORD_SIZE = 1024
USA_OFFSET = 0x30
FIRST_ATTRIBUTE = (USA_OFFSET + usa_size(RECORD_SIZE) + 7) & ~7

IN_USE = 0x0001
DIRECTORY = 0x0002
"""The record holds a $I30 file-name index."""
IN_EXTEND = 0x0004
"""Set by Windows on the view-index files under $Extend ($Quota, $ObjId, $Reparse)."""
VIEW_INDEX = 0x0008
"""The record holds a view index other than $I30 ($Secure, $ObjId, $Quota, $Reparse)."""


class RecordFull(ValueError):
    """The attributes do not fit in one record (the caller moves a stream out of it)."""


@dataclass(frozen=True)
class Record:
    number: int
    sequence: int
    flags: int
    links: int
    attributes: tuple[Attribute, ...]

    def used(self) -> int:
        """Bytes in use: header, attributes, end marker and the 4 bytes after it Windows counts."""
        return FIRST_ATTRIBUTE + sum(len(encode_attribute(a, 0)) for a in self.attributes) + 8

    def encode(self, usn: int = 1) -> bytes:
        ordered = sorted(self.attributes, key=sort_key)
        body = b"".join(encode_attribute(a, i) for i, a in enumerate(ordered))
        used = FIRST_ATTRIBUTE + len(body) + 8
        if used > RECORD_SIZE:
            raise RecordFull(f"MFT record {self.number} needs {used} bytes")
        out = bytearray(RECORD_SIZE)
        struct.pack_into("<4sHHQHHHHIIQHHI", out, 0, b"FILE", USA_OFFSET, usa_size(RECORD_SIZE) // 2, 0,
                         self.sequence, self.links, FIRST_ATTRIBUTE, self.flags, used, RECORD_SIZE, 0,
                         len(ordered), 0, self.number)
        out[FIRST_ATTRIBUTE:FIRST_ATTRIBUTE + len(body)] = body
        struct.pack_into("<I", out, FIRST_ATTRIBUTE + len(body), END)
        return protect(out, USA_OFFSET, usn)


def unused_record(number: int, usn: int = 1) -> bytes:
    """A formatted record that is not in use (what Windows leaves in records it reserves: 16–23 and the rest of the
    MFT's allocation): header, end marker, fixups; sequence number 1, as Windows formats them."""
    return Record(number, 1, 0, 0, ()).encode(usn)
