"""How often a trainee may check one answer: a sliding window over the attempts the session recorded.

Ten tries per answer in any ten minutes is plenty for someone working (a typo, a unit, the other partition) and
too few to walk a list of guesses: the eleventh within the window is refused (HTTP 429) with the seconds until the
oldest of the ten leaves it.  The window is counted from the ``attempts`` table (dflab.session.state), not from
memory, so restarting the checker does not give anyone their tries back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

TRIES = 10
WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class RateLimit:
    """At most ``tries`` checks of one answer by one trainee in any ``window``."""

    tries: int = TRIES
    window: timedelta = WINDOW

    def since(self, now: datetime) -> datetime:
        """The start of the window that ends ``now``."""
        return now - self.window

    def wait(self, recent: list[datetime], now: datetime) -> int:
        """Whole seconds until one more try is allowed (0: now), given the tries inside the window, oldest first."""
        if len(recent) < self.tries:
            return 0
        freeing = recent[len(recent) - self.tries]  # the try whose leaving the window makes room for one more
        return max(1, math.ceil((freeing + self.window - now).total_seconds()))

    def left(self, recent: int) -> int:
        """Tries left in the window after ``recent`` ones."""
        return max(0, self.tries - recent)


RATE_LIMIT = RateLimit()
