"""A scenario's own text in the trainee's language: the case's title and summary the labs' prose opens with.

A lab's catalog translates its paragraphs, but ``**{{ case.title }}.** {{ case.summary }}`` is filled from the
scenario, and one scenario serves several labs: its translations belong beside it, not in each lab. Layout, as a
lab's (``dflab/i18n/catalog.py``)::

    labs/scenarios/locale/<scenario>.pot
    labs/scenarios/locale/<lang>/LC_MESSAGES/<scenario>.po

Only what is the same for every trainee is translated here (prose may show nothing else: ``dflab/lab_prose.py``);
an untranslated text stays English, as in a lab.
"""

from __future__ import annotations

from pathlib import Path

from dflab.i18n.catalog import LANGUAGES, new_template, read_catalog, write_catalogs
from dflab.scenario.spec import Spec

LOCALE_DIR = "locale"


def _texts(spec: Spec) -> list[tuple[str, str]]:
    """(text, where) of the spec's translatable fields, in reading order."""
    return [(text, f"{spec.scenario}.yaml: {field}") for field, text in
            (("title", spec.title.strip()), ("summary", spec.summary.strip())) if text]


def template_path(spec_path: Path, scenario: str) -> Path:
    return spec_path.parent / LOCALE_DIR / f"{scenario}.pot"


def po_path(spec_path: Path, scenario: str, lang: str) -> Path:
    return spec_path.parent / LOCALE_DIR / lang / "LC_MESSAGES" / f"{scenario}.po"


def update_scenario_catalogs(spec_path: Path, spec: Spec, languages: tuple[str, ...] = LANGUAGES) -> list[Path]:
    """Write the scenario's template and merge it into each language's catalog (created when missing)."""
    template = new_template(f"dflab scenario {spec.scenario}")
    for text, where in _texts(spec):
        template.add(text, auto_comments=[where])
    return write_catalogs(template, template_path(spec_path, spec.scenario),
                          {lang: po_path(spec_path, spec.scenario, lang) for lang in languages})


def localised_spec(spec_path: Path, spec: Spec, lang: str) -> Spec:
    """``spec`` with its title and summary in ``lang`` where its catalog translates them (else as written)."""
    path = po_path(spec_path, spec.scenario, lang)
    if not path.exists():
        return spec
    catalog = read_catalog(path, lang)
    done = {m.id: m.string for m in catalog if isinstance(m.id, str) and m.id and isinstance(m.string, str)
            and m.string and not m.fuzzy}
    update = {field: done[text.strip()] for field, text in (("title", spec.title), ("summary", spec.summary))
              if text.strip() in done}
    return spec.model_copy(update=update) if update else spec
