"""The Windows system disk: GPT as Windows Setup makes it, read by mmls, sgdisk, fdisk, fsck.fat, TSK and libfsntfs.

The disk carries the story volume of ``test_windows_ntfs_story`` as its Windows partition. Windows Setup's layout on
a 512-byte-sector disk is fixed (ESP at LBA 2048, 100 MiB; MSR 16 MiB; Windows at LBA 239616), and so are the type
GUIDs and partition names Windows gives; no real GPT disk is among the shared samples, so those documented values
are the reference. Every reader is shown catching a planted defect (a corrupted partition array).
"""

from __future__ import annotations

import os
import struct
import subprocess
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyfsntfs
import pytest
import pytsk3

from dflab.errors import DflabError
from dflab.evidence.windows.gptdisk import PLACEHOLDER, WindowsDisk, WindowsDiskPlan, build_windows_disk, disk_guid
from dflab.evidence.windows.ntfs import build_volume
from tests.samples import tool
from tests.test_windows_ntfs_story import IMPLANT, story_plan

pytestmark = pytest.mark.xdist_group("windows_ntfs")

SEED = "case-7/workstation"
INSTALLED = int(datetime(2024, 3, 1, 8, 0, tzinfo=UTC).timestamp())
WINDOWS_LBA = 239616
LAYOUT = [(2048, 204800, "EFI system partition"), (206848, 32768, "Microsoft reserved partition"),
          (WINDOWS_LBA, (64 << 20) // 512, "Basic data partition")]
TYPES = [("C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EFI system partition", "EFI System"),
         ("E3C9E316-0B5C-4DB8-817D-F92DF00215AE", "Microsoft reserved", "Microsoft reserved"),
         ("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data", "Microsoft basic data")]
ROLES = ("esp", "msr", "windows")


def disk_plan() -> WindowsDiskPlan:
    return WindowsDiskPlan(SEED, story_plan(), INSTALLED)


@pytest.fixture(scope="module")
def disk() -> WindowsDisk:
    return build_windows_disk(disk_plan())


@pytest.fixture(scope="module")
def images(disk: WindowsDisk, tmp_path_factory) -> dict[str, Path]:
    """The disk, and a copy whose primary partition array has one byte changed (its CRC no longer matches)."""
    folder = tmp_path_factory.mktemp("disk")
    clean = folder / "disk.img"
    disk.write(str(clean))
    broken = folder / "broken.img"
    disk.write(str(broken))
    with open(broken, "r+b") as fh:
        fh.seek(2 * 512 + 32)
        fh.write(b"\xff")
    return {"clean": clean, "broken": broken}


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, timeout=300).stdout.decode()


def mmls_partitions(image: Path) -> list[tuple[int, int, str]]:
    rows = []
    for line in _run(tool("mmls"), str(image)).splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[1].isdigit():
            rows.append((int(fields[2]), int(fields[4]), fields[5]))
    return rows


def test_mmls_shows_the_layout_windows_setup_makes(images):
    assert mmls_partitions(images["clean"]) == LAYOUT


def sgdisk_view(image: Path) -> dict[str, object]:
    """What sgdisk verifies and reports of each partition (type, unique GUID, name, first and last sector)."""
    verify = _run(tool("sgdisk"), "-v", str(image))
    header = _run(tool("sgdisk"), "-p", str(image))
    parts = []
    for number in (1, 2, 3):
        info = dict(line.split(": ", 1) for line in _run(tool("sgdisk"), "-i", str(number), str(image)).splitlines()
                    if ": " in line)
        parts.append((info["Partition GUID code"], info["Partition unique GUID"], info["Partition name"],
                      int(info["First sector"].split()[0]), int(info["Last sector"].split()[0])))
    return {"problems": "No problems found." not in verify,
            "disk": header.split("Disk identifier (GUID): ")[1].split()[0], "partitions": parts}


def test_sgdisk_reads_types_guids_and_names_and_finds_no_problem(images):
    seen = sgdisk_view(images["clean"])
    assert seen["problems"] is False
    assert seen["disk"] == disk_guid(SEED, "disk").upper()
    expected = [(f"{code} ({name})", disk_guid(SEED, role).upper(), f"'{label}'", start, start + length - 1)
                for (code, name, _), role, (start, length, label) in zip(TYPES, ROLES, LAYOUT, strict=True)]
    assert seen["partitions"] == expected


def test_fdisk_lists_the_windows_partition_types(images):
    fdisk = subprocess.run([tool("fdisk"), "-l", str(images["clean"])], capture_output=True, text=True, timeout=60,
                           check=True)
    listing = fdisk.stdout
    assert fdisk.stderr == ""
    assert "Disklabel type: gpt" in listing
    assert f"Disk identifier: {disk_guid(SEED, 'disk').upper()}" in listing
    rows = [line.split(maxsplit=5) for line in listing.splitlines() if line.startswith(str(images["clean"]))]
    assert [(int(r[1]), int(r[3]), r[5]) for r in rows] == [(s, n, t[2]) for (s, n, _), t in zip(LAYOUT, TYPES,
                                                                                                   strict=True)]


def test_readers_catch_a_corrupted_partition_array(images):
    # The clean disk passes (tests above); the broken one's primary array fails its CRC.
    assert sgdisk_view(images["broken"])["problems"] is True
    fdisk = subprocess.run([tool("fdisk"), "-l", str(images["broken"])], capture_output=True, text=True, timeout=60)
    assert "The primary GPT table is corrupt" in fdisk.stderr


def test_esp_is_fat32_with_the_boot_managers_paths(disk, images, tmp_path):
    esp = tmp_path / "esp.img"
    with open(images["clean"], "rb") as fh:
        fh.seek(2048 * 512)
        esp.write_bytes(fh.read(204800 * 512))
    check = subprocess.run([tool("fsck.fat"), "-n", str(esp)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    stat = _run(tool("fsstat"), "-o", "2048", str(images["clean"]))
    assert "File System Type: FAT32" in stat and "Volume Label (Boot Sector): SYSTEM " in stat
    files = {}
    for line in _run(tool("fls"), "-r", "-p", "-o", "2048", str(images["clean"])).splitlines():
        kind, _, rest = line.partition(" ")
        address, _, path = rest.partition(":\t")
        if kind == "r/r" and not path.startswith("$") and "Volume Label" not in path:
            files[path] = address
    assert sorted(files) == ["EFI/Boot/bootx64.efi", "EFI/Microsoft/Boot/BCD", "EFI/Microsoft/Boot/bootmgfw.efi",
                             "EFI/Microsoft/Boot/bootmgr.efi"]
    for address in files.values():
        assert _run(tool("icat"), "-o", "2048", str(images["clean"]), address).encode() == PLACEHOLDER


class PartitionWindow:
    """A file object over one partition of a disk image, for libfsntfs (which opens volumes, not disks)."""

    def __init__(self, path: Path, start: int, size: int) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close(), which libfsntfs calls through the test
        self._start, self._size, self._at = start, size, 0

    def read(self, count: int = -1) -> bytes:
        count = self._size - self._at if count < 0 else min(count, self._size - self._at)
        self._file.seek(self._start + self._at)
        data = self._file.read(count)
        self._at += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> None:
        self._at = offset if whence == 0 else self._at + offset if whence == 1 else self._size + offset

    def tell(self) -> int:
        return self._at

    def get_size(self) -> int:
        return self._size

    def close(self) -> None:
        self._file.close()


def test_windows_partition_holds_the_story_volume(disk, images):
    plan = disk_plan()
    assert disk.windows.pieces == build_volume(replace(plan.windows, hidden_sectors=WINDOWS_LBA)).pieces
    with open(images["clean"], "rb") as fh:
        fh.seek(WINDOWS_LBA * 512)
        boot = fh.read(512)
    assert boot[3:11] == b"NTFS    " and struct.unpack_from("<I", boot, 0x1C)[0] == WINDOWS_LBA
    assert "File System Type: NTFS" in _run(tool("fsstat"), "-o", str(WINDOWS_LBA), str(images["clean"]))
    fs = pytsk3.FS_Info(pytsk3.Img_Info(str(images["clean"])), offset=WINDOWS_LBA * 512)
    implant = fs.open("/" + IMPLANT)
    planned = next(f for f in plan.windows.files if f.path == IMPLANT)
    assert planned.data is not None
    assert implant.read_random(0, implant.info.meta.size) == planned.data
    start, length, _ = mmls_partitions(images["clean"])[2]
    window = PartitionWindow(images["clean"], start * 512, length * 512)
    vol = pyfsntfs.volume()
    vol.open_file_object(window)
    try:
        entry = vol.get_file_entry_by_path("\\" + IMPLANT.replace("/", "\\"))
        assert vol.get_serial_number() == plan.windows.serial
        assert entry.read_buffer(entry.get_size()) == planned.data
    finally:
        vol.close()
        window.close()


def test_the_windows_volume_reaches_the_disk_as_its_used_extents(disk, images):
    """The NTFS volume is handed to the disk writer as its pieces, at the partition's offset, never as one
    partition-sized copy; what they leave out is zero in the image, and holes on the host."""
    start, size = WINDOWS_LBA * 512, disk_plan().windows.size
    inside = [(offset - start, data) for offset, data in disk.chunks if start <= offset < start + size]
    assert inside == list(disk.windows.pieces) and len(inside) > 10
    assert sum(len(data) for _, data in inside) < size // 4
    with open(images["clean"], "rb") as fh:
        fh.seek(start)
        assert fh.read(size) == disk.windows.to_bytes()
    assert os.stat(images["clean"]).st_blocks * 512 < size


def test_the_disk_is_deterministic_and_its_guids_follow_the_seed(disk):
    again = build_windows_disk(disk_plan())
    assert again.chunks == disk.chunks
    other = build_windows_disk(replace(disk_plan(), seed="case-8/workstation"))
    assert other.chunks[0] == disk.chunks[0]  # the protective MBR names no GUID
    assert {p.volume.uuid for p in other.partitions}.isdisjoint({p.volume.uuid for p in disk.partitions})
    for p in disk.partitions:
        guid = uuid.UUID(p.volume.uuid)
        assert guid.version == 4 and guid.variant == uuid.RFC_4122


def test_disk_plan_mistakes_are_one_line_errors():
    with pytest.raises(DflabError, match="whole number of MiB"):
        build_windows_disk(replace(disk_plan(), windows=replace(story_plan(), size=(64 << 20) + 4096)))
