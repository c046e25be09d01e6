"""An ext4 file system written byte by byte, so the image never depends on an mke2fs version.

Deliberately the plain subset every tool understands: 4 KiB blocks,
32768 blocks per group, 256-byte inodes with nanosecond/creation time
fields, extents (which is what makes TSK and e2fsck call it ext4), sparse
superblock backups, linear directories, no journal, no checksums.

Files and directories are allocated contiguously in tree order.  A deleted
file is what a forensic examiner hopes for: its name stays in the directory
block, hidden inside the previous entry's ``rec_len`` (TSK lists it as
deleted), and its inode keeps mode, size and extents but has
``links_count`` 0, ``dtime`` set and is clear in both bitmaps (e2fsck
ignores it, ``icat`` still reads its blocks).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import struct
import uuid
from dataclasses import dataclass, field

from dflab.errors import DflabError
from dflab.evidence.disk.model import BuiltFs, PlacedFile
from dflab.evidence.disk.tree import Node, build_tree, volume_time_range
from dflab.scenario.case import DiskFile, Volume

BLOCK = 4096
INODE_SIZE = 256
EXTRA_ISIZE = 32  # up to i_projid: covers the *_extra time fields and i_crtime
BLOCKS_PER_GROUP = 8 * BLOCK  # one bitmap block's worth
BYTES_PER_INODE = 16384  # mke2fs's default ratio
ROOT_INO, LOST_FOUND_INO, FIRST_INO = 2, 11, 11
MAX_EXTENT_LEN = 32768
MAX_EXTENTS = 4  # what fits in the inode itself (depth-0 tree)
MIN_GROUP_DATA = 50  # like mke2fs, drop a last group too small to be useful
MAX_NAME = 255

S_IFDIR, S_IFREG = 0o040000, 0o100000
FT_REG, FT_DIR = 1, 2
EXTENTS_FL = 0x80000
COMPAT = 0
INCOMPAT = 0x0002 | 0x0040  # filetype, extents
RO_COMPAT = 0x0001 | 0x0002 | 0x0020 | 0x0040  # sparse_super, large_file, dir_nlink, extra_isize
SIGNED_HASH = 0x1


@dataclass(frozen=True)
class Layout:
    """Group geometry derived from the volume size."""

    blocks: int
    groups: int
    inodes_per_group: int
    gdt_blocks: int

    @property
    def itable_blocks(self) -> int:
        return self.inodes_per_group * INODE_SIZE // BLOCK

    def group_blocks(self, g: int) -> int:
        return min(BLOCKS_PER_GROUP, self.blocks - g * BLOCKS_PER_GROUP)

    def has_super(self, g: int) -> bool:
        """sparse_super: superblock copies only in groups 0, 1 and powers of 3, 5 and 7."""
        if g <= 1:
            return True
        for base in (3, 5, 7):
            n = base
            while n < g:
                n *= base
            if n == g:
                return True
        return False

    def block_bitmap(self, g: int) -> int:
        return g * BLOCKS_PER_GROUP + (1 + self.gdt_blocks if self.has_super(g) else 0)

    def inode_table(self, g: int) -> int:
        return self.block_bitmap(g) + 2

    def overhead(self, g: int) -> int:
        return self.inode_table(g) + self.itable_blocks - g * BLOCKS_PER_GROUP


def layout(size_bytes: int, inodes_needed: int, where: str) -> Layout:
    """Groups, inodes per group and descriptor blocks for a volume of ``size_bytes``."""
    blocks = size_bytes // BLOCK
    while True:
        groups = max(1, math.ceil(blocks / BLOCKS_PER_GROUP))
        per_group = math.ceil(blocks * BLOCK / BYTES_PER_INODE / groups)
        per_group = max(per_group, math.ceil(inodes_needed / groups))
        per_group = min(BLOCKS_PER_GROUP, -(-per_group // 16) * 16)  # whole inode-table blocks
        lay = Layout(blocks, groups, per_group, math.ceil(groups * 32 / BLOCK))
        last = groups - 1
        if groups > 1 and lay.group_blocks(last) < lay.overhead(last) + MIN_GROUP_DATA:
            blocks = last * BLOCKS_PER_GROUP
            continue
        if blocks < lay.overhead(0) + MIN_GROUP_DATA:
            raise DflabError(f"volume of {size_bytes} bytes is too small for ext4", where)
        if per_group * groups < inodes_needed:
            raise DflabError(f"{inodes_needed} inodes needed, the volume has {per_group * groups}", where)
        return lay


@dataclass(eq=False)
class _Inode:
    """One inode to write: a planned node, the root or lost+found."""

    number: int
    file: DiskFile
    deleted: bool
    where: str  # where to point a user at when this inode can't be written
    children: list[_Inode] = field(default_factory=list)
    extents: list[tuple[int, int]] = field(default_factory=list)  # (first block, length)

    @property
    def is_dir(self) -> bool:
        return self.file.is_dir

    @property
    def block_count(self) -> int:
        return sum(length for _, length in self.extents)


class _Allocator:
    """Hands out blocks in order, skipping group metadata; remembers which ones the bitmaps show used."""

    def __init__(self, lay: Layout) -> None:
        self.lay = lay
        self.taken = bytearray(lay.blocks)  # 1 = metadata or allocated to anything, deleted files included
        self.in_use = bytearray(lay.blocks)  # 1 = marked in the on-disk block bitmap
        for g in range(lay.groups):
            for b in range(g * BLOCKS_PER_GROUP, g * BLOCKS_PER_GROUP + lay.overhead(g)):
                self.taken[b] = self.in_use[b] = 1
        self.cursor = 0

    def allocate(self, count: int, live: bool, what: str, where: str) -> list[tuple[int, int]]:
        extents: list[tuple[int, int]] = []
        while count:
            while self.cursor < self.lay.blocks and self.taken[self.cursor]:
                self.cursor += 1
            if self.cursor >= self.lay.blocks:
                raise DflabError(f"{what} does not fit: the volume has {self.lay.blocks} blocks of {BLOCK} bytes",
                                 where)
            start = self.cursor
            while self.cursor < self.lay.blocks and not self.taken[self.cursor] and self.cursor - start < min(
                    count, MAX_EXTENT_LEN):
                self.cursor += 1
            length = self.cursor - start
            self.taken[start:self.cursor] = b"\1" * length
            if live:
                self.in_use[start:self.cursor] = b"\1" * length
            extents.append((start, length))
            count -= length
        if len(extents) > MAX_EXTENTS:
            raise DflabError(f"{what} needs {len(extents)} extents, at most {MAX_EXTENTS} are supported", where)
        return extents


def build_ext4(volume: Volume, files: list[DiskFile], start_lba: int) -> BuiltFs:
    """Lay out ``files`` on an ext4 ``volume``; ``start_lba`` is unused (ext4 does not record it)."""
    del start_lba
    where = f"volume {volume.id}"
    root_node = build_tree(volume, files, MAX_NAME)
    first, last = volume_time_range(files)
    lay = layout(volume.size_bytes, FIRST_INO + len(root_node.walk()) - 1, where)

    numbers = itertools.count(FIRST_INO + 1)

    def convert(node: Node) -> _Inode:
        inode = _Inode(next(numbers), node.file, node.deleted, node.where)  # numbered before its children: tree order
        inode.children = [convert(child) for child in node.children]
        return inode

    lost = _Inode(LOST_FOUND_INO, DiskFile("", volume.id, "/lost+found", b"", first, first, first, first,
                                          mode=0o700, is_dir=True), False, where)
    root = _Inode(ROOT_INO, root_node.file, False, where, [lost] + [convert(c) for c in root_node.children])
    pairs = _preorder(root, root)
    inodes = [inode for inode, _ in pairs]

    alloc = _Allocator(lay)
    blocks_of: dict[int, list[bytes]] = {}
    for inode, parent in pairs:
        if inode.is_dir:
            blocks_of[inode.number] = _dir_blocks(inode, parent, inode.where)
            inode.extents = alloc.allocate(len(blocks_of[inode.number]), True, inode.file.path, inode.where)
        else:
            count = math.ceil(len(inode.file.content) / BLOCK)
            spare = count * BLOCK - len(inode.file.content)
            if len(inode.file.slack) > spare:
                raise DflabError(f"slack of {len(inode.file.slack)} bytes does not fit after the file's end "
                                 f"({spare} bytes left in its last {BLOCK}-byte block)", inode.where)
            inode.extents = alloc.allocate(count, not inode.deleted, inode.file.path, inode.where) if count else []

    built = BuiltFs(label=volume.label)
    for inode in inodes:
        _write_data(built, inode, blocks_of)
    # Directory blocks are built before their children have extents; only inode numbers are referenced.
    for inode in inodes:
        offset = _inode_offset(lay, inode.number)
        built.put(offset, _inode_bytes(inode))
        if inode.file.id:
            slack_at = None
            if inode.file.slack:
                block, _ = _block_at(inode.extents, len(inode.file.content) // BLOCK)
                slack_at = block * BLOCK + len(inode.file.content) % BLOCK
            built.files[inode.file.id] = PlacedFile(inode.number, slack_at)

    used_inodes = {i.number for i in inodes if not i.deleted} | set(range(1, FIRST_INO))
    dirs = [i.number for i in inodes if i.is_dir]
    descriptors = bytearray()
    free_blocks_total = free_inodes_total = 0
    for g in range(lay.groups):
        base = g * BLOCKS_PER_GROUP
        bitmap = _bitmap(alloc.in_use[base:base + lay.group_blocks(g)])
        ibase = g * lay.inodes_per_group
        inode_bits = bytes(1 if ibase + k + 1 in used_inodes else 0 for k in range(lay.inodes_per_group))
        free_blocks = lay.group_blocks(g) - sum(alloc.in_use[base:base + lay.group_blocks(g)])
        free_inodes = lay.inodes_per_group - sum(inode_bits)
        used_dirs = sum(1 for n in dirs if ibase < n <= ibase + lay.inodes_per_group)
        built.put(lay.block_bitmap(g) * BLOCK, bitmap)
        built.put((lay.block_bitmap(g) + 1) * BLOCK, _bitmap(inode_bits))
        descriptors += struct.pack("<IIIHHHHIHHHH", lay.block_bitmap(g), lay.block_bitmap(g) + 1,
                                   lay.inode_table(g), free_blocks, free_inodes, used_dirs, 0, 0, 0, 0, 0, 0)
        free_blocks_total += free_blocks
        free_inodes_total += free_inodes
    for g in range(lay.groups):
        if lay.has_super(g):
            sb = _superblock(volume, lay, free_blocks_total, free_inodes_total, g, first, last)
            start = g * BLOCKS_PER_GROUP * BLOCK
            built.put(start + (1024 if g == 0 else 0), sb)
            built.put(start + BLOCK, bytes(descriptors))
    return built


def _preorder(inode: _Inode, parent: _Inode) -> list[tuple[_Inode, _Inode]]:
    """Every inode below ``inode`` with its parent directory, parents first."""
    out = [(inode, parent)]
    for child in inode.children:
        out.extend(_preorder(child, inode))
    return out


def _dir_blocks(directory: _Inode, parent: _Inode, where: str) -> list[bytes]:
    """Linear directory blocks; a deleted child stays as a record inside the previous live record's span.

    A deleted record must never open a block (there would be nothing to hide
    it in, and TSK would list it as allocated), so one that doesn't fit the
    current block waits until a live record has opened the next one.
    """
    records = [(directory.number, b".", FT_DIR, False), (parent.number, b"..", FT_DIR, False)]
    records += [(c.number, c.file.name.encode("utf-8"), FT_DIR if c.is_dir else FT_REG, c.deleted)
                for c in directory.children]
    blocks: list[list[tuple[int, int, bytes, int, bool]]] = [[]]  # (offset, inode, name, type, deleted)
    used = 0
    waiting: list[tuple[int, bytes, int, bool]] = []
    for record in records:
        if record[3]:
            waiting.append(record)
        else:
            if used + _rec_size(record[1]) > BLOCK:
                blocks.append([])
                used = 0
            blocks[-1].append((used, *record))
            used += _rec_size(record[1])
        while waiting and used + _rec_size(waiting[0][1]) <= BLOCK:
            blocks[-1].append((used, *waiting[0]))
            used += _rec_size(waiting.pop(0)[1])
    if waiting:
        raise DflabError(f"{len(waiting)} deleted entries at the end of the directory do not fit in its last "
                         "block; plan a live file after them", where)
    out = []
    for records_in_block in blocks:
        block = bytearray(BLOCK)
        for k, (offset, number, name, kind, deleted) in enumerate(records_in_block):
            later = records_in_block[k + 1:]
            if deleted:
                end = later[0][0] if later else BLOCK
            else:
                end = next((r[0] for r in later if not r[4]), BLOCK)
            struct.pack_into(f"<IHBB{len(name)}s", block, offset, number, end - offset, len(name), kind, name)
        out.append(bytes(block))
    return out


def _rec_size(name: bytes) -> int:
    return max(12, (8 + len(name) + 3) // 4 * 4)


def _write_data(built: BuiltFs, inode: _Inode, blocks_of: dict[int, list[bytes]]) -> None:
    if inode.is_dir:
        for k, data in enumerate(blocks_of[inode.number]):
            block, _ = _block_at(inode.extents, k)
            built.put(block * BLOCK, data)
        return
    data = inode.file.content + inode.file.slack
    logical = 0
    for start, length in inode.extents:
        built.put(start * BLOCK, data[logical * BLOCK:(logical + length) * BLOCK])
        logical += length


def _block_at(extents: list[tuple[int, int]], logical: int) -> tuple[int, int]:
    """Physical block of the ``logical``-th block of a file, and the extent index holding it."""
    for index, (start, length) in enumerate(extents):
        if logical < length:
            return start + logical, index
        logical -= length
    raise AssertionError(logical)


def _inode_offset(lay: Layout, number: int) -> int:
    g, k = divmod(number - 1, lay.inodes_per_group)
    return lay.inode_table(g) * BLOCK + k * INODE_SIZE


def _split_time(t: int) -> tuple[int, int]:
    """(32-bit seconds, extra field) as ext4 stores times: epoch bits extend the range past 2038."""
    low = t & 0xFFFFFFFF
    signed = low - (1 << 32) if low >= 1 << 31 else low
    return low, ((t - signed) >> 32) & 0x3


def _inode_bytes(inode: _Inode) -> bytes:
    f = inode.file
    kind = S_IFDIR if inode.is_dir else S_IFREG
    size = inode.block_count * BLOCK if inode.is_dir else len(f.content)
    links = 0 if inode.deleted else (2 + sum(1 for c in inode.children if c.is_dir) if inode.is_dir else 1)
    tree = struct.pack("<HHHHI", 0xF30A, len(inode.extents), MAX_EXTENTS, 0, 0)
    logical = 0
    for start, length in inode.extents:
        tree += struct.pack("<IHHI", logical, length, start >> 32, start & 0xFFFFFFFF)
        logical += length
    atime, atime_x = _split_time(f.atime)
    ctime, ctime_x = _split_time(f.ctime)
    mtime, mtime_x = _split_time(f.mtime)
    crtime, crtime_x = _split_time(f.crtime)
    dtime = (f.deleted_at or 0) & 0xFFFFFFFF
    raw = struct.pack("<HHIIIIIHHII4x60sI4xIIHHHH4xHHIIIII", kind | (f.mode & 0o7777), f.uid & 0xFFFF,
                      size & 0xFFFFFFFF, atime, ctime, mtime, dtime, f.gid & 0xFFFF, links,
                      inode.block_count * (BLOCK // 512), EXTENTS_FL, tree.ljust(60, b"\0"), 0, size >> 32, 0,
                      0, 0, f.uid >> 16, f.gid >> 16, EXTRA_ISIZE, 0, ctime_x, mtime_x, atime_x, crtime,
                      crtime_x)
    return raw.ljust(INODE_SIZE, b"\0")


def _bitmap(flags: bytes | bytearray) -> bytes:
    """Pack one 0/1 byte per item into a bitmap block; bits past the group's end are set, as e2fsck expects."""
    padded = bytes(flags) + b"\1" * (8 * BLOCK - len(flags))
    return int(padded[::-1].translate(_DIGITS), 2).to_bytes(BLOCK, "little")


