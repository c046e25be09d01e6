"""What ``mkfs.ext4`` (e2fsprogs 1.47, Debian's mke2fs.conf) decides for a volume of a given size.

An examiner compares a suspect file system with what the distribution's tool makes: block
size and inode ratio by size class, groups, inodes per group, reserved GDT blocks for online
growth, where flex_bg packs each group's bitmaps and inode table, the journal's size and
place.  This module computes those decisions the way mke2fs does (ext2fs_initialize,
ext2fs_allocate_tables, ext2fs_create_resize_inode, get_midpoint_journal_block), without
running it, so the layout never depends on the e2fsprogs installed where evidence is built.
tests/test_ext4_mkfs_parity.py holds it to the real tool, size by size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dflab.errors import DflabError

KiB, MiB, TiB = 1024, 1024 * 1024, 1024 ** 4
INODE_SIZE = 256
DESC_SIZE = 64  # 64bit feature: 64-byte group descriptors
FLEX_BG_SIZE = 16  # mke2fs's default -G
FIRST_INO = 11  # first inode a file may use; 1-10 are reserved, 11 is lost+found
ROOT_INO, RESIZE_INO, JOURNAL_INO, LOST_FOUND_INO = 2, 7, 8, 11
RESERVED_PERCENT = 5
MAX_EXTENT_LEN = 32768  # longest initialised extent
LOST_FOUND_BYTES = 16 * KiB  # mke2fs expands lost+found to 16 KiB (at most 12 direct blocks)
PAGE_SIZE = 4096  # x86-64's: mke2fs rounds a device's size down to whole pages
MIN_JOURNAL_FS_BLOCKS = 2048  # smaller file systems get no journal from mke2fs; dflab refuses them

# (upper size bound, mke2fs.conf type, block size, bytes per inode); "huge" (>= 16 TiB) is refused.
SIZE_TYPES = ((3 * MiB, "floppy", 1024, 8192), (512 * MiB, "small", 1024, 4096),
              (4 * TiB, "default", 4096, 16384), (16 * TiB, "big", 4096, 32768))


def size_type(size_bytes: int, where: str) -> tuple[str, int, int]:
    """mke2fs.conf's size class for ``size_bytes``: (name, block size, inode ratio)."""
    for bound, name, block_size, ratio in SIZE_TYPES:
        if size_bytes < bound:
            return name, block_size, ratio
    raise DflabError(f"volume of {size_bytes} bytes is too large: dflab writes ext4 volumes under 16 TiB", where)


def journal_blocks_for(blocks: int) -> int:
    """ext2fs_default_journal_size: the journal's length in blocks, by file system size in blocks."""
    for limit, size in ((32768, 1024), (256 * 1024, 4096), (512 * 1024, 8192), (4096 * 1024, 16384),
                        (8192 * 1024, 32768), (16384 * 1024, 65536), (32768 * 1024, 131072)):
        if blocks < limit:
            return size
    return 262144


def has_super(group: int) -> bool:
    """sparse_super: superblock and descriptor backups only in groups 0, 1 and powers of 3, 5 and 7."""
    if group <= 1:
        return True
    for base in (3, 5, 7):
        n = base
        while n < group:
            n *= base
        if n == group:
            return True
    return False


