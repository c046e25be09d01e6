"""Lay a ``Hive`` out as a regf file, format 1.5, as Windows 10/11 writes a clean (flushed) primary file.

Structure (Microsoft never published it; this follows Maxim Suhanov's "Windows registry file format
specification" and libyal's libregf documentation, and the tests compare it with real hives):

* a 4096-byte base block: signature, equal primary/secondary sequence numbers (no pending log), last-written
  time, version 1.5, root cell offset, size of the hive bins, the file's name, the resource-manager GUIDs and the
  XOR checksum of its first 508 bytes;
* hive bins (``hbin``), each a multiple of 4096 bytes, holding cells that never cross a bin's end; a cell starts
  with its size, negative when allocated, positive when free, always a multiple of 8;
* cells: ``nk`` keys, ``vk`` values, value lists, ``sk`` security descriptors (one per distinct descriptor, in a
  circular list, with a reference count), subkey lists (``lh`` with name hashes as Windows 10 writes them; ``lf``
  and ``li`` on request; an ``ri`` of leaves past ``leaf_capacity``), class names, value data (up to four bytes in
  the ``vk`` itself; past 16344 bytes a ``db`` big-data record with a segment list).

Cells are placed depth first, each key followed by what it owns, so a parser reading one key touches nearby bytes.
Everything is a function of the ``Hive``: the same hive gives the same bytes.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from .model import Hive, Key, Value, upcase

BASE_BLOCK = 4096
HBIN_UNIT = 4096
HBIN_HEADER = 32
BIG_DATA_SEGMENT = 16344
"""The most data one cell holds in a version 1.4+ hive; longer value data goes into a ``db`` record."""
LEAF_CAPACITY = 511
"""Entries in one subkey leaf before the list becomes an ``ri`` of leaves (a leaf then fills one 4 KiB cell)."""
NO_CELL = 0xFFFFFFFF
FILE_NAME_CHARS = 31

_KEY_HIVE_ENTRY = 0x0004
_KEY_NO_DELETE = 0x0008
_KEY_COMP_NAME = 0x0020
_VALUE_COMP_NAME = 0x0001
_RESIDENT = 0x80000000
_NK_FIXED = 0x4C
_VK_FIXED = 0x14
_SK_FIXED = 0x14
_GUID_NAMESPACE = uuid.UUID("5d1e7f62-4c1b-4f7e-9a55-6466c6ab0a2d")


@dataclass(frozen=True)
class Layout:
    """Choices a Windows version or a test makes; the defaults are Windows 10/11's."""

    leaf_kind: str = "lh"
    leaf_capacity: int = LEAF_CAPACITY
    sequence: int = 1

    def __post_init__(self) -> None:
        if self.leaf_kind not in ("lh", "lf", "li"):
            raise ValueError(f"leaf kind {self.leaf_kind!r} is not lh, lf or li")
        if not 1 <= self.leaf_capacity <= LEAF_CAPACITY:
            raise ValueError(f"leaf capacity {self.leaf_capacity} is not 1..{LEAF_CAPACITY}")


def name_hash(name: str) -> int:
    """The ``lh`` hash: h = h * 37 + unit over the upper-cased name's UTF-16 code units, modulo 2**32."""
    h = 0
    units = upcase(name).encode("utf-16-le")
    for (unit,) in struct.iter_unpack("<H", units):
        h = (h * 37 + unit) & 0xFFFFFFFF
    return h


def checksum(base_block: bytes) -> int:
    """The base block's checksum: XOR of its first 127 little-endian dwords, never 0 nor 0xFFFFFFFF."""
    value = 0
    for (dword,) in struct.iter_unpack("<I", base_block[:508]):
        value ^= dword
    return {0: 1, 0xFFFFFFFF: 0xFFFFFFFE}.get(value, value)


def _name_bytes(name: str) -> tuple[bytes, bool]:
    """A name as stored: one byte per character when all fit in Latin-1 (a "compressed" name), else UTF-16LE."""
    if all(ord(c) < 0x100 for c in name):
        return name.encode("latin-1"), True
    return name.encode("utf-16-le"), False


