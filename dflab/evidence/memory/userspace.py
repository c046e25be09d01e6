"""A user process's address space: its VMAs, page tables and the bytes plugins read.

* ``linux.psaux`` / ``linux.envars`` read ``mm->arg_start..arg_end`` and
  ``env_start..env_end`` from the process's own pages, so argv and environ
  strings sit at the top of a mapped stack, as the kernel's exec leaves them.
* ``linux.bash`` scans the heap VMA (``start_brk..brk``) for ``#<epoch>``
  timestamps and for ``HIST_ENTRY {line, timestamp, data}`` pointing at them;
  it reads up to 1 KiB past each string, so the heap keeps slack at its end.
* ``linux.malware.malfind`` flags RWX VMAs, anonymous R-X VMAs and executable
  dirty pages: the injected region is the only anonymous executable VMA and
  the program text VMA is file-backed with clean pages.
"""

from __future__ import annotations

import itertools
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass

from dflab.errors import EvidenceError
from dflab.evidence.memory.kmem import PAGE_OFFSET, KernelMemory
from dflab.evidence.memory.paging import PageTables
from dflab.evidence.memory.physmem import PAGE
from dflab.scenario.case import HistoryEntry, Process

VM_READ, VM_WRITE, VM_EXEC = 0x1, 0x2, 0x4
VM_MAYREAD, VM_MAYWRITE, VM_MAYEXEC = 0x10, 0x20, 0x40
VM_GROWSDOWN, VM_DENYWRITE, VM_ACCOUNT = 0x100, 0x800, 0x100000
TASK_SIZE = 0x7FFF_FFFF_F000
_HEAP_SLACK = 2048  # bytes mapped after the last string (bash reads 1 KiB past each pointer)


@dataclass(frozen=True)
class Vma:
    """One planned mapping."""

    start: int
    end: int
    flags: int
    content: bytes = b""  # bytes at ``start``; pages past it are zero
    mapped_pages: int = 0  # how many pages from ``start`` are present in the page tables
    dirty: bool = True
    file: int = 0  # struct file * for file-backed mappings
    pgoff: int = 0  # offset into the file, in pages

    @property
    def protection(self) -> str:
        return "".join(c if self.flags & bit else "-" for bit, c in ((VM_READ, "r"), (VM_WRITE, "w"),
                                                                       (VM_EXEC, "x")))


MAX_ARGS_BYTES, MAX_ENV_BYTES = 4096, 8192  # what psaux / envars accept before giving up

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
LOADER = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
_R, _RX, _RW = VM_READ, VM_READ | VM_EXEC, VM_READ | VM_WRITE
# Ubuntu 22.04's glibc 2.35 as the loader maps it: (offset from the base, length, protection, file page offset
# or None for anonymous .bss), exactly what /proc/PID/maps shows for these two files.
SHARED_OBJECTS: dict[str, tuple[tuple[int, int, int, int | None], ...]] = {
    LIBC: ((0x0, 0x28000, _R, 0x0), (0x28000, 0x195000, _RX, 0x28), (0x1BD000, 0x58000, _R, 0x1BD),
           (0x215000, 0x4000, _R, 0x214), (0x219000, 0x2000, _RW, 0x218), (0x21B000, 0xD000, _RW, None)),
    LOADER: ((0x0, 0x2000, _R, 0x0), (0x2000, 0x2A000, _RX, 0x2), (0x2C000, 0xB000, _R, 0x2C),
             (0x38000, 0x2000, _R, 0x37), (0x3A000, 0x2000, _RW, 0x39)),
}


def argv(proc: Process) -> tuple[str, ...]:
    """The argument vector exec left on the stack (a process always has argv[0])."""
    return proc.args or (proc.comm,)


