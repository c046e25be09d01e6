"""The logical content of a hive: keys with last-written times, class names, security and typed values.

This is what a registry editor shows, with no notion of cells or offsets (``regf.py`` lays it out). Names are
matched as Windows matches them, case-insensitively, while keeping the case they were created with; values keep
their insertion order, as Windows keeps them in a key's value list.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING

from dflab.errors import DflabError
from dflab.evidence.windows.wintypes import filetime

from .security import DEFAULT_DESCRIPTOR

if TYPE_CHECKING:
    from .regf import Layout


class ValueType(IntEnum):
    """The value types of winnt.h that this writer encodes from Python values."""

    NONE = 0
    SZ = 1
    EXPAND_SZ = 2
    BINARY = 3
    DWORD = 4
    MULTI_SZ = 7
    QWORD = 11


MAX_KEY_NAME = 255
MAX_VALUE_NAME = 16383


def upcase(name: str) -> str:
    """Upper-case ``name`` one UTF-16 unit at a time, as ``RtlUpcaseUnicodeChar`` does (never 'ß' → 'SS')."""
    return "".join(u if len(u := c.upper()) == 1 else c for c in name)


def encode_data(kind: int, data: object, where: str) -> bytes:
    """Return the bytes Windows stores for ``data`` of type ``kind``; bytes are taken as already encoded."""
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if kind in (ValueType.SZ, ValueType.EXPAND_SZ) and isinstance(data, str):
        return (data + "\0").encode("utf-16-le")
    if kind == ValueType.MULTI_SZ and isinstance(data, Sequence) and all(isinstance(s, str) for s in data):
        return "".join(s + "\0" for s in data).encode("utf-16-le") + b"\0\0"
    if kind in (ValueType.DWORD, ValueType.QWORD) and isinstance(data, int) and not isinstance(data, bool):
        width = 32 if kind == ValueType.DWORD else 64
        if not -(1 << (width - 1)) <= data < 1 << width:
            raise DflabError(f"{data} does not fit a {width}-bit value", where)
        return struct.pack("<I" if width == 32 else "<Q", data & ((1 << width) - 1))
    raise DflabError(f"cannot store {type(data).__name__} as registry type {kind}; give bytes", where)


@dataclass
class Value:
    """One named value: ``kind`` is any 32-bit type (SAM stores a RID there), ``data`` its stored bytes."""

    name: str
    kind: int
    data: bytes


@dataclass(eq=False)  # identity: a key's fields reach its parent and back, so field-wise equality would recurse
class Key:
    """One key. ``security`` None means the parent's descriptor, as a key created through the API inherits it."""

    name: str
    last_written: int
    class_name: str | None = None
    security: bytes | None = None
    parent: Key | None = field(default=None, repr=False)
    _subkeys: dict[str, Key] = field(default_factory=dict, repr=False)
    _values: dict[str, Value] = field(default_factory=dict, repr=False)

    @property
    def path(self) -> str:
        """The key's path below the root ('' for the root), for messages."""
        parts: list[str] = []
        key: Key | None = self
        while key is not None and key.parent is not None:
            parts.append(key.name)
            key = key.parent
        return "\\".join(reversed(parts))

    def value(self, name: str, kind: int, data: object) -> Key:
        """Set value ``name`` ('' is the default value); returns the key so calls chain."""
        where = f"registry key {self.path or '(root)'}"
        if len(name) > MAX_VALUE_NAME:
            raise DflabError(f"value name of {len(name)} characters is longer than {MAX_VALUE_NAME}", where)
        if not 0 <= kind < 1 << 32:
            raise DflabError(f"value type {kind} is not a 32-bit unsigned number", where)
        self._values[upcase(name)] = Value(name, kind, encode_data(kind, data, f"{where}: value {name!r}"))
        return self

    def subkeys(self) -> list[Key]:
        """Subkeys in the order Windows keeps them: by upper-cased name, compared as UTF-16 code units."""
        return [self._subkeys[k] for k in sorted(self._subkeys, key=lambda n: n.encode("utf-16-be"))]

    def values(self) -> list[Value]:
        """Values in insertion order (Windows appends to a key's value list)."""
        return list(self._values.values())

    def descriptor(self) -> bytes:
        """The security descriptor in effect: this key's own, else the nearest ancestor's, else the default."""
        key: Key | None = self
        while key is not None:
            if key.security is not None:
                return key.security
            key = key.parent
        return DEFAULT_DESCRIPTOR

    def _child(self, name: str, last_written: int) -> Key:
        if not name or "\\" in name or len(name) > MAX_KEY_NAME:
            raise DflabError(f"key name {name!r} is empty, has a backslash or is over {MAX_KEY_NAME} characters",
                             f"registry key {self.path or '(root)'}")
        found = self._subkeys.get(upcase(name))
        if found is None:
            found = self._subkeys[upcase(name)] = Key(name, last_written, parent=self)
            # Adding a subkey rewrites the parent's subkey list, so Windows stamps the parent too.
            self.last_written = max(self.last_written, last_written)
        return found


class Hive:
    """A registry hive to be written as a regf file.

    ``file_name`` is the path Windows records in the base block (it keeps the last 31 characters);
    ``written`` is the base block's last-written time, by default the latest key's.
    """

    def __init__(self, root_name: str, last_written: datetime | int, *, file_name: str = "",
                 security: bytes | None = None) -> None:
        self.root = Key(root_name, filetime(last_written), security=security or DEFAULT_DESCRIPTOR)
        self.file_name = file_name

    def key(self, path: str, last_written: datetime | int, *, class_name: str | None = None,
            security: bytes | None = None) -> Key:
        """Return the key at ``path`` (backslash-separated, below the root), creating it and missing ancestors.

        The key gets ``last_written`` (an existing one too: the caller states what the key's time is). Ancestors
        created on the way get the same time, and a key that gains a subkey is stamped no earlier than it, since
        creating a key rewrites its parent's subkey list.
        """
        ticks = filetime(last_written)
        key = self.root
        for part in (p for p in path.split("\\") if p):
            key = key._child(part, ticks)
        if key is not self.root:
            key.last_written = ticks
        if class_name is not None:
            key.class_name = class_name
        if security is not None:
            key.security = security
        return key

    def walk(self) -> Iterator[Key]:
        """Every key, depth first, parents before children, siblings in stored order."""
        stack = [self.root]
        while stack:
            key = stack.pop()
            yield key
            stack.extend(reversed(key.subkeys()))

    @property
    def written(self) -> int:
        """The hive's last write: its latest key's time (what Windows' last flush would have stamped)."""
        return max(key.last_written for key in self.walk())

    def to_bytes(self, layout: Layout | None = None) -> bytes:
        """The hive as a regf file; ``layout`` picks what Windows versions differ in (default: Windows 10/11)."""
        from .regf import serialize

        return serialize(self, layout)
