"""Nothing a trainee runs reaches into another process: the no-ptrace filter (dflab/noptrace.py) and lab 01's suspect
guarding its witness key against what is left of ``/proc/<pid>/`` to its own uid (dflab/live/elf.py).

The suspect runs as the trainee's uid, so without Yama its registers (where the key lives) were the trainee's to
take: ``ptrace`` (PTRACE_ATTACH + GETREGS), ``perf_event_open`` sampling user registers, ``/proc/<pid>/syscall`` (the
SipHash state left in r8-r10 gives the key back, the rounds run backwards), ``/proc/<pid>/mem`` (its code patched to
hand the key out) and a core dump (``prlimit`` + ``kill -QUIT``).  :data:`PROBE` tries each from a trainee's kernel and
also does what lab 01 needs (its environment, fds and executable); :func:`check_probe` says what must come out.  It
runs here in a Docker lab (the real engine and trainee image) and in tests/test_local_kernels_private.py in a
confined local lab; the pieces are also tried on their own, as an unprivileged uid, without any lab.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from dflab.live import suspect, witness
from dflab.live.traits import BEACON_INTERVAL_S, suspect_seed, traits
from tests import docker_fixtures
from tests.test_session_course import live_lab
from tests.test_session_docker import tear_down
from tests.test_session_local import SECRET, endpoints, ok, run_session, write_roster
from tests.test_session_local_isolation import in_kernel

trainee_image = docker_fixtures.trainee_image
NOBODY = 65534

# Run in a trainee's kernel (or any process of the suspect's uid): every way at the suspect's registers and code, and
# what lab 01 itself reads. Prints one JSON object.
PROBE = r'''
import ctypes, errno, json, os, resource, struct, subprocess, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.syscall.restype = ctypes.c_long
PTRACE_ATTACH, PTRACE_DETACH = 16, 17
SYS_PROCESS_VM_READV, SYS_PERF_EVENT_OPEN = 310, 298

def outcome(rc):
    return "allowed" if rc >= 0 else errno.errorcode[ctypes.get_errno()]

def attach(pid):
    rc = libc.ptrace(PTRACE_ATTACH, pid, None, None)
    result = outcome(rc)
    if rc == 0:  # stopped by the attach: let it go on untouched
        os.waitpid(pid, 0)
        libc.ptrace(PTRACE_DETACH, pid, None, None)
    return result

def status(pid):
    return {k: v.strip() for k, v in (l.split(":", 1) for l in open(f"/proc/{pid}/status"))}

out = {"me": {k: status("self")[k] for k in ("Seccomp", "NoNewPrivs")}}
pid = None
for p in filter(str.isdigit, os.listdir("/proc")):
    try:
        if open(f"/proc/{p}/environ", "rb").read().startswith(b"DFLAB_WITNESS="):
            pid = int(p)
    except OSError:
        pass
out["suspect"] = pid
# What lab 01 reads of it.
out["environ"] = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")[0].decode()
out["exe"] = os.readlink(f"/proc/{pid}/exe")
out["fds"] = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
# ptrace, on the suspect and on a child of one's own.
child = subprocess.Popen(["sleep", "60"])
out["ptrace_suspect"] = attach(pid)
out["ptrace_own_child"] = attach(child.pid)
child.kill(); child.wait()
# process_vm_readv: 16 bytes of its stack.
class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
maps = [l.split() for l in open(f"/proc/{pid}/maps")]
stack = int(next(m for m in maps if m[-1] == "[stack]")[0].split("-")[0], 16)
buf = ctypes.create_string_buffer(16)
local, remote = IoVec(ctypes.cast(buf, ctypes.c_void_p), 16), IoVec(stack, 16)
out["process_vm_readv"] = outcome(libc.syscall(SYS_PROCESS_VM_READV, pid, ctypes.byref(local), 1,
                                               ctypes.byref(remote), 1, 0))
# perf_event_open on it: software clock, user space only (what perf_event_paranoid 2 lets one's own uid do).
attr = bytearray(128)
struct.pack_into("<IIQ", attr, 0, 1, 128, 0)
struct.pack_into("<Q", attr, 40, (1 << 5) | (1 << 6))  # exclude_kernel, exclude_hv
attr_buf = ctypes.create_string_buffer(bytes(attr), 128)
rc = libc.syscall(SYS_PERF_EVENT_OPEN, attr_buf, pid, -1, -1, 0)
out["perf_event_open"] = outcome(rc)
if rc >= 0:
    os.close(rc)
# /proc/<pid>/syscall while it sleeps: the argument registers (rdi rsi rdx r10 r8 r9), sp and pc.
for _ in range(50):
    fields = open(f"/proc/{pid}/syscall").read().split()
    if fields[0] != "running":
        break
    time.sleep(0.1)
out["syscall_r10_r8_r9"] = fields[4:7]
sp, pc = int(fields[7], 16), int(fields[8], 16)
region = lambda addr: next(m for m in maps if int(m[0].split("-")[0], 16) <= addr < int(m[0].split("-")[1], 16))
out["code_region"] = region(pc)[1]
# /proc/<pid>/mem: the code it runs (written back unchanged) and its stack.
mem = os.open(f"/proc/{pid}/mem", os.O_RDWR)
def access(what, addr):
    try:
        data = os.pread(mem, 8, addr)
    except OSError as exc:
        return f"read {errno.errorcode[exc.errno]}"
    try:
        os.pwrite(mem, data, addr)
    except OSError as exc:
        return f"write {errno.errorcode[exc.errno]}"
    return "written"
out["mem_code"] = access("code", pc)
out["mem_stack"] = access("stack", sp)
os.close(mem)
# A core dump would hold the registers: its core limit, and raising it.
out["core_limit"] = list(resource.prlimit(pid, resource.RLIMIT_CORE))
try:
    resource.prlimit(pid, resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    out["raise_core_limit"] = "allowed"
except OSError as exc:
    out["raise_core_limit"] = errno.errorcode[exc.errno]
out["environ_after"] = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")[0].decode()
# How many seccomp filters each process of this uid runs under (the server, its kernels, the suspect, the sink...).
out["filters"] = {}
for p in filter(str.isdigit, os.listdir("/proc")):
    try:
        st = status(p)
    except (OSError, StopIteration):
        continue
    if int(st["Uid"].split()[0]) == os.getuid():
        out["filters"][open(f"/proc/{p}/comm").read().strip() + " " + p] = int(st["Seccomp_filters"])
print(json.dumps(out))
'''


def check_probe(out: dict, key: bytes, *, filtered: bool = True, filters: int = 1) -> None:
    """What :data:`PROBE` must find: lab 01's reads work, every way at the suspect's key is shut.

    ``filtered``: the probe ran in a lab, where every process of the trainee's uid (its kernel, its server, the
    suspect and its sink) runs under the no-ptrace filter, on top of ``filters - 1`` others (Docker's own profile);
    else only the suspect's own guards are there.
    """
    now = int(time.time() * 1_000_000)
    assert witness.environ_token(out["environ"].encode()) in witness.tokens_for(key, now), out
    assert out["exe"].endswith(" (deleted)") and out["fds"] == [0, 1, 2, 3, 4, 5], out
    if filtered:
        assert out["me"] == {"Seccomp": "2", "NoNewPrivs": "1"}, out
        assert out["ptrace_suspect"] == "EPERM" and out["ptrace_own_child"] == "EPERM", out
        assert out["process_vm_readv"] == "EPERM" and out["perf_event_open"] == "EPERM", out
        # None outside it that the trainee could take over through /proc/<pid>/mem and trace from.
        assert len(out["filters"]) >= 4 and min(out["filters"].values()) >= filters, out["filters"]
    assert out["syscall_r10_r8_r9"] == ["0x0", "0x0", "0x0"], out  # no SipHash state
    assert out["code_region"] == "r-xs", out  # a shared, read-only mapping of its executable
    assert out["mem_code"] == "write EIO" and out["mem_stack"] == "read EIO", out  # secret memory
    assert out["core_limit"] == [0, 0] and out["raise_core_limit"] == "EPERM", out
    assert witness.environ_token(out["environ_after"].encode()) in witness.tokens_for(key, now), out


# -- the pieces on their own, as an unprivileged uid -------------------------------------------------------------------
def as_nobody(*argv: str, cwd: str = "/") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--", *argv],
                          cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_the_filter_denies_tracing_to_the_command_and_all_it_starts() -> None:
    """``python -I -m dflab.noptrace CMD``: CMD and its children get EPERM from ptrace and the memory readers."""
    code = textwrap.dedent("""
        import ctypes, errno, json, subprocess
        libc = ctypes.CDLL(None, use_errno=True)
        libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        child = subprocess.Popen(["sleep", "30"])
        rc = libc.ptrace(16, child.pid, None, None)
        result = {"ptrace": errno.errorcode.get(ctypes.get_errno()) if rc else "allowed",
                  "status": [l.strip() for l in open("/proc/self/status") if l.startswith(("Seccomp:", "NoNew"))],
                  "child": [l.strip() for l in open(f"/proc/{child.pid}/status") if l.startswith("Seccomp:")]}
        child.kill()
        print(json.dumps(result))
    """)
    done = as_nobody(sys.executable, "-I", "-m", "dflab.noptrace", sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["ptrace"] == "EPERM", out
    assert out["status"] == ["NoNewPrivs:\t1", "Seccomp:\t2"] and out["child"] == ["Seccomp:\t2"], out
    missing = as_nobody(sys.executable, "-I", "-m", "dflab.noptrace", "no-such-program-dflab")
    assert missing.returncode == 1 and missing.stderr.startswith("dflab: error: cannot run no-such-program-dflab")


@pytest.fixture
def nobody_suspect() -> Iterator[tuple[int, bytes]]:
    """A suspect started as an unprivileged uid, as a lab's hooks start one (not under the filter); pid and key."""
    folder = Path(tempfile.mkdtemp(prefix="dflab-notrace-"))
    os.chown(folder, NOBODY, NOBODY)
    seed = suspect_seed("mallory", SECRET)
    start = (f"import sys; from dflab.live import suspect; "
             f"print(suspect.start({str(folder)!r}, bytes.fromhex({seed.hex()!r})).suspect_pid)")
    try:
        started = as_nobody(sys.executable, "-c", start, cwd=str(folder))
        assert started.returncode == 0, started.stderr
        yield int(started.stdout.strip()), traits(seed).witness_key
    finally:
        as_nobody(sys.executable, "-c", f"from dflab.live import suspect; suspect.stop({str(folder)!r})")
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_the_suspect_guards_its_key_from_its_own_uid_without_the_filter(nobody_suspect: tuple[int, bytes]) -> None:
    """Its own guards hold whoever probes: no SipHash state in its syscall registers, its code and stack out of
    reach of /proc/<pid>/mem, no core dump; lab 01's reads still work (and, with no filter, ptrace still would)."""
    pid, key = nobody_suspect
    assert "Seccomp:\t0" in Path(f"/proc/{pid}/status").read_text()  # what started it was not under the filter
    done = as_nobody(sys.executable, "-c", PROBE, cwd="/tmp")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["suspect"] == pid
    check_probe(out, key, filtered=False)
    assert out["ptrace_suspect"] == "allowed"  # the filter is what stops it (below, in labs)


def test_its_witness_is_still_right_after_a_trainee_wrote_into_its_memory(nobody_suspect: tuple[int, bytes]) -> None:
    """Writing every page /proc/<pid>/mem lets its own uid write (int3 over each mapping of code, junk over the bottom
    of its first stack) changes nothing it runs: it goes on beaconing and showing the right witness."""
    pid, key = nobody_suspect
    scribble = textwrap.dedent(f"""
        import os
        mem = os.open("/proc/{pid}/mem", os.O_RDWR)
        hit = []
        for line in open("/proc/{pid}/maps"):
            fields = line.split()
            name = fields[5] if len(fields) > 5 else ""
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if name.startswith("[v"):  # the kernel's vdso, vvar and vsyscall pages
                continue
            try:
                os.pwrite(mem, b"\\xcc" * (hi - lo) if "x" in fields[1] else b"\\x5a" * 4096, lo)
                hit.append(fields[1])
            except OSError:
                pass
        print(sorted(hit))
    """)
    done = as_nobody(sys.executable, "-c", scribble)
    assert done.returncode == 0, done.stderr
    time.sleep(2 * BEACON_INTERVAL_S + 1)  # a few beacons, each a new witness written by the code it runs
    assert suspect.status(Path(f"/proc/{pid}/cwd").resolve()).state == "running"
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert witness.environ_token(environ) in witness.tokens_for(key, int(time.time() * 1_000_000))
    # What it could write: the private copy of its code and its first stack, both unused (the code it runs is a
    # shared read-only mapping, its stack secret memory).
    assert done.stdout.strip() == "['r-xp', 'rw-p']"


# -- a Docker lab: the trainee image's server runs under the filter ---------------------------------------------------
@pytest.fixture(scope="module")
def docker_lab(trainee_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("docker-notrace")
    session_dir = root / "session"
    lab = live_lab(root)
    engine = docker.from_env(timeout=120)
    try:
        ok(run_session("start", "--lab", str(lab), "--roster", str(write_roster(root / "roster.csv", "carol")),
                       "--session-dir", str(session_dir), "--backend", "docker", "--image", trainee_image,
                       "--secret", SECRET, "--timeout", "180"))
        yield session_dir
    finally:
        with contextlib.suppress(Exception):
            tear_down(engine, session_dir)


@pytest.mark.xdist_group(name=docker_fixtures.XDIST_GROUP)
def test_a_docker_lab_kernel_cannot_trace_its_suspect(docker_lab: Path) -> None:
    url, token = endpoints(docker_lab)["carol"]
    out = in_kernel(url, token, PROBE)
    check_probe(out, traits(suspect_seed("carol", SECRET)).witness_key, filters=2)  # Docker's profile, then ours
