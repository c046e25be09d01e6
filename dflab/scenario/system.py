"""The ordinary processes of a Debian 12 GNOME desktop, so the story's processes hide among real-looking ones.

Only the story's processes carry answers; these make ``pslist``/``pstree`` look like the workstation the disk
and the logs describe, not a quiz: the kernel's threads, bookworm's root services (NetworkManager, not
systemd-resolved: a Debian desktop resolves through the DHCP server), GDM and, on top, a graphical session.
Who owns that session follows the traces (:mod:`dflab.scenario.traces.story`): while nobody is logged in, GDM's
greeter runs as ``Debian-gdm`` in session ``c1``; once the user has logged in at the greeter, GDM has stopped the
greeter and the user's GNOME on Wayland runs under their uid, its services children of their ``systemd --user``
(a child subreaper: what the session starts ends up under it), their Firefox ESR with its content processes.

Who logged in, when, and the pids the logs print (logind's, NetworkManager's, rsyslogd's, the greeter's and the
desktop's workers) are decided once by the logs' plan, which the resolver builds before this table
(:meth:`dflab.scenario.resolve._Resolver.routine`) and passes in. PIDs follow one layout (:mod:`dflab.scenario.pids`):
fixed services and drawn daemons in disjoint slots below 700, the greeter after them, the user's session from its
``gdm-session-worker`` on (the pid auth.log's ``gdm-password][pid]`` and wtmp's tty2 record name), stepping over
the story's own pids. Start times are seconds after the boot, or after the desktop login. Executables are the
ones Debian 12's packages install (the installed tree of :mod:`dflab.scenario.ostree` holds each, so memory and
disk name the same inode).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, replace

from dflab.scenario.case import OpenFile, Process, Socket
from dflab.scenario.ostree.accounts import SYSTEM_USERS
from dflab.scenario.pids import (  # the pid layout of a boot, shared with the logs' routine
    DESKTOP_PIDS,
    DESKTOP_SPAN,
    GDM_PID,
    GREETER_PID,
    GREETER_PIDS,
    JBD2_PID,
    LOGIND_PID,
    LOGIND_PIDS,
    NETWORK_MANAGER_PID,
    NETWORK_MANAGER_PIDS,
    RSYSLOG_PID,
    RSYSLOG_PIDS,
    SSHD_PID,
    UDISKS_PID,
    UPOWER_AT,
    Pids,
    service_starts,
)

# (uid, gid) of bookworm's system accounts, as /etc/passwd of the installed tree has them.
_IDS = {name: (uid, gid) for name, uid, gid, *_ in SYSTEM_USERS}
ROOT = _IDS["root"]
GDM = _IDS["Debian-gdm"]

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
    (331, "systemd-udevd", ("/lib/systemd/systemd-udevd",), 1, "/usr/lib/systemd/systemd-udevd", "root"),
    (497, "systemd-timesyn", ("/lib/systemd/systemd-timesyncd",), 2, "/usr/lib/systemd/systemd-timesyncd",
     "systemd-timesync"),
    (529, "cron", ("/usr/sbin/cron", "-f"), 3, "/usr/sbin/cron", "root"),
    (530, "dbus-daemon", ("@dbus-daemon", "--system", "--address=systemd:", "--nofork", "--nopidfile",
                          "--systemd-activation", "--syslog-only"), 3, "/usr/bin/dbus-daemon", "messagebus"),
    (535, "polkitd", ("/usr/lib/polkit-1/polkitd", "--no-debug"), 3, "/usr/lib/polkit-1/polkitd", "polkitd"),
    (588, "cupsd", ("/usr/sbin/cupsd", "-l"), 4, "/usr/sbin/cupsd", "root"),
    (SSHD_PID, "sshd", ("sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups",), 5, "/usr/sbin/sshd", "root"),
    (UDISKS_PID, "udisksd", ("/usr/libexec/udisks2/udisksd",), 5, "/usr/libexec/udisks2/udisksd", "root"),
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
    worker: int  # pid of its gdm-session-worker, auth.log's ``gdm-password][pid]`` and wtmp's tty2 record's pid


def system_processes(boot_time: int, taken: set[int], *, hostname: str = "debian", logind: int = LOGIND_PID,
                     network_manager: int = NETWORK_MANAGER_PID, rsyslog: int = RSYSLOG_PID,
                     greeter: int = GREETER_PID, desktop: Desktop | None = None, root_device: str | None = None,
                     firefox_profile: str | None = None) -> list[Process]:
    """The standard process table; PIDs the story already uses are left out of the fixed services, and the
    user's session, whose pids run on from its worker, steps over them.

    ``hostname`` is what avahi announces (Debian's installer proposes "debian"); ``logind``, ``network_manager``,
    ``rsyslog`` and ``greeter`` are the boot's pids as the logs name them, each in its slot (``*_PIDS``);
    ``desktop`` the user's graphical login (GDM then has stopped the greeter), or None for the greeter waiting
    at the login screen. ``root_device`` is the root file system's block device as the kernel names it ("sda2"):
    ext4 mounting it started its journal's ``jbd2/sda2-8`` and its ``ext4-rsv-conver`` (without it, neither is
    listed); ``firefox_profile`` the user's Firefox profile folder, whose databases Firefox holds open. The
    moments journald, rsyslogd and NetworkManager start are :func:`dflab.scenario.pids.service_starts`'s, the
    logs' first lines of each a moment later.
    """
    for name, pid, slot in (("logind", logind, LOGIND_PIDS), ("network_manager", network_manager,
                                                              NETWORK_MANAGER_PIDS), ("rsyslog", rsyslog, RSYSLOG_PIDS),
                            ("greeter", greeter, GREETER_PIDS)):
        if pid not in slot:
            raise ValueError(f"{name} pid {pid} is outside its slot {slot}: it could take a fixed service's")
    if desktop is not None and desktop.worker not in DESKTOP_PIDS:
        raise ValueError(f"the desktop's worker pid {desktop.worker} is outside {DESKTOP_PIDS}")
    starts = {comm: int(t) for comm, t in service_starts(float(boot_time), rsyslog, network_manager).items()}
    threads = list(_KERNEL_THREADS)
    if root_device is not None:  # the root's journal and ext4's conversion workqueue, as the initramfs mounts it
        threads += [(JBD2_PID, f"jbd2/{root_device}-8"[:15], 1), (JBD2_PID + 1, "ext4-rsv-conver", 1)]
    rows = [Process(1, 0, "systemd", ("/sbin/init",), 0, 0, boot_time, SYSTEMD)]
    rows += [Process(pid, 0 if pid == 2 else 2, comm, (), 0, 0, boot_time + after, kernel_thread=True)
             for pid, comm, after in threads]
    rows.append(_proc(298, 1, "systemd-journal", ("/lib/systemd/systemd-journald",), ROOT,
                      starts["systemd-journal"], "/usr/lib/systemd/systemd-journald"))
    rows += [_proc(pid, 1, comm, args, _IDS[account], boot_time + after, exe)
             for pid, comm, args, after, exe, account in _SERVICES]
    avahi = _IDS["avahi"]
    rows += [
        _proc(528, 1, "avahi-daemon", (f"avahi-daemon: running [{hostname}.local]",), avahi, boot_time + 3,
              "/usr/sbin/avahi-daemon"),
        _proc(531, 528, "avahi-daemon", ("avahi-daemon: chroot helper",), avahi, boot_time + 3,
              "/usr/sbin/avahi-daemon"),
        _proc(rsyslog, 1, "rsyslogd", ("/usr/sbin/rsyslogd", "-n", "-iNONE"), ROOT, starts["rsyslogd"],
              "/usr/sbin/rsyslogd"),
        _proc(logind, 1, "systemd-logind", ("/lib/systemd/systemd-logind",), ROOT, boot_time + 3,
              "/usr/lib/systemd/systemd-logind"),
        _proc(network_manager, 1, "NetworkManager", ("/usr/sbin/NetworkManager", "--no-daemon"), ROOT,
              starts["NetworkManager"], "/usr/sbin/NetworkManager"),
        # upower.service is D-Bus activated: the greeter's gnome-shell (its power indicator) asks for it.
        _proc(greeter + UPOWER_AT, 1, "upowerd", ("/usr/libexec/upowerd",), ROOT, boot_time + 8,
              "/usr/libexec/upowerd"),
    ]
    fixed = [p for p in rows if p.pid not in taken]
    session = _user_session(desktop, taken, firefox_profile) if desktop is not None else \
        [p for p in _greeter(greeter, boot_time + 6) if p.pid not in taken]
    return sorted(fixed + session, key=lambda p: p.pid)


def _proc(pid: int, ppid: int, comm: str, args: tuple[str, ...], ids: tuple[int, int], start: int,
          exe: str) -> Process:
    sockets = (Socket("tcp", "LISTEN", "0.0.0.0", 22, fd=3),) if pid == SSHD_PID else ()
    return Process(pid, ppid, comm[:15], args, ids[0], ids[1], start, exe, sockets=sockets)


def _user_manager(pid: int, ids: tuple[int, int], start: int, sd_pam: int | None = None) -> list[Process]:
    """logind's ``user@UID.service``: the user's ``systemd --user`` and the ``(sd-pam)`` that closes its PAM."""
    return [_proc(pid, 1, "systemd", ("/lib/systemd/systemd", "--user"), ids, start, SYSTEMD),
            _proc(sd_pam or pid + 1, pid, "(sd-pam)", ("(sd-pam)",), ids, start, SYSTEMD)]


def _greeter(g: int, start: int) -> list[Process]:
    """GDM's login screen (session c1): gnome-shell as Debian-gdm, under ``dbus-run-session`` as GDM starts it;
    ``g`` its gdm-session-worker, the greeter's session the next :data:`GREETER_SPAN` pids."""
    autostart = ("--autostart", "/usr/share/gdm/greeter/autostart")
    gsd = [_proc(g + 70 + k, g + 20, name, (f"/usr/libexec/{name}",), GDM, start + 3, f"/usr/libexec/{name}")
           for k, name in enumerate(_GSD)]
    return [
        _proc(g, GDM_PID, "gdm-session-worker", ("gdm-session-worker [pam/gdm-launch-environment]",), ROOT,
              start, "/usr/libexec/gdm-session-worker"),
        *_user_manager(g + 10, GDM, start),
        _proc(g + 16, g, "gdm-wayland-session",
              ("/usr/libexec/gdm-wayland-session", "dbus-run-session", "--", "gnome-session", *autostart), GDM,
              start, "/usr/libexec/gdm-wayland-session"),
        _proc(g + 18, g + 16, "dbus-run-session", ("dbus-run-session", "--", "gnome-session", *autostart), GDM,
              start, "/usr/bin/dbus-run-session"),
        _proc(g + 19, g + 18, "dbus-daemon", ("dbus-daemon", "--nofork", "--print-address", "4", "--session"), GDM,
              start, "/usr/bin/dbus-daemon"),
        _proc(g + 20, g + 18, "gnome-session-binary", ("/usr/libexec/gnome-session-binary", *autostart), GDM,
              start, "/usr/libexec/gnome-session-binary"),
        _proc(g + 26, g + 10, "pipewire", ("/usr/bin/pipewire",), GDM, start + 1, "/usr/bin/pipewire"),
        _proc(g + 27, g + 10, "wireplumber", ("/usr/bin/wireplumber",), GDM, start + 1, "/usr/bin/wireplumber"),
        _proc(g + 35, g + 20, "gnome-shell", ("/usr/bin/gnome-shell",), GDM, start + 1, "/usr/bin/gnome-shell"),
        *gsd,
    ]


