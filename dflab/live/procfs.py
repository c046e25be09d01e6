"""Read the volatile state of a Linux system straight from /proc.

Why /proc and not psutil: for teaching, every value has a visible source (``/proc/net/tcp`` line,
``/proc/<pid>/fd`` link, ``/proc/<pid>/maps`` row) that the trainee can check by hand, and there is no
extra dependency in the trainee image.  Processes come and go while we read, so a process that vanishes
mid-read is skipped, and what the unprivileged examiner may not read is left empty rather than failing.
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import struct
from pathlib import Path

import pandas as pd

from dflab.live.witness import environ_token

TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
              7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"}
DELETED = " (deleted)"
_GONE = (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError)


def pids() -> list[int]:
    return sorted(int(n) for n in os.listdir("/proc") if n.isdigit())


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except _GONE:
        return None


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except _GONE:
        return None


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def process_table() -> pd.DataFrame:
    """One row per process: ``/proc/<pid>/stat``, ``status``, ``cmdline`` and the ``exe`` link."""
    rows = []
    for pid in pids():
        stat = _read(f"/proc/{pid}/stat")
        status = _read(f"/proc/{pid}/status")
        if stat is None or status is None:
            continue
        text = stat.decode(errors="replace")
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        uid = next(int(line.split()[1]) for line in status.decode().splitlines() if line.startswith("Uid:"))
        cmdline = (_read(f"/proc/{pid}/cmdline") or b"").rstrip(b"\0").replace(b"\0", b" ")
        exe = _readlink(f"/proc/{pid}/exe") or ""
        rows.append({"pid": pid, "ppid": int(fields[1]), "pgid": int(fields[2]), "uid": uid, "user": _user(uid),
                     "state": fields[0], "comm": comm, "cmdline": cmdline.decode(errors="replace"),
                     "exe": exe, "exe_deleted": exe.endswith(DELETED), "start_ticks": int(fields[19])})
    return pd.DataFrame(rows, columns=["pid", "ppid", "pgid", "uid", "user", "state", "comm", "cmdline", "exe",
                                       "exe_deleted", "start_ticks"])


def socket_owners() -> dict[int, tuple[int, int, str]]:
    """Socket inode -> (pid, fd, comm), from the ``socket:[inode]`` links in ``/proc/<pid>/fd``.

    Only the examiner's own processes (or all, as root) are visible; other sockets keep no owner.
    """
    owners: dict[int, tuple[int, int, str]] = {}
    for pid in pids():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except _GONE:
            continue
        comm = (_read(f"/proc/{pid}/comm") or b"").decode(errors="replace").strip()
        for fd in fds:
            link = _readlink(f"/proc/{pid}/fd/{fd}")
            if link and link.startswith("socket:["):
                owners.setdefault(int(link[8:-1]), (pid, int(fd), comm))
    return owners


def _address(hex_addr: str) -> tuple[str, int]:
    """Decode ``0100007F:1F90``: the address is in host (little-endian) 32-bit words, the port is not."""
    addr, port = hex_addr.split(":")
    raw = bytes.fromhex(addr)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words)), int(port, 16)


def tcp_connections() -> pd.DataFrame:
    """Every TCP socket in ``/proc/net/tcp`` and ``tcp6``, with its owning process where visible."""
    owners = socket_owners()
    rows = []
    for proto in ("tcp", "tcp6"):
        data = _read(f"/proc/net/{proto}")
        for line in (data or b"").decode().splitlines()[1:]:
            f = line.split()
            (lip, lport), (rip, rport) = _address(f[1]), _address(f[2])
            inode = int(f[9])
            pid, fd, comm = owners.get(inode, (None, None, None))
            rows.append({"proto": proto, "local_ip": lip, "local_port": lport, "remote_ip": rip,
                         "remote_port": rport, "state": TCP_STATES.get(int(f[3], 16), f[3]), "uid": int(f[7]),
                         "inode": inode, "pid": pid, "fd": fd, "comm": comm})
    df = pd.DataFrame(rows, columns=["proto", "local_ip", "local_port", "remote_ip", "remote_port", "state",
                                     "uid", "inode", "pid", "fd", "comm"])
    return df.astype({"pid": "Int64", "fd": "Int64"})


def open_files(pid: int) -> pd.DataFrame:
    """The process's file descriptors: link target, whether it was deleted, offset and open flags."""
    rows = []
    for fd in sorted(int(n) for n in os.listdir(f"/proc/{pid}/fd")):
        target = _readlink(f"/proc/{pid}/fd/{fd}")
        if target is None:
            continue
        info = dict(line.split(":", 1) for line in (_read(f"/proc/{pid}/fdinfo/{fd}") or b"").decode().splitlines()
                    if ":" in line)
        rows.append({"fd": fd, "target": target, "deleted": target.endswith(DELETED),
                     "pos": int(info.get("pos", "0").strip() or 0), "open_flags": info.get("flags", "").strip()})
    return pd.DataFrame(rows, columns=["fd", "target", "deleted", "pos", "open_flags"])


