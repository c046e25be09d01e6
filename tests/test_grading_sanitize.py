"""What a submission produces is shown to graders as inert text (issue #13): no stored XSS, no terminal escapes.

One lab-02 course graded for real with `dflab grade --feedback --csv` (local sandbox, 2 workers):

* alice hands in the solution, plus a cell recording an answer again and one showing a table: full marks, and
  her tables, plot and answer confirmation still show in her feedback;
* bob's cells display every form of active content (``<script>``, ``<img onerror>``, ``application/javascript``,
  ``<svg onload>``, SVG images, markdown with ``javascript:`` links, a widget view, an image whose width is an
  attribute injection), and he adds a markdown cell and a raw HTML cell of his own and widget state: none of it
  survives into his autograded notebook (what formgrader renders) or his feedback HTML, read by a parser and
  opened in Debian's Chromium;
* carol prints terminal escapes and makes the answer check's reasons carry them (her ``answer`` raises with
  them, so every test cell's error does); dave writes a fake
  ``mallory: done 13/13`` line with escapes into the sandbox's log and kills the runner, so it becomes the
  sandbox's reason; a folder ``submitted/eve<ESC>...`` is handed in too: the worker logs, the status table,
  the CSV, `dflab grade`'s output and `nbgrader autograde`'s own log hold no control character.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import logging
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbconvert.filters.strings import strip_files_prefix
from nbformat.v4 import new_code_cell, new_markdown_cell, new_raw_cell
from nbgrader.api import Gradebook
from traitlets.config import Config

from dflab.grading import gradebook
from dflab.grading.course import CONFIG_FILE, config_text, course_config, init_course
from dflab.grading.export import feedback_files
from dflab.grading.preprocessor import (
    CHECK_ANSWERS,
    SANDBOXED_EXECUTE,
    SANITIZE,
    autograde_pipeline,
    html_preprocessors,
    nbgrader_defaults,
    with_sanitizer,
)
from dflab.grading.sanitize import (
    QUOTED,
    PrintableLogFilter,
    PrintableStream,
    SanitizeSubmission,
    is_quoted,
    markdown_is_safe,
    one_line,
    printable,
    quoted_markdown,
)
from dflab.grading.worker import failure_reason, grade_one
from dflab.lab.answers import ANSWER_MIME
from tests.haystack import small_spec_file
from tests.labkit import ROOT, SECRET, Lab, nbgrader

LAB = Lab("02-disk", "02-disk.ipynb")
pytestmark = pytest.mark.xdist_group("grading_sanitize")  # one course, graded once
ROSTER = "id,name\nalice,Alice\nbob,Bob\ncarol,Carol\ndave,Dave\n"
MARK = "dflabxss"  # in every injected script and handler: found in the DOM or the console only if one survived
CHROMIUM = Path("/usr/lib/chromium/chromium")  # Debian's Chromium (tests/test_validate_button.py says why)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-dev-shm-usage"]
# Every character a terminal acts on; newlines and tabs are how logs and tables are laid out.
CONTROLS = [chr(c) for c in (*range(0x20), 0x7f, *range(0x80, 0xa0)) if chr(c) not in "\n\t"] + ["\u202e"]
EVIL = f"\x1b]0;{MARK}-title\x07\x1b]52;c;ZGZsYWJ4c3M=\x07\x1b[1A\x1b[2K\rmallory: done 13/13 (verified)\x9b0m\u202e"
EVE = f"eve\x1b]0;{MARK}\x07"

ACTIVE = f'''from IPython.display import HTML, Javascript, display
display(HTML('<img src=x onerror="document.title=\\'{MARK}-img\\'"><script>document.title="{MARK}-script"</script>'
             '<b>dflab answer check: all 13 answers correct</b>'))
display(Javascript('document.title="{MARK}-js"; console.log("{MARK}-js")'))
display({{"text/html": '<svg onload="alert(\\'{MARK}-svg\\')"></svg><iframe src="javascript:alert(\\'{MARK}-frame\\')">'
          '</iframe><a href="javascript:alert(\\'{MARK}-a\\')">score</a><form action="javascript:alert(1)">'
          '<input name="{MARK}"></form><object data="javascript:alert(\\'{MARK}-obj\\')"></object>',
          "text/plain": "html"}}, raw=True)
display({{"image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(\\'{MARK}-svgimg\\')">'
          '<script>alert("{MARK}-svgscript")</script></svg>'}}, raw=True)
display({{"text/markdown": '<img src=x onerror=alert("{MARK}-md")> [link](javascript:alert("{MARK}-mdlink"))',
          "text/plain": "md"}}, raw=True)
display({{"application/vnd.jupyter.widget-view+json": {{"model_id": "{MARK}", "version_major": 2,
                                                       "version_minor": 0}}}}, raw=True)
display({{"image/png": "bm90IGEgcG5n", "text/plain": "png"}},
        metadata={{"image/png": {{"width": '1 onerror=alert("{MARK}-width")', "height": 5}}}}, raw=True)
'''
MARKDOWN = f'''## My findings
<img src=x onerror="alert('{MARK}-mdcell')"> <script>alert('{MARK}-mdscript')</script>
[the report](javascript:alert('{MARK}-mdlink')) [ref link][r] ![pic](javascript:alert('{MARK}-pic'))
[files](files/javascript:alert('{MARK}-files')) <a href="javascript:alert('{MARK}-a2')">x</a>

[r]: javascript:alert('{MARK}-ref')

```mermaid
</pre><img src=x onerror="alert('{MARK}-mermaid')">
```
'''
RAW = f'<img src=x onerror="alert(\'{MARK}-raw\')"><script>alert("{MARK}-rawscript")</script><b>raw</b>'
HONEST = '''%matplotlib inline
import matplotlib.pyplot as plt
import pandas as pd
from dflab.lab import answer
answer("partition_table", partition_table);
plt.plot([1, 2, 3])
plt.show()
pd.DataFrame({"offset": [2048, 4096], "fs": ["fat32", "ext4"]})'''
ESCAPES = f'''import sys
import dflab.lab
print({EVIL!r})
print({EVIL!r}, file=sys.stderr)
def answer(name, value):
    raise RuntimeError({EVIL!r})
dflab.lab.answer = answer'''
KILL_RUNNER = f'''import os, signal
for fd in os.listdir("/proc/self/fd"):
    try:
        target = os.readlink(f"/proc/self/fd/{{fd}}")
    except OSError:
        continue
    if target.endswith(".log") or fd == "2":
        os.write(int(fd), "\\n{EVIL}\\n".encode())
os.kill(os.getppid(), signal.SIGKILL)'''


def _submit(root: Path, student: str, nb: nbformat.NotebookNode) -> None:
    dest = root / "submitted" / student / LAB.id
    dest.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest / LAB.nb)


def _hostile(root: Path) -> nbformat.NotebookNode:
    """The released notebook with bob's cells: active content from code, markdown and raw cells, widget state."""
    nb = LAB.released_nb(root)
    nb.cells.insert(1, new_markdown_cell(MARKDOWN))
    raw = new_raw_cell(RAW)
    raw.metadata["raw_mimetype"] = "text/html"
    nb.cells.append(raw)
    nb.cells.append(new_code_cell(ACTIVE))
    widget = {"model_name": "HTMLModel", "model_module": "@jupyter-widgets/controls",
              "state": {"value": f"<img src=x onerror=alert('{MARK}-widget')>"}}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "version_major": 2, "version_minor": 0, "state": {MARK: widget}}}
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The course with every submission, graded by `dflab grade` once; carol also by `nbgrader autograde`."""
    base = tmp_path_factory.mktemp("sanitize")
    (base / "roster.csv").write_text(ROSTER)
    root = init_course(base / "course", base / "roster.csv", LAB.id, SECRET,
                       scenario=small_spec_file("nightjar", base)).root
    alice = LAB.source_nb(root)
    alice.cells.append(new_code_cell(HONEST))
    _submit(root, "alice", alice)
    _submit(root, "bob", _hostile(root))
    carol = LAB.source_nb(root)  # every answer computed, then recorded by an answer() that raises with escapes
    carol.cells.insert(1, new_code_cell(ESCAPES))
    _submit(root, "carol", carol)
    dave = LAB.released_nb(root)
    dave.cells.insert(1, new_code_cell(KILL_RUNNER))
    _submit(root, "dave", dave)
    _submit(root, EVE, LAB.released_nb(root))
    env = os.environ | {"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
                        "COLUMNS": "250"}
    proc = subprocess.run([sys.executable, "-m", "dflab.cli", "grade", LAB.id, "--course", str(root), "--sandbox",
                           "local", "--workers", "2", "--feedback", "--csv", str(root / "grades.csv")],
                          cwd=root, env=env, capture_output=True, text=True, timeout=1800, check=False)
    direct = nbgrader(root, "autograde", LAB.id, "--student", "carol", "--force", "--SandboxedExecute.sandbox=local")
    return {"root": root, "grade": proc, "direct": direct}


def _scores(root: Path, student: str) -> dict[str, float]:
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {g.name: g.auto_score for g in gb.find_submission_notebook(LAB.id, LAB.id, student).grades}


def _feedback(root: Path, student: str) -> Path:
    [page] = [p for p in feedback_files(root, LAB.id, student) if p.name == LAB.nb.replace(".ipynb", ".html")]
    return page


def _active(html: str) -> list[str]:
    """Active content in ``html`` as a parser reads it: script elements holding the marker, event-handler
    attributes, javascript:/vbscript:/data: URLs, SVG, frames, objects and forms."""
    found = []
    for tag in BeautifulSoup(html, "html.parser").find_all(True):
        if tag.name in ("svg", "iframe", "object", "embed", "form", "frame", "math"):
            found.append(f"<{tag.name}>")
        if tag.name == "script" and MARK in tag.get_text():
            found.append(f"<script>{tag.get_text()[:80]}")
        for name, value in tag.attrs.items():
            value = " ".join(value) if isinstance(value, list) else str(value)
            if name.lower().startswith("on"):
                found.append(f"<{tag.name} {name}={value[:60]}>")
            if name.lower() in ("href", "src", "action", "formaction", "data", "xlink:href") and \
                    "".join(value.split()).lower().startswith(("javascript:", "vbscript:", "data:text")):
                found.append(f"<{tag.name} {name}={value[:60]}>")
    return found


def _shown_html(nb: nbformat.NotebookNode) -> dict[str, str]:
    """What of the notebook formgrader and feedback render as HTML: text/html outputs as they are, markdown
    (cells and outputs) through nbconvert's renderer and nbgrader's ``strip_files_prefix``, raw cells as they are."""
    shown = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            shown[f"cell {i}"] = strip_files_prefix(markdown2html_mistune(cell.source))
        elif cell.cell_type == "raw":
            shown[f"cell {i} (raw)"] = cell.source
        for j, out in enumerate(cell.get("outputs", [])):
            data = out.get("data", {})
            if "text/html" in data:
                shown[f"cell {i} output {j}"] = data["text/html"]
            if "text/markdown" in data:
                shown[f"cell {i} output {j} (md)"] = markdown2html_mistune(data["text/markdown"])
    return shown


def _controls(text: str) -> list[str]:
    return sorted({repr(c) for c in CONTROLS if c in text})


# -- the real grading run --------------------------------------------------------------------------------------------

def test_the_honest_solution_scores_full_marks_and_keeps_its_tables_plot_and_answer(course: dict[str, Any]) -> None:
    root = course["root"]
    assert _scores(root, "alice") == LAB.points(root), course["grade"].stdout + course["grade"].stderr
    graded = LAB.autograded_nb(root, "alice")
    source = LAB.source_nb(root)
    # The instructor's prose is rendered safely as it is: never shown as text.
    assert [c.source for c in graded.cells if c.cell_type == "markdown"] == \
        [c.source for c in source.cells if c.cell_type == "markdown"]
    outputs = [o for c in graded.cells for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the plot is gone"
    assert sum("<table" in o.get("data", {}).get("text/html", "") for o in outputs) >= 3, "DataFrames are gone"
    [recorded] = [o for o in outputs if ANSWER_MIME in o.get("data", {})]
    assert recorded["data"][ANSWER_MIME]["name"] == "partition_table"
    page = BeautifulSoup(_feedback(root, "alice").read_text(), "html.parser")
    assert page.find("img", src=lambda s: s and s.startswith("data:image/png;base64,")), "no plot in the feedback"
    cells = [td.get_text() for td in page.find_all("td")]
    assert "2048" in cells and "ext4" in cells, "the DataFrame is not a table in the feedback"
    assert "recorded partition_table = " in page.get_text()
    assert "dflab: " not in page.get_text(), "something honest was removed or shown as text"


def test_no_active_content_survives_in_the_stored_notebook(course: dict[str, Any]) -> None:
    """The autograded notebook is what formgrader renders: nothing in it may run once rendered."""
    root = course["root"]
    graded = LAB.autograded_nb(root, "bob")
    found = {where: hit for where, html in _shown_html(graded).items() if (hit := _active(html))}
    assert not found, found
    mimes = {m for c in graded.cells for o in c.get("outputs", []) for m in o.get("data", {})}
    assert mimes <= {"text/plain", "text/html", "image/png", "image/jpeg", "text/latex", "application/json",
                     ANSWER_MIME}, mimes
    assert "widgets" not in graded.metadata
    [png] = [o for c in graded.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert png["metadata"] == {"image/png": {"height": 5}}, "a width that is not a number reached the template"
    [md] = [c for c in graded.cells if c.cell_type == "markdown" and MARK in c.source]
    assert md.source.startswith("*dflab: this cell held raw HTML") and "javascript:alert" in md.source, \
        "the grader must still be able to read what was written"
    notes = " ".join(o["data"].get("text/plain", "") for c in graded.cells for o in c.get("outputs", []) if "data" in o)
    assert "[dflab: image/svg+xml output removed" in notes, "an output removed entirely must say so"


def test_the_feedback_html_holds_no_active_content(course: dict[str, Any]) -> None:
    html = _feedback(course["root"], "bob").read_text()
    assert _active(html) == []
    assert MARK in html, "the hostile cells did not run"


def test_the_feedback_runs_no_injected_script_in_chromium(course: dict[str, Any]) -> None:
    """Open bob's feedback in Debian's Chromium (only file: URLs load): no dialog, no console message, no title
    change from injected code; the DOM Chromium built has no handler, javascript: link or active element."""
    sync_playwright = _playwright()
    page_file = _feedback(course["root"], "bob")
    dialogs: list[str] = []
    console: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("console", lambda m: console.append(m.text))
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
            page.goto(page_file.as_uri(), wait_until="load", timeout=120_000)
            title = page.title()
            dom = page.evaluate("""mark => {
                const all = [...document.querySelectorAll('*')];
                return {
                  handlers: all.flatMap(e => [...e.attributes].filter(a => /^on/i.test(a.name))
                                                              .map(a => `${e.tagName} ${a.name}`)),
                  scripts: [...document.scripts].filter(s => s.text.includes(mark)).map(s => s.text.slice(0, 80)),
                  links: [...document.links].filter(a => a.protocol !== 'http:' && a.protocol !== 'https:'
                                                          && a.protocol !== 'mailto:' && a.protocol !== 'file:')
                                            .map(a => a.href.slice(0, 80)),
                  active: [...document.querySelectorAll('svg, iframe, object, embed, form, frame')]
                            .map(e => e.outerHTML.slice(0, 80)),
                  text: document.body.innerText.includes(mark),
                };
            }""", MARK)
        finally:
            browser.close()
    assert dialogs == [] and MARK not in title and not [m for m in console if MARK in m], (dialogs, title, console)
    assert dom == {"handlers": [], "scripts": [], "links": [], "active": [], "text": True}, dom


def test_terminal_escapes_reach_no_log_table_csv_or_terminal(course: dict[str, Any]) -> None:
    root = course["root"]
    proc = course["grade"]
    assert proc.returncode == 5, proc.stdout + proc.stderr  # eve's folder is rejected; the rest are graded
    logs = {p.name: p.read_text(encoding="utf-8") for p in (root / ".dflab-grading" / "logs").glob("*.log")}
    everything = {"dflab grade stdout": proc.stdout, "dflab grade stderr": proc.stderr, **logs,
                  "csv": (root / "grades.csv").read_text(encoding="utf-8"),
                  "nbgrader autograde (carol)": course["direct"].stdout + course["direct"].stderr}
    rows = gradebook.read_statuses(gradebook.default_url(root), LAB.id)
    everything["status table"] = json.dumps([[r["student"], r["reason"]] for r in rows], ensure_ascii=False)
    assert {name: hits for name, text in everything.items() if (hits := _controls(text))} == {}
    # Shown escaped, not dropped: what the submission wrote is there for the instructor to read, as text.
    # (dave's line reaches the worker log only through a sandbox that lets the kernel write the runner's log;
    # test_the_worker_log_shows_a_sandbox_reason_as_text feeds the worker such a reason directly.)
    assert "\\x1b]0;dflabxss-title" in course["direct"].stderr, course["direct"].stderr[-3000:]
    by = {r["student"]: r for r in rows}
    assert by["eve\\x1b]0;dflabxss\\x07"]["status"] == "rejected"
    assert "eve\\x1b]0;dflabxss\\x07" in proc.stdout
    with (root / "grades.csv").open() as fh:
        assert "eve\\x1b]0;dflabxss\\x07" in {r["student"] for r in csv.DictReader(fh)}
    assert course["direct"].returncode == 0


# -- the pieces -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [EVIL, "a\x00b", "\x1bc", "\x9b31m", "x\u2028y", "tab\tcr\r", "\x7f"],
                         ids=lambda text: text.encode("unicode_escape").decode("ascii")[:24])
def test_printable_leaves_no_control_character(text: str) -> None:
    assert _controls(printable(text)) == [] and "\n" not in one_line(text + "\nnext")
    assert one_line("plain text, même UTF-8") == "plain text, même UTF-8"


def test_printable_shows_a_lone_surrogate_escaped() -> None:
    """A name read with surrogateescape, or JSON's "\\ud800", must be written as UTF-8 (the log, the database)."""
    shown = printable("x\ud800\udcff")
    escaped = shown == "x\\ud800\\udcff"  # a bool: a report holding a lone surrogate breaks pytest-xdist
    assert escaped, "a lone surrogate was not escaped"


