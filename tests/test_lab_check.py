"""`dflab lab check LAB --scenario SPEC` (issue 15, item 4): every bundled lab proves itself on its case, and a
lab that leaks, is copyable or has a wrong solution is caught.

Everything is real: the variants are built, nbgrader grades the three submissions in the local grading
sandbox, the comparisons are the grader's own.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from dflab.labcheck import check_lab

ROOT = Path(__file__).resolve().parents[1]
NIGHTJAR = ROOT / "labs" / "scenarios" / "nightjar.yaml"
CHECKED_LABS = ("02-disk", "03-memory", "04-network", "05-capstone")
DFLAB = [sys.executable, "-m", "dflab.cli"]


@pytest.mark.parametrize("lab", CHECKED_LABS)
def test_every_bundled_lab_passes_lab_check_on_its_case(lab: str, tmp_path: Path) -> None:
    proc = subprocess.run([*DFLAB, "lab", "check", lab, "--scenario", str(NIGHTJAR), "--keep", str(tmp_path),
                           "--json"], capture_output=True, text=True, timeout=1200)
    assert proc.stdout, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    failed = [f for f in result["findings"] if not f["ok"]]
    assert proc.returncode == 0 and result["ok"], failed or proc.stderr[-2000:]
    assert [f["name"] for f in result["findings"]] == ["solution", "released", "copier", "copy share", "release"]
    assert result["variants"] == 12 and set(result["distinct"]) and result["copy_share"] <= 0.10


def planted_lab(tmp_path: Path) -> tuple[Path, Path]:
    """Lab 02 on a case whose layout and archive name are fixed, with a solution that names the wrong root file
    system and a paragraph quoting the (now shared) archive path."""
    labs = tmp_path / "labs"
    shutil.copytree(ROOT / "labs" / "02-disk", labs / "02-disk")
    (labs / "scenarios").mkdir()
    spec = (NIGHTJAR.read_text(encoding="utf-8")
            .replace("table: {choice: [mbr, gpt]}", "table: gpt")
            .replace("start_mib: {int: [35, 66]}", "start_mib: 40")
            .replace("  archive: {choice: [holiday,", "  archive: {choice: [wallpaper]}\n  unused: {choice: [holiday,"))
    (labs / "scenarios" / "nightjar.yaml").write_text(spec, encoding="utf-8")
    source = labs / "02-disk" / "source.ipynb"
    nb = nbformat.read(source, as_version=4)
    [fs_cell] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
                 and re.search(r"^root_start_sector = ", c.source, re.M)]
    fs_cell.source += "\nroot_fs = 'ext3'  # planted: the solution is wrong"
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("The archive hides at `/tmp/.cache/wallpaper.jpg`."))
    nbformat.write(nb, source)
    return labs, labs / "scenarios" / "nightjar.yaml"


def test_a_wrong_solution_a_leak_and_shared_answers_are_each_caught(tmp_path: Path) -> None:
    labs, spec = planted_lab(tmp_path)
    result = check_lab("02-disk", spec, tmp_path / "work", labs_dir=labs, variants=4)
    verdict = {f.name: f for f in result.findings}
    assert not result.ok
    assert {name for name, f in verdict.items() if not f.ok} == {"solution", "copy share", "release"}, verdict
    assert verdict["solution"].detail.startswith("12.5/13 ")
    assert "/tmp/.cache/wallpaper.jpg" in verdict["release"].detail
    assert result.copy_share is not None and result.copy_share > 0.25  # table, start, fs and archive path shared
    assert result.distinct["archive_path"] == 1 and result.distinct["payload_sha256"] == 4
    assert verdict["copier"].ok and verdict["released"].ok  # the copier scores what the comparisons predict


def test_a_lab_with_a_live_suspect_is_refused_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([*DFLAB, "lab", "check", "01-live", "--keep", str(tmp_path / "w")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "runs a live suspect" in proc.stderr, proc.stderr
    assert not (tmp_path / "w").exists()


def test_too_few_variants_and_an_unknown_lab_are_one_line(tmp_path: Path) -> None:
    few = subprocess.run([*DFLAB, "lab", "check", "02-disk", "--variants", "2"], capture_output=True, text=True,
                         timeout=120)
    assert few.returncode == 2 and "--variants" in few.stderr and "Traceback" not in few.stderr
    unknown = subprocess.run([*DFLAB, "lab", "check", "99-nothing", "--keep", str(tmp_path / "w")],
                             capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1, unknown.stderr
    assert "Traceback" not in unknown.stderr
