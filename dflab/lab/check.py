"""Ask the session's checker whether an answer is right, from the trainee's kernel: ``check(name, value) -> bool``.

The checker runs outside this environment (dflab.checker) and holds the key; all this side knows is the socket
``$DFLAB_CHECK_SOCKET`` (the lab's own, bound in by the session) and the answer's *shape*, checked here with the
rule :func:`dflab.lab.answer` uses, so a malformed value costs no try. Nothing is recorded for grading: a check is
not an answer (``answer()`` still records it), and checking does not change the score.  Every problem is one
:class:`CheckError` line.  Standard library only, besides dflab.lab itself: it runs in the trainee image.
"""

from __future__ import annotations

import os
from typing import Any

from dflab.checker.protocol import CHECK_ROUTE, SOCKET_ENV, request
from dflab.errors import DflabError
from dflab.lab.answers import AnswerError, _to_json, check_shape, lab_answers
from dflab.lab.messages import N_, _

NO_CHECKER = N_("this lab has no instant checker: your answers are checked when your work is graded")
TIMEOUT = 10.0  # seconds; the checker answers in milliseconds, so waiting longer means it is stuck

__all__ = ["SOCKET_ENV", "CheckError", "check"]


class CheckError(ValueError):
    """A check that got no verdict (no checker, too many tries, not checkable now, a malformed value): one line."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def check(name: str, value: Any) -> bool:
    """Whether ``value`` is the right answer ``name`` for this trainee's evidence, as grading would decide.

    Each check counts against a limit per answer (the checker says how long to wait once it is reached) and is
    recorded for the instructor without the value. Raises :class:`CheckError` instead of answering when the value
    has the wrong shape, when the lab has no checker or it does not answer, when the limit is reached, or when the
    answer is checked only at grading (a handed-in case folder).
    """
    try:
        rules = lab_answers()
    except DflabError as exc:
        raise CheckError(str(exc)) from None
    if name not in rules:
        raise CheckError(_("{name} is not an answer of this lab; expected one of {names}").format(
            name=repr(name), names=", ".join(sorted(rules))))
    try:
        value = check_shape(name, _to_json(name, value), rules[name])
    except AnswerError as exc:
        raise CheckError(str(exc)) from None
    address = os.environ.get(SOCKET_ENV)
    if not address:
        raise CheckError(_(NO_CHECKER))
    try:
        status, headers, reply = request(address, "POST", CHECK_ROUTE, {"answer": name, "value": value}, TIMEOUT)
    except (OSError, ValueError) as exc:
        down = isinstance(exc, (FileNotFoundError, ConnectionRefusedError))
        raise CheckError(_("the checker is not running: try again later, or tell your instructor") if down
                         else _("the checker is not answering: try again later, or tell your instructor")) from None
    if status == 200 and isinstance(reply.get("correct"), bool):
        return reply["correct"]
    if status == 429:
        wait = headers.get("retry-after", "")
        raise CheckError(_("{name}: too many tries; try again in {seconds} s").format(
            name=name, seconds=wait if wait.isdigit() else _("a few")))
    if status == 409:
        raise CheckError(_("{name} is checked when your work is graded, not here").format(name=name))
    error = reply.get("error")
    # The checker's refusal lines are English (it serves every trainee); the kernel says them in its language.
    detail = _(error[:200]) if isinstance(error, str) else f"HTTP {status}"
    if status in (400, 413, 415):
        raise CheckError(_("{name}: the checker refused the value ({detail})").format(name=name, detail=detail))
    if status == 503:  # this trainee's evidence and key are still being built
        raise CheckError(f"{name}: {detail}")
    raise CheckError(_("the checker could not check {name} ({detail}): try again later, or tell your "
                       "instructor").format(name=name, detail=detail))
