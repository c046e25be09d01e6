"""Tasks: one ``task_struct`` per planned process, linked the way the plugins walk them.

``linux.pslist`` walks ``init_task.tasks``; a ``hidden`` process is unlinked
from that list (its own links poisoned like ``list_del`` leaves them) but its
``task_struct`` still carries a ``*_sched_class`` pointer, which is what
``linux.psscan`` searches physical memory for.  Creation times are
``start_boottime`` (ns since boot) added to the boot time kept in ``tk_core``:
the case's whole second plus a drawn sub-second part (:func:`start_fractions`).
Each ``task_struct`` comes from its own slab cache (``KernelMemory.new_cached``):
order-3 slabs of three ~9.7 KiB objects, spread through the direct map.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from dflab.errors import EvidenceError
from dflab.evidence.memory.kernel import (
    FULL_CAPS,
    NSEC,
    KernelImage,
    init_files_table,
    root_cred_caps,
)
from dflab.evidence.memory.kernel_types import NR_OPEN_DEFAULT
from dflab.evidence.memory.userspace import AddressSpace, Vma, argv
from dflab.evidence.memory.vfs import Vfs, vol_file_path
from dflab.scenario.case import Memory, OpenFile, Process

PF_KTHREAD, PF_NOFREEZE, PF_RANDOMIZE, PF_IDLE = 0x0020_0000, 0x0000_8000, 0x0040_0000, 0x2
TASK_RUNNING, TASK_INTERRUPTIBLE = 0, 1
LIST_POISON1, LIST_POISON2 = 0xDEAD_0000_0000_0100, 0xDEAD_0000_0000_0122
_SHELLS = ("bash", "sh", "dash")
TTY, DEV_NULL = "/dev/pts/0", "/dev/null"
MAX_FDS = 512  # one page of file pointers
# Processes whose first lines the logs print (dflab.scenario.traces.syslog: systemd's "Started" of journald,
# rsyslogd's start, logind's seat, NetworkManager's "is starting", the greeter's and the desktop's gdm PAM
# sessions): the second they start in starts them within its first LOGGED_WITHIN s. The logs print the first
# line of journald, rsyslogd and NetworkManager at least 0.03 s after the moment the plan starts them
# (dflab.scenario.pids.service_starts), whose whole second the case keeps, so memory's start precedes it.
LOGGED = frozenset({"systemd-journal", "rsyslogd", "systemd-logind", "NetworkManager", "gdm-session-wor"})
LOGGED_WITHIN = 0.02


@dataclass
class TaskFacts:
    """What the answer key needs about one task, in volatility's terms."""

    proc: Process
    task: int
    mm: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)
    sockets: list[dict[str, Any]] = field(default_factory=list)
    vmas: list[Vma] = field(default_factory=list)
    exe: dict[str, Any] | None = None  # the mapped executable's path, inode and device


def _where(proc: Process) -> str:
    return f"memory.processes[pid={proc.pid}]"


def _validate(memory: Memory) -> None:
    pids = [p.pid for p in memory.processes]
    if len(set(pids)) != len(pids):
        raise EvidenceError("duplicate pid", "memory.processes")
    for p in memory.processes:
        if p.pid <= 0 or (p.ppid and p.ppid not in pids):
            raise EvidenceError(f"pid {p.pid} / ppid {p.ppid} is not a valid pair", _where(p))
        if not p.comm or len(p.comm.encode()) > 15:
            raise EvidenceError(f"comm {p.comm!r} must be 1..15 bytes", _where(p))
        if not memory.boot_time <= p.start_time <= memory.acquired_at:
            raise EvidenceError("start_time is outside boot_time..acquired_at", _where(p))
        fds = [f.fd for f in p.open_files] + [s.fd for s in p.sockets]
        if len(set(fds)) != len(fds) or any(not 0 <= fd < MAX_FDS for fd in fds):
            raise EvidenceError(f"file descriptors {fds} must be unique and below {MAX_FDS}", _where(p))
        if p.kernel_thread and (fds or p.injected or p.bash_history):
            raise EvidenceError("a kernel thread has no files, sockets, history or user mappings", _where(p))


