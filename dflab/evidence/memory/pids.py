"""PID lookup and kernel-thread identity: ``init_pid_ns.idr`` and ``struct kthread``.

``linux.pidhashtable`` enumerates tasks through the PID namespace's IDR (an
XArray since 4.20: 64-slot ``xa_node``s, internal pointers tagged ``2``) →
``struct pid`` → ``pid->tasks[PIDTYPE_PID]`` → ``task->pid_links[0]``.  A task
unlinked from the task list by a rootkit keeps its PID (``kill`` and ``/proc``
still need it), so pidhashtable finds what pslist misses.

``linux.kthreads`` reads ``task->set_child_tid`` of a kernel thread as its
``struct kthread`` (5.15) and names ``threadfn``: the function every kernel
thread of that name runs, as in a real kernel.
"""

from __future__ import annotations

import re

from dflab.evidence.memory.cstruct import struct
from dflab.evidence.memory.kernel import place_function
from dflab.evidence.memory.kernel_types import XA_CHUNK_SIZE
from dflab.evidence.memory.kmem import KernelMemory
from dflab.scenario.case import Process

XA_CHUNK_SHIFT = XA_CHUNK_SIZE.bit_length() - 1
XA_INTERNAL = 2
PIDTYPE_PID = 0
KTHREAD_IS_PER_CPU = 1 << 0

# comm pattern -> the thread function of 5.15 that runs it (kernel/, mm/, fs/...)
THREAD_FUNCTIONS: tuple[tuple[str, str], ...] = (
    (r"kworker/.*", "worker_thread"),
    (r"(ksoftirqd|migration|cpuhp|idle_inject)/\d+", "smpboot_thread_fn"),
    (r"rcu_(sched|preempt)", "rcu_gp_kthread"),
    (r"rcu_tasks_.*", "rcu_tasks_kthread"),
    (r"kdevtmpfs", "devtmpfsd"),
    (r"khungtaskd", "watchdog"),
    (r"oom_reaper", "oom_reaper"),
    (r"kswapd\d+", "kswapd"),
    (r"kcompactd\d+", "kcompactd"),
    (r"ksmd", "ksm_scan_thread"),
    (r"khugepaged", "khugepaged"),
    (r"kauditd", "kauditd_thread"),
    (r"jbd2/.*", "kjournald2"),
    (r"scsi_eh_\d+", "scsi_error_handler"),
    (r"irq/.*", "irq_thread"),
    (r".*", "rescuer_thread"),  # the rest are workqueue rescuers (rcu_gp, mm_percpu_wq, kblockd...)
)


def thread_function(comm: str) -> str:
    """The ``threadfn`` of a kernel thread named ``comm``."""
    return next(fn for pattern, fn in THREAD_FUNCTIONS if re.fullmatch(pattern, comm))


def build_kthreads(km: KernelMemory, sym: dict[str, int], threads: list[tuple[Process, int]]) -> None:
    """Give each kernel thread (``(process, task address)``) its ``struct kthread``.

    kthreadd itself is started by ``kernel_thread()``, not ``kthread_create()``, and has none."""
    # Every thread function this kernel has, whichever threads the case runs (jbd2's only with an ext4 root): the
    # text's layout is the kernel's, the same in every image and in the installed System.map.
    for name in sorted({fn for _, fn in THREAD_FUNCTIONS}):
        if name not in sym:
            sym[name] = place_function(km, name)
    for proc, task in threads:
        if proc.comm == "kthreadd":
            continue
        per_cpu = re.fullmatch(r"(ksoftirqd|migration|cpuhp|idle_inject)/\d+", proc.comm) is not None
        kthread = km.new("kthread", {"flags": KTHREAD_IS_PER_CPU if per_cpu else 0,
                                     "threadfn": sym[thread_function(proc.comm)]})
        km.fill(task, "task_struct", {"set_child_tid": kthread})


def build_pid_idr(km: KernelMemory, sym: dict[str, int], tasks: list[tuple[int, int]]) -> None:
    """``init_pid_ns`` with a ``struct pid`` for every ``(pid, task address)``, each linked to its task."""
    ns = sym["init_pid_ns"] = km.symbol("init_pid_ns", struct("pid_namespace"))
    entries: dict[int, int] = {}
    for pid, task in sorted(tasks):
        link = km.addr_of(task, "task_struct", "pid_links.0")
        spid = km.new("pid", {"count.refs.counter": 1, "level": 0, "numbers.0.nr": pid, "numbers.0.ns": ns,
                              f"tasks.{PIDTYPE_PID}.first": link})
        km.fill(link, "hlist_node", {"next": 0, "pprev": km.addr_of(spid, "pid", f"tasks.{PIDTYPE_PID}")})
        km.fill(task, "task_struct", {"thread_pid": spid})
        entries[pid] = spid
    xa = km.addr_of(ns, "pid_namespace", "idr.idr_rt")
    head = xa_tree(km, xa, entries) if entries else 0
    km.fill(ns, "pid_namespace", {"idr.idr_rt.xa_head": head, "idr.idr_next": max(entries, default=0) + 1,
                                  "pid_allocated": len(entries) + 1, "level": 0,
                                  "child_reaper": dict(tasks).get(1, 0)})
    km.fill(sym["init_nsproxy"], "nsproxy", {"pid_ns_for_children": ns})


def xa_tree(km: KernelMemory, xa: int, entries: dict[int, int]) -> int:
    """Build the XArray nodes holding ``entries`` (index -> pointer); returns the tagged head pointer."""
    shift = 0
    while max(entries) >> (shift + XA_CHUNK_SHIFT):
        shift += XA_CHUNK_SHIFT

    def node(base: int, shift: int, parent: int, offset: int) -> int:
        addr = km.new("xa_node", {"shift": shift, "offset": offset, "parent": parent, "array": xa})
        km.init_list(addr, "xa_node", "private_list")
        span = 1 << shift
        count = 0
        for slot in range(XA_CHUNK_SIZE):
            lo = base + slot * span
            inside = [i for i in entries if lo <= i < lo + span]
            if not inside:
                continue
            count += 1
            value = entries[lo] if shift == 0 else node(lo, shift - XA_CHUNK_SHIFT, addr, slot) | XA_INTERNAL
            km.fill(addr, "xa_node", {f"slots.{slot}": value})
        km.fill(addr, "xa_node", {"count": count})
        return addr

    return node(0, shift, 0, 0) | XA_INTERNAL
