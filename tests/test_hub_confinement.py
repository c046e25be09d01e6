"""What `dflab hub config` and the hub's spawn hook let reach a trainee's lab: never a link.

The release seeding every workspace is copied by the session's one copy (dflab.session.lab.copy_release), so a
link in it is refused in one line and no solution lands in the hub's seed files.  A trainee's evidence is checked
(dflab/provision/evidence_share.py) before its modes are set, which never go through a link, and again by the
rendered config's pre-spawn hook at every spawn: a link planted after `hub config` stops that trainee's spawn.
The hook is the one a real JupyterHub loads: the rendered jupyterhub_config.py, read by traitlets' own loader.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from types import SimpleNamespace

import pytest
from traitlets.config.loader import PyFileConfigLoader

from dflab.hub.runtime import remove_hub_objects
from dflab.provision.workspace_disk import SIZE_ENV
from tests import docker_fixtures
from tests.test_hub import invoke
from tests.test_hub_config import run_dflab

pytestmark = pytest.mark.xdist_group(name=docker_fixtures.XDIST_GROUP)

LAB = "02-disk"
TRAINEES = ("alice", "bob")


def _course(root: Path) -> tuple[Path, Path]:
    """A course as `dflab hub config` reads it (the release of LAB, each trainee's variant); and its roster."""
    course = root / "course"
    release = course / "release" / LAB
    release.mkdir(parents=True)
    (release / f"{LAB}.ipynb").write_text("{}\n", encoding="utf-8")
    (course / "source" / LAB).mkdir(parents=True)
    (course / "source" / LAB / "key.json").write_text('{"answer": 42}\n', encoding="utf-8")
    for trainee in TRAINEES:
        evidence = course / "evidence" / trainee / "evidence"
        evidence.mkdir(parents=True)
        (evidence / "manifest.json").write_text("{}", encoding="utf-8")
        (evidence / "disk.img").write_bytes(b"disk of " + trainee.encode())
    roster = root / "roster.csv"
    roster.write_text("id\n" + "".join(f"{t}\n" for t in TRAINEES), encoding="utf-8")
    return course, roster


def _config_args(course: Path, roster: Path, state: Path, *more: str) -> tuple[str, ...]:
    return ("hub", "config", "--roster", str(roster), "--course", str(course), "--lab", LAB,
            "--state-dir", str(state), *more)


def test_a_link_in_the_release_never_puts_the_solution_in_the_hubs_seed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    course, roster = _course(tmp_path)
    link = course / "release" / LAB / "key.json"
    link.symlink_to(course / "source" / LAB / "key.json")
    code, err = run_dflab(capsys, monkeypatch, *_config_args(course, roster, tmp_path / "state"))
    assert code != 0
    assert err.strip() == f"dflab: error: {link}: a release may not hold a symbolic link; nothing was handed out"
    assert not list((tmp_path / "state").rglob("key.json")), "the solution reached the hub's seed files"


def test_a_link_in_a_trainees_evidence_is_refused_and_opens_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    course, roster = _course(tmp_path)
    private = tmp_path / "instructor-only.key"
    private.write_text("secret\n", encoding="utf-8")
    private.chmod(0o600)
    link = course / "evidence" / "alice" / "evidence" / "notes.txt"
    link.symlink_to(private)
    code, err = run_dflab(capsys, monkeypatch, *_config_args(course, roster, tmp_path / "state"))
    assert code != 0
    assert err.strip().startswith(f"dflab: error: {link}: is a symbolic link in a trainee's evidence: refused")
    assert "\n" not in err.strip()
    assert private.stat().st_mode & 0o777 == 0o600, "hub config made the link's target readable by everyone"


def test_the_rendered_hub_refuses_a_spawn_whose_evidence_got_a_link_after_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    course, roster = _course(tmp_path)
    state, name = tmp_path / "state", f"c{secrets.token_hex(4)}"
    invoke(*_config_args(course, roster, state, "--name", name))
    alice = course / "evidence" / "alice" / "evidence"
    assert (alice / "disk.img").stat().st_mode & 0o777 == 0o444 and alice.stat().st_mode & 0o777 == 0o555
    monkeypatch.setenv(SIZE_ENV, "0")  # the hook's workspace half is tests/test_hub.py's; here only the evidence
    try:
        config = PyFileConfigLoader("jupyterhub_config.py", str(state)).load_config()  # as `jupyterhub -f` does
        hook = config.Spawner.pre_spawn_hook
        hook(SimpleNamespace(user=SimpleNamespace(name="alice")))  # a clean variant spawns
        alice.chmod(0o755)
        (alice / "disk.img").unlink()
        (alice / "disk.img").symlink_to(course / "evidence" / "bob" / "evidence" / "disk.img")
        alice.chmod(0o555)
        with pytest.raises(RuntimeError) as refused:
            hook(SimpleNamespace(user=SimpleNamespace(name="alice")))
        assert str(refused.value).startswith(f"{alice / 'disk.img'}: is a symbolic link in a trainee's evidence")
        hook(SimpleNamespace(user=SimpleNamespace(name="bob")))  # the others still spawn
    finally:
        remove_hub_objects(name)
        for folder, _, _ in os.walk(course):
            os.chmod(folder, 0o755)
