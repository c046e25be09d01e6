"""`dflab lab check LAB --scenario SPEC` (issue 15, items 4 and 5): every bundled lab proves itself on every bundled
case (its story and draws: each pair on the case without its installed system, one pair as bundled; see
AS_BUNDLED), and a lab that leaks, is copyable or has a wrong solution is caught.

Everything is real: the variants are built, nbgrader grades the three submissions in the local grading
sandbox, the comparisons are the grader's own. Each lab x case pair is one test (about a minute each), with the
command's default of 12 variants: the copy share it asserts is the figure `dflab lab check` reports, over 132 ordered
pairs of one fixed cohort (lab check's own secret), not a smaller sample of it.

Lab check's fixed secret and trainee names make the same cohort of a case for every lab whose variants hold the
case's evidence alone, so that cohort is built once per case per run (`case_cohort`) and handed to each such lab's
check as a kept course would hold it; lab check then builds none (its report says so: `built`). A lab listing more kinds
(lab 07's materials) builds its own, so every case also goes through the command's build end to end.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from dflab.evidence.build import build_cohort
from dflab.evidence.kinds import CASE_KINDS
from dflab.lab_meta import read_lab
from dflab.lab_requires import lab_platform
from dflab.labcheck import SECRET, VARIANTS, check_lab, cohort, lifecycle_hooks
from dflab.scenario.load import load_spec, platform_of
from tests.haystack import SMALL_EDITS, small_text

ROOT = Path(__file__).resolve().parents[1]
NIGHTJAR = ROOT / "labs" / "scenarios" / "nightjar.yaml"
# Every bundled case, and every bundled lab lab check can run (lab 01's live suspect needs a running lab: its own
# tests grade it through a session). Found, not listed: a lab or case added to labs/ is checked with the others.
CASES = tuple(sorted(p.stem for p in (ROOT / "labs" / "scenarios").glob("*.yaml")))
# Every bundled lab lab check can run: all but those whose hooks need a running lab (lab 01's suspect); a lab whose
# hooks only grade what is handed in (lab 06) is checked like the others.
CHECKED_LABS = tuple(d.name for d in sorted(p.parent for p in (ROOT / "labs").glob("*/lab.yaml"))
                     if not lifecycle_hooks(d, read_lab(d)))
# The labs whose variants hold the case's evidence and nothing more: lab check (through init_course) builds each of
# them the very same cohort of a case, so one build serves them all.
CASE_EVIDENCE_LABS = tuple(lab for lab in CHECKED_LABS
                           if set(read_lab(ROOT / "labs" / lab).evidence) <= set(CASE_KINDS))
DFLAB = [sys.executable, "-m", "dflab.cli"]
# What lab check 06-acquire finds, in detail: the hand-in's six points are out of its reach (it hands in the
# notebook alone), the four typed hashes are drawn anew for every variant, so neither the release nor a neighbour's
# answers score.
LAB_06_FINDINGS = {
    "solution": ("4/11 (wants all 10 autograded points but the 6 graded on files a run hands in, which lab check does "
                 "not make)"),
    "released": "0/11 (wants 0)", "copier": "0/11 (wants 0, as the grader's comparisons predict)"}
LAB_06_DISTINCT = (dict.fromkeys(("source_hash_before", "raw_image_hash", "e01_image_hash", "source_hash_after"),
                                 VARIANTS)
                   | dict.fromkeys(("acquired_image", "acquired_header", "acquired_times", "acquired_hashes")))


# Each pair runs on its case without the installed system (tests/haystack.py: the same story, draws and answers; what
# lab check finds, the copy share and the distinct answers are the case's, not its size), and one pair on the case as
# bundled, end to end on the installed system: the memory lab on Nightjar (volatility over its 256 MiB). The labs' own
# tests run each solution on the bundled case.
AS_BUNDLED = ("03-memory", "nightjar")


def shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's folder, which xdist's workers share (above each worker's own)."""
    shared = tmp_path_factory.getbasetemp()
    return shared.parent if os.environ.get("PYTEST_XDIST_WORKER") else shared


