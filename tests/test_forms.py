"""Answer forms with hints (issue #16 item 2): lab.yaml's hints, explanations and labels, and dflab.lab.form.

lab.yaml: hint tiers (2 or 3), explanations and labels are checked strictly, each mistake one line at its file:line;
every step asking for an answer in labs 02-05 has its hints and explanation. The form runs in a real kernel
(ipykernel through nbclient) against a real checker (a session's checker process, the trainee's key built from
Nightjar): a right value shows ✓, a wrong one ✗ and hint tier 1, the next wrong try tier 2, the eleventh try the
limit's one line under its field. What was typed is saved beside the notebook, comes back after a restart, and is
what a kernel with no checker records (the form saying, in one line, that checks are not available); the real
nbgrader pipeline grades values typed into lab 02's own form cell full marks, and zero without the saved file. In
Debian's Chromium, a trainee's confined lab shows the form, and Check shows ✓, ✗ and the first hint.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from dflab.checker import paths, process
from dflab.errors import DflabError
from dflab.evidence.build import build_variant
from dflab.grading.checks import check_answer, checks_for, lookup
from dflab.lab.form import ANSWERS_DIR, MESSAGES, convert
from dflab.lab_meta import for_trainees, parse_lab, read_lab
from dflab.labcheck import typed_value
from dflab.scenario.load import load_spec
from dflab.session.manager import Session
from dflab.session.state import SessionState
from tests import labkit
from tests import test_validate_button as browser_kit
from tests.test_session_local_isolation import running_pair

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "labs" / "02-disk"
SECRET = "forms-course-secret-71c4"
TRAINEE = "carol"


# -- lab.yaml --------------------------------------------------------------------------------------------------

MINIMAL = """id: x
title: X
scenario: nightjar
notebook: x.ipynb
source: source.ipynb
answers:
  a: {shape: text}
steps:
  - id: s
    title: S
    answers: [a]
