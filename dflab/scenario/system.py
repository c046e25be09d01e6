"""The ordinary processes of an Ubuntu 22.04 host, so the story's processes hide among real-looking ones.

Only the story's processes carry answers; these make ``pslist`` look like a
machine, not a quiz.  PIDs are fixed (as on a freshly booted host) and start
times are seconds after boot.
"""

from __future__ import annotations

from dflab.scenario.case import Process, Socket

# (pid, ppid, comm, args, seconds after boot, exe, kernel thread)
_TABLE: tuple[tuple[int, int, str, tuple[str, ...], int, str, bool], ...] = (
    (1, 0, "systemd", ("/sbin/init", "splash"), 0, "/usr/lib/systemd/systemd", False),
    (2, 0, "kthreadd", (), 0, "", True),
    (3, 2, "rcu_gp", (), 0, "", True),
    (4, 2, "rcu_par_gp", (), 0, "", True),
    (9, 2, "mm_percpu_wq", (), 0, "", True),
    (10, 2, "ksoftirqd/0", (), 0, "", True),
    (11, 2, "rcu_sched", (), 0, "", True),
    (12, 2, "migration/0", (), 0, "", True),
    (15, 2, "kdevtmpfs", (), 0, "", True),
    (19, 2, "khungtaskd", (), 0, "", True),
    (20, 2, "oom_reaper", (), 0, "", True),
    (70, 2, "kswapd0", (), 1, "", True),
    # More of the kernel threads a two-CPU guest has (workqueue rescuers, per-CPU threads, mm daemons).
    (5, 2, "slub_flushwq", (), 0, "", True),
    (6, 2, "netns", (), 0, "", True),
    (8, 2, "kworker/0:0H", (), 0, "", True),
    (13, 2, "rcu_tasks_rude_", (), 0, "", True),
    (14, 2, "rcu_tasks_trace", (), 0, "", True),
    (16, 2, "cpuhp/0", (), 0, "", True),
    (17, 2, "cpuhp/1", (), 0, "", True),
    (18, 2, "migration/1", (), 0, "", True),
    (21, 2, "ksoftirqd/1", (), 0, "", True),
    (23, 2, "kworker/1:0H", (), 0, "", True),
    (24, 2, "kauditd", (), 0, "", True),
    (25, 2, "writeback", (), 0, "", True),
    (26, 2, "kcompactd0", (), 0, "", True),
    (27, 2, "ksmd", (), 0, "", True),
    (28, 2, "khugepaged", (), 0, "", True),
    (71, 2, "kblockd", (), 1, "", True),
    (72, 2, "ata_sff", (), 1, "", True),
    (74, 2, "scsi_eh_0", (), 1, "", True),
    (75, 2, "scsi_tmf_0", (), 1, "", True),
    (76, 2, "kworker/u4:1", (), 1, "", True),
    (78, 2, "kworker/0:2", (), 2, "", True),
    (79, 2, "kworker/1:1", (), 2, "", True),
    (298, 1, "systemd-journal", ("/lib/systemd/systemd-journald",), 2, "/usr/lib/systemd/systemd-journald", False),
    (335, 1, "systemd-udevd", ("/lib/systemd/systemd-udevd",), 2, "/usr/lib/systemd/systemd-udevd", False),
    (512, 1, "systemd-resolve", ("/lib/systemd/systemd-resolved",), 4, "/usr/lib/systemd/systemd-resolved",
     False),
    (540, 1, "cron", ("/usr/sbin/cron", "-f", "-P"), 5, "/usr/sbin/cron", False),
    (541, 1, "dbus-daemon", ("@dbus-daemon", "--system", "--address=systemd:", "--nofork", "--nopidfile",
                              "--systemd-activation", "--syslog-only"), 5, "/usr/bin/dbus-daemon", False),
    (548, 1, "rsyslogd", ("/usr/sbin/rsyslogd", "-n", "-iNONE"), 5, "/usr/sbin/rsyslogd", False),
    (552, 1, "systemd-logind", ("/lib/systemd/systemd-logind",), 5, "/usr/lib/systemd/systemd-logind", False),
    (601, 1, "agetty", ("/sbin/agetty", "-o", "-p -- \\u", "--noclear", "tty1", "linux"), 6, "/usr/sbin/agetty",
     False),
    (640, 1, "sshd", ("sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups",), 6, "/usr/sbin/sshd", False),
)

SSHD_PID = 640

# The modules `lsmod` lists on an Ubuntu 22.04 guest under QEMU/KVM, in load order:
# (name, core size, text size), sizes in bytes as /proc/modules gives them, rounded to pages.
KERNEL_MODULES: tuple[tuple[str, int, int], ...] = (
    ("floppy", 118784, 73728), ("pata_acpi", 16384, 4096), ("i2c_piix4", 32768, 12288),
    ("libahci", 49152, 28672), ("ahci", 45056, 20480), ("e1000", 159744, 98304),
    ("psmouse", 176128, 110592), ("crc32_pclmul", 16384, 8192), ("autofs4", 49152, 28672),
    ("x_tables", 53248, 24576), ("ip_tables", 32768, 12288), ("msr", 16384, 4096),
    ("sch_fq_codel", 20480, 12288), ("mac_hid", 16384, 4096), ("serio_raw", 20480, 4096),
    ("input_leds", 16384, 4096), ("joydev", 32768, 16384), ("nls_iso8859_1", 16384, 4096),
)


def system_processes(boot_time: int, taken: set[int]) -> list[Process]:
    """The standard process table; PIDs the story already uses are left out."""
    out = []
    for pid, ppid, comm, args, after, exe, kthread in _TABLE:
        if pid in taken:
            continue
        sockets = (Socket("tcp", "LISTEN", "0.0.0.0", 22, fd=3),) if pid == SSHD_PID else ()
        out.append(Process(pid, ppid, comm, args, 0, 0, boot_time + after, exe, kernel_thread=kthread,
                           sockets=sockets))
    return out
