"""The disk writer's own contract: facts, determinism, partition tables and the errors users get.

What the forensic tools see is tested in test_disk_tools.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import struct
import uuid
import zlib
from pathlib import Path
from typing import Any

import pytest

from dflab.errors import DflabError
from dflab.evidence.disk import write_disk
from dflab.evidence.key import namespace
from dflab.scenario.case import Case, DiskFile, FsType, Volume
from tests.small_case import T0, MiB, small_case


def _with_disk(case: Case, **changes: Any) -> Case:
    return dataclasses.replace(case, disk=dataclasses.replace(case.disk, **changes))


def _with_files(case: Case, *extra: DiskFile) -> Case:
    return _with_disk(case, files=case.disk.files + extra)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_facts_describe_the_planned_layout(tmp_path: Path) -> None:
    case = small_case()
    facts: dict[str, Any] = write_disk(case, tmp_path / "disk.raw")
    assert json.loads(json.dumps(facts)) == facts
    assert {k: facts[k] for k in ("table", "sector_size", "size_bytes", "disk_signature")} == {
        "table": "mbr", "sector_size": 512, "size_bytes": 64 * MiB, "disk_signature": "0x1a2b3c4d"}
    assert facts["partitions"] == [
        {"index": 1, "volume": "boot", "start_sector": 2048, "sectors": 33 * 2048, "type": "0x0c", "fs": "fat32",
         "label": "EFI", "uuid": "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5", "serial": 0x5EED1234},
        {"index": 2, "volume": "root", "start_sector": 34 * 2048, "sectors": 28 * 2048, "type": "0x83",
         "fs": "ext4", "label": "rootfs", "uuid": "d2f3e4a5-b6c7-4d8e-9fa0-b1c2d3e4f5a6", "serial": 0x0BADF00D},
    ]
    assert facts["volumes"] == {p["volume"]: p for p in facts["partitions"]}  # the same entries, by role
    ns = namespace(case, facts)  # what answer templates read: {volumes.root.start_sector}
    for v in case.disk.volumes:
        assert {k.removeprefix(f"volumes.{v.id}."): value for k, value in ns.items()
                if k.startswith(f"volumes.{v.id}.")} == {
            **{k: value for k, value in facts["volumes"][v.id].items() if k != "volume"},
            "mount": v.mount_point, "size": v.size_bytes}
    assert list(facts["files"]) == [f.id for f in case.disk.files]
    for f in case.disk.files:
        fact = facts["files"][f.id]
        assert {k: fact[k] for k in ("volume", "size", "sha256", "deleted", "path", "is_dir")} == {
            "volume": f.volume, "size": len(f.content), "sha256": f.sha256, "deleted": f.deleted_at is not None,
            "path": f.path, "is_dir": False}
        assert isinstance(fact["inode"], int) and fact["inode"] > 2
        assert (fact["slack_offset"] is None) == (not f.slack)
    # ext4 inodes: lost+found is 11, then one each in the order the files (and the directories before them) were
    # created, as the kernel hands them out.
    on_root = sorted((f for f in case.disk.files if f.volume == "root"), key=lambda f: f.crtime)
    numbers = [facts["files"][f.id]["inode"] for f in on_root]
    assert numbers == sorted(numbers) and numbers[0] > 11 and len(set(numbers)) == len(numbers)
    assert [facts["files"][i]["inode"] for i in ("history", "picture", "report", "payload", "archive")] == [
        15, 17, 19, 21, 23]  # each after the directory made for it: /home 13 and /home/jdoe 14 before history


def test_slack_bytes_sit_right_after_the_content(tmp_path: Path) -> None:
    case = small_case()
    image = tmp_path / "disk.raw"
    facts: dict[str, Any] = write_disk(case, image)
    report = case.file("report")
    offset = facts["files"]["report"]["slack_offset"]
    with image.open("rb") as fh:
        fh.seek(offset - len(report.content))
        data = fh.read(len(report.content) + len(report.slack) + 1)
    assert data == report.content + report.slack + b"\0"
    assert offset % 4096 == len(report.content) % 4096  # inside the last 4 KiB block, right after the end


def test_image_is_sparse_and_exactly_disk_sized(tmp_path: Path) -> None:
    image = tmp_path / "disk.raw"
    image.write_bytes(b"x" * (65 * MiB))  # a stale, larger file must be replaced, not patched
    write_disk(small_case(), image)
    st = os.stat(image)
    assert st.st_size == 64 * MiB
    assert st.st_blocks * 512 < 8 * MiB


def test_same_case_same_bytes_changed_case_different_bytes(tmp_path: Path) -> None:
    case = small_case()
    write_disk(case, tmp_path / "a.raw")
    write_disk(small_case(), tmp_path / "b.raw")
    assert _sha(tmp_path / "a.raw") == _sha(tmp_path / "b.raw")
    boot = dataclasses.replace(case.disk.volumes[0], serial=0x5EED1235)
    write_disk(_with_disk(case, volumes=(boot, case.disk.volumes[1])), tmp_path / "c.raw")
    assert _sha(tmp_path / "c.raw") != _sha(tmp_path / "a.raw")
    write_disk(_with_disk(case, table="gpt"), tmp_path / "d.raw")
    write_disk(_with_disk(small_case(), table="gpt"), tmp_path / "e.raw")
    assert _sha(tmp_path / "d.raw") == _sha(tmp_path / "e.raw") != _sha(tmp_path / "a.raw")


def _gpt_header(raw: bytes, lba: int) -> tuple:
    header = raw[lba * 512: lba * 512 + 92]
    fields = struct.unpack("<8sIIIIQQQQ16sQIII", header)
    zeroed = header[:16] + b"\0\0\0\0" + header[20:]
    assert zlib.crc32(zeroed) == fields[3]
    return fields


def test_gpt_has_protective_mbr_and_matching_primary_and_backup(tmp_path: Path) -> None:
    case = _with_disk(small_case(), table="gpt")
    image = tmp_path / "disk.raw"
    facts: dict[str, Any] = write_disk(case, image)
    raw = image.read_bytes()
    total = len(raw) // 512
    assert raw[510:512] == b"\x55\xaa" and raw[446 + 4] == 0xEE
    assert struct.unpack_from("<II", raw, 446 + 8) == (1, total - 1)
    primary = _gpt_header(raw, 1)
    backup = _gpt_header(raw, total - 1)
    assert primary[0] == b"EFI PART" and backup[0] == b"EFI PART"
    assert (primary[5], primary[6], primary[10]) == (1, total - 1, 2)
    assert (backup[5], backup[6], backup[10]) == (total - 1, 1, total - 33)
    assert primary[7:10] == backup[7:10] == (34, total - 34, uuid.UUID(case.disk.disk_guid).bytes_le)
    array = raw[2 * 512: 34 * 512]
    assert array == raw[(total - 33) * 512: (total - 1) * 512]
    assert zlib.crc32(array) == primary[13] == backup[13]
    types = ["c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "0fc63daf-8483-4772-8e79-3d69d8477de4"]
    for n, (volume, kind) in enumerate(zip(case.disk.volumes, types, strict=True)):
        entry = struct.unpack_from("<16s16sQQQ72s", array, n * 128)
        part = facts["partitions"][n]
        assert (str(uuid.UUID(bytes_le=entry[0])), str(uuid.UUID(bytes_le=entry[1]))) == (kind, volume.uuid)
        assert (entry[2], entry[3]) == (part["start_sector"], part["start_sector"] + part["sectors"] - 1)
        assert entry[5].decode("utf-16-le").rstrip("\0") == volume.label
        assert part["type"] == kind


def _big(volume: str) -> DiskFile:
    return DiskFile("huge", volume, "/huge.bin", b"\1" * (40 * MiB), T0, T0, T0, T0)


@pytest.mark.parametrize("volume", ["boot", "root"])
def test_file_bigger_than_its_volume_names_file_and_volume(tmp_path: Path, volume: str) -> None:
    with pytest.raises(DflabError) as err:
        write_disk(_with_files(small_case(), _big(volume)), tmp_path / "disk.raw")
    assert "huge" in str(err.value) and f"volume {volume}" in str(err.value)
    assert "\n" not in str(err.value)


def _root_file(path: str, **kw: Any) -> DiskFile:
    return DiskFile("bad", "root", path, b"x", T0, T0, T0, T0, **kw)


def _boot_file(path: str, **kw: Any) -> DiskFile:
    return DiskFile("bad", "boot", path, b"x", T0, T0, T0, T0, **kw)


@pytest.mark.parametrize(("extra", "message"), [
    (_root_file("/" + "a" * 256), "longer than 255 bytes"),
    (_root_file("relative/x"), "not absolute"),
    (_root_file("/home/jdoe/../x"), "invalid component"),
    (_root_file("/home/jdoe/.bash_history/x"), "is a file, not a directory"),
    (_root_file("/home/jdoe/.bash_history"), "planned twice"),
    (_root_file("/x", slack=b"y" * 4096), "slack of 4096 bytes does not fit"),
    (_boot_file("/x", slack=b"y" * 512), "slack of 512 bytes does not fit"),
    (_boot_file("/a:b"), "not allowed on FAT"),
    (_boot_file("/efi/readme.txt"), "differs only in case"),
    (_boot_file("/" + "a" * 256), "longer than 255 characters"),
    (DiskFile("bad", "boot", "/old", b"", T0, T0, T0, T0, deleted_at=T0, is_dir=True),
     "deleted directories are not supported"),
    (DiskFile("bad", "nowhere", "/x", b"", T0, T0, T0, T0), "not one of the disk's volumes"),
    (DiskFile("bad", "boot", "/x", b"", 0, 0, 0, 0), "outside FAT's 1980-2107 range"),
])
def test_impossible_files_raise_one_line_errors_naming_the_file(tmp_path: Path, extra: DiskFile,
                                                                message: str) -> None:
    with pytest.raises(DflabError) as err:
        write_disk(_with_files(small_case(), extra), tmp_path / "disk.raw")
    assert message in str(err.value) and "bad" in str(err.value)
    assert "\n" not in str(err.value)


def _volume(volume_id: str, fs: FsType, size: int) -> Volume:
    return Volume(volume_id, fs, "V", size, 1, "11111111-2222-4333-8444-555555555555", "/mnt")


@pytest.mark.parametrize(("changes", "message", "where"), [
    ({"size_bytes": 48 * MiB}, "does not fit on the disk", "disk.volumes[root]"),
    ({"volumes": tuple(_volume(f"v{n}", "ext4", MiB) for n in range(5)), "files": ()}, "4 primary partitions",
     "disk.volumes"),
    ({"volumes": (_volume("tiny", "fat32", 16 * MiB),), "files": ()}, "FAT32 needs at least 65525 clusters",
     "volume tiny"),
    ({"volumes": (_volume("tiny", "ext4", 128 * 1024),), "files": ()}, "too small for ext4", "volume tiny"),
])
def test_impossible_layouts_raise(tmp_path: Path, changes: dict, message: str, where: str) -> None:
    with pytest.raises(DflabError) as err:
        write_disk(_with_disk(small_case(), **changes), tmp_path / "disk.raw")
    assert message in str(err.value) and where in str(err.value)
