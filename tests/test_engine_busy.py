"""A busy Docker engine is one line, and read-only requests are retried (dflab/engine.py).

The engine is the real one, behind tests/engine_proxy.py, which holds chosen requests unanswered the way a
busy engine does.  The timeout is 3 s, the least allowed (``DFLAB_DOCKER_TIMEOUT``), so a stalled request fails fast.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from dflab.engine import RETRIES, TIMEOUT_ENV, connect
from dflab.errors import DflabError
from dflab.grading.sandbox.base import Limits
from dflab.grading.sandbox.docker_sandbox import DockerSandbox
from dflab.provision.base import TraineeEnv
from dflab.provision.docker_backend import DockerBackend
from tests import docker_fixtures
from tests.engine_proxy import stalling_engine

pytestmark = pytest.mark.xdist_group(name=docker_fixtures.XDIST_GROUP)


@pytest.fixture(autouse=True)
def _engine(monkeypatch: pytest.MonkeyPatch) -> None:
    docker_fixtures.build_trainee_image()  # the engine is up (and the image there, for the other modules)
    monkeypatch.setenv(TIMEOUT_ENV, "3")


def _first_only(method: str, path_part: str):  # noqa: ANN202 -- a stall rule
    """Stall the first request whose method and path match; let every later one through."""
    state = {"stalled": 0}

    def rule(m: str, p: str) -> bool:
        if m == method and path_part in p and not state["stalled"]:
            state["stalled"] = 1
            return True
        return False

    return rule


def test_a_stalled_ping_is_retried_and_the_engine_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with stalling_engine(tmp_path, _first_only("GET", "/_ping")) as proxy:
        monkeypatch.setenv("DOCKER_HOST", proxy.url)
        client = connect("test", "start it")
        assert client.version()["ApiVersion"]
        assert sum(path.endswith("/_ping") for _, path, _ in proxy.seen) == 2  # the stalled try and its retry
        assert len(proxy.stalled()) == 1


def test_an_engine_that_never_answers_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with stalling_engine(tmp_path, lambda m, p: True) as proxy:
        monkeypatch.setenv("DOCKER_HOST", proxy.url)
        with pytest.raises(DflabError) as caught:
            connect("docker backend", "start dockerd")
    message = str(caught.value)
    assert message.startswith("docker backend: no Docker engine answers within 3 s")
    assert "start dockerd" in message and "\n" not in message
    assert len(proxy.stalled()) == RETRIES + 1  # the first try and every retry


def test_a_busy_engine_names_the_trainee_and_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = DockerBackend("busy", tmp_path / "session", tmp_path / "seed", docker_fixtures.IMAGE)
    env = TraineeEnv("bob", "token", tmp_path)
    with stalling_engine(tmp_path, lambda m, p: m == "GET" and "/containers/dflab-busy-bob" in p) as proxy:
        monkeypatch.setenv("DOCKER_HOST", proxy.url)
        with pytest.raises(DflabError) as caught:
            backend.poll(env)
        assert len(proxy.stalled()) == RETRIES + 1
    message = str(caught.value)
    assert message.startswith("bob: the Docker engine did not answer within 3 s while checking the lab")
    assert TIMEOUT_ENV in message and "run the same command again" in message and "\n" not in message


def test_a_read_that_stalls_once_succeeds_on_retry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = DockerBackend("busy", tmp_path / "session", tmp_path / "seed", docker_fixtures.IMAGE)
    env = TraineeEnv("bob", "token", tmp_path)
    with stalling_engine(tmp_path, _first_only("GET", "/containers/dflab-busy-bob")) as proxy:
        monkeypatch.setenv("DOCKER_HOST", proxy.url)
        assert backend.poll(env) == -1  # no such container: the ordinary answer, after one retry
        assert len(proxy.stalled()) == 1


def test_a_state_change_is_not_repeated_and_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Creating a grading container is a POST: never retried behind the caller's back, one line when stalled."""
    (tmp_path / "work").mkdir()
    with stalling_engine(tmp_path, lambda m, p: m == "POST" and "/containers/create" in p) as proxy:
        monkeypatch.setenv("DOCKER_HOST", proxy.url)
        sandbox = DockerSandbox(docker_fixtures.IMAGE)
        with pytest.raises(DflabError) as caught:
            sandbox.run(nbformat.v4.new_notebook(), tmp_path / "work", tmp_path, Limits())
        assert len(proxy.stalled()) == 1
    assert str(caught.value).startswith("docker sandbox: the Docker engine did not answer within 3 s")


@pytest.mark.parametrize("value", ["0", "2", "soon", "-5", "99999"])
def test_a_bad_timeout_setting_is_one_line(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, value)
    with pytest.raises(DflabError, match=f"^{TIMEOUT_ENV}: must be a whole number of seconds"):
        connect("test", "start it")
