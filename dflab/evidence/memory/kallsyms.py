"""``/proc/kallsyms`` of the generated kernel: the symbol tables ``scripts/kallsyms`` links into a 5.15 image.

``linux.kallsyms`` (and any examiner resolving an address without the ISF)
reads the kernel's own tables: ``kallsyms_num_syms`` symbols, sorted by
address, each an entry of ``kallsyms_names`` (a length byte, then token
indexes whose expansion is the type letter and the name), the 256 tokens in
``kallsyms_token_table`` found through ``kallsyms_token_index``, the addresses
as ``kallsyms_offsets`` relative to ``kallsyms_relative_base``
(``CONFIG_KALLSYMS_BASE_RELATIVE`` with absolute per-CPU: a negative offset
``o`` means ``relative_base - 1 - o``), and ``kallsyms_markers``, the names
offset of every 256th symbol.  The tables are written uncompressed: token
``i`` is the one character ``i``, a table ``scripts/kallsyms`` would accept
from a kernel whose names share no substrings.  As in a real build, the
``kallsyms_*`` tables are not among the symbols they list.
"""

from __future__ import annotations

import struct

from dflab.evidence.memory.cstruct import S32, U8, U16, U32, U64, array
from dflab.evidence.memory.kmem import KERNEL_IMAGE_SIZE, KERNEL_PHYS, START_KERNEL_MAP, KernelMemory

MARKER_EVERY = 256


def symbol_type(km: KernelMemory, name: str) -> str:
    """The ``nm`` letter of an image symbol: text ``T``, read-only data ``R``, data ``D``, bss ``B``."""
    entry = km.symbols[name]
    section = km.section_of(int(entry["address"]))  # type: ignore[call-overload]
    if section == "data" and "constant_data" in entry:
        return "R"
    return {"text": "T", "data": "D", "bss": "B"}[section]


def build_kallsyms(km: KernelMemory) -> list[tuple[int, str, str]]:
    """Write the tables for every symbol of the kernel image placed so far; returns ``(address, type, name)``
    in table order."""
    low, high = START_KERNEL_MAP + KERNEL_PHYS, START_KERNEL_MAP + KERNEL_PHYS + KERNEL_IMAGE_SIZE
    km.label("_end", km.section_end("bss"))
    listed = sorted((int(e["address"]), symbol_type(km, n), n)  # type: ignore[call-overload]
                    for n, e in km.symbols.items() if low <= int(e["address"]) < high)  # type: ignore[call-overload]
    base_addr = min(a for a, _, _ in listed)
    names, markers = bytearray(), []
    for i, (_, kind, name) in enumerate(listed):
        if i % MARKER_EVERY == 0:
            markers.append(len(names))
        encoded = (kind + name).encode("ascii")
        names += bytes([len(encoded)]) + encoded
    offsets = b"".join(struct.pack("<i", base_addr - 1 - addr) for addr, _, _ in listed)
    tokens = b"".join(bytes([i, 0]) for i in range(256))
    index = b"".join(struct.pack("<H", 2 * i) for i in range(256))
    km.symbol("kallsyms_offsets", array(len(listed), S32), align=8, constant=offsets)
    km.symbol("kallsyms_relative_base", U64, align=8, constant=struct.pack("<Q", base_addr))
    km.symbol("kallsyms_num_syms", U32, align=8, constant=struct.pack("<I", len(listed)))
    km.symbol("kallsyms_names", array(len(names), U8), align=8, constant=bytes(names))
    km.symbol("kallsyms_markers", array(len(markers), U32), align=8,
              constant=b"".join(struct.pack("<I", m) for m in markers))
    km.symbol("kallsyms_token_table", array(len(tokens), U8), align=8, constant=tokens)
    km.symbol("kallsyms_token_index", array(256, U16), align=8, constant=index)
    return listed
