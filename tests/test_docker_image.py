"""The trainee lab image, built and run on a real Docker engine.

The session fixture does what `make test` must do on a fresh machine: start an engine, build the
local base image, fill the wheelhouse and build the image (each step skips work already done, so a
warm run costs seconds). Every test then starts containers with the restrictions a training room
uses (non-root, no capabilities, no new privileges, read-only root, memory/cpu/pid limits, no
network) and checks the tools trainees need really work under them. Nothing here skips: a missing
engine or a failed build fails the run, because an image that cannot be built is a broken lab.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import docker_fixtures

# The shared, memoised image build (tests/docker_fixtures.py).
trainee_image = docker_fixtures.trainee_image

# All image tests share one engine and one build: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group(name="docker_image")

REPO = Path(__file__).resolve().parents[1]
DOCKER_DIR = REPO / "environments" / "docker"
TOKEN = "dflab-test-token"
RUN_TIMEOUT = 120
READY_TIMEOUT = 90.0

# How a trainee container is confined in a training room; every test adds `--network none` except
# the server test, which needs the bridge to publish its port (on loopback only).
CONFINED = (
    "--user", "1000",
    "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
    "--read-only",
    "--tmpfs", "/tmp",
    # Home is the only writable place: Jupyter's runtime files, volatility3's cache, trainee notes.
    "--mount", "type=volume,dst=/home/trainee",
    "--memory", "512m",
    "--cpus", "1",
    "--pids-limit", "256",
)  # fmt: skip


_names = itertools.count()


@pytest.fixture
def container_name() -> Iterator[Callable[[], str]]:
    """Hand out unique container names and remove those containers (and their volumes) afterwards."""
    given: list[str] = []

    def new() -> str:
        name = f"dflab-test-{os.getpid()}-{next(_names)}"
        given.append(name)
        return name

    yield new
    for name in given:
        subprocess.run(
            ["docker", "rm", "-f", "-v", name],
            capture_output=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )


def _run_confined(
    name: str, image: str, script: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    """Run a shell script in a confined container with no network and return what it did."""
    return subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--name",
            name,
            *CONFINED,
            "--network",
            "none",
            *extra,
            image,
            "sh",
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def _status_field(status: str, field: str) -> str:
    """The value of one line of /proc/<pid>/status."""
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key == field:
            return value.strip()
    raise AssertionError(f"{field} missing from /proc/self/status")


def test_runs_as_trainee_without_privileges(
    trainee_image: str, container_name: Callable[[], str]
) -> None:
    proc = _run_confined(
        container_name(),
        trainee_image,
        "id -u; id -un; cat /proc/self/status; cat /proc/1/cmdline",
    )
    assert proc.returncode == 0, proc.stderr
    uid, user, rest = proc.stdout.split("\n", 2)
    status, _, pid1 = rest.rpartition("\n")
    assert (uid, user) == ("1000", "trainee")
    assert _status_field(status, "CapEff") == "0000000000000000"
    assert _status_field(status, "CapPrm") == "0000000000000000"
    assert _status_field(status, "NoNewPrivs") == "1"
    # tini is PID 1, so zombies of kernels and terminals get reaped.
    assert pid1.split("\0")[0] == "tini"


def test_forensic_tools_work(
    trainee_image: str, container_name: Callable[[], str]
) -> None:
    script = (
        "vol --help | head -n 1; fls -V; tshark -v | head -n 1; "
        "python -c 'import pytsk3, pyewf, scapy.all, volatility3.framework, dflab; print(\"imports ok\")'"
    )
    proc = _run_confined(container_name(), trainee_image, script)
    assert proc.returncode == 0, proc.stderr
    vol, fls, tshark, imports = proc.stdout.splitlines()
    assert vol == f"Volatility 3 Framework {_pins()['volatility3']}"
    assert fls.startswith("The Sleuth Kit ver ")
    assert tshark.startswith("TShark (Wireshark) ")
    assert imports == "imports ok"


def test_acquisition_tools_work(
    trainee_image: str, container_name: Callable[[], str]
) -> None:
    """Lab 06's tools, under a training room's confinement, on a small file standing in for a drive: dcfldd copies
    it and logs the hash of what it read, ewfacquire makes an E01 with a case number in its header, ewfinfo shows
    it and ewfverify verifies the stored MD5."""
    script = (
        "set -e; cd /tmp; head -c 1048576 /dev/urandom > drive; "
        "dcfldd if=drive of=copy bs=64k hash=sha256 hashlog=hashes 2>/dev/null; "
        "grep -o '[0-9a-f]\\{64\\}' hashes; sha256sum < drive | cut -d' ' -f1; cmp drive copy; "
        "ewfacquire -u -q -t image -C OP-2026-0142 drive >/dev/null; "
        "ewfinfo image.E01 | grep 'Case number'; ewfverify -q image.E01 | tail -n 1"
    )
    proc = _run_confined(container_name(), trainee_image, script)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    logged, read, case, verified = proc.stdout.splitlines()
    assert logged == read and len(read) == 64
    assert case.split() == ["Case", "number:", "OP-2026-0142"]
    assert verified == "ewfverify: SUCCESS"


def test_the_base_image_is_made_with_the_packages_listed_now(trainee_image: str) -> None:
    """base-image.sh labels the base with its package list and makes it again when the list changes, so a tool added
    to PACKAGES (dcfldd, ewf-tools for lab 06) reaches the image the fixture builds instead of a stale base."""
    listed = [line.partition("=")[2] for line in (DOCKER_DIR / "base-image.sh").read_text(encoding="utf-8").splitlines()
              if line.startswith("PACKAGES=")]
    label = subprocess.run(
        ["docker", "image", "inspect", "--format", '{{ index .Config.Labels "dflab.base.packages" }}',
         docker_fixtures.BASE_IMAGE],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, check=True,
    ).stdout.strip()
    assert len(listed) == 1 and {"ewf-tools", "dcfldd"} <= set(listed[0].split(","))
    assert label == listed[0]


def _pins() -> dict[str, str]:
    """Every `name==version` pin of pyproject's dependencies and of the image's extra requirements."""
    with (REPO / "pyproject.toml").open("rb") as fh:
        lines = list(tomllib.load(fh)["project"]["dependencies"])
    lines += (
        (DOCKER_DIR / "requirements-image.txt").read_text(encoding="utf-8").splitlines()
    )
    pins = {}
    for line in lines:
        name, sep, version = line.strip().partition("==")
        if sep and not name.startswith("#"):
            pins[name] = version
    return pins


def test_pinned_packages_are_installed_at_their_pins(
    trainee_image: str, container_name: Callable[[], str]
) -> None:
    pins = _pins()
    script = (
        "python -c 'import importlib.metadata as m, json, sys; "
        "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))' "
        + " ".join(sorted(pins))
    )
    proc = _run_confined(container_name(), trainee_image, script)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == pins


def test_no_outbound_network(
    trainee_image: str, container_name: Callable[[], str]
) -> None:
    # One connect attempt to a public address: with no route it fails at once, no packet leaves.
    script = (
        "ls /sys/class/net; tail -n +2 /proc/net/route | wc -l; "
        "python -c 'import socket\n"
        "s = socket.socket()\n"
        'try:\n    s.connect(("1.1.1.1", 53))\nexcept OSError as e:\n    print(e.errno)\nelse:\n    print(0)\''
    )
    proc = _run_confined(container_name(), trainee_image, script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["lo", "0", str(errno.ENETUNREACH)]


def test_evidence_and_root_are_read_only(
    trainee_image: str, container_name: Callable[[], str], tmp_path: Path
) -> None:
    (tmp_path / "case.txt").write_text("evidence\n", encoding="utf-8")
    tmp_path.chmod(0o755)
    script = (
        "cat /evidence/case.txt; "
        "touch /evidence/new 2>/dev/null && echo evidence-writable || echo evidence-read-only; "
        "touch /opt/dflab/new 2>/dev/null && echo root-writable || echo root-read-only; "
        "touch /home/trainee/work/notes && echo home-writable"
    )
    proc = _run_confined(
        container_name(), trainee_image, script, "-v", f"{tmp_path}:/evidence:ro"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "evidence",
        "evidence-read-only",
        "root-read-only",
        "home-writable",
    ]


def test_lab_server_refuses_to_start_without_token(
    trainee_image: str, container_name: Callable[[], str]
) -> None:
    proc = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--name",
            container_name(),
            *CONFINED,
            "--network",
            "none",
            trainee_image,
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 1
    assert "DFLAB_TOKEN is empty or unset" in proc.stderr


def _get(url: str, token: str | None) -> int:
    """HTTP status of a GET (urllib raises for 4xx; those are answers too)."""
    request = urllib.request.Request(
        url, headers={"Authorization": f"token {token}"} if token else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _get_unredirected(url: str) -> int:
    """HTTP status of a GET without a token, redirects not followed (a login redirect is a refusal)."""
    try:
        with urllib.request.build_opener(_NoRedirect).open(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def _send(url: str, token: str, method: str, payload: object) -> tuple[int, str]:
    """HTTP status and body of a JSON request (PUT/POST) with the token."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method=method,
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_lab_server_answers_only_with_token(
    trainee_image: str, container_name: Callable[[], str]
) -> None:
    name = container_name()
    # Publishing a port needs the bridge network; it is bound to loopback only.
    subprocess.run(
        ["docker", "run", "-d", "--name", name, *CONFINED, "-e", f"DFLAB_TOKEN={TOKEN}", "-p", "127.0.0.1::8888",
         trainee_image],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, check=True,
    )  # fmt: skip
    port = subprocess.run(
        ["docker", "port", name, "8888/tcp"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=True,
    ).stdout.splitlines()[0]
    assert port.startswith("127.0.0.1:")
    base = f"http://{port}"

    deadline = time.monotonic() + READY_TIMEOUT
    status = None
    while time.monotonic() < deadline:
        try:
            status = _get(f"{base}/api/status", TOKEN)
        except OSError:  # not listening yet
            status = None
        if status == 200:
            break
        time.sleep(0.25)
    logs = subprocess.run(
        ["docker", "logs", name],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    ).stderr
    assert status == 200, (
        f"lab server not ready within {READY_TIMEOUT}s:\n{logs[-3000:]}"
    )

    assert _get(f"{base}/api/status", None) == 403
    assert _get(f"{base}/api/status", "wrong-token") == 403
    assert _get(f"{base}/lab", TOKEN) == 200
    # nbgrader's Validate button is answered by dflab.labserver, which never imports nbgrader's handlers.
    assert _get_unredirected(f"{base}/nbgrader_version?version=0.9.6") == 302  # to the login page
    assert _get(f"{base}/nbgrader_version?version=0.9.6", TOKEN) == 200
    # A real validation in the image: a lab notebook whose answer cell has not run is listed as missing,
    # never "passes all the tests" (tests/test_validate_button.py covers the report itself).
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                                                          "display_name": "Python 3"}},
          "cells": [{"cell_type": "code", "execution_count": None, "outputs": [],
                     "source": "from dflab.lab import answer\nanswer('root_fs', root_fs);",
                     "metadata": {"nbgrader": {"solution": False, "grade": True, "locked": True, "points": 1,
                                               "grade_id": "check", "schema_version": 3}}}]}
    assert _send(f"{base}/api/contents/lab", TOKEN, "PUT", {"type": "directory"})[0] == 201
    lab_yaml = {"type": "file", "format": "text", "content": "answers:\n  root_fs: {shape: text}\n"}
    assert _send(f"{base}/api/contents/lab/lab.yaml", TOKEN, "PUT", lab_yaml)[0] == 201
    assert _send(f"{base}/api/contents/lab/check.ipynb", TOKEN, "PUT", {"type": "notebook", "content": nb})[0] == 201
    status, body = _send(f"{base}/assignments/validate", TOKEN, "POST", {"path": "lab/check.ipynb"})
    assert status == 200 and json.loads(body)["success"] is True, body
    assert "root_fs: its cell has not run" in json.loads(body)["value"]["failed"][0]["raw_error"], body
    assert "passes all the tests" not in body
    logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True, timeout=RUN_TIMEOUT,
                          check=False).stderr
    assert "dflab.labserver: Validate lab/check.ipynb: reported" in logs
    assert "validate_assignment" not in logs  # nbgrader's handlers (and its application stack) never loaded
    # Fetch/submit (nbgrader's exchange) and the instructor's formgrader are not served in a lab.
    assert _get(f"{base}/formgrader", TOKEN) == 404
    assert _get(f"{base}/assignments", TOKEN) == 404
