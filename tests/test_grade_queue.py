"""The grading queue and gradebook under real concurrency: separate processes, real SQLite files, kill -9.

Fast (no kernels): these pin the properties `dflab grade`'s resume and parallelism rest on.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from dflab.errors import DflabError
from dflab.grading.course import tools_on_path
from dflab.grading.gradebook import Status, normalise_url, queue_key, read_statuses, status_table, write_statuses
from dflab.grading.queue import MAX_ATTEMPTS, Queue, alive, process_start

GB, LAB = "sqlite:////grades.db", "02-disk"


def _claim_all(path: str, out: mp.Queue) -> None:
    queue = Queue(Path(path))
    mine = []
    while (job := queue.claim(GB, LAB)) is not None:
        mine.append(job.student)
        assert queue.finish(job, "done")
    out.put(mine)


def test_four_processes_claim_every_job_exactly_once(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.sqlite")
    students = [f"s{i:03d}" for i in range(60)]
    for s in students:
        assert queue.enqueue(GB, LAB, s, "h" * 64, force=False)
    out: mp.Queue = mp.get_context("spawn").Queue()
    procs = [mp.get_context("spawn").Process(target=_claim_all, args=(str(tmp_path / "q.sqlite"), out))
             for _ in range(4)]
    for p in procs:
        p.start()
    claimed = [s for _ in procs for s in out.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(claimed) == students  # none twice, none lost
    assert queue.counts(GB, LAB)["done"] == 60


def test_a_job_of_a_killed_worker_goes_back_to_the_queue_then_fails_after_max_attempts(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    queue = Queue(path)
    queue.enqueue(GB, LAB, "alice", "a" * 64, force=False)
    claim = ("from pathlib import Path; import os, time; from dflab.grading.queue import Queue; "
             f"q = Queue(Path({str(path)!r})); assert q.claim({GB!r}, {LAB!r}); print('claimed', flush=True); "
             "time.sleep(600)")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        proc = subprocess.Popen([sys.executable, "-c", claim], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline() == "claimed\n"
        [job] = queue.jobs(GB, LAB)
        assert (job.state, job.attempts, job.owner_pid) == ("running", attempt, proc.pid)
        assert alive(job.owner_pid, job.owner_start) and queue.recover(GB, LAB) == []  # a live owner keeps it
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not alive(job.owner_pid, job.owner_start)
        assert queue.recover(GB, LAB) == ["alice"]
    [job] = queue.jobs(GB, LAB)
    assert job.state == "failed" and job.reason == f"the grading process died {MAX_ATTEMPTS} times on this submission"


def test_done_work_is_kept_unless_the_submission_changed_or_forced(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.sqlite")
    assert queue.enqueue(GB, LAB, "bob", "a" * 64, force=False)
    job = queue.claim(GB, LAB)
    assert job is not None and queue.finish(job, "done")
    assert not queue.enqueue(GB, LAB, "bob", "a" * 64, force=False)
    assert queue.enqueue(GB, LAB, "bob", "a" * 64, force=True)
    job = queue.claim(GB, LAB)
    assert job is not None and queue.finish(job, "done")
    assert queue.enqueue(GB, LAB, "bob", "b" * 64, force=False)  # resubmitted
    assert not queue.finish(job, "failed")  # a stale claim cannot overwrite the new state
    assert queue.jobs(GB, LAB)[0].state == "pending"


def test_process_identity_survives_pid_reuse() -> None:
    start = process_start(os.getpid())
    assert start is not None and alive(os.getpid(), start) and not alive(os.getpid(), start + 1)
    assert process_start(2**22 + 12345) is None


def _hammer_gradebook(url: str, worker: int) -> None:
    with Gradebook(url) as gb:
        for i in range(10):
            gb.update_or_create_student(f"w{worker}-{i}", first_name=str(i))
    write_statuses(url, LAB, [Status(f"w{worker}-{i}", "done", score=float(i)) for i in range(10)])


def test_parallel_writers_never_hit_database_is_locked(tmp_path: Path) -> None:
    tools_on_path()  # a new gradebook asks the `alembic` command for its version
    url = normalise_url(f"sqlite:///{tmp_path / 'gradebook.db'}")
    with Gradebook(url) as gb:
        status_table.create(gb.engine, checkfirst=True)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_hammer_gradebook, args=(url, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    with Gradebook(url) as gb:
        assert len(gb.students) == 40
    assert len(read_statuses(url, LAB)) == 40


def test_gradebook_urls() -> None:
    assert normalise_url("sqlite:////tmp/g.db") == "sqlite:////tmp/g.db?timeout=60"
    assert normalise_url("sqlite:////tmp/g.db?timeout=5") == "sqlite:////tmp/g.db?timeout=5"
    assert normalise_url("postgresql://u:secret@h:5432/db") == "postgresql+psycopg2://u:secret@h:5432/db"
    assert queue_key("postgresql+psycopg2://u:secret@h:5432/db") == "postgresql+psycopg2://u@h:5432/db"
    with pytest.raises(DflabError, match="--db: unsupported gradebook database 'mysql'"):
        normalise_url("mysql://h/db")
    with pytest.raises(DflabError, match="--db: not a database URL"):
        normalise_url("no url")


def test_grading_a_folder_that_is_not_a_course_is_one_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "dflab.cli", "grade", "02-disk", "--course", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"dflab: error: {tmp_path}: no nbgrader_config.py: not a dflab course (run " \
                                  "`dflab course init`)"
