"""The jbd2 journal: a superblock and the log of committed transactions, as a clean unmount leaves them.

A transaction logs whole file-system blocks as they were when it committed (metadata only, in
data=ordered mode): a descriptor block lists them (tags with each block's number and CRC32C,
csum_v3), the copies follow, a commit block closes it.  After a clean unmount the superblock
says the log is empty (``s_start`` 0) but the blocks stay until overwritten: ``debugfs -R
"logdump -O"`` walks them, and they are where an examiner finds an inode or a directory block
as it was before the last writes.

The kernel (5.x) starts the log again at its first block at every mount, so the transactions
since the last mount come first; what lies after them is the tail of earlier sessions.  The
builder hands in transactions as (tid, commit time, logged blocks); which of their contents are
needed is decided here, so only blocks that survive in the log are ever rendered.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dflab.evidence.disk.ext4.crc32c import crc32c

MAGIC = 0xC03B3998
DESCRIPTOR, COMMIT, SUPERBLOCK_V2 = 1, 2, 4
INCOMPAT_64BIT, INCOMPAT_CSUM_V3 = 0x2, 0x10
CRC32C_CHKSUM = 4
FLAG_ESCAPE, FLAG_SAME_UUID, FLAG_LAST_TAG = 0x1, 0x2, 0x8
TAG_BYTES = 16  # journal_block_tag3_t
NS = 1_000_000_000
COMMIT_INTERVAL_NS = 5 * NS  # jbd2's default: a transaction commits five seconds after it starts


@dataclass(frozen=True)
class Transaction:
    """A committed transaction: its id, when it committed, and the file-system blocks it logged, in order."""

    tid: int
    commit_ns: int
    fs_blocks: tuple[int, ...]


@dataclass(frozen=True)
class Slot:
    """What one journal block holds: a transaction's descriptor (``index`` = which), a logged copy, or its commit."""

    tx: Transaction
    kind: str  # "descriptor" | "data" | "commit"
    index: int  # descriptor number, or the position in tx.fs_blocks


@dataclass(frozen=True)
class Commits:
    """Transactions as jbd2 committed them, split into mount sessions, and the moment each one's copies show."""

    sessions: list[list[Transaction]]
    state_at: dict[int, int]  # tid -> the last change it holds

    @property
    def transactions(self) -> list[Transaction]:
        return [tx for session in self.sessions for tx in session]


