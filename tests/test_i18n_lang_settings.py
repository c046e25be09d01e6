"""JupyterLab's settings for a trainee in French or Spanish (dflab/labsettings/<lang>/, dflab.i18n.lang.lab_settings).

Each language's folder is the English one with two differences: the language pack's locale, and nbgrader's Validate
button switched off, because nbgrader writes that button in English only. The second test watches that reason: when
an nbgrader release asks JupyterLab's translator for the button's text, it fails, and the button should come back
with a catalog for nbgrader's domain instead. tests/test_i18n_browser.py sees the result in Chromium,
tests/test_hub_lang.py in a lab the hub spawned.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dflab.i18n.lang import lab_settings
from dflab.labserver import LAB_SETTINGS_DIR

VALIDATE_PLUGIN = "@jupyter/nbgrader:validate-assignment"


def _json(path: Path) -> dict[str, object]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("lang", "locale"), [("fr", "fr_FR"), ("es", "es_ES")])
def test_a_language_folder_is_the_english_one_with_its_locale_and_without_validate(lang: str, locale: str) -> None:
    folder = lab_settings(LAB_SETTINGS_DIR, lang)
    english_page = _json(LAB_SETTINGS_DIR / "page_config.json")
    assert VALIDATE_PLUGIN not in english_page["disabledExtensions"]  # type: ignore[operator]  # English keeps it
    assert _json(folder / "page_config.json") == {
        "disabledExtensions": {**english_page["disabledExtensions"], VALIDATE_PLUGIN: True}}  # type: ignore[dict-item]
    assert _json(folder / "overrides.json") == {
        **_json(LAB_SETTINGS_DIR / "overrides.json"), "@jupyterlab/translation-extension:plugin": {"locale": locale}}
    from jupyterlab_server.translation_utils import get_language_packs

    assert locale in get_language_packs()[0]  # the pack JupyterLab needs for that locale is installed beside it


def test_nbgrader_writes_its_validate_button_in_english_only() -> None:
    """The installed labextension's Validate button: literal English label, tooltip and dialog titles, and no
    translator asked in the code that builds it; and no language pack carries an ``nbgrader`` domain."""
    from jupyter_core.paths import jupyter_path
    from jupyterlab_server.translation_utils import get_language_pack

    # Where JupyterLab finds it: the first labextensions folder holding it.
    [extension, *_] = [Path(d) / "@jupyter" / "nbgrader" for d in jupyter_path("labextensions")
                       if (Path(d) / "@jupyter" / "nbgrader" / "package.json").is_file()]
    [chunk] = [p for p in (extension / "static").glob("*.js") if "validate-button" in p.read_text(encoding="utf-8")]
    code = chunk.read_text(encoding="utf-8")
    start = code.index('className:"validate-button"')
    button = code[code.rindex("class ", 0, start):code.index("createNew(", start)]  # the button's class
    assert 'label:"Validate"' in button and 'tooltip:"Validate Assignment"' in button
    assert '"Validating..."' in button and 'title:"Validation failed"' in button
    assert not re.search(r"\btrans\b|__\(|translator|ITranslator", button), "nbgrader now translates Validate"
    for locale in ("fr_FR", "es_ES"):
        assert "nbgrader" not in get_language_pack(locale)[0], locale  # (catalogs by domain, message)
