"""Build evidence: spec + seed → evidence directory + answer key, for one trainee or a whole cohort.

Layout of one variant's build (the unit handed to a trainee is ``evidence/``;
``key/`` stays with the instructor)::

    <out>/evidence/disk.img            raw partitioned disk image
    <out>/evidence/disk.E01            the same image as EnCase 6, when the spec sets ``disk.e01``
    <out>/evidence/memory.raw|.lime    physical memory
    <out>/evidence/symbols/linux/*.json  volatility3 ISF symbol table for that memory
    <out>/evidence/network.pcap|.pcapng  capture of the suspect's segment
    <out>/evidence/capture.pcapng      a Windows workstation's capture (``platform: windows``: disk.img is its
                                       GPT disk; no memory)
    <out>/evidence/manifest.json       size + SHA-256 of every evidence file
    <out>/key/answer_key.json          answers and facts (never given to trainees)

A lab may hand out only some kinds (``kinds``; lab.yaml ``evidence:``): a disk lab needs no memory image
or capture, and a cohort's start-up waits for every variant. The disk is always built: answer keys name
its layout (inode numbers, partition offsets) whatever the lab.

The whole directory is built in a temporary sibling and renamed into place,
so an interrupted or failed build leaves nothing half-written behind.  A
failed cohort build (``dflab evidence build``; any exception, Ctrl-C
included) also removes the output directories it created, and an output
directory it leaves empty: nothing of the failure stays.  Variants completed
before the failure are whole and stay: callers hand them out as they land
(``on_done``), and ``--force`` rebuilds them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dflab.atomic import atomic_dir, ensure_writable_dir, write_bytes
from dflab.evidence.disk import write_disk
from dflab.evidence.disk.ewf import require_tools, write_e01
from dflab.evidence.facts import SharedFacts
from dflab.evidence.key import build_key, build_windows_key
from dflab.evidence.kinds import CASE_KINDS, check_kinds
from dflab.evidence.manifest import canonical_json, evidence_files, load_manifest, sha256_file, write_manifest
from dflab.evidence.memory import write_memory
from dflab.evidence.network import write_network
from dflab.lab_hooks import labs_key_facts, labs_materials
from dflab.lab_meta import REPO
from dflab.scenario import ostree
from dflab.scenario.case import Case
from dflab.scenario.draw import variant_seed
from dflab.scenario.load import AnySpec, load_spec
from dflab.scenario.resolve import resolve
from dflab.scenario.spec import Spec, WindowsSpec
from dflab.scenario.workstation import ResolvedWorkstation, resolve_workstation

EVIDENCE = "evidence"
KEY = "key"
KEY_FILE = "answer_key.json"


@dataclass(frozen=True)
class BuildResult:
    variant: str
    out: Path
    manifest_sha256: str
    seconds: float
    bytes_written: int


def write_case(case: Case, out: Path, lab_facts: dict[str, dict[str, Any]],
               kinds: tuple[str, ...] = CASE_KINDS, labs_dir: Path | None = None) -> str:
    """Write one case's evidence and key into the existing, empty directory ``out``; return the manifest hash.

    ``lab_facts`` are what the labs' hooks add to the trainee's key (:func:`dflab.lab_hooks.labs_key_facts`): no
    evidence file holds them, only the key.
    ``kinds`` (from :func:`check_kinds`) are the evidence kinds written; the key's ``facts`` hold theirs.
    ``labs_dir``: the labs whose ``materials`` hooks add documents to the evidence, and their facts to the key
    (:func:`dflab.lab_hooks.labs_materials`), when ``kinds`` holds ``materials``.

    Hashing the large images is most of the cost of a build; it runs in a
    thread (hashlib releases the GIL) while the next writer works in Python.
    """
    ev = out / EVIDENCE
    ev.mkdir()
    hashing: dict[Path, Future[str]] = {}
    with ThreadPoolExecutor(max_workers=3) as pool:

        def hash_new_files() -> None:
            for p in evidence_files(ev):
                if p not in hashing:
                    hashing[p] = pool.submit(sha256_file, p)

        disk = write_disk(case, ev / "disk.img")
        hash_new_files()
        # ewfacquire (a subprocess) converts the image while the memory and network writers run in Python.
        e01 = pool.submit(write_e01, ev / "disk.img", ev / "disk.E01", case.disk.e01,
                          where=f"scenario {case.scenario_id}: disk.e01", work_dir=out) if case.disk.e01 else None
        # Memory names the files the disk writer just laid out, by the inode numbers it chose (dflab.evidence.facts).
        memory = write_memory(case, ev, case.memory.formats, SharedFacts(case, disk)) if "memory" in kinds else None
        hash_new_files()
        network = write_network(case, ev) if "network" in kinds else None
        if e01:
            disk["e01"] = e01.result()
            hash_new_files()
        if labs_dir is not None and "materials" in kinds:
            # labs' documents derived from the case and these files' hashes (lab_hooks)
            exhibits = {p.relative_to(ev).as_posix(): f.result() for p, f in hashing.items()}
            lab_facts = {**lab_facts, **labs_materials(labs_dir, case, exhibits, ev, taken=lab_facts)}
            hash_new_files()
        known = {p: f.result() for p, f in hashing.items()}
    manifest_sha = write_manifest(ev, case.scenario_id, case.variant, known)
    key = build_key(case, disk, memory, network, manifest_sha, load_manifest(ev)["files"],
                    lab_facts=lab_facts)
    write_bytes(out / KEY / KEY_FILE, canonical_json(key))
    return manifest_sha


WINDOWS_DISK = "disk.img"
WINDOWS_CAPTURE = "capture.pcapng"
_CAPTURE_MODULE = "dflab.evidence.windows.workstation.capture"
WINDOWS_FS = {"esp": "fat32", "windows": "ntfs"}  # the MSR holds no file system (dflab.evidence.windows.gptdisk)


def _windows_capture() -> Any:
    """The workstation's capture module (``workstation_capture``, ``capture_facts``), or None while this checkout
    has none: a Windows variant is then built without its ``network`` kind, and its key has no ``facts.network``."""
    try:
        from dflab.evidence.windows.workstation import capture
    except ModuleNotFoundError as exc:
        if exc.name != _CAPTURE_MODULE:
            raise
        return None
    return capture


def write_windows_case(resolved: ResolvedWorkstation, out: Path, lab_facts: dict[str, dict[str, Any]],
                       kinds: tuple[str, ...] = CASE_KINDS) -> str:
    """:func:`write_case` for a Windows workstation: the GPT disk, the capture when ``kinds`` holds ``network``
    (Windows memory is not written: ``memory`` asks for nothing here), the manifest and the key; the manifest hash.
    Labs' ``materials`` hooks read a Linux case, so they add nothing to a Windows variant."""
    from dflab.evidence.windows.workstation import build_workstation

    ev = out / EVIDENCE
    ev.mkdir()
    station = build_workstation(resolved.case, resolved.decided)
    station.disk.write(ev / WINDOWS_DISK)
    network = None
    capture = _windows_capture() if "network" in kinds else None
    if capture is not None:
        write_bytes(ev / WINDOWS_CAPTURE, capture.workstation_capture(resolved.case, station.decided))
        network = {**capture.capture_facts(resolved.case, station.decided), "file": WINDOWS_CAPTURE}
    manifest_sha = write_manifest(ev, resolved.scenario_id, resolved.variant)
    disk = {"table": "gpt", "size": station.disk.size,
            "volumes": {p.volume.id: {"index": p.index, "start_sector": p.start, "sectors": p.sectors, "type": p.type,
                                      "fs": WINDOWS_FS.get(p.volume.id)} for p in station.disk.partitions}}
    key = build_windows_key(resolved, station.decided, station.facts, disk, network, manifest_sha,
                            load_manifest(ev)["files"], lab_facts=lab_facts)
    write_bytes(out / KEY / KEY_FILE, canonical_json(key))
    return manifest_sha


