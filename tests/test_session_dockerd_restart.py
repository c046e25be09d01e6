"""A real dockerd restarted in the middle of a Docker session (issue #5): one clear line while it is down, and
every trainee back where they were once it is up again.

The shared engine (environments/docker/engine.sh) serves the other docker tests, in parallel, so it is never
restarted. This module runs a dockerd of its own: own data and exec roots, socket and config file, and no
iptables rules or forwarding switch, since the DOCKER chains belong to the shared engine (an engine with iptables
flushes them when it starts). Ports published on 127.0.0.1 work without iptables: docker-proxy listens on them.
docker0 is the shared engine's too, and dockerd deletes it in two cases, both avoided here: `--bridge=none`, and
a restart with `--default-address-pool` set. So the private engine's default bridge is an interface of its own,
and its networks come from the built-in pools, where the engine skips subnets the host already routes (the
shared engine's bridges). The trainee image is copied in from the shared engine (`docker save | docker load`),
and dflab is pointed at the private engine by ``DOCKER_HOST``, as an instructor's would be.

It does not join the shared docker xdist group: it only reads the shared engine (one image save), so it may
run beside the docker tests on the other worker rather than after them.

One test, because each step builds on the last: a two-trainee session of a live-suspect lab, alice saves her
notebook, dockerd gets SIGTERM (what systemd or a package upgrade sends) and is started again on the same data
root. The private engine and everything in it are removed afterwards, whatever state a failure left them in.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
import requests

from dflab.evidence.manifest import verify
from dflab.provision.http import api_status
from dflab.session.manager import Session
from tests import docker_fixtures
from tests.livekit import suspect_runs
from tests.test_session_course import RELEASED, live_lab
from tests.test_session_docker import relay
from tests.test_session_docker_course import COHORT, READY_TIMEOUT, assert_suspect_runs, start
from tests.test_session_local import (
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

# The shared, memoised image build (tests/docker_fixtures.py), on the shared engine.
trainee_image = docker_fixtures.trainee_image
# Serialised with the other docker tests: a second engine starting, loading a 1 GiB image and restarting beside
# them (same kernel, cgroups and disk) must not be what makes a neighbour's sandbox or lab miss its time.
pytestmark = pytest.mark.xdist_group(name=docker_fixtures.XDIST_GROUP)

# Beside the shared engine's root; not /tmp, often a tmpfs that would hold the 1 GiB image in memory.
STATE_DIR = Path("/var/tmp")
BRIDGE_ADDRESS = "10.231.255.1/24"  # the private engine's default bridge
ENGINE_TIMEOUT = 60  # seconds for the private dockerd to answer, or to exit after SIGTERM
LOAD_TIMEOUT = 600
BACK_TIMEOUT = 120  # seconds for the labs the engine restarted to answer again


class PrivateDockerd:
    """A dockerd of this module's own on one data root, started and stopped (SIGTERM) at will."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.host = f"unix://{root / 'docker.sock'}"
        self.log = root / "dockerd.log"
        self.bridge = f"dflab-br-{secrets.token_hex(2)}"  # at most 15 characters, as Linux wants
        self.proc: subprocess.Popen[bytes] | None = None
        self._client: docker.DockerClient | None = None
        self.answered = False  # once it has, its data root may hold networks whose bridges only it removes
        # An empty config file: a machine's /etc/docker/daemon.json (hosts, bridge...) must not apply here.
        (root / "daemon.json").write_text("{}\n", encoding="utf-8")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def client(self) -> docker.DockerClient:
        assert self._client is not None and self.running, "the private dockerd is not running"
        return self._client

    def start(self) -> docker.DockerClient:
        """Start dockerd and wait until it answers; fail the test with its log when it cannot start."""
        if shutil.which("dockerd") is None:
            pytest.fail("dockerd is not installed (environments/docker/engine.sh start installs docker.io)")
        if not Path("/sys/class/net", self.bridge).exists():  # dockerd wants a named bridge to exist
            for ip in (["link", "add", self.bridge, "type", "bridge"],
                       ["addr", "add", BRIDGE_ADDRESS, "dev", self.bridge], ["link", "set", self.bridge, "up"]):
                subprocess.run(["ip", *ip], check=True, capture_output=True)
        cmd = ["dockerd", "--config-file", str(self.root / "daemon.json"), "-H", self.host,
               "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
               "--pidfile", str(self.root / "dockerd.pid"), f"--bridge={self.bridge}", "--iptables=false",
               "--ip6tables=false", "--ip-forward=false"]
        shared_bridge = Path("/sys/class/net/docker0").exists()
        with self.log.open("ab") as log:
            # A session of its own: a Ctrl-C meant for pytest must not reach dockerd half-way through a test.
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + ENGINE_TIMEOUT
        while True:
            try:
                client = docker.DockerClient(base_url=self.host, timeout=120)
                client.ping()
                self._client = client
                self.answered = True
                # Loud, since nothing here can undo it: the shared engine's containers lose their network.
                assert Path("/sys/class/net/docker0").exists() or not shared_bridge, \
                    "the private dockerd deleted the shared engine's docker0 bridge"
                return client
            except (docker.errors.DockerException, requests.exceptions.RequestException):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    state = "did not answer in time" if self.proc.poll() is None else f"exited ({self.proc.poll()})"
                    pytest.fail(f"the private dockerd {state}; last log lines:\n{self.log_tail()}")
                time.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM and wait for dockerd to exit (it stops its containers first)."""
        if not self.running:
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=ENGINE_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the private dockerd ignored SIGTERM for {ENGINE_TIMEOUT}s:\n{self.log_tail()}")
        self._client = None

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    def remove(self) -> None:
        """Remove everything the engine holds (so no bridge outlives it), stop it and delete its root."""
        try:
            if self.answered:
                if not self.running:
                    self.start()  # a failure left it down; its networks' bridges go only through it
                client = self.client
                for container in client.containers.list(all=True):
                    container.remove(force=True)
                for volume in client.volumes.list():
                    volume.remove(force=True)
                client.networks.prune()
        finally:
            if self.running:
                assert self.proc is not None
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=ENGINE_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            # dockerd leaves some mounts under its roots (as engine.sh stop knows); deepest first.
            with open("/proc/mounts", encoding="utf-8") as fh:
                mounts = [line.split()[1] for line in fh if line.split()[1].startswith(f"{self.root}/")]
            for mount in sorted(mounts, reverse=True):
                subprocess.run(["umount", "-l", mount], check=False)
            subprocess.run(["ip", "link", "delete", self.bridge], check=False, capture_output=True)
            shutil.rmtree(self.root)


def copy_image(image: str, host: str) -> None:
    """``docker save`` from the shared engine into ``docker load`` on the private one."""
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert save.stdout is not None
    load = subprocess.run(["docker", "-H", host, "load"], stdin=save.stdout, capture_output=True,
                          timeout=LOAD_TIMEOUT, check=False)
    save.stdout.close()
    _, save_err = save.communicate(timeout=LOAD_TIMEOUT)
    if save.returncode != 0 or load.returncode != 0:
        pytest.fail(f"copying {image} into the private engine failed: save exit {save.returncode} "
                    f"{save_err.decode(errors='replace')}; load exit {load.returncode} "
                    f"{load.stderr.decode(errors='replace')}")


@pytest.fixture(scope="module")
def dockerd(trainee_image: str) -> Iterator[PrivateDockerd]:
    """A running private dockerd holding the trainee image, with DOCKER_HOST pointing at it."""
    engine = PrivateDockerd(Path(tempfile.mkdtemp(prefix="dflab-dockerd-", dir=STATE_DIR)))
    try:
        engine.start()
        t0 = time.monotonic()
        copy_image(trainee_image, engine.host)
        print(f"\ntrainee image copied into the private engine in {time.monotonic() - t0:.1f}s")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DOCKER_HOST", engine.host)
            yield engine
    finally:
        engine.remove()


def dflab(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `dflab` entry point in a process of its own: what an instructor sees, exit code included."""
    return subprocess.run([sys.executable, "-m", "dflab.cli", *args], capture_output=True, text=True, timeout=120,
                          check=False)


