"""x86-64 4-level page tables written into the generated physical memory.

volatility3 finds the kernel's top table through the ``init_top_pgt`` symbol
and each process's through ``mm->pgd``; it reads the present (P), large page
(PS) and dirty (D) bits.  Kernel memory uses 2 MiB pages like a real kernel;
user memory uses 4 KiB pages whose dirty bit is set only on pages the process
wrote (data, stack, heap, the injected region), because malfind flags
executable pages that are dirty.
"""

from __future__ import annotations

import struct

from dflab.evidence.memory.physmem import PAGE, PhysicalMemory

P, RW, US, ACCESSED, DIRTY, PS, GLOBAL = 0x1, 0x2, 0x4, 0x20, 0x40, 0x80, 0x100
NX = 1 << 63
LARGE = 2 * 1024 * 1024
_ADDR_MASK = 0x000F_FFFF_FFFF_F000
_ENTRY = struct.Struct("<Q")


def _index(vaddr: int, level: int) -> int:
    """Table index of ``vaddr`` at ``level`` (3 = PML4 ... 0 = PT)."""
    return (vaddr >> (12 + 9 * level)) & 0x1FF


class PageTables:
    """One address space rooted at the PML4 page ``root`` (a physical address)."""

    def __init__(self, phys: PhysicalMemory, root: int) -> None:
        self.phys = phys
        self.root = root

    def _get(self, table: int, idx: int) -> int:
        page = self.phys.pages.get(table // PAGE)
        return 0 if page is None else _ENTRY.unpack_from(page, idx * 8)[0]

    def _set(self, table: int, idx: int, entry: int) -> None:
        self.phys.write(table + idx * 8, _ENTRY.pack(entry))

    def _next_table(self, table: int, idx: int, user: bool) -> int:
        entry = self._get(table, idx)
        if entry & P:
            return entry & _ADDR_MASK
        new = self.phys.alloc_frame()
        self.phys.write(new, bytes(PAGE))
        self._set(table, idx, new | P | RW | ACCESSED | (US if user else 0))
        return new

    def map_large(self, vaddr: int, paddr: int) -> None:
        """Map a 2 MiB kernel page (global, writable, not executable-restricted)."""
        table = self.root
        for level in (3, 2):
            table = self._next_table(table, _index(vaddr, level), user=False)
        self._set(table, _index(vaddr, 1), paddr | P | RW | ACCESSED | DIRTY | PS | GLOBAL)

    def map_kernel_page(self, vaddr: int, paddr: int, *, executable: bool) -> None:
        """Map one 4 KiB kernel page (vmalloc space: loaded modules); code stays clean, data is written."""
        table = self.root
        for level in (3, 2, 1):
            table = self._next_table(table, _index(vaddr, level), user=False)
        flags = P | ACCESSED | GLOBAL | (0 if executable else RW | DIRTY | NX)
        self._set(table, _index(vaddr, 0), paddr | flags)

    def map_page(self, vaddr: int, paddr: int, *, writable: bool, executable: bool, dirty: bool) -> None:
        """Map one 4 KiB user page."""
        table = self.root
        for level in (3, 2, 1):
            table = self._next_table(table, _index(vaddr, level), user=True)
        flags = P | US | ACCESSED | (RW if writable else 0) | (DIRTY if dirty else 0) | (0 if executable else NX)
        self._set(table, _index(vaddr, 0), paddr | flags)

    def share_kernel_half(self, kernel: PageTables) -> None:
        """Copy the kernel's upper-half PML4 entries, as every process pgd has them."""
        for idx in range(256, 512):
            entry = kernel._get(kernel.root, idx)
            if entry:
                self._set(self.root, idx, entry)
