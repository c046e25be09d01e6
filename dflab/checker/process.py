"""The checker as the session manager sees it: one detached process per session, started, kept, restarted, stopped.

``dflab session start`` calls :func:`ensure` once the course (check file) exists and before any lab starts: a
checker that runs and serves exactly the session's trainees is kept; a dead one, or one serving another roster, is
replaced. Its pid, start time (which with the pid names one process for good, as the local backend tracks its
servers) and the trainees it serves are in the session state's ``meta``. ``dflab session stop`` ends it.

Only the standard library and the session state: the CLI imports this for every ``session`` command.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dflab.checker import paths
from dflab.checker.protocol import ANSWERS_ROUTE, SOCKET_NAME, request
from dflab.errors import DflabError
from dflab.session.state import SessionState

PID, START_TIME, TRAINEES = "checker.pid", "checker.start_time", "checker.trainees"  # keys of the session's meta
READY_TIMEOUT = 60.0  # seconds a new checker may take to import, load the check file and listen
READY_POLL = 0.1
STOP_TIMEOUT = 10.0
# The checker's environment: nothing of the instructor's (the course secret above all) that it does not need.
ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH")

_children: dict[int, subprocess.Popen[bytes]] = {}  # checkers this process started: reaped when they end


@dataclass(frozen=True)
class CheckerStatus:
    """What a command found or did: running or not, its pid, and the action (started, kept, restarted, stopped)."""

    running: bool
    pid: int | None
    action: str
    trainees: int = 0


def served_trainees(state: SessionState) -> list[str]:
    """The trainees a checker serves: everyone on the roster (removed ones get no socket)."""
    return sorted(row.id for row in state.trainees() if row.status != "removed")


def _start_time(pid: int) -> int | None:
    """Clock ticks after boot at which ``pid`` started; None when it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


def running_pid(state: SessionState) -> int | None:
    """The session's checker's pid while that very process runs (a reused pid is not it)."""
    pid, started = state.get_meta(PID), state.get_meta(START_TIME)
    if not pid or not started:
        return None
    return int(pid) if _start_time(int(pid)) == int(started) else None


def status(state: SessionState) -> CheckerStatus:
    pid = running_pid(state)
    served = len((state.get_meta(TRAINEES) or "").split(",")) if pid else 0
    return CheckerStatus(pid is not None, pid, "running" if pid else "not running", served)


def ensure(session_dir: Path, state: SessionState, timeout: float = READY_TIMEOUT) -> CheckerStatus:
    """A checker serving the session's trainees, answering: kept, or (re)started and awaited; DflabError if not."""
    trainees = served_trainees(state)
    pid = running_pid(state)
    if pid is not None and state.get_meta(TRAINEES) == ",".join(trainees):
        return CheckerStatus(True, pid, "kept", len(trainees))
    again = bool(state.get_meta(PID))  # one was recorded: it died, or serves another roster
    _end(state)
    if not trainees:
        return CheckerStatus(False, None, "not needed")
    for trainee in trainees:  # before the labs start: each binds its folder
        paths.trainee_dir(session_dir, trainee)
    log = paths.log_path(session_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    environment = {name: os.environ[name] for name in ENVIRONMENT if name in os.environ}
    with log.open("ab") as out:  # a session of its own: it outlives the CLI and ignores its Ctrl-C
        proc = subprocess.Popen([sys.executable, "-m", "dflab.checker", str(session_dir)], cwd=session_dir,
                                env=environment, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    _children[proc.pid] = proc
    state.set_meta_all({PID: str(proc.pid), START_TIME: str(_start_time(proc.pid) or 0), TRAINEES: ",".join(trainees)})
    _await_ready(proc, str(paths.socket_path(session_dir, trainees[-1])), log, timeout)
    return CheckerStatus(True, proc.pid, "restarted" if again else "started", len(trainees))


def _await_ready(proc: subprocess.Popen[bytes], socket: str, log: Path, timeout: float) -> None:
    """Return once the checker answers on its last socket (it listens on all before it answers on any)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            if request(socket, "GET", ANSWERS_ROUTE, timeout=2.0)[0] == 200:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            why = f"exited ({proc.returncode})" if proc.returncode is not None else f"no answer in {timeout:.0f} s"
            _end_process(proc.pid)
            raise DflabError(f"the instant checker did not start ({why}): {_last_line(log)}", str(log))
        time.sleep(READY_POLL)


def _last_line(log: Path) -> str:
    with contextlib.suppress(OSError):
        lines = log.read_text(errors="replace").strip().splitlines()
        if lines:
            return lines[-1][:300]
    return "no log"


def stop(session_dir: Path, state: SessionState, *, purge: bool = False) -> CheckerStatus:
    """End the session's checker (its sockets go with it); ``purge`` also removes the socket folders."""
    pid = running_pid(state)
    _end(state)
    for path in (session_dir / paths.CHECK_DIR).glob(f"*/{SOCKET_NAME}"):
        path.unlink(missing_ok=True)  # what a killed checker left: a lab's kernel then says "not running"
    if purge:
        shutil.rmtree(session_dir / paths.CHECK_DIR, ignore_errors=True)
    return CheckerStatus(False, pid, "stopped" if pid else "not running")


def _end(state: SessionState) -> None:
    """Stop the recorded checker if it still runs, and forget it."""
    if (pid := running_pid(state)) is not None:
        _end_process(pid)
    state.set_meta_all({PID: "", START_TIME: "", TRAINEES: ""})


def _end_process(pid: int) -> None:
    """SIGTERM (it closes its sockets), then SIGKILL after ``STOP_TIMEOUT``; reaped when it is this process's."""
    started = _start_time(pid)
    for signum, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
        if started is None or _start_time(pid) != started:
            break
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        deadline = time.monotonic() + wait
        while _start_time(pid) == started and time.monotonic() < deadline:
            if (child := _children.get(pid)) is not None:
                child.poll()
            time.sleep(0.05)
    if (child := _children.pop(pid, None)) is not None:
        child.wait(timeout=STOP_TIMEOUT)
