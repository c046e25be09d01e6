"""`dflab bundle`: an offline bundle written from, and loaded back into, a real Docker engine.

The trainee image comes from the shared fixture (tests/docker_fixtures.py) and is tagged
``dflab/trainee:bundle-test`` so that untagging and loading it never disturbs other modules using
``dflab/trainee:test``. The image tar is about 1.1 GiB, so one bundle is written per module and the
damage tests flip a byte in place and restore it; a second bundle is written once, for determinism.
Every command runs through the real entry point (``python -m dflab.cli``), as a user would.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from dflab.evidence.manifest import verify
from tests import docker_fixtures

pytestmark = pytest.mark.xdist_group(name=docker_fixtures.XDIST_GROUP)

trainee_image = docker_fixtures.trainee_image

REPO = docker_fixtures.REPO
LAB = REPO / "labs" / "02-disk"
SECRET = "test-bundle-secret"
TRAINEES = ("alice", "bob")
BUNDLE_IMAGE = "dflab/trainee:bundle-test"
# A second tag holds the image while BUNDLE_IMAGE is removed, so untagging never deletes it (other modules'
# containers may run it: the shared tag moves whenever the image is rebuilt).
KEEP_IMAGE = "dflab/trainee:bundle-test-keep"


def dflab(*args: str, env: dict[str, str] | None = None, net: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real `dflab` entry point; ``net=False`` runs it in a network namespace with only loopback."""
    cmd = [sys.executable, "-m", "dflab.cli", *args]
    if not net:
        cmd = ["unshare", "--net", "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env={**os.environ, **(env or {})},
                          timeout=900, check=False)


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exactly one `dflab: error:` line and no traceback."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("dflab: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def create(out: Path, roster: Path, wheelhouse: Path) -> subprocess.CompletedProcess[str]:
    return dflab("bundle", str(out), "--roster", str(roster), "--lab", str(LAB), "--image", BUNDLE_IMAGE,
                 "--wheelhouse", str(wheelhouse), "--secret", SECRET)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture(scope="module")
def engine() -> docker.DockerClient:
    return docker.from_env(timeout=600)


@pytest.fixture(scope="module")
def image_id(trainee_image: str, engine: docker.DockerClient) -> Iterator[str]:
    """The test image under the bundle's own tags (removed at the end; the image itself stays)."""
    image = engine.images.get(trainee_image)
    image.tag(KEEP_IMAGE)
    image.tag(BUNDLE_IMAGE)
    yield image.id
    untag(engine)
    untag(engine, KEEP_IMAGE)


def untag(engine: docker.DockerClient, ref: str = BUNDLE_IMAGE) -> None:
    """Remove the tag only (force: a container may run the image; KEEP_IMAGE keeps the image itself)."""
    try:
        engine.images.remove(ref, force=True, noprune=True)
    except docker.errors.ImageNotFound:
        pass


def retag(engine: docker.DockerClient, image_id: str) -> None:
    engine.images.get(image_id).tag(BUNDLE_IMAGE)


