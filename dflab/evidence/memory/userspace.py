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

    @property
    def protection(self) -> str:
        return "".join(c if self.flags & bit else "-" for bit, c in ((VM_READ, "r"), (VM_WRITE, "w"),
                                                                       (VM_EXEC, "x")))


MAX_ARGS_BYTES, MAX_ENV_BYTES = 4096, 8192  # what psaux / envars accept before giving up


def argv(proc: Process) -> tuple[str, ...]:
    """The argument vector exec left on the stack (a process always has argv[0])."""
    return proc.args or (proc.comm,)


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

    def __init__(self, km: KernelMemory, kernel_tables: PageTables, rng: random.Random) -> None:
        self.km = km
        self.kernel_tables = kernel_tables
        self.rng = rng

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
        vmas.sort(key=lambda v: v.start)
        for a, b in itertools.pairwise(vmas):
            if a.end > b.start:
                raise EvidenceError(f"mappings {a.start:#x}-{a.end:#x} and {b.start:#x}-{b.end:#x} overlap",
                                    f"memory.processes[pid={proc.pid}]")
        pgd = self._page_tables(vmas)
        mm = self._mm(proc, task, pgd, vmas, exe_file, {"start_code": exe_start, "end_code": exe_end,
                                                        "start_brk": brk_start, "brk": brk_end, **marks})
        return mm, vmas

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
                                           "vm_mm": mm, "vm_file": v.file}) for v in vmas]
        for i, addr in enumerate(addrs):
            km.fill(addr, "vm_area_struct", {"vm_next": addrs[i + 1] if i + 1 < len(addrs) else 0,
                                             "vm_prev": addrs[i - 1] if i else 0})
        km.fill(mm, "mm_struct", {"mmap": addrs[0]})
        return mm
