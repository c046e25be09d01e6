"""Evidence manifests: every evidence file with its size and SHA-256, and the check against them.

The manifest is what proves determinism (two builds, identical manifests) and
integrity (``dflab evidence verify`` re-hashes and names any file that changed),
the digital equivalent of a sealed evidence bag's label.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dflab.atomic import write_bytes
from dflab.errors import EvidenceError

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "dflab-evidence-manifest/1"
CHUNK = 4 * 1024 * 1024


def sha256_file(path: Path) -> str:
    """Stream a file through SHA-256 (hashlib releases the GIL, so files hash in parallel threads).

    The holes of a sparse file (most of a generated disk or memory image) are hashed from a buffer of zeros
    rather than read: the same digest, without the kernel copying zero pages (a third of the hashing time).
    """
    h = hashlib.sha256()
    with path.open("rb") as fh:
        fd = fh.fileno()
        size = os.fstat(fd).st_size
        pos = 0
        while pos < size:
            data = _data_at_or_after(fd, pos, size)
            while pos < data:
                n = min(CHUNK, data - pos)
                h.update(_zeros()[:n])
                pos += n
            end = _hole_at_or_after(fd, pos, size)
            fh.seek(pos)
            while pos < end and (chunk := fh.read(min(CHUNK, end - pos))):
                h.update(chunk)
                pos += len(chunk)
            if pos < end:  # the file shrank while it was read: hash what there is, as a plain read would
                break
        fh.seek(pos)
        while chunk := fh.read(CHUNK):  # and what it grew by
            h.update(chunk)
    return h.hexdigest()


@functools.cache
def _zeros() -> memoryview:
    return memoryview(bytes(CHUNK))


def _data_at_or_after(fd: int, pos: int, size: int) -> int:
    try:
        return os.lseek(fd, pos, os.SEEK_DATA)
    except OSError as exc:  # ENXIO: only a hole from here on; anything else: no hole support, read it all
        return size if exc.errno == errno.ENXIO else pos


def _hole_at_or_after(fd: int, pos: int, size: int) -> int:
    try:
        return min(os.lseek(fd, pos, os.SEEK_HOLE), size)
    except OSError:
        return size


def _evidence_files(evidence_dir: Path) -> list[Path]:
    return sorted(p for p in evidence_dir.rglob("*") if p.is_file() and p.name != MANIFEST)


def canonical_json(data: Any) -> bytes:
    """The one JSON encoding dflab writes: sorted keys, fixed separators, trailing newline."""
    return (json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


def evidence_files(evidence_dir: Path) -> list[Path]:
    """Every file a manifest covers (all files below the directory except the manifest itself)."""
    return _evidence_files(evidence_dir)


def make_manifest(evidence_dir: Path, scenario: str, variant: str,
                  known: dict[Path, str] | None = None) -> dict[str, Any]:
    """Describe every evidence file; ``known`` holds digests already computed (e.g. while other files were written)."""
    files = _evidence_files(evidence_dir)
    known = known or {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        digests = list(pool.map(lambda p: known.get(p) or sha256_file(p), files))
    return {
        "format": MANIFEST_FORMAT,
        "scenario": scenario,
        "variant": variant,
        "files": [{"path": p.relative_to(evidence_dir).as_posix(), "size": p.stat().st_size, "sha256": d}
                  for p, d in zip(files, digests, strict=True)],
    }


def write_manifest(evidence_dir: Path, scenario: str, variant: str, known: dict[Path, str] | None = None) -> str:
    """Write ``manifest.json`` into ``evidence_dir``; return the manifest's own SHA-256."""
    data = canonical_json(make_manifest(evidence_dir, scenario, variant, known))
    write_bytes(evidence_dir / MANIFEST, data)
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Mismatch:
    path: str
    problem: str  # "missing", "size 123 != 456", "sha256 differs", "not in manifest"


def load_manifest(evidence_dir: Path) -> dict[str, Any]:
    path = evidence_dir / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EvidenceError("no manifest.json: not a dflab evidence directory", str(evidence_dir)) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EvidenceError(f"manifest is not valid JSON ({exc})", str(path)) from exc
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("files"), list):
        raise EvidenceError(f"manifest is not a {MANIFEST_FORMAT} manifest", str(path))
    return data


def verify(evidence_dir: Path) -> list[Mismatch]:
    """Re-hash every file listed in the manifest; return what does not match (empty list: intact)."""
    manifest = load_manifest(evidence_dir)
    listed: dict[str, dict[str, Any]] = {}
    for entry in manifest["files"]:
        if not isinstance(entry, dict) or not {"path", "size", "sha256"} <= entry.keys():
            raise EvidenceError("manifest entry lacks path/size/sha256", str(evidence_dir / MANIFEST))
        listed[entry["path"]] = entry
    problems = compare_listed(evidence_dir, listed, _hash_in_threads)
    problems += [Mismatch(p.relative_to(evidence_dir).as_posix(), "not in manifest")
                 for p in _evidence_files(evidence_dir) if p.relative_to(evidence_dir).as_posix() not in listed]
    return sorted(problems, key=lambda m: m.path)


def _hash_in_threads(paths: list[Path]) -> dict[Path, str]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(paths, pool.map(sha256_file, paths), strict=True))


def compare_listed(base: Path, listed: dict[str, dict[str, Any]],
                   hash_paths: Callable[[list[Path]], dict[Path, str]]) -> list[Mismatch]:
    """Files listed (relative path -> {size, sha256}) that are missing, of another size or another hash.

    Sizes are compared first, so a truncated image is reported without hashing it; ``hash_paths`` hashes the
    rest (the evidence verifier in threads, the bundle with a progress bar). Unlisted files are the caller's.
    """
    problems: list[Mismatch] = []
    present: list[tuple[str, Path]] = []
    for rel, entry in listed.items():
        p = base / rel
        if not p.is_file():
            problems.append(Mismatch(rel, "missing"))
        elif p.stat().st_size != entry["size"]:
            problems.append(Mismatch(rel, f"size {p.stat().st_size} != {entry['size']} (truncated or altered)"))
        else:
            present.append((rel, p))
    digests = hash_paths([p for _, p in present])
    return problems + [Mismatch(rel, "sha256 differs (altered)") for rel, p in present
                       if digests[p] != listed[rel]["sha256"]]
