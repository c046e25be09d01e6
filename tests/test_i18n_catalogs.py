"""The labs' catalogs (issue #16 item 6): French and Spanish ship for labs 01-05 and 07, every unit translated (not
fuzzy), with its code spans, placeholders, links and markdown shape kept; each lab's ``lab.pot`` is what the lab
holds now; ``dflab lab translate --check`` says so in its exit status."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from dflab.i18n.catalog import missing, progress, read_catalog, set_translations, template_path, translations
from dflab.i18n.review import translation_problems
from dflab.i18n.units import lab_units
from dflab.lab_cli import lab as lab_group

REPO = Path(__file__).resolve().parents[1]
LABS = ("01-live", "02-disk", "03-memory", "04-network", "05-capstone", "07-review", "08-windows")
LANGS = ("fr", "es")


def markdown_cells(lab_dir: Path) -> set[str]:
    """``source.ipynb: cell N`` of each markdown cell (a code comment's lines have no markdown shape to keep)."""
    cells = json.loads((lab_dir / "source.ipynb").read_text(encoding="utf-8"))["cells"]
    return {f"source.ipynb: cell {n}" for n, c in enumerate(cells, start=1) if c["cell_type"] == "markdown"}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("lab", LABS)
def test_every_unit_is_translated(lab: str, lang: str) -> None:
    lab_dir = REPO / "labs" / lab
    untranslated = missing(lab_dir, lang)
    assert not untranslated, (f"{lab} {lang}: {len(untranslated)} of {len(lab_units(lab_dir))} units untranslated or "
                              f"fuzzy, first: {untranslated[0][:100]!r}")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("lab", LABS)
def test_translations_keep_code_placeholders_and_structure(lab: str, lang: str) -> None:
    lab_dir = REPO / "labs" / lab
    done, markdown = translations(lab_dir, lang), markdown_cells(lab_dir)
    problems = [f"{unit.where}: {problem}: {unit.msgid[:60]!r}" for unit in lab_units(lab_dir) if unit.msgid in done
                for problem in translation_problems(unit.msgid, done[unit.msgid], unit.where in markdown)]
    assert not problems, f"{lab} {lang}: {len(problems)} problem(s):\n" + "\n".join(problems)


@pytest.mark.parametrize("lab", LABS)
def test_the_template_is_the_lab_as_it_is(lab: str) -> None:
    lab_dir = REPO / "labs" / lab
    template = read_catalog(template_path(lab_dir))
    assert [m.id for m in template if m.id] == [u.msgid for u in lab_units(lab_dir)], \
        f"labs/{lab}/locale/lab.pot is out of date: run `dflab lab translate {lab}`"


def test_translate_refreshes_and_check_fails_on_a_changed_paragraph(tmp_path: Path) -> None:
    """``dflab lab translate`` on a copy of lab 07: a paragraph edited in the notebook becomes fuzzy in every
    language (its old translation kept), ``--check`` exits 4 until a translator fills it, then 0."""
    lab_dir = tmp_path / "07-review"
    shutil.copytree(REPO / "labs" / "07-review", lab_dir, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "scenarios").mkdir()
    runner = CliRunner()
    args = ["translate", "07-review", "--labs", str(tmp_path)]
    assert runner.invoke(lab_group, args).exit_code == 0
    for lang in LANGS:  # complete, whatever the shipped catalogs hold today (test_every_unit_is_translated says)
        set_translations(lab_dir, lang, {msgid: f"({lang}) {msgid}" for msgid in missing(lab_dir, lang)})
    assert runner.invoke(lab_group, [*args, "--check"]).exit_code == 0
    notebook = lab_dir / "source.ipynb"
    old = lab_units(lab_dir)[1].msgid
    notebook.write_text(notebook.read_text(encoding="utf-8").replace(
        json.dumps(old.splitlines(keepends=True)[0])[1:-1], json.dumps("Edited. " + old.splitlines(True)[0])[1:-1],
        1), encoding="utf-8")
    edited = next(u.msgid for u in lab_units(lab_dir) if u.msgid.startswith("Edited. "))
    checked = runner.invoke(lab_group, [*args, "--check"])
    assert checked.exit_code == 4, checked.output
    refreshed = runner.invoke(lab_group, args)
    assert refreshed.exit_code == 0, refreshed.output
    for lang in LANGS:
        assert progress(lab_dir, lang).fuzzy == 1 and missing(lab_dir, lang) == [edited]
        catalog = read_catalog(lab_dir / "locale" / lang / "LC_MESSAGES" / "lab.po", lang)
        assert catalog[edited].fuzzy and catalog[edited].string  # the old translation, a start for the translator
    assert runner.invoke(lab_group, [*args, "--check"]).exit_code == 4
    for lang in LANGS:
        set_translations(lab_dir, lang, {edited: "Modifié. " + translations(lab_dir, lang).get(old, "x")})
    assert runner.invoke(lab_group, [*args, "--check"]).exit_code == 0


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("scenario", ["nightjar", "kestrel"])
def test_each_bundled_scenario_tells_its_case_in_every_language(scenario: str, lang: str, tmp_path: Path) -> None:
    """The case's title and summary (filled into every lab's opening paragraph) are in the scenario's catalog, the
    template is what the spec holds now, and a spec whose summary changed falls back to English, never to a stale
    translation."""
    from dflab.i18n.scenario import localised_spec, update_scenario_catalogs
    from dflab.i18n.scenario import template_path as scenario_template
    from dflab.scenario.load import load_spec

    spec_path = REPO / "labs" / "scenarios" / f"{scenario}.yaml"
    spec = load_spec(spec_path)
    held = {m.id for m in read_catalog(scenario_template(spec_path, scenario)) if m.id}
    assert held == {spec.title.strip(), spec.summary.strip()}
    told = localised_spec(spec_path, spec, lang)
    assert told.title != spec.title and told.summary != spec.summary
    copy = tmp_path / f"{scenario}.yaml"
    shutil.copytree(spec_path.parent / "locale", tmp_path / "locale")
    copy.write_text(spec_path.read_text(encoding="utf-8"), encoding="utf-8")
    changed = spec.model_copy(update={"summary": spec.summary + " One more sentence."})
    update_scenario_catalogs(copy, changed, languages=(lang,))
    stale = localised_spec(copy, changed, lang)
    assert stale.summary == changed.summary and stale.title == told.title
