"""nbgrader's Validate button in a trainee's lab tells the truth: what is recorded, never "passes all the tests".

A real local session serves lab 02's released notebook to one trainee (a real JupyterLab with dflab.labserver).
Each test writes the notebook the way a trainee's work leaves it: cells run in a real IPython kernel in the lab
folder (so the outputs are what ``dflab.lab.answer`` really emits, the one-line error included), saved through
Jupyter's contents API as the UI saves it. Then the validate route answers with the trainee's token, and, in
Debian's Chromium driven by Playwright, the button itself is pressed and its dialog read and screenshotted.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import CliRunner
from nbclient import NotebookClient

from dflab.errors import DflabError
from dflab.grading.preprocessor import answer_names as grader_answer_names  # the same function, re-exported
from dflab.lab.answers import ANSWER_MIME
from dflab.lab.recorded import MALFORMED, MISSING, RECORDED, answer_names, report, validation_result
from dflab.session.cli import session
from dflab.session.manager import Session
from tests.labkit import Lab

pytestmark = pytest.mark.xdist_group(name="validate_button")

REPO = Path(__file__).resolve().parents[1]
LAB = Lab("02-disk", "02-disk.ipynb")
NOTEBOOK = "02-disk/02-disk.ipynb"  # the path the button sends: relative to the trainee's workspace
TRAINEE = "trainee1"
SECRET = "test-validate-secret"
SHAPES = {"manifest_sha256": {"shape": "hex", "length": 64}, "partition_table": {"shape": "text"},
          "root_start_sector": {"shape": "int"}, "root_fs": {"shape": "text"}}
NEVER = "passes all the tests"
# What the chromium package installs: /usr/bin/chromium is a shell wrapper that runs this binary.
CHROMIUM = Path("/usr/lib/chromium/chromium")
# --disable-dev-shm-usage: a container's /dev/shm (64 MiB by default) is too small for Chromium's shared memory.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-dev-shm-usage"]


@dataclass(frozen=True)
class TraineeLab:
    session_dir: Path
    url: str
    token: str

    @property
    def folder(self) -> Path:
        return self.session_dir / "workspaces" / TRAINEE / "02-disk"

    def released(self) -> nbformat.NotebookNode:
        """The notebook as released to the trainee (the course's release/, untouched by the tests)."""
        return LAB.released_nb(self.session_dir)


def run_session(*args: str) -> None:
    result = CliRunner().invoke(session, list(args), catch_exceptions=True)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TraineeLab]:
    """One trainee's running lab 02 (local backend); stopped and purged afterwards."""
    root = tmp_path_factory.mktemp("validate-session")
    session_dir = root / "session"
    (root / "roster.csv").write_text(f"id,name\n{TRAINEE},Trainee One\n", encoding="utf-8")
    try:
        run_session("start", "--lab", str(REPO / "labs" / "02-disk"), "--roster", str(root / "roster.csv"),
                    "--session-dir", str(session_dir), "--secret", SECRET, "--timeout", "120")
        row = Session.existing(session_dir).state.get(TRAINEE)
        yield TraineeLab(session_dir, row.url or "", row.token)
    finally:
        CliRunner().invoke(session, ["stop", "--purge", "--session-dir", str(session_dir)])
        with contextlib.suppress(DflabError):  # no server of this module may outlive it, whatever failed above
            for row in Session.existing(session_dir).state.trainees():
                if pid := row.backend_state.get("pid"):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # a redirect (to the login page) is the answer
        return None


OPENER = urllib.request.build_opener(_NoRedirect)


def request(lab: TraineeLab, path: str, *, method: str = "GET", token: str | None = None,
            body: object = None) -> tuple[int, Any]:
    """``method`` ``<lab>path`` with ``token`` (default the trainee's); (status, parsed JSON or text)."""
    data = json.dumps(body).encode() if body is not None else None if method == "GET" else b""
    req = urllib.request.Request(f"{lab.url}{path}", method=method, data=data,
                                 headers={"Authorization": f"token {token or lab.token}",
                                          "Content-Type": "application/json"})
    try:
        with OPENER.open(req, timeout=60) as response:
            text = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as err:
        text, status = err.read().decode(errors="replace"), err.code
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def validate(lab: TraineeLab, path: str = NOTEBOOK) -> dict[str, Any]:
    """Press Validate as the button does: POST /assignments/validate?path=..., with the trainee's token."""
    status, result = request(lab, f"assignments/validate?path={urllib.parse.quote(path)}", method="POST")
    assert status == 200, result
    assert NEVER not in json.dumps(result), result
    return result


