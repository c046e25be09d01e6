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
``key_facts(seed: bytes | None) -> dict[str, dict]``
    Facts of the trainee's lab that no evidence file holds (lab 01: the traits of the suspect its ``seed`` starts),
    added to every key built with the lab's folder beside it (:func:`labs_key_facts`), one section each under
    ``facts.<section>``; the grader's ``key:`` paths address them like any fact.
``materials(case: Case, exhibits: dict[str, str], out_dir: Path) -> dict[str, dict]``
    Documents the lab hands each trainee, derived from their case (lab 07: the examiner's report, custody record,
    hash list and timeline a prosecutor receives, with flaws planted per trainee). Called when each variant is
    built (:func:`labs_materials`), after the evidence files are written: ``exhibits`` maps each evidence file
    written so far (its manifest path) to its SHA-256, ``out_dir`` is an empty folder of the evidence named for the
    lab, so the documents reach the trainee read-only with the evidence and the manifest covers them. What the
    documents are made of is drawn from the case alone (``case.seed`` for per-trainee choices), so a variant is
    the same bytes every time. It returns the key facts of what it wrote, one section each under
    ``facts.<section>`` as ``key_facts`` does: a trainee reads the documents, only the key knows what is planted.

and a module attribute:

``COMPARES: dict[str, LabCompare]``
    Compare kinds of the lab's own, for its ``grader.yaml`` (``compare: <name>``), beside the generic kinds of
    :mod:`dflab.grading.checks` (lab 01 grades a handed-in case folder so). A course keeps the hooks file beside its
    copy of the check file (``graders/<lab>.hooks.py``), so the grader finds them.

``LabContext.run`` is :meth:`dflab.provision.base.Backend.exec` for that trainee: commands run in the lab, as the
trainee, confined as the lab is. Hooks are course-team code, trusted like the lab's notebooks and checks; they
run in the instructor's dflab process, never in a trainee's.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from dflab.errors import DflabError
from dflab.provision.base import Backend, ExecResult, TraineeEnv

HOOK_NAMES = ("seed", "post_start", "pre_stop", "key_facts", "materials")
COMPARES = "COMPARES"
Verdict = tuple[bool, str]


@dataclass(frozen=True)
class LabCompare:
    """A compare kind a lab defines (``COMPARES`` in its hooks): ``compare(value, want, check, submission)`` returns
    ``(ok, reason)`` like the generic kinds, and is as total (hostile values give a verdict, never an exception).

    ``criteria``: the values its checks' ``criterion:`` may take (empty: the option is refused).
    ``needs_submission``: it reads the handed-in assignment folder (``submission``), so it can only be decided at
    grading, never by an instant check.
    """

    compare: Callable[[Any, Any, Any, Path | None], Verdict]
    criteria: tuple[str, ...] = ()
    needs_submission: bool = False


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

    def key_facts(self, trainee: str, secret: str) -> dict[str, dict[str, Any]]:
        """What ``key_facts`` adds to ``trainee``'s key ({} when the module defines none)."""
        hook = self._hook("key_facts")
        if hook is None:
            return {}
        facts = hook(self.seed(trainee, secret))
        if not isinstance(facts, dict) or not all(isinstance(k, str) and isinstance(v, dict) for k, v in facts.items()):
            raise DflabError("key_facts() must return {section: {fact: value}}", str(self.path))
        return facts

    def materials(self, case: Any, exhibits: dict[str, str], out_dir: Path) -> dict[str, dict[str, Any]] | None:
        """Run ``materials`` into ``out_dir``: the key facts it returns (None when the module defines no such hook)."""
        hook = self._hook("materials")
        if hook is None:
            return None
        facts = hook(case, dict(exhibits), out_dir)
        if not isinstance(facts, dict) or not all(isinstance(k, str) and isinstance(v, dict) for k, v in facts.items()):
            raise DflabError("materials() must return {section: {fact: value}}", str(self.path))
        return facts

    @property
    def compares(self) -> dict[str, LabCompare]:
        """The lab's own compare kinds ({} when it defines none)."""
        found = getattr(self._module, COMPARES, None) if self._module is not None else None
        if found is None:
            return {}
        if not isinstance(found, dict) or not all(isinstance(k, str) and isinstance(v, LabCompare)
                                                  for k, v in found.items()):
            raise DflabError(f"{COMPARES} must map names to dflab.lab_hooks.LabCompare", str(self.path))
        return found

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