def commits(changes: Iterable[tuple[int, tuple[int, ...]]], first_tid: int, mounted_ns: int | None,
            rng: random.Random) -> Commits:
    """Group (time, dirtied blocks) changes as jbd2 does: everything within a commit interval of a transaction's
    first change joins it; each block is logged once per transaction, in the order it was first dirtied.  A
    transaction starting after ``mounted_ns`` opens the last session (the kernel restarts the log at mount)."""
    ordered = sorted(changes, key=lambda change: change[0])
    sessions: list[list[Transaction]] = [[]]
    state_at: dict[int, int] = {}
    tid, k = first_tid, 0
    while k < len(ordered):
        start = last = ordered[k][0]
        blocks: dict[int, None] = {}
        while k < len(ordered) and ordered[k][0] < start + COMMIT_INTERVAL_NS:
            blocks.update(dict.fromkeys(ordered[k][1]))
            last = ordered[k][0]
            k += 1
        if mounted_ns is not None and start >= mounted_ns and sessions[-1] and \
                sessions[-1][-1].commit_ns < mounted_ns:
            sessions.append([])
            tid += 1  # the unmount's empty commit
        tx = Transaction(tid, start + COMMIT_INTERVAL_NS + rng.randrange(NS // 100), tuple(blocks))
        sessions[-1].append(tx)
        state_at[tid] = last
        tid += 1
    return Commits(sessions, state_at)


def tags_per_descriptor(block_size: int) -> int:
    """How many tags jbd2 puts in one descriptor block (room for the UUID after the first, and the tail)."""
    space = block_size - 12 - 16  # the header, the UUID after the first tag
    count = 0
    while True:
        space -= TAG_BYTES
        count += 1
        if space < TAG_BYTES + 16 + 4:
            return count


def stream(tx: Transaction, block_size: int) -> list[Slot]:
    """The journal blocks ``tx`` occupies, in log order."""
    per = tags_per_descriptor(block_size)
    slots: list[Slot] = []
    for d, start in enumerate(range(0, len(tx.fs_blocks), per)):
        slots.append(Slot(tx, "descriptor", d))
        slots += [Slot(tx, "data", i) for i in range(start, min(start + per, len(tx.fs_blocks)))]
    slots.append(Slot(tx, "commit", 0))
    return slots


class Journal:
    """An internal journal of ``maxlen`` blocks for the file system with UUID ``fs_uuid``."""

    def __init__(self, block_size: int, maxlen: int, fs_uuid: bytes) -> None:
        self.block_size = block_size
        self.maxlen = maxlen
        self.uuid = fs_uuid
        self.seed = crc32c(0xFFFFFFFF, fs_uuid)

    def lay_out(self, sessions: list[list[Transaction]], budget: int) -> dict[int, Slot]:
        """Journal block -> what it holds after ``sessions`` (oldest first), each starting again at block 1.

        Every session's transactions are written one after the other, wrapping at the end of the
        log; a later session overwrites the start.  At most ``budget`` blocks are kept, the newest
        writes first; older ones are left as mke2fs zeroed them.
        """
        area = self.maxlen - 1
        writes: list[tuple[int, int, Slot]] = []  # (order, journal block, slot)
        order = 0
        for session in sessions:
            position = 0
            for tx in session:
                for slot in stream(tx, self.block_size):
                    writes.append((order, 1 + position % area, slot))
                    position += 1
                    order += 1
        latest: dict[int, tuple[int, Slot]] = {}
        for order, block, slot in writes:
            latest[block] = (order, slot)
        newest = sorted(latest.items(), key=lambda item: item[1][0], reverse=True)[:budget]
        return {block: slot for block, (_, slot) in newest}

    def render(self, layout: dict[int, Slot], contents: Callable[[Transaction, int], bytes]) -> dict[int, bytes]:
        """The bytes of each laid-out journal block; ``contents(tx, fs_block)`` is the copy ``tx`` logged."""
        cache: dict[tuple[int, int], tuple[bytes, bool]] = {}

        def logged(tx: Transaction, index: int) -> tuple[bytes, bool]:
            key = (tx.tid, index)
            if key not in cache:
                data = contents(tx, tx.fs_blocks[index])
                escaped = data[:4] == struct.pack(">I", MAGIC)
                cache[key] = (bytes(4) + data[4:] if escaped else data, escaped)
            return cache[key]

        out = {}
        for block, slot in layout.items():
            if slot.kind == "data":
                out[block] = logged(slot.tx, slot.index)[0]
            elif slot.kind == "commit":
                out[block] = self._commit(slot.tx)
            else:
                out[block] = self._descriptor(slot, logged)
        return out

    def _descriptor(self, slot: Slot, logged: Callable[[Transaction, int], tuple[bytes, bool]]) -> bytes:
        per = tags_per_descriptor(self.block_size)
        tx = slot.tx
        indexes = range(slot.index * per, min((slot.index + 1) * per, len(tx.fs_blocks)))
        raw = bytearray(self.block_size)
        struct.pack_into(">III", raw, 0, MAGIC, DESCRIPTOR, tx.tid & 0xFFFFFFFF)
        at = 12
        seq_crc = crc32c(self.seed, struct.pack(">I", tx.tid & 0xFFFFFFFF))
        for n, index in enumerate(indexes):
            data, escaped = logged(tx, index)
            flags = (FLAG_ESCAPE if escaped else 0) | (FLAG_SAME_UUID if n else 0)
            if n == len(indexes) - 1:
                flags |= FLAG_LAST_TAG
            fs_block = tx.fs_blocks[index]
            struct.pack_into(">IIII", raw, at, fs_block & 0xFFFFFFFF, flags, fs_block >> 32, crc32c(seq_crc, data))
            at += TAG_BYTES
            if n == 0:
                raw[at:at + 16] = self.uuid
                at += 16
        struct.pack_into(">I", raw, self.block_size - 4, crc32c(self.seed, raw))
        return bytes(raw)

    def _commit(self, tx: Transaction) -> bytes:
        raw = bytearray(self.block_size)
        seconds, nanos = divmod(tx.commit_ns, NS)
        struct.pack_into(">IIIBB2x", raw, 0, MAGIC, COMMIT, tx.tid & 0xFFFFFFFF, 0, 0)
        struct.pack_into(">QI", raw, 48, seconds, nanos)
        struct.pack_into(">I", raw, 16, crc32c(self.seed, raw))
        return bytes(raw)

    def superblock(self, next_tid: int, used: bool) -> bytes:
        """Journal block 0 after a clean unmount: empty log (``s_start`` 0), next transaction ``next_tid``.

        ``used`` says whether the kernel ever mounted it (it then records 64bit and csum_v3);
        mke2fs leaves the features empty.
        """
        raw = bytearray(1024)
        features = INCOMPAT_64BIT | INCOMPAT_CSUM_V3 if used else 0
        struct.pack_into(">IIIIIIIIIIII16sII", raw, 0, MAGIC, SUPERBLOCK_V2, 0, self.block_size, self.maxlen, 1,
                         next_tid & 0xFFFFFFFF, 0, 0, 0, features, 0, self.uuid, 1, 0)
        if used:
            struct.pack_into(">B", raw, 0x50, CRC32C_CHKSUM)
            struct.pack_into(">I", raw, 0xFC, crc32c(0xFFFFFFFF, raw))
        return bytes(raw).ljust(self.block_size, b"\0")