@dataclass(frozen=True)
class Geometry:
    """The numbers of an ext4 that follow from its size alone (the superblock's fixed fields)."""

    block_size: int
    blocks: int  # s_blocks_count: may be less than the volume when a last group would be too small
    first_data_block: int  # 1 with 1 KiB blocks (block 0 holds the boot sector and the superblock's start)
    blocks_per_group: int
    groups: int
    inodes_per_group: int
    itable_blocks: int  # per group
    desc_blocks: int
    reserved_gdt: int
    journal_blocks: int
    size_type: str

    @property
    def inodes(self) -> int:
        return self.groups * self.inodes_per_group

    @property
    def reserved_blocks(self) -> int:
        return self.blocks * RESERVED_PERCENT // 100

    @property
    def log_block_size(self) -> int:
        return self.block_size.bit_length() - 11  # 1024 << log

    @property
    def pointers_per_block(self) -> int:
        return self.block_size // 4

    def group_first(self, group: int) -> int:
        return self.first_data_block + group * self.blocks_per_group

    def group_last(self, group: int) -> int:
        return min(self.group_first(group) + self.blocks_per_group, self.blocks) - 1

    def group_of(self, block: int) -> int:
        return (block - self.first_data_block) // self.blocks_per_group

    def group_blocks(self, group: int) -> int:
        return self.group_last(group) - self.group_first(group) + 1

    def backup_span(self, group: int) -> int:
        """Blocks at the start of ``group`` taken by its superblock, descriptors and reserved GDT (or 0)."""
        return 1 + self.desc_blocks + self.reserved_gdt if has_super(group) else 0

    def inode_group(self, ino: int) -> tuple[int, int]:
        """(group, index within the group's table) of inode number ``ino``."""
        return divmod(ino - 1, self.inodes_per_group)


