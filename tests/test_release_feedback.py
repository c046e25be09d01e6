"""`dflab session release-feedback` (issue #16 item 2): each graded trainee's feedback, in their own workspace.

A real local session of alice and bob (confined as root, ``running_pair``); alice hands in the solution with one
answer changed, the real `dflab grade` grades it, bob hands in nothing. The feedback lands in alice's workspace as
``feedback/02-disk.md``, owned by her uid, naming each question by its step and label with ✓ or ✗ and each step's
explanation, and no value of her key; re-running writes the same bytes; bob's is "not graded". A key value planted
in lab.yaml's text holds alice's feedback back (so the leak check can fail), and a link planted where the feedback
folder goes is not followed. With Docker: alice's feedback is written into her workspace volume through her running
lab, as its user (uid 1000).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import docker
import nbformat
import pytest

from dflab.grading.export import key_values
from dflab.lab_meta import read_lab
from dflab.session.feedback import MESSAGES, leaked_values, release_feedback
from dflab.session.manager import Session
from tests import docker_fixtures
from tests.test_session_docker import lab as docker_lab
from tests.test_session_docker import start as docker_start
from tests.test_session_docker import tear_down as docker_tear_down
from tests.test_session_local import write_roster
from tests.test_session_local_isolation import dflab, running_pair

trainee_image = docker_fixtures.trainee_image

SECRET = "feedback-course-secret-0b7e"
LAB_ID = "02-disk"


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A running session in which alice's submission (root_fs wrong, the rest right) is graded."""
    with running_pair(tmp_path_factory.mktemp("feedback-session"), SECRET) as session_dir:
        nb = nbformat.read(session_dir / "source" / LAB_ID / f"{LAB_ID}.ipynb", as_version=4)
        [cell] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "answer-partitions"]
        cell.source += "\nroot_fs = 'not-a-file-system'"
        dest = session_dir / "submitted" / "alice" / LAB_ID
        dest.mkdir(parents=True)
        nbformat.write(nb, dest / f"{LAB_ID}.ipynb")
        done = dflab("grade", LAB_ID, "--course", str(session_dir), "--sandbox", "local", "--workers", "1")
        assert done.returncode == 0, done.stdout + done.stderr
        yield session_dir


def feedback_of(session_dir: Path, trainee: str) -> Path:
    return session_dir / "workspaces" / trainee / "feedback" / f"{LAB_ID}.md"


@pytest.mark.xdist_group(name="release-feedback")
def test_feedback_names_questions_and_verdicts_and_holds_no_key_value(graded: Path) -> None:
    results = {r.trainee: r for r in release_feedback(graded)}
    assert (results["alice"].status, results["bob"].status) == ("written", "not graded")
    path = feedback_of(graded, "alice")
    uid = Session.existing(graded).state.get("alice").backend_state["uid"]
    assert path.stat().st_uid == uid and path.parent.stat().st_uid == uid  # written as alice, not as root
    text = path.read_text(encoding="utf-8")
    meta = read_lab(Path(Session.existing(graded).state.get_meta("lab") or ""))
    assert f"- Root file system: {MESSAGES['wrong']}" in text
    assert f"- SHA-256 of manifest.json: {MESSAGES['right']}" in text
    assert f"- Root partition's start sector: {MESSAGES['right']}" in text
    assert "Test cell" not in text
    for step in meta.steps:
        assert step.title in text and (step.explanation or "") in text
    values = key_values(graded, LAB_ID, "alice")
    assert values and leaked_values(text, values) == []
    before = path.read_bytes()
    assert {r.trainee: r.status for r in release_feedback(graded)} == {"alice": "written", "bob": "not graded"}
    assert path.read_bytes() == before  # idempotent
    assert not feedback_of(graded, "bob").exists()


@pytest.mark.xdist_group(name="release-feedback")
def test_a_key_value_in_the_text_holds_the_feedback_back(graded: Path) -> None:
    lab_yaml = Path(Session.existing(graded).state.get_meta("lab") or "") / "lab.yaml"
    key = json.loads((graded / "evidence" / "alice" / "key" / "answer_key.json").read_text(encoding="utf-8"))
    value = key["evidence_manifest_sha256"]
    original = lab_yaml.read_text(encoding="utf-8")
    path = feedback_of(graded, "alice")
    before = path.read_bytes() if path.exists() else None
    try:
        lab_yaml.write_text(original.replace('explanation: "', f'explanation: "Seal {value}. ', 1), encoding="utf-8")
        results = {r.trainee: r for r in release_feedback(graded)}
        assert results["alice"].status == "held back" and value not in results["alice"].detail
        assert (path.read_bytes() if path.exists() else None) == before
    finally:
        lab_yaml.write_text(original, encoding="utf-8")


@pytest.mark.xdist_group(name="release-feedback")
def test_a_link_planted_for_the_feedback_folder_is_not_followed(graded: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.chmod(target, 0o777)  # writable by alice too: only not following the link keeps the file out of it
    folder = graded / "workspaces" / "alice" / "feedback"
    moved = folder.with_name("feedback.kept")
    if folder.exists():
        folder.rename(moved)
    try:
        folder.symlink_to(target)
        results = {r.trainee: r for r in release_feedback(graded)}
        assert results["alice"].status == "failed" and "\n" not in results["alice"].detail
        assert list(target.iterdir()) == []
    finally:
        folder.unlink()
        if moved.exists():
            moved.rename(folder)


@pytest.mark.xdist_group(name=docker_fixtures.XDIST_GROUP)
def test_docker_labs_get_their_feedback_in_their_volume_as_the_trainee(trainee_image: str, tmp_path: Path) -> None:
    session_dir = tmp_path / "session"
    engine = docker.from_env(timeout=120)
    try:
        result = docker_start(session_dir, write_roster(tmp_path / "roster.csv", "alice", "bob"), trainee_image)
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
        nb = nbformat.read(session_dir / "source" / LAB_ID / f"{LAB_ID}.ipynb", as_version=4)
        dest = session_dir / "submitted" / "alice" / LAB_ID
        dest.mkdir(parents=True)
        nbformat.write(nb, dest / f"{LAB_ID}.ipynb")
        done = dflab("grade", LAB_ID, "--course", str(session_dir), "--sandbox", "local", "--workers", "1")
        assert done.returncode == 0, done.stdout + done.stderr
        assert {r.trainee: r.status for r in release_feedback(session_dir)} == {"alice": "written",
                                                                                "bob": "not graded"}
        container = docker_lab(engine, session_dir, "alice")
        ran = container.exec_run(["stat", "-c", "%u", f"/home/trainee/work/feedback/{LAB_ID}.md"])
        assert ran.exit_code == 0 and ran.output.decode().strip() == "1000", ran.output
        text = container.exec_run(["cat", f"/home/trainee/work/feedback/{LAB_ID}.md"]).output.decode()
        assert f"- Root file system: {MESSAGES['right']}" in text and MESSAGES["wrong"] not in text
        assert leaked_values(text, key_values(session_dir, LAB_ID, "alice")) == []
    finally:
        docker_tear_down(engine, session_dir)
