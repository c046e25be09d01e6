"""lab.yaml's ``evidence:``: what each lab hands out, read through the one loader every part uses."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from dflab.errors import DflabError
from dflab.lab_meta import load_lab

LABS = Path(__file__).resolve().parents[1] / "labs"
FILE_KIND = {"disk.img": "disk", "memory.lime": "memory", "memory.raw": "memory", "network.pcap": "network",
             "network.pcapng": "network"}


@pytest.mark.parametrize("lab", sorted(p.name for p in LABS.iterdir() if (p / "lab.yaml").is_file()))
def test_every_evidence_file_a_lab_notebook_opens_is_of_a_kind_it_declares(lab: str) -> None:
    meta = load_lab(LABS, lab)
    opened = set(re.findall(r"\b(disk\.img|memory\.(?:lime|raw)|network\.pcap(?:ng)?)\b",
                            (LABS / lab / meta["source"]).read_text(encoding="utf-8")))
    assert {FILE_KIND[name] for name in opened} <= set(meta["evidence"]), lab
    assert meta["evidence"][0] == "disk"


def test_no_evidence_field_means_every_kind(tmp_path: Path) -> None:
    shutil.copytree(LABS / "02-disk", tmp_path / "02-disk")
    path = tmp_path / "02-disk" / "lab.yaml"
    path.write_text(re.sub(r"(?m)^evidence:.*\n", "", path.read_text(encoding="utf-8")), encoding="utf-8")
    assert load_lab(tmp_path, "02-disk")["evidence"] == ("disk", "memory", "network")


@pytest.mark.parametrize(("value", "message"), [
    ("[disk, registry]", "evidence: unknown evidence kind 'registry' (choose from disk, memory, network)"),
    ("disk", "evidence: must be a list of evidence kinds (disk, memory, network)"),
])
def test_a_bad_evidence_field_is_one_clear_line(tmp_path: Path, value: str, message: str) -> None:
    shutil.copytree(LABS / "02-disk", tmp_path / "02-disk")
    path = tmp_path / "02-disk" / "lab.yaml"
    path.write_text(re.sub(r"(?m)^evidence:.*$", f"evidence: {value}", path.read_text(encoding="utf-8")),
                    encoding="utf-8")
    with pytest.raises(DflabError) as err:
        load_lab(tmp_path, "02-disk")
    assert str(err.value) == f"{path}: {message}"


def test_a_course_refuses_a_lab_whose_evidence_its_variants_lack(tmp_path: Path) -> None:
    """A session's variants hold only its lab's kinds; that folder cannot become lab 03's course silently."""
    from dflab.evidence.build import build_variant
    from dflab.grading.course import init_course
    from dflab.scenario.load import load_spec

    root = tmp_path / "course"
    build_variant(load_spec(LABS / "scenarios" / "nightjar.yaml"), "s3cret", "alice", root / "evidence" / "alice",
                  kinds=["disk"])
    roster = tmp_path / "roster.csv"
    roster.write_text("id\nalice\n")
    with pytest.raises(DflabError) as err:
        init_course(root, roster, "03-memory", "s3cret")
    assert str(err.value) == (f"{root / 'evidence' / 'alice' / 'evidence'}: lab 03-memory needs memory evidence, "
                              "which this course's variant lacks (it was built for a lab without it); "
                              "use a new course directory")
    init_course(root, roster, "02-disk", "s3cret")  # the disk lab it was built for is fine
