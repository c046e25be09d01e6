"""Windows 10 Prefetch files: the SCCA v30 body (``scca``) stored MAM-compressed (``xpress``), named as the Prefetch
folder names them (``NAME.EXE-HASH.pf``)."""

from __future__ import annotations

from datetime import datetime

from dflab.evidence.windows.prefetch.scca import LoadedFile, Volume, prefetch_hash, scca
from dflab.evidence.windows.prefetch.xpress import compress, mam

__all__ = ["LoadedFile", "Volume", "compress", "file_name", "mam", "prefetch", "prefetch_hash", "scca"]


def file_name(executable: str, volume: Volume) -> str:
    """``C:\\Windows\\Prefetch``'s name for ``executable``: its upper-case name (29 characters at most), a dash, the
    hash of its device path in hex, ``.pf``."""
    image = executable.upper().rsplit("\\", 1)[-1][:29]
    return f"{image}-{prefetch_hash(volume.device + executable.upper()):08X}.pf"


def prefetch(executable: str, volume: Volume, files: tuple[LoadedFile, ...], runs: tuple[datetime, ...],
             run_count: int | None = None) -> tuple[str, bytes]:
    """The Prefetch file's name and its bytes as Windows 10 writes them (MAM-compressed SCCA v30)."""
    return file_name(executable, volume), mam(scca(executable, volume, files, runs, run_count))
