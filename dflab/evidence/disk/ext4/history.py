"""The file system's life after mkfs: what the kernel created, where it put it, and what each change dirtied.

The planned files are created in the order of their creation times (a parent always before what
it holds), the way the kernel would: each takes the next inode number and a random generation,
its data blocks come from the first free block of its flex group's second group (directories'
from the first), and its name goes into its parent directory (:mod:`.directory`), which may grow
a block then.  Blocks are never reused, so a deleted file's data stays where it was.

Every change is recorded as an event with the metadata blocks it dirtied (inode table, bitmaps,
descriptors, directory blocks), which is what jbd2 logs; :mod:`.render` can draw any of those
blocks as it was at any moment from what is kept here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from dflab.errors import DflabError
from dflab.evidence.disk.ext4 import geometry as g
from dflab.evidence.disk.ext4.directory import FT_DIR, FT_REG, FT_SYMLINK, Directory, Entry, Leaf, Linear
from dflab.evidence.disk.ext4.dirhash import seed_words
from dflab.evidence.disk.ext4.inode import tree_blocks_needed
from dflab.evidence.disk.ext4.story import NS, Draws, Item, Stamps
from dflab.scenario.case import DiskFile


@dataclass(eq=False)
class Node:
    """One inode of the file system being built."""

    ino: int
    item: Item
    parent: Node | None
    created_ns: int  # when the kernel created it (never before its parent)
    generation: int = 0
    extents: list[tuple[int, int]] = field(default_factory=list)  # files: data, (first block, length)
    leaves: list[tuple[int, int]] = field(default_factory=list)  # extent tree blocks: (block, allocated at)
    directory: Directory | None = None
    dir_blocks: list[int] = field(default_factory=list)  # directories: physical block of each logical block
    subdirs: list[int] = field(default_factory=list)  # creation times of child directories
    changes: list[int] = field(default_factory=list)  # directories: times names were added or removed
    unlinks: list[int] = field(default_factory=list)  # directories: times names were removed
    reads: list[int] = field(default_factory=list)  # directories: last reads of the files in them

    @property
    def stamps(self) -> Stamps:
        return self.item.stamps


@dataclass(frozen=True)
class Event:
    """A change the journal logs: the metadata blocks it dirtied, at ``at_ns``."""

    at_ns: int
    blocks: tuple[int, ...]


@dataclass(frozen=True)
class Alloc:
    """Blocks taken at ``at_ns`` and freed at ``freed_ns`` (None: still in use)."""

    start: int
    count: int
    at_ns: int
    freed_ns: int | None


class History:
    """Runs the file system's life from mkfs on and keeps its record."""

    def __init__(self, geo: g.Geometry, tables: g.Tables, bmap: g.BlockMap, top: Item, mkfs_ns: int,
                 hash_seed: bytes, draws: Draws, where: str) -> None:
        self.geo, self.tables, self.bmap = geo, tables, bmap
        self.top, self.mkfs_ns, self.draws, self.where = top, mkfs_ns, draws, where
        self.hash_seed = seed_words(hash_seed)
        self.mkfs_used = bytes(bmap.used)  # what mke2fs left in use
        self.allocs: list[Alloc] = []
        self.inode_life: dict[int, tuple[int, int | None]] = {}  # ino -> (allocated, freed)
        self.nodes: dict[int, Node] = {}
        self.events: list[Event] = []
        self.dir_block_owner: dict[int, tuple[Node, int]] = {}  # physical -> (directory, logical)
        self.leaf_owner: dict[int, tuple[Node, int]] = {}  # extent tree block -> (inode, leaf number)
        self._node_of: dict[int, Node] = {}  # id(item) -> its node

    def run(self) -> None:
        self._mkfs_inodes()
        for when, _, item in sorted(self._creation_times(), key=lambda c: c[:2]):
            self._create(item, when)
        for node in list(self.nodes.values()):
            self._later_events(node)

    # -- mkfs ---------------------------------------------------------------------------------------------------

    def _mkfs_inodes(self) -> None:
        """Inodes 1-11 as mke2fs leaves them: the root directory holding lost+found, the reserved ones."""
        geo, tables, mkfs = self.geo, self.tables, self.mkfs_ns
        for ino in range(1, g.FIRST_INO + 1):
            self.inode_life[ino] = (mkfs, None)
        root = Node(g.ROOT_INO, self.top, None, mkfs)
        root.directory = Directory(g.ROOT_INO, g.ROOT_INO, geo.block_size, self.hash_seed, mkfs, self.where)
        root.dir_blocks = [tables.root_block]
        self.dir_block_owner[tables.root_block] = (root, 0)
        seconds = mkfs // NS
        plan = DiskFile("", "", "/lost+found", b"", seconds, seconds, seconds, seconds, mode=0o700, is_dir=True)
        lost = Item("/lost+found", plan, implicit=False, parent=self.top, where=self.where,
                    stamps=Stamps(mkfs, mkfs, mkfs, mkfs), mode=0o700)
        lf = Node(g.LOST_FOUND_INO, lost, root, mkfs)
        lf.directory = Directory(g.LOST_FOUND_INO, g.ROOT_INO, geo.block_size, self.hash_seed, mkfs, self.where)
        for logical, block in enumerate(tables.lost_found_blocks):
            if logical:
                lf.directory.expand(mkfs)
            self.dir_block_owner[block] = (lf, logical)
        lf.dir_blocks = list(tables.lost_found_blocks)
        root.directory.add(Entry(g.LOST_FOUND_INO, b"lost+found", FT_DIR, None), mkfs, _no_growth)
        root.subdirs.append(mkfs)
        self.nodes[g.ROOT_INO] = root
        self.nodes[g.LOST_FOUND_INO] = lf
        self._node_of[id(self.top)] = root

    def _creation_times(self) -> list[tuple[int, int, Item]]:
        """(when the kernel created it, plan order, item) for every item below the root: never before its parent."""
        when: dict[int, int] = {id(self.top): self.mkfs_ns}
        out = []
        for index, item in enumerate(self.top.walk()[1:]):
            assert item.parent is not None
            when[id(item)] = max(item.stamps.crtime, when[id(item.parent)])
            out.append((when[id(item)], index, item))
        return out

    # -- creation -----------------------------------------------------------------------------------------------

    def _create(self, item: Item, now: int) -> None:
        geo = self.geo
        assert item.parent is not None
        parent = self._node_of[id(item.parent)]
        ino = g.FIRST_INO + len(self.nodes) - 1  # root and lost+found are nodes already: 12 comes next
        if ino > geo.inodes:
            total = len(self.top.walk()) - 1 + g.FIRST_INO
            raise DflabError(f"{total} inodes needed, the volume has {geo.inodes}", self.where)
        node = Node(ino, item, parent, now, generation=self.draws.uint32("generation", item.path))
        self.nodes[ino] = node
        self._node_of[id(item)] = node
        self.inode_life[ino] = (now, item.stamps.dtime)
        dirtied = [self.inode_bitmap_block(ino), self.gdt_block(geo.inode_group(ino)[0]), self.itable_block(ino),
                   self.itable_block(parent.ino)]
        if item.is_dir:
            node.directory = Directory(ino, parent.ino, geo.block_size, self.hash_seed, now, item.where)
            first = self._allocate(geo.group_first(self._flex_start(ino)), 1, now, None, item.path, item.where)
            node.dir_blocks = [first[0][0]]
            self.dir_block_owner[first[0][0]] = (node, 0)
            dirtied += [first[0][0], *self.bitmap_blocks(first)]
            parent.subdirs.append(now)
        else:
            dirtied += self._allocate_file(node, now)
            parent.reads.append(item.stamps.atime)
        dirtied += self._link(parent, node, now)
        self.events.append(Event(now, tuple(dirtied)))

    def _link(self, parent: Node, node: Node, now: int) -> list[int]:
        """Add ``node``'s name to ``parent``; the blocks that dirtied (the directory may grow a block)."""
        assert parent.directory is not None
        item = node.item
        file_type = FT_DIR if item.is_dir else FT_SYMLINK if item.file.link else FT_REG
        entry = Entry(node.ino, item.file.name.encode("utf-8"), file_type, item.stamps.unlinked)
        grown: list[list[tuple[int, int]]] = []

        def grow(at: int) -> None:  # the kernel's goal for a directory's next block: right after its last one
            extents = self._allocate(parent.dir_blocks[-1] + 1, 1, at, None, parent.item.path, parent.item.where)
            grown.append(extents)
            self.dir_block_owner[extents[0][0]] = (parent, len(parent.dir_blocks))
            parent.dir_blocks.append(extents[0][0])
            self._grow_tree(parent, at)

        logical = parent.directory.add(entry, now, grow)
        parent.changes.append(now)
        dirtied = [block for extents in grown for block in self.bitmap_blocks(extents)]
        dirtied += [parent.dir_blocks[n] for n in sorted(logical)]
        return dirtied + [block for block, _ in parent.leaves]

    def _flex_start(self, ino: int) -> int:
        group = self.geo.inode_group(ino)[0]
        return group - group % g.FLEX_BG_SIZE

    def _allocate_file(self, node: Node, now: int) -> list[int]:
        """Data blocks (and extent tree blocks) of a new file; the metadata blocks its allocation dirtied."""
        geo, f = self.geo, node.item.file
        count = math.ceil(len(f.content) / geo.block_size)
        spare = count * geo.block_size - len(f.content)
        if len(f.slack) > spare:
            raise DflabError(f"slack of {len(f.slack)} bytes does not fit after the file's end "
                             f"({spare} bytes left in its last {geo.block_size}-byte block)", node.item.where)
        if not count:
            return []
        goal_group = self._flex_start(node.ino) + 1  # ext4_inode_to_goal_block: regular files one group further
        goal = geo.group_first(goal_group) if goal_group < geo.groups else geo.group_first(0)
        freed = node.stamps.dtime
        node.extents = self._allocate(goal, count, now, freed, f.path, node.item.where)
        dirtied = self.bitmap_blocks(node.extents)
        leaves = tree_blocks_needed(len(node.extents), geo.block_size)
        if leaves:
            tree = self._allocate(sum(node.extents[-1]), leaves, now, freed, f.path, node.item.where)
            blocks = [b for start, length in tree for b in range(start, start + length)]
            node.leaves = [(b, now) for b in blocks]
            for n, b in enumerate(blocks):
                self.leaf_owner[b] = (node, n)
            dirtied += blocks + self.bitmap_blocks(tree)
        return dirtied

    def _grow_tree(self, node: Node, at: int) -> None:
        """A directory that now has more extents than its inode holds gets (another) extent tree block."""
        needed = tree_blocks_needed(len(runs(node.dir_blocks)), self.geo.block_size)
        while len(node.leaves) < needed:
            extents = self._allocate(node.dir_blocks[-1] + 1, 1, at, None, node.item.path, node.item.where)
            self.leaf_owner[extents[0][0]] = (node, len(node.leaves))
            node.leaves.append((extents[0][0], at))

    def _allocate(self, goal: int, count: int, now: int, freed: int | None, what: str,
                  where: str) -> list[tuple[int, int]]:
        """``count`` blocks from the first free one at or after ``goal`` (wrapping), as extents."""
        geo, used = self.geo, self.bmap.used
        extents: list[tuple[int, int]] = []
        while count:
            start = self.bmap.next_free(min(goal, geo.blocks))
            if start is None:
                raise DflabError(f"{what} does not fit: the volume has {geo.blocks} blocks of {geo.block_size} bytes",
                                 where)
            limit = min(start + min(count, g.MAX_EXTENT_LEN), geo.blocks)
            stop = used.find(1, start, limit)
            stop = stop if stop >= 0 else limit
            self.bmap.mark(start, stop - start)
            self.allocs.append(Alloc(start, stop - start, now, freed))
            if extents and sum(extents[-1]) == start and extents[-1][1] + stop - start <= g.MAX_EXTENT_LEN:
                extents[-1] = (extents[-1][0], extents[-1][1] + stop - start)
            else:
                extents.append((start, stop - start))
            count -= stop - start
            goal = stop
        return extents

    # -- after creation -----------------------------------------------------------------------------------------

    def _later_events(self, node: Node) -> None:
        """A file's later write, metadata change, read and unlink, each an event."""
        if node.ino in (g.ROOT_INO, g.LOST_FOUND_INO):
            return
        s = node.stamps
        itable = self.itable_block(node.ino)
        last = max(s.crtime, node.created_ns)
        for moment in (s.mtime, s.ctime, s.atime):
            if moment > last:
                self.events.append(Event(moment, (itable,)))
            last = max(last, moment)
        if s.dtime is None or s.unlinked is None or node.parent is None:
            return
        parent = node.parent
        # ext4_unlink: the name goes, the inode (links 0) joins the orphan list in the superblock.
        unlink = [itable, self.itable_block(parent.ino)]
        unlink += [parent.dir_blocks[n] for n in self._blocks_naming(parent, node.ino, s.unlinked)]
        unlink.append(self.superblock_block())
        parent.changes.append(s.unlinked)
        parent.unlinks.append(s.unlinked)
        # ext4_evict_inode at the last close: truncated, off the orphan list, freed in the bitmaps.
        free = [itable, self.inode_bitmap_block(node.ino), self.gdt_block(self.geo.inode_group(node.ino)[0])]
        free += self.bitmap_blocks(node.extents) + [b for b, _ in node.leaves] + [self.superblock_block()]
        if s.dtime == s.unlinked:  # nobody held it: one handle does both
            self.events.append(Event(s.dtime, tuple(dict.fromkeys(unlink[:2] + free[1:3] + unlink[2:-1] + free[3:]))))
        else:
            self.events += [Event(s.unlinked, tuple(unlink)), Event(s.dtime, tuple(free))]

    def orphans(self, at: int) -> list[int]:
        """Inodes on the orphan list at ``at`` (unlinked, not yet freed), oldest first: ext4_orphan_add puts each
        new one at the head (``s_last_orphan``), its ``i_dtime`` naming the one added before it."""
        held = [(s.unlinked, n.ino) for n in self.nodes.values()
                if (s := n.stamps).unlinked is not None and s.dtime is not None and s.unlinked <= at < s.dtime]
        return [ino for _, ino in sorted(held)]

    @staticmethod
    def _blocks_naming(directory: Node, ino: int, at: int) -> list[int]:
        """The logical blocks of ``directory`` that hold the name of inode ``ino`` at ``at``."""
        assert directory.directory is not None
        out = []
        for logical in range(directory.directory.block_count(at)):
            version = directory.directory.version(logical, at)
            if isinstance(version, Linear | Leaf) and any(e.ino == ino for e in version.entries):
                out.append(logical)
        return out

    # -- where things are ---------------------------------------------------------------------------------------

    def itable_block(self, ino: int) -> int:
        group, index = self.geo.inode_group(ino)
        return self.tables.inode_table[group] + index * g.INODE_SIZE // self.geo.block_size

    def inode_bitmap_block(self, ino: int) -> int:
        return self.tables.inode_bitmap[self.geo.inode_group(ino)[0]]

    def gdt_block(self, group: int) -> int:
        return self.geo.group_first(0) + 1 + group * g.DESC_SIZE // self.geo.block_size

    def superblock_block(self) -> int:
        return 1 if self.geo.block_size == 1024 else 0

    def bitmap_blocks(self, extents: Iterable[tuple[int, int]]) -> list[int]:
        """The block bitmaps and descriptor blocks covering ``extents``."""
        out = []
        for start, length in extents:
            for group in range(self.geo.group_of(start), self.geo.group_of(start + length - 1) + 1):
                out += [self.tables.block_bitmap[group], self.gdt_block(group)]
        return out


def runs(blocks: list[int]) -> list[tuple[int, int]]:
    """Consecutive physical blocks as extents."""
    out: list[tuple[int, int]] = []
    for b in blocks:
        if out and sum(out[-1]) == b and out[-1][1] < g.MAX_EXTENT_LEN:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((b, 1))
    return out


def _no_growth(now: int) -> None:
    raise AssertionError(f"the root directory grew at mkfs ({now})")
