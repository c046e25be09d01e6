"""Lab 04 Network, graded for real: a course made by `dflab course init`, real `nbgrader autograde`, a real kernel.

Each grading test submits one notebook as one trainee and reads the scores back from nbgrader's own gradebook;
the last test runs the solution notebook in a kernel and checks its answers against tshark on the same capture.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from nbclient import NotebookClient

from dflab.grading.checks import check_answer
from dflab.grading.preprocessor import answer_names
from dflab.lab.answers import ANSWER_MIME
from tests.labkit import ABOUT_GRADING, ROOT, Lab, course_fixtures, key, leaked_forms, solution_cells

LAB = Lab("04-network", "04-network.ipynb")
FULL_MARKS = 17
pytestmark = pytest.mark.xdist_group("lab-04-network")  # one worker: the course is built once per module


bundled_course, small_course, course_dir = course_fixtures(LAB)


def expected_values(root: Path, student: str) -> dict[str, object]:
    """Every answer this lab grades, as the student's key holds it (check-file key paths)."""
    return LAB.expected_values(root, student, "key")


def test_check_file_key_paths_point_at_the_planned_facts(course_dir: Path) -> None:
    k = key(course_dir, "alice")  # drop_domain is the name the capture's DNS resolved to the drop's address
    assert k["answers"]["drop_domain"] == k["namespace"]["flows.dns-drop.qname"]
    assert k["namespace"]["flows.dns-drop.answer"] == k["answers"]["drop_ip"]
    lab = yaml.safe_load((ROOT / "labs" / LAB.id / "lab.yaml").read_text())
    graded = {n for c in LAB.source_nb(course_dir).cells for n in answer_names(c.source)}
    assert graded == set(lab["answers"]) == set(LAB.checks().checks)
    assert {n for step in lab["steps"] for n in step["answers"]} == graded


def test_solution_scores_full_marks_against_each_trainees_own_evidence(course_dir: Path) -> None:
    LAB.assert_full_marks(course_dir, FULL_MARKS)


@ABOUT_GRADING
def test_blank_release_scores_zero(course_dir: Path) -> None:
    LAB.assert_blank_scores_zero(course_dir, "check-payload-hash", "payload_sha256")


@ABOUT_GRADING
def test_partly_answered_scores_the_expected_partial_marks(course_dir: Path) -> None:
    nb = LAB.source_nb(course_dir)
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in solution_cells(nb)}
    by_id["answer-exfil"].source = "# YOUR CODE HERE\nraise NotImplementedError()"
    by_id["answer-credentials"].source += '\nftp_password = ftp_password + "x"'
    scores = LAB.submit_and_grade(course_dir, "alice", nb)
    lost = {"check-exfil-port": 0.0, "check-exfil-bytes": 0.0, "check-archive-hash": 0.0, "check-ftp-password": 0.0}
    assert scores == LAB.points(course_dir) | lost and sum(scores.values()) == FULL_MARKS - 5
    [out] = LAB.feedback(course_dir, "alice", "check-ftp-password")
    assert out["evalue"] == "ftp_password: not the value found in your evidence"
    [out] = LAB.feedback(course_dir, "alice", "check-exfil-port")
    assert out["evalue"] == ("exfil_port: no answer recorded (was the cell run?) "
                             "[NameError: name 'exfil_port' is not defined]")
    graded = LAB.autograded_nb(course_dir, "alice")
    feedback_text = json.dumps([c.get("outputs", []) for c in graded.cells
                                if c.metadata.get("nbgrader", {}).get("grade")])
    assert key(course_dir, "alice")["answers"]["ftp_password"] not in feedback_text  # feedback never shows the key


def copied_answers(root: Path, values_from: str) -> dict[str, object]:
    """Every answer of one trainee's key as a trainee would type it (times as ISO text), for a copying test."""
    values = expected_values(root, values_from)
    shapes = yaml.safe_load((ROOT / "labs" / LAB.id / "lab.yaml").read_text())["answers"]
    for name, value in values.items():
        if shapes[name]["shape"] == "time" and isinstance(value, (int, float)):  # the key holds epoch seconds
            values[name] = datetime.fromtimestamp(value, UTC).isoformat()
    return values


@ABOUT_GRADING
def test_alices_answers_graded_as_bob_score_only_where_the_variants_coincide(course_dir: Path) -> None:
    full = LAB.points(course_dir)
    copied = LAB.typed_in(course_dir, copied_answers(course_dir, "alice"))
    assert LAB.submit_and_grade(course_dir, "alice", copy.deepcopy(copied)) == full

    checks = LAB.checks()
    alice, bob = expected_values(course_dir, "alice"), key(course_dir, "bob")
    expected = {}
    for cell in LAB.source_nb(course_dir).cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            grade_id = cell.metadata["nbgrader"]["grade_id"]
            ok = all(check_answer(checks, n, alice[n], bob, "key")[0] for n in answer_names(cell.source))
            expected[grade_id] = full[grade_id] if ok else 0.0
    scores = LAB.submit_and_grade(course_dir, "bob", copied)
    assert scores == expected and sum(scores.values()) < FULL_MARKS
    for grade_id in ("check-capture", "check-payload-hash", "check-archive-hash", "check-ftp-password",
                     "check-intranet-password", "check-suspect-ip"):
        assert scores[grade_id] == 0, grade_id


