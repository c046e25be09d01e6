"""A path without programming (issue #16 item 3): labs 04 and 02 completed in the browser, no code typed, full marks.

A real local session serves the lab to one trainee (confined as their own uid, their checker running). In Debian's
Chromium, driven by Playwright, the trainee opens the released notebook and runs its cells in order, one after
another (Ctrl+Enter), as the lab asks. At each step's answer form they read the values off the page, from the
outputs of the cells the notebook prepared (the tool commands, or whatever prepared cells the step has), type them
into the form's fields, press Check and see ✓ for every field. No cell is edited: the released notebook's sources are
unchanged when it is saved. Before saving, the trainee restarts the kernel and runs all cells: the run goes through
to the last cell (a cleared solution cell is a comment, not nbgrader's NotImplementedError, and each form sets its
answers again from what was saved). Then the instructor's real commands collect and grade the session (`dflab
session collect`, `dflab grade`), and every graded cell scores its full points.

Lab 04's values are parsed from its tool commands' output (tshark, capinfos, sha256sum, wc) the way a trainee
reads them, without the key; the key only judges the result. Lab 02's notebook belongs to another change, so its
run follows whatever prepared cells each step has: each value of the trainee's key must be visible, in a form a
person would recognise, among the outputs shown before that step's form, and that is what gets typed.

Screenshots of every form after Check, of the run and of the saved notebook are kept in a folder under the test's
tmp path (printed). Without a browser, the same path runs on both bundled cases for labs 03-05 (Run All with the
key's values saved as typed), and every step of labs 01-05 is checked for its form, prepared cells and hints.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader.api import Gradebook

from dflab.evidence.build import build_variant
from dflab.grading.checks import TERMS, Check, load_checks, lookup
from dflab.grading.course import PYTHON_STUB
from dflab.lab.form import ANSWERS_DIR, MESSAGES
from dflab.lab.recorded import answer_names
from dflab.lab_meta import for_trainees, read_lab
from dflab.labcheck import typed_value
from dflab.scenario.load import load_spec
from tests.test_session_local import contents, endpoints
from tests.test_session_local_isolation import kill_leftovers
from tests.test_validate_button import CHROMIUM, CHROMIUM_ARGS, _playwright

pytestmark = pytest.mark.xdist_group(name="nocode_path")

REPO = Path(__file__).resolve().parents[1]
TRAINEE = "alice"
SECRET = "nocode-path-secret-5e1d"
CELL_TIMEOUT_MS = 300_000  # one prepared cell: a tool pass over the capture or the image


def dflab(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `dflab` CLI, as an instructor runs it."""
    return subprocess.run([sys.executable, "-m", "dflab.cli", *args], capture_output=True, text=True, timeout=900,
                          check=False)


@contextlib.contextmanager
def running_lab(root: Path, lab_id: str) -> Iterator[Path]:
    """A running local session of ``lab_id`` for alice (confined, checker running); nothing outlives the block."""
    session = root / "session"
    roster = root / "roster.csv"
    roster.write_text(f"id,name\n{TRAINEE},Alice Adams\n", encoding="utf-8")
    try:
        started = dflab("session", "start", "--backend", "local", "--lab", str(REPO / "labs" / lab_id), "--roster",
                        str(roster), "--session-dir", str(session), "--secret", SECRET, "--timeout", "120")
        assert started.returncode == 0, started.stdout + started.stderr
        yield session
    finally:
        dflab("session", "stop", "--purge", "--session-dir", str(session))
        kill_leftovers(session)


# -- reading a page ---------------------------------------------------------------------------------------------

# (outputs shown since the previous form, all outputs shown so far, found so far) -> answer name -> what to type
Reader = Callable[[str, str, dict[str, str]], dict[str, str]]


