"""A session runs a lab on another case than its lab.yaml names (``dflab session start --scenario SPEC``).

Labs are plug-ins that need roles, not a case (issue 15): an instructor runs lab 02 on Kestrel with the real CLI,
and the trainee's evidence, key and released notebook are Kestrel's. A case that lacks what the lab needs is one
line naming the first thing it lacks at the spec's line, before anything is created; a re-run with another case is
refused in one line.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from dflab.scenario.new import write_starter
from tests.test_session_local import LAB, REPO, SECRET, ok, run_session, write_roster

pytestmark = pytest.mark.xdist_group(name="session_scenario")

KESTREL = REPO / "labs" / "scenarios" / "kestrel.yaml"


def dflab(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `dflab` command: its exit code and its one line, as an instructor sees them."""
    return subprocess.run([str(REPO / ".venv" / "bin" / "dflab"), *args], capture_output=True, text=True,
                          timeout=900, check=False)


@pytest.fixture(scope="module")
def kestrel_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("kestrel-session")
    session_dir = root / "session"
    try:
        ok(run_session("start", "--lab", str(LAB), "--scenario", str(KESTREL), "--roster",
                       str(write_roster(root / "roster.csv", "alice")), "--session-dir", str(session_dir),
                       "--secret", SECRET, "--timeout", "120"))
        yield session_dir
    finally:
        with contextlib.suppress(Exception):
            run_session("stop", "--purge", "--session-dir", str(session_dir))


def test_a_lab_runs_on_the_case_the_instructor_names(kestrel_session: Path) -> None:
    key = json.loads((kestrel_session / "evidence" / "alice" / "key" / "answer_key.json").read_text())
    assert key["scenario"] == "kestrel"
    released = nbformat.read(kestrel_session / "release" / "02-disk" / "02-disk.ipynb", as_version=4)
    prose = "\n".join(c.source for c in released.cells if c.cell_type == "markdown")
    assert "Kestrel" in prose and "Nightjar" not in prose
    seeded = kestrel_session / "workspaces" / "alice" / "02-disk" / "02-disk.ipynb"
    assert seeded.is_file()


def test_a_rerun_with_another_case_is_refused_in_one_line(kestrel_session: Path, tmp_path: Path) -> None:
    result = dflab("session", "start", "--lab", str(LAB), "--roster", str(write_roster(tmp_path / "r.csv", "alice")),
                   "--session-dir", str(kestrel_session), "--secret", SECRET)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "this session was started with scenario" in result.stderr and result.stderr.count("\n") == 1


def test_a_case_without_what_the_lab_needs_is_one_line_before_anything_is_made(tmp_path: Path) -> None:
    spec = write_starter("heron", tmp_path)  # the starter case: one ext4 volume, no FAT32, no lying archive
    session_dir = tmp_path / "session"
    result = dflab("session", "start", "--lab", str(LAB), "--scenario", str(spec), "--roster",
                   str(write_roster(tmp_path / "r.csv", "alice")), "--session-dir", str(session_dir),
                   "--secret", SECRET)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"dflab: error: {spec}: this case cannot run lab 02-disk: {spec}:"), result.stderr
    assert "dflab scenario validate" in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not session_dir.exists()
