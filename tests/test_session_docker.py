"""`dflab session` with the Docker backend, on a real engine: a cohort of three confined labs.

The image comes from the shared fixture (tests/docker_fixtures.py), which fails, never skips, when
the engine or the image cannot be made. The tests share one module-wide cohort (alice, bob, carol),
like a session in a training room: confinement is checked from inside, one trainee misbehaves while a
neighbour keeps working, a container is killed and restarted, the session is stopped and started.
Each test leaves the cohort running, so they hold in any order and on any xdist worker (a worker
running some of them starts its own cohort); purging gets a session of its own. Everything the
module created is removed in its finalizers.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from click.testing import Result
from docker.models.containers import Container

from dflab.engine import TIMEOUT_ENV
from dflab.errors import DflabError
from dflab.evidence.manifest import verify
from dflab.provision.http import api_status
from dflab.session.manager import Session
from tests import docker_fixtures
from tests.engine_proxy import stalling_engine
from tests.test_session_local import (
    LAB,
    NOTEBOOK,
    SECRET,
    access_list,
    endpoints,
    ok,
    run_session,
    save_notebook,
    saved_cell,
    wait_gone,
    write_roster,
)

pytestmark = pytest.mark.xdist_group(name=docker_fixtures.XDIST_GROUP)

# The shared, memoised image build (tests/docker_fixtures.py).
trainee_image = docker_fixtures.trainee_image

COHORT = ("alice", "bob", "carol")
READY_TIMEOUT = "180"
EXEC_TIMEOUT = 60


@pytest.fixture(scope="module")
def engine() -> docker.DockerClient:
    return docker.from_env(timeout=120)


@pytest.fixture(scope="module")
def cohort(trainee_image: str, engine: docker.DockerClient,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A started Docker session of three trainees; every container, volume and network removed afterwards."""
    root = tmp_path_factory.mktemp("docker-session")
    session_dir = root / "session"
    roster = write_roster(root / "roster.csv", *COHORT)
    try:
        t0 = time.monotonic()
        ok(start(session_dir, roster, trainee_image))
        # Measured for the report, never asserted (timings depend on the machine).
        print(f"\ncohort of {len(COHORT)} ready (evidence included) in {time.monotonic() - t0:.1f}s")
        yield session_dir
    finally:
        tear_down(engine, session_dir)


def start(session_dir: Path, roster: Path, image: str) -> Result:
    return run_session("start", "--lab", str(LAB), "--roster", str(roster), "--session-dir", str(session_dir),
                       "--backend", "docker", "--image", image, "--secret", SECRET, "--timeout", READY_TIMEOUT)


def remove_everything(engine: docker.DockerClient, session_id: str) -> None:
    """Remove whatever a session left on the engine, whatever state a failed test left it in."""
    label = f"dflab.session={session_id}"
    for container in engine.containers.list(all=True, filters={"label": label}):
        container.remove(force=True)
    for volume in engine.volumes.list(filters={"label": label}):
        volume.remove(force=True)
    for network in engine.networks.list(filters={"label": label}):
        network.remove()


def tear_down(engine: docker.DockerClient, session_dir: Path) -> None:
    """What a test's session leaves, gone: `stop --purge`, then whatever a failure left on the engine and mounted."""
    run_session("stop", "--purge", "--session-dir", str(session_dir))
    with contextlib.suppress(DflabError):
        remove_everything(engine, Session.existing(session_dir).state.get_meta("session_id") or "")
    docker_fixtures.unmount_workspaces(session_dir)


def lab(engine: docker.DockerClient, session_dir: Path, trainee: str) -> Container:
    session_id = Session.existing(session_dir).state.get_meta("session_id")
    return engine.containers.get(f"dflab-{session_id}-{trainee}")


def relay(engine: docker.DockerClient, session_dir: Path) -> Container:
    """The session's relay container (one per session, a port per trainee)."""
    session_id = Session.existing(session_dir).state.get_meta("session_id")
    return engine.containers.get(f"dflab-{session_id}-relay")


