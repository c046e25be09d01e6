"""Lab 07's court file in French and Spanish (issue 16 items 5 and 6): the examiner's report, custody record, hash
list, timeline excerpt and tool register come out in the trainee's language, with the same items and the same flaws.

``materials`` writes the court file once per language (``07-review/en/``, ``fr/``, ``es/``), every word from the
lab's catalogs (``labs/07-review/locale/``), dates by Babel. What is checked here:

* no English prose is left in the French and Spanish files, on many variants of both cases (every action, person,
  flaw kind), and a paragraph left in English, planted or from a catalog that lacks one text, is caught;
* each French and Spanish file, read back into English through its catalog (every heading, paragraph and cell must
  be a translation of one of the hook's texts, every date the language's), is the English file byte for byte: the
  same references, hashes, seals, hand-overs, signatures and times, so every flaw the English reviewer finds is in
  it; a tampered French hand-over reads back otherwise;
* the French release shows the French files (the notebook opens ``07-review/<the kernel's language>/``), and a
  French reviewer's answers, read from the French files, score full through the real ``dflab grade``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader.api import Gradebook

from dflab.errors import DflabError
from dflab.grading.course import init_course
from dflab.i18n.catalog import missing, po_path, read_catalog, set_translations, translations
from dflab.i18n.review import looks_english
from dflab.i18n.scenario import po_path as scenario_po_path
from dflab.i18n.units import hooks_units, lab_units
from dflab.lab.form import ANSWERS_DIR
from dflab.lab_hooks import hooks_at, labs_materials
from dflab.scenario.draw import variant_seed
from dflab.scenario.load import load_spec
from dflab.scenario.resolve import resolve
from tests.test_lab07_review import ANSWERS, read_as_reviewer

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "07-review"
HOOKS = hooks_at(LAB / "hooks.py").module
TRANSLATED = ("fr", "es")
CASES = ("nightjar", "kestrel")
SECRET = "lab07-i18n-test"
NB = "07-review.ipynb"
_FIELD = re.compile(r"\{(\w+)\}")
_STAMP = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d\d)")
_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TIME = re.compile(r"(\d{1,2}):(\d\d)")
_ORDINAL = re.compile(r"(.+) \(([^()]+)\)")


def court_files(case: str, trainee: str, out: Path) -> dict[str, Any]:
    """Run the hook for one variant into ``out`` (exhibits' hashes made up: the evidence files are not needed)."""
    spec = load_spec(ROOT / "labs" / "scenarios" / f"{case}.yaml")
    exhibits = {f: hashlib.sha256(f"{trainee} {f}".encode()).hexdigest()
                for f in ("disk.img", "memory.lime", "network.pcapng")}
    out.mkdir(parents=True)
    return HOOKS.materials(resolve(spec, variant_seed(SECRET, case, trainee), trainee), exhibits, out)["review"]


def read(folder: Path, lang: str) -> dict[str, str]:
    return {name: (folder / lang / name).read_text(encoding="utf-8") for name in HOOKS.DOCUMENTS}


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Variants of both cases: together they hold every flaw kind and most actions and people the hook writes (every
    text is translated: tests/test_i18n_catalogs.py)."""
    root = tmp_path_factory.mktemp("lab07-i18n")
    made, kinds = [], set()
    for case, count in zip(CASES, (8, 16), strict=True):  # Nightjar's cases take longer to resolve
        for n in range(count):
            kinds |= set(court_files(case, f"t{n}", root / case / f"t{n}")["flaw_kinds"])
            made.append(root / case / f"t{n}")
    assert kinds == set(HOOKS.KINDS)
    return made


def test_the_court_files_texts_are_units_of_the_labs_catalog() -> None:
    """``dflab lab translate`` finds them in hooks.py (marked ``N_()``); codes are no units, and a lab whose hooks
    write no documents (lab 01) gains none."""
    units = {u.msgid: u.where for u in lab_units(LAB)}
    assert units["# Examiner's report"] == units[HOOKS.ACTIONS["delete"]] == units[HOOKS.RETURNED] == "hooks.py"
    assert not set(HOOKS.KINDS) & set(units) and not set(HOOKS.DOCUMENTS) & set(units)
    assert [u for u in lab_units(ROOT / "labs" / "01-live") if u.where == "hooks.py"] == []


# -- English left ---------------------------------------------------------------------------------------------------

# What the documents print as codes, the same in every language (answers name them): exhibit numbers, custody
# entries, paragraphs, hashes. An examiner's initials are no word ("DO/2" is Daniel Osei's, not English "do").
_CODES = re.compile(r"\b[A-Z]{2}/\d+\b|\b[CR]-\d+\b|\b[0-9a-f]{64}\b")


def english_left(document: str) -> list[str]:
    """Each paragraph or table row of ``document`` that reads as English prose (dflab/i18n/review.py)."""
    return [line for line in document.splitlines() if line.strip() and looks_english(_CODES.sub(" ", line))]


def english_texts() -> list[str]:
    """The hook's texts that a translation changes, as the English file writes them (fields left out)."""
    out, words = [], [translations(LAB, lang) for lang in TRANSLATED]
    for unit in hooks_units(LAB, "hooks.py"):
        if all(done.get(unit.msgid) != unit.msgid for done in words):
            out += [part.strip() for part in _FIELD.split(unit.msgid)[::2] if len(part.strip()) > 12]
    return out


@pytest.mark.parametrize("lang", TRANSLATED)
def test_the_french_and_spanish_court_files_hold_no_english_prose(variants: list[Path], lang: str) -> None:
    texts = english_texts()
    assert len(texts) > 40
    for folder in variants:
        for name, document in read(folder, lang).items():
            assert english_left(document) == [], (folder, lang, name)
            assert [t for t in texts if re.search(rf"(?<!\w){re.escape(t)}(?!\w)", document)] == [], (folder, name)
    # The checks read English as English: most paragraphs of the English report, and its texts, are caught.
    english = read(variants[0], "en")["report.md"]
    assert len(english_left(english)) >= 5 and sum(t in english for t in texts) >= 5


def test_a_planted_english_paragraph_is_caught(variants: list[Path]) -> None:
    french = read(variants[0], "fr")["report.md"]
    planted = french.replace("\n## ", "\nThis paragraph was left in English by mistake, and the check must see it.\n\n"
                                      "## ", 1)
    assert english_left(planted) == ["This paragraph was left in English by mistake, and the check must see it."]


def test_a_text_the_catalog_lacks_is_written_in_english_and_caught(tmp_path: Path) -> None:
    """A court-file text without its French translation (a new sentence in hooks.py, not translated yet) is
    written in English, as a release writes an untranslated paragraph: ``dflab lab translate --check`` names it
    (dflab.i18n.catalog.missing) and the English-prose check finds the paragraph."""
    labs = tmp_path / "labs"
    shutil.copytree(LAB, labs / "07-review", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "labs" / "scenarios", labs / "scenarios")  # the case's title, translated beside it
    conclusion = next(u.msgid for u in hooks_units(LAB, "hooks.py") if u.msgid.startswith("The exhibits above"))
    set_translations(labs / "07-review", "fr", {conclusion: ""})
    assert missing(labs / "07-review", "fr") == [conclusion]
    hooks = hooks_at(labs / "07-review" / "hooks.py").module
    (tmp_path / "out").mkdir()
    spec = load_spec(ROOT / "labs" / "scenarios" / "nightjar.yaml")
    hooks.materials(resolve(spec, variant_seed(SECRET, "nightjar", "a"), "a"), {"disk.img": "a" * 64},
                    tmp_path / "out")
    assert english_left((tmp_path / "out" / "fr" / "report.md").read_text(encoding="utf-8")) == [conclusion]


# -- the same items, the same flaws -------------------------------------------------------------------------------

class ReadBack:
    """A court file in ``lang`` read back into English through the lab's catalog (and the scenarios' titles).

    Every heading and paragraph must be a translation of one of the hook's texts, its fields read back in turn;
    a table cell is such a translation, a date and time as the language writes it, or a code (a reference, a hash,
    a seal, a tool's name), which reads as itself. Two texts translated alike would make the file ambiguous: refused.
    """

    def __init__(self, lang: str) -> None:
        self.lang = lang
        words = translations(LAB, lang)
        pairs = [(u.msgid, words[u.msgid]) for u in hooks_units(LAB, "hooks.py")]
        for case in CASES:
            catalog = read_catalog(scenario_po_path(ROOT / "labs" / "scenarios" / f"{case}.yaml", case, lang), lang)
            pairs += [(m.id, m.string) for m in catalog if m.id and m.string and not m.fuzzy]
        self.literal: dict[str, str] = {}
        self.templates: list[tuple[re.Pattern[str], str]] = []
        for msgid, text in pairs:
            if not _FIELD.search(msgid):
                assert self.literal.setdefault(text, msgid) == msgid, f"{lang}: {msgid!r} translated as another text"
                continue
            pieces = _FIELD.split(text)
            pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(pieces))
            self.templates.append((re.compile(pattern), msgid))

    def value(self, text: str) -> str:
        if text in self.literal:
            return self.literal[text]
        for pattern, english in ((_STAMP, "{2}-{1:02d}-{0:02d} {3:02d}:{4:02d}"), (_DATE, "{2}-{1:02d}-{0:02d}"),
                                 (_TIME, "{0:02d}:{1:02d}")):
            if match := pattern.fullmatch(text):
                return english.format(*(int(g) for g in match.groups()))
        if (match := _ORDINAL.fullmatch(text)) and match.group(2) in self.literal:
            return f"{self.value(match.group(1))} ({self.literal[match.group(2)]})"
        return self.template(text) or text

    def template(self, text: str) -> str | None:
        for pattern, msgid in self.templates:
            if match := pattern.fullmatch(text):
                return msgid.format(**{k: self.value(v) for k, v in match.groupdict().items()})
        return None

    def document(self, text: str) -> str:
        out = []
        for line in text.split("\n"):
            if not line or line.startswith("|---"):
                out.append(line)
            elif line in self.literal:
                out.append(self.literal[line])
            elif line.startswith("| "):
                out.append("| " + " | ".join(self.value(c.strip()) for c in line[2:-2].split(" | ")) + " |")
            else:
                english = self.template(line)
                assert english is not None, f"{self.lang}: not a text of the court file: {line[:80]!r}"
                out.append(english)
        return "\n".join(out)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_each_language_reads_back_as_the_english_court_file(variants: list[Path], lang: str) -> None:
    """Item for item: what a reviewer checks (hashes, hand-overs, seals, signatures, versions, findings, times) is
    in every language, so the flaws the English reviewer finds exactly (tests/test_lab07_review.py) are in each."""
    back = ReadBack(lang)
    for folder in variants:
        english = read(folder, "en")
        for name, text in read(folder, lang).items():
            assert text != english[name]
            assert back.document(text) == english[name], (folder, lang, name)


