"""Everything the dashboard shows, as one JSON-ready object: the session's state, each lab as last seen, the
gradebook; the one model behind the page, ``dflab session status`` and ``benchmarks/dashboard.py``.

What costs more than a look-up is cached on what it depends on: a trainee's saved notebook is read into answers
again only when its modification time changed, and the gradebook only when its files changed (a gradebook at a URL,
``--db``: every few seconds; :mod:`dflab.dashboard.grades`). The dashboard
remembers when it first saw each answer recorded (the notebook's modification time then): that is when the
answer became done, for the stuck flag and the time per step.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from dflab.dashboard.grades import GradebookSource
from dflab.dashboard.items import item_analysis, percent_scores
from dflab.dashboard.live import Live, Watcher
from dflab.dashboard.progress import DEFAULT_STUCK_MINUTES, Progress, StepInfo, progress
from dflab.errors import DflabError
from dflab.grading import gradebook
from dflab.grading.export import question_scores, questions
from dflab.lab.recorded import RECORDED, report
from dflab.lab_meta import LAB_FILE, parse_answers, read_lab
from dflab.session.collect import TIMESTAMP
from dflab.session.manager import Session
from dflab.session.state import AnswerTries

HISTOGRAM_BINS = 10  # score distribution: ten bins of 10 % each
GRADEBOOK_EVERY = 5.0  # seconds: while a grading run writes the gradebook, it is read again at most this often


@dataclass(frozen=True)
class Grading:
    """What the gradebook says of the lab: each trainee's status and score, each question's scores."""

    statuses: dict[str, dict[str, Any]]  # trainee -> status row (status, score, max_score, reason)
    questions: dict[str, str]  # grade id -> name
    scores: dict[str, dict[str, tuple[float, float]]]  # trainee -> grade id -> (score, max)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") if at else None


def _started(text: str | None) -> datetime | None:
    if not text:
        return None
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class Dashboard:
    """The model of one session's dashboard; :meth:`snapshot` is the data endpoint's answer."""

    def __init__(self, session: Session, watcher: Watcher | None = None,
                 stuck_after: timedelta = timedelta(minutes=DEFAULT_STUCK_MINUTES),
                 gradebook_url: str | None = None) -> None:
        self.session = session
        self.grades = GradebookSource(session.dir, gradebook_url)  # the session's gradebook.db unless a URL
        self.gradebook_problem = ""
        self.watcher = watcher or Watcher(session)
        self.stuck_after = stuck_after
        self.lab = session.lab_id
        lab_dir = Path(session.state.get_meta("lab") or "")
        meta = read_lab(lab_dir)
        self.title = meta.title
        self.steps = [StepInfo(s.id, s.title, s.answers, len(s.hints)) for s in meta.steps]
        self.shapes = parse_answers((lab_dir / LAB_FILE).read_text(encoding="utf-8"), str(lab_dir / LAB_FILE))
        self.notebook = session.state.get_meta("notebook") or ""
        self._lock = threading.Lock()
        self._recorded: dict[str, tuple[datetime | None, frozenset[str]]] = {}  # trainee -> (modified, answers)
        self._first_seen: dict[str, dict[str, datetime]] = {}  # trainee -> answer -> when first seen recorded
        self._grading_key: tuple[Any, ...] | None = None
        self._grading: Grading | None = None
        self._grading_read = float("-inf")  # time.monotonic() of the last read

    # -- inputs ---------------------------------------------------------------------------------------
    def recorded(self, trainee: str, live: Live | None) -> dict[str, datetime]:
        """Answer -> when first seen recorded in ``trainee``'s saved notebook (re-read only when it changed)."""
        with self._lock:
            modified = live.notebook_modified if live else None
            cached = self._recorded.get(trainee)
            if cached is None or cached[0] != modified:
                names: frozenset[str] = frozenset()
                if live is not None and live.notebook is not None:
                    found = report(live.notebook, self.shapes, f"{self.lab}/{self.notebook}")
                    names = frozenset(a.name for a in found.in_state(RECORDED))
                self._recorded[trainee] = (modified, names)
                seen = self._first_seen.setdefault(trainee, {})
                for gone in set(seen) - names:
                    del seen[gone]
                for name in names - set(seen):
                    seen[name] = modified or datetime.now(UTC)
            return dict(self._first_seen.get(trainee, {}))

    def grading(self) -> Grading | None:
        """The gradebook's view of the lab, read again only when its files changed (and, while a grading run writes
        them, at most every ``GRADEBOOK_EVERY`` seconds: the workers are not kept waiting; a gradebook at a URL, which
        has no such signal, every ``GRADEBOOK_EVERY`` seconds); None before grading. A gradebook that stops answering
        keeps the last view, and :attr:`gradebook_problem` says why."""
        key = self.grades.version()
        with self._lock:
            unchanged = key is not None and key == self._grading_key
            if unchanged or time.monotonic() - self._grading_read < GRADEBOOK_EVERY:
                return self._grading
            self._grading_read = time.monotonic()
        found: Grading | None = None
        problem = ""
        try:
            if self.grades.graded():
                url = self.grades.url
                statuses = {str(r["student"]): r for r in gradebook.read_statuses(url, self.lab)}
                if statuses:
                    found = Grading(statuses, questions(self.session.dir, self.lab), question_scores(url, self.lab))
        except DflabError as exc:  # unreachable: what was last read stays on the page, with the reason
            found, problem = self._grading, str(exc)
        except (SQLAlchemyError, OSError):
            found = None  # a gradebook being written: next time
        with self._lock:
            self._grading_key, self._grading, self.gradebook_problem = key, found, problem
        return found

    def check_gradebook(self) -> None:
        """DflabError (one line) unless the gradebook answers: asked once before serving or printing a status."""
        self.grades.graded()

    def collected(self, trainee: str) -> str | None:
        """When ``session collect`` last took the trainee's work (its timestamp.txt), None if never."""
        path = self.session.dir / "submitted" / trainee / self.lab / TIMESTAMP
        try:
            return path.read_text(encoding="utf-8").strip()[:64] or None
        except (OSError, UnicodeDecodeError):
            return None

    # -- the model ------------------------------------------------------------------------------------
    def snapshot(self, now: datetime | None = None) -> dict[str, Any]:
        """The whole view: trainees, steps, grading; JSON-ready (times as ISO 8601 UTC)."""
        now = now or datetime.now(UTC)
        rows = self.session.state.trainees()
        live = self.watcher.live()
        tries: dict[str, list[AnswerTries]] = {}
        for t in self.session.state.attempt_summary():
            tries.setdefault(t.trainee, []).append(t)
        grading = self.grading()
        trainees, progresses = [], {}
        for row in rows:
            seen = live.get(row.id)
            state = seen.state if seen else row.status
            p = progress(self.steps, self.recorded(row.id, seen), tries.get(row.id, []), _started(row.started_at),
                         state == "running", now, self.stuck_after)
            progresses[row.id] = p
            status = grading.statuses.get(row.id) if grading else None
            trainees.append({
                "id": row.id, "state": state, "problem": seen.problem if seen else "",
                "last_activity": _iso(seen.last_activity if seen else None),
                "notebook_saved": _iso(seen.notebook_modified if seen else None),
                "steps_done": len(p.steps_done), "steps_total": sum(1 for s in self.steps if s.answers),
                "current_step": p.current, "done_steps": list(p.steps_done),
                "answers_done": p.answers_done, "answers_total": len(self.shapes),
                "attempts": p.attempts, "right": p.right, "hints": p.hints,
                "stuck": p.stuck, "progress_at": _iso(p.progress_at),
                "collected": self.collected(row.id),
                "grading": status["status"] if status else None,
                "score": status["score"] if status else None, "max_score": status["max_score"] if status else None,
            })
        return {"session": str(self.session.dir), "lab": self.lab, "title": self.title,
                "generated_at": _iso(now), "stuck_after_minutes": self.stuck_after.total_seconds() / 60,
                "trainees": trainees, "steps": self._steps(progresses),
                "gradebook": {"name": self.grades.name, "problem": self.gradebook_problem},
                "grading": self._cohort_grading(grading)}

    def _steps(self, progresses: dict[str, Progress]) -> list[dict[str, Any]]:
        out = []
        for step in self.steps:
            if not step.answers:
                continue
            times = [p.step_seconds[step.id] for p in progresses.values() if step.id in p.step_seconds]
            out.append({"id": step.id, "title": step.title, "answers": list(step.answers),
                        "past": sum(step.id in p.steps_done for p in progresses.values()),
                        "median_seconds": statistics.median(times) if times else None})
        return out

    def _cohort_grading(self, grading: Grading | None) -> dict[str, Any] | None:
        if grading is None:
            return None
        done = {t: s for t, s in grading.statuses.items() if s["status"] == "done" and s["max_score"]}
        totals = {t: (float(s["score"] or 0), float(s["max_score"])) for t, s in done.items()}
        percents = percent_scores(totals)
        counts = [0] * HISTOGRAM_BINS
        for value in percents:
            counts[min(HISTOGRAM_BINS - 1, int(value // (100 / HISTOGRAM_BINS)))] += 1
        scores = {t: q for t, q in grading.scores.items() if t in done}
        items = item_analysis(scores, list(grading.questions))
        return {"graded": len(done),
                "statuses": {s: sum(r["status"] == s for r in grading.statuses.values())
                             for s in ("done", "rejected", "failed", "missing")},
                "mean_percent": statistics.fmean(percents) if percents else None,
                "percents": sorted(percents),
                "histogram": [{"from": i * 100 // HISTOGRAM_BINS, "to": (i + 1) * 100 // HISTOGRAM_BINS, "trainees": n}
                              for i, n in enumerate(counts)],
                "questions": [{**asdict(item), "name": grading.questions[item.question]} for item in items]}
