"""Identify content by its first bytes ("magic numbers"), never by its file name.

Renaming ``holiday.jpg`` to ``notes.dat`` hides it from anyone searching by
extension, but the first bytes still say JPEG.  :func:`file_type` reads those
signatures; :func:`extension_lies` compares the verdict with the name.
"""

from __future__ import annotations

from pathlib import PurePosixPath

__all__ = ["EXTENSIONS", "extension_lies", "file_type"]

# (offset, signature, type).  Order matters: longer/more specific signatures first.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
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
}


def file_type(data: bytes) -> str:
    """Name the format of ``data`` from its leading bytes.

    Returns a short lower-case name (``"jpeg"``, ``"png"``, ``"zip"``,
    ``"pdf"``, ``"elf"``, ``"gzip"``, ``"pe"``, ``"ole"`` for old Office
    files, ...), ``"text"`` for printable text, ``"empty"`` for no bytes and
    ``"data"`` when nothing matches.  Office 2007+ documents are ZIP
    archives, so they report ``"zip"``.

    Note that a JPEG needs ``FF D8 FF``: two bytes ``FF D8`` followed by
    random data is not a JPEG (DFTT #8 plants exactly that trap).
    """
    if not data:
        return "empty"
    for offset, signature, name in _SIGNATURES:
        if data[offset:offset + len(signature)] == signature:
            return name
    if _looks_like_text(data[:4096]):
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
