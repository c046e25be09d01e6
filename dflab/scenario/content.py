"""Deterministic file contents: the bytes of documents, binaries and archives in a case.

Each generator is a pure function of its inputs and an RNG stream, and uses
only byte formats we write ourselves (stored ZIP, POSIX tar, gzip with stored
deflate blocks, xz with uncompressed LZMA2 chunks, uncompressed-deflate PNG,
plain PDF), never a compressor whose
output could change between library versions, so evidence stays
byte-identical on any machine.
"""

from __future__ import annotations

import io
import random
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime

# The workstation's traces (logs, login records, the Firefox profile, documents made by their libraries): kinds
# that read the case's story rather than one RNG stream, dispatched to dflab.scenario.traces.
from dflab.scenario.traces.kinds import KINDS as TRACE_KINDS  # noqa: F401 - the resolver's dispatch reads these
from dflab.scenario.traces.kinds import make as trace  # noqa: F401

WORDS = (
    "account audit balance board budget client contract cost customer data deadline draft estimate "
    "finance forecast invoice ledger margin meeting memo order payment plan policy price profit "
    "project quarter receipt record report revenue review risk sales schedule statement strategy "
    "supplier target tax team total transfer travel update vendor quarterly annual internal "
    "confidential summary north south region branch office approve pending final revised"
).split()


def text(r: random.Random, size: int, title: str = "") -> bytes:
    """Plain English-looking text of exactly ``size`` bytes, in lines and paragraphs."""
    out: list[str] = [title + "\n\n"] if title else []
    length = sum(len(s) for s in out)
    while length < size:
        words = [r.choice(WORDS) for _ in range(r.randint(6, 14))]
        line = " ".join(words).capitalize() + (".\n\n" if r.random() < 0.2 else ".\n")
        out.append(line)
        length += len(line)
    return "".join(out).encode()[:size]


def elf(r: random.Random, size: int, strings: Iterable[str] = ()) -> bytes:
    """A small ELF64 x86-64 executable: valid headers, a PT_LOAD segment, code-like bytes and strings.

    It is not meant to run (dflab never executes evidence); it must look like
    what it is to ``file``, to magic-byte checks and to ``strings``.
    """
    base = 0x400000
    ehdr_size, phdr_size = 64, 56
    blob = b"".join(s.encode() + b"\0" for s in strings)
    body_len = max(size - ehdr_size - phdr_size - len(blob), 16)
    code = random_bytes(r, body_len)
    total = ehdr_size + phdr_size + len(code) + len(blob)
    entry = base + ehdr_size + phdr_size
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, entry, ehdr_size, 0, 0, ehdr_size, phdr_size,
                               1, 64, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, total, total, 0x1000)
    return ehdr + phdr + code + blob


