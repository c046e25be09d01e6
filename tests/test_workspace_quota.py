"""Docker workspaces have a size limit (issue 13 item 10), tested by filling one from inside a real lab.

A session of one trainee with the smallest workspace ($DFLAB_WORKSPACE_MIB=64) on the real engine: the
trainee writes until the disk is full, gets ``No space left on device`` at the limit, and the host's disk
holds no more than the limit; the saved work survives a stop and start; after a "reboot" (the image
unmounted while the engine restarts the lab) the lab cannot write outside the quota, and the next
`dflab session start` brings the workspace back; `stop --purge` leaves no image, mount or volume.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from dflab.errors import DflabError
from dflab.provision.workspace_disk import SIZE_ENV, WorkspaceDisk, size_mib
from tests import docker_fixtures
from tests.test_session_docker import lab, sh, start, tear_down
from tests.test_session_local import NOTEBOOK, endpoints, ok, run_session, save_notebook, saved_cell, write_roster

pytestmark = pytest.mark.xdist_group(name=docker_fixtures.XDIST_GROUP)

trainee_image = docker_fixtures.trainee_image
MIB = 64


@pytest.fixture
def small_session(trainee_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(SIZE_ENV, str(MIB))
    session_dir = tmp_path / "session"
    engine = docker.from_env(timeout=120)
    try:
        ok(start(session_dir, write_roster(tmp_path / "roster.csv", "erin"), trainee_image))
        yield session_dir
    finally:
        tear_down(engine, session_dir)


def test_a_full_workspace_stops_at_its_limit_and_keeps_the_work(small_session: Path, trainee_image: str) -> None:
    engine = docker.from_env(timeout=120)
    url, token = endpoints(small_session)["erin"]
    save_notebook(url, token, "erin.ipynb")
    image = small_session / "workspaces" / "erin.ext4"
    before = os.stat(image).st_blocks * 512

    container = lab(engine, small_session, "erin")
    code, out = sh(container, "cd /home/trainee/work && dd if=/dev/zero of=fill bs=1M count=1000 2>&1; "
                              "stat -c %s fill")
    assert "No space left on device" in out, out
    written = int(out.split()[-1])
    assert (MIB - 16) << 20 < written <= MIB << 20, out  # full at the limit (less the file system's own blocks)
    assert os.stat(image).st_blocks * 512 <= (MIB << 20), "the host holds more than the workspace's limit"
    assert os.stat(image).st_blocks * 512 > before + ((MIB - 16) << 20)

    # Freeing space makes the workspace usable again; the saved notebook was never touched.
    code, out = sh(container, "rm /home/trainee/work/fill && echo x > /home/trainee/work/after && echo ok")
    assert (code, out.strip()) == (0, "ok")
    assert saved_cell(url, token, "erin.ipynb") == NOTEBOOK["cells"][0]["source"]

    ok(run_session("stop", "--session-dir", str(small_session)))
    ok(start(small_session, small_session.parent / "roster.csv", trainee_image))
    url, token = endpoints(small_session)["erin"]
    assert saved_cell(url, token, "erin.ipynb") == NOTEBOOK["cells"][0]["source"]


def test_after_a_reboot_the_lab_cannot_write_outside_the_quota(small_session: Path, trainee_image: str) -> None:
    engine = docker.from_env(timeout=120)
    url, token = endpoints(small_session)["erin"]
    save_notebook(url, token, "erin.ipynb")
    disk = WorkspaceDisk(small_session / "workspaces", "erin", MIB, 1000)
    container = lab(engine, small_session, "erin")
    # A reboot: the lab goes down, the loop mount is gone, the engine starts the lab again on its own.
    container.stop(timeout=10)
    subprocess.run(["umount", str(disk.mountpoint)], check=True)
    container.start()
    code, out = sh(container, "ls /home/trainee/work; echo x > /home/trainee/work/escaped && echo wrote")
    assert "wrote" not in out and code != 0, out
    assert not disk.mounted()

    ok(start(small_session, small_session.parent / "roster.csv", trainee_image))
    assert disk.mounted()
    url, token = endpoints(small_session)["erin"]
    assert saved_cell(url, token, "erin.ipynb") == NOTEBOOK["cells"][0]["source"]
    code, out = sh(lab(engine, small_session, "erin"), "echo x > /home/trainee/work/after && echo wrote")
    assert (code, out.strip()) == (0, "wrote")
    assert (disk.mountpoint / "after").read_text() == "x\n"  # on the size-limited file system

    ok(run_session("stop", "--purge", "--session-dir", str(small_session)))
    assert not disk.image.exists() and not disk.mountpoint.exists()


def test_the_size_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SIZE_ENV, raising=False)
    assert size_mib() == 2048
    for good, value in (("0", 0), ("64", 64), (" 4096 ", 4096)):
        monkeypatch.setenv(SIZE_ENV, good)
        assert size_mib() == value
    for bad in ("-1", "2g", "1.5", "63", str(2**21), "nan"):
        monkeypatch.setenv(SIZE_ENV, bad)
        with pytest.raises(DflabError, match=SIZE_ENV):
            size_mib()


def test_a_workspace_without_root_is_one_line(tmp_path: Path) -> None:
    """As an unprivileged user the mount cannot be made: one line naming the setting, no traceback."""
    folder = tmp_path / "ws"
    script = ("from pathlib import Path\nfrom dflab.errors import DflabError\n"
              "from dflab.provision.workspace_disk import WorkspaceDisk\n"
              f"try:\n    WorkspaceDisk(Path({str(folder)!r}), 'x', 64, 1000).ensure()\n"
              "except DflabError as exc:\n    print(exc)\n")
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
                           "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[1], check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "needs root" in done.stdout and SIZE_ENV in done.stdout and len(done.stdout.splitlines()) == 1
    assert not folder.exists()
