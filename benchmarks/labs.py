#!/usr/bin/env python3
"""How long does each lab's solution notebook take end to end? (issue #3, target <= 20 s each)

Builds one trainee's evidence, then executes every `labs/<lab>/source.ipynb` (the solution) with a fresh
kernel, exactly as `nbgrader autograde` does (kernel start included), and counts the answers it recorded.
A lab whose lab.yaml declares hooks (01-live: its live suspect) runs as in the trainee's
environment instead: in its own namespaces beside its running suspect (tests/livekit.py), where it collects.
Use --json for one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dflab.evidence.build import build_variant  # noqa: E402
from dflab.lab.answers import ANSWER_MIME  # noqa: E402
from dflab.lab_meta import read_lab  # noqa: E402
from dflab.live.traits import suspect_seed  # noqa: E402
from dflab.scenario.draw import DEMO_SECRET  # noqa: E402
from dflab.scenario.load import load_spec  # noqa: E402
from tests.livekit import run_as_trainee  # noqa: E402

SPEC = ROOT / "labs" / "scenarios" / "nightjar.yaml"
TARGET_S = 20.0


def run_lab(lab_dir: Path, evidence: Path, work: Path) -> dict[str, object]:
    """Execute one lab's solution notebook in a copy of its folder; return time and answers recorded."""
    shutil.copytree(lab_dir, work)
    if read_lab(lab_dir).hooks:  # lab 01: its hooks run the live suspect beside the lab
        figures = run_as_trainee(work, "source.ipynb", suspect_seed("bench", DEMO_SECRET))
        seconds = float(figures["seconds"])
        return {"lab": lab_dir.name, "seconds": seconds, "answers_recorded": figures["answers_recorded"],
                "within_target": seconds <= TARGET_S}
    nb = nbformat.read(work / "source.ipynb", as_version=4)
    os.environ["DFLAB_EVIDENCE"] = str(evidence)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}})
    t0 = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - t0
    recorded = sum(1 for cell in nb.cells for out in cell.get("outputs", []) if ANSWER_MIME in out.get("data", {}))
    return {"lab": lab_dir.name, "seconds": round(seconds, 2), "answers_recorded": recorded,
            "within_target": seconds <= TARGET_S}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()
    labs = sorted(p.parent for p in (ROOT / "labs").glob("*/source.ipynb"))
    with tempfile.TemporaryDirectory(prefix="dflab-labs-bench-") as tmp:
        t = Path(tmp)
        build = build_variant(load_spec(SPEC), DEMO_SECRET, "bench", t / "bench")
        rows = [run_lab(lab, build.out / "evidence", t / lab.name) for lab in labs]
    if args.json:
        print(json.dumps({"target_s": TARGET_S, "labs": rows}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="lab solution notebooks, end to end (issue #3)")
    for col in ("lab", "seconds", "answers recorded", f"<= {TARGET_S:.0f} s"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["lab"]), f"{r['seconds']:.1f}", str(r["answers_recorded"]),
                      "yes" if r["within_target"] else "NO")
    Console().print(table)


if __name__ == "__main__":
    main()
