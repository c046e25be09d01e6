"""A FAT32 file system written byte by byte, so the image never depends on an mkfs version.

Layout: 32 reserved sectors (boot sector, FSInfo, their backups at 6/7),
two FATs, then clusters from 2 on.  Directories and files are allocated
contiguously in tree order (root first), which keeps deleted files
recoverable: their FAT chain is zeroed, but TSK follows the start cluster
and size of the 0xE5 entry through consecutive clusters.

Times are stored as UTC wall clock (FAT has no zone), so ``istat -z UTC``
shows the planned values, rounded to FAT's resolution (2 s write time,
10 ms create time, date-only access).
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from dflab.errors import DflabError
from dflab.evidence.disk.model import BuiltFs, PlacedFile
from dflab.evidence.disk.tree import Node, build_tree, volume_time_range
from dflab.scenario.case import DiskFile, Volume

SECTOR = 512
RESERVED_SECTORS = 32
NUM_FATS = 2
MIN_CLUSTERS = 65525  # fewer and every FAT driver (and TSK) takes it for FAT16
MAX_CLUSTERS = 0x0FFFFFF5 - 2
END_OF_CHAIN = 0x0FFFFFFF
DENTRY = 32
ATTR_DIR, ATTR_ARCHIVE, ATTR_VOLUME, ATTR_LFN = 0x10, 0x20, 0x08, 0x0F
DELETED = 0xE5
TSK_FIRST_NORMAL_INODE = 3  # TSK numbers every 32-byte slot of the data area from 3 on
MAX_LONG_NAME = 255

_SHORT_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789$%'-_@~`!(){}^#&"
_EXACT_83 = re.compile(rf"^[{re.escape(_SHORT_CHARS)}]{{1,8}}(\.[{re.escape(_SHORT_CHARS)}]{{1,3}})?$")
_LONG_FORBIDDEN = set('"*/:<>?\\|') | {chr(c) for c in range(32)}


@dataclass(frozen=True)
class Geometry:
    """Sizes that follow from the volume size alone."""

    total_sectors: int
    sectors_per_cluster: int
    fat_sectors: int
    clusters: int

    @property
    def cluster_bytes(self) -> int:
        return self.sectors_per_cluster * SECTOR

    @property
    def data_sector(self) -> int:
        return RESERVED_SECTORS + NUM_FATS * self.fat_sectors

    def cluster_offset(self, cluster: int) -> int:
        """Byte offset of ``cluster`` from the start of the volume."""
        return (self.data_sector + (cluster - 2) * self.sectors_per_cluster) * SECTOR


def geometry(size_bytes: int, where: str) -> Geometry:
    """Pick the cluster size Windows would, shrunk until the volume has the clusters FAT32 needs."""
    total = size_bytes // SECTOR
    mib = size_bytes / (1024 * 1024)
    default = 1 if mib <= 260 else 8 if mib <= 8192 else 16 if mib <= 16384 else 32 if mib <= 32768 else 64
    spc = default
    while spc >= 1:
        fat = 1
        while True:
            clusters = (total - RESERVED_SECTORS - NUM_FATS * fat) // spc
            need = math.ceil((clusters + 2) * 4 / SECTOR)
            if need <= fat:
                break
            fat = need
        if MIN_CLUSTERS <= clusters <= MAX_CLUSTERS:
            return Geometry(total, spc, fat, clusters)
        spc //= 2
    raise DflabError(f"FAT32 needs at least {MIN_CLUSTERS} clusters (about 33 MiB), volume has {size_bytes} bytes",
                     where)


@dataclass
class _Entry:
    """A node's directory entry: its names and where its data lives."""

    node: Node
    short: bytes  # 11 bytes, space padded
    long: str | None  # written as VFAT entries when set
    first_cluster: int = 0
    clusters: int = 0

    @property
    def slots(self) -> int:
        return 1 + (math.ceil(len(self.long.encode("utf-16-le")) / 26) if self.long else 0)


