#!/usr/bin/env python3
"""What does a memory image cost to build, and what does it cost volatility3 to read? (issue 14, items 5 and 6)

Builds the memory of Nightjar with an installed Debian 12 on its root (tests/haystack.py: the page cache has the
packaged files to hold) at 64 MiB and at 256 MiB, as a build writes it (LiME only, the default format), and prints:
  * the CPU seconds of one variant's memory writer, kernel structures, fill and LiME file (median over --variants
    builds in one process, so the installed system's shared files are made once, as in a cohort worker), beside
    `cp --sparse=never` of the same file (the I/O floor);
  * the image's apparent and allocated size (never-touched RAM is a hole of the sparse file);
  * for each volatility3 plugin asked (--plugins, default a set of list walkers and the two plugins that scan
    all of physical memory; `all` for every Linux plugin), the CPU seconds of `vol` on each image: CPU, not
    wall time, so a busy shared machine does not move the figure. Plugins that walk kernel lists cost the same
    at both sizes; `psscan` and `sockscan` regex-scan every byte of RAM, on this image as on a real one.

Measured on this machine (2 cores shared with other jobs, medians of 3 variants) while issue 14's memory work was
done. Memory writer, one variant, CPU seconds (user + kernel):

                                                        64 MiB        256 MiB
    before: a flat bytearray of the image, then written  0.17 + 0.13   0.49 + 0.59
    after: views handed to pwritev, holes, GC paused     0.14 + 0.03   0.31 + 0.16

The 256 MiB LiME is 255 MiB apparent, 245 MiB allocated (never-touched blocks are holes); a 256 MiB build's
peak RSS went from 543 to 292 MiB (no image-sized buffer). The bytes are unchanged (Nightjar's golden manifest).

volatility3 2.28.2, CPU seconds of `vol` (the same images before and after: the writer's change does not
touch a byte), 64 -> 256 MiB: every plugin that walks kernel structures costs the same at both sizes (stacking
stops at the first banner and VMCOREINFO note, both in the kernel image at 16-24 MiB); the sum over the 49
Linux plugins grows 55.0 -> 61.8 s, 5.9 s of it in three plugins that read every byte of physical memory, as
they would on a real 256 MiB machine:

    linux.psscan.PsScan      1.73 -> 4.89   regex for the sched_class pointers (~20 MB/s: one address ends in
    linux.sockscan.Sockscan  1.55 -> 3.71   byte 0x00, so every zero byte is a candidate; 90 MB/s without)
    linux.vmcoreinfo         0.72 -> 1.32   every VMCOREINFO note, with bytes.find

Wall time under load grew much more than CPU (tests/test_memory_plugins.py 455 -> 830 s): that is the machine's
contention, not work volatility does.

Use --json for one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
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

from dflab.evidence.facts import decide  # noqa: E402
from dflab.evidence.memory import write_memory  # noqa: E402
from dflab.scenario.resolve import resolve  # noqa: E402
from tests.haystack import with_memory  # noqa: E402

SIZES = ("64MiB", "256MiB")
PLUGINS = ("linux.pslist.PsList", "linux.proc.Maps", "linux.lsof.Lsof", "linux.vmcoreinfo.VMCoreInfo",
           "linux.psscan.PsScan", "linux.sockscan.Sockscan")


def _cpu() -> tuple[float, float]:
    """User and system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build_figures(size: str, variants: int, work: Path) -> dict[str, float]:
    """CPU of the memory writer for ``variants`` trainees at ``size`` (median), and the cp floor of its output."""
    spec = with_memory("nightjar", size)
    cases = [resolve(spec, bytes([i + 1]) * 32, f"bench{i}") for i in range(variants)]
    facts = [decide(c) for c in cases]  # the disk's layout, decided by the disk's side of a build
    totals = []
    out = work / size
    for case, fact in zip(cases, facts, strict=True):
        if out.exists():  # each variant into a new directory, as a build writes it (not a file truncated)
            shutil.rmtree(out)
        user, system = _cpu()
        write_memory(case, out, ("lime",), facts=fact)
        totals.append((_cpu()[0] - user, _cpu()[1] - system))
    lime = out / "memory.lime"
    t0 = time.perf_counter()
    subprocess.run(["cp", "--sparse=never", str(lime), str(work / "copy")], check=True)
    cp_s = time.perf_counter() - t0
    (work / "copy").unlink()
    total = statistics.median(u + s for u, s in totals)
    return {"writer_cpu_s": round(total, 3), "writer_user_s": round(statistics.median(u for u, _ in totals), 3),
            "writer_system_s": round(statistics.median(s for _, s in totals), 3),
            "cp_same_bytes_s": round(cp_s, 3), "ratio_to_cp": round(total / cp_s, 1),
            "apparent_bytes": lime.stat().st_size, "allocated_bytes": lime.stat().st_blocks * 512}


