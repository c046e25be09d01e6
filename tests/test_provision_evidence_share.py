"""A trainee's 1 GiB sparse evidence reaches their lab as the built variant itself, read-only, in both backends.

Against the real thing: a confined local lab (root, its own uid and mount namespace) and a confined Docker
container, each started by its backend with a hand-made variant (a 1 GiB sparse disk image and its manifest).
From inside, as the trainee: the image has its size, its SHA-256 and still a few MiB of blocks (the same inode,
no copy), ``dflab.lab.verify_evidence`` passes, the folder is a read-only mount (``statvfs``) and writing,
creating, removing, renaming or re-moding it fails (EROFS/EACCES/EPERM), and another trainee's variant is not
there. Nothing is written per trainee on the host, and a Docker workspace of 64 MiB holds the lab beside a 1 GiB
image (evidence is not in the write quota).
A variant holding a planted link does not start at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from dflab.errors import DflabError
from dflab.evidence.manifest import sha256_file, write_manifest
from dflab.provision.base import Backend, TraineeEnv
from dflab.provision.docker_backend import DockerBackend
from dflab.provision.http import api_status
from dflab.provision.local_backend import LocalBackend, isolation_problem
from dflab.provision.workspace_disk import SIZE_ENV
from dflab.sparsecopy import allocated
from tests import docker_fixtures
from tests.test_session_local_isolation import in_kernel
from tests.test_sparse_copy import SMALL, GiB, MiB, make_sparse

pytestmark = pytest.mark.xdist_group(name=docker_fixtures.XDIST_GROUP)
trainee_image = docker_fixtures.trainee_image  # the shared, memoised image build

# Run in the lab as the trainee (OTHER: where another trainee's variant is on the host): what they can do with
# their evidence ($DFLAB_EVIDENCE, as the lab sets it), as one JSON object.
PROBE = r"""
import errno, json, os
from pathlib import Path
from dflab.evidence.manifest import sha256_file
from dflab.lab.evidence import evidence_dir, verify_evidence

evidence, other = evidence_dir(), Path(OTHER)
image = evidence / "disk.img"

def attempt(action):
    try:
        action()
        return "done"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))

info = os.stat(image)
print(json.dumps({
    "size": info.st_size, "allocated": info.st_blocks * 512, "inode": info.st_ino, "sha256": sha256_file(image),
    "verified": len(verify_evidence()),
    "read_only_mount": bool(os.statvfs(evidence).f_flag & os.ST_RDONLY),
    "write": attempt(lambda: open(image, "r+b").close()),
    "create": attempt(lambda: open(evidence / "planted", "xb").close()),
    "unlink": attempt(lambda: os.unlink(image)),
    "rename": attempt(lambda: os.rename(image, evidence / "moved.img")),
    "chmod": attempt(lambda: os.chmod(image, 0o666)),
    "other": attempt(lambda: open(other / "disk.img", "rb").close()),
}))
"""
REFUSED = {"EROFS", "EACCES", "EPERM"}
READY_TIMEOUT = 120.0


def make_variant(session: Path, trainee: str) -> tuple[Path, str]:
    """``<session>/evidence/<trainee>/evidence`` with a 1 GiB sparse disk image, a manifest, read-only as a session
    leaves it (files 0444, folders 0555); the image's SHA-256."""
    evidence = session / "evidence" / trainee / "evidence"
    evidence.mkdir(parents=True)
    digest = make_sparse(evidence / "disk.img")
    write_manifest(evidence, "sparse-test", trainee)
    for path in (evidence / "disk.img", evidence / "manifest.json"):
        path.chmod(0o444)
    evidence.chmod(0o555)
    return evidence, digest


def probe_code(other: Path) -> str:
    return PROBE.replace("OTHER", repr(str(other)))


