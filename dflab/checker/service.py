"""The checker's one decision: is this value of this answer right for this trainee? Nothing else leaves it.

It holds the lab's check file and, once each is asked for, every trainee's key, and answers with
:func:`dflab.grading.checks.check_answer`, the one place an answer meets the key, so an instant verdict is the
grade that value would get.  Only the verdict goes back: never the reason (``not within 2 s`` or ``wrong length``
would say how close a guess is), never a key value.  Every verdict is recorded (:meth:`SessionState.record_attempt`)
with the SHA-256 of the value's canonical JSON, never the value; the rate limit reads those records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dflab.checker.ratelimit import RATE_LIMIT, RateLimit
from dflab.errors import DflabError
from dflab.evidence.manifest import canonical_json
from dflab.grading.checks import CheckFile, check_answer
from dflab.i18n.lang import N_  # refusal lines the trainee's kernel translates (dflab.lab.check)
from dflab.session.state import SessionState

# <session>/evidence/<trainee>/key/answer_key.json (dflab.evidence.build's KEY/KEY_FILE: that module loads every
# evidence writer, which the checker has no use for).
KEY_PATH = ("key", "answer_key.json")


class Refused(Exception):
    """A check that gets no verdict: the HTTP status, one line for the trainee, and when to retry (429)."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Verdict:
    answer: str
    correct: bool
    tries_left: int  # in the rate limit's window, after this one


def value_sha256(value: Any) -> str:
    """What an attempt records of its value: SHA-256 of the value's canonical JSON (the same value, the same hash)."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


class Checker:
    """Verdicts for one session's lab; every trainee's key read once, when first needed."""

    def __init__(self, session_dir: Path, state: SessionState, lab: str, checks: CheckFile,
                 limit: RateLimit = RATE_LIMIT, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.session_dir = session_dir
        self.state = state
        self.lab = lab
        self.checks = checks
        self.limit = limit
        self.clock = clock
        self._keys: dict[str, tuple[dict[str, Any], str]] = {}

    def graded_only(self, name: str) -> bool:
        """Whether answer ``name`` is compared with what the trainee hands in (lab 01's case folder), which only
        grading has: a kind the lab's hooks define with ``needs_submission``."""
        kind = self.checks.lab_compare(name)
        return kind is not None and kind.needs_submission

    def answers(self) -> list[str]:
        """The answers a trainee can check now, in the check file's order."""
        return [name for name in self.checks.checks if not self.graded_only(name)]

    def key(self, trainee: str) -> tuple[dict[str, Any], str]:
        """``trainee``'s answer key and its path (for check_answer's errors); 503 until the variant is built."""
        if trainee not in self._keys:
            path = self.session_dir / "evidence" / trainee / Path(*KEY_PATH)
            try:
                key = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise Refused(503, N_("your evidence is still being built: try again in a minute")) from None
            except (OSError, ValueError) as exc:
                raise DflabError(f"unreadable answer key: {exc}", str(path)) from exc
            self._keys[trainee] = (key, str(path))
        return self._keys[trainee]

    def check(self, trainee: str, name: str, value: Any) -> Verdict:
        """The verdict on ``value`` for ``trainee``'s answer ``name``, recorded; or :class:`Refused`."""
        if name not in self.checks.checks:
            raise Refused(400, N_("not an answer of this lab"))
        if self.graded_only(name):
            raise Refused(409, N_("checked when graded"))
        now = self.clock()
        recent = self.state.attempt_times(trainee, name, self.limit.since(now))
        if wait := self.limit.wait(recent, now):
            raise Refused(429, f"too many tries: {self.limit.tries} per {self.limit.window.total_seconds() / 60:g} "
                          "minutes", retry_after=wait)
        key, where = self.key(trainee)
        correct, _reason = check_answer(self.checks, name, value, key, where)  # the reason never leaves
        self.state.record_attempt(trainee, self.lab, name, now, value_sha256(value), correct)
        return Verdict(name, correct, self.limit.left(len(recent) + 1))
