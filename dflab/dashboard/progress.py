"""A trainee's progress through a lab's steps, from what the session knows; pure, so it is tested on crafted input.

An answer is *done* once the saved notebook records it (well formed: :mod:`dflab.lab.recorded`, what grading reads)
or an instant check found it right (the ``attempts`` table), whichever came first; a step is done once every answer
it asks for is. Steps without answers (graded by hand) are not counted. A running trainee is *stuck* when no answer
has become done for ``stuck_after`` (since the lab started, if none has): typing, saving and wrong checks are
activity, not progress. Hints used are counted from wrong checks: the answer form shows the step's next hint tier
after each Check with a wrong verdict, so the most wrong tries of any one answer of the step, capped at the step's
tiers, is what it showed at least (the exact count lives only in the trainee's kernel).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from dflab.session.state import AnswerTries

DEFAULT_STUCK_MINUTES = 10.0


@dataclass(frozen=True)
class StepInfo:
    """What progress needs of a lab.yaml step."""

    id: str
    title: str
    answers: tuple[str, ...]
    hints: int


@dataclass(frozen=True)
class Progress:
    steps_done: tuple[str, ...]  # step ids, in lab order
    current: str | None  # the first step not done (None: all done)
    answers_done: int
    attempts: int  # instant checks
    right: int  # of them, right
    hints: int  # hint tiers shown, at least (see the module doc)
    progress_at: datetime | None  # when the last answer became done (else the lab's start)
    stuck: bool
    step_seconds: dict[str, float]  # step id -> seconds from the previous step done (or the start) to this one


def answer_done_times(recorded: Mapping[str, datetime], tries: Iterable[AnswerTries]) -> dict[str, datetime]:
    """Answer -> when it became done: first seen recorded in the saved notebook, or first checked right."""
    done = dict(recorded)
    for t in tries:
        if t.solved_at is not None and (t.answer not in done or t.solved_at < done[t.answer]):
            done[t.answer] = t.solved_at
    return done


def progress(steps: list[StepInfo], recorded: Mapping[str, datetime], tries: list[AnswerTries],
             started_at: datetime | None, running: bool, now: datetime, stuck_after: timedelta) -> Progress:
    """One trainee's :class:`Progress`. ``recorded``: answer -> when the dashboard first saw it recorded in the
    saved notebook (the notebook's modification time); ``tries``: that trainee's :meth:`attempt_summary` rows."""
    done_at = answer_done_times(recorded, tries)
    counted = [s for s in steps if s.answers]
    step_done = {s.id: max(done_at[a] for a in s.answers) for s in counted if all(a in done_at for a in s.answers)}
    current = next((s.id for s in counted if s.id not in step_done), None)
    wrong = {t.answer: t.tries - t.right for t in tries}
    hints = sum(min(s.hints, max((wrong.get(a, 0) for a in s.answers), default=0)) for s in counted)
    latest = max(done_at.values(), default=None)
    progress_at = max((t for t in (latest, started_at) if t is not None), default=None)
    stuck = running and current is not None and progress_at is not None and now - progress_at >= stuck_after
    seconds: dict[str, float] = {}
    previous = started_at
    for step_id, at in sorted(step_done.items(), key=lambda item: item[1]):
        if previous is not None:
            seconds[step_id] = max(0.0, (at - previous).total_seconds())
        previous = at
    return Progress(tuple(s.id for s in counted if s.id in step_done), current,
                    sum(1 for s in counted for a in s.answers if a in done_at), sum(t.tries for t in tries),
                    sum(t.right for t in tries), hints, progress_at, stuck, seconds)