def test_a_tampered_hand_over_reads_back_otherwise(variants: list[Path]) -> None:
    """The read-back can fail: a French hand-over given by someone else, or a day later, is not the English one."""
    back, folder = ReadBack("fr"), variants[0]
    english, custody = read(folder, "en")["custody.md"], read(folder, "fr")["custody.md"]
    rows = [line for line in custody.splitlines() if re.match(r"\| C-\d+ ", line)]
    cells = rows[1].split(" | ")
    giver = cells[3]
    other = next(c for row in rows for c in row.split(" | ")[3:5] if c != giver)
    stamp = _STAMP.fullmatch(cells[2])
    assert stamp is not None
    later = cells[2].replace(f"{stamp.group(1)}/", f"{int(stamp.group(1)) % 28 + 1}/", 1)
    for changed in (cells[:3] + [other] + cells[4:], cells[:2] + [later] + cells[3:]):
        tampered = custody.replace(rows[1], " | ".join(changed))
        assert back.document(tampered) != english
    assert back.document(custody) == english


# -- the French release and its grading -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("lab07-i18n-course")
    roster = base / "roster.csv"
    roster.write_text("id,name,lang\nalice,Alice,fr-FR\n", encoding="utf-8")
    return init_course(base / "course", roster, "07-review", SECRET).root


