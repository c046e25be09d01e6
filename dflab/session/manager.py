"""The session lifecycle: build each trainee's evidence, start, watch, restart and stop their labs.

A session directory is an nbgrader course (:func:`dflab.grading.course.init_course`), plus::

    session.sqlite            durable state (see state.py); tokens and lab-hook seeds inside, owner-only
    access.csv                trainee,url (token in the URL); owner-only, rewritten atomically
    handout/<lab>/            release/<lab>/ as trainees get it, seeded once into each workspace as <lab>/
    handout-<lang>/<lab>/     the same in another language, seeded instead for the roster's trainees in it
    evidence/<trainee>/       evidence/ (read-only, handed out) and key/ (never)
    submitted/<trainee>/<lab>/  what `collect` took from the workspace (timestamp.txt, dflab-collect.json)
    workspaces/<trainee>/     local backend only (Docker keeps workspaces in named volumes); as root, the trainee's
    run/<trainee>/            local backend only: Jupyter's runtime and config (as root also the trainee's home)
    labstate/<trainee>/       local backend only: what the lab's hooks keep between commands ($DFLAB_LAB_STATE)
    check/<trainee>/          the instant checker's socket for that trainee, bound into their lab (dflab.checker)
"""

from __future__ import annotations

import csv
import functools
import hashlib
import hmac
import io
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from dflab.atomic import write_bytes
from dflab.checker import process as checker
from dflab.checker.paths import log_path as checker_log
from dflab.checker.process import CheckerStatus
from dflab.errors import DflabError
from dflab.evidence.build import EVIDENCE, KEY, BuildResult, build_cohort
from dflab.evidence.kinds import CASE_KINDS
from dflab.evidence.manifest import MANIFEST
from dflab.i18n.lang import DEFAULT_LANG, STATE_KEY
from dflab.lab_hooks import LabHooks
from dflab.provision.base import Backend, Endpoint, Stats, TraineeEnv
from dflab.provision.http import api_status
from dflab.roster import Trainee
from dflab.session.collect import Collected, collect_one
from dflab.session.lab import HANDOUT, Lab, load_lab, write_handout
from dflab.session.state import SessionState, TraineeRow, now

if TYPE_CHECKING:
    from dflab.grading.course import InitResult

_T = TypeVar("_T")
_R = TypeVar("_R")

ACCESS_LIST = "access.csv"
LANG_META = "lang."  # meta key prefix: lang.<trainee> -> the roster's language, when not English
READY_TIMEOUT = 120.0
READY_POLL = 0.2  # seconds between readiness checks of the servers still starting
ENGINE_POLL = 2.0  # seconds between asking the backend whether a starting server died
# Starting N labs at once is mostly waiting on Python imports inside each server; more threads than
# this only make the engine and the CPUs thrash.
START_PARALLEL = 8


@dataclass(frozen=True)
class Outcome:
    """What one command did to one trainee."""

    trainee: str
    status: str  # the row's status afterwards
    action: str  # started, kept, left dead, failed, restarted, stopped, removed
    url: str | None
    detail: str = ""


@dataclass(frozen=True)
class _Started:
    """A lab the backend started, not yet known to answer."""

    env: TraineeEnv
    endpoint: Endpoint


@dataclass(frozen=True)
class Health:
    """One line of ``session status``."""

    trainee: str
    state: str
    url: str | None
    stats: Stats | None
    lang: str = DEFAULT_LANG  # the roster's language for this trainee (dflab.i18n.lang)


def secret_fingerprint(secret: str) -> str:
    """Identifies the course secret without storing it (so a second `start` cannot mix variants)."""
    return hmac.new(secret.encode(), b"dflab-session-secret", hashlib.sha256).hexdigest()[:16]


