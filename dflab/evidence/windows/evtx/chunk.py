"""One 64 KiB EVTX chunk: its ``ElfChnk`` header, string and template tables, records and CRCs.

A chunk is self-contained (every name and template a record uses is defined inside it), which is why Windows
can recycle a chunk of a full log and why readers can carve one out of slack. Records are appended until the
next would not fit; the chunk then gets its header: record numbers and ids, the offsets of the last record
and of the free space, CRC32 of the records and CRC32 of the header (bytes 0-120 and 128-512).
"""

from __future__ import annotations

import struct
import zlib
from datetime import datetime

from dflab.errors import DflabError
from dflab.evidence.windows.evtx.binxml import ChunkBody, Instance, ValueTooLarge
from dflab.evidence.windows.wintypes import filetime

CHUNK_SIZE = 0x10000
CHUNK_HEADER_SIZE = 512
CHUNK_MAGIC = b"ElfChnk\0"
RECORD_MAGIC = b"\x2a\x2a\x00\x00"
RECORD_ALIGNMENT = 8  # Windows pads every record (its size copy included) to 8 bytes
_STRING_TABLE = 128
_TEMPLATE_TABLE = 384
CHUNK_FLAGS = 0x1  # every chunk of the real logs compared with carries this flag


class Chunk:
    """Records appended in order; :meth:`to_bytes` seals the chunk."""

    def __init__(self, first_number: int) -> None:
        self.body = ChunkBody()
        self.first_number = first_number
        self.record_ids: list[int] = []
        self.last_record_offset = 0

    def add(self, record_id: int, written: datetime, instance: Instance) -> bool:
        """Append one record; False (and nothing written) when it does not fit in what is left of the chunk."""
        mark = self.body.mark()
        start = len(self.body.buffer)
        body = self.body.buffer
        body += RECORD_MAGIC + bytes(4) + struct.pack("<QQ", record_id, filetime(written))
        try:
            self.body.fragment(instance)
        except ValueTooLarge as exc:
            self.body.rollback(mark)
            raise DflabError(str(exc), f"event record {record_id}") from exc
        body += bytes(-(len(body) - start + 4) % RECORD_ALIGNMENT)
        size = len(body) - start + 4
        body += struct.pack("<I", size)
        struct.pack_into("<I", body, start + 4, size)
        if len(body) >= CHUNK_SIZE:  # a record ending exactly at the chunk's end: libevtx drops it, so never
            self.body.rollback(mark)
            if not self.record_ids:
                raise DflabError(f"event is {size} bytes, more than one chunk holds", f"event record {record_id}")
            return False
        self.record_ids.append(record_id)
        self.last_record_offset = start
        return True

    @property
    def last_number(self) -> int:
        return self.first_number + len(self.record_ids) - 1

    def to_bytes(self) -> bytes:
        chunk = bytearray(self.body.buffer)
        free = len(chunk)
        chunk += bytes(CHUNK_SIZE - free)
        struct.pack_into("<8sQQQQIII", chunk, 0, CHUNK_MAGIC, self.first_number, self.last_number,
                         self.record_ids[0], self.record_ids[-1], 128, self.last_record_offset, free)
        struct.pack_into("<I", chunk, 52, zlib.crc32(chunk[CHUNK_HEADER_SIZE:free]))
        struct.pack_into("<64I", chunk, _STRING_TABLE, *self.body.string_heads)
        struct.pack_into("<32I", chunk, _TEMPLATE_TABLE, *self.body.template_heads)
        struct.pack_into("<I", chunk, 120, CHUNK_FLAGS)
        struct.pack_into("<I", chunk, 124, zlib.crc32(chunk[:120] + chunk[128:CHUNK_HEADER_SIZE]))
        return bytes(chunk)
