"""``dflab scenario new NAME``: write a commented starting spec that is valid as written.

The spec comes from a package data file (``templates/starter.yaml``) with NAME substituted, so course teams
edit YAML they can read rather than Python. It is smaller than Nightjar but has every section (one suspect
host, a user, a short timeline, a disk with a root volume and a few files, memory, network, variables and
answers) and comments that say which values each field allows; ``tests/test_scenario_new.py`` holds those
comments to the schema in :mod:`dflab.scenario.spec`, and proves the file validates and builds.

The text is checked with the real loader before anything is written, and written atomically: a bad NAME, an
existing file (without ``--force``) or a failure leaves nothing behind.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

from dflab.atomic import atomic_file
from dflab.errors import DflabError

PLACEHOLDER = "__NAME__"
TEMPLATE = "starter.yaml"
# A scenario id, as the spec's `scenario:` field allows it (dflab.scenario.spec.ID); labs name their case by it
# and find it at labs/scenarios/<id>.yaml, so the file is named after it too.
NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
SCENARIOS_DIR = Path("labs") / "scenarios"


def template_text() -> str:
    """The starter template as shipped in the package (NAME not yet substituted)."""
    return resources.files("dflab.scenario").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")


def check_name(name: str) -> str:
    """``name`` if it can be a scenario id and a file name, else a one-line :class:`DflabError`."""
    if NAME.fullmatch(name):
        return name
    suggestion = re.sub(r"[^a-z0-9_-]+", "-", name.removesuffix(".yaml").removesuffix(".yml").lower()).strip("-_")
    hint = f" (try: {suggestion})" if NAME.fullmatch(suggestion) else ""
    raise DflabError(f"{name!r} is not a scenario name{hint}: a scenario name is a lowercase letter, then lowercase "
                     "letters, digits, '-' or '_', at most 40 characters (it names the file NAME.yaml)",
                     "scenario new")


def starter_text(name: str) -> str:
    """The starting spec for scenario ``name``, checked with the real loader (a broken template is a bug)."""
    from dflab.scenario.load import parse_spec

    text = template_text().replace(PLACEHOLDER, check_name(name))
    parse_spec(text, f"{name}.yaml")
    return text


def default_dir(cwd: Path | None = None) -> Path:
    """``labs/scenarios`` when the current directory has one (a dflab checkout or course tree: where labs look
    for their case), else the current directory."""
    here = cwd if cwd is not None else Path()
    return here / SCENARIOS_DIR if (here / SCENARIOS_DIR).is_dir() else here


def write_starter(name: str, directory: Path | None = None, *, force: bool = False) -> Path:
    """Write ``<directory>/<name>.yaml`` atomically and return its path; refuse to replace one without ``force``."""
    text = starter_text(name)
    target = (directory if directory is not None else default_dir()) / f"{name}.yaml"
    if target.is_dir():
        raise DflabError("is a directory", str(target))
    if (target.exists() or target.is_symlink()) and not force:
        raise DflabError("already exists (use --force to replace it)", str(target))
    umask = os.umask(0)
    os.umask(umask)
    with atomic_file(target) as fh:
        fh.write(text.encode("utf-8"))
        os.fchmod(fh.fileno(), 0o666 & ~umask)  # an ordinary file the team shares, not mkstemp's 0600
    return target