def _missing_dirs(path: Path) -> list[Path]:
    """``path`` and its ancestors that do not exist yet, deepest first: what creating ``path`` would make."""
    out = []
    while not path.exists() and path != path.parent:
        out.append(path)
        path = path.parent
    return out


def _remove_empty(dirs: Iterable[Path]) -> None:
    """Remove each directory that is (now) empty, in the order given (deepest first); keep anything else."""
    for d in dirs:
        try:
            d.rmdir()
        except OSError:
            pass  # not empty, already gone, or not ours to remove


LABS = REPO / "labs"  # the bundled labs: whose hooks add facts to keys built without a course's own labs folder


def build_variant(spec: AnySpec, secret: str, trainee: str, out: Path, *, force: bool = False,
                  kinds: Iterable[str] = CASE_KINDS, labs_dir: Path = LABS) -> BuildResult:
    """Build one trainee's variant into ``out`` (atomically; ``force`` replaces an existing build); the key holds
    what the hooks of the labs in ``labs_dir`` add (:func:`dflab.lab_hooks.labs_key_facts`)."""
    t0 = time.perf_counter()
    written = check_kinds(kinds, "evidence kinds")
    seed = variant_seed(secret, spec.scenario, trainee)
    if isinstance(spec, WindowsSpec):
        resolved = resolve_workstation(spec, seed, trainee)
        with atomic_dir(out, replace=force) as tmp:
            manifest_sha = write_windows_case(resolved, tmp, labs_key_facts(labs_dir, trainee, secret), written)
    else:
        case = resolve(spec, seed, trainee)
        with atomic_dir(out, replace=force) as tmp:
            manifest_sha = write_case(case, tmp, labs_key_facts(labs_dir, trainee, secret), written, labs_dir)
    size = sum(p.stat().st_blocks * 512 for p in out.rglob("*") if p.is_file())
    return BuildResult(trainee, out, manifest_sha, time.perf_counter() - t0, size)