def sh(container: Container, script: str) -> tuple[int, str]:
    """Run ``script`` in the container as its own user (uid 1000), bounded; exit code and combined output."""
    result = container.exec_run(["timeout", str(EXEC_TIMEOUT), "sh", "-c", script])
    return result.exit_code, result.output.decode(errors="replace")


def test_cohort_of_three_answers_only_with_their_own_token(cohort: Path) -> None:
    eps = endpoints(cohort)
    assert sorted(eps) == sorted(COHORT)
    assert len({u for u, _ in eps.values()}) == 3 and len({k for _, k in eps.values()}) == 3
    for trainee, (url, token) in eps.items():
        assert url.startswith("http://127.0.0.1:")
        assert api_status(url, token) == 200, trainee
        assert api_status(url, None) == 403, trainee
        for other, (_, other_token) in eps.items():
            if other != trainee:
                assert api_status(url, other_token) == 403, f"{other}'s token opens {trainee}'s lab"
    assert access_list(cohort) == {t: f"{u}lab?token={k}" for t, (u, k) in eps.items()}


def test_a_lab_is_confined(cohort: Path, engine: docker.DockerClient) -> None:
    container = lab(engine, cohort, "alice")
    code, out = sh(container, "id -u; grep -E \"^(CapEff|CapPrm|NoNewPrivs):\" /proc/self/status; ls /sys/class/net; "
                              "tail -n +2 /proc/net/route | wc -l")
    assert code == 0, out
    assert out.split() == ["1000", "CapPrm:", "0000000000000000", "CapEff:", "0000000000000000",
                           "NoNewPrivs:", "1", "lo", "0"]
    # No route out: a connect to a public address fails at once, no packet leaves.
    code, out = sh(container, 'python -c "import socket\ns = socket.socket()\ntry:\n    s.connect((\'1.1.1.1\', 53))'
                              '\nexcept OSError as e:\n    print(e.errno)\nelse:\n    print(0)"')
    assert (code, out.strip()) == (0, str(errno.ENETUNREACH))
    # Evidence and root file system are read-only; the workspace is not.
    code, out = sh(container, "cat /evidence/manifest.json >/dev/null && echo readable; "
                              "touch /evidence/disk.img 2>/dev/null || echo evidence-read-only; "
                              "touch /evidence/new 2>/dev/null || echo no-new-evidence; "
                              "touch /usr/new 2>/dev/null || echo root-read-only; "
                              "touch /home/trainee/work/probe && echo work-writable")
    assert out.split() == ["readable", "evidence-read-only", "no-new-evidence", "root-read-only", "work-writable"]
    host = container.attrs["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges"]
    assert host["ReadonlyRootfs"] is True and host["PidsLimit"] == 512
    assert host["Memory"] == host["MemorySwap"] == 2**30 and host["NanoCpus"] == 10**9
    # The only way in is the session relay's port for this trainee, published on the host's loopback only.
    relay_host = relay(engine, cohort).attrs["HostConfig"]
    assert {b["HostIp"] for bindings in relay_host["PortBindings"].values() for b in bindings} == {"127.0.0.1"}
    assert len(relay_host["PortBindings"]) == len(endpoints(cohort))
    assert relay_host["CapDrop"] == ["ALL"] and relay_host["ReadonlyRootfs"] is True
    assert relay_host["SecurityOpt"] == ["no-new-privileges"]
    assert relay(engine, cohort).attrs["Config"]["User"] == "1000:1000"


