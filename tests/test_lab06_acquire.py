"""Lab 06 Acquisition, graded for real on what the trainee hands in: `dflab course init`, the solution run as a trainee
runs it (dcfldd, sha256sum, ewfacquire, ewfinfo and ewfverify on their own drive), real `nbgrader autograde` in the
local and the Docker grading sandbox, and a real local session.

The lab is one folder (labs/06-acquire/: lab.yaml, grader.yaml, source.ipynb, hooks.py). Four answers are hashes and
sizes typed in, which the seizure record alone would give; six points come from the acquisition/ folder handed in,
graded by the lab's own compare kind (hooks.py, `acquisition`) from the files: the E01 is an image of this trainee's
drive that verifies, its header holds the record's case details, the record's times are one ewfacquire run of the log
with the E01's acquisition date inside it, and the record's hashes are the verified ones. A copy that stops short, a
neighbour's evidence file, a record that disagrees with the E01 or the log, each loses exactly the points of what it
breaks; hostile folders (links to the key, a FIFO, a 2 GiB sparse file, garbage JSON, NaN) get verdicts, never a crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
import yaml
from nbgrader.api import Gradebook

from dflab.grading.checks import check_answer
from dflab.lab.recorded import answer_names
from tests import docker_fixtures
from tests.labkit import ABOUT_GRADING, LOCAL_SANDBOX, ROOT, SECRET, Lab, course_fixtures, key, leaked_forms, nbgrader
from tests.test_session_local import contents, endpoints
from tests.test_session_local_isolation import in_terminal, kill_leftovers

LAB = Lab("06-acquire", "06-acquire.ipynb")
TYPED = {"check-source-before": 1.0, "check-raw-copy": 1.0, "check-e01": 1.0, "check-source-after": 1.0}
HANDED_IN = {"check-acquired-image": 3.0, "check-acquired-header": 1.0, "check-acquired-times": 1.0,
             "check-acquired-hashes": 1.0}
AUTO = TYPED | HANDED_IN
MANUAL = {"record": 1.0}  # the record's free text, graded by an instructor in formgrader
CRITERION = {"image": "acquired_image", "header": "acquired_header", "times": "acquired_times",
             "hashes": "acquired_hashes"}
FILES = ["acquisition.log", "dcfldd-hashes.log", "ewfacquire-hashes.log", "record.json", "suspect-drive.E01"]
LAST_LOG = [""]  # nbgrader's log of the last graded() run
# One worker: the course is built once per module. Marked test by test, not module-wide, so that the Docker
# sandbox's test is in the docker_image group alone (xdist names a test marked with two groups after both: a group
# of its own, run beside the engine's other users).
LAB_06 = pytest.mark.xdist_group("lab-06-acquire")
trainee_image = docker_fixtures.trainee_image


bundled_course, small_course, course_dir = course_fixtures(LAB)


def run_as_trainee(course: Path, student: str, nb: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    """Run ``nb`` top to bottom in ``folder`` (with the released lab.yaml beside it) on ``student``'s evidence, as the
    trainee runs it in their lab (the scratch copy goes to a temporary folder of its own); returns the executed
    notebook."""
    folder.mkdir(parents=True)
    (folder / "tmp").mkdir()
    nbformat.write(nb, folder / LAB.nb)
    shutil.copy(course / "release" / LAB.id / "lab.yaml", folder / "lab.yaml")  # as the lab hands it out
    env = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/sbin", "/usr/bin", "/sbin", "/bin"]),
           "HOME": str(folder), "TMPDIR": str(folder / "tmp"),
           "DFLAB_EVIDENCE": str(course / "evidence" / student / "evidence")}
    proc = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute", "--inplace",
                           "--ExecutePreprocessor.timeout=600", LAB.nb], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shutil.rmtree(folder / "tmp")
    return nbformat.read(folder / LAB.nb, as_version=4)


class HandIns(dict[str, Path]):
    """Trainee -> the acquisition folder they hand in after running the solution (kept pristine: tests copy), each
    made when a test first asks for it: the Docker sandbox's test runs on the docker_image group's worker, which
    builds this module's course again and needs alice's hand-in only."""

    def __init__(self, course: Path, runs: Path) -> None:
        super().__init__()
        self.course, self.runs = course, runs

    def __missing__(self, student: str) -> Path:
        ran = run_as_trainee(self.course, student, LAB.source_nb(self.course), self.runs / student)
        assert "dcfldd is not installed" not in outputs_text(ran, "dcfldd if=")
        made = self[student] = self.runs / student / "acquisition"
        assert sorted(p.name for p in made.iterdir()) == FILES
        return made


@pytest.fixture(scope="module")
def runs_by_course(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[Path, HandIns]]:
    """Where each course's HandIns run (one folder of the module's: emptied when it ends, tests/conftest.py; an E01
    of the bundled drive is some 87 MB), and the HandIns made so far."""
    return tmp_path_factory.mktemp("trainee-runs"), {}


@pytest.fixture
def hand_ins(course_dir: Path, runs_by_course: tuple[Path, dict[Path, HandIns]]) -> dict[str, Path]:
    """What alice and bob hand in after running the solution on the test's course (see HandIns)."""
    folder, made = runs_by_course
    if course_dir not in made:
        made[course_dir] = HandIns(course_dir, folder / course_dir.name)
    return made[course_dir]


