"""The suspect's disk image: partition table, FAT32 and ext4 written in pure Python."""

from dflab.evidence.disk.writer import write_disk

__all__ = ["write_disk"]