def shown(result: dict[str, Any]) -> tuple[str, str]:
    """(headline, details as plain text) of a report in nbgrader's ``failed`` form."""
    assert result["success"] is True, result
    # Without `failed` (or `changed`...) entries nbgrader's dialog says "Success! Your notebook passes all the tests."
    assert isinstance(result["value"], dict) and "failed" in result["value"], f"the button shows Success for {result}"
    [entry] = result["value"]["failed"]
    assert set(entry) == {"source", "error", "raw_error"}
    return entry["source"], entry["raw_error"]


def details(result: dict[str, Any]) -> dict[str, list[str]]:
    """Section heading (without the count) -> its items, from the report's plain text."""
    sections: dict[str, list[str]] = {}
    current = ""
    for line in shown(result)[1].splitlines():
        if line.startswith("      "):  # a wrapped item continues
            sections[current][-1] += " " + line.strip()
        elif line.startswith("  "):
            sections[current].append(line.strip())
        else:
            current = line.split(" (")[0].rstrip(":")
            sections[current] = []
    return sections


def answered(lab: TraineeLab, values: dict[str, object], run: list[str]) -> nbformat.NotebookNode:
    """The released notebook after a trainee typed ``values`` into the first answer cell, ran it, and ran the
    test cells recording ``run`` (in a real kernel in the lab folder): the cells not run keep no outputs."""
    nb = lab.released()
    solutions = [i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution")]
    nb.cells[solutions[0]].source = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    tests = [i for i, c in enumerate(nb.cells) if set(answer_names(c.source)) & set(run)]
    assert len(tests) == len(run), "each answer is recorded by a test cell of its own"
    client = NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=120,
                            resources={"metadata": {"path": str(lab.folder)}})
    with client.setup_kernel():
        for index in [solutions[0], *tests] if values else tests:
            client.execute_cell(nb.cells[index], index)
    return nb


def save(lab: TraineeLab, nb: nbformat.NotebookNode, path: str = NOTEBOOK) -> None:
    """Save ``nb`` as JupyterLab does, through the contents API."""
    status, body = request(lab, f"api/contents/{path}", method="PUT",
                           body={"type": "notebook", "format": "json", "content": nb})
    assert status in (200, 201), body


def kernels(lab: TraineeLab) -> list[str]:
    status, body = request(lab, "api/kernels")
    assert status == 200, body
    return sorted(k["id"] for k in body)


PARTLY = {"manifest_sha256": "0f" * 32, "partition_table": "mbr", "root_start_sector": 4096, "root_fs": "ext4"}


def test_an_untouched_notebook_lists_every_answer_missing(lab: TraineeLab) -> None:
    save(lab, lab.released())
    before = kernels(lab)
    result = validate(lab)
    headline, _ = shown(result)
    assert "Validate does not check whether your answers are right: grading does." in headline
    assert "0 of 12 answers recorded and well formed, 12 missing, 0 malformed" in headline.replace("\n", " ")
    assert "as of each cell's last run in the saved notebook" in headline.replace("\n", " ")
    sections = details(result)
    assert sections["Recorded and well formed"] == ["none"]
    assert sections["Missing"] == [f"{n}: its cell has not run" for n in [
        "manifest_sha256", "partition_table", "root_start_sector", "root_fs", "payload_path", "payload_inode",
        "payload_sha256", "archive_path", "archive_true_type", "slack_secret", "deleted_note_text",
        "payload_download_time"]]  # in the notebook's order
    assert "Malformed" not in sections
    assert "checked only when your work is graded" in shown(result)[1]
    assert kernels(lab) == before, "Validate started a kernel: it must only read the saved notebook"


def test_a_partly_answered_notebook_names_what_is_recorded_and_why_the_rest_is_not(lab: TraineeLab) -> None:
    save(lab, answered(lab, PARTLY, [*PARTLY, "slack_secret"]))
    result = validate(lab)
    assert "4 of 12 answers recorded and well formed, 8 missing, 0 malformed" in shown(result)[0].replace("\n", " ")
    sections = details(result)
    assert sections["Recorded and well formed"] == list(PARTLY)
    missing = dict(item.split(": ", 1) for item in sections["Missing"])
    assert missing["slack_secret"] == "its cell stopped: NameError: name 'slack_secret' is not defined"
    assert missing["payload_sha256"] == "its cell has not run"
    # The recorded values are the trainee's; Validate neither shows them nor says whether they are right.
    assert "4096" not in json.dumps(result) and "0f0f" not in json.dumps(result)
    # The button sends the path as a query argument; a JSON body (nbgrader's other form) is read the same.
    status, body = request(lab, "assignments/validate", method="POST", body={"path": NOTEBOOK})
    assert status == 200 and body == result


