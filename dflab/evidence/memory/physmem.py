"""Sparse physical memory: only the pages the story touches exist, the rest is zero.

A 64 MiB image holds a few hundred non-zero pages, so pages are kept in a
dict and the image files are written with holes (seek past zero pages).  That
keeps generation well under a second and the files highly compressible.
Frames are handed out from a ``random.Random`` seeded from the case, so where
structures land is part of the variant yet reproducible.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import BinaryIO

from dflab.errors import EvidenceError

PAGE = 4096
LIME_MAGIC = 0x4C694D45
LIME_VERSION = 1
_LIME_HEADER = struct.Struct("<IIQQ8x")
_ZERO_PAGE = bytes(PAGE)


class PhysicalMemory:
    """Zero-initialised physical RAM of ``size`` bytes, stored page by page."""

    def __init__(self, size: int, rng: random.Random, reserved: list[tuple[int, int]]) -> None:
        if size % PAGE:
            raise EvidenceError(f"memory size {size} is not a multiple of {PAGE}", "memory.size_bytes")
        self.size = size
        self.pages: dict[int, bytearray] = {}
        self._rng = rng
        self._used: set[int] = set()
        for start, end in reserved:
            self._used.update(range(start // PAGE, -(-end // PAGE)))
        self._free_count = size // PAGE - len(self._used)
        self.ram: list[tuple[int, int]] = [(0, size)]  # System RAM [start, end): what LiME writes

    def set_ram(self, ranges: list[tuple[int, int]]) -> None:
        """Declare the System RAM ranges (ascending; one may end inside a page, as e820's 0x9FC00 does); the
        rest of the address space is a hole."""
        self.ram = list(ranges)

    def alloc_frame(self) -> int:
        """Physical address of a random free page frame (deterministic for a given seed)."""
        if self._free_count <= 0:
            raise EvidenceError("the case does not fit into the memory size", "memory.size_bytes")
        total = self.size // PAGE
        while True:
            frame = self._rng.randrange(1, total)
            if frame not in self._used:
                self._used.add(frame)
                self._free_count -= 1
                return frame * PAGE

    def write(self, addr: int, data: bytes) -> None:
        """Copy ``data`` to physical address ``addr`` (may span pages)."""
        if addr < 0 or addr + len(data) > self.size:
            raise EvidenceError(f"write outside physical memory at {addr:#x}", "memory.size_bytes")
        pos = 0
        while pos < len(data):
            frame, off = divmod(addr + pos, PAGE)
            chunk = data[pos : pos + PAGE - off]
            page = self.pages.get(frame)
            if page is None:
                page = self.pages[frame] = bytearray(PAGE)
            page[off : off + len(chunk)] = chunk
            pos += len(chunk)

    def write_raw(self, path: Path) -> None:
        """A flat image: byte N of the file is physical address N."""
        with open(path, "wb") as fh:
            self._write_pages(fh, 0)
            fh.truncate(self.size)

    def write_lime(self, path: Path) -> None:
        """A LiME image as LiME writes it: one header (end address inclusive) and the bytes of each
        System RAM range in turn, so the holes between ranges are not in the file."""
        with open(path, "wb") as fh:
            pos = 0
            for start, end in self.ram:
                fh.seek(pos)
                fh.write(_LIME_HEADER.pack(LIME_MAGIC, LIME_VERSION, start, end - 1))
                self._write_pages(fh, pos + _LIME_HEADER.size - start, start, end)
                pos += _LIME_HEADER.size + end - start
            fh.truncate(pos)

    def _write_pages(self, fh: BinaryIO, base: int, start: int = 0, end: int | None = None) -> None:
        """Write the non-zero pages of ``[start, end)``, physical address A at file offset ``base + A``."""
        end = self.size if end is None else end
        for frame in sorted(self.pages):
            page = self.pages[frame]
            if start <= frame * PAGE < end and page != _ZERO_PAGE:
                fh.seek(base + frame * PAGE)
                fh.write(page[: end - frame * PAGE])
