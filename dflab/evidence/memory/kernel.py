"""The static part of the generated kernel: its image symbols and boot page tables.

volatility3 identifies the kernel by the ``linux_banner`` bytes, finds
``init_task`` by scanning for ``swapper/0`` and checks ``init_task.files ==
&init_files``; it then walks the page tables from ``init_top_pgt``.  Time is
``tk_core.timekeeper.offs_real - offs_boot`` (the boot time in ns), and psscan
searches for pointers to any ``*_sched_class``.  Everything a later builder
(VFS, tasks) needs from here is returned in :class:`KernelImage`.
"""

from __future__ import annotations

from dataclasses import dataclass

from dflab.errors import EvidenceError
from dflab.evidence.memory.cstruct import FUNCTION, U64, array, base, ptr, struct
from dflab.evidence.memory.kernel_types import NR_OPEN_DEFAULT
from dflab.evidence.memory.kmem import (
    KERNEL_PHYS,
    PAGE_OFFSET,
    START_KERNEL_MAP,
    KernelMemory,
)
from dflab.evidence.memory.paging import LARGE, PageTables
from dflab.scenario.case import Memory

NSEC = 1_000_000_000
FB_MAX = 32
KERNEL_MAPPING_SIZE = 512 * 1024 * 1024  # KERNEL_IMAGE_SIZE with KASLR off
INIT_NET_INUM = 4026531840
INIT_TIME_NS_INUM = 4026531834  # PROC_TIME_INIT_INO
FULL_CAPS = (0xFFFF_FFFF, 0x1FF)  # CAP_LAST_CAP = 40 in 5.15
SCHED_CLASSES = ("stop_sched_class", "dl_sched_class", "rt_sched_class", "fair_sched_class", "idle_sched_class")
TEXT_FUNCTIONS = ("sockfs_dname", "pipefs_dname", "anon_inodefs_dname", "ext4_file_read_iter",
                  "ext4_file_write_iter", "sock_read_iter", "sock_write_iter", "enqueue_task_fair",
                  "dequeue_task_fair", "pick_next_task_fair", "inet_sock_destruct", "sock_def_destruct",
                  "unix_sock_destructor")
_FUNC_BODY = bytes.fromhex("f30f1efa0f1f440000554889e5") + b"\x5d\xc3"  # endbr64; nop; push rbp; mov rbp,rsp; pop; ret


@dataclass
class KernelImage:
    """Addresses of the kernel's static objects, and its page tables."""

    km: KernelMemory
    tables: PageTables
    sym: dict[str, int]

    @property
    def dtb(self) -> int:
        """Physical address of ``init_top_pgt`` (what volatility calls the DTB)."""
        return self.km.to_phys(self.sym["init_top_pgt"])


def place_function(km: KernelMemory, name: str) -> int:
    """A kernel text symbol holding a minimal function body; returns its address."""
    addr = km.symbol(name, FUNCTION, section="text", align=16, size=len(_FUNC_BODY))
    km.write(addr, _FUNC_BODY)
    return addr


def _text(km: KernelMemory) -> dict[str, int]:
    km.label("_text", START_KERNEL_MAP + KERNEL_PHYS)
    # The head page, as in a real kernel; it keeps the functions below off _text's address, since
    # lsof resolves d_dname only when exactly one symbol sits at that address.
    km.label("_stext", START_KERNEL_MAP + KERNEL_PHYS)  # x86-64: _text, _stext and startup_64 coincide
    km.symbol("startup_64", FUNCTION, section="text", size=0x1000)
    sym = {name: km.symbol(name, FUNCTION, section="text", align=16, size=len(_FUNC_BODY))
           for name in TEXT_FUNCTIONS}
    for addr in sym.values():
        km.write(addr, _FUNC_BODY)
    end = max(sym.values()) + 16
    km.label("_etext", end)
    return sym


def _page_tables(km: KernelMemory, size: int) -> tuple[int, PageTables]:
    top = km.symbol("init_top_pgt", array(512, struct("pgd_t")), section="bss", align=4096)
    tables = PageTables(km.phys, km.to_phys(top))
    for phys in range(0, size, LARGE):
        tables.map_large(PAGE_OFFSET + phys, phys)
        if phys < KERNEL_MAPPING_SIZE:
            tables.map_large(START_KERNEL_MAP + phys, phys)
    return top, tables