def elf_header(e_type: int, entry: int, phnum: int, shnum: int) -> bytes:
    """The 64-byte ELF header of an x86-64 executable or shared object (what ``linux.elfs`` looks for)."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # ELFCLASS64, little endian, version 1, SysV ABI
    return ident + struct.pack("<HHIQQQIHHHHHH", e_type, 62, 1, entry, 64, 0, 0, 64, 56, phnum, 64, shnum,
                               shnum - 1)


PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_PLTGOT, DT_STRTAB, DT_SYMTAB, DT_SYMENT = 0, 3, 5, 6, 11
LIBC_DYNAMIC, LIBC_GOT = 0x216BC0, 0x219000  # where libc's .dynamic and .got.plt are, from its base
LOADER_DATA = 0x3A000  # the loader's writable data: _rtld_global and the link maps it allocates
LINK_MAP_NAMES = {LIBC: "/lib/x86_64-linux-gnu/libc.so.6", LOADER: "/lib64/ld-linux-x86-64.so.2"}


def _phdr(p_type: int, flags: int, offset: int, vaddr: int, size: int, align: int) -> bytes:
    return struct.pack("<IIQQQQQQ", p_type, flags, offset, vaddr, vaddr, size, size, align)


def _loader_state(libc: int, loader: int, exe: int) -> dict[int, bytes]:
    """The bytes the dynamic loader leaves in a process, by address: libc's ELF header and program headers,
    its ``.dynamic`` (relocated, as ld.so does on x86-64) and GOT, the loader's header and its link maps."""
    segs = SHARED_OBJECTS[LIBC]
    phdrs = b"".join(_phdr(PT_LOAD, 4 | (1 if prot & VM_EXEC else 0) | (2 if prot & VM_WRITE else 0),
                           (pgoff or 0) * PAGE, off, length, PAGE) for off, length, prot, pgoff in segs[:5])
    phdrs += _phdr(PT_DYNAMIC, 6, LIBC_DYNAMIC - 0x1000, LIBC_DYNAMIC, 0x1E0, 8)
    libc_head = elf_header(3, 0x29DC0, 14, 66) + phdrs
    dynamic = b"".join(struct.pack("<qQ", tag, value) for tag, value in (
        (DT_PLTGOT, libc + LIBC_GOT), (DT_STRTAB, libc + 0x19468), (DT_SYMTAB, libc + 0x3C28), (DT_SYMENT, 24),
        (DT_NULL, 0)))
    relro = segs[3][0]  # the read-only-after-relocation segment holding .dynamic
    relro_page = bytearray(LIBC_DYNAMIC - relro + len(dynamic))
    relro_page[LIBC_DYNAMIC - relro :] = dynamic
    data = loader + LOADER_DATA
    maps = [(exe, b""), (libc, LINK_MAP_NAMES[LIBC].encode()), (loader, LINK_MAP_NAMES[LOADER].encode())]
    node, names_at = 0x100, 0x400  # link_map structs, then their names, in the loader's data
    area = bytearray(names_at + sum(len(n) + 1 for _, n in maps))
    name_addr = data + names_at
    for i, (l_addr, name) in enumerate(maps):
        area[names_at : names_at + len(name)] = name
        nxt = data + node * (i + 2) if i + 1 < len(maps) else 0
        prev = data + node * i if i else 0
        ld = libc + LIBC_DYNAMIC if l_addr == libc else 0
        area[node * (i + 1) : node * (i + 1) + 40] = struct.pack("<QQQQQ", l_addr, name_addr, ld, nxt, prev)
        names_at += len(name) + 1
        name_addr += len(name) + 1
    got = struct.pack("<QQQ", libc + LIBC_DYNAMIC, data + node, 0)
    return {libc: libc_head, libc + relro: bytes(relro_page), libc + LIBC_GOT: got,
            loader: elf_header(3, 0x2C70, 11, 27), data: bytes(area)}