def shown(notebook: Path, evidence: Path, lang: str | None, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the release's locked cells show of the court file, run in a kernel with ``$DFLAB_LANG`` = ``lang``."""
    nb = nbformat.read(notebook, as_version=4)
    nb.cells = [c for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith(("setup", "show-"))]
    monkeypatch.setenv("DFLAB_EVIDENCE", str(evidence))  # the kernel inherits both
    if lang is None:
        monkeypatch.delenv("DFLAB_LANG", raising=False)
    else:
        monkeypatch.setenv("DFLAB_LANG", lang)
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(notebook.parent)}}).execute()
    return [out["data"]["text/markdown"] for cell in nb.cells for out in cell.get("outputs", [])
            if "text/markdown" in out.get("data", {})]


@pytest.mark.xdist_group("lab07_i18n_course")
def test_the_french_release_shows_the_french_court_file(course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evidence = course / "evidence" / "alice" / "evidence"
    order = ("report.md", "hashes.md", "custody.md", "timeline.md", "tools.md")  # as the notebook shows them
    french = read(evidence / "07-review", "fr")
    assert french["report.md"].startswith("# Rapport d'expertise\n")
    assert shown(course / "release-fr" / "07-review" / NB, evidence, "fr", monkeypatch) == [french[n] for n in order]
    english = read(evidence / "07-review", "en")  # the same notebook in an English kernel shows the English file
    assert shown(course / "release-fr" / "07-review" / NB, evidence, None, monkeypatch) == [english[n] for n in order]


def grade(root: Path, student: str) -> dict[str, float]:
    env = os.environ | {"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    done = subprocess.run([sys.executable, "-m", "dflab.cli", "grade", "07-review", "--course", str(root),
                           "--student", student, "--sandbox", "local"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {g.name: g.auto_score for g in gb.find_submission_notebook("07-review", "07-review", student).grades}


def french_reviewer(evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The answers a reviewer gives from the French court file alone: each document read back through the French
    catalog, then read item by item as the lab's solution reads a court file."""
    back = ReadBack("fr")
    folder = tmp_path / "read-back" / "07-review" / "en"
    folder.mkdir(parents=True)
    (tmp_path / "read-back" / "manifest.json").write_text("{}", encoding="utf-8")
    for name, text in read(evidence / "07-review", "fr").items():
        (folder / name).write_text(back.document(text), encoding="utf-8")
    return read_as_reviewer(tmp_path / "read-back", monkeypatch)


@pytest.mark.xdist_group("lab07_i18n_course")
def test_a_french_reviewers_answers_score_full_through_grading(course: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    evidence = course / "evidence" / "alice" / "evidence"
    key = json.loads((course / "evidence" / "alice" / "key" / "answer_key.json").read_text(encoding="utf-8"))
    answers = french_reviewer(evidence, tmp_path, monkeypatch)
    assert answers == {n: key["facts"]["review"][n] for n in ANSWERS}
    folder = course / "submitted" / "alice" / "07-review"
    folder.mkdir(parents=True)
    for name in (NB, "lab.yaml"):
        (folder / name).write_bytes((course / "release-fr" / "07-review" / name).read_bytes())
    (folder / ANSWERS_DIR).mkdir()
    typed: Callable[[list[str]], str] = ", ".join  # as the forms save a selection
    (folder / ANSWERS_DIR / "07-review.json").write_text(json.dumps({n: typed(v) for n, v in answers.items()}),
                                                         encoding="utf-8")
    scores = grade(course, "alice")
    assert scores and all(score == 2.0 for score in scores.values()) and sum(scores.values()) == 8


# -- a translation that does not fit its text ------------------------------------------------------------------------

def lab_copy(tmp_path: Path) -> Path:
    """A labs folder holding lab 07 alone (and the scenarios' catalogs beside it), as ``--labs`` and a build read."""
    labs = tmp_path / "labs"
    shutil.copytree(LAB, labs / "07-review", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "labs" / "scenarios", labs / "scenarios")
    return labs


def exhibit_paragraph() -> str:
    """The report's exhibit paragraph: the text with the most fields, ``{by}`` (a person's msgid) among them."""
    return next(u.msgid for u in hooks_units(LAB, "hooks.py") if "Write protection: {protection}" in u.msgid)


@pytest.mark.parametrize("planted", ["{by.name}", "{by[0]}", "{examiner}", "{0}", "{by", ""])
def test_a_translation_that_breaks_its_fields_is_one_line_at_its_po_line(tmp_path: Path, planted: str) -> None:
    """A French translation of a court-file text with a field the text is not filled with (``{by.name}`` reaches
    into the value, ``{by[0]}`` indexes it, ``{examiner}`` and ``{0}`` are not given), a lone brace, or a field
    dropped, is one line naming the .po and the entry's line: from ``dflab lab translate --check`` and from the
    build (lab_hooks.labs_materials, as dflab.evidence.build runs it), never a traceback or a document."""
    labs = lab_copy(tmp_path)
    msgid = exhibit_paragraph()
    set_translations(labs / "07-review", "fr", {msgid: translations(LAB, "fr")[msgid].replace("{by}", planted)})
    po = po_path(labs / "07-review", "fr")
    where = f"{po}:{read_catalog(po, 'fr')[msgid].lineno}"

    proc = subprocess.run([sys.executable, "-m", "dflab.cli", "lab", "translate", "07-review", "--labs", str(labs),
                           "--check"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dflab: error: {where}: the translation of "), proc.stderr
    if planted == "{by":
        assert "is not a {field} template" in lines[0]
    else:
        assert "missing {by}" in lines[0] and (planted == "" or f"not in the text {planted}" in lines[0])

    spec = load_spec(ROOT / "labs" / "scenarios" / "nightjar.yaml")
    (tmp_path / "evidence").mkdir()
    with pytest.raises(DflabError) as refused:
        labs_materials(labs, resolve(spec, variant_seed(SECRET, "nightjar", "a"), "a"), {"disk.img": "a" * 64},
                       tmp_path / "evidence")
    assert refused.value.where == where and "\n" not in str(refused.value)


def test_a_translation_fixed_mid_session_is_the_one_the_next_variant_uses(tmp_path: Path) -> None:
    """The hook reads its catalog again when the .po changes (a translator's fix while a session runs): the next
    variant built in the same process is the one a fresh build makes, not one from the catalog first read."""
    labs = lab_copy(tmp_path)
    hooks = hooks_at(labs / "07-review" / "hooks.py").module
    spec = load_spec(ROOT / "labs" / "scenarios" / "nightjar.yaml")
    case = resolve(spec, variant_seed(SECRET, "nightjar", "a"), "a")

    def report(name: str) -> str:
        (tmp_path / name).mkdir()
        hooks.materials(case, {"disk.img": "a" * 64}, tmp_path / name)
        return (tmp_path / name / "fr" / "report.md").read_text(encoding="utf-8")

    before = report("before")
    heading = "# Examiner's report"
    set_translations(labs / "07-review", "fr", {heading: "# Rapport d'expertise (corrigé)"})
    assert report("after").splitlines()[0] == "# Rapport d'expertise (corrigé)" != before.splitlines()[0]


@pytest.mark.parametrize("text", ["{by.name}", "{by[x]}", "{examiner}", "{0}", "{by", "{by:%Y}"])
def test_a_text_that_does_not_fit_its_fields_is_one_line_when_written(text: str) -> None:
    """The last word, behind the catalog's check: a text of the hooks themselves (or a translation the catalog did
    not check) that ``str.format`` cannot fill is one line naming the file to fix, never a traceback."""
    with pytest.raises(DflabError) as refused:
        HOOKS.Voice("en", "A case", {})(text, by="Maria Kowalski")
    assert Path(refused.value.where).resolve() == LAB / "hooks.py" and "\n" not in str(refused.value)
    with pytest.raises(DflabError) as refused:
        HOOKS.Voice("fr", "A case", {"Examiner: {by}": text})("Examiner: {by}", by="Maria Kowalski")
    assert refused.value.where == str(po_path(HOOKS.LAB_DIR, "fr"))
