"""A grading worker process: claim a job from the queue, run nbgrader's own autograde on it, record the outcome.

Started by :mod:`dflab.grading.service` (``python -m dflab.grading.worker``), N at a time.  A worker is a
long-lived process so that nbgrader, nbconvert and the course config are imported once, not once per
submission; each submission still gets its own kernel (or sandbox, as the course's autograde pipeline says).
A worker that crashes loses nothing: its claimed job stays ``running`` under its (dead) pid and the
coordinator gives it back to the queue.

nbgrader never reads ``submitted/`` itself here: before each job the worker copies the submission, the
way validation read it (no link followed, plain files only: :func:`dflab.grading.validate.copy_submission`),
into a private folder that nbgrader is told is the submitted directory, and grades the copy only if its
hash is the one validated.  A submission swapped after it was checked (a file replaced by a link to a key,
a pipe, a bigger file) is therefore never what nbgrader copies, executes or scores.

What a submission can put into text (a sandbox's last log line, an exception message) reaches the worker log,
the queue's reason and so the status table, the CSV and `dflab grade`'s table: reasons are one printable line
(:func:`dflab.grading.sanitize.one_line`), and the worker's stdout and stderr escape control characters.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

from dflab.grading.course import course_config, tools_on_path
from dflab.grading.preprocessor import with_sanitizer
from dflab.grading.queue import Job, Queue
from dflab.grading.sanitize import PrintableStream, one_line
from dflab.grading.validate import Refused, copy_submission, lab_limits

MAX_REASON = 300
PR_SET_PDEATHSIG = 1
STAGED = "staged"  # beside the queue: each worker's private copies of the submissions it grades


def grading_api(root: Path, db_url: str, overrides: Config | None = None) -> NbGraderAPI:
    """nbgrader's API for the course at ``root``, writing to ``db_url``, with optional config overrides.

    Autograde and feedback always sanitise what the submission produced (``with_sanitizer``), also in a course
    whose ``nbgrader_config.py`` predates that step.
    """
    tools_on_path()
    config = course_config(root)
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.db_url = db_url
    if overrides:
        config.merge(overrides)
    with_sanitizer(config)
    return NbGraderAPI(CourseDirectory(config=config), config=config)


def failure_reason(result: dict[str, Any]) -> str:
    """One line saying why nbgrader's autograde failed, from its captured log and error.

    A dflab preprocessor's DflabError is the most precise; otherwise the last exception line in the log.
    """
    text = "\n".join(str(result.get(k) or "") for k in ("log", "error"))
    found = re.findall(r"DflabError: (.+)", text)
    if not found:
        found = re.findall(r"^\s*(?:\w+\.)*\w*(?:Error|Exception|Interrupt)\b:? ?(.*)$", text, re.MULTILINE)
        found = [f for f in found if f and "Please see" not in f]
    if not found:
        found = [line for line in text.splitlines() if "ERROR" in line] or ["nbgrader autograde failed"]
    return one_line(found[-1].strip(), MAX_REASON)


def grade_one(api: NbGraderAPI, lab: str, student: str, feedback: bool) -> tuple[str, str]:
    """Autograde (and optionally write feedback for) one submission; return (state, reason)."""
    result = api.autograde(lab, student, force=True, create=False)
    for line in str(result.get("log") or "").split("\n"):  # not splitlines(): a "\r" is part of the line
        if " sandbox: " in line:  # where the time went (the sandbox's own run), for the worker log
            print(one_line(f"{student}: {line}"), file=sys.stderr, flush=True)
    if not result["success"]:
        return "failed", failure_reason(result)
    if feedback:
        result = api.generate_feedback(lab, student, force=True)
        if not result["success"]:
            return "failed", f"graded, but feedback failed: {failure_reason(result)}"
    return "done", ""


def grade_job(api: NbGraderAPI, root: Path, lab: str, job: Job, staged: Path, feedback: bool) -> tuple[str, str]:
    """Copy ``job``'s submission into ``staged`` (nbgrader's submitted directory here), check it is what was
    validated, grade it; return (state, reason).  The copy is removed afterwards."""
    mine = staged / job.student
    shutil.rmtree(mine, ignore_errors=True)
    mine.mkdir(mode=0o700, parents=True)
    try:
        try:
            sha = copy_submission(root, job.student, lab, mine / lab, list(api.coursedir.ignore),
                                  lab_limits(root, lab))
        except (Refused, OSError) as exc:
            return "failed", f"not graded: {exc}"
        if sha != job.sha256:
            return "failed", "the submission changed after it was checked: run `dflab grade` again"
        return grade_one(api, lab, job.student, feedback)
    finally:
        shutil.rmtree(mine, ignore_errors=True)


class Interrupted:
    """Ctrl-C or SIGTERM seen.  nbgrader's ``capture_log`` swallows every exception, KeyboardInterrupt included,
    and reports it as a failed autograde: a job interrupted that way is left to the queue's recovery (it is
    graded again), never recorded as the submission's failure."""

    seen = False

    @classmethod
    def handler(cls, signum: int, frame: object) -> None:
        cls.seen = True
        raise KeyboardInterrupt


