#!/usr/bin/env python3
"""How fast is evidence generation? (issues #2 and #14 item 5)

Three configurations, side by side:
  * ``bundled``: labs/scenarios/nightjar.yaml as shipped, its root volume an installed Debian 12 desktop
    (``disk.volumes[].os``: a 1 GiB disk, some 6,800 installed files) and 256 MiB of memory, #14 item 5's figures;
  * ``small``: the same story without the installed system, as small as it was shipped before it (tests/haystack.py
    ``small_text``: a 96 MiB disk, 64 MiB of memory), the baseline the haystack's cost is read against;
  * ``windows`` (#18 item 8, the same bar): one Windows workstation variant, built the way trainees get it,
    labs/scenarios/heron.yaml through ``build_variant``/``build_cohort`` (disk, capture, manifest, key); in a
    checkout without a Windows scenario spec, ``WorkstationCase`` variants (per-variant seed, computer and user
    names) through ``build_workstation``, disk image and answers only, built in processes alike. The figures say
    which (``path``). Lines that do not apply to it (memory, installed files) show a dash.

For each, in one run on this machine:
  * the time to build one trainee's full set (disk + memory + capture + key + manifest) as a ratio to
    `cp -r --sparse=never` of the very same bytes (the I/O floor: what writing those bytes costs), target <= 10x;
    plain `cp -r` (which skips the sparse images' holes) is shown too. The single-build figure is the median over
    builds in one process, so the installed system's shared part is already made;
  * the wall time to build N variants (default 30) with all cores, target <= 60 s;
  * CPU time (user + system, every thread and worker) beside each wall time: other work on a shared machine
    lengthens the wall time, not the CPU time; the load average before the run says how busy the machine was;
  * the disk's apparent size and the bytes it occupies (`du`): holes are never written;
  * one build in a fresh process, and the installed system's shared part alone.

**How the common part is shared.** What a package installs is the same for every trainee of a distribution and
profile (``dflab.scenario.ostree.shared``, made once per process); a cohort build makes it in the parent before
its worker processes fork, so every worker inherits it instead of making it again (``dflab.evidence.build``).

Ratios are taken within the run, so a noisy shared machine moves both sides.
Use --json for one JSON object of the figures, by configuration (``--config both``: the two Linux ones only).
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
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dflab.evidence.build import build_cohort, build_variant  # noqa: E402
from dflab.scenario.draw import DEMO_SECRET  # noqa: E402
from dflab.scenario.load import load_spec  # noqa: E402
from tests.haystack import small_text  # noqa: E402

BUNDLED = ROOT / "labs" / "scenarios" / "nightjar.yaml"
HERON = ROOT / "labs" / "scenarios" / "heron.yaml"
CONFIGS = ("bundled", "small", "windows")
LINUX = ("bundled", "small")
TARGET_RATIO, TARGET_WALL_S = 10, 60


def _spec_file(config: str, tmp: Path) -> Path:
    """The spec a configuration builds, as a file (``build_cohort`` and fresh processes load it by path)."""
    if config == "bundled":
        return BUNDLED
    path = tmp / "nightjar-small.yaml"
    path.write_text(small_text("nightjar"), encoding="utf-8")
    return path


def _fresh(code: str) -> list[str]:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return res.stdout.split()


def _fresh_build(spec: Path, out: Path) -> tuple[float, float, float]:
    """Peak RSS (MiB), wall and CPU time (s) of a fresh process that builds one variant (so earlier runs don't
    count, and the installed system's shared part is made in it)."""
    rss, wall, cpu = _fresh(
        "import resource,time;from pathlib import Path;from dflab.evidence.build import build_variant;"
        "from dflab.scenario.load import load_spec;t=time.perf_counter();c=time.process_time();"
        f"build_variant(load_spec(Path({str(spec)!r})), {DEMO_SECRET!r}, 'rss', Path({str(out)!r}));"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()-t, time.process_time()-c)")
    return int(rss) / 1024, float(wall), float(cpu)


def _os_shared_s(spec: Path) -> float:
    """CPU seconds a fresh process takes to make the installed system's shared part (0 when the spec installs
    none)."""
    (seconds,) = _fresh(
        "import time;from pathlib import Path;from dflab.scenario.load import load_spec;"
        "from dflab.scenario.ostree import shared;"
        f"spec=load_spec(Path({str(spec)!r}));t=time.process_time();"
        "[shared(v.os.distribution, v.os.profile) for v in spec.disk.volumes if v.os];"
        "print(time.process_time()-t)")
    return float(seconds)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _single_builds(one: Callable[[str, Path], object], work: Path, repeat: int
                   ) -> tuple[Path, tuple[float, float, float, float]]:
    """One warm-up build (what is shared between variants, made once), then ``repeat`` timed builds, each followed by
    ``cp -r --sparse=never`` and plain ``cp -r`` of its output: the last output, and the medians of the wall times,
    CPU times, dense copy times and sparse copy times."""
    one("warm", work / "warm")
    shutil.rmtree(work / "warm")
    builds, cpus, dense, sparse = [], [], [], []
    for i in range(repeat):
        out = work / f"one{i}"
        t0, c0 = time.perf_counter(), time.process_time()
        one("bench", out)
        builds.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        for flags, times in ((["--sparse=never"], dense), ([], sparse)):
            t0 = time.perf_counter()
            subprocess.run(["cp", "-r", *flags, str(out), str(work / "copy")], check=True)
            times.append(time.perf_counter() - t0)
            shutil.rmtree(work / "copy")
        if i < repeat - 1:
            shutil.rmtree(out)
    return out, tuple(statistics.median(x) for x in (builds, cpus, dense, sparse))


def _single_figures(build_s: float, build_cpu: float, cp_s: float, cp_sparse_s: float) -> dict[str, object]:
    """The single-build figures every configuration reports, against ``cp`` of the same bytes."""
    return {"single_build_s": round(build_s, 3), "single_build_cpu_s": round(build_cpu, 3),
            "cp_same_bytes_s": round(cp_s, 3), "ratio_to_cp": round(build_s / cp_s, 2),
            "cp_sparse_aware_s": round(cp_sparse_s, 4), "ratio_to_sparse_cp": round(build_s / cp_sparse_s, 1),
            "target_ratio_to_cp": TARGET_RATIO}


def measure(config: str, tmp: Path, repeat: int, variants: int, workers: int) -> dict[str, object]:
    """Every figure of one configuration (see the module docstring)."""
    spec_path = _spec_file(config, tmp)
    spec = load_spec(spec_path)
    work = tmp / config
    work.mkdir()
    out, (build_s, build_cpu, cp_s, cp_sparse_s) = _single_builds(
        lambda name, out: build_variant(spec, DEMO_SECRET, name, out), work, repeat)
    evidence = out / "evidence"
    files = [p for p in evidence.rglob("*") if p.is_file()]
    apparent = sum(p.stat().st_size for p in files)
    disk = evidence / "disk.img"
    memory = next((p.stat().st_size for p in files if p.name.startswith("memory.")), None)
    packets = json.loads((out / "key" / "answer_key.json").read_text())["facts"]["network"]["packet_count"]
    os_facts = json.loads((out / "key" / "answer_key.json").read_text())["facts"]["disk"].get("os", {})
    disk_apparent, disk_du = disk.stat().st_size, disk.stat().st_blocks * 512
    shutil.rmtree(out)
    peak_one, fresh_s, fresh_cpu = _fresh_build(spec_path, work / "rss")
    shutil.rmtree(work / "rss")
    shared_s = _os_shared_s(spec_path)

    names = [f"trainee{i:03d}" for i in range(variants)]
    before_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    c0, t0 = _children_cpu() + time.process_time(), time.perf_counter()
    build_cohort(spec_path, DEMO_SECRET, names, work / "cohort", workers=workers)
    cohort_s = time.perf_counter() - t0
    cohort_cpu = _children_cpu() + time.process_time() - c0
    peak_worker = max(before_rss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    shutil.rmtree(work)
    return {
        **_single_figures(build_s, build_cpu, cp_s, cp_sparse_s),
        "evidence_bytes": apparent,
        "disk_bytes": disk_apparent,
        "disk_du_bytes": disk_du,
        "memory_bytes": memory,
        "installed_files": sum(int(v["files"]) for v in os_facts.values()),
        "packets": packets,
        "variants": variants,
        "workers": workers,
        "variants_wall_s": round(cohort_s, 2),
        "variants_cpu_s": round(cohort_cpu, 2),
        "target_variants_wall_s": 60,
        "per_variant_s": round(cohort_s / variants, 3),
        "per_variant_cpu_s": round(cohort_cpu / variants, 3),
        "fresh_process_build_s": round(fresh_s, 3),
        "fresh_process_build_cpu_s": round(fresh_cpu, 3),
        "os_tree_shared_cpu_s": round(shared_s, 3),
        "peak_rss_single_build_mib": round(peak_one, 1),
        "peak_rss_cohort_worker_mib": round(peak_worker, 1),
    }


# -- windows -----------------------------------------------------------------------------------------------------


def _heron_builds() -> bool:
    """Whether this checkout builds Windows variants from a scenario spec (heron.yaml through ``build_variant``)."""
    if not HERON.exists():
        return False
    return getattr(load_spec(HERON), "platform", None) == "windows"


USERS = ("mbauer", "jkowalski", "lvermeer", "sdubois", "apetrov", "nhansen", "ecosta", "rlindqvist")


def workstation_case(name: str):  # noqa: ANN201 (the type is imported lazily)
    """A ``WorkstationCase`` of its own per variant name: the seed, computer and user names follow the name."""
    from dflab.evidence.windows.workstation import Timeline, User, WorkstationCase

    number = sum(name.encode()) % 79 + 11
    monday = datetime(2024, 2, 5, tzinfo=UTC)
    steps = ((0, 8), (3, 8, 55), (3, 9, 10), (3, 9, 20), (3, 9, 40), (3, 13, 58, 30), (3, 14, 2, 11), (3, 14, 5, 40),
             (3, 14, 6, 2), (3, 14, 9, 15), (3, 14, 11, 5), (3, 14, 12, 40), (4, 8, 48), (4, 10, 3), (4, 18))
    timeline = Timeline(*(monday + timedelta(days=d, hours=h, minutes=m, seconds=sec)
                          for d, h, m, sec in (step + (0,) * (4 - len(step)) for step in steps)))
    user = USERS[number % len(USERS)]
    return WorkstationCase(f"ACCT-WS{number}", User(user, 1001, user.title()), timeline,
                           "http://198.51.100.23/dl/invoice_0412.exe", "invoice_0412.exe", "svchostw.exe",
                           "WinSvcHelper", seed=f"bench/{name}", other_users=(User("support", 1002),))


def build_workstation_variant(name: str, out: str) -> None:
    """One ``WorkstationCase`` variant: its disk image and answers, as ``build_variant`` lays a variant out."""
    from dflab.evidence.windows.workstation import build_workstation

    (Path(out) / "evidence").mkdir(parents=True)
    (Path(out) / "key").mkdir()
    build_workstation(workstation_case(name)).write(Path(out) / "evidence" / "disk.img",
                                                    Path(out) / "key" / "answers.json")


def _windows_builders(heron: bool):  # noqa: ANN202
    """(one variant into a folder, a cohort into a folder, the code a fresh process runs to build one into OUT)."""
    if heron:
        spec = load_spec(HERON)
        return (lambda name, out: build_variant(spec, DEMO_SECRET, name, out),
                lambda names, root, workers: build_cohort(HERON, DEMO_SECRET, names, root, workers=workers),
                "from dflab.evidence.build import build_variant;from dflab.scenario.load import load_spec;"
                f"build_variant(load_spec(Path({str(HERON)!r})), {DEMO_SECRET!r}, 'rss', OUT)")

    def cohort(names: list[str], root: Path, workers: int) -> None:
        with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
            list(pool.map(build_workstation_variant, names, [str(root / n) for n in names]))

    return (lambda name, out: build_workstation_variant(name, str(out)), cohort,
            "from benchmarks.evidence import build_workstation_variant;build_workstation_variant('rss', str(OUT))")


def measure_windows(tmp: Path, repeat: int, variants: int, workers: int, source: str = "auto") -> dict[str, object]:
    """The Windows configuration's figures, under the Linux ones' names where they mean the same; ``source``:
    ``heron``, ``case`` (``WorkstationCase``) or ``auto`` (heron.yaml when this checkout builds it)."""
    heron = source == "heron" or (source == "auto" and _heron_builds())
    one, cohort, fresh_code = _windows_builders(heron)
    work = tmp / "windows"
    work.mkdir()
    out, (build_s, build_cpu, cp_s, cp_sparse_s) = _single_builds(one, work, repeat)
    files = [p for p in (out / "evidence").rglob("*") if p.is_file()]
    disk = out / "evidence" / "disk.img"
    key = out / "key" / "answer_key.json"
    network = json.loads(key.read_text())["facts"].get("network", {}) if key.exists() else {}
    figures: dict[str, object] = {
        "path": "heron.yaml build_variant" if heron else "WorkstationCase build_workstation",
        **_single_figures(build_s, build_cpu, cp_s, cp_sparse_s),
        "evidence_bytes": sum(p.stat().st_size for p in files),
        "disk_bytes": disk.stat().st_size,
        "disk_du_bytes": disk.stat().st_blocks * 512,
    }
    if "packets" in network:
        figures["packets"] = network["packets"]
    shutil.rmtree(out)
    rss, wall, cpu = _fresh(
        "import resource,time;from pathlib import Path;OUT=Path(" + repr(str(work / "rss")) + ");"
        "t=time.perf_counter();c=time.process_time();" + fresh_code + ";"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()-t, time.process_time()-c)")
    shutil.rmtree(work / "rss")

    names = [f"trainee{i:03d}" for i in range(variants)]
    before_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    c0, t0 = _children_cpu() + time.process_time(), time.perf_counter()
    cohort(names, work / "cohort", workers)
    cohort_s = time.perf_counter() - t0
    cohort_cpu = _children_cpu() + time.process_time() - c0
    peak_worker = max(before_rss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    shutil.rmtree(work)
    return {
        **figures,
        "variants": variants,
        "workers": workers,
        "variants_wall_s": round(cohort_s, 2),
        "variants_cpu_s": round(cohort_cpu, 2),
        "target_variants_wall_s": TARGET_WALL_S,
        "per_variant_s": round(cohort_s / variants, 3),
        "per_variant_cpu_s": round(cohort_cpu / variants, 3),
        "fresh_process_build_s": round(float(wall), 3),
        "fresh_process_build_cpu_s": round(float(cpu), 3),
        "peak_rss_single_build_mib": round(int(rss) / 1024, 1),
        "peak_rss_cohort_worker_mib": round(peak_worker, 1),
        "within_targets": {"ratio_to_cp": build_s / cp_s <= TARGET_RATIO,
                           "variants_wall_s": cohort_s <= TARGET_WALL_S},
    }


def _within(f: dict[str, object]) -> str:
    """Whether a configuration meets both targets in this run, from its figures."""
    missed = [name for name, figure, target in (("ratio", "ratio_to_cp", TARGET_RATIO),
                                                 ("N variants", "variants_wall_s", TARGET_WALL_S))
              if f[figure] > target]  # type: ignore[operator]
    return f"no: {', '.join(missed)}" if missed else "yes"


def _cell(show, figures: dict[str, object]) -> str:  # noqa: ANN001
    """A row's cell, or a dash where the configuration has no such figure (Windows has no memory image)."""
    try:
        return show(figures)
    except (KeyError, TypeError):
        return "-"


ROWS = (  # (label, how to show a configuration's figures, target)
    ("one trainee's full set (wall / CPU)", lambda f: f"{f['single_build_s']:.2f} s / {f['single_build_cpu_s']:.2f} s",
     ""),
    ("cp -r --sparse=never of the same bytes", lambda f: f"{f['cp_same_bytes_s']:.3f} s", ""),
    ("ratio build / cp", lambda f: f"{f['ratio_to_cp']:.1f}x", "<= 10x"),
    ("plain cp -r (skips sparse holes)", lambda f: f"{f['cp_sparse_aware_s']:.4f} s", ""),
    ("ratio build / sparse-aware cp", lambda f: f"{f['ratio_to_sparse_cp']:.0f}x", "(not the I/O floor)"),
    ("evidence size", lambda f: f"{f['evidence_bytes'] / 2**20:.0f} MiB"
     + (f" ({f['packets']} packets)" if "packets" in f else ""), ""),
    ("disk apparent / du", lambda f: f"{f['disk_bytes'] / 2**20:.0f} / {f['disk_du_bytes'] / 2**20:.0f} MiB",
     ">= 1024 MiB apparent"),
    ("memory", lambda f: f"{(f['memory_bytes'] or 0) / 2**20:.0f} MiB", ">= 256 MiB"),
    ("installed files on the root", lambda f: str(f["installed_files"]), ">= 5000"),
    ("N variants, workers (wall / CPU)",
     lambda f: f"{f['variants']}, {f['workers']}: {f['variants_wall_s']:.1f} s / {f['variants_cpu_s']:.1f} s",
     "<= 60 s"),
    ("one build in a fresh process (wall / CPU)",
     lambda f: f"{f['fresh_process_build_s']:.2f} s / {f['fresh_process_build_cpu_s']:.2f} s", ""),
    ("installed system's shared part, once per process", lambda f: f"{f['os_tree_shared_cpu_s']:.2f} s CPU", ""),
    ("peak RSS, one build / a cohort worker",
     lambda f: f"{f['peak_rss_single_build_mib']:.0f} / {f['peak_rss_cohort_worker_mib']:.0f} MiB", ""),
    ("within both targets in this run", _within, "ratio, N variants"),
    ("built through", lambda f: str(f["path"]), "(windows: what trainees get)"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="single-build repetitions (median is reported)")
    ap.add_argument("--variants", type=int, default=30, help="cohort size for the many-variants figure")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--config", choices=(*CONFIGS, "both", "all"), default="all",
                    help="what to build: one configuration, both Linux ones, or all three (default)")
    ap.add_argument("--windows-from", choices=("auto", "heron", "case"), default="auto",
                    help="windows: heron.yaml through build_variant, WorkstationCase variants, or heron.yaml when "
                         "this checkout has it (default)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()

    configs = {"all": CONFIGS, "both": LINUX}.get(args.config, (args.config,))
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="dflab-bench-") as tmp:
        figures = {c: measure_windows(Path(tmp), args.repeat, args.variants, args.workers, args.windows_from)
                   if c == "windows"
                   else measure(c, Path(tmp), args.repeat, args.variants, args.workers) for c in configs}
    machine = {"cpus": os.cpu_count(), "load_average_before": round(load, 2)}
    if args.json:
        print(json.dumps({**figures, **machine}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"dflab evidence generation (issues #2, #14 item 5, #18 item 8); {machine['cpus']} CPUs, "
                        f"load average {machine['load_average_before']} before the run")
    for col in ("figure", *configs, "target"):
        table.add_column(col)
    for label, show, target in ROWS:
        table.add_row(label, *(_cell(show, figures[c]) for c in configs), target)
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
