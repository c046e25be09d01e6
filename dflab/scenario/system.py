"""The ordinary processes of a Debian 12 GNOME desktop, so the story's processes hide among real-looking ones.

Only the story's processes carry answers; these make ``pslist``/``pstree`` look like the workstation the disk
and the logs describe, not a quiz: the kernel's threads, bookworm's root services (NetworkManager, not
systemd-resolved: a Debian desktop resolves through the DHCP server), GDM and, on top, a graphical session.
Who owns that session follows the traces (:mod:`dflab.scenario.traces.story`): while nobody is logged in, GDM's
greeter runs as ``Debian-gdm`` in session ``c1``; once the user has logged in at the greeter, GDM has stopped the
greeter and the user's GNOME on Wayland runs under their uid, its services children of their ``systemd --user``
(a child subreaper: what the session starts ends up under it), their Firefox ESR with its content processes.

PIDs are those of a freshly booted host: services below 700, the greeter after them, the user's session right
after its ``gdm-session-worker`` (the pid auth.log's ``gdm-password[pid]`` names). Start times are seconds after
the boot, or after the desktop login. Executables are the ones Debian 12's packages install (the installed tree
of :mod:`dflab.scenario.ostree` holds each, so memory and disk name the same inode).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from dflab.scenario.case import Process, Socket
from dflab.scenario.ostree.accounts import SYSTEM_USERS

# (uid, gid) of bookworm's system accounts, as /etc/passwd of the installed tree has them.
_IDS = {name: (uid, gid) for name, uid, gid, *_ in SYSTEM_USERS}
ROOT = _IDS["root"]
GDM = _IDS["Debian-gdm"]

SSHD_PID = 640  # the listener the story's logins fork from ("parent: pid:640" in the bundled scenarios)
GDM_PID = 655
LOGIND_PID = 566  # when the caller does not pass the boot's own (the traces draw it per boot)
NETWORK_MANAGER_PID = 612
SYSTEMD = "/usr/lib/systemd/systemd"
FIREFOX = "/usr/lib/firefox-esr/firefox-esr"

# (pid, comm, seconds after boot): threads a two-CPU Debian 6.1 guest runs (PREEMPT_DYNAMIC: RCU is rcu_preempt).
_KERNEL_THREADS: tuple[tuple[int, str, int], ...] = (
    (2, "kthreadd", 0), (3, "rcu_gp", 0), (4, "rcu_par_gp", 0), (5, "slub_flushwq", 0), (6, "netns", 0),
    (8, "kworker/0:0H", 0), (9, "mm_percpu_wq", 0), (10, "rcu_tasks_kthre", 0), (11, "rcu_tasks_rude_", 0),
    (12, "rcu_tasks_trace", 0), (13, "ksoftirqd/0", 0), (14, "rcu_preempt", 0), (15, "migration/0", 0),
    (17, "cpuhp/0", 0), (18, "cpuhp/1", 0), (20, "migration/1", 0), (21, "ksoftirqd/1", 0),
    (23, "kworker/1:0H", 0), (24, "kdevtmpfs", 0),
    (25, "inet_frag_wq", 0), (26, "kauditd", 0), (27, "khungtaskd", 0), (28, "oom_reaper", 0),
    (29, "writeback", 0), (30, "kcompactd0", 0), (31, "ksmd", 0), (32, "khugepaged", 0), (70, "kswapd0", 1),
    (71, "kblockd", 1), (72, "ata_sff", 1), (74, "scsi_eh_0", 1), (75, "scsi_tmf_0", 1), (76, "kworker/u4:1", 1),
    (78, "kworker/0:2", 2), (79, "kworker/1:1", 2),
)

# Root services and the daemons of the system's own accounts, started by PID 1:
# (pid, comm, args, seconds after boot, exe, account).
_SERVICES: tuple[tuple[int, str, tuple[str, ...], int, str, str], ...] = (
    (298, "systemd-journal", ("/lib/systemd/systemd-journald",), 1, "/usr/lib/systemd/systemd-journald", "root"),
    (331, "systemd-udevd", ("/lib/systemd/systemd-udevd",), 1, "/usr/lib/systemd/systemd-udevd", "root"),
    (497, "systemd-timesyn", ("/lib/systemd/systemd-timesyncd",), 2, "/usr/lib/systemd/systemd-timesyncd",
     "systemd-timesync"),
    (529, "cron", ("/usr/sbin/cron", "-f"), 3, "/usr/sbin/cron", "root"),
    (530, "dbus-daemon", ("@dbus-daemon", "--system", "--address=systemd:", "--nofork", "--nopidfile",
                          "--systemd-activation", "--syslog-only"), 3, "/usr/bin/dbus-daemon", "messagebus"),
    (535, "polkitd", ("/usr/lib/polkit-1/polkitd", "--no-debug"), 3, "/usr/lib/polkit-1/polkitd", "polkitd"),
    (538, "rsyslogd", ("/usr/sbin/rsyslogd", "-n", "-iNONE"), 3, "/usr/sbin/rsyslogd", "root"),
    (588, "cupsd", ("/usr/sbin/cupsd", "-l"), 4, "/usr/sbin/cupsd", "root"),
    (SSHD_PID, "sshd", ("sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups",), 5, "/usr/sbin/sshd", "root"),
    (GDM_PID, "gdm3", ("/usr/sbin/gdm3",), 5, "/usr/sbin/gdm3", "root"),
)

# GNOME's settings daemons, systemd user services of every graphical session (the greeter's included).
_GSD = ("gsd-power", "gsd-color", "gsd-keyboard", "gsd-media-keys", "gsd-xsettings", "gsd-sharing",
        "gsd-housekeeping")
# Firefox 128's child processes as about:processes names them, in their start order: (comm, last argument).
_FIREFOX_CHILDREN = (("Socket Process", "socket"), ("Privileged Cont", "tab"), ("RDD Process", "rdd"),
                     ("Isolated Web Co", "tab"), ("WebExtensions", "tab"), ("Utility Process", "utility"),
                     ("Isolated Web Co", "tab"), ("Web Content", "tab"), ("Web Content", "tab"))


@dataclass(frozen=True)
class Desktop:
    """The user's GNOME session, as the traces log it: who logged in at the greeter, when, through which worker."""

    uid: int
    gid: int
    login: int  # epoch seconds: when gdm-password opened the session (auth.log, wtmp's tty2 record)
    worker: int  # pid of its gdm-session-worker, auth.log's ``gdm-password][pid]``


