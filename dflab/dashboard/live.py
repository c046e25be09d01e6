"""How each trainee's lab is now: its state, its last activity and its saved notebook, asked with bounded waits.

Three sources, each bounded so that a dead or hung lab costs at most ``TIMEOUT`` per request, in a background
thread, never the page:

* the backend's ``poll`` (running, or the exit of a lab that died), as ``dflab session status`` asks it;
* the trainee's Jupyter server, through their port and token: ``/api/status`` (``last_activity``: kernels,
  terminals and API use) and ``/api/contents`` (the saved notebook and its ``last_modified``; its content is fetched
  again only when that changed). Every request carries ``no_track_activity``, so the dashboard's own polling is
  never counted as the trainee's activity;
* for a lab that does not answer, the notebook on disk: the local backend's workspace (opened component by
  component without following a link, since the trainee controls that folder and this process may be root), else
  the copy ``session collect`` took.

A notebook larger than ``MAX_NOTEBOOK_BYTES`` is not read (validation refuses it at grading too).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dflab.errors import DflabError
from dflab.provision.base import Backend
from dflab.session.manager import Session
from dflab.session.state import TraineeRow

log = logging.getLogger("dflab.dashboard")

TIMEOUT = 2.0  # seconds per request to a trainee's server
MAX_NOTEBOOK_BYTES = 50 << 20
PARALLEL = 8
NO_TRACK = "no_track_activity=1"


@dataclass(frozen=True)
class Live:
    """One trainee's lab as last seen."""

    state: str  # the session's statuses (running, stopped, ...); "dead": it exited; "unknown": the engine is silent
    last_activity: datetime | None  # the Jupyter server's, or the saved notebook's modification time
    notebook_modified: datetime | None
    notebook: dict[str, Any] | None  # the saved notebook's JSON
    seen_at: datetime
    problem: str = ""  # one line: why the lab did not answer


def parse_time(text: object) -> datetime | None:
    """Jupyter's ISO 8601 times (``...Z`` or an offset) as aware UTC datetimes; anything else None."""
    if not isinstance(text, str):
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def jupyter_get(url: str, token: str, path: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    """``GET <url><path>`` as the trainee's server's API, not counted as activity; a JSON object or DflabError."""
    sep = "&" if "?" in path else "?"
    route = path.partition("?")[0]
    request = urllib.request.Request(f"{url}{path}{sep}{NO_TRACK}",  # noqa: S310 -- the session's own http:// URL
                                     headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read(MAX_NOTEBOOK_BYTES + 1)
    except urllib.error.HTTPError as err:
        raise DflabError(f"its server answered {err.code} to {route}") from None
    except (OSError, ValueError) as exc:
        raise DflabError(f"its server did not answer ({type(exc).__name__})") from None
    if len(body) > MAX_NOTEBOOK_BYTES:
        raise DflabError(f"{route} is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB")
    try:
        data = json.loads(body)
    except ValueError:
        raise DflabError(f"{route} is not JSON") from None
    if not isinstance(data, dict):
        raise DflabError(f"{route} is not a JSON object")
    return data


def read_nofollow(base: Path, parts: list[str]) -> tuple[bytes, datetime] | None:
    """``base/part/...`` (a regular file) and its modification time, following no link below ``base``; None when
    it is not there, not a regular file, or too large."""
    try:
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        leaf = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        os.close(fd)
        return None
    os.close(fd)
    with os.fdopen(leaf, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_NOTEBOOK_BYTES:
            return None
        return fh.read(MAX_NOTEBOOK_BYTES + 1), datetime.fromtimestamp(info.st_mtime, UTC)


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        found = json.loads(data)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


class Watcher:
    """The latest :class:`Live` of every trainee, refreshed by :meth:`refresh` (once) or :meth:`start` (in the
    background, every ``interval`` seconds, until :meth:`stop`)."""

    def __init__(self, session: Session, backend: Backend | None = None, timeout: float = TIMEOUT) -> None:
        self.session = session
        self.backend = backend or session.backend()
        self.timeout = timeout
        self.lab = session.lab_id
        self.notebook = session.state.get_meta("notebook") or ""
        self._live: dict[str, Live] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def live(self) -> dict[str, Live]:
        with self._lock:
            return dict(self._live)

    def refresh(self) -> dict[str, Live]:
        """Look at every trainee once (in parallel, each bounded); return what was seen."""
        rows = self.session.state.trainees()
        if rows:
            with ThreadPoolExecutor(max_workers=min(PARALLEL, len(rows))) as pool:
                seen = dict(zip([r.id for r in rows], pool.map(self._look, rows), strict=True))
        else:
            seen = {}
        with self._lock:
            self._live = seen
        return seen

    def start(self, interval: float = 1.0) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.refresh()
                except DflabError:
                    pass  # a session state briefly locked: the next round
                except Exception:  # a bug: logged, and the page keeps what it last saw rather than freezing
                    log.exception("watching the labs failed")
                self._stop.wait(interval)

        self._thread = threading.Thread(target=loop, name="dflab-dashboard-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _look(self, row: TraineeRow) -> Live:
        now = datetime.now(UTC)
        before = self.live().get(row.id)
        state = row.status
        if row.status == "running":
            try:
                state = "running" if self.backend.poll(self.session.env(row)) is None else "dead"
            except DflabError as exc:  # the engine did not answer: nothing is known of the lab
                return replace(self._on_disk(row, "unknown", now), problem=exc.what)
        if state == "running" and row.url:
            try:
                return self._ask(row, before, now)
            except DflabError as exc:
                return replace(self._on_disk(row, "running", now), problem=exc.what)
        return self._on_disk(row, state, now)

    def _ask(self, row: TraineeRow, before: Live | None, now: datetime) -> Live:
        url, token = row.url or "", row.token
        status = jupyter_get(url, token, "api/status", self.timeout)
        path = "api/contents/" + urllib.parse.quote(f"{self.lab}/{self.notebook}")
        head = jupyter_get(url, token, f"{path}?content=0", self.timeout)
        modified = parse_time(head.get("last_modified"))
        notebook = before.notebook if before is not None and before.notebook_modified == modified else None
        if notebook is None and modified is not None:
            content = jupyter_get(url, token, f"{path}?content=1&type=notebook", self.timeout).get("content")
            notebook = content if isinstance(content, dict) else None
        activity = max((t for t in (parse_time(status.get("last_activity")), modified) if t), default=None)
        return Live("running", activity, modified, notebook, now)

    def _on_disk(self, row: TraineeRow, state: str, now: datetime) -> Live:
        """The notebook as the workspace (local backend) or the last collection holds it."""
        for base, parts in ((self.session.dir / "workspaces" / row.id, [self.lab, self.notebook]),
                            (self.session.dir / "submitted" / row.id, [self.lab, self.notebook])):
            found = read_nofollow(base, parts)
            if found is not None:
                data, modified = found
                return Live(state, modified, modified, _json_object(data), now)
        return Live(state, None, None, None, now)
