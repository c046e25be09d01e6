"""A confined local lab's kernels are their trainee's alone, and nothing a trainee runs can trace (dflab.noptrace).

As root, a session of alice and bob on a lab with lab 01's suspect, started by the real CLI. Kernels talk to their
server over Unix sockets in the lab's private runtime folder (its own /tmp), never over TCP: a kernel's iopub port on
127.0.0.1 let anyone on the host subscribe to the code it ran and everything it showed (the HMAC key guards only what
a kernel receives). From alice's kernel, every TCP listener she can see is subscribed to while bob works: nothing of
bob's comes; his sockets do not even exist where she looks, and his server's token is nowhere she can read. Her own
notebook runs as before. tests/test_no_tracing.py's probe then tries every way at her suspect's witness key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dflab.confine import uid_processes
from dflab.live.traits import suspect_seed, traits
from dflab.provision.local_backend import CONFINED_RUNTIME, SOCKET_PATH_MAX
from tests.test_no_tracing import PROBE, check_probe
from tests.test_session_course import LAB_ID
from tests.test_session_local import endpoints
from tests.test_session_local_isolation import TIMEOUT, _api, _execute, in_kernel, rows, running_pair

pytestmark = pytest.mark.xdist_group(name="local_kernels_private")

SECRET = "kernels-private-secret-51c9"
MARKER = "BOBS-SECRET-METHOD-7d1e"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with running_pair(tmp_path_factory.mktemp("kernels-private"), SECRET) as session_dir:
        yield session_dir


@contextlib.contextmanager
def kernel(url: str, token: str) -> Iterator[str]:
    kernel_id = _api(url, token, "api/kernels", "POST")["id"]
    try:
        yield kernel_id
    finally:
        _api(url, token, f"api/kernels/{kernel_id}", "DELETE")


def run(url: str, token: str, kernel_id: str, code: str) -> str:
    return asyncio.run(asyncio.wait_for(_execute(url, token, kernel_id, code), TIMEOUT))


def kernel_pid(uid: int, kernel_id: str) -> int:
    """The process of kernel ``kernel_id`` (its command line names its connection file)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        for pid in uid_processes(uid, zombies=False):
            with contextlib.suppress(OSError):
                if f"kernel-{kernel_id}.json" in Path(f"/proc/{pid}/cmdline").read_text():
                    return pid
        time.sleep(0.1)
    raise AssertionError(f"no process of kernel {kernel_id}")


def tcp_sockets(pid: int) -> dict[int, str]:
    """inode -> state (hex, 0A = LISTEN) of every TCP socket of process ``pid``'s network namespace."""
    found = {}
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]:
            fields = line.split()
            found[int(fields[9])] = fields[3]
    return found


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            if (target := os.readlink(fd)).startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def test_kernels_use_no_tcp_port_only_sockets_in_their_labs_private_runtime(pair: Path) -> None:
    state = rows(pair)
    for trainee, (url, token) in endpoints(pair).items():
        uid = state[trainee]["uid"]
        with kernel(url, token) as kernel_id:
            assert run(url, token, kernel_id, "print(6 * 7)").strip() == "42"  # the notebook works
            # No debugger: its debugpy adapter would listen on TCP and take any client (code run in this kernel).
            assert run(url, token, kernel_id, "from ipykernel.debugger import _is_debugpy_available\n"
                       "print(_is_debugpy_available)").strip() == "False"
            assert _api(url, token, "api/kernelspecs", "GET")["kernelspecs"]["python3"]["spec"]["metadata"] == \
                {"debugger": False}
            pid = kernel_pid(uid, kernel_id)
            # Its channels are not on TCP. One port is left: ipykernel's IOPub *pipe*, a PULL socket its forked
            # children push their output into, each message led by a random 16-byte key (others are dropped), on
            # the loopback of the lab's own network namespace, where no neighbour is (the test below listens to
            # every port a neighbour can see).
            tcp = tcp_sockets(pid)
            assert [tcp[inode] for inode in socket_inodes(pid) if inode in tcp] == ["0A"], "kernel channels on TCP"
            # What the kernel's namespace holds, as root sees it through the process.
            runtime = Path(f"/proc/{pid}/root{CONFINED_RUNTIME}")
            info = runtime.stat()
            assert (info.st_uid, stat.S_IMODE(info.st_mode) & 0o777) == (uid, 0o700)
            connection = json.loads((runtime / f"kernel-{kernel_id}.json").read_text())
            assert connection["transport"] == "ipc" and connection["ip"].startswith(f"{CONFINED_RUNTIME}/kernel-")
            sockets = sorted(p.name for p in runtime.iterdir() if p.is_socket() and p.name.startswith("kernel-"))
            assert (runtime / "jupyter.sock").is_socket()  # the server's own, where its relay connects
            assert len(sockets) == 5 and all(len(f"{CONFINED_RUNTIME}/{s}") <= SOCKET_PATH_MAX for s in sockets)
            assert not any((pair / "run" / trainee).rglob("kernel-*"))  # nothing of it in the session's folders


