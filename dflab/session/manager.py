"""The session lifecycle: build each trainee's evidence, start, watch, restart and stop their labs.

Layout of a session directory::

    session.sqlite            durable state (see state.py); tokens inside, owner-only
    access.csv                trainee,url (token in the URL); owner-only, rewritten atomically
    lab/                      the lab's trainee files, seeded once into each workspace
    evidence/<trainee>/       build_cohort output: evidence/ (read-only, handed out) and key/ (never)
    workspaces/<trainee>/     local backend only (Docker keeps workspaces in named volumes)
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from dflab.atomic import write_bytes
from dflab.errors import DflabError
from dflab.evidence.build import EVIDENCE, build_cohort
from dflab.evidence.manifest import MANIFEST
from dflab.provision.base import Backend, Endpoint, Stats, TraineeEnv
from dflab.provision.http import api_status
from dflab.roster import Trainee
from dflab.session.lab import load_lab, write_seed
from dflab.session.state import SessionState, TraineeRow, now

_T = TypeVar("_T")
_R = TypeVar("_R")

ACCESS_LIST = "access.csv"
READY_TIMEOUT = 120.0
# Starting N labs at once is mostly waiting on Python imports inside each server; more threads than
# this only make the engine and the CPUs thrash.
START_PARALLEL = 8


@dataclass(frozen=True)
class Outcome:
    """What one command did to one trainee."""

    trainee: str
    status: str  # the row's status afterwards
    action: str  # started, kept, left dead, failed, restarted, stopped
    url: str | None
    detail: str = ""


@dataclass(frozen=True)
class Health:
    """One line of ``session status``."""

    trainee: str
    state: str
    url: str | None
    stats: Stats | None


def secret_fingerprint(secret: str) -> str:
    """Identifies the course secret without storing it (so a second `start` cannot mix variants)."""
    return hmac.new(secret.encode(), b"dflab-session-secret", hashlib.sha256).hexdigest()[:16]


def _read_only(tree: Path) -> None:
    """Files 0444, directories 0555: nobody writes the evidence, uid 1000 in a container reads it."""
    for p in tree.rglob("*"):
        p.chmod(0o555 if p.is_dir() else 0o444)
    tree.chmod(0o555)


class Session:
    """One cohort session rooted in a directory; every method can be re-run after any crash."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory.resolve()
        self.state = SessionState(self.dir)

    @classmethod
    def existing(cls, directory: Path) -> Session:
        """Open a session a previous `start` created; anything else is one clear line."""
        session = cls(directory) if (directory / "session.sqlite").is_file() else None
        if session is None or session.state.get_meta("backend") is None:
            raise DflabError("no session here; start one with `dflab session start`", str(directory))
        return session

    # -- configuration ----------------------------------------------------------------------------
    def configure(self, backend: str, lab_dir: Path, scenario: Path | None, image: str, secret: str) -> None:
        """Record the session's backend, lab, image and secret, or check a re-run asks for the same ones."""
        lab = load_lab(lab_dir, scenario)
        wanted = {"backend": backend, "lab": str(lab.directory.resolve()), "scenario": str(lab.scenario.resolve()),
                  "image": image if backend == "docker" else "", "secret": secret_fingerprint(secret)}
        have = self.state.meta()
        for key, value in wanted.items():
            if key in have and have[key] != value:
                shown = "a different course secret" if key == "secret" else f"{key} {have[key]!r}"
                raise DflabError(f"this session was started with {shown}; use the same, or another --session-dir",
                                 str(self.dir))
        if "backend" not in have:
            self.state.set_meta("session_id", hashlib.sha256(str(self.dir).encode()).hexdigest()[:8])
            self.state.set_meta("created_at", now())
            for key, value in wanted.items():
                self.state.set_meta(key, value)
        write_seed(lab, self.dir / "lab")

    def backend(self) -> Backend:
        meta = self.state.meta()
        if meta["backend"] == "docker":
            from dflab.provision.docker_backend import DockerBackend

            return DockerBackend(meta["session_id"], self.dir, self.dir / "lab", meta["image"])
        from dflab.provision.local_backend import LocalBackend

        return LocalBackend(self.dir, self.dir / "lab")

    def env(self, row: TraineeRow) -> TraineeEnv:
        return TraineeEnv(row.id, row.token, self.evidence_dir(row.id), dict(row.backend_state),
                          on_save=lambda s: self.state.update(row.id, backend_state=s))

    def evidence_dir(self, trainee: str) -> Path:
        return self.dir / "evidence" / trainee / EVIDENCE

    # -- evidence ---------------------------------------------------------------------------------
    def build_evidence(self, secret: str, workers: int | None = None,
                       on_done: Callable[[str], None] | None = None) -> list[str]:
        """Build the variants not built yet; return the trainees built now.

        A variant whose directory exists is kept when its manifest hash is the recorded one, and
        adopted (hash recorded) when none was recorded: a crash between build and record loses nothing.
        A manifest that changed since it was recorded is refused: someone altered handed-out evidence.
        """
        todo = []
        for row in self.state.trainees():
            manifest = self.evidence_dir(row.id) / MANIFEST
            if not manifest.is_file():
                todo.append(row.id)
                continue
            sha = hashlib.sha256(manifest.read_bytes()).hexdigest()
            if row.manifest_sha256 is None:
                self.state.update(row.id, manifest_sha256=sha)
            elif row.manifest_sha256 != sha:
                raise DflabError(f"evidence manifest changed since it was built (sha256 {sha[:16]}…, "
                                 f"recorded {row.manifest_sha256[:16]}…)", str(manifest))
            _read_only(self.evidence_dir(row.id))
        if not todo:
            return []
        for trainee in todo:
            self.state.update(trainee, status="evidence")
        scenario = Path(self.state.get_meta("scenario") or "")
        # force: a half-built leftover (no manifest) is replaced; atomic_dir keeps partial builds out anyway.
        results = build_cohort(scenario, secret, todo, self.dir / "evidence", workers=workers, force=True,
                               on_done=(lambda r: on_done(r.variant)) if on_done else None)
        for result in results:
            _read_only(result.out / EVIDENCE)
            self.state.update(result.variant, manifest_sha256=result.manifest_sha256, status="new")
        return todo

    # -- lifecycle --------------------------------------------------------------------------------
    def add_trainees(self, trainees: list[Trainee]) -> list[str]:
        """Add roster trainees (each gets a token once, kept across runs); return the new ones."""
        return [t.id for t in trainees if self.state.add_trainee(t.id, secrets.token_urlsafe(24))]

    def start(self, timeout: float = READY_TIMEOUT) -> list[Outcome]:
        """Start every trainee that is not running; running ones are kept, dead ones left to `restart`."""
        backend = self.backend()
        backend.preflight()  # engine and image problems are one line, before any trainee starts

        def one(row: TraineeRow) -> Outcome:
            env = self.env(row)
            exit_code = backend.poll(env)
            if row.status == "running" and exit_code is None:
                return Outcome(row.id, "running", "kept", row.url)
            if row.status in ("running", "dead"):
                self.state.update(row.id, status="dead", error=f"exited ({exit_code})")
                return Outcome(row.id, "dead", "left dead", row.url, "use `dflab session restart`")
            return self._launch(backend, env, timeout, "started")

        outcomes = self._each(one, self.state.trainees())
        self.write_access_list()
        return outcomes

    def restart(self, trainee: str, timeout: float = READY_TIMEOUT) -> Outcome:
        """Stop (workspace kept) and start one trainee, e.g. after their container or process died."""
        backend = self.backend()
        env = self.env(self.state.get(trainee))
        backend.stop(env)
        outcome = self._launch(backend, env, timeout, "restarted")
        self.write_access_list()
        return outcome

    def _launch(self, backend: Backend, env: TraineeEnv, timeout: float, action: str) -> Outcome:
        self.state.update(env.trainee, status="starting", error=None)
        try:
            endpoint = backend.start(env)
        except DflabError as exc:
            self.state.update(env.trainee, status="failed", error=exc.what)
            return Outcome(env.trainee, "failed", "failed", None, exc.what)
        self.state.update(env.trainee, url=endpoint.url)
        problem = self._wait_ready(backend, env, endpoint, timeout)
        if problem:
            self.state.update(env.trainee, status="failed", error=problem)
            return Outcome(env.trainee, "failed", "failed", endpoint.url, problem)
        self.state.update(env.trainee, status="running", started_at=now())
        return Outcome(env.trainee, "running", action, endpoint.url)

    @staticmethod
    def _wait_ready(backend: Backend, env: TraineeEnv, endpoint: Endpoint, timeout: float) -> str:
        """Wait until the server answers 200 to its own token; return what went wrong, or ""."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if api_status(endpoint.url, endpoint.token) == 200:
                return ""
            if (code := backend.poll(env)) is not None:
                why = backend.diagnose(env)
                return f"lab server exited ({code}) before answering" + (f": {why}" if why else "")
            time.sleep(0.2)
        return f"lab server did not answer {endpoint.url}api/status within {timeout:.0f}s"

    def status(self) -> list[Health]:
        """Health of every trainee now (a running row whose environment exited becomes "dead")."""
        backend = self.backend()

        def one(row: TraineeRow) -> Health:
            env = self.env(row)
            if backend.poll(env) is None:
                return Health(row.id, "running" if row.status == "running" else row.status, row.url,
                              backend.stats(env))
            if row.status == "running":
                self.state.update(row.id, status="dead")
                return Health(row.id, "dead", row.url, None)
            return Health(row.id, row.status, row.url, None)

        return self._each(one, self.state.trainees())

    def stop(self, purge: bool = False) -> list[Outcome]:
        """Stop every trainee's environment; workspaces are kept unless ``purge``."""
        backend = self.backend()

        def one(row: TraineeRow) -> Outcome:
            backend.stop(self.env(row), purge=purge)
            self.state.update(row.id, status="stopped", url=None if purge else row.url)
            return Outcome(row.id, "stopped", "purged" if purge else "stopped", None)

        outcomes = self._each(one, self.state.trainees())
        backend.shutdown(purge=purge)
        self.write_access_list()
        return outcomes

    @staticmethod
    def _each(fn: Callable[[_T], _R], items: list[_T]) -> list[_R]:
        """``fn`` over ``items`` in parallel threads, results in input order (labs start side by side)."""
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(START_PARALLEL, len(items))) as pool:
            return list(pool.map(fn, items))

    def write_access_list(self) -> Path:
        """``access.csv``: each running trainee's link, token included; owner-only, replaced atomically."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["trainee", "url"])
        for row in self.state.trainees():
            if row.status == "running" and row.url:
                writer.writerow([row.id, Endpoint(row.url, row.token).lab_url])
        path = self.dir / ACCESS_LIST
        write_bytes(path, out.getvalue().encode())
        os.chmod(path, 0o600)
        return path
