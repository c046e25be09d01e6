"""Lab 06 Acquisition, graded for real: `dflab course init`, real `nbgrader autograde` in the local grading sandbox,
a real kernel running dd, sha256sum, ewfacquire, ewfinfo and ewfverify on each trainee's own drive, read-only.

The lab is one folder (labs/06-acquire/: lab.yaml, grader.yaml, source.ipynb) and touches no generic code, so it is
proved the way every lab without hooks is, `dflab lab check` on the bundled case, and end to end in a real local
session: the trainee runs the notebook in their confined lab, the session collects what they hand in (the notebook
and its acquisition/ folder with the E01), `dflab grade` grades it. The answers are the hashes and sizes of the drive,
of its raw copy and of its E01; a copy that stops short, a neighbour's evidence file handed in, or a neighbour's
values typed in score 0 on those answers, with a reason that shows no hash.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import yaml
from nbgrader.api import Gradebook

from dflab.confine import uid_processes
from dflab.errors import DflabError
from dflab.lab.recorded import answer_names
from dflab.session.manager import Session
from tests.labkit import ROOT, SECRET, Lab, key, leaked_forms
from tests.test_session_local import contents, endpoints
from tests.test_session_local_isolation import in_terminal

LAB = Lab("06-acquire", "06-acquire.ipynb")
NIGHTJAR = ROOT / "labs" / "scenarios" / "nightjar.yaml"
AUTO = {"check-source-before": 1.0, "check-raw-copy": 2.0, "check-e01": 2.0, "check-source-after": 1.0}
MANUAL = {"record": 3.0}  # the acquisition record, graded by an instructor in formgrader
WRONG_HASH = "the SHA-256 cited for 'disk.img' is not the one in the evidence manifest"
WRONG_SIZE = "a finding citing 'disk.img' states a fact your evidence does not show"
pytestmark = pytest.mark.xdist_group("lab-06-acquire")  # one worker: the course is built once per module


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("course")
    roster = tmp_path_factory.mktemp("roster") / "roster.csv"
    return LAB.build_course(root, roster)


def graded(root: Path, student: str, nb: nbformat.NotebookNode, *, record_written: bool = True) -> dict[str, float]:
    """Submit and autograde ``nb``; check the record is left to an instructor (0 from nbgrader when it is the
    release's stub); return the automatic scores."""
    scores = LAB.submit_and_grade(root, student, nb)
    assert scores.pop("record") == (None if record_written else 0.0)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        submission = gb.find_submission_notebook(LAB.id, LAB.id, student)
        assert submission.needs_manual_grade == record_written
        assert submission.max_score == sum(AUTO.values()) + sum(MANUAL.values())
    return scores


def reason(root: Path, student: str, grade_id: str) -> str:
    """The one line autograding left in test cell ``grade_id`` ("" when it scored)."""
    outputs = LAB.feedback(root, student, grade_id)
    return "" if not outputs else "\n".join(o.get("evalue", "") for o in outputs)


def cell(nb: nbformat.NotebookNode, marker: str) -> nbformat.NotebookNode:
    """The one code cell whose source holds ``marker``."""
    [found] = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    return found


def outputs_text(nb: nbformat.NotebookNode, marker: str) -> str:
    return "".join(o.get("text", "") for o in cell(nb, marker).get("outputs", []))


def test_lab_metadata_answers_checks_and_manual_cell_agree(course_dir: Path) -> None:
    lab = yaml.safe_load((ROOT / "labs" / LAB.id / "lab.yaml").read_text(encoding="utf-8"))
    nb = LAB.source_nb(course_dir)
    names = {n for c in nb.cells if c.cell_type == "code" for n in answer_names(c.source)}
    assert names == set(lab["answers"]) == set(LAB.checks().checks)
    assert {n for step in lab["steps"] for n in step["answers"]} == names
    assert LAB.points(course_dir) == AUTO | MANUAL
    assert sum(AUTO.values()) == lab["grading"]["autograded_points"]
    assert {m["grade_id"]: float(m["points"]) for m in lab["grading"]["manual"]} == MANUAL
    assert lab["requires"] == {} and lab["evidence"] == ["disk"]


def test_solution_scores_every_automatic_point_on_each_trainees_own_drive(course_dir: Path) -> None:
    for student in ("alice", "bob"):
        assert graded(course_dir, student, LAB.source_nb(course_dir)) == AUTO
        assert all(reason(course_dir, student, g) == "" for g in AUTO)
        done = LAB.autograded_nb(course_dir, student)
        # The grading sandbox presents the exhibit as the trainees' labs do: a file on a read-only mount.
        said = outputs_text(done, "os.ST_RDONLY")
        assert "is a REGULAR FILE standing in for the drive" in said and "read-only mount" in said, said
        assert "WRITABLE" not in said
        assert "ewfverify: SUCCESS" in outputs_text(done, 'ewfverify -d sha256 "$E01" 2>&1')
        record = outputs_text(done, '(CASE / "record.json")')
        assert "acquisition_started_utc" in record and key(course_dir, student)["evidence_items"][0]["sha256"] in record


def test_the_release_scores_zero(course_dir: Path) -> None:
    assert graded(course_dir, "bob", LAB.released_nb(course_dir), record_written=False) == dict.fromkeys(AUTO, 0.0)
    assert reason(course_dir, "bob", "check-e01").startswith(
        "e01_image_hash: no answer recorded (was the cell run?) [NameError: ")


def test_a_copy_that_stops_short_scores_zero_on_that_copy(course_dir: Path) -> None:
    """dd and ewfacquire told to stop at half the drive: both copies lose their points, the drive's hashes stay."""
    nb = LAB.source_nb(course_dir)
    half = key(course_dir, "alice")["facts"]["disk"]["size_bytes"] // 2
    dd = cell(nb, 'dd if="$DEVICE" of="$RAW" bs=1M')
    dd.source = dd.source.replace("bs=1M", f"bs=1M count={half // (1 << 20)}")
    ewf = cell(nb, "ewfacquire -u ")
    ewf.source = ewf.source.replace("ewfacquire -u ", f"ewfacquire -u -B {half} ")
    scores = graded(course_dir, "alice", nb)
    assert scores == AUTO | {"check-raw-copy": 0.0, "check-e01": 0.0}
    for grade_id, name in (("check-raw-copy", "raw_image_hash"), ("check-e01", "e01_image_hash")):
        assert reason(course_dir, "alice", grade_id).startswith(f"{name}: {WRONG_HASH}; {WRONG_SIZE}")
    done = LAB.autograded_nb(course_dir, "alice")
    assert f"{half} bytes" in outputs_text(done, "stat -c '%n: %s bytes' \"$RAW\"")


def neighbours_e01(course_dir: Path, tmp_path: Path, neighbour: str) -> Path:
    """An E01 of ``neighbour``'s drive, made with ewfacquire as the lab makes it."""
    target = tmp_path / "neighbour"
    drive = course_dir / "evidence" / neighbour / "evidence" / "disk.img"
    proc = subprocess.run(["ewfacquire", "-u", "-q", "-t", str(target), "-f", "encase6", "-c", "deflate:fast",
                           "-C", "OP-2026-0142", "-e", "A Neighbour", str(drive)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return target.with_suffix(".E01")


def test_a_neighbours_evidence_file_handed_in_scores_zero(course_dir: Path, tmp_path: Path) -> None:
    """alice hands in bob's E01 as hers and skips her own acquisition: ewfverify, run on what she handed in when she
    is graded, calculates bob's drive's hash."""
    nb = LAB.source_nb(course_dir)
    cell(nb, "ewfacquire -u ").source = "# acquired elsewhere: the evidence file is in acquisition/"
    handed_in = course_dir / "submitted" / "alice" / LAB.id / "acquisition"
    handed_in.mkdir(parents=True, exist_ok=True)
    (handed_in / "suspect-drive.E01").write_bytes(neighbours_e01(course_dir, tmp_path, "bob").read_bytes())
    try:
        scores = graded(course_dir, "alice", nb)
    finally:
        (handed_in / "suspect-drive.E01").unlink()
    assert scores == AUTO | {"check-e01": 0.0}
    assert reason(course_dir, "alice", "check-e01") == f"e01_image_hash: {WRONG_HASH}"


def test_a_neighbours_values_typed_in_score_zero(course_dir: Path) -> None:
    """bob's drive's hash and size typed into every answer cell of alice's notebook: nothing scores, and no reason
    shows a hash."""
    exhibit = key(course_dir, "bob")["evidence_items"][0]
    assert exhibit["path"] == "disk.img"
    typed = [["disk.img", exhibit["sha256"], exhibit["size"]]]
    nb = LAB.typed_in(course_dir, dict.fromkeys(("source_hash_before", "raw_image_hash", "e01_image_hash",
                                                 "source_hash_after"), typed))
    assert graded(course_dir, "alice", nb) == dict.fromkeys(AUTO, 0.0)
    alice = key(course_dir, "alice")["evidence_items"][0]["sha256"]
    for grade_id in AUTO:
        why = reason(course_dir, "alice", grade_id)
        assert why.endswith(f": {WRONG_HASH}"), why
        assert not leaked_forms(why, alice) and not leaked_forms(why, exhibit["sha256"])


def test_release_holds_no_solution_and_no_drive_hash(course_dir: Path) -> None:
    text = LAB.released_text(course_dir)
    for student in ("alice", "bob"):
        item = key(course_dir, student)["evidence_items"][0]
        assert not leaked_forms(text, item["sha256"]), student


def test_lab_check_proves_the_lab_on_its_case(tmp_path: Path) -> None:
    """The plug-in's proof: the generic `dflab lab check` builds twelve variants, grades the solution (full), the
    release (0) and a neighbour's answers (what the comparisons predict: 0 here), and finds every answer drawn anew
    for each variant (each trainee's drive is their own)."""
    proc = subprocess.run([sys.executable, "-m", "dflab.cli", "lab", "check", LAB.id, "--scenario", str(NIGHTJAR),
                           "--keep", str(tmp_path), "--json"], capture_output=True, text=True, timeout=1800)
    assert proc.stdout, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert proc.returncode == 0 and result["ok"], [f for f in result["findings"] if not f["ok"]] or proc.stderr[-2000:]
    verdict = {f["name"]: f["detail"] for f in result["findings"]}
    assert list(verdict) == ["solution", "released", "copier", "copy share", "release"]
    assert verdict["solution"].startswith("6/9 ") and verdict["released"].startswith("0/9 ")
    assert verdict["copier"].startswith("0/9 ") and result["copy_share"] == 0.0
    assert result["distinct"] == dict.fromkeys(("source_hash_before", "raw_image_hash", "e01_image_hash",
                                                "source_hash_after"), 12)


def dflab(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `dflab` CLI, as an instructor runs it (root: local labs are confined)."""
    return subprocess.run([sys.executable, "-m", "dflab.cli", *args], capture_output=True, text=True, timeout=900,
                          check=False)


@contextlib.contextmanager
def local_session(root: Path) -> Iterator[Path]:
    """A running local session of alice on lab 06; nothing of it outlives the block, whatever failed inside."""
    session = root / "session"
    roster = root / "roster.csv"
    roster.write_text("id,name\nalice,Alice Adams\n", encoding="utf-8")
    try:
        started = dflab("session", "start", "--backend", "local", "--lab", str(ROOT / "labs" / LAB.id), "--roster",
                        str(roster), "--session-dir", str(session), "--secret", SECRET, "--timeout", "120")
        assert started.returncode == 0 and "isolation is off" not in started.stderr, started.stdout + started.stderr
        yield session
    finally:
        dflab("session", "stop", "--purge", "--session-dir", str(session))
        with contextlib.suppress(DflabError):
            for row in Session.existing(session).state.trainees():
                if pid := row.backend_state.get("pid"):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                if uid := row.backend_state.get("uid"):
                    for stray in uid_processes(uid):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(stray, signal.SIGKILL)


def test_in_a_real_session_the_trainee_acquires_read_only_and_the_hand_in_scores_every_automatic_point(
        tmp_path: Path) -> None:
    """alice saves the solution into her lab and runs it there, confined as her own uid with her evidence mounted
    read-only; the session collects her folder (the notebook and acquisition/: the E01, the logs, the record) and
    `dflab grade` scores it, re-running it in the grading sandbox."""
    with local_session(tmp_path) as session:
        url, token = endpoints(session)["alice"]
        solution = json.loads((session / "source" / LAB.id / LAB.nb).read_text(encoding="utf-8"))
        contents(url, token, f"{LAB.id}/{LAB.nb}", {"type": "notebook", "format": "json", "content": solution})
        ran = in_terminal(url, token, f"cd {LAB.id} && {sys.executable} -m nbconvert --to notebook --execute "
                                      f"--inplace {LAB.nb} >/dev/null 2>&1; echo exit=$?")
        assert "exit=0" in ran, ran
        collected = dflab("session", "collect", "--session-dir", str(session))
        assert collected.returncode == 0, collected.stdout + collected.stderr
    handed_in = session / "submitted" / "alice" / LAB.id
    assert sorted(p.name for p in (handed_in / "acquisition").iterdir()) == [
        "acquisition.log", "ewfacquire-hashes.log", "record.json", "suspect-drive.E01"]
    said = outputs_text(nbformat.read(handed_in / LAB.nb, as_version=4), "os.ST_RDONLY")
    assert "is a REGULAR FILE standing in for the drive" in said and "read-only mount" in said, said

    # What alice handed in is the acquisition: her E01 holds her drive, with the case details her record states.
    drive = key(session, "alice")["evidence_items"][0]
    e01 = handed_in / "acquisition" / "suspect-drive.E01"
    verified = subprocess.run(["ewfverify", "-d", "sha256", str(e01)], capture_output=True, text=True, timeout=300)
    assert verified.returncode == 0 and f"SHA256 hash calculated over data:\t{drive['sha256']}" in verified.stdout
    header = subprocess.run(["ewfinfo", str(e01)], capture_output=True, text=True, timeout=60, check=True).stdout
    record = json.loads((handed_in / "acquisition" / "record.json").read_text(encoding="utf-8"))
    assert re.search(rf"Case number:\s+{re.escape(record['case_number'])}\n", header)
    assert re.search(rf"Examiner name:\s+{re.escape(record['examiner'])}\n", header)
    assert record["acquisition_started_utc"] <= record["acquisition_finished_utc"]

    graded_run = dflab("grade", LAB.id, "--course", str(session), "--sandbox", "local")
    assert graded_run.returncode == 0, graded_run.stdout + graded_run.stderr
    with Gradebook(f"sqlite:///{session / 'gradebook.db'}") as gb:
        submission = gb.find_submission_notebook(LAB.id, LAB.id, "alice")
        assert {g.name: g.auto_score for g in submission.grades} == AUTO | {"record": None}
        assert submission.needs_manual_grade
