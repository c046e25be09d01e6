"""The translatable text of one lab folder, as units a translator works on and a release puts back.

A unit is one paragraph (or list, table, heading) of a notebook's markdown, one comment of a code cell the
trainee sees, one trainee-facing string of ``lab.yaml`` (title, objectives, step titles, hints, explanations,
the clause text of a step's standards, answer labels and the labels of their choices), or one text the lab's hooks
write into documents they generate for trainees (marked ``N_("...")`` in its ``hooks.py``: lab 07's court file).
Paragraphs rather than whole cells: a translator works on a sentence group at a time, and a cell edited in one
paragraph keeps the translations of the others.

The split keeps exactly what it does not translate, so :func:`localise_markdown` and :func:`localise_code`
rebuild a cell byte for byte when every unit maps to itself. What is not prose stays out of the catalog: code
blocks, a paragraph that is only a placeholder or a code span, solution cells (nbgrader removes them at release),
nbgrader's markers and linters' pragmas.

The order is the lab's reading order (notebook cells, then lab.yaml), so the catalog reads like the lab.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dflab.errors import DflabError

NOTEBOOK_FILE = "source.ipynb"
LAB_FILE = "lab.yaml"

_FENCE = re.compile(r"^\s*(```|~~~)")
_BLANK = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)*")
_NOT_PROSE = re.compile(r"`[^`]*`|\{\{.*?\}\}|\{%.*?%\}|https?://\S+|\$[^$]+\$")
_WORD = re.compile(r"[^\W\d_]{2,}")
_PRAGMA = re.compile(r"^(#!|#\s*(noqa|type:|pragma|fmt:|pylint|ruff|nosec)|###\s*(BEGIN|END) )")
_STANDARD_CLAUSE = re.compile(r"^(?P<key>[a-z0-9][a-z0-9-]*): (?P<text>.+)$", re.S)


@dataclass(frozen=True)
class Unit:
    """One translatable text: ``msgid`` as the catalog holds it, ``where`` the place a translator can find it."""

    msgid: str
    where: str
    # A str.format template (the hooks' texts: their {fields} are filled when a document is written): a translation
    # must keep its fields as they are (dflab.i18n.catalog.check_fields).
    formatted: bool = False


def is_prose(text: str) -> bool:
    """True when ``text`` holds words outside code spans, placeholders, URLs and maths: worth translating."""
    return bool(_WORD.search(_NOT_PROSE.sub(" ", text)))


# ---------------------------------------------------------------- markdown


def split_markdown(source: str) -> list[tuple[str, bool]]:
    """``source`` as consecutive pieces ``(text, translatable)``; joined, they are ``source`` exactly.

    Paragraphs are separated by blank lines; a fenced code block is one piece, never translated, even when it
    holds blank lines. Separators (the blank lines) and non-prose paragraphs are pieces marked ``False``.
    """
    pieces: list[tuple[str, bool]] = []
    lines = source.splitlines(keepends=True)
    block: list[str] = []
    in_fence: str | None = None

    def flush() -> None:
        if block:
            text = "".join(block)
            body = text.rstrip("\n")
            tail = text[len(body):]
            pieces.append((body, is_prose(body)))
            if tail:
                pieces.append((tail, False))
            block.clear()

    for line in lines:
        fence = _FENCE.match(line)
        if in_fence is not None:
            block.append(line)
            if fence and fence.group(1) == in_fence:
                pieces.append(("".join(block), False))
                block.clear()
                in_fence = None
            continue
        if fence:
            flush()
            in_fence = fence.group(1)
            block.append(line)
            continue
        if not line.strip():
            flush()
            pieces.append((line, False))
            continue
        block.append(line)
    if in_fence is not None:  # an unclosed fence: kept as it is
        pieces.append(("".join(block), False))
        block.clear()
    flush()
    merged: list[tuple[str, bool]] = []
    for text, translatable in pieces:  # consecutive untranslated pieces as one, so the join stays exact
        if merged and not translatable and not merged[-1][1]:
            merged[-1] = (merged[-1][0] + text, False)
        else:
            merged.append((text, translatable))
    assert "".join(text for text, _ in merged) == source
    return merged


def localise_markdown(source: str, translate: Callable[[str], str]) -> str:
    """``source`` with each prose paragraph replaced by ``translate(paragraph)``."""
    return "".join(translate(text) if translatable else text for text, translatable in split_markdown(source))


# ---------------------------------------------------------------- code comments


@dataclass(frozen=True)
class _Comment:
    first_line: int  # 0-based
    last_line: int
    column: int
    text: str  # without the "# " prefixes, lines joined with "\n"
    whole_line: bool


def _masked(source: str) -> str:
    """IPython's ``!command`` and ``%magic`` lines blanked (same line numbers), so ``tokenize`` reads the rest."""
    return "".join("\n" if line.lstrip().startswith(("!", "%")) else line
                   for line in source.splitlines(keepends=True))