@dataclass
class Walk:
    """One trainee's walk through a released notebook in the browser: what they found, and where it is shown."""

    page: Any
    released: list[dict[str, Any]]  # the notebook's cells as released (source, metadata)
    shots: Path
    found: dict[str, str] = field(default_factory=dict)
    shown: list[str] = field(default_factory=list)  # each cell's output text (forms: ""), as far as the walk ran

    @property
    def cells(self) -> Any:
        return self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")

    def run_through(self, last: int) -> None:
        """Run every cell up to ``last`` (included), each to its end before the next: select it, Ctrl+Enter (as
        Shift+Enter, without moving on, so that the last cell adds no new one)."""
        for index in range(len(self.shown), last + 1):
            cell = self.cells.nth(index)
            cell.scroll_into_view_if_needed()
            cell.locator(".jp-InputPrompt").first.click()
            self.page.keyboard.press("Escape")  # command mode: the keys run the selected cell
            self.page.keyboard.press("Control+Enter")
            if self.released[index]["cell_type"] == "code":
                prompt = cell.locator(".jp-InputArea .jp-InputPrompt").first
                self.page.wait_for_function(
                    "el => /\\[\\d+\\]/.test(el.textContent)", arg=prompt.element_handle(), timeout=CELL_TIMEOUT_MS)
            is_form = "answer_form(" in self.released[index]["source"]  # what a form shows was typed, not found
            self.shown.append(cell.locator(".jp-OutputArea").first.inner_text()
                              if cell.locator(".jp-OutputArea").count() and not is_form else "")

    def answer(self, step: str, names: list[str], read: Reader) -> dict[str, str]:
        """Run the cells up to step ``step``'s form, read its answers off the outputs shown since the previous
        form, type them, press Check; the marks each field shows."""
        form = next(i for i, c in enumerate(self.released) if f"answer_form({step!r})" in c["source"])
        since = max([i for i, c in enumerate(self.released[:form]) if "answer_form(" in c["source"]], default=-1)
        self.run_through(form)
        values = read("\n".join(self.shown[since + 1:form]), "\n".join(self.shown), self.found)
        assert set(values) == set(names), (step, values)
        self.found.update(values)
        cell = self.cells.nth(form)
        fields = cell.locator(".widget-text input, .widget-textarea textarea")
        fields.nth(len(names) - 1).wait_for(timeout=60_000)
        for index, name in enumerate(names):
            fields.nth(index).fill(values[name])
            fields.nth(index).press("Tab")  # the field loses focus: its value reaches the kernel
        cell.locator("button", has_text=MESSAGES["check"]).click()
        marks = cell.locator(".widget-html", has_text=re.compile(f"{MESSAGES['right']}|{MESSAGES['wrong']}"))
        marks.nth(len(names) - 1).wait_for(timeout=60_000)  # a verdict under every field
        cell.screenshot(path=str(self.shots / f"{len(list(self.shots.iterdir())):02d}-{step}.png"))
        return {name: mark for name, mark in zip(names, marks.all_inner_texts(), strict=False)}