RESERVED_SECTIONS = ("disk", "memory", "network")  # the evidence's own facts (dflab.evidence.key)


def labs_key_facts(labs_dir: Path, trainee: str, secret: str) -> dict[str, dict[str, Any]]:
    """What the hooks of every lab under ``labs_dir`` add to ``trainee``'s key (``key_facts``), by section.

    Every lab's, not one's: a variant is built once for a course that may hold several labs, and a lab added later
    must find its facts in the keys already built. Two labs claiming one section, or an evidence section, is the
    labs' error.
    """
    from dflab.lab_meta import LAB_FILE, load_lab  # lab_meta reads YAML; not needed by hooks users that never build

    facts: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}
    for lab_file in sorted(labs_dir.glob(f"*/{LAB_FILE}")):
        meta = load_lab(labs_dir, lab_file.parent.name)
        if not meta.hooks:
            continue
        for section, values in hooks_at(lab_file.parent / meta.hooks).key_facts(trainee, secret).items():
            if section in RESERVED_SECTIONS or section in owner:
                raise DflabError(f"key_facts() section {section!r} is already "
                                 f"{owner.get(section, 'the evidence')}'s", str(lab_file.parent / meta.hooks))
            facts[section], owner[section] = values, f"lab {meta.id}"
    return facts


def labs_materials(labs_dir: Path, case: Any, exhibits: dict[str, str], evidence_dir: Path,
                   taken: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Run the ``materials`` hook of every lab under ``labs_dir`` for one variant: each writes into
    ``evidence_dir/<lab id>/`` and returns its key facts, by section (``taken``: sections ``key_facts`` already
    fills). Every lab's, for the reason :func:`labs_key_facts` gives; a folder left empty is removed."""
    from dflab.lab_meta import LAB_FILE, load_lab

    facts: dict[str, dict[str, Any]] = {}
    owner = dict.fromkeys(taken, "key_facts()")
    for lab_file in sorted(labs_dir.glob(f"*/{LAB_FILE}")):
        meta = load_lab(labs_dir, lab_file.parent.name)
        hooks = hooks_at(lab_file.parent / meta.hooks) if meta.hooks else None
        if hooks is None or hooks.module is None or not callable(getattr(hooks.module, "materials", None)):
            continue
        out = evidence_dir / meta.id
        out.mkdir()
        written = hooks.materials(case, exhibits, out) or {}
        if not any(out.iterdir()):
            out.rmdir()
        for section, values in written.items():
            if section in RESERVED_SECTIONS or section in owner:
                raise DflabError(f"materials() section {section!r} is already "
                                 f"{owner.get(section, 'the evidence')}'s", str(hooks.path))
            facts[section], owner[section] = values, f"lab {meta.id}"
    return facts


@functools.cache
def hooks_at(path: Path) -> LabHooks:
    """The hooks file at ``path``, loaded once per process (a cohort's builds and a course's grading reuse it)."""
    return LabHooks(path)


def _load(path: Path) -> ModuleType:
    """Import the hooks file at ``path`` under a name of its own (two labs' hooks never collide)."""
    if not path.is_file():
        raise DflabError("hooks file not found (lab.yaml `hooks:`)", str(path))
    name = "dflab_lab_hooks_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DflabError("cannot load the hooks file", str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as import does: dataclasses and pickling look their module up by name
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in the lab folder
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise DflabError(f"hooks file does not compile: {exc.msg}", f"{path}:{exc.lineno}") from exc
    except ImportError as exc:
        sys.modules.pop(name, None)
        raise DflabError(f"hooks file cannot import what it needs: {exc}", str(path)) from exc
    finally:
        sys.dont_write_bytecode = writes_bytecode
    return module
