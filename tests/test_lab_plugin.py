"""A lab is a plug-in (issue 15): the generic packages name no lab, and a lab's extras come from its own folder.

The grep is over the source of the generic packages: provision, session, evidence, grading. Lab 01's live suspect
runs through its folder's hooks (labs/01-live/hooks.py) and the generic ``Backend.exec``; the two places where the
generic packages still reach lab 01's own code are listed below by file, so a new one fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dflab.errors import DflabError
from dflab.lab_hooks import LabHooks
from dflab.provision.base import ExecResult, TraineeEnv
from dflab.provision.local_backend import LocalBackend

ROOT = Path(__file__).resolve().parents[1]
GENERIC = ("provision", "session", "evidence", "grading", "checker", "dashboard")
LAB_IDS = sorted(p.parent.name for p in (ROOT / "labs").glob("*/lab.yaml"))
# What names one lab: its id, its folder's code (dflab.live is lab 01's), its subject.
LAB_NAMES = re.compile("|".join([*map(re.escape, LAB_IDS), r"dflab\.live\b", r"\bsuspect_(?:seed|running)\b",
                                 r"\b(?:start|stop)_suspect\b", r"\blive_suspect\b"]))
# Still to move (issue 15): the answer key's `facts.live` section is drawn with the evidence, and lab 01's case-folder
# grading is a compare kind of the generic checks. Each entry: file -> the names it may hold.
KNOWN: dict[str, set[str]] = {}  # none left: lab 01's key facts and compare kind are its hooks' (dflab/lab_hooks.py)


def _named(path: Path) -> set[str]:
    return set(LAB_NAMES.findall(path.read_text(encoding="utf-8")))


def test_the_generic_packages_name_no_lab() -> None:
    # Every lab, whatever its platform: lab 08 (Windows) is named by no generic module either.
    assert LAB_IDS == ["01-live", "02-disk", "03-memory", "04-network", "05-capstone", "06-acquire",
                      "07-review", "08-windows"]
    found = {}
    for package in GENERIC:
        for path in sorted((ROOT / "dflab" / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if names := _named(path) - KNOWN.get(rel, set()):
                found[rel] = sorted(names)
    assert found == {}


def test_the_grep_finds_a_planted_lab_name(tmp_path: Path) -> None:
    """The check above can fail: a lab's id or its code named in a generic module is found."""
    planted = tmp_path / "planted.py"
    planted.write_text('if lab.id == "03-memory":\n    from dflab.live import suspect\n'
                       'WINDOWS = "08-windows"\n', encoding="utf-8")
    assert _named(planted) == {"03-memory", "dflab.live", "08-windows"}


def test_hooks_come_from_the_lab_folder_and_a_broken_file_is_one_line(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks.py"
    hooks.write_text("def seed(trainee, secret):\n    return (trainee + secret).encode()\n\n"
                     "def post_start(lab):\n    raise __import__('dflab.errors').errors.DflabError('no disk')\n",
                     encoding="utf-8")
    loaded = LabHooks(hooks)
    assert loaded.seed("alice", "s") == b"alices"
    assert loaded.post_start(LocalBackend(tmp_path, tmp_path), TraineeEnv("alice", "t", tmp_path), None) == "no disk"
    assert loaded.pre_stop(LocalBackend(tmp_path, tmp_path), TraineeEnv("alice", "t", tmp_path), None) == ""
    assert LabHooks(None).seed("alice", "s") is None and not LabHooks(None).declared
    hooks.write_text("def post_start(lab)\n    pass\n", encoding="utf-8")
    with pytest.raises(DflabError, match=rf"^{re.escape(str(hooks))}:1: hooks file does not compile"):
        LabHooks(hooks)
    with pytest.raises(DflabError, match="hooks file not found"):
        LabHooks(tmp_path / "nope.py")


def test_a_lab_with_hooks_gets_no_command_from_a_lab_that_does_not_run(tmp_path: Path) -> None:
    """Backend.exec on a trainee whose lab is not running answers -1 and why, and runs nothing."""
    result = LocalBackend(tmp_path, tmp_path).exec(TraineeEnv("alice", "t", tmp_path), ["touch", str(tmp_path / "x")])
    assert result == ExecResult(-1, "", "its lab is not running")
    assert not (tmp_path / "x").exists()


def test_a_hooks_file_loads_as_a_module_and_leaves_nothing_in_its_folder(tmp_path: Path) -> None:
    """A hooks file is imported as a module would be (a dataclass under postponed annotations looks its module
    up in sys.modules) and writes no __pycache__ into the lab folder: the folder is what a lab hands out."""
    hooks = tmp_path / "hooks.py"
    hooks.write_text("from __future__ import annotations\nfrom dataclasses import dataclass\n\n\n@dataclass\n"
                     "class Row:\n    name: str\n\n\ndef key_facts(seed):\n"
                     "    return {'mine': {'row': Row('x').name}}\n",
                     encoding="utf-8")
    loaded = LabHooks(hooks)
    assert loaded.key_facts("alice", "secret") == {"mine": {"row": "x"}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hooks.py"]
