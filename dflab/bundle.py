"""Offline bundles: everything an air-gapped training room needs, in one folder with one hash manifest.

Layout of a bundle (``dflab bundle OUT``)::

    bundle.json                   every other file with its size and SHA-256 (written last)
    image/<name>.tar              the trainee image (`docker save`, streamed; restores its tag on load)
    wheelhouse/                   requirements.txt, deps/, dflab/, build-deps/: installs with no index
    evidence/<trainee>/           each trainee's evidence variant (manifest.json inside): hand out read-only
    keys/<trainee>/answer_key.json  the instructor's answer keys, kept apart from what trainees get
    labs/<lab>/, labs/scenarios/  the lab (its grader.yaml included) and the scenario spec it names
                                  (``--lab OUT/labs/<lab>`` works)
    roster.csv                    the roster the evidence was built for

The folder is written in a temporary sibling and renamed into place, so a failure (disk full, no engine,
a missing image) leaves nothing half-written. Everything except the image tar is deterministic: the same
roster, lab, secret and wheelhouse give byte-identical files and ``bundle.json`` entries. The tar is
whatever the engine's `docker save` gives; for the same image on the same engine it was identical run to
run here (Docker 20.10), but that is the engine's property, not a promise of this module.

``load`` re-hashes every file *before* touching the engine: a corrupted bundle loads nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dflab.atomic import atomic_dir, ensure_writable_dir, write_bytes
from dflab.errors import DflabError, EvidenceError
from dflab.evidence.build import EVIDENCE, KEY, build_cohort
from dflab.evidence.manifest import CHUNK, Mismatch, canonical_json, compare_listed
from dflab.roster import read_roster

BUNDLE_MANIFEST = "bundle.json"
BUNDLE_FORMAT = "dflab-bundle/1"
WHEELHOUSE_PARTS = ("requirements.txt", "deps", "dflab")  # what build-image.sh and an offline pip need
DOCKER_TIMEOUT = 600  # a `docker save` or `load` of a ~1 GiB image is one long request
# Room left on the target file system beyond what the image and wheelhouse take (evidence, manifest).
PER_TRAINEE_ESTIMATE = 256 * 2**20

# A progress hook: start(description, total or None, unit: "bytes" | "trainees") returns advance(amount).
Track = Callable[[str, int | None, str], Callable[[int], None]]


def _no_track(description: str, total: int | None, unit: str) -> Callable[[int], None]:
    return lambda n: None


@dataclass(frozen=True)
class BundleSummary:
    out: Path
    image: str
    image_id: str
    trainees: list[str]
    files: int
    bytes: int


# -- the engine -------------------------------------------------------------------------------------
def docker_client() -> Any:
    """The engine, or one clear line when none answers."""
    from dflab.engine import connect

    return connect("docker", "start one with `bash environments/docker/engine.sh start`", at_least=DOCKER_TIMEOUT)


def _image(client: Any, ref: str) -> Any:
    import docker.errors

    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound as exc:
        raise DflabError(f"image {ref} is not on the Docker engine; build it with "
                         "environments/docker/build-image.sh (see README)", "--image") from exc


def image_file_name(ref: str) -> str:
    """``dflab/trainee:test`` -> ``dflab_trainee_test.tar``: a file name that says which image it holds."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", ref) + ".tar"


# -- hashing ---------------------------------------------------------------------------------------
def _hash_file(path: Path, advance: Callable[[int], None]) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            advance(len(chunk))
    return h.hexdigest()


def _bundle_files(root: Path) -> list[Path]:
    """Every file of a bundle except its manifest, in a stable order."""
    return sorted((p for p in root.rglob("*") if p.is_file() and p.relative_to(root).as_posix() != BUNDLE_MANIFEST),
                  key=lambda p: p.relative_to(root).as_posix())


def _hash_all(paths: list[Path], known: dict[Path, str], track: Track, what: str) -> dict[Path, str]:
    """SHA-256 of ``paths`` (those in ``known`` are not read again), in threads, with one byte-progress bar."""
    todo = [p for p in paths if p not in known]
    advance = track(what, sum(p.stat().st_size for p in todo), "bytes")
    with ThreadPoolExecutor(max_workers=4) as pool:
        digests = dict(zip(todo, pool.map(lambda p: _hash_file(p, advance), todo), strict=True))
    return {**known, **digests}


