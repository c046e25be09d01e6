"""The uncompressed Windows 10 Prefetch file (``SCCA`` format version 30), as libscca documents it and the
Windows 10 files in the reference samples lay it out.

Header (version, ``SCCA``, size, executable name cut to 29 characters, prefetch hash), file information (array
offsets and counts, eight last-run FILETIMEs newest first, run count), file metrics
(one per file the process loaded in its first ten seconds: its trace chain range, its name in the filename strings,
its NTFS file reference), trace chains (the blocks read), filename strings (``\\VOLUME{<creation>-<serial>}\\PATH``,
upper case), then per volume its device path, creation time, serial, file references and directory strings.

Each loaded file's MFT entry and sequence go in both places Prefetch has for them, its metrics entry (where
Windows 8.1 files carry them; the Windows 10/11 samples leave zeros there) and the volume's file reference table,
so that a later NTFS plan or memory image naming the same records agrees with what any Prefetch reader shows.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime

from dflab.errors import DflabError
from dflab.evidence.windows.wintypes import filetime

VERSION = 30
SIGNATURE = b"SCCA"
_HEADER_UNKNOWN = 0x11  # every Vista-and-later Prefetch header carries 17 here
_NAME_CHARS = 29
# Windows 10's first file-information layout (Windows 8.1's, up to 1809): metrics at 0x130, run count at 0xD0, where
# every reader (libscca, windowsprefetch, PECmd) looks; 1903 and later shortened it by 8 bytes (run count at 0xC8).
_INFO_END = 0x130
_METRIC, _TRACE, _VOLUME_ENTRY = 32, 8, 96
_IMAGE_FLAGS, _DATA_FLAGS = 0x100, 0x2  # metrics flags of a file mapped as an image, of a file only read
_TRACE_FLAGS = (0x02, 0xC0, 0xFFFF)  # flags, prefetch hint, block usage bits: what most entries carry
_FILE_REFERENCES_VERSION = 3
_BLOCK_BYTES = 8192  # about one trace chain entry per 8 KiB the loader touched
_MAX_TRACES_PER_FILE = 512
LAST_RUNS = 8


@dataclass(frozen=True)
class LoadedFile:
    """A file the process read while starting: its path on the volume (``\\WINDOWS\\SYSTEM32\\NTDLL.DLL``), its size
    and NTFS identity. ``data_only`` marks a file read rather than mapped as an image (fonts, NLS tables)."""

    path: str
    size: int
    mft_entry: int
    mft_sequence: int
    data_only: bool = False

    @property
    def file_reference(self) -> int:
        if not 0 <= self.mft_entry < 1 << 48 or not 0 <= self.mft_sequence < 1 << 16:
            raise DflabError("MFT entry must fit 48 bits and sequence 16 bits", self.path)
        return self.mft_entry | self.mft_sequence << 48


@dataclass(frozen=True)
class Volume:
    """The volume the files are on: its creation time and serial (which name it as ``\\VOLUME{…}``) and the
    number of its ``\\DEVICE\\HARDDISKVOLUMEn`` device, which the prefetch hash is computed over."""

    created: datetime
    serial: int
    device_number: int

    @property
    def path(self) -> str:
        return f"\\VOLUME{{{filetime(self.created):016x}-{self.serial:08x}}}"

    @property
    def device(self) -> str:
        return f"\\DEVICE\\HARDDISKVOLUME{self.device_number}"


def prefetch_hash(device_path: str) -> int:
    """The hash in a Vista-to-Windows 11 Prefetch name: over the executable's upper-cased device path in UTF-16,
    ``h = h * 37 + byte`` from 314159, modulo 2**32."""
    value = 314159
    for byte in device_path.upper().encode("utf-16-le"):
        value = (value * 37 + byte) & 0xFFFF_FFFF
    return value


def _utf16z(text: str) -> bytes:
    return text.encode("utf-16-le") + b"\0\0"


def _pad8(data: bytearray) -> None:
    data += bytes(-len(data) % 8)


def _directories(paths: list[str]) -> list[str]:
    seen: set[str] = set()
    for path in paths:
        parts = path.split("\\")[1:-1]
        for k in range(1, len(parts) + 1):
            seen.add("\\" + "\\".join(parts[:k]))
    return sorted(seen)


def scca(executable: str, volume: Volume, files: tuple[LoadedFile, ...], runs: tuple[datetime, ...],
         run_count: int | None = None) -> bytes:
    """The SCCA v30 bytes for ``executable`` (its path on ``volume``, which must be among ``files``), run at
    ``runs`` (any order; the newest eight are kept) ``run_count`` times (default: ``len(runs)``)."""
    executable = executable.upper()
    names = [f.path.upper() for f in files]
    if executable not in names:
        raise DflabError("the executable must be one of the files it loaded", executable)
    if len(set(names)) != len(names):
        raise DflabError("a file is listed twice among the loaded files", executable)
    if not runs:
        raise DflabError("a Prefetch file records at least one run", executable)
    count = len(runs) if run_count is None else run_count
    if count < len(runs):
        raise DflabError("run count is below the number of run times", f"{executable}: {count}")
    if not 0 <= volume.serial < 1 << 32:
        raise DflabError("volume serial must fit 32 bits", hex(volume.serial))
    image = executable.rsplit("\\", 1)[-1]
    device_path = volume.device + executable

    strings = bytearray()
    name_offsets = []
    for name in names:
        name_offsets.append(len(strings))
        strings += _utf16z(volume.path + name)
    traces = [max(1, min(-(-f.size // _BLOCK_BYTES), _MAX_TRACES_PER_FILE)) for f in files]

    metrics_offset = _INFO_END
    traces_offset = metrics_offset + _METRIC * len(files)
    strings_offset = traces_offset + _TRACE * sum(traces)
    volumes_offset = strings_offset + len(strings)
    volumes_offset += -volumes_offset % 8

    body = bytearray(metrics_offset)  # header and file information, filled in last
    first = 0
    for f, n, offset, name in zip(files, traces, name_offsets, names, strict=True):
        body += struct.pack("<6IQ", first, n, n, offset, len(volume.path + name),
                            _DATA_FLAGS if f.data_only else _IMAGE_FLAGS, f.file_reference)
        first += n
    for n in traces:
        for block in range(n):
            body += struct.pack("<IBBH", 8 * block, *_TRACE_FLAGS)
    body += strings
    _pad8(body)
    volume_info = _volume_info(volume, files, names)
    body += volume_info

    last = sorted((filetime(t) for t in runs), reverse=True)[:LAST_RUNS]
    directories = _directories(names)
    header = struct.pack("<I4sII60sII", VERSION, SIGNATURE, _HEADER_UNKNOWN, len(body),
                         image[:_NAME_CHARS].encode("utf-16-le").ljust(60, b"\0"), prefetch_hash(device_path), 0)
    info = struct.pack("<9III", metrics_offset, len(files), traces_offset, sum(traces), strings_offset, len(strings),
                       volumes_offset, 1, len(volume_info), len(directories), 1)
    info += struct.pack("<8Q", *last, *([0] * (LAST_RUNS - len(last))))
    info += struct.pack("<QQII", 0, 0, count, 1)
    body[:_INFO_END] = (header + info).ljust(_INFO_END, b"\0")
    return bytes(body)


def _volume_info(volume: Volume, files: tuple[LoadedFile, ...], names: list[str]) -> bytes:
    device = _utf16z(volume.path)
    references_offset = _VOLUME_ENTRY + len(device)
    references_offset += -references_offset % 8
    references = struct.pack("<IIQ", _FILE_REFERENCES_VERSION, len(files), 0)
    references += b"".join(struct.pack("<Q", f.file_reference) for f in files)
    directories = _directories(names)
    strings_offset = references_offset + len(references)
    strings = b"".join(struct.pack("<H", len(volume.path + d)) + _utf16z(volume.path + d) for d in directories)
    entry = struct.pack("<IIQIIIII", _VOLUME_ENTRY, len(volume.path), filetime(volume.created), volume.serial,
                        references_offset, len(references), strings_offset, len(directories))
    entry += struct.pack("<I", len(files)).ljust(28, b"\0") + struct.pack("<I", len(directories))
    entry = entry.ljust(_VOLUME_ENTRY, b"\0")
    head = entry + device
    return head + bytes(references_offset - len(head)) + references + strings