def case_spec(case: str, bundled: bool, shared: Path) -> Path:
    """The spec lab check runs ``case`` from: as bundled, or without its installed system (a file in ``shared``)."""
    if bundled or case not in SMALL_EDITS:
        return ROOT / "labs" / "scenarios" / f"{case}.yaml"
    folder = shared / "lab-check-small-specs"
    folder.mkdir(exist_ok=True)
    path = folder / f"{case}.yaml"
    if not path.is_file():
        fresh = folder / f".{case}.{os.getpid()}.yaml"
        fresh.write_text(small_text(case), encoding="utf-8")
        fresh.replace(path)  # whole, whichever worker writes it
    return path


@pytest.fixture(scope="session")
def case_cohort(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, bool], Path]:
    """(``case``, as bundled?) -> lab check's cohort of that case (its secret, trainees and the case's kinds, as
    init_course builds them), built once per run: xdist's workers share the run's folder and take turns through a
    lock, so whichever first needs a case builds it and the other reads it."""
    shared = shared_folder(tmp_path_factory)

    def built(case: str, bundled: bool) -> Path:
        name = f"lab-check-cohort-{case}{'' if bundled else '-small'}"
        root = shared / name
        with (shared / f"{name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this worker dies
            if not (root / "complete").is_file():
                shutil.rmtree(root, ignore_errors=True)  # a build another worker did not finish
                build_cohort(case_spec(case, bundled, shared), SECRET, cohort(VARIANTS), root / "evidence",
                             kinds=CASE_KINDS)
                (root / "complete").touch()
        return root / "evidence"

    return built


def seed_kept_course(work: Path, variants: Path) -> None:
    """``work`` as `dflab lab check --keep work` leaves it after building ``variants``' cohort: the variants under
    course/evidence/, hard links to the shared files (read by the grading sandbox, never written)."""
    for variant in sorted(variants.iterdir()):
        shutil.copytree(variant, work / "course" / "evidence" / variant.name, copy_function=os.link)


def test_the_pairs_cover_both_bundled_cases_and_labs_02_to_05() -> None:
    """The parametrisation below is found on disk: it must at least hold what the issue promises."""
    assert {"nightjar", "kestrel"} <= set(CASES) and AS_BUNDLED in PAIRS
    assert {"02-disk", "03-memory", "04-network", "05-capstone", "06-acquire"} <= set(CHECKED_LABS)
    assert "01-live" not in CHECKED_LABS


# A lab reads one platform's evidence (dflab.lab_requires.lab_platform): each is checked on every case of its platform.
PAIRS = [(lab, case) for lab in CHECKED_LABS for case in CASES
         if lab_platform(ROOT / "labs" / lab) == platform_of(load_spec(ROOT / "labs" / "scenarios" / f"{case}.yaml"))]


@pytest.mark.parametrize(("lab", "case"), PAIRS)
def test_every_bundled_lab_passes_lab_check_on_every_bundled_case(lab: str, case: str, tmp_path: Path,
                                                                   tmp_path_factory: pytest.TempPathFactory,
                                                                   case_cohort: Callable[[str, bool], Path]) -> None:
    bundled = (lab, case) == AS_BUNDLED
    spec = case_spec(case, bundled, shared_folder(tmp_path_factory))
    shared = lab in CASE_EVIDENCE_LABS
    if shared:
        seed_kept_course(tmp_path, case_cohort(case, bundled))
    proc = subprocess.run([*DFLAB, "lab", "check", lab, "--scenario", str(spec), "--keep", str(tmp_path),
                           "--json"], capture_output=True, text=True, timeout=1200)
    assert proc.stdout, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    failed = [f for f in result["findings"] if not f["ok"]]
    assert proc.returncode == 0 and result["ok"], failed or proc.stderr[-2000:]
    assert result["built"] == (0 if shared else VARIANTS)  # the shared cohort was checked, not built again
    assert [f["name"] for f in result["findings"]] == ["solution", "released", "copier", "copy share", "release"]
    assert result["variants"] == 12 and set(result["distinct"]) and result["copy_share"] <= 0.10
    if lab == "06-acquire":
        assert {f["name"]: f["detail"] for f in result["findings"][:3]} == LAB_06_FINDINGS
        assert result["copy_share"] == 0.0 and result["distinct"] == LAB_06_DISTINCT


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
