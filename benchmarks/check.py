#!/usr/bin/env python3
"""How fast does the instant checker answer when a whole cohort checks at once? (issue #16 item 1: p95 <= 100 ms)

Builds a lab-02 session of N trainees (default 30: evidence, keys, the course's check file; no lab is started,
the checker needs none) or reuses one (``--session DIR``, e.g. a ``dflab session start`` directory), starts its
checker as ``dflab session start`` does, then has N clients, one per trainee on that trainee's own socket, send K
checks each, all at once: right and wrong values in turn, over the lab's checkable answers. Each check is timed from
connecting to the last byte of the reply, and each verdict compared with :func:`check_answer` on the trainee's key.

The baseline, in the same run: the same checks as in-process ``check_answer`` calls, what a verdict costs without
the socket, HTTP, the rate limit's query and the attempt's record.  Prints a table, or one JSON object with --json.
Attempts of the run are recorded in the session like any others (each trainee gets at most ``RateLimit.tries``
per answer: more would measure refusals).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dflab.checker import paths, process  # noqa: E402
from dflab.checker.protocol import CHECK_ROUTE, connect_unix  # noqa: E402
from dflab.checker.ratelimit import RATE_LIMIT  # noqa: E402
from dflab.checker.service import Checker  # noqa: E402
from dflab.grading.checks import CheckFile, check_answer, checks_for, lookup  # noqa: E402
from dflab.labcheck import typed_value  # noqa: E402
from dflab.roster import read_roster  # noqa: E402
from dflab.session.manager import Session  # noqa: E402

LAB = ROOT / "labs" / "02-disk"
TARGET_P95_MS = 100.0
SECRET = "benchmark-secret"


def build_session(base: Path, trainees: int, workers: int | None) -> Session:
    """A session of ``trainees`` with every variant built and the course prepared, and no lab started."""
    roster = base / "roster.csv"
    roster.write_text("id\n" + "".join(f"t{i:02d}\n" for i in range(trainees)), encoding="utf-8")
    session = Session(base / "session")
    lab = session.configure("local", LAB, "", SECRET)
    session.add_trainees(read_roster(roster), SECRET)
    session.prepare_course(lab, roster, SECRET, workers, build_evidence=True)
    session.unbuilt_evidence()  # records each variant's manifest hash, as `session start` does
    return session


def plan(session: Session, checks: CheckFile, answers: list[str], per_trainee: int) -> dict[str, list[tuple]]:
    """Per trainee: ``per_trainee`` (answer, value, key) checks, the right value and a wrong one in turn."""
    work: dict[str, list[tuple]] = {}
    for trainee in process.served_trainees(session.state):
        key = json.loads((session.dir / "evidence" / trainee / "key" / "answer_key.json").read_text(encoding="utf-8"))
        cases = []
        for i in range(per_trainee):
            name = answers[i % len(answers)]
            right = typed_value(checks.checks[name], lookup(key, checks.key_path(name), "key"))
            cases.append((name, right if i % 2 == 0 else _wrong(right), key))
        work[trainee] = cases
    return work


def _wrong(value: Any) -> Any:
    """A value of the same kind that is not ``value``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return "not it"
    return value + 1 if isinstance(value, (int, float)) else value + "x"


