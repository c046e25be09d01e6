"""Record a named answer: check its shape, show it, and emit it for the grader.

The shape rules come from the ``answers:`` section of the lab's ``lab.yaml``
(in the notebook's working directory, where nbgrader copies it on release and
restores it from the instructor's source on autograde).  They say what *kind*
of value is wanted (``hex`` of length 64, ``int``, ``path`` ...) and never
what the value is.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import numbers
import os
import re
from pathlib import Path, PurePath
from typing import Any

from dflab.errors import DflabError
from dflab.lab.messages import _
from dflab.lab_meta import LAB_FILE, MAX_LAB_BYTES, SHAPES, parse_answers
from dflab.yamlfile import read_text

ANSWER_MIME = "application/vnd.dflab.answer+json"
LAB_DIR_ENV = "DFLAB_LAB_DIR"
__all__ = ["ANSWER_MIME", "LAB_DIR_ENV", "LAB_FILE", "SHAPES", "AnswerError", "answer", "check_shape", "lab_answers"]
_HEX = re.compile(r"^(0x)?[0-9a-fA-F]+$")


class AnswerError(ValueError):
    """An answer that was not recorded (wrong shape, unknown name, no lab metadata), shown as one line.

    IPython prints what ``_render_traceback_`` returns instead of a traceback: the trainee sees the one line
    that says what to fix, not dflab's internals. It stays a ``ValueError`` (what ``answer`` has always
    raised); its class name is what the saved notebook's error output carries (``ename``), which the
    Validate report (dflab.lab.recorded) reads to tell a malformed answer from a cell that did not run.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self} " + _("(not recorded)")]


def lab_answers(lab_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """The lab's answer names and their shape rules, from ``lab.yaml`` (``$DFLAB_LAB_DIR`` or the working dir)."""
    directory = lab_dir or Path(os.environ.get(LAB_DIR_ENV) or Path.cwd())
    path = directory / LAB_FILE
    if not path.is_file():
        raise DflabError(_("no lab.yaml here: open the notebook from its lab folder"), str(directory))
    return parse_answers(read_text(path, MAX_LAB_BYTES, "lab metadata"), str(path))


def answer(name: str, value: Any) -> Any:
    """Validate ``value``'s shape for answer ``name``, show a confirmation, emit it for grading; return it.

    A wrong shape raises :class:`AnswerError` (a ``ValueError``) saying what is expected, shown as one
    line, and records nothing, so the trainee can fix it before submitting. Correctness is *not* decided here.
    """
    try:
        rules = lab_answers()
    except DflabError as exc:
        raise AnswerError(str(exc)) from exc
    if name not in rules:
        raise AnswerError(_("{name} is not an answer of this lab; expected one of {names}").format(
            name=repr(name), names=", ".join(sorted(rules))))
    recorded = check_shape(name, _to_json(name, value), rules[name])
    from IPython.display import display

    preview = json.dumps(recorded, ensure_ascii=False)
    display({ANSWER_MIME: {"name": name, "value": recorded},
             "text/plain": _("recorded {name} = {value}").format(
                 name=name, value=preview if len(preview) <= 120 else preview[:117] + "...")},
            raw=True)
    return value


def _to_json(name: str, value: Any) -> Any:
    """Turn what notebooks naturally hold (numpy ints, Timestamps, Paths, sets) into plain JSON values."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise AnswerError(_("{name}: {number} is not a usable number").format(name=name, number=number))
        return number
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise AnswerError(_("{name}: the time has no time zone; use UTC (e.g. pd.Timestamp(..., tz='UTC'))").format(
                name=name))
        return value.isoformat()
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (set, frozenset)):
        return sorted(_to_json(name, v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_to_json(name, v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays, pandas Series
        return _to_json(name, value.tolist())
    raise AnswerError(_("{name}: cannot record a {kind}; use text, a number or a list").format(
        name=name, kind=type(value).__name__))


def check_shape(name: str, value: Any, rule: dict[str, Any]) -> Any:
    """``value`` if it is a JSON value of ``rule``'s shape, else :class:`AnswerError` saying what is expected."""
    shape = rule["shape"]
    if value is None or value in ("", []):
        raise AnswerError(_("{name}: no value yet (got {value}); assign your finding first").format(
            name=name, value=repr(value)))
    if shape in ("text", "hex", "path", "time") and not isinstance(value, str):
        raise AnswerError(_("{name}: expected text ({shape}), got {kind}").format(
            name=name, shape=shape, kind=type(value).__name__))
    if shape == "hex":
        digits = "".join(value.split())
        if not _HEX.match(digits):
            raise AnswerError(_("{name}: expected hex digits (0-9, a-f), got {value}").format(
                name=name, value=repr(value[:20])))
        length = rule.get("length")
        if length and len(digits.removeprefix("0x")) != length:
            raise AnswerError(_("{name}: expected {length} hex digits, got {got}").format(
                name=name, length=length, got=len(digits.removeprefix("0x"))))
    elif shape == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise AnswerError(_("{name}: expected a whole number, got {kind}").format(name=name, kind=type(value).__name__))
    elif shape == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise AnswerError(_("{name}: expected a number, got {kind}").format(name=name, kind=type(value).__name__))
    elif shape == "path" and not value.startswith("/"):
        raise AnswerError(_("{name}: expected an absolute path starting with /, got {value}").format(
            name=name, value=repr(value[:40])))
    elif shape == "time":
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise AnswerError(_("{name}: expected an ISO-8601 time, YYYY-MM-DDTHH:MM:SSZ").format(name=name)) from exc
        if parsed.tzinfo is None:
            raise AnswerError(_("{name}: the time has no zone; add Z for UTC").format(name=name))
    elif shape == "list" and not isinstance(value, list):
        raise AnswerError(_("{name}: expected a list, got {kind}").format(name=name, kind=type(value).__name__))
    return value
