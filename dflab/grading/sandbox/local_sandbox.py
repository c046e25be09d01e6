"""The local sandbox, for machines without a container engine: a confined subprocess.

As root (this machine, most grading servers) each run gets, through util-linux
``unshare`` and ``setpriv``:

* private mount, network, and PID namespaces: no network at all (the kernel is reached over Unix
  sockets), a fresh ``/proc`` (no other process is visible or signalable), and killing the namespace's
  first process kills every process the submission started, however it
  detached (``setsid`` does not leave a PID namespace);
* the graded trainee's evidence bind-mounted **read-only** inside the run's
  private directory, and the course directory (keys, gradebook, instructor's
  notebooks, other submissions) hidden under an empty read-only tmpfs;
* an unprivileged uid of its own (one per concurrent run, so one fork bomb's
  ``RLIMIT_NPROC`` does not starve another run), no capabilities, no new
  privileges, no supplementary groups; the key directory is root-only (0700)
  besides being hidden;
* rlimits (address space, CPU seconds, file size, processes) and a wall-clock
  limit enforced from outside; a scrubbed environment.

Not root: the same namespaces inside an unprivileged user namespace
(``unshare -r``), with the grader's own uid mapped; without user namespaces
the run is refused rather than executed unconfined.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from nbformat.notebooknode import NotebookNode

from dflab.errors import DflabError
from dflab.grading.sandbox import runner
from dflab.grading.sandbox.base import NOTEBOOK_IN, NOTEBOOK_OUT, Limits, Sandbox, SandboxResult, read_result, stage
from dflab.lab.evidence import EVIDENCE_ENV

UID_BASE = 2_100_000  # far above any uid a distribution or useradd hands out
UID_SLOTS = 128
REAP_TIMEOUT_S = 30.0
SLOT_DIR = Path("/run/dflab-sandbox")
# What a kernel would otherwise build in its empty home on every run: matplotlib's font list (~/.cache/matplotlib).
HOME_WARMUP = "try:\n    import matplotlib.font_manager\nexcept ImportError:\n    pass\n"
HOME_WARMUP_TIMEOUT_S = 120
# Runs inside the new namespaces, still as (namespace) root; the network namespace is left as it starts (no
# interface up, not even loopback): the runner talks to its kernel over Unix sockets.  Arguments: evidence,
# its mount point, the interpreter's prefix, a stash mount point, the private ancestor of that prefix ("" when
# there is none), then paths to hide up to "--", then the command.  All positional: nothing from the submission
# reaches the shell.
NS_SCRIPT = r"""set -eu
mount --bind "$1" "$2"
mount -o remount,bind,ro,nosuid,nodev "$2"
if [ -n "$5" ]; then
  mount --bind "$3" "$4"
  mount -t tmpfs -o mode=0755,size=64k,nosuid,nodev dflab-exposed "$5"
  mkdir -p "$3"
  mount --bind "$4" "$3"
  mount -o remount,bind,ro,nosuid,nodev "$3"
