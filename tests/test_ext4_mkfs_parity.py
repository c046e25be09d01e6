"""ext4 as ``mkfs.ext4`` (e2fsprogs 1.47) makes it and Linux fills it (issue 14, item 3), against the real tools.

* An empty volume of each size class is, in ``dumpe2fs``, the file system a real ``mkfs.ext4 -F -q`` of the same
  size makes, group by group (only identity and times differ); the Nightjar root has the same features and geometry.
* Nightjar variants (MBR and GPT, one with an htree directory) and a stress volume (a two-level htree, names with
  bytes >= 0x80, directories and a file needing extent tree blocks) are clean for ``e2fsck -fn``; ``debugfs`` reads
  every file and walks the journal; TSK and pytsk3 find every file at the key's inode with the key's hash; the kernel
  mounts each read-only and reads every file without an error in its log.
* The journal is valid: replayed by e2fsck its checksums verify (a flipped byte is caught), and it holds the
  payload's inode as it was before the deletion.
* The file system tells one story: directories are created before what they hold and changed when it changed,
  ownership and modes follow the users, every user inode has a generation number and nanoseconds.
* Two builds are byte-identical; another seed changes the drawn bytes, not the layout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytsk3  # type: ignore[import-not-found]

from dflab.evidence.disk import write_disk
from dflab.evidence.disk.ext4 import build_ext4
from dflab.evidence.disk.ext4.crc32c import crc32c
from dflab.scenario.case import Case, DiskFile, Volume
from dflab.scenario.draw import DEMO_SECRET, variant_seed
from dflab.scenario.load import load_spec
from dflab.scenario.resolve import resolve
from tests.small_case import T0, MiB, small_case
from tests.test_disk_tools import extract_partition, fls, run, run_bytes

pytestmark = pytest.mark.xdist_group(name="ext4-parity")

ROOT = Path(__file__).resolve().parents[1]
NIGHTJAR = ROOT / "labs" / "scenarios" / "nightjar.yaml"
VARIANTS = ("default", "trainee00", "trainee08")  # GPT and MBR; each root holds indexed (htree) directories
# dumpe2fs -h fields that depend only on the size (and mke2fs's defaults), not on identity or time.
GEOMETRY_FIELDS = (
    "Filesystem features", "Filesystem flags", "Default mount options", "Filesystem state", "Errors behavior",
    "Filesystem OS type", "Inode count", "Block count", "Reserved block count", "Overhead clusters", "First block",
    "Block size", "Fragment size", "Group descriptor size", "Reserved GDT blocks", "Blocks per group",
    "Fragments per group", "Inodes per group", "Inode blocks per group", "Flex block group size",
    "Maximum mount count", "Check interval", "Reserved blocks uid", "Reserved blocks gid", "First inode",
    "Inode size", "Required extra isize", "Desired extra isize", "Journal inode", "Default directory hash",
    "Journal backup", "Checksum type", "Total journal size", "Total journal blocks", "Max transaction length",
    "Fast commit length")
EMPTY_FIELDS = (*GEOMETRY_FIELDS, "Free blocks", "Free inodes", "Journal features")


def dumpe2fs(image: Path) -> tuple[dict[str, str], list[str]]:
    """``dumpe2fs`` of ``image``: the header as a dict, and the group lines without their (UUID-seeded) checksums."""
    out = run("dumpe2fs", str(image))
    header, _, groups = out.partition("\nGroup 0:")
    fields = dict(re.findall(r"^([A-Z][^:\n]*):\s*(.*?)\s*$", header, re.M))
    lines = [re.sub(r"csum 0x[0-9a-f]+", "csum", line) for line in ("Group 0:" + groups).splitlines()]
    return fields, lines


def debugfs(image: Path, command: str) -> str:
    """One debugfs request (``-R``) on ``image``; its output."""
    if shutil.which("debugfs") is None:
        pytest.fail("debugfs is not installed")
    done = subprocess.run(["debugfs", "-R", command, str(image)], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode("utf-8", "replace")


def debugfs_script(image: Path, script: list[str], tmp: Path) -> str:
    """Run many debugfs commands in one process (``-f``)."""
    commands = tmp / "debugfs.cmd"
    commands.write_text("\n".join(script) + "\n")
    done = subprocess.run(["debugfs", "-f", str(commands), str(image)], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode("utf-8", "replace")


# Debian 12's /etc/mke2fs.conf (e2fsprogs 1.47.0-2; Ubuntu 22.04's has the same ext4 features): what dflab's ext4
# is held to.  Upstream 1.47 also turns on orphan_file and metadata_csum_seed, which Debian and Ubuntu turned off
# again; pinning the file compares with the suspect's distribution whatever the host's own file says.
MKE2FS_CONF = """[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384

[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
	small = {
		blocksize = 1024
		inode_ratio = 4096
	}
	floppy = {
		blocksize = 1024
		inode_ratio = 8192
	}
	big = {
		inode_ratio = 32768
	}
	huge = {
		inode_ratio = 65536
	}
"""


def real_mkfs(size: int, path: Path) -> Path:
    """``mkfs.ext4 -F -q`` on a sparse file of ``size`` bytes, with Debian 12's defaults."""
    if shutil.which("mkfs.ext4") is None:
        pytest.fail("mkfs.ext4 is not installed")
    conf = path.with_suffix(".conf")
    conf.write_text(MKE2FS_CONF)
    with path.open("wb") as fh:
        fh.truncate(size)
    subprocess.run(["mkfs.ext4", "-F", "-q", str(path)], check=True, capture_output=True,
                   env={**os.environ, "MKE2FS_CONFIG": str(conf)})
    return path


def test_the_pinned_defaults_are_this_hosts_mkfs_ext4s(tmp_path: Path) -> None:
    """Where the host's own mkfs.ext4 has the same defaults (Debian 12 here), both give the same file system."""
    host_conf = Path("/etc/mke2fs.conf")
    if not host_conf.is_file() or "orphan_file" in host_conf.read_text():
        pytest.fail(f"{host_conf} is not Debian 12's (orphan_file on, or missing): the parity tests compare with "
                    "the pinned MKE2FS_CONF, check it against this host's e2fsprogs by hand")
    plain = tmp_path / "plain.img"
    with plain.open("wb") as fh:
        fh.truncate(28 * MiB)
    subprocess.run(["mkfs.ext4", "-F", "-q", str(plain)], check=True, capture_output=True)
    pinned = real_mkfs(28 * MiB, tmp_path / "pinned.img")
    assert {k: dumpe2fs(plain)[0].get(k) for k in EMPTY_FIELDS} == {k: dumpe2fs(pinned)[0].get(k) for k in EMPTY_FIELDS}


def e2fsck_clean(image: Path) -> None:
    done = subprocess.run(["e2fsck", "-fn", str(image)], capture_output=True, text=True, check=False)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split(":")[0] for line in lines[:5]] == [f"Pass {n}" for n in range(1, 6)], lines
    assert len(lines) == 6, lines


# -- parity with the real tool ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [2 * MiB, 28 * MiB, 48 * MiB, 300 * MiB, 600 * MiB, 2048 * MiB],
                         ids=["2MiB-floppy", "28MiB", "48MiB", "300MiB-3flex", "600MiB-4k", "2GiB"])
