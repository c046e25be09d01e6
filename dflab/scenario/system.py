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
