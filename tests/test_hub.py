"""JupyterHub + DockerSpawner from `dflab hub config`, for real: hub, configurable-http-proxy, a trainee's lab.

One module-wide hub (as in a training room): `dflab course init` builds two trainees' evidence and the
released notebook, `dflab hub config` writes the hub's config, and JupyterHub runs it with the proxy
from .venv/bin on free loopback ports. The trainee logs in with their access code, the instructor's
service token spawns their lab from the shared test image, and the lab is reached *through the
proxy*, and the other trainee's token does not open it. Confinement is checked from inside the spawned
container. A hub or proxy that does not come
up fails the test with the hub's log; nothing skips. Every docker object carries the label
dflab.hub=<this run's hub name> and is removed afterwards by `dflab hub purge`.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import requests
from click.testing import CliRunner
from docker.models.containers import Container

from dflab.cli import cli
from dflab.evidence.manifest import verify
from dflab.hub.config import INSTRUCTOR_TOKEN_FILE
from dflab.provision.workspace_disk import SIZE_ENV
from tests import docker_fixtures

pytestmark = pytest.mark.xdist_group(name=docker_fixtures.XDIST_GROUP)

trainee_image = docker_fixtures.trainee_image

TRAINEE = "alice"
OTHER = "bob"  # on the roster, never spawned: their token must not open alice's lab
LAB = "02-disk"
HUB_START_TIMEOUT = 90.0
SPAWN_TIMEOUT = 300.0  # beyond the hub's own http_timeout (180 s), so the hub's verdict is what fails
HTTP_TIMEOUT = 30
WORKSPACE_MIB = 64


@dataclass
class Hub:
    name: str
    url: str  # the proxy's public URL
    state: Path
    course: Path
    log: Path
    token: str  # the instructor service's API token

    def api(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return requests.request(method, f"{self.url}/hub/api{path}", timeout=HTTP_TIMEOUT,
                                headers={"Authorization": f"token {self.token}"}, **kwargs)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else "(no hub log)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def wait_for(what: str, hub: Hub, probe: Callable[[], object], timeout: float,
             proc: subprocess.Popen[bytes] | None = None) -> object:
    """Poll ``probe`` until it returns something truthy; fail with the hub's log on timeout or hub exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the hub exited ({proc.returncode}) while waiting for {what}; hub log:\n{hub.log_tail()}")
        with contextlib.suppress(requests.ConnectionError):
            if found := probe():
                return found
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; hub log:\n{hub.log_tail()}")


@contextlib.contextmanager
def serving(h: Hub, env: dict[str, str], what: str, ready: Callable[[], bool],
            timeout: float = HUB_START_TIMEOUT) -> Iterator[Hub]:
    """``jupyterhub`` on the config `dflab hub config` rendered into ``h.state``, until ``ready()`` says ``what`` is
    up; then SIGTERM (the hub stops the labs it spawned, its services and the proxy it started) and
    `dflab hub purge`."""
    with open(h.log, "wb") as log:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "jupyterhub"), "-f",
                                 str(h.state / "jupyterhub_config.py")], cwd=h.state, stdout=log,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_for(what, h, ready, timeout, proc)
        yield h
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        invoke("hub", "purge", "--name", h.name)


@contextlib.contextmanager
def running_hub(trainee_image: str, root: Path, roster_text: str) -> Iterator[Hub]:
    """A real JupyterHub from `dflab course init` + `dflab hub config` on ``roster_text``, stopped and purged after
    (every container, volume and network of it gone: asserted)."""
    roster = root / "roster.csv"
    roster.write_text(roster_text, encoding="utf-8")
    course, state = root / "course", root / "state"
    invoke("course", "init", str(course), "--roster", str(roster), "--lab", LAB)
    name = f"t{secrets.token_hex(4)}"
    port, hub_port, api_port = free_port(), free_port(), free_port()
    invoke("hub", "config", "--roster", str(roster), "--course", str(course), "--lab", LAB,
           "--image", trainee_image, "--state-dir", str(state), "--name", name, "--port", str(port),
           "--hub-port", str(hub_port), "--proxy-api-port", str(api_port))
    h = Hub(name, f"http://127.0.0.1:{port}", state, course, root / "hub.log",
            (state / INSTRUCTOR_TOKEN_FILE).read_text().strip())
    # The smallest workspace, so the quota test fills it in a second.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", SIZE_ENV: str(WORKSPACE_MIB)}
    try:
        with serving(h, env, "the hub's API through the proxy",
                     lambda: requests.get(f"{h.url}/hub/api/", timeout=5).status_code == 200):
            yield h
    finally:
        client = docker.from_env(timeout=60)
        left = [*client.containers.list(all=True, filters={"label": f"dflab.hub={name}"}),
                *client.volumes.list(filters={"label": f"dflab.hub={name}"}),
                *client.networks.list(filters={"label": f"dflab.hub={name}"})]
        assert not left, f"`dflab hub purge` left {left}"