def _user_session(d: Desktop, taken: set[int], profile: str | None = None) -> list[Process]:
    """The user's GNOME on Wayland after a password login at the greeter, and the Firefox they opened.

    Offsets count the pids handed out since the worker's (a login forks helpers that exit: the gaps), each
    stepping over a pid the story holds, so the session never takes one and ends below
    ``pids.desktop_end``."""
    at = Pids(d.worker, taken)
    ids, t = (d.uid, d.gid), d.login
    w, manager, shell = at(0), at(5), at(40)
    rows = [
        _proc(w, GDM_PID, "gdm-session-worker", ("gdm-session-worker [pam/gdm-password]",), ROOT, t,
              "/usr/libexec/gdm-session-worker"),
        # pam_gnome_keyring starts it in the worker's PAM stack; it daemonizes, so init adopts it.
        _proc(at(3), 1, "gnome-keyring-daemon", ("/usr/bin/gnome-keyring-daemon", "--daemonize", "--login"), ids,
              t, "/usr/bin/gnome-keyring-daemon"),
        *_user_manager(manager, ids, t, at(6)),
        _proc(at(8), manager, "pipewire", ("/usr/bin/pipewire",), ids, t, "/usr/bin/pipewire"),
        _proc(at(9), manager, "wireplumber", ("/usr/bin/wireplumber",), ids, t, "/usr/bin/wireplumber"),
        _proc(at(10), manager, "dbus-daemon", ("/usr/bin/dbus-daemon", "--session", "--address=systemd:",
                                               "--nofork", "--nopidfile", "--systemd-activation", "--syslog-only"),
              ids, t, "/usr/bin/dbus-daemon"),
        _proc(at(12), w, "gdm-wayland-session", ("/usr/libexec/gdm-wayland-session", "/usr/bin/gnome-session"),
              ids, t + 1, "/usr/libexec/gdm-wayland-session"),
        _proc(at(14), at(12), "gnome-session-binary", ("/usr/libexec/gnome-session-binary",), ids, t + 1,
              "/usr/libexec/gnome-session-binary"),
        _proc(at(20), manager, "gnome-session-ctl", ("/usr/libexec/gnome-session-ctl", "--monitor"), ids, t + 2,
              "/usr/libexec/gnome-session-ctl"),
        _proc(at(22), manager, "gnome-session-binary",
              ("/usr/libexec/gnome-session-binary", "--systemd-service", "--session=gnome"), ids, t + 2,
              "/usr/libexec/gnome-session-binary"),
        _proc(shell, manager, "gnome-shell", ("/usr/bin/gnome-shell",), ids, t + 2, "/usr/bin/gnome-shell"),
        _proc(at(50), manager, "xdg-permission-store", ("/usr/libexec/xdg-permission-store",), ids, t + 3,
              "/usr/libexec/xdg-permission-store"),
        _proc(at(54), manager, "gnome-shell-calendar-server", ("/usr/libexec/gnome-shell-calendar-server",), ids,
              t + 4, "/usr/libexec/gnome-shell-calendar-server"),
        _proc(at(58), manager, "xdg-document-portal", ("/usr/libexec/xdg-document-portal",), ids, t + 4,
              "/usr/libexec/xdg-document-portal"),
        _proc(at(61), manager, "gvfsd", ("/usr/libexec/gvfsd",), ids, t + 4, "/usr/libexec/gvfsd"),
        *[_proc(at(64 + k), manager, name, (f"/usr/libexec/{name}",), ids, t + 4, f"/usr/libexec/{name}")
          for k, name in enumerate(_GSD)],
        # mutter starts Xwayland on demand (for the first X11 client) with its own auth file.
        _proc(at(80), shell, "Xwayland", ("/usr/bin/Xwayland", ":0", "-rootless", "-noreset", "-accessx", "-core",
                                          "-auth", f"/run/user/{d.uid}/.mutter-Xwaylandauth.{_suffix(d)}",
                                          "-listenfd", "4", "-listenfd", "5", "-displayfd", "6", "-initfd", "7",
                                          "-byteswappedclients"), ids, t + 5, "/usr/bin/Xwayland"),
        _proc(at(88), manager, "xdg-desktop-portal", ("/usr/libexec/xdg-desktop-portal",), ids, t + 6,
              "/usr/libexec/xdg-desktop-portal"),
    ]
    return rows + _firefox(at, manager, ids, t + 40, d, profile)


