"""Containment that does not depend on the host: the local sandbox and lab 01's suspect inside a container.

Instructors run dflab inside containers and VMs they do not control.  Here the host is a container of the
trainee image (Debian 12's own Python 3.11.2), run as root the way Docker runs things by default: /proc with
Docker's masked paths, a pids limit of its own (a nested cgroup), and either just CAP_SYS_ADMIN added or
nothing added.  The current source is mounted read-only and used instead of the image's copy.

With CAP_SYS_ADMIN the local sandbox grades a fork bomb, bounded, and the next submission (on the same
sandbox uid) runs normally; lab 01's suspect starts, runs and stops.  Without it the local sandbox refuses
in one line that names what is missing, before any submission runs.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import docker
import pytest

from tests import docker_fixtures
from tests.hostile import FORK_BOMB

pytestmark = pytest.mark.xdist_group(name=docker_fixtures.XDIST_GROUP)
REPO = Path(__file__).resolve().parents[1]

INSIDE = textwrap.dedent('''
    import json, os, tempfile
    from pathlib import Path
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook
    from dflab.errors import DflabError
    from dflab.grading.sandbox.base import Limits
    from dflab.grading.sandbox.local_sandbox import LocalSandbox, namespace_mode

    # Docker masks /proc paths by mounting over them (/dev/null, empty tmpfs, read-only binds).
    out = {"proc_masked": [line.split()[4] for line in open("/proc/self/mountinfo")
                           if line.split()[4].startswith("/proc/")]}
    try:
        out["mode"] = namespace_mode()
    except DflabError as exc:
        out["refused"] = str(exc)
    if "mode" in out:
        top = Path(tempfile.mkdtemp())
        (top / "work").mkdir(); (top / "evidence").mkdir()
        (top / "work").chmod(0o755); top.chmod(0o755)
        limits = Limits(pids=128, wall_s=90, cell_timeout_s=15)
        bomb = new_notebook(cells=[new_code_cell(BOMB), new_code_cell("print('after the bomb')")])
        first = LocalSandbox().run(bomb, top / "work", top / "evidence", limits)
        out["bomb"] = [first.status, first.reason]
        normal = new_notebook(cells=[new_code_cell(
            "import subprocess\\n"
            "print(sum(subprocess.run(['true']).returncode == 0 for _ in range(100)), 'children ran')")])
        second = LocalSandbox().run(normal, top / "work", top / "evidence", limits)
        out["next"] = [second.status, second.reason,
                       [o.get("text", "") for c in (second.notebook.cells if second.notebook else [])
                        for o in c.outputs]]
    from dflab.live import suspect
    state = tempfile.mkdtemp()
    suspect.start(state, bytes(range(32)))
    out["suspect"] = suspect.status(state).state
    suspect.stop(state)
    out["suspect_after_stop"] = suspect.status(state).state
    print(json.dumps(out))
''')


def run_in_container(image: str, *, caps: list[str]) -> dict:
    client = docker.from_env(timeout=300)
    script = f"BOMB = {FORK_BOMB!r}\n" + INSIDE
    output = client.containers.run(
        image, ["python", "-c", script], user="root", entrypoint=[], remove=True,
        environment={"PYTHONPATH": "/src", "PYTHONDONTWRITEBYTECODE": "1"}, working_dir="/tmp",
        volumes={str(REPO): {"bind": "/src", "mode": "ro"}}, network_mode="none",
        cap_add=caps, pids_limit=4096, mem_limit="3g", stderr=True)
    return json.loads(output.decode().strip().splitlines()[-1])


def test_the_local_sandbox_and_the_suspect_work_in_a_container_with_sys_admin(trainee_image: str) -> None:
    out = run_in_container(trainee_image, caps=["SYS_ADMIN"])
    assert out["proc_masked"], out  # the container really has Docker's masked /proc
    assert out["mode"] == "root", out
    assert out["bomb"][0] in ("ok", "timeout", "error", "killed"), out  # bounded: it came back
    status, reason, texts = out["next"]
    assert status == "ok", out
    assert "100 children ran\n" in texts, out
    assert out["suspect"] == "running" and out["suspect_after_stop"] != "running", out


def test_without_namespaces_the_local_sandbox_refuses_in_one_line(trainee_image: str) -> None:
    out = run_in_container(trainee_image, caps=[])
    message = out["refused"]
    assert message.startswith("local sandbox: cannot confine submissions here"), out
    assert "CAP_SYS_ADMIN" in message and "--sandbox docker" in message and "\n" not in message
    assert out["suspect"] == "running" and out["suspect_after_stop"] != "running", out


trainee_image = docker_fixtures.trainee_image