def copy_of(hand_in: Path, tmp_path: Path) -> Path:
    """A copy of a hand-in, at ``<tmp_path>/submission/acquisition``, for a test to change."""
    target = tmp_path / "submission" / "acquisition"
    shutil.copytree(hand_in, target)
    return target


def graded(root: Path, student: str, nb: nbformat.NotebookNode, acquisition: Path | None, *,
           sandbox: tuple[str, ...] = LOCAL_SANDBOX, record_written: bool = True) -> dict[str, float]:
    """Hand in ``nb`` with a copy of ``acquisition`` (None: the notebook alone) as ``student``, autograde it for real
    and return the automatic scores; the record's free text is left to an instructor."""
    dest = root / "submitted" / student / LAB.id
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    if acquisition is not None:
        shutil.copytree(acquisition, dest / "acquisition", symlinks=True)
    nbformat.write(nb, dest / LAB.nb)
    proc = nbgrader(root, "autograde", LAB.id, "--student", student, "--force", *sandbox)
    assert proc.returncode == 0, proc.stderr[-3000:]
    LAST_LOG[0] = proc.stderr
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        submission = gb.find_submission_notebook(LAB.id, LAB.id, student)
        scores = {g.name: g.auto_score for g in submission.grades}
        assert submission.needs_manual_grade == record_written
        assert submission.max_score == sum(AUTO.values()) + sum(MANUAL.values())
    assert scores.pop("record") == (None if record_written else 0.0)
    return scores


def answered(course: Path, student: str) -> nbformat.NotebookNode:
    """The solution with ``student``'s answers typed in and the acquisition's commands (every shell cell, the seizure
    record's re-hash, the record's save) left out: what a hand-in is graded beside when a test is about the hand-in,
    without the sandbox acquiring the 1 GiB drive again. The solution's own re-runs (each trainee's in
    test_solution_..., the Docker sandbox's, the session's) acquire it for real."""
    mine = key(course, student)["evidence_items"][0]
    typed = [["disk.img", mine["sha256"], mine["size"]]]
    nb = LAB.typed_in(course, dict.fromkeys(("source_hash_before", "raw_image_hash", "e01_image_hash",
                                             "source_hash_after"), typed) | {"HANDED_IN": "acquisition"})
    for code in (c for c in nb.cells if c.cell_type == "code"):
        if code.source.startswith("%%bash") or "verify_evidence(EVIDENCE)" in code.source \
                or "HANDED_IN = CASE" in code.source:
            code.source = "pass"
    return nb


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


def verdicts(course: Path, student: str, value: object, submission: Path) -> dict[str, tuple[bool, str]]:
    """What the grader's own entry point (check_answer, with the lab's hooks loaded) says on every criterion."""
    checks, answer_key = LAB.checks(), key(course, student)
    return {criterion: check_answer(checks, name, value, answer_key, "key", submission)
            for criterion, name in CRITERION.items()}


