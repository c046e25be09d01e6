"""$AttrDef: the attribute types a volume knows, as Windows 8 and later format it (15 definitions, 2560 bytes).

Windows 8 dropped $PROPERTY_SET (0xF0); each definition is 0xA0 bytes: a 64-character name, the type, display
rule, collation, flags and the value's minimum and maximum size; a zeroed definition ends the table. Windows leaves
every collation 0, $FILE_NAME's included (indexes carry their own); ``tests/test_windows_ntfs.py`` compares the
table with a real volume's byte for byte.
"""

from __future__ import annotations

import struct

_INDEXABLE = 0x02
_RESIDENT = 0x40
_ALWAYS_LOG = 0x80
_UNLIMITED = -1

_DEFINITIONS = (
    ("$STANDARD_INFORMATION", 0x10, 0, _RESIDENT, 0x30, 0x48),
    ("$ATTRIBUTE_LIST", 0x20, 0, _ALWAYS_LOG, 0, _UNLIMITED),
    ("$FILE_NAME", 0x30, 0, _INDEXABLE | _RESIDENT, 0x44, 0x242),
    ("$OBJECT_ID", 0x40, 0, _RESIDENT, 0, 0x100),
    ("$SECURITY_DESCRIPTOR", 0x50, 0, _ALWAYS_LOG, 0, _UNLIMITED),
    ("$VOLUME_NAME", 0x60, 0, _RESIDENT, 2, 0x100),
    ("$VOLUME_INFORMATION", 0x70, 0, _RESIDENT, 0xC, 0xC),
    ("$DATA", 0x80, 0, 0, 0, _UNLIMITED),
    ("$INDEX_ROOT", 0x90, 0, _RESIDENT, 0, _UNLIMITED),
    ("$INDEX_ALLOCATION", 0xA0, 0, _ALWAYS_LOG, 0, _UNLIMITED),
    ("$BITMAP", 0xB0, 0, _ALWAYS_LOG, 0, _UNLIMITED),
    ("$REPARSE_POINT", 0xC0, 0, _ALWAYS_LOG, 0, 0x4000),
    ("$EA_INFORMATION", 0xD0, 0, _RESIDENT, 8, 8),
    ("$EA", 0xE0, 0, 0, 0, 0x10000),
    ("$LOGGED_UTILITY_STREAM", 0x100, 0, _ALWAYS_LOG, 0, 0x10000),
)
SIZE = 0xA00


def attrdef_bytes() -> bytes:
    out = bytearray(SIZE)
    for i, (name, type_, collation, flags, minimum, maximum) in enumerate(_DEFINITIONS):
        encoded = name.encode("utf-16-le")
        out[i * 0xA0:i * 0xA0 + len(encoded)] = encoded
        struct.pack_into("<IIIIqq", out, i * 0xA0 + 0x80, type_, 0, collation, flags, minimum, maximum)
    return bytes(out)
