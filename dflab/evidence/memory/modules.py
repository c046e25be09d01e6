"""Loaded kernel modules: ``struct module`` in the module area, reachable the three ways volatility looks.

``linux.lsmod`` walks the ``modules`` list; ``check_modules`` compares it with
the kobjects under ``module_kset`` (sysfs); ``hidden_modules`` scans the module
area between ``mod_tree.addr_min`` and ``addr_max`` for a ``struct module``
whose ``mkobj.mod`` points back at itself.  As in a real kernel, each module's
core is a page-aligned vmalloc allocation above ``MODULES_VADDR`` (code first,
then data), ``struct module`` sits in its data (the ``.gnu.linkonce.this_module``
section), and ``modules`` lists the most recently loaded first.
"""

from __future__ import annotations

import random
import struct as binary
from dataclasses import dataclass

from dflab.evidence.memory.cstruct import ptr, struct
from dflab.evidence.memory.kernel import KernelImage
from dflab.evidence.memory.kmem import MODULES_VADDR, KernelMemory
from dflab.evidence.memory.physmem import PAGE
from dflab.scenario.case import Case
from dflab.scenario.ostree.contents import code
from dflab.scenario.system import KERNEL_MODULES

MODULE_STATE_LIVE = 0
STB_GLOBAL, STB_LOCAL, STT_FUNC, STT_OBJECT = 1, 0, 2, 1
CLEANUP_SIZE = 16  # the module's exit function: the first function of its text
_KOBJ_REFS = 3  # a loaded module's kobject: sysfs, the module and its holders; volatility wants > 2


@dataclass(frozen=True)
class KernelModule:
    """One loaded module: its name and the sizes ``/proc/modules`` reports."""

    name: str
    core_size: int
    text_size: int


def kernel_modules(case: Case) -> tuple[KernelModule, ...]:
    """The modules loaded on the case's host, in load order."""
    del case  # every case's host is the same Debian 12 guest (system.KERNEL_MODULES); a story module would go here
    return tuple(KernelModule(*m) for m in KERNEL_MODULES)


def build_modules(kernel: KernelImage, modules: tuple[KernelModule, ...], rng: random.Random) -> dict[str, int]:
    """Load ``modules`` into the kernel; returns each module's ``struct module`` address by name."""
    km, sym = kernel.km, kernel.sym
    sym["modules"] = km.symbol("modules", struct("list_head"))
    kset = km.new("kset", {"kobj.name": km.new_string(b"module"), "kobj.kref.refcount.refs.counter": 1})
    km.init_list(kset, "kset", "list")
    sym["module_kset"] = km.symbol("module_kset", ptr(struct("kset")))
    km.write(sym["module_kset"], kset.to_bytes(8, "little"))
    sym["mod_tree"] = km.symbol("mod_tree", struct("mod_tree_root"))
    cursor = MODULES_VADDR + rng.randrange(0, 0x100) * PAGE
    first = cursor
    addrs: dict[str, int] = {}
    for m in modules:
        body = random.Random(f"dflab/memory/module/{m.name}")  # the module's bytes: its build's, not the case's
        for off in range(0, m.core_size, PAGE):
            frame = km.phys.alloc_frame()
            kernel.tables.map_kernel_page(cursor + off, frame, executable=off < m.text_size)
            km.vmap(cursor + off, frame)
            # A loaded module's core is its code, then its data: never pages of zeros. The first data page holds
            # struct module and its symbol tables (written below, every field not set left zero, as the kernel
            # zeroes it), the rest the module's own data.
            km.write(cursor + off, code(body, PAGE) if off < m.text_size else
                     bytes(PAGE) if off == m.text_size else _data(body))
        mod = cursor + m.text_size
        km.fill(mod, "module", {
            "state": MODULE_STATE_LIVE, "name": m.name.encode(), "mkobj.mod": mod,
            "mkobj.kobj.name": km.new_string(m.name.encode()), "mkobj.kobj.parent": km.addr_of(kset, "kset", "kobj"),
            "mkobj.kobj.kref.refcount.refs.counter": _KOBJ_REFS, "core_layout.base": cursor,
            "core_layout.size": m.core_size, "core_layout.text_size": m.text_size,
            "core_layout.ro_size": m.text_size, "core_layout.ro_after_init_size": m.text_size,
            "args": km.new_string(b""), "refcnt.counter": 1,
        })
        _module_symbols(km, mod, cursor)
        addrs[m.name] = mod
        cursor += m.core_size + PAGE * rng.randrange(1, 4)  # vmalloc leaves a guard page between areas
    km.fill(sym["mod_tree"], "mod_tree_root", {"addr_min": first, "addr_max": cursor})
    newest_first = [addrs[m.name] for m in reversed(modules)]
    km.link_list(sym["modules"], [km.addr_of(a, "module", "list") for a in newest_first])
    km.link_list(km.addr_of(kset, "kset", "list"), [km.addr_of(a, "module", "mkobj.kobj.entry") for a in newest_first])
    return addrs


_DATA = bytes(b if b >= 0xA0 else 0 for b in range(256))  # data is mostly zero bytes between its values


def _data(r: random.Random) -> bytes:
    """A page of a module's data: counters, flags, pointers and strings among zeros."""
    return r.randbytes(PAGE).translate(_DATA)


def _module_symbols(km: KernelMemory, mod: int, text: int) -> None:
    """The symbols ``/proc/kallsyms`` lists for a loaded module, laid out as ``layout_symtab`` keeps them in the
    module's core data after ``struct module``: the null symbol, then ``cleanup_module`` (the exit function, at
    the start of its text) and ``__this_module`` (``struct module`` itself), with their names and type letters.
    The module exports nothing (``num_syms`` 0), so both are local (``t``, ``d``)."""
    entries = [("", 0, 0, 0, " "), ("cleanup_module", STB_GLOBAL << 4 | STT_FUNC, text, CLEANUP_SIZE, "t"),
               ("__this_module", STB_GLOBAL << 4 | STT_OBJECT, mod, km.types.size_of(struct("module")), "d")]
    strtab, names = bytearray(b"\0"), []
    for name, *_ in entries:
        names.append(len(strtab) if name else 0)
        if name:
            strtab += name.encode() + b"\0"
    symtab = b"".join(binary.pack("<IBBHQQ", at, info, 0, 0, value, size)
                      for at, (_, info, value, size, _) in zip(names, entries, strict=True))
    typetab = "".join(kind for *_, kind in entries).encode()
    where = -(-(mod + km.types.size_of(struct("module"))) // 8) * 8
    addrs = []
    for blob in (symtab, bytes(strtab), typetab):
        km.write(where, blob)
        addrs.append(where)
        where = -(-(where + len(blob)) // 8) * 8
    kallsyms = km.addr_of(mod, "module", "core_kallsyms")
    km.fill(mod, "module", {"kallsyms": kallsyms, "core_kallsyms.symtab": addrs[0],
                            "core_kallsyms.num_symtab": len(entries), "core_kallsyms.strtab": addrs[1],
                            "core_kallsyms.typetab": addrs[2]})
