"""What a reviewer checks in a translation, mechanically: what must not change did not, and no English is left.

A translation rewrites prose and keeps everything else: the code spans a trainee types (`` `fls -r -o 2048` ``),
the case's placeholders (``{{ volumes.root.label }}``), links, maths, a message's ``{name}`` fields, and the
markdown's shape (a heading stays a heading of its level, a list keeps its items, a table its rows).
:func:`translation_problems` names each difference in one line; ``tests/test_i18n_catalogs.py`` runs it on every
unit of every shipped catalog.

:func:`english_share` is how a release is shown to hold no English prose: the share of a text's words, outside
code spans and placeholders, that are common English function words. French and Spanish prose scores near zero
(the list leaves out every word the three languages share, such as "a", "on", "no"), English prose a third or more.
"""

from __future__ import annotations

import re
from collections import Counter

_CODE_SPAN = re.compile(r"`[^`]*`")
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")
_URL = re.compile(r"https?://[^\s)>\]]+")
_MATH = re.compile(r"\$(?=\S)[^$\n]+?(?<=\S)\$(?!\d)")  # inline maths, as pandoc reads it: not a shell \$VAR
_FIELD = re.compile(r"(?<!\{)\{[A-Za-z_][A-Za-z0-9_]*(?:![rsa])?(?::[^{}]*)?\}(?!\})")
_HEADING = re.compile(r"^(#{1,6})\s")
_LIST_ITEM = re.compile(r"^\s*(?:[*+-]|\d+[.)])\s")
_TABLE_ROW = re.compile(r"^\s*\|")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")

# English function words that are not words of French or Spanish prose ("a", "on", "or", "as", "an", "no", "me",
# "son", "se", "de", "en" are left out: they are).
ENGLISH_STOP_WORDS = frozenset("""
the and of to is are was were be been being with that this these those for from your you it its which what
when where there their they them than then into onto have has had does do did not will would can could should
must may might each every any only also but if how why who whose our we he she his her here such about after
before over under between through while again just very both other same some most more""".split())


def _kept(text: str, pattern: re.Pattern[str]) -> Counter[str]:
    return Counter(match.group(0) for match in pattern.finditer(text))


def _shape(text: str) -> tuple[str, int, int]:
    lines = text.splitlines()
    heading = _HEADING.match(lines[0]) if lines else None
    return (heading.group(1) if heading else "", sum(1 for line in lines if _LIST_ITEM.match(line)),
            sum(1 for line in lines if _TABLE_ROW.match(line)))


def translation_problems(msgid: str, msgstr: str, markdown: bool = True) -> list[str]:
    """One line per thing ``msgstr`` changed that a translation must keep from ``msgid`` (empty: none).
    ``markdown=False`` (a code comment, a message): its lines' shape is free, a line may start "5) ..."."""
    problems = []
    # Code spans first, as written; the rest outside them (a span may hold "{" or "$" that is not a placeholder).
    outside = (_CODE_SPAN.sub(" ", msgid), _CODE_SPAN.sub(" ", msgstr))
    for what, pattern, (source, target) in (("code span", _CODE_SPAN, (msgid, msgstr)),
                                            ("placeholder", _PLACEHOLDER, outside), ("link", _URL, outside),
                                            ("maths", _MATH, outside), ("message field", _FIELD, (msgid, msgstr))):
        want, got = _kept(source, pattern), _kept(target, pattern)
        if want != got:
            lost, added = sorted((want - got).elements()), sorted((got - want).elements())
            problems.append(f"{what} differs: " + "; ".join(
                part for part in (f"missing {lost}" if lost else "", f"not in the original {added}" if added else "")
                if part))
    if not markdown:
        return problems
    (heading, items, rows), (heading_t, items_t, rows_t) = _shape(msgid), _shape(msgstr)
    if heading != heading_t:
        problems.append(f"heading level differs: {heading or 'none'} -> {heading_t or 'none'}")
    if items != items_t:
        problems.append(f"list items differ: {items} -> {items_t}")
    if rows != rows_t:
        problems.append(f"table rows differ: {rows} -> {rows_t}")
    return problems


def prose_words(text: str) -> list[str]:
    """The words of ``text`` outside code spans, placeholders, links and maths, lower case."""
    for pattern in (_CODE_SPAN, _PLACEHOLDER, _URL, _MATH):
        text = pattern.sub(" ", text)
    return [word.lower() for word in _WORD.findall(text)]


def english_share(text: str) -> float:
    """The share of ``text``'s prose words that are English function words (0.0 for a text without words)."""
    words = prose_words(text)
    return sum(1 for word in words if word in ENGLISH_STOP_WORDS) / len(words) if words else 0.0


def looks_english(text: str, threshold: float = 0.2, min_words: int = 5) -> bool:
    """Whether ``text`` reads as English prose: enough words, and at least ``threshold`` of them English function
    words (English prose runs at 0.3-0.5, French and Spanish below 0.05)."""
    return len(prose_words(text)) >= min_words and english_share(text) >= threshold
