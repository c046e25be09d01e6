"""Translatable units (issue #16 item 6): a lab split into units and put back is the lab byte for byte, a code cell's
comments are translated without touching one token of its code, a translation that changes what it must keep is
named, and the roster's ``lang`` column reads every spelling of the three languages and refuses any other."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dflab.errors import DflabError
from dflab.i18n.lang import lab_settings, normalise_lang
from dflab.i18n.review import english_share, looks_english, translation_problems
from dflab.i18n.units import (
    cell_source,
    code_comments,
    is_solution,
    lab_units,
    localise_code,
    localise_markdown,
    split_markdown,
)
from dflab.labserver import LAB_SETTINGS_DIR
from dflab.roster import read_roster

REPO = Path(__file__).resolve().parents[1]
LABS = ("01-live", "02-disk", "03-memory", "04-network", "05-capstone", "07-review")


def cells(lab: str) -> list[dict]:
    return json.loads((REPO / "labs" / lab / "source.ipynb").read_text(encoding="utf-8"))["cells"]


@pytest.mark.parametrize("lab", LABS)
def test_split_and_put_back_is_the_lab_byte_for_byte(lab: str) -> None:
    for cell in cells(lab):
        source = cell_source(cell)
        if cell["cell_type"] == "markdown":
            assert "".join(text for text, _ in split_markdown(source)) == source
            assert localise_markdown(source, lambda text: text) == source
        else:
            assert localise_code(source, lambda text: text) == source


def test_a_translation_replaces_exactly_its_paragraph() -> None:
    source = "# Title\n\nFirst paragraph,\non two lines.\n\n```\ncode block\n\nwith a blank line\n```\n\n`only code`\n"
    done = localise_markdown(source, lambda text: {"First paragraph,\non two lines.": "Premier paragraphe."}.get(
        text, text))
    assert done == "# Title\n\nPremier paragraphe.\n\n```\ncode block\n\nwith a blank line\n```\n\n`only code`\n"


def _code(source: str) -> str:
    """A cell's program as Python compiles it; IPython's ``!command``/``%magic`` lines, which are not Python, become
    a string statement holding the line, so a change to them changes the tree too. A cell magic's body (``%%bash``)
    is not Python at all: its lines other than whole-line comments, as written."""
    if source.startswith("%%"):
        return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        lines.append(f"{line[:len(line) - len(stripped)]}{stripped!r}" if stripped.startswith(("!", "%")) else line)
    return ast.dump(ast.parse("\n".join(lines)))


def _rewrite(text: str) -> str:
    """A translation that changes every comment's length and line count: the hardest case for the code around it."""
    return "TRADUIT " + text.upper() + ("\nsur deux lignes" if "\n" in text else "")


@pytest.mark.parametrize("lab", LABS)
def test_localised_code_cells_keep_their_code(lab: str) -> None:
    seen = 0
    for cell in cells(lab):
        if cell["cell_type"] != "code" or is_solution(cell):
            continue
        source = cell_source(cell)
        localised = localise_code(source, _rewrite)
        assert _code(localised) == _code(source), source
        before = [c.text for c in code_comments(source)]
        assert [c.text for c in code_comments(localised)] == [_rewrite(t) for t in before]
        seen += len(before)
    assert seen, f"{lab}: no comment was translated, so this test proved nothing"


def test_a_code_change_is_what_the_comparison_catches() -> None:
    source = "x = 1  # one\n# two\ny = x + 1\n"
    assert _code(localise_code(source, _rewrite)) == _code(source)
    assert _code(source.replace("x + 1", "x + 2")) != _code(source)


@pytest.mark.parametrize(("msgstr", "problem"), [
    ("Lancez `fls -r -o 2049` puis {{ volumes.root.label }}.", "code span differs"),
    ("Lancez `fls -r -o 2048` puis {{ volumes.root.lable }}.", "placeholder differs"),
    ("Lancez `fls -r -o 2048` puis le volume.", "placeholder differs"),
    ("## Lancez `fls -r -o 2048` puis {{ volumes.root.label }}.", "heading level differs"),
])
def test_a_planted_change_in_a_translation_is_named(msgstr: str, problem: str) -> None:
    msgid = "Run `fls -r -o 2048` then {{ volumes.root.label }}."
    assert translation_problems(msgid, "Lancez `fls -r -o 2048` puis {{ volumes.root.label }}.") == []
    assert any(line.startswith(problem) for line in translation_problems(msgid, msgstr))


def test_lists_tables_and_message_fields_must_survive() -> None:
    assert translation_problems("* one\n* two", "* un\n* deux\n* trois") == ["list items differ: 2 -> 3"]
    assert translation_problems("| a |\n| b |", "| a |") == ["table rows differ: 2 -> 1"]
    assert translation_problems("{name}: expected {length} digits", "{name} : {longueur} chiffres",
                                markdown=False)[0].startswith("message field differs")
    assert translation_problems("step 5) then", "étape\n5) puis", markdown=False) == []  # a comment's lines are free


