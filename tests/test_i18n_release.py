"""A lab released in the trainee's language (issue #16 item 6): the roster's ``lang`` gives each French or Spanish
trainee ``release-<lang>/<lab>/``, made from nbgrader's one English release cell by cell; English courses are laid
out and released as before. No French or Spanish release holds English prose (a planted English paragraph is
caught), and grading does not depend on the language: a French submission answering through the forms gets full
marks through the real ``dflab grade``, and none without its answers."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from nbgrader.api import Gradebook

from dflab.grading.course import init_course
from dflab.i18n.release import localised_cells, localised_lab_yaml, translated_source, translator
from dflab.i18n.review import looks_english
from dflab.i18n.units import cell_source, code_comments, is_solution, lab_yaml_units, split_markdown
from dflab.lab.form import ANSWERS_DIR
from dflab.lab_meta import for_trainees, parse_lab

REPO = Path(__file__).resolve().parents[1]
LABS = ("01-live", "02-disk", "03-memory", "04-network", "05-capstone", "07-review")
LAB = "07-review"
NB = "07-review.ipynb"
SECRET = "i18n-release-secret"
ANSWERS = ("flawed_items", "flaw_kinds", "breaches", "unreliable_exhibits")


def english_left(notebook: str, lab_yaml: str) -> list[str]:
    """Every piece of trainee-facing prose of a notebook (JSON text, prose unfilled) and its lab.yaml that reads as
    English: markdown paragraphs, comments of the cells trainees see, lab.yaml's strings."""
    found = []
    for number, cell in enumerate(json.loads(notebook)["cells"], start=1):
        source = cell_source(cell)
        if cell["cell_type"] == "markdown":
            texts = [text for text, prose in split_markdown(source) if prose]
        elif not is_solution(cell):
            texts = [comment.text for comment in code_comments(source)]
        else:
            texts = []
        found += [f"cell {number}: {text[:80]!r}" for text in texts if looks_english(text)]
    data = yaml.safe_load(lab_yaml)
    return found + [f"{u.where}: {u.msgid[:80]!r}" for u in lab_yaml_units(data) if looks_english(u.msgid)]


def localised_texts(lab: str, lang: str) -> tuple[str, str]:
    lab_dir = REPO / "labs" / lab
    translate = translator(lab_dir, lang)
    prose = translated_source((lab_dir / "source.ipynb").read_text(encoding="utf-8"), translate)
    released_yaml = for_trainees((lab_dir / "lab.yaml").read_text(encoding="utf-8"), "lab.yaml")
    return localised_cells(prose, "code", translate), localised_lab_yaml(released_yaml, translate, "lab.yaml")


@pytest.mark.parametrize("lang", ["fr", "es"])
@pytest.mark.parametrize("lab", LABS)
def test_no_english_prose_in_a_french_or_spanish_lab(lab: str, lang: str) -> None:
    notebook, lab_yaml = localised_texts(lab, lang)
    left = english_left(notebook, lab_yaml)
    assert not left, f"{lab} {lang}: {len(left)} English piece(s):\n" + "\n".join(left)


def test_a_planted_english_paragraph_is_caught() -> None:
    notebook, lab_yaml = localised_texts("02-disk", "fr")
    data = json.loads(notebook)
    cell = next(c for c in data["cells"] if c["cell_type"] == "markdown")
    cell["source"] = cell_source(cell) + "\n\nThis paragraph was left in English by mistake, and the test must see it."
    assert len(english_left(json.dumps(data), lab_yaml)) == 1
    english_yaml = for_trainees((REPO / "labs" / "02-disk" / "lab.yaml").read_text(encoding="utf-8"), "lab.yaml")
    assert len(english_left(notebook, english_yaml)) > 10  # the English lab.yaml reads as English, all of it


# -- a course with trainees in three languages --------------------------------------------------------------------

@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("i18n-course")
    roster = base / "roster.csv"
    roster.write_text("id,name,lang\nalice,Alice,fr-FR\nbob,Bob,es\ncarol,Carol,\n", encoding="utf-8")
    result = init_course(base / "course", roster, LAB, SECRET)
    assert result.released and {"release-fr/07-review/07-review.ipynb", "release-es/07-review/lab.yaml"} <= set(
        result.written)
    assert init_course(base / "course", roster, LAB, SECRET).written == []  # a re-run writes nothing
    return result.root