def build_kernel(km: KernelMemory, memory: Memory) -> KernelImage:
    """Write the kernel image objects for ``memory`` and return their addresses."""
    if memory.size_bytes % LARGE or memory.size_bytes < 32 * 1024 * 1024:
        raise EvidenceError(f"memory size {memory.size_bytes} must be a multiple of 2 MiB and at least 32 MiB",
                            "memory.size_bytes")
    sym = _text(km)
    banner = memory.banner.encode() + b"\0"
    sym["linux_banner"] = km.symbol("linux_banner", array(len(banner), base("char")), constant=banner)
    sym["page_offset_base"] = km.symbol("page_offset_base", U64)
    km.write(sym["page_offset_base"], PAGE_OFFSET.to_bytes(8, "little"))
    for name in SCHED_CLASSES:
        sym[name] = km.symbol(name, struct("sched_class"))
        km.fill(sym[name], "sched_class", {"enqueue_task": sym["enqueue_task_fair"],
                                           "dequeue_task": sym["dequeue_task_fair"],
                                           "pick_next_task": sym["pick_next_task_fair"]})
    for name in ("ext4_file_operations", "socket_file_ops"):
        sym[name] = km.symbol(name, struct("file_operations"))
    km.fill(sym["ext4_file_operations"], "file_operations", {"read": sym["ext4_file_read_iter"],
                                                             "write": sym["ext4_file_write_iter"]})
    km.fill(sym["socket_file_ops"], "file_operations", {"read": sym["sock_read_iter"],
                                                        "write": sym["sock_write_iter"]})
    sym["sockfs_dentry_operations"] = km.symbol("sockfs_dentry_operations", struct("dentry_operations"))
    km.fill(sym["sockfs_dentry_operations"], "dentry_operations", {"d_dname": sym["sockfs_dname"]})

    boot_ns = memory.boot_time * NSEC
    sym["tk_core"] = km.symbol("tk_core", struct("tk_core_t"))
    km.fill(sym["tk_core"], "tk_core_t", {
        "timekeeper.xtime_sec": memory.acquired_at, "timekeeper.wall_to_monotonic.tv_sec": -memory.boot_time,
        "timekeeper.offs_real": boot_ns, "timekeeper.offs_boot": 0, "timekeeper.offs_tai": boot_ns + 37 * NSEC,
    })
    sym["init_time_ns"] = km.symbol("init_time_ns", struct("time_namespace"))
    km.fill(sym["init_time_ns"], "time_namespace", {"ns.inum": INIT_TIME_NS_INUM, "ns.count.refs.counter": 1})
    sym["init_net"] = km.symbol("init_net", struct("net"))
    sym["net_namespace_list"] = km.symbol("net_namespace_list", struct("list_head"))
    km.fill(sym["init_net"], "net", {"ns.inum": INIT_NET_INUM, "passive.refs.counter": 1, "ifindex": 1})
    km.init_list(sym["init_net"], "net", "dev_base_head")
    km.link_list(sym["net_namespace_list"], [km.addr_of(sym["init_net"], "net", "list")])
    sym["init_nsproxy"] = km.symbol("init_nsproxy", struct("nsproxy"))
    km.fill(sym["init_nsproxy"], "nsproxy", {"count.counter": 1, "net_ns": sym["init_net"],
                                             "time_ns": sym["init_time_ns"],
                                             "time_ns_for_children": sym["init_time_ns"]})
    # fbdev: no framebuffer registered (a text-mode VGA guest with no DRM driver loaded)
    sym["num_registered_fb"] = km.symbol("num_registered_fb", base("int"), align=4)
    sym["registered_fb"] = km.symbol("registered_fb", array(FB_MAX, ptr(struct("fb_info"))))
    sym["init_cred"] = km.symbol("init_cred", struct("cred"))
    km.fill(sym["init_cred"], "cred", root_cred_caps())
    sym["init_files"] = km.symbol("init_files", struct("files_struct"))
    init_files_table(km, sym["init_files"])
    sym["init_fs"] = km.symbol("init_fs", struct("fs_struct"))
    sym["init_mm"] = km.symbol("init_mm", struct("mm_struct"))
    sym["init_task"] = km.symbol("init_task", struct("task_struct"))
    top, tables = _page_tables(km, memory.size_bytes)
    sym["init_top_pgt"] = top
    km.fill(sym["init_mm"], "mm_struct", {"pgd": top, "mm_users.counter": 2, "mm_count.counter": 1,
                                          "task_size": 0x7FFF_FFFF_F000})
    return KernelImage(km, tables, sym)


def root_cred_caps() -> dict[str, int | bytes]:
    """The capability sets of a root (or kernel) credential."""
    caps: dict[str, int | bytes] = {"usage.counter": 4}
    for field in ("cap_permitted", "cap_effective", "cap_bset"):
        caps[f"{field}.cap.0"], caps[f"{field}.cap.1"] = FULL_CAPS
    return caps


def init_files_table(km: KernelMemory, files: int) -> None:
    """Point ``files->fdt`` at the embedded table with ``NR_OPEN_DEFAULT`` slots."""
    km.fill(files, "files_struct", {
        "count.counter": 1,
        "fdt": km.addr_of(files, "files_struct", "fdtab"),
        "fdtab.max_fds": NR_OPEN_DEFAULT,
        "fdtab.fd": km.addr_of(files, "files_struct", "fd_array"),
        "fdtab.open_fds": km.addr_of(files, "files_struct", "open_fds_init"),
        "fdtab.close_on_exec": km.addr_of(files, "files_struct", "close_on_exec_init"),
        "fdtab.full_fds_bits": km.addr_of(files, "files_struct", "full_fds_bits_init"),
    })
