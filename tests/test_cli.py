"""The CLI: user mistakes give exactly one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NIGHTJAR = ROOT / "labs" / "scenarios" / "nightjar.yaml"


def dflab(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dflab.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(cwd),
                               "DFLAB_COURSE_SECRET": "test-secret"})


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("dflab: error: ")
    return lines[0]


def test_help_teaches():
    out = dflab("--help").stdout
    assert "dflab evidence build" in out and "scenario" in out
    build_help = dflab("evidence", "build", "--help").stdout
    assert "answer_key.json" in build_help and "--roster" in build_help


def test_validate_bundled_scenario():
    proc = dflab("scenario", "validate", str(NIGHTJAR), "--trainee", "alice")
    assert proc.returncode == 0, proc.stderr
    assert "is valid" in proc.stdout and "fat32" in proc.stdout


def test_validate_bad_spec_one_line(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(NIGHTJAR.read_text().replace("noise_packets:", "noise_pakets:"))
    proc = dflab("scenario", "validate", str(bad))
    assert proc.returncode == 2
    assert "network.noise_pakets: unknown field" in one_error_line(proc)


@pytest.mark.parametrize("args", [
    ("scenario", "validate", "/nonexistent.yaml"),
    ("evidence", "verify", "/nonexistent"),
    ("evidence", "build", str(NIGHTJAR), "--out", "/proc/forbidden", "--trainee", "a"),
    ("evidence", "build", str(NIGHTJAR), "--out", "x", "--trainee", "Bad Id"),
])
def test_user_mistakes_are_one_line(args: tuple[str, ...], tmp_path: Path):
    proc = dflab(*args, cwd=tmp_path)
    assert proc.returncode != 0
    one_error_line(proc)


def test_bad_roster_line_is_named(tmp_path: Path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\nalice,A\nalice,B\n")
    proc = dflab("evidence", "build", str(NIGHTJAR), "--out", str(tmp_path / "o"), "--roster", str(roster))
    assert proc.returncode == 2
    assert f"{roster}:3: duplicate trainee id 'alice'" in one_error_line(proc)
    assert not (tmp_path / "o").exists()


def test_an_engine_lost_mid_command_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    """The docker SDK reports a dockerd that died mid-command as requests' ConnectionError: one line, exit 2."""
    import requests

    from dflab import cli
    from dflab.session import manager

    def lost(cls: type, directory: Path) -> None:
        raise requests.exceptions.ConnectionError("('Connection aborted.', RemoteDisconnected())")

    monkeypatch.setattr(manager.Session, "existing", classmethod(lost))
    monkeypatch.setattr(sys, "argv", ["dflab", "session", "status", "--session-dir", str(tmp_path)])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "the Docker engine stopped answering" in lines[0] and "nothing is lost" in lines[0]
    # Any other OSError is a bug and keeps its traceback.
    monkeypatch.setattr(manager.Session, "existing", classmethod(lambda cls, d: (_ for _ in ()).throw(OSError(5, "x"))))
    with pytest.raises(OSError):
        cli.main()
