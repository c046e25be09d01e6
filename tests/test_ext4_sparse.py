"""A disk image is written sparse and exact (dflab.evidence.disk.sparse): the bytes are those of writing every piece
in offset order, and no aligned block of zeros takes space on the host."""

from __future__ import annotations

import os
import random
from pathlib import Path

from dflab.evidence.disk.sparse import BLOCK, write_sparse


def _naive(path: Path, size: int, pieces: list[tuple[int, bytes]]) -> None:
    """Every piece written in offset order, zeros included: the bytes write_sparse must give."""
    with open(path, "wb") as fh:
        fh.truncate(size)
        for offset, data in sorted(pieces, key=lambda piece: piece[0]):
            fh.seek(offset)
            fh.write(data)


def _zero_blocks_stored(path: Path) -> int:
    """Aligned all-zero blocks the file's data runs hold (SEEK_DATA/SEEK_HOLE: what takes space)."""
    count, pos = 0, 0
    with open(path, "rb") as fh:
        fd = fh.fileno()
        size = os.fstat(fd).st_size
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            for block in range(start // BLOCK, -(-end // BLOCK)):
                if os.pread(fd, BLOCK, block * BLOCK).count(0) == BLOCK:
                    count += 1
            pos = end
    return count


def _pieces(r: random.Random) -> list[tuple[int, bytes]]:
    pieces = [(0, b"\xaa" * 512), (4096 * 3 + 100, bytes(3 * BLOCK) + b"tail"),  # zeros, then a few bytes
              (4096 * 10, bytes(BLOCK)),  # a block of zeros alone
              (4096 * 20, b"x" * 10 + bytes(2 * BLOCK + 5) + b"y"),  # an unaligned piece, a zero block inside
              (4096 * 30, b"q" * BLOCK + bytes(8))]  # its last block holds only zeros of its own
    at = 4096 * 40
    for _ in range(200):  # files one after the other, each starting on a block
        size = r.randrange(1, 3 * BLOCK)
        data = bytearray(r.randbytes(size))
        if r.random() < 0.3:
            data[: size // 2] = bytes(size // 2)
        pieces.append((at, bytes(data)))
        at += -(-size // BLOCK) * BLOCK
    return pieces


def test_the_bytes_are_those_of_writing_every_piece(tmp_path: Path):
    pieces = _pieces(random.Random(5))
    size = 8 << 20
    write_sparse(tmp_path / "sparse.img", size, pieces)
    _naive(tmp_path / "naive.img", size, pieces)
    assert (tmp_path / "sparse.img").read_bytes() == (tmp_path / "naive.img").read_bytes()
    assert _zero_blocks_stored(tmp_path / "naive.img") > 0  # the check below sees what a plain write leaves
    assert _zero_blocks_stored(tmp_path / "sparse.img") == 0
    assert (tmp_path / "sparse.img").stat().st_blocks < (tmp_path / "naive.img").stat().st_blocks


def test_a_later_piece_of_zeros_overwrites_an_earlier_one(tmp_path: Path):
    """Zeros are left as holes only where nothing was written: over an earlier piece they are written."""
    pieces = [(0, b"\xff" * (4 * BLOCK)), (BLOCK, bytes(2 * BLOCK)), (BLOCK * 2, b""), (5 * BLOCK, b"z")]
    write_sparse(tmp_path / "sparse.img", 1 << 20, pieces)
    _naive(tmp_path / "naive.img", 1 << 20, pieces)
    data = (tmp_path / "sparse.img").read_bytes()
    assert data == (tmp_path / "naive.img").read_bytes()
    assert data[BLOCK:3 * BLOCK] == bytes(2 * BLOCK) and data[3 * BLOCK:4 * BLOCK] == b"\xff" * BLOCK


def test_an_existing_file_is_replaced(tmp_path: Path):
    path = tmp_path / "disk.img"
    path.write_bytes(b"\x01" * (3 * BLOCK))
    write_sparse(path, 2 * BLOCK, [(10, b"ab")])
    assert path.read_bytes() == bytes(10) + b"ab" + bytes(2 * BLOCK - 12)