def vol_cpu(image_dir: Path, plugin: str, cache: Path) -> tuple[float, int]:
    """CPU seconds of one `vol` run of ``plugin`` on ``image_dir``'s LiME image, and its exit status."""
    vol = Path(sys.executable).parent / "vol"
    cache.mkdir(exist_ok=True)
    before = _children_cpu()
    args = ("--pattern", "x") if "regexscan" in plugin else ()
    proc = subprocess.run([str(vol), "-q", "-r", "json", "-o", str(cache), "-f", str(image_dir / "memory.lime"),
                           "-s", str(image_dir / "symbols"), "--offline", "--cache-path", str(cache), plugin, *args],
                          capture_output=True, check=False)
    return _children_cpu() - before, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", type=int, default=3, help="memory builds per size (median is reported)")
    ap.add_argument("--plugins", default=",".join(PLUGINS),
                    help="comma-separated volatility3 plugins to time, `all` for every Linux plugin, `none`")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()
    if args.plugins == "all":
        from tests.test_memory_plugins import linux_plugins
        plugins = linux_plugins()
    else:
        plugins = [p for p in args.plugins.split(",") if p and p != "none"]

    figures: dict[str, object] = {"sizes": list(SIZES), "build": {}, "vol_cpu_s": {}}
    with tempfile.TemporaryDirectory(prefix="dflab-bench-memory-") as tmp:
        work = Path(tmp)
        for size in SIZES:
            figures["build"][size] = build_figures(size, args.variants, work)  # type: ignore[index]
        for plugin in plugins:
            row = {}
            for size in SIZES:
                cpu, rc = vol_cpu(work / size, plugin, work / f"cache-{size}")
                row[size] = round(cpu, 2) if rc == 0 else None
            figures["vol_cpu_s"][plugin] = row  # type: ignore[index]
    if args.json:
        print(json.dumps(figures))
        return
    from rich.console import Console
    from rich.table import Table

    build = figures["build"]
    table = Table(title="dflab memory image: build and volatility3 cost (CPU seconds)")
    table.add_column("figure")
    for size in SIZES:
        table.add_column(size, justify="right")
    for key, label in (("writer_cpu_s", "memory writer, one variant (CPU)"), ("writer_user_s", "  of it: user"),
                       ("writer_system_s", "  of it: kernel (page cache, reclaim: varies with the machine's load)"),
                       ("cp_same_bytes_s", "cp --sparse=never of its LiME (wall)"),
                       ("ratio_to_cp", "ratio writer / cp")):
        table.add_row(label, *(str(build[s][key]) for s in SIZES))  # type: ignore[index]
    table.add_row("LiME apparent / allocated MiB",
                  *(f"{build[s]['apparent_bytes'] / 2**20:.0f} / {build[s]['allocated_bytes'] / 2**20:.0f}"
                    for s in SIZES))  # type: ignore[index]
    for plugin, row in figures["vol_cpu_s"].items():  # type: ignore[union-attr]
        table.add_row(f"vol {plugin}", *("failed" if row[s] is None else str(row[s]) for s in SIZES))
    Console().print(table)


if __name__ == "__main__":
    main()
