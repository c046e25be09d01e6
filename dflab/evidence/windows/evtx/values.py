"""Typed substitution values: what a record fills into its template's holes, encoded as Windows encodes them.

An EVTX template holds the shape of an event; every value that differs between two events of that shape (a
time, a user's SID, a command line) travels in the record's substitution array as (size, type, bytes). Parsers
render a value from its type code alone, so each class here is one of the Windows ``EVT_VARIANT_TYPE`` codes
with its exact byte layout ([MS-EVEN6] BinXml value types).
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import datetime

from dflab.errors import DflabError
from dflab.evidence.windows.wintypes import filetime, sid_bytes

# Value type codes (BinXml value types, as [MS-EVEN6] and libevtx number them).
NULL = 0x00
STRING = 0x01
UINT8 = 0x04
UINT16 = 0x06
INT32 = 0x07
UINT32 = 0x08
UINT64 = 0x0A
BINARY = 0x0E
GUID_TYPE = 0x0F
SIZE_T = 0x10
FILETIME_TYPE = 0x11
SID_TYPE = 0x13
HEX_INT32 = 0x14
HEX_INT64 = 0x15
BINXML = 0x21
STRING_ARRAY = 0x81  # the array flag (0x80) on String: classic EventLog messages' insertion strings

@dataclass(frozen=True)
class Value:
    """One substitution value: a type code and the bytes of its payload."""

    type: int
    data: bytes


def null() -> Value:
    """An absent value (Windows writes size 0, type Null: an unset Qualifiers or RelatedActivityID)."""
    return Value(NULL, b"")


def string(text: str, *, terminated: bool = False) -> Value:
    """UTF-16LE text; ``terminated`` keeps the trailing NUL that some providers (LSA's audit events) write."""
    return Value(STRING, (text + ("\0" if terminated else "")).encode("utf-16-le"))


def _unsigned(code: int, width: int, number: int) -> Value:
    if not 0 <= number < 1 << (8 * width):
        raise DflabError(f"value {number} does not fit {8 * width} unsigned bits", "event value")
    return Value(code, number.to_bytes(width, "little"))


def uint8(number: int) -> Value:
    return _unsigned(UINT8, 1, number)


def uint16(number: int) -> Value:
    return _unsigned(UINT16, 2, number)


def uint32(number: int) -> Value:
    return _unsigned(UINT32, 4, number)


def uint64(number: int) -> Value:
    return _unsigned(UINT64, 8, number)


def hex_int32(number: int) -> Value:
    """A 32-bit number that parsers show as ``0x…`` (NTSTATUS codes)."""
    return _unsigned(HEX_INT32, 4, number)


def hex_int64(number: int) -> Value:
    """A 64-bit number that parsers show as ``0x…`` (logon ids, process ids in audit events, keywords)."""
    return _unsigned(HEX_INT64, 8, number)


def int32(number: int) -> Value:
    if not -(1 << 31) <= number < 1 << 31:
        raise DflabError(f"value {number} does not fit 32 signed bits", "event value")
    return Value(INT32, struct.pack("<i", number))


def filetime_value(moment: datetime) -> Value:
    return Value(FILETIME_TYPE, struct.pack("<Q", filetime(moment)))


def sid(text: str) -> Value:
    return Value(SID_TYPE, sid_bytes(text))


def guid(value: uuid.UUID | str) -> Value:
    """A GUID in Windows' mixed-endian layout (``uuid.bytes_le``)."""
    return Value(GUID_TYPE, uuid.UUID(str(value)).bytes_le)


def binary(data: bytes) -> Value:
    return Value(BINARY, bytes(data))


def string_array(texts: tuple[str, ...]) -> Value:
    """UTF-16LE strings, each NUL-terminated, one after the other (the classic ``<Data>`` of 6009, 6013)."""
    return Value(STRING_ARRAY, b"".join((text + "\0").encode("utf-16-le") for text in texts))
