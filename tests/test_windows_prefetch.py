"""Generated Windows 10 Prefetch files against libscca (``pyscca``) and windowsprefetch, and real Prefetch files.

libscca (libyal's C library) opens the MAM-compressed file itself (its LZXPRESS Huffman decoder is libfwnt's).
windowsprefetch parses the SCCA body with its own Windows 10 code path; its decompressor calls ntdll, Windows only,
so the test hands it dissect.util's pure-Python LZXPRESS Huffman decoder instead: a third, independent reading of
the compressed stream. Both must return the executable, hash, run count, last run times, volume and file names that
went in. The real NOTEPAD.EXE (Windows 10) and AM_DELTA_PATCH (Windows 11) files in ``../shared/samples/windows/
prefetch`` go through the same readers and the same structural checks.
"""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyfwnt
import pyscca
import pytest
import windowsprefetch.windowsprefetch as wp
from dissect.util.compression import lzxpress_huffman

from dflab.errors import DflabError
from dflab.evidence.windows.prefetch import LoadedFile, Volume, compress, file_name, prefetch, prefetch_hash, scca
from tests.samples import sample

VOLUME = Volume(datetime(2025, 11, 2, 7, 58, 12, 406_250, tzinfo=UTC), 0x5A1E_0C3D, 3)
EXE = r"\USERS\ALICE\APPDATA\LOCAL\TEMP\SVCUPD.EXE"
FILES = (
    LoadedFile(r"\WINDOWS\SYSTEM32\NTDLL.DLL", 2_003_456, 3_081, 1),
    LoadedFile(EXE, 73_216, 104_420, 2),
    LoadedFile(r"\WINDOWS\SYSTEM32\KERNEL32.DLL", 770_048, 3_190, 1),
    LoadedFile(r"\WINDOWS\SYSTEM32\KERNELBASE.DLL", 2_695_168, 3_191, 1),
    LoadedFile(r"\WINDOWS\SYSTEM32\LOCALE.NLS", 820_416, 3_450, 1, data_only=True),
    LoadedFile(r"\WINDOWS\SYSTEM32\WS2_32.DLL", 411_136, 3_899, 1),
    LoadedFile(r"\WINDOWS\SYSTEM32\WINHTTP.DLL", 1_040_384, 3_912, 1),
)
FIRST = datetime(2026, 3, 2, 9, 14, 31, 500_000, tzinfo=UTC)
RUNS = tuple(FIRST + timedelta(hours=6 * k, seconds=k) for k in range(11))
NOTEPAD = "windows/prefetch/NOTEPAD.EXE-D8414F97.pf"
WIN11 = "windows/prefetch/AM_DELTA_PATCH_1.443.990.0.EX-7037CF86.pf"


@pytest.fixture(scope="module")
def built() -> tuple[str, bytes]:
    return prefetch(EXE, VOLUME, FILES, RUNS)


def decompress(data: bytes) -> bytes:
    """dissect's decoder, cut at the MAM header's size (it decodes to the end of its input)."""
    assert data[:4] == b"MAM\x04"
    (size,) = struct.unpack_from("<I", data, 4)
    return lzxpress_huffman.decompress(data[8:])[:size]


class _Dissect:
    def decompress(self, infile: str) -> bytes:
        return decompress(Path(infile).read_bytes())


def windowsprefetch(path: Path, monkeypatch: pytest.MonkeyPatch) -> wp.Prefetch:
    monkeypatch.setattr(wp, "DecompressWin10", _Dissect)
    return wp.Prefetch(str(path))


