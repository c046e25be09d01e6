"""A lab whose trainees hand in files beside the notebook (lab 06's E01) says how much in its lab.yaml
(``grading.hand_in_mib``): `dflab grade`'s check and its worker's private copy allow that much for that lab only,
every other lab keeps the 50 MiB default, and the grading sandbox's private folder grows to hold it. A course laid
out by hand (the course's copy of the lab's metadata and notebook, one trainee's evidence stand-ins): no evidence is
built, nothing is graded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from dflab.errors import DflabError
from dflab.grading.course import COURSE_IGNORE
from dflab.grading.sandbox import base
from dflab.grading.validate import LIMITS, LabShape, Refused, copy_submission, lab_limits, validate
from dflab.lab_meta import parse_lab
from dflab.provision.trainee_container import Limits
from tests.labkit import ROOT

LAB = "06-acquire"
MiB = 1 << 20


def _course(tmp_path: Path, hand_in_mib: int | None) -> Path:
    """A course holding lab 06 (its lab.yaml with ``hand_in_mib``, or without it: None) and alice's stand-ins."""
    root = tmp_path / "course"
    source = root / "source" / LAB
    source.mkdir(parents=True)
    meta = yaml.safe_load((ROOT / "labs" / LAB / "lab.yaml").read_text(encoding="utf-8"))
    meta.pop("requires")  # as `dflab course init` copies it
    if hand_in_mib is None:
        meta["grading"].pop("hand_in_mib")
    else:
        meta["grading"]["hand_in_mib"] = hand_in_mib
    (source / "lab.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True), encoding="utf-8")
    shutil.copy(ROOT / "labs" / LAB / "source.ipynb", source / f"{LAB}.ipynb")
    for kind, name in (("evidence", "manifest.json"), ("key", "answer_key.json")):
        (root / "evidence" / "alice" / kind).mkdir(parents=True)
        (root / "evidence" / "alice" / kind / name).write_text("{}", encoding="utf-8")
    return root


def _hand_in(root: Path, e01_mib: int) -> None:
    """alice's submission: the lab's notebook and an acquisition folder with an E01 of ``e01_mib`` MiB (sparse)."""
    dest = root / "submitted" / "alice" / LAB
    (dest / "acquisition").mkdir(parents=True)
    shutil.copy(root / "source" / LAB / f"{LAB}.ipynb", dest / f"{LAB}.ipynb")
    with (dest / "acquisition" / "suspect-drive.E01").open("wb") as fh:
        fh.truncate(e01_mib * MiB)


def _verdict(root: Path) -> str:
    return validate(root, "alice", LabShape.from_source(root, LAB), {"alice"}, COURSE_IGNORE).reason


def test_the_lab_shipped_asks_for_room_for_its_e01() -> None:
    meta = parse_lab((ROOT / "labs" / LAB / "lab.yaml").read_text(encoding="utf-8"), "lab.yaml")
    assert meta.grading.hand_in_mib is not None and meta.grading.hand_in_mib * MiB > LIMITS.submission_bytes


def test_a_hand_in_over_the_default_is_graded_where_the_lab_allows_it_and_refused_where_it_does_not(
        tmp_path: Path) -> None:
    allowed = _course(tmp_path / "allowed", 160)
    _hand_in(allowed, 100)
    assert lab_limits(allowed, LAB).submission_bytes == 160 * MiB
    assert _verdict(allowed) == ""
    copy_submission(allowed, "alice", LAB, tmp_path / "copy", COURSE_IGNORE, lab_limits(allowed, LAB))
    assert (tmp_path / "copy" / "acquisition" / "suspect-drive.E01").stat().st_size == 100 * MiB

    default = _course(tmp_path / "default", None)
    _hand_in(default, 100)
    assert lab_limits(default, LAB) == LIMITS
    assert _verdict(default) == ("submission too large: 100 MiB (acquisition/suspect-drive.E01), the limit is 50 MiB "
                                 "(clear the outputs and resubmit)")
    with pytest.raises(Refused, match="submission too large: 100 MiB"):
        copy_submission(default, "alice", LAB, tmp_path / "copy2", COURSE_IGNORE, lab_limits(default, LAB))

    over = _course(tmp_path / "over", 160)
    _hand_in(over, 170)
    assert _verdict(over).startswith("submission too large: 170 MiB (acquisition/suspect-drive.E01), the limit is "
                                     "160 MiB")


def test_the_sandbox_private_folder_holds_the_larger_hand_in_and_its_remake() -> None:
    assert base.private_bytes(Limits()) == base.private_bytes(Limits(hand_in_bytes=LIMITS.submission_bytes))
    assert base.private_bytes(Limits(hand_in_bytes=160 * MiB)) == base.private_bytes(Limits()) + 2 * 110 * MiB


@pytest.mark.parametrize("value", [0, 1025, "lots"])
def test_a_hand_in_size_out_of_range_is_one_line_naming_the_field(tmp_path: Path, value: object) -> None:
    root = _course(tmp_path, 160)
    path = root / "source" / LAB / "lab.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("hand_in_mib: 160", f"hand_in_mib: {value}"),
                    encoding="utf-8")
    with pytest.raises(DflabError) as caught:
        lab_limits(root, LAB)
    assert "hand_in_mib" in str(caught.value) and "\n" not in str(caught.value)
