"""A check request's body, read as hostile: bounded before it is parsed, refused in one line when it is not a check.

What a trainee's kernel sends is whatever its code wants: a megabyte, NaN, ``1e999`` (infinity in Python's
parser), arrays nested 60 000 deep (a ``RecursionError`` in the parser), a 60 000-digit integer (quadratic to
convert), bytes that are not UTF-8, lone surrogates (which no UTF-8 log line or hash can hold).  Each is a
:class:`BadBody`, answered 400; the size is bounded by the server (413) before any of this runs.  What passes is a
plain JSON value that :func:`dflab.grading.checks.check_answer` takes as it takes a recorded answer.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32  # lists in lists; a recorded answer nests 3 deep at most (citations: a list of rows)
MAX_INT_DIGITS = 64  # far beyond any pid, port, inode, sector or address; check_answer reads 32 at most
MAX_NAME = 128  # an answer's name (lab.yaml's are identifiers of a few words)


class BadBody(ValueError):
    """A body that is not a check request; the message is the one line the client gets."""


def _refuse_constant(name: str) -> Any:
    raise BadBody(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise BadBody("a number beyond a float's range")
    return number


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise BadBody(f"a number of more than {MAX_INT_DIGITS} digits")
    return int(digits)


def _check_tree(value: Any) -> None:
    """Depth at most ``MAX_DEPTH`` and every string valid Unicode, walked without recursion."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadBody(f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, str):
            if not node.isascii():
                try:
                    node.encode("utf-8")
                except UnicodeEncodeError:
                    raise BadBody("text that is not valid Unicode (an unpaired surrogate)") from None
        elif isinstance(node, dict):
            stack += [(k, depth + 1) for k in node]
            stack += [(v, depth + 1) for v in node.values()]
        elif isinstance(node, list):
            stack += [(v, depth + 1) for v in node]


def parse_check(raw: bytes) -> tuple[str, Any]:
    """``(answer name, value)`` of a ``{"answer": NAME, "value": VALUE}`` body, or :class:`BadBody`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("the body is not UTF-8") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite, parse_int=_bounded_int)
    except RecursionError:
        raise BadBody(f"nested more than {MAX_DEPTH} levels deep") from None
    except BadBody:
        raise
    except ValueError as exc:  # JSONDecodeError, and Python's own limit on an integer's digits
        raise BadBody(f"not JSON ({str(exc).splitlines()[0][:80]})") from None
    if not isinstance(data, dict) or set(data) != {"answer", "value"}:
        raise BadBody('expected {"answer": NAME, "value": VALUE}')
    name = data["answer"]
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise BadBody(f"the answer's name must be text of 1 to {MAX_NAME} characters")
    _check_tree(data)
    return name, data["value"]
