"""What fills the RAM the story's structures leave free: the page cache, anonymous memory, freed pages, a few zeros.

A workstation two hours after boot has almost no zero RAM. The shares follow the ``/proc/meminfo`` of a small
Debian 12 GNOME desktop (2 GiB, 2 h up, Firefox and a terminal open), scaled to the frames left free here:

================  ===========  =====  ==========================================================================
meminfo line      kB           share  written here as
================  ===========  =====  ==========================================================================
Cached + Buffers  905 000+41k  47 %   page cache: files of the case's disk, their real bytes from a page-aligned
                                      offset, the tail of a file's last page zero as the kernel leaves it
AnonPages+Slab    560k + 120k  34 %   anonymous memory: glibc heap chunks (size words, pointers, the strings a
                                      desktop's processes hold: environments, paths, commands, URLs)
MemFree           152 000      19 %   freed pages keep what they held (Linux does not clear on free): old file
                                      pages and heap residue; only never-touched order-9 blocks are zero (5 %)
================  ===========  =====  ==========================================================================

Page cache pages are placed in readahead-sized runs of consecutive frames (1 to 32 pages, as ``ondemand_readahead``
grows its window), so a file's contents read back contiguously for a while, then jump, as on a real system. No page
of a file is cached twice. Every byte comes from bytes that exist already (a file's contents, shared by every case
of the same installed system, :func:`dflab.scenario.ostree.shared`; one heap arena made per case and sliced at a
chunk-aligned offset per page): the plan is views of them, which the writers hand to the kernel as they are, so
filling 256 MiB costs one copy, into the image file, and no loop per byte.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from dflab.evidence.memory.physmem import PAGE, PhysicalMemory

CACHE_SHARE, ANON_SHARE, ZERO_SHARE = 0.47, 0.34, 0.05  # of the free frames; the rest is freed with residue
ZERO_BLOCK = 512  # frames of one never-split order-9 block (2 MiB)
RUNS = (1, 2, 4, 8, 16, 32)  # readahead windows, in pages
ARENA = 256 * 1024  # bytes of the heap arena sliced into anonymous pages
_CHUNK = struct.Struct("<QQ")  # malloc_chunk: prev_size, size | PREV_INUSE


@dataclass(frozen=True)
class CachedFile:
    """A file as the page cache may hold it: its path as the host sees it and its bytes on the disk."""

    path: str
    data: bytes
    tier: int  # 0 read since boot or always in use (libraries, /etc), 1 other system data, 2 documentation


@dataclass
class Residency:
    """What each free frame holds, and where each page cache page comes from (a file and a page-aligned offset).

    ``runs`` are what the writers copy into the image: each a first frame and the bytes from its start, a view of
    a file's or the heap arena's bytes, so the fill is never copied before it reaches the image file. A run spans
    the consecutive frames a readahead window filled from one file, so most of the page cache is written in a
    few thousand slices rather than a slice per page; bytes a run leaves short of its last page are zero.
    """

    runs: list[tuple[int, memoryview]] = field(default_factory=list)  # (first frame, bytes from its start)
    cache: dict[int, tuple[str, int]] = field(default_factory=dict)  # frame -> (path, file offset)
    zero_frames: int = 0


class _Runs:
    """Collects (frame, source, offset) pages into runs: a page extends the last run when it is the next frame
    and the next bytes of the same source, after a whole page."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, memoryview]] = []
        self._frame = self._start = self._end = -1
        self._source: memoryview | None = None

    def add(self, frame: int, source: memoryview, offset: int) -> None:
        end = min(offset + PAGE, len(source))
        whole_pages = (self._end - self._start) % PAGE == 0
        if (source is self._source and offset == self._end and whole_pages
                and (frame - self._frame) * PAGE == offset - self._start):
            self._end = end
            return
        self.flush()
        self._frame, self._source, self._start, self._end = frame, source, offset, end

    def flush(self) -> None:
        if self._source is not None:
            self.runs.append((self._frame, self._source[self._start : self._end]))
            self._source = None