_DIGITS = bytes(0x31 if b else 0x30 for b in range(256))


def _superblock(volume: Volume, lay: Layout, free_blocks: int, free_inodes: int, group: int, first: int,
                last: int) -> bytes:
    sb = bytearray(1024)
    fs_uuid = uuid.UUID(volume.uuid).bytes
    seed = hashlib.sha256(fs_uuid + volume.serial.to_bytes(8, "little")).digest()[:16]
    label = volume.label.encode("utf-8")
    if len(label) > 16:
        raise DflabError(f"ext4 label {volume.label!r} is longer than 16 bytes", f"disk.volumes[{volume.id}].label")
    struct.pack_into("<IIIIIIIIIIIIIHhHHHHIIIIHHIHHIII16s16s64s", sb, 0, lay.groups * lay.inodes_per_group,
                     lay.blocks, lay.blocks * 5 // 100, free_blocks, free_inodes, 0, 2, 2, BLOCKS_PER_GROUP,
                     BLOCKS_PER_GROUP, lay.inodes_per_group, last, last, 1, -1, 0xEF53, 1, 1, 0, first, 0, 0, 1,
                     0, 0, FIRST_INO, INODE_SIZE, group, COMPAT, INCOMPAT, RO_COMPAT, fs_uuid, label,
                     volume.mount_point.encode("utf-8")[:63])
    struct.pack_into("<16sBBHII", sb, 236, seed, 1, 0, 0, 0, 0)
    struct.pack_into("<I", sb, 264, first)
    struct.pack_into("<HHI", sb, 348, EXTRA_ISIZE, EXTRA_ISIZE, SIGNED_HASH)
    return bytes(sb)