def build_fat32(volume: Volume, files: list[DiskFile], start_lba: int, made_at: int) -> BuiltFs:
    """Lay out ``files`` on a FAT32 ``volume`` that starts at ``start_lba`` of the disk.

    ``made_at`` dates the volume label's entry when no file does (an empty volume, formatted and never written).
    """
    where = f"volume {volume.id}"
    geo = geometry(volume.size_bytes, where)
    root = build_tree(volume, files, MAX_LONG_NAME * 3)
    for node in root.walk():
        if node.file.link:
            raise DflabError("FAT has no symbolic links", node.where)
    label = _label(volume.label, where)
    first_time = volume_time_range(files)[0] if files else made_at

    for node in root.walk()[1:]:
        _times_of(node)  # fail on unstorable times before anything else uses them
    entries: dict[int, _Entry] = {id(root): _Entry(root, b"", None)}
    for node in root.walk():
        if node.is_dir:
            _name_children(node, entries)

    # Allocate clusters: every directory and file contiguously, in tree order.  The FAT grows with the
    # allocation (its entry n is cluster n); a deleted file's clusters stay 0 = free.
    fat = [0x0FFFFFF8, END_OF_CHAIN]
    for node in root.walk():
        entry = entries[id(node)]
        if node.is_dir:
            used = sum(entries[id(c)].slots for c in node.children) + (1 if node is root and label else 0)
            used += 0 if node is root else 2  # "." and ".."
            count = max(1, math.ceil(used * DENTRY / geo.cluster_bytes))
        else:
            count = math.ceil(len(node.file.content) / geo.cluster_bytes)
            spare = count * geo.cluster_bytes - len(node.file.content)
            if len(node.file.slack) > spare:
                raise DflabError(f"slack of {len(node.file.slack)} bytes does not fit after the file's end "
                                 f"({spare} bytes left in its last {geo.cluster_bytes}-byte cluster)",
                                 node.where)
        cursor = len(fat)
        if cursor + count > geo.clusters + 2:
            raise DflabError(f"{node.file.path} does not fit: the volume has {geo.clusters} clusters of "
                             f"{geo.cluster_bytes} bytes", node.where)
        entry.first_cluster, entry.clusters = (cursor, count) if count else (0, 0)
        if node.deleted:
            fat += [0] * count
        elif count:
            fat += [*range(cursor + 1, cursor + count), END_OF_CHAIN]

    parents = {id(child): node for node in root.walk() for child in node.children}
    built = BuiltFs(label=label.decode("ascii").rstrip())
    for node in root.walk():
        entry = entries[id(node)]
        offset = geo.cluster_offset(entry.first_cluster) if entry.clusters else 0
        if node.is_dir:
            body = bytearray()
            if node is root:
                if label:
                    body += _dirent(label, ATTR_VOLUME, _times(first_time, first_time, first_time), 0, 0)
            else:
                times = _times_of(node)
                body += _dirent(b".          ", ATTR_DIR, times, entry.first_cluster, 0)
                parent = parents[id(node)]
                # ".." of a directory in the root holds 0, not the root's cluster.
                body += _dirent(b"..         ", ATTR_DIR, times,
                                0 if parent is root else entries[id(parent)].first_cluster, 0)
            for child in node.children:
                ce = entries[id(child)]
                body += _child_entries(ce)
                if ce.node.file.id:
                    index = len(body) // DENTRY - 1
                    built.files[ce.node.file.id] = PlacedFile(_tsk_inode(geo, entry, index), None)
            built.put(offset, body)
        else:
            content = node.file.content
            built.put(offset, content + node.file.slack)
            if node.file.slack:
                placed = built.files[node.file.id]
                built.files[node.file.id] = PlacedFile(placed.inode, offset + len(content))

    # Only the FAT's used head is written: the rest of it is zero (free) anyway.
    fat_bytes = struct.pack(f"<{len(fat)}I", *fat)
    for n in range(NUM_FATS):
        built.put((RESERVED_SECTORS + n * geo.fat_sectors) * SECTOR, fat_bytes)
    live = sum(1 for value in fat[2:] if value)
    boot = _boot_sector(geo, volume.serial, label, start_lba)
    info = _fsinfo(geo.clusters - live, len(fat) if len(fat) < geo.clusters + 2 else 2)
    for base in (0, 6):
        built.put(base * SECTOR, boot + info)
    return built


def _name_children(directory: Node, entries: dict[int, _Entry]) -> None:
    """Give each child a unique short name, and a long name when the short one can't carry it."""
    seen_long: set[str] = set()
    seen_short: set[bytes] = set()
    for child in directory.children:
        name = child.file.name
        if set(name) & _LONG_FORBIDDEN or name.endswith((" ", ".")):
            raise DflabError(f"name {name!r} is not allowed on FAT", child.where)
        if len(name.encode("utf-16-le")) // 2 > MAX_LONG_NAME:
            raise DflabError(f"name {name!r} is longer than {MAX_LONG_NAME} characters",
                             child.where)
        if name.upper() in seen_long:
            raise DflabError(f"name {name!r} differs only in case from a sibling (FAT ignores case)",
                             child.where)
        seen_long.add(name.upper())
        short = _short_name(name, seen_short)
        seen_short.add(short)
        exact = _pack83(name.upper()) == short and _EXACT_83.match(name.upper()) is not None
        # Deleted entries always get a long name: TSK then shows the full name instead of "_LD.TXT".
        long = None if exact and name == name.upper() and not child.deleted else name
        entries[id(child)] = _Entry(child, short, long)


def _short_name(name: str, taken: set[bytes]) -> bytes:
    """The 8.3 alias Windows derives: the name itself if it fits, else BASE~N.EXT."""
    upper = name.upper()
    if _EXACT_83.match(upper) and _pack83(upper) not in taken:
        return _pack83(upper)
    stripped = name.lstrip(".")
    base, dot, ext = stripped.rpartition(".")
    if not dot:
        base, ext = stripped, ""
    base = _basis(base) or "_"
    ext = _basis(ext)[:3]
    n = 1
    while True:
        tail = f"~{n}"
        candidate = _pack83(base[: 8 - len(tail)] + tail + ("." + ext if ext else ""))
        if candidate not in taken:
            return candidate
        n += 1