def zip_stored(members: Iterable[tuple[str, bytes, int]]) -> bytes:
    """A ZIP archive (stored, no compression) of ``(name, data, mtime)`` members, in the given order."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data, mtime in members:
            t = datetime.fromtimestamp(max(mtime, 315532800), tz=UTC)
            info = zipfile.ZipInfo(name, date_time=(t.year, t.month, t.day, t.hour, t.minute, t.second))
            info.create_system = 3  # Unix, whatever machine builds it
            info.external_attr = 0o100644 << 16
            z.writestr(info, data)
    return buf.getvalue()


def tar_one(name: str, data: bytes, mtime: int) -> bytes:
    """A POSIX (ustar) tar archive holding one regular file, as ``tar cf`` writes it (padded to 10 KiB records)."""
    buf = io.BytesIO()
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.type = len(data), max(mtime, 0), 0o644, tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_stored(name: str, data: bytes, mtime: int) -> bytes:
    """A gzip stream (RFC 1952) of ``data`` in stored deflate blocks: valid for ``gzip -d``, and its bytes depend
    on nothing but the input (no compressor version)."""
    header = b"\x1f\x8b\x08\x08" + struct.pack("<I", max(mtime, 0) & 0xFFFFFFFF) + b"\x00\x03"
    header += name.encode("latin-1", "replace") + b"\x00"  # FNAME: ISO 8859-1, NUL-terminated
    blocks = bytearray()
    chunks = [data[i:i + 0xFFFF] for i in range(0, len(data), 0xFFFF)] or [b""]
    for k, chunk in enumerate(chunks):
        blocks += struct.pack("<BHH", 1 if k == len(chunks) - 1 else 0, len(chunk), len(chunk) ^ 0xFFFF) + chunk
    return header + bytes(blocks) + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def xz_stored(data: bytes) -> bytes:
    """An xz stream (one LZMA2 block of uncompressed chunks, CRC32 checks): valid for ``xz -d`` and ``lzma``, and
    its bytes depend on nothing but the input (no compressor version)."""

    def varint(n: int) -> bytes:
        out = bytearray()
        while n >= 0x80:
            out.append(n & 0x7F | 0x80)
            n >>= 7
        return bytes(out + bytes([n]))

    def pad4(b: bytes) -> bytes:
        return b + bytes(-len(b) % 4)

    flags = b"\x00\x01"  # check type 1: CRC32
    header = b"\xfd7zXZ\x00" + flags + struct.pack("<I", zlib.crc32(flags))
    # Block header: one filter (LZMA2, properties: a 4 KiB dictionary, which uncompressed chunks never use).
    fields = b"\x00" + b"\x21\x01\x00"  # block flags (one filter, no sizes), LZMA2 filter id, 1 property byte
    size = -(-(1 + len(fields)) // 4) * 4 + 4  # size byte + fields, padded to 4, + CRC32
    block_header = (bytes([size // 4 - 1]) + fields).ljust(size - 4, b"\x00")
    block_header += struct.pack("<I", zlib.crc32(block_header))
    chunks = bytearray()
    for k in range(0, len(data), 0x10000):
        chunk = data[k:k + 0x10000]
        chunks += struct.pack(">BH", 1 if k == 0 else 2, len(chunk) - 1) + chunk  # 1: reset dictionary, 2: keep
    chunks += b"\x00"  # end of LZMA2 data
    unpadded = len(block_header) + len(chunks) + 4
    block = block_header + pad4(bytes(chunks)) + struct.pack("<I", zlib.crc32(data))
    index = pad4(b"\x00" + varint(1) + varint(unpadded) + varint(len(data)))
    index += struct.pack("<I", zlib.crc32(index))
    backward = struct.pack("<I", len(index) // 4 - 1) + flags
    footer = struct.pack("<I", zlib.crc32(backward)) + backward + b"YZ"
    return header + block + index + footer


def png(r: random.Random, width: int = 32, height: int = 24) -> bytes:
    """A valid RGB PNG with seeded pixels; its IDAT uses stored (level 0) deflate blocks."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    base = [r.randrange(256) for _ in range(3)]
    rows = b"".join(
        b"\0" + bytes((base[c] + x * 3 + y * 5) % 256 for x in range(width) for c in range(3))
        for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 0)) + chunk(b"IEND", b"")


def pdf(lines: Iterable[str]) -> bytes:
    """A one-page PDF 1.4 showing ``lines`` (uncompressed content stream, exact xref offsets)."""
    ops = ["BT /F1 11 Tf 72 760 Td 14 TL"]
    for line in lines:
        safe = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({safe}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1", "replace")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def random_bytes(r: random.Random, size: int) -> bytes:
    return r.getrandbits(8 * size).to_bytes(size, "little") if size else b""


def bash_history(entries: Iterable[tuple[int, str]]) -> bytes:
    """~/.bash_history as bash writes it with HISTTIMEFORMAT set: ``#epoch`` before each command."""
    return "".join(f"#{t}\n{cmd}\n" for t, cmd in entries).encode()
