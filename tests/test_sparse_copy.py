"""Copying a sparse image keeps its holes (dflab.sparsecopy), and what would hand a lab a link is refused.

Real files on this machine's file systems: the disk holding ``tmp_path`` and ``/dev/shm`` (tmpfs), so a copy also
crosses file systems.  Every check of "small on disk" is shown to fail for the copy it guards against
(``shutil.copyfileobj``, what the backends did before).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dflab.errors import DflabError
from dflab.evidence.manifest import sha256_file
from dflab.provision.docker_backend import _extract_plain
from dflab.provision.evidence_share import checked_variant
from dflab.provision.local_backend import _export_tree
from dflab.provision.seed import seed_workspace
from dflab.sparsecopy import allocated, copy_file, copy_stream, data_runs

GiB = 1 << 30
MiB = 1 << 20
# Data where a disk image has it: the boot sector and partition table, a file system's metadata half-way, the
# backup GPT at the end; everything else a hole.
DATA = ((0, 64 * 1024), (512 * MiB + 4096, 3 * MiB), (GiB - 16 * 1024, 16 * 1024))
SMALL = 8 * MiB  # what "small on disk" means for a 1 GiB image holding about 3 MiB of data


def make_sparse(path: Path, size: int = GiB, data: tuple[tuple[int, int], ...] = DATA) -> str:
    """A ``size``-byte sparse file with bytes (not zeros) at ``data``'s ranges; its SHA-256."""
    with open(path, "wb") as fh:
        fh.truncate(size)
        for offset, length in data:
            fh.seek(offset)
            fh.write(_pattern(offset, length))
    return sha256_file(path)


def _pattern(seed: int, length: int) -> bytes:
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < length:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:length])