def _basis(text: str) -> str:
    return "".join(c if c in _SHORT_CHARS else "_" for c in text.upper() if c not in " .")


def _pack83(name: str) -> bytes:
    base, _, ext = name.partition(".")
    return (base.ljust(8) + ext.ljust(3)).encode("ascii", "replace")[:11]


def _label(label: str, where: str) -> bytes:
    """The 11-byte volume label (upper case, as Windows stores it); empty means no label."""
    text = label.upper()
    if len(text) > 11 or not text.isascii() or any(c in _LONG_FORBIDDEN or c in "+,.;=[]" for c in text):
        raise DflabError(f"FAT label {label!r} must be at most 11 ASCII characters without punctuation", where)
    return text.ljust(11).encode("ascii") if text else b""


def _checksum(short: bytes) -> int:
    total = 0
    for byte in short:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def _child_entries(entry: _Entry) -> bytes:
    """VFAT long-name slots (last part first) followed by the 8.3 entry; 0xE5 marks them all deleted."""
    node = entry.node
    out = bytearray()
    if entry.long:
        units = entry.long.encode("utf-16-le")
        count = math.ceil(len(units) / 26)
        padded = units + (b"\x00\x00" + b"\xff\xff" * 13 if len(units) % 26 else b"")
        checksum = _checksum(entry.short)
        for seq in range(count, 0, -1):
            part = padded[(seq - 1) * 26: seq * 26]
            order = DELETED if node.deleted else seq | (0x40 if seq == count else 0)
            out += struct.pack("<B10sBBB12sH4s", order, part[:10], ATTR_LFN, 0, checksum, part[10:22], 0,
                               part[22:26])
    attr = ATTR_DIR if node.is_dir else ATTR_ARCHIVE
    short = bytes([DELETED]) + entry.short[1:] if node.deleted else entry.short
    size = 0 if node.is_dir else len(node.file.content)
    out += _dirent(short, attr, _times_of(node), entry.first_cluster, size)
    return bytes(out)


def _dirent(name: bytes, attr: int, times: tuple[int, int, int, int, int, int], cluster: int, size: int) -> bytes:
    tenth, ctime, cdate, adate, wtime, wdate = times
    return struct.pack("<11sBBBHHHHHHHI", name, attr, 0, tenth, ctime, cdate, adate, cluster >> 16, wtime, wdate,
                       cluster & 0xFFFF, size)


def _times_of(node: Node) -> tuple[int, int, int, int, int, int]:
    try:
        return _times(node.file.crtime, node.file.atime, node.file.mtime)
    except ValueError as exc:
        raise DflabError(str(exc), node.where) from exc


def _times(crtime: int, atime: int, mtime: int) -> tuple[int, int, int, int, int, int]:
    """(create 10 ms units, create time, create date, access date, write time, write date)."""
    cdate, ctime = _dos(crtime)
    adate, _ = _dos(atime)
    wdate, wtime = _dos(mtime)
    return (crtime % 2) * 100, ctime, cdate, adate, wtime, wdate


def _dos(t: int) -> tuple[int, int]:
    d = datetime.fromtimestamp(t, UTC)
    if not 1980 <= d.year <= 2107:
        raise ValueError(f"time {t} is outside FAT's 1980-2107 range")
    return ((d.year - 1980) << 9) | (d.month << 5) | d.day, (d.hour << 11) | (d.minute << 5) | (d.second // 2)


def _tsk_inode(geo: Geometry, directory: _Entry, index: int) -> int:
    """TSK's address for the ``index``-th 32-byte slot of ``directory``: slots counted from the data area."""
    offset = index * DENTRY
    cluster = directory.first_cluster + offset // geo.cluster_bytes
    sector = geo.data_sector + (cluster - 2) * geo.sectors_per_cluster + (offset % geo.cluster_bytes) // SECTOR
    return (sector - geo.data_sector) * (SECTOR // DENTRY) + (offset % SECTOR) // DENTRY + TSK_FIRST_NORMAL_INODE


def _boot_sector(geo: Geometry, serial: int, label: bytes, hidden: int) -> bytes:
    head = struct.pack("<3s8sHBHBHHBHHHIIIHHIHH12sBBBI11s8s", b"\xeb\x58\x90", b"MSWIN4.1", SECTOR,
                       geo.sectors_per_cluster, RESERVED_SECTORS, NUM_FATS, 0, 0, 0xF8, 0, 63, 255, hidden,
                       geo.total_sectors, geo.fat_sectors, 0, 0, 2, 1, 6, b"", 0x80, 0, 0x29, serial & 0xFFFFFFFF,
                       label or b"NO NAME    ", b"FAT32   ")
    return head.ljust(510, b"\0") + b"\x55\xaa"


def _fsinfo(free: int, next_free: int) -> bytes:
    sector = bytearray(SECTOR)
    struct.pack_into("<I", sector, 0, 0x41615252)
    struct.pack_into("<IIII", sector, 484, 0x61417272, free, next_free, 0)
    struct.pack_into("<I", sector, 508, 0xAA550000)
    return bytes(sector)
