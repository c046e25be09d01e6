"""Physical memory: the story's structures page by page, and what fills the rest of RAM.

The kernel objects and process pages the story places are a few hundred pages, kept in a dict while they are
written (page tables and lists are read back and patched). Everything else in System RAM is filled once all
structures are placed, by a *background* (:mod:`.residency`: page cache, heap, freed pages), given as views of the
bytes it comes from (files, the heap arena). Nothing builds the whole image in memory: each format is written by
handing those views and the story's pages to the kernel (``pwritev``), so the only copy of the fill is the one
into the file, and RAM nothing wrote (never-touched 2 MiB blocks, the holes of the address map) is left as holes
of a sparse file, which reads back as the zeros a real machine has there. Frames are handed out from a
``random.Random`` seeded from the case, so where structures land is part of the variant yet reproducible.
"""

from __future__ import annotations

import bisect
import os
import random
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

from dflab.errors import EvidenceError

PAGE = 4096
LIME_MAGIC = 0x4C694D45
LIME_VERSION = 1
_LIME_HEADER = struct.Struct("<IIQQ8x")
_IOV_MAX = 1024  # buffers per pwritev call (Linux's UIO_MAXIOV)
Span = tuple[int, memoryview]  # (position, bytes from there)


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
        self._background: Sequence[tuple[int, memoryview]] = ()

    @property
    def used_frames(self) -> frozenset[int]:
        """Frames no background may fill: reserved ranges and every frame handed out."""
        return frozenset(self._used)

    def set_background(self, runs: Sequence[tuple[int, memoryview]]) -> None:
        """What the free frames hold: (first frame, bytes from its start; short of a page, the rest is zero).
        The story's pages win where both write a frame."""
        self._background = runs

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

    def alloc_block(self, order: int) -> int:
        """Physical address of ``2**order`` free, contiguous frames aligned to their size, as the buddy
        allocator hands out a slab of that order (deterministic for a given seed)."""
        count = 1 << order
        if self._free_count < count:
            raise EvidenceError("the case does not fit into the memory size", "memory.size_bytes")
        blocks = self.size // PAGE // count
        for _ in range(100_000):
            first = self._rng.randrange(1, blocks) * count
            frames = range(first, first + count)
            if not any(f in self._used for f in frames):
                self._used.update(frames)
                self._free_count -= count
                return first * PAGE
        raise EvidenceError(f"no free block of {count} pages", "memory.size_bytes")

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

    def segments(self) -> list[Span]:
        """Every stretch of the image something wrote, as (physical address, bytes), ascending and disjoint:
        the background's runs with the story's pages over them. Whatever lies between is zero."""
        out: list[Span] = []
        pages = self.pages
        for frame, data in self._background:
            count = -(-len(data) // PAGE)
            if pages.keys().isdisjoint(range(frame, frame + count)):
                out.append((frame * PAGE, data))
                continue
            out.extend(((frame + k) * PAGE, data[k * PAGE : (k + 1) * PAGE]) for k in range(count)
                       if frame + k not in pages)
        out.extend((frame * PAGE, memoryview(page)) for frame, page in pages.items())
        out.sort(key=lambda span: span[0])
        return out

    def write_raw(self, path: Path) -> None:
        """A flat image: byte N of the file is physical address N (sparse where nothing was written)."""
        _write_sparse(path, self.segments(), self.size)

    def write_lime(self, path: Path) -> None:
        """A LiME image as LiME writes it: one header (end address inclusive) and the bytes of each
        System RAM range in turn, so the holes between ranges are not in the file."""
        segments = self.segments()
        starts = [addr for addr, _ in segments]
        spans: list[Span] = []
        pos = 0
        for start, end in self.ram:
            spans.append((pos, memoryview(_LIME_HEADER.pack(LIME_MAGIC, LIME_VERSION, start, end - 1))))
            pos += _LIME_HEADER.size
            first = max(0, bisect.bisect_right(starts, start) - 1)
            inside = segments[first:bisect.bisect_left(starts, end)]
            if inside and (inside[0][0] < start or inside[-1][0] + len(inside[-1][1]) > end):  # clip the ends
                inside = [(max(a, start), d[max(a, start) - a : min(a + len(d), end) - a]) for a, d in inside
                          if a + len(d) > start and a < end]
            shift = pos - start
            spans.extend((addr + shift, data) for addr, data in inside)
            pos += end - start
        _write_sparse(path, spans, pos)


def _write_sparse(path: Path, spans: Iterable[Span], size: int) -> None:
    """Write ``spans`` (ascending, disjoint) into a new file of ``size`` bytes; the gaps between them are holes.

    Consecutive spans go to the kernel together (up to ``_IOV_MAX`` a call), straight from the views."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        batch: list[memoryview] = []
        at = end = 0
        for pos, data in spans:
            if batch and (pos != end or len(batch) == _IOV_MAX):
                _pwritev_all(fd, batch, at, path)
                batch = []
            if not batch:
                at = end = pos
            batch.append(data)
            end += len(data)
        if batch:
            _pwritev_all(fd, batch, at, path)
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


def _pwritev_all(fd: int, views: list[memoryview], offset: int, path: Path) -> None:
    """``pwritev`` until every byte of ``views`` is written (the kernel may write fewer than asked)."""
    first = 0
    while first < len(views):
        done = os.pwritev(fd, views[first:], offset)
        if not done:
            raise EvidenceError(f"the file system took no more bytes at offset {offset}", str(path))
        offset += done
        while first < len(views) and done >= len(views[first]):
            done -= len(views[first])
            first += 1
        if done:
            views[first] = views[first][done:]
