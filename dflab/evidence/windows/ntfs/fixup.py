"""Update sequence arrays: how NTFS detects a torn multi-sector write of an MFT or index record.

The last two bytes of every 512-byte sector of a record are saved in the record's array and replaced by the update
sequence number; a reader checks that every sector ends with it and puts the saved bytes back. Every FILE, INDX
and RSTR record the writer emits goes through ``protect``.
"""

from __future__ import annotations

import struct

SECTOR = 512


def usa_size(record_size: int) -> int:
    """Bytes of the array: the sequence number and one saved pair per sector."""
    return 2 * (1 + record_size // SECTOR)


def protect(record: bytearray, usa_offset: int, usn: int) -> bytes:
    """``record`` with its array at ``usa_offset`` filled and every sector's last two bytes replaced by ``usn``."""
    if not 0 < usn < 0xFFFF:
        raise ValueError(f"update sequence number {usn} is reserved")
    sectors = len(record) // SECTOR
    struct.pack_into("<H", record, usa_offset, usn)
    for i in range(sectors):
        end = (i + 1) * SECTOR - 2
        record[usa_offset + 2 + 2 * i:usa_offset + 4 + 2 * i] = record[end:end + 2]
        struct.pack_into("<H", record, end, usn)
    return bytes(record)
