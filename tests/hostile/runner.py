"""Cells that turn on the grading runner next to the kernel (issue 13): fill the run's private folder on the
grader's disk, signal the runner, trace it, write into its log.

Each is plain cell code that never raises, so a lab's answer cell it is prepended to still records its answer:
an attack that worked shows as lost points (the runner gone) or as what the cell prints (a JSON line).
"""

from __future__ import annotations

import json

FORGED = "forged-reason-7f3a: all answers verified"  # what a submission would like the grader to say

# Fill ``top`` with 8 MiB preallocated files until the file system says no (or ``chunks`` of them: enough to pass
# any limit the sandbox documents, without filling a host disk that has none), then with empty files until no
# inode is left (or ``files`` of them); keep them a moment, so the host folder is seen at its fullest.
FILL = """
import errno as _errno, json as _json, os as _os, time as _time
def _fill(top, chunks, files):
    out = {"top": top, "bytes": 0, "bytes_error": None, "files": 0, "files_error": None}
    chunk = 8 << 20
    try:
        for i in range(chunks):
            fd = _os.open(_os.path.join(top, f"fill-{i}"), _os.O_CREAT | _os.O_WRONLY, 0o600)
            try:
                _os.posix_fallocate(fd, 0, chunk)
            finally:
                _os.close(fd)
            out["bytes"] += chunk
    except OSError as exc:
        out["bytes_error"] = _errno.errorcode.get(exc.errno, str(exc.errno))
    try:
        _os.makedirs(_os.path.join(top, "inodes"), exist_ok=True)
        for i in range(files):
            _os.close(_os.open(_os.path.join(top, "inodes", str(i)), _os.O_CREAT | _os.O_WRONLY, 0o600))
            out["files"] += 1
    except OSError as exc:
        out["files_error"] = _errno.errorcode.get(exc.errno, str(exc.errno))
    _time.sleep(2)
    print("FILL " + _json.dumps(out))
"""


def fill(top: str, chunks: int, files: int) -> str:
    """Cell code filling ``top`` (``"."``: the kernel's working folder); prints ``FILL {json}``."""
    return FILL + f"_fill({top!r}, {chunks}, {files})\n"


# Every signal whose default ends or stops a process, and SIGINT, for which Python has a handler, to the runner:
# PID 1 (the runner in both sandboxes) and the kernel's parent (the runner, wherever it is).
SIGNAL_RUNNER = """
import os as _os, signal as _signal, time as _time
for _sig in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF",
             "SIGIO", "SIGPWR", "SIGXCPU", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGRTMIN"):
    for _pid in sorted({1, _os.getppid()}):
        try:
            _os.kill(_pid, getattr(_signal, _sig))
        except OSError:
            pass
    _time.sleep(0.05)
_time.sleep(1)
print("signals sent")
"""

# What of the runner the kernel can reach through /proc and ptrace, and what of its own process it still can
# (a notebook may read /proc/self/...); prints ``TRACE {json}``.
TRACE_RUNNER = """
import ctypes as _ctypes, errno as _errno, json as _json, os as _os
_libc = _ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = _ctypes.c_long
_libc.ptrace.argtypes = [_ctypes.c_long, _ctypes.c_long, _ctypes.c_void_p, _ctypes.c_void_p]
def _try(what):
    try:
        what()
        return "ok"
    except OSError as exc:
        return _errno.errorcode.get(exc.errno, str(exc.errno))
def _seize(pid):
    if _libc.ptrace(0x4206, pid, None, None) != 0:  # PTRACE_SEIZE: attach without stopping it
        return _errno.errorcode.get(_ctypes.get_errno(), "?")
    _libc.ptrace(0x4207, pid, None, None)  # PTRACE_INTERRUPT, then detach: leave it as it was
    _os.waitpid(pid, 0x40000000)
    _libc.ptrace(17, pid, None, None)
    return "attached"
_seen = {}
for _pid in sorted({1, _os.getppid()}):
    _seen[f"{_pid}:mem"] = _try(lambda: _os.close(_os.open(f"/proc/{_pid}/mem", _os.O_RDWR)))
    _seen[f"{_pid}:environ"] = _try(lambda: open(f"/proc/{_pid}/environ", "rb").read())
    _seen[f"{_pid}:maps"] = _try(lambda: open(f"/proc/{_pid}/maps").read())
    _seen[f"{_pid}:fd"] = _try(lambda: _os.listdir(f"/proc/{_pid}/fd"))
    _seen[f"{_pid}:ptrace"] = _seize(_pid)
_own = {"mem": _try(lambda: _os.close(_os.open("/proc/self/mem", _os.O_RDONLY))),
        "environ": _try(lambda: open("/proc/self/environ", "rb").read()),
        "fd": _try(lambda: _os.listdir("/proc/self/fd")),
        "dumpable": _libc.prctl(3, 0, 0, 0, 0)}  # PR_GET_DUMPABLE
print("TRACE " + _json.dumps({"runner": _seen, "own": _own}))
"""

