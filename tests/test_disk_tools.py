"""The disk image as the real tools see it: TSK (CLI and pytsk3), fsck.fat and e2fsck.

Every assertion compares what a tool prints with what the Case planned,
for the small case (MBR and GPT) and for a wider case that stresses the
layout: multi-cluster FAT directories with long and clashing names,
deleted entries deep inside directory blocks, a multi-group ext4, odd
seconds, 32-bit uids, empty files and directories.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytsk3  # type: ignore[import-not-found]

from dflab.evidence.disk import write_disk
from dflab.scenario.case import Case, DiskFile, Volume
from tests.small_case import T0, MiB, small_case


def wide_case() -> Case:
    """A case whose volumes exercise what the small case can't (bigger and busier, still quick)."""
    base = small_case()
    files = []
    for i in range(40):
        content = hashlib.sha256(b"%d" % i).digest() * (i + 1) + b"!"
        deleted = T0 + 5000 if i % 7 == 3 else None
        slack = b"S%d" % i if i % 5 == 0 else b""
        files.append(DiskFile(f"fat{i}", "usb", f"/Many Files/document number {i:03d} with a long name.txt",
                              content, T0 + i, T0 + 2 * i + 1, T0 + i, T0 + 3 * i, deleted_at=deleted, slack=slack))
        files.append(DiskFile(f"ext{i}", "data", f"/srv/dir{i % 3}/file_{i}.bin", content * 40, T0 + i, T0 + 7 * i,
                              T0 + 11 * i, T0 - i, uid=70000 + i, gid=70001, mode=0o640, deleted_at=deleted,
                              slack=slack))
    # 208-byte records: 19 fit in the first directory block, so #18 is deleted at a block's end and
    # #19 is deleted at the start of the second block (where nothing precedes it to hide it in).
    for i in range(25):
        files.append(DiskFile(f"blk{i}", "data", f"/srv/blocks/{i:02d}-" + "n" * 197, b"%d" % i, T0, T0, T0, T0,
                              deleted_at=T0 + 60 if i in (5, 18, 19) else None))
    files += [
        DiskFile("clash", "usb", "/Many Files/DOCUME~1.TXT", b"short name taken", T0, T0, T0, T0),
        DiskFile("accent", "usb", "/résumé final.txt", b"cv", T0 + 1, T0 + 1, T0 + 1, T0 + 1),
        DiskFile("usb-empty", "usb", "/EMPTY", b"", T0, T0, T0, T0),
        DiskFile("usb-dir", "usb", "/Photos", b"", T0 + 3, T0 + 3, T0 + 3, T0 + 3, is_dir=True),
        DiskFile("usb-gone", "usb", "/zz old/gone.dat", b"z" * 9000, T0, T0, T0, T0, deleted_at=T0 + 1),
        DiskFile("big", "data", "/srv/big.bin", bytes(range(256)) * 4096 * 3, T0, T0, T0, T0),
        DiskFile("ext-empty", "data", "/srv/empty", b"", T0, T0, T0, T0),
        DiskFile("ext-dir", "data", "/srv/emptydir", b"", T0 + 5, T0 + 5, T0 + 5, T0 + 5, is_dir=True, mode=0o700),
        DiskFile("ext-accent", "data", "/srv/résumé.txt", b"cv", T0 + 1, T0 + 1, T0 + 1, T0 + 1),
    ]
    volumes = (
        Volume("usb", "fat32", "USB STICK", 70 * MiB, 0xCAFE0001, "11111111-2222-4333-8444-555555555555", "/mnt/usb"),
        Volume("data", "ext4", "data", 300 * MiB, 0x1, "21111111-2222-4333-8444-555555555555", "/srv"),
    )
    disk = dataclasses.replace(base.disk, size_bytes=400 * MiB, volumes=volumes, files=tuple(files))
    return dataclasses.replace(base, disk=disk)


def _gpt(case: Case) -> Case:
    return dataclasses.replace(case, disk=dataclasses.replace(case.disk, table="gpt"))