def record_of(folder: Path) -> dict:
    return json.loads((folder / "record.json").read_text(encoding="utf-8"))


def write_record(folder: Path, record: dict) -> None:
    (folder / "record.json").write_text(json.dumps(record, indent=2), encoding="utf-8")


def ewfacquire(drive: Path, target: Path, record: dict, *, at: str, extra: tuple[str, ...] = ()) -> None:
    """An E01 of ``drive`` at ``target`` with the case details of ``record``, its clock frozen at ``at`` (UTC): what
    the lab's step 4 makes, at the time the record states."""
    when = datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S")
    target.with_suffix(".E01").unlink(missing_ok=True)
    proc = subprocess.run(["faketime", "-f", f"@{when}", "ewfacquire", "-u", "-q", "-t", str(target), "-f", "encase6",
                           "-c", "deflate:fast", "-C", record["case_number"], "-E", record["evidence_number"],
                           "-e", record["examiner"], "-D", record["device_description"], *extra, str(drive)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "TZ": "UTC"})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def drive_of(course: Path, student: str) -> Path:
    return course / "evidence" / student / "evidence" / "disk.img"


# ----------------------------------------------------------------------------------------------- the lab as shipped

@LAB_06
def test_lab_metadata_answers_checks_and_manual_cell_agree(course_dir: Path) -> None:
    lab = yaml.safe_load((ROOT / "labs" / LAB.id / "lab.yaml").read_text(encoding="utf-8"))
    nb = LAB.source_nb(course_dir)
    names = {n for c in nb.cells if c.cell_type == "code" for n in answer_names(c.source)}
    assert names == set(lab["answers"]) == set(LAB.checks().checks)
    assert {n for step in lab["steps"] for n in step["answers"]} == names
    assert LAB.points(course_dir) == AUTO | MANUAL
    assert sum(AUTO.values()) == lab["grading"]["autograded_points"]
    assert {m["grade_id"]: float(m["points"]) for m in lab["grading"]["manual"]} == MANUAL
    assert lab["requires"] == {} and lab["evidence"] == ["disk"] and lab["hooks"] == "hooks.py"
    # The course keeps the hooks beside its copy of the check file, so the grader finds the lab's kind.
    assert (course_dir / "graders" / f"{LAB.id}.hooks.py").read_bytes() == \
        (ROOT / "labs" / LAB.id / "hooks.py").read_bytes()


@LAB_06
def test_solution_scores_every_automatic_point_from_each_trainees_own_hand_in(
        course_dir: Path, hand_ins: dict[str, Path]) -> None:
    # bob's notebook acquires his drive again in the sandbox; alice's hand-in is graded beside her typed answers.
    for student, nb in (("alice", answered(course_dir, "alice")), ("bob", LAB.source_nb(course_dir))):
        assert graded(course_dir, student, nb, hand_ins[student]) == AUTO
        assert all(reason(course_dir, student, g) == "" for g in AUTO)
    done = LAB.autograded_nb(course_dir, "bob")
    # The grading sandbox presents the exhibit as the trainees' labs do: a file on a read-only mount.
    said = outputs_text(done, "os.ST_RDONLY")
    assert "is a REGULAR FILE standing in for the drive" in said and "read-only mount" in said, said
    assert "WRITABLE" not in said
    copied = outputs_text(done, "dcfldd if=")
    assert f"Total (sha256): {key(course_dir, 'bob')['evidence_items'][0]['sha256']}" in copied, copied
    assert "ewfverify: SUCCESS" in outputs_text(done, 'ewfverify -d sha256 "$E01" 2>&1')


@LAB_06
@ABOUT_GRADING
def test_the_release_scores_zero(course_dir: Path) -> None:
    assert graded(course_dir, "bob", LAB.released_nb(course_dir), None, record_written=False) == \
        dict.fromkeys(AUTO, 0.0)
    # The release's placeholders (an empty hash, 0 bytes) run to the end now that a cleared solution is a comment
    # (nbgrader's stub no longer stops Run All), so they are recorded as given: they cite no hash of the evidence.
    assert reason(course_dir, "bob", "check-e01").startswith(
        "e01_image_hash: the SHA-256 cited for 'disk.img' is not the one in the evidence manifest")
    assert reason(course_dir, "bob", "check-acquired-image") == \
        "acquired_image: no folder 'acquisition' was handed in with the notebook"