def open_notebook(browser: Any, url: str, token: str, path: str, released: list[dict[str, Any]]) -> Any:
    """A page of ``browser`` on the trainee's notebook at ``path``, its kernel idle and every cell rendered."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}lab/tree/{path}?token={token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", state="attached", timeout=120_000)
    page.wait_for_function("n => document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')"
                           ".length >= n", arg=len(released), timeout=60_000)
    return page


def save_notebook(page: Any) -> None:
    """Ctrl+S, and wait until JupyterLab says the notebook is saved."""
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')", timeout=60_000)


def walk_lab(session: Path, lab_id: str, notebook: str, reader: Callable[[str], Reader],
             shots: Path) -> list[dict[str, Any]]:
    """Alice goes through ``lab_id`` in Chromium, answering every step through its form; returns the cells of
    the notebook she saved. Each form must show ✓ for every one of its fields."""
    sync_playwright = _playwright()
    url, token = endpoints(session)[TRAINEE]
    path = f"{lab_id}/{notebook}"
    released = contents(url, token, path)["content"]["cells"]
    steps = [s for s in read_lab(REPO / "labs" / lab_id).steps if s.answers]
    marks: dict[str, dict[str, str]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = open_notebook(browser, url, token, path, released)
            walk = Walk(page, released, shots)
            for step in steps:
                marks[step.id] = walk.answer(step.id, list(step.answers), reader(step.id))
            walk.run_through(len(released) - 1)
            run_all_after_restart(page, released, shots)
            save_notebook(page)
            page.screenshot(path=str(shots / "saved.png"), full_page=True)
        finally:
            browser.close()
    print(f"\n{lab_id}: screenshots in {shots}")
    wrong = {step: m for step, m in marks.items() if set(m.values()) != {MESSAGES["right"]}}
    assert not wrong, f"forms not all ✓: {wrong} (screenshots: {shots})"
    saved = contents(url, token, path)["content"]["cells"]
    assert [c["source"] for c in saved] == [c["source"] for c in released], "a cell was edited: code was typed"
    errors = [(c["source"][:60], o["ename"]) for c in saved for o in c.get("outputs", [])
              if o["output_type"] == "error"]
    assert not errors, f"cells stopped with an error: {errors}"
    return saved


def run_all_after_restart(page: Any, released: list[dict[str, Any]], shots: Path) -> None:
    """Kernel > Restart Kernel and Run All Cells, as a trainee who answered through the forms does before handing
    in: every cell runs, none stops the run (a cleared solution cell is a comment, each form sets its answers again
    from what was saved), so the last code cell's prompt shows one execution per code cell."""
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Kernel").click()
    page.locator(".lm-Menu-itemLabel", has_text="Restart Kernel and Run All Cells").click()
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    count = sum(c["cell_type"] == "code" for c in released)
    last = page.locator(".jp-NotebookPanel .jp-Notebook .jp-CodeCell .jp-InputArea .jp-InputPrompt").last
    try:  # queued first ([*]: the walk left the same count there), then run
        page.wait_for_function("el => el.textContent.includes('[*]')", arg=last.element_handle(), timeout=60_000)
        page.wait_for_function("([el, n]) => el.textContent.includes(`[${n}]`)", arg=[last.element_handle(), count],
                               timeout=600_000)
    finally:
        page.screenshot(path=str(shots / "run-all.png"), full_page=True)


