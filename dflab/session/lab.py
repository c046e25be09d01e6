"""What a session hands out from a lab directory: nbgrader's *released* copy of the lab, never its source.

A session directory is an nbgrader course made by :func:`dflab.grading.course.init_course` (config,
gradebook, ``source/``, ``release/``, per-trainee evidence and keys), so ``dflab grade`` reads what
``session collect`` writes. Trainees get ``handout/<lab id>/``: a copy of ``release/<lab id>/`` (the
notebook with solutions stripped, and lab.yaml), seeded once into each workspace as ``<lab id>/``,
the layout ``nbgrader fetch_assignment`` would give them.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from dflab.atomic import atomic_dir
from dflab.errors import DflabError
from dflab.i18n.lang import DEFAULT_LANG, LANGUAGES, localised
from dflab.lab_meta import read_lab

HANDOUT = "handout"


@dataclass(frozen=True)
class Lab:
    directory: Path
    id: str
    scenario: Path  # the spec every trainee's evidence variant is built from
    notebook: str  # the released notebook's file name
    hooks: Path | None  # lab.yaml `hooks:`: code run beside each trainee's lab (dflab/lab_hooks.py)
    evidence: tuple[str, ...]  # lab.yaml `evidence:`: the evidence kinds each trainee's variant holds


def load_lab(directory: Path, scenario: Path | None = None) -> Lab:
    """Read ``directory/lab.yaml`` (dflab.lab_meta: every mistake is one line naming file:line and field).

    ``scenario``: run the lab on this spec instead of the case its lab.yaml names (``--scenario``); the spec must
    hold every role the lab ``requires:`` (:func:`dflab.lab_requires.lab_problems`), else one line says what it
    lacks, at the spec's line.
    """
    if not directory.is_dir():
        raise DflabError("lab directory not found", str(directory))
    directory = directory.resolve()
    meta = read_lab(directory)
    if scenario is None:
        scenario = directory.parent / "scenarios" / f"{meta.scenario}.yaml"
    elif scenario.is_file():
        scenario = scenario.resolve()
        _check_fits(directory, scenario)
    if not scenario.is_file():
        raise DflabError("scenario spec not found", str(scenario))
    hooks = directory / meta.hooks if meta.hooks else None
    if hooks is not None and not hooks.is_file():
        raise DflabError(f"hooks: {meta.hooks} is not in the lab folder", str(directory / "lab.yaml"))
    return Lab(directory, meta.id, scenario, meta.notebook, hooks, meta.evidence)


def _check_fits(directory: Path, scenario: Path) -> None:
    """One line naming the first thing ``scenario`` lacks for the lab in ``directory`` (and how many more)."""
    from dflab.lab_requires import lab_problems  # the spec's schema: only when another case is asked for
    from dflab.scenario.load import load_spec

    problems = lab_problems(directory, load_spec(scenario), str(scenario))
    if problems:
        more = f" (and {len(problems) - 1} more: dflab scenario validate {scenario} --lab {directory})" \
            if len(problems) > 1 else ""
        raise DflabError(f"this case cannot run lab {directory.name}: {problems[0]}{more}", str(scenario))


def write_handout(session_dir: Path, lab: Lab) -> Path:
    """Copy ``release/<lab>/`` to ``handout/<lab>/`` (replaced as a whole, atomically); return ``handout/``.

    Only the released tree is copied: the source notebook (solutions), ``graders/`` and the keys stay
    in the course directory, which no trainee environment mounts. A release in another language
    (``release-fr/<lab>/``, dflab.i18n.release) is handed out the same way, as ``handout-fr/<lab>/``.
    """
    release = session_dir / "release" / lab.id
    if not (release / lab.notebook).is_file():
        raise DflabError(f"nbgrader released no {lab.notebook}", str(release))
    handout = session_dir / HANDOUT
    copy_release(release, handout / lab.id)
    for lang in LANGUAGES:
        if lang != DEFAULT_LANG and (localised(session_dir / "release", lang) / lab.id / lab.notebook).is_file():
            copy_release(localised(session_dir / "release", lang) / lab.id, localised(handout, lang) / lab.id)
    return handout


def copy_release(release: Path, dest: Path) -> None:
    """Copy nbgrader's released lab ``release`` to ``dest`` (replaced as a whole, atomically), readable by uid 1000.

    The one copy of a release to where a trainee's workspace is seeded from (``dflab session``'s handout and the
    hub's seed files).  A link in a release would hand a trainee whatever it names (a key, a file of the
    instructor's machine): nbgrader releases none, so one is a mistake in the course, said in one line.  The copy
    keeps links as links and is checked afterwards, in our own temporary folder: a link added to the release
    while it was copied is caught too, and nothing follows one (the modes are set with ``lstat`` and
    ``follow_symlinks=False``).  A FIFO or a device is refused the same way.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(dest, replace=True) as tmp:
        try:
            shutil.copytree(release, tmp, symlinks=True, dirs_exist_ok=True)
        except shutil.Error as exc:  # every file that failed, as a list: the first says what is wrong
            source, _, why = exc.args[0][0]
            raise DflabError(f"cannot be handed out ({why}); nothing was handed out", source) from None
        except OSError as exc:
            raise DflabError(f"cannot be handed out: {exc.strerror or exc}", str(exc.filename or release)) from None
        _readable_by_the_lab(tmp, release)
    dest.parent.chmod(0o755)


def _readable_by_the_lab(tree: Path, release: Path) -> None:
    """Folders 0755 and files 0644 in the copy ``tree`` of ``release``; a link or a special file is refused."""
    for folder, dirs, files in os.walk(tree):
        os.chmod(folder, 0o755, follow_symlinks=False)  # noqa: S103 (uid 1000 reads)
        for name in dirs + files:
            path = Path(folder, name)
            mode = os.lstat(path).st_mode
            where = str(release / path.relative_to(tree))
            if stat.S_ISLNK(mode):
                raise DflabError("a release may not hold a symbolic link; nothing was handed out", where)
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise DflabError("a release may hold only files and folders; nothing was handed out", where)
            if stat.S_ISREG(mode):
                os.chmod(path, 0o644, follow_symlinks=False)
