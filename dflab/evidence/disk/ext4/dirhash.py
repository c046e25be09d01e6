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
    a, b, c, d = buf

    def f(x: int, y: int, z: int) -> int:
        return z ^ (x & (y ^ z))

    def g(x: int, y: int, z: int) -> int:
        return ((x & y) + ((x ^ y) & z)) & _MASK

    def h(x: int, y: int, z: int) -> int:
        return x ^ y ^ z

    for fn, k, order, shifts in ((f, 0, (0, 1, 2, 3, 4, 5, 6, 7), (3, 7, 11, 19)),
                                 (g, _K2, (1, 3, 5, 7, 0, 2, 4, 6), (3, 5, 9, 13)),
                                 (h, _K3, (3, 7, 2, 6, 1, 5, 0, 4), (3, 9, 11, 15))):
        for step, index in enumerate(order):
            s = shifts[step % 4]
            x = (data[index] + k) & _MASK
            if step % 4 == 0:
                a = _rol((a + fn(b, c, d) + x) & _MASK, s)
            elif step % 4 == 1:
                d = _rol((d + fn(a, b, c) + x) & _MASK, s)
            elif step % 4 == 2:
                c = _rol((c + fn(d, a, b) + x) & _MASK, s)
            else:
                b = _rol((b + fn(c, d, a) + x) & _MASK, s)
    buf[0] = (buf[0] + a) & _MASK
    buf[1] = (buf[1] + b) & _MASK
    buf[2] = (buf[2] + c) & _MASK
    buf[3] = (buf[3] + d) & _MASK


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