def assert_one_clear_line(proc: subprocess.CompletedProcess[str], command: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr + proc.stdout, f"{command}: {proc.stderr}"
    assert len(lines) == 1 and lines[0].startswith("dflab: error: docker backend: no Docker engine answers"), \
        f"{command}: {proc.stderr}"


def wait_answering(links: dict[str, tuple[str, str]]) -> None:
    deadline = time.monotonic() + BACK_TIMEOUT
    for trainee, (url, token) in links.items():
        while api_status(url, token) != 200:
            assert time.monotonic() < deadline, f"{trainee}'s lab does not answer {url} after the engine restart"
            time.sleep(0.5)


def test_a_dockerd_restart_mid_session_loses_nothing(dockerd: PrivateDockerd, trainee_image: str,
                                                     tmp_path: Path, request: pytest.FixtureRequest) -> None:
    engine = dockerd.client
    # An engine that ran other containers has moved its port allocator on, and a restarted one starts it
    # over: a neighbour that published a port and is gone makes this engine such an engine.
    neighbour = engine.containers.run(trainee_image, ["true"], ports={"9/tcp": ("127.0.0.1", None)}, detach=True)
    neighbour.wait(timeout=60)
    neighbour.remove()

    session_dir = tmp_path / "session"
    request.addfinalizer(lambda: docker_fixtures.unmount_workspaces(session_dir))
    live_lab(tmp_path)
    roster = write_roster(tmp_path / "roster.csv", *COHORT)
    start(session_dir, roster, trainee_image)
    links = endpoints(session_dir)
    url, token = links["alice"]
    save_notebook(url, token, RELEASED)
    session = Session.existing(session_dir)
    label = {"label": f"dflab.session={session.state.get_meta('session_id')}"}
    containers = {c.name: c.id for c in engine.containers.list(filters=label)}
    assert len(containers) == len(COHORT) + 1  # the labs and the session's relay
    ports = relay(engine, session_dir).ports
    evidence = {row.id: row.manifest_sha256 for row in session.state.trainees()}
    links_csv = access_list(session_dir)

    dockerd.stop()
    for lab_url, _ in links.values():
        wait_gone(lab_url)
    # While the engine is down every command says so in one line and fails; nothing is recorded as lost.
    assert_one_clear_line(dflab("session", "status", "--session-dir", str(session_dir)), "status")
    assert_one_clear_line(dflab("session", "start", "--lab", str(tmp_path / "labs" / "02-disk"), "--roster",
                                str(roster), "--session-dir", str(session_dir), "--backend", "docker", "--image",
                                trainee_image, "--secret", SECRET, "--timeout", READY_TIMEOUT), "start")
    assert_one_clear_line(dflab("session", "restart", "alice", "--session-dir", str(session_dir)), "restart")
    assert {row.id: row.status for row in session.state.trainees()} == dict.fromkeys(COHORT, "running")
    assert access_list(session_dir) == links_csv

    engine = dockerd.start()
    # The engine brings back the same containers (restart policy unless-stopped), relay included, and the
    # relay on the same host ports: every link handed out works again without anyone running dflab.
    assert {c.name: c.id for c in engine.containers.list(filters=label)} == containers
    assert relay(engine, session_dir).ports == ports
    wait_answering(links)
    assert saved_cell(url, token, RELEASED) == NOTEBOOK["cells"][0]["source"]
    ok(run_session("status", "--session-dir", str(session_dir)))
    assert {h.trainee: h.state for h in session.status()} == dict.fromkeys(COHORT, "running")

    # The labs' processes did not survive, so neither did the live suspects; `start` runs them again and
    # keeps everything else: same containers, links and access list.
    assert not any(suspect_runs(session, row.id) for row in session.state.trainees())
    assert start(session_dir, roster, trainee_image).count(" kept ") == len(COHORT)
    for trainee in COHORT:
        assert_suspect_runs(engine.containers.get(f"dflab-{session.state.get_meta('session_id')}-{trainee}"),
                            trainee)
    assert {c.name: c.id for c in engine.containers.list(all=True, filters=label)} == containers
    assert endpoints(session_dir) == links and access_list(session_dir) == links_csv

    # A trainee restarted on purpose gets a new container on the same link, with their work.
    ok(run_session("restart", "alice", "--session-dir", str(session_dir), "--timeout", READY_TIMEOUT))
    assert endpoints(session_dir) == links
    assert saved_cell(url, token, RELEASED) == NOTEBOOK["cells"][0]["source"]
    assert len(engine.containers.list(all=True, filters=label)) == len(COHORT) + 1

    for row in session.state.trainees():
        assert verify(session.evidence_dir(row.id)) == [], row.id
        manifest = session.evidence_dir(row.id) / "manifest.json"
        assert evidence[row.id] is not None
        assert hashlib.sha256(manifest.read_bytes()).hexdigest() == evidence[row.id], row.id
    ok(run_session("stop", "--session-dir", str(session_dir)))
    assert not any(os.path.ismount(p) for p in (session_dir / "workspaces").iterdir())  # stopped labs hold no mount
