"""Any metadata block of the file system as it was at a given moment, from its :class:`~.history.History`.

The image shows each block at the last unmount; the journal shows copies taken when earlier
transactions committed; the backup superblocks and descriptors show mkfs's state (the kernel does
not update them).  All three come from here, so they cannot disagree: an inode before its file was
deleted, a directory block before a name was added, a group's bitmaps and counts of that hour.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass

from dflab.evidence.disk.ext4 import geometry as g
from dflab.evidence.disk.ext4.crc32c import crc32c
from dflab.evidence.disk.ext4.history import Alloc, History, runs
from dflab.evidence.disk.ext4.inode import (
    EMPTY_EXTENT_ROOT,
    EXTENTS_FL,
    INDEX_FL,
    NS,
    S_IFDIR,
    S_IFLNK,
    S_IFREG,
    Inode,
    empty_leaf,
    extent_tree,
    inode_seed,
    pack_inode,
)
from dflab.evidence.disk.ext4.story import Draws
from dflab.evidence.disk.ext4.superblock import (
    BG_BLOCK_UNINIT,
    BG_INODE_UNINIT,
    BG_INODE_ZEROED,
    GroupState,
    Identity,
    SuperblockState,
    fs_seed,
    pack_bitmap,
    pack_descriptor,
    pack_superblock,
)


@dataclass(frozen=True)
class Life:
    """The superblock's story: made, last mounted (seconds), last unmounted (ns), where, how much written."""

    mkfs_s: int
    mounted_s: int
    unmounted_ns: int
    mount_point: str
    draws: Draws


