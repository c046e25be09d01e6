"""A directory's blocks as the kernel grows them: linear while one block holds it, then an htree.

Entries are added in creation order.  While the directory is one block, names are appended
to it; when the block is full, it is converted the way ``make_indexed_dir`` does (block 0
becomes the dx root, its names move to a new leaf, which is split in two by hash), and later
names go to the leaf their hash selects, a full leaf being split in half by ``do_split`` (the
upper hashes move to a new block at the end of the directory) and a full index adding a level
or splitting a node.  Each change keeps a version of the blocks it touched, stamped with its
time, so a block can be rendered as it was at any moment: the file system as imaged shows the
last version, the journal shows older ones.

Every block ends in its metadata_csum checksum: a 12-byte dirent tail in leaves, an 8-byte
dx_tail in index blocks, both seeded with the directory's inode number and generation.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from dflab.errors import DflabError
from dflab.evidence.disk.ext4.crc32c import crc32c
from dflab.evidence.disk.ext4.dirhash import name_hash

FT_REG, FT_DIR, FT_SYMLINK = 1, 2, 7
TAIL_SIZE = 12  # struct ext4_dir_entry_tail
DX_TAIL_SIZE = 8  # struct dx_tail
TAIL_FILE_TYPE = 0xDE
HASH_HALF_MD4 = 1


def rec_size(name_len: int) -> int:
    """The smallest record holding a name of ``name_len`` bytes (EXT4_DIR_REC_LEN)."""
    return (8 + name_len + 3) & ~3


@dataclass(eq=False)
class Entry:
    """One name in a directory; ``deleted_ns`` is when it was unlinked (None: never)."""

    ino: int
    name: bytes
    file_type: int
    deleted_ns: int | None
    hash: int = 0
    size: int = field(init=False)  # the smallest record holding the name (asked for at every insertion)

    def __post_init__(self) -> None:
        self.size = rec_size(len(self.name))


@dataclass(frozen=True)
class Linear:
    """Block 0 of a directory not yet indexed: its names after ``.`` and ``..``."""

    entries: tuple[Entry, ...]
    used: int = -1  # bytes its names' smallest records take (asked at every insertion); counted when not given

    def __post_init__(self) -> None:
        if self.used < 0:
            object.__setattr__(self, "used", sum(e.size for e in self.entries))


@dataclass(frozen=True)
class Leaf:
    """A leaf of an htree: names in their physical order."""

    entries: tuple[Entry, ...]
    used: int = -1  # bytes its names' smallest records take (asked at every insertion); counted when not given

    def __post_init__(self) -> None:
        if self.used < 0:
            object.__setattr__(self, "used", sum(e.size for e in self.entries))


def _grown(block: Linear | Leaf, entry: Entry) -> Linear | Leaf:
    """``block`` with ``entry`` after its names; what they take is known from the block's."""
    return type(block)((*block.entries, entry), block.used + entry.size)


@dataclass(frozen=True)
class Index:
    """The dx root (``levels`` set) or an interior node: (hash, logical block) pairs, the first hash unused."""

    entries: tuple[tuple[int, int], ...]
    levels: int | None = None  # indirect_levels for the root; None for a node


Block = Linear | Leaf | Index