def test_english_prose_is_told_from_french_and_spanish() -> None:
    english = "Check each document against the others: every hash twice, every hand-over against the one before it."
    french = "Confrontez chaque document aux autres : chaque empreinte deux fois, chaque remise à la précédente."
    spanish = "Compare cada documento con los demás: cada hash dos veces, cada entrega con la anterior."
    assert looks_english(english) and not looks_english(french) and not looks_english(spanish)
    assert english_share("`the code of the tool` {{ case.title }} Vérifiez le disque") == 0.0


@pytest.mark.parametrize(("value", "lang"), [("", "en"), ("en", "en"), ("fr", "fr"), ("FR", "fr"), ("fr-FR", "fr"),
                                             ("fr_CA", "fr"), ("es_ES", "es"), ("es-419", "es"),
                                             ("fr_FR.UTF-8", "fr")])
def test_roster_lang_spellings(tmp_path: Path, value: str, lang: str) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(f"id,name,lang\nalice,Alice,{value}\nbob,Bob,\n", encoding="utf-8")
    assert [(t.id, t.lang) for t in read_roster(roster)] == [("alice", lang), ("bob", "en")]


@pytest.mark.parametrize("value", ["de", "english", "fr FR", "zz-ZZ"])
def test_a_bad_lang_is_one_line_at_its_roster_line(tmp_path: Path, value: str) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(f"id,lang\nalice,fr\nbob,{value}\n", encoding="utf-8")
    with pytest.raises(DflabError) as raised:
        read_roster(roster)
    assert str(raised.value.where) == f"{roster}:3" and "\n" not in str(raised.value)
    assert f"lang {value!r} is not one of the labs' languages (en, fr, es)" in str(raised.value)
    assert normalise_lang("", "x") == "en"