def check_isolation(backend: str, trainees: int, practice: bool) -> str:
    """Refuse a local session of several trainees that this host cannot keep apart, unless ``practice``.

    The local backend confines each trainee's lab as root (see dflab.provision.local_backend); without that, every
    lab reads what the session's user can: the keys, the course and the other trainees' work.  One trainee (``make
    lab``) or ``practice`` runs that way all the same; the returned notice (``""`` when labs are isolated) says so.
    """
    if backend != "local":
        return ""
    from dflab.provision.local_backend import isolation_problem

    problem = isolation_problem()
    if not problem:
        return ""
    if trainees > 1 and not practice:
        raise DflabError(f"cannot keep {trainees} trainees apart: {problem}; run dflab as root on a host that allows "
                         "mount and network namespaces, use --backend docker, or pass --practice if isolation is not "
                         "wanted",
                         "local backend")
    return (f"trainee isolation is off ({problem}): each lab can read what this user can, keys included; "
            "for practice only")


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
    def configure(self, backend: str, lab_dir: Path, image: str, secret: str, scenario: Path | None = None) -> Lab:
        """Record the session's backend, lab, image and secret, or check a re-run asks for the same ones."""
        lab = load_lab(lab_dir, scenario)
        wanted = {"backend": backend, "lab": str(lab.directory), "lab_id": lab.id, "notebook": lab.notebook,
                  "scenario": str(lab.scenario.resolve()), "hooks": str(lab.hooks or ""),
                  "evidence": ",".join(lab.evidence),
                  "image": image if backend == "docker" else "", "secret": secret_fingerprint(secret)}
        have = self.state.meta()
        for key, value in wanted.items():
            if key in have and have[key] != value:
                shown = "a different course secret" if key == "secret" else f"{key} {have[key]!r}"
                raise DflabError(f"this session was started with {shown}; use the same, or another --session-dir",
                                 str(self.dir))
        if "backend" not in have:
            self.state.set_meta_all({"session_id": hashlib.sha256(str(self.dir).encode()).hexdigest()[:8],
                                     "created_at": now(), **wanted})
        return lab

    def prepare_course(self, lab: Lab, roster: Path, secret: str, workers: int | None = None,
                       build_evidence: bool = True) -> InitResult:
        """Make the session directory the lab's nbgrader course (evidence, gradebook, release) and the handout.

        ``init_course`` only writes what is missing or changed, so a re-run builds only new trainees.
        With ``build_evidence=False`` missing variants are left to :meth:`start` (built while labs start).
        """
        from dflab.grading.course import init_course  # nbgrader: imported beside the evidence build, not before it

        result = init_course(self.dir, roster, lab.id, secret, labs_dir=lab.directory.parent, workers=workers,
                             build_evidence=build_evidence, scenario=lab.scenario)
        # init_course leaves evidence owner-writable (0644); handed-out evidence is writable by nobody.
        for trainee in (r.id for r in self.state.trainees() if r.manifest_sha256 is not None):
            _read_only(self.evidence_dir(trainee))
        write_handout(self.dir, lab)
        return result

    @property
    def lab_id(self) -> str:
        return self.state.get_meta("lab_id") or ""

    @functools.cached_property
    def hooks(self) -> LabHooks:
        """The lab's hooks (lab.yaml ``hooks:``), loaded once per command."""
        path = self.state.get_meta("hooks")
        return LabHooks(Path(path) if path else None)

    def _seed(self, trainee: str) -> bytes | None:
        seed = self.state.get_meta(f"lab_seed.{trainee}")
        return bytes.fromhex(seed) if seed else None

    def backend(self) -> Backend:
        meta = self.state.meta()
        if meta["backend"] == "docker":
            from dflab.provision.docker_backend import DockerBackend

            return DockerBackend(meta["session_id"], self.dir, self.dir / HANDOUT, meta["image"])
        from dflab.provision.local_backend import LocalBackend

        return LocalBackend(self.dir, self.dir / HANDOUT)

    def lang(self, trainee: str) -> str:
        """The language ``trainee`` works in (the roster's ``lang``, recorded by :meth:`add_trainees`)."""
        return self.state.get_meta(f"{LANG_META}{trainee}") or DEFAULT_LANG

    def env(self, row: TraineeRow) -> TraineeEnv:
        # A trainee in another language tells the backend so in their state (``lang``): it seeds their workspace
        # from that language's handout and starts their lab in it. English leaves the state as it always was.
        lang = self.lang(row.id)
        state = {**row.backend_state, STATE_KEY: lang} if lang != DEFAULT_LANG else dict(row.backend_state)
        return TraineeEnv(row.id, row.token, self.evidence_dir(row.id), state,
                          on_save=lambda s: self.state.update(row.id, backend_state=s))

    def evidence_dir(self, trainee: str) -> Path:
        return self.dir / "evidence" / trainee / EVIDENCE

    # -- evidence ---------------------------------------------------------------------------------
    def unbuilt_evidence(self) -> list[str]:
        """Trainees whose variant is not built yet; built ones are checked against their recorded hash.

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
        return todo

    def build_evidence(self, secret: str, workers: int | None = None, on_done: Callable[[str], None] | None = None,
                       on_started: Callable[[], None] | None = None) -> list[str]:
        """Build the variants not built yet (see :meth:`unbuilt_evidence`); return the trainees built now.

        ``on_started`` runs once the build's worker processes exist (or at once when nothing is to be built).
        """
        todo = self.unbuilt_evidence()
        if not todo:
            if on_started:
                on_started()
            return []
        for trainee in todo:
            self.state.update(trainee, status="evidence")
        scenario = Path(self.state.get_meta("scenario") or "")

        def done(result: BuildResult) -> None:
            # Recorded as each variant lands, so a lab can start on it while the others are still built.
            from dflab.grading.course import protect_key  # after the build's fork, as in prepare_course

            _read_only(result.out / EVIDENCE)
            protect_key(result.out / KEY)
            self.state.update(result.variant, manifest_sha256=result.manifest_sha256, status="new")
            if on_done:
                on_done(result.variant)

        # force: a half-built leftover (no manifest) is replaced; atomic_dir keeps partial builds out anyway.
        kinds = (self.state.get_meta("evidence") or ",".join(CASE_KINDS)).split(",")  # older sessions: all
        labs_dir = Path(self.state.get_meta("lab") or "").parent  # the lab's folder's neighbours: their hooks' facts
        build_cohort(scenario, secret, todo, self.dir / "evidence", workers=workers, force=True, on_done=done,
                     on_started=on_started, kinds=kinds, labs_dir=labs_dir)
        return todo

    # -- lifecycle --------------------------------------------------------------------------------
    def add_trainees(self, trainees: list[Trainee], secret: str) -> list[str]:
        """Add roster trainees (each gets a token once, kept across runs); return the new ones.

        A trainee removed by an earlier roster and listed again comes back (as "stopped", so ``start``
        starts them with their kept workspace). When the lab's hooks derive a seed, each trainee's is recorded
        here, the one moment the course secret is at hand: ``restart`` needs it later.
        """
        added = []
        for t in trainees:
            if self.state.add_trainee(t.id, secrets.token_urlsafe(24)):
                added.append(t.id)
            elif self.state.get(t.id).status == "removed":
                self.state.update(t.id, status="stopped")
            if self.lang(t.id) != t.lang:  # a roster may change it; a seeded workspace keeps its notebook
                self.state.set_meta(f"{LANG_META}{t.id}", t.lang)
            if self.state.get_meta(f"lab_seed.{t.id}") is None and (seed := self.hooks.seed(t.id, secret)):
                self.state.set_meta(f"lab_seed.{t.id}", seed.hex())
        return added

    def start(self, timeout: float = READY_TIMEOUT, roster: list[str] | None = None, purge_removed: bool = False,
              *, secret: str | None = None, workers: int | None = None,
              on_evidence: Callable[[str], None] | None = None,
              before_labs: Callable[[], object] | None = None,
              on_checker: Callable[[CheckerStatus], None] | None = None) -> list[Outcome]:
        """Start every trainee that is not running; running ones are kept, dead ones left to `restart`.

        Trainees missing from ``roster`` (when given) have their lab stopped, workspace kept unless
        ``purge_removed``. With ``secret``, variants not built yet are built here (``on_evidence`` hears
        of each) and each trainee's lab starts as soon as their own variant is ready, so engine work
        overlaps the remaining builds. Labs are started without waiting for one another and then awaited
        together: a slot of the start pool is never held by a server that is still importing.
        ``before_labs`` (e.g. writing the course's handout) runs in a thread beside the evidence build, and
        no lab starts before it has finished; nor before the instant checker answers (``on_checker`` hears
        whether it was started, kept or restarted).
        """
        backend = self.backend()
        backend.preflight()  # engine and image problems are one line, before any trainee starts
        listed = set(roster) if roster is not None else None
        rows = self.state.trainees()

        def settle(row: TraineeRow) -> Outcome | None:
            """What happens to ``row`` without starting it; ``None`` when it is to be started."""
            env = self.env(row)
            if listed is not None and row.id not in listed:
                return self._remove(backend, env, row, purge_removed)
            if backend.recover(env):
                return None  # started again below, like a new lab
            exit_code = backend.poll(env)
            if row.status == "running" and exit_code is None:
                # A lab that came back by itself (engine restart) lost its processes: the hooks bring theirs back.
                problem = self.hooks.post_start(backend, env, self._seed(row.id))
                return Outcome(row.id, "running", "kept", row.url, problem)
            if row.status in ("running", "dead"):
                self.state.update(row.id, status="dead", error=f"exited ({exit_code})")
                return Outcome(row.id, "dead", "left dead", row.url, "use `dflab session restart`")
            return None

        unbuilt = set(self.unbuilt_evidence())  # and a tampered variant stops everything here
        gate = threading.Lock()
        opened: list[bool] = []  # [True] once the side work is done and labs may start
        evidence_ready = {r.id for r in rows} - unbuilt
        begun: dict[str, Future[_Started | Outcome]] = {}
        settled: dict[str, Outcome | None] = {}
        with ThreadPoolExecutor(max_workers=1) as side, ThreadPoolExecutor(max_workers=START_PARALLEL) as pool:

            def begin(trainee: str) -> None:  # called with ``gate`` held
                if settled.get(trainee, False) is None and trainee not in begun:
                    begun[trainee] = pool.submit(self._begin, backend, self.env(self.state.get(trainee)))

            def side_work() -> None:
                """Everything but evidence that labs need: who starts, the relay and the course's handout (those
                two side by side: one waits on the engine, the other on nbgrader)."""
                settled.update(zip([r.id for r in rows], pool.map(settle, rows), strict=True))
                with ThreadPoolExecutor(max_workers=1) as beside:
                    handout = beside.submit(before_labs) if before_labs else None
                    self._prepare(backend)
                    if handout:
                        handout.result()
                checked = self.ensure_checker()  # reads the course's check file: after the handout
                if on_checker:
                    on_checker(checked)
                with gate:
                    opened.append(True)
                    for trainee in sorted(evidence_ready):
                        begin(trainee)

            def built(trainee: str) -> None:
                if on_evidence:
                    on_evidence(trainee)
                with gate:
                    evidence_ready.add(trainee)
                    if opened:
                        begin(trainee)

            # Threads start only once the evidence build's worker processes are forked (forking beside a
            # busy thread can copy a lock it holds into the child), and then run beside the build.
            side_done: list[Future[None]] = []

            def kick_off() -> None:
                side_done.append(side.submit(side_work))

            if unbuilt and secret is not None:
                self.build_evidence(secret, workers, on_done=built, on_started=kick_off)
            else:
                kick_off()
            side_done[0].result()
            with gate:  # no variant and no secret to build it: these fail in _begin
                for trainee in sorted(unbuilt - evidence_ready):
                    begin(trainee)
            launched = {t: f.result() for t, f in begun.items()}
        outcomes = self._await_ready(backend, launched, timeout, "started")
        outcomes.update({t: o for t, o in settled.items() if o is not None})
        self.write_access_list()
        return [outcomes[r.id] for r in rows]

    def _remove(self, backend: Backend, env: TraineeEnv, row: TraineeRow, purge: bool) -> Outcome:
        """Stop a trainee the roster no longer lists; their workspace stays unless ``purge``."""
        if row.status == "removed" and not purge:
            return Outcome(row.id, "removed", "kept removed", None, "not on the roster")
        self.hooks.pre_stop(backend, env, self._seed(row.id))
        backend.stop(env, purge=purge)
        self.state.update(row.id, status="removed")
        detail = "not on the roster; workspace " + ("deleted" if purge else "kept")
        return Outcome(row.id, "removed", "removed", None, detail)

    def restart(self, trainee: str, timeout: float = READY_TIMEOUT) -> Outcome:
        """Stop (workspace kept) and start one trainee, e.g. after their container or process died."""
        backend = self.backend()
        row = self.state.get(trainee)
        if row.status == "removed":
            raise DflabError("this trainee was removed from the roster; add them back and run `session start`",
                             trainee)
        self._prepare(backend)
        self.ensure_checker()
        env = self.env(self.state.get(trainee))
        self.hooks.pre_stop(backend, env, self._seed(trainee))
        backend.stop(env)
        outcome = self._await_ready(backend, {trainee: self._begin(backend, env)}, timeout, "restarted")[trainee]
        self.write_access_list()
        return outcome

    def _prepare(self, backend: Backend) -> None:
        """What the trainees still on the roster share (the Docker relay) exists and knows each of them."""
        backend.prepare([self.env(row) for row in self.state.trainees() if row.status != "removed"])

    def _begin(self, backend: Backend, env: TraineeEnv) -> _Started | Outcome:
        """Ask the backend to start ``env`` (not waiting for its server); a refusal is a failed Outcome."""
        self.state.update(env.trainee, status="starting", error=None)
        if not self.evidence_dir(env.trainee).is_dir():
            return self._failed(env.trainee, None, "no evidence variant built (run `dflab session start`)")
        try:
            endpoint = backend.start(env)
        except DflabError as exc:
            return self._failed(env.trainee, None, exc.what)
        self.state.update(env.trainee, url=endpoint.url)
        return _Started(env, endpoint)

    def _failed(self, trainee: str, url: str | None, why: str) -> Outcome:
        self.state.update(trainee, status="failed", error=why)
        return Outcome(trainee, "failed", "failed", url, why)

    def _await_ready(self, backend: Backend, launched: dict[str, _Started | Outcome], timeout: float,
                     action: str) -> dict[str, Outcome]:
        """Wait for every started server to answer 200 to its own token, all together; then their post-start hooks."""
        outcomes = {t: o for t, o in launched.items() if isinstance(o, Outcome)}
        pending = {t: e for t, e in launched.items() if isinstance(e, _Started)}
        ready: dict[str, _Started] = {}
        deadline = time.monotonic() + timeout
        last_poll = time.monotonic()
        with ThreadPoolExecutor(max_workers=START_PARALLEL) as pool:
            while pending:
                answers = pool.map(lambda s: api_status(s.endpoint.url, s.endpoint.token), list(pending.values()))
                for trainee, status in zip(list(pending), answers, strict=True):
                    if status == 200:
                        ready[trainee] = pending.pop(trainee)
                # Whether a server died is an engine call per trainee: every 2 s, not every check.
                if pending and time.monotonic() - last_poll >= ENGINE_POLL:
                    last_poll = time.monotonic()
                    codes = pool.map(lambda s: backend.poll(s.env), list(pending.values()))
                    for trainee, code in zip(list(pending), codes, strict=True):
                        if code is not None:
                            started = pending.pop(trainee)
                            why = backend.diagnose(started.env)
                            outcomes[trainee] = self._failed(
                                trainee, started.endpoint.url,
                                f"lab server exited ({code}) before answering" + (f": {why}" if why else ""))
                if pending and time.monotonic() > deadline:
                    for trainee, started in list(pending.items()):
                        url = started.endpoint.url
                        outcomes[trainee] = self._failed(
                            trainee, url, f"lab server did not answer {url}api/status within {timeout:.0f}s")
                        pending.pop(trainee)
                if pending:
                    time.sleep(READY_POLL)

            def finish(started: _Started) -> Outcome:
                trainee, url = started.env.trainee, started.endpoint.url
                if problem := self.hooks.post_start(backend, started.env, self._seed(trainee)):
                    return self._failed(trainee, url, problem)
                self.state.update(trainee, status="running", started_at=now())
                return Outcome(trainee, "running", action, url)

            outcomes.update(zip(ready, pool.map(finish, ready.values()), strict=True))
        return outcomes

    def status(self) -> list[Health]:
        """Health of every trainee now (a running row whose environment exited becomes "dead")."""
        backend = self.backend()

        def one(row: TraineeRow) -> Health:
            env = self.env(row)
            if backend.poll(env) is None:
                return Health(row.id, "running" if row.status == "running" else row.status, row.url,
                              backend.stats(env), self.lang(row.id))
            if row.status == "running":
                self.state.update(row.id, status="dead")
                return Health(row.id, "dead", row.url, None, self.lang(row.id))
            return Health(row.id, row.status, row.url, None, self.lang(row.id))

        return self._each(one, self.state.trainees())

    def problems(self) -> list[str]:
        """What is wrong with the parts running trainees share (the Docker relay, the checker), one line each."""
        if not any(row.status == "running" for row in self.state.trainees()):
            return []
        down = [] if self.checker_status().running else [
            "the instant checker is not running (trainees' checks fail): `dflab session start` (same options) "
            f"brings it back; its log is {checker_log(self.dir)}"]
        return self.backend().session_problems() + down

    def ensure_checker(self) -> CheckerStatus:
        """The session's instant checker, serving every trainee on the roster: kept, or (re)started and awaited."""
        return checker.ensure(self.dir, self.state)

    def checker_status(self) -> CheckerStatus:
        return checker.status(self.state)

    def stop(self, purge: bool = False) -> list[Outcome]:
        """Stop every trainee's environment (after its pre-stop hook); workspaces are kept unless ``purge``."""
        backend = self.backend()

        def one(row: TraineeRow) -> Outcome:
            env = self.env(row)
            self.hooks.pre_stop(backend, env, self._seed(row.id))
            backend.stop(env, purge=purge)
            status = "removed" if row.status == "removed" else "stopped"
            self.state.update(row.id, status=status, url=None if purge else row.url)
            return Outcome(row.id, status, "purged" if purge else "stopped", None)

        outcomes = self._each(one, self.state.trainees())
        backend.shutdown(purge=purge)
        checker.stop(self.dir, self.state, purge=purge)
        self.write_access_list()
        return outcomes

    def collect(self) -> list[Collected]:
        """Copy each trainee's ``<lab>/`` folder into ``submitted/<trainee>/<lab>/`` (see collect.py).

        Works on running and stopped labs alike (workspaces outlive them); removed trainees are
        collected too, since their work was kept.
        """
        backend = self.backend()
        lab = self.lab_id

        def one(row: TraineeRow) -> Collected:
            env = self.env(row)
            return collect_one(row.id, lab, self.dir, backend.workspace_ref(env),
                               lambda dest: backend.export_workspace(env, lab, dest))

        return self._each(one, self.state.trainees())

    @staticmethod
    def _each(fn: Callable[[_T], _R], items: list[_T]) -> list[_R]:
        """``fn`` over ``items`` in parallel threads, results in input order (labs start side by side)."""
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(START_PARALLEL, len(items))) as pool:
            return list(pool.map(fn, items))

    def access_links(self) -> dict[str, str]:
        """Each running trainee's link (token included)."""
        return {row.id: Endpoint(row.url, row.token).lab_url for row in self.state.trainees()
                if row.status == "running" and row.url}

    def write_access_list(self) -> Path:
        """``access.csv``: each running trainee's link, token included; owner-only, replaced atomically."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["trainee", "url"])
        for trainee, url in self.access_links().items():
            writer.writerow([trainee, url])
        path = self.dir / ACCESS_LIST
        write_bytes(path, out.getvalue().encode())
        os.chmod(path, 0o600)
        return path
