"""Physical memory: the story's structures page by page, and what fills the rest of RAM.

The kernel objects and process pages the story places are a few hundred pages, kept in a dict while they are
written (page tables and lists are read back and patched). Everything else in System RAM is filled once all
structures are placed, by a *background* (:mod:`.residency`: page cache, heap, freed pages), and the image is
materialised once into a flat buffer that both formats are written from. Frames are handed out from a
``random.Random`` seeded from the case, so where structures land is part of the variant yet reproducible.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from pathlib import Path

from dflab.errors import EvidenceError

PAGE = 4096
LIME_MAGIC = 0x4C694D45
LIME_VERSION = 1
_LIME_HEADER = struct.Struct("<IIQQ8x")


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
        self._background: Callable[[bytearray], None] | None = None
        self._flat: bytearray | None = None

    @property
    def used_frames(self) -> frozenset[int]:
        """Frames no background may fill: reserved ranges and every frame handed out."""
        return frozenset(self._used)

    def set_background(self, fill: Callable[[bytearray], None]) -> None:
        """``fill`` writes the free frames' content into the zeroed flat image; the story's pages go over it."""
        self._background = fill
        self._flat = None

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
        self._flat = None
        pos = 0
        while pos < len(data):
            frame, off = divmod(addr + pos, PAGE)
            chunk = data[pos : pos + PAGE - off]
            page = self.pages.get(frame)
            if page is None:
                page = self.pages[frame] = bytearray(PAGE)
            page[off : off + len(chunk)] = chunk
            pos += len(chunk)

    def flat(self) -> bytearray:
        """The whole physical address space, byte N at physical address N: made once, then shared by the writers."""
        if self._flat is None:
            buf = bytearray(self.size)
            if self._background is not None:
                self._background(buf)
            for frame, page in self.pages.items():
                buf[frame * PAGE : frame * PAGE + PAGE] = page
            self._flat = buf
        return self._flat

    def release(self) -> None:
        """Drop the flat image once every format is written (it is the size of the RAM)."""
        self._flat = None

    def write_raw(self, path: Path) -> None:
        """A flat image: byte N of the file is physical address N."""
        with open(path, "wb") as fh:
            fh.write(self.flat())

    def write_lime(self, path: Path) -> None:
        """A LiME image as LiME writes it: one header (end address inclusive) and the bytes of each
        System RAM range in turn, so the holes between ranges are not in the file."""
        view = memoryview(self.flat())
        with open(path, "wb") as fh:
            for start, end in self.ram:
                fh.write(_LIME_HEADER.pack(LIME_MAGIC, LIME_VERSION, start, end - 1))
                fh.write(view[start:end])