def test_a_roster_without_lang_is_english(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,email\nalice,Alice,a@example.org\n", encoding="utf-8")
    assert [t.lang for t in read_roster(roster)] == ["en"]
    assert lab_settings(LAB_SETTINGS_DIR, "en") == LAB_SETTINGS_DIR  # English labs start as they always did


@pytest.mark.parametrize(("lang", "locale"), [("fr", "fr_FR"), ("es", "es_ES")])
def test_each_language_settings_folder_is_the_english_one_plus_its_locale(lang: str, locale: str) -> None:
    folder = lab_settings(LAB_SETTINGS_DIR, lang)
    # the same extensions as an English lab, plus nbgrader's Validate, whose texts nbgrader cannot translate
    # (the answer forms report in the trainee's language instead: dflab.i18n.lang.lab_settings)
    english_page = json.loads((LAB_SETTINGS_DIR / "page_config.json").read_text(encoding="utf-8"))
    assert json.loads((folder / "page_config.json").read_text(encoding="utf-8")) == {"disabledExtensions": {
        **english_page["disabledExtensions"], "@jupyter/nbgrader:validate-assignment": True}}
    english = json.loads((LAB_SETTINGS_DIR / "overrides.json").read_text(encoding="utf-8"))
    assert json.loads((folder / "overrides.json").read_text(encoding="utf-8")) == {
        **english, "@jupyterlab/translation-extension:plugin": {"locale": locale}}
    # the language pack JupyterLab needs for that locale is installed beside it
    from jupyterlab_server.translation_utils import get_language_packs

    assert locale in get_language_packs()[0]


def test_lab07_choice_labels_are_units_and_its_codes_are_not() -> None:
    units = {u.msgid: u.where for u in lab_units(REPO / "labs" / "07-review")}
    assert units["A hash that does not verify (acquisition and verification differ)"] == \
        "lab.yaml: answers.flaw_kinds.choices.hash"
    assert "hash" not in units and "acpo1" not in units


def test_the_docker_lab_finds_its_language_settings_in_the_image() -> None:
    """The container's command finds ``labsettings/<lang>/`` through the image's own Python (the host's paths are not
    the image's): run here with this environment's Python first on PATH, the folder it names is the French one. An
    English lab's command is the one it always was."""
    import os
    import re
    import subprocess
    import sys

    from dflab.provision.docker_backend import _seed_then_serve

    english, french = _seed_then_serve()[2], _seed_then_serve("fr")[2]
    assert "app_settings_dir" not in english and french.startswith(english)
    [settings] = re.findall(r'--LabApp\.app_settings_dir=("\$\(.*\)/labsettings/fr")', french)
    shown = subprocess.run(["sh", "-c", f"echo {settings}"], capture_output=True, text=True, check=True,
                           env={"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])})
    assert Path(shown.stdout.strip()) == lab_settings(LAB_SETTINGS_DIR, "fr")


@pytest.mark.parametrize(("rule", "message"), [
    ('{shape: int, choices: {a: "One", b: "Two"}}', "choices apply to text and list answers only"),
    ('{shape: list, choices: {"Hash!": "One", b: "Two"}}', "choice 'Hash!': a code is 1-32 of a-z 0-9 - _"),
    ('{shape: list, choices: {a: "{{ case.title }}", b: "Two"}}', "the label of choice 'a'"),
])
def test_choices_are_codes_with_labels_and_a_mistake_is_one_line(rule: str, message: str) -> None:
    from dflab.lab_meta import parse_answers

    assert parse_answers('answers:\n  x: {shape: list, choices: {a: "One", b: "Two"}}\n', "lab.yaml") == {
        "x": {"shape": "list"}}  # the kernel's shape rule: the choices are the form's
    with pytest.raises(DflabError) as raised:
        parse_answers(f"answers:\n  x: {rule}\n", "lab.yaml")
    assert message in str(raised.value) and "\n" not in str(raised.value)


# -- the hooks' texts ----------------------------------------------------------------------------------------------


def hooks_lab(tmp_path: Path, hooks: str, text: bytes = b'TITLE = N_("A text the hooks write for trainees")\n') -> Path:
    """A lab folder whose lab.yaml names ``hooks``, and a hooks file outside it (``../outside.py``) holding ``text``,
    as a lab's own hooks.py would."""
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "source.ipynb").write_text('{"cells": []}', encoding="utf-8")
    (lab / "lab.yaml").write_text(f"title: A lab\nhooks: {json.dumps(hooks)}\n", encoding="utf-8")
    (tmp_path / "outside.py").write_bytes(text)
    return lab


def test_the_hooks_texts_are_format_templates_and_the_rest_not() -> None:
    """Only the hooks' texts are filled with str.format, so only their translations must keep ``{fields}``."""
    units = lab_units(REPO / "labs" / "07-review")
    formatted = {u.msgid for u in units if u.formatted}
    assert "Examiner: {name}" in formatted and all(u.where == "hooks.py" for u in units if u.formatted)
    assert "A hash that does not verify (acquisition and verification differ)" not in formatted


@pytest.mark.parametrize("hooks", ["/OUTSIDE", "../outside.py", "sub/../../outside.py", "link.py"])
def test_a_hooks_path_outside_the_lab_is_refused_in_one_line(tmp_path: Path, hooks: str) -> None:
    """lab.yaml's ``hooks:`` is read before any check of lab.yaml runs (``dflab lab translate``): a path that leads
    out of the lab folder, absolute, through ``..`` or a link, is refused and the file never read."""
    lab = hooks_lab(tmp_path, hooks.replace("/OUTSIDE", str(tmp_path / "outside.py")))
    (lab / "link.py").symlink_to(tmp_path / "outside.py")
    with pytest.raises(DflabError) as refused:
        lab_units(lab)
    assert refused.value.where == str(lab / "lab.yaml") and "outside the lab folder" in refused.value.what
    proc = subprocess.run([sys.executable, "-m", "dflab.cli", "lab", "translate", "lab", "--labs", str(tmp_path),
                           "--check"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "outside the lab folder" in proc.stderr, \
        proc.stderr
    assert not (lab / "locale").exists()


def test_a_hooks_file_inside_the_lab_gives_its_texts(tmp_path: Path) -> None:
    """The check above refuses the place, not the file: the same file inside the lab gives its text."""
    lab = hooks_lab(tmp_path, "hooks.py")
    (lab / "hooks.py").write_bytes((tmp_path / "outside.py").read_bytes())
    assert [(u.msgid, u.where, u.formatted) for u in lab_units(lab) if u.where == "hooks.py"] == [
        ("A text the hooks write for trainees", "hooks.py", True)]


@pytest.mark.parametrize(("text", "message"), [
    (b'TITLE = N_("An unterminated text\n', "EOF in multi-line statement (line 2)"),
    (b'TITLE = N_("Caf\xe9 au lait for trainees")\n', "can't decode byte 0xe9"),
    (b'TITLE = N_("A text"\n', "EOF in multi-line statement"),
])
def test_a_hooks_file_python_cannot_read_is_one_line(tmp_path: Path, text: bytes, message: str) -> None:
    lab = hooks_lab(tmp_path, "hooks.py", text)
    (lab / "hooks.py").write_bytes(text)
    with pytest.raises(DflabError) as refused:
        lab_units(lab)
    assert refused.value.where == str(lab / "hooks.py") and message in refused.value.what
    assert "\n" not in str(refused.value)
