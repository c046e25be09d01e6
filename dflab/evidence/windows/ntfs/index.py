"""NTFS indexes: $I30 directories and the view indexes of $Secure and $Extend, as a B-tree of at most one level.

Entries are kept sorted by the index's collation (the caller sorts). While they fit, they live in the resident
$INDEX_ROOT; past that the writer moves them into 4096-byte INDX blocks of $INDEX_ALLOCATION (their use recorded in
the $BITMAP of the same name) and the root keeps only the separators: each root entry points at the block holding
the names before it, the root's end entry at the last block. One level holds thousands of names; a deeper tree is
refused with the reason rather than written wrong.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dflab.evidence.windows.ntfs.attributes import align8
from dflab.evidence.windows.ntfs.fixup import protect, usa_size

INDEX_BLOCK = 4096
INDX_USA_OFFSET = 0x28
ENTRIES_IN_BLOCK = (INDX_USA_OFFSET + usa_size(INDEX_BLOCK) + 7) & ~7
HAS_CHILD = 0x01
LAST = 0x02

COLLATION_BINARY = 0x00
COLLATION_FILE_NAME = 0x01
COLLATION_NTOFS_ULONG = 0x10
COLLATION_NTOFS_SID = 0x11
COLLATION_NTOFS_SECURITY_HASH = 0x12
COLLATION_NTOFS_ULONGS = 0x13


@dataclass(frozen=True)
class Entry:
    """One index entry: a key, and either the file it names (``file_ref``, $I30) or view data (``data``)."""

    key: bytes
    file_ref: int = 0
    data: bytes = b""

    def encode(self, child_vcn: int | None = None, last: bool = False) -> bytes:
        flags = (HAS_CHILD if child_vcn is not None else 0) | (LAST if last else 0)
        body_end = 0x10 + len(self.key) + len(self.data)
        length = align8(body_end) + (8 if child_vcn is not None else 0)
        out = bytearray(length)
        if self.data:
            struct.pack_into("<HHI", out, 0, 0x10 + len(self.key), len(self.data), 0)
        else:
            struct.pack_into("<Q", out, 0, self.file_ref)
        struct.pack_into("<HHHH", out, 8, length, len(self.key), flags, 0)
        out[0x10:0x10 + len(self.key)] = self.key
        out[0x10 + len(self.key):body_end] = self.data
        if child_vcn is not None:
            struct.pack_into("<Q", out, length - 8, child_vcn)
        return bytes(out)


END_ENTRY = Entry(b"")


def _node(entries: list[Entry], children: list[int] | None) -> bytes:
    """Entries then the end entry; ``children`` (one more than entries) gives each its subnode VCN."""
    if children is None:
        return b"".join(e.encode() for e in entries) + END_ENTRY.encode(last=True)
    return (b"".join(e.encode(children[i]) for i, e in enumerate(entries))
            + END_ENTRY.encode(children[-1], last=True))


def _header(entries_offset: int, node: bytes, allocated: int, large: bool) -> bytes:
    return struct.pack("<IIIBxxx", entries_offset, entries_offset + len(node), allocated, 1 if large else 0)


def root_value(indexed_type: int, collation: int, node: bytes, large: bool) -> bytes:
    """$INDEX_ROOT's value: what is indexed, collation, block size, clusters per block, then the root node."""
    return (struct.pack("<IIIBxxx", indexed_type, collation, INDEX_BLOCK, 1)
            + _header(0x10, node, 0x10 + len(node), large) + node)


def index_block(vcn: int, node: bytes, large: bool, usn: int = 1) -> bytes:
    """One INDX record of $INDEX_ALLOCATION at ``vcn``, fixups applied."""
    out = bytearray(INDEX_BLOCK)
    struct.pack_into("<4sHHQQ", out, 0, b"INDX", INDX_USA_OFFSET, usa_size(INDEX_BLOCK) // 2, 0, vcn)
    entries_offset = ENTRIES_IN_BLOCK - 0x18
    out[0x18:0x28] = _header(entries_offset, node, INDEX_BLOCK - 0x18, large)
    out[ENTRIES_IN_BLOCK:ENTRIES_IN_BLOCK + len(node)] = node
    return protect(out, INDX_USA_OFFSET, usn)


@dataclass(frozen=True)
class Layout:
    """Where an index's entries went: the root node, and the INDX blocks' nodes (empty when all fit the root)."""

    root: bytes
    blocks: tuple[bytes, ...]

    @property
    def large(self) -> bool:
        return bool(self.blocks)


def lay_out(entries: list[Entry], root_budget: int) -> Layout:
    """Place sorted ``entries``: all in the root if its node fits ``root_budget`` bytes, else one level of blocks."""
    small = _node(entries, None)
    if len(small) <= root_budget:
        return Layout(small, ())
    capacity = INDEX_BLOCK - ENTRIES_IN_BLOCK - len(END_ENTRY.encode(last=True))
    leaves: list[list[Entry]] = [[]]
    separators: list[Entry] = []
    used = 0
    for entry in entries:
        size = len(entry.encode())
        if used + size > capacity and leaves[-1]:
            separators.append(entry)
            leaves.append([])
            used = 0
            continue
        leaves[-1].append(entry)
        used += size
    if not leaves[-1]:
        # The last entry became a separator with nothing after it: it starts the last block instead, and the
        # previous block's last entry moves up (an empty leaf is not what Windows writes).
        leaves[-1].append(separators.pop())
        separators.append(leaves[-2].pop())
    root = _node(separators, list(range(len(leaves))))
    if len(root) > root_budget:
        raise ValueError(f"{len(entries)} index entries need more than one B-tree level")
    return Layout(root, tuple(_node(leaf, None) for leaf in leaves))


def bitmap(blocks: int) -> bytes:
    """The $BITMAP of an index allocation: one bit per block in use, padded to 8 bytes as Windows does."""
    out = bytearray(align8(max(1, (blocks + 7) // 8)))
    for i in range(blocks):
        out[i // 8] |= 1 << (i % 8)
    return bytes(out)