@pytest.fixture(scope="module")
def hub(trainee_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    root = tmp_path_factory.mktemp("hub")
    with running_hub(trainee_image, root, f"id,name\n{TRAINEE},Alice\n{OTHER},Bob\n") as h:
        yield h
    workspaces = h.state / "workspaces"
    assert not workspaces.exists() or not [p for p in workspaces.iterdir() if os.path.ismount(p) or p.is_file()], \
        "`dflab hub purge` left a workspace mounted or its image"


def lab_container(hub: Hub) -> Container | None:
    client = docker.from_env(timeout=60)
    found = client.containers.list(filters={"label": [f"dflab.hub={hub.name}", f"dflab.trainee={TRAINEE}"]})
    return found[0] if found else None


@pytest.fixture(scope="module")
def spawned(hub: Hub) -> Container:
    """The instructor starts alice's lab through the REST API; returns its container once the hub says ready."""
    t0 = time.monotonic()
    response = hub.api("POST", f"/users/{TRAINEE}/server")
    assert response.status_code in (201, 202), f"{response.status_code} {response.text}\n{hub.log_tail()}"

    def ready() -> bool:
        server = hub.api("GET", f"/users/{TRAINEE}").json().get("servers", {}).get("", {})
        return bool(server.get("ready"))

    wait_for(f"{TRAINEE}'s lab to be ready", hub, ready, SPAWN_TIMEOUT)
    # Measured for the report, never asserted (timings depend on the machine).
    print(f"\nhub spawned {TRAINEE}'s lab in {time.monotonic() - t0:.1f}s")
    container = lab_container(hub)
    assert container is not None, hub.log_tail()
    return container


def login(hub: Hub, user: str, code: str) -> requests.Session:
    """The login form, as a browser submits it (the hub wants its XSRF cookie back)."""
    browser = requests.Session()
    browser.get(f"{hub.url}/hub/login", timeout=HTTP_TIMEOUT)
    response = browser.post(f"{hub.url}/hub/login", timeout=HTTP_TIMEOUT, allow_redirects=False,
                            data={"username": user, "password": code, "_xsrf": browser.cookies.get("_xsrf", "")})
    browser.status = response.status_code  # type: ignore[attr-defined]
    return browser


def access_codes(hub: Hub) -> dict[str, str]:
    lines = (hub.state / "access.csv").read_text().splitlines()[1:]
    return dict(line.split(",") for line in lines)


def test_only_roster_ids_with_their_own_code_log_in(hub: Hub) -> None:
    code = access_codes(hub)[TRAINEE]
    assert re.fullmatch(r"[a-z2-7]{16}", code)
    assert login(hub, TRAINEE, code).status == 302  # type: ignore[attr-defined]
    assert login(hub, TRAINEE, "a" * 16).status == 403  # type: ignore[attr-defined]
    # Not on the roster: refused even with a well-formed code.
    assert login(hub, "mallory", code).status == 403  # type: ignore[attr-defined]


def user_token(hub: Hub, user: str) -> str:
    """A token for ``user`` issued by the instructor service (what a trainee gets from the hub's token page)."""
    response = hub.api("POST", f"/users/{user}/tokens", json={"note": "test", "expires_in": 600})
    assert response.status_code in (200, 201), response.text
    return response.json()["token"]


def test_lab_is_reached_through_the_proxy_with_a_token_only(hub: Hub, spawned: Container) -> None:
    token, other_token = user_token(hub, TRAINEE), user_token(hub, OTHER)
    contents = f"{hub.url}/user/{TRAINEE}/api/contents"
    answer = requests.get(contents, headers={"Authorization": f"token {token}"}, timeout=HTTP_TIMEOUT)
    assert answer.status_code == 200, answer.text
    # The released notebook was seeded into the workspace volume, under the lab's id.
    assert LAB in [item["name"] for item in answer.json()["content"]]
    released = requests.get(f"{contents}/{LAB}", headers={"Authorization": f"token {token}"}, timeout=HTTP_TIMEOUT)
    assert f"{LAB}.ipynb" in [item["name"] for item in released.json()["content"]]
    anonymous = requests.get(contents, timeout=HTTP_TIMEOUT, allow_redirects=False)
    assert anonymous.status_code in (302, 403), anonymous.status_code
    if anonymous.status_code == 302:
        assert "/hub/login" in anonymous.headers["Location"] or "/hub/api/oauth2" in anonymous.headers["Location"]
    for bad in ("not-a-token", other_token):
        wrong = requests.get(contents, headers={"Authorization": f"token {bad}"}, timeout=HTTP_TIMEOUT,
                             allow_redirects=False)
        assert wrong.status_code in (302, 403), wrong.status_code


def run_in(container: Container, *cmd: str) -> tuple[int, str]:
    result = container.exec_run(list(cmd))
    return result.exit_code, result.output.decode(errors="replace").strip()


def test_spawned_lab_is_confined(hub: Hub, spawned: Container) -> None:
    assert run_in(spawned, "id", "-u") == (0, "1000")
    status = dict(line.split(":\t", 1) for line in run_in(spawned, "cat", "/proc/self/status")[1].splitlines()
                  if ":\t" in line)
    assert status["CapEff"].strip() == "0" * 16
    assert status["CapBnd"].strip() == "0" * 16
    assert status["NoNewPrivs"].strip() == "1"
    # Evidence read-only (the mount, whatever the file modes), root file system read-only, workspace writable.
    assert run_in(spawned, "sh", "-c", "touch /evidence/x")[0] != 0
    assert run_in(spawned, "sh", "-c", "echo x >> /evidence/disk.img")[0] != 0
    assert run_in(spawned, "sh", "-c", "touch /opt/x")[0] != 0
    assert run_in(spawned, "sh", "-c", "touch /home/trainee/work/x && rm /home/trainee/work/x")[0] == 0
    assert run_in(spawned, "ls", "/evidence")[1].split() == sorted(
        p.name for p in (hub.course / "evidence" / TRAINEE / "evidence").iterdir())
    # No way out of the host: connecting to public addresses fails (the internal network drops it).
    probe = ("import socket\nfor host in ('192.0.2.1', '1.1.1.1'):\n"
             "    s = socket.socket(); s.settimeout(3)\n"
             "    try:\n        s.connect((host, 443)); print('reached', host)\n"
             "    except OSError as e:\n        print('blocked', host)\n")
    assert run_in(spawned, "python", "-c", probe)[1].split("\n") == ["blocked 192.0.2.1", "blocked 1.1.1.1"]
    spawned.reload()
    host = spawned.attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and host["ReadonlyRootfs"] is True
    assert host["Memory"] == 2**30 and host["MemorySwap"] == 2**30 and host["PidsLimit"] == 512
    assert host["CpuQuota"] == 100_000 and host["CpuPeriod"] == 100_000
    network = docker.from_env().networks.get(f"dflab-hub-{hub.name}")
    assert network.attrs["Internal"] is True
    assert list(spawned.attrs["NetworkSettings"]["Networks"]) == [network.name]


def test_a_full_workspace_stops_at_its_limit(hub: Hub, spawned: Container) -> None:
    """Issue 13: a hub's workspaces have the size limit a session's have (a loop-mounted file system of their own)."""
    code, out = run_in(spawned, "sh", "-c", "cd /home/trainee/work && dd if=/dev/zero of=fill bs=1M count=1000 2>&1; "
                                            "stat -c %s fill; rm -f fill")
    assert "No space left on device" in out, out
    assert (WORKSPACE_MIB - 16) << 20 < int(out.split()[-1]) <= WORKSPACE_MIB << 20, out
    image = hub.state / "workspaces" / f"{TRAINEE}.ext4"
    assert os.path.ismount(hub.state / "workspaces" / TRAINEE) and os.stat(image).st_blocks * 512 <= WORKSPACE_MIB << 20


def test_stopping_keeps_the_work_and_evidence(hub: Hub, spawned: Container) -> None:
    assert run_in(spawned, "sh", "-c", "echo kept > /home/trainee/work/note.txt")[0] == 0
    response = hub.api("DELETE", f"/users/{TRAINEE}/server")
    assert response.status_code in (202, 204), response.text
    wait_for("the lab container to go", hub, lambda: lab_container(hub) is None, 60)
    volume = docker.from_env().volumes.get(f"dflab-hub-{hub.name}-{TRAINEE}-work")
    assert volume.attrs["Labels"]["dflab.hub"] == hub.name
    # A new spawn gets the same workspace back.
    assert hub.api("POST", f"/users/{TRAINEE}/server").status_code in (201, 202)
    wait_for("the lab to come back", hub,
             lambda: hub.api("GET", f"/users/{TRAINEE}").json().get("servers", {}).get("", {}).get("ready"),
             SPAWN_TIMEOUT)
    again = lab_container(hub)
    assert again is not None and run_in(again, "cat", "/home/trainee/work/note.txt") == (0, "kept")
    assert verify(hub.course / "evidence" / TRAINEE / "evidence") == []
