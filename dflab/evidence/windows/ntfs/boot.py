"""The NTFS boot sector (and its backup in the volume's last sector), with the fields Windows 10's format writes.

The geometry fields (63 sectors per track, 255 heads, media 0xF8, the 0x80 drive number) are what Windows writes on
any disk; hidden sectors is the partition's first LBA; the total sector count is one less than the partition's,
the last sector holding the backup. Boot code is left zero: the volume is evidence, not bootable.
"""

from __future__ import annotations

import struct

SECTOR = 512
SECTORS_PER_CLUSTER = 8
MFT_RECORD_CLUSTERS = -10
"""Negative: a record is 2**10 bytes (1024), smaller than a cluster."""
INDEX_BLOCK_CLUSTERS = 1


def boot_sector(total_sectors: int, mft_lcn: int, mirror_lcn: int, serial: int, hidden_sectors: int) -> bytes:
    out = bytearray(SECTOR)
    out[0:3] = b"\xeb\x52\x90"
    out[3:11] = b"NTFS    "
    struct.pack_into("<HBH3sHBHHHI", out, 0x0B, SECTOR, SECTORS_PER_CLUSTER, 0, b"\0\0\0", 0, 0xF8, 0, 63, 255,
                     hidden_sectors)
    struct.pack_into("<IqqqbxxxbxxxQI", out, 0x24, 0x00800080, total_sectors, mft_lcn, mirror_lcn,
                     MFT_RECORD_CLUSTERS, INDEX_BLOCK_CLUSTERS, serial, 0)
    out[510:512] = b"\x55\xaa"
    return bytes(out)
