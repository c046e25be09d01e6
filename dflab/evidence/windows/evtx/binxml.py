"""Binary XML as an EVTX chunk holds it: templates, their instances, and the names they share.

Windows never stores an event's XML twice. A record carries a *template instance*: a reference to a template
(the XML shape with numbered holes, defined inline the first time a chunk uses it and referred to by chunk
offset afterwards) and a substitution array with the values for the holes. Element and attribute names are
stored once per chunk too and referred to by offset. Offsets are relative to the chunk, so encoding writes
straight into the chunk's buffer: where a byte lands decides whether a name or template is inline or a
reference. :class:`ChunkBody` owns that buffer and the chunk's two hash tables.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from functools import cached_property

from dflab.evidence.windows.evtx.values import BINXML, NULL, Value

FRAGMENT_HEADER = b"\x0f\x01\x01\x00"  # token 0x0f, BinXml version 1.1, no flags
EOF = 0x00
OPEN_START = 0x01
CLOSE_START = 0x02
CLOSE_EMPTY = 0x03
END_ELEMENT = 0x04
VALUE_TEXT = 0x05
ATTRIBUTE = 0x06
TEMPLATE_INSTANCE = 0x0C
NORMAL_SUBSTITUTION = 0x0D
OPTIONAL_SUBSTITUTION = 0x0E
MORE_BIT = 0x40  # on OPEN_START: attributes follow; on ATTRIBUTE: another attribute follows

STRING_BUCKETS = 64
TEMPLATE_BUCKETS = 32
# Template GUIDs are name-based (version 5) in real logs; dflab's are version 5 too, named by the template's
# shape in this namespace, so the same shape always gets the same GUID.
_TEMPLATE_NAMESPACE = uuid.UUID("6f0c54c2-27d5-5a51-9f0b-64666c61622d")


class ValueTooLarge(ValueError):
    """A substitution value past the 16-bit size its descriptor has room for."""


def name_hash(name: str) -> int:
    """The 16-bit name hash a chunk's string table is keyed by (hash = hash * 65599 + code unit, low 16 bits)."""
    value = 0
    for (unit,) in struct.iter_unpack("<H", name.encode("utf-16-le")):
        value = (value * 65599 + unit) & 0xFFFFFFFF
    return value & 0xFFFF


@dataclass(frozen=True)
class Text:
    """Literal text in a template (the same in every record that uses it: a namespace, a computer name)."""

    text: str


@dataclass(frozen=True)
class Sub:
    """A hole filled from the substitution array. ``optional`` ones (0x0e) may be Null and then vanish."""

    index: int
    type: int
    optional: bool = True


Content = Text | Sub


@dataclass(frozen=True)
class Element:
    name: str
    attributes: tuple[tuple[str, Content], ...] = ()
    children: tuple[Element | Content, ...] = ()

    def substitutions(self) -> list[Sub]:
        found = [value for _, value in self.attributes if isinstance(value, Sub)]
        for child in self.children:
            if isinstance(child, Element):
                found.extend(child.substitutions())
            elif isinstance(child, Sub):
                found.append(child)
        return found

    def dependency(self) -> int:
        """Index of the optional substitution this element's content is (-1 for none), as Windows records it."""
        return next((child.index for child in self.children if isinstance(child, Sub) and child.optional), -1)


@dataclass(frozen=True)
class Template:
    """An event shape; records with the same shape share one definition per chunk."""

    root: Element

    @cached_property
    def guid(self) -> uuid.UUID:
        return uuid.uuid5(_TEMPLATE_NAMESPACE, repr(self.root))

    @cached_property
    def template_id(self) -> int:
        """The instance's 32-bit template id: the first four bytes of the GUID, as in Windows' logs."""
        return int.from_bytes(self.guid.bytes_le[:4], "little")

    @cached_property
    def holes(self) -> dict[int, Sub]:
        """The holes by index. Gaps are allowed: Windows' classic System template leaves 13-17 unused (and Null)."""
        return {sub.index: sub for sub in self.root.substitutions()}


@dataclass(frozen=True)
class Instance:
    """A template and its values; a value that is itself an Instance is written as nested BinXml (type 0x21)."""

    template: Template
    values: tuple[Value | Instance, ...]

    def __post_init__(self) -> None:
        holes = self.template.holes
        if len(self.values) != max(holes, default=-1) + 1:
            raise ValueError(f"{self.template.root.name}: {len(self.values)} values for holes 0..{max(holes)}")
        for index, value in enumerate(self.values):
            kind = BINXML if isinstance(value, Instance) else value.type
            if index not in holes:  # carried, never shown: the classic template's process id, opcode, version
                continue
            hole = holes[index]
            if kind == NULL and not hole.optional:  # libevtx refuses it, and Windows writes "" instead
                raise ValueError(f"{self.template.root.name}: value {index} is Null in a normal substitution")
            if kind != hole.type and not (kind == NULL and hole.optional):
                raise ValueError(f"{self.template.root.name}: value {index} has type {kind:#x}, hole {hole.type:#x}")