class Directory:
    """The logical blocks of one directory, each a list of (time_ns, version)."""

    def __init__(self, ino: int, parent_ino: int, block_size: int, hash_seed: tuple[int, int, int, int],
                 created_ns: int, where: str) -> None:
        self.ino = ino
        self.parent_ino = parent_ino
        self.block_size = block_size
        self.hash_seed = hash_seed
        self.where = where
        self.blocks: list[list[tuple[int, Block]]] = [[(created_ns, Linear(()))]]
        self.indexed_at: int | None = None
        self.root_limit = (block_size - 32 - DX_TAIL_SIZE) // 8
        self.node_limit = (block_size - 8 - DX_TAIL_SIZE) // 8

    # -- building ---------------------------------------------------------------------------------------------

    def current(self, logical: int) -> Block:
        return self.blocks[logical][-1][1]

    def _set(self, logical: int, block: Block, now: int) -> None:
        if logical == len(self.blocks):
            self.blocks.append([])
        self.blocks[logical].append((now, block))

    def add(self, entry: Entry, now: int, grow: Callable[[int], None]) -> set[int]:
        """Add ``entry`` at ``now``; ``grow(now)`` is called for each block appended.  Returns the blocks touched."""
        if self.indexed_at is None:
            block = self.current(0)
            assert isinstance(block, Linear)
            if 24 + block.used + entry.size <= self.block_size - TAIL_SIZE:
                self._set(0, _grown(block, entry), now)
                return {0}
            for named in (*block.entries, entry):  # hashed when the index needs them: most directories never do
                named.hash = name_hash(named.name, self.hash_seed)[0]
            return self._make_indexed(block.entries, entry, now, grow)
        entry.hash = name_hash(entry.name, self.hash_seed)[0]
        return self._add_indexed(entry, now, grow)

    def expand(self, now: int) -> None:
        """ext2fs_expand_dir: an empty block at the end (mke2fs makes lost+found 16 KiB so)."""
        self._set(len(self.blocks), Leaf(()), now)

    def _append(self, block: Block, now: int, grow: Callable[[int], None]) -> int:
        logical = len(self.blocks)
        grow(now)
        self._set(logical, block, now)
        return logical

    def _make_indexed(self, names: tuple[Entry, ...], entry: Entry, now: int,
                      grow: Callable[[int], None]) -> set[int]:
        """make_indexed_dir: block 0 becomes the root, its names a leaf that is split at once."""
        self.indexed_at = now
        leaf = self._append(Leaf(names), now, grow)
        self._set(0, Index(((0, leaf),), levels=0), now)
        touched = {0, leaf}
        touched |= self._split_and_add(entry, [0], 0, leaf, now, grow)
        return touched

    def _probe(self, hash_: int) -> tuple[list[int], list[int], int]:
        """dx_probe: the index blocks on the way to ``hash_``, the position taken in each, and the leaf."""
        path, positions = [0], []
        block = self.current(0)
        while True:
            assert isinstance(block, Index)
            at = 0
            for i in range(1, len(block.entries)):
                if block.entries[i][0] > hash_:
                    break
                at = i
            positions.append(at)
            target = block.entries[at][1]
            nxt = self.current(target)
            if not isinstance(nxt, Index):
                return path, positions, target
            path.append(target)
            block = nxt

    def _limit(self, logical: int) -> int:
        return self.root_limit if logical == 0 else self.node_limit

    def _add_indexed(self, entry: Entry, now: int, grow: Callable[[int], None]) -> set[int]:
        touched: set[int] = set()
        while True:
            path, positions, leaf_no = self._probe(entry.hash)
            leaf = self.current(leaf_no)
            assert isinstance(leaf, Leaf)
            if leaf.used + entry.size <= self.block_size - TAIL_SIZE:
                self._set(leaf_no, _grown(leaf, entry), now)
                return touched | {leaf_no}
            frame = path[-1]
            index = self.current(frame)
            assert isinstance(index, Index)
            if len(index.entries) < self._limit(frame):
                return touched | self._split_and_add(entry, path, positions[-1], leaf_no, now, grow)
            touched |= self._split_index(path, positions, now, grow)

    def _split_index(self, path: list[int], positions: list[int], now: int, grow: Callable[[int], None]) -> set[int]:
        """The index block over a full leaf is full: split a node, or push the root's entries down a level."""
        frame = path[-1]
        index = self.current(frame)
        assert isinstance(index, Index)
        if len(path) == 1:
            node = self._append(Index(index.entries), now, grow)
            self._set(0, Index(((0, node),), levels=(index.levels or 0) + 1), now)
            return {0, node}
        parent_no = path[-2]
        parent = self.current(parent_no)
        assert isinstance(parent, Index)
        if len(parent.entries) >= self._limit(parent_no):  # without largedir the kernel stops at two levels
            raise DflabError("directory has more names than a two-level htree holds (ext4 without largedir)",
                             self.where)
        half = len(index.entries) // 2
        hash2 = index.entries[half][0]
        node = self._append(Index(index.entries[half:]), now, grow)
        self._set(frame, Index(index.entries[:half]), now)
        at = positions[-2] + 1
        self._set(parent_no, Index((*parent.entries[:at], (hash2, node), *parent.entries[at:]), parent.levels), now)
        return {frame, node, parent_no}

    def _split_and_add(self, entry: Entry, path: list[int], at: int, leaf_no: int, now: int,
                       grow: Callable[[int], None]) -> set[int]:
        """do_split: the upper half of a full leaf (by hash) moves to a new block; ``entry`` goes where it sorts."""
        leaf = self.current(leaf_no)
        assert isinstance(leaf, Leaf)
        order = sorted(range(len(leaf.entries)), key=lambda i: leaf.entries[i].hash)
        count = len(order)
        # dx_make_map takes each record's rec_len: the physically last one reaches the block's tail.
        sizes = [e.size for e in leaf.entries]
        sizes[-1] = self.block_size - TAIL_SIZE - sum(sizes[:-1])
        size = move = 0
        i = count - 1
        while i >= 0:
            s = sizes[order[i]]
            if size + s // 2 > self.block_size // 2:
                break
            size += s
            move += 1
            i -= 1
        split = count - move if i > 0 else count // 2
        hash2 = leaf.entries[order[split]].hash
        continued = 1 if hash2 == leaf.entries[order[split - 1]].hash else 0
        moving = {order[k] for k in range(split, count)}
        moved = tuple(leaf.entries[order[k]] for k in range(split, count))
        kept = tuple(e for k, e in enumerate(leaf.entries) if k not in moving)
        new_no = len(self.blocks)
        if entry.hash >= hash2:
            moved = (*moved, entry)
        else:
            kept = (*kept, entry)
        self._append(Leaf(moved), now, grow)
        self._set(leaf_no, Leaf(kept), now)
        frame = path[-1]
        index = self.current(frame)
        assert isinstance(index, Index)
        entries = (*index.entries[:at + 1], (hash2 + continued, new_no), *index.entries[at + 1:])
        self._set(frame, Index(entries, index.levels), now)
        return {leaf_no, new_no, frame}

    # -- rendering --------------------------------------------------------------------------------------------

    def version(self, logical: int, at_ns: int) -> Block | None:
        """The block as it was at ``at_ns`` (None: not yet part of the directory)."""
        found = None
        for stamp, block in self.blocks[logical]:
            if stamp > at_ns:
                break
            found = block
        return found

    def block_count(self, at_ns: int) -> int:
        return sum(1 for versions in self.blocks if versions[0][0] <= at_ns)

    def indexed(self, at_ns: int) -> bool:
        return self.indexed_at is not None and self.indexed_at <= at_ns

    def render(self, logical: int, at_ns: int, seed: int) -> bytes:
        """The on-disk bytes of ``logical`` at ``at_ns``, names unlinked by then wiped as Linux (5.13+) wipes them.

        ext4_generic_delete_entry adds an unlinked record's length to the previous record's and zeroes
        the whole record; the first record of a block has no previous one, so its inode number, name
        length, type and name are zeroed and its length kept.  The name is then gone from the file
        system: only the journal's older copies of the block still hold it.
        """
        block = self.version(logical, at_ns)
        assert block is not None, (self.ino, logical)
        bs = self.block_size
        if isinstance(block, Index):
            return self._render_index(block, seed)
        records: list[tuple[int, bytes, int, bool]] = []
        if isinstance(block, Linear):
            records += [(self.ino, b".", FT_DIR, False), (self.parent_ino, b"..", FT_DIR, False)]
        records += [(e.ino, e.name, e.file_type, e.deleted_ns is not None and e.deleted_ns <= at_ns)
                    for e in block.entries]
        raw = bytearray(bs)
        offsets = []
        used = 0
        for _, name, _, _ in records:
            offsets.append(used)
            used += rec_size(len(name))
        end = bs - TAIL_SIZE
        # What stays a record: the first one (even unlinked) and every live one; each reaches the next such.
        kept = [k for k, record in enumerate(records) if k == 0 or not record[3]]
        for n, k in enumerate(kept):
            ino, name, kind, deleted = records[k]
            stop = offsets[kept[n + 1]] if n + 1 < len(kept) else end
            if deleted:
                struct.pack_into("<IH", raw, offsets[k], 0, stop - offsets[k])
            else:
                struct.pack_into(f"<IHBB{len(name)}s", raw, offsets[k], ino, stop - offsets[k], len(name), kind, name)
        if not records:
            struct.pack_into("<IH", raw, 0, 0, end)
        struct.pack_into("<IHBBI", raw, end, 0, TAIL_SIZE, 0, TAIL_FILE_TYPE, crc32c(seed, raw[:end]))
        return bytes(raw)

    def _render_index(self, block: Index, seed: int) -> bytes:
        """A dx root or node, byte for byte as Linux and e2fsprogs write it.

        TSK knows no htree: it reads the (hash, block) pairs in the slack of ``..`` or of the node's empty record
        as deleted entries (``fls -d`` shows ``info/^`` -> inode 6, a logical block number).  A real disk shows
        the same phantoms; tests/test_ext4_deleted_names.py holds both to that.
        """
        bs = self.block_size
        raw = bytearray(bs)
        if block.levels is not None:
            struct.pack_into("<IHBB4sIHBB4s", raw, 0, self.ino, 12, 1, FT_DIR, b".", self.parent_ino, bs - 12, 2,
                             FT_DIR, b"..")
            struct.pack_into("<IBBBB", raw, 24, 0, HASH_HALF_MD4, 8, block.levels, 0)
            start, limit = 32, self.root_limit
        else:
            struct.pack_into("<IHBB", raw, 0, 0, bs, 0, 0)
            start, limit = 8, self.node_limit
        struct.pack_into("<HHI", raw, start, limit, len(block.entries), block.entries[0][1])
        for k, (hash_, logical) in enumerate(block.entries[1:], start=1):
            struct.pack_into("<II", raw, start + 8 * k, hash_, logical)
        tail = start + 8 * limit
        crc = crc32c(seed, raw[:start + 8 * len(block.entries)])
        crc = crc32c(crc32c(crc, raw[tail:tail + 4]), bytes(4))
        struct.pack_into("<I", raw, tail + 4, crc)
        return bytes(raw)


def empty_block(block_size: int, seed: int) -> bytes:
    """An unused directory block (lost+found's spare ones): one empty record, then the tail."""
    raw = bytearray(block_size)
    end = block_size - TAIL_SIZE
    struct.pack_into("<IH", raw, 0, 0, end)
    struct.pack_into("<IHBBI", raw, end, 0, TAIL_SIZE, 0, TAIL_FILE_TYPE, crc32c(seed, raw[:end]))
    return bytes(raw)