def _build_one(spec_path: str, secret: str, trainee: str, out: str, force: bool,
               kinds: tuple[str, ...], labs_dir: str) -> BuildResult:
    return build_variant(load_spec(spec_path), secret, trainee, Path(out), force=force, kinds=kinds,
                         labs_dir=Path(labs_dir))


def build_cohort(spec_path: Path, secret: str, trainees: Iterable[str], out_root: Path, *, workers: int | None = None,
                 force: bool = False, on_done: Callable[[BuildResult], None] | None = None,
                 on_started: Callable[[], None] | None = None,
                 kinds: Iterable[str] = CASE_KINDS, labs_dir: Path = LABS) -> list[BuildResult]:
    """Build every trainee's variant under ``out_root/<trainee>/`` using ``workers`` processes (all cores by default).

    Each variant is independent and CPU-bound in Python, so processes (not
    threads) are what uses both cores.  Results come back in completion order
    through ``on_done`` (for a progress bar) and are returned in input order.
    ``on_started`` is called once every worker process exists: the moment a
    caller may start threads of its own without forking beside them.
    ``labs_dir``: the labs whose hooks add facts to each key (a course's own labs folder; the bundled ones).
    """
    spec = load_spec(spec_path)  # fail fast, in this process, on a bad spec, a missing tool or output directory
    written = check_kinds(kinds, "evidence kinds")
    if isinstance(spec, Spec) and spec.disk.e01:
        require_tools(f"{spec_path}: disk.e01")
    for volume in spec.disk.volumes if isinstance(spec, Spec) else ():
        if volume.os is not None:  # made here, before the workers fork: each inherits it (ostree's module docstring)
            ostree.shared(volume.os.distribution, volume.os.profile)
    made = _missing_dirs(out_root)
    ensure_writable_dir(out_root)
    try:
        return _build_all(str(spec_path), secret, list(trainees), out_root, workers, force, on_done, on_started,
                          written, str(labs_dir))
    except BaseException:
        # No worker builds any more (see _build_all) and each failed variant removed its own temporary directory:
        # remove the output directories left empty (out_root too when a caller made it just before: the CLI does).
        _remove_empty(made or [out_root])
        raise


def _build_all(spec_path: str, secret: str, names: list[str], out_root: Path, workers: int | None, force: bool,
               on_done: Callable[[BuildResult], None] | None, on_started: Callable[[], None] | None,
               written: tuple[str, ...], labs_dir: str) -> list[BuildResult]:
    """Build ``names`` in order (one worker) or in processes; on any failure return only once no worker builds."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(names)))
    if workers == 1:
        if on_started:
            on_started()
        results = []
        for t in names:
            results.append(_build_one(spec_path, secret, t, str(out_root / t), force, written, labs_dir))
            if on_done:
                on_done(results[-1])
        return results
    done: dict[str, BuildResult] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # With the fork start method every worker is forked at the first submit, so they all exist here.
        futures = {pool.submit(_build_one, spec_path, secret, t, str(out_root / t), force, written, labs_dir): t
                   for t in names}
        if on_started:
            on_started()
        try:
            for fut in as_completed(futures):
                res = fut.result()
                done[futures[fut]] = res
                if on_done:
                    on_done(res)
        except BaseException:
            # Drop the queued builds and wait for the running ones (a Ctrl-C reaches them too and stops them), so
            # no variant is renamed into place after the caller has cleaned up.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [done[t] for t in names]
