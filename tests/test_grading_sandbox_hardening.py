"""The grading runner holds against the kernel next to it (issue 13), in both sandboxes, for real.

A submission's kernel shares the runner's sandbox (and, locally, its uid): it must not fill the grader's disk
through the run's private folder (the run folder, and in Docker the work copy, are host folders), end the runner
with a signal, trace it or read its memory, or write the text the grader reads as a failure reason. Each test
runs small notebooks in :class:`LocalSandbox` and :class:`DockerSandbox` directly, with the real runner; the last
ones grade lab 02 with `nbgrader autograde` and show that the attacks cost no points and the next trainee is
graded normally.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from dflab.grading.sandbox import base, runner
from dflab.grading.sandbox.base import Limits, Sandbox, SandboxResult
from dflab.grading.sandbox.docker_sandbox import DockerSandbox
from dflab.grading.sandbox.local_sandbox import HOME_INODES, SHM_INODES, TMP_INODES, LocalSandbox
from tests import hostile, test_grading_sandbox
from tests.docker_fixtures import XDIST_GROUP, trainee_image  # noqa: F401 (pytest fixture)
from tests.hostile import runner as attacks
from tests.labkit import Lab
from tests.test_grading_sandbox import LAST_LOG, grade

# The local sandbox group of tests/test_grading_sandbox.py: one worker, so lab 02's course is made once for both.
LOCAL = test_grading_sandbox.LOCAL_GROUP
DOCKER = pytest.mark.xdist_group(XDIST_GROUP)
SANDBOXES = [pytest.param("local", marks=LOCAL), pytest.param("docker", marks=DOCKER)]
LIMITS = Limits(wall_s=240, cell_timeout_s=60)
LAB = Lab("02-disk", "02-disk.ipynb")


def make(kind: str, request: pytest.FixtureRequest) -> Sandbox:
    return DockerSandbox(request.getfixturevalue("trainee_image")) if kind == "docker" else LocalSandbox()


@pytest.fixture(params=SANDBOXES)
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    return make(request.param, request)


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the sandbox makes each run's private folder (tempfile's directory), watched by the tests."""
    top = tmp_path / "host"
    top.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(top))
    return top


def notebook(*sources: str) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def run(sandbox: Sandbox, tmp_path: Path, *sources: str, limits: Limits = LIMITS) -> SandboxResult:
    work, evidence = tmp_path / "work", tmp_path / "evidence"
    for folder in (work, evidence):
        folder.mkdir(exist_ok=True)
    (work / "notes.txt").write_text("the trainee's own file\n")
    (evidence / "disk.img").write_bytes(b"evidence")
    return sandbox.run(notebook(*sources), work, evidence, limits)


def texts(result: SandboxResult) -> list[str]:
    assert result.notebook is not None, (result.status, result.reason)
    return ["".join(o.get("text", "") for o in c.outputs if o.get("output_type") == "stream")
            for c in result.notebook.cells]


def usage(folder: Path) -> tuple[int, int]:
    """Bytes allocated and entries under ``folder``, as the host's disk sees them (a `du`)."""
    size = entries = 0
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(top, name)).st_blocks * 512
                entries += 1
    return size, entries


@contextlib.contextmanager
def watched(host: Path) -> Iterator[dict[str, int]]:
    """The most any run's private folder under ``host`` held while the block ran (bytes, entries)."""
    peak = {"bytes": 0, "entries": 0}
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.02):
            for private in host.glob("dflab-sandbox-*"):
                size, entries = usage(private)
                peak["bytes"], peak["entries"] = max(peak["bytes"], size), max(peak["entries"], entries)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


def mounted_under(folder: Path) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        return [line.split()[4] for line in fh if line.split()[4].startswith(str(folder))]


# The local sandbox's work folder is in its home tmpfs, inside the run (tests/test_local_sandbox_root.py); the
# Docker sandbox's is a host folder beside the run folder.
@pytest.mark.parametrize(("kind", "where"), [pytest.param("local", "run", marks=LOCAL),
                                             pytest.param("docker", "run", marks=DOCKER),
                                             pytest.param("docker", "work", marks=DOCKER)])
def test_filling_the_private_folder_stops_at_its_documented_limit(kind: str, where: str, tmp_path: Path, host: Path,
                                                                   request: pytest.FixtureRequest) -> None:
    """Preallocated files, then empty ones, in the run folder (and Docker's work folder): each stops at the limit
    with ENOSPC, the host folder never holds more, the run still returns its later cells, and nothing is left."""
    sandbox = make(kind, request)
    limit, inodes = base.private_bytes(LIMITS), base.PRIVATE_INODES
    top = "/grading/run" if where == "run" else "."
    chunks = limit // (8 << 20) + 4  # past the limit; bounded, so a host without one is not filled
    with watched(host) as peak:
        result = run(sandbox, tmp_path, attacks.fill(top, chunks, inodes + 256), "print('after the fill')")
    assert result.status == "ok", (result.status, result.reason)
    filled = attacks.printed(result.notebook.cells[0].outputs, "FILL")  # type: ignore[union-attr]
    assert filled["bytes_error"] == "ENOSPC" and filled["bytes"] <= limit, filled
    assert filled["files_error"] == "ENOSPC" and filled["files"] <= inodes, filled
    assert peak["bytes"] <= limit and peak["entries"] <= inodes, (peak, limit, inodes)
    assert peak["bytes"] >= limit // 2  # the watcher saw the fill (it must not pass by missing it)
    assert texts(result)[1] == "after the fill\n"
    # The next trainee is graded normally, and no folder or mount of either run is left on the host.
    assert texts(run(sandbox, tmp_path, "print(6 * 7)")) == ["42\n"]
    assert not list(host.glob("dflab-sandbox-*"))
    assert mounted_under(host) == []


