"""benchmarks/evidence.py measures both Linux configurations, the bundled spec (the haystack, #14 item 5) and the
small case without its installed system, and prints its figures as a table or one JSON object: a run here on a small
cohort (of the small case, for the suite's time), the bundled spec checked for the sizes the figures are about."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "evidence.py"


def _module():
    spec = importlib.util.spec_from_file_location("bench_evidence", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bundled_configuration_is_an_installed_system_a_gibibyte_and_256_mib(tmp_path: Path):
    from dflab.scenario.load import load_spec

    spec = load_spec(_module()._spec_file("bundled", tmp_path))
    root = next(v for v in spec.disk.volumes if v.os is not None)
    assert root.os.distribution == "debian-12"
    assert spec.disk.size >= 1 << 30 and spec.memory.size >= 256 << 20


def test_the_small_figures_as_json():
    done = subprocess.run([sys.executable, str(BENCH), "--config", "small", "--variants", "2", "--repeat", "1",
                           "--workers", "1", "--json"], capture_output=True, text=True, check=True, cwd=ROOT)
    out = json.loads(done.stdout)
    assert set(out) == {"small", "cpus", "load_average_before"}
    f = out["small"]
    assert f["variants"] == 2 and f["workers"] == 1 and f["installed_files"] == 0  # the small root installs none
    assert abs(f["ratio_to_cp"] - f["single_build_s"] / f["cp_same_bytes_s"]) < 0.02 * f["ratio_to_cp"]  # rounding
    assert 0 < f["disk_du_bytes"] < f["disk_bytes"] <= f["evidence_bytes"]
    assert f["variants_cpu_s"] > 0 and f["single_build_cpu_s"] > 0 and f["os_tree_shared_cpu_s"] < 0.5