@pytest.fixture
def image(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "disk.img"
    return path, make_sparse(path)


@pytest.fixture
def small_image(tmp_path: Path) -> tuple[Path, str]:
    """A 64 MiB sparse image, for what reads every byte of it through Python (a stream has no holes to skip)."""
    path = tmp_path / "small.img"
    return path, make_sparse(path, 64 * MiB, ((0, 64 * 1024), (32 * MiB + 4096, MiB), (64 * MiB - 4096, 4096)))


@pytest.fixture
def shm_dir() -> Iterator[Path]:
    folder = Path(f"/dev/shm/dflab-sparse-{os.getpid()}")
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def test_the_image_is_sparse_and_a_plain_copy_is_not(image: tuple[Path, str], tmp_path: Path) -> None:
    path, digest = image
    assert allocated(path) < SMALL
    fd = os.open(path, os.O_RDONLY)
    try:  # the file system reports its holes (the ranges are whole pages, so exactly)
        assert data_runs(fd, GiB) == [(offset, offset + length) for offset, length in DATA]
    finally:
        os.close(fd)
    dense = tmp_path / "dense.img"
    with open(path, "rb") as src, open(dense, "wb") as out:
        shutil.copyfileobj(src, out, MiB)  # what the guard below must catch
    try:
        assert sha256_file(dense) == digest
        assert allocated(dense) >= GiB - MiB
    finally:
        dense.unlink()


@pytest.mark.parametrize("where", ["same file system", "tmpfs"])
def test_copy_file_keeps_holes_bytes_mode_and_times(image: tuple[Path, str], tmp_path: Path, shm_dir: Path,
                                                    where: str) -> None:
    path, digest = image
    os.chmod(path, 0o440)
    os.utime(path, ns=(1_700_000_000_123_456_789, 1_700_000_000_987_654_321))
    dest = (tmp_path if where == "same file system" else shm_dir) / "copy.img"
    copied = copy_file(path, dest)
    assert copied == sum(length for _, length in DATA)
    assert os.path.getsize(dest) == GiB
    assert sha256_file(dest) == digest
    assert allocated(dest) < SMALL
    info = os.stat(dest)
    assert oct(info.st_mode & 0o777) == oct(0o440)
    assert info.st_mtime_ns == 1_700_000_000_987_654_321


def test_a_file_without_holes_and_an_empty_one_copy_whole(tmp_path: Path) -> None:
    dense = tmp_path / "dense"
    dense.write_bytes(_pattern(1, 3 * MiB + 17))
    empty = tmp_path / "empty"
    empty.touch()
    for src in (dense, empty):
        copy_file(src, tmp_path / f"{src.name}.copy")
        assert (tmp_path / f"{src.name}.copy").read_bytes() == src.read_bytes()


def test_a_link_a_fifo_and_an_existing_target_are_refused(image: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = image
    link = tmp_path / "link.img"
    link.symlink_to(path)
    with pytest.raises(DflabError, match="symbolic link"):
        copy_file(link, tmp_path / "a")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(DflabError, match="not a regular file"):
        copy_file(fifo, tmp_path / "b")
    victim = tmp_path / "victim"
    victim.write_text("keep")
    planted = tmp_path / "planted"
    planted.symlink_to(victim)  # a link where the copy goes is not written through
    with pytest.raises(DflabError, match="cannot create"):
        copy_file(path, planted)
    assert victim.read_text() == "keep"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_stream_of_zeros_comes_back_as_holes(small_image: tuple[Path, str], tmp_path: Path) -> None:
    path, digest = small_image
    dest = tmp_path / "from-stream.img"
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with open(path, "rb") as src:
            written = copy_stream(src, fd)
    finally:
        os.close(fd)
    assert sha256_file(dest) == digest
    assert written < 4 * MiB
    assert allocated(dest) < 4 * MiB


def test_collecting_from_the_engine_tar_keeps_holes_and_drops_links(small_image: tuple[Path, str],
                                                                   tmp_path: Path) -> None:
    """The Docker backend's collect: a trainee's sparse image back as holes, their link to the evidence left out."""
    path, digest = small_image
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:  # as the engine sends it: no sparse members
        tar.add(path, arcname="lab/carved.img")
        link = tarfile.TarInfo("lab/evidence.img")
        link.type, link.linkname = tarfile.SYMTYPE, "/evidence/disk.img"
        tar.addfile(link)
    archive.seek(0)
    dest = tmp_path / "collected"
    dest.mkdir()
    with tarfile.open(fileobj=archive) as tar:
        _extract_plain(tar, "lab", dest, GiB)
    assert sorted(p.name for p in dest.iterdir()) == ["carved.img"]
    assert sha256_file(dest / "carved.img") == digest
    assert allocated(dest / "carved.img") < 4 * MiB


def test_collecting_a_local_workspace_keeps_holes(image: tuple[Path, str], tmp_path: Path) -> None:
    path, digest = image
    lab = tmp_path / "workspace" / "lab"
    lab.mkdir(parents=True)
    os.replace(path, lab / "carved.img")
    (lab / "evidence.img").symlink_to("/evidence/disk.img")
    assert _export_tree(lab, tmp_path / "collected")
    assert sha256_file(tmp_path / "collected" / "carved.img") == digest
    assert allocated(tmp_path / "collected" / "carved.img") < SMALL
    assert (tmp_path / "collected" / "evidence.img").is_symlink()  # copied as a link; collect prunes it


def test_seeding_keeps_holes_and_refuses_a_planted_link(image: tuple[Path, str], tmp_path: Path) -> None:
    path, digest = image
    handout = tmp_path / "handout"
    (handout / "lab").mkdir(parents=True)
    os.replace(path, handout / "lab" / "practice.img")
    assert seed_workspace(handout, tmp_path / "ws")
    assert sha256_file(tmp_path / "ws" / "lab" / "practice.img") == digest
    assert allocated(tmp_path / "ws" / "lab" / "practice.img") < SMALL
    (handout / "lab" / "shadow").symlink_to("/etc/shadow")
    with pytest.raises(DflabError, match="symbolic link") as refused:
        seed_workspace(handout, tmp_path / "ws2")
    assert str(handout / "lab" / "shadow") in str(refused.value)
    assert list((tmp_path / "ws2").iterdir()) == []  # refused before anything was copied


def _variant(session: Path, trainee: str) -> Path:
    evidence = session / "evidence" / trainee / "evidence"
    evidence.mkdir(parents=True)
    (evidence / "disk.img").write_bytes(b"x")
    (evidence / "net").mkdir()
    (evidence / "net" / "capture.pcapng").write_bytes(b"y")
    return evidence


def test_a_variant_is_shared_only_when_it_holds_nothing_but_files_and_folders(tmp_path: Path) -> None:
    session = tmp_path / "session"
    alice, bob = _variant(session, "alice"), _variant(session, "bob")
    assert checked_variant(alice, session) == alice
    # A link where the variant's folder should be (to bob's): refused, at any depth below the session.
    (session / "evidence" / "mallory").symlink_to(session / "evidence" / "bob")
    with pytest.raises(DflabError, match="symbolic link"):
        checked_variant(session / "evidence" / "mallory" / "evidence", session)
    (session / "evidence" / "eve").mkdir()
    (session / "evidence" / "eve" / "evidence").symlink_to(bob)
    with pytest.raises(DflabError, match="symbolic link"):
        checked_variant(session / "evidence" / "eve" / "evidence", session)
    # In it: a link to the host, a second name of another trainee's file, a FIFO.
    for plant in ("link", "hardlink", "fifo"):
        target = alice / "net" / "planted"
        if plant == "link":
            target.symlink_to("/etc/shadow")
        elif plant == "hardlink":
            os.link(bob / "disk.img", target)
        else:
            os.mkfifo(target)
        with pytest.raises(DflabError) as refused:
            checked_variant(alice, session)
        assert str(target) in str(refused.value)
        target.unlink()
    assert checked_variant(alice, session) == alice


def test_a_file_bigger_than_a_workspace_and_any_evidence_is_refused_at_its_header(tmp_path: Path) -> None:
    """The engine's tar has no holes; an 8 EiB member is refused from its header, before any of its bytes."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
        huge = tarfile.TarInfo("lab/huge.img")
        huge.size = 8 << 60
        tar.addfile(huge)  # the header alone: reading its bytes would fail (and take forever from an engine)
    archive.seek(0)
    (tmp_path / "collected").mkdir()
    with tarfile.open(fileobj=archive, mode="r|") as tar, pytest.raises(DflabError) as refused:
        _extract_plain(tar, "lab", tmp_path / "collected", GiB)
    assert refused.value.where == "lab/huge.img" and f"is {8 << 60} bytes" in str(refused.value)
    assert list((tmp_path / "collected").iterdir()) == []


def test_a_copy_range_that_moves_nothing_falls_back_instead_of_leaving_a_hole(
        small_image: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Some file systems' copy_file_range returns 0 short of the end; the bytes must come another way."""
    path, digest = small_image
    monkeypatch.setattr(os, "copy_file_range", lambda *args: 0)
    copy_file(path, tmp_path / "copy.img")
    assert sha256_file(tmp_path / "copy.img") == digest
    monkeypatch.setattr(os, "sendfile", lambda *args: 0)  # and sendfile too: pread/pwrite does it
    copy_file(path, tmp_path / "copy2.img")
    assert sha256_file(tmp_path / "copy2.img") == digest


def test_a_copy_killed_halfway_leaves_no_file_that_seeding_takes_for_done(
        image: tuple[Path, str], tmp_path: Path) -> None:
    """A copy SIGKILLed half-way leaves no ``dest``; the next seeding copies the whole file."""
    path, digest = image
    seed, workspace = tmp_path / "handout", tmp_path / "workspace"
    seed.mkdir()
    os.link(path, seed / "disk.img")
    workspace.mkdir()
    child = os.fork()
    if child == 0:  # the seeding process, killed while it copies (after the first data run)
        def half_then_die(src: int, dest: int) -> int:
            os.pwrite(dest, os.pread(src, 64 * 1024, 0), 0)
            os.kill(os.getpid(), signal.SIGKILL)
            return 0

        import dflab.sparsecopy
        dflab.sparsecopy.copy_fd = half_then_die
        try:
            seed_workspace(seed, workspace)
        finally:
            os._exit(1)
    _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert not (workspace / "disk.img").exists(), "a truncated copy stands where the file should be"
    assert seed_workspace(seed, workspace)
    assert sha256_file(workspace / "disk.img") == digest


def test_a_variant_outside_the_session_is_refused(tmp_path: Path) -> None:
    """The check covers the folders from the session down; a variant elsewhere is not the session's."""
    session = tmp_path / "session"
    session.mkdir()
    elsewhere = _variant(tmp_path / "other", "alice")
    with pytest.raises(DflabError, match="is not inside") as refused:
        checked_variant(elsewhere, session)
    assert refused.value.where == str(elsewhere)


@pytest.mark.parametrize("where", ["evidence", "evidence/alice", "evidence/alice/evidence",
                                   "evidence/alice/evidence/net"])
@pytest.mark.parametrize("how", ["owner", "mode"])
def test_a_folder_someone_else_could_swap_a_link_into_is_refused(tmp_path: Path, where: str, how: str) -> None:
    """Between the check and the bind only the session's owner (or root) may be able to change these folders."""
    session = tmp_path / "session"
    alice = _variant(session, "alice")
    assert checked_variant(alice, session) == alice
    folder = session / where
    if how == "owner":
        os.chown(folder, 65534, 65534)
    else:
        folder.chmod(0o777)
    with pytest.raises(DflabError, match="another user could swap a link in") as refused:
        checked_variant(alice, session)
    assert refused.value.where == str(folder)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder under /tmp that any uid may enter (pytest's tmp_path sits in a 0700 one)."""
    folder = Path(tempfile.mkdtemp(prefix="dflab-open-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in folder.rglob("*"):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(folder)


def test_a_folder_the_check_cannot_read_refuses_the_variant(open_dir: Path) -> None:
    """os.fwalk skips a folder it cannot list unless told; a link in one must not pass (checked as uid 65534)."""
    session = open_dir / "session"
    alice = _variant(session, "alice")
    (alice / "net" / "shadow").symlink_to("/etc/shadow")
    (alice / "net").chmod(0o300)  # can be entered, not listed, by uid 65534
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read)
            os.setgid(65534)
            os.setuid(65534)
            try:
                checked_variant(alice, session)
                os.write(write, b"accepted")
            except DflabError as exc:
                os.write(write, str(exc).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        said = pipe.read().decode()
    os.waitpid(child, 0)
    assert said.startswith(f"{alice / 'net'}: cannot be read while checking a trainee's evidence"), said


def test_a_file_that_vanishes_while_checked_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file removed between the folder's listing and its stat is a DflabError naming it, not a traceback."""
    session = tmp_path / "session"
    alice = _variant(session, "alice")
    real_stat = os.stat

    def vanished(path: object, *args: object, **kwargs: object) -> os.stat_result:
        if path == "disk.img":
            raise FileNotFoundError(2, "No such file or directory", "disk.img")
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", vanished)
    with pytest.raises(DflabError) as refused:
        checked_variant(alice, session)
    assert refused.value.where == str(alice / "disk.img") and "No such file" in str(refused.value)