# Write a forged verdict where the grader might read a failure reason from: every file the kernel holds open
# (past the end, then rewinding a shared offset, so a traceback the runner writes later lands before it), its
# stdout and stderr, and the runner's; then try to kill the runner so that reason is read.
FORGE_REASON = f"""
import os as _os, signal as _signal, time as _time
_forged = b"\\n" + {FORGED.encode()!r} + b"\\n"
for _fd in sorted(int(f) for f in _os.listdir("/proc/self/fd")):
    try:
        _os.pwrite(_fd, _forged, 1_000_000)
        _os.lseek(_fd, 0, _os.SEEK_SET)
    except OSError:
        pass
for _fd in (1, 2):
    try:
        _os.write(_fd, _forged)
    except OSError:
        pass
for _pid in sorted({{1, _os.getppid()}}):
    for _fd in (1, 2):
        try:
            with open(f"/proc/{{_pid}}/fd/{{_fd}}", "ab", buffering=0) as _log:
                _log.write(_forged)
        except OSError:
            pass
_held = set()
for _fd in _os.listdir("/proc/self/fd"):
    try:
        _held.add(_os.readlink(f"/proc/self/fd/{{_fd}}"))
    except OSError:
        pass
print("held", sorted(_held))
for _pid, _sig in ((_os.getppid(), _signal.SIGKILL), (1, _signal.SIGKILL), (1, _signal.SIGINT),
                   (_os.getppid(), _signal.SIGTERM)):
    try:
        _os.kill(_pid, _sig)
    except OSError:
        pass
    _time.sleep(0.2)
_time.sleep(1)
"""

# The kernel's own signals: an interrupt still interrupts it, and what it starts does not inherit the runner's
# ignored signals. Prints ``KERNEL {json}``.
KERNEL_SIGNALS = """
import json as _json, signal as _signal, subprocess as _subprocess
_child = _subprocess.run(["grep", "^SigIgn", "/proc/self/status"], capture_output=True, text=True).stdout.split()[-1]
print("KERNEL " + _json.dumps({"term": _signal.getsignal(_signal.SIGTERM) == _signal.SIG_DFL,
                               "hup": _signal.getsignal(_signal.SIGHUP) == _signal.SIG_DFL,
                               "child_ignores": _child}))
"""


def printed(cell_outputs: list, tag: str) -> dict:
    """The JSON a cell printed after ``tag`` (``FILL``, ``TRACE``, ``KERNEL``)."""
    text = "".join(o.get("text", "") for o in cell_outputs if o.get("output_type") == "stream")
    [line] = [line for line in text.splitlines() if line.startswith(tag + " ")]
    return json.loads(line[len(tag) + 1:])

# Leave ``count`` processes that end as orphans (re-parented to PID 1, the runner): a shell starts one in the
# background and exits. Prints ``ORPHANS n``, how many could be made: zombies nobody collects count against the
# sandbox's process limit until the run ends, and then no process can start.
ORPHANS = """
import subprocess as _subprocess
_made = 0
for _ in range({count}):
    try:
        _done = _subprocess.run(["/bin/sh", "-c", "/bin/true &"], capture_output=True, text=True)
    except OSError as _exc:
        print("no process:", _exc)
        break
    if _done.returncode != 0:
        print("no process:", _done.stderr.strip())
        break
    _made += 1
print("ORPHANS", _made)
"""