CASES = {"small-mbr": small_case, "small-gpt": lambda: _gpt(small_case()), "wide-gpt": lambda: _gpt(wide_case())}


@pytest.fixture(scope="module", params=sorted(CASES))
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Case, Path, dict]:
    case = CASES[request.param]()
    image = tmp_path_factory.mktemp(request.param) / "disk.raw"
    return case, image, write_disk(case, image)


def run(*args: str) -> str:
    """Run a real tool; a missing one fails the test (the lab is useless without it)."""
    if shutil.which(args[0]) is None:
        pytest.fail(f"{args[0]} is not installed")
    done = subprocess.run(args, capture_output=True, check=False)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}: {done.stdout!r} {done.stderr!r}"
    return done.stdout.decode("utf-8")


def run_bytes(*args: str) -> bytes:
    if shutil.which(args[0]) is None:
        pytest.fail(f"{args[0]} is not installed")
    return subprocess.run(args, capture_output=True, check=True).stdout


def partitions(facts: dict) -> dict[str, dict]:
    return {p["volume"]: p for p in facts["partitions"]}


def unlinked(case: Case, f: DiskFile) -> bool:
    """Deleted on ext4, as Linux's unlink does it: the name wiped, the inode emptied (size 0, no extents, mtime and
    ctime at the deletion), the data left in free blocks (tests/test_ext4_deletion.py reads what survives)."""
    return f.deleted_at is not None and next(v.fs for v in case.disk.volumes if v.id == f.volume) == "ext4"


def planned_paths(case: Case, volume: str) -> dict[str, bool]:
    """Every path fls must list for ``volume`` (planned files and their implied parents) → deleted?  A file unlinked
    from ext4 has no name left to list; FAT keeps a deleted name (0xE5 in its first byte)."""
    out: dict[str, bool] = {}
    for f in case.disk.files:
        if f.volume != volume:
            continue
        parts = f.path.strip("/").split("/")
        for depth in range(1, len(parts)):
            out.setdefault("/".join(parts[:depth]), False)
        if not unlinked(case, f):
            out["/".join(parts)] = f.deleted_at is not None
    return out


def planned_content(case: Case, f: DiskFile) -> bytes:
    """What reading the file by its inode gives: nothing once ext4 has unlinked it."""
    return b"" if unlinked(case, f) else f.content


FLS_LINE = re.compile(r"^(?P<type>\S/\S) (?P<deleted>\* )?(?P<inode>\d+)(?P<realloc>\(realloc\))?:\t(?P<name>.*)$")


def fls(image: Path, start: int, *flags: str) -> dict[str, tuple[int, bool]]:
    """fls -r -p listing as path → (inode, deleted), without TSK's virtual files and the FAT label entry."""
    out = {}
    for line in run("fls", "-r", "-p", *flags, "-o", str(start), str(image)).splitlines():
        m = FLS_LINE.match(line)
        assert m, line
        name = m["name"]
        if name.startswith("$") or name.endswith("(Volume Label Entry)") or name == "lost+found":
            continue
        out[name] = (int(m["inode"]), bool(m["deleted"]))
    return out