def _suffix(d: Desktop) -> str:
    """mkstemp's six characters of the Xwayland auth file: fixed by the session, so rebuilds agree."""
    digest = hashlib.sha256(f"xwayland {d.uid} {d.login} {d.worker}".encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:6])


def _firefox(at: Pids, manager: int, ids: tuple[int, int], start: int, d: Desktop,
             profile: str | None = None) -> list[Process]:
    """firefox-esr as the dock launches it (the user manager adopts it) and its children, which Firefox execs
    from its own binary with ``-contentproc`` and the parent's pid and IPC channel id."""
    pid = at(_FIREFOX_AT)
    channel = "{" + str(uuid.UUID(bytes=hashlib.sha256(f"firefox {d.uid} {d.login}".encode()).digest()[:16],
                                  version=4)) + "}"
    main = _proc(pid, manager, "firefox-esr", (FIREFOX,), ids, start, FIREFOX)
    rows = [replace(main, open_files=_firefox_files(profile))]
    tabs = 0
    for k, (comm, kind) in enumerate(_FIREFOX_CHILDREN, start=1):
        tabs += kind == "tab"
        child = ("-childID", str(tabs), "-isForBrowser") if kind == "tab" else ()  # content processes count
        args = (FIREFOX, "-contentproc", *child, "-prefsLen", "31398", "-prefMapSize", "244806",
                "-greomni", "/usr/lib/firefox-esr/omni.ja", "-appomni", "/usr/lib/firefox-esr/browser/omni.ja",
                "-appDir", "/usr/lib/firefox-esr/browser", channel, str(pid), "true", kind)
        rows.append(_proc(at(_FIREFOX_AT + 6 + 7 * k), pid, comm, args, ids, start + 1 + k // 3, FIREFOX))
    return rows


def _firefox_files(profile: str | None) -> tuple[OpenFile, ...]:
    """What Firefox's main process holds open besides its stdio (/dev/null, as the dock starts it): the
    randomness it reads, its two omni.ja archives (read through the whole session), the fonts fontconfig handed
    it, and its profile's databases (places.sqlite, which the history holds): files the installed tree and the
    profile on the disk hold, so memory names their inodes (the fact model)."""
    paths = ["/dev/urandom", "/usr/lib/firefox-esr/omni.ja", "/usr/lib/firefox-esr/browser/omni.ja",
             *(f"/usr/share/fonts/truetype/dejavu/{name}.ttf" for name in _FONTS)]
    held = [OpenFile(fd, path) for fd, path in zip((5, 9, 11, 27, 28, 29, 31, 33), paths, strict=True)]
    if profile is not None:
        held.append(OpenFile(41, f"{profile}/places.sqlite"))
    return tuple(held)


_FONTS = ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono", "DejaVuSerif", "DejaVuSerif-Bold")
_FIREFOX_AT = 110  # Firefox's pid counted from the worker's: the desktop's own start took the pids before it
assert _FIREFOX_AT + 6 + 7 * len(_FIREFOX_CHILDREN) < DESKTOP_SPAN, "the session outgrows pids.DESKTOP_SPAN"


# The modules `lsmod` lists on this guest (QEMU's i440FX + PIIX machine, as memory's kernel log and iomem say: PIIX
# IDE, an e1000, a floppy, the std VGA as bochs, a UHCI USB tablet) running bookworm's 6.1 kernel with GNOME, in
# load order: the initramfs's storage and root file system (Debian builds libata, SCSI and ext4 as modules: the
# installed /boot/config says CONFIG_EXT4_FS=m), systemd's own (autofs4, ip_tables, its modprobe@ units: configfs,
# fuse, loop, dm_mod, drm), udev's for the devices it finds, binfmt_misc at its automount, then vfat with Debian's
# default code page and iocharset (nls_cp437, nls_ascii) when udisks mounts the TRANSFER volume at the login.
# No Ubuntu module (mac_hid, nls_iso8859_1). ostree's modules.dep indexes the same names at Debian's paths.
# (name, core size, text size), sizes in bytes as /proc/modules gives them, rounded to pages.
KERNEL_MODULES: tuple[tuple[str, int, int], ...] = (
    ("scsi_common", 16384, 4096), ("scsi_mod", 282624, 200704), ("libata", 401408, 278528),
    ("ata_piix", 40960, 20480), ("ata_generic", 16384, 4096), ("crc64", 20480, 8192),
    ("crc64_rocksoft", 20480, 4096), ("crc_t10dif", 20480, 4096), ("t10_pi", 16384, 4096),
    ("sd_mod", 61440, 36864), ("floppy", 131072, 86016), ("e1000", 163840, 106496),
    ("psmouse", 212992, 135168), ("crc32c_generic", 16384, 4096), ("crc16", 16384, 4096),
    ("mbcache", 16384, 8192), ("jbd2", 167936, 106496), ("ext4", 1007616, 696320),
    ("crc32_pclmul", 16384, 8192), ("crc32c_intel", 24576, 12288), ("autofs4", 53248, 28672),
    ("x_tables", 57344, 28672), ("ip_tables", 36864, 12288), ("configfs", 57344, 32768),
    ("fuse", 163840, 106496), ("loop", 32768, 16384), ("dm_mod", 184320, 118784), ("drm", 614400, 401408),
    ("button", 24576, 8192), ("evdev", 28672, 12288), ("serio_raw", 20480, 8192), ("pcspkr", 16384, 4096),
    ("joydev", 28672, 16384), ("qemu_fw_cfg", 20480, 8192), ("i2c_piix4", 32768, 12288),
    ("usb_common", 16384, 4096), ("usbcore", 348160, 233472), ("ehci_hcd", 98304, 49152),
    ("ehci_pci", 20480, 8192), ("uhci_hcd", 57344, 32768), ("hid", 159744, 98304), ("usbhid", 65536, 36864),
    ("hid_generic", 16384, 4096), ("cdrom", 73728, 45056), ("sr_mod", 28672, 12288), ("sg", 40960, 24576),
    ("cryptd", 28672, 12288), ("crypto_simd", 16384, 4096), ("aesni_intel", 393216, 184320),
    ("ghash_clmulni_intel", 16384, 8192), ("drm_kms_helper", 212992, 135168), ("ttm", 94208, 57344),
    ("drm_ttm_helper", 16384, 4096), ("drm_vram_helper", 24576, 12288), ("bochs", 20480, 8192),
    ("binfmt_misc", 28672, 12288), ("fat", 94208, 57344), ("vfat", 24576, 12288), ("nls_cp437", 20480, 4096),
    ("nls_ascii", 16384, 4096),
)


def ssh_sessions(story: list[Process], taken: set[int]) -> list[Process]:
    """``story`` with OpenSSH 9.2's session process under each interactive login: the ``sshd: USER [priv]``
    monitor (root, the pid auth.log's ``sshd[N]`` names) forks, once the password is accepted, ``sshd:
    USER@pts/0`` as the user, which allocates the terminal and forks the login shell. Its pid is the second
    handed out after the monitor's (the pre-authentication ``[net]`` child took the first and exited), never one
    of ``taken``; the shell becomes its child."""
    by_pid = {p.pid: p for p in story}
    out = list(story)
    for shell in story:
        priv = by_pid.get(shell.ppid)
        if priv is None or priv.comm != "sshd" or priv.uid != 0 or not priv.args \
                or not priv.args[0].endswith(" [priv]") or not shell.args or not shell.args[0].startswith("-"):
            continue
        user = priv.args[0][len("sshd: "):-len(" [priv]")]
        tty = next((f.path for f in shell.open_files if f.fd == 0 and f.path.startswith("/dev/pts/")), "/dev/pts/0")
        pid = Pids(priv.pid + 1, taken | set(by_pid))(1)
        if pid >= shell.pid:
            continue  # no pid left between the monitor and the shell: the table stays as the spec wrote it
        session = Process(pid, priv.pid, "sshd", (f"sshd: {user}@{tty[len('/dev/'):]}",), shell.uid, shell.gid,
                          shell.start_time, "/usr/sbin/sshd", open_files=(OpenFile(7, "/dev/ptmx"),))
        out = [replace(p, ppid=pid) if p.pid == shell.pid else p for p in out] + [session]
        by_pid[pid] = session
    return sorted(out, key=lambda p: p.pid)