@LAB_06
@ABOUT_GRADING
def test_typed_hashes_without_an_acquisition_score_only_what_the_seizure_record_gives(course_dir: Path) -> None:
    """The weakness the hand-in closes: the drive's hash and size read off manifest.json and typed into every answer
    earn the four typed points, and nothing of the six the acquisition is worth."""
    mine = key(course_dir, "alice")["evidence_items"][0]
    typed = [["disk.img", mine["sha256"], mine["size"]]]
    nb = LAB.typed_in(course_dir, dict.fromkeys(("source_hash_before", "raw_image_hash", "e01_image_hash",
                                                 "source_hash_after"), typed))
    assert graded(course_dir, "alice", nb, None) == TYPED | dict.fromkeys(HANDED_IN, 0.0)


# ----------------------------------------------------------------------------------------------- each criterion

@LAB_06
@ABOUT_GRADING
def test_an_e01_that_stops_short_scores_zero_on_the_image(course_dir: Path, hand_ins: dict[str, Path],
                                                          tmp_path: Path) -> None:
    """ewfacquire told to stop at half the drive, with the record's details at the record's time: the image (and the
    record's hashes, which only a verified image of the drive confirms) score 0; header and times stand."""
    folder = copy_of(hand_ins["alice"], tmp_path)
    record = record_of(folder)
    half = key(course_dir, "alice")["facts"]["disk"]["size_bytes"] // 2
    ewfacquire(drive_of(course_dir, "alice"), folder / "suspect-drive", record, at=record["acquisition_started_utc"],
               extra=("-B", str(half)))
    assert graded(course_dir, "alice", answered(course_dir, "alice"), folder) == \
        AUTO | {"check-acquired-image": 0.0, "check-acquired-hashes": 0.0}
    assert reason(course_dir, "alice", "check-acquired-image") == \
        "acquired_image: the E01's media is shorter than your drive: the acquisition stopped short"
    assert reason(course_dir, "alice", "check-acquired-hashes") == ("acquired_hashes: the record's hashes cannot be "
                                                                    "confirmed: the E01 handed in is not a verified "
                                                                    "image of your drive")


@LAB_06
@ABOUT_GRADING
def test_a_neighbours_e01_scores_zero_on_the_image(course_dir: Path, hand_ins: dict[str, Path],
                                                   tmp_path: Path) -> None:
    """alice hands in an E01 of bob's drive, made with her own case details at her own times: only what ties the
    image to her drive fails, and the reason shows no hash."""
    folder = copy_of(hand_ins["alice"], tmp_path)
    record = record_of(folder)
    ewfacquire(drive_of(course_dir, "bob"), folder / "suspect-drive", record, at=record["acquisition_started_utc"])
    assert graded(course_dir, "alice", answered(course_dir, "alice"), folder) == \
        AUTO | {"check-acquired-image": 0.0, "check-acquired-hashes": 0.0}
    why = reason(course_dir, "alice", "check-acquired-image")
    assert why == ("acquired_image: the E01's media is not your drive (its SHA-256 differs): an image of another "
                   "drive, or changed")
    for student in ("alice", "bob"):
        assert not leaked_forms(why, key(course_dir, student)["evidence_items"][0]["sha256"])


@LAB_06
@ABOUT_GRADING
def test_a_record_whose_case_number_is_not_the_e01_headers_scores_zero_on_the_header(
        course_dir: Path, hand_ins: dict[str, Path], tmp_path: Path) -> None:
    folder = copy_of(hand_ins["bob"], tmp_path)
    write_record(folder, record_of(folder) | {"case_number": "OP-2026-9999"})
    assert graded(course_dir, "bob", answered(course_dir, "bob"), folder) == AUTO | {"check-acquired-header": 0.0}
    assert reason(course_dir, "bob", "check-acquired-header") == \
        "acquired_header: the record's case_number is not the E01 header's case number (ewfinfo shows it)"


