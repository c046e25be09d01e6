"""Identify content by its signature bytes ("magic numbers"), never by its file name.

Renaming ``holiday.jpg`` to ``notes.dat`` hides it from anyone searching by
extension, but the first bytes still say JPEG.  :func:`file_type` reads those
signatures; :func:`extension_lies` compares the verdict with the name;
:func:`path_type` types a file on disk without reading all of it.

Most formats sign their first bytes.  A *fixed* VHD does not: it is the raw
disk followed by a 512-byte footer starting ``conectix``, so its first bytes
are whatever the disk starts with.  That footer is checked first, because the
container (the VHD) is what an examiner needs to know to open the file.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

__all__ = ["EXTENSIONS", "extension_lies", "file_type", "path_type"]

HEAD_BYTES = 4096  # enough for every leading signature and the text heuristic
VHD_FOOTER = b"conectix"
VHD_FOOTER_SIZE = 512  # Virtual PC before 2004 wrote 511 bytes; both are checked

# (offset, signature, type).  Order matters: longer/more specific signatures first.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    # Disk image containers: what to open a file *with* before any file system is read.
    (0, b"conectix", "vhd"),  # a dynamic or differencing VHD starts with a copy of its footer
    (0, b"vhdxfile", "vhdx"),
    (0, b"KDMV", "vmdk"),  # sparse / stream-optimised extent
    (0, b"COWD", "vmdk"),  # ESX sparse extent
    (0, b"# Disk DescriptorFile", "vmdk"),  # the text descriptor of a flat or split VMDK
    (0, b"QFI\xfb\x00\x00\x00\x01", "qcow"),
    (0, b"QFI\xfb", "qcow2"),  # versions 2 and 3
    (0, b"EVF2\x0d\x0a\x81\x00", "ewf2"),  # Ex01
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"%PDF-", "pdf"),
    (0, b"PK\x03\x04", "zip"),
    (0, b"PK\x05\x06", "zip"),
    (0, b"\x1f\x8b", "gzip"),
    (0, b"BZh", "bzip2"),
    (0, b"\xfd7zXZ\x00", "xz"),
    (0, b"7z\xbc\xaf\x27\x1c", "7z"),
    (0, b"Rar!\x1a\x07", "rar"),
    (0, b"\x7fELF", "elf"),
    (0, b"MZ", "pe"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
    (0, b"SQLite format 3\x00", "sqlite"),
    (0, b"\xd4\xc3\xb2\xa1", "pcap"),
    (0, b"\xa1\xb2\xc3\xd4", "pcap"),
    (0, b"\x4d\x3c\xb2\xa1", "pcap"),
    (0, b"\x0a\x0d\x0d\x0a", "pcapng"),
    (0, b"EVF\x09\x0d\x0a\xff\x00", "ewf"),
    (0, b"EMiL", "lime"),
    (0, b"{\\rtf", "rtf"),
    (0, b"BM", "bmp"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
    (257, b"ustar", "tar"),
)

EXTENSIONS: dict[str, frozenset[str]] = {
    "jpeg": frozenset({".jpg", ".jpeg", ".jpe", ".jfif"}),
    "png": frozenset({".png"}),
    "gif": frozenset({".gif"}),
    "pdf": frozenset({".pdf"}),
    "zip": frozenset({".zip", ".docx", ".xlsx", ".pptx", ".jar", ".apk", ".odt", ".ods", ".epub"}),
    "gzip": frozenset({".gz", ".tgz"}),
    "bzip2": frozenset({".bz2", ".tbz"}),
    "xz": frozenset({".xz", ".txz"}),
    "7z": frozenset({".7z"}),
    "rar": frozenset({".rar"}),
    "elf": frozenset({"", ".so", ".elf", ".bin", ".o"}),
    "pe": frozenset({".exe", ".dll", ".sys", ".scr", ".ocx", ".cpl"}),
    "ole": frozenset({".doc", ".xls", ".ppt", ".msg", ".msi"}),
    "sqlite": frozenset({".sqlite", ".db", ".sqlite3"}),
    "pcap": frozenset({".pcap", ".cap"}),
    "pcapng": frozenset({".pcapng"}),
    "ewf": frozenset({".e01"}),
    "lime": frozenset({".lime", ".mem"}),
    "rtf": frozenset({".rtf"}),
    "bmp": frozenset({".bmp"}),
    "tiff": frozenset({".tif", ".tiff"}),
    "tar": frozenset({".tar"}),
    "vhd": frozenset({".vhd"}),
    "vhdx": frozenset({".vhdx"}),
    "vmdk": frozenset({".vmdk"}),
    "qcow": frozenset({".qcow", ".img"}),
    "qcow2": frozenset({".qcow2", ".qcow", ".img"}),
    "ewf2": frozenset({f".ex{n:02d}" for n in range(1, 100)}),
}
# Every segment of a split E01 (.E01, .E02 ...) carries the EVF signature.
EXTENSIONS["ewf"] = frozenset({f".e{n:02d}" for n in range(1, 100)})


def file_type(data: bytes) -> str:
    """Name the format of ``data`` from its leading bytes.

    Returns a short lower-case name (``"jpeg"``, ``"png"``, ``"zip"``,
    ``"pdf"``, ``"elf"``, ``"gzip"``, ``"pe"``, ``"ole"`` for old Office
    files, ...), ``"text"`` for printable text, ``"empty"`` for no bytes and
    ``"data"`` when nothing matches.  Office 2007+ documents are ZIP
    archives, so they report ``"zip"``.

    Disk image containers are named too: ``"ewf"`` (E01 and its segments),
    ``"ewf2"`` (Ex01), ``"vhd"``, ``"vhdx"``, ``"vmdk"``, ``"qcow"``,
    ``"qcow2"``.  A fixed VHD is recognised by its footer, so pass the whole
    file (or use :func:`path_type`).

    Note that a JPEG needs ``FF D8 FF``: two bytes ``FF D8`` followed by
    random data is not a JPEG (DFTT #8 plants exactly that trap).
    """
    return _classify(data[:HEAD_BYTES], data[-VHD_FOOTER_SIZE:])


def path_type(path: str | os.PathLike[str]) -> str:
    """:func:`file_type` of a file on disk, reading only its first 4 KiB and its last 512 bytes.

    An unreadable file raises :class:`OSError` (the caller knows what the file
    is meant to be, and says so).
    """
    with Path(path).open("rb") as fh:
        head = fh.read(HEAD_BYTES)
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - VHD_FOOTER_SIZE))
        tail = fh.read(VHD_FOOTER_SIZE)
    return _classify(head, tail)


def _classify(head: bytes, tail: bytes) -> str:
    if not head:
        return "empty"
    if tail.startswith(VHD_FOOTER) or tail[1:].startswith(VHD_FOOTER):
        return "vhd"
    for offset, signature, name in _SIGNATURES:
        if head[offset:offset + len(signature)] == signature:
            return name
    if _looks_like_text(head):
        return "text"
    return "data"


def extension_lies(name: str, data: bytes) -> bool:
    """True when the content is a known format whose usual extensions do not include ``name``'s.

    ``extension_lies("file2.dat", jpeg_bytes)`` is True (a hidden picture);
    ``extension_lies("file1.jpg", jpeg_bytes)`` is False.  Unknown content
    (``"data"``/``"text"``/``"empty"``) never counts as a lie: we cannot tell.
    """
    kind = file_type(data)
    if kind not in EXTENSIONS:
        return False
    suffix = PurePosixPath(name.split(":", 1)[0]).suffix.lower()
    return suffix not in EXTENSIONS[kind]


def _looks_like_text(sample: bytes) -> bool:
    text = sample.decode("utf-8", "replace")
    printable = sum((ch.isprintable() and ch != "\ufffd") or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * len(text)