def die_with(parent: int) -> None:
    """Get SIGTERM when the coordinator dies, even by ``kill -9`` (Linux ``PR_SET_PDEATHSIG``).

    Workers run in sessions of their own (see service._start_worker), so a signal to the coordinator's
    process group does not reach them; this does, and the job in hand goes back to the queue.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0 or os.getppid() != parent:
        raise SystemExit("dflab worker: the coordinator is gone")


def run(root: Path, lab: str, db_url: str, gradebook: str, queue_path: Path, feedback: bool,
        overrides: Config) -> int:
    """Work until the queue has no pending job of ``lab`` or the coordinator is gone; return jobs finished."""
    signal.signal(signal.SIGINT, Interrupted.handler)
    signal.signal(signal.SIGTERM, Interrupted.handler)
    parent = os.getppid()
    die_with(parent)
    staged = queue_path.parent / STAGED / f"worker-{os.getpid()}"
    staged.mkdir(mode=0o700, parents=True, exist_ok=True)
    submitted = Config()
    submitted.CourseDirectory.submitted_directory = os.path.relpath(staged, root)
    overrides.merge(submitted)
    api = grading_api(root, db_url, overrides)
    queue = Queue(queue_path)
    finished = 0
    try:
        while os.getppid() == parent:  # an orphaned worker stops after its job: a new run owns the queue
            job = queue.claim(gradebook, lab)
            if job is None:
                break
            t0 = time.monotonic()
            state, reason = grade_job(api, root, lab, job, staged, feedback)
            reason = one_line(reason, MAX_REASON)
            if Interrupted.seen:
                break
            queue.finish(job, state, reason)
            finished += 1
            print(one_line(f"{job.student}: {state} in {time.monotonic() - t0:.1f} s {reason}"), file=sys.stderr,
                  flush=True)
    finally:
        queue.close()
        shutil.rmtree(staged, ignore_errors=True)
    return finished


def main(argv: list[str] | None = None) -> None:
    sys.stdout, sys.stderr = PrintableStream(sys.stdout), PrintableStream(sys.stderr)  # the worker log: no escapes
    ap = argparse.ArgumentParser(description="dflab grading worker (started by `dflab grade`)")
    ap.add_argument("root", type=Path)
    ap.add_argument("lab")
    ap.add_argument("--db", required=True, help="gradebook URL nbgrader writes to")
    ap.add_argument("--gradebook", required=True, help="the queue's gradebook key (URL without password)")
    ap.add_argument("--queue", type=Path, required=True)
    ap.add_argument("--feedback", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="Class.trait=value",
                    help="extra nbgrader config (e.g. SandboxedExecute.sandbox=local)")
    args = ap.parse_args(argv)
    overrides = Config()
    for item in args.set:
        name, _, value = item.partition("=")
        cls, _, trait = name.partition(".")
        overrides[cls][trait] = value
    run(args.root, args.lab, args.db, args.gradebook, args.queue, args.feedback, overrides)


if __name__ == "__main__":
    main()
