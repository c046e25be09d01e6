"""Item analysis of a graded cohort: how hard each question was and how well it separated strong from weak work.

*Difficulty* is the share of graded trainees with full points on the question (classical test theory's p value:
high is easy). *Discrimination* is the corrected point-biserial correlation: each question's right/wrong against the
rest of the trainee's score (the total without that question, so a question does not correlate with itself). It uses
every trainee, where the upper-lower 27 % index of a cohort of 20 compares groups of five; it is undefined (None)
when everyone, or nobody, got the question, or when the rest scores do not vary. Below about 0.2 a question tells
strong and weak work apart poorly: worth reading again before explaining the step again.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

Scores = dict[str, dict[str, tuple[float, float]]]  # trainee -> question -> (score, max score)


@dataclass(frozen=True)
class Item:
    question: str
    graded: int  # trainees with a score on it
    correct: int  # of them, with full points
    difficulty: float | None  # share correct
    discrimination: float | None  # corrected point-biserial


def full_marks(score: float, top: float) -> bool:
    """Right: every point of a question that carries points (a question of 0 points is never "right")."""
    return top > 0 and score >= top


def item_analysis(scores: Scores, questions: list[str]) -> list[Item]:
    """One :class:`Item` per question, in ``questions`` order, over the trainees in ``scores``."""
    out = []
    for question in questions:
        rows = [(q[question], sum(s for name, (s, _) in q.items() if name != question))
                for q in scores.values() if question in q]
        right = [1.0 if full_marks(*item) else 0.0 for item, _ in rows]
        rest = [others for _, others in rows]
        out.append(Item(question, len(rows), int(sum(right)), sum(right) / len(rows) if rows else None,
                        _correlation(right, rest)))
    return out


def _correlation(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 2 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    return statistics.correlation(xs, ys)


def percent_scores(totals: dict[str, tuple[float, float]]) -> list[float]:
    """Each graded trainee's total as a percentage of its maximum (trainees with a maximum of 0 left out)."""
    return [100.0 * score / top for score, top in totals.values() if top > 0]
