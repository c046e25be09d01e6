"""LZXPRESS Huffman (MS-XCA 2.1) encoding and the MAM container Windows 10 stores Prefetch files in.

The encoder emits literals only: every 64 KiB chunk gets a canonical Huffman code built from its own byte
frequencies (lengths capped at 15 bits, as the format requires), written as the 256-byte table of 4-bit lengths
followed by the bit stream in 16-bit little-endian words, most significant bit first. Leaving out LZ77 matches
costs ratio, not validity: any MS-XCA decoder (ntdll's, libfwnt's, dissect's) reads it, and the output depends on
the input alone.

A decoder reads two words ahead and refills a word whenever fewer than 16 bits remain, so the next chunk's table
starts where that read-ahead stops, not where the last code ends: each chunk is padded to exactly that many words.
The last chunk ends with the end-of-stream symbol 256. Decoders bounded by the MAM header's size (ntdll's, libfwnt's)
stop before it; one that stops at the end of its input or of a 64 KiB chunk instead (dissect's, which reads 256 as
a 3-byte match and cuts its output at the size) must find the input ending exactly where its read-ahead does: so
symbol 256 is repeated until one of them pulls in the last word or fills the chunk (at most 17 times), and data that
ends on a chunk boundary is followed by an empty chunk holding only the end symbol. (A last chunk one or two bytes
short of 64 KiB can still leave such a reader a symbol short; size-bounded readers are unaffected.)
"""

from __future__ import annotations

import heapq
import struct
from collections import Counter

CHUNK = 65_536
MAX_CODE_LENGTH = 15
END_OF_STREAM = 256
MAM_SIGNATURE = b"MAM\x04"  # 'MAM' + compression format 4 (COMPRESSION_FORMAT_XPRESS_HUFF), no CRC


def _huffman_lengths(counts: Counter[int]) -> dict[int, int]:
    """Code lengths for the symbols in ``counts``; frequencies are halved until no code exceeds 15 bits."""
    freq = dict(counts)
    if len(freq) == 1:  # a one-symbol code is not a prefix code; pair it with an unused symbol
        (only,) = freq
        freq[(only + 1) % 512] = 1
    while True:
        heap: list[tuple[int, int, list[int]]] = [(f, s, [s]) for s, f in sorted(freq.items())]
        heapq.heapify(heap)
        depth = dict.fromkeys(freq, 0)
        while len(heap) > 1:
            f1, k1, a = heapq.heappop(heap)
            f2, k2, b = heapq.heappop(heap)
            for s in a + b:
                depth[s] += 1
            heapq.heappush(heap, (f1 + f2, min(k1, k2), a + b))
        if max(depth.values()) <= MAX_CODE_LENGTH:
            return depth
        freq = {s: max(1, f // 2) for s, f in freq.items()}


def _canonical(lengths: dict[int, int]) -> dict[int, tuple[int, int]]:
    """Canonical codes (MS-XCA: by length, then symbol value), as ``symbol -> (code, length)``."""
    codes: dict[int, tuple[int, int]] = {}
    code, previous = 0, 0
    for symbol, length in sorted(lengths.items(), key=lambda item: (item[1], item[0])):
        code <<= length - previous
        codes[symbol] = (code, length)
        code += 1
        previous = length
    return codes


def _read_ahead(bits: int) -> int:
    """Words a decoder has read once it has consumed ``bits``: two at the start, one more each time fewer than 16
    bits are left."""
    return 2 + max(0, -(-(bits - 16) // 16))


def _chunk(data: bytes, last: bool) -> bytes:
    counts = Counter(data)
    if last:
        counts[END_OF_STREAM] = 1
    lengths = _huffman_lengths(counts)
    table = bytearray(256)
    for symbol, length in lengths.items():
        table[symbol // 2] |= length << (4 * (symbol % 2))
    codes = _canonical(lengths)
    words = bytearray()
    acc, held, total = 0, 0, 0
    ending = [END_OF_STREAM]
    if last:
        bits = sum(codes[symbol][1] for symbol in data)
        eof = codes[END_OF_STREAM][1]
        while len(data) + 3 * len(ending) < CHUNK and _read_ahead(bits + eof * len(ending)) == _read_ahead(
                bits + eof * (len(ending) - 1)):
            ending.append(END_OF_STREAM)
    for symbol in (*data, *ending) if last else data:
        code, length = codes[symbol]
        acc = acc << length | code
        held += length
        total += length
        while held >= 16:
            held -= 16
            words += struct.pack("<H", acc >> held & 0xFFFF)
        acc &= (1 << held) - 1
    if held:
        words += struct.pack("<H", acc << (16 - held) & 0xFFFF)
    words += bytes(2 * _read_ahead(total) - len(words))
    return bytes(table) + bytes(words)


def compress(data: bytes) -> bytes:
    """``data`` as an LZXPRESS Huffman stream (one table and bit stream per 64 KiB)."""
    starts = range(0, len(data) - len(data) % CHUNK + 1, CHUNK)  # a whole last chunk is followed by an empty one
    return b"".join(_chunk(data[k:k + CHUNK], k == starts[-1]) for k in starts)


def mam(data: bytes) -> bytes:
    """A Windows 10 compressed Prefetch file: the MAM header (signature, uncompressed size) and the stream."""
    return MAM_SIGNATURE + struct.pack("<I", len(data)) + compress(data)