def memory_maps(pid: int) -> pd.DataFrame:
    """``/proc/<pid>/maps``: each mapped region, its permissions and backing file (deleted or not)."""
    rows = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in parts[0].split("-"))
        path = parts[5] if len(parts) > 5 else ""
        rows.append({"start": f"{start:#x}", "end": f"{end:#x}", "size": end - start, "perms": parts[1],
                     "offset": int(parts[2], 16), "dev": parts[3], "inode": int(parts[4]), "path": path,
                     "deleted": path.endswith(DELETED)})
    return pd.DataFrame(rows, columns=["start", "end", "size", "perms", "offset", "dev", "inode", "path", "deleted"])


_UTMP = struct.Struct("<hxxi32s4s32s256shhiii16s20s")   # glibc x86-64 struct utmp, 384 bytes
_USER_PROCESS = 7
UTMP_PATHS = ("/run/utmp", "/var/run/utmp")


def login_sessions(utmp_paths: tuple[str, ...] = UTMP_PATHS) -> pd.DataFrame:
    """Who is logged in: utmp records (what ``who`` reads) and SSH sessions seen in process environments.

    In containers utmp is usually missing; the environment sshd gives a session (``SSH_CONNECTION``,
    ``SSH_TTY``) survives in every process started from it, readable in ``/proc/<pid>/environ``.
    """
    rows = []
    for path in utmp_paths:
        data = _read(path)
        if data:
            for off in range(0, len(data) - _UTMP.size + 1, _UTMP.size):
                rec = _UTMP.unpack_from(data, off)
                if rec[0] == _USER_PROCESS:
                    rows.append({"source": path, "user": rec[4].rstrip(b"\0").decode(errors="replace"),
                                 "pid": rec[1], "tty": "/dev/" + rec[2].rstrip(b"\0").decode(errors="replace"),
                                 "remote_host": rec[5].rstrip(b"\0").decode(errors="replace"), "remote_port": None,
                                 "local_ip": None, "local_port": None, "login_time": rec[9]})
            break
    for pid in pids():
        env = _read(f"/proc/{pid}/environ")
        if not env:
            continue
        values = dict(kv.split(b"=", 1) for kv in env.split(b"\0") if b"=" in kv)
        conn = values.get(b"SSH_CONNECTION", b"").decode(errors="replace").split()
        if len(conn) != 4:
            continue
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
        except _GONE:
            continue
        rows.append({"source": f"/proc/{pid}/environ", "user": _user(uid), "pid": pid,
                     "tty": values.get(b"SSH_TTY", b"").decode(errors="replace"), "remote_host": conn[0],
                     "remote_port": int(conn[1]), "local_ip": conn[2], "local_port": int(conn[3]),
                     "login_time": None})
    df = pd.DataFrame(rows, columns=["source", "user", "pid", "tty", "remote_host", "remote_port", "local_ip",
                                     "local_port", "login_time"])
    return df.astype({"pid": "Int64", "remote_port": "Int64", "local_port": "Int64", "login_time": "Int64"})


def witnesses(limit: int = 16) -> list[str]:
    """The live witnesses visible now (:mod:`dflab.live.witness`): the token each running suspect shows.

    In a trainee's environment that is exactly one, their own suspect's.  Each environment is read twice and
    kept only if both reads agree, so a token the suspect is rewriting at that very moment is never half old.
    """
    found: set[str] = set()
    for pid in pids():
        first = _read(f"/proc/{pid}/environ")
        if not first or (token := environ_token(first)) is None:
            continue
        for _ in range(3):
            again = environ_token(_read(f"/proc/{pid}/environ") or b"")
            if again == token:
                found.add(token)
                break
            token = again
            if token is None:
                break
    return sorted(found)[:limit]


def fs_type(path: str) -> str:
    """The file-system type holding ``path`` (longest mount point prefix in /proc/self/mountinfo)."""
    best, kind = "", "unknown"
    real = os.path.realpath(path)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, right = line.split(" - ", 1)
        mount = left.split()[4].replace("\\040", " ")
        if (real == mount or real.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
            best, kind = mount, right.split()[0]
    return kind