def system_processes(boot_time: int, taken: set[int], *, hostname: str = "debian", logind: int = LOGIND_PID,
                     network_manager: int = NETWORK_MANAGER_PID, desktop: Desktop | None = None) -> list[Process]:
    """The standard process table; PIDs the story already uses are left out.

    ``hostname`` is what avahi announces (Debian's installer proposes "debian"); ``logind`` and
    ``network_manager`` are the boot's pids as the logs name them; ``desktop`` the user's graphical login, or
    None for the greeter waiting at the login screen.
    """
    rows = [Process(1, 0, "systemd", ("/sbin/init",), 0, 0, boot_time, SYSTEMD)]
    rows += [Process(pid, 0 if pid == 2 else 2, comm, (), 0, 0, boot_time + after, kernel_thread=True)
             for pid, comm, after in _KERNEL_THREADS]
    rows += [_proc(pid, 1, comm, args, _IDS[account], boot_time + after, exe)
             for pid, comm, args, after, exe, account in _SERVICES]
    avahi = _IDS["avahi"]
    rows += [
        _proc(528, 1, "avahi-daemon", (f"avahi-daemon: running [{hostname}.local]",), avahi, boot_time + 3,
              "/usr/sbin/avahi-daemon"),
        _proc(531, 528, "avahi-daemon", ("avahi-daemon: chroot helper",), avahi, boot_time + 3,
              "/usr/sbin/avahi-daemon"),
        _proc(logind, 1, "systemd-logind", ("/lib/systemd/systemd-logind",), ROOT, boot_time + 3,
              "/usr/lib/systemd/systemd-logind"),
        _proc(network_manager, 1, "NetworkManager", ("/usr/sbin/NetworkManager", "--no-daemon"), ROOT,
              boot_time + 3, "/usr/sbin/NetworkManager"),
    ]
    rows += _user_session(desktop) if desktop is not None else _greeter(boot_time + 6)
    by_pid: dict[int, Process] = {}
    for p in rows:
        if p.pid not in taken and p.pid not in by_pid:
            by_pid[p.pid] = p
    return [by_pid[pid] for pid in sorted(by_pid)]


def _proc(pid: int, ppid: int, comm: str, args: tuple[str, ...], ids: tuple[int, int], start: int,
          exe: str) -> Process:
    sockets = (Socket("tcp", "LISTEN", "0.0.0.0", 22, fd=3),) if pid == SSHD_PID else ()
    return Process(pid, ppid, comm[:15], args, ids[0], ids[1], start, exe, sockets=sockets)


