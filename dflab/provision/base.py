"""The backend contract: start, stop, poll and measure one trainee's lab environment.

Modelled on JupyterHub's ``Spawner``: ``start`` returns where the server answers, ``poll`` returns
``None`` while it runs and an exit status once it does not, and everything a backend must remember
between commands (a pid, a port, a container id) lives in ``TraineeEnv.state``, a JSON-able dict the
session persists (the role of ``Spawner.get_state``/``load_state``). Backends call
``TraineeEnv.save()`` right after every side effect, so a CLI that crashes in the middle of a start
leaves a record of what it already created.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# poll() result when the environment is gone but its exit status cannot be known (a process that was
# not our child, a container removed behind our back).
UNKNOWN_EXIT = -1


@dataclass(frozen=True)
class Endpoint:
    """Where one trainee's JupyterLab answers, and the token that opens it."""

    url: str  # base URL ending in "/", e.g. http://127.0.0.1:41234/
    token: str

    @property
    def lab_url(self) -> str:
        """The link handed to the trainee (token included, so one click logs in)."""
        return f"{self.url}lab?token={self.token}"


@dataclass(frozen=True)
class Stats:
    """Resource use of one environment at one moment."""

    cpu_percent: float  # of one CPU, as `docker stats` and `top` report it
    memory_bytes: int


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a trainee's lab (:meth:`Backend.exec`) returned."""

    code: int  # its exit status; -1 when it could not run (no lab, a timeout)
    out: str  # standard output, stripped
    err: str  # standard error, stripped

    def last_line(self) -> str:
        """The last line it printed (errors first), or its exit status: for a one-line error."""
        lines = (self.out + "\n" + self.err).strip().splitlines()
        return lines[-1] if lines else f"exit {self.code}"


LAB_STATE_ENV = "DFLAB_LAB_STATE"  # in Backend.exec: the trainee's folder that persists between calls


@dataclass
class TraineeEnv:
    """One trainee's environment as a backend sees it: identity, secrets, inputs and durable state."""

    trainee: str
    token: str
    evidence: Path  # the trainee's evidence directory (manifest.json inside), exposed read-only
    state: dict[str, Any] = field(default_factory=dict)
    # Persists ``state``; backends call it after each side effect (see the module docstring).
    on_save: Callable[[dict[str, Any]], None] | None = None

    def save(self) -> None:
        if self.on_save is not None:
            self.on_save(dict(self.state))


class Backend(abc.ABC):
    """One kind of lab environment for a whole session (local processes, Docker containers)."""

    name: str

    @abc.abstractmethod
    def start(self, env: TraineeEnv) -> Endpoint:
        """Start ``env`` (or keep it when it already runs) and return its endpoint; does not wait for readiness."""

    @abc.abstractmethod
    def stop(self, env: TraineeEnv, *, purge: bool = False) -> None:
        """Stop ``env``; its workspace survives unless ``purge``. Stopping a stopped env does nothing."""

    @abc.abstractmethod
    def poll(self, env: TraineeEnv) -> int | None:
        """``None`` while ``env`` runs; otherwise its exit status (``UNKNOWN_EXIT`` when unknowable)."""

    @abc.abstractmethod
    def stats(self, env: TraineeEnv) -> Stats | None:
        """CPU and memory of a running ``env`` (``None`` when it does not run)."""

    @abc.abstractmethod
    def export_workspace(self, env: TraineeEnv, folder: str, dest: Path) -> bool:
        """Copy ``folder`` of ``env``'s workspace to the new directory ``dest``; ``False`` when it does not exist.

        Works whether or not the environment runs (workspaces outlive it). Symbolic links may be
        copied as links, never followed; the caller drops whatever is not a regular file.
        """

    @abc.abstractmethod
    def workspace_ref(self, env: TraineeEnv) -> str:
        """Where ``env``'s workspace lives (a path, a volume name), recorded in collection manifests."""

    def exec(self, env: TraineeEnv, argv: list[str], environment: dict[str, str] | None = None) -> ExecResult:
        """Run ``argv`` in ``env``'s running lab as the trainee, confined as the lab's own processes are; wait for it.

        ``argv[0]`` is looked up on the lab's ``PATH`` (``python`` is the lab's Python); ``environment`` is added to
        the lab's own (a seed travels here, never on a command line). ``$DFLAB_LAB_STATE`` names a folder of the
        trainee's that persists between calls while the lab lives (where a lab's hooks keep what they start).
        A lab that does not run gives ``ExecResult(-1, "", "its lab is not running")``. Lab hooks
        (dflab/lab_hooks.py) are its users; a backend without it cannot serve labs that declare hooks.
        """
        raise NotImplementedError(f"the {self.name} backend cannot run commands in a lab")

    def preflight(self) -> None:  # noqa: B027 -- an optional hook, as in JupyterHub's Spawner
        """Check what every start needs (an engine, an image) so a cohort fails in one line, not N."""

    def prepare(self, envs: list[TraineeEnv]) -> None:  # noqa: B027 -- an optional hook
        """Set up what the session's trainees ``envs`` share (a network, a relay) before any of them starts.

        Called with every trainee on the roster before ``start``/``restart``; may record per-trainee
        state (a port) in each env. Running it again with the same trainees changes nothing.
        """

    def recover(self, env: TraineeEnv) -> bool:
        """Before ``env`` is polled at a session start: repair what a host restart took from it (a mount, say).

        True when ``env`` must be started again (and is then started and awaited like a new one); by default
        nothing is broken.
        """
        return False

    def session_problems(self) -> list[str]:
        """What is wrong with the parts trainees share (one line each), for ``session status``."""
        return []

    def diagnose(self, env: TraineeEnv) -> str:
        """The last lines the environment printed, to explain a failed start in one message."""
        return ""

    def shutdown(self, *, purge: bool = False) -> None:  # noqa: B027 -- an optional hook
        """Release what the session shares between trainees (after every trainee was stopped)."""
