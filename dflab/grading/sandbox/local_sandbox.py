"""The local sandbox, for machines without a container engine: a confined subprocess.

As root (this machine, most grading servers) each run gets, through util-linux
``unshare``, ``pivot_root`` and ``setpriv``:

* private mount, network, and PID namespaces: no network at all (the kernel is reached over Unix
  sockets), a fresh ``/proc`` (no other process is visible or signalable), and killing the namespace's
  first process kills every process the submission started, however it detached (``setsid`` does not
  leave a PID namespace);
* a minimal root file system of its own: the system directories and the interpreter read-only, the
  graded trainee's evidence read-only at ``/evidence``, the submission's files in a fresh home; no
  project checkout, no course directory (keys, gradebook, other submissions), no other run's folder,
  no ``/run`` or ``/var`` (no file-system Unix sockets); ``/tmp``, ``/dev/shm`` and the home are
  size-limited tmpfs that vanish with the run (``HOME_SIZE``, ``TMP_SIZE``, ``SHM_SIZE``; as many files as
  4 KiB pages, ``*_INODES``); the run folder (``/grading/run``: the runner's notebook in and out, its kernel's
  sockets), the one folder of the host it writes, is in the run's private folder, a tmpfs of
  ``base.private_bytes`` (200 MiB with the default output cap) and ``base.PRIVATE_INODES`` files mounted
  on the host for the run;
* an unprivileged uid of its own (one per concurrent run, so one fork bomb's ``RLIMIT_NPROC`` does not
  starve another run; reaped before the next run takes it), no capabilities, no new privileges, no
  supplementary groups;
* rlimits (address space, CPU seconds, file size, processes) and a wall-clock limit enforced from
  outside; a scrubbed environment.

Not root: the same namespaces inside an unprivileged user namespace (``unshare -r``), with the grader's
own uid mapped; a host that gives neither is refused in one line rather than the run executed unconfined.
Not enforced then: a size for the run folder (a plain host folder; ``RLIMIT_FSIZE`` bounds each file, not
their number), and the runner's protection from its kernel, which holds the same user namespace's capabilities.
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
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from nbformat.notebooknode import NotebookNode

from dflab.atomic import write_bytes
from dflab.confine import (
    SHM_INODES,
    SHM_SIZE,
    TMP_INODES,
    TMP_SIZE,
    Root,
    base_root,
    chown_tree,
    drop_to,
    first_line,
    pid_namespace,
    reap_uid,
    visible_paths,
)
from dflab.errors import DflabError
from dflab.grading.sandbox import base, runner
from dflab.grading.sandbox.base import NOTEBOOK_IN, NOTEBOOK_OUT, Limits, Sandbox, SandboxResult, read_result, stage
from dflab.lab.evidence import EVIDENCE_ENV

UID_BASE = 2_100_000  # far above any uid a distribution or useradd hands out
UID_SLOTS = 128
REAP_TIMEOUT_S = 30.0
NAMESPACE_WAIT_S = 10.0
SLOT_DIR = Path("/run/dflab-sandbox")
# What a kernel would otherwise build in its empty home on every run: matplotlib's font list (~/.cache/matplotlib).
HOME_WARMUP = "try:\n    import matplotlib.font_manager\nexcept ImportError:\n    pass\n"
HOME_WARMUP_TIMEOUT_S = 120
# Inside the sandbox, paths are the same on every host (and as in the Docker sandbox).
HOME = "/home/trainee"
WORK = f"{HOME}/work"
RUN = "/grading/run"
EVIDENCE = "/evidence"
# What a submission may write, all of it in memory that vanishes with the run (documented in graders/README.md):
HOME_SIZE = "512m"  # the home with the work folder: the submission's files and whatever it writes beside them
HOME_INODES = 131_072  # one per 4 KiB page, as confine's TMP_INODES
__all__ = ["HOME_INODES", "HOME_SIZE", "SHM_INODES", "SHM_SIZE", "TMP_INODES", "TMP_SIZE", "LocalSandbox",
           "home_template", "namespace_mode", "visible_paths"]


class LocalSandbox(Sandbox):
    """Run the runner in a confined subprocess (see the module doc for what is enforced)."""

    kind = "local"

    def __init__(self, hide: Sequence[Path] = (), python: str = sys.executable) -> None:
        self.hide = [Path(p).resolve() for p in hide]
        self.python = python

    def run(self, notebook: NotebookNode, workdir: Path, evidence: Path, limits: Limits) -> SandboxResult:
        start = time.monotonic()
        mode = namespace_mode()
        with base.private_folder(limits, limited=mode == "root") as private, self._uid(mode) as (uid, namespace):
            try:
                argv, env = self._command(private, notebook, workdir, evidence, limits, uid)
            except OSError as exc:
                if (failed := base.staging_failed(exc, limits)) is None:
                    raise
                return failed
            # A file, not a pipe: a flood to stderr must not fill our memory.  Only the runner and what starts
            # it write here: the kernel gets stdout and stderr of its own (runner.run_forked_kernel).
            log = private / "stderr.log"
            with open(log, "wb") as err:
                proc = subprocess.Popen(argv, env=env, cwd=private / "work", stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                                        preexec_fn=lambda: _rlimits(limits))  # noqa: PLW1509 -- no threads
                namespace.append(_run_namespace(proc))
                try:
                    proc.wait(timeout=base.wall_clock_s(limits))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)  # unshare dies; --kill-child takes the namespace down
                    proc.wait()
                    return SandboxResult(None, "timeout", f"timed out after {base.wall_clock_s(limits):.0f} s",
                                         time.monotonic() - start)
                except BaseException:  # stopped from outside (a watchdog, Ctrl-C): the run must not outlive us
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    raise
            seconds = time.monotonic() - start
            nb, status, reason, cell = read_result(private / "run" / NOTEBOOK_OUT, limits, proc.returncode)
            if nb is None and status == "error":
                reason = f"{reason}; exit {proc.returncode}: {_last_line(log)}"
            return SandboxResult(nb, status, reason, seconds, cell)

    # -- pieces ---------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _uid(self, mode: str) -> Iterator[tuple[int | None, list[str | None]]]:
        """A uid no other concurrent run holds (root), or None (user namespace: the grader's own uid).

        With it, a list where the run puts its PID namespace: what is reaped before the slot is reused.
        """
        namespace: list[str | None] = []
        if mode != "root":
            yield None, namespace
            return
        SLOT_DIR.mkdir(mode=0o700, exist_ok=True)
        for slot in _slots_from_next():
            with open(SLOT_DIR / f"slot-{slot}.lock", "w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                _set_next(slot + 1)
                try:
                    yield UID_BASE + slot, namespace
                finally:
                    if namespace and namespace[0]:  # before the slot (and its RLIMIT_NPROC count) is reused
                        _reap_uid(UID_BASE + slot, namespace[0])
                return
        raise DflabError(f"all {UID_SLOTS} local sandbox slots are busy", str(SLOT_DIR))

    def _command(self, private: Path, notebook: NotebookNode, workdir: Path, evidence: Path, limits: Limits,
                 uid: int | None) -> tuple[list[str], dict[str, str]]:
        private.chmod(0o700)  # only the namespace script (root) reads it; the sandbox sees copies and binds
        work, run_dir = stage(notebook, workdir, private)
        home = private / "home"
        template = home_template(self.python)
        if template is not None and template.is_dir():
            shutil.copytree(template, home, symlinks=True)  # the run's own copy: nothing it does outlives it
        else:
            home.mkdir()
        (private / "root").mkdir()
        if uid is not None:
            chown_tree(run_dir, uid)
        env = {
            "PATH": os.pathsep.join([str(Path(self.python).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": HOME, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "NBGRADER_EXECUTION": "autograde",
            EVIDENCE_ENV: EVIDENCE,
        }
        # The runner as a script in isolated mode: no dflab package import (docker SDK and all) per submission.
        runner_cmd = [self.python, "-I", str(Path(runner.__file__).resolve()), f"{RUN}/{NOTEBOOK_IN}",
                      f"{RUN}/{NOTEBOOK_OUT}", *base.runner_args(limits), "--cwd", WORK]
        if uid is None:
            unshare = ["unshare", "--user", "--map-root-user"]
            drop: list[str] = []
        else:
            unshare = ["unshare"]
            drop = drop_to(uid)
        argv = [*unshare, "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--",
                *self.root(private, evidence).command(private / "root", uid, [*drop, *runner_cmd], "dflab-sandbox")]
        return argv, env

    def root(self, private: Path, evidence: Path) -> Root:
        """The sandbox's file system (see dflab.confine): the evidence at /evidence, the run folder (the runner's
        result), a fresh home holding copies of the home template and the submission's work folder."""
        # Terminals of its own: IPython's `!cmd` runs commands on a pseudo-terminal (a lab's notebook does).
        root = base_root(self.python, proc="inherit").terminals()
        root.bind(evidence.resolve(), EVIDENCE)
        root.bind(private / "run", RUN, writable=True)
        root.tmpfs(HOME, f"mode=0700,nosuid,nodev,size={HOME_SIZE},nr_inodes={HOME_INODES}")
        root.copy(private / "home", HOME).mkdir(WORK).copy(private / "work", WORK).own(HOME)
        for path in self.hide:
            root.hide(path)
        return root.cwd(WORK)


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


