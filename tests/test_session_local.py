"""`dflab session` with the local backend: real JupyterLab processes, one per trainee.

The tests share one module-wide cohort (alice, bob), the way an instructor's session goes: start,
start again, save work, stop and start, a server dies, restart. Each test leaves the cohort running,
so they hold in any order and on any xdist worker (a worker running some of them starts its own).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dflab.errors import DflabError
from dflab.evidence.manifest import verify
from dflab.provision.http import api_status
from dflab.session.cli import session
from dflab.session.manager import Session

pytestmark = pytest.mark.xdist_group(name="session_local")  # one cohort per module, where xdist honours groups

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "labs" / "02-disk"
SECRET = "test-session-secret"
READY_TIMEOUT = "120"
NOTEBOOK = {
    "cells": [{"cell_type": "markdown", "metadata": {}, "source": "finding: payload deleted at 10:42"}],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 4,
}


def run_session(*args: str) -> Result:
    """Invoke `dflab session ...` in-process, as the dflab entry point would."""
    return CliRunner().invoke(session, list(args), catch_exceptions=True)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def write_roster(path: Path, *trainees: str) -> Path:
    path.write_text("id,name\n" + "".join(f"{t},{t.title()}\n" for t in trainees), encoding="utf-8")
    return path


def access_list(session_dir: Path) -> dict[str, str]:
    with (session_dir / "access.csv").open(encoding="utf-8") as fh:
        return {row["trainee"]: row["url"] for row in csv.DictReader(fh)}


def endpoints(session_dir: Path) -> dict[str, tuple[str, str]]:
    """trainee -> (base url, token), from the session's own state."""
    return {r.id: (r.url or "", r.token) for r in Session.existing(session_dir).state.trainees()}