def start_fractions(processes: tuple[Process, ...] | list[Process], rng: random.Random) -> dict[int, int]:
    """The sub-second part (ns) of each process's start: the case keeps whole seconds, the kernel nanoseconds.

    Within one second, pids are handed out in fork order, so the fractions rise with the pid, and a child never
    starts before its parent. A connection's ``sshd: user [priv]`` (an sshd forked by sshd) starts as the listener
    accepts the TCP connection, before the password the logs accept at least 0.05 s later
    (dflab.scenario.traces.story); it and the :data:`LOGGED` daemons start early in their second, with whatever
    forked in that second before them.
    """
    by_second: dict[int, list[Process]] = {}
    for p in processes:
        by_second.setdefault(p.start_time, []).append(p)
    out: dict[int, int] = {}
    by_pid = {p.pid: p for p in processes}
    for group in by_second.values():
        group.sort(key=lambda p: p.pid)
        logged = any(p.comm in LOGGED or (p.comm == "sshd" and getattr(by_pid.get(p.ppid), "comm", "") == "sshd")
                     for p in group)
        top = int((LOGGED_WITHIN if logged else 1.0) * NSEC)
        draws = sorted(rng.randrange(1_000, top) for _ in group)
        last = 0
        for p, ns in zip(group, draws, strict=True):
            parent = by_pid.get(p.ppid)
            if parent is not None and parent.start_time == p.start_time and parent.pid in out:
                ns = max(ns, out[parent.pid] + rng.randrange(20_000, 900_000))  # fork, then exec
            last = out[p.pid] = min(max(ns, last + 1_000), NSEC - 1)
    return out


def vol_args(proc: Process) -> str:
    """The ARGS column of ``linux.psaux`` for ``proc``."""
    if proc.kernel_thread:
        return f"[{proc.comm}]"
    return " ".join(argv(proc))


def is_shell(proc: Process) -> bool:
    """``linux.bash`` only looks at tasks with these names."""
    return proc.comm in _SHELLS


