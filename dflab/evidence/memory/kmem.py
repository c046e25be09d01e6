"""Kernel virtual memory: where kernel objects live and how their fields are written.

Two kernel mappings exist, as on x86-64 Linux without KASLR: the kernel image
(``__START_KERNEL_map`` = 0xffffffff80000000 + physical) holding the named
symbols, and the direct map (``page_offset_base`` + physical) holding every
dynamically allocated object.  Fields are written by name through the
:class:`~dflab.evidence.memory.cstruct.TypeTable`, never by hand-computed
offsets.
"""

from __future__ import annotations

import random
import struct

from dflab.errors import EvidenceError
from dflab.evidence.memory.cstruct import BASE_TYPES, TypeDesc, TypeTable
from dflab.evidence.memory.physmem import PAGE, PhysicalMemory

START_KERNEL_MAP = 0xFFFF_FFFF_8000_0000
PAGE_OFFSET = 0xFFFF_8880_0000_0000  # page_offset_base of a 4-level, non-KASLR kernel
KERNEL_PHYS = 0x0100_0000  # the kernel image is loaded at 16 MiB
KERNEL_IMAGE_SIZE = 0x0080_0000  # text, data and the boot page tables
MODULES_VADDR = 0xFFFF_FFFF_C000_0000  # where loaded modules live (vmalloc'ed 4 KiB pages)
_SLAB_ALIGN = 64
# Caches with objects of their own size, as SLUB sizes them on x86-64 (mm/slub.c calculate_order): the page order of
# one slab. task_struct's slabs are order 3 (8 pages: three objects of ~9.7 KiB, as /proc/slabinfo shows).
CACHE_ORDER = {"task_struct": 3}
SECTION_START = {"text": KERNEL_PHYS, "data": KERNEL_PHYS + 0x20_0000, "bss": KERNEL_PHYS + 0x60_0000}  # physical

Value = int | bytes