"""
FIELD_LINE = MINIMAL.count("\n") + 1  # the line the extra field is written on


def error_of(text: str) -> str:
    with pytest.raises(DflabError) as caught:
        parse_lab(text, "lab.yaml")
    return str(caught.value.where) + ": " + str(caught.value)


@pytest.mark.parametrize(("extra", "expected"), [
    ('    hints: ["only one tier"]\n', "1 hint tier(s): give 2 to 3"),
    ('    hints: [a, b, c, d]\n', "4 hint tier(s): give 2 to 3"),
    ('    hints: ["look", "  "]\n', "hint 2 is empty"),
    ('    hints: ["look", "look"]\n', "two hint tiers say the same thing"),
    ('    hints: ["look in {{ volumes.root.label }}", "then read"]\n', "hint 1 holds a template"),
    ('    hints: ["look", "' + "x" * 401 + '"]\n', "hint 2 is 401 characters long; at most 400"),
    ('    explanation: "{% if x %}why{% endif %}"\n', "the explanation holds a template"),
    ('    explanation: ""\n', "the explanation is empty"),
    ('    hint: ["typo"]\n', "hint"),
])
def test_bad_hints_and_explanations_are_one_line_at_their_line(extra: str, expected: str) -> None:
    message = error_of(MINIMAL + extra)
    assert expected in message and "\n" not in message
    assert message.startswith(f"lab.yaml:{FIELD_LINE}:"), message
    parse_lab(MINIMAL + '    hints: ["look", "then read"]\n    explanation: why\n', "lab.yaml")  # the fixed one passes


def test_labels_are_checked_and_do_not_change_the_shape_rules() -> None:
    text = (LAB / "lab.yaml").read_text(encoding="utf-8")
    meta = parse_lab(text, "lab.yaml")
    assert meta.answers["root_fs"].field_label("root_fs") == "Root file system"
    assert meta.answers["root_fs"].as_dict() == {"shape": "text"}  # what check_shape and Validate read
    bare = parse_lab(text.replace(', label: "Root file system"', ""), "lab.yaml")
    assert bare.answers["root_fs"].field_label("root_fs") == "Root fs"
    message = error_of(text.replace('label: "Root file system"', 'label: ""'))
    assert "answers.root_fs.label" in message and "\n" not in message


def test_a_text_answer_of_several_lines_gets_a_field_of_several_lines(tmp_path: Path) -> None:
    from ipywidgets import Text, Textarea

    from dflab.lab.form import AnswerForm

    text = (LAB / "lab.yaml").read_text(encoding="utf-8")
    meta = parse_lab(text.replace('label: "Root file system"', 'label: "Root file system", lines: 3'), "lab.yaml")
    assert meta.answers["root_fs"].as_dict() == {"shape": "text"}  # the form's, not the value's
    step = next(s for s in meta.steps if "root_fs" in s.answers)
    fields = AnswerForm(meta, step, tmp_path, None).fields
    assert isinstance(fields["root_fs"], Textarea) and fields["root_fs"].rows == 3
    plain = AnswerForm(parse_lab(text, "lab.yaml"), step, tmp_path, None).fields
    assert type(plain["root_fs"]) is Text  # one line unless the lab says otherwise
    message = error_of(text.replace("root_fs: {shape: text", "root_fs: {shape: int, lines: 3"))
    assert "lines applies to text answers only" in message and "\n" not in message


@pytest.mark.parametrize("lab", ["02-disk", "03-memory", "04-network", "05-capstone"])
def test_every_step_of_labs_02_to_05_has_hints_and_an_explanation(lab: str) -> None:
    meta = read_lab(REPO / "labs" / lab)
    for step in meta.steps:
        assert step.explanation, step.id
        assert 2 <= len(step.hints) <= 3 or not step.answers, step.id
    released = parse_lab(for_trainees((REPO / "labs" / lab / "lab.yaml").read_text(encoding="utf-8"), lab), lab)
    assert [s.hints for s in released.steps] == [s.hints for s in meta.steps]  # trainees get them


def test_typed_text_becomes_the_answers_shape() -> None:
    assert convert(" 2,048 ", "int") == 2048 and convert("0x800", "int") == 2048
    assert convert("twelve", "int") == "twelve"  # answer() then says, in one line, what is expected
    assert convert("1,5", "number") == 1.5 and convert("3", "number") == 3
    assert convert("a, b ,c", "list") == ["a", "b", "c"] and convert("a, b\nc\n\n", "list") == [["a", "b"], "c"]
    assert convert(" /home/x ", "path") == "/home/x"


# -- the form in a kernel, against a real checker -----------------------------------------------------------------

@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A session of lab 02 with one trainee whose variant is built, and its checker running."""
    session_dir = tmp_path_factory.mktemp("forms") / "session"
    state = SessionState(session_dir)
    state.set_meta("lab_id", "02-disk")
    state.add_trainee(TRAINEE, "token")
    (session_dir / "graders").mkdir()
    shutil.copy(LAB / "grader.yaml", session_dir / "graders" / "02-disk.yaml")
    build_variant(load_spec(REPO / "labs" / "scenarios" / "nightjar.yaml"), SECRET, TRAINEE,
                  session_dir / "evidence" / TRAINEE, kinds=["disk"])
    assert process.ensure(session_dir, state).action == "started"
    try:
        yield session_dir
    finally:
        process.stop(session_dir, state)


def right_value(session_dir: Path, name: str) -> Any:
    checks = checks_for(session_dir / "graders", "02-disk")
    key = json.loads((session_dir / "evidence" / TRAINEE / "key" / "answer_key.json").read_text(encoding="utf-8"))
    return typed_value(checks.checks[name], lookup(key, checks.key_path(name), "key"))


def lab_folder(tmp_path: Path) -> Path:
    """A trainee's lab folder: the released lab.yaml (no requires:)."""
    folder = tmp_path / "02-disk"
    folder.mkdir()
    text = (LAB / "lab.yaml").read_text(encoding="utf-8")
    (folder / "lab.yaml").write_text(for_trainees(text, "lab.yaml"), encoding="utf-8")
    return folder


def run_cells(folder: Path, cells: list[str], monkeypatch: pytest.MonkeyPatch, socket: str | None) -> list[Any]:
    """Run ``cells`` in a new ipykernel started in ``folder`` (the checker's socket in its environment, or none);
    the JSON each cell prints last."""
    if socket is None:
        monkeypatch.delenv("DFLAB_CHECK_SOCKET", raising=False)
    else:
        monkeypatch.setenv("DFLAB_CHECK_SOCKET", socket)
    monkeypatch.delenv("DFLAB_LAB_DIR", raising=False)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    results = []
    for cell in nb.cells:
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        results.append(json.loads(text.strip().splitlines()[-1]) if text.strip() else None)
    return results


SHOW = """
import html, json, re
def plain(widget):
    return html.unescape(re.sub(r"<[^>]+>", "", widget.value))
def show(form):
    print(json.dumps({"marks": {n: plain(m) for n, m in form.marks.items()},
                      "notes": {n: plain(m) for n, m in form.notes.items()},
                      "hint": form.hint_text()}))
"""


