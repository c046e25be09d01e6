"""One ext4 inode as 256 bytes, and its extent tree, each with the checksum metadata_csum requires.

Times are nanoseconds since the epoch: the 32-bit seconds go in the classic fields, the
``*_extra`` fields hold the nanoseconds (upper 30 bits) and two epoch bits that carry the
range past 2038, as the kernel writes them.  The checksum covers the inode number, its
generation and all 256 bytes, so an inode copied to another slot (or another file system)
no longer verifies, exactly as on a real disk.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache

from dflab.errors import DflabError
from dflab.evidence.disk.ext4.crc32c import crc32c
from dflab.evidence.disk.ext4.geometry import INODE_SIZE

EXTRA_ISIZE = 32  # up to i_projid: the *_extra time fields, i_crtime, i_version_hi
EXTENT_MAGIC = 0xF30A
EXTENTS_FL, INDEX_FL = 0x80000, 0x1000
S_IFDIR, S_IFREG, S_IFLNK = 0o040000, 0o100000, 0o120000
FAST_SYMLINK_MAX = 59  # a target this long or shorter lives in i_block itself (ext4_inode_is_fast_symlink)
IN_INODE_EXTENTS = 4  # what fits in i_block after the header
NS = 1_000_000_000
# i_block after ext4_truncate removed every extent: the root header alone (no entries, depth 0), the rest zeroed.
EMPTY_EXTENT_ROOT = struct.pack("<HHHHI", EXTENT_MAGIC, 0, IN_INODE_EXTENTS, 0, 0)


@dataclass(frozen=True)
class Inode:
    """What an inode says at one moment; ``*_ns`` times are nanoseconds since the epoch."""

    mode: int
    uid: int
    gid: int
    size: int
    links: int
    atime_ns: int
    ctime_ns: int
    mtime_ns: int
    crtime_ns: int
    dtime: int  # seconds; 0 while the file exists
    block_count: int  # file system blocks held, tree blocks included
    i_block: bytes  # 60 bytes: the extent tree's root, or the resize inode's block map
    flags: int = EXTENTS_FL
    generation: int = 0
    extra_isize: int = EXTRA_ISIZE


@lru_cache(maxsize=1 << 15)
def inode_seed(fs_seed: int, ino: int, generation: int) -> int:
    """The checksum seed of everything an inode owns (its extent and directory blocks): the file system's seed fed
    the inode number, then the generation (one CRC of both; asked again for each block the inode owns)."""
    return crc32c(fs_seed, struct.pack("<II", ino, generation))


def split_time(ns: int) -> tuple[int, int]:
    """(32-bit seconds, extra field) of a nanosecond time: nanoseconds << 2 | epoch bits."""
    seconds, nanos = divmod(ns, NS)
    low = seconds & 0xFFFFFFFF
    signed = low - (1 << 32) if low >= 1 << 31 else low
    return low, (nanos << 2) | (((seconds - signed) >> 32) & 0x3)


def pack_inode(inode: Inode, ino: int, fs_seed: int, block_size: int) -> bytes:
    """The inode's 256 on-disk bytes with ``i_checksum_lo``/``_hi`` set."""
    atime, atime_x = split_time(inode.atime_ns)
    ctime, ctime_x = split_time(inode.ctime_ns)
    mtime, mtime_x = split_time(inode.mtime_ns)
    crtime, crtime_x = split_time(inode.crtime_ns)
    sectors = inode.block_count * (block_size // 512)
    raw = bytearray(INODE_SIZE)
    struct.pack_into("<HHIIIIIHHII4x60sIIIIHHHH4x", raw, 0, inode.mode, inode.uid & 0xFFFF, inode.size & 0xFFFFFFFF,
                     atime, ctime, mtime, inode.dtime & 0xFFFFFFFF, inode.gid & 0xFFFF, inode.links,
                     sectors & 0xFFFFFFFF, inode.flags, inode.i_block.ljust(60, b"\0"), inode.generation, 0,
                     inode.size >> 32, 0, sectors >> 32, 0, inode.uid >> 16, inode.gid >> 16)
    if inode.extra_isize:
        struct.pack_into("<HHIIIII", raw, 128, inode.extra_isize, 0, ctime_x, mtime_x, atime_x, crtime, crtime_x)
    crc = crc32c(inode_seed(fs_seed, ino, inode.generation), raw)
    struct.pack_into("<H", raw, 0x7C, crc & 0xFFFF)
    if inode.extra_isize >= 4:  # i_checksum_hi exists
        struct.pack_into("<H", raw, 0x82, crc >> 16)
    return bytes(raw)


def leaf_capacity(block_size: int) -> int:
    """Extents (or index entries) one tree block holds, before its 4-byte checksum tail."""
    return (block_size - 12) // 12


def tree_blocks_needed(extents: int, block_size: int) -> int:
    """Leaf blocks an inode with ``extents`` extents needs (0: they fit in the inode)."""
    if extents <= IN_INODE_EXTENTS:
        return 0
    return -(-extents // leaf_capacity(block_size))


def extent_tree(extents: list[tuple[int, int]], leaves: list[int], seed: int, block_size: int,
                where: str) -> tuple[bytes, list[tuple[int, bytes]]]:
    """i_block and the leaf blocks for ``extents`` ((first block, length), in file order).

    Up to four extents sit in the inode (depth 0); more go to ``leaves`` (depth 1, one index
    entry per leaf), each leaf block ending in its checksum, as the kernel writes them.
    """
    if len(leaves) != tree_blocks_needed(len(extents), block_size):
        raise AssertionError((len(extents), leaves))
    entries = []
    logical = 0
    for start, length in extents:
        entries.append(struct.pack("<IHHI", logical, length, start >> 32, start & 0xFFFFFFFF))
        logical += length
    if not leaves:
        return struct.pack("<HHHHI", EXTENT_MAGIC, len(entries), IN_INODE_EXTENTS, 0, 0) + b"".join(entries), []
    if len(leaves) > IN_INODE_EXTENTS:
        raise DflabError(f"a file of {len(extents)} extents needs more than a two-level extent tree", where)
    cap = leaf_capacity(block_size)
    index = struct.pack("<HHHHI", EXTENT_MAGIC, len(leaves), IN_INODE_EXTENTS, 1, 0)
    blocks = []
    for n, leaf in enumerate(leaves):
        chunk = entries[n * cap:(n + 1) * cap]
        first_logical = struct.unpack_from("<I", chunk[0])[0]
        index += struct.pack("<IIHH", first_logical, leaf & 0xFFFFFFFF, leaf >> 32, 0)
        body = bytearray(block_size)
        body[:12] = struct.pack("<HHHHI", EXTENT_MAGIC, len(chunk), cap, 0, 0)
        body[12:12 + 12 * len(chunk)] = b"".join(chunk)
        tail = 12 + 12 * cap
        struct.pack_into("<I", body, tail, crc32c(seed, body[:tail]))
        blocks.append((leaf, bytes(body)))
    return index, blocks


def empty_leaf(seed: int, block_size: int) -> bytes:
    """An extent tree leaf whose extents were all removed (a deleted file's, as freed): header, zeros, checksum."""
    cap = leaf_capacity(block_size)
    body = bytearray(block_size)
    body[:12] = struct.pack("<HHHHI", EXTENT_MAGIC, 0, cap, 0, 0)
    tail = 12 + 12 * cap
    struct.pack_into("<I", body, tail, crc32c(seed, body[:tail]))
    return bytes(body)
