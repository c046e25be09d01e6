"""The main job: `make lab` serves a working lab on the embedded default (local processes, SQLite, no Docker).

The test runs exactly the `dflab session start` command the Makefile's `lab` recipe runs (read with
`make -n`, only the session directory moved to a temporary one), waits for the trainee's link, opens
the seeded released notebook through Jupyter's contents API with the token, then presses Ctrl-C.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from dflab.grading.course import PYTHON_STUB
from dflab.provision.http import api_status
from tests.test_session_local import REPO, contents, wait_gone

pytestmark = pytest.mark.xdist_group(name="session_make_lab")

MAKEFILE = REPO / "Makefile"
LINK = re.compile(r"^([a-z0-9][a-z0-9_.-]*): (http://127\.0\.0\.1:\d+/)lab\?token=(\S+)$")
READY_TIMEOUT = 600  # evidence for one trainee is built first on a fresh session


def lab_command(session_dir: Path) -> list[str]:
    """The `dflab session start` line of `make lab`, with SESSION pointing at ``session_dir``."""
    out = subprocess.run(["make", "-f", str(MAKEFILE), "-n", "-s", "lab", f"SESSION={session_dir}"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    lines = [line for line in out.splitlines() if "dflab session start" in line]
    assert len(lines) == 1, f"`make lab` must run one `dflab session start` (the main job); it runs:\n{out}"
    command = shlex.split(lines[0])
    assert "--serve" in command and str(session_dir) in command, command
    return command


def test_make_lab_serves_the_released_notebook_until_ctrl_c(tmp_path: Path) -> None:
    session_dir = tmp_path / "lab-session"
    env = {k: v for k, v in os.environ.items() if k != "DFLAB_COURSE_SECRET"}
    proc = subprocess.Popen(lab_command(session_dir), cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    output: list[str] = []
    try:
        links = {}
        while not any("serving" in line for line in output):
            line = lines.get(timeout=READY_TIMEOUT)
            assert line is not None, "make lab exited before serving:\n" + "\n".join(output)
            output.append(line)
            if m := LINK.match(line):
                links[m[1]] = (m[2], m[3])
        assert sorted(links) == ["trainee1"], output
        url, token = links["trainee1"]
        model = contents(url, token, "02-disk/02-disk.ipynb")
        assert model["type"] == "notebook"
        released = (session_dir / "release" / "02-disk" / "02-disk.ipynb").read_text()
        assert "BEGIN SOLUTION" not in released and PYTHON_STUB in released
        assert [c["source"] for c in model["content"]["cells"]] == \
            ["".join(c["source"]) for c in json.loads(released)["cells"]]
        assert api_status(url, None) == 403

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=120) == 0, "\n".join(output)
        wait_gone(url)
        assert (session_dir / "workspaces" / "trainee1" / "02-disk" / "02-disk.ipynb").is_file()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            subprocess.run([str(REPO / ".venv" / "bin" / "dflab"), "session", "stop", "--session-dir",
                            str(session_dir)], check=False, capture_output=True)
