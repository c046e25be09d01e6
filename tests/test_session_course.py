"""A session is an nbgrader course: released notebooks handed out, work collected, lab 01's suspect, roster changes.

Local backend (real JupyterLab processes, real nbgrader, the real suspect). The lab is a copy of
labs/02-disk given lab 01's hooks (labs/01-live/hooks.py: the live suspect runs beside each lab), as lab
01 has them: a lab's hooks are a file in its folder and one line of its lab.yaml. Tests share one module-wide
cohort and leave it running, so they hold in any order.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dateutil.parser import parse as parse_time
from nbgrader.api import Gradebook

from dflab.errors import DflabError
from dflab.grading.course import PYTHON_STUB, course_api
from dflab.live import suspect
from dflab.live.traits import suspect_seed, traits
from dflab.provision.http import api_status
from dflab.session.collect import MANIFEST, TIMESTAMP, hash_tree
from dflab.session.manager import Session
from tests.test_session_local import (
    NOTEBOOK,
    REPO,
    SECRET,
    contents,
    endpoints,
    ok,
    run_session,
    save_notebook,
    wait_gone,
    write_roster,
)

pytestmark = pytest.mark.xdist_group(name="session_course")

LAB_ID = "02-disk"
RELEASED = f"{LAB_ID}/{LAB_ID}.ipynb"
COHORT = ("alice", "bob", "carol")


def live_lab(root: Path) -> Path:
    """labs/02-disk with lab 01's hooks (`hooks: hooks.py` in its lab.yaml), beside the real scenarios."""
    labs = root / "labs"
    shutil.copytree(REPO / "labs" / LAB_ID, labs / LAB_ID)
    (labs / "scenarios").symlink_to(REPO / "labs" / "scenarios")
    shutil.copy(REPO / "labs" / "01-live" / "hooks.py", labs / LAB_ID / "hooks.py")
    with (labs / LAB_ID / "lab.yaml").open("a", encoding="utf-8") as fh:
        fh.write("hooks: hooks.py\n")
    return labs / LAB_ID


def start(session_dir: Path, lab: Path, roster: Path, *extra: str) -> str:
    return ok(run_session("start", "--lab", str(lab), "--roster", str(roster), "--session-dir", str(session_dir),
                          "--secret", SECRET, "--timeout", "120", *extra)).output


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("course-session")
    session_dir = root / "session"
    try:
        start(session_dir, live_lab(root), write_roster(root / "roster.csv", *COHORT))
        yield session_dir
    finally:
        run_session("stop", "--purge", "--session-dir", str(session_dir))
        with contextlib.suppress(DflabError):
            for row in Session.existing(session_dir).state.trainees():
                if pid := row.backend_state.get("pid"):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                suspect.stop(session_dir / "labstate" / row.id)


def restart_all(session_dir: Path) -> str:
    root = session_dir.parent
    return start(session_dir, root / "labs" / LAB_ID, write_roster(root / "roster.csv", *COHORT))


def http_status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def suspect_pids(session_dir: Path, trainee: str) -> dict[str, int]:
    state = json.loads((session_dir / "labstate" / trainee / suspect.STATE_FILE).read_text())
    return {p["role"]: p["pid"] for p in state["processes"]}


def test_the_session_is_an_nbgrader_course_and_hands_out_the_release(cohort: Path) -> None:
    assert (cohort / "nbgrader_config.py").is_file()
    with Gradebook(f"sqlite:///{cohort / 'gradebook.db'}") as gb:
        assert sorted(s.id for s in gb.students) == sorted(COHORT)
    release = (cohort / "release" / RELEASED).read_bytes()
    source = (REPO / "labs" / LAB_ID / "source.ipynb").read_text()
    assert "BEGIN SOLUTION" in source and b"BEGIN SOLUTION" not in release and PYTHON_STUB.encode() in release
    for trainee, (url, token) in endpoints(cohort).items():
        workspace = cohort / "workspaces" / trainee
        assert (workspace / RELEASED).read_bytes() == release
        assert (workspace / LAB_ID / "lab.yaml").is_file()
        names = {p.name for p in workspace.rglob("*")}
        assert "source.ipynb" not in names and "answer_key.json" not in names
        assert not list(Session.existing(cohort).evidence_dir(trainee).rglob("answer_key.json"))
        # What the trainee opens is the released notebook, through Jupyter itself.
        model = contents(url, token, RELEASED)
        assert model["type"] == "notebook" and "BEGIN SOLUTION" not in json.dumps(model["content"])
        # Jupyter serves nothing above the workspace (the key sits in the course directory).
        for path in (f"api/contents/..%2F..%2Fevidence%2F{trainee}%2Fkey", f"files/..%2F..%2Fevidence%2F{trainee}"
                     "%2Fkey%2Fanswer_key.json", "api/contents/..%2F..%2Fsource"):
            assert http_status(f"{url}{path}", token) in (400, 403, 404), path


def test_each_trainee_has_their_own_live_suspect(cohort: Path) -> None:
    for trainee in COHORT:
        pids = suspect_pids(cohort, trainee)
        exe = os.readlink(f"/proc/{pids['suspect']}/exe")
        assert exe.endswith(" (deleted)"), exe
        expected = traits(suspect_seed(trainee, SECRET))
        assert Path(f"/proc/{pids['suspect']}/comm").read_text().strip() == expected.exe_name
        assert f":{expected.listen_port:04X} ".encode() in Path(f"/proc/{pids['suspect']}/net/tcp").read_bytes()
        # The seed reached the suspect's environment only as the seed: the course secret is nowhere in it.
        assert SECRET.encode() not in Path(f"/proc/{pids['suspect']}/environ").read_bytes()


