"""A durable grading queue: one job per (gradebook, lab, student) in a SQLite file beside the course.

Why a file and not memory: a grading run can be interrupted (Ctrl-C, a crash,
``kill -9``, a power cut) and must resume where it stopped with no grade lost
or done twice.  Every state change is one short ``BEGIN IMMEDIATE``
transaction in WAL mode, so the coordinator and its workers (separate
processes) see one consistent queue and a killed process leaves either the
old or the new state, never half of one.

States::

    pending  -> running (a worker claimed it: owner pid + process start time)
    running  -> done | failed          (the worker finished it)
    running  -> pending                (its owner died; retried, up to MAX_ATTEMPTS)
    running  -> failed                 (it overran its time: the coordinator expired it and stops the worker)
    rejected                           (pre-validation refused the submission; never run)

Resume rules (:meth:`Queue.enqueue`): a ``done`` job whose submission hash is
unchanged is not run again unless forced; anything else is queued again.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from dflab.dbtx import immediate

STATES = ("pending", "running", "done", "failed", "rejected")
FINAL = ("done", "failed", "rejected")
MAX_ATTEMPTS = 3  # a submission that kills its grading process this often is failed, not retried forever
BUSY_TIMEOUT_MS = 60_000

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS jobs (
    gradebook   TEXT NOT NULL,               -- gradebook URL without password: grading into another DB is new work
    lab         TEXT NOT NULL,
    student     TEXT NOT NULL,
    sha256      TEXT NOT NULL,               -- of the submission folder when queued
    state       TEXT NOT NULL CHECK (state IN {STATES!r}),
    reason      TEXT NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    owner_pid   INTEGER,
    owner_start INTEGER,                     -- /proc/<pid>/stat start time: a recycled pid is not the owner
    queued_at   REAL NOT NULL,
    started_at  REAL,
    finished_at REAL,
    PRIMARY KEY (gradebook, lab, student)
)
"""


@dataclass(frozen=True)
class Job:
    """One row of the queue."""

    gradebook: str
    lab: str
    student: str
    sha256: str
    state: str
    reason: str
    attempts: int
    owner_pid: int | None
    owner_start: int | None
    queued_at: float
    started_at: float | None
    finished_at: float | None