# -- writing ---------------------------------------------------------------------------------------
def _copy_lab(lab_dir: Path, dest: Path) -> tuple[str, str, tuple[str, ...]]:
    """Copy the lab (its answer checks included) and its scenario spec in the layout ``dflab session`` reads.

    Returns the lab's folder name, its scenario spec and the evidence kinds it hands out.
    """
    from dflab.session.lab import load_lab

    lab = load_lab(lab_dir)
    shutil.copytree(lab.directory, dest / "labs" / lab.directory.name,
                    ignore=shutil.ignore_patterns(".*", "__pycache__"))
    (dest / "labs" / "scenarios").mkdir()
    shutil.copy2(lab.scenario, dest / "labs" / "scenarios" / lab.scenario.name)
    return lab.directory.name, str(lab.scenario), lab.evidence


def _save_image(image: Any, ref: str, dest: Path, track: Track) -> str:
    """Stream `docker save` of ``ref`` into ``dest`` (never held in memory); return its SHA-256."""
    import docker.errors

    h = hashlib.sha256()
    advance = track(f"docker save {ref}", int(image.attrs.get("Size") or 0) or None, "bytes")
    try:
        with dest.open("wb") as fh:
            for chunk in image.save(chunk_size=CHUNK, named=ref):
                fh.write(chunk)
                h.update(chunk)
                advance(len(chunk))
    except docker.errors.APIError as exc:
        raise DflabError(f"docker save failed: {exc.explanation or exc}", ref) from exc
    except OSError as exc:
        raise DflabError(f"cannot write the image: {exc.strerror or exc}", str(dest)) from exc
    return h.hexdigest()


def _check_space(parent: Path, need: int) -> None:
    free = shutil.disk_usage(parent).free
    if free < need:
        raise DflabError(f"not enough free space: the bundle needs about {need / 2**30:.1f} GiB, "
                         f"{free / 2**30:.1f} GiB free", str(parent))


def _tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _check_wheelhouse(wheelhouse: Path) -> None:
    missing = [part for part in WHEELHOUSE_PARTS if not (wheelhouse / part).exists()]
    if missing:
        raise DflabError(f"not a wheelhouse (no {', '.join(missing)}); fill it with "
                         "`bash environments/docker/wheelhouse.sh DIR`", str(wheelhouse))


def write_bundle(out: Path, roster: Path, lab_dir: Path, image_ref: str, wheelhouse: Path, secret: str,
                 secret_id: str, *, workers: int | None = None, track: Track = _no_track) -> BundleSummary:
    """Write the bundle ``out`` (which must not exist); every check runs before the first byte is written."""
    trainees = [t.id for t in read_roster(roster)]
    _check_wheelhouse(wheelhouse)
    client = docker_client()
    image = _image(client, image_ref)
    parent = ensure_writable_dir(out.resolve().parent)
    if out.exists():
        raise DflabError("already exists; bundles are never overwritten (pick a new folder)", str(out))
    _check_space(parent, int(image.attrs.get("Size") or 0) + _tree_size(wheelhouse)
                 + PER_TRAINEE_ESTIMATE * len(trainees))
    with atomic_dir(out) as tmp:
        tmp.chmod(0o700)  # answer keys inside: the instructor's until they choose to share parts
        lab_name, scenario, kinds = _copy_lab(lab_dir, tmp)
        shutil.copy2(roster, tmp / "roster.csv")
        build = tmp / ".build"
        advance = track("evidence", len(trainees), "trainees")
        build_cohort(Path(scenario), secret, trainees, build, workers=workers, on_done=lambda r: advance(1),
                     kinds=kinds, labs_dir=Path(lab_dir).resolve().parent)
        for t in trainees:
            (tmp / EVIDENCE).mkdir(exist_ok=True)
            (tmp / "keys").mkdir(exist_ok=True)
            os.replace(build / t / EVIDENCE, tmp / EVIDENCE / t)
            os.replace(build / t / KEY, tmp / "keys" / t)
        shutil.rmtree(build)
        shutil.copytree(wheelhouse, tmp / "wheelhouse", ignore=shutil.ignore_patterns(".*"))
        (tmp / "image").mkdir()
        tar = tmp / "image" / image_file_name(image_ref)
        known = {tar: _save_image(image, image_ref, tar, track)}
        files = _bundle_files(tmp)
        digests = _hash_all(files, known, track, "hashing")
        entries = [{"path": p.relative_to(tmp).as_posix(), "size": p.stat().st_size, "sha256": digests[p]}
                   for p in files]
        manifest = {
            "format": BUNDLE_FORMAT,
            "image": {"ref": image_ref, "id": image.id, "file": tar.relative_to(tmp).as_posix()},
            "lab": f"labs/{lab_name}",
            "roster": "roster.csv",
            "trainees": trainees,
            "secret_id": secret_id,  # identifies the course secret without revealing it
            "files": entries,
        }
        write_bytes(tmp / BUNDLE_MANIFEST, canonical_json(manifest))
    return BundleSummary(out, image_ref, image.id, trainees, len(entries) + 1, sum(e["size"] for e in entries))


