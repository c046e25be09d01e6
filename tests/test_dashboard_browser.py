"""The instructor's dashboard in Debian's Chromium, on a real local session of lab 02 with two trainees.

The session is started as an instructor starts it (`dflab session start`), the dashboard as they start it
(`dflab session dashboard`, its link read from its output). Alice works: her notebook, its cells run in a real kernel
in her lab folder (so the outputs are what ``answer()`` emits), is saved through her Jupyter server's contents API
with her token, as JupyterLab saves it; the page, refreshing itself, shows her steps done move from 0 to 1 to 2.
Bob records the first answer only. Then Collect and Grade are pressed on the page (the same functions as the CLI's)
and the results appear: the histogram (an SVG drawn by matplotlib) and the per-question table, whose difficulty
follows from what each recorded. A trainee's token opens nothing. Screenshots are kept under the test's tmp path.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import CliRunner
from nbclient import NotebookClient

from dflab.errors import DflabError
from dflab.grading.checks import checks_for, lookup
from dflab.lab.recorded import answer_names
from dflab.lab_meta import read_lab
from dflab.labcheck import typed_value
from dflab.session.cli import session
from dflab.session.manager import Session
from tests.test_validate_button import CHROMIUM, CHROMIUM_ARGS, _playwright

pytestmark = pytest.mark.xdist_group(name="dashboard_browser")

REPO = Path(__file__).resolve().parents[1]
LAB_ID, NOTEBOOK = "02-disk", "02-disk.ipynb"
SECRET = "test-dashboard-secret"
STEP_ONE = ["manifest_sha256"]
STEP_TWO = ["partition_table", "root_start_sector", "root_fs"]
STEPS = sum(1 for step in read_lab(REPO / "labs" / LAB_ID).steps if step.answers)  # steps with answers
WAIT_MS = 60_000
GRADE_WAIT_MS = 900_000  # two submissions graded for real (sandboxed, the whole notebook run)


@pytest.fixture(scope="module")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A running local session of lab 02 for alice and bob; stopped and purged afterwards."""
    root = tmp_path_factory.mktemp("dashboard-session")
    directory = root / "session"
    (root / "roster.csv").write_text("id,name\nalice,Alice\nbob,Bob\n", encoding="utf-8")
    try:
        result = CliRunner().invoke(session, ["start", "--lab", str(REPO / "labs" / LAB_ID), "--roster",
                                              str(root / "roster.csv"), "--session-dir", str(directory),
                                              "--secret", SECRET, "--timeout", "120"])
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
        yield directory
    finally:
        CliRunner().invoke(session, ["stop", "--purge", "--session-dir", str(directory)])
        with contextlib.suppress(DflabError):  # no server of this module may outlive it, whatever failed above
            for row in Session.existing(directory).state.trainees():
                if pid := row.backend_state.get("pid"):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def dashboard(session_dir: Path) -> Iterator[str]:
    """`dflab session dashboard` on a free port; its link (with the instructor's token)."""
    proc = subprocess.Popen([str(Path(sys.executable).with_name("dflab")), "session", "dashboard", str(session_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("dashboard: http://127.0.0.1:"), f"{line!r} {proc.stderr.read() if proc.stderr else ''}"
        yield line.removeprefix("dashboard: ").strip()
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def right_values(session_dir: Path, trainee: str, names: list[str]) -> dict[str, Any]:
    """The values ``trainee``'s key holds for ``names``, typed as an analyst would type them."""
    checks = checks_for(session_dir / "graders", LAB_ID)
    key = json.loads((session_dir / "evidence" / trainee / "key" / "answer_key.json").read_text(encoding="utf-8"))
    return {n: typed_value(checks.checks[n], lookup(key, checks.key_path(n), "key")) for n in names}


def worked(session_dir: Path, trainee: str, names: list[str]) -> nbformat.NotebookNode:
    """The released notebook after the trainee assigned ``names``' values in the first answer cell and ran it and
    the test cells recording them, in a real kernel in their lab folder."""
    nb = nbformat.read(session_dir / "release" / LAB_ID / NOTEBOOK, as_version=4)
    values = right_values(session_dir, trainee, names)
    solutions = [i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution")]
    nb.cells[solutions[0]].source = "\n".join(f"{n} = {v!r}" for n, v in values.items())
    tests = [i for i, c in enumerate(nb.cells) if set(answer_names(c.source)) & set(names)]
    folder = session_dir / "workspaces" / trainee / LAB_ID
    client = NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=120,
                            resources={"metadata": {"path": str(folder)}})
    with client.setup_kernel():
        for index in [solutions[0], *tests]:
            client.execute_cell(nb.cells[index], index)
    return nb


def save(session_dir: Path, trainee: str, nb: nbformat.NotebookNode) -> None:
    """Save as JupyterLab does: PUT through the trainee's own server's contents API, with their token."""
    row = Session.existing(session_dir).state.get(trainee)
    body = json.dumps({"type": "notebook", "format": "json", "content": nb}).encode()
    request = urllib.request.Request(f"{row.url}api/contents/{LAB_ID}/{NOTEBOOK}", data=body, method="PUT",
                                     headers={"Authorization": f"token {row.token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status in (200, 201)


def test_the_dashboard_follows_a_trainee_and_shows_the_graded_cohort(session_dir: Path, dashboard: str,
                                                                       tmp_path: Path) -> None:
    print(f"screenshots: {tmp_path}")
    trainee_token = Session.existing(session_dir).state.get("alice").token
    base = dashboard.partition("?")[0]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}?token={trainee_token}", timeout=30)
    assert refused.value.code == 403
    sync_playwright = _playwright()
    from playwright.sync_api import expect  # after _playwright(): its absence is one line saying how to install it
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1200})
            charts: list[Any] = []
            page.on("response", lambda response: charts.append(response) if "/chart/" in response.url else None)
            assert page.goto(f"{base}?token={trainee_token}").status == 403
            assert page.goto(dashboard).status == 200
            expect(page.locator('tr[data-trainee="alice"] td.steps')).to_have_text(f"0/{STEPS}", timeout=WAIT_MS)
            page.screenshot(path=str(tmp_path / "1-nothing-recorded.png"), full_page=True)

            save(session_dir, "alice", worked(session_dir, "alice", STEP_ONE))
            expect(page.locator('tr[data-trainee="alice"] td.steps')).to_have_text(f"1/{STEPS}", timeout=WAIT_MS)
            save(session_dir, "alice", worked(session_dir, "alice", STEP_ONE + STEP_TWO))
            expect(page.locator('tr[data-trainee="alice"] td.steps')).to_have_text(f"2/{STEPS}", timeout=WAIT_MS)
            save(session_dir, "bob", worked(session_dir, "bob", STEP_ONE))
            expect(page.locator('tr[data-trainee="bob"] td.steps')).to_have_text(f"1/{STEPS}", timeout=WAIT_MS)
            expect(page.locator('tr[data-trainee="alice"] td.steps')).to_have_text(f"2/{STEPS}")
            assert page.locator('tr[data-step="partitions"] td.past').text_content() == "1 of 2"
            assert page.locator("#not-graded").is_visible()
            page.screenshot(path=str(tmp_path / "2-alice-two-steps.png"), full_page=True)

            for number, action in ((1, "collect"), (2, "grade")):
                page.click(f'header button[data-action="{action}"]')
                job = page.locator(f'#jobs tr[data-job="{number}"]')
                expect(job).to_have_class(re.compile(r"^(done|failed)$"), timeout=GRADE_WAIT_MS)
                assert job.get_attribute("class") == "done", job.text_content()
            page.screenshot(path=str(tmp_path / "3-graded.png"), full_page=True)

            expect(page.locator("#score-histogram")).to_be_visible(timeout=WAIT_MS)
            page.reload()  # the chart as a first load draws it (the refresh swaps the same markup in)
            drawn = [r for r in charts if "/chart/scores.svg" in r.url]
            assert drawn and drawn[-1].ok and drawn[-1].header_value("content-type") == "image/svg+xml", drawn
            assert drawn[-1].body().startswith(b"<?xml") and b"<svg" in drawn[-1].body()
            assert page.locator("#graded").text_content().startswith("2 graded")
            assert sum(int(c) for c in page.locator("#histogram tbody td").all_text_contents()) == 2
            difficulty = {q: page.locator(f'#questions tr[data-question="{q}"] td.difficulty').text_content()
                          for q in STEP_ONE + STEP_TWO + ["payload_path"]}
            assert difficulty == {"manifest_sha256": "100 %", "partition_table": "50 %", "root_start_sector": "50 %",
                                  "root_fs": "50 %", "payload_path": "0 %"}, difficulty
            scores = page.locator("td.score").all_text_contents()
            assert all(s and "/" in s for s in scores), scores
            page.locator("#h-results").scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "4-results.png"), full_page=True)
        finally:
            browser.close()
    grade_cli_names_a_column_per_question(session_dir, tmp_path)


def grade_cli_names_a_column_per_question(session_dir: Path, tmp_path: Path) -> None:
    """After the page's Grade: `dflab grade --json --csv` over the same gradebook (unchanged submissions are kept, not
    graded again) has the points of each question under its name."""
    done = subprocess.run([str(Path(sys.executable).with_name("dflab")), "grade", LAB_ID, "--course", str(session_dir),
                           "--json", "--csv", str(tmp_path / "grades.csv")], capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [q["name"] for q in result["questions"]][:4] == STEP_ONE + STEP_TWO
    by = {r["student"]: r for r in result["rows"]}
    full = {q["name"]: q["points"] for q in result["questions"]}
    assert {n: by["alice"][n] for n in STEP_ONE + STEP_TWO} == {n: full[n] for n in STEP_ONE + STEP_TWO} and all(
        full[n] > 0 for n in STEP_ONE + STEP_TWO)
    assert (by["bob"]["manifest_sha256"], by["bob"]["root_fs"]) == (full["manifest_sha256"], 0.0)
    assert result["unchanged"] == ["alice", "bob"] and result["counts"]["done"] == 2
    with (tmp_path / "grades.csv").open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header[:3] == ["assignment", "student", "status"] and header[8:12] == STEP_ONE + STEP_TWO