def collect_and_grade(session: Path, lab_id: str) -> tuple[dict[str, float | None], dict[str, float]]:
    """`dflab session collect` then `dflab grade`; (alice's score per graded cell, each cell's points)."""
    collected = dflab("session", "collect", "--session-dir", str(session))
    assert collected.returncode == 0, collected.stdout + collected.stderr
    graded = dflab("grade", lab_id, "--course", str(session), "--sandbox", "local")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    source = nbformat.read(next((session / "source" / lab_id).glob("*.ipynb")), as_version=4)
    points = {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
              for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")}
    with Gradebook(f"sqlite:///{session / 'gradebook.db'}") as gb:
        scores = {g.name: g.auto_score for g in gb.find_submission_notebook(lab_id, lab_id, TRAINEE).grades}
    return scores, points


# -- lab 04: read from the tools' output --------------------------------------------------------------------------

HEX64 = r"[0-9a-f]{64}"


def one(pattern: str, text: str, what: str) -> re.Match[str]:
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"{what}: not in the step's output:\n{text[-3000:]}"
    return found


def dns_table(text: str) -> dict[str, list[str]]:
    """`tshark -T fields -e dns.qry.name -e dns.a` lines: name -> addresses."""
    return {m[1]: m[2].split(",") for m in re.finditer(r"^(\S+)\t(\d[\d.,]+)$", text, re.MULTILINE)}


def network_reader(step: str) -> Reader:
    def read(text: str, page: str, found: dict[str, str]) -> dict[str, str]:
        if step == "integrity-before":
            return {"capture_sha256": one(rf"^({HEX64})\s+\S*network\.pcap$", text, "sha256sum")[1]}
        if step == "streaming":
            first = one(r"^\s*1 (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)", text, "first packet")
            return {"capture_start": f"{first[1]}T{first[2]}Z"}
        if step == "conversations":
            rows = [(a, b) for a, b in re.findall(r"^(\d[\d.]+)\s+<->\s+(\d[\d.]+)\s", text, re.MULTILINE)
                    if "224." not in (a[:4], b[:4])]  # multicast (mDNS to 224.0.0.251) reaches every machine
            [host] = set.intersection(*({a, b} for a, b in rows))  # one end of every unicast conversation
            return {"suspect_ip": host}
        if step == "http-objects":
            served = re.findall(r"^([\w.+-]+/[\w.+-]+)\t(http://\S+)$", text, re.MULTILINE)
            [url] = [u for kind, u in served if not kind.startswith("text/")]  # the object that is not a page
            host, name = url.split("/")[2], url.rsplit("/", 1)[1]
            digest = one(rf"^({HEX64})\s+work/http/{re.escape(name)}$", text, "sha256sum of the object")[1]
            return {"payload_sha256": digest, "c2_domain": host}
        if step == "dns":
            return {"c2_ip": dns_table(text)[found["c2_domain"]][0]}
        if step == "credentials":
            ftp = dict(re.findall(r"^\d[\d.]+\t(USER|PASS)\t(.+)$", text, re.MULTILINE))
            drop = one(r"^(\d[\d.]+)\tUSER\t", text, "FTP USER")[1]
            basic = one(r"^\d[\d.]+\t[^:\s]+:(.+)$", text, "HTTP Basic login")[1]
            names = dns_table(page)  # the DNS list of step 5, scrolled back to
            [domain] = [name for name, addresses in names.items() if drop in addresses]
            return {"ftp_user": ftp["USER"], "ftp_password": ftp["PASS"], "drop_ip": drop, "drop_domain": domain,
                    "intranet_password": basic,
                    "packet_count": one(r"^Number of packets:\s+(\d+)$", text, "capinfos")[1]}
        if step == "exfiltration":
            ports = re.findall(rf"^\S+\s+<->\s+{re.escape(found['c2_ip'])}:(\d+)\s", text, re.MULTILINE)
            [port] = [p for p in ports if p not in ("80", "443")]
            return {"exfil_port": port, "exfil_bytes": one(r"^(\d+) work/exfil\.bin$", text, "wc -c")[1],
                    "archive_sha256": one(rf"^({HEX64})\s+work/exfil\.bin$", text, "sha256sum")[1]}
        raise AssertionError(f"lab 04 has no step {step!r} this test knows")

    return read


def test_lab_04_without_code_in_chromium_scores_full_marks(tmp_path: Path) -> None:
    shots = tmp_path / "screenshots-04"
    shots.mkdir()
    with running_lab(tmp_path, "04-network") as session:
        walk_lab(session, "04-network", "04-network.ipynb", network_reader, shots)
        scores, points = collect_and_grade(session, "04-network")
    assert scores == points, f"not full marks: {scores} of {points}"


# -- lab 02: each value of the key, as it shows on the page --------------------------------------------------------

def as_typed(value: object, check: Check) -> object:
    """A key's value as a person writes it: a time (epoch seconds in some keys) as ISO-8601 UTC."""
    if check.compare == "time" and isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def shown_as(value: object, check: Check, page: str) -> str | None:
    """How ``value`` (a key's, for ``check``) appears on ``page`` in a form a person recognises, or None."""
    text = str(value)
    if check.compare == "casefold" and check.vocabulary:
        names = [text, *TERMS[check.vocabulary].get(text, ())]
        found = [m[0] for n in names if (m := re.search(rf"(?<!\w){re.escape(n)}(?!\w)", page, re.IGNORECASE))]
        return found[0] if found else None
    if check.compare == "int":
        return text if re.search(rf"(?<!\d){text}(?!\d)", page) else None
    if check.compare == "hex":
        return text.lower() if text.lower() in page.lower() else None
    if check.compare in ("time", "timeline"):  # ISO-8601 in the key; tools print a space where ISO has the T
        day, clock = text.rstrip("Z").split("T")
        return text if re.search(rf"{day}[T ]{clock}", page) else None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return text.strip() if lines and all(line in page for line in lines) else None


def key_reader(session: Path, lab_id: str) -> Callable[[str], Reader]:
    """A reader that finds each answer's value (from alice's key) among the outputs shown so far, and types it as
    shown there: it follows whatever prepared cells the notebook has, wherever they put the value."""
    checks = load_checks(session / "graders" / f"{lab_id}.yaml")
    key = json.loads((session / "evidence" / TRAINEE / "key" / "answer_key.json").read_text(encoding="utf-8"))
    steps = {s.id: list(s.answers) for s in read_lab(REPO / "labs" / lab_id).steps}

    def reader(step: str) -> Reader:
        def read(text: str, page: str, found: dict[str, str]) -> dict[str, str]:
            values = {}
            for name in steps[step]:
                check = checks.checks[name]
                value = as_typed(typed_value(check, lookup(key, checks.key_path(name), "alice's key")), check)
                seen = shown_as(value, check, page)
                assert seen is not None, f"{name} ({value!r}) is not shown by any prepared cell before its form"
                values[name] = seen
            return values

        return read

    return reader


def test_lab_02_without_code_in_chromium_scores_full_marks(tmp_path: Path) -> None:
    shots = tmp_path / "screenshots-02"
    shots.mkdir()
    with running_lab(tmp_path, "02-disk") as session:
        walk_lab(session, "02-disk", "02-disk.ipynb", key_reader(session, "02-disk"), shots)
        scores, points = collect_and_grade(session, "02-disk")
    assert scores == points, f"not full marks: {scores} of {points}"


# -- every step of labs 01-05: a form, prepared commands, hints; the commands show what the forms ask ---------------

TYPED_IN_FORMS = {  # per lab, the answers a form takes (lab 01's collection is graded from the case folder)
    "01-live": {"suspect_name", "listener_port", "sink_ip", "sink_port", "ssh_remote_ip", "held_file_name",
                "suspect_exe_sha256", "held_file_sha256", "beacon"},
}


@pytest.mark.parametrize("lab_id", ["01-live", "02-disk", "03-memory", "04-network", "05-capstone"])
def test_every_step_has_hints_an_explanation_and_a_form_after_its_prepared_cells(lab_id: str) -> None:
    meta = read_lab(REPO / "labs" / lab_id)
    cells = nbformat.read(REPO / "labs" / lab_id / "source.ipynb", as_version=4).cells
    typed = TYPED_IN_FORMS.get(lab_id, set(meta.answers))
    for step in meta.steps:
        assert step.explanation and (2 <= len(step.hints) <= 3 or not step.answers), (lab_id, step.id)
        names = [n for n in step.answers if n in typed]
        if not names:
            continue
        forms = [i for i, c in enumerate(cells) if c.source.endswith(f"answer_form({step.id!r})")]
        assert len(forms) == 1, f"{lab_id}: step {step.id} needs one form cell, has {len(forms)}"
        records = [i for i, c in enumerate(cells) if set(answer_names(c.source)) & set(names)]
        assert records and forms[0] < min(records), f"{lab_id}: {step.id}'s form must come before its test cells"
        if lab_id != "02-disk":  # lab 02's prepared cells are its own change's (the browser test follows them)
            prepared = [i for i, c in enumerate(cells[:forms[0]])
                        if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith(f"tools-{step.id}")]
            assert prepared, f"{lab_id}: step {step.id} has no prepared cell of tool commands before its form"
    form_steps = {m[1] for c in cells for m in re.finditer(r"answer_form\('([^']+)'\)", c.source)}
    assert form_steps <= {s.id for s in meta.steps}, form_steps


@pytest.mark.parametrize(("lab_id", "case", "kinds"), [
    ("03-memory", "nightjar", ["disk", "memory"]), ("03-memory", "kestrel", ["disk", "memory"]),
    ("04-network", "kestrel", ["disk", "network"]),
    ("05-capstone", "nightjar", ["disk", "memory", "network"]),
    ("05-capstone", "kestrel", ["disk", "memory", "network"]),
])
def test_run_all_with_typed_answers_shows_every_value_its_forms_ask_for(lab_id: str, case: str, kinds: list[str],
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The no-code path without a browser, on both cases: the notebook as released (every solution cell the course's
    stub) run from top to bottom in a real kernel, as the trainee's kernel runs it (tools found on PATH, evidence at
    $DFLAB_EVIDENCE), with the key's values saved as typed into the forms. Run All stops nowhere, and every value a
    step's form asks for is in the output of the prepared cells shown before that form (tool commands, and the
    prepared tables), in a form a person recognises (a trainee may scroll back to an earlier step's output)."""
    evidence = tmp_path / "variant"
    build_variant(load_spec(REPO / "labs" / "scenarios" / f"{case}.yaml"), SECRET, TRAINEE, evidence, kinds=kinds)
    checks = load_checks(REPO / "labs" / lab_id / "grader.yaml")
    key = json.loads((evidence / "key" / "answer_key.json").read_text(encoding="utf-8"))
    meta = read_lab(REPO / "labs" / lab_id)
    expected = {name: as_typed(typed_value(checks.checks[name], lookup(key, checks.key_path(name), "key")),
                               checks.checks[name]) for name in meta.answers}
    folder = tmp_path / lab_id
    (folder / ANSWERS_DIR).mkdir(parents=True)
    (folder / "lab.yaml").write_text(for_trainees((REPO / "labs" / lab_id / "lab.yaml").read_text(encoding="utf-8"),
                                                  lab_id), encoding="utf-8")
    (folder / ANSWERS_DIR / f"{lab_id}.json").write_text(json.dumps({n: _typed(v) for n, v in expected.items()}),
                                                          encoding="utf-8")
    monkeypatch.setenv("DFLAB_EVIDENCE", str(evidence / "evidence"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")  # as the lab's kernel has it
    monkeypatch.delenv("DFLAB_CHECK_SOCKET", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # volatility's cache is per user, as in a trainee's lab
    nb = nbformat.read(REPO / "labs" / lab_id / "source.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = PYTHON_STUB  # what the release holds there
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    errors = [(c.source[:60], o.ename) for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"Run All would stop: {errors}"
    for index, cell in enumerate(nb.cells):
        step = re.search(r"answer_form\('([^']+)'\)", cell.source)
        if not step:
            continue
        shown = "\n".join(_output_text(c) for c in nb.cells[:index] if _prepared(c))
        for name in next(s for s in meta.steps if s.id == step[1]).answers:
            for part in _parts(expected[name], checks.checks[name]):
                assert shown_as(part, checks.checks[name], shown) is not None, \
                    f"{case}: {name}: {part!r} is not in the prepared cells' output:\n{shown[-4000:]}"


def _typed(value: object) -> str:
    """A value as a trainee types it into a form: a list one row a line, its parts separated by commas."""
    if isinstance(value, list):
        return "\n".join(", ".join(map(str, row)) if isinstance(row, list) else str(row) for row in value)
    return str(value)


def _prepared(cell: nbformat.NotebookNode) -> bool:
    """A cell the notebook prepared for the trainee to run and read: not an answer, form or test cell."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and not meta.get("solution") and not meta.get("grade") \
        and "answer_form(" not in cell.source


def _output_text(cell: nbformat.NotebookNode) -> str:
    texts = []
    for out in cell.get("outputs", []):
        texts.append(out.get("text", "") if out.output_type == "stream" else out.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


def _parts(value: object, check: Check) -> list[object]:
    """What must be visible of a value: each required step's time of a timeline, each item and hash of citations."""
    if check.compare == "timeline":
        return [time for step, time in value if step in (check.require or ())]  # type: ignore[union-attr]
    if check.compare == "citations":
        return [part for row in value for part in row]  # type: ignore[union-attr]
    return [value]
