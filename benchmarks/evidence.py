#!/usr/bin/env python3
"""How fast is evidence generation? (issue #2)

Prints, in one run on this machine:
  * the time to build one trainee's full set (disk + memory + capture + key + manifest)
    as a ratio to `cp -r` of the very same bytes (the I/O floor), target <= 10x.
    Evidence images are sparse files, so two floors are measured: `cp --sparse=never`
    writes every byte (what producing those bytes costs), plain `cp` skips the holes;
  * the wall time to build N variants (default 30) with all cores, target <= 60 s;
  * the peak resident memory of one build and of the cohort's worker processes;
  * what the installed operating system of the root volume costs (dflab.scenario.ostree): its packaged bytes
    are the same for every trainee, so each process makes them once (a cache keyed by distribution and profile)
    and every later variant reuses them. The single-build figure is the median over builds in one process
    (shared part made); a build in a fresh process, which makes it first, and the shared part alone are shown too.

Ratios are taken within the run, so a noisy shared machine moves both sides.
Use --json for one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dflab.evidence.build import build_cohort, build_variant  # noqa: E402
from dflab.scenario.draw import DEMO_SECRET  # noqa: E402
from dflab.scenario.load import load_spec  # noqa: E402

SPEC = ROOT / "labs" / "scenarios" / "nightjar.yaml"


def _single_build_peak_rss(out: Path) -> tuple[float, float]:
    """Peak RSS (MiB) and wall time (s) of a fresh process that builds one variant (so earlier runs don't count,
    and the installed system's shared part is made in it)."""
    code = ("import resource,sys,time;from pathlib import Path;from dflab.evidence.build import build_variant;"
            "from dflab.scenario.load import load_spec;t=time.perf_counter();"
            f"build_variant(load_spec({str(SPEC)!r}), {DEMO_SECRET!r}, 'rss', Path({str(out)!r}));"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()-t)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    rss, seconds = res.stdout.split()
    return int(rss) / 1024, float(seconds)


def _os_shared_s() -> float:
    """Seconds a fresh process takes to make the installed system's shared part (0 when the spec installs none)."""
    code = ("import time;from dflab.scenario.load import load_spec;from dflab.scenario.ostree import shared;"
            f"spec=load_spec({str(SPEC)!r});t=time.perf_counter();"
            "[shared(v.os.distribution, v.os.profile) for v in spec.disk.volumes if v.os];"
            "print(time.perf_counter()-t)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(res.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="single-build repetitions (median is reported)")
    ap.add_argument("--variants", type=int, default=30, help="cohort size for the many-variants figure")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()

    spec = load_spec(SPEC)
    with tempfile.TemporaryDirectory(prefix="dflab-bench-") as tmp:
        t = Path(tmp)
        builds, dense, sparse = [], [], []
        for i in range(args.repeat):
            out = t / f"one{i}"
            t0 = time.perf_counter()
            build_variant(spec, DEMO_SECRET, "bench", out)
            builds.append(time.perf_counter() - t0)
            for flags, times in ((["--sparse=never"], dense), ([], sparse)):
                t0 = time.perf_counter()
                subprocess.run(["cp", "-r", *flags, str(out), str(t / "copy")], check=True)
                times.append(time.perf_counter() - t0)
                shutil.rmtree(t / "copy")
        evidence = out / "evidence"
        apparent = sum(p.stat().st_size for p in evidence.rglob("*") if p.is_file())
        sizes = {p.name: p.stat().st_size for p in evidence.iterdir() if p.is_file()}
        packets = json.loads((out / "key" / "answer_key.json").read_text())["facts"]["network"]["packet_count"]
        build_s, cp_s, cp_sparse_s = (statistics.median(x) for x in (builds, dense, sparse))
        peak_one, fresh_s = _single_build_peak_rss(t / "rss")
        shared_s = _os_shared_s()

        names = [f"trainee{i:03d}" for i in range(args.variants)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        build_cohort(SPEC, DEMO_SECRET, names, t / "cohort", workers=args.workers)
        cohort_s = time.perf_counter() - t0
        peak_worker = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024

    figures = {
        "single_build_s": round(build_s, 3),
        "cp_same_bytes_s": round(cp_s, 3),
        "ratio_to_cp": round(build_s / cp_s, 2),
        "cp_sparse_aware_s": round(cp_sparse_s, 4),
        "ratio_to_sparse_cp": round(build_s / cp_sparse_s, 1),
        "target_ratio_to_cp": 10,
        "evidence_bytes": apparent,
        "disk_bytes": sizes.get("disk.img"),
        "memory_bytes": sizes.get("memory.lime"),
        "packets": packets,
        "variants": args.variants,
        "workers": args.workers,
        "variants_wall_s": round(cohort_s, 2),
        "target_variants_wall_s": 60,
        "per_variant_s": round(cohort_s / args.variants, 3),
        "fresh_process_build_s": round(fresh_s, 3),
        "os_tree_shared_s": round(shared_s, 3),
        "peak_rss_single_build_mib": round(peak_one, 1),
        "peak_rss_cohort_worker_mib": round(peak_worker, 1),
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(figures))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="dflab evidence generation (issue #2)")
    for col in ("figure", "value", "target"):
        table.add_column(col)
    table.add_row("one trainee's full set", f"{build_s:.3f} s", "")
    table.add_row("cp -r --sparse=never of the same bytes", f"{cp_s:.3f} s", "")
    table.add_row("ratio build / cp", f"{build_s / cp_s:.1f}x", "<= 10x")
    table.add_row("plain cp -r (skips sparse holes)", f"{cp_sparse_s:.4f} s", "")
    table.add_row("ratio build / sparse-aware cp", f"{build_s / cp_sparse_s:.0f}x", "(not the I/O floor)")
    table.add_row("evidence size", f"{apparent / 2**20:.1f} MiB ({packets} packets)", "")
    table.add_row(f"{args.variants} variants, {args.workers} workers", f"{cohort_s:.1f} s", "<= 60 s")
    table.add_row("one build in a fresh process", f"{fresh_s:.3f} s", "")
    table.add_row("installed system's shared part, made once per process", f"{shared_s:.3f} s", "")
    table.add_row("peak RSS, one build", f"{peak_one:.0f} MiB", "")
    table.add_row("peak RSS, a cohort worker", f"{peak_worker:.0f} MiB", "")
    Console().print(table)


if __name__ == "__main__":
    main()