def test_release_has_no_solution_code_and_no_answer_values(course_dir: Path) -> None:
    text = LAB.released_text(course_dir)
    tests = [c for c in LAB.released_nb(course_dir).cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert tests and all(re.fullmatch(r"from dflab\.lab import answer\nanswer\('\w+', \w+\);", c.source) for c in tests)
    for student in ("alice", "bob"):
        values = list(expected_values(course_dir, student).values())
        values.append(datetime.fromtimestamp(key(course_dir, student)["facts"]["network"]["first_timestamp"],
                                             UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        for value in values:
            assert not (leaked := leaked_forms(text, value)), f"{student}: {leaked[0]!r} released"


@ABOUT_GRADING
def test_nbgrader_validate(course_dir: Path) -> None:
    LAB.assert_validates(course_dir)


# ---------------------------------------------------------------------------------------- tshark cross-check

def run_solution(root: Path, student: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Execute the solution notebook in a real kernel on ``student``'s evidence; return the answers it recorded."""
    shutil.copy(root / "source" / LAB.id / "lab.yaml", workdir / "lab.yaml")
    monkeypatch.setenv("DFLAB_EVIDENCE", str(root / "evidence" / student / "evidence"))  # the kernel inherits it
    nb = LAB.source_nb(root)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    started = time.perf_counter()
    client.execute()
    print(f"lab 04 solution notebook: {time.perf_counter() - started:.1f} s end to end")  # reported, never asserted
    recorded = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            payload = out.get("data", {}).get(ANSWER_MIME)
            if payload:
                recorded[payload["name"]] = payload["value"]
    return recorded


def tshark(*args: str) -> str:
    proc = subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def followed_client_bytes(capture: Path, client: str, server: str) -> bytes:
    """What the client sent on one TCP connection, per `tshark -z follow,tcp,raw` (server lines are tab-indented)."""
    out = tshark("-r", str(capture), "-q", "-z", f"follow,tcp,raw,{client},{server}")
    body = out.split("Node 1:", 1)[1].split("\n", 1)[1].split("=" * 20, 1)[0]
    return bytes.fromhex("".join(ln for ln in body.splitlines() if ln and not ln.startswith("\t")))


def test_solution_answers_agree_with_tshark_on_the_same_capture(course_dir: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    answers = run_solution(course_dir, "alice", tmp_path, monkeypatch)
    assert answers == expected_values(course_dir, "alice") | {"capture_start": answers["capture_start"]}
    capture = course_dir / "evidence" / "alice" / "evidence" / "network.pcap"

    exported = tmp_path / "http-objects"
    tshark("-r", str(capture), "-q", "--export-objects", f"http,{exported}")
    by_hash = {hashlib.sha256(p.read_bytes()).hexdigest(): p.name for p in exported.iterdir()}
    payload_name = Path(key(course_dir, "alice")["answers"]["payload_path"]).name
    assert by_hash.get(answers["payload_sha256"]) == payload_name

    ftp = tshark("-r", str(capture), "-Y", 'ftp.request.command == "USER" || ftp.request.command == "PASS"',
                 "-T", "fields", "-e", "ip.dst", "-e", "ftp.request.command", "-e", "ftp.request.arg")
    assert ftp.splitlines() == [f"{answers['drop_ip']}\tUSER\t{answers['ftp_user']}",
                                f"{answers['drop_ip']}\tPASS\t{answers['ftp_password']}"]
    basic = tshark("-r", str(capture), "-Y", "http.authorization", "-T", "fields", "-e", "http.authbasic")
    assert basic.split(":", 1)[1].rstrip("\n") == answers["intranet_password"]

    client = key(course_dir, "alice")["namespace"]["flows.exfil.client_port"]
    sent = followed_client_bytes(capture, f"{answers['suspect_ip']}:{client}",
                                 f"{answers['c2_ip']}:{answers['exfil_port']}")
    assert len(sent) == answers["exfil_bytes"]
    assert hashlib.sha256(sent).hexdigest() == answers["archive_sha256"]
    count = tshark("-r", str(capture), "-T", "fields", "-e", "frame.number").split()
    assert len(count) == answers["packet_count"]
    first = float(tshark("-r", str(capture), "-c", "1", "-T", "fields", "-e", "frame.time_epoch"))
    assert datetime.fromisoformat(answers["capture_start"]).timestamp() == pytest.approx(first, abs=1e-6)