def test_a_killed_container_comes_back_with_the_saved_notebook(cohort: Path, engine: docker.DockerClient) -> None:
    url, token = endpoints(cohort)["carol"]
    save_notebook(url, token, "carol-findings.ipynb")
    lab(engine, cohort, "carol").kill()
    deadline = time.monotonic() + 30
    while api_status(url, token) == 200:
        assert time.monotonic() < deadline, "killed lab still answers"
        time.sleep(0.2)

    ok(run_session("status", "--session-dir", str(cohort)))
    assert {h.trainee: h.state for h in Session.existing(cohort).status()}["carol"] == "dead"
    ok(run_session("restart", "carol", "--session-dir", str(cohort), "--timeout", READY_TIMEOUT))
    assert endpoints(cohort)["carol"] == (url, token)
    assert api_status(url, token) == 200
    assert saved_cell(url, token, "carol-findings.ipynb") == NOTEBOOK["cells"][0]["source"]


FORK_BOMB = """
import os, time
while True:
    try:
        if os.fork() == 0:
            time.sleep(3600)
            os._exit(0)
    except OSError:
        time.sleep(0.01)
"""


def test_a_memory_hog_and_a_fork_bomb_are_contained(cohort: Path, engine: docker.DockerClient) -> None:
    eps = endpoints(cohort)
    neighbour_url, neighbour_token = eps["alice"]
    bob = lab(engine, cohort, "bob")

    # 3 GiB against a 1 GiB limit (swap included): the kernel kills the hog inside bob's cgroup.
    code, out = sh(bob, 'python -c "x = b\'x\' * (3 * 2**30)"; echo exit=$?')
    assert "exit=137" in out, out
    assert api_status(neighbour_url, neighbour_token) == 200

    # A fork bomb whose children never exit: it fills the container's pid budget and stays there
    # (a classic `b(){ b|b& }` bomb can die out by itself once forks start failing, which proves nothing).
    bob.exec_run(["python", "-c", FORK_BOMB], detach=True)
    deadline = time.monotonic() + 60
    pids = 0
    while time.monotonic() < deadline:
        pids = bob.stats(stream=False)["pids_stats"].get("current", 0)
        if pids >= 400:
            break
        time.sleep(0.5)
    assert pids >= 400, f"the fork bomb did not run ({pids} pids)"
    for _ in range(5):
        assert bob.stats(stream=False)["pids_stats"]["current"] <= 512
        assert api_status(neighbour_url, neighbour_token) == 200
        time.sleep(0.5)
    # The misbehaving trainee gets a clean lab back with `restart`.
    ok(run_session("restart", "bob", "--session-dir", str(cohort), "--timeout", READY_TIMEOUT))
    assert api_status(*endpoints(cohort)["bob"]) == 200
    assert api_status(neighbour_url, neighbour_token) == 200


def test_status_reports_cpu_and_memory(cohort: Path) -> None:
    result = ok(run_session("status", "--session-dir", str(cohort)))
    assert "MiB" in result.output
    health = Session.existing(cohort).status()
    assert [h.state for h in health] == ["running"] * 3
    for h in health:
        assert h.stats is not None and 20 * 2**20 < h.stats.memory_bytes < 2**30


def test_stop_then_start_keeps_workspaces_and_a_port_clash_is_one_line(
    cohort: Path, engine: docker.DockerClient, trainee_image: str
) -> None:
    url, token = endpoints(cohort)["alice"]
    save_notebook(url, token, "alice-findings.ipynb")
    session_id = Session.existing(cohort).state.get_meta("session_id")
    ok(run_session("stop", "--session-dir", str(cohort)))
    wait_gone(url)
    assert engine.containers.list(all=True, filters={"label": f"dflab.session={session_id}"}) == []
    assert len(engine.volumes.list(filters={"label": f"dflab.session={session_id}"})) == 3

    # Someone else took alice's port meanwhile: her start fails in one line, the others start.
    port = int(url.rsplit(":", 1)[1].rstrip("/"))
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", port))
    squatter.listen()
    try:
        result = start(cohort, cohort.parent / "roster.csv", trainee_image)
    finally:
        squatter.close()
    assert isinstance(result.exception, DflabError)
    assert f"alice: port {port} on 127.0.0.1 is already in use" in str(result.exception)
    assert sorted(access_list(cohort)) == ["bob", "carol"]

    ok(start(cohort, cohort.parent / "roster.csv", trainee_image))
    assert endpoints(cohort)["alice"] == (url, token)
    assert api_status(url, token) == 200
    assert saved_cell(url, token, "alice-findings.ipynb") == NOTEBOOK["cells"][0]["source"]


