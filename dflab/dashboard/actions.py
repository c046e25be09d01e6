"""What the instructor can do from the page: collect, grade, release feedback, restart a dead lab.

Each action calls the function its CLI command calls (``Session.collect``, ``dflab.grading.service.grade``,
``release_feedback``, ``Session.restart``) in a background thread, one action at a time (they share the course:
grading holds its lock, collection writes what grading reads), so the page stays live while a cohort is graded.
A job's progress is a line the page shows; its end is a summary, or the CLI's one-line error (``where: what``).
Anything else is a bug: its traceback goes to the dashboard's log and the page says so in one line.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from dflab.errors import DflabError
from dflab.grading.gradebook import Status
from dflab.session.collect import tally
from dflab.session.manager import Session

log = logging.getLogger("dflab.dashboard")

ACTIONS = ("collect", "grade", "release-feedback", "restart")
KEPT_JOBS = 20  # finished jobs the page still lists


@dataclass(frozen=True)
class Job:
    id: int
    action: str
    trainee: str | None
    state: str  # running, done, failed
    progress: str
    result: str
    started_at: str
    finished_at: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def collect(session_dir: Path, trainee: str | None, say: Callable[[str], None]) -> str:
    results = Session.existing(session_dir).collect()
    for c in results:
        if c.reason:
            say(f"{c.trainee}: {c.status}: {c.reason}")
    return tally(results)


def grade(session_dir: Path, trainee: str | None, say: Callable[[str], None], db: str | None = None) -> str:
    """``dflab grade LAB --course SESSION [--db URL]``: the gradebook the dashboard reads is the one it writes."""
    from dflab.grading import service  # nbgrader: imported only when asked for

    session = Session.existing(session_dir)

    def progress(done: int, total: int, row: Status) -> None:
        say(f"{done}/{total} {row.student}: {row.status}")

    report = service.grade(session.dir, session.lab_id, db=db, on_progress=progress)
    if report.exit_code == service.EXIT_NOTHING_TO_GRADE:
        raise DflabError(f"nothing to grade: no submission of {session.lab_id} in submitted/ (collect first)",
                         str(session.dir))
    summary = (f"{report.count('done')} graded, {report.count('rejected')} rejected, {report.count('failed')} "
               f"failed, {report.count('missing')} missing ({report.seconds:.1f} s)")
    problems = [f"{r.student}: {r.reason}" for r in report.rows if r.status in ("rejected", "failed")]
    return summary + (f"; {'; '.join(problems)}" if problems else "")


def release(session_dir: Path, trainee: str | None, say: Callable[[str], None]) -> str:
    from dflab.session.feedback import release_feedback

    results = release_feedback(session_dir)
    if problems := [f"{r.trainee}: {r.detail}" for r in results if r.status in ("held back", "failed")]:
        raise DflabError("; ".join(problems), str(session_dir))
    return ", ".join(f"{sum(r.status == s for r in results)} {s}" for s in ("written", "not graded"))


def restart(session_dir: Path, trainee: str | None, say: Callable[[str], None]) -> str:
    if not trainee:
        raise DflabError("restart needs a trainee", "restart")
    outcome = Session.existing(session_dir).restart(trainee)
    if outcome.status == "failed":
        raise DflabError(f"1 lab(s) failed to start: {outcome.trainee}: {outcome.detail}")
    return f"{trainee}: {outcome.action}"


RUN: dict[str, Callable[[Path, str | None, Callable[[str], None]], str]] = {
    "collect": collect, "grade": grade, "release-feedback": release, "restart": restart}


class Actions:
    """The session's jobs: at most one running; the last ``KEPT_JOBS`` kept for the page."""

    def __init__(self, session_dir: Path, db: str | None = None) -> None:
        self.session_dir = session_dir
        self.run = {**RUN, "grade": functools.partial(grade, db=db)}  # grading writes where the page reads
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def jobs(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.id, reverse=True)

    def submit(self, action: str, trainee: str | None = None) -> Job:
        """Start ``action`` in the background; DflabError when it is unknown or another job runs."""
        if action not in RUN:
            raise DflabError(f"unknown action {action!r}: one of {', '.join(ACTIONS)}", "dashboard")
        with self._lock:
            if running := [j for j in self._jobs.values() if j.state == "running"]:
                raise DflabError(f"{running[0].action} is still running; wait for it", "dashboard")
            job = Job(next(self._ids), action, trainee, "running", "started", "", _now())
            self._jobs[job.id] = job
            for old in sorted(self._jobs)[:-KEPT_JOBS]:
                del self._jobs[old]
        threading.Thread(target=self._run, args=(job,), name=f"dflab-dashboard-{action}", daemon=True).start()
        return job

    def _set(self, job_id: int, **fields: str | None) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **fields)

    def _run(self, job: Job) -> None:
        try:
            result = self.run[job.action](self.session_dir, job.trainee, lambda line: self._set(job.id, progress=line))
        except DflabError as exc:
            self._set(job.id, state="failed", result=str(exc), finished_at=_now())
        except Exception as exc:  # noqa: BLE001 -- a bug: logged with its traceback, one line on the page
            log.exception("%s failed", job.action)
            self._set(job.id, state="failed", result=f"internal error ({type(exc).__name__}): see the dashboard's log",
                      finished_at=_now())
        else:
            self._set(job.id, state="done", result=result, finished_at=_now())