class TaskBuilder:
    """Creates every task of ``memory`` in the kernel built by ``build_kernel``."""

    def __init__(self, kernel: KernelImage, vfs: Vfs, aspace: AddressSpace, memory: Memory,
                 rng: random.Random | None = None) -> None:
        """``rng`` draws the sub-second part of each start time and where each task sits in its slab."""
        self.rng = rng if rng is not None else random.Random(memory.banner)
        self.k = kernel
        self.km = kernel.km
        self.vfs = vfs
        self.aspace = aspace
        self.memory = memory

    def build(self) -> list[TaskFacts]:
        _validate(self.memory)
        km, sym = self.km, self.k.sym
        init_task = sym["init_task"]
        self.fractions = start_fractions(self.memory.processes, self.rng)
        addrs = {p.pid: km.new_cached("task_struct", self.rng) for p in self.memory.processes}
        addrs[0] = init_task
        facts = [self._task(p, addrs[p.pid], addrs[p.ppid]) for p in self.memory.processes]
        self._init_task(init_task, facts)  # before linking: it resets the idle task's own list heads
        visible = [f for f in facts if not f.proc.hidden]
        km.link_list(km.addr_of(init_task, "task_struct", "tasks"),
                     [km.addr_of(f.task, "task_struct", "tasks") for f in visible])
        for f in facts:
            if f.proc.hidden:
                km.fill(f.task, "task_struct", {"tasks.next": LIST_POISON1, "tasks.prev": LIST_POISON2})
        for parent_pid, parent in addrs.items():
            kids = [km.addr_of(f.task, "task_struct", "sibling") for f in facts if f.proc.ppid == parent_pid]
            km.link_list(km.addr_of(parent, "task_struct", "children"), kids)
        return facts

    def _init_task(self, task: int, facts: list[TaskFacts]) -> None:
        """The idle task; it keeps the mm of the last user task that ran, as the kernel's lazy TLB does."""
        km, sym = self.km, self.k.sym
        km.fill(sym["init_fs"], "fs_struct", {"users": 1, "umask": 0o22, **self._root_paths()})
        user_mms = [f for f in facts if not f.proc.kernel_thread and not f.proc.hidden]
        active_mm = sym["init_mm"]
        if user_mms:
            last = max(user_mms, key=lambda f: (f.proc.start_time, f.proc.pid))
            active_mm = last.mm
        self._common(task, pid=0, comm="swapper/0", parent=task, cred=sym["init_cred"], start_ns=0)
        km.fill(task, "task_struct", {"__state": TASK_RUNNING, "flags": PF_KTHREAD | PF_IDLE, "mm": 0,
                                      "active_mm": active_mm, "files": sym["init_files"], "fs": sym["init_fs"],
                                      "sched_class": sym["idle_sched_class"]})

    def _root_paths(self) -> dict[str, int | bytes]:
        v = self.vfs
        return {"root.mnt": v.root_mnt, "root.dentry": v.root_dentry, "pwd.mnt": v.root_mnt,
                "pwd.dentry": v.root_dentry}

    def _common(self, task: int, *, pid: int, comm: str, parent: int, cred: int, start_ns: int) -> None:
        km = self.km
        km.fill(task, "task_struct", {
            "pid": pid, "tgid": pid, "comm": comm.encode(), "real_parent": parent, "parent": parent,
            "group_leader": task, "real_cred": cred, "cred": cred, "nsproxy": self.k.sym["init_nsproxy"],
            "start_time": start_ns, "start_boottime": start_ns, "usage.refs.counter": 2, "prio": 120,
        })
        for head in ("thread_group", "thread_node", "ptraced", "ptrace_entry", "children", "sibling"):
            km.init_list(task, "task_struct", head)

    def _task(self, proc: Process, task: int, parent: int) -> TaskFacts:
        km, sym, mem = self.km, self.k.sym, self.memory
        facts = TaskFacts(proc, task)
        cred_values = root_cred_caps() if proc.uid == 0 else {"usage.counter": 2, "cap_bset.cap.0": FULL_CAPS[0],
                                                               "cap_bset.cap.1": FULL_CAPS[1]}
        cred = km.new("cred", {**cred_values, **{f"{n}.val": proc.uid for n in ("uid", "suid", "euid", "fsuid")},
                               **{f"{n}.val": proc.gid for n in ("gid", "sgid", "egid", "fsgid")}})
        self._common(task, pid=proc.pid, comm=proc.comm, parent=parent, cred=cred,
                     start_ns=(proc.start_time - mem.boot_time) * NSEC + self.fractions[proc.pid])
        values: dict[str, int | bytes] = {"__state": TASK_INTERRUPTIBLE, "sched_class": sym["fair_sched_class"]}
        if proc.kernel_thread:
            values.update(flags=PF_KTHREAD | PF_NOFREEZE, files=sym["init_files"], fs=sym["init_fs"])
        else:
            values.update(flags=PF_RANDOMIZE, files=self._files(proc, facts),
                          fs=km.new("fs_struct", {"users": 1, "umask": 0o22, **self._root_paths()}))
            exe_file, exe_head = 0, b""
            if proc.exe_path:
                exe_file, ino, exe = self.vfs.open_file(proc.exe_path, proc.uid, proc.gid)
                facts.exe = {"path": vol_file_path(proc.exe_path, exe.deleted), "inode": ino, "device": exe.dev}
                exe_head = self.vfs.disk_content(proc.exe_path)[:4096]
            facts.mm, facts.vmas = self.aspace.build(proc, task, exe_file, exe_head)
            values.update(mm=facts.mm, active_mm=facts.mm)
        km.fill(task, "task_struct", values)
        return facts

    def _stdio(self, proc: Process) -> list[OpenFile]:
        """fds 0-2 the case leaves unplanned: the terminal for a shell's descendants, else /dev/null.

        Every user process has them, and ``linux.lsof`` stops at a task whose fd 0 is empty.
        """
        by_pid = {p.pid: p for p in self.memory.processes}
        tty = False
        ancestor: Process | None = proc
        while ancestor is not None and not tty:
            tty = is_shell(ancestor)
            ancestor = by_pid.get(ancestor.ppid)
        used = {f.fd for f in proc.open_files} | {s.fd for s in proc.sockets}
        return [OpenFile(fd, TTY if tty else DEV_NULL) for fd in range(3) if fd not in used]

    def _fd_table(self, files: int, slots: dict[int, int]) -> None:
        """Install the open files: in the embedded table, or (a shell's fd 255) in a larger
        ``fdtable`` allocated separately, as the kernel's ``expand_files`` does."""
        km = self.km
        bitmap = sum(1 << fd for fd in slots)
        next_fd = min(fd for fd in range(MAX_FDS + 1) if fd not in slots)
        km.fill(files, "files_struct", {"next_fd": next_fd})
        if max(slots, default=0) < NR_OPEN_DEFAULT:
            km.fill(files, "files_struct", {"open_fds_init.0": bitmap,
                                            **{f"fd_array.{fd}": filp for fd, filp in slots.items()}})
            return
        max_fds = 1 << max(slots).bit_length()
        fd_array = km.alloc(max_fds * 8)
        pointers = bytearray(max_fds * 8)
        for fd, filp in slots.items():
            pointers[fd * 8 : fd * 8 + 8] = filp.to_bytes(8, "little")
        km.write(fd_array, bytes(pointers))
        bitmaps = [km.alloc(max_fds // 8) for _ in range(3)]
        km.write(bitmaps[0], bitmap.to_bytes(max_fds // 8, "little"))
        for zeroed in bitmaps[1:]:
            km.write(zeroed, bytes(max_fds // 8))
        fdt = km.new("fdtable", {"max_fds": max_fds, "fd": fd_array, "open_fds": bitmaps[0],
                                 "close_on_exec": bitmaps[1], "full_fds_bits": bitmaps[2]})
        km.fill(files, "files_struct", {"fdt": fdt})

    def _files(self, proc: Process, facts: TaskFacts) -> int:
        km = self.km
        files = km.new("files_struct")
        init_files_table(km, files)
        slots: dict[int, int] = {}
        for of in (*self._stdio(proc), *proc.open_files):
            filp, ino, fact = self.vfs.open_file(of.path, proc.uid, proc.gid)
            slots[of.fd] = filp
            facts.files.append({"fd": of.fd, "path": vol_file_path(of.path, fact.deleted), "inode": ino,
                                "device": fact.dev})
        for s in proc.sockets:
            filp, ino, sock = self.vfs.open_socket(s, proc.uid, proc.gid, proc.start_time, self.k.sym["init_net"])
            slots[s.fd] = filp
            facts.files.append({"fd": s.fd, "path": f"socket:[{ino}]", "inode": ino})
            facts.sockets.append({"fd": s.fd, "family": "AF_INET", "type": "STREAM" if s.proto == "tcp" else "DGRAM",
                                  "proto": s.proto.upper(), "local_ip": s.local_ip, "local_port": s.local_port,
                                  "remote_ip": s.remote_ip, "remote_port": s.remote_port,
                                  "state": sock.state, "flow": sock.flow, "inode": ino})
        self._fd_table(files, slots)
        facts.files.sort(key=lambda f: int(f["fd"]))
        facts.sockets.sort(key=lambda s: int(s["fd"]))
        return files