def contents(url: str, token: str, path: str, model: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET (or PUT, with ``model``) a file through Jupyter's contents API: what saving in the UI does."""
    request = urllib.request.Request(
        f"{url}api/contents/{path}",
        data=json.dumps(model).encode() if model is not None else None,
        method="PUT" if model is not None else "GET",
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def save_notebook(url: str, token: str, name: str) -> None:
    contents(url, token, name, {"type": "notebook", "format": "json", "content": NOTEBOOK})


def saved_cell(url: str, token: str, name: str) -> str:
    try:
        return contents(url, token, name)["content"]["cells"][0]["source"]
    except urllib.error.HTTPError as err:
        raise AssertionError(f"{name} is not in the workspace ({err.code})") from err


def wait_gone(url: str, timeout: float = 20.0) -> None:
    """Wait until nothing answers at ``url`` (a stopped or killed server)."""
    deadline = time.monotonic() + timeout
    while api_status(url, None, timeout=1) is not None:
        assert time.monotonic() < deadline, f"{url} still answers"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A started local session of two trainees; stopped and purged afterwards."""
    root = tmp_path_factory.mktemp("local-session")
    session_dir = root / "session"
    roster = write_roster(root / "roster.csv", "alice", "bob")
    try:
        ok(run_session("start", "--lab", str(LAB), "--roster", str(roster), "--session-dir", str(session_dir),
                       "--secret", SECRET, "--timeout", READY_TIMEOUT))
        yield session_dir
    finally:
        run_session("stop", "--purge", "--session-dir", str(session_dir))
        # Belt and braces: no server of this module may outlive it, whatever failed above.
        with contextlib.suppress(DflabError):
            for row in Session.existing(session_dir).state.trainees():
                if pid := row.backend_state.get("pid"):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)


def test_each_trainee_answers_only_with_their_own_token(cohort: Path) -> None:
    eps = endpoints(cohort)
    assert sorted(eps) == ["alice", "bob"]
    (a_url, a_token), (b_url, b_token) = eps["alice"], eps["bob"]
    assert a_url != b_url and a_token != b_token
    for url, token in eps.values():
        assert url.startswith("http://127.0.0.1:")
        assert api_status(url, token) == 200
        assert api_status(url, None) == 403
    assert api_status(b_url, a_token) == 403
    assert api_status(a_url, b_token) == 403
    # The access list hands out exactly these links.
    assert access_list(cohort) == {t: f"{u}lab?token={k}" for t, (u, k) in eps.items()}
    assert (cohort / "access.csv").stat().st_mode & 0o077 == 0


def _http_status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_lab_servers_load_the_trainee_extensions_only(cohort: Path) -> None:
    url, token = endpoints(cohort)["alice"]
    assert _http_status(f"{url}nbgrader_version?version=0.9.6", token) == 200  # Validate, through dflab.labserver
    assert _http_status(f"{url}formgrader", token) == 404  # the instructor's
    assert _http_status(f"{url}assignments", token) == 404  # nbgrader's exchange
    assert _http_status(f"{url}lsp/status", token) == 404  # language servers


def test_each_trainee_gets_their_own_read_only_evidence(cohort: Path) -> None:
    s = Session.existing(cohort)
    manifests = set()
    for row in s.state.trainees():
        evidence = s.evidence_dir(row.id)
        assert verify(evidence) == []
        manifests.add((evidence / "manifest.json").read_bytes())
        # Lab 02 declares `evidence: [disk]`: no memory image or capture is built or handed out.
        assert sorted(p.name for p in evidence.iterdir()) == ["disk.img", "manifest.json"]
        assert all(not p.stat().st_mode & 0o222 for p in [evidence, *evidence.rglob("*")])
        environ = Path(f"/proc/{row.backend_state['pid']}/environ").read_bytes().split(b"\0")
        assert f"DFLAB_EVIDENCE={evidence}".encode() in environ
        # The answer key is built beside the evidence, never inside what the trainee is pointed at.
        assert not list(evidence.rglob("answer_key.json"))
    assert len(manifests) == 2, "both trainees got the same variant"


def test_start_twice_creates_nothing_twice(cohort: Path) -> None:
    before = Session.existing(cohort).state.trainees()
    manifest_mtime = {r.id: (Session.existing(cohort).evidence_dir(r.id) / "manifest.json").stat().st_mtime_ns
                      for r in before}
    roster = write_roster(cohort.parent / "roster.csv", "alice", "bob")
    result = ok(run_session("start", "--lab", str(LAB), "--roster", str(roster), "--session-dir", str(cohort),
                            "--secret", SECRET, "--timeout", READY_TIMEOUT))
    assert "evidence  up to date" in result.output
    assert "kept" in result.output and "started" not in result.output
    after = Session.existing(cohort).state.trainees()
    assert [(r.id, r.token, r.url, r.backend_state["pid"]) for r in after] == \
        [(r.id, r.token, r.url, r.backend_state["pid"]) for r in before]
    assert manifest_mtime == {r.id: (Session.existing(cohort).evidence_dir(r.id) / "manifest.json").stat().st_mtime_ns
                              for r in after}


def test_a_different_secret_is_refused(cohort: Path) -> None:
    roster = write_roster(cohort.parent / "roster.csv", "alice", "bob")
    result = run_session("start", "--lab", str(LAB), "--roster", str(roster), "--session-dir", str(cohort),
                         "--secret", "another-secret")
    assert isinstance(result.exception, DflabError)
    assert "started with a different course secret" in str(result.exception)


def test_stop_then_start_keeps_the_workspace(cohort: Path) -> None:
    url, token = endpoints(cohort)["alice"]
    save_notebook(url, token, "findings.ipynb")
    ok(run_session("stop", "--session-dir", str(cohort)))
    for u, _ in endpoints(cohort).values():
        wait_gone(u)
    assert access_list(cohort) == {}
    assert (cohort / "workspaces" / "alice" / "findings.ipynb").is_file()

    roster = write_roster(cohort.parent / "roster.csv", "alice", "bob")
    result = ok(run_session("start", "--lab", str(LAB), "--roster", str(roster), "--session-dir", str(cohort),
                            "--secret", SECRET, "--timeout", READY_TIMEOUT))
    assert result.output.count("started") == 2
    url, token = endpoints(cohort)["alice"]
    assert api_status(url, token) == 200
    assert saved_cell(url, token, "findings.ipynb") == NOTEBOOK["cells"][0]["source"]


def test_a_killed_server_shows_dead_and_restart_brings_it_back(cohort: Path) -> None:
    url, token = endpoints(cohort)["bob"]
    save_notebook(url, token, "bob-notes.ipynb")
    pid = Session.existing(cohort).state.get("bob").backend_state["pid"]
    os.killpg(pid, signal.SIGKILL)
    wait_gone(url)

    ok(run_session("status", "--session-dir", str(cohort)))
    states = {h.trainee: h.state for h in Session.existing(cohort).status()}
    assert states == {"alice": "running", "bob": "dead"}
    # `start` does not restart a dead lab behind the instructor's back...
    roster = write_roster(cohort.parent / "roster.csv", "alice", "bob")
    result = ok(run_session("start", "--lab", str(LAB), "--roster", str(roster), "--session-dir", str(cohort),
                            "--secret", SECRET, "--timeout", READY_TIMEOUT))
    assert "left dead" in result.output
    assert api_status(url, token) is None
    assert "bob" not in access_list(cohort)

    # ...`restart` does, on the same port when it is free, with the work still there.
    ok(run_session("restart", "bob", "--session-dir", str(cohort), "--timeout", READY_TIMEOUT))
    new_url, new_token = endpoints(cohort)["bob"]
    assert (new_url, new_token) == (url, token)
    assert api_status(url, token) == 200
    assert saved_cell(url, token, "bob-notes.ipynb") == NOTEBOOK["cells"][0]["source"]
    assert {h.trainee: h.state for h in Session.existing(cohort).status()} == {"alice": "running", "bob": "running"}
    assert sorted(access_list(cohort)) == ["alice", "bob"]


def test_status_reports_cpu_and_memory(cohort: Path) -> None:
    for health in Session.existing(cohort).status():
        assert health.stats is not None
        # An idle JupyterLab server is tens of MiB resident, never zero and never gigabytes.
        assert 20 * 2**20 < health.stats.memory_bytes < 2 * 2**30
        assert health.stats.cpu_percent >= 0


@pytest.mark.parametrize(
    ("roster_text", "message"),
    [
        ("id\nalice\nalice\n", "roster.csv:3: duplicate trainee id 'alice' (first on line 2)"),
        ("id\nAlice Smith\n", "roster.csv:2: trainee id 'Alice Smith' must be"),
        ("id\n\n", "roster lists no trainees"),
        ("name\nalice\n", "roster.csv:1: roster needs a header line with an 'id' column"),
    ],
)
def test_a_bad_roster_is_one_clear_line_and_creates_nothing(tmp_path: Path, roster_text: str, message: str) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(roster_text, encoding="utf-8")
    result = run_session("start", "--lab", str(LAB), "--roster", str(roster), "--session-dir",
                         str(tmp_path / "session"), "--secret", SECRET)
    assert isinstance(result.exception, DflabError)
    assert message in str(result.exception)
    assert "\n" not in str(result.exception)
    assert not (tmp_path / "session").exists()


def test_commands_on_a_missing_session_fail_clearly(tmp_path: Path) -> None:
    for args in (["status"], ["stop"], ["restart", "alice"]):
        result = run_session(*args, "--session-dir", str(tmp_path / "nothing"))
        assert isinstance(result.exception, DflabError)
        assert "no session here" in str(result.exception)


@pytest.mark.parametrize("size", ["40k", "120k", "250k", "500k"])
def test_a_full_disk_is_one_clear_line_and_a_rerun_with_space_completes(tmp_path: Path, size: str) -> None:
    """A real full file system under the session (a tiny tmpfs; mounting needs root, as `make test` does).

    Each size runs out at another step (session state, gradebook, release, evidence); every one is a
    single line, and once there is room the same command finishes the session from what was kept.
    """
    session_dir = tmp_path / "session"
    session_dir.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(session_dir)], check=True)
    try:
        args = ("start", "--lab", str(LAB), "--roster", str(write_roster(tmp_path / "roster.csv", "alice")),
                "--session-dir", str(session_dir), "--secret", SECRET, "--timeout", READY_TIMEOUT)
        result = run_session(*args)
        assert isinstance(result.exception, DflabError), f"{result.output}\n{result.exception!r}"
        assert "full" in str(result.exception) or "No space left" in str(result.exception)
        assert "\n" not in str(result.exception)
        # room for the variant: its disk is 1 GiB apparent, what it holds (~150 MiB) is all tmpfs stores
        subprocess.run(["mount", "-o", "remount,size=1g", str(session_dir)], check=True)
        ok(run_session(*args))
        url, token = endpoints(session_dir)["alice"]
        assert api_status(url, token) == 200
        assert verify(Session.existing(session_dir).evidence_dir("alice")) == []
    finally:
        run_session("stop", "--session-dir", str(session_dir))
        # Lazily: this process may still hold the session's SQLite files open (in-process CLI runs).
        subprocess.run(["umount", "--lazy", str(session_dir)], check=True)
