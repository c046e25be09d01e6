"""Lab 01's hooks (dflab/lab_hooks.py): the trainee's live suspect runs in their lab while the session does.

The suspect is `dflab live suspect` (dflab/live/), started in the trainee's lab as the trainee from a seed
that only this trainee's key also derives from (dflab.live.traits.suspect_seed; never the course secret). The
seed travels in the environment of a command that exits at once, never on a command line. Its files and
state go to ``$DFLAB_LAB_STATE`` when the backend gives one (local labs), else to the suspect's default
(``~/.cache/xdg-sync`` in the container, a tmpfs that allows exec).

The key's ``facts.live`` (``key_facts``) are the traits that seed gives the suspect, and ``live_collection`` (in
``COMPARES``) grades the case folder the trainee hands in against them (dflab.live.grading).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dflab.errors import DflabError
from dflab.grading.checks import unusable_path
from dflab.lab_hooks import LabCompare, LabContext
from dflab.live.cli import SEED_ENV
from dflab.live.criteria import CRITERIA
from dflab.live.traits import expected_traits, suspect_seed

# `dflab live suspect ...` without the rest of the dflab CLI: importing course, session and grading code (nbgrader,
# the docker SDK) costs a second of CPU in a 1-CPU lab, and the suspect needs none of it. The state folder, when
# the backend gives one, is passed on as the suspect's own setting.
LIVE_CLI = """
import os, sys
from dflab.errors import DflabError
from dflab.live.cli import STATE_ENV, live
if os.environ.get("DFLAB_LAB_STATE"):
    os.environ[STATE_ENV] = os.environ["DFLAB_LAB_STATE"]
try:
    live.main(["suspect", *sys.argv[1:]], prog_name="dflab live", standalone_mode=False)
except DflabError as exc:
    print(f"dflab: error: {exc}")
    sys.exit(exc.exit_code)
"""


def _suspect(lab: LabContext, command: str, environment: dict[str, str] | None = None):  # noqa: ANN202
    return lab.run(["python", "-I", "-c", LIVE_CLI, command], environment)


def seed(trainee: str, secret: str) -> bytes:
    return suspect_seed(trainee, secret)


def key_facts(seed: bytes | None) -> dict[str, dict[str, Any]]:
    """``facts.live``: the traits of the suspect this seed starts (no evidence file holds them)."""
    return {"live": expected_traits(seed)} if seed is not None else {}


def live_collection(value: Any, want: Any, check: Any, submission: Path | None) -> tuple[bool, str]:
    """The case folder handed in, graded on one criterion of dflab.live.grading, behind a guard for names no file
    can have and for handed-in files the grader cannot read: both are the submission's fault, a verdict."""
    from dflab.live.grading import check_collection  # pandas-heavy: only when a case folder is graded

    if isinstance(value, str) and unusable_path(value):
        return False, "the case directory must be a relative path inside your assignment folder"
    try:
        return check_collection(value, want, str(check.criterion), submission)
    except PermissionError:
        return False, "the case directory handed in cannot be read"


COMPARES = {"live_collection": LabCompare(live_collection, criteria=tuple(CRITERIA), needs_submission=True)}


def running(lab: LabContext) -> bool:
    """Whether every process of the trainee's suspect is alive."""
    status = _suspect(lab, "status")
    return status.code == 0 and status.out.splitlines()[:1] == ["running"]


def post_start(lab: LabContext) -> None:
    """Start the suspect unless it runs (a lab the engine brought back lost it)."""
    if running(lab):
        return
    if lab.seed is None:
        raise DflabError("no live-suspect seed recorded: run `dflab session start` with the course secret")
    started = _suspect(lab, "start", {SEED_ENV: lab.seed.hex()})
    if started.code != 0:
        reason = started.last_line() if started.code != -1 or started.err else "its lab is not running"
        raise DflabError(f"the live suspect did not start: {reason}")


def pre_stop(lab: LabContext) -> None:
    """Stop the suspect and remove its files (nothing when none runs)."""
    _suspect(lab, "stop")