def test_a_malformed_answer_is_listed_with_its_one_line_reason(lab: TraineeLab) -> None:
    nb = answered(lab, {**PARTLY, "payload_sha256": "ab" * 20}, [*PARTLY, "payload_sha256"])
    [check] = [c for c in nb.cells if answer_names(c.source) == ["payload_sha256"]]
    [error] = check.outputs  # what the trainee saw under the cell: one line, nothing recorded
    assert error.traceback == ["AnswerError: payload_sha256: expected 64 hex digits, got 40 (not recorded)"]
    save(lab, nb)
    result = validate(lab)
    assert "4 of 12 answers recorded and well formed, 7 missing, 1 malformed" in shown(result)[0].replace("\n", " ")
    sections = details(result)
    assert sections["Malformed"] == ["payload_sha256: expected 64 hex digits, got 40 (not recorded)"]
    assert sections["Recorded and well formed"] == list(PARTLY)
    # The HTML nbgrader's dialog renders is the same report, escaped.
    assert "<b>Malformed (1):</b>" in result["value"]["failed"][0]["error"]


def test_right_and_wrong_answers_get_the_same_report(lab: TraineeLab) -> None:
    """Validate never reveals correctness: the trainee's own right answers and wrong ones of the same shape
    (every one of the 12) give byte-identical answers from the server."""
    right = LAB.expected_values(lab.session_dir, TRAINEE, "trainee1's key")
    wrong = {name: _another(value) for name, value in right.items()}
    assert all(wrong[n] != right[n] for n in right)
    results = []
    for values in (right, wrong):
        save(lab, answered(lab, values, list(values)))
        results.append(validate(lab))
    assert results[0] == results[1]
    assert "12 of 12 answers recorded and well formed, 0 missing, 0 malformed" in \
        shown(results[0])[0].replace("\n", " ")


def _another(value: object) -> object:
    """A value of the same shape as ``value`` that is not it."""
    if isinstance(value, int):
        return value + 1
    text = str(value)
    if text.startswith("/"):
        return text + ".wrong"
    if text[:4].isdigit() and "T" in text:  # an ISO time
        return "2001-01-01T00:00:00Z"
    if all(c in "0123456789abcdef" for c in text.lower()) and len(text) == 64:
        return "0" * 64 if text != "0" * 64 else "1" * 64
    return text + " (wrong)"


def test_what_is_not_a_lab_notebook_or_not_the_trainees_is_one_line(lab: TraineeLab) -> None:
    scratch = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    save(lab, scratch, "scratch.ipynb")
    result = validate(lab, "scratch.ipynb")
    assert result == {"success": False, "value": "scratch.ipynb: not a lab notebook (no lab.yaml beside it); "
                                                 "Validate lists the answers of a lab's notebook, in its lab folder"}
    moved = lab.released()
    save(lab, moved, "moved.ipynb")  # the lab notebook outside its folder: answer() cannot work there either
    assert validate(lab, "moved.ipynb")["value"] == \
        "moved.ipynb: no lab.yaml beside the notebook: open the notebook from its lab folder"
    assert validate(lab, "02-disk/nothing.ipynb")["success"] is False
    assert "cannot read the notebook" in validate(lab, "02-disk/nothing.ipynb")["value"]
    # A copy in the lab folder: reported, and told that grading reads the lab's own notebook.
    save(lab, lab.released(), "02-disk/copy.ipynb")
    headline, _ = shown(validate(lab, "02-disk/copy.ipynb"))
    assert headline.startswith("Grading reads 02-disk.ipynb in this folder, not copy.ipynb.")
    # Outside the workspace: refused by the contents manager, as any other request would be.
    assert "cannot read the notebook" in validate(lab, "../../../../etc/passwd")["value"]


def test_validate_and_version_need_the_trainees_token(lab: TraineeLab) -> None:
    assert request(lab, f"assignments/validate?path={NOTEBOOK}", method="POST", token="wrong-token")[0] == 403
    assert request(lab, "nbgrader_version?version=0.9.6", token="wrong-token")[0] == 302  # to the login page
    assert request(lab, "nbgrader_version?version=0.9.6") == (200, {"success": True})
    status, body = request(lab, "nbgrader_version?version=0.1.0")
    assert status == 200 and body["success"] is False and "0.1.0" in body["message"]
    assert request(lab, "assignments/validate", method="POST", body={})[0] == 400


