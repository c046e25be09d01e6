"""Assemble the whole memory image of a case: kernel, VFS, tasks, user memory.

Every placement decision draws from one ``random.Random`` seeded from the
case seed and the banner, so a case always yields the same bytes and two
variants lay their structures out differently.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from dflab.evidence.memory.cstruct import TypeTable
from dflab.evidence.memory.kernel import KernelImage, build_kernel
from dflab.evidence.memory.kernel_types import build_kernel_types
from dflab.evidence.memory.kmem import KERNEL_IMAGE_SIZE, KERNEL_PHYS, KernelMemory
from dflab.evidence.memory.physmem import PhysicalMemory
from dflab.evidence.memory.tasks import TaskBuilder, TaskFacts
from dflab.evidence.memory.userspace import AddressSpace
from dflab.evidence.memory.vfs import Vfs
from dflab.scenario.case import Case

_LOW_RESERVED = 0x10_0000  # firmware/BIOS area below 1 MiB


@dataclass
class MemoryImage:
    """The built image and what is needed to describe it."""

    phys: PhysicalMemory
    types: TypeTable
    kernel: KernelImage
    tasks: list[TaskFacts]


def _rng(case: Case) -> random.Random:
    digest = hashlib.sha256(b"dflab/memory\0" + case.seed.encode() + b"\0" + case.memory.banner.encode()).digest()
    return random.Random(int.from_bytes(digest, "big"))


def build_image(case: Case) -> MemoryImage:
    """Build the physical memory of ``case.memory``."""
    mem = case.memory
    rng = _rng(case)
    phys = PhysicalMemory(mem.size_bytes, rng, [(0, _LOW_RESERVED), (KERNEL_PHYS, KERNEL_PHYS + KERNEL_IMAGE_SIZE)])
    types = build_kernel_types()
    km = KernelMemory(phys, types)
    kernel = build_kernel(km, mem)
    ops = {name: kernel.sym[name] for name in ("ext4_file_operations", "socket_file_ops",
                                               "sockfs_dentry_operations")}
    vfs = Vfs(km, case, rng, mem.boot_time, ops)
    tasks = TaskBuilder(kernel, vfs, AddressSpace(km, kernel.tables, rng), mem).build()
    vfs.finish()
    return MemoryImage(phys, types, kernel, tasks)