def layout(body: bytes) -> dict:
    """This test's own walk of an SCCA v30/v31 body; raises where offsets and sizes do not add up."""
    version, signature, unknown, size = struct.unpack_from("<I4sII", body)
    if signature != b"SCCA" or size != len(body):
        raise ValueError("bad SCCA header")
    (metrics, n_metrics, traces, n_traces, strings, strings_size, volumes, n_volumes,
     volumes_size) = struct.unpack_from("<9I", body, 0x54)
    if not metrics < traces < strings < volumes <= len(body) or volumes + volumes_size != len(body):
        raise ValueError("file information arrays are out of order")
    if traces != metrics + 32 * n_metrics or strings != traces + 8 * n_traces:
        raise ValueError("metrics or trace chains do not fill their arrays")
    names = body[strings:strings + strings_size].decode("utf-16-le").split("\0")[:-1]
    total = 0
    for k in range(n_metrics):
        first, count, _, offset, chars, _flags, _ref = struct.unpack_from("<6IQ", body, metrics + 32 * k)
        if first != total or body[strings + offset:strings + offset + 2 * chars].decode("utf-16-le") != names[k]:
            raise ValueError(f"metrics entry {k} does not match its trace chains or name")
        total += count
    if total != n_traces:
        raise ValueError("trace chains not covered by the metrics")
    path_offset, path_chars, _created, serial, refs, refs_size, dirs, n_dirs = struct.unpack_from("<IIQIIIII", body,
                                                                                                   volumes)
    device = body[volumes + path_offset:volumes + path_offset + 2 * path_chars].decode("utf-16-le")
    refs_version, n_refs = struct.unpack_from("<II", body, volumes + refs)
    if refs_size != 16 + 8 * n_refs:
        raise ValueError("file references size")
    at, directories = volumes + dirs, []
    for _ in range(n_dirs):
        (chars,) = struct.unpack_from("<H", body, at)
        directories.append(body[at + 2:at + 2 + 2 * chars].decode("utf-16-le"))
        if body[at + 2 + 2 * chars:at + 4 + 2 * chars] != b"\0\0":
            raise ValueError("directory string not terminated")
        at += 4 + 2 * chars
    return {"version": version, "unknown": unknown, "metrics": metrics, "names": names, "device": device,
            "serial": serial, "refs_version": refs_version, "directories": directories, "n_volumes": n_volumes,
            "trace_flags": {body[traces + 8 * k + 4:traces + 8 * k + 8] for k in range(n_traces)}}


def test_structure_matches_real_windows_10(built: tuple[str, bytes]) -> None:
    _, data = built
    mine = layout(decompress(data))
    real = layout(decompress(sample(NOTEPAD).read_bytes()))
    win11 = layout(decompress(sample(WIN11).read_bytes()))
    assert mine["version"] == real["version"] == 30 and win11["version"] == 31
    assert mine["unknown"] == real["unknown"] == win11["unknown"] == 0x11
    assert mine["refs_version"] == real["refs_version"] == 3 and mine["n_volumes"] == real["n_volumes"] == 1
    assert mine["trace_flags"] <= real["trace_flags"]
    assert mine["device"] == VOLUME.path == f"\\VOLUME{{{134_065_438_924_062_500:016x}-5a1e0c3d}}"
    assert real["device"] == "\\VOLUME{01d3096ba3a46863-2ca3d1ae}"
    for r in (mine, real):
        device = r["device"]
        assert all(n.startswith(device + "\\") and n[len(device):] == n[len(device):].upper() for n in r["names"])
        assert r["directories"] == sorted(r["directories"]) and all(d.startswith(r["device"]) for d in
                                                                     r["directories"])
    assert mine["metrics"] == 0x130 and real["metrics"] == 0x128  # the 1809 and the 1903+ file-information layouts


def test_layout_walk_rejects_a_broken_body(built: tuple[str, bytes]) -> None:
    body = bytearray(decompress(built[1]))
    struct.pack_into("<I", body, 0x60, struct.unpack_from("<I", body, 0x60)[0] + 1)  # one trace chain too many
    with pytest.raises(ValueError, match="trace chains"):
        layout(bytes(body))


def test_libscca_reads_what_went_in(built: tuple[str, bytes]) -> None:
    name, data = built
    device_path = r"\DEVICE\HARDDISKVOLUME3" + EXE
    assert name == f"SVCUPD.EXE-{prefetch_hash(device_path):08X}.pf"
    f = pyscca.file()
    f.open_file_object(io.BytesIO(data))
    assert (f.format_version, f.executable_filename, f.run_count) == (30, "SVCUPD.EXE", 11)
    assert f"{f.prefetch_hash:08X}" == name.split("-")[1][:8]
    newest = sorted(RUNS, reverse=True)[:8]
    assert [f.get_last_run_time(k) for k in range(8)] == [t.replace(tzinfo=None) for t in newest]
    volume = f.get_volume_information(0)
    assert volume.device_path == VOLUME.path and volume.serial_number == VOLUME.serial
    assert volume.creation_time == VOLUME.created.replace(tzinfo=None)
    assert list(f.filenames) == [VOLUME.path + x.path for x in FILES]
    refs = [f.get_file_metrics_entry(k).file_reference for k in range(f.number_of_file_metrics_entries)]
    assert refs == [x.mft_entry | x.mft_sequence << 48 for x in FILES]


