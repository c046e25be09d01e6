"""Assemble the whole memory image of a case: kernel, VFS, tasks, user memory.

The order is the boot's: the kernel image (symbols, page tables, entry
tables, ``/proc/iomem``), loaded modules, network interfaces, ttys and hook
points, the kernel log, then the file systems and tasks, and last what refers
to tasks (kernel-thread identities, the PID IDR, the mount namespace), the
VMCOREINFO note, which names symbols placed before it, and the kallsyms tables,
which list every image symbol. Last, the RAM the structures left free is filled as a desktop two hours after boot
has it (:mod:`.residency`): the page cache with the disk's files, heaps, freed pages' residue, few zero pages.

Every placement decision draws from one ``random.Random`` seeded from the
case seed and the banner, so a case always yields the same bytes and two
variants lay their structures out differently.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from dflab.evidence.facts import SD_MAJOR
from dflab.evidence.memory.bpf import build_bpf
from dflab.evidence.memory.cstruct import TypeTable
from dflab.evidence.memory.entry_tables import build_entry_tables
from dflab.evidence.memory.hooks import build_notifiers_and_tracing, build_perf_event_lists, build_ttys
from dflab.evidence.memory.kallsyms import build_kallsyms
from dflab.evidence.memory.kernel import KernelImage, build_kernel
from dflab.evidence.memory.kernel_types import build_kernel_types
from dflab.evidence.memory.kmem import KERNEL_IMAGE_SIZE, KERNEL_PHYS, KernelMemory
from dflab.evidence.memory.modules import build_modules, kernel_modules
from dflab.evidence.memory.mounts import build_mount_namespace
from dflab.evidence.memory.netdev import build_interfaces, interfaces
from dflab.evidence.memory.physmem import PhysicalMemory
from dflab.evidence.memory.pids import build_kthreads, build_pid_idr
from dflab.evidence.memory.printk import LogLine, boot_log, build_printk
from dflab.evidence.memory.ram_map import build_iomem, reserved, system_ram
from dflab.evidence.memory.residency import Residency, plan_residency
from dflab.evidence.memory.resident import cached_files, held_strings
from dflab.evidence.memory.tasks import TaskBuilder, TaskFacts, is_shell
from dflab.evidence.memory.userspace import AddressSpace
from dflab.evidence.memory.vfs import Vfs
from dflab.evidence.memory.vmcoreinfo import build_vmcoreinfo
from dflab.scenario.case import Case


@dataclass
class MemoryImage:
    """The built image and what is needed to describe it."""

    phys: PhysicalMemory
    types: TypeTable
    kernel: KernelImage
    tasks: list[TaskFacts]
    residency: Residency


def _rng(case: Case, stream: bytes = b"dflab/memory") -> random.Random:
    """The draws of one part of the image; the background has its own ``stream``, so placing structures never
    depends on how RAM is filled around them."""
    digest = hashlib.sha256(stream + b"\0" + case.seed.encode() + b"\0" + case.memory.banner.encode()).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _boot_log(case: Case, vfs: Vfs) -> list[LogLine]:
    """The kernel's boot messages for this case's disk, network card and root file system."""
    disks = sorted((d for d in vfs.facts.devices if d.major == SD_MAJOR), key=lambda d: d.minor)
    root = next((d for d in disks if d.mount_point == "/"), None)
    root_volume = next((v for v in case.disk.volumes if v.mount_point == "/"), None)
    return boot_log(case.memory.banner, case.memory.kernel_release, case.memory.size_bytes,
                    case.host(case.suspect_host).mac.lower(), case.disk.size_bytes, [d.name for d in disks],
                    root.name if root else None, root_volume.uuid if root_volume else "")


def build_image(case: Case) -> MemoryImage:
    """Build the physical memory of ``case.memory``."""
    mem = case.memory
    rng = _rng(case)
    phys = PhysicalMemory(mem.size_bytes, rng, [*reserved(mem.size_bytes),
                                                (KERNEL_PHYS, KERNEL_PHYS + KERNEL_IMAGE_SIZE)])
    phys.set_ram(system_ram(mem.size_bytes))
    types = build_kernel_types()
    km = KernelMemory(phys, types)
    kernel = build_kernel(km, mem)
    build_entry_tables(km, kernel.sym)
    build_iomem(km, kernel.sym, mem.size_bytes)
    build_modules(kernel, kernel_modules(case), rng)
    build_interfaces(km, kernel.sym, interfaces(case))
    build_ttys(km, kernel.sym, with_pty=any(is_shell(p) for p in mem.processes))
    build_notifiers_and_tracing(km, kernel.sym)
    build_bpf(km, kernel.sym)
    ops = {name: kernel.sym[name] for name in ("ext4_file_operations", "socket_file_ops",
                                               "sockfs_dentry_operations", "inet_sock_destruct")}
    vfs = Vfs(km, case, rng, mem.boot_time, ops)
    build_printk(km, kernel.sym, _boot_log(case, vfs))
    def open_library(path: str) -> int:
        return vfs.open_file(path, 0, 0)[0]

    tasks = TaskBuilder(kernel, vfs, AddressSpace(km, kernel.tables, rng, open_library), mem,
                        _rng(case, b"dflab/memory/tasks")).build()
    build_kthreads(km, kernel.sym, [(t.proc, t.task) for t in tasks if t.proc.kernel_thread])
    build_pid_idr(km, kernel.sym, [(t.proc.pid, t.task) for t in tasks])
    build_perf_event_lists(km, [kernel.sym["init_task"], *(t.task for t in tasks)])
    build_mount_namespace(km, kernel.sym, vfs)
    vfs.finish()
    km.label("_etext", km.section_end("text"))  # after the last function placed
    build_vmcoreinfo(km, kernel.sym, mem.kernel_release, mem.banner)
    build_kallsyms(km)  # it lists every image symbol placed before it
    residency = plan_residency(phys, cached_files(case), held_strings(case), _rng(case, b"dflab/memory/residency"))
    phys.set_background(residency.runs)
    return MemoryImage(phys, types, kernel, tasks, residency)