def _pages(n: int) -> int:
    return max(1, -(-n // PAGE))


def bash_heap(start: int, history: tuple[HistoryEntry, ...]) -> bytes:
    """A glibc-like heap holding bash's HIST_ENTRY records and the history array."""
    heap = bytearray()

    def chunk(payload: bytes) -> int:
        size = -(-(len(payload) + 8) // 16) * 16
        heap.extend(struct.pack("<Q", size | 1))
        addr = start + len(heap)
        heap.extend(payload.ljust(size - 8, b"\0"))
        return addr

    heap.extend(bytes(16))
    entries = []
    for entry in history:
        line = chunk(entry.command.encode() + b"\0")
        stamp = chunk(f"#{entry.time}".encode() + b"\0")
        entries.append(chunk(struct.pack("<QQQ", line, stamp, 0)))
    chunk(b"".join(struct.pack("<Q", e) for e in entries) + bytes(8))
    return bytes(heap)


def _stack(top: int, proc: Process) -> tuple[bytes, dict[str, int]]:
    """The initial stack of an exec'd process: argc, argv[], envp[], then the strings at the top."""
    args = b"".join(a.encode() + b"\0" for a in argv(proc))
    env = b"".join(f"{k}={v}".encode() + b"\0" for k, v in proc.environ)
    if len(args) > MAX_ARGS_BYTES or len(env) > MAX_ENV_BYTES:
        raise EvidenceError(f"argv ({len(args)} bytes) or environ ({len(env)} bytes) is longer than volatility "
                            f"reads ({MAX_ARGS_BYTES}/{MAX_ENV_BYTES})", f"memory.processes[pid={proc.pid}]")
    strings_start = (top - 16 - len(args) - len(env)) & ~0xF
    arg_start, env_start = strings_start, strings_start + len(args)
    vec_args, pos = [], arg_start
    for a in argv(proc):
        vec_args.append(pos)
        pos += len(a.encode()) + 1
    envp, pos = [], env_start
    for k, v in proc.environ:
        envp.append(pos)
        pos += len(f"{k}={v}".encode()) + 1
    vector = struct.pack(f"<Q{len(vec_args)}QQ{len(envp)}QQ", len(vec_args), *vec_args, 0, *envp, 0)
    start_stack = (strings_start - len(vector) - 64) & ~0xF
    lowest = start_stack & ~(PAGE - 1)
    data = bytearray(top - lowest)
    data[start_stack - lowest : start_stack - lowest + len(vector)] = vector
    data[arg_start - lowest : arg_start - lowest + len(args) + len(env)] = args + env
    marks = {"start_stack": start_stack, "arg_start": arg_start, "arg_end": arg_start + len(args),
             "env_start": env_start, "env_end": env_start + len(env), "lowest": lowest}
    return bytes(data), marks


class AddressSpace:
    """Plans and writes the mm_struct, VMAs and user pages of one process."""

    def __init__(self, km: KernelMemory, kernel_tables: PageTables, rng: random.Random,
                 open_library: Callable[[str], int] | None = None) -> None:
        """``open_library(path)`` returns a new ``struct file`` for a shared object every process maps
        (libc and the dynamic loader); without it processes map only their own executable."""
        self.km = km
        self.kernel_tables = kernel_tables
        self.rng = rng
        self.open_library = open_library

    def build(self, proc: Process, task: int, exe_file: int, exe_head: bytes) -> tuple[int, list[Vma]]:
        """Create the process's mm_struct; returns its address and the VMAs in address order."""
        rng = self.rng
        exe_start = 0x5500_0000_0000 + rng.randrange(0, 0x1000_0000) * PAGE
        exe_end = exe_start + _pages(len(exe_head)) * PAGE
        brk_start = exe_end + rng.randrange(1, 0x2000) * PAGE
        stack_top = 0x7FFC_0000_0000 + rng.randrange(0, 0x3_0000) * PAGE
        vmas: list[Vma] = []
        if exe_file:
            vmas.append(Vma(exe_start, exe_end, VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
                            | VM_DENYWRITE, exe_head, 1 if exe_head else 0, False, exe_file))
        brk_end = brk_start
        if proc.bash_history:
            heap = bash_heap(brk_start, proc.bash_history)
            brk_end = brk_start + _pages(len(heap) + _HEAP_SLACK) * PAGE
            vmas.append(Vma(brk_start, brk_end, VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
                            | VM_ACCOUNT, heap, (brk_end - brk_start) // PAGE))
        if proc.injected:
            inj = proc.injected
            if inj.start % PAGE or not 0 < inj.start < TASK_SIZE:
                raise EvidenceError(f"injected region start {inj.start:#x} is not a page-aligned user address",
                                    f"memory.processes[pid={proc.pid}].injected")
            n = _pages(len(inj.content))
            vmas.append(Vma(inj.start, inj.start + n * PAGE, VM_READ | VM_WRITE | VM_EXEC | VM_MAYREAD
                            | VM_MAYWRITE | VM_MAYEXEC, inj.content, n))
        stack_bytes, marks = _stack(stack_top, proc)
        stack_low = marks["lowest"] - PAGE
        vmas.append(Vma(stack_low, stack_top, VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
                        | VM_GROWSDOWN | VM_ACCOUNT, bytes(PAGE) + stack_bytes, (stack_top - stack_low) // PAGE))
        if self.open_library is not None and exe_file:
            vmas.extend(self._libraries(vmas, exe_start))
        vmas.sort(key=lambda v: v.start)
        for a, b in itertools.pairwise(vmas):
            if a.end > b.start:
                raise EvidenceError(f"mappings {a.start:#x}-{a.end:#x} and {b.start:#x}-{b.end:#x} overlap",
                                    f"memory.processes[pid={proc.pid}]")
        pgd = self._page_tables(vmas)
        mm = self._mm(proc, task, pgd, vmas, exe_file, {"start_code": exe_start, "end_code": exe_end,
                                                        "start_brk": brk_start, "brk": brk_end, **marks})
        return mm, vmas

    def _libraries(self, taken: list[Vma], exe_start: int) -> list[Vma]:
        """libc and the loader, each at a random page-aligned base in the mmap area (clear of ``taken``),
        with the state the loader leaves: libc's ``.dynamic`` and GOT, whose second slot points at the
        ``link_map`` chain (program, libc, loader) kept in the loader's data."""
        open_library = self.open_library
        if open_library is None:
            return []
        bases: dict[str, int] = {}
        for path, segments in SHARED_OBJECTS.items():
            span = max(off + length for off, length, _, _ in segments)
            while True:
                base = 0x7F00_0000_0000 + self.rng.randrange(0, 0xF0_0000) * PAGE
                if all(base + span <= v.start or v.end <= base
                       for v in taken) and all(base + span <= b or b + 0x30_0000 <= base for b in bases.values()):
                    break
            bases[path] = base
        contents = _loader_state(bases[LIBC], bases[LOADER], exe_start)
        out: list[Vma] = []
        for path, segments in SHARED_OBJECTS.items():
            filp = open_library(path)
            for off, length, prot, pgoff in segments:
                flags = prot | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | (VM_ACCOUNT if prot & VM_WRITE else 0)
                start = bases[path] + off
                data = contents.get(start, b"")
                out.append(Vma(start, start + length, flags, data, _pages(len(data)) if data else 0,
                               bool(data) and off != 0, filp if pgoff is not None else 0, pgoff or 0))
        return out

    def _page_tables(self, vmas: list[Vma]) -> int:
        phys = self.km.phys
        root = phys.alloc_frame()
        phys.write(root, bytes(PAGE))
        tables = PageTables(phys, root)
        tables.share_kernel_half(self.kernel_tables)
        for vma in vmas:
            for i in range(vma.mapped_pages):
                frame = phys.alloc_frame()
                chunk = vma.content[i * PAGE : (i + 1) * PAGE]
                if chunk:
                    phys.write(frame, chunk)
                tables.map_page(vma.start + i * PAGE, frame, writable=bool(vma.flags & VM_WRITE),
                                executable=bool(vma.flags & VM_EXEC), dirty=vma.dirty)
        return PAGE_OFFSET + root

    def _mm(self, proc: Process, task: int, pgd: int, vmas: list[Vma], exe_file: int,
            marks: dict[str, int]) -> int:
        km = self.km
        mm = km.new("mm_struct", {
            "pgd": pgd, "mm_users.counter": 1, "mm_count.counter": 1, "map_count": len(vmas),
            "mmap_base": 0x7F00_0000_0000, "task_size": TASK_SIZE, "highest_vm_end": vmas[-1].end,
            "total_vm": sum(v.end - v.start for v in vmas) // PAGE, "owner": task, "exe_file": exe_file,
            "start_code": marks["start_code"] if exe_file else 0, "end_code": marks["end_code"] if exe_file else 0,
            "start_brk": marks["start_brk"], "brk": marks["brk"], "start_stack": marks["start_stack"],
            "arg_start": marks["arg_start"], "arg_end": marks["arg_end"],
            "env_start": marks["env_start"], "env_end": marks["env_end"],
        })
        addrs = [km.new("vm_area_struct", {"vm_start": v.start, "vm_end": v.end, "vm_flags": v.flags,
                                           "vm_mm": mm, "vm_file": v.file, "vm_pgoff": v.pgoff}) for v in vmas]
        for i, addr in enumerate(addrs):
            km.fill(addr, "vm_area_struct", {"vm_next": addrs[i + 1] if i + 1 < len(addrs) else 0,
                                             "vm_prev": addrs[i - 1] if i else 0})
        km.fill(mm, "mm_struct", {"mmap": addrs[0]})
        return mm
