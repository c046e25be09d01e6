"""`dflab grade`: grade a cohort's submissions of one lab with N parallel workers, resumably.

The coordinator (this module, in the instructor's process):

1. opens the gradebook (``--db`` or the course's SQLite) and makes it ready before any worker writes;
2. pre-validates every ``submitted/<student>/<lab>/`` (:mod:`dflab.grading.validate`): a submission that
   cannot be graded is *rejected* with its reason and costs no worker time;
3. queues the rest in the durable queue (:mod:`dflab.grading.queue`, ``.dflab-grading/queue.sqlite``),
   skipping submissions already graded with the same SHA-256 (unless forced or named with ``student``);
4. runs N worker processes (:mod:`dflab.grading.worker`) that each run nbgrader's own autograde, one
   submission at a time, through the course's autograde pipeline (so the sandbox, answer checking and
   SaveAutoGrades are whatever the course's nbgrader_config.py says);
5. watches them: a dead worker's job goes back to the queue (and the worker is replaced), so a crash
   costs one retry, never the run;
6. writes every submission's status, reason and score to the gradebook's ``dflab_grading_status`` table.

Trainee ids and reasons come from submissions (folder names, a sandbox's log): the queue, the status table and
the report hold them as one printable line (:func:`dflab.grading.sanitize.one_line`), never a control character.

Ctrl-C, a crash or ``kill -9`` of everything leaves the queue consistent; the next run resumes.

A job that runs longer than the sandbox's wall-clock limit plus :data:`OUTSIDE_SANDBOX_S` (nbgrader's own
work around the sandbox) is failed with that reason and its worker stopped, so nothing one submission
does outside the sandbox holds the run.  ``--sandbox auto`` (or a course configured with it) is decided
here, once: Docker when an engine answers *and* has the trainee image, else the local sandbox with a
one-line notice (:attr:`Coordinator.notices`).

Exit codes of `dflab grade` (:attr:`Report.exit_code`): 0 every submission was graded; 5 some were
rejected or failed (see the reasons); 6 there was nothing to grade (no submission).  Errors that stop
the run are 2 (DflabError), 130 on Ctrl-C.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config

from dflab.errors import DflabError
from dflab.grading import gradebook
from dflab.grading.course import COURSE_IGNORE, course_config, tools_on_path
from dflab.grading.export import feedback_files, leaks
from dflab.grading.gradebook import Status
from dflab.grading.queue import FINAL, Job, Queue
from dflab.grading.sanitize import one_line
from dflab.grading.validate import LabShape, validate
from dflab.grading.worker import STAGED, grading_api

STATE_DIR = ".dflab-grading"  # queue, lock, worker logs and the workers' private copies, inside the course
POLL_S = 0.2
STOP_GRACE_S = 15
SANDBOXES = ("auto", "docker", "local")
DEFAULT_WALL_S = 600.0  # SandboxedExecute.wall_s when the course does not set it
OUTSIDE_SANDBOX_S = 300.0  # nbgrader's own work around the sandbox (copy, sanitise, check, feedback) may take
EXIT_GRADED = 0  # every submission was graded
EXIT_NOT_ALL_GRADED = 5  # some submission was rejected or failed
EXIT_NOTHING_TO_GRADE = 6  # no submission of the lab (or of --student) to grade
Progress = Callable[[int, int, Status], None]


@dataclass
class Report:
    """The outcome of one `dflab grade` run."""

    lab: str
    gradebook: str  # for display: the URL without password
    gradebook_url: str  # to connect (may hold a password: never print it)
    rows: list[Status] = field(default_factory=list)
    graded_now: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    withheld: dict[str, list[str]] = field(default_factory=dict)  # student -> answer values their feedback held
    seconds: float = 0.0
    submissions: int | None = None  # submissions this run was about (None: count the rows that are not missing)

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def exit_code(self) -> int:
        """0 when every submission was graded, 5 when some were rejected or failed, 6 when there was none."""
        submitted = [r for r in self.rows if r.status != "missing"]
        expected = len(submitted) if self.submissions is None else self.submissions
        if not expected:
            return EXIT_NOTHING_TO_GRADE
        graded = sum(1 for r in submitted if r.status == "done")
        return EXIT_GRADED if graded == expected == len(submitted) else EXIT_NOT_ALL_GRADED


@contextmanager
def course_lock(root: Path) -> Iterator[None]:
    """One grading run per course at a time; the OS drops the lock when the process dies (even ``kill -9``)."""
    path = root / STATE_DIR / "lock"
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise DflabError("another `dflab grade` is running on this course; wait for it or stop it",
                             str(root)) from exc
        yield


def sandbox_settings(choice: str | None) -> list[str]:
    """nbgrader config for the sandboxed executor, if one was asked for (and this dflab has it)."""
    if choice is None:
        return []
    try:
        from dflab.grading.execute import SandboxedExecute  # noqa: F401 (only its existence matters here)
    except ImportError as exc:
        raise DflabError("this dflab has no sandboxed executor (dflab.grading.execute): grade without --sandbox",
                         "--sandbox") from exc
    return [f"SandboxedExecute.sandbox={choice}"]


def _submitters(root: Path, lab: str) -> list[str]:
    """Everyone with an entry ``submitted/<name>/<lab>``, links included (validation refuses them by name)."""
    base = root / "submitted"
    if not base.is_dir():
        return []
    names = []
    for p in base.iterdir():
        if p.is_symlink() or (p.is_dir() and os.path.lexists(p / lab)):
            names.append(p.name)
    return sorted(names)


def _printable(name: str) -> str:
    """A folder name the queue and gradebook can store and a terminal can show (bytes that are not UTF-8 and
    control characters shown escaped)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        name = os.fsencode(name).decode("utf-8", "backslashreplace")
    return one_line(name)