def test_the_button_in_chromium_shows_the_report(lab: TraineeLab, tmp_path: Path) -> None:
    """Press nbgrader's own Validate button in JupyterLab, in Debian's Chromium, and read its dialog."""
    sync_playwright = _playwright()
    save(lab, answered(lab, {**PARTLY, "payload_sha256": "ab" * 20}, [*PARTLY, "payload_sha256"]))
    shot = tmp_path / "validate-dialog.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{lab.url}lab/tree/{NOTEBOOK}?token={lab.token}")
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=120_000)
            button = page.locator(".jp-NotebookPanel-toolbar jp-button.validate-button")
            button.wait_for(timeout=60_000)
            button.click()
            message = page.locator(".jp-Dialog #validation-message")
            message.wait_for(timeout=120_000)
            page.locator(".jp-Dialog-content").screenshot(path=str(shot))
            print(f"\nValidate dialog screenshot: {shot}")
            title = page.locator(".jp-Dialog-header").inner_text()
            text = message.inner_text()
        finally:
            browser.close()
    assert shot.stat().st_size > 0
    assert title.strip() == "Validation Results"
    assert NEVER not in text and "Success" not in text, f"{text}\n(screenshot: {shot})"
    assert "Validate does not check whether your answers are right: grading does." in text, shot
    flat = " ".join(text.split())
    assert "4 of 12 answers recorded and well formed, 7 missing, 1 malformed" in flat, (text, shot)
    recorded = text.split("Recorded and well formed (4):")[1].split("Missing")[0].split()
    assert recorded == list(PARTLY), (text, shot)
    assert "payload_sha256: expected 64 hex digits, got 40 (not recorded)" in text, (text, shot)


def test_a_trainee_sees_no_instructor_menu_and_no_news_prompt(lab: TraineeLab, tmp_path: Path) -> None:
    """In Debian's Chromium, the trainee's JupyterLab (dflab.labserver.LAB_SETTINGS_DIR): no Nbgrader menu, no
    Formgrader, Create Assignment, Assignment List or Course List anywhere in the command palette, no "official
    Jupyter news" prompt; the notebook, its Validate button and the terminal are there."""
    sync_playwright = _playwright()
    shot = tmp_path / "trainee-lab.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{lab.url}lab/tree/{NOTEBOOK}?token={lab.token}")
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=120_000)
            page.locator(".jp-NotebookPanel-toolbar jp-button.validate-button").wait_for(timeout=60_000)
            page.wait_for_timeout(3000)  # JupyterLab shows its news prompt a moment after start, when it shows one
            menus = [m.strip() for m in page.locator("#jp-MainMenu .lm-MenuBar-itemLabel").all_inner_texts()]
            toasts = page.locator(".Toastify__toast").all_inner_texts()
            page.keyboard.press("Control+Shift+C")  # the command palette lists every command the plugins added
            page.locator(".lm-CommandPalette-input").wait_for(timeout=30_000)
            commands = page.locator(".lm-CommandPalette-itemLabel").all_inner_texts()
            page.screenshot(path=str(shot))
            print(f"\nTrainee lab screenshot: {shot}")
        finally:
            browser.close()
    assert {"File", "Edit", "Kernel"} <= set(menus) and "Nbgrader" not in menus, menus
    assert not any("news" in t.casefold() for t in toasts), toasts
    instructor = ("formgrader", "create assignment", "assignment list", "course list")
    assert commands and not [c for c in commands if any(w in c.casefold() for w in instructor)], commands
    assert any("terminal" in c.casefold() for c in commands), commands


