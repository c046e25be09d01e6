"""The sandbox contract: one interface, one backend per way of confining a submission.

In the spirit of JupyterHub's Spawner: :class:`Sandbox` says what every
backend does (execute one notebook with the graded trainee's evidence, within
:class:`Limits` (dflab.provision.trainee_container's, the one every trainee container
takes), and report a :class:`SandboxResult`); ``DockerSandbox`` and
``LocalSandbox`` say how.  Both run :mod:`dflab.grading.sandbox.runner` next
to the kernel and read back what it wrote, size-capped, as untrusted data.

Both stage a run in a private folder of the host (:func:`private_folder`): the copy of the assignment folder,
the runner's in/out folder (which the sandbox writes), the log.  When the grader is root that folder is a
tmpfs of its own, :func:`private_bytes` and :data:`PRIVATE_INODES` in size, so a submission filling it gets
``No space left on device`` and the grader's disk is untouched; it is unmounted when the run ends, whatever
happened, and, should the grader itself be killed (SIGKILL, OOM), by the next run of any grader on the host: each
folder's name carries its grader's pid and start time (:func:`sweep_orphans`).  Not root: it is a plain folder of
the host, with no limit on the whole (see each sandbox).
"""

from __future__ import annotations

import abc
import contextlib
import ctypes
import errno
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import nbformat
from nbformat.notebooknode import NotebookNode

from dflab.errors import DflabError
from dflab.grading.sandbox import runner
from dflab.provision.trainee_container import CELL_TIMEOUT_S, HAND_IN_BYTES, Limits, MiB  # noqa: F401 -- CELL_TIMEOUT_S: re-exported

Status = Literal["ok", "timeout", "killed", "oom", "output_too_large", "error"]
Outcome = tuple[NotebookNode | None, Status, str, int | None]  # notebook, status, reason, cell where it stopped
NOTEBOOK_IN = "in.ipynb"
NOTEBOOK_OUT = "out.ipynb"
SOFT_MARGIN_S = 15  # the runner stops this long before the hard wall-clock kill, so finished cells are kept
SKIPPED = {".ipynb_checkpoints"}  # never staged
COPY_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO never hangs the open
log = logging.getLogger(__name__)


def wall_clock_s(limits: Limits) -> float:
    """The seconds one run may take; limits without a wall clock (a lab's) are refused, never run unbounded."""
    if limits.wall_s is None:
        raise DflabError("a grading run needs a wall-clock limit (Limits.wall_s)", "sandbox")
    return limits.wall_s


def runner_args(limits: Limits) -> list[str]:
    """The runner's options for ``limits`` (the soft deadline leaves time to write the result)."""
    wall = wall_clock_s(limits)
    soft = max(wall - SOFT_MARGIN_S, wall * 0.8)
    return ["--cell-timeout", str(int(limits.cell_timeout_s)), "--max-output", str(int(limits.max_output_bytes)),
            "--wall", f"{soft:.1f}", "--reap"]


def max_notebook_bytes(limits: Limits) -> int:
    """The largest result file read back: the outputs' budget plus room for sources and the caps' notes."""
    return limits.max_output_bytes * 2 + 16 * MiB


# The private folder of one run (a tmpfs when the grader is root): what is staged in it, the folder the sandbox
# writes and the log, together.  PRIVATE_ROOM holds the staged copy of the assignment folder and the notebook
# handed to the runner (a validated submission is at most 50 MiB, its notebook included: dflab.grading.validate),
# the local sandbox's home template (~64 KiB) and the log; on top of it, room for the result and the temporary
# copy it is written through (2 x max_notebook_bytes).  With the default 10 MiB output cap: 200 MiB.  A lab that
# lets its trainees hand in more (``limits.hand_in_bytes``: an evidence file) gets twice the difference on top: the
# larger copy staged, and as much again written beside it by the run (the notebook re-makes what was handed in).
# Its pages are memory, used only as they are written, charged to whoever writes them (a Docker run's container).
PRIVATE_ROOM = 128 * MiB
PRIVATE_INODES = 16_384  # a validated submission has at most 10,000 files and folders; a run makes a dozen more


def private_bytes(limits: Limits) -> int:
    """The size of one run's private folder on the host (documented above)."""
    return PRIVATE_ROOM + 2 * max_notebook_bytes(limits) + 2 * max(0, limits.hand_in_bytes - HAND_IN_BYTES)