@LOCAL
@pytest.mark.parametrize(("where", "inodes"), [("/tmp", TMP_INODES), ("/dev/shm", SHM_INODES),
                                               ("/home/trainee/work", HOME_INODES)])
def test_empty_files_stop_at_the_documented_count_in_the_local_sandbox(tmp_path: Path, where: str,
                                                                       inodes: int) -> None:
    """Empty files take no space but the host's kernel memory: the local sandbox's tmpfs bound their number too."""
    result = run(LocalSandbox(), tmp_path, attacks.fill(where, 0, inodes + 256))
    filled = attacks.printed(result.notebook.cells[0].outputs, "FILL")  # type: ignore[union-attr]
    assert filled["files_error"] == "ENOSPC" and inodes - 64 <= filled["files"] <= inodes, filled


def test_a_work_folder_too_large_for_the_private_folder_is_one_reason(sandbox: Sandbox, tmp_path: Path,
                                                                      host: Path) -> None:
    """`nbgrader autograde` without dflab's validation can hand over any folder: staging stops at the limit."""
    (tmp_path / "work").mkdir()
    with open(tmp_path / "work" / "big.bin", "wb") as fh:  # sparse here, written out when staged
        fh.truncate(base.private_bytes(LIMITS) + (8 << 20))
    result = run(sandbox, tmp_path, "print('never runs')")
    assert (result.notebook, result.status) == (None, "error")
    assert result.reason == (f"the submission's files do not fit the sandbox's run folder "
                             f"({base.private_bytes(LIMITS) >> 20} MiB, {base.PRIVATE_INODES} files)")
    assert not list(host.glob("dflab-sandbox-*")) and mounted_under(host) == []


def test_signals_to_the_runner_do_not_end_the_run(sandbox: Sandbox, tmp_path: Path) -> None:
    """SIGINT, SIGTERM, SIGHUP... sent to PID 1 and to the kernel's parent: the runner goes on, later cells run,
    and the kernel's own interrupt (the cell timeout) and signals still work as in any kernel."""
    result = run(sandbox, tmp_path, attacks.SIGNAL_RUNNER, "print('after the signals')", "while True:\n    pass",
                 attacks.KERNEL_SIGNALS, limits=Limits(wall_s=240, cell_timeout_s=10))
    assert result.status == "ok", (result.status, result.reason)
    printed = texts(result)
    assert printed[:2] == ["signals sent\n", "after the signals\n"]
    loop = result.notebook.cells[2].outputs  # type: ignore[union-attr]
    assert "KeyboardInterrupt" in [o.get("ename") for o in loop]  # interrupted by the cell timeout
    seen = attacks.printed(result.notebook.cells[3].outputs, "KERNEL")  # type: ignore[union-attr]
    # The kernel gets them as the runner found them: default in the Docker sandbox; the local one runs under this
    # process, whose SIGHUP a launcher may ignore (nohup), and its kernel then ignores it too.
    if isinstance(sandbox, LocalSandbox):
        inherited = {"term": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
                     "hup": signal.getsignal(signal.SIGHUP) == signal.SIG_DFL}
    else:
        inherited = {"term": True, "hup": True}
    assert {"term": seen["term"], "hup": seen["hup"]} == inherited, seen
    # None of the signals the runner ignores stays ignored in what the kernel starts.  Signals outside that set
    # come from wherever the sandbox was started (a CI host ignoring glibc's signal 32, which Python cannot
    # set), and so do those the local sandbox's launcher ignored already (nohup's SIGHUP): not the runner's to hand
    # out or take back.
    launched_ignoring = {s for s in runner.GUARDED_SIGNALS if isinstance(sandbox, LocalSandbox)
                         and _ignored_here(s)}
    guarded = sum(1 << (signum - 1) for signum in runner.GUARDED_SIGNALS if signum not in launched_ignoring)
    assert int(seen["child_ignores"], 16) & guarded == 0, seen


def _ignored_here(signum: int) -> bool:
    """Whether this process ignores ``signum`` (a real-time signal glibc keeps to itself counts as not ignored)."""
    try:
        return signal.getsignal(signum) == signal.SIG_IGN
    except ValueError:
        return False


