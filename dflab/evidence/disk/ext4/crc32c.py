"""CRC32C (Castagnoli) as ext4 and jbd2 use it: no final inversion, the caller passes the running value.

ext4's ``metadata_csum`` and jbd2's ``csum_v3`` checksum every metadata block with
``crc32c_le(seed, data)``; the seed is itself a CRC of the file system (or journal) UUID,
so a checksum is only valid on the file system it was written for.  The standard library
has only CRC32 (a different polynomial).

Two implementations give the same values.  e2fsprogs' own, ``ext2fs_crc32c_le`` of libext2fs (the library
``e2fsck`` and ``debugfs`` run on, which building and checking ext4 images needs on the host anyway), is used
when it loads and agrees with the one below on a few test vectors: an installed system's file system has some
7,000 inodes and 800 directory blocks to checksum, several megabytes a variant, which the Python loop turns
into half a second.  dflab takes no binary dependency for it: without the library, the table-driven loop
below reads eight bytes per step ("slicing by 8") and skips runs of zero bytes in logarithmic time (most
metadata blocks are mostly zeros).  ``DFLAB_PURE_CRC32C=1`` forces the loop (tests compare the two).
"""

from __future__ import annotations

import ctypes
import os
import re
import struct
from collections.abc import Callable
from functools import cache

_POLY = 0x82F63B78  # reflected Castagnoli polynomial


def _tables() -> tuple[tuple[int, ...], ...]:
    first = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        first.append(crc)
    tables = [first]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(c >> 8) ^ first[c & 0xFF] for c in prev])
    return tuple(tuple(t) for t in tables)


_T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7 = _tables()
_ZERO_RUN = 512  # zero runs at least this long are skipped with the shift operator below (shorter ones
# are fed: the operator's 32-step multiply costs as much as feeding 256 bytes)
_ZEROS = bytes(_ZERO_RUN)
_NONZERO = re.compile(rb"[^\x00]")


def _gf_multiply(a: int, b: int) -> int:
    """Product of two CRC values as polynomials modulo the CRC polynomial (reflected bit order)."""
    product = 0
    for _ in range(32):
        if a & 0x80000000:
            product ^= b
        a = (a << 1) & 0xFFFFFFFF
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return product


@cache
def _zeros_operator(n: int) -> int:
    """x^(8n) modulo the polynomial: multiplying a CRC register by it feeds it ``n`` zero bytes."""
    if n == 0:
        return 0x80000000  # the polynomial 1
    if n == 1:
        return 0x00800000  # x^8
    half = _zeros_operator(n // 2)
    square = _gf_multiply(half, half)
    return _gf_multiply(square, 0x00800000) if n % 2 else square


def _feed(crc: int, data: bytes | bytearray | memoryview) -> int:
    n = len(data) & ~7
    if n:
        for (q,) in struct.iter_unpack("<Q", data[:n]):
            x = q ^ crc
            crc = (_T7[x & 0xFF] ^ _T6[(x >> 8) & 0xFF] ^ _T5[(x >> 16) & 0xFF] ^ _T4[(x >> 24) & 0xFF]
                   ^ _T3[(x >> 32) & 0xFF] ^ _T2[(x >> 40) & 0xFF] ^ _T1[(x >> 48) & 0xFF] ^ _T0[x >> 56])
    for b in data[n:]:
        crc = _T0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def python_crc32c(crc: int, data: bytes | bytearray | memoryview) -> int:
    """Feed ``data`` to a CRC32C register holding ``crc``, in Python (the reference, and the fallback)."""
    raw = bytes(data)
    start, length = 0, len(raw)
    if length < _ZERO_RUN:
        return _feed(crc, raw)
    while start < length:
        run = raw.find(_ZEROS, start)
        if run < 0:
            return _feed(crc, raw[start:] if start else raw)
        crc = _feed(crc, raw[start:run])
        nonzero = _NONZERO.search(raw, run + _ZERO_RUN)
        end = nonzero.start() if nonzero else length
        crc = _gf_multiply(crc, _zeros_operator(end - run))
        start = end
    return crc


LIBEXT2FS = "libext2fs.so.2"
# (seed, data): a short, an odd-length, a long and a mostly-zero input, and ext4's seed of all ones
_VECTORS = ((0, b""), (0xFFFFFFFF, b"123456789"), (0x12345678, bytes(range(256)) * 5),
            (0xDEADBEEF, b"\x01" + bytes(4000) + b"\x02"))


def _native() -> Callable[[int, bytes, int], int] | None:
    """e2fsprogs' ``ext2fs_crc32c_le``, or None when it is not there, is not wanted, or disagrees with Python's."""
    if os.environ.get("DFLAB_PURE_CRC32C"):
        return None
    try:
        function = ctypes.CDLL(LIBEXT2FS).ext2fs_crc32c_le
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_uint32
    function.argtypes = (ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t)
    if any(function(seed, data, len(data)) != python_crc32c(seed, data) for seed, data in _VECTORS):
        return None
    return function


_NATIVE = _native()


def crc32c(crc: int, data: bytes | bytearray | memoryview) -> int:
    """Feed ``data`` to a CRC32C register holding ``crc`` (ext4's ``ext2fs_crc32c_le``)."""
    if _NATIVE is None:
        return python_crc32c(crc, data)
    raw = data if isinstance(data, bytes) else bytes(data)
    return _NATIVE(crc, raw, len(raw))


def native() -> bool:
    """Whether checksums come from libext2fs (see the module docstring)."""
    return _NATIVE is not None