@LAB_06
@ABOUT_GRADING
def test_a_record_whose_times_are_out_of_order_scores_zero_on_the_times(
        course_dir: Path, hand_ins: dict[str, Path], tmp_path: Path) -> None:
    folder = copy_of(hand_ins["bob"], tmp_path)
    record = record_of(folder)
    swapped = {"acquisition_started_utc": record["acquisition_finished_utc"],
               "acquisition_finished_utc": "2020-01-01T00:00:00Z"}
    write_record(folder, record | swapped)
    assert graded(course_dir, "bob", answered(course_dir, "bob"), folder) == AUTO | {"check-acquired-times": 0.0}
    assert reason(course_dir, "bob", "check-acquired-times") == \
        "acquired_times: the record's acquisition finishes before it starts"


@LAB_06
@ABOUT_GRADING
def test_each_criterion_catches_its_own_fault(course_dir: Path, hand_ins: dict[str, Path], tmp_path: Path) -> None:
    """The grader's verdicts, criterion by criterion, on hand-ins broken one way each (no notebook run: the compare
    kind as `check_answer` calls it)."""
    pristine = copy_of(hand_ins["alice"], tmp_path / "pristine")
    assert verdicts(course_dir, "alice", "acquisition", pristine.parent) == dict.fromkeys(CRITERION, (True, "correct"))

    def broken(name: str) -> Path:
        return copy_of(hand_ins["alice"], tmp_path / name)

    # A log whose times run backwards.
    folder = broken("log-backwards")
    log = (folder / "acquisition.log").read_text(encoding="utf-8")
    (folder / "acquisition.log").write_text("2099-01-01T00:00:00Z opened the case\n" + log, encoding="utf-8")
    ok, why = verdicts(course_dir, "alice", "acquisition", folder.parent)["times"]
    assert not ok and why == "acquisition.log runs backwards: line 2 is timed before line 1"

    # A record whose times are not those of the log's ewfacquire run (the E01's date still between them).
    folder = broken("times-not-logged")
    record = record_of(folder)
    write_record(folder, record | {"acquisition_started_utc": "2000-01-01T00:00:00Z"})
    ok, why = verdicts(course_dir, "alice", "acquisition", folder.parent)["times"]
    assert not ok and why.startswith("the record's start and end are not the times acquisition.log gives one "
                                     "ewfacquire run")

    # An E01 made at another time than the record's run.
    folder = broken("e01-other-run")
    ewfacquire(drive_of(course_dir, "alice"), folder / "suspect-drive", record, at="2030-01-01T00:00:00Z")
    assert verdicts(course_dir, "alice", "acquisition", folder.parent) == {
        "image": (True, "correct"), "header": (True, "correct"), "hashes": (True, "correct"),
        "times": (False, "the E01's acquisition date is not between the record's start and end: made in another run")}

    # One byte of the E01's compressed data changed: its stored MD5 no longer verifies.
    folder = broken("e01-damaged")
    e01 = folder / "suspect-drive.E01"
    data = bytearray(e01.read_bytes())
    data[len(data) // 2] ^= 0xFF
    e01.write_bytes(bytes(data))
    assert verdicts(course_dir, "alice", "acquisition", folder.parent)["image"] == (
        False, "the E01 does not verify: 1 chunk(s) fail their checksum (damaged after acquisition)")

    # Hashes and statements in the record.
    for change, want in (
            ({"source_md5": "0" * 32}, "the record's source_md5 is not the MD5 the E01 stores and verifies"),
            ({"source_sha256": "f" * 64}, "the record's source_sha256 is not your drive's SHA-256"),
            ({"write_protection": " "}, "the record does not state its write protection"),
            ({"verification": 0}, "the record does not state its verification")):
        folder = broken(f"record-{next(iter(change))}")
        write_record(folder, record | change)
        assert verdicts(course_dir, "alice", "acquisition", folder.parent)["hashes"] == (False, want)

    # Header fields, one by one: the examiner and the description count like the case number.
    folder = broken("record-examiner")
    write_record(folder, record | {"examiner": "Someone Else"})
    assert verdicts(course_dir, "alice", "acquisition", folder.parent)["header"] == (
        False, "the record's examiner is not the E01 header's examiner (ewfinfo shows it)")


# ----------------------------------------------------------------------------------------------- hostile hand-ins

@LAB_06
@ABOUT_GRADING
def test_hostile_hand_ins_get_verdicts_and_read_nothing_outside(course_dir: Path, hand_ins: dict[str, Path],
                                                                tmp_path: Path) -> None:
    """Links to the key, a FIFO, a 2 GiB sparse file named like the E01, garbage and NaN in the record, names no file
    can have: each is a verdict from the grader's own entry point, none reads outside the submission or hangs."""
    answer_key = course_dir / "evidence" / "alice" / "key" / "answer_key.json"

    def folder(name: str) -> Path:
        return copy_of(hand_ins["alice"], tmp_path / name)

    def all_fail(submission: Path, value: object = "acquisition") -> set[str]:
        found = verdicts(course_dir, "alice", value, submission)
        assert not any(ok for ok, _ in found.values()), found
        return {why for _, why in found.values()}

    # The acquisition folder itself a link (to the key's folder), and a record linked to the key.
    linked = tmp_path / "linked-folder"
    linked.mkdir()
    (linked / "acquisition").symlink_to(answer_key.parent)
    assert all_fail(linked) == {"'acquisition' handed in is not a folder (a link or a file): hand in the folder itself"}
    bad = folder("record-link")
    (bad / "record.json").unlink()
    (bad / "record.json").symlink_to(answer_key)
    assert all_fail(bad.parent) == {"the acquisition folder holds 1 link(s) or special file(s): the E01, log and "
                                    "record must be the files themselves"}

    # A FIFO where the E01 should be (opening it would block forever).
    bad = folder("e01-fifo")
    (bad / "suspect-drive.E01").unlink()
    os.mkfifo(bad / "suspect-drive.E01")
    assert all_fail(bad.parent) == {"the acquisition folder holds 1 link(s) or special file(s): the E01, log and "
                                    "record must be the files themselves"}

    # A 2 GiB sparse file named like the E01: refused by its size, never read.
    bad = folder("e01-sparse")
    with (bad / "suspect-drive.E01").open("r+b") as fh:
        fh.truncate(2 << 30)
    found = verdicts(course_dir, "alice", "acquisition", bad.parent)
    assert found["image"] == (False, "the evidence file is larger than any E01 of your drive can be: not an image "
                                     "of it")
    assert not found["hashes"][0] and found["header"] == found["image"]

    # Garbage where the record should be, NaN times, a record nested too deep, a record that is a list.
    nan = json.dumps(record_of(hand_ins["alice"]) | {"acquisition_started_utc": float("nan")}).encode()
    assert b"NaN" in nan  # Python writes it; JSON has no NaN
    for name, data in (("garbage", b"\x00\xff not json {"), ("nan", nan), ("deep", b"[" * 20_000 + b"]" * 20_000),
                       ("list", b"[1, 2]"), ("huge", b" " * (1 << 20))):
        bad = folder(f"record-{name}")
        (bad / "record.json").write_bytes(data)
        found = verdicts(course_dir, "alice", "acquisition", bad.parent)
        assert found["image"] == (True, "correct"), name  # the E01 alone is still an image of her drive
        assert {c for c, (ok, _) in found.items() if not ok} == {"header", "times", "hashes"}, (name, found)
        assert found["times"][1].startswith("record.json handed in is "), found["times"]

    # NaN-free but a time that is not one: a number.
    bad = folder("record-time-number")
    write_record(bad, record_of(bad) | {"acquisition_finished_utc": 1.5e308})
    assert verdicts(course_dir, "alice", "acquisition", bad.parent)["times"] == (
        False, "the record's acquisition_finished_utc is not a UTC time like 2026-03-09T14:05:00Z")

    # Values naming no folder of the submission.
    pristine = folder("values")
    for value in ("../../evidence/alice/key", "/etc", "acq\x00uisition", "x" * 5000, 42, None, ""):
        assert all_fail(pristine.parent, value), value


@LAB_06
@ABOUT_GRADING
def test_a_hostile_hand_in_is_graded_without_crashing(course_dir: Path, hand_ins: dict[str, Path],
                                                      tmp_path: Path) -> None:
    """Through real autograding: garbage in record.json costs the record's three criteria and nothing else, and a
    link to the key in the hand-in gets the whole submission refused before anything of it runs (dflab's scan)."""
    garbage = copy_of(hand_ins["bob"], tmp_path / "garbage")
    (garbage / "record.json").write_bytes(b'{"acquisition_started_utc": NaN, ')
    assert graded(course_dir, "bob", answered(course_dir, "bob"), garbage) == \
        AUTO | {"check-acquired-header": 0.0, "check-acquired-times": 0.0, "check-acquired-hashes": 0.0}
    assert reason(course_dir, "bob", "check-acquired-times") == \
        "acquired_times: record.json handed in is not valid JSON (as the notebook's save cell writes it)"

    linked = copy_of(hand_ins["bob"], tmp_path / "linked")
    (linked / "record.json").unlink()
    (linked / "record.json").symlink_to(course_dir / "evidence" / "bob" / "key" / "answer_key.json")
    assert graded(course_dir, "bob", answered(course_dir, "bob"), linked) == dict.fromkeys(AUTO, 0.0)
    assert "submission refused: acquisition/record.json is a symbolic link" in LAST_LOG[0], LAST_LOG[0][-3000:]


# ----------------------------------------------------------------------------------------------- the lab as a whole

@LAB_06
def test_release_holds_no_solution_and_no_drive_hash(course_dir: Path) -> None:
    text = LAB.released_text(course_dir)
    for student in ("alice", "bob"):
        item = key(course_dir, student)["evidence_items"][0]
        assert not leaked_forms(text, item["sha256"]), student


@pytest.mark.xdist_group(docker_fixtures.XDIST_GROUP)
def test_the_docker_grading_sandbox_has_the_tools_and_grades_the_hand_in(
        course_dir: Path, hand_ins: dict[str, Path], trainee_image: str) -> None:
    """The solution re-run in the trainee image (dcfldd, ewfacquire, ewfinfo and ewfverify from Debian 12's packages
    there) scores every automatic point, the hand-in graded as in the local sandbox."""
    docker = ("--SandboxedExecute.sandbox=docker", f"--SandboxedExecute.image={trainee_image}")
    assert graded(course_dir, "alice", LAB.source_nb(course_dir), hand_ins["alice"], sandbox=docker) == AUTO
    done = LAB.autograded_nb(course_dir, "alice")
    copied = outputs_text(done, "dcfldd if=")
    assert "Total (sha256): " in copied and "dcfldd is not installed" not in copied, copied
    assert "ewfverify: SUCCESS" in outputs_text(done, 'ewfverify -d sha256 "$E01" 2>&1')
    assert re.search(r"Case number:\s+OP-2026-0142\n", outputs_text(done, 'TZ=UTC ewfinfo "$E01"'))


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
        kill_leftovers(session)


@LAB_06
def test_in_a_real_session_the_trainee_acquires_read_only_and_the_hand_in_scores_every_automatic_point(
        tmp_path: Path) -> None:
    """alice saves the solution into her lab and runs it there, confined as her own uid with her evidence mounted
    read-only; the session collects her folder (the notebook and acquisition/: the E01, the logs, the record) and
    `dflab grade` scores it, reading the E01 she handed in."""
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
    assert sorted(p.name for p in (handed_in / "acquisition").iterdir()) == FILES
    said = outputs_text(nbformat.read(handed_in / LAB.nb, as_version=4), "os.ST_RDONLY")
    assert "is a REGULAR FILE standing in for the drive" in said and "read-only mount" in said, said

    graded_run = dflab("grade", LAB.id, "--course", str(session), "--sandbox", "local")
    assert graded_run.returncode == 0, graded_run.stdout + graded_run.stderr
    with Gradebook(f"sqlite:///{session / 'gradebook.db'}") as gb:
        submission = gb.find_submission_notebook(LAB.id, LAB.id, "alice")
        assert {g.name: g.auto_score for g in submission.grades} == AUTO | {"record": None}
        assert submission.needs_manual_grade
