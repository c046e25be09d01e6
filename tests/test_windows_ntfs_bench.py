"""benchmarks/evidence.py's ``windows`` configuration (#18 item 8): a Windows variant's build against `cp` of its
bytes and a cohort in processes, judged against the targets in the same run. Run here on a small cohort of
``WorkstationCase`` variants (the path that needs no scenario spec); the disk it measures is the NTFS volume's
pieces written sparse, so its blocks on disk are a small part of its apparent size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "evidence.py"


def test_the_windows_figures_as_json():
    done = subprocess.run([sys.executable, str(BENCH), "--config", "windows", "--windows-from", "case", "--variants",
                           "3", "--repeat", "1", "--workers", "2", "--json"], capture_output=True, text=True,
                          check=True, cwd=ROOT, timeout=600)
    out = json.loads(done.stdout)
    assert set(out) == {"windows", "cpus", "load_average_before"}
    f = out["windows"]
    assert f["path"] == "WorkstationCase build_workstation"
    assert f["variants"] == 3 and f["workers"] == 2
    # the figures are rounded (ratio to 2 decimals, times to 3): a ratio under 1 (the 2 GiB volume's copy costs more
    # than building its pieces) moves by up to 0.005 from its own rounding alone
    assert abs(f["ratio_to_cp"] - f["single_build_s"] / f["cp_same_bytes_s"]) < 0.02 * f["ratio_to_cp"] + 0.01
    assert f["within_targets"] == {"ratio_to_cp": f["ratio_to_cp"] <= 10, "variants_wall_s": f["variants_wall_s"] <= 60}
    assert f["target_ratio_to_cp"] == 10 and f["target_variants_wall_s"] == 60
    assert 0 < f["disk_du_bytes"] < f["disk_bytes"] // 4 and f["disk_bytes"] <= f["evidence_bytes"]
    assert f["variants_cpu_s"] > 0 and f["single_build_cpu_s"] > 0 and f["peak_rss_single_build_mib"] > 0


def test_each_variant_is_a_workstation_of_its_own():
    sys.path.insert(0, str(ROOT))
    from benchmarks.evidence import workstation_case

    cases = [workstation_case(f"trainee{i:03d}") for i in range(30)]
    assert len({c.seed for c in cases}) == 30
    assert len({c.computer_name for c in cases}) > 10 and len({c.user.name for c in cases}) > 4
