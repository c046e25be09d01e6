"""Durable session state in SQLite: one row per trainee, so every command can be re-run safely.

Each command reads what earlier ones recorded (a crashed one included) and writes before and after
each side effect, so ``start`` twice creates nothing twice and an interrupted ``start`` resumes. WAL
mode lets ``status`` read while a ``start`` writes. Timestamps are wall-clock UTC: they describe the
session, not evidence, so determinism does not apply to them.

``attempts`` holds every instant check (dflab.checker): who checked which answer when, the SHA-256 of the value's
canonical JSON and the verdict; never the value (it may be right, and the file is not the gradebook). The checker
is its one writer; the rate limit, ``session status`` and the instructor's dashboard read it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dflab.dbtx import immediate
from dflab.errors import DflabError

SCHEMA_VERSION = 2  # 2: attempts
DB_NAME = "session.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trainees (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    token TEXT NOT NULL,
    backend_state TEXT NOT NULL DEFAULT '{}',
    url TEXT,
    manifest_sha256 TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    started_at TEXT
);
"""
# What each schema version added, applied in order to a file of an older one (idempotent, in one transaction).
_MIGRATIONS = {
    2: """
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    trainee TEXT NOT NULL REFERENCES trainees(id),
    lab TEXT NOT NULL,
    answer TEXT NOT NULL,
    at TEXT NOT NULL,
    value_sha256 TEXT NOT NULL,
    correct INTEGER NOT NULL CHECK (correct IN (0, 1))
);
CREATE INDEX IF NOT EXISTS attempts_by_answer ON attempts(trainee, answer, at);
""",
}

# Lifecycle of a row: new -> evidence -> starting -> running -> (dead | stopped) -> starting ...
# "failed" is a start that did not answer in time; "dead" a running environment that exited;
# "removed" a trainee a later roster no longer lists (stopped, workspace kept unless purged).
STATUSES = ("new", "evidence", "starting", "running", "failed", "dead", "stopped", "removed")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _instant(at: datetime) -> str:
    """An attempt's time as stored: UTC, microseconds, one fixed width, so text order is time order."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class TraineeRow:
    id: str
    status: str
    token: str
    backend_state: dict[str, Any]
    url: str | None
    manifest_sha256: str | None
    error: str | None
    created_at: str
    updated_at: str
    started_at: str | None


@dataclass(frozen=True)
class Attempt:
    """One instant check: the value only as the SHA-256 of its canonical JSON."""

    trainee: str
    lab: str
    answer: str
    at: datetime  # UTC
    value_sha256: str
    correct: bool


@dataclass(frozen=True)
class AnswerTries:
    """A trainee's checks of one answer: what a progress view needs without reading every attempt."""

    trainee: str
    answer: str
    tries: int
    right: int  # tries whose verdict was correct
    first_at: datetime
    last_at: datetime
    solved_at: datetime | None  # the first correct try


