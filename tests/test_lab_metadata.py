"""lab.yaml: one strict model (dflab.lab_meta) every part reads through; each mistake one line at file:line.

Also ``evidence:``: what each lab hands out."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from dflab.errors import DflabError
from dflab.lab_meta import load_lab, parse_answers

LABS = Path(__file__).resolve().parents[1] / "labs"
FILE_KIND = {"disk.img": "disk", "memory.lime": "memory", "memory.raw": "memory", "network.pcap": "network",
             "network.pcapng": "network"}


@pytest.mark.parametrize("lab", sorted(p.name for p in LABS.iterdir() if (p / "lab.yaml").is_file()))
def test_every_evidence_file_a_lab_notebook_opens_is_of_a_kind_it_declares(lab: str) -> None:
    meta = load_lab(LABS, lab)
    opened = set(re.findall(r"\b(disk\.img|memory\.(?:lime|raw)|network\.pcap(?:ng)?)\b",
                            (LABS / lab / meta.source).read_text(encoding="utf-8")))
    assert {FILE_KIND[name] for name in opened} <= set(meta.evidence), lab
    assert meta.evidence[0] == "disk"


def test_no_evidence_field_means_every_kind(tmp_path: Path) -> None:
    shutil.copytree(LABS / "02-disk", tmp_path / "02-disk")
    path = tmp_path / "02-disk" / "lab.yaml"
    path.write_text(re.sub(r"(?m)^evidence:.*\n", "", path.read_text(encoding="utf-8")), encoding="utf-8")
    assert load_lab(tmp_path, "02-disk").evidence == ("disk", "memory", "network")


def _edited(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """Lab 02 copied with the first line matching ``old`` (a regex) replaced by ``new``; its path and line number."""
    shutil.copytree(LABS / "02-disk", tmp_path / "02-disk")
    path = tmp_path / "02-disk" / "lab.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if re.search(old, line))
    lines[index] = re.sub(old, new, lines[index])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, index + 1


@pytest.mark.parametrize(("old", "new", "message"), [
    (r"^evidence:.*$", "evidence: [disk, registry]",
     "evidence: unknown evidence kind 'registry' (choose from disk, memory, network, materials)"),
    (r"^evidence:.*$", "evidence: disk", "evidence: Input should be a valid tuple"),
    (r"^notebook:.*$", "notebook: 02-disk.ipynb\nnotebok: x.ipynb", "notebok: unknown field"),  # a typo never passes
    (r"^notebook:.*$", "notebook: ../02-disk.ipynb",
     "notebook: a file name in the lab folder (letters, digits, . _ -; no folders)"),
    (r"^  root_fs: .*$", "  root_fs: {shape: text, length: 4}", "answers.root_fs: length applies to hex "
                                                                "answers only"),
    (r"^  root_fs: .*$", "  root_fs: {shape: colour}",
     "answers.root_fs.shape: must be one of 'text', 'hex', 'int', 'number', 'path', 'time' or 'list'"),
])
def test_a_mistake_is_one_line_at_its_file_and_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    path, line = _edited(tmp_path, old, new)
    if "notebok" in new:
        line += 1
    with pytest.raises(DflabError) as err:
        load_lab(tmp_path, "02-disk")
    assert str(err.value) == f"{path}:{line}: {message}"


def test_steps_may_name_only_declared_answers_and_standards(tmp_path: Path) -> None:
    path, _ = _edited(tmp_path, r"answers: \[partition_table", "answers: [partition_tabel")
    steps = 2 + path.read_text(encoding="utf-8").splitlines().index("steps:")  # its first item's line
    with pytest.raises(DflabError) as err:
        load_lab(tmp_path, "02-disk")
    assert str(err.value) == (f"{path}:{steps}: steps: step 'partitions' names answer 'partition_tabel', which "
                              "answers: does not list")


def test_the_folder_name_is_the_id(tmp_path: Path) -> None:
    shutil.copytree(LABS / "02-disk", tmp_path / "02-copy")
    with pytest.raises(DflabError, match=r"id: '02-disk' does not match the folder name '02-copy'"):
        load_lab(tmp_path, "02-copy")


def test_the_kernel_reads_only_the_answers_with_the_same_rules() -> None:
    rules = parse_answers("title: anything\nanswers:\n  h: {shape: hex, length: 64}\n  n: {shape: int}\n", "lab.yaml")
    assert rules == {"h": {"shape": "hex", "length": 64}, "n": {"shape": "int"}}
    with pytest.raises(DflabError, match=r"^lab\.yaml:2: answers: Dictionary should have at least 1 item"):
        parse_answers("title: x\nanswers: {}\n", "lab.yaml")


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
