"""Start, inspect and stop the harmless "suspect" of lab 01 (live response).

Two processes run as the unprivileged trainee, loopback only, sleeping between beacons:

* the **sink** (a stand-in for the attacker's server) listens on ``127.a.b.c:<port>``;
* the **suspect** runs an executable that is deleted right after it starts (``/proc/<pid>/exe`` ends in
  "(deleted)" and can still be copied), holds a deleted file open on fd 5, listens on
  ``127.0.0.1:<port>``, keeps an established connection to the sink and beacons over it, and carries an
  SSH login session in its environment (the logged-in-user trace, see below).  Its first environment
  string is the live witness, ``DFLAB_WITNESS=<16 hex digits>``, which the suspect itself rewrites every
  beacon from a key it reads from a pipe at start (:mod:`dflab.live.witness`): collections are sealed with it.

Both run tiny machine-code programs (:mod:`dflab.live.elf`), so nothing about them says "Python".  The
launcher prepares every socket and file here, in Python, and hands them over as fds 3-5 (and the witness key
on fd 6, which the suspect reads and closes before :func:`start` returns): by the time :func:`start` returns,
every trait already exists, with no waiting and no race.

The logged-in-user trace is the environment sshd gives a login session (``SSH_CONNECTION``,
``SSH_CLIENT``, ``SSH_TTY``), readable in ``/proc/<pid>/environ``.  A utmp record (what ``who`` shows)
would be more familiar, but ``/run/utmp`` is root's to write and usually absent in containers; the
environment of a process is what a responder really uses to tie a process to the session that started it.

The state file holds only what :func:`stop` needs (pids, their start times, the files to remove), never
an answer: ports, names and hashes are recomputed from the seed by :func:`dflab.live.traits.expected_traits`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pwd
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from dflab.atomic import ensure_writable_dir, write_bytes
from dflab.errors import DflabError
from dflab.live import witness
from dflab.live.elf import (
    CONN_FD,
    HELD_FD,
    KEY_FD,
    LISTENER_FD,
    SINK_LISTENER_FD,
    require_x86_64,
    sink_program,
)
from dflab.live.traits import Traits, traits

STATE_FILE = "live-suspect.json"
_STOP_WAIT_S = 5.0
_KEY_WAIT_S = 10.0


@dataclass(frozen=True)
class SuspectInfo:
    """What :func:`start` started (for the lab environment; trainees find these themselves)."""

    suspect_pid: int
    sink_pid: int
    pgid: int
    exe_path: Path
    held_path: Path
    listener: tuple[str, int]
    sink: tuple[str, int]
    state_file: Path


@dataclass(frozen=True)
class ProcessStatus:
    role: str
    pid: int
    alive: bool


@dataclass(frozen=True)
class SuspectStatus:
    """``state`` is "running" (all alive), "crashed" (started, not stopped, some or all dead) or "stopped"."""

    state: str
    processes: tuple[ProcessStatus, ...]


def start(state_dir: str | os.PathLike[str], seed: bytes) -> SuspectInfo:
    """Start the sink and the suspect for ``seed``; write the state file into ``state_dir``.

    Raises :class:`DflabError` if a suspect recorded there still runs, a port is taken, or the
    directory does not allow executing files (noexec mount).
    """
    require_x86_64()
    directory = ensure_writable_dir(Path(state_dir)).resolve()
    current = status(directory)
    if current.state == "running":
        raise DflabError("a suspect is already running here (stop it first)", str(directory / STATE_FILE))
    if current.state == "crashed":
        stop(directory)
    t = traits(seed)
    exe_path = directory / t.exe_name
    sink_path = directory / t.sink_name
    held_path = directory / t.held_name
    for path in (exe_path, sink_path, held_path):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    sockets: list[socket.socket] = []
    started: list[tuple[str, int]] = []
    try:
        sink_listener = _listener(t.sink_ip, t.sink_port, blocking=True)
        sockets.append(sink_listener)
        listener = _listener(t.listen_ip, t.listen_port, blocking=False)
        sockets.append(listener)
        _write_executable(sink_path, sink_program())
        sink_pid = _spawn(sink_path, t.sink_name, {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                          {SINK_LISTENER_FD: sink_listener.fileno()}, pgroup=0)
        started.append(("sink", sink_pid))

        conn = socket.create_connection((t.sink_ip, t.sink_port), timeout=5)
        sockets.append(conn)
        conn.setblocking(True)   # a timeout leaves O_NONBLOCK set: a full buffer must not end the suspect
        held_fd = os.open(held_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        key_r = key_w = -1
        try:
            key_r, key_w = os.pipe2(os.O_CLOEXEC)
            os.write(held_fd, t.held_content)
            os.write(key_w, t.witness_key)   # 16 bytes: the pipe holds them until the suspect reads them
            os.close(key_w)
            key_w = -1
            _write_executable(exe_path, t.exe_bytes)
            suspect_pid = _spawn(exe_path, t.exe_name, _session_env(t),
                                 {CONN_FD: conn.fileno(), LISTENER_FD: listener.fileno(), HELD_FD: held_fd,
                                  KEY_FD: key_r}, pgroup=sink_pid)
        finally:
            for fd in (held_fd, key_r, key_w):
                if fd >= 0:
                    os.close(fd)
        started.append(("suspect", suspect_pid))
        _await_key_taken(suspect_pid)
        # The traits: the running program's file and the file it holds both vanish from the disk.
        if os.readlink(f"/proc/{suspect_pid}/exe") != str(exe_path):
            raise DflabError("the suspect did not start its own executable", str(exe_path))
        exe_path.unlink()
        held_path.unlink()
        _write_state(directory, sink_pid, started, [sink_path])   # the other two are gone already
    except BaseException:
        for _role, pid in started:
            _kill_and_reap(pid, _starttime(pid))
        for path in (exe_path, sink_path, held_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    finally:
        for s in sockets:
            s.close()
    return SuspectInfo(suspect_pid=suspect_pid, sink_pid=sink_pid, pgid=sink_pid, exe_path=exe_path,
                       held_path=held_path, listener=(t.listen_ip, t.listen_port),
                       sink=(t.sink_ip, t.sink_port), state_file=directory / STATE_FILE)


def status(state_dir: str | os.PathLike[str]) -> SuspectStatus:
    """Which recorded processes are still alive (a pid reused by another process counts as dead)."""
    state = _read_state(Path(state_dir))
    if state is None:
        return SuspectStatus("stopped", ())
    procs = tuple(ProcessStatus(p["role"], p["pid"], _starttime(p["pid"]) == p["starttime"])
                  for p in state["processes"])
    if all(p.alive for p in procs):
        return SuspectStatus("running", procs)
    return SuspectStatus("crashed", procs)


def stop(state_dir: str | os.PathLike[str]) -> list[int]:
    """Kill every recorded process that is still ours, remove the temp files and the state file.

    Idempotent: safe when already stopped, when a process already died, or when a pid was reused
    (a process whose start time differs from the recorded one is never signalled).  Returns the pids
    that were signalled.
    """
    directory = Path(state_dir)
    state = _read_state(directory)
    if state is None:
        return []
    killed = [p["pid"] for p in state["processes"] if _kill_and_reap(p["pid"], p["starttime"])]
    for name in state["files"]:
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
    with contextlib.suppress(FileNotFoundError):
        (directory / STATE_FILE).unlink()
    return killed


# -- launching ------------------------------------------------------------------------------------------
def _listener(ip: str, port: int, *, blocking: bool) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((ip, port))
    except OSError as exc:
        s.close()
        raise DflabError(f"cannot listen on {ip}:{port}: {exc.strerror} (is another suspect running?)") from exc
    s.listen(16)
    s.setblocking(blocking)
    return s


def _write_executable(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o700)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _session_env(t: Traits) -> dict[str, str]:
    """A login session's environment: the trainee's account, reached over SSH from TEST-NET-3.

    The witness comes first: the suspect finds it as ``envp[0]`` and rewrites its value in place.  Its first
    value is this slot's token already, so it is right even before the suspect's first beacon.
    """
    user = pwd.getpwuid(os.getuid())
    return {
        witness.VARIABLE: witness.token(t.witness_key, witness.slot(int(time.time()))),
        "HOME": user.pw_dir, "LANG": "C.UTF-8", "LOGNAME": user.pw_name, "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PWD": user.pw_dir, "SHELL": user.pw_shell or "/bin/sh", "SHLVL": "1",
        "SSH_CLIENT": f"{t.ssh_remote_ip} {t.ssh_remote_port} 22", "SSH_CONNECTION": t.ssh_connection,
        "SSH_TTY": t.ssh_tty, "TERM": "xterm-256color", "USER": user.pw_name,
    }


def _spawn(path: Path, name: str, env: dict[str, str], fds: dict[int, int], *, pgroup: int) -> int:
    """posix_spawn ``path`` as ``name`` with ``fds`` (child fd -> our fd) and stdio on /dev/null.

    posix_spawn (not fork) because the caller may be a multi-threaded Jupyter kernel; glibc's
    implementation returns only after the child has exec'd, so the file can be unlinked right away.
    Every other inherited descriptor is closed, so the suspect's fd table shows exactly the traits.
    """
    high = {target: fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64) for target, fd in fds.items()}  # no collisions
    try:
        actions: list[tuple] = [(os.POSIX_SPAWN_OPEN, n, "/dev/null", os.O_RDWR, 0) for n in (0, 1, 2)]
        actions += [(os.POSIX_SPAWN_DUP2, src, target) for target, src in sorted(high.items())]
        keep = {0, 1, 2, *high}
        actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in sorted(_open_fds()) if fd not in keep]
        for attempt in range(20):
            try:
                return os.posix_spawn(
                    str(path), [name], env, file_actions=actions, setpgroup=pgroup, setsigmask=(),
                    setsigdef=(signal.SIGPIPE, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT))
            except OSError as exc:
                if exc.errno == errno.ETXTBSY and attempt < 19:  # another thread forked while we wrote it
                    time.sleep(0.05)
                    continue
                if exc.errno in (errno.EACCES, errno.EPERM):
                    raise DflabError("cannot execute files here (noexec mount?): choose another state "
                                     "directory", str(path.parent)) from exc
                raise DflabError(f"cannot start {name}: {exc.strerror}", str(path)) from exc
        raise AssertionError("unreachable")
    finally:
        for fd in high.values():
            os.close(fd)


def _await_key_taken(pid: int) -> None:
    """Wait until the suspect has read its witness key and closed the pipe (its fd table: the traits only)."""
    deadline = time.monotonic() + _KEY_WAIT_S
    while os.path.lexists(f"/proc/{pid}/fd/{KEY_FD}"):
        if _starttime(pid) is None or time.monotonic() > deadline:
            raise DflabError("the suspect did not take its witness key (it exited, or the machine is too busy)",
                             f"pid {pid}")
        time.sleep(0.005)
    if _starttime(pid) is None:
        raise DflabError("the suspect exited right after it started", f"pid {pid}")


def _open_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


# -- state ----------------------------------------------------------------------------------------------
def _write_state(directory: Path, pgid: int, started: list[tuple[str, int]], files: list[Path]) -> None:
    state = {
        "version": 1,
        "pgid": pgid,
        "processes": [{"role": role, "pid": pid, "starttime": _starttime(pid)} for role, pid in started],
        "files": [p.name for p in files],
    }
    write_bytes(directory / STATE_FILE, json.dumps(state, indent=2).encode() + b"\n")


def _read_state(directory: Path) -> dict | None:
    path = directory / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DflabError(f"unreadable suspect state file: {exc}", str(path)) from exc
    if not isinstance(state, dict) or state.get("version") != 1:
        raise DflabError("not a dflab suspect state file (version 1)", str(path))
    return state


# -- processes ------------------------------------------------------------------------------------------
def _starttime(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it is gone or a zombie.

    A pid plus its start time names one process for good: pids are reused, start times are not.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()   # comm may contain spaces and parentheses
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _kill_and_reap(pid: int, starttime: int | None) -> bool:
    """SIGKILL ``pid`` if it is still the process started at ``starttime``; wait until it is gone.

    Our own child is reaped here (else it lingers as a zombie in /proc); another parent's child
    (after a ``dflab live suspect start`` that has exited: init) counts as gone once it is a zombie.
    """
    if starttime is None or _starttime(pid) != starttime:
        _reap_if_child(pid)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + _STOP_WAIT_S
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                break
        except ChildProcessError:
            if _starttime(pid) != starttime:
                break
        time.sleep(0.02)
    return True


def _reap_if_child(pid: int) -> bool:
    """Collect ``pid``'s exit status if it is our child (else a zombie lingers); True once it is reaped."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == pid
