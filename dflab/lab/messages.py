"""What ``dflab.lab`` and the instant checker say to a trainee, in the trainee's language.

The lab's own text (prose, hints, labels) comes translated in the released notebook and lab.yaml
(``dflab.i18n``); this is the rest: the answer form's buttons and notes, the one-line errors of ``answer()`` and
``check()``, the checker's refusals. Each is written in English in the code, marked ``_("...")`` (said now) or
``N_("...")`` (said later, e.g. a table of messages), and looked up in ``locale/<lang>/LC_MESSAGES/dflab.po`` beside
this file for the kernel's language, ``$DFLAB_LANG`` (set by the backends from the roster's ``lang``).

Babel reads the ``.po`` file itself (it comes with JupyterLab, so the trainee image has it): no compiled ``.mo`` to
keep in step. A message not translated yet, a language without a catalog or an unreadable catalog gives the
English text: a message is never lost to its translation. ``dflab.i18n.messages`` extracts the template and
``tests/test_i18n_messages.py`` holds every message translated, its ``{placeholders}`` unchanged.
"""

from __future__ import annotations

import functools
from pathlib import Path

from dflab.i18n.lang import DEFAULT_LANG, N_, current_lang

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "dflab"


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def _translations(lang: str) -> dict[str, str]:
    if lang == DEFAULT_LANG or not catalog_path(lang).is_file():
        return {}
    try:
        from babel.messages.pofile import read_po

        with catalog_path(lang).open("rb") as handle:
            catalog = read_po(handle, locale=lang)
    except Exception:  # a broken catalog costs the translation, never the message
        return {}
    return {m.id: m.string for m in catalog
            if isinstance(m.id, str) and m.id and isinstance(m.string, str) and m.string and not m.fuzzy}


def gettext(message: str, lang: str | None = None) -> str:
    """``message`` in ``lang`` (default: the kernel's language), or as written when it has no translation."""
    return _translations(lang or current_lang()).get(message, message)


_ = gettext
__all__ = ["N_", "_", "catalog_path", "gettext"]
