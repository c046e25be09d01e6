"""C type layouts that are written both as bytes into the image and as types into the ISF.

One :class:`TypeTable` is the single source of truth for every structure the
generated kernel contains: the memory builder packs fields at the offsets it
computes, and the ISF writer describes the very same offsets to volatility3.
That is what keeps the image and its symbol table consistent without copying
offsets by hand.  Offsets follow the natural x86-64 C alignment rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TypeDesc = dict[str, Any]  # an ISF type descriptor: {"kind": ..., ...}

# name -> (size, ISF kind, signed)
BASE_TYPES: dict[str, tuple[int, str, bool]] = {
    "void": (0, "void", False),
    "_Bool": (1, "bool", False),
    "char": (1, "char", True),
    "unsigned char": (1, "char", False),
    "short int": (2, "int", True),
    "short unsigned int": (2, "int", False),
    "int": (4, "int", True),
    "unsigned int": (4, "int", False),
    "long int": (8, "int", True),
    "long unsigned int": (8, "int", False),
    "long long int": (8, "int", True),
    "long long unsigned int": (8, "int", False),
    "pointer": (8, "int", False),
}


def base(name: str) -> TypeDesc:
    """A base C type (``int``, ``long unsigned int``...)."""
    if name not in BASE_TYPES:
        raise KeyError(name)
    return {"kind": "base", "name": name}


def struct(name: str) -> TypeDesc:
    """A reference to a struct defined in the same table."""
    return {"kind": "struct", "name": name}


def ptr(subtype: TypeDesc) -> TypeDesc:
    """A 64-bit pointer to ``subtype``."""
    return {"kind": "pointer", "subtype": subtype}


def array(count: int, subtype: TypeDesc) -> TypeDesc:
    """A fixed-size C array."""
    return {"kind": "array", "count": count, "subtype": subtype}


def enum(name: str) -> TypeDesc:
    """A reference to an enumeration defined in the same table."""
    return {"kind": "enum", "name": name}


FUNCTION: TypeDesc = {"kind": "function"}
VOID_P = ptr(base("void"))
CHAR_P = ptr(base("char"))
U8, U16, U32, U64 = (base("unsigned char"), base("short unsigned int"), base("unsigned int"),
                     base("long unsigned int"))
S32, S64 = base("int"), base("long long int")


@dataclass(frozen=True)
class Member:
    """One field of a struct: where it is and what it is."""

    offset: int
    type: TypeDesc


@dataclass
class Layout:
    """A struct with computed offsets, size and alignment."""

    name: str
    size: int
    align: int
    members: dict[str, Member] = field(default_factory=dict)


@dataclass(frozen=True)
class Enum:
    """An enumeration (its base type is ``int``)."""

    name: str
    constants: dict[str, int]


class TypeTable:
    """Struct and enum definitions with C layout rules applied in definition order.

    A type must be defined before another embeds it by value (pointers may
    refer to types defined later, as in C).
    """

    def __init__(self) -> None:
        self.layouts: dict[str, Layout] = {}
        self.enums: dict[str, Enum] = {}

    def define(self, name: str, fields: list[tuple[str, TypeDesc]]) -> Layout:
        """Lay out the struct ``name`` with ``fields`` in order, each at its natural alignment."""
        offset, align, members = 0, 1, {}
        for fname, ftype in fields:
            fsize, falign = self.size_of(ftype), self.align_of(ftype)
            align = max(align, falign)
            offset = -(-offset // falign) * falign
            members[fname] = Member(offset, ftype)
            offset += fsize
        size = -(-offset // align) * align
        layout = Layout(name, size, align, members)
        self.layouts[name] = layout
        return layout

    def define_enum(self, name: str, constants: dict[str, int]) -> None:
        """Add an ``int``-sized enumeration."""
        self.enums[name] = Enum(name, dict(constants))

    def size_of(self, t: TypeDesc) -> int:
        kind = t["kind"]
        if kind == "base":
            return BASE_TYPES[str(t["name"])][0]
        if kind == "pointer":
            return 8
        if kind == "array":
            return int(t["count"]) * self.size_of(t["subtype"])
        if kind == "struct":
            return self.layouts[str(t["name"])].size
        if kind == "enum":
            return 4
        raise ValueError(f"type without a size: {t}")

    def align_of(self, t: TypeDesc) -> int:
        kind = t["kind"]
        if kind == "array":
            return self.align_of(t["subtype"])
        if kind == "struct":
            return self.layouts[str(t["name"])].align
        return max(1, self.size_of(t))

    def resolve(self, type_name: str, path: str) -> tuple[int, TypeDesc]:
        """Offset and type of a dotted member path such as ``"f_path.dentry"``."""
        offset, t = 0, struct(type_name)
        for part in path.split("."):
            if t["kind"] == "array":
                idx = int(part)
                sub = t["subtype"]
                offset += idx * self.size_of(sub)
                t = sub
                continue
            member = self.layouts[str(t["name"])].members[part]
            offset += member.offset
            t = member.type
        return offset, t

    def offset_of(self, type_name: str, path: str) -> int:
        return self.resolve(type_name, path)[0]

    def isf_types(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """``(base_types, user_types, enums)`` sections of an ISF document."""
        base_types = {
            name: {"kind": kind, "size": size, "signed": signed, "endian": "little"}
            for name, (size, kind, signed) in sorted(BASE_TYPES.items())
        }
        user_types = {
            name: {
                "kind": "struct",
                "size": lay.size,
                "fields": {m: {"type": mem.type, "offset": mem.offset} for m, mem in lay.members.items()},
            }
            for name, lay in sorted(self.layouts.items())
        }
        enums = {
            name: {"size": 4, "base": "int", "constants": dict(e.constants)}
            for name, e in sorted(self.enums.items())
        }
        return base_types, user_types, enums