def wait_ready(url: str, token: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while api_status(url, token, timeout=2.0) != 200:
        assert time.monotonic() < deadline, f"the lab at {url} never answered"
        time.sleep(0.2)


def assert_shared_read_only(seen: dict[str, object], evidence: Path, digest: str) -> None:
    assert seen["size"] == GiB
    assert seen["sha256"] == digest
    assert seen["verified"] == 1
    assert seen["inode"] == os.stat(evidence / "disk.img").st_ino, "the lab reads a copy, not the built variant"
    assert seen["allocated"] < SMALL, "the lab's image is not the sparse one the build made"
    assert seen["read_only_mount"], "the evidence is bound in writable"
    for action in ("write", "create", "unlink", "rename", "chmod"):
        assert seen[action] in REFUSED, (action, seen[action])
    assert seen["other"] == "ENOENT", "another trainee's variant is reachable"
    assert allocated(evidence / "disk.img") < SMALL and sha256_file(evidence / "disk.img") == digest


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "session"
    folder.mkdir()
    (folder / "handout").mkdir()
    (folder / "handout" / "lab.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    try:
        yield folder
    finally:
        docker_fixtures.unmount_workspaces(folder)
        for path in folder.rglob("*"):  # evidence is read-only: make it removable again
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_confined_local_lab_reads_the_built_variant_and_cannot_touch_it(session: Path) -> None:
    assert not isolation_problem(), isolation_problem()  # root with namespaces: the way a graded session runs
    alice, digest = make_variant(session, "alice")
    bob, _ = make_variant(session, "bob")
    before = allocated(alice / "disk.img")
    backend = LocalBackend(session, session / "handout")
    env = TraineeEnv("alice", secrets.token_urlsafe(16), alice)
    try:
        endpoint = backend.start(env)
        wait_ready(endpoint.url, endpoint.token)
        seen = in_kernel(endpoint.url, endpoint.token, probe_code(bob))  # what a trainee's notebook does
    finally:
        backend.stop(env, purge=True)
    assert_shared_read_only(seen, alice, digest)
    assert allocated(alice / "disk.img") == before


def test_a_docker_lab_reads_the_built_variant_within_a_small_quota(session: Path, trainee_image: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIZE_ENV, "64")  # a 64 MiB workspace beside a 1 GiB image: evidence is not in the quota
    alice, digest = make_variant(session, "alice")
    backend = DockerBackend(f"sp{os.getpid()}", session, session / "handout", trainee_image)
    env = TraineeEnv("alice", secrets.token_urlsafe(16), alice)
    try:
        backend.prepare([env])
        backend.start(env)
        # Another trainee's variant, at its host path: the container sees nothing of the host's folders.
        ran = backend.exec(env, ["python", "-c", probe_code(session / "evidence" / "bob" / "evidence")])
        assert ran.code == 0, ran.err
        seen = json.loads(ran.out.splitlines()[-1])
        # The trainee may still copy it into their workspace, sparse (as `cp` does), and collect brings it back
        # as holes; its bytes count against their quota, not the evidence's.
        copied = backend.exec(env, ["sh", "-c", "cd /home/trainee/work && mkdir -p lab && "
                                                "cp /evidence/disk.img lab/carved.img && "
                                                "df -B1 --output=used . | tail -1"])
        assert copied.code == 0, copied.err
        assert int(copied.out.split()[-1]) < 16 * MiB
        assert backend.export_workspace(env, "lab", session / "collected")
    finally:
        backend.stop(env, purge=True)
        backend.shutdown(purge=True)
        _remove_everything(backend.session_id)
    assert_shared_read_only(seen, alice, digest)
    assert sha256_file(session / "collected" / "carved.img") == digest
    assert allocated(session / "collected" / "carved.img") < SMALL


@pytest.mark.parametrize("backend_name", ["local", "docker"])
def test_a_variant_with_a_planted_link_does_not_start(session: Path, backend_name: str,
                                                     request: pytest.FixtureRequest) -> None:
    alice, _ = make_variant(session, "alice")
    bob, _ = make_variant(session, "bob")
    alice.chmod(0o755)
    (alice / "notes.txt").symlink_to(bob / "disk.img")
    alice.chmod(0o555)
    env = TraineeEnv("alice", secrets.token_urlsafe(16), alice)
    backend: Backend = LocalBackend(session, session / "handout") if backend_name == "local" else \
        DockerBackend(f"sl{os.getpid()}", session, session / "handout", request.getfixturevalue("trainee_image"))
    try:
        if isinstance(backend, DockerBackend):
            backend.prepare([env])
        with pytest.raises(DflabError, match="symbolic link") as refused:
            backend.start(env)
        assert str(alice / "notes.txt") in str(refused.value)
        assert backend.poll(env) is not None  # nothing runs
    finally:
        backend.stop(env, purge=True)
        if isinstance(backend, DockerBackend):
            backend.shutdown(purge=True)
            _remove_everything(backend.session_id)


def _remove_everything(session_id: str) -> None:
    engine = docker.from_env(timeout=120)
    label = f"dflab.session={session_id}"
    for container in engine.containers.list(all=True, filters={"label": label}):
        container.remove(force=True)
    for volume in engine.volumes.list(filters={"label": label}):
        volume.remove(force=True)


@contextlib.contextmanager
def _local_lab_that_exits(backend: LocalBackend, env: TraineeEnv, still_running: str) -> Iterator[None]:
    """Start ``env``'s confined local lab and wait for it to exit on its own (``still_running`` if it does not);
    the body runs while it is stopped but not yet purged."""
    try:
        backend.start(env)
        deadline = time.monotonic() + READY_TIMEOUT
        while backend.poll(env) is None:
            assert time.monotonic() < deadline, still_running
            time.sleep(0.2)
        yield
    finally:
        backend.stop(env, purge=True)


def test_a_handout_with_a_planted_link_stops_the_local_lab_in_one_line(session: Path) -> None:
    """Seeding (as the trainee, confined) refuses a link in the handout: the lab exits, its log says why in a line."""
    alice, _ = make_variant(session, "alice")
    (session / "handout" / "notes.txt").symlink_to(alice / "disk.img")
    backend = LocalBackend(session, session / "handout")
    env = TraineeEnv("alice", secrets.token_urlsafe(16), alice)
    with _local_lab_that_exits(backend, env, "the lab kept running with a link in its handout"):
        assert sorted(os.listdir(backend.workspace("alice"))) == []  # refused before anything was copied
    assert backend.diagnose(env) == (f"dflab: error: {session / 'handout' / 'notes.txt'}: is a symbolic link in the "
                                     "lab's handout: refused (links are never followed)")


def _swap_for_a_link(evidence: Path, to: Path) -> Path:
    """Replace the variant's folder with a link to ``to`` (as someone would between the check and the bind); return
    where the real folder went."""
    kept = evidence.with_name("checked")
    evidence.rename(kept)
    evidence.symlink_to(to)
    return kept


def test_a_link_swapped_in_after_the_check_stops_a_confined_local_lab(session: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Local labs: the folder bound is compared with the folder checked (device and inode) before the lab runs."""
    from dflab.provision import local_backend

    alice, _ = make_variant(session, "alice")
    bob, _ = make_variant(session, "bob")
    real_check = local_backend.checked_variant
    kept: list[Path] = []

    def check_then_swap(evidence: Path, anchor: Path) -> Path:
        checked = real_check(evidence, anchor)
        kept.append(_swap_for_a_link(evidence, bob))  # the race, won: after the check, before the mount
        return checked

    monkeypatch.setattr(local_backend, "checked_variant", check_then_swap)
    backend = LocalBackend(session, session / "handout")
    env = TraineeEnv("alice", secrets.token_urlsafe(16), alice)
    with _local_lab_that_exits(backend, env, "the lab kept running on another trainee's evidence"):
        pass
    assert backend.diagnose(env) == (f"dflab: error: {alice}: is not the evidence folder that was checked "
                                     "(replaced before the lab bound it): refused")
    assert kept


def test_a_running_docker_lab_is_checked_again_at_every_start(session: Path, trainee_image: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Docker labs: a start that finds the lab running re-checks its variant (the engine re-resolves the bind
    source whenever it restarts the container)."""
    monkeypatch.setenv(SIZE_ENV, "0")
    alice, _ = make_variant(session, "alice")
    bob, _ = make_variant(session, "bob")
    backend = DockerBackend(f"sr{os.getpid()}", session, session / "handout", trainee_image)
    env = TraineeEnv("alice", secrets.token_urlsafe(16), alice)
    try:
        backend.prepare([env])
        backend.start(env)
        assert backend.poll(env) is None
        _swap_for_a_link(alice, bob)
        with pytest.raises(DflabError, match="symbolic link where the evidence's folder should be") as refused:
            backend.start(env)
        assert refused.value.where == str(alice)
    finally:
        backend.stop(env, purge=True)
        backend.shutdown(purge=True)
        _remove_everything(backend.session_id)


def test_a_docker_workspace_is_marked_seeded_only_when_the_copy_worked_and_a_huge_file_is_not_collected(
        session: Path, trainee_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One seeding script (trainee_container.seed_then) for a session's lab and a hub's: a copy that fails (a
    file the trainee cannot read) leaves the workspace unmarked, to be completed at the next start.
    A file whose apparent size is beyond the workspace's quota and every evidence file is refused in one line
    when collected, before the engine streams its zeros."""
    monkeypatch.setenv(SIZE_ENV, "64")
    alice, _ = make_variant(session, "alice")  # its biggest file: 1 GiB
    unreadable = session / "handout" / "instructor-only.txt"
    unreadable.write_text("not for uid 1000\n", encoding="utf-8")
    unreadable.chmod(0o600)
    backend = DockerBackend(f"sn{os.getpid()}", session, session / "handout", trainee_image)
    env = TraineeEnv("alice", secrets.token_urlsafe(16), alice)
    try:
        backend.prepare([env])
        backend.start(env)
        deadline = time.monotonic() + READY_TIMEOUT
        while (seeded := backend.exec(env, ["ls", "-A", "/home/trainee/work"])).code != 0 or \
                "lab.ipynb" not in seeded.out:
            assert time.monotonic() < deadline, seeded.err
            time.sleep(0.5)
        assert ".dflab-seeded" not in seeded.out.split(), "a failed seeding was marked done"
        made = backend.exec(env, ["sh", "-c", "mkdir -p /home/trainee/work/lab && "
                                              "truncate -s 2G /home/trainee/work/lab/huge.img"])
        assert made.code == 0, made.err
        with pytest.raises(DflabError) as refused:
            backend.export_workspace(env, "lab", session / "collected")
        assert str(refused.value) == (f"alice: lab/huge.img: is {2 * GiB} bytes, more than a workspace or any "
                                      f"evidence file holds ({GiB}): not collected (remove or shrink it in the lab)")
    finally:
        backend.stop(env, purge=True)
        backend.shutdown(purge=True)
        _remove_everything(backend.session_id)