def geometry(size_bytes: int, where: str) -> Geometry:
    """ext2fs_initialize's arithmetic for a volume of ``size_bytes`` with mke2fs's defaults."""
    kind, block_size, ratio = size_type(size_bytes, where)
    blocks = size_bytes // PAGE_SIZE * (PAGE_SIZE // block_size)  # mke2fs rounds down to whole pages
    if blocks < MIN_JOURNAL_FS_BLOCKS:
        raise DflabError(f"volume of {size_bytes} bytes is too small for ext4 with a journal "
                         f"(at least {MIN_JOURNAL_FS_BLOCKS * block_size // MiB} MiB)", where)
    first = 1 if block_size == 1024 else 0
    per_group = 8 * block_size
    inodes_wanted = max(blocks * block_size // ratio, FIRST_INO + 1)  # from the size before any trimming
    while True:
        groups = math.ceil((blocks - first) / per_group)
        desc_blocks = math.ceil(groups / (block_size // DESC_SIZE))
        ipg = math.ceil(inodes_wanted / groups)
        if ipg > 8 * block_size:
            raise DflabError(f"volume of {size_bytes} bytes needs more inodes per group than a bitmap holds", where)
        ipg = min(ipg, (1 << 16) - block_size // INODE_SIZE)
        itable = math.ceil(ipg * INODE_SIZE / block_size)
        ipg = max(itable * block_size // INODE_SIZE, 8) & ~7
        itable = math.ceil(ipg * INODE_SIZE / block_size)
        reserved_gdt = _reserved_gdt_blocks(blocks, first, per_group, block_size, desc_blocks)
        last = groups - 1
        overhead = 2 + itable + (1 + desc_blocks + reserved_gdt if has_super(last) else 0)
        rest = (blocks - first) % per_group
        if groups == 1 and rest and rest < overhead:
            raise DflabError(f"volume of {size_bytes} bytes is too small for ext4", where)
        if rest and rest < overhead + 50:
            blocks -= rest
            continue
        break
    journal = journal_blocks_for(blocks)
    return Geometry(block_size, blocks, first, per_group, groups, ipg, itable, desc_blocks, reserved_gdt, journal,
                    kind)


def _reserved_gdt_blocks(blocks: int, first: int, per_group: int, block_size: int, desc_blocks: int) -> int:
    """calc_reserved_gdt_blocks: room for descriptors of a file system grown 1024 times (or to 2^32 blocks)."""
    max_blocks = 0xFFFFFFFF
    if blocks < max_blocks // 1024:
        max_blocks = blocks * 1024
    groups = math.ceil((max_blocks - first) / per_group)
    return min(math.ceil(groups / (block_size // DESC_SIZE)) - desc_blocks, block_size // 4)


class BlockMap:
    """Which blocks are in use, with libext2fs's first-fit search (so placements match mke2fs's)."""

    def __init__(self, geo: Geometry) -> None:
        self.geo = geo
        self.used = bytearray(geo.blocks)
        if geo.first_data_block:
            self.used[0] = 1  # the boot block: outside every group
        self.zero_run = b""

    def mark(self, start: int, count: int = 1) -> None:
        self.used[start:start + count] = b"\1" * count

    def find(self, start: int, finish: int, count: int) -> int | None:
        """ext2fs_get_free_blocks2: the first ``b`` in [start, finish) whose ``count`` blocks are all free.

        The run may extend past ``finish``; ``finish <= start`` wraps around the end of the file system.
        """
        start = start or self.geo.first_data_block
        finish = finish or start
        if len(self.zero_run) != count:
            self.zero_run = bytes(count)
        at = self.used.find(self.zero_run, start)
        if finish > start:
            return at if 0 <= at < finish else None
        if at >= 0:
            return at
        at = self.used.find(self.zero_run, self.geo.first_data_block)
        return at if 0 <= at < finish else None

    def next_free(self, goal: int) -> int | None:
        """ext2fs_new_block2: the first free block at or after ``goal``, wrapping to the start."""
        at = self.used.find(0, goal)
        if at < 0:
            at = self.used.find(0, self.geo.first_data_block, goal)
        return at if at >= 0 else None

    def free_in_group(self, group: int) -> int:
        geo = self.geo
        return geo.group_blocks(group) - sum(self.used[geo.group_first(group):geo.group_last(group) + 1])


@dataclass(frozen=True)
class Tables:
    """Where mke2fs put each group's bitmaps and inode table, and the blocks of its first files."""

    block_bitmap: tuple[int, ...]
    inode_bitmap: tuple[int, ...]
    inode_table: tuple[int, ...]
    root_block: int
    lost_found_blocks: tuple[int, ...]
    resize_dind: int
    journal_extents: tuple[tuple[int, int], ...]  # (first block, length)
    overhead: int  # s_overhead_clusters: metadata and journal, as mke2fs 1.47 counts it


def mkfs_layout(geo: Geometry, where: str) -> tuple[Tables, BlockMap]:
    """Replay mke2fs's allocations on an empty block map; return the placements and the map after them."""
    bmap = BlockMap(geo)
    for g in range(geo.groups):
        bmap.mark(geo.group_first(g), geo.backup_span(g))
    bb: list[int] = []
    ib: list[int] = []
    it: list[int] = []
    for g in range(geo.groups):
        _allocate_group_table(geo, bmap, g, bb, ib, it, where)
    overhead = sum(bmap.used) + (geo.journal_blocks if geo.journal_blocks else 0)
    # mke2fs then creates the root directory and lost+found (goal: their inode's flex group's first block),
    # the resize inode's double-indirect block and last the journal, from the midpoint group.
    root = _take(bmap, bmap.next_free(geo.group_first(0)), where)
    lost_found = []
    goal = geo.group_first(0)
    for _ in range(min(max(LOST_FOUND_BYTES // geo.block_size, 2), 12)):
        goal = _take(bmap, bmap.next_free(goal), where)
        lost_found.append(goal)
    dind_goal = geo.first_data_block + geo.desc_blocks + geo.reserved_gdt + 2 + geo.itable_blocks
    dind = _take(bmap, bmap.next_free(dind_goal), where)
    journal = _allocate_journal(geo, bmap, where) if geo.journal_blocks else ()
    tables = Tables(tuple(bb), tuple(ib), tuple(it), root, tuple(lost_found), dind, journal, overhead)
    return tables, bmap


def _take(bmap: BlockMap, block: int | None, where: str) -> int:
    if block is None:
        raise DflabError("the volume has no room for ext4's own metadata", where)
    bmap.mark(block)
    return block


def _allocate_group_table(geo: Geometry, bmap: BlockMap, group: int, bb: list[int], ib: list[int], it: list[int],
                          where: str) -> None:
    """ext2fs_allocate_group_table with flex_bg: each table kind packed for the whole flex group."""
    last_grp = min(group | (FLEX_BG_SIZE - 1), geo.groups - 1)
    rem_grps = last_grp - group + 1
    group_blk = geo.group_first(group)
    last_blk = geo.group_last(last_grp)
    table_offset = FLEX_BG_SIZE
    if group % FLEX_BG_SIZE:
        prev = bb[group - 1] + 1
    else:
        prev = 0
        if last_grp == geo.groups - 1:  # the last flex group keeps its tables contiguous
            table_offset = (last_grp & (FLEX_BG_SIZE - 1)) + 1 if last_grp & (FLEX_BG_SIZE - 1) else FLEX_BG_SIZE
    start = _flexbg_offset(geo, bmap, group, prev, rem_grps, 1)
    bb.append(_one_of(bmap, start, last_blk, group_blk, where))

    prev = ib[group - 1] + 1 if group % FLEX_BG_SIZE else bb[group] + table_offset
    start = _flexbg_offset(geo, bmap, group, prev, rem_grps, 1)
    ib.append(_one_of(bmap, start, last_blk, group_blk, where))

    prev = it[group - 1] + geo.itable_blocks if group % FLEX_BG_SIZE else ib[group] + table_offset
    start = _flexbg_offset(geo, bmap, group, prev, rem_grps, geo.itable_blocks)
    block = bmap.find(start, last_blk, geo.itable_blocks)
    if block is None:
        raise DflabError("the volume has no room for its inode tables", where)
    bmap.mark(block, geo.itable_blocks)
    it.append(block)


def _one_of(bmap: BlockMap, start: int, last_blk: int, group_blk: int, where: str) -> int:
    block = bmap.find(start, last_blk, 1)
    if block is None:
        block = bmap.find(group_blk, last_blk, 1)
    return _take(bmap, block, where)


def _flexbg_offset(geo: Geometry, bmap: BlockMap, group: int, start: int, rem_grps: int, elem: int) -> int:
    """flexbg_offset: where the next table of a flex group goes, skipping backups in the way."""
    size = min(rem_grps * elem, geo.blocks_per_group // 4)
    if start and start < geo.blocks:
        found = bmap.find(start, start + size, elem)
        if found is not None:
            return found
    flex_first = geo.group_first(group - group % FLEX_BG_SIZE)
    last_blk = geo.group_last(min(group | (FLEX_BG_SIZE - 1), geo.groups - 1))
    for first, count in ((flex_first, size), (flex_first, elem), (0, elem)):
        found = bmap.find(first, last_blk, count)
        if found is not None:
            return found
    return 0


def _allocate_journal(geo: Geometry, bmap: BlockMap, where: str) -> tuple[tuple[int, int], ...]:
    """The journal's extents: contiguous free runs from the midpoint group's first block on."""
    goal = _midpoint_journal_block(geo, bmap)
    extents: list[tuple[int, int]] = []
    wanted = geo.journal_blocks
    at = goal
    while wanted:
        start = bmap.next_free(at)
        if start is None:
            raise DflabError("the volume has no room for its journal", where)
        length = 0
        while length < min(wanted, MAX_EXTENT_LEN) and start + length < geo.blocks and not bmap.used[start + length]:
            length += 1
        bmap.mark(start, length)
        if extents and extents[-1][0] + extents[-1][1] == start and extents[-1][1] + length <= MAX_EXTENT_LEN:
            extents[-1] = (extents[-1][0], extents[-1][1] + length)
        else:
            extents.append((start, length))
        wanted -= length
        at = start + length if start + length < geo.blocks else geo.first_data_block
    return tuple(extents)


def _midpoint_journal_block(geo: Geometry, bmap: BlockMap) -> int:
    """get_midpoint_journal_block: the emptiest group around the middle of the file system."""
    group = geo.group_of((geo.blocks - geo.first_data_block) // 2)
    if group > FLEX_BG_SIZE:
        group &= ~(FLEX_BG_SIZE - 1)
        while group < geo.groups and bmap.free_in_group(group) == 0:
            group += 1
        if group == geo.groups:
            group = 0
        start = group
    else:
        start = group - 1 if group > 0 else group
    end = group + 1 if group + 1 < geo.groups else group
    best = start
    for g in range(start + 1, end + 1):
        if bmap.free_in_group(g) > bmap.free_in_group(best):
            best = g
    return geo.group_first(best)