def _slots_from_next() -> list[int]:
    """Every slot, the one after the last taken first: consecutive runs get different uids.

    A fork bomb's processes count towards their uid's ``RLIMIT_NPROC`` until the kernel has torn them all
    down, which a slow or nested host does at its own pace: the next trainee never starts on that uid.
    """
    try:
        start = int((SLOT_DIR / "next").read_text()) % UID_SLOTS
    except (OSError, ValueError):
        start = 0
    return [(start + i) % UID_SLOTS for i in range(UID_SLOTS)]


def _set_next(slot: int) -> None:
    with contextlib.suppress(OSError):
        write_bytes(SLOT_DIR / "next", str(slot % UID_SLOTS).encode())


def _reap_uid(uid: int, namespace: str) -> None:
    """Make sure nothing of a finished run is left before its slot is reused.

    Leaving the PID namespace kills every process in it, but the kernel tears a large namespace (a fork
    bomb's) down at its own pace, and each process still counts towards the uid's ``RLIMIT_NPROC`` until it
    is gone: the next run on the same slot would then fail to fork, more so on a slow or nested host.  So
    wait for the run's processes to vanish, killing any still there, for at most ``REAP_TIMEOUT_S``.  Only
    those in the run's own PID namespace: a grader in another container on this kernel has slots of its own
    with the same uids, and its runs are none of ours.
    """
    reap_uid(uid, REAP_TIMEOUT_S, "sandbox uid", "their run", "local sandbox", namespace=namespace)


