"""Write transactions on SQLite connections opened in autocommit mode (``isolation_level=None``).

Session state and the grading queue are each written by several threads or processes; both take the
write lock *before* reading (``BEGIN IMMEDIATE``), so a read-then-write cannot interleave with another.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; any exception rolls back and propagates."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
