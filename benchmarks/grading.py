#!/usr/bin/env python3
"""How much faster is `dflab grade` than stock `nbgrader autograde` in series? (issue #4, target >= 1.8x on 2 cores)

Builds a lab-02 course for N trainees (default 30) whose submissions are a mix of solution, partial and
blank notebooks, copies it, then grades the same submissions twice, in one run:

* stock: one `nbgrader autograde LAB --force` process over every student, in series, with the plain nbgrader
  pipeline plus dflab's answer check and no sandbox (`stock_pipeline()` when the course has a sandbox);
* dflab: `dflab grade LAB --workers W --sandbox S` (default: all cores, the local sandbox; `--sandbox docker`
  needs the trainee image dflab/trainee:latest).

Prints both wall-clock times, the ratio and whether every per-student, per-cell score is identical, with the CPU
seconds each run used and the load average around them: on a shared machine other work slows the wall clock of
the parallel run most, while the CPU seconds show what the code itself costs. Use --json for one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dflab.grading import gradebook  # noqa: E402
from dflab.grading import preprocessor as pipelines  # noqa: E402
from dflab.grading.course import CONFIG_FILE, config_text, init_course  # noqa: E402

LAB, NB = "02-disk", "02-disk.ipynb"
TARGET = 1.8
SECRET = "benchmark-secret"


def _env() -> dict[str, str]:
    return os.environ | {"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


def make_course(base: Path, trainees: int) -> Path:
    """A course with ``trainees`` submissions: solution, partial (one wrong answer), blank, in turn."""
    names = [f"t{i:02d}" for i in range(trainees)]
    (base / "roster.csv").write_text("id\n" + "\n".join(names) + "\n")
    root = init_course(base / "dflab", base / "roster.csv", LAB, SECRET).root
    source = nbformat.read(root / "source" / LAB / NB, as_version=4)
    partial = nbformat.read(root / "source" / LAB / NB, as_version=4)
    for cell in partial.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "answer-payload-hash":
            cell.source = 'payload_sha256 = "0" * 64'
    blank = nbformat.read(root / "release" / LAB / NB, as_version=4)
    for i, name in enumerate(names):
        dest = root / "submitted" / name / LAB
        dest.mkdir(parents=True)
        nbformat.write((source, partial, blank)[i % 3], dest / NB)
    return root


def stock_copy(root: Path, dest: Path) -> tuple[Path, list[str]]:
    """The same course for stock nbgrader: its config pinned to the unsandboxed pipeline."""
    shutil.copytree(root, dest)
    stock = getattr(pipelines, "stock_pipeline", pipelines.autograde_pipeline)()
    (dest / CONFIG_FILE).write_text(config_text(dest) + f"c.Autograde.autograde_preprocessors = {stock!r}\n")
    return dest, stock


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Run ``cmd``; return its wall-clock seconds and the CPU seconds it and its descendants used.

    The CPU figure does not depend on what else the machine runs: on a shared machine it says whether a
    slower wall clock was the code or the neighbours.
    """
    t0, cpu0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, check=False, cwd=cwd, env=_env(), capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if proc.returncode != 0:
        sys.exit(f"benchmark: {' '.join(cmd[:5])} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return seconds, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trainees", type=int, default=30, help="submissions to grade (default 30)")
    ap.add_argument("--workers", type=int, default=None, help="dflab workers (default: all cores)")
    ap.add_argument("--sandbox", choices=["auto", "docker", "local"], default="local",
                    help="dflab's sandbox (default: local)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dflab-grading-bench-") as tmp:
        root = make_course(Path(tmp), args.trainees)
        stock_root, stock = stock_copy(root, Path(tmp) / "stock")
        load_before = os.getloadavg()[0]
        stock_s, stock_cpu = timed([sys.executable, "-m", "nbgrader", "autograde", LAB, "--force"], stock_root)
        cmd = [sys.executable, "-m", "dflab.cli", "grade", LAB, "--course", str(root), "--sandbox", args.sandbox]
        dflab_s, dflab_cpu = timed(cmd + (["--workers", str(args.workers)] if args.workers else []), root)
        load_after = os.getloadavg()[0]
        same = gradebook.cell_scores(gradebook.default_url(root), LAB) == \
            gradebook.cell_scores(gradebook.default_url(stock_root), LAB)
        graded = len(gradebook.cell_scores(gradebook.default_url(root), LAB))
        execute = next(p for p in pipelines.autograde_pipeline() if "Execute" in p)
    figures = {"lab": LAB, "submissions": args.trainees, "graded": graded, "cores": os.cpu_count(),
               "workers": args.workers or os.cpu_count(), "stock_s": round(stock_s, 1), "dflab_s": round(dflab_s, 1),
               "ratio": round(stock_s / dflab_s, 2), "target_ratio": TARGET, "scores_identical": same,
               "stock_cpu_s": round(stock_cpu, 1), "dflab_cpu_s": round(dflab_cpu, 1),
               "load_avg_1min": [round(load_before, 2), round(load_after, 2)],
               "dflab_execute": f"{execute} ({args.sandbox})",
               "stock_execute": next(p for p in stock if "Execute" in p)}
    if args.json:
        print(json.dumps(figures))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"grading {args.trainees} submissions of {LAB} (issue #4, target >= {TARGET}x)")
    for col in ("run", "executor", "seconds", "CPU seconds"):
        table.add_column(col)
    table.add_row("stock nbgrader autograde, in series", figures["stock_execute"], f"{stock_s:.1f}", f"{stock_cpu:.1f}")
    table.add_row(f"dflab grade, {figures['workers']} workers", figures["dflab_execute"], f"{dflab_s:.1f}",
                  f"{dflab_cpu:.1f}")
    Console().print(table)
    Console().print(f"1-minute load average before and after: {load_before:.2f}, {load_after:.2f} "
                    f"(other work on this machine slows the wall clock, not the CPU seconds)", highlight=False)
    verdict = "meets" if figures["ratio"] >= TARGET and same else "MISSES"
    Console().print(f"ratio {figures['ratio']:.2f}x ({verdict} the target), scores identical: "
                    f"{'yes' if same else 'NO'} ({graded} graded)", highlight=False)


if __name__ == "__main__":
    main()