def test_a_stream_and_a_log_keep_their_lines_and_lose_their_escapes(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with path.open("w", encoding="utf-8") as raw:
        stream = PrintableStream(raw)
        print(f"one {EVIL}\ntwo", file=stream)
        handler = logging.StreamHandler(stream)
        log = logging.getLogger("dflab-test-sanitize")
        log.addHandler(handler)
        log.addFilter(PrintableLogFilter())
        try:
            log.warning("reason: %s", f"x\n{EVIL}")
            try:
                raise RuntimeError(EVIL)
            except RuntimeError:
                log.exception("failed")
        finally:
            log.removeHandler(handler)
    text = path.read_text(encoding="utf-8")
    assert _controls(text) == []
    assert text.splitlines()[:3] == [f"one {printable(EVIL)}", "two", f"reason: x\\n{printable(EVIL)}"]
    assert "Traceback (most recent call last):" in text


class _Recorded:
    """nbgrader's API as far as grade_one uses it, answering with the log of a run whose sandbox stopped with a
    reason the kernel wrote (the last line of a log it could write to)."""

    def autograde(self, *args: object, **kw: object) -> dict[str, object]:
        return {"success": False, "error": "",
                "log": f"[INFO] local sandbox: error in 1.0 s (no result; exit -9: {EVIL})\n"
                       f"[ERROR] DflabError: the sandbox failed: {EVIL}"}


def test_the_worker_log_shows_a_sandbox_reason_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    state, reason = grade_one(_Recorded(), LAB.id, "dave", feedback=False)  # type: ignore[arg-type]
    log = capsys.readouterr().err
    assert state == "failed" and _controls(reason) == [] and _controls(log) == [], (reason, log)
    assert "dave: [INFO] local sandbox: error" in log and "\\x1b]0;dflabxss-title\\x07" in log
    assert "mallory: done 13/13" in log and "\n" not in log.rstrip("\n")


def test_a_failure_reason_is_one_printable_line() -> None:
    """nbgrader logs a failure's traceback as a message: through the filter it keeps its lines (so the reason is
    still its last exception line) and loses its escapes."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))  # nbgrader's capture_log format
    log = logging.getLogger("dflab-test-failure-reason")
    log.addHandler(handler)
    log.addFilter(PrintableLogFilter())
    try:
        raise RuntimeError(f"the sandbox said {EVIL}")
    except RuntimeError:
        log.error("There was an error processing assignment: %s", f"x{EVIL}")
        log.error(traceback.format_exc())
    finally:
        log.removeHandler(handler)
    assert _controls(buffer.getvalue()) == []
    reason = failure_reason({"log": buffer.getvalue(), "error": ""})
    assert reason == f"the sandbox said {printable(EVIL)}"
    assert failure_reason({"log": f"[ERROR] DflabError: {EVIL}", "error": ""}) == printable(EVIL)


@pytest.mark.parametrize("source", [
    "[x](javascript:alert(1))", "[x](JaVaScRiPt:alert(1))", "[x](javascript&#58;alert(1))",
    "[x](&#x6A;avascript:alert(1))", "[x][r]\n\n[r]: javascript:alert(1)", "<javascript:alert(1)>",
    "![x](javascript:alert(1))", "[x](vbscript:msgbox(1))", "[x](data:text/html,<script>alert(1)</script>)",
    "[x](files/javascript:alert(1))", "[x](/files/javascript:alert(1))", "<img src=x onerror=alert(1)>",
    "a <b>bold</b> word", "<a href='javascript:alert(1)'>x</a>", "<!-- --!><img src=x onerror=alert(1)> -->",
    "```mermaid\n</pre><script>alert(1)</script>\n```", "![x](attachment:missing.png)", "x" * (40 << 10),
], ids=lambda source: source[:40])
def test_hostile_markdown_is_shown_as_text(source: str) -> None:
    assert not markdown_is_safe(source)
    assert markdown_is_safe(quoted_markdown(source)) or len(source) > (32 << 10)
    assert _active(markdown2html_mistune(quoted_markdown(source))) == []


@pytest.mark.parametrize("source", [
    "# Heading\n\nText with *emphasis*, **strong**, `code <pid>` and a [link](https://example.org).",
    "> a quote\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [ ] task\n- [x] done\n\nterm\n: definition",
    "```python\nprint('<script>')\n```\n\n    indented <b>code</b>\n\n$\\sum_i x_i < 3$ and $$a<b$$",
    "mail [me](mailto:a@example.org), see https://example.org/x and [top](#heading)",
])
def test_honest_markdown_is_kept(source: str) -> None:
    assert markdown_is_safe(source)


def test_every_lab_notebooks_prose_is_kept() -> None:
    for path in sorted(ROOT.glob("labs/*/source.ipynb")):
        nb = nbformat.read(path, as_version=4)
        unsafe = [c.source[:60] for c in nb.cells if c.cell_type == "markdown" and not markdown_is_safe(c.source)]
        assert unsafe == [], path


def test_recorded_answers_and_plots_pass_and_scores_are_untouched() -> None:
    """What nbgrader's SaveAutoGrades reads (errors, execute_result text/plain) and dflab's answer outputs pass."""
    nb = nbformat.v4.new_notebook(cells=[new_code_cell("x", outputs=[
        nbformat.v4.new_output("display_data", {ANSWER_MIME: {"name": "a", "value": 1}, "text/plain": "recorded a"}),
        nbformat.v4.new_output("display_data", {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"},
                               metadata={"image/png": {"width": 640, "height": 480}}),
        nbformat.v4.new_output("execute_result", {"text/plain": "0.5"}, execution_count=1),
        nbformat.v4.new_output("error", ename="AnswerCheck", evalue="<b>wrong</b>", traceback=["<b>wrong</b>"]),
    ])])
    before = json.loads(json.dumps(nb))
    after, _ = SanitizeSubmission().preprocess(nb, {})
    assert json.loads(json.dumps(after)) == before


def test_sanitising_again_changes_nothing_and_a_forged_note_does_not_pass() -> None:
    """Feedback sanitises the stored notebook again: what the first pass made is kept as it is (a large cell is not
    quoted twice), and a cell that only starts like dflab's note is quoted like any other."""
    forged = f"{QUOTED}<img src=x onerror=\"alert('{MARK}')\">"
    nb = nbformat.v4.new_notebook(cells=[new_markdown_cell(MARKDOWN), new_markdown_cell(f"<b>{'x' * (40 << 10)}</b>"),
                                         new_markdown_cell(forged), new_code_cell("x", outputs=[
                                             nbformat.v4.new_output("display_data", {"text/html": RAW})])])
    once, _ = SanitizeSubmission().preprocess(copy.deepcopy(nb), {})
    twice, _ = SanitizeSubmission().preprocess(copy.deepcopy(once), {})
    assert twice == once
    assert all(is_quoted(c.source) for c in once.cells if c.cell_type == "markdown")
    assert {where: hit for where, html in _shown_html(once).items() if (hit := _active(html))} == {}


def test_the_pipelines_derive_from_nbgraders_and_old_courses_get_the_step() -> None:
    stock = nbgrader_defaults()
    at = stock.index("nbgrader.preprocessors.Execute")
    assert autograde_pipeline() == [*stock[:at], SANDBOXED_EXECUTE, CHECK_ANSWERS, SANITIZE, *stock[at + 1:]]
    old = Config()
    old.Autograde.autograde_preprocessors = [p for p in autograde_pipeline() if p != SANITIZE]
    with_sanitizer(old)
    assert old.Autograde.autograde_preprocessors == autograde_pipeline()
    assert old.HTMLExporter.preprocessors == html_preprocessors()


def test_the_courses_html_exporter_sanitises_what_it_renders(tmp_path: Path) -> None:
    """Formgrader and generate_feedback build nbconvert's HTMLExporter from the course's config: it sanitises a
    notebook autograded before the step existed (bob's cells, outputs as his kernel made them) before rendering."""
    (tmp_path / CONFIG_FILE).write_text(config_text(tmp_path))
    nb = nbformat.v4.new_notebook(cells=[new_markdown_cell(MARKDOWN), new_raw_cell(RAW), new_code_cell("x", outputs=[
        nbformat.v4.new_output("display_data", {"text/html": RAW, "text/plain": "x"}),
        nbformat.v4.new_output("display_data", {"application/javascript": f"alert('{MARK}')", "text/plain": "x"}),
        nbformat.v4.new_output("display_data", {"image/svg+xml": f"<svg onload=\"alert('{MARK}')\"/>"}),
    ])])
    nb.cells[1].metadata["raw_mimetype"] = "text/html"
    html, _ = HTMLExporter(config=course_config(tmp_path)).from_notebook_node(nb)
    assert _active(html) == []
    assert _active(HTMLExporter().from_notebook_node(nb)[0]), "nbconvert's own exporter should render it live"


def _playwright() -> Any:
    """Playwright's sync API and Debian's Chromium, or a failure saying how to install them (never a skip)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: `.venv/bin/pip install -e '.[test]'` "
                    "(environments/host/install-deps.sh does)")
    if not CHROMIUM.is_file():
        pytest.fail(f"Debian's Chromium is missing ({CHROMIUM}): `apt-get install -y chromium` "
                    "(environments/host/install-deps.sh does); never `playwright install`")
    return sync_playwright
