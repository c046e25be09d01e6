"""`dflab lab check LAB --scenario SPEC` (issue 15, items 4 and 5): every bundled lab proves itself on every bundled
case, and a lab that leaks, is copyable or has a wrong solution is caught.

Everything is real: the variants are built, nbgrader grades the three submissions in the local grading
sandbox, the comparisons are the grader's own. Each lab x case pair is one test (about a minute each), with the
command's default of 12 variants: the copy share it asserts is the figure `dflab lab check` reports, over 132 ordered
pairs of one fixed cohort (lab check's own secret), not a smaller sample of it.
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

from dflab.lab_meta import read_lab
from dflab.labcheck import check_lab, lifecycle_hooks

ROOT = Path(__file__).resolve().parents[1]
NIGHTJAR = ROOT / "labs" / "scenarios" / "nightjar.yaml"
# Every bundled case, and every bundled lab lab check can run (lab 01's live suspect needs a running lab: its own
# tests grade it through a session). Found, not listed: a lab or case added to labs/ is checked with the others.
CASES = tuple(sorted(p.stem for p in (ROOT / "labs" / "scenarios").glob("*.yaml")))
# Every bundled lab lab check can run: all but those whose hooks need a running lab (lab 01's suspect); a lab whose
# hooks only grade what is handed in (lab 06) is checked like the others.
CHECKED_LABS = tuple(d.name for d in sorted(p.parent for p in (ROOT / "labs").glob("*/lab.yaml"))
                     if not lifecycle_hooks(d, read_lab(d)))
DFLAB = [sys.executable, "-m", "dflab.cli"]


def test_the_pairs_cover_both_bundled_cases_and_labs_02_to_05() -> None:
    """The parametrisation below is found on disk: it must at least hold what the issue promises."""
    assert {"nightjar", "kestrel"} <= set(CASES)
    assert {"02-disk", "03-memory", "04-network", "05-capstone", "06-acquire"} <= set(CHECKED_LABS)
    assert "01-live" not in CHECKED_LABS


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("lab", CHECKED_LABS)
def test_every_bundled_lab_passes_lab_check_on_every_bundled_case(lab: str, case: str, tmp_path: Path) -> None:
    spec = ROOT / "labs" / "scenarios" / f"{case}.yaml"
    proc = subprocess.run([*DFLAB, "lab", "check", lab, "--scenario", str(spec), "--keep", str(tmp_path),
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
    assert verdict["solution"].detail.startswith("12.75/13 ")  # root_fs is worth a quarter point
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


def test_hooks_that_only_grade_pass_the_gate_and_hooks_that_run_beside_the_lab_do_not(tmp_path: Path) -> None:
    """Lab check starts no lab: a lab whose hooks only grade (COMPARES: lab 06's hand-in) is checked like any lab,
    while the same lab with a post_start hook added is refused in one line naming it. No variant is built: the
    accepted lab gets as far as the next refusal (too few variants)."""
    from dflab.errors import DflabError

    grading_only, running = tmp_path / "grading-only", tmp_path / "running"
    for labs in (grading_only, running):
        shutil.copytree(ROOT / "labs" / "06-acquire", labs / "06-acquire")
    hooks = running / "06-acquire" / "hooks.py"
    hooks.write_text(hooks.read_text(encoding="utf-8") + "\n\ndef post_start(lab):\n    pass\n", encoding="utf-8")
    with pytest.raises(DflabError, match="at least 3 variants"):
        check_lab("06-acquire", NIGHTJAR, tmp_path / "w1", labs_dir=grading_only, variants=2)
    with pytest.raises(DflabError, match=r"runs a live suspect or other processes beside the lab \(hooks.py: "
                                         r"post_start\)"):
        check_lab("06-acquire", NIGHTJAR, tmp_path / "w2", labs_dir=running, variants=2)
