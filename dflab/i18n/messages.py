"""The catalog of what dflab itself says to trainees (``dflab.lab``, the checker's refusals, the release's stubs).

Extracted with Babel's own Python extractor from the modules whose text reaches a trainee, every string marked
``_("...")`` or ``N_("...")``, into ``dflab/lab/locale/dflab.pot``, and merged into each language's
``dflab/lab/locale/<lang>/LC_MESSAGES/dflab.po`` (package data: the trainee image reads them, see
:mod:`dflab.lab.messages`). Unlike a lab's catalog this one is dflab's: its translations are reviewed with the
code, and ``tests/test_i18n_messages.py`` fails when a message is missing, fuzzy or changes a ``{placeholder}``.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file

from dflab.i18n.catalog import LANGUAGES, new_template, read_catalog, write_catalogs
from dflab.lab.messages import DOMAIN, LOCALE_DIR, catalog_path

PACKAGE = Path(__file__).resolve().parents[1]
# The modules whose marked strings reach a trainee: their kernel (dflab.lab), the instant checker's refusals they
# read there, and what a localised release writes into their notebook.
SOURCES = ("lab/answers.py", "lab/check.py", "lab/form.py", "lab/recorded.py", "checker/service.py",
           "checker/server.py", "i18n/release.py")
KEYWORDS = {"_": None, "N_": None}
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"


def extract() -> Catalog:
    """The template: every marked message of :data:`SOURCES`, in file and line order, with where it is."""
    template = new_template("dflab")
    for relative in SOURCES:
        for _line, message, _comments, _context in extract_from_file("python", PACKAGE / relative,
                                                                     keywords=KEYWORDS, comment_tags=()):
            if not isinstance(message, str) or not message:
                continue
            where = (f"dflab/{relative}", None)  # files, not lines: a moved line changes no catalog
            if message not in template:
                template.add(message, locations=[where])
            elif where not in template[message].locations:
                template[message].locations.append(where)
    return template


def update_message_catalogs(languages: tuple[str, ...] = LANGUAGES) -> list[Path]:
    """Write ``dflab.pot`` and merge it into each language's ``dflab.po``."""
    return write_catalogs(extract(), TEMPLATE, {lang: catalog_path(lang) for lang in languages})


def untranslated(lang: str) -> list[str]:
    """The template's messages ``lang`` lacks (empty or fuzzy), in template order."""
    catalog = read_catalog(catalog_path(lang), lang) if catalog_path(lang).is_file() else None
    done = {m.id for m in catalog if m.id and m.string and not m.fuzzy} if catalog is not None else set()
    return [m.id for m in extract() if m.id and m.id not in done]