@dataclass
class ChunkBody:
    """A chunk's bytes from offset 0 (its 512-byte header reserved) and the names and templates it defines."""

    buffer: bytearray = field(default_factory=lambda: bytearray(512))
    strings: dict[str, int] = field(default_factory=dict)
    string_heads: list[int] = field(default_factory=lambda: [0] * STRING_BUCKETS)
    templates: dict[uuid.UUID, int] = field(default_factory=dict)
    template_heads: list[int] = field(default_factory=lambda: [0] * TEMPLATE_BUCKETS)

    def mark(self) -> tuple:
        """What :meth:`rollback` needs to undo everything written after this point (a record that did not fit)."""
        return (len(self.buffer), dict(self.strings), list(self.string_heads), dict(self.templates),
                list(self.template_heads))

    def rollback(self, mark: tuple) -> None:
        size, self.strings, self.string_heads, self.templates, self.template_heads = mark
        del self.buffer[size:]

    def fragment(self, instance: Instance) -> None:
        """A BinXml fragment: header, the template instance with its values, end of fragment."""
        self.buffer += FRAGMENT_HEADER
        self._instance(instance)
        self.buffer.append(EOF)

    def _u32_placeholder(self) -> int:
        at = len(self.buffer)
        self.buffer += b"\0\0\0\0"
        return at

    def _patch_length(self, at: int) -> None:
        struct.pack_into("<I", self.buffer, at, len(self.buffer) - at - 4)

    def _name(self, name: str) -> None:
        known = self.strings.get(name)
        if known is not None:
            self.buffer += struct.pack("<I", known)
            return
        offset = len(self.buffer) + 4
        encoded = name.encode("utf-16-le")
        digest = name_hash(name)
        bucket = digest % STRING_BUCKETS
        self.buffer += struct.pack("<IIHH", offset, self.string_heads[bucket], digest, len(encoded) // 2)
        self.buffer += encoded + b"\0\0"
        self.string_heads[bucket] = offset
        self.strings[name] = offset

    def _content(self, content: Content) -> None:
        if isinstance(content, Text):
            encoded = content.text.encode("utf-16-le")
            self.buffer += struct.pack("<BBH", VALUE_TEXT, 0x01, len(encoded) // 2) + encoded
        else:
            token = OPTIONAL_SUBSTITUTION if content.optional else NORMAL_SUBSTITUTION
            self.buffer += struct.pack("<BHB", token, content.index, content.type)

    def _element(self, element: Element) -> None:
        self.buffer.append(OPEN_START | (MORE_BIT if element.attributes else 0))
        self.buffer += struct.pack("<h", element.dependency())
        size_at = self._u32_placeholder()
        self._name(element.name)
        if element.attributes:
            list_at = self._u32_placeholder()
            for position, (name, value) in enumerate(element.attributes):
                more = position + 1 < len(element.attributes)
                self.buffer.append(ATTRIBUTE | (MORE_BIT if more else 0))
                self._name(name)
                self._content(value)
            self._patch_length(list_at)
        if element.children:
            self.buffer.append(CLOSE_START)
            for child in element.children:
                if isinstance(child, Element):
                    self._element(child)
                else:
                    self._content(child)
            self.buffer.append(END_ELEMENT)
        else:
            self.buffer.append(CLOSE_EMPTY)
        self._patch_length(size_at)

    def _instance(self, instance: Instance) -> None:
        template = instance.template
        self.buffer += struct.pack("<BBI", TEMPLATE_INSTANCE, 0x01, template.template_id)
        known = self.templates.get(template.guid)
        if known is not None:
            self.buffer += struct.pack("<I", known)
        else:
            offset = len(self.buffer) + 4
            bucket = template.template_id % TEMPLATE_BUCKETS
            self.buffer += struct.pack("<II", offset, self.template_heads[bucket]) + template.guid.bytes_le
            size_at = self._u32_placeholder()
            self.buffer += FRAGMENT_HEADER
            self._element(template.root)
            self.buffer.append(EOF)
            self._patch_length(size_at)
            self.template_heads[bucket] = offset
            self.templates[template.guid] = offset
        self.buffer += struct.pack("<I", len(instance.values))
        descriptors = len(self.buffer)
        self.buffer += bytes(4 * len(instance.values))
        for index, value in enumerate(instance.values):
            start = len(self.buffer)
            if isinstance(value, Instance):
                self.fragment(value)
                kind = BINXML
            else:
                self.buffer += value.data
                kind = value.type
            size = len(self.buffer) - start
            if size > 0xFFFF:
                raise ValueTooLarge(f"{template.root.name}: value {index} is {size} bytes, more than a record holds")
            struct.pack_into("<HBB", self.buffer, descriptors + 4 * index, size, kind, 0)
