"""What a file system writer hands back: bytes to place and where each planned file landed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PlacedFile:
    """Where one planned file ended up, as TSK will address it."""

    inode: int  # TSK metadata address
    slack_offset: int | None  # byte offset of the slack bytes from the start of the volume


@dataclass
class BuiltFs:
    """A file system as sparse pieces: everything not covered by a chunk is zero.

    Keeping pieces instead of one volume-sized buffer is what makes a large,
    mostly empty image cheap to write.
    """

    chunks: list[tuple[int, bytes]] = field(default_factory=list)  # (offset within the volume, bytes)
    files: dict[str, PlacedFile] = field(default_factory=dict)  # by DiskFile.id
    label: str = ""
    # What a path of the volume's final state says of itself (inode, mode, owners, size, times in ns), for the
    # facts memory shares with the disk; None where the file system has no inodes to tell (FAT).
    stat: Callable[[str], dict[str, int] | None] | None = None
    last_inode: int = 0  # the highest inode number in use (ext4), implicit directories included

    def put(self, offset: int, data: bytes | bytearray) -> None:
        """Place ``data`` at ``offset``; empty pieces are dropped."""
        if data:
            self.chunks.append((offset, bytes(data)))
