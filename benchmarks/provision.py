#!/usr/bin/env python3
"""How fast does a cohort's Docker session get ready, and what does an idle trainee cost? (issue #5)

Prints, in one run on this machine (a real Docker engine, `bash environments/docker/engine.sh start`):
  (a) session: the wall time of `dflab session start --backend docker --lab LAB --roster <N trainees>`,
      from launching the command until every trainee's JupyterLab answers 200 to its own token (checked
      again from here on every access-list URL), evidence variants included; the evidence phase is timed
      from the command's own "evidence <trainee>" lines. LAB is labs/02-disk by default, whose variants hold
      the disk only (its lab.yaml `evidence:`); `--lab labs/05-capstone` builds every kind (disk, memory, network);
  (b) floor: N bare `docker run`s of the same image with the same confinement (uid 1000, caps dropped,
      no-new-privileges, read-only root, the same tmpfs, memory/CPU/pids limits, evidence read-only, a
      workspace volume, a token) publishing 8888 on 127.0.0.1 directly, issued by as many parallel workers
      as the session starts labs with (`START_PARALLEL`), then polled (every 0.2 s, like the session) until
      all answer 200 with their token. No evidence build, no relay: what the engine and JupyterLab cost;
  ratio a/b (target <= 1.5x) and a's absolute time (target <= 60 s for 30);
  (c) idle memory per trainee with one kernel started in every lab: `docker stats` memory (usage minus
      inactive page cache) of the trainee's lab container PLUS an N-th of the session's relay container
      (target <= 120 MiB);
  (d) handing each trainee a variant whose disk image is 1 GiB sparse (about 3 MiB of data, as a built one):
      seconds and bytes per trainee (written to storage, `/proc/self/io` write_bytes, and left allocated on
      disk, `du`) for a copy per trainee as `shutil.copyfileobj` makes it (before), a copy that keeps holes
      (dflab.sparsecopy) and the read-only share the backends use (after: the variant checked and bound in
      as it is, dflab/provision/evidence_share.py). `--sparse-only` measures (d) alone, without Docker.

One unmeasured warm-up container runs first, so neither side pays for a cold image cache. Everything
started is removed at the end (`session stop --purge`, bare containers and their volumes).
Use --json for one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import docker.errors

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dflab.provision.docker_backend import LAB_PORT  # noqa: E402
from dflab.provision.evidence_share import checked_variant  # noqa: E402
from dflab.provision.http import api_status  # noqa: E402
from dflab.provision.trainee_container import LAB_LIMITS, TRAINEE  # noqa: E402
from dflab.session.manager import START_PARALLEL  # noqa: E402
from dflab.sparsecopy import allocated, copy_file  # noqa: E402

DEFAULT_LAB = ROOT / "labs" / "02-disk"
DFLAB = [str(Path(sys.executable).parent / "dflab")] if (Path(sys.executable).parent / "dflab").exists() \
    else [sys.executable, "-m", "dflab.cli"]
BENCH_LABEL = "dflab.bench"
POLL = 0.2
READY_TIMEOUT = 600.0
IDLE_SETTLE = 10.0  # seconds the kernels sit idle before memory is read
MIB = 1 << 20


def _dflab(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DFLAB, *args], capture_output=True, text=True, cwd=ROOT, check=False, **kw)


def _wait_all(endpoints: list[tuple[str, str]], deadline: float) -> None:
    """Poll every (url, token) until each answers 200; raise when the deadline passes."""
    waiting = set(endpoints)
    while waiting:
        if time.monotonic() > deadline:
            raise SystemExit(f"provision benchmark: {len(waiting)} lab(s) never answered")
        for ep in list(waiting):
            if api_status(*ep, timeout=2.0) == 200:
                waiting.discard(ep)
        if waiting:
            time.sleep(POLL)


# -- (b) the bare floor ---------------------------------------------------------------------------
def _bare_run(image: str, name: str, token: str, evidence: Path, tag: str) -> str:
    """`docker run` one confined JupyterLab publishing 8888 on 127.0.0.1; return its base URL."""
    limits, box = LAB_LIMITS, TRAINEE.for_hub()  # a lab's confinement, without lab 01's exec tmpfs
    tmpfs = [arg for path, options in box.tmpfs().items() for arg in ("--tmpfs", f"{path}:{options}")]
    cmd = ["docker", "run", "-d", "--name", name, "--label", f"{BENCH_LABEL}={tag}",
           "--user", box.user, *[a for cap in box.cap_drop for a in ("--cap-drop", cap)],
           *[a for opt in box.security_opt for a in ("--security-opt", opt)], "--read-only", *tmpfs,
           "--memory", limits.memory, "--memory-swap", limits.memory, "--cpus", str(limits.cpus),
           "--pids-limit", str(limits.pids), "--no-healthcheck",
           "--mount", f"type=bind,src={evidence},dst=/evidence,readonly",
           "--mount", "type=volume,dst=/home/trainee/work",
           "-e", f"DFLAB_TOKEN={token}", "-e", "DFLAB_EVIDENCE=/evidence",
           "-p", f"127.0.0.1::{LAB_PORT}", image]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    port = subprocess.run(["docker", "port", name, f"{LAB_PORT}/tcp"], check=True, capture_output=True,
                          text=True).stdout.split()[0].rsplit(":", 1)[1]
    return f"http://127.0.0.1:{port}/"


def _remove_bare(client: docker.DockerClient, tag: str) -> None:
    for c in client.containers.list(all=True, filters={"label": f"{BENCH_LABEL}={tag}"}):
        with contextlib.suppress(docker.errors.APIError):
            c.remove(force=True, v=True)


def bare_floor(client: docker.DockerClient, image: str, n: int, evidence: Path, tag: str) -> float:
    """Seconds from the first `docker run` until all ``n`` bare labs answer with their tokens."""
    tokens = [secrets.token_urlsafe(24) for _ in range(n)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=START_PARALLEL) as pool:
        urls = list(pool.map(lambda i: _bare_run(image, f"dflab-bench-{tag}-{i:03d}", tokens[i], evidence, tag),
                             range(n)))
    _wait_all(list(zip(urls, tokens, strict=True)), t0 + READY_TIMEOUT)
    return time.monotonic() - t0


# -- (a) the session ------------------------------------------------------------------------------
def session_start(image: str, n: int, work: Path, lab: Path) -> dict[str, Any]:
    """Run `dflab session start` for ``n`` trainees; time it and its evidence phase; check every URL."""
    roster = work / "roster.csv"
    roster.write_text("id\n" + "".join(f"bench{i:03d}\n" for i in range(n)))
    session_dir = work / "session"
    cmd = [*DFLAB, "session", "start", "--backend", "docker", "--lab", str(lab), "--roster", str(roster),
           "--session-dir", str(session_dir), "--image", image, "--secret", "provision-benchmark",
           "--timeout", str(READY_TIMEOUT)]
    evidence_done = 0.0
    lines = []
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    assert proc.stdout is not None
    for line in proc.stdout:  # the command says "evidence  built for ..." when its evidence phase ends
        lines.append(line)
        if line.startswith("evidence "):
            evidence_done = time.monotonic() - t0
    if proc.wait(timeout=READY_TIMEOUT) != 0:
        raise SystemExit(f"provision benchmark: session start failed (exit {proc.returncode}):\n"
                         + "".join(lines)[-3000:])
    endpoints = []
    for line in (session_dir / "access.csv").read_text().splitlines()[1:]:
        url = line.split(",", 1)[1]
        base, token = url.split("lab?token=")
        endpoints.append((base, token))
    if len(endpoints) != n:
        raise SystemExit(f"provision benchmark: access list has {len(endpoints)} labs, not {n}")
    _wait_all(endpoints, time.monotonic() + 60)
    total = time.monotonic() - t0
    return {"session_dir": session_dir, "total_s": total, "endpoints": endpoints,
            "evidence_s": evidence_done}


# -- (c) idle memory with one kernel --------------------------------------------------------------
def _start_kernel(url: str, token: str) -> None:
    """Start one kernel and wait for its kernel_info reply (over the websocket, as JupyterLab does)."""
    req = urllib.request.Request(f"{url}api/kernels", data=b"{}", method="POST",  # noqa: S310 -- our own URL
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
        kernel_id = json.load(resp)["id"]
    asyncio.run(asyncio.wait_for(_kernel_info(url, token, kernel_id), 120))


async def _kernel_info(url: str, token: str, kernel_id: str) -> None:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    ws_url = url.replace("http://", "ws://") + f"api/kernels/{kernel_id}/channels"
    ws = await websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"token {token}"},
                                             connect_timeout=120, request_timeout=120))
    msg_id = uuid.uuid4().hex
    ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "username": "bench", "session": uuid.uuid4().hex, "msg_type":
                   "kernel_info_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "content": {}, "channel": "shell"}))
    while (raw := await ws.read_message()) is not None:
        msg = json.loads(raw)
        if msg.get("msg_type") == "kernel_info_reply" and msg.get("parent_header", {}).get("msg_id") == msg_id:
            ws.close()
            return
    raise SystemExit(f"provision benchmark: the kernel in {url} closed before answering kernel_info")


def _memory(container: Any) -> int:
    """What `docker stats` shows: usage minus inactive page cache (cgroup v2 / v1 names)."""
    mem = container.stats(stream=False).get("memory_stats", {})
    detail = mem.get("stats", {})
    return int(mem.get("usage", 0)) - int(detail.get("inactive_file", detail.get("total_inactive_file", 0)))


def idle_memory(client: docker.DockerClient, session_id: str, endpoints: list[tuple[str, str]]) -> dict[str, Any]:
    with ThreadPoolExecutor(max_workers=START_PARALLEL) as pool:
        list(pool.map(lambda ep: _start_kernel(*ep), endpoints))
    time.sleep(IDLE_SETTLE)
    containers = client.containers.list(filters={"label": f"dflab.session={session_id}"})
    with ThreadPoolExecutor(max_workers=START_PARALLEL) as pool:
        used = dict(zip(containers, pool.map(_memory, containers), strict=True))
    per: dict[str, int] = {}
    shared = 0  # the session's relay, one for everybody: its share is added to each trainee
    for c, mem in used.items():
        if c.labels.get("dflab.role") == "lab":
            per[c.labels["dflab.trainee"]] = mem
        else:
            shared += mem
    mib = 2**20
    labs = [v / mib for v in per.values()]
    relay_share = shared / mib / max(1, len(per))
    totals = [lab + relay_share for lab in labs]
    return {"trainees_measured": len(per), "lab_mean_mib": statistics.mean(labs), "relay_mib": shared / mib,
            "relay_share_mib": relay_share, "per_trainee_mean_mib": statistics.mean(totals),
            "per_trainee_max_mib": max(totals)}


# -- (d) a 1 GiB sparse image per trainee ---------------------------------------------------------
SPARSE_SIZE = 1 << 30
# Where a built disk image has data: boot sector and partition table, a file system's metadata and files, the
# backup GPT at the end (offset, bytes); the rest is holes.
SPARSE_DATA = ((0, 1 << 20), (1 << 20, 1 << 20), (512 << 20, 1 << 20), (SPARSE_SIZE - (16 << 10), 16 << 10))


def _sparse_variant(session: Path) -> Path:
    """A variant as the backends get one: ``<session>/evidence/t/evidence`` with a 1 GiB sparse disk image."""
    evidence = session / "evidence" / "t" / "evidence"
    evidence.mkdir(parents=True)
    rng = random.Random(0)
    with open(evidence / "disk.img", "wb") as fh:
        fh.truncate(SPARSE_SIZE)
        for offset, length in SPARSE_DATA:
            fh.seek(offset)
            fh.write(rng.randbytes(length))
        os.fsync(fh.fileno())
    return evidence


def _written() -> int:
    """Bytes this process has caused to be sent to storage so far (the kernel's per-task I/O accounting)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise SystemExit("provision benchmark: /proc/self/io has no write_bytes (no task I/O accounting here)")


def _dense_copy(evidence: Path, dest: Path) -> None:
    dest.mkdir()
    with open(evidence / "disk.img", "rb") as src, open(dest / "disk.img", "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
        os.fsync(out.fileno())


def _sparse_copy(evidence: Path, dest: Path) -> None:
    dest.mkdir()
    copy_file(evidence / "disk.img", dest / "disk.img")
    fd = os.open(dest / "disk.img", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sparse_handout(work: Path, n: int) -> dict[str, dict[str, float]]:
    """Per trainee, for each way of handing the variant out: mean seconds, bytes written and bytes left on disk."""
    session = work / "sparse-session"
    evidence = _sparse_variant(session)

    def share(evidence: Path, dest: Path) -> None:  # what the backends do: check it, bind it (no bytes move)
        checked_variant(evidence, session)

    ways = {"copy per trainee (shutil.copyfileobj), before": _dense_copy,
            "copy keeping holes (dflab.sparsecopy)": _sparse_copy,
            "read-only share of the variant (the backends), after": share}
    out: dict[str, dict[str, float]] = {}
    for name, hand_out in ways.items():
        seconds, written, kept = [], [], []
        for i in range(n):
            dest = work / f"trainee-{i:03d}"
            w0, t0 = _written(), time.perf_counter()
            hand_out(evidence, dest)
            seconds.append(time.perf_counter() - t0)
            written.append(_written() - w0)
            kept.append(allocated(dest / "disk.img") if dest.exists() else 0)
            shutil.rmtree(dest, ignore_errors=True)  # one trainee's copy at a time on this disk
        out[name] = {"seconds": statistics.mean(seconds), "written_bytes": statistics.mean(written),
                     "allocated_bytes": statistics.mean(kept)}
    out["variant"] = {"apparent_bytes": SPARSE_SIZE, "allocated_bytes": allocated(evidence / "disk.img"),
                      "trainees": n}
    shutil.rmtree(session)
    return out


def _sparse_rows(sparse: dict[str, dict[str, float]]) -> list[tuple[str, str, str]]:
    variant = sparse["variant"]
    rows = [(f"(d) one 1 GiB sparse disk image per trainee ({variant['allocated_bytes'] / MIB:.1f} MiB of data), "
             f"mean of {variant['trainees']:.0f}", "seconds / MiB written / MiB on disk", "")]
    for name, fig in sparse.items():
        if name != "variant":
            rows.append((f"    {name}", f"{fig['seconds']:.3f} s / {fig['written_bytes'] / MIB:.1f} / "
                                         f"{fig['allocated_bytes'] / MIB:.1f}", ""))
    return rows


def _session_id(session_dir: Path) -> str:
    import sqlite3

    with contextlib.closing(sqlite3.connect(session_dir / "session.sqlite")) as db:
        return str(db.execute("SELECT value FROM meta WHERE key = 'session_id'").fetchone()[0])


def _note(text: str) -> None:
    """A progress line on stderr, so a long run shows where it is (the figures go to stdout)."""
    print(f"provision benchmark: {text} (load {_load()})", file=sys.stderr, flush=True)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trainees", type=int, default=30, help="cohort size N")
    ap.add_argument("--image", default="dflab/trainee:test", help="trainee image (built by the docker tests)")
    ap.add_argument("--lab", type=Path, default=DEFAULT_LAB,
                    help="lab folder the session hands out (its lab.yaml `evidence:` says which kinds are built)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ap.add_argument("--sparse-trainees", type=int, default=3, help="trainees (d) hands a 1 GiB sparse image to")
    ap.add_argument("--sparse-only", action="store_true", help="measure (d) alone (no Docker needed)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="dflab-provision-sparse-") as tmp:
        sparse = sparse_handout(Path(tmp), args.sparse_trainees)
    if args.sparse_only:
        _print_sparse(sparse, args.json)
        return

    client = docker.from_env(timeout=300)
    try:
        image = client.images.get(args.image)
    except docker.errors.ImageNotFound:
        raise SystemExit(f"provision benchmark: image {args.image} is not on the engine (run the docker tests "
                         "or environments/docker/build-image.sh)") from None
    tag = f"{os.getpid()}"
    # Pinned under a tag of its own: a rebuild moving args.image mid-run must not mix two images.
    pinned = f"dflab/trainee:bench-{tag}"
    image.tag(pinned)
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="dflab-provision-bench-") as tmp:
        work = Path(tmp)
        sample = work / "sample-evidence"
        sample.mkdir()
        sample.chmod(0o755)
        session: dict[str, Any] | None = None
        try:
            bare_floor(client, pinned, 1, sample, f"{tag}-warm")  # warm the image cache, not measured
            _remove_bare(client, f"{tag}-warm")
            bare_s = bare_floor(client, pinned, args.trainees, sample, tag)
            _note(f"bare floor: {bare_s:.1f} s for {args.trainees}")
            _remove_bare(client, tag)
            session = session_start(pinned, args.trainees, work, args.lab.resolve())
            _note(f"session: {session['total_s']:.1f} s (evidence phase ended at {session['evidence_s']:.1f} s)")
            memory = idle_memory(client, _session_id(session["session_dir"]), session["endpoints"])
        finally:
            _remove_bare(client, f"{tag}-warm")
            _remove_bare(client, tag)
            if session is not None or (work / "session" / "session.sqlite").exists():
                _dflab("session", "stop", "--purge", "--session-dir", str(work / "session"))
            # Evidence is made read-only for the containers; make it deletable again.
            subprocess.run(["chmod", "-R", "u+w", str(work)], check=False)
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(pinned, force=True, noprune=True)  # the tag only, while others use it

    total, evidence = session["total_s"], session["evidence_s"]
    from dflab.session.lab import load_lab

    figures = {
        "trainees": args.trainees,
        "lab": load_lab(args.lab.resolve()).id,
        "evidence_kinds": list(load_lab(args.lab.resolve()).evidence),
        "image": args.image,
        "image_id": image.id[:19],
        "start_parallel": START_PARALLEL,
        "session_ready_s": round(total, 1),
        "session_evidence_s": round(evidence, 1),
        "session_after_evidence_s": round(total - evidence, 1),
        "bare_floor_s": round(bare_s, 1),
        "ratio_session_to_bare": round(total / bare_s, 2),
        "ratio_after_evidence_to_bare": round((total - evidence) / bare_s, 2),
        "target_ratio": 1.5,
        "target_session_ready_s": 60,
        "idle_lab_mean_mib": round(memory["lab_mean_mib"], 1),
        "idle_relay_mib": round(memory["relay_mib"], 1),
        "idle_relay_share_mib": round(memory["relay_share_mib"], 2),
        "idle_per_trainee_mean_mib": round(memory["per_trainee_mean_mib"], 1),
        "idle_per_trainee_max_mib": round(memory["per_trainee_max_mib"], 1),
        "target_idle_per_trainee_mib": 120,
        "memory_trainees_measured": memory["trainees_measured"],
        "sparse_handout": sparse,
        "cpus": os.cpu_count(),
        "load_avg_1m_5m_before": load_before,
        "load_avg_1m_5m_after": _load(),
    }
    if args.json:
        print(json.dumps(figures))
        return
    from rich.console import Console
    from rich.table import Table

    n = args.trainees
    table = Table(title=f"dflab session provisioning, {n} trainees of lab {figures['lab']} (evidence: "
                        f"{', '.join(figures['evidence_kinds'])}), docker backend (issue #5)")
    for col in ("figure", "value", "target"):
        table.add_column(col)
    table.add_row(f"(a) session start → {n} labs answer (evidence included)", f"{total:.1f} s", "<= 60 s for 30")
    table.add_row("    of which: evidence variants built", f"{evidence:.1f} s", "")
    table.add_row("    of which: containers started until all answer", f"{total - evidence:.1f} s", "")
    table.add_row(f"(b) {n} bare `docker run`s ({START_PARALLEL} in parallel) → all answer", f"{bare_s:.1f} s", "")
    table.add_row("ratio a / b", f"{total / bare_s:.2f}x", "<= 1.5x")
    table.add_row("ratio (a minus evidence) / b", f"{(total - evidence) / bare_s:.2f}x", "")
    table.add_row("(c) idle memory per trainee, one kernel: lab + share of the relay",
                  f"{memory['per_trainee_mean_mib']:.0f} MiB mean, {memory['per_trainee_max_mib']:.0f} max",
                  "<= 120 MiB")
    table.add_row("    lab container (mean) / the session's one relay container",
                  f"{memory['lab_mean_mib']:.0f} / {memory['relay_mib']:.0f} MiB", "")
    for row in _sparse_rows(sparse):
        table.add_row(*row)
    table.add_row("load average 1m/5m before / after", f"{load_before} / {_load()} ({os.cpu_count()} CPUs)", "")
    Console().print(table)


def _print_sparse(sparse: dict[str, dict[str, float]], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"sparse_handout": sparse, "cpus": os.cpu_count(), "load_avg_1m_5m": _load()}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="handing out a 1 GiB sparse disk image, per trainee (issue #14 item 5)")
    for col in ("figure", "value", "target"):
        table.add_column(col)
    for row in _sparse_rows(sparse):
        table.add_row(*row)
    table.add_row("load average 1m/5m", f"{_load()} ({os.cpu_count()} CPUs)", "")
    Console().print(table)


if __name__ == "__main__":
    main()