def _comment_text(token: str) -> str:
    return re.sub(r"^#+ ?", "", token).rstrip()


def code_comments(source: str) -> list[_Comment]:
    """The prose comments of a code cell: consecutive whole-line comments at one indentation as one comment."""
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(_masked(source)).readline)
                  if t.type == tokenize.COMMENT]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []
    lines = source.splitlines()
    found: list[_Comment] = []
    for token in tokens:
        row, col = token.start[0] - 1, token.start[1]
        if _PRAGMA.match(token.string) or not is_prose(_comment_text(token.string)):
            continue
        whole = not lines[row][:col].strip()
        previous = found[-1] if found else None
        if (whole and previous is not None and previous.whole_line and previous.last_line == row - 1
                and previous.column == col):
            found[-1] = _Comment(previous.first_line, row, col,
                                 previous.text + "\n" + _comment_text(token.string), True)
        else:
            found.append(_Comment(row, row, col, _comment_text(token.string), whole))
    return found


def localise_code(source: str, translate: Callable[[str], str]) -> str:
    """``source`` with each prose comment replaced by its translation, code untouched."""
    comments = code_comments(source)
    if not comments:
        return source
    lines = source.splitlines(keepends=True)
    for comment in reversed(comments):
        new = translate(comment.text)
        if new == comment.text:
            continue
        first = lines[comment.first_line]
        ending = lines[comment.last_line][len(lines[comment.last_line].rstrip("\r\n")):]
        if comment.whole_line:
            indent = first[:comment.column]
            lines[comment.first_line:comment.last_line + 1] = [
                f"{indent}# {line}".rstrip() + "\n" for line in new.split("\n")]
            lines[comment.first_line + len(new.split("\n")) - 1] = (
                lines[comment.first_line + len(new.split("\n")) - 1].rstrip("\n") + ending)
        else:
            head = first[:comment.column]
            lines[comment.first_line] = f"{head}# {' '.join(new.split())}{ending}"
    return "".join(lines)


# ---------------------------------------------------------------- the lab folder


