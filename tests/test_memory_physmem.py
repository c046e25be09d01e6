"""How physical memory reaches the image files: the background's views and the story's pages handed to the kernel
as they are (no flat copy of the image), the story's pages over the background, untouched RAM left as holes of a
sparse file, a short ``pwritev`` finished. Each is compared with an image built by hand, byte for byte."""

from __future__ import annotations

import os
import random
import struct
import subprocess
from pathlib import Path

import pytest

from dflab.errors import EvidenceError
from dflab.evidence.memory import physmem
from dflab.evidence.memory.physmem import PAGE, PhysicalMemory

SIZE = 4 << 20
RAM = [(0x1000, 0x9FC00), (0x10_0000, SIZE - 0x2_0000)]


def hole_bytes(path: Path) -> int:
    """Bytes of ``path`` that are holes (SEEK_HOLE / SEEK_DATA), not data blocks."""
    total = pos = 0
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fd = fh.fileno()
        while pos < size:
            hole = os.lseek(fd, pos, os.SEEK_HOLE)
            if hole >= size:
                break
            try:
                data = os.lseek(fd, hole, os.SEEK_DATA)
            except OSError:  # ENXIO: a hole up to the end
                data = size
            total += data - hole
            pos = data
    return total


def _memory() -> tuple[PhysicalMemory, bytearray]:
    """A 4 MiB machine with a background (a four-page run, a file's short last page, a heap page) and a story
    page over the run's second frame; and the flat image that must result, built by hand."""
    phys = PhysicalMemory(SIZE, random.Random(1), [(0, 0x10_0000)])
    phys.set_ram(RAM)
    run = memoryview(bytes(range(256)) * (4 * PAGE // 256))
    tail = memoryview(b"T" * 2000)
    heap = memoryview(b"H" * PAGE)
    phys.set_background([(0x100, run), (0x110, tail), (0x3C0, heap)])
    phys.write(0x101 * PAGE + 16, b"story")
    want = bytearray(SIZE)
    want[0x100 * PAGE : 0x104 * PAGE] = run
    want[0x101 * PAGE : 0x102 * PAGE] = bytes(PAGE)  # the story's page is its own: zero but for what it wrote
    want[0x101 * PAGE + 16 : 0x101 * PAGE + 21] = b"story"
    want[0x110 * PAGE : 0x110 * PAGE + 2000] = tail
    want[0x3C0 * PAGE : 0x3C1 * PAGE] = heap
    return phys, want


def _lime_as_flat(lime: bytes) -> tuple[bytearray, list[tuple[int, int]]]:
    flat, ranges, pos = bytearray(SIZE), [], 0
    while pos < len(lime):
        magic, version, start, end = struct.unpack_from("<IIQQ", lime, pos)
        assert (magic, version) == (0x4C694D45, 1)
        flat[start : end + 1] = lime[pos + 32 : pos + 33 + end - start]
        ranges.append((start, end + 1))
        pos += 33 + end - start
    return flat, ranges


def test_raw_and_lime_hold_the_background_with_the_story_over_it(tmp_path: Path) -> None:
    phys, want = _memory()
    segments = phys.segments()
    assert all(a + len(d) <= b for (a, d), (b, _) in zip(segments, segments[1:], strict=False))  # each byte once
    phys.write_raw(tmp_path / "m.raw")
    raw = (tmp_path / "m.raw").read_bytes()
    assert raw == want
    assert raw[0x101 * PAGE : 0x101 * PAGE + 16] == bytes(16)  # not the run's bytes: the story's page won
    phys.write_lime(tmp_path / "m.lime")
    flat, ranges = _lime_as_flat((tmp_path / "m.lime").read_bytes())
    assert ranges == RAM
    for start, end in RAM:
        assert flat[start:end] == want[start:end]


def test_untouched_ram_is_a_hole_of_the_file(tmp_path: Path) -> None:
    """The 4 MiB image holds 6 pages of data: the rest is holes, in raw and in LiME, and reads back as zeros (the
    previous test). A dense copy of the same bytes, as a writer that wrote every zero would make, has none."""
    phys, _ = _memory()
    phys.write_raw(tmp_path / "m.raw")
    phys.write_lime(tmp_path / "m.lime")
    for name in ("m.raw", "m.lime"):
        assert hole_bytes(tmp_path / name) >= (tmp_path / name).stat().st_size - 64 * PAGE, name
    subprocess.run(["cp", "--sparse=never", str(tmp_path / "m.raw"), str(tmp_path / "dense")], check=True)
    assert hole_bytes(tmp_path / "dense") == 0


def test_a_short_pwritev_is_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel may write fewer bytes than asked (a signal, a full quota): the rest is written, not lost."""
    phys, want = _memory()
    real = os.pwritev
    calls = []

    def short(fd: int, buffers: list[memoryview], offset: int) -> int:
        calls.append(offset)
        return real(fd, [bytes(buffers[0][:1000])], offset)  # at most 1000 bytes of the first buffer

    monkeypatch.setattr(physmem.os, "pwritev", short)
    phys.write_raw(tmp_path / "m.raw")
    assert (tmp_path / "m.raw").read_bytes() == want
    assert len(calls) > 4 * PAGE // 1000  # short writes did happen, several per span


def test_a_file_system_that_takes_nothing_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``pwritev`` writing nothing, again and again, is an error naming the file, not an endless loop."""
    phys, _ = _memory()
    monkeypatch.setattr(physmem.os, "pwritev", lambda fd, buffers, offset: 0)
    with pytest.raises(EvidenceError, match="took no more bytes") as err:
        phys.write_raw(tmp_path / "m.raw")
    assert err.value.where == str(tmp_path / "m.raw")
