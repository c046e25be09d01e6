"""A lab's gettext catalogs (Babel): ``locale/lab.pot`` extracted from the lab, one ``lab.po`` per language.

Layout, inside the lab folder (a lab is a plug-in: its translations travel with it)::

    labs/<lab>/locale/lab.pot                      what there is to translate (dflab.i18n.units), reading order
    labs/<lab>/locale/<lang>/LC_MESSAGES/lab.po    one language's translations (fr, es, ...)

Translators edit the ``.po`` files (Poedit, Weblate, any text editor). ``update_catalogs`` re-extracts the template
and merges it into each language, as ``pybabel update`` does: a changed paragraph becomes fuzzy (its old
translation kept as a start), a new one empty; fuzzy and empty entries are never used at release.

Files are written in a stable form (fixed header dates, no line wrapping, locations as comments) so that an
unchanged lab gives unchanged files and a review diff shows only what changed.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from string import Formatter

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from dflab.atomic import write_bytes
from dflab.errors import DflabError
from dflab.i18n.lang import DEFAULT_LANG
from dflab.i18n.lang import LANGUAGES as ALL_LANGUAGES
from dflab.i18n.units import Unit, lab_units

LOCALE_DIR = "locale"
TEMPLATE = "lab.pot"
DOMAIN = "lab"
# The languages a catalog is kept for: dflab.i18n.lang's (the one list of the labs' languages), English aside, as
# it is the source every msgid is written in.
LANGUAGES = tuple(code for code in ALL_LANGUAGES if code != DEFAULT_LANG)
_STABLE_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def template_path(lab_dir: Path) -> Path:
    return lab_dir / LOCALE_DIR / TEMPLATE


def po_path(lab_dir: Path, lang: str) -> Path:
    return lab_dir / LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def _template(lab_dir: Path, units: list[Unit]) -> Catalog:
    catalog = new_template(f"dflab lab {lab_dir.name}")
    for unit in units:
        catalog.add(unit.msgid, auto_comments=[unit.where])
    return catalog


def _write(path: Path, catalog: Catalog) -> None:
    """Write ``catalog`` atomically, readable by all (0644): a catalog is source, read by trainees' kernels and
    the image, and an atomic write's temporary file is private to its writer."""
    write_bytes(path, _po_bytes(catalog))
    path.chmod(0o644)


def _po_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=0, omit_header=False, include_previous=True, sort_output=False)
    return out.getvalue()


def read_catalog(path: Path, lang: str | None = None) -> Catalog:
    try:
        with path.open("rb") as handle:
            return read_po(handle, locale=lang, abort_invalid=True)
    except OSError as exc:
        raise DflabError(f"cannot read the catalog: {exc.strerror or exc}", str(path)) from None
    except Exception as exc:  # babel's PoFileError and friends: one line naming the file
        raise DflabError(f"not a valid PO file: {exc}", str(path)) from None


def update_catalogs(lab_dir: Path, languages: tuple[str, ...] = LANGUAGES) -> list[Path]:
    """Write ``lab.pot`` from the lab and merge it into each language's ``lab.po`` (created when missing)."""
    template = _template(lab_dir, lab_units(lab_dir))
    return write_catalogs(template, template_path(lab_dir), {lang: po_path(lab_dir, lang) for lang in languages})


def write_catalogs(template: Catalog, pot: Path, languages: dict[str, Path]) -> list[Path]:
    """Write ``template`` to ``pot`` and merge it into each language's catalog at its path (created when missing),
    as ``pybabel update`` does: a changed msgid becomes fuzzy, a new one empty, one gone from the template goes."""
    written = [pot]
    _write(pot, template)
    for lang, path in languages.items():
        if path.exists():
            catalog = read_catalog(path, lang)
            catalog.update(template, no_fuzzy_matching=False, update_creation_date=False)
            catalog.obsolete.clear()  # a paragraph gone from the lab is gone from its translation
        else:
            catalog = Catalog(locale=lang, project=template.project, creation_date=_STABLE_DATE,
                              revision_date=_STABLE_DATE, fuzzy=False, msgid_bugs_address="",
                              copyright_holder="dflab", charset="utf-8")
            catalog.update(template, update_creation_date=False)
        catalog.revision_date = _STABLE_DATE
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(path, catalog)
        written.append(path)
    return written


def new_template(project: str) -> Catalog:
    """An empty template in the stable form every dflab catalog is written in (fixed dates, no wrapping)."""
    return Catalog(project=project, creation_date=_STABLE_DATE, revision_date=_STABLE_DATE, fuzzy=False,
                   msgid_bugs_address="", copyright_holder="dflab", charset="utf-8")