@contextlib.contextmanager
def private_folder(limits: Limits, *, limited: bool) -> Iterator[Path]:
    """A new private folder (0700) for one run, removed afterwards; ``limited`` (the grader is root): a tmpfs of
    :func:`private_bytes` and :data:`PRIVATE_INODES`, mounted before anything is staged and unmounted (lazily:
    it cannot be busy) when the run ends, on errors too.

    The mount is in the grader's mount namespace, where a Docker engine on this host finds the folders it binds
    into the container; the local sandbox's namespace gets its own copy of it and drops it when the run ends.
    """
    if limited:
        sweep_orphans()
    private = Path(tempfile.mkdtemp(prefix=f"{PRIVATE_PREFIX}{_owner_tag(os.getpid())}-"))
    mounted = False
    try:
        if limited:
            _mount_tmpfs(private, f"mode=0700,size={private_bytes(limits)},nr_inodes={PRIVATE_INODES}")
            mounted = True
        yield private
    finally:
        if mounted:
            _unmount(private)
        shutil.rmtree(private, ignore_errors=True)


PRIVATE_PREFIX = "dflab-sandbox-"  # then "<pid>.<start time>-" of the grader process that made it, then random


def _owner_tag(pid: int) -> str | None:
    """``<pid>.<start time in clock ticks>``: one process, never another that reused its pid (None: gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return f"{pid}.{fields[19]}"


def sweep_orphans() -> list[Path]:
    """Unmount and remove the private folders of graders that died without doing it (killed mid-run): each
    ``dflab-run`` tmpfs in a temporary folder named for a process that no longer runs.  What it removed."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    temp = os.path.realpath(tempfile.gettempdir())
    swept = []
    for line in mounts:
        fields = line.split()
        sep = fields.index("-") if "-" in fields else -1
        if sep < 0 or fields[sep + 1:sep + 3] != ["tmpfs", "dflab-run"]:
            continue
        path = Path(fields[4].encode().decode("unicode_escape"))  # mountinfo escapes blanks as \040
        owner = path.name.removeprefix(PRIVATE_PREFIX).split("-", 1)[0]
        if str(path.parent) != temp or not path.name.startswith(PRIVATE_PREFIX) or "." not in owner:
            continue
        pid = owner.split(".", 1)[0]
        if pid.isdigit() and _owner_tag(int(pid)) == owner:
            continue  # its grader still runs
        _unmount(path)
        shutil.rmtree(path, ignore_errors=True)
        swept.append(path)
    return swept


def staging_failed(exc: OSError, limits: Limits) -> SandboxResult | None:
    """The result for a submission whose files do not fit its private folder (None: another error, raised)."""
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    return SandboxResult(None, "error", f"the submission's files do not fit the sandbox's run folder "
                                        f"({private_bytes(limits) // MiB} MiB, {PRIVATE_INODES} files)", 0.0)


_MS_NOSUID, _MS_NODEV = 2, 4
_MNT_DETACH = 2


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _mount_tmpfs(path: Path, options: str) -> None:
    """mount(2) a tmpfs on ``path``: no subprocess per run, and no mount command's parsing of a path."""
    if _libc().mount(b"dflab-run", os.fsencode(path), b"tmpfs", _MS_NOSUID | _MS_NODEV, options.encode()) != 0:
        code = ctypes.get_errno()
        raise DflabError(f"cannot mount a size-limited tmpfs for the run's private folder: {os.strerror(code)}",
                         str(path))


def _unmount(path: Path) -> None:
    if _libc().umount2(os.fsencode(path), _MNT_DETACH) != 0:
        log.warning("could not unmount %s: %s", path, os.strerror(ctypes.get_errno()))


@dataclass
class SandboxResult:
    """What came back: the executed notebook (untrusted) or None, a status, a reason, the time it took.

    ``cell`` is the index of the cell where execution stopped when the status is
    not ``ok`` and the runner said so (None: unknown).
    """

    notebook: NotebookNode | None
    status: Status
    reason: str
    seconds: float
    cell: int | None = None


class Sandbox(abc.ABC):
    """Execute one notebook, confined, on one trainee's evidence."""

    kind: str = ""

    @abc.abstractmethod
    def run(self, notebook: NotebookNode, workdir: Path, evidence: Path, limits: Limits) -> SandboxResult:
        """Execute ``notebook`` in a copy of ``workdir`` with ``evidence`` read-only at ``$DFLAB_EVIDENCE``.

        Never raises for anything the submission does (that is a status); raises
        DflabError only when the sandbox itself cannot be set up.
        """


