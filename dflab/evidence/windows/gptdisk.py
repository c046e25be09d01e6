"""A Windows 10/11 system disk: GPT with the EFI system partition, the MSR and the Windows (NTFS) partition.

Windows Setup partitions a blank UEFI disk as Microsoft documents ("UEFI/GPT-based hard drive partitions"): a
100 MiB EFI system partition (FAT32) at LBA 2048, a 16 MiB Microsoft Reserved partition (no file system), then the
Windows partition, which on a 512-byte-sector disk starts at LBA 239616, the offset an examiner meets on nearly
every Windows 10 image. Partition names are the ones Windows gives ("EFI system partition", "Microsoft reserved
partition", "Basic data partition"); every GUID is drawn from the plan's seed, so the same plan gives the same disk.

The partition table and the FAT32 file system come from ``dflab.evidence.disk`` (``place``/``table_chunks`` and
``build_fat32``), the NTFS volume from ``dflab.evidence.windows.ntfs`` (its used extents, each placed at the
partition's offset: a partition of tens of GiB costs only what it holds). Two things that real Windows disks show
are not written, because the shared GPT writer has no field for them: GPT attribute bits (all 0 here), and the
WinRE Recovery partition Windows 10 2004 and later put after the Windows partition (not needed for the case).
The ESP holds the boot manager's paths with placeholder files that say they are placeholders: the evidence is
for reading, not booting.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, replace

from dflab.atomic import atomic_file
from dflab.errors import DflabError
from dflab.evidence.disk.fat32 import build_fat32
from dflab.evidence.disk.partition import GPT_MSR, SECTOR, Placement, place, table_chunks
from dflab.evidence.disk.sparse import write_pieces
from dflab.evidence.windows.ntfs import Volume, VolumePlan, build_volume
from dflab.scenario.case import Disk, DiskFile
from dflab.scenario.case import Volume as PartitionVolume
from dflab.scenario.draw import number, stream

MIB = 1 << 20
ESP_SIZE = 100 * MIB
MSR_SIZE = 16 * MIB
TAIL = MIB
"""Left free after the Windows partition: the backup GPT's 33 sectors, rounded to the 1 MiB Windows aligns to."""
ESP_NAME = "EFI system partition"
MSR_NAME = "Microsoft reserved partition"
DATA_NAME = "Basic data partition"
ESP_LABEL = "SYSTEM"
PLACEHOLDER = b"dflab placeholder: not a Windows boot file; this disk is evidence, it does not boot.\r\n"
ESP_FILES = ("EFI/Microsoft/Boot/bootmgfw.efi", "EFI/Microsoft/Boot/bootmgr.efi", "EFI/Microsoft/Boot/BCD",
             "EFI/Boot/bootx64.efi")
"""What Windows Setup's bcdboot copies to the ESP, by path (the placeholders stand in for them)."""


@dataclass(frozen=True)
class WindowsDiskPlan:
    """The disk: a seed for its GUIDs, the Windows volume (its ``size`` is the partition's), and when Setup ran
    (epoch seconds, the ESP files' times)."""

    seed: str
    windows: VolumePlan
    installed_at: int
    esp_serial: int = 0


@dataclass(frozen=True)
class WindowsDisk:
    """The disk's bytes as sparse pieces (all else zero), its partitions in table order, and the NTFS volume."""

    size: int
    chunks: tuple[tuple[int, bytes], ...]
    partitions: tuple[Placement, ...]
    windows: Volume

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the raw image, atomically; zero blocks stay holes (the Linux disk's writer, :mod:`.disk.sparse`)."""
        with atomic_file(path) as fh:
            write_pieces(fh.fileno(), self.size, self.chunks)


def disk_guid(seed: str, role: str) -> str:
    """A version-4-shaped GUID drawn from ``seed`` and ``role``: Windows makes random ones, the case a fixed one."""
    return str(uuid.UUID(bytes=stream(seed, f"gpt/{role}", 16), version=4))


def _esp_files(at: int) -> list[DiskFile]:
    return [DiskFile(f"esp{i}", "esp", "/" + path, PLACEHOLDER, at, at, at, at, true_type="text")
            for i, path in enumerate(ESP_FILES)]


def build_windows_disk(plan: WindowsDiskPlan) -> WindowsDisk:
    """The whole disk ``plan`` describes; the NTFS boot sector records the Windows partition's first LBA."""
    if plan.windows.size % MIB:
        raise DflabError("the Windows partition must be a whole number of MiB, as Windows Setup makes it",
                         str(plan.windows.size))
    serial = plan.esp_serial or number(plan.seed, "esp-serial", 1 << 32)
    # The shared partition writer takes each volume's GPT name from its label and its type from its file system and
    # mount point (ESP for /boot/efi, basic data for any other non-ext4 volume); the MSR's type is set after placing.
    esp = PartitionVolume("esp", "fat32", ESP_NAME, ESP_SIZE, serial, disk_guid(plan.seed, "esp"), "/boot/efi")
    msr = PartitionVolume("msr", "fat32", MSR_NAME, MSR_SIZE, 0, disk_guid(plan.seed, "msr"), "")
    windows = PartitionVolume("windows", "fat32", DATA_NAME, plan.windows.size, 0, disk_guid(plan.seed, "windows"),
                              "C:")
    size = MIB + ESP_SIZE + MSR_SIZE + plan.windows.size + TAIL
    disk = Disk("gpt", size, 0, disk_guid(plan.seed, "disk"), (esp, msr, windows), ())
    parts = [replace(p, type=GPT_MSR) if p.volume.id == "msr" else p for p in place(disk)]
    chunks = list(table_chunks(disk, parts))
    start = {p.volume.id: p.start * SECTOR for p in parts}
    fat = build_fat32(replace(esp, label=ESP_LABEL), _esp_files(plan.installed_at), parts[0].start,
                      plan.installed_at)
    chunks += [(start["esp"] + offset, data) for offset, data in fat.chunks]
    ntfs = build_volume(replace(plan.windows, hidden_sectors=parts[2].start))
    chunks += [(start["windows"] + offset, data) for offset, data in ntfs.pieces]
    return WindowsDisk(size, tuple(sorted(chunks, key=lambda c: c[0])), tuple(parts), ntfs)