def test_an_empty_volume_is_what_mkfs_ext4_makes_group_by_group(tmp_path: Path, size: int) -> None:
    volume = Volume("v", "ext4", "empty", size, 1, "11111111-2222-4333-8444-555555555555", "/mnt")
    ours = tmp_path / "ours.img"
    built = build_ext4(volume, [], 0, seed=b"\1" * 32)
    with ours.open("wb") as fh:
        fh.truncate(size)
        for offset, data in built.chunks:
            fh.seek(offset)
            fh.write(data)
    mine, my_groups = dumpe2fs(ours)
    theirs, their_groups = dumpe2fs(real_mkfs(size, tmp_path / "real.img"))
    assert {k: mine.get(k) for k in EMPTY_FIELDS} == {k: theirs.get(k) for k in EMPTY_FIELDS}
    assert my_groups == their_groups  # bitmaps, inode tables, backups, flags, free counts: group by group
    layout = [debugfs(image, "stat <8>").split("EXTENTS:")[1].split()[0] for image in (ours, tmp_path / "real.img")]
    assert layout[0] == layout[1]  # the journal where mke2fs puts it
    e2fsck_clean(ours)


@pytest.fixture(scope="module")
def nightjar(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Case, Path, dict, Path]]:
    """Nightjar variants: (case, disk image, disk facts, the root partition as a file of its own)."""
    spec = load_spec(NIGHTJAR)
    out = {}
    for variant in VARIANTS:
        case = resolve(spec, variant_seed(DEMO_SECRET, spec.scenario, variant))
        folder = tmp_path_factory.mktemp(variant)
        facts = write_disk(case, folder / "disk.img")
        part = extract_partition(folder / "disk.img", facts["volumes"]["root"], folder / "root.img")
        out[variant] = (case, folder / "disk.img", facts, part)
    assert {c.disk.table for c, _, _, _ in out.values()} == {"mbr", "gpt"}
    return out