def test_evidence_is_unchanged_after_the_session(cohort: Path) -> None:
    s = Session.existing(cohort)
    for row in s.state.trainees():
        evidence = s.evidence_dir(row.id)
        assert verify(evidence) == [], row.id
        assert hashlib.sha256((evidence / "manifest.json").read_bytes()).hexdigest() == row.manifest_sha256


def test_stop_purge_removes_containers_volumes_and_network(
    trainee_image: str, engine: docker.DockerClient, tmp_path: Path
) -> None:
    # A session of its own: purging the shared cohort would break tests that run after this one.
    session_dir = tmp_path / "session"
    try:
        ok(start(session_dir, write_roster(tmp_path / "roster.csv", "dave"), trainee_image))
        url, token = endpoints(session_dir)["dave"]
        save_notebook(url, token, "dave.ipynb")
        session_id = Session.existing(session_dir).state.get_meta("session_id")
        label = {"label": f"dflab.session={session_id}"}
        assert len(engine.volumes.list(filters=label)) == 1
        ok(run_session("stop", "--purge", "--session-dir", str(session_dir)))
        assert engine.containers.list(all=True, filters=label) == []
        assert engine.volumes.list(filters=label) == []
        assert engine.networks.list(filters=label) == []
        assert access_list(session_dir) == {}
        # A new start gets a fresh, seeded workspace: the purged work is gone.
        ok(start(session_dir, tmp_path / "roster.csv", trainee_image))
        url, token = endpoints(session_dir)["dave"]
        assert api_status(url, token) == 200
        with pytest.raises(AssertionError, match="not in the workspace"):
            saved_cell(url, token, "dave.ipynb")
    finally:
        tear_down(engine, session_dir)


def test_a_busy_engine_is_one_line_naming_the_trainee(cohort: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """status and collect, with every read of bob's lab stalled: one line naming bob, nothing half-written."""
    monkeypatch.setenv(TIMEOUT_ENV, "3")
    before = _files(cohort / "submitted")
    with stalling_engine(tmp_path, lambda method, path: method == "GET" and "-bob" in path) as proxy:
        monkeypatch.setenv("DOCKER_HOST", proxy.url)
        for command in ("status", "collect"):
            result = run_session(command, "--session-dir", str(cohort))
            assert result.exit_code != 0 and isinstance(result.exception, DflabError), result.output
            message = str(result.exception)
            assert message.startswith("bob: the Docker engine did not answer within 3 s"), message
            assert TIMEOUT_ENV in message
    monkeypatch.delenv("DOCKER_HOST")
    bobs = {p for p in _files(cohort / "submitted") if p.parts[0] == "bob"}
    assert bobs == {p for p in before if p.parts[0] == "bob"}
    ok(run_session("status", "--session-dir", str(cohort)))  # the engine was never the problem


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def test_no_engine_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    result = start(tmp_path / "session", write_roster(tmp_path / "roster.csv", "alice"), "dflab/trainee:test")
    assert isinstance(result.exception, DflabError)
    assert "no Docker engine answers" in str(result.exception)
    assert "engine.sh start" in str(result.exception)


def test_a_missing_image_is_one_clear_line(tmp_path: Path, trainee_image: str) -> None:
    result = start(tmp_path / "session", write_roster(tmp_path / "roster.csv", "alice"), "dflab/absent:none")
    assert isinstance(result.exception, DflabError)
    assert "image dflab/absent:none is not on the Docker engine" in str(result.exception)
