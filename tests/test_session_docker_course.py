"""Docker sessions as nbgrader courses, on a real engine: the release handed out, lab 01's suspect in each
container, collect from volumes, roster removals, and containers lost behind the CLI's back.

A dockerd restart itself is exercised on a private engine of its own (test_session_dockerd_restart.py):
other test modules share this machine's engine. The equivalent faults here are a lab container removed
and the session's relay removed; the containers' ``unless-stopped`` restart policy, checked below, is what
brings labs back after an engine restart.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container

from dflab.errors import DflabError
from dflab.live.traits import suspect_seed, traits
from dflab.provision.http import api_status
from dflab.session.collect import MANIFEST
from dflab.session.manager import Session
from tests import docker_fixtures
from tests.livekit import lab01_hooks
from tests.test_session_course import LAB_ID, RELEASED, live_lab
from tests.test_session_docker import lab, relay, sh, tear_down
from tests.test_session_local import (
    NOTEBOOK,
    SECRET,
    endpoints,
    ok,
    run_session,
    save_notebook,
    saved_cell,
    write_roster,
)

pytestmark = pytest.mark.xdist_group(name=docker_fixtures.XDIST_GROUP)

trainee_image = docker_fixtures.trainee_image

COHORT = ("alice", "bob")
READY_TIMEOUT = "180"
SUSPECT_STATE = "/home/trainee/.cache/xdg-sync/live-suspect.json"


@pytest.fixture(scope="module")
def engine() -> docker.DockerClient:
    return docker.from_env(timeout=120)


def start(session_dir: Path, roster: Path, image: str) -> str:
    return ok(run_session("start", "--lab", str(session_dir.parent / "labs" / LAB_ID), "--roster", str(roster),
                          "--session-dir", str(session_dir), "--backend", "docker", "--image", image,
                          "--secret", SECRET, "--timeout", READY_TIMEOUT)).output


@pytest.fixture(scope="module")
def cohort(trainee_image: str, engine: docker.DockerClient,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("docker-course")
    session_dir = root / "session"
    live_lab(root)
    try:
        start(session_dir, write_roster(root / "roster.csv", *COHORT), trainee_image)
        yield session_dir
    finally:
        tear_down(engine, session_dir)


def restart_all(session_dir: Path, image: str) -> str:
    return start(session_dir, write_roster(session_dir.parent / "roster.csv", *COHORT), image)


def suspect_pid(container: Container) -> int:
    code, out = sh(container, f"cat {SUSPECT_STATE}")
    assert code == 0, out
    return next(p["pid"] for p in json.loads(out)["processes"] if p["role"] == "suspect")


def host_pid(container: Container, name: str) -> int:
    """The host pid of the container's process named ``name`` (the engine's `docker top`)."""
    top = container.top()
    pid, cmd = top["Titles"].index("PID"), top["Titles"].index("CMD")
    found = [int(row[pid]) for row in top["Processes"] if row[cmd].split()[0] == name]
    assert len(found) == 1, top
    return found[0]


def assert_suspect_runs(container: Container, trainee: str) -> None:
    pid = suspect_pid(container)
    code, out = sh(container, f"readlink /proc/{pid}/exe; cat /proc/{pid}/comm; stat -c %u /proc/{pid}")
    exe, comm, uid = out.splitlines()
    assert code == 0 and exe.endswith(" (deleted)"), out
    assert comm == traits(suspect_seed(trainee, SECRET)).exe_name and uid == "1000"


def test_containers_get_the_release_and_never_the_key(cohort: Path, engine: docker.DockerClient) -> None:
    release = hashlib.sha256((cohort / "release" / RELEASED).read_bytes()).hexdigest()
    for trainee in COHORT:
        container = lab(engine, cohort, trainee)
        code, out = sh(container, f"sha256sum /home/trainee/work/{RELEASED}; "
                                  # /opt holds nbgrader's own test fixtures, /proc and /sys no files.
                                  "find / \\( -path /proc -o -path /sys -o -path /opt \\) -prune -o \\( "
                                  "-name answer_key.json -o -name source.ipynb -o -name gradebook.db -o -name "
                                  "nbgrader_config.py -o -name 'dflab-course*' \\) -print 2>/dev/null; "
                                  "ls /evidence /srv/lab")
        assert code in (0, 1) and out.split()[0] == release, out
        assert "answer_key" not in out and "source.ipynb" not in out and "gradebook" not in out, out
        # Only the seed ever entered the container, and only in a command's environment, not the lab's.
        env = " ".join(container.attrs["Config"]["Env"])
        assert "DFLAB_LIVE_SEED" not in env and SECRET not in env
        assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        assert relay(engine, cohort).attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"


def test_each_container_runs_its_trainees_suspect(cohort: Path, engine: docker.DockerClient) -> None:
    for trainee in COHORT:
        assert_suspect_runs(lab(engine, cohort, trainee), trainee)


def test_collect_reads_the_volumes_running_or_not(cohort: Path, engine: docker.DockerClient,
                                                  trainee_image: str) -> None:
    url, token = endpoints(cohort)["alice"]
    save_notebook(url, token, RELEASED)
    results = {c.trainee: c.status for c in Session.existing(cohort).collect()}
    assert results["alice"] in ("collected", "unchanged")
    assert results["bob"] in ("collected", "unchanged", "untouched")  # bob never saved: the release as handed out
    sub = cohort / "submitted" / "alice" / LAB_ID
    cells = json.loads((sub / f"{LAB_ID}.ipynb").read_text())["cells"]
    assert ["".join(c["source"]) for c in cells] == [NOTEBOOK["cells"][0]["source"]]
    session_id = Session.existing(cohort).state.get_meta("session_id")
    source = json.loads((sub / MANIFEST).read_text())["source"]
    assert source == f"docker volume dflab-{session_id}-alice-work:{LAB_ID}/"
    host_pids = {t: host_pid(lab(engine, cohort, t), traits(suspect_seed(t, SECRET)).exe_name) for t in COHORT}
    ok(run_session("stop", "--session-dir", str(cohort)))
    try:
        for trainee, pid in host_pids.items():
            assert not Path(f"/proc/{pid}").exists(), f"{trainee}'s suspect outlived `session stop`"
        # After stop the containers are gone, the volumes are not.
        assert {c.trainee: c.status for c in Session.existing(cohort).collect()} == \
            {"alice": "unchanged", "bob": "unchanged"}
    finally:
        restart_all(cohort, trainee_image)


def test_a_removed_lab_container_comes_back_with_work_and_suspect(cohort: Path, engine: docker.DockerClient) -> None:
    url, token = endpoints(cohort)["bob"]
    save_notebook(url, token, "bob-notes.ipynb")
    lab(engine, cohort, "bob").remove(force=True)
    assert {h.trainee: h.state for h in Session.existing(cohort).status()} == {"alice": "running", "bob": "dead"}
    ok(run_session("restart", "bob", "--session-dir", str(cohort), "--timeout", READY_TIMEOUT))
    assert endpoints(cohort)["bob"] == (url, token)
    assert saved_cell(url, token, "bob-notes.ipynb") == NOTEBOOK["cells"][0]["source"]
    assert_suspect_runs(lab(engine, cohort, "bob"), "bob")


def test_a_removed_relay_is_reported_and_start_brings_it_back_on_the_same_ports(
        cohort: Path, engine: docker.DockerClient, trainee_image: str) -> None:
    links = endpoints(cohort)
    labs_before = {t: lab(engine, cohort, t).id for t in COHORT}
    relay(engine, cohort).remove(force=True)
    deadline = time.monotonic() + 30
    while any(api_status(url, token) == 200 for url, token in links.values()):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # The labs still run (nobody's work is touched); `status` says the shared part is gone, and fails.
    assert {h.trainee: h.state for h in Session.existing(cohort).status()} == {t: "running" for t in COHORT}
    result = run_session("status", "--session-dir", str(cohort))
    assert isinstance(result.exception, DflabError), result.output
    assert "relay" in str(result.exception) and "dflab session start" in str(result.exception)
    out = restart_all(cohort, trainee_image)
    assert "kept" in out
    assert endpoints(cohort) == links  # every trainee's link works again, unchanged
    assert all(api_status(url, token) == 200 for url, token in links.values())
    assert {t: lab(engine, cohort, t).id for t in COHORT} == labs_before
    ok(run_session("status", "--session-dir", str(cohort)))


def test_a_stopped_suspect_is_started_again_by_start(cohort: Path, engine: docker.DockerClient,
                                                     trainee_image: str) -> None:
    # What a container restarted by the engine looks like: the lab runs, its suspect does not.
    container = lab(engine, cohort, "alice")
    result = container.exec_run(["python", "-c", lab01_hooks().LIVE_CLI, "stop"], user="trainee")
    assert result.exit_code == 0, result.output
    out = restart_all(cohort, trainee_image)
    assert "kept" in out
    assert_suspect_runs(container, "alice")


def test_a_dropped_trainee_is_stopped_and_keeps_the_volume(cohort: Path, engine: docker.DockerClient,
                                                           trainee_image: str) -> None:
    url, token = endpoints(cohort)["bob"]
    save_notebook(url, token, "bob-dropped.ipynb")
    session_id = Session.existing(cohort).state.get_meta("session_id")
    try:
        out = start(cohort, write_roster(cohort.parent / "only-alice.csv", "alice"), trainee_image)
        assert "removed" in out and "workspace kept" in out
        names = {c.name for c in engine.containers.list(all=True, filters={"label": f"dflab.session={session_id}"})}
        assert names == {f"dflab-{session_id}-alice", f"dflab-{session_id}-relay"}
        # The relay now serves alice only; bob's port is closed.
        assert relay(engine, cohort).labels["dflab.relay.trainees"] == "alice"
        assert api_status(url, token) is None
        engine.volumes.get(f"dflab-{session_id}-bob-work")
    finally:
        restart_all(cohort, trainee_image)
    assert saved_cell(url, token, "bob-dropped.ipynb") == NOTEBOOK["cells"][0]["source"]
    assert_suspect_runs(lab(engine, cohort, "bob"), "bob")
