"""Write a case's memory evidence (raw and/or LiME image plus its ISF) and return its answer facts."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dflab.errors import EvidenceError
from dflab.evidence.facts import SharedFacts, decide, handed_over
from dflab.evidence.memory.image import MemoryImage, build_image
from dflab.evidence.memory.isf import isf_bytes, isf_document, isf_name
from dflab.evidence.memory.kmem import KernelMemory
from dflab.evidence.memory.tasks import TaskFacts, is_shell, vol_args
from dflab.scenario.case import Case

IMAGE_NAMES = {"raw": "memory.raw", "lime": "memory.lime"}
VOL_ADDRESS_MASK = (1 << 48) - 1  # volatility reports kernel virtual addresses without sign extension


def write_memory(case: Case, out_dir: Path, formats: tuple[str, ...] = ("raw", "lime"),
                 facts: SharedFacts | None = None) -> dict[str, object]:
    """Write ``case.memory`` as ``out_dir/memory.raw`` and/or ``out_dir/memory.lime`` plus the
    volatility3 ISF under ``out_dir/symbols/linux/<name>.json``; return the answer-key facts.

    The facts use volatility's own spelling (paths with `` (deleted)``, socket
    states, psaux strings, offsets as its plugins print them), so the key can
    be compared with a trainee's plugin output directly.

    ``facts`` are the files' and sockets' identities the build decided from its disk layout
    (:mod:`dflab.evidence.facts`); without them the disk is laid out in a scratch file to learn them.
    """
    unknown = [f for f in formats if f not in IMAGE_NAMES]
    if unknown or not formats:
        raise EvidenceError(f"unknown memory image formats {unknown or list(formats)}; use raw and/or lime",
                            "memory formats")
    with handed_over(facts if facts is not None else decide(case)), _collector_paused():
        image = build_image(case)
        out_dir = Path(out_dir)
        sym_rel = Path("symbols") / "linux" / isf_name(case.memory.banner)
        (out_dir / sym_rel).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / sym_rel).write_bytes(isf_bytes(isf_document(image.types, image.kernel.km.symbols)))
        for fmt in formats:
            target = out_dir / IMAGE_NAMES[fmt]
            if fmt == "raw":
                image.phys.write_raw(target)
            else:
                image.phys.write_lime(target)
    return _facts(case, image, sym_rel.as_posix(), formats)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Run without Python's cycle collector, restored after.

    A 256 MiB image is planned as some 40,000 page runs (tuples and views, no cycles) while the process also holds
    the installed system's shared files and the case: each allocation burst made the collector walk that whole
    heap again, half of the memory writer's time (0.3-0.6 s of CPU per variant, benchmarks/memory.py). Reference
    counting still frees everything; a cycle made meanwhile is collected once the collector is back on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _task_facts(t: TaskFacts) -> dict[str, Any]:
    p = t.proc
    injected = None
    if p.injected is not None:
        vma = next(v for v in t.vmas if v.start == p.injected.start)
        injected = {"start": vma.start, "end": vma.end, "protection": vma.protection,
                    "first_bytes": p.injected.content[:64].hex()}
    return {
        "pid": p.pid, "ppid": p.ppid, "comm": p.comm, "uid": p.uid, "gid": p.gid,
        "start_time": p.start_time, "kernel_thread": p.kernel_thread, "hidden": p.hidden,
        "task_virtual": t.task & VOL_ADDRESS_MASK, "task_physical": KernelMemory.to_phys(t.task),
        "args": vol_args(p),
        "exe": t.exe,
        "files": t.files,
        "sockets": t.sockets,
        "bash_history": [{"time": h.time, "command": h.command} for h in p.bash_history] if is_shell(p) else [],
        "environ": [[k, v] for k, v in p.environ],
        "vmas": [{"start": v.start, "end": v.end, "protection": v.protection} for v in t.vmas],
        "injected": injected,
    }


def _facts(case: Case, image: MemoryImage, symbols: str, formats: tuple[str, ...]) -> dict[str, object]:
    mem = case.memory
    procs = [_task_facts(t) for t in image.tasks]
    return {
        "banner": mem.banner,
        "kernel_release": mem.kernel_release,
        "symbols": symbols,
        "images": {fmt: IMAGE_NAMES[fmt] for fmt in formats},
        "size_bytes": mem.size_bytes,
        "boot_time": mem.boot_time,
        "acquired_at": mem.acquired_at,
        "dtb": image.kernel.dtb,
        "processes": procs,
        "hidden_pids": [p["pid"] for p in procs if p["hidden"]],
        "injected": [{"pid": p["pid"], **p["injected"]} for p in procs if p["injected"]],
    }
