"""When the workstation was on, decided in one place: where the times of its files and of its last upgrade may fall.

The logs' routine (:mod:`dflab.scenario.traces.story`) switches the machine on each working morning and off each
evening and leaves it off at night and at weekends; on the incident's day it runs from the boot memory shows to the
acquisition. A document saved, or an upgrade dpkg logged, while the machine was off contradicts those logs, and a
time of day repeated to the second on files of different days says the dates were computed (#14: no statistical
tells, consistent across sources). The resolver asks :class:`Hours` for every such time: a file's day-offset times
(``created: "@start-20d"``), the filler's, the install's and the last upgrade's. The story's own times (processes,
flows, history, memory) stay exactly where the spec puts them.

Times are UTC epoch seconds, as in the story; a time is drawn within the user's desktop session of its day (the
greeter's login to the logout), which lies inside the boot..shutdown the logs show.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dflab.scenario.traces.story import working_day

GREETER_S = 240  # the incident's morning: the desktop login follows the boot within this (story.plan: 50..240 s)
LOOKBACK_DAYS = 31  # a day the machine was off moves to the latest working day within this many days before it


def day_of(t: float) -> date:
    return datetime.fromtimestamp(t, tz=UTC).date()


class Hours:
    """The machine's on-periods: every working day's boot..shutdown before the incident's day (the routine's), the
    incident's boot..acquisition; nothing at weekends or after the acquisition."""

    def __init__(self, seed: bytes, boot: float, acquired: float) -> None:
        self.seed = seed
        self.boot = float(boot)
        self.acquired = float(acquired)
        self.incident = day_of(boot)
        self.last = day_of(acquired)  # the incident's boot may run past midnight to the acquisition
        self._desk: dict[date, tuple[float, float] | None] = {}

    def period(self, day: date) -> tuple[float, float] | None:
        """``(boot, shutdown)`` of ``day``; on the incident's days, what of its boot .. acquisition falls on ``day``;
        None when the machine was off all day."""
        if self.incident <= day <= self.last:
            return self._clip(day, self.boot, self.acquired)
        d = working_day(self.seed, day) if day < self.incident else None
        return None if d is None else (d.boot, d.shutdown)

    def on(self, t: float) -> bool:
        """Whether the machine was up at ``t``."""
        if self.boot <= t <= self.acquired:
            return True
        p = self.period(day_of(t))
        return p is not None and p[0] <= t <= p[1]

    @staticmethod
    def _clip(day: date, lo: float, hi: float) -> tuple[float, float] | None:
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        lo, hi = max(lo, midnight), min(hi, midnight + 86399)
        return (lo, hi) if lo <= hi else None

    def desk(self, day: date) -> tuple[float, float] | None:
        """When the user sat at the machine on ``day``: the routine's desktop session, login .. logout; on the
        incident's day from the greeter's login to the acquisition. None when the machine was off."""
        if day not in self._desk:
            if self.incident <= day <= self.last:
                self._desk[day] = self._clip(day, self.boot + GREETER_S, self.acquired)
            else:
                d = working_day(self.seed, day) if day < self.incident else None
                self._desk[day] = None if d is None else (d.login, d.logout)
        return self._desk[day]

    def place(self, t: int, r: Any, *, before: float | None = None, after: float | None = None,
              span: int = 0) -> int:
        """A time of day drawn with ``r`` in the user's session on ``t``'s date (the latest working day before it
        when the machine was off that day, or when ``t`` comes before the incident's boot on its day), not after
        ``before``, not before ``after``, with ``span`` seconds of the session left after it. ``t`` itself when no
        day within :data:`LOOKBACK_DAYS` has room (or ``t`` is after the acquisition)."""
        day = day_of(t)
        if t > self.acquired:
            return t
        if t < self.boot and day == self.incident:
            day -= timedelta(days=1)  # the machine was not up yet that day: the last working day before
        for _ in range(LOOKBACK_DAYS):
            w = self.desk(day)
            if w is not None:
                lo = math.ceil(max(w[0], after if after is not None else w[0]))
                hi = math.floor(min(w[1] - span, before if before is not None else w[1]))
                if lo <= hi:
                    return r.randint(lo, hi)
                if after is not None and after > w[1]:
                    break  # earlier days end before ``after``
            day -= timedelta(days=1)
        return t

    def between(self, lo: int, hi: int, r: Any) -> int | None:
        """A time drawn evenly over the user's sessions within ``[lo, hi]``; None when the machine was off all along."""
        windows = []
        day, last = day_of(lo), min(day_of(hi), self.last)
        while day <= last:
            w = self.desk(day)
            if w is not None:
                a, b = math.ceil(max(w[0], lo)), math.floor(min(w[1], hi))
                if a <= b:
                    windows.append((a, b))
            day += timedelta(days=1)
        if not windows:
            return None
        x = r.randrange(sum(b - a + 1 for a, b in windows))
        for a, b in windows:
            if x <= b - a:
                return a + x
            x -= b - a + 1
        raise AssertionError("unreachable")
