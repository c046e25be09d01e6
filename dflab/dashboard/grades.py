"""Where the dashboard and ``session status`` read grades: the session's own ``gradebook.db``, or the gradebook at
the URL ``dflab grade --db`` wrote (PostgreSQL for a cohort graded on several machines).

The URL is given again (``--db``), never remembered in the session: a PostgreSQL URL may hold a password, and the
session's files are copied and archived with the work. The dashboard's Grade button writes where it reads.

Reading is read-only: the status table is looked for before it is read (a gradebook ``dflab grade`` never wrote is
"not graded yet", not an error), and nothing is created. A server that does not answer is one line naming the
gradebook without its password (``where: cannot reach the gradebook: ...``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import OperationalError

from dflab.errors import DflabError
from dflab.grading import gradebook

CONNECT_TIMEOUT_S = 5  # a gradebook server that does not answer must not hold `session status` or the page


class GradebookSource:
    """One gradebook, by URL: the session's file unless ``url`` is given."""

    def __init__(self, session_dir: Path, url: str | None = None) -> None:
        self.own_file = session_dir / "gradebook.db" if url is None else None
        given = url or gradebook.default_url(session_dir)
        self.url = gradebook.normalise_url(given)
        self.name = gradebook.queue_key(given)  # as given, without its password: what errors and the page show

    def version(self) -> tuple[Any, ...] | None:
        """What changes when the session's own file does (its and its WAL's mtime and size); None for a URL, which
        has no cheap change signal: the caller reads it again after a while instead."""
        if self.own_file is None:
            return None
        return tuple((p.stat().st_mtime_ns, p.stat().st_size) if p.exists() else None
                     for p in (self.own_file, self.own_file.with_name("gradebook.db-wal")))

    def graded(self) -> bool:
        """Whether ``dflab grade`` ever wrote statuses here; DflabError (one line) when the gradebook cannot be
        reached. The session's own file is not opened before it exists (SQLite would create it)."""
        if self.own_file is not None and not self.own_file.exists():
            return False
        args = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}} if self.url.startswith("postgresql") else {}
        engine = create_engine(self.url, future=True, **args)
        try:
            with engine.connect() as conn:
                return inspect(conn).has_table(gradebook.STATUS_TABLE)
        except OperationalError as exc:
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
            raise DflabError(f"cannot reach the gradebook: {first}", self.name) from None
        finally:
            engine.dispose()