def translations(lab_dir: Path, lang: str) -> dict[str, str]:
    """msgid → translation for ``lang``: only entries translated and not fuzzy (what a release may use).

    A translation of a text the lab fills with ``str.format`` (its hooks' documents) must keep that text's
    ``{fields}``: one that does not is refused here, at its line of the .po (:func:`check_fields`), rather than
    when a build formats it, far from the file a translator can fix.
    """
    path = po_path(lab_dir, lang)
    if not path.exists():
        return {}
    catalog = read_catalog(path, lang)
    check_fields(path, catalog, [unit.msgid for unit in lab_units(lab_dir) if unit.formatted])
    return {m.id: m.string for m in catalog if m.id and isinstance(m.id, str) and isinstance(m.string, str)
            and m.string and not m.fuzzy}


def format_fields(text: str) -> set[str]:
    """The replacement fields of the ``str.format`` template ``text``, each as written (``{by}``, ``{by.name}``,
    ``{0}``, ``{when!r:>10}``); ValueError when ``text`` is no template (a lone ``{`` or ``}``)."""
    fields = set()
    for _literal, name, spec, conversion in Formatter().parse(text):
        if name is not None:
            fields.add("{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    return fields


def check_fields(path: Path, catalog: Catalog, msgids: Iterable[str]) -> None:
    """Refuse, in one line at ``path:LINE``, a translation (used: translated, not fuzzy) of one of ``msgids`` --
    texts filled with ``str.format`` -- whose fields are not its msgid's, or that is no template at all.

    ``{by.name}`` or ``{by[0]}`` would reach into the object the text is filled with, ``{name}`` that the msgid does
    not have would fail when a document is written, and a dropped field loses what the document must say.
    """
    for msgid in msgids:
        message = catalog.get(msgid)
        if message is None or not isinstance(message.string, str) or not message.string or message.fuzzy:
            continue
        try:
            want = format_fields(msgid)
        except ValueError:
            continue  # the lab's own text: the English document fails on it first, in its author's hands
        where = f"{path}:{message.lineno}"
        try:
            got = format_fields(message.string)
        except ValueError as exc:
            raise DflabError(f"the translation of {msgid[:50]!r} is not a {{field}} template: {exc}", where) from None
        if got != want:
            lost, added = sorted(want - got), sorted(got - want)
            raise DflabError(f"the translation of {msgid[:50]!r} must keep the text's fields as they are: "
                             + "; ".join(part for part in (f"missing {', '.join(lost)}" if lost else "",
                                                           f"not in the text {', '.join(added)}" if added else "")
                                         if part), where)


def set_translations(lab_dir: Path, lang: str, mapping: dict[str, str]) -> int:
    """Put ``mapping`` (msgid → translation) into ``lang``'s catalog, clearing their fuzzy flags; return how many.

    A msgid the catalog does not hold is refused (the lab changed: run :func:`update_catalogs` first), so a
    translation never lands on text the lab no longer has.
    """
    return set_in_catalog(po_path(lab_dir, lang), lang, mapping)


def set_in_catalog(path: Path, lang: str, mapping: dict[str, str]) -> int:
    """:func:`set_translations` for the catalog at ``path``."""
    catalog = read_catalog(path, lang)
    unknown = [msgid for msgid in mapping if msgid not in catalog]
    if unknown:
        raise DflabError(f"{len(unknown)} msgid(s) not in the catalog, first: {unknown[0][:60]!r}", str(path))
    for msgid, text in mapping.items():
        message = catalog[msgid]
        message.string = text
        message.flags.discard("fuzzy")
        message.previous_id = ()
    _write(path, catalog)
    return len(mapping)


def missing(lab_dir: Path, lang: str) -> list[str]:
    """The msgids of the lab's template that ``lang`` does not translate yet (empty or fuzzy), in reading order."""
    done = translations(lab_dir, lang)
    return [unit.msgid for unit in lab_units(lab_dir) if unit.msgid not in done]


@dataclass(frozen=True)
class Progress:
    """How far one language's catalog is with the lab as it is now: units ``translated``, ``fuzzy`` (a translation
    of an older text, not used at release) and ``empty`` (not in the catalog, or not translated)."""

    lang: str
    units: int
    translated: int
    fuzzy: int
    empty: int

    @property
    def missing(self) -> int:
        return self.fuzzy + self.empty


def progress(lab_dir: Path, lang: str) -> Progress:
    """``lang``'s :class:`Progress` for the lab in ``lab_dir``, read from the lab and the catalog (nothing written)."""
    units = [unit.msgid for unit in lab_units(lab_dir)]
    path = po_path(lab_dir, lang)
    catalog = read_catalog(path, lang) if path.exists() else None
    done = translations(lab_dir, lang)
    fuzzy = sum(1 for msgid in units if msgid not in done and catalog is not None and msgid in catalog
                and catalog[msgid].fuzzy and catalog[msgid].string)
    translated = sum(1 for msgid in units if msgid in done)
    return Progress(lang, len(units), translated, fuzzy, len(units) - translated - fuzzy)