def _user_manager(pid: int, ids: tuple[int, int], start: int) -> list[Process]:
    """logind's ``user@UID.service``: the user's ``systemd --user`` and the ``(sd-pam)`` that closes its PAM."""
    return [_proc(pid, 1, "systemd", ("/lib/systemd/systemd", "--user"), ids, start, SYSTEMD),
            _proc(pid + 1, pid, "(sd-pam)", ("(sd-pam)",), ids, start, SYSTEMD)]


def _gsd(first_pid: int, ppid: int, ids: tuple[int, int], start: int) -> list[Process]:
    return [_proc(first_pid + k, ppid, name, (f"/usr/libexec/{name}",), ids, start, f"/usr/libexec/{name}")
            for k, name in enumerate(_GSD)]


def _greeter(start: int) -> list[Process]:
    """GDM's login screen (session c1): gnome-shell as Debian-gdm, under ``dbus-run-session`` as GDM starts it."""
    autostart = ("--autostart", "/usr/share/gdm/greeter/autostart")
    return [
        _proc(690, GDM_PID, "gdm-session-worker", ("gdm-session-worker [pam/gdm-launch-environment]",), ROOT,
              start, "/usr/libexec/gdm-session-worker"),
        *_user_manager(700, GDM, start),
        _proc(706, 690, "gdm-wayland-session",
              ("/usr/libexec/gdm-wayland-session", "dbus-run-session", "--", "gnome-session", *autostart), GDM,
              start, "/usr/libexec/gdm-wayland-session"),
        _proc(708, 706, "dbus-run-session", ("dbus-run-session", "--", "gnome-session", *autostart), GDM, start,
              "/usr/bin/dbus-run-session"),
        _proc(709, 708, "dbus-daemon", ("dbus-daemon", "--nofork", "--print-address", "4", "--session"), GDM,
              start, "/usr/bin/dbus-daemon"),
        _proc(710, 708, "gnome-session-binary", ("/usr/libexec/gnome-session-binary", *autostart), GDM, start,
              "/usr/libexec/gnome-session-binary"),
        _proc(716, 700, "pipewire", ("/usr/bin/pipewire",), GDM, start + 1, "/usr/bin/pipewire"),
        _proc(717, 700, "wireplumber", ("/usr/bin/wireplumber",), GDM, start + 1, "/usr/bin/wireplumber"),
        _proc(725, 710, "gnome-shell", ("/usr/bin/gnome-shell",), GDM, start + 1, "/usr/bin/gnome-shell"),
        *_gsd(760, 710, GDM, start + 3),
    ]


def _user_session(d: Desktop) -> list[Process]:
    """The user's GNOME on Wayland after a password login at the greeter, and the Firefox they opened."""
    ids, w, t = (d.uid, d.gid), d.worker, d.login
    manager = w + 5
    shell = w + 40
    rows = [
        _proc(w, GDM_PID, "gdm-session-worker", ("gdm-session-worker [pam/gdm-password]",), ROOT, t,
              "/usr/libexec/gdm-session-worker"),
        # pam_gnome_keyring starts it in the worker's PAM stack; it daemonizes, so init adopts it.
        _proc(w + 3, 1, "gnome-keyring-daemon", ("/usr/bin/gnome-keyring-daemon", "--daemonize", "--login"), ids,
              t, "/usr/bin/gnome-keyring-daemon"),
        *_user_manager(manager, ids, t),
        _proc(w + 8, manager, "pipewire", ("/usr/bin/pipewire",), ids, t, "/usr/bin/pipewire"),
        _proc(w + 9, manager, "wireplumber", ("/usr/bin/wireplumber",), ids, t, "/usr/bin/wireplumber"),
        _proc(w + 10, manager, "dbus-daemon", ("/usr/bin/dbus-daemon", "--session", "--address=systemd:",
                                               "--nofork", "--nopidfile", "--systemd-activation", "--syslog-only"),
              ids, t, "/usr/bin/dbus-daemon"),
        _proc(w + 12, w, "gdm-wayland-session", ("/usr/libexec/gdm-wayland-session", "/usr/bin/gnome-session"),
              ids, t + 1, "/usr/libexec/gdm-wayland-session"),
        _proc(w + 14, w + 12, "gnome-session-binary", ("/usr/libexec/gnome-session-binary",), ids, t + 1,
              "/usr/libexec/gnome-session-binary"),
        _proc(w + 20, manager, "gnome-session-ctl", ("/usr/libexec/gnome-session-ctl", "--monitor"), ids, t + 2,
              "/usr/libexec/gnome-session-ctl"),
        _proc(w + 22, manager, "gnome-session-binary",
              ("/usr/libexec/gnome-session-binary", "--systemd-service", "--session=gnome"), ids, t + 2,
              "/usr/libexec/gnome-session-binary"),
        _proc(shell, manager, "gnome-shell", ("/usr/bin/gnome-shell",), ids, t + 2, "/usr/bin/gnome-shell"),
        _proc(w + 60, manager, "xdg-permission-store", ("/usr/libexec/xdg-permission-store",), ids, t + 3,
              "/usr/libexec/xdg-permission-store"),
        _proc(w + 66, manager, "gnome-shell-calendar-server", ("/usr/libexec/gnome-shell-calendar-server",), ids,
              t + 4, "/usr/libexec/gnome-shell-calendar-server"),
        _proc(w + 70, manager, "xdg-document-portal", ("/usr/libexec/xdg-document-portal",), ids, t + 4,
              "/usr/libexec/xdg-document-portal"),
        *_gsd(w + 80, manager, ids, t + 4),
        # mutter starts Xwayland on demand (for the first X11 client) with its own auth file.
        _proc(w + 100, shell, "Xwayland", ("/usr/bin/Xwayland", ":0", "-rootless", "-noreset", "-accessx", "-core",
                                           "-auth", f"/run/user/{d.uid}/.mutter-Xwaylandauth.{_suffix(d)}",
                                           "-listenfd", "4", "-listenfd", "5", "-displayfd", "6", "-initfd", "7",
                                           "-byteswappedclients"), ids, t + 5, "/usr/bin/Xwayland"),
        _proc(w + 110, manager, "xdg-desktop-portal", ("/usr/libexec/xdg-desktop-portal",), ids, t + 6,
              "/usr/libexec/xdg-desktop-portal"),
    ]
    return rows + _firefox(w + 160, manager, ids, t + 40, d)


