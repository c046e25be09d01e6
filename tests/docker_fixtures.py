"""The trainee image on a real Docker engine, shared by every test module that runs containers.

``trainee_image`` does what `make test` must do on a fresh machine: start an engine, build the local
base image, fill the wheelhouse and build the image (each step skips work already done, so a warm run
costs seconds). Nothing skips: a missing engine or a failed build fails the run, because an image
that cannot be built is a broken lab.

Modules import the fixture (``from tests.docker_fixtures import trainee_image``). pytest then holds
one fixture definition per importing module, so the build itself is memoised here: however many
modules use it, a worker prepares the image once. Workers that build at the same time take turns
(a file lock): they share the wheelhouse directory and the image tag, and the second finds the work
done and costs seconds.
"""

from __future__ import annotations

import fcntl
import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKER_DIR = REPO / "environments" / "docker"
# Outside the repository and reused across runs: downloading ~140 MB of wheels is the slow part.
WHEELHOUSE = Path(os.environ.get("DFLAB_WHEELHOUSE", "/var/tmp/dflab-wheelhouse"))
BASE_IMAGE = "dflab/base:bookworm"
IMAGE = "dflab/trainee:test"
SETUP_TIMEOUT = 1200
# Every module running containers keeps to this xdist group: one engine, one build, one worker.
XDIST_GROUP = "docker_image"


def _check(cmd: list[str], what: str, timeout: float = SETUP_TIMEOUT) -> None:
    """Run a setup command; fail the session with its output when it does not succeed."""
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )


@functools.cache
def build_trainee_image() -> str:
    """Engine up, base image and wheelhouse ready, trainee image built; returns its tag (once per process)."""
    WHEELHOUSE.parent.mkdir(parents=True, exist_ok=True)
    with open(WHEELHOUSE.parent / f"{WHEELHOUSE.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build()


def _build() -> str:
    _check(
        ["bash", str(DOCKER_DIR / "engine.sh"), "start"],
        "starting the Docker engine",
        timeout=180,
    )
    # The base image (Debian mirror) and the wheelhouse (package index) are independent and both
    # network-bound, so they are prepared side by side.
    steps = {
        "building the base image": ["bash", str(DOCKER_DIR / "base-image.sh")],
        "filling the wheelhouse": [
            "bash",
            str(DOCKER_DIR / "wheelhouse.sh"),
            str(WHEELHOUSE),
        ],
    }
    # wheelhouse.sh runs pip with the interpreter running these tests (>= 3.11, so it has tomllib).
    env = {**os.environ, "PYTHON": sys.executable}
    running = {
        what: subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        for what, cmd in steps.items()
    }
    failures = []
    for what, proc in running.items():
        out, _ = proc.communicate(timeout=SETUP_TIMEOUT)
        if proc.returncode != 0:
            failures.append(f"{what} failed (exit {proc.returncode}):\n{out[-3000:]}")
    if failures:
        pytest.fail("\n".join(failures))
    _check(
        [
            "bash",
            str(DOCKER_DIR / "build-image.sh"),
            str(WHEELHOUSE),
            IMAGE,
            "--build-arg",
            f"BASE_IMAGE={BASE_IMAGE}",
        ],
        "building the trainee image",
    )
    return IMAGE


@pytest.fixture(scope="session")
def trainee_image() -> str:
    """Engine up, base image and wheelhouse ready, trainee image built; returns its tag."""
    return build_trainee_image()


def unmount_workspaces(session_dir: Path) -> None:
    """Unmount whatever workspace file systems a failed test left under ``session_dir`` (so its folder can go).

    `dflab session stop` unmounts them; a test that fails before it would otherwise leave loop devices held.
    """
    folder = session_dir / "workspaces"
    if folder.is_dir():
        for child in folder.iterdir():
            if os.path.ismount(child):
                subprocess.run(["umount", "--lazy", str(child)], check=False)