# Runs in alice's kernel: subscribe to every TCP listener she sees for a while (each kernel's iopub was one of
# them), knock on bob's sockets where they would be, look for bob's token wherever she can read.
SNIFF = r"""
import glob, json, os, socket, time, zmq
paths = json.loads(%(paths)r)
ports = set()
for name in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in open(name).read().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A":
            ports.add(int(fields[1].split(":")[1], 16))
ctx = zmq.Context()
poller = zmq.Poller()
for port in sorted(ports):
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(f"tcp://127.0.0.1:{port}")
    poller.register(sub, zmq.POLLIN)
heard = []
end = time.time() + paths["listen_s"]
while time.time() < end:
    for sub, _ in poller.poll(200):
        heard.append(b"".join(sub.recv_multipart()).decode(errors="replace")[:300])
knocks = {}
for path in paths["sockets"]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        knocks[path] = "connected"
    except OSError as exc:
        knocks[path] = type(exc).__name__
    finally:
        s.close()
found = []
readable = glob.glob("/proc/[0-9]*/cmdline") + glob.glob("/proc/[0-9]*/environ")
for name in readable + glob.glob(os.environ["JUPYTER_RUNTIME_DIR"] + "/*"):
    try:
        if paths["token"].encode() in open(name, "rb").read():
            found.append(name)
    except OSError:
        pass
print(json.dumps({"ports": len(ports), "heard": heard, "knocks": knocks, "token_found": found}))
"""


def test_a_trainee_hears_nothing_of_anothers_kernel_and_finds_no_token(pair: Path) -> None:
    eps, state = endpoints(pair), rows(pair)
    (a_url, a_token), (b_url, b_token) = eps["alice"], eps["bob"]
    with kernel(b_url, b_token) as bob_kernel:
        run(b_url, b_token, bob_kernel, "x = 1")  # bob's kernel is up, its sockets bound
        bob_pid = kernel_pid(state["bob"]["uid"], bob_kernel)
        names = [f"{CONFINED_RUNTIME}/kernel-{bob_kernel}-ipc-{n}" for n in range(1, 6)]
        sockets = [*names, *(f"/proc/{bob_pid}/root{n}" for n in names)]  # where bob sees them, and through /proc
        bound = [Path(f"/proc/{bob_pid}/root{n}").is_socket() for n in names]  # (root sees them)
        result: dict[str, str] = {}
        code = SNIFF % {"paths": json.dumps({"listen_s": 12, "sockets": sockets, "token": b_token})}
        alice = threading.Thread(target=lambda: result.update(out=in_kernel(a_url, a_token, code)))
        alice.start()
        time.sleep(4)  # alice is listening: bob works on his lab, his code and its answer shown
        shown = run(b_url, b_token, bob_kernel, f"import os\nos.chdir({LAB_ID!r})\nsecret = {MARKER!r}\nprint(secret)\n"
                    "from dflab.lab import answer\nanswer('payload_sha256', 'b0b' * 21 + 'b')")
        assert MARKER in shown
        alice.join(TIMEOUT)
    out = result["out"]  # alice's own notebook ran (a JSON line came back)
    assert out["ports"] >= 2  # her own suspect's listener and sink at least: there was something to listen to
    assert out["heard"] == [], out["heard"]
    assert bound == [True] * 5 and set(out["knocks"].values()) <= {"FileNotFoundError", "PermissionError"}, out
    assert out["token_found"] == []


def test_a_local_lab_kernel_cannot_trace_its_suspect(pair: Path) -> None:
    state = rows(pair)
    out = in_kernel(*endpoints(pair)["alice"], PROBE)
    check_probe(out, traits(suspect_seed("alice", SECRET)).witness_key)
    # Every process of her uid runs under it, seen from outside too: the server and what the hooks started beside it.
    for pid in uid_processes(state["alice"]["uid"], zombies=False):
        assert "Seccomp:\t2" in Path(f"/proc/{pid}/status").read_text(), pid
    assert state["alice"]["pid"] in uid_processes(state["alice"]["uid"]) and out["suspect"] in uid_processes(
        state["alice"]["uid"])
