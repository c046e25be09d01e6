"""Where a boot of the suspect host hands out its process ids: one layout that memory's process table
(:mod:`dflab.scenario.system`) and the logs' routine (:mod:`dflab.scenario.traces.story`) both follow.

The daemons whose pid the logs print (rsyslogd's ``x-pid``, ``systemd-logind[N]``, ``NetworkManager[N]``, the
greeter's ``gdm-launch-environment][N]``, the desktop's ``gdm-password][N]``) start in the same order every boot,
a few forks apart, so each is drawn per boot within a slot of its own. The slots are disjoint from one another and
from the fixed pids of the system's other services (all below :data:`BOOT_CEILING`), so a drawn pid can never take
another process's: collisions are impossible by construction, not filtered afterwards. What forks after the
greeter's login gets pids above the user's session (:data:`DESKTOP_SPAN` pids from its worker's), and the story's
own processes (the spec's pids) are stepped over, never taken.

Kept free of imports of the rest of the package: the traces load it while :mod:`dflab.scenario.content` loads.
"""

from __future__ import annotations

import hashlib

SSHD_PID = 640  # the listener the story's logins fork from ("parent: pid:640" in the bundled scenarios)
GDM_PID = 655
UDISKS_PID = 647  # udisks2.service, started beside sshd and gdm3 (graphical.target wants it)
JBD2_PID = 187  # the root file system's journal thread (jbd2/<dev>-8), then its ext4-rsv-conver workqueue
# The fixed pids of the boot's services (dflab.scenario.system._SERVICES and avahi's two): no slot holds one.
FIXED_PIDS = frozenset({298, 331, 497, 528, 529, 530, 531, 535, 588, SSHD_PID, UDISKS_PID, GDM_PID})

RSYSLOG_PIDS = (532, 533, 534, 536, 537, 538)
LOGIND_PIDS = range(539, 588)
NETWORK_MANAGER_PIDS = range(589, 640)
GREETER_PIDS = range(680, 700)  # the greeter's gdm-session-worker; its session takes the next GREETER_SPAN pids
GREETER_SPAN = 77
BOOT_CEILING = 776  # every pid the boot's own processes take is below this; what runs later gets larger ones
DESKTOP_PIDS = range(800, 860)  # the user's gdm-session-worker at the morning's login
DESKTOP_SPAN = 180  # pids the user's session (its GNOME, its Firefox) takes from its worker's on
GDM_UID = 112  # Debian-gdm's uid in the installed tree's /etc/passwd (ostree.accounts; a test holds them equal)
RSYSLOG_PID, LOGIND_PID, NETWORK_MANAGER_PID, GREETER_PID = 538, 566, 612, 690  # when the caller passes none


UPOWER_AT = 45  # upowerd's pid counted from the greeter's worker: the greeter's gnome-shell activates it


def service_starts(boot: float, rsyslog: int, network_manager: int) -> dict[str, float]:
    """When systemd forks the daemons whose first lines syslog prints, on a boot at ``boot`` (epoch seconds), keyed
    by their ``comm``: journald in the boot's second second, rsyslogd and then NetworkManager in its fourth (their
    pids come after cron's and dbus's, which start then). Decided here once, from the boot and its drawn pids, so
    memory's start times (:mod:`dflab.scenario.system`, whole seconds) and the logs' first lines
    (:mod:`dflab.scenario.traces.syslog`, a moment after these) cannot disagree."""
    digest = hashlib.sha256(f"services {float(boot)!r} {rsyslog} {network_manager}".encode()).digest()
    u = [int.from_bytes(digest[k : k + 4], "big") / 2**32 for k in (0, 4, 8)]
    rsyslogd = boot + 3 + 0.05 + 0.5 * u[1]
    return {"systemd-journal": boot + 1 + 0.05 + 0.8 * u[0], "rsyslogd": rsyslogd,
            "NetworkManager": rsyslogd + 0.05 + 0.3 * u[2]}


class Pids:
    """The ``k``-th pid the kernel hands out from ``first`` on, stepping over the story's own (``taken``)."""

    def __init__(self, first: int, taken: set[int] | frozenset[int]) -> None:
        self.free: list[int] = []
        self.next, self.taken = first, taken

    def __call__(self, k: int) -> int:
        while len(self.free) <= k:
            if self.next not in self.taken:
                self.free.append(self.next)
            self.next += 1
        return self.free[k]


def desktop_end(worker: int, taken: set[int] | frozenset[int]) -> int:
    """The last pid the user's session can hold when its worker is ``worker``: what forks later stays above it."""
    return Pids(worker, taken)(DESKTOP_SPAN - 1)