def resolve_sandbox(choice: str | None, config: Config) -> tuple[str | None, str]:
    """The sandbox the workers use, and a notice when ``auto`` fell back to the local one.

    ``auto`` means Docker only when an engine answers *and* holds the course's trainee image; otherwise the
    local sandbox (one notice line says why).  Decided once per run, not once per submission.
    """
    pipeline = config.Autograde.get("autograde_preprocessors", [])
    sandboxed = any("SandboxedExecute" in str(step) for step in pipeline)
    wanted = choice if choice is not None else (str(config.SandboxedExecute.get("sandbox", "auto"))
                                                if sandboxed else None)
    if wanted != "auto":
        return choice, ""
    from dflab.grading.sandbox.docker_sandbox import DEFAULT_IMAGE

    image = str(config.SandboxedExecute.get("image", DEFAULT_IMAGE))
    try:
        import docker

        client = docker.from_env(timeout=10)
        try:
            client.ping()
        except Exception as exc:  # noqa: BLE001 -- any failure to answer means no engine for grading
            return "local", f"--sandbox auto: no Docker engine answers ({type(exc).__name__}); grading in the " \
                            "local sandbox"
        try:
            client.images.get(image)
        except Exception:  # noqa: BLE001 -- ImageNotFound or an engine error: either way not usable
            return "local", f"--sandbox auto: the Docker engine has no image {image}; grading in the local sandbox"
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 -- no client (no socket, no SDK)
        return "local", f"--sandbox auto: no Docker engine answers ({type(exc).__name__}); grading in the local " \
                        "sandbox"
    return "docker", ""


