"""The handout is the release copied for trainees; a link in a release is refused, never followed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dflab.errors import DflabError
from dflab.session.lab import load_lab, write_handout
from tests.labkit import ROOT


def _released(session: Path, lab_id: str = "02-disk") -> Path:
    lab = load_lab(ROOT / "labs" / lab_id)
    release = session / "release" / lab.id
    release.mkdir(parents=True)
    (release / lab.notebook).write_text("{}", encoding="utf-8")
    (release / "data").mkdir()
    (release / "data" / "notes.txt").write_text("hello", encoding="utf-8")
    return release


def test_a_release_is_handed_out_as_plain_readable_files(tmp_path: Path) -> None:
    _released(tmp_path)
    handout = write_handout(tmp_path, load_lab(ROOT / "labs" / "02-disk"))
    copied = handout / "02-disk" / "data" / "notes.txt"
    assert copied.read_text(encoding="utf-8") == "hello" and copied.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("where", ["data/key.json", "data"])
def test_a_link_in_a_release_is_one_line_and_nothing_is_handed_out(tmp_path: Path, where: str) -> None:
    release = _released(tmp_path)
    secret = tmp_path / "instructor-only.json"
    secret.write_text('{"answer": 42}', encoding="utf-8")
    link = release / where
    if link.is_dir():
        (link / "notes.txt").unlink()
        link.rmdir()
    link.symlink_to(secret if where.endswith(".json") else tmp_path)
    with pytest.raises(DflabError) as raised:
        write_handout(tmp_path, load_lab(ROOT / "labs" / "02-disk"))
    assert "symbolic link" in str(raised.value) and str(raised.value.where) == str(link)
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "handout" / "02-disk").exists()


def test_a_link_planted_while_the_release_is_copied_is_refused_and_never_followed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is made on the copy, after it: a link added to the release between a check of the release and
    its copy is caught, and its target's mode is not changed through it (it stays the instructor's 0600)."""
    release = _released(tmp_path)
    secret = tmp_path / "instructor-only.json"
    secret.write_text('{"answer": 42}', encoding="utf-8")
    secret.chmod(0o600)
    real_copytree = shutil.copytree

    def copy_after_planting(src: Path, dst: Path, *args: object, **kwargs: object) -> object:
        planted = release / "data" / "key.json"
        if not planted.is_symlink():  # once, as if right after any check of the release (copytree recurses)
            planted.symlink_to(secret)
        return real_copytree(src, dst, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("dflab.session.lab.shutil.copytree", copy_after_planting)
    with pytest.raises(DflabError) as raised:
        write_handout(tmp_path, load_lab(ROOT / "labs" / "02-disk"))
    assert raised.value.where == str(release / "data" / "key.json") and "symbolic link" in str(raised.value)
    assert secret.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "handout" / "02-disk").exists()


def test_a_fifo_in_a_release_is_one_line(tmp_path: Path) -> None:
    release = _released(tmp_path)
    os.mkfifo(release / "data" / "pipe")
    with pytest.raises(DflabError) as raised:
        write_handout(tmp_path, load_lab(ROOT / "labs" / "02-disk"))
    message = str(raised.value)
    assert raised.value.where == str(release / "data" / "pipe") and "named pipe" in message
    assert "\n" not in message and "[(" not in message  # not shutil.Error's list of tuples
    assert not (tmp_path / "handout" / "02-disk").exists()