def process_start(pid: int) -> int | None:
    """The start time (clock ticks after boot) of process ``pid``, or None if it does not exist.

    Together with the pid it identifies a process for good: pids are reused,
    (pid, start time) pairs are not.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    if fields[0] == "Z":  # a zombie has finished its work: it owns nothing any more
        return None
    return int(fields[19])


def alive(pid: int | None, start: int | None) -> bool:
    """Is the process that claimed a job still running?"""
    return pid is not None and start is not None and process_start(pid) == start


class Queue:
    """The job table in ``path``; one instance per process (sqlite3 connections are not shared across forks)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self.db.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL: a crash of any process loses nothing; a power cut may lose the last few state changes,
        # which only means re-grading those submissions (the scores themselves live in nbgrader's gradebook).
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction, taken before reading so that two claimers never pick the same job."""
        return immediate(self.db)

    def jobs(self, gradebook: str, lab: str) -> list[Job]:
        """Every job of ``lab`` in ``gradebook``, by student."""
        rows = self.db.execute("SELECT * FROM jobs WHERE gradebook = ? AND lab = ? ORDER BY student",
                               (gradebook, lab)).fetchall()
        return [Job(*row) for row in rows]

    def enqueue(self, gradebook: str, lab: str, student: str, sha256: str, *, force: bool) -> bool:
        """Queue a valid submission; return False when it is already graded (done, same hash, not forced)."""
        with self._tx() as db:
            row = db.execute("SELECT state, sha256 FROM jobs WHERE gradebook = ? AND lab = ? AND student = ?",
                             (gradebook, lab, student)).fetchone()
            if row and row[0] == "done" and row[1] == sha256 and not force:
                return False
            if row and row[0] == "running":
                return True  # a live worker has it (dead owners were recovered first): do not run it twice
            db.execute("INSERT OR REPLACE INTO jobs (gradebook, lab, student, sha256, state, reason, attempts, "
                       "queued_at) VALUES (?, ?, ?, ?, 'pending', '', 0, ?)",
                       (gradebook, lab, student, sha256, time.time()))
            return True

    def reject(self, gradebook: str, lab: str, student: str, sha256: str, reason: str) -> None:
        """Record that pre-validation refused this submission (it is re-validated on every run)."""
        now = time.time()
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO jobs (gradebook, lab, student, sha256, state, reason, attempts, "
                       "queued_at, finished_at) VALUES (?, ?, ?, ?, 'rejected', ?, 0, ?, ?)",
                       (gradebook, lab, student, sha256, reason, now, now))

    def recover(self, gradebook: str, lab: str) -> list[str]:
        """Give jobs whose owner died back to the queue (or fail them after MAX_ATTEMPTS); return their students."""
        recovered = []
        with self._tx() as db:
            rows = db.execute("SELECT student, attempts, owner_pid, owner_start FROM jobs WHERE gradebook = ? "
                              "AND lab = ? AND state = 'running'", (gradebook, lab)).fetchall()
            for student, attempts, pid, start in rows:
                if alive(pid, start):
                    continue
                if attempts >= MAX_ATTEMPTS:
                    db.execute("UPDATE jobs SET state = 'failed', reason = ?, owner_pid = NULL, owner_start = NULL, "
                               "finished_at = ? WHERE gradebook = ? AND lab = ? AND student = ?",
                               (f"the grading process died {attempts} times on this submission", time.time(),
                                gradebook, lab, student))
                else:
                    db.execute("UPDATE jobs SET state = 'pending', owner_pid = NULL, owner_start = NULL "
                               "WHERE gradebook = ? AND lab = ? AND student = ?", (gradebook, lab, student))
                recovered.append(student)
        return recovered

    def claim(self, gradebook: str, lab: str) -> Job | None:
        """Atomically take the next pending job for this process, or None when there is none."""
        pid = os.getpid()
        with self._tx() as db:
            row = db.execute("SELECT student FROM jobs WHERE gradebook = ? AND lab = ? AND state = 'pending' "
                             "ORDER BY student LIMIT 1", (gradebook, lab)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET state = 'running', attempts = attempts + 1, owner_pid = ?, owner_start = ?, "
                       "started_at = ?, reason = '' WHERE gradebook = ? AND lab = ? AND student = ?",
                       (pid, process_start(pid), time.time(), gradebook, lab, row[0]))
            found = db.execute("SELECT * FROM jobs WHERE gradebook = ? AND lab = ? AND student = ?",
                               (gradebook, lab, row[0])).fetchone()
        return Job(*found)

    def finish(self, job: Job, state: str, reason: str = "") -> bool:
        """Record the outcome of a job this process claimed; False if it is no longer ours (it was recovered)."""
        if state not in ("done", "failed"):
            raise ValueError(f"not a final worker state: {state}")
        with self._tx() as db:
            cur = db.execute("UPDATE jobs SET state = ?, reason = ?, owner_pid = NULL, owner_start = NULL, "
                             "finished_at = ? WHERE gradebook = ? AND lab = ? AND student = ? AND state = 'running' "
                             "AND owner_pid = ? AND owner_start = ?",
                             (state, reason, time.time(), job.gradebook, job.lab, job.student, job.owner_pid,
                              job.owner_start))
            return cur.rowcount == 1

    def expire(self, job: Job, reason: str) -> bool:
        """Fail a job that is still running under the same claim (the coordinator then stops its worker);
        False if it finished or was recovered meanwhile.  The worker's later ``finish`` finds it no longer its own."""
        with self._tx() as db:
            cur = db.execute("UPDATE jobs SET state = 'failed', reason = ?, owner_pid = NULL, owner_start = NULL, "
                             "finished_at = ? WHERE gradebook = ? AND lab = ? AND student = ? AND state = 'running' "
                             "AND owner_pid IS ? AND owner_start IS ?",
                             (reason, time.time(), job.gradebook, job.lab, job.student, job.owner_pid,
                              job.owner_start))
            return cur.rowcount == 1

    def counts(self, gradebook: str, lab: str) -> dict[str, int]:
        """How many jobs of ``lab`` are in each state."""
        rows = self.db.execute("SELECT state, COUNT(*) FROM jobs WHERE gradebook = ? AND lab = ? GROUP BY state",
                               (gradebook, lab)).fetchall()
        return dict.fromkeys(STATES, 0) | dict(rows)