def test_the_nightjar_root_has_mkfs_ext4s_features_and_geometry(nightjar: dict, tmp_path: Path) -> None:
    case, _, _, part = nightjar["default"]
    mine, _ = dumpe2fs(part)
    theirs, _ = dumpe2fs(real_mkfs(case.disk.volumes[1].size_bytes, tmp_path / "real.img"))
    assert {k: mine.get(k) for k in GEOMETRY_FIELDS} == {k: theirs.get(k) for k in GEOMETRY_FIELDS}
    assert mine["Filesystem features"].split() == ["has_journal", "ext_attr", "resize_inode", "dir_index", "filetype",
                                                   "extent", "64bit", "flex_bg", "sparse_super", "large_file",
                                                   "huge_file", "dir_nlink", "extra_isize", "metadata_csum"]
    # Mounted by the kernel since: the journal records 64bit and checksum v3 and commits, the state is clean.
    assert mine["Journal features"] == "journal_64bit journal_checksum_v3"
    assert mine["Journal checksum type"] == "crc32c" and mine["Filesystem state"] == "clean"
    assert int(mine["Mount count"]) >= 1 and mine["Last mounted on"] == "/"


# -- the real tools read every file -----------------------------------------------------------------------------


def _root_files(case: Case) -> list[DiskFile]:
    return [f for f in case.disk.files if f.volume == "root"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_e2fsck_is_clean_and_debugfs_reads_every_file_at_its_inode(nightjar: dict, variant: str,
                                                                    tmp_path: Path) -> None:
    case, _, facts, part = nightjar[variant]
    e2fsck_clean(part)
    files = _root_files(case)
    script = [f"dump <{facts['files'][f.id]['inode']}> {tmp_path / f.id}" for f in files]
    script.append("ncheck " + " ".join(str(facts["files"][f.id]["inode"]) for f in files))
    out = debugfs_script(part, script, tmp_path)
    for f in files:  # unlink truncated a deleted file's inode: nothing to dump (tests/test_ext4_deletion.py)
        assert (tmp_path / f.id).read_bytes() == (b"" if f.deleted_at else f.content), f.id
        assert hashlib.sha256(f.content).hexdigest() == facts["files"][f.id]["sha256"], f.id
    paths = dict(re.findall(r"^(\d+)\t(\S.*)$", out, re.M))
    for f in files:  # a deleted name is hidden from the directory, so only live files have a path
        assert paths.get(str(facts["files"][f.id]["inode"])) == (None if f.deleted_at else f.path), f.id


@pytest.mark.parametrize("variant", VARIANTS)
def test_tsk_and_pytsk3_find_every_file_at_the_keys_inode_with_the_keys_hash(nightjar: dict, variant: str) -> None:
    case, image, facts, _ = nightjar[variant]
    start = facts["volumes"]["root"]["start_sector"]
    listing = fls(image, start)
    fs = pytsk3.FS_Info(pytsk3.Img_Info(str(image)), offset=start * 512)
    for f in _root_files(case):
        fact = facts["files"][f.id]
        # Unlink wiped a deleted file's name and freeing emptied its inode (size 0, no extents, mtime and ctime at
        # that moment): its inode is found, its content is not (tests/test_ext4_deletion.py recovers it).
        content = b"" if f.deleted_at else f.content
        assert listing.get(f.path.strip("/")) == (None if f.deleted_at else (fact["inode"], False)), f.id
        assert hashlib.sha256(f.content).hexdigest() == fact["sha256"], f.id
        assert run_bytes("icat", "-o", str(start), str(image), str(fact["inode"])) == content, f.id
        opened = fs.open_meta(inode=fact["inode"])
        meta = opened.info.meta
        data = opened.read_random(0, meta.size) if meta.size else b""
        assert data == content, f.id
        freed = fact["freed_at"]  # the unlink, or the holder's end for a file a process still held (the shutdown)
        mtime, ctime = (freed, freed) if f.deleted_at else (f.mtime, f.ctime)
        assert (meta.crtime, meta.mtime, meta.atime, meta.ctime) == (f.crtime, mtime, f.atime, ctime), f.id
        istat = run("istat", "-o", str(start), str(image), str(fact["inode"]))
        assert ("Not Allocated" in istat) == (f.deleted_at is not None), f.id


def test_some_variant_has_an_htree_directory(nightjar: dict) -> None:
    """Big directories are indexed (htree) as the kernel indexes them: the installed system's /usr/bin and dpkg's
    info folder (4 KiB blocks: one block holds ~100 names), or a small root's filled Documents/2025 (1 KiB blocks)."""
    indexed = []
    for variant, (case, _, _, part) in nightjar.items():
        home = next(u.home for u in case.users)
        for folder in (f"{home}/Documents/2025", "/usr/bin", "/var/lib/dpkg/info"):
            stat = debugfs(part, f"stat {folder}")
            if "Flags: 0x81000" in stat:
                indexed.append((variant, folder))
                assert "Indirect levels: 0" in debugfs(part, f"htree {folder}"), (variant, folder)
    assert indexed, "no variant exercises an indexed directory: pick other VARIANTS"


# -- the kernel --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stress(tmp_path_factory: pytest.TempPathFactory) -> tuple[Case, Path, dict, Path]:
    """A volume the Nightjar root never stresses: a two-level htree, signed-hash names, extent tree blocks."""
    base = small_case()
    files = [f for f in base.disk.files if f.volume == "boot"]
    for i in range(240):  # three directories filled in turns: their blocks interleave, so each needs a tree block
        name = ("alpha", "beta", "gamma")[i % 3]
        files.append(DiskFile(f"s{i}", "data", f"/srv/{name}/entry-{i:04d}-" + "x" * 60, b"%d" % i, T0 + i,
                              T0 + i, T0 + i, T0 + i, uid=1000, gid=1000,
                              deleted_at=T0 + 5000 if i % 17 == 5 else None))
    for i in range(420):  # long names: more leaves than the root indexes, so the tree grows a level
        files.append(DiskFile(f"d{i}", "data", f"/srv/deep/{i:04d}-" + "n" * 200, b"d", T0 + 1000 + i,
                              T0 + 1000 + i, T0 + 1000 + i, T0 + 1000 + i))
    for i in range(60):  # bytes >= 0x80 hash as signed chars (signed_directory_hash)
        files.append(DiskFile(f"u{i}", "data", f"/srv/unicode/résumé-é{i:03d}-ü" + "ß" * 20, b"u", T0 + 2000 + i,
                              T0 + 2000 + i, T0 + 2000 + i, T0 + 2000 + i))
    files.append(DiskFile("big", "data", "/srv/big.bin", bytes(range(256)) * 4096 * 60, T0, T0, T0, T0))
    volumes = (base.disk.volumes[0],
               Volume("data", "ext4", "data", 96 * MiB, 0x1, "21111111-2222-4333-8444-555555555555", "/srv"))
    case = dataclasses.replace(base, disk=dataclasses.replace(base.disk, size_bytes=160 * MiB, volumes=volumes,
                                                               files=tuple(files)))
    folder = tmp_path_factory.mktemp("stress")
    facts = write_disk(case, folder / "disk.img")
    part = extract_partition(folder / "disk.img", facts["volumes"]["data"], folder / "data.img")
    return case, folder / "disk.img", facts, part


def test_big_directories_grow_htree_levels_and_extent_tree_blocks(stress: tuple) -> None:
    case, _, facts, part = stress
    e2fsck_clean(part)
    assert "Indirect levels: 1" in debugfs(part, "htree /srv/deep")
    assert "(ETB0)" in debugfs(part, "stat /srv/alpha") and "(ETB0)" in debugfs(part, "stat /srv/big.bin")
    assert "Flags: 0x81000" in debugfs(part, "stat /srv/unicode")




@contextlib.contextmanager
def mounted(image: Path, part: dict, where: Path) -> Iterator[tuple[Path, str]]:
    """The partition ``part`` of ``image`` mounted read-only by the kernel: (mount point, loop device name)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.fail("the kernel mount test runs as root with util-linux mount (loop devices): run the suite as root")
    where.mkdir()
    offset, size = part["start_sector"] * 512, part["sectors"] * 512
    done = subprocess.run(["mount", "-t", "ext4", "-o", f"ro,loop,offset={offset},sizelimit={size}", str(image),
                           str(where)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"the kernel refused to mount the volume: {done.stderr.strip()}"
    try:
        source = next(line.split()[0] for line in Path("/proc/mounts").read_text().splitlines()
                      if line.split()[1] == str(where))
        yield where, Path(source).name
    finally:
        # Another process walking the tree (a backup, an indexer, du) keeps it busy for a moment: wait, then detach.
        for _ in range(40):
            if subprocess.run(["umount", str(where)], capture_output=True, check=False).returncode == 0:
                break
            time.sleep(0.25)
        else:
            subprocess.run(["umount", "--lazy", str(where)], check=True)


def kernel_log() -> list[str]:
    done = subprocess.run(["dmesg"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"the kernel log is needed to see the mount's complaints: {done.stderr.strip()}"
    return done.stdout.splitlines()


@pytest.mark.parametrize("which", [*VARIANTS, "stress"])
def test_the_kernel_mounts_it_read_only_and_reads_every_file_without_complaint(nightjar: dict, stress: tuple,
                                                                               which: str, tmp_path: Path) -> None:
    case, image, facts, _ = stress if which == "stress" else nightjar[which]
    volume = "data" if which == "stress" else "root"
    before = len(kernel_log())
    with mounted(image, facts["volumes"][volume], tmp_path / "mnt") as (mnt, device):
        for _, _, names in os.walk(mnt):  # every directory block, htree node and inode on the way is verified
            assert names is not None
        for f in case.disk.files:
            if f.volume != volume:
                continue
            path = mnt / f.path.lstrip("/")
            if f.deleted_at is not None:
                assert not path.exists(), f.id
                continue
            st = path.stat()
            assert (st.st_ino, st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_size) == (
                facts["files"][f.id]["inode"], f.mode, f.uid, f.gid, len(f.content)), f.id
            assert (st.st_mtime_ns // 10**9, st.st_atime_ns // 10**9) == (f.mtime, f.atime), f.id
            assert hashlib.sha256(path.read_bytes()).hexdigest() == f.sha256, f.id
    complaints = [line for line in kernel_log()[before:]
                  if device in line and re.search(r"error|warn|corrupt|invalid|checksum|fail", line, re.I)]
    assert not complaints, complaints


# -- the journal -------------------------------------------------------------------------------------------------

JBD2_MAGIC = 0xC03B3998


def journal_copies(journal: bytes, block_size: int) -> list[tuple[int, int, bytes]]:
    """Every block copy the journal holds, as (transaction id, file-system block, contents): jbd2 v3 tags."""
    copies = []
    for j in range(1, len(journal) // block_size):
        raw = journal[j * block_size:(j + 1) * block_size]
        magic, kind, tid = struct.unpack_from(">III", raw)
        if magic != JBD2_MAGIC or kind != 1:
            continue
        at, n = 12, 0
        while True:
            block, flags, high, _ = struct.unpack_from(">IIII", raw, at)
            n += 1
            data = journal[(j + n) * block_size:(j + n + 1) * block_size]
            if flags & 1:  # escaped: the copy began with the journal's magic
                data = struct.pack(">I", JBD2_MAGIC) + data[4:]
            copies.append((tid, (high << 32) | block, data))
            at += 16 if flags & 2 else 32
            if flags & 8:
                break
    return copies


def test_logdump_walks_the_journal_and_it_keeps_the_payload_inode_from_before_the_deletion(nightjar: dict,
                                                                                            tmp_path: Path) -> None:
    case, _, facts, part = nightjar["default"]
    log = debugfs(part, "logdump -O")
    assert log.count("descriptor block") >= 3 and log.count("commit block") >= 3, log
    debugfs(part, f"dump <8> {tmp_path / 'journal'}")
    header, _ = dumpe2fs(part)
    block_size, per_group = int(header["Block size"]), int(header["Inodes per group"])
    payload = case.file("payload")
    ino = facts["files"]["payload"]["inode"]
    table = int(re.search(r"Inode table at (\d+)", run("dumpe2fs", str(part))).group(1))  # type: ignore[union-attr]
    index = (ino - 1) % per_group
    block, offset = table + index * 256 // block_size, index * 256 % block_size
    copies = [(tid, data[offset:offset + 256]) for tid, fs_block, data in
              journal_copies((tmp_path / "journal").read_bytes(), block_size) if fs_block == block]
    links_dtime = [(tid, struct.unpack_from("<H", inode, 0x1A)[0], struct.unpack_from("<I", inode, 0x14)[0])
                   for tid, inode in sorted(copies)]
    assert any(links == 1 and dtime == 0 for _, links, dtime in links_dtime), links_dtime  # before the deletion
    # The last copy is the inode freed: at the deletion, or, while a process still held it, at the holder's end.
    assert links_dtime[-1][1:] == (0, facts["files"]["payload"]["freed_at"]), links_dtime
    if facts["files"]["payload"]["freed_at"] != payload.deleted_at:  # held: an orphan between, data intact
        assert any(links == 0 and dtime != payload.deleted_at for _, links, dtime in links_dtime[:-1]), links_dtime


def _start_recovery(part: Path, copy: Path) -> tuple[int, int]:
    """A copy of ``part`` whose journal must be replayed from its block 1: (journal's first block, block size)."""
    shutil.copy(part, copy)
    header, _ = dumpe2fs(part)
    block_size = int(header["Block size"])
    first = int(re.search(r"\((?:0|0-\d+)\):(\d+)", debugfs(part, "stat <8>").split("EXTENTS:")[1]).group(1))  # type: ignore[union-attr]
    with copy.open("r+b") as fh:
        fh.seek(first * block_size)
        jsb = bytearray(fh.read(1024))
        fh.seek((first + 1) * block_size)
        magic, kind, tid = struct.unpack(">III", fh.read(12))
        assert (magic, kind) == (JBD2_MAGIC, 1), "the log since the last mount starts at journal block 1"
        struct.pack_into(">II", jsb, 0x18, tid, 1)  # s_sequence, s_start: a log to replay
        struct.pack_into(">I", jsb, 0xFC, 0)
        struct.pack_into(">I", jsb, 0xFC, crc32c(0xFFFFFFFF, jsb))
        fh.seek(first * block_size)
        fh.write(jsb)
        fh.seek(1024)
        sb = bytearray(fh.read(1024))
        struct.pack_into("<I", sb, 0x60, struct.unpack_from("<I", sb, 0x60)[0] | 0x4)  # needs_recovery
        struct.pack_into("<I", sb, 0x3FC, crc32c(0xFFFFFFFF, sb[:0x3FC]))
        fh.seek(1024)
        fh.write(sb)
    return first, block_size


def test_the_journal_replays_and_its_checksums_verify(nightjar: dict, tmp_path: Path) -> None:
    """e2fsck replays the log since the last mount (descriptor, tag and commit checksums checked) and the file
    system is still clean; a flipped byte in a logged copy is caught, so the check can fail."""
    _, _, _, part = nightjar["default"]
    replay = tmp_path / "replay.img"
    _start_recovery(part, replay)
    done = subprocess.run(["e2fsck", "-fy", str(replay)], capture_output=True, text=True, check=False)
    assert "recovering journal" in done.stdout and done.returncode in (0, 1), done.stdout + done.stderr
    assert not re.search(r"checksum|corrupt|abort|invalid", done.stdout + done.stderr, re.I), done.stdout
    e2fsck_clean(replay)

    broken = tmp_path / "broken.img"
    first, block_size = _start_recovery(part, broken)
    with broken.open("r+b") as fh:
        fh.seek((first + 2) * block_size + 100)  # inside the first logged copy
        byte = fh.read(1)
        fh.seek((first + 2) * block_size + 100)
        fh.write(bytes([byte[0] ^ 0xFF]))
    done = subprocess.run(["e2fsck", "-fy", str(broken)], capture_output=True, text=True, check=False)
    assert re.search(r"checksum", done.stdout + done.stderr, re.I), done.stdout + done.stderr


# -- one story ----------------------------------------------------------------------------------------------------


def _tree(fs: pytsk3.FS_Info, path: str, out: dict[str, Any]) -> None:
    for entry in fs.open_dir(path=path):
        name = entry.info.name.name.decode("utf-8")
        meta = entry.info.meta
        unallocated = int(entry.info.name.flags) & int(pytsk3.TSK_FS_NAME_FLAG_UNALLOC)
        if name in (".", "..", "") or name.startswith("$") or meta is None or (
                unallocated and entry.info.name.meta_addr < 11):
            continue  # an htree's index bytes, which TSK also reads as deleted names (inode 0 or 1), are no names
        child = f"{path.rstrip('/')}/{name}"
        out[child] = meta
        if meta.type == pytsk3.TSK_FS_META_TYPE_DIR and not int(entry.info.name.flags) & int(
                pytsk3.TSK_FS_NAME_FLAG_UNALLOC):
            _tree(fs, child, out)


def _ns(meta: pytsk3.TSK_FS_META, field: str) -> int:
    return getattr(meta, field) * 10**9 + getattr(meta, f"{field}_nano")


@pytest.mark.parametrize("variant", VARIANTS)
def test_one_story_directories_owners_generations_and_nanoseconds(nightjar: dict, variant: str,
                                                                   tmp_path: Path) -> None:
    case, image, facts, part = nightjar[variant]
    fs = pytsk3.FS_Info(pytsk3.Img_Info(str(image)), offset=facts["volumes"]["root"]["start_sector"] * 512)
    metas: dict[str, Any] = {"/": fs.open("/").info.meta}
    _tree(fs, "/", metas)
    for path, meta in metas.items():
        if path == "/":
            continue
        parent = metas[path.rsplit("/", 1)[0] or "/"]
        assert _ns(parent, "crtime") <= _ns(meta, "crtime"), f"{path} is older than its directory"
        assert _ns(parent, "mtime") >= _ns(meta, "crtime"), f"{path} was created after its directory last changed"
    user = case.users[0]
    home = metas[user.home]
    assert (metas["/tmp"].uid, int(metas["/tmp"].mode) & 0o7777) == (0, 0o1777)
    assert (home.uid, home.gid, int(home.mode) & 0o7777) == (user.uid, user.gid, 0o750)
    for path, meta in metas.items():
        if path.startswith(user.home + "/") and meta.type == pytsk3.TSK_FS_META_TYPE_DIR:
            assert (meta.uid, meta.gid) == (user.uid, user.gid), path

    header, _ = dumpe2fs(part)
    user_inodes = sorted({meta.addr for path, meta in metas.items() if path not in ("/", "/lost+found")})
    stats = debugfs_script(part, [f"stat <{ino}>" for ino in user_inodes], tmp_path)
    generations = [int(g) for g in re.findall(r"Generation: (\d+)", stats)]
    assert len(generations) == len(user_inodes) and 0 not in generations
    assert len(set(generations)) == len(generations)
    crtimes = re.findall(r"crtime: 0x[0-9a-f]+:([0-9a-f]{8})", stats)
    assert len(crtimes) == len(user_inodes) and all(int(x, 16) >> 2 for x in crtimes)  # nanoseconds
    mkfs = _ns(metas["/lost+found"], "crtime")
    assert mkfs == _ns(metas["/"], "crtime") and mkfs % 10**9 == 0  # mke2fs writes whole seconds
    assert mkfs < min(_ns(m, "crtime") for p, m in metas.items() if p not in ("/", "/lost+found"))
    assert header["Last mount time"] == _ctime(case.memory.boot_time)
    assert _epoch(header["Last write time"]) > case.memory.acquired_at


def _ctime(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%a %b %e %H:%M:%S %Y")


def _epoch(text: str) -> int:
    return int(datetime.strptime(text, "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC).timestamp())


# -- determinism --------------------------------------------------------------------------------------------------


def test_the_same_case_gives_the_same_bytes_and_another_seed_other_drawn_ones(tmp_path: Path) -> None:
    """Everything the plan leaves open (hash seed, generations, nanoseconds, transaction ids, which of two files
    created in the same second came first) is drawn from the case seed: the same case, the same bytes."""
    spec = load_spec(NIGHTJAR)
    case = resolve(spec, variant_seed(DEMO_SECRET, spec.scenario, "default"))
    facts = [write_disk(case, tmp_path / name) for name in ("a.img", "b.img")]
    digests = [hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() for name in ("a.img", "b.img")]
    assert facts[0] == facts[1] and digests[0] == digests[1]
    other = write_disk(dataclasses.replace(case, seed="5a" * 32), tmp_path / "c.img")
    assert hashlib.sha256((tmp_path / "c.img").read_bytes()).hexdigest() != digests[0]
    # Where files land is drawn too: inodes, and (the installed system's upgrades are drawn) the blocks of slack.
    drawn = ("inode", "slack_offset")
    assert {k: {f: v for f, v in fact.items() if f not in drawn} for k, fact in other["files"].items()} == \
        {k: {f: v for f, v in fact.items() if f not in drawn} for k, fact in facts[0]["files"].items()}
    parts = [extract_partition(tmp_path / name, facts[0]["volumes"]["root"], tmp_path / f"{name}.root")
             for name in ("a.img", "c.img")]
    assert dumpe2fs(parts[0])[0]["Directory Hash Seed"] != dumpe2fs(parts[1])[0]["Directory Hash Seed"]
    e2fsck_clean(parts[1])