def stage(notebook: NotebookNode, workdir: Path, private: Path) -> tuple[Path, Path]:
    """Copy ``workdir``'s plain files to ``private/work`` and write ``notebook`` to ``private/run/in.ipynb``.

    Nothing in ``workdir`` is followed: each folder and file is opened relative to its parent's descriptor
    with ``O_NOFOLLOW`` and checked with ``fstat``, and only regular files with a single name are copied
    (as new files).  Symbolic links, hard-linked files, pipes, devices and sockets are left out (and
    logged), as are notebook checkpoints, so a link planted in the assignment folder, or swapped in after
    it was validated, can never carry a file of the grader's side (a key) into the sandbox.  Returns
    (work dir, run dir).
    """
    work, run_dir = private / "work", private / "run"
    top = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # nbgrader's own folder, by its path
    try:
        work.mkdir()
        _copy_plain(top, work, "")
    finally:
        os.close(top)
    run_dir.mkdir()
    nbformat.write(notebook, run_dir / NOTEBOOK_IN)
    return work, run_dir


def _copy_plain(fd: int, dest: Path, rel: str) -> None:
    """Copy the folders and single-name regular files under the directory descriptor ``fd`` into ``dest``."""
    with os.scandir(fd) as it:  # on a duplicate of fd
        names = sorted(e.name for e in it)
    for name in names:
        path = f"{rel}{name}"
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            continue
        if name in SKIPPED:
            continue
        if stat.S_ISDIR(st.st_mode):
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                log.warning("not staged: %s/ (%s)", path, exc.strerror)
                continue
            try:
                (dest / name).mkdir(mode=0o755)
                _copy_plain(sub, dest / name, f"{path}/")
            finally:
                os.close(sub)
            continue
        if not stat.S_ISREG(st.st_mode):
            log.warning("not staged: %s (not a regular file)", path)
            continue
        try:
            src = os.open(name, _FILE_FLAGS, dir_fd=fd)
        except OSError as exc:
            log.warning("not staged: %s (%s)", path, exc.strerror)
            continue
        with os.fdopen(src, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                log.warning("not staged: %s (%s)", path, "hard-linked" if stat.S_ISREG(info.st_mode) else
                            "not a regular file")
                continue
            out = os.open(dest / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                          stat.S_IMODE(info.st_mode) & 0o777 | 0o600)
            with os.fdopen(out, "wb") as target:
                shutil.copyfileobj(fh, target, COPY_CHUNK)
            os.utime(dest / name, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)


def read_result(path: Path, limits: Limits, exit_code: int | None) -> Outcome:
    """Read the runner's result file as untrusted data: no symlinks, regular file, size-capped, valid notebook.

    A runner that did not exit 0 was killed (by the submission, or a limit): whatever file it left may be
    the submission's forgery, so it is discarded unparsed.  Parsing never raises: a result that cannot be
    read (deep nesting, huge numbers, memory) is an ``error``.
    """
    return _read_result(path, limits, exit_code)


def _read_result(path: Path, limits: Limits, exit_code: int | None) -> Outcome:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return None, "error", f"the sandbox wrote no result ({exc.strerror})", None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None, "error", "the sandbox's result is not a regular file", None
        if info.st_size > max_notebook_bytes(limits):
            return None, "output_too_large", f"output over {limits.max_output_bytes // MiB} MiB", None
        data = fh.read(max_notebook_bytes(limits) + 1)
    if len(data) > max_notebook_bytes(limits):
        return None, "output_too_large", f"output over {limits.max_output_bytes // MiB} MiB", None
    if exit_code != 0:
        return None, "killed", f"the grading runner was killed (exit {exit_code})", None
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as exc:  # noqa: BLE001 -- untrusted: bad UTF-8 or JSON, deep nesting, memory... is an error status
        return None, "error", f"the sandbox's result is not a notebook ({type(exc).__name__})", None
    info_ = nb.metadata.get(runner.STATUS_KEY)
    status, reason, cell = "ok", "", None
    if isinstance(info_, dict) and info_.get("status") in ("timeout", "killed", "output_too_large", "error"):
        status, reason = info_["status"], str(info_.get("reason", ""))[:300]
        cell = info_.get("cell") if isinstance(info_.get("cell"), int) else None
    return nb, status, reason, cell
