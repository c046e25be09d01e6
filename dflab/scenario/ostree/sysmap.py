"""``/boot/System.map-<release>``: the kernel image's symbols as ``nm -n vmlinux`` lists them (``scripts/mksysmap``),
at the addresses of the kernel memory shows.

The memory writer (:mod:`dflab.evidence.memory`) places the kernel image's symbols (functions, data, the linker's
``_text``/``_etext``/``_end``, the kallsyms tables) in an order and with sizes that depend on the kernel's banner
alone, never on the case's processes or files, at their link addresses (no KASLR: the kernel at
``0xffffffff81000000``). So the map is a function of the kernel: :func:`system_map` places the image's symbols the
way :func:`dflab.evidence.memory.image.build_image` does, on a small memory without the case's tasks, files or
log (those allocate slab objects, never image symbols), and lists them as the ISF and ``/proc/kallsyms`` have them.
A release's map is made once per process (cached) and shared by every trainee running it. tests/test_ostree_kernel.py
compares the map with a built case's ISF and kallsyms, so a change to the order memory places symbols in shows there.
"""

from __future__ import annotations

import random
from functools import cache

from dflab.scenario.kernel import DebianKernel

_SIZE = 64 << 20  # enough for the page tables and the image; the case's memory size places no image symbol


@cache
def system_map(k: DebianKernel) -> bytes:
    """The text of ``System.map-<k.release>``: ``<address> <type> <name>`` lines, sorted by address then name."""
    # The memory writer's own builders, imported here only: the installed tree needs them for this file alone.
    from dflab.evidence.memory.bpf import build_bpf
    from dflab.evidence.memory.entry_tables import build_entry_tables
    from dflab.evidence.memory.hooks import build_notifiers_and_tracing, build_ttys
    from dflab.evidence.memory.kallsyms import build_kallsyms, symbol_type
    from dflab.evidence.memory.kernel import build_kernel
    from dflab.evidence.memory.kernel_types import build_kernel_types
    from dflab.evidence.memory.kmem import KERNEL_IMAGE_SIZE, KERNEL_PHYS, START_KERNEL_MAP, KernelMemory
    from dflab.evidence.memory.modules import build_modules
    from dflab.evidence.memory.physmem import PhysicalMemory
    from dflab.evidence.memory.pids import build_kthreads, build_pid_idr
    from dflab.evidence.memory.printk import LogLine, build_printk
    from dflab.evidence.memory.ram_map import build_iomem, reserved, system_ram
    from dflab.evidence.memory.vmcoreinfo import build_vmcoreinfo
    from dflab.scenario.case import Memory
    from dflab.scenario.system import system_processes

    rng = random.Random(0)  # places slab objects and module pages only, none of which the map lists
    phys = PhysicalMemory(_SIZE, rng, [*reserved(_SIZE), (KERNEL_PHYS, KERNEL_PHYS + KERNEL_IMAGE_SIZE)])
    phys.set_ram(system_ram(_SIZE))
    km = KernelMemory(phys, build_kernel_types())
    kernel = build_kernel(km, Memory(_SIZE, k.release, k.banner, 0, 0, "debian", ()))
    sym = kernel.sym
    # in build_image's order: each step that places image symbols, the same ones whatever the case
    build_entry_tables(km, sym)
    build_iomem(km, sym, _SIZE)
    build_modules(kernel, (), rng)
    build_ttys(km, sym, with_pty=True)
    build_notifiers_and_tracing(km, sym)
    build_bpf(km, sym)
    build_printk(km, sym, [LogLine(0.0, 5, k.banner.rstrip("\n"), None)])
    threads = [p for p in system_processes(0, set()) if p.kernel_thread]
    build_kthreads(km, sym, [(p, sym["init_task"]) for p in threads])
    build_pid_idr(km, sym, [])
    km.label("_etext", km.section_end("text"))
    build_vmcoreinfo(km, sym, k.release, k.banner)
    build_kallsyms(km)
    low, high = START_KERNEL_MAP + KERNEL_PHYS, START_KERNEL_MAP + KERNEL_PHYS + KERNEL_IMAGE_SIZE
    rows = sorted((int(e["address"]), name) for name, e in km.symbols.items()  # type: ignore[call-overload]
                  if low <= int(e["address"]) < high)  # type: ignore[call-overload]
    return "".join(f"{address:016x} {symbol_type(km, name)} {name}\n" for address, name in rows).encode()