def test_check_shows_right_wrong_and_hints_in_order_then_the_limit(session: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    folder = lab_folder(tmp_path)
    meta = read_lab(LAB)
    [step] = [s for s in meta.steps if s.id == "partitions"]
    start = right_value(session, "root_start_sector")
    wrong = "not-a-file-system"
    socket = str(paths.socket_path(session, TRAINEE))
    first, second, tries, limited, recorded = run_cells(folder, [
        SHOW + "from dflab.lab import answer_form\nform = answer_form('partitions')\n"
        f"form.fields['root_start_sector'].value = {str(start)!r}\nform.fields['root_fs'].value = {wrong!r}\n"
        "form.button.click()\nshow(form)",
        # from here on only root_fs is filled, so only its tries count
        "form.fields['root_start_sector'].value = ''\nform.fields['root_fs'].value = 'also wrong'\n"
        "form.button.click()\nshow(form)",
        "for _ in range(8):\n    form.button.click()\nshow(form)",  # tries 3 to 10 of root_fs
        "form.button.click()\nshow(form)",  # the 11th
        "print(json.dumps({'root_fs': root_fs, 'start': globals().get('root_start_sector')}))",
    ], monkeypatch, socket)
    assert first["marks"] == {"partition_table": "", "root_start_sector": MESSAGES["right"],
                              "root_fs": MESSAGES["wrong"]}
    assert first["hint"] == MESSAGES["hint"].format(tier=1, tiers=len(step.hints), text=step.hints[0])
    assert second["marks"] == {"partition_table": "", "root_start_sector": "", "root_fs": MESSAGES["wrong"]}
    assert second["hint"] == MESSAGES["hint"].format(tier=2, tiers=len(step.hints), text=step.hints[1])
    assert tries["marks"]["root_fs"] == MESSAGES["wrong"] and tries["notes"]["root_fs"] == ""
    assert tries["hint"] == MESSAGES["no_more_hints"]  # 3 tiers, then no more, however many wrong tries
    assert limited["notes"]["root_fs"].startswith("root_fs: too many tries; try again in ")
    assert "\n" not in limited["notes"]["root_fs"] and limited["marks"]["root_fs"] == ""
    assert recorded == {"root_fs": "also wrong", "start": None}  # what the test cells record now
    saved = json.loads((folder / ANSWERS_DIR / "02-disk.json").read_text(encoding="utf-8"))
    assert saved == {"root_fs": "also wrong"}
    checks = checks_for(session / "graders", "02-disk")
    key = json.loads((session / "evidence" / TRAINEE / "key" / "answer_key.json").read_text(encoding="utf-8"))
    assert check_answer(checks, "root_start_sector", start, key, "key")[0]  # ✓ was grading's verdict


def test_typed_values_survive_a_restart_and_are_recorded_without_a_checker(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    folder = lab_folder(tmp_path)
    run_cells(folder, ["from dflab.lab import answer_form\nform = answer_form('deleted')\n"
                       "form.fields['payload_inode'].value = '1 234'\n"
                       "form.fields['payload_path'].value = ' /home/someone/x.bin '"], monkeypatch, None)
    restarted, recorded = run_cells(folder, [
        SHOW + "from dflab.lab import answer_form\nform = answer_form('deleted')\nform.button.click()\nshow(form)",
        "from dflab.lab import answer\nanswer('payload_inode', payload_inode)\nanswer('payload_path', payload_path)\n"
        "print(json.dumps([payload_inode, payload_path, form.value('payload_inode')]))",
    ], monkeypatch, None)
    assert restarted["notes"] == dict.fromkeys(["payload_path", "payload_inode"], MESSAGES["no_checker"])
    assert restarted["marks"] == {"payload_path": "", "payload_inode": ""} and restarted["hint"] == ""
    assert recorded == [1234, "/home/someone/x.bin", 1234]


# -- graded through the real nbgrader pipeline ------------------------------------------------------------------

STUB = "# YOUR CODE HERE\nraise NotImplementedError()"  # what nbgrader leaves of a solution in the release


def form_submission(lab: labkit.Lab, root: Path) -> nbformat.NotebookNode:
    """The solution notebook with step 'partitions' answered through its form (the lab's own form cell, locked,
    right before the step's solution cell), that solution cell as released."""
    nb = lab.source_nb(root)
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id")
                 == "answer-partitions")
    form = nb.cells[index - 1]
    assert form.source.endswith("answer_form('partitions')") and form.metadata["nbgrader"]["locked"]
    nb.cells[index].source = STUB
    return nb


def test_values_typed_in_the_form_are_graded_full_marks(tmp_path: Path) -> None:
    lab = labkit.Lab("02-disk", "02-disk.ipynb")
    root = lab.build_course(tmp_path / "course", tmp_path / "roster.csv")
    expected = lab.expected_values(root, "alice", "alice's key")
    full = lab.points(root)
    partitions = {"check-partition-table": "partition_table", "check-root-start": "root_start_sector",
                  "check-root-fs": "root_fs"}
    nb = form_submission(lab, root)
    # without what the form saved, the step's answers are not recorded: the test can fail
    scores = lab.submit_and_grade(root, "alice", nb)
    assert all(scores[g] == 0 for g in partitions) and all(scores[g] == full[g] for g in full if g not in partitions)
    answers = root / "submitted" / "alice" / "02-disk" / ANSWERS_DIR
    answers.mkdir()
    (answers / "02-disk.json").write_text(json.dumps({n: str(expected[n]) for n in partitions.values()}))
    assert lab.submit_and_grade(root, "alice", nb) == full


# -- in the browser ------------------------------------------------------------------------------------------------

def put_notebook(url: str, token: str, path: str, nb: nbformat.NotebookNode) -> None:
    """Save ``nb`` at ``path`` of a running lab through Jupyter's contents API, as the trainee's browser would."""
    body = json.dumps({"type": "notebook", "format": "json", "content": nb}).encode()
    request = urllib.request.Request(f"{url}api/contents/{urllib.parse.quote(path)}", data=body, method="PUT",
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as reply:  # noqa: S310 -- the test's own lab server
        assert reply.status in (200, 201)


def test_a_trainee_fills_the_form_in_chromium_and_sees_right_and_wrong(tmp_path: Path) -> None:
    """In Debian's Chromium, alice's confined lab (its checker running): type a right start sector and a wrong file
    system into the form, press Check, see ✓ and ✗ and the first hint."""
    sync_playwright = browser_kit._playwright()
    with running_pair(tmp_path / "browser", SECRET) as session_dir:
        row = Session.existing(session_dir).state.get("alice")
        checks = checks_for(session_dir / "graders", "02-disk")
        key = json.loads((session_dir / "evidence" / "alice" / "key" / "answer_key.json").read_text(encoding="utf-8"))
        start = typed_value(checks.checks["root_start_sector"], lookup(key, checks.key_path("root_start_sector"),
                                                                       "key"))
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            "from dflab.lab import answer_form\nanswer_form('partitions')")],
            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}})
        put_notebook(row.url or "", row.token, "02-disk/form.ipynb", nb)
        [step] = [s for s in read_lab(LAB).steps if s.id == "partitions"]
        shot = tmp_path / "answer-form.png"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(browser_kit.CHROMIUM), args=browser_kit.CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{row.url}lab/tree/02-disk/form.ipynb?token={row.token}")
                page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=120_000)
                # the kernel has started: the toolbar names it and shows it idle
                page.locator(".jp-NotebookPanel-toolbar", has_text="Python 3").wait_for(timeout=120_000)
                page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", state="attached",
                                       timeout=120_000)
                page.locator(".jp-NotebookPanel .jp-Cell .jp-InputArea-editor").first.click()
                page.keyboard.press("Shift+Enter")
                fields = page.locator(".jp-OutputArea .widget-text input")
                fields.nth(2).wait_for(timeout=120_000)
                fields.nth(1).fill(str(start))
                fields.nth(1).press("Enter")
                fields.nth(2).fill("not-a-file-system")
                fields.nth(2).press("Enter")
                page.locator(".jp-OutputArea button", has_text=MESSAGES["check"]).click()
                page.locator(".jp-OutputArea", has_text=MESSAGES["wrong"]).wait_for(timeout=60_000)
                page.locator(".jp-OutputArea", has_text="Hint 1").wait_for(timeout=60_000)
                shown = page.locator(".jp-OutputArea").first.inner_text()
                page.screenshot(path=str(shot))
                print(f"\nAnswer form screenshot: {shot}")
            finally:
                browser.close()
    assert shown.count(MESSAGES["right"]) == 1 and shown.count(MESSAGES["wrong"]) == 1, (shown, shot)
    assert step.hints[0] in " ".join(shown.split()), (shown, shot)