def _run_namespace(proc: subprocess.Popen[bytes]) -> str | None:
    """The PID namespace of the run ``proc`` (unshare) started: that of its child, the namespace's first process.

    Read while the run starts (a few milliseconds); None if it ended before its child could be seen.
    """
    deadline = time.monotonic() + NAMESPACE_WAIT_S
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        except OSError:
            return None
        if children:
            namespace = pid_namespace(int(children[0]))
            if namespace is not None and namespace != pid_namespace(os.getpid()):
                return namespace
        time.sleep(0.002)
    return None


def _rlimits(limits: Limits) -> None:
    """Per-process limits, inherited by the runner, the kernel and everything the submission starts.

    From the same :class:`Limits` a Docker container of the trainee image takes (memory, pids, wall clock).
    RLIMIT_AS bounds each process's address space (a Python kernel maps far
    more than it touches, hence the headroom); RLIMIT_NPROC counts the
    sandbox uid's processes; RLIMIT_CPU bounds a spinning process even if the
    wall-clock kill were late.
    """
    address_space = limits.memory_bytes * 2
    cpu = int(base.wall_clock_s(limits)) + 5
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
                         f"failed ({first_line(probe.stderr)}); this needs CAP_SYS_ADMIN (a container started "
                         "without it?): grade with Docker (--sandbox docker) or on a host that allows namespaces",
                         "local sandbox")
    probe = subprocess.run(["unshare", "--user", "--map-root-user", *PROBE], capture_output=True, text=True,
                           check=False)
    if probe.returncode == 0:
        return "userns"
    raise DflabError(f"cannot confine submissions here: not root, and an unprivileged user namespace with its own "
                     f"/proc failed ({first_line(probe.stderr)}); grade as root or with Docker (--sandbox docker)",
                     "local sandbox")