# -- reading ---------------------------------------------------------------------------------------
def load_manifest(bundle: Path) -> dict[str, Any]:
    path = bundle / BUNDLE_MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EvidenceError("no bundle.json: not a dflab bundle", str(bundle)) from exc
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EvidenceError(f"bundle.json is not readable JSON ({exc})", str(path)) from exc
    ok = (isinstance(data, dict) and data.get("format") == BUNDLE_FORMAT and isinstance(data.get("files"), list)
          and isinstance(data.get("image"), dict) and all(isinstance(e, dict) and {"path", "size", "sha256"} <= e.keys()
                                                           for e in data["files"]))
    if not ok:
        raise EvidenceError(f"bundle.json is not a {BUNDLE_FORMAT} manifest", str(path))
    return data


def verify_bundle(bundle: Path, track: Track = _no_track) -> list[Mismatch]:
    """Re-hash every file against bundle.json; return what does not match (empty: intact)."""
    manifest = load_manifest(bundle)
    listed = {e["path"]: e for e in manifest["files"]}
    problems = compare_listed(bundle, listed, lambda paths: _hash_all(paths, {}, track, "verifying"))
    problems += [Mismatch(p.relative_to(bundle).as_posix(), "not in bundle.json")
                 for p in _bundle_files(bundle) if p.relative_to(bundle).as_posix() not in listed]
    return sorted(problems, key=lambda m: m.path)


def check_bundle(bundle: Path, track: Track = _no_track) -> dict[str, Any]:
    """Verify ``bundle`` and return its manifest; any mismatch is one line naming the first file."""
    manifest = load_manifest(bundle)
    problems = verify_bundle(bundle, track)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise EvidenceError(f"{first.problem}{more}; the bundle is damaged, nothing was loaded",
                            str(bundle / first.path))
    return manifest


def _read_chunks(path: Path, advance: Callable[[int], None]) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            advance(len(chunk))
            yield chunk


def load_bundle(bundle: Path, track: Track = _no_track) -> dict[str, Any]:
    """Verify every hash, then `docker load` the image (nothing else, nothing from the network).

    Returns the manifest. The loaded image must carry the recorded tag and id, or this is an error.
    """
    import docker.errors

    manifest = check_bundle(bundle, track)
    client = docker_client()  # checked after the hashes: a damaged bundle is reported even with no engine
    ref, want_id = manifest["image"]["ref"], manifest["image"]["id"]
    tar = bundle / manifest["image"]["file"]
    try:
        for line in client.api.load_image(_read_chunks(tar, track(f"docker load {ref}", tar.stat().st_size, "bytes"))):
            if isinstance(line, dict) and line.get("error"):
                raise DflabError(f"docker load failed: {line['error']}", str(tar))
    except docker.errors.APIError as exc:
        raise DflabError(f"docker load failed: {exc.explanation or exc}", str(tar)) from exc
    got = _image(client, ref).id
    if got != want_id:
        raise DflabError(f"after loading, {ref} is image {got[:19]}, not the bundled {want_id[:19]}", str(tar))
    return manifest


def next_steps(bundle: Path, manifest: dict[str, Any]) -> list[str]:
    """The commands to run after ``load``, with this bundle's paths filled in."""
    b = bundle.resolve()
    return [
        f"python3 -m venv .venv && .venv/bin/pip install --no-index --find-links {b}/wheelhouse/deps "
        f"-r {b}/wheelhouse/requirements.txt {b}/wheelhouse/dflab/*.whl   # only if dflab is not installed",
        f"dflab evidence verify {b}/evidence/<trainee>                     # the handed-out evidence, any time",
        f"dflab session start --backend docker --lab {b}/{manifest['lab']} --roster {b}/{manifest['roster']} "
        f"--image {manifest['image']['ref']} --secret \"$DFLAB_COURSE_SECRET\"   # the bundle's secret",
    ]