def _cells(notebook: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    yield from enumerate(notebook.get("cells", []), start=1)


def cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def is_solution(cell: dict[str, Any]) -> bool:
    """A solution cell: nbgrader replaces it at release, so the trainee never reads its comments."""
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def notebook_units(notebook: dict[str, Any], name: str = NOTEBOOK_FILE) -> list[Unit]:
    units: list[Unit] = []
    for number, cell in _cells(notebook):
        source = cell_source(cell)
        if cell.get("cell_type") == "markdown":
            units += [Unit(text, f"{name}: cell {number}") for text, ok in split_markdown(source) if ok]
        elif cell.get("cell_type") == "code" and not is_solution(cell):
            units += [Unit(c.text, f"{name}: cell {number}") for c in code_comments(source)]
    return units


def lab_yaml_units(data: dict[str, Any], name: str = LAB_FILE) -> list[Unit]:
    """The trainee-facing strings of a lab.yaml mapping, each with its dotted place."""
    units: list[Unit] = []

    def add(value: Any, where: str) -> None:
        if isinstance(value, str) and is_prose(value):
            units.append(Unit(value, f"{name}: {where}"))

    add(data.get("title"), "title")
    for i, objective in enumerate(data.get("objectives") or []):
        add(objective, f"objectives[{i}]")
    for step in data.get("steps") or []:
        sid = step.get("id", "?")
        add(step.get("title"), f"steps.{sid}.title")
        for i, clause in enumerate(step.get("standards") or []):
            match = _STANDARD_CLAUSE.match(clause) if isinstance(clause, str) else None
            add(match.group("text") if match else clause, f"steps.{sid}.standards[{i}]")
        for i, hint in enumerate(step.get("hints") or []):
            add(hint, f"steps.{sid}.hints[{i}]")
        add(step.get("explanation"), f"steps.{sid}.explanation")
    for answer, rule in (data.get("answers") or {}).items():
        if isinstance(rule, dict):
            add(rule.get("label"), f"answers.{answer}.label")
            choices = rule.get("choices")
            for code, label in (choices.items() if isinstance(choices, dict) else ()):
                add(label, f"answers.{answer}.choices.{code}")
    return units


def standard_clause_text(clause: str) -> tuple[str, str] | None:
    """``("iso27037", "preservation (...)")`` for a step's standards entry; None when it has no key prefix."""
    match = _STANDARD_CLAUSE.match(clause)
    return (match.group("key"), match.group("text")) if match else None


def hooks_units(lab_dir: Path, hooks: str) -> list[Unit]:
    """The texts a lab's hooks file writes for trainees (lab 07's court documents), each marked ``N_("...")``: each
    a str.format template (:attr:`Unit.formatted`).

    Read with Babel's Python extractor, as dflab's own messages are (``dflab.i18n.messages``): the file is never run
    to find them. The place is the file alone, so a moved line changes no catalog. ``hooks`` is lab.yaml's word,
    so it must name a file inside the lab: ``/etc/passwd`` or ``../other/hooks.py`` is refused, never read.
    """
    from babel.messages.extract import extract_from_file

    lab = lab_dir.resolve()
    try:
        path = (lab / hooks).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # a NUL in the name, a loop of links (Python 3.11)
        raise DflabError(f"hooks: {hooks!r} names no file: {_one_line(exc)}", str(lab_dir / LAB_FILE)) from None
    if not path.is_relative_to(lab):
        raise DflabError(f"hooks: {hooks!r} is outside the lab folder", str(lab_dir / LAB_FILE))
    try:
        found = list(extract_from_file("python", path, keywords={"N_": None}, comment_tags=()))
    except OSError as exc:
        raise DflabError(f"cannot read the hooks' texts: {exc.strerror or exc}", str(path)) from None
    except (SyntaxError, tokenize.TokenError, UnicodeDecodeError) as exc:  # what Babel's tokenizer meets in a file
        raise DflabError(f"cannot read the hooks' texts: {_one_line(exc)}", str(path)) from None
    return [Unit(message, hooks, formatted=True) for _line, message, _comments, _context in found
            if isinstance(message, str) and is_prose(message)]


def _one_line(exc: Exception) -> str:
    """``exc`` as one line: tokenize's ``('EOF in multi-line statement', (2, 0))`` as ``... (line 2)``."""
    if isinstance(exc, tokenize.TokenError) and len(exc.args) == 2 and isinstance(exc.args[1], tuple):
        return f"{exc.args[0]} (line {exc.args[1][0]})"
    return " ".join(str(exc).split()) or type(exc).__name__


def lab_units(lab_dir: Path) -> list[Unit]:
    """Every translatable unit of the lab in ``lab_dir``, in reading order, each msgid once (first place kept):
    the notebook's, lab.yaml's, then the texts its hooks write for trainees."""
    try:
        notebook = json.loads((lab_dir / NOTEBOOK_FILE).read_text(encoding="utf-8"))
        data = yaml.safe_load((lab_dir / LAB_FILE).read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise DflabError(f"cannot read the lab's text: {exc}", str(lab_dir)) from None
    hooks = data.get("hooks") if isinstance(data, dict) else None
    seen: dict[str, Unit] = {}
    for unit in (notebook_units(notebook) + lab_yaml_units(data)
                 + (hooks_units(lab_dir, hooks) if isinstance(hooks, str) else [])):
        first = seen.setdefault(unit.msgid, unit)
        if unit.formatted and not first.formatted:  # a hooks' text also in the notebook: still filled by .format
            seen[unit.msgid] = Unit(first.msgid, first.where, formatted=True)
    return list(seen.values())
