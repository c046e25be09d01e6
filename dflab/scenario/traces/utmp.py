"""/var/log/wtmp, /var/log/btmp and /var/log/lastlog as glibc (x86-64) and Debian 12's tools write them.

A utmp record is glibc's ``struct utmp``: 384 bytes, little-endian, ``ut_tv`` as two 32-bit fields (the
x86-64 ABI keeps them 32-bit for compatibility). wtmp holds, for every boot since the monthly rotation, the
``reboot`` record systemd-update-utmp writes, the runlevel change, each login (``USER_PROCESS``) and its logout
(``DEAD_PROCESS``, user and host cleared as glibc's ``logout()`` does) and the ``shutdown`` record; a session open
at the acquisition has no logout (``last`` says "still logged in"). btmp holds sshd's failed password (line
``ssh:notty``). lastlog is indexed by uid, 292 bytes a user (``ll_time`` 32-bit, ``ll_line[32]``, ``ll_host[256]``).
"""

from __future__ import annotations

import ipaddress
import struct

from dflab.scenario.traces.story import DESKTOP_TTY, SSH_TTY, Plan

UTMP = struct.Struct("<h2xi32s4s32s256shhiii16s20x")
LASTLOG = struct.Struct("<i32s256s")
RUN_LVL, BOOT_TIME, LOGIN_PROCESS, USER_PROCESS, DEAD_PROCESS = 1, 2, 6, 7, 8


def record(kind: int, pid: int, line: str, ident: str, user: str, host: str, t: float, addr: str = "",
           session: int = 0) -> bytes:
    """One ``struct utmp``."""
    sec = int(t)
    usec = int(round((t - sec) * 1_000_000)) % 1_000_000
    packed = ipaddress.IPv4Address(addr).packed + bytes(12) if addr else bytes(16)
    return UTMP.pack(kind, pid, line.encode(), ident.encode(), user.encode(), host.encode(), 0, 0, session, sec,
                     usec, packed)


def _tty_id(line: str) -> str:
    return line[-4:]  # what login(3) and sshd put in ut_id: the line's last four characters


def wtmp(p: Plan) -> bytes:
    """Every boot, login, logout and shutdown since the monthly rotation, in time order."""
    out: list[tuple[float, bytes]] = []
    for boot in p.boots:
        if boot.start < p.since:
            continue
        up = boot.up
        out.append((up, record(BOOT_TIME, 0, "~", "~~", "reboot", p.kernel, up)))
        # systemd-update-utmp-runlevel writes runlevel 5 once graphical.target is reached: seconds on, per boot
        out.append((boot.runlevel, record(RUN_LVL, 0x35, "~", "~~", "runlevel", p.kernel, boot.runlevel)))
        if boot.end is not None:
            out.append((boot.end, record(RUN_LVL, 0x30, "~~", "~~", "shutdown", p.kernel, boot.end)))
    for day, boot in zip(p.days, p.boots, strict=False):
        if day.boot < p.since:
            continue
        pid = boot.pid_at(day.login)
        out.append((day.login, record(USER_PROCESS, pid, DESKTOP_TTY, _tty_id(DESKTOP_TTY), p.user.name,
                                      DESKTOP_TTY, day.login)))
        out.append((day.logout, record(DEAD_PROCESS, pid, DESKTOP_TTY, _tty_id(DESKTOP_TTY), "", "", day.logout)))
    desktop = p.today.pid_at(p.desktop)  # the morning's desktop: still logged in at the acquisition
    out.append((p.desktop, record(USER_PROCESS, desktop, DESKTOP_TTY, _tty_id(DESKTOP_TTY), p.user.name, DESKTOP_TTY,
                                  p.desktop)))
    out.append((p.login, record(USER_PROCESS, p.session_pid, SSH_TTY, _tty_id(SSH_TTY), p.user.name, p.peer.client_ip,
                                p.login, p.peer.client_ip)))
    return b"".join(rec for _, rec in sorted(out, key=lambda x: x[0]))


def btmp(p: Plan) -> bytes:
    """The failed SSH password before the story's login (sshd records it as ``ssh:notty``)."""
    pid = p.today.pid_at(p.failed_ssh)
    return record(LOGIN_PROCESS, pid, "ssh:notty", "", p.user.name, p.peer.client_ip, p.failed_ssh, p.peer.client_ip)


def lastlog(p: Plan) -> bytes:
    """lastlog up to the user's uid: zero records for every uid that never logged in, the user's last login."""
    entry = LASTLOG.pack(int(p.login), SSH_TTY.encode(), p.peer.client_ip.encode())
    return bytes(LASTLOG.size * p.user.uid) + entry