@pytest.fixture(scope="module")
def roster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bundle-roster") / "roster.csv"
    path.write_text("id,name\n" + "".join(f"{t},{t.title()}\n" for t in TRAINEES), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def wheelhouse(trainee_image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private, hard-linked copy of the shared wheelhouse: other workers rebuild its dflab wheel whenever
    the code changes (wheelhouse.sh replaces the file, so the links keep this copy's bytes)."""
    copy = tmp_path_factory.mktemp("wheelhouse") / "wheelhouse"
    shutil.copytree(docker_fixtures.WHEELHOUSE, copy, copy_function=_link_or_copy)
    return copy


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


@pytest.fixture(scope="module")
def bundle(image_id: str, roster: Path, wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("bundle") / "room"
    ok(create(out, roster, wheelhouse))
    yield out
    shutil.rmtree(out)  # ~1.5 GiB: not left in pytest's kept temporary directories


def manifest(bundle: Path) -> dict:
    return json.loads((bundle / "bundle.json").read_text(encoding="utf-8"))


def test_bundle_holds_image_wheelhouse_evidence_keys_and_lab(bundle: Path, image_id: str) -> None:
    m = manifest(bundle)
    files = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()} - {"bundle.json"}
    assert {e["path"] for e in m["files"]} == files
    small = [e for e in m["files"] if e["size"] < 2**24]  # re-hash the small ones here; `verify` covers all
    assert all(sha256(bundle / e["path"]) == e["sha256"] and (bundle / e["path"]).stat().st_size == e["size"]
               for e in small)
    assert m["image"] == {"ref": BUNDLE_IMAGE, "id": image_id, "file": "image/dflab_trainee_bundle-test.tar"}
    assert m["trainees"] == list(TRAINEES)
    for t in TRAINEES:
        assert verify(bundle / "evidence" / t) == []
        assert (bundle / "keys" / t / "answer_key.json").is_file()
        assert not any(p.name == "answer_key.json" for p in (bundle / "evidence" / t).rglob("*"))
    # The evidence really differs per trainee (each gets a variant of their own).
    assert sha256(bundle / "evidence/alice/manifest.json") != sha256(bundle / "evidence/bob/manifest.json")
    for rel in ("labs/02-disk/lab.yaml", "labs/scenarios/nightjar.yaml", "labs/02-disk/grader.yaml",
                "wheelhouse/requirements.txt", "roster.csv"):
        assert (bundle / rel).is_file(), rel
    assert list((bundle / "wheelhouse" / "deps").glob("*.whl")) and list((bundle / "wheelhouse/dflab").glob("*.whl"))
    ok(dflab("bundle", "verify", str(bundle)))


def _flip(path: Path, offset: int) -> None:
    with path.open("r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x01]))


@pytest.mark.parametrize("victim", ["evidence/alice/disk.img", "image/dflab_trainee_bundle-test.tar"])
def test_a_flipped_byte_is_named_and_nothing_is_loaded(bundle: Path, engine: docker.DockerClient, image_id: str,
                                                       victim: str) -> None:
    path = bundle / victim
    offset = path.stat().st_size // 2
    untag(engine)
    _flip(path, offset)
    try:
        line = one_error_line(dflab("bundle", "load", str(bundle)))
        assert str(path) in line and "sha256 differs" in line, line
        with pytest.raises(docker.errors.ImageNotFound):
            engine.images.get(BUNDLE_IMAGE)
    finally:
        _flip(path, offset)
        retag(engine, image_id)


def test_missing_and_unlisted_files_are_named(bundle: Path, tmp_path: Path) -> None:
    key = bundle / "keys" / "bob" / "answer_key.json"
    extra = bundle / "evidence" / "bob" / "planted.txt"
    shutil.move(key, tmp_path / "key")
    extra.write_text("not from the bundle\n")
    try:
        proc = dflab("bundle", "verify", str(bundle))
        assert proc.returncode == 3
        assert "keys/bob/answer_key.json: missing" in proc.stderr and "planted.txt: not in bundle.json" in proc.stderr
        assert one_error_line(proc).endswith("2 file(s) do not match bundle.json")
    finally:
        extra.unlink()
        shutil.move(tmp_path / "key", key)


def test_load_restores_the_image_with_no_network(bundle: Path, engine: docker.DockerClient, image_id: str) -> None:
    untag(engine)
    try:
        # Only loopback in this namespace: the engine's Unix socket is all `load` may use.
        out = ok(dflab("bundle", "load", str(bundle), net=False)).stdout
        assert engine.images.get(BUNDLE_IMAGE).id == image_id
    finally:
        retag(engine, image_id)
    assert f"--image {BUNDLE_IMAGE}" in out and f"--lab {bundle.resolve()}/labs/02-disk" in out
    assert "--no-index" in out


def test_a_second_bundle_has_identical_evidence(bundle: Path, roster: Path, wheelhouse: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    ok(create(again, roster, wheelhouse))
    first, second = manifest(bundle), manifest(again)
    shutil.rmtree(again)
    not_image = [e for e in first["files"] if not e["path"].startswith("image/")]
    assert [e for e in second["files"] if not e["path"].startswith("image/")] == not_image
    assert any(e["path"].startswith("evidence/") for e in not_image)
    assert {k: v for k, v in second.items() if k != "files"} == {k: v for k, v in first.items() if k != "files"}


@pytest.mark.parametrize("fault", ["image missing", "no engine", "exists", "unwritable", "not a wheelhouse",
                                   "disk full"])
def test_bad_input_is_one_line_and_writes_nothing(fault: str, image_id: str, roster: Path, tmp_path: Path) -> None:
    parent = tmp_path / "target"
    parent.mkdir()
    out = parent / "room"
    args: list[str] = []
    env: dict[str, str] = {}
    mounted = False
    if fault == "image missing":
        args = ["--image", "dflab/trainee:no-such-tag"]
    elif fault == "no engine":
        env = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    elif fault == "exists":
        out.mkdir()
    elif fault == "unwritable":
        (parent / "file").write_text("a file, not a folder\n")
        out = parent / "file" / "room"
    elif fault == "not a wheelhouse":
        (tmp_path / "empty").mkdir()
        args = ["--wheelhouse", str(tmp_path / "empty")]
    else:  # a 64 MiB file system cannot take a ~1 GiB image
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(parent)], check=True)
        mounted = True
    try:
        before = sorted(p.name for p in parent.iterdir())
        proc = dflab("bundle", str(out), "--roster", str(roster), "--lab", str(LAB), "--image", BUNDLE_IMAGE,
                     "--wheelhouse", str(docker_fixtures.WHEELHOUSE), "--secret", SECRET, *args, env=env)
        line = one_error_line(proc)
        expected = {"image missing": "no-such-tag", "no engine": "no Docker engine", "exists": "already exists",
                    "unwritable": "cannot create directory", "not a wheelhouse": "not a wheelhouse",
                    "disk full": "not enough free space"}[fault]
        assert expected in line, line
        assert sorted(p.name for p in parent.iterdir()) == before  # no bundle, no temporary leftovers
    finally:
        if mounted:
            subprocess.run(["umount", str(parent)], check=True)
