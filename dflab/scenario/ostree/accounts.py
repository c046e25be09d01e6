"""The accounts of a Debian 12 desktop install: ``/etc/passwd``, ``group``, ``shadow`` and ``gshadow`` for the
system users its packages create and the case's users, each added by ``adduser`` with a group of its own.

One module writes all four, so they agree (every user's primary group exists, every shadow line has its passwd
line, the groups an installer puts the first user in name that user); the spec's ``passwd`` content kind uses
:func:`passwd` too when its volume has an operating system.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable

from dflab.scenario.case import User

NOLOGIN = "/usr/sbin/nologin"
# (name, uid, gid, gecos, home, shell) as base-passwd and the packages' postinst scripts leave them on bookworm.
SYSTEM_USERS: tuple[tuple[str, int, int, str, str, str], ...] = (
    ("root", 0, 0, "root", "/root", "/bin/bash"), ("daemon", 1, 1, "daemon", "/usr/sbin", NOLOGIN),
    ("bin", 2, 2, "bin", "/bin", NOLOGIN), ("sys", 3, 3, "sys", "/dev", NOLOGIN),
    ("sync", 4, 65534, "sync", "/bin", "/bin/sync"), ("games", 5, 60, "games", "/usr/games", NOLOGIN),
    ("man", 6, 12, "man", "/var/cache/man", NOLOGIN), ("lp", 7, 7, "lp", "/var/spool/lpd", NOLOGIN),
    ("mail", 8, 8, "mail", "/var/mail", NOLOGIN), ("news", 9, 9, "news", "/var/spool/news", NOLOGIN),
    ("uucp", 10, 10, "uucp", "/var/spool/uucp", NOLOGIN), ("proxy", 13, 13, "proxy", "/bin", NOLOGIN),
    ("www-data", 33, 33, "www-data", "/var/www", NOLOGIN), ("backup", 34, 34, "backup", "/var/backups", NOLOGIN),
    ("list", 38, 38, "Mailing List Manager", "/var/list", NOLOGIN), ("irc", 39, 39, "ircd", "/run/ircd", NOLOGIN),
    ("_apt", 42, 65534, "", "/nonexistent", NOLOGIN), ("nobody", 65534, 65534, "nobody", "/nonexistent", NOLOGIN),
    ("systemd-network", 998, 998, "systemd Network Management", "/", NOLOGIN),
    ("systemd-timesync", 997, 997, "systemd Time Synchronization", "/", NOLOGIN),
    ("messagebus", 100, 107, "", "/nonexistent", NOLOGIN), ("sshd", 101, 65534, "", "/run/sshd", NOLOGIN),
    ("avahi-autoipd", 102, 109, "Avahi autoip daemon,,,", "/var/lib/avahi-autoipd", NOLOGIN),
    ("usbmux", 103, 46, "usbmux daemon,,,", "/var/lib/usbmux", NOLOGIN),
    ("dnsmasq", 104, 65534, "dnsmasq,,,", "/var/lib/misc", NOLOGIN),
    ("avahi", 105, 112, "Avahi mDNS daemon,,,", "/run/avahi-daemon", NOLOGIN),
    ("speech-dispatcher", 106, 29, "Speech Dispatcher,,,", "/run/speech-dispatcher", "/bin/false"),
    ("fwupd-refresh", 107, 114, "fwupd-refresh user,,,", "/run/systemd", NOLOGIN),
    ("saned", 108, 116, "", "/var/lib/saned", NOLOGIN), ("geoclue", 109, 117, "", "/var/lib/geoclue", NOLOGIN),
    ("polkitd", 996, 996, "polkit", "/nonexistent", NOLOGIN), ("rtkit", 110, 118, "RealtimeKit,,,", "/proc", NOLOGIN),
    ("colord", 111, 119, "colord colour management daemon,,,", "/var/lib/colord", NOLOGIN),
    ("Debian-gdm", 112, 120, "Gnome Display Manager", "/var/lib/gdm3", "/bin/false"),
)
# (name, gid, members-to-be: "first" = the installer's first user)
SYSTEM_GROUPS: tuple[tuple[str, int, str], ...] = (
    ("root", 0, ""), ("daemon", 1, ""), ("bin", 2, ""), ("sys", 3, ""), ("adm", 4, ""), ("tty", 5, ""),
    ("disk", 6, ""), ("lp", 7, ""), ("mail", 8, ""), ("news", 9, ""), ("uucp", 10, ""), ("man", 12, ""),
    ("proxy", 13, ""), ("kmem", 15, ""), ("dialout", 20, ""), ("fax", 21, ""), ("voice", 22, ""),
    ("cdrom", 24, "first"), ("floppy", 25, "first"), ("tape", 26, ""), ("sudo", 27, "first"),
    ("audio", 29, "pulse,first"), ("dip", 30, "first"), ("www-data", 33, ""), ("backup", 34, ""),
    ("operator", 37, ""), ("list", 38, ""), ("irc", 39, ""), ("src", 40, ""), ("shadow", 42, ""), ("utmp", 43, ""),
    ("video", 44, "first"), ("sasl", 45, ""), ("plugdev", 46, "first"), ("staff", 50, ""), ("games", 60, ""),
    ("users", 100, "first"), ("nogroup", 65534, ""), ("systemd-journal", 999, ""), ("systemd-network", 998, ""),
    ("systemd-timesync", 997, ""), ("input", 101, ""), ("sgx", 102, ""), ("kvm", 103, ""), ("render", 104, ""),
    ("crontab", 105, ""), ("netdev", 106, "first"), ("messagebus", 107, ""), ("_ssh", 108, ""),
    ("avahi-autoipd", 109, ""), ("bluetooth", 110, "first"), ("ssl-cert", 111, ""), ("avahi", 112, ""),
    ("lpadmin", 113, "first"), ("fwupd-refresh", 114, ""), ("scanner", 115, "saned,first"), ("saned", 116, ""),
    ("geoclue", 117, ""), ("polkitd", 996, ""), ("rtkit", 118, ""), ("colord", 119, ""), ("Debian-gdm", 120, ""),
)
GID = {name: gid for name, gid, _ in SYSTEM_GROUPS}


def passwd(users: Iterable[User]) -> bytes:
    lines = [f"{n}:x:{uid}:{gid}:{gecos}:{home}:{shell}" for n, uid, gid, gecos, home, shell in SYSTEM_USERS]
    lines += [f"{u.name}:x:{u.uid}:{u.gid}:{u.full_name},,,:{u.home}:{u.shell}" for u in users]
    return ("\n".join(lines) + "\n").encode()


def _system_groups(users: list[User]) -> list[tuple[str, int, str]]:
    """Debian's system groups as (name, gid, members joined by commas), the first user where the installer puts
    them ("first": sudo, audio, ...)."""
    first = users[0].name if users else ""
    out = []
    for name, gid, members in SYSTEM_GROUPS:
        names = [first if m == "first" else m for m in members.split(",") if m and (m != "first" or first)]
        out.append((name, gid, ",".join(n for n in names if n != "pulse")))
    return out


def group(users: Iterable[User]) -> bytes:
    users = list(users)
    lines = [f"{name}:x:{gid}:{members}" for name, gid, members in _system_groups(users)]
    lines += [f"{u.name}:x:{u.gid}:" for u in users]
    return ("\n".join(lines) + "\n").encode()


def shadow(users: Iterable[User], seed: bytes, installed_at: int) -> bytes:
    """Locked system accounts, each user with a yescrypt hash (Debian 12's default) drawn from the case seed, the
    password last changed the day of the install."""
    day = installed_at // 86400
    lines = [f"{n}:{'*' if n != 'root' else '!'}:{day}:0:99999:7:::" for n, *_ in SYSTEM_USERS]
    for u in users:
        r = random.Random(hashlib.sha256(seed + b"\0shadow\0" + u.name.encode()).digest())
        alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        salt = "".join(r.choice(alphabet) for _ in range(22))
        digest = "".join(r.choice(alphabet) for _ in range(43))
        lines.append(f"{u.name}:$y$j9T${salt}${digest}:{day}:0:99999:7:::")
    return ("\n".join(lines) + "\n").encode()


def gshadow(users: Iterable[User]) -> bytes:
    users = list(users)
    lines = [f"{name}:*::{members}" for name, _, members in _system_groups(users)]
    lines += [f"{u.name}:!::" for u in users]
    return ("\n".join(lines) + "\n").encode()