def _playwright() -> Any:
    """Playwright's sync API and Debian's Chromium, or a failure saying how to install them (never a skip)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: `.venv/bin/pip install -e '.[test]'` "
                    "(environments/host/install-deps.sh does)")
    if not CHROMIUM.is_file() or shutil.which("chromium") is None:
        pytest.fail(f"Debian's Chromium is missing ({CHROMIUM}): `apt-get install -y chromium` "
                    "(environments/host/install-deps.sh does); never `playwright install`")
    return sync_playwright


def test_the_lab_server_loads_nothing_of_nbgraders_or_the_graders() -> None:
    """What a lab server imports for Validate (the extension, then the report on the first press): neither
    nbgrader (a second of CPU and 40 MiB per lab) nor dflab.grading (the instructor's)."""
    code = ("import sys, dflab.labserver, dflab.lab.recorded; "
            "print(sorted({m.split('.')[0] if m.startswith('nbgrader') else m for m in sys.modules "
            "if m.startswith(('nbgrader', 'dflab.grading'))}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# The report itself, without a server: the rules that decide each answer's state.

def _cell(source: str, outputs: list[dict[str, Any]], **nbgrader: Any) -> dict[str, Any]:
    return {"cell_type": "code", "source": source, "outputs": outputs, "metadata": {"nbgrader": nbgrader}}


def _out(name: str, value: object) -> dict[str, Any]:
    return {"output_type": "display_data", "data": {ANSWER_MIME: {"name": name, "value": value}}}


def _test(name: str, *outputs: dict[str, Any]) -> dict[str, Any]:
    return _cell(f"from dflab.lab import answer\nanswer({name!r}, {name});", list(outputs), grade=True,
                 solution=False, grade_id=f"check-{name}")


def test_each_state_and_its_reason() -> None:
    nb = {"cells": [
        _test("manifest_sha256", _out("manifest_sha256", "ab" * 32)),
        _test("partition_table", _out("partition_table", "mbr"), _out("partition_table", "gpt")),  # run twice over
        _test("root_start_sector", _out("root_start_sector", "2048")),  # edited output: not an int any more
        _cell("answer('root_fs', 'ext4')", [_out("root_fs", "ext4")]),  # recorded outside its test cell
        _test("root_fs"),
        {"cell_type": "markdown", "source": "essay", "metadata": {"nbgrader": {"grade": True, "solution": True,
                                                                               "grade_id": "narrative"}}},
        _cell("assert True", [], grade=True, solution=False, grade_id="plain-test"),
    ]}
    rep = report(nb, {**SHAPES, "slack_secret": {"shape": "text"}}, "lab/02-disk.ipynb", "02-disk.ipynb")
    assert [(a.name, a.state, a.reason) for a in rep.answers] == [
        ("manifest_sha256", RECORDED, ""),
        ("partition_table", MALFORMED, "recorded 2 times by one run of its cell; grading takes exactly one "
                                       "(run the cell unchanged)"),
        ("root_start_sector", MALFORMED, "expected a whole number, got str"),
        ("root_fs", MISSING, "recorded in another cell, but grading reads only its test cell: run that"),
        ("slack_secret", MISSING, "no cell of this notebook records it (was its test cell deleted?)"),
    ]
    assert rep.manual == ("narrative",) and rep.other_tests == ("plain-test",) and rep.graded_notebook is None
    text = rep.text()
    assert "Graded by your instructor:\n  narrative" in text
    assert "Other test cells, run only when graded:\n  plain-test" in text
    assert NEVER not in text


def test_a_bad_lab_yaml_is_one_line() -> None:
    nb = {"cells": [_test("root_fs")]}
    assert validation_result(nb, "answers: [x]", "02-disk/02-disk.ipynb") == \
        {"success": False, "value": "02-disk/lab.yaml:1: answers: Input should be a valid dictionary"}
    assert validation_result(nb, "title: t\nanswers:\n  root_fs: {shape: colour}\n", "02-disk/02-disk.ipynb")["value"] \
        == "02-disk/lab.yaml:3: answers.root_fs.shape: must be one of 'text', 'hex', 'int', 'number', 'path', 'time' " \
           "or 'list'"


@pytest.mark.parametrize("lab_id", sorted(p.parent.name for p in (REPO / "labs").glob("*/source.ipynb")))
def test_the_report_reads_the_answers_the_grader_reads(lab_id: str) -> None:
    """Every lab's test cells name the same answers for the report as for the grader, and the solution's
    answers, as recorded, are all well formed by the lab's own lab.yaml."""
    nb = nbformat.read(REPO / "labs" / lab_id / "source.ipynb", as_version=4)
    for cell in nb.cells:
        assert answer_names(cell.source) == grader_answer_names(cell.source), cell.source
    lab_text = (REPO / "labs" / lab_id / "lab.yaml").read_text(encoding="utf-8")
    names = [n for c in nb.cells for n in answer_names(c.source)]
    assert names, f"{lab_id}: no answer cells"
    recorded = copy.deepcopy(nb)
    for cell in recorded.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(_out(n, _sample(lab_text, n))) for n in answer_names(cell.source)]
    result = validation_result(recorded, lab_text, f"{lab_id}/x.ipynb")
    assert f"{len(names)} of {len(names)} answers recorded and well formed" in " ".join(shown(result)[0].split())


def _sample(lab_text: str, name: str) -> object:
    """A well-formed value for answer ``name`` of a lab (shape only)."""
    import yaml

    rule = yaml.safe_load(lab_text)["answers"][name]
    return {"hex": "a" * rule.get("length", 8), "int": 1, "number": 1.5, "path": "/x", "list": ["x"],
            "time": "2026-01-01T00:00:00Z"}.get(rule["shape"], "x")
