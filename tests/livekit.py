"""Run lab 01 as in a trainee's environment: the trainee's suspect running, the notebook executed beside it.

A trainee's container has its own process and network namespaces: /proc shows only that trainee's processes
and sockets, so "the process whose executable was deleted" is theirs alone.  The test machine runs other
tests' suspects, containers and long-lived daemons (whose upgraded executables also show "(deleted)"), so the
notebook is run the same way here: `unshare` gives it fresh PID, network and mount namespaces (a user
namespace too, so no privileges are needed), loopback is brought up, the suspect is started for the trainee's
seed (:func:`dflab.live.suspect.start`), the notebook is executed by nbclient with a real kernel, and the
suspect is stopped.  Nothing survives the namespace: leaving it kills every process started inside.

Used by tests/test_lab_01_live.py and benchmarks/labs.py; ``python -m tests.livekit DIR NOTEBOOK SEED`` is the
part that runs inside the namespaces.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

from dflab.errors import DflabError
from dflab.lab.answers import ANSWER_MIME
from dflab.live import suspect
from dflab.live.collect import Collector
from dflab.live.traits import suspect_seed

ROOT = Path(__file__).resolve().parents[1]
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def run_as_trainee(lab_dir: Path, notebook: str, seed: bytes) -> dict[str, object]:
    """Execute ``lab_dir/notebook`` in place, in its own namespaces, beside a suspect started for ``seed``.

    Returns the in-namespace figures (``seconds`` of notebook execution, ``answers_recorded``, and
    ``suspect_running`` as seen just before it was stopped).  Fails with the inner error if anything fails.
    """
    proc = subprocess.run([*namespaces(), sys.executable, "-m", "tests.livekit", str(lab_dir), notebook, seed.hex()],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def start_fresh_suspect(state: Path, course_secret: str | None = None) -> tuple[suspect.SuspectInfo, bytes]:
    """A suspect for a new random trainee in ``state``, and its seed; another variant when its ports are taken."""
    for _ in range(5):
        seed = suspect_seed(f"pytest-{uuid.uuid4()}", course_secret)
        try:
            return suspect.start(state, seed), seed
        except DflabError as exc:
            if "cannot listen" not in str(exc):
                raise
    raise AssertionError("no free port pair in 5 random variants")


def collect_all(case: Path, pid: int, disk_file: Path, *, case_id: str = "NJ-2026-0042",
                file_first: bool = False) -> Collector:
    """Every collection step of lab 01 on the suspect ``pid``, in RFC 3227 order (``file_first``: the disk file
    first, out of order); the collector, its case not closed."""
    c = Collector(case, "Det. Insp. Ada Example", case_id)
    if file_first:
        c.file(disk_file)
    c.network_connections()
    c.logged_in_users()
    c.processes()
    c.open_files(pid)
    c.memory_maps(pid)
    c.recover_deleted_exe(pid)
    c.recover_deleted_fd(pid, 5)
    if not file_first:
        c.file(disk_file)
    return c


def namespaces() -> list[str]:
    """``unshare`` with fresh PID (and /proc), network and mount namespaces, the way this host allows them.

    As root no user namespace is needed, and none is wanted: inside a container whose /proc has masked
    paths (Docker's default), the kernel refuses a new /proc mount from a user namespace but not from
    root's own.  Otherwise a user namespace gives the privileges.  Fails in one line naming what is missing.
    """
    unshare = shutil.which("unshare")
    assert unshare, "util-linux `unshare` is required to run lab 01 as in a trainee's container"
    argv = [unshare, "--pid", "--fork", "--mount-proc", "--net"]
    if os.geteuid() != 0:
        argv[1:1] = ["--user", "--map-root-user"]
    probe = subprocess.run([*argv, "true"], capture_output=True, text=True, check=False)
    assert probe.returncode == 0, (
        f"lab 01 runs in fresh PID and network namespaces, which this host refuses ({probe.stderr.strip()}): "
        "run the tests as root, or where unprivileged user namespaces may mount /proc")
    return argv


def _loopback_up() -> None:
    """A new network namespace starts with `lo` down; the suspect and the kernel's ZMQ sockets need it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sh", fcntl.ioctl(s, _SIOCGIFFLAGS, struct.pack("16sh", b"lo", 0)))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | _IFF_UP))


def _inside(lab_dir: Path, notebook: str, seed: bytes) -> dict[str, object]:
    _loopback_up()
    nb = nbformat.read(lab_dir / notebook, as_version=4)
    with tempfile.TemporaryDirectory(prefix="dflab-suspect-") as state:
        suspect.start(state, seed)
        try:
            client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                                    resources={"metadata": {"path": str(lab_dir)}})
            t0 = time.perf_counter()
            client.execute()
            seconds = time.perf_counter() - t0
            running = suspect.status(state).state
        finally:
            suspect.stop(state)
    nbformat.write(nb, lab_dir / notebook)
    recorded = sum(1 for cell in nb.cells for out in cell.get("outputs", []) if ANSWER_MIME in out.get("data", {}))
    return {"seconds": round(seconds, 2), "answers_recorded": recorded, "suspect_running": running}


if __name__ == "__main__":
    print(json.dumps(_inside(Path(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3]))))


def lab01_hooks() -> Any:
    """labs/01-live/hooks.py as the session loads it (dflab.lab_hooks), for tests that drive the suspect."""
    from dflab.lab_hooks import LabHooks

    return LabHooks(ROOT / "labs" / "01-live" / "hooks.py").module


def suspect_runs(session: Any, trainee: str) -> bool:
    """Whether ``trainee``'s suspect runs in their lab, asked the way the session's hooks ask (Backend.exec)."""
    from dflab.lab_hooks import LabContext

    backend, env = session.backend(), session.env(session.state.get(trainee))
    return bool(lab01_hooks().running(LabContext(trainee, None, lambda argv, environment=None:
                                                 backend.exec(env, argv, environment))))
