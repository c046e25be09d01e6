"""The places rootkits hook, left clean: tty line disciplines, keyboard notifiers, ftrace, tracepoints.

* ``linux.malware.tty_check`` walks ``tty_drivers`` and each open tty's
  ``ldisc->ops->receive_buf``; every open tty here uses N_TTY
  (``n_tty_receive_buf`` in kernel text): ``tty1`` (agetty's console) and, when
  a shell runs, ``pts0`` with its ``ptm0`` master.
* ``keyboard_notifiers`` walks ``keyboard_notifier_list``: no module registers
  one on a server, so the chain is empty.
* ``check_afinfo`` reads the ``seq_operations`` behind ``/proc/net/tcp``,
  ``udp``, ``raw``, ``unix``, ``packet``... (what netstat reads, and what a
  rootkit hooks to hide a connection): every pointer is at its kernel symbol.
* ``tracing.perf_events`` walks each task's ``perf_event_list``: no process
  opened a perf event, so every list is empty.
* ``tracing.ftrace`` walks ``ftrace_ops_list`` to ``ftrace_list_end``: empty
  (nobody traces); ``tracing.tracepoints`` reads the ``__start___tracepoints_ptrs``
  section (32-bit offsets relative to each slot, x86-64's PREL32 relocations):
  the scheduler and syscall tracepoints exist with no probe attached.
"""

from __future__ import annotations

from dflab.evidence.memory.cstruct import array, base, ptr, struct
from dflab.evidence.memory.kernel import place_function
from dflab.evidence.memory.kmem import KernelMemory

TTY_MAGIC, TTY_DRIVER_MAGIC = 0x5401, 0x5402
TTY_DRIVER_TYPE_CONSOLE, TTY_DRIVER_TYPE_PTY = 2, 4
PTY_TYPE_MASTER, PTY_TYPE_SLAVE = 1, 2
N_TTY = 0
MAX_TTYS = 512  # one page of tty pointers
# /proc/net seq_operations of 5.15: variable -> (start, stop, next, show)
SEQ_OPS = {
    "tcp4_seq_ops": ("tcp_seq_start", "tcp_seq_stop", "tcp_seq_next", "tcp4_seq_show"),
    "tcp6_seq_ops": ("tcp_seq_start", "tcp_seq_stop", "tcp_seq_next", "tcp6_seq_show"),
    "udp_seq_ops": ("udp_seq_start", "udp_seq_stop", "udp_seq_next", "udp4_seq_show"),
    "udp6_seq_ops": ("udp_seq_start", "udp_seq_stop", "udp_seq_next", "udp6_seq_show"),
    "raw_seq_ops": ("raw_seq_start", "raw_seq_stop", "raw_seq_next", "raw_seq_show"),
    "raw6_seq_ops": ("raw_seq_start", "raw_seq_stop", "raw_seq_next", "raw6_seq_show"),
    "arp_seq_ops": ("arp_seq_start", "neigh_seq_stop", "neigh_seq_next", "arp_seq_show"),
    "unix_seq_ops": ("unix_seq_start", "unix_seq_stop", "unix_seq_next", "unix_seq_show"),
    "packet_seq_ops": ("packet_seq_start", "packet_seq_stop", "packet_seq_next", "packet_seq_show"),
}
TRACEPOINTS = ("sched_switch", "sched_wakeup", "sched_process_fork", "sched_process_exec", "sched_process_exit",
               "sys_enter", "sys_exit", "irq_handler_entry", "irq_handler_exit", "module_load")


