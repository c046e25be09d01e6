"""Create an nbgrader course directory for a cohort: config, gradebook, lab source, per-trainee evidence, release.

Layout of a course made by :func:`init_course`::

    DIR/nbgrader_config.py            timeout, ClearSolutions, dflab's autograde pipeline, HTML sanitising
    DIR/.dflab-course.json            fingerprint of the course secret (a re-run must use the same one)
    DIR/gradebook.db                  nbgrader's gradebook, one student per roster line
    DIR/source/<lab>/                 the instructor's notebook (with solutions) + lab.yaml (without requires:)
    DIR/release/<lab>/                what trainees get (nbgrader generate_assignment), in English
    DIR/release-<lang>/<lab>/         the same in another language, for the roster's trainees in it (dflab.i18n)
    DIR/graders/<lab>.yaml            the lab's answer checks (a copy of labs/<lab>/grader.yaml)
    DIR/graders/<lab>.hooks.py        a copy of the lab's hooks, when it declares some (its own compare kinds)
    DIR/evidence/<trainee>/evidence/  each trainee's evidence (hand out read-only)
    DIR/evidence/<trainee>/key/       each trainee's answer key (never hand out)

Every step only writes what is missing or different, so running it twice
changes nothing, and adding trainees to the roster builds only theirs.
"""

from __future__ import annotations

import filecmp
import hashlib
import hmac
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy.exc
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import ClearSolutions
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from dflab.atomic import ensure_writable_dir, write_bytes
from dflab.errors import DflabError, EvidenceError
from dflab.evidence.kinds import CASE_KINDS, kinds_held
from dflab.evidence.manifest import load_manifest
from dflab.grading.checks import hooks_copy, load_checks
from dflab.grading.preprocessor import autograde_pipeline, html_preprocessors
from dflab.grading.sandbox.base import CELL_TIMEOUT_S, Limits
from dflab.grading.sandbox.docker_sandbox import DEFAULT_IMAGE
from dflab.i18n.lang import DEFAULT_LANG, localised
from dflab.lab_meta import GRADER_FILE, LAB_FILE, REPO, LabMeta, for_trainees, load_lab
from dflab.roster import Trainee, read_roster

CONFIG_FILE = "nbgrader_config.py"
SECRET_STAMP = ".dflab-course.json"
DEFAULT_LIMITS = Limits()
PYTHON_STUB = "# Optional (Python path): your code here"
COURSE_IGNORE = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "work"]  # work/: the notebook's exports


@dataclass
class InitResult:
    """What one ``init_course`` run changed (all empty on an idempotent re-run)."""

    root: Path
    written: list[str] = field(default_factory=list)
    students_added: list[str] = field(default_factory=list)
    evidence_built: list[str] = field(default_factory=list)
    released: bool = False


def code_stubs() -> dict[str, str]:
    """What a cleared solution cell holds in a release, per kernel language: nbgrader's defaults, but for Python
    :data:`PYTHON_STUB`. nbgrader's Python stub raises ``NotImplementedError``, which stops Run All at the first
    Python-path cell of a trainee who answered every step through its form; a comment does not, and the answer's
    locked test cell still records nothing (a NameError, scored 0) when neither form nor code set the answer."""
    return {**ClearSolutions.class_traits()["code_stub"].default(), "python": PYTHON_STUB}


