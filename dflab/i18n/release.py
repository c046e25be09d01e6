"""A lab released in a trainee's language: the English release with its text put in that language.

nbgrader releases the lab once, in English (``release/<lab>/``): grading, the gradebook's cells and checksums and
every grade id come from that one release. A trainee in another language gets ``release-<lang>/<lab>/``, made from
it cell by cell, so nothing grading reads can differ:

* a markdown cell as released is the English prose filled from the case (``dflab.lab_prose``); the translated cell
  is the source's cell translated paragraph by paragraph (``dflab.i18n.units``) *then* filled the same way, so a
  placeholder is filled in either language and a translation never has to match filled-in text. A markdown cell
  nbgrader changed at release (a written-answer cell's stub) is kept as released;
* a code cell as released (solutions already cleared) keeps every line of code and has its prose comments
  translated; the stub nbgrader left where a solution was is dflab's own text (``dflab.lab.messages``);
* the trainee's lab.yaml has its title, objectives, step titles, standards' clauses, hints, explanations, answer
  labels and choices' labels translated; shapes, codes and ids stay as they are.

Cells, their order, ids and metadata are the released ones, so a submission in any language autogrades as the
English one does. A text with no translation yet (empty or fuzzy in the catalog) stays English.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from dflab.errors import DflabError
from dflab.i18n.catalog import po_path, translations
from dflab.i18n.lang import N_
from dflab.i18n.units import cell_source, localise_code, localise_markdown, standard_clause_text
from dflab.lab.messages import gettext
from dflab.lab_meta import LAB_FILE, LabMeta
from dflab.yamlfile import load_yaml

# What a cleared solution cell holds in a release (dflab.grading.course.PYTHON_STUB, without its "# "): translated
# as dflab's own text, since it is in no lab's source.
STUB_TEXT = N_("Optional (Python path): your code here")

Translate = Callable[[str], str]


def translator(lab_dir: Path, lang: str) -> Translate:
    """The lab's catalog for ``lang``, then dflab's own messages; a text neither translates stays as it is."""
    lab = translations(lab_dir, lang)
    return lambda text: lab.get(text) or gettext(text, lang)


def _nbformat(notebook: dict[str, Any]) -> str:
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"  # nbformat's own layout


def _set_source(cell: dict[str, Any], text: str) -> None:
    cell["source"] = text.splitlines(keepends=True) if isinstance(cell.get("source"), list) else text


def localised_notebook(released: str, english: str, translated: str) -> str:
    """The released notebook (JSON text) with each cell's text in another language.

    ``english`` is the course's source notebook (prose filled from the case) that nbgrader released; ``translated``
    the same notebook translated before it was filled. A markdown cell the release left as ``english`` has it takes
    ``translated``'s cell; code cells are translated by the caller's comments (:func:`localise_release`).
    """
    out, en, tr = json.loads(released), json.loads(english)["cells"], json.loads(translated)["cells"]
    if not len(out["cells"]) == len(en) == len(tr):
        raise DflabError(f"the release has {len(out['cells'])} cells, its source {len(en)}: not the same notebook",
                         "release")
    for cell, source, target in zip(out["cells"], en, tr, strict=True):
        if cell.get("cell_type") == "markdown" and cell_source(cell) == cell_source(source):
            _set_source(cell, cell_source(target))
    return _nbformat(out)


_LOCALISERS = {"markdown": localise_markdown, "code": localise_code}


def localised_cells(text: str, cell_type: str, translate: Translate) -> str:
    """A notebook (JSON text) with the prose of its ``cell_type`` cells translated: markdown paragraphs, or code
    cells' comments (their code untouched)."""
    localise = _LOCALISERS[cell_type]
    notebook = json.loads(text)
    for cell in notebook["cells"]:
        if cell.get("cell_type") == cell_type:
            _set_source(cell, localise(cell_source(cell), translate))
    return _nbformat(notebook)


def translated_source(source_text: str, translate: Translate) -> str:
    """The lab's source notebook (JSON text, placeholders unfilled) with its markdown prose translated."""
    return localised_cells(source_text, "markdown", translate)


def localised_lab_yaml(text: str, translate: Translate, where: str) -> str:
    """A trainee's lab.yaml (as :func:`dflab.lab_meta.for_trainees` releases it) with its trainee-facing strings
    translated (the fields ``dflab.i18n.units.lab_yaml_units`` names); every other value as it was."""
    data, _lines = load_yaml(text, where)
    if not isinstance(data, dict):
        raise DflabError("a lab.yaml is a YAML mapping", where)
    data = copy.deepcopy(data)

    def tr(value: Any) -> Any:
        return translate(value) if isinstance(value, str) else value

    if "title" in data:
        data["title"] = tr(data["title"])
    if isinstance(data.get("objectives"), list):
        data["objectives"] = [tr(o) for o in data["objectives"]]
    for step in data.get("steps") or []:
        if not isinstance(step, dict):
            continue
        for key in ("title", "explanation"):
            if key in step:
                step[key] = tr(step[key])
        if isinstance(step.get("hints"), list):
            step["hints"] = [tr(h) for h in step["hints"]]
        if isinstance(step.get("standards"), list):
            step["standards"] = [_clause(c, translate) for c in step["standards"]]
    for rule in (data.get("answers") or {}).values():
        if isinstance(rule, dict):
            if "label" in rule:
                rule["label"] = tr(rule["label"])
            if isinstance(rule.get("choices"), dict):
                rule["choices"] = {code: tr(label) for code, label in rule["choices"].items()}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1_000_000)


def _clause(clause: Any, translate: Translate) -> Any:
    parts = standard_clause_text(clause) if isinstance(clause, str) else None
    if parts is None:
        return translate(clause) if isinstance(clause, str) else clause
    key, text = parts
    return f"{key}: {translate(text)}"


def localise_release(lab_dir: Path, meta: LabMeta, released: Mapping[str, str], english_source: str,
                     fill: Callable[[str], str], lang: str) -> dict[str, str]:
    """The ``lang`` release of a lab: file name → text, for each file of the English release ``released``.

    ``english_source`` is the course's source notebook nbgrader released (prose filled); ``fill`` fills a source
    notebook's prose from the case as the course did (``dflab.lab_prose.render_notebook``). Files other than the
    notebook and lab.yaml are copied as they are.
    """
    translate = translator(lab_dir, lang)
    out = dict(released)
    if meta.notebook in released:
        source = (lab_dir / meta.source).read_text(encoding="utf-8")
        try:
            filled = fill(translated_source(source, translate))
        except DflabError as exc:  # a translation that breaks a placeholder: the translator's line to fix
            raise DflabError(f"the {lang} translation breaks the notebook's prose: {exc}",
                             str(po_path(lab_dir, lang))) from None
        notebook = localised_notebook(released[meta.notebook], english_source, filled)
        out[meta.notebook] = localised_cells(notebook, "code", translate)
    if LAB_FILE in released:
        out[LAB_FILE] = localised_lab_yaml(released[LAB_FILE], translate, f"{lab_dir / LAB_FILE} ({lang})")
    return out
