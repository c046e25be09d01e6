"""Where the volumes go on the disk, and the MBR or GPT that says so.

Partitions follow ``disk.volumes`` in order, the first at LBA 2048 and each
one starting on a 1 MiB boundary, as every modern partitioner does; that
is also what trainees see in ``mmls``.  A volume with a ``start_sector``
starts there, and the gap before it is unallocated space.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass

from dflab.errors import DflabError
from dflab.scenario.case import Disk, Volume

SECTOR = 512
ALIGN = 2048  # sectors: 1 MiB
GPT_ENTRIES = 128
GPT_ENTRY_SIZE = 128
GPT_ARRAY_SECTORS = GPT_ENTRIES * GPT_ENTRY_SIZE // SECTOR
MBR_TYPES = {"fat32": 0x0C, "ext4": 0x83}  # FAT32 with LBA addressing, Linux
GPT_ESP = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
GPT_BASIC_DATA = "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7"
GPT_MSR = "e3c9e316-0b5c-4db8-817d-f92df00215ae"  # Microsoft Reserved: Windows disks only, never a volume
GPT_LINUX = "0fc63daf-8483-4772-8e79-3d69d8477de4"


@dataclass(frozen=True)
class Placement:
    """One volume's partition: its sectors and the type the table gives it."""

    index: int  # 1-based, as in the table
    volume: Volume
    start: int  # LBA
    sectors: int
    type: str  # "0x0c"/"0x83" for MBR, a type GUID for GPT


def place(disk: Disk) -> list[Placement]:
    """Lay out the partitions; raise :class:`DflabError` when they don't fit the disk or the table."""
    if disk.size_bytes % SECTOR:
        raise DflabError(f"disk size {disk.size_bytes} is not a multiple of {SECTOR}", "disk.size_bytes")
    total = disk.size_bytes // SECTOR
    last_usable = total - 1 - (GPT_ARRAY_SECTORS + 1 if disk.table == "gpt" else 0)
    if disk.table == "mbr" and len(disk.volumes) > 4:
        raise DflabError(f"an MBR holds 4 primary partitions, {len(disk.volumes)} volumes planned", "disk.volumes")
    if disk.table == "mbr" and total > 0xFFFFFFFF:
        raise DflabError("an MBR cannot address a disk of 2 TiB or more, use table: gpt", "disk.size_bytes")
    out = []
    start = ALIGN
    for index, volume in enumerate(disk.volumes, start=1):
        where = f"disk.volumes[{volume.id}]"
        if volume.size_bytes <= 0 or volume.size_bytes % SECTOR:
            raise DflabError(f"volume size {volume.size_bytes} is not a positive multiple of {SECTOR}", where)
        sectors = volume.size_bytes // SECTOR
        if volume.start_sector is not None:
            if volume.start_sector % ALIGN or volume.start_sector < start:
                raise DflabError(f"start LBA {volume.start_sector} is not a 1 MiB boundary at or after LBA {start}, "
                                 "where the previous partition ends", where)
            start = volume.start_sector
        if start + sectors - 1 > last_usable:
            raise DflabError(f"volume of {sectors} sectors at LBA {start} does not fit on the disk "
                             f"(last usable LBA {last_usable})", where)
        out.append(Placement(index, volume, start, sectors, _type(disk.table, volume)))
        start = -(-(start + sectors) // ALIGN) * ALIGN
    return out


def _type(table: str, volume: Volume) -> str:
    if table == "mbr":
        return f"0x{MBR_TYPES[volume.fs]:02x}"
    if volume.fs == "ext4":
        return GPT_LINUX
    return GPT_ESP if volume.mount_point == "/boot/efi" else GPT_BASIC_DATA


def table_chunks(disk: Disk, parts: list[Placement]) -> list[tuple[int, bytes]]:
    """The partition table as (disk offset, bytes) pieces: the MBR, or protective MBR plus both GPT copies."""
    total = disk.size_bytes // SECTOR
    if disk.table == "mbr":
        entries = [_mbr_entry(p.start, p.sectors, int(p.type, 16)) for p in parts]
        return [(0, _mbr(disk.disk_signature, entries))]
    protective = _mbr(0, [_mbr_entry(1, min(total - 1, 0xFFFFFFFF), 0xEE)])
    array = b"".join(_gpt_entry(p) for p in parts).ljust(GPT_ENTRIES * GPT_ENTRY_SIZE, b"\0")
    backup_array_lba = total - 1 - GPT_ARRAY_SECTORS
    guid = _guid(disk.disk_guid, "disk.disk_guid")
    primary = _gpt_header(1, total - 1, 2, total, guid, array)
    backup = _gpt_header(total - 1, 1, backup_array_lba, total, guid, array)
    return [(0, protective), (SECTOR, primary), (2 * SECTOR, array), (backup_array_lba * SECTOR, array),
            ((total - 1) * SECTOR, backup)]


def _mbr(signature: int, entries: list[bytes]) -> bytes:
    table = b"".join(entries).ljust(64, b"\0")
    return bytes(440) + struct.pack("<IH", signature & 0xFFFFFFFF, 0) + table + b"\x55\xaa"


def _mbr_entry(start: int, sectors: int, kind: int) -> bytes:
    return struct.pack("<B3sB3sII", 0, _chs(start), kind, _chs(start + sectors - 1), start, sectors)


def _chs(lba: int) -> bytes:
    """CHS address in the 255-head, 63-sector geometry; past cylinder 1023 the maximum, as fdisk writes."""
    cylinder, rest = divmod(lba, 255 * 63)
    if cylinder > 1023:
        return b"\xfe\xff\xff"
    head, sector = divmod(rest, 63)
    return bytes([head, (sector + 1) | ((cylinder >> 2) & 0xC0), cylinder & 0xFF])


def _gpt_entry(p: Placement) -> bytes:
    name = p.volume.label.encode("utf-16-le")
    if len(name) > 72:
        raise DflabError(f"GPT partition name {p.volume.label!r} is longer than 36 characters",
                         f"disk.volumes[{p.volume.id}].label")
    return struct.pack("<16s16sQQQ72s", uuid.UUID(p.type).bytes_le,
                       _guid(p.volume.uuid, f"disk.volumes[{p.volume.id}].uuid"), p.start,
                       p.start + p.sectors - 1, 0, name)


def _gpt_header(my_lba: int, other_lba: int, array_lba: int, total: int, disk_guid: bytes, array: bytes) -> bytes:
    def pack(crc: int) -> bytes:
        return struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x00010000, 92, crc, 0, my_lba, other_lba,
                           2 + GPT_ARRAY_SECTORS, total - 2 - GPT_ARRAY_SECTORS, disk_guid, array_lba,
                           GPT_ENTRIES, GPT_ENTRY_SIZE, zlib.crc32(array))

    return pack(zlib.crc32(pack(0))).ljust(SECTOR, b"\0")


def _guid(text: str, where: str) -> bytes:
    try:
        return uuid.UUID(text).bytes_le
    except ValueError as exc:
        raise DflabError(f"{text!r} is not a GUID", where) from exc
