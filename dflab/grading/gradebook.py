"""The gradebook side of `dflab grade`: which database, making it ready, and where statuses are kept.

nbgrader's gradebook holds the scores (SQLite by default, any SQLAlchemy URL such as PostgreSQL).  What
nbgrader has no field for, the *status* of each submission (graded, failed, rejected before grading) and
its reason, goes into one extra table in the same database, ``dflab_grading_status``, so the gradebook
alone says what happened to every trainee:

    assignment, student (primary key) | status | reason | score | max_score | sha256 | attempts | updated_at

It is plain SQLAlchemy Core (no dialect-specific SQL), so it works on SQLite and PostgreSQL alike, and
nbgrader ignores tables it does not know.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nbgrader.api import Course, Gradebook, MissingEntry
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, create_engine, delete, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from dflab.errors import DflabError

SQLITE_TIMEOUT_S = 60  # workers write nbgrader's gradebook concurrently: wait for the lock, never "database is locked"
STATUS_TABLE = "dflab_grading_status"

_meta = MetaData()
status_table = Table(
    STATUS_TABLE, _meta,
    Column("assignment", String(128), primary_key=True),
    Column("student", String(128), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("score", Float, nullable=True),
    Column("max_score", Float, nullable=True),
    Column("sha256", String(64), nullable=False, default=""),
    Column("attempts", Integer, nullable=False, default=0),
    Column("updated_at", String(32), nullable=False),
)


@dataclass(frozen=True)
class Status:
    """What happened to one submission, as the report, the CSV and the status table show it."""

    student: str
    status: str
    reason: str = ""
    score: float | None = None
    max_score: float | None = None
    sha256: str = ""
    attempts: int = 0


def default_url(root: Path) -> str:
    """The course's own SQLite gradebook (what `dflab course init` filled)."""
    return f"sqlite:///{root / 'gradebook.db'}"


def normalise_url(url: str) -> str:
    """Check a gradebook URL; give SQLite a lock timeout so parallel workers wait instead of failing.

    SQLAlchemy's pysqlite dialect passes the ``timeout`` query parameter to ``sqlite3.connect``.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DflabError(f"not a database URL ({exc})", "--db") from exc
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DflabError(f"unsupported gradebook database {parsed.get_backend_name()!r}: use sqlite:/// or "
                         "postgresql://", "--db")
    if parsed.drivername == "postgresql":  # the installed driver (SQLAlchemy's default may be another one)
        parsed = parsed.set(drivername="postgresql+psycopg2")
    if parsed.get_backend_name() == "sqlite":
        if "timeout" not in parsed.query:
            parsed = parsed.update_query_dict({"timeout": str(SQLITE_TIMEOUT_S)})
    return parsed.render_as_string(hide_password=False)


def queue_key(url: str) -> str:
    """The gradebook's name in the queue: its URL without password or connection options."""
    parsed = make_url(url)
    return parsed._replace(password=None, query={}).render_as_string(hide_password=False)


def open_gradebook(url: str) -> Gradebook:
    """nbgrader's Gradebook on ``url``; an unreachable server is one clear line."""
    try:
        return Gradebook(normalise_url(url))
    except OperationalError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DflabError(f"cannot open the gradebook: {first}", queue_key(url)) from exc


def prepare(url: str, course_url: str, lab: str, course_id: str, generate: Callable[[], None]) -> None:
    """Make the gradebook at ``url`` ready before workers start writing to it concurrently.

    Tables (and the course row) are created once here (nbgrader creates them on first use, which races between
    workers on an empty PostgreSQL database).  A gradebook other than the course's own gets the course's students and,
    via ``generate()`` (nbgrader's generate_assignment into a scratch folder), the lab's cells.
    """
    with open_gradebook(url) as gb:
        status_table.create(gb.engine, checkfirst=True)
        if gb.db.get(Course, course_id) is None:
            # nbgrader only adds a course row for a non-empty id, yet its rows refer to the (default, empty)
            # course id: SQLite does not enforce that foreign key, PostgreSQL does.
            gb.db.add(Course(id=course_id))
            gb.db.commit()
        if url != course_url:
            with Gradebook(course_url) as course_gb:
                for s in course_gb.students:
                    gb.update_or_create_student(s.id, first_name=s.first_name, last_name=s.last_name,
                                                email=s.email)
        try:
            gb.find_assignment(lab)
            return
        except MissingEntry:
            pass
    generate()


def students(url: str) -> set[str]:
    """Ids of every student in the gradebook."""
    with open_gradebook(url) as gb:
        return {s.id for s in gb.students}


def scores(url: str, lab: str) -> dict[str, tuple[float, float]]:
    """Student -> (score, max score) of every graded submission of ``lab``."""
    with open_gradebook(url) as gb:
        try:
            subs = gb.find_assignment(lab).submissions
        except MissingEntry:
            return {}
        return {s.student.id: (float(s.score), float(s.max_score)) for s in subs}


def cell_scores(url: str, lab: str) -> dict[str, dict[str, float]]:
    """Student -> grade id -> auto score: what "the same gradebook" means when two runs are compared."""
    with open_gradebook(url) as gb:
        out: dict[str, dict[str, float]] = {}
        for sub in gb.find_assignment(lab).submissions:
            for nb in sub.notebooks:
                out.setdefault(sub.student.id, {}).update({g.name: g.auto_score for g in nb.grades})
        return out


def write_statuses(url: str, lab: str, rows: list[Status]) -> None:
    """Replace the status rows of these students for ``lab`` (one transaction)."""
    if not rows:
        return
    engine = create_engine(normalise_url(url), future=True)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        with engine.begin() as conn:
            conn.execute(delete(status_table).where(status_table.c.assignment == lab,
                                                    status_table.c.student.in_([r.student for r in rows])))
            conn.execute(insert(status_table), [
                {"assignment": lab, "student": r.student, "status": r.status, "reason": r.reason, "score": r.score,
                 "max_score": r.max_score, "sha256": r.sha256, "attempts": r.attempts, "updated_at": now}
                for r in rows])
    finally:
        engine.dispose()


def read_statuses(url: str, lab: str | None = None) -> list[dict[str, object]]:
    """The status table's rows (of one lab or all), by assignment and student."""
    engine = create_engine(normalise_url(url), future=True)
    try:
        with engine.connect() as conn:
            query = select(status_table).order_by(status_table.c.assignment, status_table.c.student)
            if lab:
                query = query.where(status_table.c.assignment == lab)
            return [dict(row._mapping) for row in conn.execute(query)]
    finally:
        engine.dispose()


def scratch_release(root: Path) -> Path:
    """A scratch release folder for generate_assignment into another gradebook (removed afterwards)."""
    path = root / ".dflab-grading" / "release"
    shutil.rmtree(path, ignore_errors=True)
    return path