def _suffix(d: Desktop) -> str:
    """mkstemp's six characters of the Xwayland auth file: fixed by the session, so rebuilds agree."""
    digest = hashlib.sha256(f"xwayland {d.uid} {d.login} {d.worker}".encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:6])


def _firefox(pid: int, manager: int, ids: tuple[int, int], start: int, d: Desktop) -> list[Process]:
    """firefox-esr as the dock launches it (the user manager adopts it) and its children, which Firefox execs
    from its own binary with ``-contentproc`` and the parent's pid and IPC channel id."""
    channel = "{" + str(uuid.UUID(bytes=hashlib.sha256(f"firefox {d.uid} {d.login}".encode()).digest()[:16],
                                  version=4)) + "}"
    rows = [_proc(pid, manager, "firefox-esr", (FIREFOX,), ids, start, FIREFOX)]
    tabs = 0
    for k, (comm, kind) in enumerate(_FIREFOX_CHILDREN, start=1):
        tabs += kind == "tab"
        child = ("-childID", str(tabs), "-isForBrowser") if kind == "tab" else ()  # content processes count
        args = (FIREFOX, "-contentproc", *child, "-prefsLen", "31398", "-prefMapSize", "244806",
                "-greomni", "/usr/lib/firefox-esr/omni.ja", "-appomni", "/usr/lib/firefox-esr/browser/omni.ja",
                "-appDir", "/usr/lib/firefox-esr/browser", channel, str(pid), "true", kind)
        rows.append(_proc(pid + 20 + 9 * k, pid, comm, args, ids, start + 1 + k // 3, FIREFOX))
    return rows


# The modules `lsmod` lists on the QEMU/KVM guest, in load order (ostree's modules.dep indexes the same names).
# (name, core size, text size), sizes in bytes as /proc/modules gives them, rounded to pages.
KERNEL_MODULES: tuple[tuple[str, int, int], ...] = (
    ("floppy", 118784, 73728), ("pata_acpi", 16384, 4096), ("i2c_piix4", 32768, 12288),
    ("libahci", 49152, 28672), ("ahci", 45056, 20480), ("e1000", 159744, 98304),
    ("psmouse", 176128, 110592), ("crc32_pclmul", 16384, 8192), ("autofs4", 49152, 28672),
    ("x_tables", 53248, 24576), ("ip_tables", 32768, 12288), ("msr", 16384, 4096),
    ("sch_fq_codel", 20480, 12288), ("mac_hid", 16384, 4096), ("serio_raw", 20480, 4096),
    ("input_leds", 16384, 4096), ("joydev", 32768, 16384), ("nls_iso8859_1", 16384, 4096),
)
