"""The physical address map of the host: what ``/proc/iomem`` shows and which ranges are System RAM.

The host is a QEMU/KVM (i440FX) guest, so its firmware's e820 map is the one
SeaBIOS hands over: the first page and the EBDA/VGA/BIOS area below 1 MiB
are reserved, RAM runs from 4 KiB to 0x9FBFF and from 1 MiB to 128 KiB short
of the top, and the devices sit in the PCI hole below 4 GiB.  LiME writes one
range per System RAM entry (so the holes are absent from its file), the raw
image stays flat; ``linux.iomem`` walks ``iomem_resource`` and prints the same
tree.  Nothing the kernel allocates may live outside System RAM.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dflab.evidence.memory.cstruct import struct
from dflab.evidence.memory.kmem import KERNEL_IMAGE_SIZE, KERNEL_PHYS, KernelMemory

LOW_RAM = (0x1000, 0x9FC00)  # [start, end)
HIGH_RAM_START = 0x10_0000
TOP_RESERVED = 0x2_0000  # SeaBIOS keeps the last 128 KiB below the top of RAM
IORESOURCE_MEM, IORESOURCE_BUSY, IORESOURCE_SYSRAM = 0x200, 0x8000_0000, 0x0100_0000
IORES_DESC_NONE, IORES_DESC_RESERVED = 0, 7


@dataclass
class Resource:
    """One line of ``/proc/iomem`` (``end`` inclusive, as the kernel keeps it) and the lines under it."""

    name: str
    start: int
    end: int
    flags: int = IORESOURCE_MEM | IORESOURCE_BUSY
    children: list[Resource] = field(default_factory=list)


def system_ram(size: int) -> list[tuple[int, int]]:
    """The System RAM ranges ``[start, end)`` of a guest with ``size`` bytes of memory."""
    return [LOW_RAM, (HIGH_RAM_START, size - TOP_RESERVED)]


def reserved(size: int) -> list[tuple[int, int]]:
    """Physical ranges ``[start, end)`` no allocation may use: everything that is not System RAM."""
    return [(0, HIGH_RAM_START), (size - TOP_RESERVED, size)]


def iomem_tree(size: int) -> list[Resource]:
    """The top level of ``/proc/iomem`` for a guest with ``size`` bytes of memory."""
    ram = IORESOURCE_MEM | IORESOURCE_BUSY | IORESOURCE_SYSRAM
    code_end = KERNEL_PHYS + 0x20_0000
    return [
        Resource("Reserved", 0, LOW_RAM[0] - 1),
        Resource("System RAM", LOW_RAM[0], LOW_RAM[1] - 1, ram),
        Resource("Reserved", LOW_RAM[1], 0x9FFFF),
        Resource("PCI Bus 0000:00", 0xA0000, 0xBFFFF, IORESOURCE_MEM),
        Resource("Video ROM", 0xC0000, 0xC99FF),
        Resource("Adapter ROM", 0xCA000, 0xCADFF),
        Resource("Reserved", 0xF0000, 0xFFFFF, children=[Resource("System ROM", 0xF0000, 0xFFFFF)]),
        Resource("System RAM", HIGH_RAM_START, size - TOP_RESERVED - 1, ram, [
            Resource("Kernel code", KERNEL_PHYS, code_end - 1, ram),
            Resource("Kernel rodata", code_end, KERNEL_PHYS + 0x40_0000 - 1, ram),
            Resource("Kernel data", KERNEL_PHYS + 0x40_0000, KERNEL_PHYS + 0x60_0000 - 1, ram),
            Resource("Kernel bss", KERNEL_PHYS + 0x60_0000, KERNEL_PHYS + KERNEL_IMAGE_SIZE - 1, ram),
        ]),
        Resource("Reserved", size - TOP_RESERVED, size - 1),
        Resource("PCI Bus 0000:00", size, 0xFEBFFFFF, IORESOURCE_MEM, [
            Resource("0000:00:02.0", 0xFD000000, 0xFDFFFFFF, IORESOURCE_MEM),
            Resource("0000:00:03.0", 0xFEB80000, 0xFEBBFFFF, IORESOURCE_MEM),
            Resource("0000:00:03.0", 0xFEBC0000, 0xFEBDFFFF, IORESOURCE_MEM, [Resource("e1000", 0xFEBC0000,
                                                                                         0xFEBDFFFF)]),
        ]),
        Resource("IOAPIC 0", 0xFEC00000, 0xFEC003FF),
        Resource("HPET 0", 0xFED00000, 0xFED003FF),
        Resource("Local APIC", 0xFEE00000, 0xFEE00FFF),
        Resource("Reserved", 0xFFFC0000, 0xFFFFFFFF),
    ]


def build_iomem(km: KernelMemory, sym: dict[str, int], size: int) -> None:
    """``iomem_resource`` ("PCI mem", all addresses) with the tree of :func:`iomem_tree` below it."""
    sym["iomem_resource"] = km.symbol("iomem_resource", struct("resource"))
    km.fill(sym["iomem_resource"], "resource", {"name": km.new_string(b"PCI mem"), "start": 0,
                                                "end": (1 << 64) - 1, "flags": IORESOURCE_MEM})
    _children(km, sym["iomem_resource"], iomem_tree(size))


def _children(km: KernelMemory, parent: int, resources: list[Resource]) -> None:
    addrs = []
    for r in resources:
        desc = IORES_DESC_RESERVED if r.name == "Reserved" else IORES_DESC_NONE
        addrs.append(km.new("resource", {"name": km.new_string(r.name.encode()), "start": r.start, "end": r.end,
                                         "flags": r.flags, "desc": desc, "parent": parent}))
    for i, (r, addr) in enumerate(zip(resources, addrs, strict=True)):
        if i + 1 < len(addrs):
            km.fill(addr, "resource", {"sibling": addrs[i + 1]})
        if r.children:
            _children(km, addr, r.children)
    if addrs:
        km.fill(parent, "resource", {"child": addrs[0]})