class _Cells:
    """Cells in placement order: sizes first (so offsets are known), contents rendered once all are placed."""

    def __init__(self) -> None:
        self._sizes: list[int] = []
        self._renders: list[Callable[[], bytes]] = []
        self._offsets: list[int] = []

    def add(self, payload: int, render: Callable[[], bytes]) -> int:
        self._sizes.append((4 + payload + 7) & ~7)
        self._renders.append(render)
        return len(self._sizes) - 1

    def offset(self, index: int) -> int:
        return self._offsets[index]

    def pack(self) -> bytes:
        """Place every cell into hive bins and return the bins' bytes."""
        bins: list[list[int]] = []  # [start, size, first unused byte]
        for size in self._sizes:
            if not bins or bins[-1][2] + size > bins[-1][0] + bins[-1][1]:
                start = bins[-1][0] + bins[-1][1] if bins else 0
                bins.append([start, -(-(HBIN_HEADER + size) // HBIN_UNIT) * HBIN_UNIT, start + HBIN_HEADER])
            self._offsets.append(bins[-1][2])
            bins[-1][2] += size
        out = bytearray(bins[-1][0] + bins[-1][1])
        for start, size, used_to in bins:
            out[start:start + HBIN_HEADER] = struct.pack("<4sIIQQI", b"hbin", start, size, 0, 0, 0)
            if used_to < start + size:  # the unused tail is one free cell (positive size), as Windows leaves it
                out[used_to:used_to + 4] = struct.pack("<i", start + size - used_to)
        for offset, size, render in zip(self._offsets, self._sizes, self._renders, strict=True):
            payload = render()
            if len(payload) > size - 4:
                raise AssertionError("a cell's payload outgrew its planned size")
            out[offset:offset + 4] = struct.pack("<i", -size)
            out[offset + 4:offset + 4 + len(payload)] = payload
        return bytes(out)


class _Writer:
    def __init__(self, hive: Hive, layout: Layout) -> None:
        self.hive = hive
        self.layout = layout
        self.cells = _Cells()
        self.sk_index: dict[bytes, int] = {}
        self.sk_refs: dict[bytes, int] = {}
        self.links: dict[int, tuple[int | None, int | None, int | None]] = {}  # nk → class, values, subkeys

    # -- placement ------------------------------------------------------------------------------------------------
    def place_key(self, key: Key, parent: int | None) -> int:
        name, compressed = _name_bytes(key.name)
        me = self.cells.add(_NK_FIXED + len(name), lambda: self.render_nk(key, me, parent, name, compressed))
        klass = None
        if key.class_name is not None:
            class_bytes = key.class_name.encode("utf-16-le")
            klass = self.cells.add(len(class_bytes), lambda: class_bytes)
        descriptor = key.descriptor()
        if descriptor not in self.sk_index:
            self.sk_index[descriptor] = self.cells.add(_SK_FIXED + len(descriptor), lambda: self.render_sk(descriptor))
        self.sk_refs[descriptor] = self.sk_refs.get(descriptor, 0) + 1
        value_list = self.place_values(key)
        children = key.subkeys()
        child_cells: list[int] = []  # filled below; the list's cells are rendered once everything is placed
        subkey_list = self.place_subkey_list(children, child_cells)
        self.links[me] = (klass, value_list, subkey_list)
        for child in children:
            child_cells.append(self.place_key(child, me))
        return me

    def place_values(self, key: Key) -> int | None:
        values = key.values()
        if not values:
            return None
        vks: list[int] = []
        index = self.cells.add(4 * len(values), lambda: b"".join(struct.pack("<I", self.cells.offset(v)) for v in vks))
        for value in values:
            name, compressed = _name_bytes(value.name)
            data = self.place_data(value.data)
            vks.append(self.cells.add(_VK_FIXED + len(name),
                                      lambda v=value, n=name, c=compressed, d=data: self.render_vk(v, n, c, d)))
        return index

    def place_data(self, data: bytes) -> int | None:
        if len(data) <= 4:
            return None
        if len(data) <= BIG_DATA_SEGMENT:
            return self.cells.add(len(data), lambda: data)
        chunks = [data[i:i + BIG_DATA_SEGMENT] for i in range(0, len(data), BIG_DATA_SEGMENT)]
        segments: list[int] = []
        db = self.cells.add(8, lambda: struct.pack("<2sHI", b"db", len(chunks), self.cells.offset(seg_list)))
        seg_list = self.cells.add(4 * len(chunks),
                                  lambda: b"".join(struct.pack("<I", self.cells.offset(s)) for s in segments))
        for chunk in chunks:
            # Every segment cell, the last too, is 16352 bytes as in real hives (16344 data + 8 fill a 16 KiB bin
            # less its header); readers (libregf, hivex) take a segment's data as its cell size less 8.
            segments.append(self.cells.add(BIG_DATA_SEGMENT + 4, lambda c=chunk: c))
        return db

    def place_subkey_list(self, children: list[Key], cells: list[int]) -> int | None:
        if not children:
            return None
        kind, capacity = self.layout.leaf_kind, self.layout.leaf_capacity
        entry = 4 if kind == "li" else 8
        groups = [range(i, min(i + capacity, len(children))) for i in range(0, len(children), capacity)]
        if len(groups) == 1:
            return self.cells.add(4 + entry * len(children), lambda: self.render_leaf(kind, children, cells, groups[0]))
        leaves: list[int] = []
        ri = self.cells.add(4 + 4 * len(groups),
                            lambda: struct.pack("<2sH", b"ri", len(leaves))
                            + b"".join(struct.pack("<I", self.cells.offset(leaf)) for leaf in leaves))
        for group in groups:
            leaves.append(self.cells.add(4 + entry * len(group),
                                         lambda g=group: self.render_leaf(kind, children, cells, g)))
        return ri

    # -- rendering ------------------------------------------------------------------------------------------------
    def render_leaf(self, kind: str, children: list[Key], cells: list[int], group: range) -> bytes:
        out = [struct.pack("<2sH", kind.encode(), len(group))]
        for i in group:
            offset = self.cells.offset(cells[i])
            if kind == "lh":
                out.append(struct.pack("<II", offset, name_hash(children[i].name)))
            elif kind == "lf":
                hint = bytes(ord(c) & 0xFF for c in children[i].name[:4]).ljust(4, b"\0")
                out.append(struct.pack("<I4s", offset, hint))
            else:
                out.append(struct.pack("<I", offset))
        return b"".join(out)

    def render_nk(self, key: Key, me: int, parent: int | None, name: bytes, compressed: bool) -> bytes:
        klass, value_list, subkey_list = self.links[me]
        subkeys, values = key.subkeys(), key.values()
        flags = (_KEY_COMP_NAME if compressed else 0) | (_KEY_HIVE_ENTRY | _KEY_NO_DELETE if parent is None else 0)
        class_len = len(key.class_name.encode("utf-16-le")) if key.class_name is not None else 0
        return struct.pack(
            "<2sHQIIIIIIIIIIIIIIIHH", b"nk", flags, key.last_written, 0,
            NO_CELL if parent is None else self.cells.offset(parent),
            len(subkeys), 0, self._offset(subkey_list), NO_CELL,
            len(values), self._offset(value_list), self.cells.offset(self.sk_index[key.descriptor()]),
            self._offset(klass),
            max((2 * len(k.name) for k in subkeys), default=0),
            max((2 * len(k.class_name) for k in subkeys if k.class_name), default=0),
            max((2 * len(v.name) for v in values), default=0),
            max((len(v.data) for v in values), default=0),
            0, len(name), class_len,
        ) + name

    def render_vk(self, value: Value, name: bytes, compressed: bool, data: int | None) -> bytes:
        size = len(value.data)
        if data is None:
            size_field, offset_field = size | _RESIDENT, int.from_bytes(value.data.ljust(4, b"\0"), "little")
        else:
            size_field, offset_field = size, self.cells.offset(data)
        flags = _VALUE_COMP_NAME if compressed and name else 0
        return struct.pack("<2sHIIIHH", b"vk", len(name), size_field, offset_field, value.kind, flags, 0) + name

    def render_sk(self, descriptor: bytes) -> bytes:
        order = list(self.sk_index)
        position = order.index(descriptor)
        flink = self.cells.offset(self.sk_index[order[(position + 1) % len(order)]])
        blink = self.cells.offset(self.sk_index[order[position - 1]])
        return struct.pack("<2sHIIII", b"sk", 0, flink, blink, self.sk_refs[descriptor], len(descriptor)) + descriptor

    def _offset(self, index: int | None) -> int:
        return NO_CELL if index is None else self.cells.offset(index)

    # -- whole file -----------------------------------------------------------------------------------------------
    def write(self) -> bytes:
        root = self.place_key(self.hive.root, None)
        bins = self.cells.pack()
        written = self.hive.written
        # The first bin carries the hive's write time, as Windows stamps it on flush.
        bins = bins[:20] + struct.pack("<Q", written) + bins[28:]
        return self.base_block(root, len(bins), written) + bins

    def base_block(self, root: int, bins_size: int, written: int) -> bytes:
        rm_id = uuid.uuid5(_GUID_NAMESPACE, f"{self.hive.file_name}\0{self.hive.root.name}")
        tm_id = uuid.UUID(fields=((rm_id.fields[0] + 1) & 0xFFFFFFFF, *rm_id.fields[1:]))
        name = self.hive.file_name[-FILE_NAME_CHARS:].encode("utf-16-le").ljust(64, b"\0")
        block = bytearray(BASE_BLOCK)
        seq = self.layout.sequence
        struct.pack_into("<4sIIQIIIIIII", block, 0, b"regf", seq, seq, written, 1, 5, 0, 1,
                         self.cells.offset(root), bins_size, 1)
        block[0x30:0x70] = name
        block[0x70:0x80] = rm_id.bytes_le
        block[0x80:0x90] = rm_id.bytes_le  # LogId: the same GUID, as in every real hive compared
        block[0x94:0xA4] = tm_id.bytes_le
        block[0xA4:0xA8] = b"rmtm"
        struct.pack_into("<I", block, 0x1FC, checksum(bytes(block)))
        return bytes(block)


def serialize(hive: Hive, layout: Layout | None = None) -> bytes:
    """The regf bytes of ``hive`` (see the module doc for the structure)."""
    return _Writer(hive, layout or Layout()).write()