def test_orphans_are_collected_by_the_runner(sandbox: Sandbox, tmp_path: Path) -> None:
    """The runner is PID 1 in both sandboxes: the processes a cell leaves behind become its children when their
    parent ends, and it collects them when they end, so they do not use up the process limit (256 here)."""
    result = run(sandbox, tmp_path, attacks.ORPHANS.format(count=400), "print('after')")
    assert result.status == "ok", (result.status, result.reason)
    assert texts(result) == ["ORPHANS 400\n", "after\n"]


def test_the_runner_cannot_be_traced_and_the_kernel_keeps_its_own_proc(sandbox: Sandbox, tmp_path: Path) -> None:
    result = run(sandbox, tmp_path, attacks.TRACE_RUNNER, "print('after')")
    assert result.status == "ok", (result.status, result.reason)
    seen = attacks.printed(result.notebook.cells[0].outputs, "TRACE")  # type: ignore[union-attr]
    assert seen["runner"] and all(v in ("EACCES", "EPERM") for v in seen["runner"].values()), seen["runner"]
    assert seen["own"] == {"mem": "ok", "environ": "ok", "fd": "ok", "dumpable": 1}, seen["own"]
    assert texts(result)[1] == "after\n"


def test_the_kernel_cannot_choose_the_failure_reason(sandbox: Sandbox, tmp_path: Path) -> None:
    """The kernel writes a verdict into every file it holds, its stdout and stderr and the runner's, then tries
    to kill the runner: none of it reaches the grader, and the run ends normally."""
    result = run(sandbox, tmp_path, attacks.FORGE_REASON, "print('after the forgery')")
    assert attacks.FORGED not in result.reason
    assert result.status == "ok", (result.status, result.reason)
    printed = texts(result)
    [held] = [line for line in printed[0].splitlines() if line.startswith("held ")]  # what the kernel holds open
    assert "stderr.log" not in held, held  # not the runner's log (what it wrote to fd 1 and 2 is its own output)
    assert printed[1] == "after the forgery\n"


# -- the same attacks in a graded lab: they cost no points ------------------------------------------------------
course_dir = test_grading_sandbox.course_dir  # lab 02's course, the one that module grades: made once per process

@pytest.mark.parametrize("kind", SANDBOXES)
def test_a_graded_submission_attacking_its_runner_loses_nothing(course_dir: Path, kind: str,
                                                                request: pytest.FixtureRequest) -> None:
    settings = {"sandbox": kind, "timeout": "60"}
    if kind == "docker":
        settings["image"] = request.getfixturevalue("trainee_image")
    full = LAB.points(course_dir)
    limit = base.private_bytes(Limits())
    attack = "\n".join([attacks.SIGNAL_RUNNER, attacks.TRACE_RUNNER, attacks.FORGE_REASON,
                        attacks.fill("/grading/run", limit // (8 << 20) + 4, base.PRIVATE_INODES + 256)])
    scores = grade(course_dir, "alice", hostile.at_note(LAB.source_nb(course_dir), attack), settings)
    assert scores == full, LAST_LOG[0][-4000:]
    assert attacks.FORGED not in LAST_LOG[0]
    assert grade(course_dir, "bob", LAB.source_nb(course_dir), settings) == full


def _private_mounts() -> set[str]:
    """The mount points of every run's private tmpfs (``dflab-run``) in this mount namespace."""
    found = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[fields.index("-") + 1:fields.index("-") + 3] == ["tmpfs", "dflab-run"]:
            found.add(fields[4])
    return found


def test_a_killed_graders_private_folder_is_swept_by_the_next_run() -> None:
    """A grader killed mid-run (SIGKILL, the OOM killer) cannot unmount its run's tmpfs: the next run of any grader
    on the host unmounts and removes it, and leaves the folders of graders still running alone."""
    code = ("import sys, time\nfrom dflab.grading.sandbox import base\n"
            "with base.private_folder(base.Limits(wall_s=60), limited=True) as p:\n"
            "    print(p, flush=True)\n    time.sleep(600)\n")
    grader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        orphan = grader.stdout.readline().strip()  # type: ignore[union-attr]
        assert orphan in _private_mounts()
    finally:
        grader.kill()
        grader.wait()
    assert orphan in _private_mounts() and Path(orphan).is_dir()  # what a killed grader leaves
    with base.private_folder(Limits(wall_s=60), limited=True) as mine:  # the next run sweeps it...
        assert orphan not in _private_mounts() and not Path(orphan).exists()
        assert str(mine) in _private_mounts()
        assert base.sweep_orphans() == []  # ...and never a running grader's (this one's)
        assert str(mine) in _private_mounts()
    assert str(mine) not in _private_mounts() and not mine.exists()


def test_shell_commands_run_in_both_sandboxes(sandbox: Sandbox, tmp_path: Path) -> None:
    """IPython's ``!cmd`` (a pseudo-terminal per command) and ``%%bash`` work when a notebook is graded, as in the
    trainee's lab: labs ask non-programmers to run the real tools so (the local sandbox had no terminals)."""
    result = run(sandbox, tmp_path, "!echo from-a-terminal", "%%bash\necho from-bash")
    assert result.status == "ok", (result.status, result.reason)
    assert [t.strip() for t in texts(result)] == ["from-a-terminal", "from-bash"]