def test_collect_copies_work_into_nbgrader_layout_and_only_again_when_it_changed(cohort: Path) -> None:
    eps = endpoints(cohort)
    save_notebook(*eps["alice"], RELEASED)
    shutil.rmtree(cohort / "workspaces" / "bob" / LAB_ID)  # bob deleted his lab folder: no work
    try:
        result = ok(run_session("collect", "--session-dir", str(cohort)))
        assert "no work" in result.output
        got = {c.trainee: c for c in Session.existing(cohort).collect()}
        assert {t: c.status for t, c in got.items()} == {"alice": "unchanged", "bob": "no work", "carol": "unchanged"}
        sub = cohort / "submitted" / "alice" / LAB_ID
        cells = json.loads((sub / f"{LAB_ID}.ipynb").read_text())["cells"]
        assert ["".join(c["source"]) for c in cells] == [NOTEBOOK["cells"][0]["source"]]
        manifest = json.loads((sub / MANIFEST).read_text())
        files = hash_tree(sub)
        files.pop(MANIFEST)
        assert files.pop(TIMESTAMP)
        assert manifest["files"] == files and sorted(files) == [f"{LAB_ID}.ipynb", "lab.yaml"]
        assert manifest["source"] == f"{cohort / 'workspaces' / 'alice'}:{LAB_ID}/"
        first = (sub / TIMESTAMP).read_text()
        assert parse_time(first).tzname() == "UTC" and manifest["timestamp"] == first
        # nbgrader itself reads the submission and its timestamp.
        api = course_api(cohort)
        assert api.get_submitted_students(LAB_ID) == {"alice", "carol"}
        assert api.get_submitted_timestamp(LAB_ID, "alice") == parse_time(first).replace(tzinfo=None)
        assert not (cohort / "submitted" / "bob" / LAB_ID).exists()

        # Only what changed is collected again.
        save_notebook(*eps["carol"], RELEASED)
        again = {c.trainee: c for c in Session.existing(cohort).collect()}
        assert {t: c.status for t, c in again.items()} == {"alice": "unchanged", "bob": "no work",
                                                          "carol": "collected"}
        assert again["alice"].timestamp == first == (sub / TIMESTAMP).read_text()
        assert not [p for p in (cohort / "submitted" / "alice").iterdir() if p.name != LAB_ID]  # no temp left
    finally:
        shutil.copytree(cohort / "handout" / LAB_ID, cohort / "workspaces" / "bob" / LAB_ID)


def test_a_trainee_dropped_from_the_roster_is_stopped_and_keeps_their_work(cohort: Path) -> None:
    root = cohort.parent
    before = {r.id: r.backend_state.get("pid") for r in Session.existing(cohort).state.trainees()}
    carol_url, carol_token = endpoints(cohort)["carol"]
    save_notebook(carol_url, carol_token, "carol-notes.ipynb")
    carol_suspect = suspect_pids(cohort, "carol")["suspect"]
    try:
        out = start(cohort, root / "labs" / LAB_ID, write_roster(root / "fewer.csv", "alice", "bob"))
        assert "removed" in out and "workspace kept" in out
        wait_gone(carol_url)
        assert suspect.status(cohort / "labstate" / "carol").state == "stopped"
        assert suspect._starttime(carol_suspect) is None
        assert (cohort / "workspaces" / "carol" / "carol-notes.ipynb").is_file()
        after = {r.id: (r.status, r.backend_state.get("pid")) for r in Session.existing(cohort).state.trainees()}
        assert after["alice"] == ("running", before["alice"]) and after["bob"] == ("running", before["bob"])
        assert after["carol"][0] == "removed"
        assert {h.trainee: h.state for h in Session.existing(cohort).status()}["carol"] == "removed"
    finally:
        out = restart_all(cohort)
    assert "started" in out
    url, token = endpoints(cohort)["carol"]
    assert api_status(url, token) == 200
    assert contents(url, token, "carol-notes.ipynb")["content"]["cells"] == NOTEBOOK["cells"]
    assert suspect.status(cohort / "labstate" / "carol").state == "running"


def test_stop_ends_every_suspect_and_collect_still_works(cohort: Path) -> None:
    pids = {t: suspect_pids(cohort, t) for t in COHORT}
    urls = [u for u, _ in endpoints(cohort).values()]
    try:
        ok(run_session("stop", "--session-dir", str(cohort)))
        for url in urls:
            wait_gone(url)
        for trainee, by_role in pids.items():
            assert suspect.status(cohort / "labstate" / trainee).state == "stopped"
            for pid in by_role.values():
                assert suspect._starttime(pid) is None, f"{trainee}'s suspect {pid} outlived stop"
        assert {c.status for c in Session.existing(cohort).collect()} <= {"collected", "unchanged", "untouched"}
    finally:
        restart_all(cohort)
    for trainee in COHORT:
        assert suspect.status(cohort / "labstate" / trainee).state == "running"