class SessionState:
    """The SQLite file ``<session dir>/session.sqlite`` (created on first use, readable by the owner only)."""

    def __init__(self, session_dir: Path, *, durable: bool = True) -> None:
        """``durable=False`` (the checker's connection) commits without waiting for the disk: in WAL mode a power
        cut may then lose the last commits, never the file, and a check waits ~0.1 ms instead of an fsync."""
        self.path = session_dir / DB_NAME
        session_dir.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        try:
            # Threads start trainees in parallel; one connection behind a lock keeps writes serial.
            self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            if new:
                os.chmod(self.path, 0o600)  # it holds every trainee's token
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise DflabError(f"cannot open session state: {exc}", str(self.path)) from exc
        self._lock = threading.Lock()
        version = self.get_meta("schema_version")
        if version is not None and int(version) > SCHEMA_VERSION:
            raise DflabError(f"session state has schema version {version}; this dflab reads {SCHEMA_VERSION} and "
                             "older", str(self.path))
        if version is None or int(version) < SCHEMA_VERSION:
            self._migrate(int(version or 0))

    def _migrate(self, version: int) -> None:
        """Bring a new file, or one an older dflab wrote, to ``SCHEMA_VERSION`` (tables are only ever added)."""
        with self._tx() as db:
            for step in sorted(v for v in _MIGRATIONS if v > version):
                for statement in _MIGRATIONS[step].split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),))

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; a full disk (or a locked, read-only file) is one line, the old state kept."""
        with self._lock:
            try:
                with immediate(self._db) as db:
                    yield db
            except sqlite3.OperationalError as exc:
                raise DflabError(f"cannot write session state: {exc}", str(self.path)) from exc

    # -- session-wide facts -----------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def set_meta_all(self, values: dict[str, str]) -> None:
        """Set several keys in one transaction: all are recorded or none (a full disk leaves no half set)."""
        with self._tx() as db:
            db.executemany("INSERT INTO meta(key, value) VALUES (?, ?) "
                           "ON CONFLICT(key) DO UPDATE SET value = excluded.value", list(values.items()))

    def meta(self) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    # -- trainees ---------------------------------------------------------------------------------
    def add_trainee(self, trainee: str, token: str) -> bool:
        """Insert ``trainee`` with ``token`` unless present (its first token is kept); return whether added."""
        stamp = now()
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO trainees(id, status, token, created_at, updated_at) "
                             "VALUES (?, 'new', ?, ?, ?)", (trainee, token, stamp, stamp))
            return cur.rowcount == 1

    def update(self, trainee: str, **fields: Any) -> None:
        """Set columns of one row (``backend_state`` as a dict); ``updated_at`` follows."""
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"unknown status {fields['status']!r}")
        if "backend_state" in fields:
            fields["backend_state"] = json.dumps(fields["backend_state"], sort_keys=True)
        fields["updated_at"] = now()
        columns = ", ".join(f"{name} = ?" for name in fields)
        with self._tx() as db:
            cur = db.execute(f"UPDATE trainees SET {columns} WHERE id = ?", (*fields.values(), trainee))  # noqa: S608
            if cur.rowcount != 1:
                raise DflabError("no such trainee in this session", trainee)

    def get(self, trainee: str) -> TraineeRow:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM trainees WHERE id = ?", (trainee,)).fetchone()  # noqa: S608
        if row is None:
            raise DflabError("no such trainee in this session", trainee)
        return _row(row)

    def trainees(self) -> list[TraineeRow]:
        """Every trainee, in the order they were added (roster order)."""
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM trainees ORDER BY rowid").fetchall()  # noqa: S608
        return [_row(r) for r in rows]


    # -- instant checks (dflab.checker) ----------------------------------------------------------
    def record_attempt(self, trainee: str, lab: str, answer: str, at: datetime, value_sha256: str,
                       correct: bool) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO attempts(trainee, lab, answer, at, value_sha256, correct) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (trainee, lab, answer, _instant(at), value_sha256, int(correct)))

    def attempt_times(self, trainee: str, answer: str, since: datetime) -> list[datetime]:
        """When ``trainee`` checked ``answer`` after ``since``, oldest first (the rate limit's window)."""
        with self._lock:
            rows = self._db.execute("SELECT at FROM attempts WHERE trainee = ? AND answer = ? AND at > ? ORDER BY at",
                                    (trainee, answer, _instant(since))).fetchall()
        return [datetime.fromisoformat(at) for (at,) in rows]

    def attempts(self, trainee: str | None = None, since: datetime | None = None) -> list[Attempt]:
        """Every recorded check (of ``trainee``, after ``since``), in the order they were made."""
        where, args = [], []
        if trainee is not None:
            where.append("trainee = ?")
            args.append(trainee)
        if since is not None:
            where.append("at > ?")
            args.append(_instant(since))
        sql = "SELECT trainee, lab, answer, at, value_sha256, correct FROM attempts"
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY at, id"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [Attempt(t, lab, name, datetime.fromisoformat(at), sha, bool(ok)) for t, lab, name, at, sha, ok in rows]

    def attempt_summary(self) -> list[AnswerTries]:
        """Per trainee and answer: how many checks, how many right, the first and last, and the first right one."""
        with self._lock:
            rows = self._db.execute(
                "SELECT trainee, answer, COUNT(*), SUM(correct), MIN(at), MAX(at), MIN(CASE WHEN correct THEN at END) "
                "FROM attempts GROUP BY trainee, answer ORDER BY trainee, MIN(at)").fetchall()
        return [AnswerTries(t, name, tries, right, datetime.fromisoformat(first), datetime.fromisoformat(last),
                            datetime.fromisoformat(solved) if solved else None)
                for t, name, tries, right, first, last, solved in rows]


_COLUMNS = "id, status, token, backend_state, url, manifest_sha256, error, created_at, updated_at, started_at"


def _row(row: tuple[Any, ...]) -> TraineeRow:
    values = list(row)
    values[3] = json.loads(values[3])
    return TraineeRow(*values)
