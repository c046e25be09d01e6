"""A lab in a Docker container reaches its own checker's socket and nothing else (tests/test_checker.py holds the
checker's other tests; this one is in the Docker group alone, so it never runs beside a dockerd restart)."""

from __future__ import annotations

import json
from pathlib import Path

import docker
import pytest

from dflab.checker import paths
from dflab.checker.protocol import LAB_CHECK_DIR, lab_socket
from dflab.session.state import SessionState
from tests import docker_fixtures
from tests.test_checker import LAB_ID, host_socket, key_of, lab_checks, solution
from tests.test_session_docker import lab as docker_lab
from tests.test_session_docker import start as docker_start
from tests.test_session_docker import tear_down as docker_tear_down
from tests.test_session_local import write_roster

pytestmark = pytest.mark.xdist_group(name=docker_fixtures.XDIST_GROUP)
trainee_image = docker_fixtures.trainee_image


DOCKER_CLIENT = r"""
import errno, json, os
from dflab.checker.protocol import connect_unix
from dflab.lab import CheckError, check
def attempt(action):
    try:
        action()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, type(exc).__name__)
p = json.loads(%(p)r)
out = {"own": check("payload_sha256", p["own"]), "bobs": check("payload_sha256", p["bobs"]),
       "socket": os.environ["DFLAB_CHECK_SOCKET"], "listing": sorted(os.listdir(%(dir)r)),
       "bob": attempt(lambda: connect_unix(p["bob_socket"], 5).close()),
       "plant": attempt(lambda: open(%(dir)r + "/planted", "w").close()),
       "uid": os.getuid()}
print(json.dumps(out))
"""


def test_a_docker_lab_reaches_its_own_checker_and_nothing_else(trainee_image: str, tmp_path: Path) -> None:
    session_dir = tmp_path / "session"
    engine = docker.from_env(timeout=120)
    try:
        result = docker_start(session_dir, write_roster(tmp_path / "roster.csv", "alice", "bob"), trainee_image)
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
        checks = lab_checks(session_dir)
        own, bobs = (solution(checks, key_of(session_dir, t), "payload_sha256") for t in ("alice", "bob"))
        container = docker_lab(engine, session_dir, "alice")
        values = {"own": own, "bobs": bobs, "bob_socket": host_socket(session_dir, "bob")}
        ran = container.exec_run(["python", "-c", DOCKER_CLIENT % {"p": json.dumps(values), "dir": LAB_CHECK_DIR}],
                                 workdir=f"/home/trainee/work/{LAB_ID}")
        assert ran.exit_code == 0, ran.output.decode(errors="replace")
        out = json.loads(ran.output.decode().strip().splitlines()[-1])
        assert (out["own"], out["bobs"], out["uid"]) == (True, False, 1000), out
        assert out["socket"] == lab_socket() and out["listing"] == ["check.sock"], out
        assert out["bob"] == "ENOENT" and out["plant"] in ("EROFS", "EACCES"), out
        binds = {m["Destination"]: m for m in container.attrs["Mounts"] if m["Type"] == "bind"}
        assert Path(binds[LAB_CHECK_DIR]["Source"]) == (session_dir / paths.CHECK_DIR / "alice").resolve()
        assert binds[LAB_CHECK_DIR]["RW"] is False
        assert not [m for m in binds.values() if Path(m["Source"]) in
                    ((session_dir / paths.CHECK_DIR).resolve(), (session_dir / paths.CHECK_DIR / "bob").resolve())]
        assert [(a.trainee, a.answer, a.correct) for a in SessionState(session_dir).attempts()] == [
            ("alice", "payload_sha256", True), ("alice", "payload_sha256", False)]
    finally:
        docker_tear_down(engine, session_dir)