def config_text(root: Path) -> str:
    """The course's ``nbgrader_config.py`` (deterministic: absolute paths only, no timestamps)."""
    pipeline = "".join(f"    {name!r},\n" for name in autograde_pipeline())
    return f'''# Written by `dflab course init`; re-running it rewrites this file.
c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.root = {str(root)!r}
c.CourseDirectory.ignore = {COURSE_IGNORE!r}

# Forensic cells hash and walk whole images: allow {CELL_TIMEOUT_S} s per cell.
c.Execute.timeout = {CELL_TIMEOUT_S}  # nbgrader's own Execute (validate; the unsafe stock pipeline)

# Released notebooks get a comment where the solution was (nbgrader's stubs for other languages unchanged): a
# trainee who answered through the forms and presses Run All runs past it, and an untouched answer is no answer.
c.ClearSolutions.code_stub = {code_stubs()!r}
c.ClearSolutions.enforce_metadata = True

# dflab grading: each submission runs in a sandbox (a fresh container of the trainee image when a Docker
# engine answers, else a confined local process) on its trainee's evidence only, read-only; answers are
# checked in the grader's process after execution, before nbgrader's SaveAutoGrades scores the cells
# (graders/README.md). What the submission produced is sanitised before the notebook is stored (formgrader and
# feedback render it as HTML: no script, event handler, javascript: link or SVG survives), and again by the HTML
# exporter formgrader and feedback render with.
c.Autograde.autograde_preprocessors = [
{pipeline}]
c.HTMLExporter.preprocessors = {html_preprocessors()!r}
c.SandboxedExecute.sandbox = "auto"  # or "docker", "local"
c.SandboxedExecute.image = {DEFAULT_IMAGE!r}
c.SandboxedExecute.evidence_root = {str(root / "evidence")!r}
c.SandboxedExecute.hide_paths = {[str(root), str(REPO / "labs")]!r}  # what the local sandbox covers
c.SandboxedExecute.timeout = {CELL_TIMEOUT_S}  # seconds per cell
c.SandboxedExecute.wall_s = {DEFAULT_LIMITS.wall_s!r}  # seconds per submission
c.SandboxedExecute.cpus = {DEFAULT_LIMITS.cpus!r}
c.SandboxedExecute.memory_bytes = {DEFAULT_LIMITS.memory_bytes}
c.SandboxedExecute.pids = {DEFAULT_LIMITS.pids}
c.SandboxedExecute.max_output_bytes = {DEFAULT_LIMITS.max_output_bytes}
c.TraineeEvidence.evidence_root = {str(root / "evidence")!r}  # used by the stock pipeline only
c.CheckAnswers.evidence_root = {str(root / "evidence")!r}
c.CheckAnswers.checks_dir = {str(root / "graders")!r}
'''


def course_config(root: Path) -> Config:
    """Load a course's ``nbgrader_config.py`` as nbgrader would."""
    if not (root / CONFIG_FILE).is_file():
        raise DflabError(f"no {CONFIG_FILE}: not a dflab course (run `dflab course init`)", str(root))
    return PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()


def tools_on_path() -> None:
    """Put this interpreter's ``bin/`` on PATH: nbgrader's gradebook runs the ``alembic`` command by name.

    Without it, using the venv's Python without activating the venv fails
    with "No such file or directory: 'alembic'" on first gradebook access.
    """
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])


def course_api(root: Path) -> NbGraderAPI:
    """nbgrader's Python API bound to the course at ``root`` with its config."""
    tools_on_path()
    config = course_config(root)
    return NbGraderAPI(CourseDirectory(config=config), config=config)


def _sync_file(src: Path, dest: Path, result: InitResult) -> None:
    if dest.is_file() and filecmp.cmp(src, dest, shallow=False):
        return
    write_bytes(dest, src.read_bytes())
    result.written.append(str(dest.relative_to(result.root)))


def _sync_text(text: str, dest: Path, result: InitResult) -> None:
    if dest.is_file() and dest.read_text(encoding="utf-8") == text:
        return
    write_bytes(dest, text.encode())
    result.written.append(str(dest.relative_to(result.root)))


def _secret_stamp(root: Path, secret: str) -> str:
    """A fingerprint of the course secret (not the secret) so a re-run with another secret fails loudly.

    Evidence is built once per trainee; a different secret would silently
    leave old variants next to a config that believes in new ones.
    """
    stamp = json.dumps({"secret_fingerprint": hmac.new(secret.encode(), b"dflab-course", hashlib.sha256)
                        .hexdigest()[:16]}, sort_keys=True) + "\n"
    path = root / SECRET_STAMP
    if path.is_file() and path.read_text(encoding="utf-8") != stamp:
        raise DflabError("this course was built with a different course secret; use the same --secret "
                         "(or $DFLAB_COURSE_SECRET) or a new directory", str(path))
    return stamp


