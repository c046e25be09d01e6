"""Copying a neighbour gains at most 10 % of any lab's points (issue 13, item 12).

For a cohort of trainees built from the bundled case, every graded answer of every lab (the test cells of
labs/<lab>/source.ipynb, checked as labs/<lab>/grader.yaml says) is taken from one trainee's key, typed in as that
trainee's value, and graded against another trainee's key with the grader's own comparison
(:func:`dflab.grading.checks.check_answer`: tolerances and case folding included). The share of a lab's
automatically graded points that such a copy earns, averaged over every ordered pair of trainees, is what a
trainee gains by copying a random neighbour; it must stay at or under 10 %.

Keys need the writers (inode numbers, partition offsets, capture and symbol table hashes come from writing the
evidence), so each trainee's variant is built for real, in a temporary folder. ``live_collection`` answers (lab 01)
grade a handed-in case folder, not a value: they count as shared when the key facts they are graded against are
equal. The instructor-graded narrative of lab 05 is left out of the total (it has no key value to copy).

The same builds also run lab 02's own solution cells for each drawn disk layout and archive container: the
drawn values must be read from the evidence, never assumed.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from dflab import labcheck
from dflab.evidence.build import build_variant
from dflab.grading.checks import load_checks, lookup
from dflab.scenario.load import load_spec

ROOT = Path(__file__).resolve().parents[1]
NIGHTJAR = ROOT / "labs" / "scenarios" / "nightjar.yaml"
LABS = ("01-live", "02-disk", "03-memory", "04-network", "05-capstone")
TRAINEES = [f"t{i:02d}" for i in range(20)]
SECRET = "answer-diversity"
MAX_SHARE = 0.10
pytestmark = pytest.mark.xdist_group("answer-diversity")  # one worker builds the cohort once


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    spec, root = load_spec(NIGHTJAR), tmp_path_factory.mktemp("cohort")
    return {t: build_variant(spec, SECRET, t, root / t).out for t in TRAINEES}


@pytest.fixture(scope="module")
def keys(cohort: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {t: json.loads((out / "key" / "answer_key.json").read_text()) for t, out in cohort.items()}


def graded_cells(lab: str) -> list[tuple[str, float, list[str]]]:
    """(grade id, points, answer names) of each autograded test cell of the lab's notebook."""
    return labcheck.graded_cells(nbformat.read(ROOT / "labs" / lab / "source.ipynb", as_version=4))


@pytest.mark.parametrize("lab", LABS)
def test_copying_a_neighbour_gains_at_most_a_tenth_of_the_points(lab: str, keys: dict[str, dict[str, Any]]) -> None:
    checks = load_checks(ROOT / "labs" / lab / "grader.yaml")
    cells = graded_cells(lab)
    assert {n for _, _, names in cells for n in names} == set(checks.checks), "every check has its test cell"
    total = sum(points for _, points, _ in cells)
    pairs = list(itertools.permutations(TRAINEES, 2))
    copied = {grade_id: sum(labcheck.cell_copies(checks, names, keys[a], keys[b]) for a, b in pairs) / len(pairs)
              for grade_id, _, names in cells}
    share = sum(points * copied[grade_id] for grade_id, points, _ in cells) / total
    detail = ", ".join(f"{g} {p:g} pt x {copied[g]:.0%}" for g, p, _ in cells if copied[g])
    assert share <= MAX_SHARE, f"{lab}: a copied neighbour's answers earn {share:.1%} of {total:g} points ({detail})"


def test_no_lab_02_answer_but_the_root_file_system_is_the_same_for_everyone(keys: dict[str, dict[str, Any]]) -> None:
    """The disk's layout and the archive's container are drawn; the root file system (ext4: labs 02-05 read its
    birth times, which only ext4 records) is the one value every trainee shares, and is worth a quarter point."""
    checks = load_checks(ROOT / "labs" / "02-disk" / "grader.yaml")
    constant = {name for name in checks.checks
                if len({json.dumps(lookup(k, checks.key_path(name), "k")) for k in keys.values()}) == 1}
    assert constant == {"root_fs"}
    assert {g: p for g, p, _ in graded_cells("02-disk")}["check-root-fs"] == 0.25


def lab02_cells() -> dict[str, str]:
    """The lab 02 cells that find the partitions and the disguised archive, by what they do."""
    nb = nbformat.read(ROOT / "labs" / "02-disk" / "source.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]

    def one(pattern: str) -> str:
        [cell] = [s for s in code if re.search(pattern, s, re.M)]
        # The prepared tool lines (`!mmls ...`, for trainees who read rather than code) as IPython runs them; the
        # namespace's get_ipython() below does not run them: only the Python the solution computes with counts.
        return TransformerManager().transform_cell(cell)

    return {"setup": one(r"^EVIDENCE = evidence_dir\(\)"), "parts": one(r"^parts = disk\.partitions\(IMAGE\)$"),
            "partitions": one(r"^root_start_sector = "), "files": one(r"^files = disk\.list_files"),
            "signatures": one(r"^root_tsk = pytsk3\.FS_Info"), "archive": one(r"^archive_path, archive_true_type = ")}


def test_lab_02_solution_reads_every_drawn_layout_from_the_evidence(cohort: dict[str, Path],
                                                                   keys: dict[str, dict[str, Any]],
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    """MBR and GPT, every root start and archive container in the cohort: the solution finds the key's values."""
    by_layout: dict[tuple[str, str], str] = {}
    for t, k in keys.items():
        by_layout.setdefault((k["facts"]["disk"]["table"], k["answers"]["archive_true_type"]), t)
    assert {table for table, _ in by_layout} == {"mbr", "gpt"}
    assert {kind for _, kind in by_layout} == {"zip", "tar", "gzip", "xz"}
    cells = lab02_cells()
    monkeypatch.chdir(tmp_path)
    for trainee in by_layout.values():
        monkeypatch.setenv("DFLAB_EVIDENCE", str(cohort[trainee] / "evidence"))
        ns: dict[str, Any] = {"get_ipython": lambda: SimpleNamespace(system=lambda _command: None)}
        for name in ("setup", "parts", "partitions", "files", "signatures", "archive"):
            exec(compile(cells[name], f"lab02:{name}", "exec"), ns)  # noqa: S102 - the repository's own notebook
        disk, answers = keys[trainee]["facts"]["disk"], keys[trainee]["answers"]
        assert (ns["partition_table"], ns["root_start_sector"], ns["root_fs"]) == \
            (disk["table"], disk["volumes"]["root"]["start_sector"], disk["volumes"]["root"]["fs"]), trainee
        assert (ns["archive_path"], ns["archive_true_type"]) == (answers["archive_path"],
                                                                 answers["archive_true_type"]), trainee