class Renderer:
    def __init__(self, history: History, identity: Identity, life: Life, where: str) -> None:
        self.h = history
        self.geo, self.tables = history.geo, history.tables
        self.identity, self.life, self.where = identity, life, where
        self.seed = fs_seed(identity.uuid)
        geo = self.geo
        self.allocs_of: dict[int, list[Alloc]] = {}
        for a in history.allocs:
            for group in range(geo.group_of(a.start), geo.group_of(a.start + a.count - 1) + 1):
                self.allocs_of.setdefault(group, []).append(a)
        for allocs in self.allocs_of.values():
            allocs.sort(key=lambda a: a.at_ns)
        self.alloc_times = {group: [a.at_ns for a in allocs] for group, allocs in self.allocs_of.items()}
        self.freed_of = {group: [a for a in allocs if a.freed_ns is not None]
                         for group, allocs in self.allocs_of.items()}
        # group -> {how many of its allocations (in time order) are taken: its blocks in use, frees aside}
        self._taken: dict[int, dict[int, bytes]] = {}
        self.inodes_of: dict[int, list[tuple[int, int, int | None]]] = {}
        for ino, (born, died) in history.inode_life.items():
            group, index = geo.inode_group(ino)
            self.inodes_of.setdefault(group, []).append((index, born, died))
        self.itable_group = {history.itable_block(ino): geo.inode_group(ino)[0] for ino in history.inode_life}
        self.bitmap_group = {block: group for group in range(geo.groups)
                             for block in (self.tables.block_bitmap[group], self.tables.inode_bitmap[group])}
        self.dirs_of: dict[int, list[int]] = {}
        for node in history.nodes.values():
            if node.item.is_dir:
                self.dirs_of.setdefault(geo.inode_group(node.ino)[0], []).append(node.created_ns)
        for times in self.dirs_of.values():
            times.sort()
        self._descriptor_cache: dict[int, tuple[bytes, list[GroupState], dict[int, bytes]]] = {}
        self._group_cache: dict[tuple[int, int], tuple[GroupState, bytes | None, bytes | None]] = {}
        # A group's flags at a moment are asked for its descriptor and again for the superblock's free counts.
        self._block_flag_cache: dict[tuple[int, int], tuple[bytearray, bool]] = {}
        self._inode_flag_cache: dict[tuple[int, int], tuple[bytearray, int]] = {}
        self._data_bytes: int | None = None  # what the files hold, for the superblock's lifetime writes
        self._packed: dict[tuple[int, Inode], bytes] = {}  # the same inode state is drawn for many moments
        self._bitmap_crcs: dict[bytes, int] = {}

    # -- inodes -------------------------------------------------------------------------------------------------

    def inode(self, ino: int, at: int) -> Inode | None:
        """Inode ``ino`` at ``at`` (None: never used by then, all zeros on disk)."""
        geo, mkfs = self.geo, self.h.mkfs_ns
        if ino == 1:  # the bad blocks inode: mke2fs stamps it, without extra fields
            return Inode(0, 0, 0, 0, 0, mkfs, mkfs, mkfs, 0, 0, 0, b"", flags=0, extra_isize=0)
        if ino == g.RESIZE_INO:
            return self._resize_inode()
        if ino == g.JOURNAL_INO:
            if not geo.journal_blocks:
                return None
            return Inode(S_IFREG | 0o600, 0, 0, geo.journal_blocks * geo.block_size, 1, mkfs, mkfs, mkfs, mkfs, 0,
                         geo.journal_blocks, self.identity.journal_i_block)
        node = self.h.nodes.get(ino)
        if node is None:  # reserved inodes are written zeroed (with their checksum) by mke2fs
            return Inode(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, b"", flags=0, extra_isize=0) if ino < g.FIRST_INO else None
        if node.created_ns > at:
            return None
        item, s = node.item, node.stamps
        seed = inode_seed(self.seed, ino, node.generation)
        if item.is_dir:
            assert node.directory is not None
            count = node.directory.block_count(at)
            leaves = [b for b, when in node.leaves if when <= at]
            i_block, _ = extent_tree(runs(node.dir_blocks[:count]), leaves, seed, geo.block_size, item.where)
            flags = EXTENTS_FL | (INDEX_FL if node.directory.indexed(at) else 0)
            if item.implicit or node.parent is None:
                # Nobody planned its times: they follow its entries.  A name added or removed changes it; it was
                # last listed when a file in it was last opened (from a file manager or a shell's completion).
                mtime = ctime = max([s.crtime] + [c for c in node.changes if c <= at])
                atime = max([mtime] + [r for r in node.reads if r <= at])
            else:
                # Planned times, unless a name was unlinked later: ext4_unlink sets the directory's mtime and ctime.
                unlinked = max([u for u in node.unlinks if u <= at], default=0)
                mtime = max(s.mtime if s.mtime <= at else s.crtime, unlinked)
                ctime = max(s.ctime if s.ctime <= at else max(s.crtime, mtime), unlinked)
                atime = s.atime if s.atime <= at else mtime
            links = 2 + sum(1 for c in node.subdirs if c <= at)
            return Inode(S_IFDIR | item.mode, item.uid, item.gid, count * geo.block_size, links, atime, ctime,
                         mtime, s.crtime, 0, count + len(leaves), i_block, flags, node.generation)
        if item.file.link:
            # A fast symlink (ext4_init_symlink_block is never needed: tree.py keeps targets short): the target
            # in i_block, no blocks, no extents flag, permissions 0777 as symlink(2) makes them.
            target = item.file.link.encode()
            return Inode(S_IFLNK | 0o777, item.uid, item.gid, len(target), 1, s.atime, s.ctime, s.mtime, s.crtime,
                         0, 0, target.ljust(60, b"\0"), flags=0, generation=node.generation)
        mtime = s.mtime if s.mtime <= at else s.crtime  # before a later write: as created
        ctime = s.ctime if s.ctime <= at else max(s.crtime, mtime)
        atime = s.atime if s.atime <= at else s.crtime
        if s.dtime is not None and s.dtime <= at:
            # The last close after the unlink: ext4_evict_inode truncates (size, i_blocks and the extent tree to
            # nothing, mtime and ctime to now), ext4_free_inode frees it with dtime set.  Mode, owners, atime and
            # crtime stay.
            return Inode(S_IFREG | item.mode, item.uid, item.gid, 0, 0, atime, s.dtime, s.dtime, s.crtime,
                         s.dtime // NS, 0, EMPTY_EXTENT_ROOT, EXTENTS_FL, node.generation)
        links, dtime = 1, 0
        if s.unlinked is not None and s.unlinked <= at:
            # Unlinked while a process holds it: links 0, ctime the unlink, on the orphan list until the last close
            # (i_dtime names the orphan added before it, 0 for the oldest); size and extents stay.
            orphans = self.h.orphans(at)
            links, ctime = 0, max(ctime, s.unlinked)
            dtime = orphans[orphans.index(ino) - 1] if orphans.index(ino) else 0
        leaves = [b for b, _ in node.leaves]
        i_block, _ = extent_tree(node.extents, leaves, seed, geo.block_size, item.where)
        blocks = sum(length for _, length in node.extents) + len(leaves)
        return Inode(S_IFREG | item.mode, item.uid, item.gid, len(item.file.content), links, atime, ctime, mtime,
                     s.crtime, dtime, blocks, i_block, EXTENTS_FL, node.generation)

    def _resize_inode(self) -> Inode:
        """ext2fs_create_resize_inode's inode 7: a double-indirect map of the reserved GDT blocks."""
        geo, mkfs = self.geo, self.h.mkfs_ns
        apb = geo.pointers_per_block
        backups = sum(1 for group in range(1, geo.groups) if g.has_super(group))
        i_block = bytearray(60)
        struct.pack_into("<I", i_block, 13 * 4, self.tables.resize_dind)  # EXT2_DIND_BLOCK
        return Inode(S_IFREG | 0o600, 0, 0, (apb * apb + apb + 12) * geo.block_size, 1, mkfs, mkfs, mkfs, mkfs, 0,
                     1 + geo.reserved_gdt * (1 + backups), bytes(i_block), flags=0)

    def inode_table_block(self, block: int, at: int) -> bytes:
        geo = self.geo
        group = self.itable_group[block]
        per = geo.block_size // g.INODE_SIZE
        first = group * geo.inodes_per_group + (block - self.tables.inode_table[group]) * per + 1
        out = bytearray(geo.block_size)
        for k in range(per):
            inode = self.inode(first + k, at)
            if inode is not None:
                key = (first + k, inode)
                if key not in self._packed:
                    self._packed[key] = pack_inode(inode, first + k, self.seed, geo.block_size)
                out[k * g.INODE_SIZE:(k + 1) * g.INODE_SIZE] = self._packed[key]
        return bytes(out)

    def inode_table_blocks(self) -> list[int]:
        """Every inode table block that holds an inode that was ever used."""
        return sorted(self.itable_group)

    # -- groups -------------------------------------------------------------------------------------------------

    def _block_flags(self, group: int, at: int) -> tuple[bytearray, bool]:
        """The group's blocks in use at ``at`` (one byte each, not to be changed), and whether any beyond its backups
        ever were."""
        key = (group, at)
        if key not in self._block_flag_cache:
            self._block_flag_cache[key] = self._draw_block_flags(group, at)
        return self._block_flag_cache[key]

    def _draw_block_flags(self, group: int, at: int) -> tuple[bytearray, bool]:
        """Blocks are never reused: what is in use at ``at`` is mke2fs's blocks and every allocation made by then,
        but those already freed (deleted files)."""
        geo = self.geo
        first, last = geo.group_first(group), geo.group_last(group)
        taken = bisect.bisect_right(self.alloc_times.get(group, []), at)
        flags = bytearray(self._taken_flags(group, taken))
        ever = taken > 0 or any(self.h.mkfs_used[first + geo.backup_span(group):last + 1])
        for a in self.freed_of.get(group, ()):
            if a.at_ns <= at and a.freed_ns is not None and a.freed_ns <= at:
                lo, hi = max(a.start, first), min(a.start + a.count, last + 1)
                flags[lo - first:hi - first] = bytes(hi - lo)
        return flags, ever

    def _taken_flags(self, group: int, taken: int) -> bytes:
        """The group's blocks in use once its first ``taken`` allocations are made (frees aside), from the nearest
        fewer already drawn: the moments asked for (each transaction the journal shows) share most of them."""
        drawn = self._taken.setdefault(group, {})
        if taken not in drawn:
            geo = self.geo
            first, last = geo.group_first(group), geo.group_last(group)
            start = max((k for k in drawn if k <= taken), default=0)
            flags = bytearray(drawn[start] if start else self.h.mkfs_used[first:last + 1])
            for a in self.allocs_of.get(group, [])[start:taken]:
                lo, hi = max(a.start, first), min(a.start + a.count, last + 1)
                flags[lo - first:hi - first] = b"\1" * (hi - lo)
            drawn[taken] = bytes(flags)
        return drawn[taken]

    def _inode_flags(self, group: int, at: int) -> tuple[bytearray, int]:
        """The group's inodes in use at ``at`` (one byte each, not to be changed), and how many of its first slots
        were ever used."""
        key = (group, at)
        if key not in self._inode_flag_cache:
            self._inode_flag_cache[key] = self._draw_inode_flags(group, at)
        return self._inode_flag_cache[key]

    def _draw_inode_flags(self, group: int, at: int) -> tuple[bytearray, int]:
        flags = bytearray(self.geo.inodes_per_group)
        high = 0
        for index, born, died in self.inodes_of.get(group, ()):
            if born <= at:
                high = max(high, index + 1)
                if died is None or died > at:
                    flags[index] = 1
        return flags, high

    def _group(self, group: int, at: int) -> tuple[GroupState, bytes | None, bytes | None]:
        """A group's descriptor values and its bitmaps (None where the group is still uninitialised)."""
        key = (group, at)
        if key not in self._group_cache:
            self._group_cache[key] = self._draw_group(group, at)
        return self._group_cache[key]

    def _draw_group(self, group: int, at: int) -> tuple[GroupState, bytes | None, bytes | None]:
        geo = self.geo
        blocks, block_ever = self._block_flags(group, at)
        inodes, high = self._inode_flags(group, at)
        flags = BG_INODE_ZEROED
        block_bitmap = inode_bitmap = None
        block_csum = inode_csum = 0
        if group != geo.groups - 1 and not block_ever:  # as mke2fs leaves it, until a block is allocated there
            flags |= BG_BLOCK_UNINIT
        else:
            block_bitmap = pack_bitmap(blocks, geo.block_size)
            block_csum = self._bitmap_crc(block_bitmap[:geo.blocks_per_group // 8])
        if high == 0:
            flags |= BG_INODE_UNINIT
        else:
            inode_bitmap = pack_bitmap(inodes, geo.block_size)
            inode_csum = self._bitmap_crc(inode_bitmap[:geo.inodes_per_group // 8])
        dirs = bisect.bisect_right(self.dirs_of.get(group, []), at)
        state = GroupState(blocks.count(0), inodes.count(0), dirs, flags,
                           geo.inodes_per_group - high, block_csum, inode_csum)
        return state, block_bitmap, inode_bitmap

    def _bitmap_crc(self, data: bytes) -> int:
        if data not in self._bitmap_crcs:
            self._bitmap_crcs[data] = crc32c(self.seed, data)
        return self._bitmap_crcs[data]

    def descriptors(self, at: int) -> tuple[bytes, list[GroupState], dict[int, bytes]]:
        """The descriptor table at ``at``, each group's state, and the bitmap blocks written (by block number)."""
        if at in self._descriptor_cache:
            return self._descriptor_cache[at]
        geo, t = self.geo, self.tables
        table = bytearray(geo.desc_blocks * geo.block_size)
        states = []
        bitmaps: dict[int, bytes] = {}
        for group in range(geo.groups):
            state, block_bitmap, inode_bitmap = self._group(group, at)
            states.append(state)
            if block_bitmap is not None:
                bitmaps[t.block_bitmap[group]] = block_bitmap
            if inode_bitmap is not None:
                bitmaps[t.inode_bitmap[group]] = inode_bitmap
            table[group * g.DESC_SIZE:(group + 1) * g.DESC_SIZE] = pack_descriptor(
                t.block_bitmap[group], t.inode_bitmap[group], t.inode_table[group], state, group, self.seed)
        self._descriptor_cache[at] = (bytes(table), states, bitmaps)
        return self._descriptor_cache[at]

    # -- the superblock -----------------------------------------------------------------------------------------

    def superblock(self, at: int, group: int = 0) -> bytes:
        """The superblock at ``at``; a backup (``group`` > 0) is mkfs's, not clean, as mke2fs writes them."""
        free_blocks = free_inodes = 0
        for each in range(self.geo.groups):
            blocks, _ = self._block_flags(each, at)
            inodes, _ = self._inode_flags(each, at)
            free_blocks += blocks.count(0)
            free_inodes += inodes.count(0)
        life = self.life
        if at <= self.h.mkfs_ns:
            state = SuperblockState(free_blocks, free_inodes, 0, life.mkfs_s, 0, self.mkfs_kbytes(), "",
                                    clean=not group)
        else:
            r = life.draws.rng("superblock")
            days = max((life.unmounted_ns - self.h.mkfs_ns) // (86400 * NS), 0)
            mounts = r.randint(days // 3 + 1, days + 2)
            mounted = life.mounted_s
            if at < mounted * NS:  # an earlier session: the first mount, after the installer
                mounts -= 1
                mounted = min(life.mkfs_s + 60, at // NS)
            if self._data_bytes is None:
                self._data_bytes = sum(len(n.item.file.content) for n in self.h.nodes.values() if not n.item.is_dir)
            written = int(self._data_bytes / 1024 * r.uniform(1.5, 3.0)) + len(self.h.events) * 8
            share = (at - self.h.mkfs_ns) / max(life.unmounted_ns - self.h.mkfs_ns, 1)
            orphans = self.h.orphans(at)
            state = SuperblockState(free_blocks, free_inodes, mounted, at // NS, mounts,
                                    self.mkfs_kbytes() + int(written * share), life.mount_point,
                                    last_orphan=orphans[-1] if orphans else 0)
        return pack_superblock(self.geo, self.identity, state, group, self.where)

    def mkfs_kbytes(self) -> int:
        """What mke2fs itself wrote (its Lifetime writes): group 0's headers, the bitmaps, root and lost+found."""
        geo = self.geo
        blocks = 1 + geo.desc_blocks + geo.reserved_gdt + 2 * geo.groups + 1 + len(self.tables.lost_found_blocks)
        return blocks * geo.block_size // 1024

    # -- any block ----------------------------------------------------------------------------------------------

    def extent_leaf(self, block: int, at: int) -> bytes:
        node, _ = self.h.leaf_owner[block]
        seed = inode_seed(self.seed, node.ino, node.generation)
        if node.directory is not None:
            extents = runs(node.dir_blocks[:node.directory.block_count(at)])
            leaves = [b for b, when in node.leaves if when <= at]
        else:
            dtime = node.stamps.dtime
            if dtime is not None and dtime <= at:  # ext4_ext_rm_leaf emptied it before the block was freed
                return empty_leaf(seed, self.geo.block_size)
            extents, leaves = node.extents, [b for b, _ in node.leaves]
        _, blocks = extent_tree(extents, leaves, seed, self.geo.block_size, node.item.where)
        return dict(blocks).get(block, bytes(self.geo.block_size))

    def directory_block(self, block: int, at: int) -> bytes:
        node, logical = self.h.dir_block_owner[block]
        assert node.directory is not None
        return node.directory.render(logical, at, inode_seed(self.seed, node.ino, node.generation))

    def block(self, block: int, at: int) -> bytes:
        """Any metadata block as it was at ``at`` (what a transaction committed then logged)."""
        geo, t = self.geo, self.tables
        if block in self.h.dir_block_owner:
            return self.directory_block(block, at)
        if block in self.h.leaf_owner:
            return self.extent_leaf(block, at)
        if block == self.h.superblock_block():
            sb = self.superblock(at)
            return sb if geo.block_size == 1024 else bytes(1024) + sb + bytes(geo.block_size - 2048)
        gdt = geo.group_first(0) + 1
        if gdt <= block < gdt + geo.desc_blocks:
            table, _, _ = self.descriptors(at)
            return table[(block - gdt) * geo.block_size:(block - gdt + 1) * geo.block_size]
        if block in self.bitmap_group:
            group = self.bitmap_group[block]
            _, block_bitmap, inode_bitmap = self._group(group, at)
            bitmap = block_bitmap if block == t.block_bitmap[group] else inode_bitmap
            return bitmap if bitmap is not None else bytes(geo.block_size)
        return self.inode_table_block(block, at)