def test_mmls_shows_planned_partitions(built: tuple[Case, Path, dict]) -> None:
    case, image, facts = built
    rows = []
    for line in run("mmls", str(image)).splitlines():
        m = re.match(r"^\d+:\s+(\d+)(?::\d+)?\s+(\d+)\s+(\d+)\s+(\d+)\s+(.*)$", line)
        if m:
            rows.append((int(m[2]), int(m[4]), m[5].strip()))
    expected = []
    start = 2048
    for v in case.disk.volumes:
        if case.disk.table == "mbr":
            desc = {"fat32": "Win95 FAT32 (0x0c)", "ext4": "Linux (0x83)"}[v.fs]
        else:
            desc = v.label
        expected.append((start, v.size_bytes // 512, desc))
        start = -(-(start + v.size_bytes // 512) // 2048) * 2048
    assert rows == expected
    assert [(p["start_sector"], p["sectors"]) for p in facts["partitions"]] == [(s, n) for s, n, _ in expected]


def test_volume_facts_by_role_are_the_partitions_tsk_finds_holding_them(built: tuple[Case, Path, dict]) -> None:
    """facts.disk.volumes.<id> (what graders address: volumes.root) is, by pytsk3 and fsstat, the partition that
    holds that volume: its table slot, start, length and file system, and the volume's own files at their inodes."""
    case, image, facts = built
    img = pytsk3.Img_Info(str(image))
    table = {p.start: p for p in pytsk3.Volume_Info(img) if int(p.flags) == int(pytsk3.TSK_VS_PART_FLAG_ALLOC)}
    assert list(facts["volumes"]) == [v.id for v in case.disk.volumes]
    assert [facts["volumes"][p["volume"]] for p in facts["partitions"]] == facts["partitions"]  # one entry, 2 views
    fs_types = {"fat32": pytsk3.TSK_FS_TYPE_FAT32, "ext4": pytsk3.TSK_FS_TYPE_EXT4}
    for v in case.disk.volumes:
        fact = facts["volumes"][v.id]
        part = table[fact["start_sector"]]
        assert (part.slot_num + 1, part.len) == (fact["index"], fact["sectors"]), v.id
        if case.disk.table == "gpt":
            assert part.desc.decode() == fact["label"] == v.label  # GPT names each partition
        fs = pytsk3.FS_Info(img, offset=fact["start_sector"] * 512)
        assert int(fs.info.ftype) == int(fs_types[fact["fs"]]) and fact["fs"] == v.fs, v.id
        name = "Volume Label (Boot Sector)" if v.fs == "fat32" else "Volume Name"
        assert re.search(rf"^{re.escape(name)}: {re.escape(fact['label'])} *$",
                         run("fsstat", "-o", str(fact["start_sector"]), str(image)), re.M), v.id
        for f in case.disk.files:
            if f.volume == v.id and not f.is_dir:
                meta = fs.open_meta(inode=facts["files"][f.id]["inode"])
                data = meta.read_random(0, meta.info.meta.size) if meta.info.meta.size else b""
                assert data == planned_content(case, f), (v.id, f.id)


def test_fsstat_type_label_and_ids(built: tuple[Case, Path, dict]) -> None:
    case, image, facts = built
    for v in case.disk.volumes:
        out = run("fsstat", "-o", str(partitions(facts)[v.id]["start_sector"]), str(image))
        if v.fs == "fat32":
            assert "File System Type: FAT32" in out
            assert f"Volume ID: 0x{v.serial:08x}" in out
            assert re.search(rf"Volume Label \(Boot Sector\): {re.escape(v.label.upper())} *\n", out)
            assert re.search(rf"Volume Label \(Root Directory\): {re.escape(v.label.upper())} *\n", out)
            assert f"Sectors before file system: {partitions(facts)[v.id]['start_sector']}" in out
        else:
            assert "File System Type: Ext4" in out
            assert f"Volume Name: {v.label}\n" in out
            # TSK prints the ext4 UUID's 16 bytes last to first.
            assert f"Volume ID: {bytes.fromhex(v.uuid.replace('-', ''))[::-1].hex()}" in out
            assert f"Last mounted on: {v.mount_point}" in out


def test_fls_lists_every_planned_path_and_exactly_the_deleted_ones(built: tuple[Case, Path, dict]) -> None:
    case, image, facts = built
    for v in case.disk.volumes:
        start = partitions(facts)[v.id]["start_sector"]
        listing = fls(image, start)
        assert {path: deleted for path, (_, deleted) in listing.items()} == planned_paths(case, v.id)
        for f in case.disk.files:
            if f.volume == v.id and not unlinked(case, f):
                assert listing[f.path.strip("/")][0] == facts["files"][f.id]["inode"], f.id
        deleted = fls(image, start, "-d")
        assert set(deleted) == {f.path.strip("/") for f in case.disk.files
                                if f.volume == v.id and f.deleted_at and not unlinked(case, f)}
        assert all(flag for _, flag in deleted.values())
        # What ext4 keeps of an unlinked file is its inode, which TSK lists as an orphan without a name.
        orphans = {line for line in run("fls", "-r", "-d", "-o", str(start), str(image)).splitlines()
                   if "$OrphanFiles/" in line}
        assert orphans == {f"-/r * {facts['files'][f.id]['inode']}:\t$OrphanFiles/OrphanFile-"
                           f"{facts['files'][f.id]['inode']}" for f in case.disk.files
                           if f.volume == v.id and unlinked(case, f) and not f.is_dir}


def test_icat_returns_planned_bytes_including_deleted_files(built: tuple[Case, Path, dict]) -> None:
    case, image, facts = built
    for f in case.disk.files:
        if f.is_dir:
            continue
        fact = facts["files"][f.id]
        start = partitions(facts)[f.volume]["start_sector"]
        data = run_bytes("icat", "-o", str(start), str(image), str(fact["inode"]))
        assert data == planned_content(case, f), f.id
        assert f.sha256 == fact["sha256"] and fact["size"] == len(f.content), f.id


def test_slack_is_at_its_offset_and_icat_s_shows_it(built: tuple[Case, Path, dict]) -> None:
    case, image, facts = built
    with_slack = [f for f in case.disk.files if f.slack]
    assert with_slack
    for f in case.disk.files:
        fact = facts["files"][f.id]
        if not f.slack:
            assert fact["slack_offset"] is None
            continue
        with image.open("rb") as fh:
            fh.seek(fact["slack_offset"])
            assert fh.read(len(f.slack)) == f.slack, f.id
        if unlinked(case, f):  # no blocks left to read past the end of: the bytes above are all there is
            continue
        start = partitions(facts)[f.volume]["start_sector"]
        data = run_bytes("icat", "-s", "-o", str(start), str(image), str(fact["inode"]))
        assert data[:len(f.content)] == f.content
        assert data[len(f.content):len(f.content) + len(f.slack)] == f.slack, f.id


def _utc(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def test_istat_shows_planned_times(built: tuple[Case, Path, dict]) -> None:
    case, image, facts = built
    fs_of = {v.id: v.fs for v in case.disk.volumes}
    for f in case.disk.files:
        fact = facts["files"][f.id]
        start = partitions(facts)[f.volume]["start_sector"]
        out = run("istat", "-z", "UTC", "-o", str(start), str(image), str(fact["inode"]))
        times = dict(re.findall(r"^([A-Z][A-Za-z ]+):\t(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", out, re.MULTILINE))
        if fs_of[f.volume] == "fat32":
            # FAT resolution: 2 s write time, date-only access.  The create time carries the odd
            # second as 100 hundredths: TSK 4.11 (Debian 12) drops it (it only added a second for more than
            # 100), TSK 4.12 (Debian 13) shows it; either way nothing else.
            assert times["Written"] == _utc(f.mtime - f.mtime % 2), f.id
            assert times["Accessed"] == _utc(f.atime - f.atime % 86400), f.id
            assert times["Created"] in (_utc(f.crtime), _utc(f.crtime - f.crtime % 2)), f.id
            assert ("Not Allocated" in out) == (f.deleted_at is not None)
        else:
            assert times["Accessed"] == _utc(f.atime), f.id
            # Freeing truncates the inode, which sets its mtime and ctime to the moment: at the unlink, or, for a
            # file a process still held, when the holder ended (the key's freed_at: the host's shutdown).
            freed = fact["freed_at"]
            assert (freed != f.deleted_at) == (f.deleted_at is not None and freed is not None and freed > f.deleted_at)
            assert times["File Modified"] == _utc(freed if unlinked(case, f) else f.mtime), f.id
            assert times["Inode Modified"] == _utc(freed if unlinked(case, f) else f.ctime), f.id
            assert times["File Created"] == _utc(f.crtime), f.id
            assert times.get("Deleted") == (_utc(freed) if f.deleted_at else None), f.id
            assert f"uid / gid: {f.uid} / {f.gid}\n" in out
            assert ("Not Allocated" in out) == (f.deleted_at is not None)
            assert f"num of links: {0 if f.deleted_at else (1 if not f.is_dir else 2)}\n" in out


def _ns(meta: pytsk3.TSK_FS_META, field: str) -> int:
    return getattr(meta, field) * 10**9 + getattr(meta, f"{field}_nano")


def test_implied_directories_precede_their_files_and_record_their_changes(tmp_path: Path) -> None:
    """A directory nobody planned exists before the first file in it, its mtime and ctime are its last entry change
    (to the nanosecond of the file created or deleted), and it is owned as on a Linux system: root's top-level
    directories, /tmp sticky and world-writable, the user's home 0750 and what the user made below it."""
    case = small_case()
    image = tmp_path / "disk.raw"
    facts = write_disk(case, image)
    fs = pytsk3.FS_Info(pytsk3.Img_Info(str(image)), offset=partitions(facts)["root"]["start_sector"] * 512)
    expected = {"/home": (0, 0, 0o755), "/home/jdoe": (1000, 1000, 0o750), "/home/jdoe/Documents": (1000, 1000, 0o755),
                "/home/jdoe/Downloads": (1000, 1000, 0o755), "/home/jdoe/Pictures": (1000, 1000, 0o755),
                "/tmp": (0, 0, 0o1777), "/tmp/.cache": (1000, 1000, 0o755)}
    for path, (uid, gid, mode) in expected.items():
        meta = fs.open(path).info.meta
        assert (meta.uid, meta.gid, int(meta.mode) & 0o7777) == (uid, gid, mode), path
        children = [e.info.meta for e in fs.open_dir(path=path)
                    if e.info.name.name not in (b".", b"..") and e.info.meta is not None]
        children += [fs.open_meta(inode=facts["files"][f.id]["inode"]).info.meta for f in case.disk.files
                     if f.volume == "root" and unlinked(case, f) and f.path.rsplit("/", 1)[0] == path]  # no name left
        assert children, path
        births = [_ns(child, "crtime") for child in children]
        deaths = [f.deleted_at * 10**9 for f in case.disk.files  # pytsk3 shows no dtime: the plan's
                  if f.volume == "root" and f.deleted_at and f.path.rsplit("/", 1)[0] == path]
        changes = births + deaths
        assert _ns(meta, "crtime") < min(births), path
        assert _ns(meta, "mtime") == _ns(meta, "ctime") >= max(births), path
        assert max(changes) - 10**9 < _ns(meta, "mtime") <= max(changes) + 10**9, path  # dtime has whole seconds
    root = run("istat", "-z", "UTC", "-o", str(partitions(facts)["root"]["start_sector"]), str(image), "2")
    assert "uid / gid: 0 / 0\n" in root and "num of links: 5\n" in root  # 2 + lost+found, home, tmp


def _walk(fs: pytsk3.FS_Info, directory: pytsk3.Directory, prefix: str, out: dict) -> None:
    for entry in directory:
        name = entry.info.name.name.decode("utf-8")
        if name in (".", "..") or name.startswith("$") or name == "lost+found" or entry.info.meta is None:
            continue
        meta = entry.info.meta
        if meta.type == pytsk3.TSK_FS_META_TYPE_VIRT or name.endswith("(Volume Label Entry)"):
            continue
        path = f"{prefix}/{name}"
        is_dir = meta.type == pytsk3.TSK_FS_META_TYPE_DIR
        out[path] = {
            "inode": meta.addr,
            "size": meta.size,
            "name_unalloc": bool(int(entry.info.name.flags) & int(pytsk3.TSK_FS_NAME_FLAG_UNALLOC)),
            "meta_unalloc": bool(int(meta.flags) & int(pytsk3.TSK_FS_META_FLAG_UNALLOC)),
            "data": b"" if is_dir else entry.read_random(0, meta.size) if meta.size else b"",
        }
        if is_dir:
            _walk(fs, entry.as_directory(), path, out)


def test_pytsk3_walk_matches_plan(built: tuple[Case, Path, dict]) -> None:
    case, image, facts = built
    img = pytsk3.Img_Info(str(image))
    for v in case.disk.volumes:
        fs = pytsk3.FS_Info(img, offset=partitions(facts)[v.id]["start_sector"] * 512)
        seen: dict[str, dict] = {}
        _walk(fs, fs.open_dir(path="/"), "", seen)
        assert {p.strip("/") for p in seen} == set(planned_paths(case, v.id))
        for f in case.disk.files:
            if f.volume != v.id or unlinked(case, f):
                continue
            got = seen[f.path]
            deleted = f.deleted_at is not None
            assert got["inode"] == facts["files"][f.id]["inode"], f.id
            assert got["name_unalloc"] == deleted and got["meta_unalloc"] == deleted, f.id
            if not f.is_dir:
                assert got["size"] == len(f.content), f.id
                assert got["data"] == f.content, f.id


def extract_partition(image: Path, part: dict, dest: Path) -> Path:
    """The partition ``part`` of ``image`` as a sparse file of its own (e2fsck and debugfs take no offset)."""
    with image.open("rb") as src, dest.open("wb") as out:
        src.seek(part["start_sector"] * 512)
        remaining = part["sectors"] * 512
        while remaining:
            chunk = src.read(min(remaining, 8 * MiB))
            if chunk.count(0) == len(chunk):
                out.seek(len(chunk), 1)
            else:
                out.write(chunk)
            remaining -= len(chunk)
        out.truncate(part["sectors"] * 512)
    return dest


def test_fsck_fat_and_e2fsck_report_clean(built: tuple[Case, Path, dict], tmp_path: Path) -> None:
    case, image, facts = built
    for v in case.disk.volumes:
        part = extract_partition(image, partitions(facts)[v.id], tmp_path / f"{v.id}.img")
        if v.fs == "fat32":
            lines = run("fsck.fat", "-n", str(part)).splitlines()
            # Clean means nothing between the banner and the summary line.
            assert len(lines) == 2 and lines[1].startswith(f"{part}: "), lines
        else:
            lines = run("e2fsck", "-fn", str(part)).splitlines()
            assert [line.split(":")[0] for line in lines[:5]] == [f"Pass {n}" for n in range(1, 6)], lines
            assert len(lines) == 6 and lines[5].startswith(f"{v.label}: "), lines


@pytest.mark.parametrize("fs", ["fat32", "ext4"])
def test_an_empty_volume_is_a_clean_file_system_with_nothing_on_it(tmp_path: Path, fs: str) -> None:
    """A volume the story writes nothing to (a stick formatted and never used) is made, fsck clean, and lists no
    file; FAT dates its label entry with the case's time, never 1970 (which FAT cannot store)."""
    case = small_case()
    empty = Volume("spare", fs, "SPARE", 34 * MiB if fs == "fat32" else 8 * MiB, 0x1234ABCD,  # type: ignore[arg-type]
                   "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "/mnt/spare")
    case = dataclasses.replace(case, disk=dataclasses.replace(
        case.disk, size_bytes=case.disk.size_bytes + 40 * MiB, volumes=(*case.disk.volumes, empty)))
    image = tmp_path / "disk.img"
    facts = write_disk(case, image)
    part = extract_partition(image, partitions(facts)["spare"], tmp_path / "spare.img")
    if fs == "fat32":
        lines = run("fsck.fat", "-n", str(part)).splitlines()
        assert len(lines) == 2 and lines[1].startswith(f"{part}: "), lines
    else:
        lines = run("e2fsck", "-fn", str(part)).splitlines()
        assert len(lines) == 6 and lines[5].startswith("SPARE: "), lines
    listed = [line for line in run("fls", str(part)).splitlines()
              if "$" not in line and "lost+found" not in line and "(Volume Label Entry)" not in line]
    assert listed == [], listed