fi
shift 5
while [ "$1" != "--" ]; do mount -t tmpfs -o ro,nosuid,nodev,noexec,size=4k,mode=000 dflab-hidden "$1"; shift; done
shift
exec "$@"
"""


class LocalSandbox(Sandbox):
    """Run the runner in a confined subprocess (see the module doc for what is enforced)."""

    kind = "local"

    def __init__(self, hide: Sequence[Path] = (), python: str = sys.executable) -> None:
        self.hide = [Path(p).resolve() for p in hide]
        self.python = python

    def run(self, notebook: NotebookNode, workdir: Path, evidence: Path, limits: Limits) -> SandboxResult:
        start = time.monotonic()
        mode = namespace_mode()
        private = Path(tempfile.mkdtemp(prefix="dflab-sandbox-"))
        try:
            with self._uid(mode) as uid:
                argv, env = self._command(private, notebook, workdir, evidence, limits, uid)
                log = private / "stderr.log"  # a file, not a pipe: a flood to stderr must not fill our memory
                with open(log, "wb") as err:
                    proc = subprocess.Popen(argv, env=env, cwd=private / "work", stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                                            preexec_fn=lambda: _rlimits(limits))  # noqa: PLW1509 -- no threads
                    try:
                        proc.wait(timeout=limits.wall_s)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)  # unshare dies; --kill-child takes the namespace down
                        proc.wait()
                        return SandboxResult(None, "timeout", f"timed out after {limits.wall_s:.0f} s",
                                             time.monotonic() - start)
                seconds = time.monotonic() - start
                nb, status, reason, cell = read_result(private / "run" / NOTEBOOK_OUT, limits, proc.returncode)
                if nb is None and status == "error":
                    reason = f"{reason}; exit {proc.returncode}: {_last_line(log)}"
                return SandboxResult(nb, status, reason, seconds, cell)
        finally:
            shutil.rmtree(private, ignore_errors=True)

    # -- pieces ---------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _uid(self, mode: str) -> Iterator[int | None]:
        """A uid no other concurrent run holds (root), or None (user namespace: the grader's own uid)."""
        if mode != "root":
            yield None
            return
        SLOT_DIR.mkdir(mode=0o700, exist_ok=True)
        for slot in range(UID_SLOTS):
            with open(SLOT_DIR / f"slot-{slot}.lock", "w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    yield UID_BASE + slot
                finally:
                    _reap_uid(UID_BASE + slot)  # before the slot (and its RLIMIT_NPROC count) goes to the next run
                return
        raise DflabError(f"all {UID_SLOTS} local sandbox slots are busy", str(SLOT_DIR))

    def _command(self, private: Path, notebook: NotebookNode, workdir: Path, evidence: Path, limits: Limits,
                 uid: int | None) -> tuple[list[str], dict[str, str]]:
        private.chmod(0o711)  # the sandbox uid may traverse, not list
        work, run_dir = stage(notebook, workdir, private)
        home, mount_point = private / "home", private / "evidence"
        template, hide = home_template(self.python), self.hide
        if template is not None and template.is_dir():
            shutil.copytree(template, home, symlinks=True)  # the run's own copy: nothing it does outlives it
            hide = [*self.hide, template]  # and the template itself is out of the submission's reach
        else:
            home.mkdir()
        mount_point.mkdir()
        if uid is not None:
            for path in (work, run_dir, home):
                _chown_tree(path, uid)
        for hidden in hide:
            if private.is_relative_to(hidden):
                raise DflabError("cannot hide a directory that holds the sandbox itself", str(hidden))
        env = {
            "PATH": os.pathsep.join([str(Path(self.python).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(home), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "NBGRADER_EXECUTION": "autograde",
            EVIDENCE_ENV: str(mount_point),
        }
        # The runner as a script in isolated mode: no dflab package import (docker SDK and all) per submission.
        runner_cmd = [self.python, "-I", str(Path(runner.__file__).resolve()), str(run_dir / NOTEBOOK_IN),
                      str(run_dir / NOTEBOOK_OUT),
                      *limits.runner_args(), "--cwd", str(work)]
        if uid is None:
            unshare = ["unshare", "--user", "--map-root-user"]
            drop: list[str] = []
        else:
            unshare = ["unshare"]
            drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
                    "--inh-caps=-all", "--bounding-set=-all", "--"]
        prefix = Path(os.path.realpath(sys.base_prefix))
        stash = private / "python"
        stash.mkdir()
        private_top = _private_ancestor(prefix) if uid is not None else None
        argv = [*unshare, "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--",
                "/bin/sh", "-c", NS_SCRIPT, "dflab-sandbox", str(evidence.resolve()), str(mount_point),
                str(prefix), str(stash), str(private_top or ""), *[str(h) for h in hide], "--",
                *drop, *runner_cmd]
        return argv, env


@functools.cache
def home_template(python: str) -> Path | None:
    """A home directory holding the caches a kernel builds in an empty home, made once per grading process.

    Each run starts with an empty home, where matplotlib scans the system fonts into its cache again on first
    import: 0.3 s of CPU per submission.  This template is built by the grader's own interpreter, with no
    submission involved, and every run gets a copy of it, so nothing one submission writes reaches another.
    None (runs start empty) when the warm-up fails.
    """
    template = Path(tempfile.mkdtemp(prefix="dflab-home-"))
    atexit.register(shutil.rmtree, template, ignore_errors=True)
    env = {"HOME": str(template), "PATH": os.pathsep.join([str(Path(python).parent), "/usr/bin", "/bin"]),
           "LANG": "C.UTF-8", "MPLBACKEND": "Agg"}
    try:
        warm = subprocess.run([python, "-I", "-c", HOME_WARMUP], env=env, cwd=template, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=HOME_WARMUP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return None
    return template if warm.returncode == 0 else None


def _last_line(path: Path) -> str:
    """The last line of a log the sandbox wrote, read from its last 4 KiB only."""
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 4096))
        lines = fh.read().decode(errors="replace").strip().splitlines()
    return lines[-1][:200] if lines else "no output"


def _private_ancestor(prefix: Path) -> Path | None:
    """The outermost directory above the interpreter's prefix that other users cannot traverse (e.g. /root).

    A Python installed under root's home (pyenv) cannot be executed by the
    sandbox uid; inside the mount namespace that directory is replaced by a
    tmpfs holding only the interpreter's prefix, which also hides the rest of it.
    """
    for parent in reversed(prefix.parents):
        if parent != Path("/") and not parent.stat().st_mode & stat.S_IXOTH:
            return parent
    return None


def _uid_processes(uid: int) -> list[int]:
    """Processes whose real uid is ``uid`` (those this process can see)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue  # gone meanwhile
        for line in status.splitlines():
            if line.startswith("Uid:"):
                if int(line.split()[1]) == uid:
                    pids.append(int(entry.name))
                break
    return pids


def _reap_uid(uid: int) -> None:
    """Make sure nothing of a finished run's uid is left before its slot is reused.

    Leaving the PID namespace kills every process in it, but the kernel tears a large namespace (a fork
    bomb's) down at its own pace, and each process still counts towards the uid's ``RLIMIT_NPROC`` until it
    is gone: the next run on the same slot would then fail to fork, more so on a slow or nested host.  So
    wait for the uid's processes to vanish, killing any still there, for at most ``REAP_TIMEOUT_S``.
    """
    deadline = time.monotonic() + REAP_TIMEOUT_S
    while (left := _uid_processes(uid)) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    if _uid_processes(uid):
        raise DflabError(f"processes of sandbox uid {uid} survived {REAP_TIMEOUT_S:.0f} s after their run",
                         "local sandbox")


def _chown_tree(path: Path, uid: int) -> None:
    os.lchown(path, uid, uid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, uid)


def _rlimits(limits: Limits) -> None:
    """Per-process limits, inherited by the runner, the kernel and everything the submission starts.

    RLIMIT_AS bounds each process's address space (a Python kernel maps far
    more than it touches, hence the headroom); RLIMIT_NPROC counts the
    sandbox uid's processes; RLIMIT_CPU bounds a spinning process even if the
    wall-clock kill were late.
    """
    address_space = limits.memory_bytes * 2
    cpu = int(limits.wall_s) + 5
    for which, value in ((resource.RLIMIT_AS, address_space), (resource.RLIMIT_CPU, cpu),
                         (resource.RLIMIT_FSIZE, limits.memory_bytes), (resource.RLIMIT_NPROC, limits.pids),
                         (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(which, (value, value))


PROBE = ["--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "true"]


@functools.cache
def namespace_mode() -> str:
    """``root`` (namespaces + a dropped uid) or ``userns`` (unprivileged user namespace); else refuse in one line.

    Probed once per process with exactly the namespaces a run needs, so a host that cannot give them (a
    container without CAP_SYS_ADMIN, a /proc whose masked paths forbid a new mount from a user namespace)
    is told before any submission runs, not once per submission.
    """
    if shutil.which("unshare") is None or shutil.which("setpriv") is None:
        raise DflabError("the local sandbox needs util-linux's unshare and setpriv; install util-linux or use "
                         "Docker (--sandbox docker)", "local sandbox")
    if os.geteuid() == 0:
        probe = subprocess.run(["unshare", *PROBE], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return "root"
        raise DflabError(f"cannot confine submissions here: creating private mount, network and PID namespaces "
                         f"failed ({_first_line(probe.stderr)}); this needs CAP_SYS_ADMIN (a container started "
                         "without it?): grade with Docker (--sandbox docker) or on a host that allows namespaces",
                         "local sandbox")
    probe = subprocess.run(["unshare", "--user", "--map-root-user", *PROBE], capture_output=True, text=True,
                           check=False)
    if probe.returncode == 0:
        return "userns"
    raise DflabError(f"cannot confine submissions here: not root, and an unprivileged user namespace with its own "
                     f"/proc failed ({_first_line(probe.stderr)}); grade as root or with Docker (--sandbox docker)",
                     "local sandbox")


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else "no message"
