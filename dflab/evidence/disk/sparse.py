"""Write a disk image's pieces into a sparse file: what is zero is never written.

The writers hand back their bytes as pieces ``(offset, bytes)`` over an image whose apparent size is a GiB
or more and which is mostly holes.  Pieces often hold whole blocks of zeros themselves (an inode table block
of unused inodes, the tail of a journal block, a file's zero pages): written, each becomes a real block on
the host and a copy of it costs as much.  Here the image is extended with ``ftruncate`` (a hole), each
piece's all-zero 4 KiB blocks (aligned in the image, the host file system's block) are left as holes, and
the rest is written in as few ``pwrite`` calls as possible: adjacent pieces are joined first (an installed
system's thousands of small files lie one after the other).

A hole reads as zeros only where nothing was written before: a piece that overlaps an earlier one (the
pieces are written in offset order) is written whole, zeros included, so the result is the same bytes as
writing every piece in order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

BLOCK = 4096  # the host file system's block: the unit a hole is made of
RUN = 8 << 20  # bytes joined into one pwrite at most
_ZERO_BLOCK = bytes(BLOCK)


def write_sparse(path: Path, size: int, pieces: Iterable[tuple[int, bytes]]) -> None:
    """Create ``path`` of ``size`` bytes holding ``pieces`` (written in offset order, a later one over an earlier);
    every all-zero aligned block that no earlier piece wrote stays a hole."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        write_pieces(fd, size, pieces)
    finally:
        os.close(fd)


def write_pieces(fd: int, size: int, pieces: Iterable[tuple[int, bytes]]) -> None:
    """:func:`write_sparse` into the empty file open as ``fd`` (a caller's temporary file, renamed when done)."""
    os.ftruncate(fd, size)
    run: list[bytes] = []
    run_at = run_end = 0
    written_to = 0  # the end of the pieces placed so far: below it a hole no longer reads as zeros
    data_end = 0  # the end of the bytes written so far: beyond it the image is still zeros
    for offset, data in sorted(pieces, key=lambda piece: piece[0]):
        parts = [(offset, data)] if offset < written_to else _nonzero(offset, data)
        written_to = max(written_to, offset + len(data))
        for at, part in parts:
            gap = at - run_end
            if run and 0 <= gap < BLOCK and data_end == run_end and run_end - run_at + gap + len(part) <= RUN:
                # the next file starts in the block after this one's last: fill the gap (zeros beyond
                # anything written, in blocks the data occupies anyway) and write both at once
                run += [_ZERO_BLOCK[:gap], part]
            else:
                _flush(fd, run, run_at)
                run, run_at = [part], at
            run_end = at + len(part)
            data_end = max(data_end, run_end)
    _flush(fd, run, run_at)


def _nonzero(offset: int, data: bytes) -> list[tuple[int, bytes]]:
    """``data`` (at ``offset`` in the image) without its all-zero aligned blocks, as (offset, bytes) parts."""
    if len(data) < BLOCK:
        return [] if data == _ZERO_BLOCK[:len(data)] else [(offset, data)]
    view = memoryview(data)
    parts: list[tuple[int, bytes]] = []
    head = -offset % BLOCK  # data before the first aligned block boundary in it
    start = 0 if view[:head] != _ZERO_BLOCK[:head] else head  # where the current part began (within data)
    pos = head
    while pos + BLOCK <= len(data):
        if view[pos:pos + BLOCK] == _ZERO_BLOCK:
            if pos > start:
                parts.append((offset + start, data[start:pos]))
            start = pos + BLOCK
        pos += BLOCK
    tail = view[pos:]  # data in the block after the last whole one: zeros there are left to the hole too
    end = pos if tail == _ZERO_BLOCK[:len(tail)] else len(data)
    if end > start:
        parts.append((offset + start, data[start:end]))
    return parts


def _flush(fd: int, run: list[bytes], at: int) -> None:
    if not run:
        return
    data = run[0] if len(run) == 1 else b"".join(run)
    done = 0
    while done < len(data):
        done += os.pwrite(fd, data[done:] if done else data, at + done)