def test_windowsprefetch_reads_the_same(built: tuple[str, bytes], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    name, data = built
    (tmp_path / name).write_bytes(data)
    p = windowsprefetch(tmp_path / name, monkeypatch)
    assert (p.version, p.executableName, p.runCount) == (30, "SVCUPD.EXE", 11)
    assert int(p.hash, 16) == prefetch_hash(r"\DEVICE\HARDDISKVOLUME3" + EXE)
    assert p.timestamps == [str(t.replace(tzinfo=None)) for t in sorted(RUNS, reverse=True)[:8]]
    assert p.resources == [VOLUME.path + x.path for x in FILES]
    (volume,) = p.volumesInformationArray
    assert volume["Volume Name"].decode("utf-16-le") == VOLUME.path and volume["Serial Number"] == "5a1e0c3d"
    assert p.directoryStringsArray == [[VOLUME.path + d + "\0" for d in (
        r"\USERS", r"\USERS\ALICE", r"\USERS\ALICE\APPDATA", r"\USERS\ALICE\APPDATA\LOCAL",
        r"\USERS\ALICE\APPDATA\LOCAL\TEMP", r"\WINDOWS", r"\WINDOWS\SYSTEM32")]]


def test_real_prefetch_through_the_same_readers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = pyscca.file()
    f.open(str(sample(NOTEPAD)))
    assert (f.format_version, f.executable_filename, f.run_count, f.number_of_filenames) == (30, "NOTEPAD.EXE", 2, 56)
    assert f.prefetch_hash == prefetch_hash(r"\DEVICE\HARDDISKVOLUME2\WINDOWS\SYSTEM32\NOTEPAD.EXE") == 0xD8414F97
    p = windowsprefetch(sample(NOTEPAD), monkeypatch)
    assert p.executableName == "NOTEPAD.EXE" and p.resources == list(f.filenames)
    # windowsprefetch reads the run count where the 1809 layout keeps it; this 1903+ file holds 3 there, not the
    # run count (libscca's 2): why the writer uses the older layout both read alike.
    assert p.runCount == 3
    w = pyscca.file()
    w.open(str(sample(WIN11)))
    assert (w.format_version, w.executable_filename, w.run_count) == (31, "AM_DELTA_PATCH_1.443.990.0.EX", 1)


@pytest.mark.parametrize("size", [0, 1, 17, 4_096, 65_535 - 300, 65_536, 65_537, 200_000])
def test_compressed_stream_read_by_libfwnt_and_dissect(size: int) -> None:
    data = bytes((k * k + k // 7) % 251 if k % 3 else 0 for k in range(size))
    stream = compress(data)
    assert pyfwnt.lzxpress_huffman_decompress(stream, size) == data
    assert lzxpress_huffman.decompress(stream)[:size] == data
    # The first table is a complete prefix code with lengths of at most 15 bits (what MS-XCA allows); later tables
    # start where the decoders' read-ahead stops, which the two round trips above cover.
    lengths = [n >> s & 0xF for n in stream[:256] for s in (0, 4)]
    assert max(lengths) <= 15 and sum(2.0 ** -n for n in lengths if n) == 1.0


def test_same_input_same_bytes(built: tuple[str, bytes]) -> None:
    assert prefetch(EXE, VOLUME, FILES, tuple(reversed(RUNS))) == built
    assert prefetch(EXE, VOLUME, FILES, RUNS, run_count=12) != built


def test_mistakes_are_one_line_errors() -> None:
    with pytest.raises(DflabError, match="one of the files"):
        scca(r"\OTHER.EXE", VOLUME, FILES, RUNS)
    with pytest.raises(DflabError, match="listed twice"):
        scca(EXE, VOLUME, (*FILES, FILES[0]), RUNS)
    with pytest.raises(DflabError, match="at least one run"):
        scca(EXE, VOLUME, FILES, ())
    with pytest.raises(DflabError, match="run count"):
        scca(EXE, VOLUME, FILES, RUNS, run_count=3)
    with pytest.raises(DflabError, match="time zone"):
        scca(EXE, Volume(datetime(2025, 1, 1), 1, 3), FILES, RUNS)  # noqa: DTZ001
    assert file_name(r"\X\AM_DELTA_PATCH_1.443.990.0.EXE", VOLUME).startswith("AM_DELTA_PATCH_1.443.990.0.EX-")