def build_ttys(km: KernelMemory, sym: dict[str, int], with_pty: bool) -> list[str]:
    """The tty drivers with their open ttys; returns the open ttys' names."""
    sym["n_tty_receive_buf"] = place_function(km, "n_tty_receive_buf")
    n_tty_ops = km.symbol("n_tty_ops", struct("tty_ldisc_ops"))
    km.fill(n_tty_ops, "tty_ldisc_ops", {"name": km.new_string(b"n_tty"), "num": N_TTY,
                                         "receive_buf": sym["n_tty_receive_buf"]})
    sym["tty_drivers"] = km.symbol("tty_drivers", struct("list_head"))
    # (driver name, device name, major, first minor, ttys, type, subtype, open ttys); the pty drivers' tables
    # are cut to one page of pointers (the kernel allocates NR_UNIX98_PTY_MAX = 4096)
    drivers = [("console", "tty", 4, 1, 63, TTY_DRIVER_TYPE_CONSOLE, 0, ["tty1"])]
    if with_pty:
        drivers += [("pty_master", "ptm", 128, 0, MAX_TTYS, TTY_DRIVER_TYPE_PTY, PTY_TYPE_MASTER, ["ptm0"]),
                    ("pty_slave", "pts", 136, 0, MAX_TTYS, TTY_DRIVER_TYPE_PTY, PTY_TYPE_SLAVE, ["pts0"])]
    heads, opened = [], []
    for driver_name, name, major, minor_start, num, kind, subtype, ttys in drivers:
        driver = km.new("tty_driver", {"magic": TTY_DRIVER_MAGIC, "kref.refcount.refs.counter": 1,
                                       "driver_name": km.new_string(driver_name.encode()),
                                       "name": km.new_string(name.encode()), "major": major,
                                       "minor_start": minor_start, "num": num, "type": kind, "subtype": subtype})
        slots = bytearray(num * 8)
        for index, tty_name in enumerate(ttys):
            ldisc = km.new("tty_ldisc", {"ops": n_tty_ops})
            tty = km.new("tty_struct", {"magic": TTY_MAGIC, "kref.refcount.refs.counter": 1, "driver": driver,
                                        "ldisc": ldisc, "index": index, "name": tty_name.encode()})
            km.fill(ldisc, "tty_ldisc", {"tty": tty})
            slots[index * 8 : index * 8 + 8] = tty.to_bytes(8, "little")
            opened.append(tty_name)
        table = km.alloc(len(slots))
        km.write(table, bytes(slots))
        km.fill(driver, "tty_driver", {"ttys": table})
        heads.append(km.addr_of(driver, "tty_driver", "tty_drivers"))
    km.link_list(sym["tty_drivers"], heads)
    return opened


def build_perf_event_lists(km: KernelMemory, tasks: list[int]) -> None:
    """Every task's (empty) list of the perf events it owns."""
    for task in tasks:
        km.init_list(task, "task_struct", "perf_event_list")


def build_notifiers_and_tracing(km: KernelMemory, sym: dict[str, int]) -> None:
    """The /proc/net seq_operations, an empty keyboard notifier chain and ftrace ops list, and tracepoints
    without probes."""
    for name in sorted({fn for fns in SEQ_OPS.values() for fn in fns}):
        sym[name] = place_function(km, name)
    for var, (start, stop, nxt, show) in SEQ_OPS.items():
        sym[var] = km.symbol(var, struct("seq_operations"))
        km.fill(sym[var], "seq_operations", {"start": sym[start], "stop": sym[stop], "next": sym[nxt],
                                             "show": sym[show]})
    sym["keyboard_notifier_list"] = km.symbol("keyboard_notifier_list", struct("atomic_notifier_head"))
    sym["ftrace_stub"] = place_function(km, "ftrace_stub")
    sym["ftrace_list_end"] = km.symbol("ftrace_list_end", struct("ftrace_ops"))
    km.fill(sym["ftrace_list_end"], "ftrace_ops", {"func": sym["ftrace_stub"], "next": sym["ftrace_list_end"]})
    sym["ftrace_ops_list"] = km.symbol("ftrace_ops_list", ptr(struct("ftrace_ops")), align=8)
    km.write(sym["ftrace_ops_list"], sym["ftrace_list_end"].to_bytes(8, "little"))
    points = []
    for name in TRACEPOINTS:
        addr = sym[f"__tracepoint_{name}"] = km.symbol(f"__tracepoint_{name}", struct("tracepoint"))
        km.fill(addr, "tracepoint", {"name": km.new_string(name.encode())})
        points.append(addr)
    start = sym["__start___tracepoints_ptrs"] = km.symbol("__start___tracepoints_ptrs",
                                                         array(len(points), base("int")), align=8)
    km.write(start, b"".join((p - (start + 4 * i)).to_bytes(4, "little", signed=True)
                             for i, p in enumerate(points)))
    sym["__stop___tracepoints_ptrs"] = start + 4 * len(points)
    km.label("__stop___tracepoints_ptrs", start + 4 * len(points))