async def _one(path: str, name: str, value: Any) -> tuple[float, dict[str, Any]]:
    body = json.dumps({"answer": name, "value": value}).encode()
    request = (f"POST {CHECK_ROUTE} HTTP/1.1\r\nHost: checker\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_unix_connection(sock=connect_unix(path, 30.0))
    writer.write(request)
    reply = await reader.read()
    seconds = time.perf_counter() - t0
    writer.close()
    head, _, payload = reply.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if status != 200:
        raise SystemExit(f"benchmark: the checker answered {status}: {payload[:200]!r}")
    return seconds, json.loads(payload)


async def _client(path: str, cases: list[tuple]) -> list[tuple[float, dict[str, Any]]]:
    return [await _one(path, name, value) for name, value, _key in cases]


async def _cohort(session: Session, work: dict[str, list[tuple]]) -> list[list[tuple[float, dict[str, Any]]]]:
    """Every trainee's client at once, each sending its checks one after another."""
    return await asyncio.gather(*(_client(str(paths.socket_path(session.dir, t)), cases) for t, cases in work.items()))


def _cpu_seconds(pid: int) -> float:
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value at least ``share`` of them do not exceed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def run(session: Session, per_trainee: int) -> dict[str, Any]:
    checks = checks_for(session.dir / "graders", session.lab_id)
    names = Checker(session.dir, session.state, session.lab_id, checks).answers()  # what the checker takes
    if per_trainee > RATE_LIMIT.tries * len(names):
        sys.exit(f"benchmark: at most {RATE_LIMIT.tries * len(names)} checks per trainee fit the rate limit")
    pid = session.ensure_checker().pid or 0
    work = plan(session, checks, names, per_trainee)
    # Baseline: the verdicts alone, in this process.
    baseline = []
    for cases in work.values():
        for name, value, key in cases:
            t0 = time.perf_counter()
            check_answer(checks, name, value, key, "key")
            baseline.append(time.perf_counter() - t0)
    load_before, cpu_before = os.getloadavg()[0], _cpu_seconds(pid)
    t0 = time.perf_counter()
    replies = asyncio.run(_cohort(session, work))
    wall = time.perf_counter() - t0
    load_after, cpu = os.getloadavg()[0], _cpu_seconds(pid) - cpu_before
    latencies = [seconds for client in replies for seconds, _ in client]
    agree = all(reply["correct"] == check_answer(checks, name, value, key, "key")[0]
                for cases, client in zip(work.values(), replies, strict=True)
                for (name, value, key), (_, reply) in zip(cases, client, strict=True))
    p95 = percentile(latencies, 0.95) * 1000
    return {"lab": session.lab_id, "trainees": len(work), "checks_each": per_trainee, "checks": len(latencies),
            "p50_ms": round(statistics.median(latencies) * 1000, 2), "p95_ms": round(p95, 2),
            "max_ms": round(max(latencies) * 1000, 2), "target_p95_ms": TARGET_P95_MS,
            "meets_target": p95 <= TARGET_P95_MS,
            "checks_per_s": round(len(latencies) / wall, 1), "checker_cpu_s": round(cpu, 2),
            "checker_cpu_ms_per_check": round(1000 * cpu / len(latencies), 2),
            "baseline_p50_us": round(statistics.median(baseline) * 1e6, 1),
            "baseline_p95_us": round(percentile(baseline, 0.95) * 1e6, 1),
            "verdicts_agree": agree, "cores": os.cpu_count(),
            "load_avg_1min": [round(load_before, 2), round(load_after, 2)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trainees", type=int, default=30, help="trainees in the built session (default 30)")
    ap.add_argument("--checks", type=int, default=10, help="checks per trainee, all at once (default 10)")
    ap.add_argument("--session", type=Path, default=None,
                    help="use this built session directory instead of building one (its checker is started if needed)")
    ap.add_argument("--workers", type=int, default=None, help="parallel evidence builds (default: all cores)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dflab-check-bench-") as tmp:
        session = Session.existing(args.session) if args.session else build_session(Path(tmp), args.trainees,
                                                                                     args.workers)
        owned = args.session is None
        try:
            figures = run(session, args.checks)
        finally:
            if owned:
                process.stop(session.dir, session.state)
    if args.json:
        print(json.dumps(figures))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{figures['trainees']} trainees checking {figures['lab']} answers at once "
                        f"(issue #16, target p95 <= {TARGET_P95_MS:.0f} ms)")
    for column in ("measured", "checks", "p50", "p95", "max"):
        table.add_column(column, justify="left" if column == "measured" else "right")
    table.add_row("instant check over the trainee's socket", str(figures["checks"]), f"{figures['p50_ms']:.1f} ms",
                  f"{figures['p95_ms']:.1f} ms", f"{figures['max_ms']:.1f} ms")
    table.add_row("baseline: check_answer in-process", str(figures["checks"]), f"{figures['baseline_p50_us']:.0f} µs",
                  f"{figures['baseline_p95_us']:.0f} µs", "")
    console = Console()
    console.print(table)
    console.print(f"{figures['checks_per_s']:.0f} checks/s; the checker used {figures['checker_cpu_s']:.2f} CPU s "
                  f"({figures['checker_cpu_ms_per_check']:.2f} ms a check) on {figures['cores']} cores, which does not "
                  "depend on what else runs here; 1-minute load average before and after: "
                  f"{figures['load_avg_1min'][0]:.2f}, {figures['load_avg_1min'][1]:.2f}", highlight=False)
    verdict = "meets" if figures["meets_target"] else "MISSES"
    console.print(f"p95 {figures['p95_ms']:.1f} ms ({verdict} the target); verdicts equal check_answer's: "
                  f"{'yes' if figures['verdicts_agree'] else 'NO'}", highlight=False)


if __name__ == "__main__":
    main()
