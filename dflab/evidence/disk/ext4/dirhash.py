"""ext4's directory name hash (half MD4, signed chars), which orders the entries of an htree directory.

The kernel finds a name in an indexed directory by its hash, and e2fsck checks that every
leaf holds only names whose hashes fall in its index range, so the hash must be the kernel's
bit for bit: ``str2hashbuf_signed`` + ``half_md4_transform`` from fs/ext4/hash.c, seeded with
the superblock's ``s_hash_seed``.  mke2fs on x86 sets ``signed_directory_hash`` (plain
``char`` is signed there), so names with bytes >= 0x80 hash as negative numbers.
"""

from __future__ import annotations

import struct

_MASK = 0xFFFFFFFF
_K2, _K3 = 0o13240474631, 0o15666365641
_DEFAULT_SEED = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476)
EOF_32BIT = 0x7FFFFFFF  # a hash equal to this << 1 is reserved for "end of directory"


def _rol(x: int, s: int) -> int:
    return ((x << s) | (x >> (32 - s))) & _MASK


def _half_md4(buf: list[int], data: list[int]) -> None:
    """half_md4_transform, its 24 steps written out (this runs once per name of every directory)."""
    a, b, c, d = buf
    w0, w1, w2, w3, w4, w5, w6, w7 = data
    M, K2, K3 = _MASK, _K2, _K3  # noqa: N806 - the kernel's names
    t = (a + (d ^ (b & (c ^ d))) + w0) & M
    a = ((t << 3) | (t >> 29)) & M
    t = (d + (c ^ (a & (b ^ c))) + w1) & M
    d = ((t << 7) | (t >> 25)) & M
    t = (c + (b ^ (d & (a ^ b))) + w2) & M
    c = ((t << 11) | (t >> 21)) & M
    t = (b + (a ^ (c & (d ^ a))) + w3) & M
    b = ((t << 19) | (t >> 13)) & M
    t = (a + (d ^ (b & (c ^ d))) + w4) & M
    a = ((t << 3) | (t >> 29)) & M
    t = (d + (c ^ (a & (b ^ c))) + w5) & M
    d = ((t << 7) | (t >> 25)) & M
    t = (c + (b ^ (d & (a ^ b))) + w6) & M
    c = ((t << 11) | (t >> 21)) & M
    t = (b + (a ^ (c & (d ^ a))) + w7) & M
    b = ((t << 19) | (t >> 13)) & M
    t = (a + (((b & c) + ((b ^ c) & d)) & M) + ((w1 + K2) & M)) & M
    a = ((t << 3) | (t >> 29)) & M
    t = (d + (((a & b) + ((a ^ b) & c)) & M) + ((w3 + K2) & M)) & M
    d = ((t << 5) | (t >> 27)) & M
    t = (c + (((d & a) + ((d ^ a) & b)) & M) + ((w5 + K2) & M)) & M
    c = ((t << 9) | (t >> 23)) & M
    t = (b + (((c & d) + ((c ^ d) & a)) & M) + ((w7 + K2) & M)) & M
    b = ((t << 13) | (t >> 19)) & M
    t = (a + (((b & c) + ((b ^ c) & d)) & M) + ((w0 + K2) & M)) & M
    a = ((t << 3) | (t >> 29)) & M
    t = (d + (((a & b) + ((a ^ b) & c)) & M) + ((w2 + K2) & M)) & M
    d = ((t << 5) | (t >> 27)) & M
    t = (c + (((d & a) + ((d ^ a) & b)) & M) + ((w4 + K2) & M)) & M
    c = ((t << 9) | (t >> 23)) & M
    t = (b + (((c & d) + ((c ^ d) & a)) & M) + ((w6 + K2) & M)) & M
    b = ((t << 13) | (t >> 19)) & M
    t = (a + (b ^ c ^ d) + ((w3 + K3) & M)) & M
    a = ((t << 3) | (t >> 29)) & M
    t = (d + (a ^ b ^ c) + ((w7 + K3) & M)) & M
    d = ((t << 9) | (t >> 23)) & M
    t = (c + (d ^ a ^ b) + ((w2 + K3) & M)) & M
    c = ((t << 11) | (t >> 21)) & M
    t = (b + (c ^ d ^ a) + ((w6 + K3) & M)) & M
    b = ((t << 15) | (t >> 17)) & M
    t = (a + (b ^ c ^ d) + ((w1 + K3) & M)) & M
    a = ((t << 3) | (t >> 29)) & M
    t = (d + (a ^ b ^ c) + ((w5 + K3) & M)) & M
    d = ((t << 9) | (t >> 23)) & M
    t = (c + (d ^ a ^ b) + ((w0 + K3) & M)) & M
    c = ((t << 11) | (t >> 21)) & M
    t = (b + (c ^ d ^ a) + ((w4 + K3) & M)) & M
    b = ((t << 15) | (t >> 17)) & M
    buf[0] = (buf[0] + a) & M
    buf[1] = (buf[1] + b) & M
    buf[2] = (buf[2] + c) & M
    buf[3] = (buf[3] + d) & M


def _str2hashbuf(msg: bytes, num: int) -> list[int]:
    """str2hashbuf_signed: pack up to ``4 * num`` name bytes (as signed chars) into ``num`` words."""
    length = len(msg)
    pad = (length | (length << 8)) & _MASK
    pad = (pad | (pad << 16)) & _MASK
    out: list[int] = []
    val = pad
    for i, byte in enumerate(msg[:num * 4]):
        val = ((byte - 256 if byte >= 128 else byte) + (val << 8)) & _MASK
        if i % 4 == 3:
            out.append(val)
            val = pad
    if len(out) < num:
        out.append(val)
    while len(out) < num:
        out.append(pad)
    return out


def seed_words(seed: bytes) -> tuple[int, int, int, int]:
    """The superblock's 16-byte ``s_hash_seed`` as the four words the hash starts from."""
    words = struct.unpack("<4I", seed)
    return _DEFAULT_SEED if not any(words) else words


def name_hash(name: bytes, seed: tuple[int, int, int, int]) -> tuple[int, int]:
    """(major, minor) hash of ``name`` as ext4fs_dirhash returns it (major's lowest bit cleared)."""
    buf = list(seed)
    rest = name
    while True:
        _half_md4(buf, _str2hashbuf(rest, 8))
        rest = rest[32:]
        if not rest:
            break
    major = buf[1] & ~1 & _MASK
    if major == EOF_32BIT << 1:
        major = (EOF_32BIT - 1) << 1
    return major, buf[2]