def _free_frames(phys: PhysicalMemory) -> list[int]:
    """System RAM frames no structure uses, ascending."""
    taken = phys.used_frames | phys.pages.keys()
    out: list[int] = []
    for start, end in phys.ram:
        out.extend(f for f in range(-(-start // PAGE), end // PAGE) if f not in taken)
    return out


def _pieces(frames: list[int], rng: random.Random) -> list[list[int]]:
    """``frames`` cut into runs of consecutive frames, each at most one readahead window long."""
    pieces: list[list[int]] = []
    i = 0
    while i < len(frames):
        want = rng.choice(RUNS)
        j = i + 1
        while j < len(frames) and j - i < want and frames[j] == frames[j - 1] + 1:
            j += 1
        pieces.append(frames[i:j])
        i = j
    return pieces


def _zero_blocks(free: list[int], rng: random.Random, count: int) -> set[int]:
    """``count`` whole aligned 2 MiB blocks that are entirely free: memory the allocator never handed out."""
    free_set = set(free)
    candidates = sorted({f - f % ZERO_BLOCK for f in free})
    whole = [b for b in candidates if all(b + k in free_set for k in range(ZERO_BLOCK))]
    chosen = rng.sample(whole, min(count, len(whole)))
    return {b + k for b in chosen for k in range(ZERO_BLOCK)}


def heap_arena(strings: list[bytes], rng: random.Random, size: int = ARENA) -> bytes:
    """A glibc-like heap: chunks with their size words, holding strings or pointer arrays into heap and libraries.

    Made once per case; anonymous pages are slices of it, so its few thousand chunks are built in Python once.
    """
    heap_base = 0x5555_5555_0000 + rng.randrange(0, 1 << 28) * 0x1000
    lib_base = 0x7F00_0000_0000 + rng.randrange(0, 1 << 24) * 0x1000
    out = bytearray()
    while len(out) < size:
        if strings and rng.random() < 0.6:
            payload = rng.choice(strings) + b"\0"
        else:
            n = rng.randint(2, 12)
            base = heap_base if rng.random() < 0.7 else lib_base
            payload = b"".join(struct.pack("<Q", base + rng.randrange(0, 1 << 20) * 16) for _ in range(n))
        body = -(-(len(payload) + 8) // 16) * 16
        out += _CHUNK.pack(0, (body + 16) | 1) + payload.ljust(body, b"\0")
    return bytes(out[:size])


def _file_pages(files: list[CachedFile], rng: random.Random) -> Iterator[tuple[str, int]]:
    """Each page of the files, tier by tier, the files in a drawn order within a tier: (path, offset)."""
    for tier in sorted({f.tier for f in files}):
        group = sorted((f for f in files if f.tier == tier), key=lambda f: f.path)
        rng.shuffle(group)
        for f in group:
            for off in range(0, len(f.data), PAGE):
                yield f.path, off


def plan_residency(phys: PhysicalMemory, files: list[CachedFile], strings: list[bytes],
                   rng: random.Random) -> Residency:
    """Decide the content of every free System RAM frame of ``phys`` (see the module docstring)."""
    res = Residency()
    free = _free_frames(phys)
    zero = _zero_blocks(free, rng, round(len(free) * ZERO_SHARE / ZERO_BLOCK))
    res.zero_frames = len(zero)
    pieces = _pieces([f for f in free if f not in zero], rng)
    rng.shuffle(pieces)
    arena = memoryview(heap_arena(strings, rng))
    slots = (len(arena) - PAGE) // 16
    views = {f.path: memoryview(f.data) for f in files}
    pages = _file_pages(files, rng)
    every = [(f.path, off) for f in files for off in range(0, len(f.data), PAGE)]
    cache_budget, anon_budget = round(len(free) * CACHE_SHARE), round(len(free) * ANON_SHARE)
    # one draw per page, taken in a block (little-endian words: the same on every machine)
    draws = iter(struct.unpack(f"<{len(free)}I", rng.randbytes(4 * len(free))))

    out = _Runs()

    def residue(frame: int, draw: int) -> None:
        """A freed page: what it last held, a file page evicted from the cache or heap that was freed."""
        if every and draw & 1:
            path, off = every[(draw >> 1) % len(every)]
            out.add(frame, views[path], off)
        else:
            out.add(frame, arena, ((draw >> 1) % slots) * 16)

    for piece in pieces:
        if cache_budget > 0:
            cache_budget -= len(piece)
            for frame in piece:
                nxt = next(pages, None)
                if nxt is None:
                    residue(frame, next(draws))
                    continue
                path, off = nxt
                res.cache[frame] = (path, off)
                out.add(frame, views[path], off)
        elif anon_budget > 0:
            anon_budget -= len(piece)
            for frame in piece:
                out.add(frame, arena, (next(draws) % slots) * 16)
        else:
            for frame in piece:
                residue(frame, next(draws))
    out.flush()
    res.runs = out.runs
    return res