class Coordinator:
    """One grading run of ``lab`` in course ``root``; see the module doc."""

    def __init__(self, root: Path, lab: str, *, workers: int | None = None, db: str | None = None,
                 sandbox: str | None = None, feedback: bool = False, on_progress: Progress | None = None,
                 job_timeout_s: float | None = None) -> None:
        tools_on_path()  # nbgrader runs `alembic` by name when it creates a gradebook
        self.root = root.resolve()
        self.config = course_config(self.root)
        self.lab = lab
        self.workers = workers or os.cpu_count() or 1
        self.course_url = gradebook.normalise_url(gradebook.default_url(self.root))
        configured = self.config.CourseDirectory.get("db_url")
        self.url = gradebook.normalise_url(db or (configured if isinstance(configured, str) else self.course_url))
        self.key = gradebook.queue_key(self.url)
        self.sandbox, notice = resolve_sandbox(sandbox, self.config)
        self.notices = [notice] if notice else []  # one line each, for the user (the CLI prints them first)
        self.settings = sandbox_settings(self.sandbox)
        wall = self.config.SandboxedExecute.get("wall_s", DEFAULT_WALL_S)
        self.job_timeout_s = job_timeout_s or float(wall if isinstance(wall, int | float) else DEFAULT_WALL_S) \
            + OUTSIDE_SANDBOX_S
        self.feedback = feedback
        self.on_progress = on_progress or (lambda done, total, row: None)
        self.state_dir = self.root / STATE_DIR
        self.shape = self._check_lab()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._stopping: dict[int, float] = {}  # pid of a worker asked to stop -> when to kill it

    # -- preparation ----------------------------------------------------------------------------------
    def _generate_into_gradebook(self) -> None:
        """nbgrader generate_assignment with the run's gradebook, into a scratch release folder."""
        scratch = gradebook.scratch_release(self.root)
        overrides = Config()
        overrides.CourseDirectory.release_directory = str(scratch.relative_to(self.root))
        try:
            result = grading_api(self.root, self.url, overrides).generate_assignment(self.lab, force=True,
                                                                                     create=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if not result["success"]:
            raise DflabError("cannot put the lab into the gradebook: nbgrader generate_assignment failed",
                             self.key)

    def _check_lab(self) -> LabShape:
        if not (self.root / "source" / self.lab).is_dir():
            raise DflabError(f"no lab {self.lab!r} in this course (no source/{self.lab}/)", str(self.root))
        shape = LabShape.from_source(self.root, self.lab)
        if not shape.notebooks:
            raise DflabError(f"source/{self.lab}/ holds no notebook", str(self.root))
        return shape

    def _queue_submissions(self, queue: Queue, student: str | None, force: bool, report: Report) -> set[str]:
        """Validate and queue; return the students this run is about."""
        names = _submitters(self.root, self.lab)
        if student is not None:
            if student not in names:
                raise DflabError(f"no submission from {student!r} (expected submitted/{student}/{self.lab}/)",
                                 str(self.root))
            names = [student]
        known = gradebook.students(self.url)
        ignore = list(self.config.CourseDirectory.get("ignore", COURSE_IGNORE))
        queue.recover(self.key, self.lab)
        mine = set()
        for name in names:
            shown = _printable(name)
            mine.add(shown)
            if shown != name:
                queue.reject(self.key, self.lab, shown, "", f"submitted/{shown}: a folder name that is not UTF-8 "
                                                            "text or holds control characters (not a trainee id)")
                continue
            verdict = validate(self.root, name, self.shape, known, ignore)
            if not verdict.ok:
                queue.reject(self.key, self.lab, name, verdict.sha256, verdict.reason)
            elif queue.enqueue(self.key, self.lab, name, verdict.sha256, force=force or student is not None):
                report.graded_now.append(name)
            else:
                report.skipped.append(name)
        report.submissions = len(mine)
        return mine

    # -- workers --------------------------------------------------------------------------------------
    def _start_worker(self, index: int) -> None:
        log = (self.state_dir / "logs" / f"worker-{index}.log").open("ab")
        cmd = [sys.executable, "-m", "dflab.grading.worker", str(self.root), self.lab, "--db", self.url,
               "--gradebook", self.key, "--queue", str(self.state_dir / "queue.sqlite")]
        cmd += ["--feedback"] if self.feedback else []
        for item in self.settings:
            cmd += ["--set", item]
        with log:  # own session: with autogroup scheduling each worker gets its own CPU share, as a kernel does
            self._procs.append(subprocess.Popen(cmd, cwd=self.root, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                                start_new_session=True))

    def _stop_workers(self) -> None:
        """Interrupt workers still running (as Ctrl-C would: their sandboxes clean up), then kill stragglers.

        Their unfinished jobs stay ``running`` under dead owners and go back to the queue.
        """
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self._procs:
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _overran(self, queue: Queue, jobs: list[Job]) -> None:
        """Fail jobs running longer than the sandbox allows plus nbgrader's own work; stop their workers."""
        now = time.time()
        for job in jobs:
            if job.state != "running" or job.started_at is None or now - job.started_at <= self.job_timeout_s:
                continue
            reason = (f"grading took more than {self.job_timeout_s:.0f} s (the sandbox's limit plus "
                      f"{OUTSIDE_SANDBOX_S:.0f} s for nbgrader): stopped")
            if queue.expire(job, reason):
                proc = next((p for p in self._procs if p.pid == job.owner_pid), None)
                if proc is not None and proc.pid not in self._stopping:
                    proc.send_signal(signal.SIGINT)  # as Ctrl-C: its sandbox cleans up, the job stays failed
                    self._stopping[proc.pid] = time.monotonic() + STOP_GRACE_S
        for proc in self._procs:
            if proc.poll() is None and time.monotonic() > self._stopping.get(proc.pid, float("inf")):
                proc.kill()

    def _supervise(self, queue: Queue, mine: set[str]) -> None:
        """Keep up to N workers busy until no job of this lab is pending or running; report progress."""
        reported: set[str] = set()
        index = 0
        while True:
            for proc in self._procs:
                if proc.poll() is not None:
                    self._stopping.pop(proc.pid, None)
            self._procs = [p for p in self._procs if p.poll() is None]
            queue.recover(self.key, self.lab)
            jobs = [j for j in queue.jobs(self.key, self.lab) if j.student in mine]
            self._overran(queue, jobs)
            jobs = [j for j in queue.jobs(self.key, self.lab) if j.student in mine]
            for job in jobs:
                if job.state in FINAL and job.student not in reported:
                    reported.add(job.student)
                    self.on_progress(len(reported), len(mine), Status(job.student, job.state, one_line(job.reason)))
            pending = sum(1 for j in jobs if j.state == "pending")
            running = sum(1 for j in jobs if j.state == "running")
            if not pending and not running:
                return
            busy = sum(1 for p in self._procs if p.pid not in self._stopping)
            for _ in range(min(pending, self.workers - busy)):
                self._start_worker(index)
                index += 1
            time.sleep(POLL_S)

    # -- the run --------------------------------------------------------------------------------------
    def run(self, *, student: str | None = None, force: bool = False) -> Report:
        """Grade the lab's submissions (all, or one ``student``); see the module doc."""
        t0 = time.monotonic()
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        report = Report(self.lab, self.key, self.url)
        with course_lock(self.root):
            shutil.rmtree(self.state_dir / STAGED, ignore_errors=True)  # copies a killed run's workers left
            course_id = str(self.config.CourseDirectory.get("course_id", ""))
            gradebook.prepare(self.url, self.course_url, self.lab, course_id, self._generate_into_gradebook)
            queue = Queue(self.state_dir / "queue.sqlite")
            try:
                mine = self._queue_submissions(queue, student, force, report)
                try:
                    self._supervise(queue, mine)
                finally:
                    self._stop_workers()
                    queue.recover(self.key, self.lab)
                    self._record(queue, mine, student is None, report)
                if self.feedback:
                    self._check_feedback(report)
            finally:
                queue.close()
        report.seconds = time.monotonic() - t0
        return report

    def _record(self, queue: Queue, mine: set[str], whole_cohort: bool, report: Report) -> None:
        """Write this run's statuses (with scores) to the gradebook's status table and the report."""
        scores = gradebook.scores(self.url, self.lab)
        rows = []
        for job in queue.jobs(self.key, self.lab):
            if job.student not in mine or job.state not in FINAL:
                continue
            score, top = scores.get(job.student, (None, None)) if job.state == "done" else (None, None)
            rows.append(Status(job.student, job.state, one_line(job.reason), score, top, job.sha256, job.attempts))
        if whole_cohort:
            rows += [Status(s, "missing", f"no submission in submitted/{s}/{self.lab}/: collect it with "
                                          "`dflab session collect` (or copy it there)")
                     for s in sorted(gradebook.students(self.url) - mine)]
        gradebook.write_statuses(self.url, self.lab, rows)
        report.rows = sorted(rows, key=lambda r: r.student)

    def _check_feedback(self, report: Report) -> None:
        """Remove any feedback that would reveal an answer value the trainee did not submit (see export.leaks)."""
        cohort = sorted(p.name for p in (self.root / "evidence").iterdir() if p.is_dir())
        for row in report.rows:
            if row.status != "done":
                continue
            found = leaks(self.root, self.lab, row.student, cohort)
            if found:
                for path in feedback_files(self.root, self.lab, row.student):
                    path.unlink()
                report.withheld[row.student] = found


def grade(root: Path, lab: str, *, workers: int | None = None, student: str | None = None, force: bool = False,
          db: str | None = None, sandbox: str | None = None, feedback: bool = False,
          on_progress: Progress | None = None, job_timeout_s: float | None = None) -> Report:
    """Grade ``lab`` in course ``root``; the one call behind `dflab grade` (see the module doc)."""
    coordinator = Coordinator(root, lab, workers=workers, db=db, sandbox=sandbox, feedback=feedback,
                              on_progress=on_progress, job_timeout_s=job_timeout_s)
    return coordinator.run(student=student, force=force)
