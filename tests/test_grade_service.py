"""`dflab grade` for real: a lab-02 cohort graded by real nbgrader with 2 parallel workers, resumed after
kill -9, re-graded per trainee, exported to CSV, with feedback, into SQLite and a real PostgreSQL server.

One course (built once per module) holds good submissions (solution, partial, blank) and bad inputs (truncated
JSON, not a notebook, a sparse 1 GiB file, another lab's notebook, a wrong file name, a trainee missing from
the roster); every test reads nbgrader's own gradebook.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from sqlalchemy import create_engine, text

from dflab.atomic import write_bytes
from dflab.grading import gradebook
from dflab.grading.course import CONFIG_FILE, config_text, init_course
from dflab.grading.export import feedback_files, key_values, leaks
from dflab.grading.service import EXIT_GRADED, EXIT_NOT_ALL_GRADED, Report, grade
from tests.haystack import small_spec_file
from tests.labkit import ROOT, SECRET, Lab, leaked_forms, solution_cells
from tests.pgserver import postgres_server

LAB = Lab("02-disk", "02-disk.ipynb")
pytestmark = pytest.mark.xdist_group("grade-service")  # one worker: the cohort is built and graded once
ROSTER = "id,name\n" + "".join(f"{s},{s.title()}\n" for s in
                               ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"))
SANDBOX = "local"  # the service is under test here; the sandboxes have their own tests
GRADED = ("alice", "bob", "carol")
REJECTED = {
    "dave": "02-disk.ipynb is truncated (the JSON ends early",
    "erin": "02-disk.ipynb is not a notebook (not UTF-8 text)",
    "frank": "submission too large: 1024 MiB (02-disk.ipynb), the limit is 50 MiB",
    # (how many of lab 03's cells lab 02 lacks, and of lab 02's it has, follows both notebooks: the reason's start)
    "grace": "02-disk.ipynb is not lab 02-disk's notebook (",
    "heidi": "no 02-disk.ipynb in the submission (found lab2.ipynb: wrong file name?)",
    "zoe": "'zoe' is not in the gradebook (add them to the roster and re-run `dflab course init`)",
}


def _submit(root: Path, student: str, nb: nbformat.NotebookNode | None = None, raw: bytes | None = None,
            name: str = LAB.nb) -> Path:
    dest = root / "submitted" / student / LAB.id / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(dest, raw if raw is not None else nbformat.writes(nb).encode())
    return dest


def _partial(root: Path) -> nbformat.NotebookNode:
    """The solution with a wrong payload hash: loses check-payload-hash (2 points) only."""
    nb = LAB.source_nb(root)
    [cell] = [c for c in solution_cells(nb) if c.metadata["nbgrader"]["grade_id"] == "answer-payload-hash"]
    cell.source = 'payload_sha256 = "0" * 64'
    return nb


def _copy_course(src: Path, dest: Path) -> Path:
    """A copy of a course that points at itself (nbgrader_config.py holds absolute paths)."""
    shutil.copytree(src, dest, symlinks=True)
    (dest / CONFIG_FILE).write_text(config_text(dest))
    return dest


def _expected(root: Path) -> dict[str, dict[str, float]]:
    full = LAB.points(root)
    return {"alice": full, "bob": full | {"check-payload-hash": 0.0}, "carol": dict.fromkeys(full, 0.0)}


def _dflab_grade(root: Path, *args: str, **kw: object) -> subprocess.Popen[str]:
    env = os.environ | {"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    args = ("--sandbox", SANDBOX, *args)
    return subprocess.Popen([sys.executable, "-m", "dflab.cli", "grade", LAB.id, "--course", str(root), *args],
                            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The course with every submission in place, plus an ungraded copy of it for the kill-and-resume test."""
    base = tmp_path_factory.mktemp("grade")
    (base / "roster.csv").write_text(ROSTER)
    root = init_course(base / "course", base / "roster.csv", LAB.id, SECRET,
                       scenario=small_spec_file("nightjar", base)).root
    _submit(root, "alice", LAB.source_nb(root))
    _submit(root, "bob", _partial(root))
    _submit(root, "carol", LAB.released_nb(root))
    killed = _copy_course(root, base / "killed")  # the good submissions only (copying a 1 GiB file is slow)
    full = nbformat.writes(LAB.source_nb(root)).encode()
    _submit(root, "dave", raw=full[: len(full) // 2])
    _submit(root, "erin", raw=b"\x89PNG\r\n\x1a\n not a notebook at all")
    huge = _submit(root, "frank", raw=b"{")
    os.truncate(huge, 2**30)  # sparse: 1 GiB on paper, nothing on disk
    _submit(root, "grace", nbformat.read(ROOT / "labs" / "03-memory" / "source.ipynb", as_version=4))
    _submit(root, "heidi", LAB.source_nb(root), name="lab2.ipynb")
    _submit(root, "zoe", LAB.source_nb(root))
    return {"root": root, "killed": killed}


@pytest.fixture(scope="module")
def graded(cohort: dict[str, Path]) -> Report:
    """One uninterrupted run over the whole cohort with 2 workers, feedback and a CSV."""
    proc = _dflab_grade(cohort["root"], "--workers", "2", "--feedback", "--csv", str(cohort["root"] / "grades.csv"))
    out, _ = proc.communicate(timeout=1200)
    assert proc.returncode == EXIT_NOT_ALL_GRADED, out  # graded what it could; some were rejected
    url = gradebook.normalise_url(gradebook.default_url(cohort["root"]))
    rows = gradebook.read_statuses(url, LAB.id)
    return Report(LAB.id, url, url, rows=[gradebook.Status(**{k: r[k] for k in (
        "student", "status", "reason", "score", "max_score", "sha256", "attempts")}) for r in rows])


def test_good_submissions_are_graded_and_bad_ones_rejected_with_a_reason(cohort: dict[str, Path],
                                                                         graded: Report) -> None:
    root = cohort["root"]
    by = {r.student: r for r in graded.rows}
    assert set(by) == set(GRADED) | set(REJECTED)
    for student in GRADED:
        assert (by[student].status, by[student].reason) == ("done", "")
    for student, reason in REJECTED.items():
        assert by[student].status == "rejected" and by[student].reason.startswith(reason), by[student]
    assert gradebook.cell_scores(gradebook.default_url(root), LAB.id) == _expected(root)
    assert [(by[s].score, by[s].max_score) for s in GRADED] == [(13, 13), (11, 13), (0, 13)]


def test_csv_export_lists_every_trainee_with_status_score_and_reason(cohort: dict[str, Path], graded: Report) -> None:
    with (cohort["root"] / "grades.csv").open() as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert set(rows) == set(GRADED) | set(REJECTED)
    assert [(rows[s]["status"], rows[s]["score"], rows[s]["max_score"]) for s in GRADED] == \
        [("done", "13.0", "13.0"), ("done", "11.0", "13.0"), ("done", "0.0", "13.0")]
    assert rows["frank"]["status"] == "rejected" and rows["frank"]["score"] == ""
    assert rows["frank"]["reason"].startswith(REJECTED["frank"])
    assert all(r["assignment"] == LAB.id and len(r["sha256"]) == 64 for r in rows.values())


def test_feedback_per_trainee_explains_without_revealing_answer_values(cohort: dict[str, Path],
                                                                       graded: Report) -> None:
    root = cohort["root"]
    html = {s: "\n".join(p.read_text() for p in feedback_files(root, LAB.id, s)) for s in GRADED}
    assert all(html.values()), "feedback missing"
    assert "payload_sha256: hash/hex value does not match your evidence" in html["bob"]
    assert "payload_sha256: no answer recorded (was the cell run?)" in html["carol"]
    values = {s: key_values(root, LAB.id, s) for s in GRADED}
    every = set().union(*values.values())
    for student in GRADED:
        others = every - values[student]
        assert not [v for v in others if leaked_forms(html[student], v)], f"{student} sees another trainee's answer"
        # What the grader wrote (test-cell outputs) holds no answer value at all; the lab's own cells may print
        # the trainee's evidence (a deleted-file listing), which the runtime check accepts as their own output.
        graded_cells = [c for c in LAB.autograded_nb(root, student).cells
                        if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"]["solution"]]
        written = json.dumps([c.outputs for c in graded_cells])
        assert not [v for v in every if leaked_forms(written, v)], f"{student}: a test cell shows an answer value"
        assert leaks(root, LAB.id, student, list(GRADED)) == []


def test_grading_into_a_real_postgresql_server_with_2_workers_equals_sqlite(cohort: dict[str, Path],
                                                                            graded: Report) -> None:
    root = cohort["root"]
    with postgres_server("grades") as url:
        report = grade(root, LAB.id, workers=2, db=url, sandbox=SANDBOX)
        assert sorted(report.graded_now) == list(GRADED) and report.count("rejected") == len(REJECTED)
        assert gradebook.cell_scores(url, LAB.id) == gradebook.cell_scores(gradebook.default_url(root), LAB.id)
        statuses = {r["student"]: (r["status"], r["score"]) for r in gradebook.read_statuses(url, LAB.id)}
        assert statuses["bob"] == ("done", 11.0) and statuses["dave"] == ("rejected", None)
        engine = create_engine(gradebook.normalise_url(url))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM submitted_assignment")).scalar() == len(GRADED)
        engine.dispose()


def _queue_states(root: Path) -> dict[str, str]:
    path = root / ".dflab-grading" / "queue.sqlite"
    if not path.exists():
        return {}
    with sqlite3.connect(path, timeout=30) as db:
        try:
            return dict(db.execute("SELECT student, state FROM jobs").fetchall())
        except sqlite3.OperationalError:  # the table is being created
            return {}


def test_kill_9_halfway_then_resume_equals_an_uninterrupted_run(cohort: dict[str, Path], graded: Report) -> None:
    root = cohort["killed"]
    proc = _dflab_grade(root, "--workers", "2", start_new_session=True)
    deadline = time.monotonic() + 900
    while "done" not in _queue_states(root).values():
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the coordinator and its workers, mid-run
    proc.wait()
    states = _queue_states(root)
    assert "done" in states.values() and ({"running", "pending"} & set(states.values())), states

    report = grade(root, LAB.id, workers=2, sandbox=SANDBOX)
    assert not set(report.graded_now) & {s for s, st in states.items() if st == "done"}, "done work was redone"
    url = gradebook.default_url(root)
    assert gradebook.cell_scores(url, LAB.id) == gradebook.cell_scores(gradebook.default_url(cohort["root"]), LAB.id)
    with sqlite3.connect(root / "gradebook.db") as db:
        assert db.execute("SELECT count(*) FROM submitted_assignment").fetchone()[0] == len(GRADED)
        cells = len(LAB.points(root))
        assert db.execute("SELECT count(*) FROM grade").fetchone()[0] == len(GRADED) * cells
        assert db.execute("SELECT count(*), count(DISTINCT student) FROM dflab_grading_status").fetchone() == \
            (len(ROSTER.splitlines()) - 1,) * 2  # the 3 graded, the rest 'missing' (no submission in this copy)
        missing = db.execute("SELECT reason FROM dflab_grading_status WHERE student = 'dave'").fetchone()[0]
    assert missing == f"no submission in submitted/dave/{LAB.id}/: collect it with `dflab session collect` (or " \
                      "copy it there)"
    assert report.exit_code == EXIT_GRADED  # dave and the others are missing, not failed


def test_regrading_one_trainee_is_one_command_and_unchanged_work_is_kept(cohort: dict[str, Path],
                                                                        graded: Report) -> None:
    root = cohort["root"]
    again = grade(root, LAB.id, workers=2, sandbox=SANDBOX)
    assert again.graded_now == [] and sorted(again.skipped) == list(GRADED)

    _submit(root, "bob", LAB.source_nb(root))  # bob fixes his hash and resubmits
    proc = _dflab_grade(root, "--student", "bob")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == EXIT_GRADED, out
    expected = _expected(root) | {"bob": LAB.points(root)}
    assert gradebook.cell_scores(gradebook.default_url(root), LAB.id) == expected
    statuses = {r["student"]: r for r in gradebook.read_statuses(gradebook.default_url(root), LAB.id)}
    assert statuses["bob"]["score"] == 13 and statuses["alice"]["score"] == 13

    proc = _dflab_grade(root, "--student", "nobody")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "dflab: error:" in out and "no submission from 'nobody'" in out
