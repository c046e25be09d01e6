"""A lab's hooks: code a lab folder declares (lab.yaml ``hooks: hooks.py``) that runs beside its labs' lifecycle.

The model is JupyterHub's ``Spawner.pre_spawn_hook`` / ``post_stop_hook``: the session and the backends know
nothing of any lab; a lab that needs more than a JupyterLab (lab 01's running suspect) says so in its own folder.
A hooks module may define any of:

``seed(trainee: str, secret: str) -> bytes``
    A per-trainee secret for the other hooks, derived once when the session starts (the one moment the course
    secret is at hand) and kept in the session's state; the trainee's environment only ever sees this seed.
``post_start(lab: LabContext) -> None``
    Called once the trainee's server answers: after a start, a restart, and a start that keeps a running lab
    (a lab the engine brought back has lost its processes). Idempotent: bring up only what is missing. A
    :class:`~dflab.errors.DflabError` marks that trainee's start failed with its message.
``pre_stop(lab: LabContext) -> None``
    Called before the lab is stopped or removed from the roster.

``LabContext.run`` is :meth:`dflab.provision.base.Backend.exec` for that trainee: commands run in the lab, as the
trainee, confined as the lab is. Hooks are course-team code, trusted like the lab's notebooks and checks; they
run in the instructor's dflab process, never in a trainee's.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from dflab.errors import DflabError
from dflab.provision.base import Backend, ExecResult, TraineeEnv

HOOK_NAMES = ("seed", "post_start", "pre_stop")


@dataclass(frozen=True)
class LabContext:
    """What a hook gets: whose lab, their seed (when the module derives one), and a way to run commands in it."""

    trainee: str
    seed: bytes | None
    run: Callable[..., ExecResult]  # run(argv, environment=None)


class LabHooks:
    """The hooks module of one lab (none: every hook does nothing)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._module = _load(path) if path is not None else None

    @property
    def declared(self) -> bool:
        return self._module is not None

    @property
    def module(self) -> ModuleType | None:
        """The loaded hooks module (its other functions are the lab's own business)."""
        return self._module

    def _hook(self, name: str) -> Callable[..., object] | None:
        found = getattr(self._module, name, None) if self._module is not None else None
        return found if callable(found) else None

    def seed(self, trainee: str, secret: str) -> bytes | None:
        """The trainee's seed, when the module derives one."""
        hook = self._hook("seed")
        if hook is None:
            return None
        value = hook(trainee, secret)
        if not isinstance(value, bytes) or not value:
            raise DflabError(f"seed() returned {type(value).__name__}, not bytes", str(self.path))
        return value

    def post_start(self, backend: Backend, env: TraineeEnv, seed: bytes | None) -> str:
        """Run ``post_start`` for ``env``; what went wrong, in one line ("" when nothing did)."""
        return self._call("post_start", backend, env, seed)

    def pre_stop(self, backend: Backend, env: TraineeEnv, seed: bytes | None) -> str:
        return self._call("pre_stop", backend, env, seed)

    def _call(self, name: str, backend: Backend, env: TraineeEnv, seed: bytes | None) -> str:
        hook = self._hook(name)
        if hook is None:
            return ""

        def run(argv: list[str], environment: dict[str, str] | None = None) -> ExecResult:
            return backend.exec(env, argv, environment)

        try:
            hook(LabContext(env.trainee, seed, run))
        except DflabError as exc:
            return exc.what
        return ""


def _load(path: Path) -> ModuleType:
    """Import the hooks file at ``path`` under a name of its own (two labs' hooks never collide)."""
    if not path.is_file():
        raise DflabError("hooks file not found (lab.yaml `hooks:`)", str(path))
    name = "dflab_lab_hooks_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DflabError("cannot load the hooks file", str(path))
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise DflabError(f"hooks file does not compile: {exc.msg}", f"{path}:{exc.lineno}") from exc
    except ImportError as exc:
        raise DflabError(f"hooks file cannot import what it needs: {exc}", str(path)) from exc
    return module
