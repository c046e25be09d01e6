#!/usr/bin/env python3
"""How fast does the instructor's dashboard refresh for a cohort? (issue #17: refresh <= 1 s for 30 trainees)

Builds a synthetic session of N trainees (default 30) of lab 02: the session's state (rows as ``dflab session start``
records them, the trainees' instant checks in ``attempts``) and each trainee's saved notebook in their workspace, the
lab's instructor notebook with a different number of answers recorded in each (outputs as ``answer()`` emits them).
No lab is started and no evidence built: the page reads state and notebooks, and the labs' own servers are asked
in the background (:class:`dflab.dashboard.live.Watcher`), never on a request's path; its round over N labs that
do not answer is timed separately.

The dashboard is served as ``dflab session dashboard`` serves it (tornado on 127.0.0.1, in a thread of this
process), and its data endpoint ``/api/data`` (and the HTML fragment ``/view`` the page swaps in each second) is
requested K times with the instructor's token, from the last byte sent to the last byte read, while M trainees
save their notebook between two requests (so the notebooks the page must read again change as in a lab). Prints a
table, or one JSON object with --json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from dflab.dashboard.server import App, serving  # noqa: E402
from dflab.lab.answers import ANSWER_MIME  # noqa: E402
from dflab.lab.recorded import answer_names  # noqa: E402
from dflab.lab_meta import parse_answers  # noqa: E402
from dflab.roster import read_roster  # noqa: E402
from dflab.session.manager import Session  # noqa: E402

LAB = ROOT / "labs" / "02-disk"
TARGET_S = 1.0
SECRET = "benchmark-secret"
WELL_FORMED = {"hex": lambda rule: "0" * (rule.get("length") or 32), "text": lambda rule: "benchmark",
               "int": lambda rule: 4096, "number": lambda rule: 1.5, "path": lambda rule: "/home/benchmark",
               "time": lambda rule: "2026-01-01T00:00:00Z", "list": lambda rule: ["benchmark"]}


def answered_notebook(source: nbformat.NotebookNode, shapes: dict[str, dict[str, Any]], recorded: int,
                      stamp: int = 0) -> nbformat.NotebookNode:
    """``source`` with its first ``recorded`` answer-recording test cells run: each records a well-formed value."""
    nb = nbformat.from_dict(json.loads(json.dumps(source)))
    done = 0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        names = answer_names(cell.source) if meta.get("grade") and not meta.get("solution") else []
        if cell.cell_type != "code" or not names:
            continue
        cell.outputs = []
        if done < recorded:
            for name in names:
                cell.outputs.append(nbformat.v4.new_output(
                    "display_data", data={ANSWER_MIME: {"name": name, "value": WELL_FORMED[shapes[name]["shape"]](
                        shapes[name])}, "text/plain": f"recorded {name} ({stamp})"}))
            done += 1
    return nb


def build_session(base: Path, trainees: int) -> Session:
    """A lab-02 session of ``trainees``: state rows, instant checks, a saved notebook in each workspace."""
    roster = base / "roster.csv"
    roster.write_text("id\n" + "".join(f"t{i:02d}\n" for i in range(trainees)), encoding="utf-8")
    session = Session(base / "session")
    session.configure("local", LAB, "", SECRET)
    session.add_trainees(read_roster(roster), SECRET)
    shapes = parse_answers((LAB / "lab.yaml").read_text(encoding="utf-8"), "lab.yaml")
    source = nbformat.read(LAB / "source.ipynb", as_version=4)
    notebook = session.state.get_meta("notebook") or ""
    start = datetime.now(UTC) - timedelta(minutes=40)
    for i, row in enumerate(session.state.trainees()):
        session.state.update(row.id, status="stopped", started_at=start.isoformat(timespec="seconds"),
                             url=f"http://127.0.0.1:9/t{i}/")
        folder = session.dir / "workspaces" / row.id / session.lab_id
        folder.mkdir(parents=True)
        nbformat.write(answered_notebook(source, shapes, i % (len(shapes) + 1)), folder / notebook)
        for k, name in enumerate(list(shapes)[: i % 5]):
            for attempt in range(3):
                at = start + timedelta(minutes=k, seconds=attempt)
                session.state.record_attempt(row.id, session.lab_id, name, at, f"{k:064x}", attempt == 2)
    return session


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value at least ``share`` of them do not exceed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _get(url: str, token: str) -> float:
    request = urllib.request.Request(url, headers={"X-Dflab-Token": token})  # noqa: S310 -- our own http:// URL
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        response.read()
        if response.status != 200:
            raise SystemExit(f"benchmark: {url} answered {response.status}")
    return time.perf_counter() - t0


def run(session: Session, requests: int, saves: int) -> dict[str, Any]:
    app = App(session, timedelta(minutes=10), watch_interval=1.0)
    shapes = parse_answers((LAB / "lab.yaml").read_text(encoding="utf-8"), "lab.yaml")
    source = nbformat.read(LAB / "source.ipynb", as_version=4)
    rows = session.state.trainees()
    notebook = session.state.get_meta("notebook") or ""
    t0 = time.perf_counter()
    app.watcher.refresh()
    watch_round = time.perf_counter() - t0
    timings: dict[str, list[float]] = {"api/data": [], "view": []}
    with serving(app) as port:
        base = f"http://127.0.0.1:{port}/"
        _get(base + "api/data", app.token)  # the first read parses every notebook once
        for n in range(requests):
            for k in range(saves):  # trainees saving between two refreshes: their notebooks are read again
                row = rows[(n * saves + k) % len(rows)]
                path = session.dir / "workspaces" / row.id / session.lab_id / notebook
                nbformat.write(answered_notebook(source, shapes, (n + k) % (len(shapes) + 1), n), path)
                os.utime(path, ns=(time.time_ns(), time.time_ns() + n + 1))
            for route, values in timings.items():
                values.append(_get(base + route, app.token))
    figures: dict[str, Any] = {"lab": session.lab_id, "trainees": len(rows), "requests": requests,
                               "saves_between_requests": saves, "target_s": TARGET_S,
                               "watch_round_s": round(watch_round, 3), "cores": os.cpu_count()}
    for route, measured in timings.items():
        key = route.replace("/", "_")
        figures[f"{key}_p50_ms"] = round(statistics.median(measured) * 1000, 1)
        figures[f"{key}_p95_ms"] = round(percentile(measured, 0.95) * 1000, 1)
        figures[f"{key}_max_ms"] = round(max(measured) * 1000, 1)
    figures["meets_target"] = max(figures["api_data_p95_ms"], figures["view_p95_ms"]) <= TARGET_S * 1000
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trainees", type=int, default=30, help="trainees in the synthetic session (default 30)")
    ap.add_argument("--requests", type=int, default=50, help="refreshes measured (default 50)")
    ap.add_argument("--saves", type=int, default=3, help="notebooks saved between two refreshes (default 3)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dflab-dashboard-bench-") as tmp:
        figures = run(build_session(Path(tmp), args.trainees), args.requests, args.saves)
    if args.json:
        print(json.dumps(figures))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"dashboard refresh, {figures['trainees']} trainees of {figures['lab']}, "
                        f"{figures['saves_between_requests']} saving between refreshes "
                        f"(issue #17, target <= {TARGET_S:.0f} s)")
    for column in ("endpoint", "requests", "p50", "p95", "max"):
        table.add_column(column, justify="left" if column == "endpoint" else "right")
    for route, key in (("/api/data (JSON snapshot)", "api_data"), ("/view (the page's live part)", "view")):
        table.add_row(route, str(figures["requests"]), f"{figures[f'{key}_p50_ms']:.1f} ms",
                      f"{figures[f'{key}_p95_ms']:.1f} ms", f"{figures[f'{key}_max_ms']:.1f} ms")
    console = Console()
    console.print(table)
    verdict = "meets" if figures["meets_target"] else "MISSES"
    console.print(f"p95 {verdict} the target; the background round asking {figures['trainees']} labs that do not run "
                  f"took {figures['watch_round_s']:.2f} s (off the request path), on {figures['cores']} cores",
                  highlight=False)


if __name__ == "__main__":
    main()