def init_course(root: Path, roster: Path, lab: str, secret: str, *, labs_dir: Path = REPO / "labs",
                workers: int | None = None, build_evidence: bool = True, scenario: Path | None = None) -> InitResult:
    """Create or update the course at ``root`` for the trainees in ``roster`` and one ``lab``; see the module doc.

    ``build_evidence=False`` leaves missing variants to the caller (a session builds them while it starts
    labs), who must then share the evidence and protect the key as this function does. ``scenario``: build
    from this spec instead of the one the lab's lab.yaml names (`dflab lab check` on another case).
    """
    trainees = read_roster(roster)
    meta = load_lab(labs_dir, lab)
    spec = scenario or labs_dir / "scenarios" / f"{meta.scenario}.yaml"
    checks_file = labs_dir / lab / GRADER_FILE
    load_checks(checks_file)  # fail before any work on a broken check file
    root = ensure_writable_dir(root).resolve()
    result = InitResult(root)
    _sync_text(_secret_stamp(root, secret), root / SECRET_STAMP, result)

    _sync_text(config_text(root), root / CONFIG_FILE, result)
    from dflab.lab_prose import released_source  # the notebook's prose told from the case (dflab/lab_prose.py)

    _sync_text(released_source(labs_dir / lab, meta, spec), root / "source" / lab / meta.notebook, result)
    lab_file = labs_dir / lab / LAB_FILE  # released with the notebook: without requires: (lab_meta.for_trainees)
    _sync_text(for_trainees(lab_file.read_text(encoding="utf-8"), str(lab_file)), root / "source" / lab / LAB_FILE,
               result)
    _sync_file(checks_file, root / "graders" / f"{lab}.yaml", result)
    if meta.hooks:  # beside the check file, for the lab's own compare kinds (dflab.grading.checks.grader_hooks)
        _sync_file(labs_dir / lab / meta.hooks, hooks_copy(root / "graders", lab), result)

    missing = [t.id for t in trainees if not (root / "evidence" / t.id / "key" / "answer_key.json").is_file()]
    if missing and build_evidence:
        from dflab.evidence.build import build_cohort  # scapy and all: not for graders that only read the config

        # Every kind of evidence: a course may hold several labs, and each variant is built once for all of them.
        # Labs' materials (documents derived from the case, such as a court file) only for a lab that asks: they
        # are not evidence for the other labs, and may tell their story.
        kinds = CASE_KINDS + tuple(k for k in meta.evidence if k not in CASE_KINDS)
        build_cohort(spec, secret, missing, ensure_writable_dir(root / "evidence"), workers=workers,
                     kinds=kinds, labs_dir=labs_dir)
        result.evidence_built = missing
    _check_kinds_held(root, [t.id for t in trainees if t.id not in missing], lab, meta.evidence)
    for trainee in trainees:
        if trainee.id in missing and not build_evidence:
            continue  # the caller builds it (maybe right now), and shares and protects it
        share_evidence(root / "evidence" / trainee.id / "evidence")
        protect_key(root / "evidence" / trainee.id / "key")

    api = course_api(root)
    result.students_added = _add_students(api.coursedir.db_url, trainees)
    source_changed = any(w.startswith(f"source/{lab}/") for w in result.written)
    if source_changed or not (root / "release" / lab / meta.notebook).is_file():
        outcome = api.generate_assignment(lab, force=True, create=True)
        if not outcome["success"]:
            last = (outcome.get("error") or outcome.get("log") or "unknown error").strip().splitlines()[-1]
            raise DflabError(f"nbgrader generate_assignment failed: {last}", str(root / "source" / lab))
        result.released = True
    for lang in sorted({t.lang for t in trainees} - {DEFAULT_LANG}):  # English is release/<lab>/ itself
        _release_localised(root, labs_dir / lab, meta, spec, lang, result)
    return result