@pytest.mark.xdist_group("i18n_course")
def test_english_courses_are_released_as_before(course: Path, tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,email\ncarol,Carol,\n", encoding="utf-8")
    english = init_course(tmp_path / "course", roster, LAB, SECRET).root
    assert sorted(p.name for p in english.iterdir() if p.name.startswith("release")) == ["release"]
    for name in (NB, "lab.yaml"):
        assert (english / "release" / LAB / name).read_bytes() == (course / "release" / LAB / name).read_bytes()


@pytest.mark.xdist_group("i18n_course")
@pytest.mark.parametrize("lang", ["fr", "es"])
def test_a_localised_release_is_the_english_one_cell_for_cell(course: Path, lang: str) -> None:
    english = json.loads((course / "release" / LAB / NB).read_text(encoding="utf-8"))
    localised = json.loads((course / f"release-{lang}" / LAB / NB).read_text(encoding="utf-8"))
    assert len(english["cells"]) == len(localised["cells"])
    changed = 0
    for en, lo in zip(english["cells"], localised["cells"], strict=True):
        assert (lo["cell_type"], lo.get("id"), lo["metadata"]) == (en["cell_type"], en.get("id"), en["metadata"])
        nbgrader = en["metadata"].get("nbgrader", {})
        if en["cell_type"] == "code":  # the same program; only comments change
            assert ast.dump(ast.parse(cell_source(lo))) == ast.dump(ast.parse(cell_source(en)))
            if nbgrader.get("grade"):
                assert "answer(" in cell_source(lo)
        changed += cell_source(en) != cell_source(lo)
    assert changed > len(english["cells"]) / 2
    # the case's prose is filled in both (no raw template), and the lab.yaml is the trainee's, translated
    assert "{{" not in json.dumps(localised)
    meta = parse_lab((course / f"release-{lang}" / LAB / "lab.yaml").read_text(encoding="utf-8"), "lab.yaml")
    english_meta = parse_lab((course / "release" / LAB / "lab.yaml").read_text(encoding="utf-8"), "lab.yaml")
    assert meta.answers.keys() == english_meta.answers.keys() and meta.title != english_meta.title
    kinds, english_kinds = meta.answers["flaw_kinds"].choices, english_meta.answers["flaw_kinds"].choices
    assert kinds and english_kinds and kinds.keys() == english_kinds.keys()  # the same codes, other labels
    assert all(kinds[code] != english_kinds[code] for code in kinds)
    assert [s.id for s in meta.steps] == [s.id for s in english_meta.steps]


def grade(root: Path, student: str) -> dict[str, float]:
    env = os.environ | {"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    done = subprocess.run([sys.executable, "-m", "dflab.cli", "grade", LAB, "--course", str(root), "--student",
                           student, "--sandbox", "local"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {g.name: g.auto_score for g in gb.find_submission_notebook(LAB, LAB, student).grades}


@pytest.mark.xdist_group("i18n_course")
def test_a_french_submission_answered_in_the_forms_gets_full_marks(course: Path) -> None:
    """alice submits her French notebook as released, her answers typed into the forms (saved in .answers/), the
    way a trainee who does not program works; `dflab grade` runs it and scores every point. Without the answers it
    scores none: the test can fail."""
    review = json.loads((course / "evidence" / "alice" / "key" / "answer_key.json").read_text(
        encoding="utf-8"))["facts"]["review"]
    folder = course / "submitted" / "alice" / LAB
    folder.mkdir(parents=True)
    for name in (NB, "lab.yaml"):
        (folder / name).write_bytes((course / "release-fr" / LAB / name).read_bytes())
    assert set(grade(course, "alice").values()) == {0.0}
    (folder / ANSWERS_DIR).mkdir()
    (folder / ANSWERS_DIR / f"{LAB}.json").write_text(json.dumps({n: ", ".join(review[n]) for n in ANSWERS}),
                                                      encoding="utf-8")
    scores = grade(course, "alice")
    source = json.loads((course / "source" / LAB / NB).read_text(encoding="utf-8"))
    full = {c["metadata"]["nbgrader"]["grade_id"]: float(c["metadata"]["nbgrader"]["points"])
            for c in source["cells"] if c["metadata"].get("nbgrader", {}).get("grade")}
    assert scores == full and sum(full.values()) == 8


@pytest.mark.xdist_group("i18n_course")
@pytest.mark.parametrize("lang, title", [("fr", "Opération Nightjar"), ("es", "Operación Nightjar")])
def test_the_case_is_told_in_the_trainees_language(course: Path, lang: str, title: str) -> None:
    """The case's title and summary come from the scenario, not the lab: its own catalog
    (labs/scenarios/locale/<lang>/LC_MESSAGES/nightjar.po) tells them in the trainee's language."""
    english = (course / "release" / LAB / NB).read_text(encoding="utf-8")
    localised = (course / f"release-{lang}" / LAB / NB).read_text(encoding="utf-8")
    assert "Operation Nightjar" in english and title not in english
    assert title in localised and "Operation Nightjar" not in localised
    assert "finance team's workstation" not in localised
