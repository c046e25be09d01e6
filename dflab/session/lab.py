"""What a session hands out from a lab directory: the scenario its evidence comes from and the files
copied into every trainee's workspace."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from dflab.atomic import atomic_dir
from dflab.errors import DflabError, read_user_text

LAB_META = "lab.yaml"


@dataclass(frozen=True)
class Lab:
    directory: Path
    id: str
    scenario: Path  # the spec every trainee's evidence variant is built from
    seed_files: tuple[Path, ...]  # relative to ``directory``


def load_lab(directory: Path, scenario: Path | None = None) -> Lab:
    """Read ``directory`` (a lab folder with lab.yaml, or any folder of notebooks with ``scenario`` given).

    The scenario named in lab.yaml is looked up in the sibling ``scenarios/`` folder, the layout of
    ``labs/``. Every file is handed to trainees except the instructor's ``source:`` notebook (it holds
    the solutions nbgrader strips from the released copy).
    """
    if not directory.is_dir():
        raise DflabError("lab directory not found", str(directory))
    meta: dict[str, object] = {}
    if (directory / LAB_META).is_file():
        loaded = yaml.safe_load(read_user_text(directory / LAB_META, "lab metadata"))
        if not isinstance(loaded, dict):
            raise DflabError("lab metadata must be a mapping", str(directory / LAB_META))
        meta = loaded
    if scenario is None:
        if "scenario" not in meta:
            raise DflabError("no scenario: the lab has no lab.yaml naming one; pass --scenario SPEC", str(directory))
        scenario = directory.parent / "scenarios" / f"{meta['scenario']}.yaml"
    if not scenario.is_file():
        raise DflabError("scenario spec not found", str(scenario))
    hidden = {str(meta["source"])} if "source" in meta else set()
    files = tuple(sorted(p.relative_to(directory) for p in directory.rglob("*")
                         if p.is_file() and p.relative_to(directory).as_posix() not in hidden
                         and not any(part.startswith(".") for part in p.relative_to(directory).parts)))
    return Lab(directory, str(meta.get("id", directory.name)), scenario, files)


def write_seed(lab: Lab, dest: Path) -> None:
    """Copy the lab's trainee files to ``dest`` (replaced as a whole, atomically)."""
    with atomic_dir(dest, replace=True) as tmp:
        for rel in lab.seed_files:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(lab.directory / rel, tmp / rel)
        # Readable by the container's uid 1000 whoever runs the session.
        tmp.chmod(0o755)
        for p in tmp.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