def _release_localised(root: Path, lab_dir: Path, meta: LabMeta, spec: Path, lang: str, result: InitResult) -> None:
    """``release-<lang>/<lab>/``: the English release with its text in ``lang`` (dflab/i18n/release.py), for the
    trainees whose roster line asks for it. Grading reads only the English release's cells, which this keeps."""
    from dflab.i18n.release import localise_release
    from dflab.i18n.scenario import localised_spec
    from dflab.lab_prose import lab_facts, render_notebook
    from dflab.scenario.load import load_spec

    release = root / "release" / lab_dir.name
    facts = lab_facts(lab_dir, localised_spec(spec, load_spec(spec), lang))  # the case's title and summary too

    def fill(text: str) -> str:
        filled, problems = render_notebook(text, facts, meta.source, meta.requires.roles())
        if problems:
            raise DflabError(problems[0][1], problems[0][0])
        return filled

    texts = {name: (release / name).read_text(encoding="utf-8") for name in (meta.notebook, LAB_FILE)
             if (release / name).is_file()}
    english = (root / "source" / lab_dir.name / meta.notebook).read_text(encoding="utf-8")
    target = localised(root / "release", lang) / lab_dir.name
    for name, text in localise_release(lab_dir, meta, texts, english, fill, lang).items():
        _sync_text(text, target / name, result)
    for other in sorted(p for p in release.rglob("*") if p.is_file()):
        if other.relative_to(release).as_posix() not in texts:
            _sync_file(other, target / other.relative_to(release), result)


def _check_kinds_held(root: Path, trainees: list[str], lab: str, kinds: tuple[str, ...]) -> None:
    """Refuse a lab whose evidence kinds a variant built earlier lacks (a session's variants hold only its lab's).

    Rebuilding would change the manifest other labs' trainees already hashed, so it is one clear line instead.
    """
    for trainee in trainees:
        evidence = root / "evidence" / trainee / "evidence"
        try:
            held = kinds_held(str(f.get("path", "")) for f in load_manifest(evidence)["files"] if isinstance(f, dict))
        except (EvidenceError, OSError):
            continue  # no readable manifest: the lab's own checks report missing or corrupt evidence
        lacking = [k for k in kinds if k not in held]
        if lacking:
            raise DflabError(f"lab {lab} needs {', '.join(lacking)} evidence, which this course's variant lacks "
                             "(it was built for a lab without it); use a new course directory", str(evidence))


def share_evidence(evidence: Path) -> None:
    """Make a trainee's evidence readable, not writable, by everyone (files 0644, directories 0755).

    Atomic writes create private (0600) files; the grading sandboxes run the
    submission under an unprivileged uid that must read its evidence.
    """
    if not evidence.is_dir():
        return
    evidence.chmod(0o755)
    for path in evidence.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


def protect_key(key_dir: Path) -> None:
    """Make a trainee's key directory readable by its owner only (0700, files 0600).

    The local grading sandbox runs submissions under another uid: besides
    hiding the course directory, the key must not be readable by it.
    """
    if not key_dir.is_dir():
        return
    key_dir.chmod(0o700)
    for path in key_dir.iterdir():
        if path.is_file() and not path.is_symlink():
            path.chmod(0o600)


def _add_students(db_url: str, trainees: list[Trainee]) -> list[str]:
    """Add roster trainees missing from the gradebook (what ``nbgrader db student add`` does)."""
    added = []
    try:
        with Gradebook(db_url) as gb:
            known = {s.id for s in gb.students}
            for t in trainees:
                if t.id in known:
                    continue
                first, _, last = t.name.partition(" ")
                gb.update_or_create_student(t.id, first_name=first or None, last_name=last or None,
                                            email=t.email or None)
                added.append(t.id)
    except sqlalchemy.exc.OperationalError as exc:  # a full disk, a read-only or locked gradebook file
        raise DflabError(f"cannot write the gradebook: {exc.orig}", db_url) from exc
    return added