class KernelMemory:
    """Writes typed kernel objects into physical memory and records named symbols."""

    def __init__(self, phys: PhysicalMemory, types: TypeTable) -> None:
        self.phys = phys
        self.types = types
        self.symbols: dict[str, dict[str, object]] = {}
        self._image_cursor = dict(SECTION_START)
        self._slab_page = 0
        self._slab_used = PAGE
        self._vmap: dict[int, int] = {}  # module-area page -> physical frame
        self._caches: dict[str, list[int]] = {}  # cache name -> free object addresses of its current slab

    @staticmethod
    def to_phys(vaddr: int) -> int:
        """Physical address behind a kernel virtual address."""
        if vaddr >= START_KERNEL_MAP:
            return vaddr - START_KERNEL_MAP
        if vaddr >= PAGE_OFFSET:
            return vaddr - PAGE_OFFSET
        raise ValueError(f"not a kernel address: {vaddr:#x}")

    def write(self, vaddr: int, data: bytes) -> None:
        if vaddr >= MODULES_VADDR:
            page, off = vaddr & ~(PAGE - 1), vaddr & (PAGE - 1)
            if page not in self._vmap or off + len(data) > PAGE:
                raise EvidenceError(f"write outside a mapped module page at {vaddr:#x}", "memory")
            self.phys.write(self._vmap[page] + off, data)
            return
        self.phys.write(self.to_phys(vaddr), data)

    def read_pointer(self, vaddr: int) -> int:
        """The 8-byte value written at kernel address ``vaddr`` (zero where nothing was written)."""
        addr = self.to_phys(vaddr)
        page = self.phys.pages.get(addr // PAGE)
        off = addr % PAGE
        return 0 if page is None else int.from_bytes(page[off : off + 8], "little")

    def vmap(self, vaddr: int, frame: int) -> None:
        """Record that module-area page ``vaddr`` is backed by physical ``frame`` (already in the page tables)."""
        self._vmap[vaddr] = frame

    # --- allocation -------------------------------------------------------
    def symbol(self, name: str, type_desc: TypeDesc, *, section: str = "data", align: int = 64,
               size: int | None = None, constant: bytes | None = None) -> int:
        """Place a named kernel-image object and return its virtual address."""
        nbytes = self.types.size_of(type_desc) if size is None else size
        phys = -(-self._image_cursor[section] // align) * align
        self._image_cursor[section] = phys + max(nbytes, 1)
        if self._image_cursor[section] > KERNEL_PHYS + KERNEL_IMAGE_SIZE:
            raise EvidenceError("kernel image section overflow", f"symbol {name}")
        vaddr = START_KERNEL_MAP + phys
        entry: dict[str, object] = {"address": vaddr, "type": type_desc}
        if constant is not None:
            entry["constant_data"] = constant
            self.write(vaddr, constant)
        self.symbols[name] = entry
        return vaddr

    def section_end(self, section: str) -> int:
        """Virtual address just past the last object placed in ``section`` of the kernel image."""
        return START_KERNEL_MAP + self._image_cursor[section]

    def section_of(self, vaddr: int) -> str:
        """The image section (``text``, ``data``, ``bss``) an image address lies in."""
        phys = vaddr - START_KERNEL_MAP
        return max((s for s, start in SECTION_START.items() if start <= phys), key=SECTION_START.__getitem__)

    def label(self, name: str, vaddr: int) -> None:
        """Name a boundary (``_text``, ``_etext``): typed ``char``, as the linker-script symbols are in
        a kernel's debug information, since volatility builds objects from them."""
        self.symbols[name] = {"address": vaddr, "type": {"kind": "base", "name": "char"}}

    def alloc(self, nbytes: int) -> int:
        """Allocate ``nbytes`` of slab memory (direct map) and return its virtual address."""
        if nbytes > PAGE:
            raise EvidenceError(f"kernel object of {nbytes} bytes exceeds a page", "memory")
        start = -(-self._slab_used // _SLAB_ALIGN) * _SLAB_ALIGN
        if start + nbytes > PAGE:
            self._slab_page = self.phys.alloc_frame()
            start = 0
        self._slab_used = start + nbytes
        return PAGE_OFFSET + self._slab_page + start

    def new_cached(self, type_name: str, rng: random.Random) -> int:
        """A zeroed ``type_name`` from its own slab cache: objects of ``sizeof`` rounded to the cache line,
        as many as fit in a slab of ``CACHE_ORDER`` pages, each slab a buddy block somewhere in the direct map.
        Objects are handed out in the freelist's shuffled order (``CONFIG_SLAB_FREELIST_RANDOM``, on in
        Debian's kernels), and some slots stay free: the objects of tasks that have exited."""
        size = -(-self.types.layouts[type_name].size // _SLAB_ALIGN) * _SLAB_ALIGN
        order = CACHE_ORDER[type_name]
        free = self._caches.setdefault(type_name, [])
        while True:
            if not free:
                slab = PAGE_OFFSET + self.phys.alloc_block(order)
                slots = [slab + i * size for i in range((PAGE << order) // size)]
                rng.shuffle(slots)
                free.extend(slots)
            vaddr = free.pop()
            if rng.random() >= 0.25:  # else an exited task's object, left free
                break
        self.write(vaddr, bytes(self.types.layouts[type_name].size))
        return vaddr

    def new(self, type_name: str, values: dict[str, Value] | None = None) -> int:
        """Allocate a zeroed ``type_name`` object, fill ``values`` and return its address."""
        vaddr = self.alloc(self.types.layouts[type_name].size)
        self.write(vaddr, bytes(self.types.layouts[type_name].size))
        if values:
            self.fill(vaddr, type_name, values)
        return vaddr

    def new_string(self, text: bytes) -> int:
        """A NUL-terminated byte string in slab memory."""
        vaddr = self.alloc(len(text) + 1)
        self.write(vaddr, text + b"\0")
        return vaddr

    # --- typed writes ----------------------------------------------------
    def fill(self, vaddr: int, type_name: str, values: dict[str, Value]) -> None:
        """Write ``{"member.path": value}`` into the object at ``vaddr``."""
        for path, value in values.items():
            offset, desc = self.types.resolve(type_name, path)
            self.write(vaddr + offset, self._encode(desc, value, f"{type_name}.{path}"))

    def addr_of(self, vaddr: int, type_name: str, path: str) -> int:
        """Address of a member (for list heads and embedded structs)."""
        return vaddr + self.types.offset_of(type_name, path)

    def init_list(self, vaddr: int, type_name: str, path: str) -> int:
        """Make an embedded ``list_head`` empty (pointing at itself); return its address."""
        head = self.addr_of(vaddr, type_name, path)
        self.fill(head, "list_head", {"next": head, "prev": head})
        return head

    def link_list(self, head: int, nodes: list[int]) -> None:
        """Chain ``list_head`` addresses into a circular list after ``head``."""
        ring = [head, *nodes]
        for i, node in enumerate(ring):
            self.fill(node, "list_head", {"next": ring[(i + 1) % len(ring)], "prev": ring[i - 1]})

    def _encode(self, desc: TypeDesc, value: Value, where: str) -> bytes:
        kind = desc["kind"]
        if isinstance(value, bytes):
            size = self.types.size_of(desc)
            if len(value) > size:
                raise EvidenceError(f"{len(value)} bytes do not fit into {size}", where)
            return value.ljust(size, b"\0")
        if kind == "pointer":
            return struct.pack("<Q", value & 0xFFFF_FFFF_FFFF_FFFF)
        if kind == "enum":
            return struct.pack("<i", value)
        if kind == "base":
            size, _, signed = BASE_TYPES[str(desc["name"])]
            return value.to_bytes(size, "little", signed=signed and value < 0)
        raise EvidenceError(f"cannot write an integer into a {kind}", where)
