"""Nightjar's RAM looks lived in: few zero pages, clustered as untouched memory is; the page cache holds the disk's
files byte for byte at page-aligned offsets (read back with TSK's icat from the disk image); strings show what the
case's processes hold. Each bound is shown to catch the bad case (a planted zero region, a page that is not the
file's)."""

from __future__ import annotations

import json
import re
import struct
import subprocess
from pathlib import Path

import pytest

from dflab.evidence.build import build_variant
from dflab.evidence.facts import decide, handed_over
from dflab.evidence.memory.image import build_image
from dflab.evidence.memory.physmem import PAGE
from dflab.evidence.memory.ram_map import system_ram
from dflab.scenario import ostree
from dflab.scenario.case import Case
from dflab.scenario.draw import DEMO_SECRET, variant_seed
from dflab.scenario.resolve import resolve
from tests.haystack import with_memory
from tests.test_memory_physmem import hole_bytes

ROOT = Path(__file__).resolve().parents[1]
TRAINEE = "fill"
MAX_ZERO_SHARE = 0.10  # of System RAM's pages; a desktop two hours after boot: ~5 %, never-touched blocks only
MIN_ZERO_RUN = 64  # pages: most zero pages lie in long runs (untouched order-9 blocks), not scattered
_FLS = re.compile(r"^r/r (\d+):\t(.+)$")

pytestmark = pytest.mark.xdist_group("memory_fill")


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Case, dict]:
    """One Nightjar variant's disk and memory, as the build writes them, with its answer key: an installed system on
    the root and 256 MiB of memory (#14 item 5's figures, tests/haystack.py; the bundled case keeps a small root and
    64 MiB for now)."""
    spec = with_memory("nightjar", "256MiB")
    out = tmp_path_factory.mktemp("fill") / "v"
    build_variant(spec, DEMO_SECRET, TRAINEE, out, kinds=("disk", "memory"))
    case = resolve(spec, variant_seed(DEMO_SECRET, spec.scenario, TRAINEE), TRAINEE)
    key = json.loads((out / "key" / "answer_key.json").read_text())
    return out / "evidence", case, key


def flat_from_lime(lime: bytes, size: int) -> bytearray:
    """The flat physical address space a LiME file describes (holes zero), checking each range's header."""
    flat = bytearray(size)
    pos = 0
    while pos < len(lime):
        magic, version, start, end = struct.unpack_from("<IIQQ", lime, pos)
        assert (magic, version) == (0x4C694D45, 1)
        flat[start : end + 1] = lime[pos + 32 : pos + 33 + end - start]
        pos += 33 + end - start
    return flat


def _ram_pages(raw: bytes | bytearray, size: int) -> list[int]:
    """Physical frame numbers of the System RAM pages of a ``size``-byte flat image."""
    return [f for start, end in system_ram(size) for f in range(-(-start // PAGE), end // PAGE)]


def zero_problems(raw: bytes | bytearray, size: int, file_pages: frozenset[int] = frozenset()) -> list[str]:
    """What makes ``raw`` look thin: too many zero pages, or zero pages scattered instead of clustered.

    ``file_pages``: frames the page cache fills with a file's page. One that is zero is zero on the disk too (a
    sparse file's hole, a zero-filled stretch of a packaged file): it counts towards the share of zero RAM, but
    where it lies is the readahead's, not the fill's, so the clustering is judged on the other zero pages."""
    frames = _ram_pages(raw, size)
    zero = PAGE * b"\0"
    zeros = [f for f in frames if raw[f * PAGE : f * PAGE + PAGE] == zero]
    problems = []
    if len(zeros) > MAX_ZERO_SHARE * len(frames):
        problems.append(f"{len(zeros)} of {len(frames)} RAM pages are zero")
    zeros = [f for f in zeros if f not in file_pages]
    runs, run = [], 1
    for a, b in zip(zeros, zeros[1:], strict=False):
        if b == a + 1:
            run += 1
        else:
            runs.append(run)
            run = 1
    runs.append(run)
    clustered = sum(r for r in runs if r >= MIN_ZERO_RUN)
    if zeros and clustered < 0.6 * len(zeros):  # the rest: zeroed allocations, one page here and there
        problems.append(f"only {clustered} of {len(zeros)} zero pages lie in runs of {MIN_ZERO_RUN}+")
    return problems


@pytest.fixture(scope="module")
def page_cache(variant: tuple[Path, Case, dict]) -> dict[int, tuple[str, int]]:
    """Which frame holds which file's page (path, offset), as the fill planned the variant's RAM."""
    _, case, _ = variant
    with handed_over(decide(case)):
        return build_image(case).residency.cache


def test_ram_is_full_and_its_zero_pages_clustered(variant: tuple[Path, Case, dict],
                                                  page_cache: dict[int, tuple[str, int]]) -> None:
    ev, case, _ = variant
    raw = flat_from_lime((ev / "memory.lime").read_bytes(), case.memory.size_bytes)
    size = case.memory.size_bytes
    assert size >= 256 << 20 and len(raw) == size
    cached = frozenset(page_cache)
    assert zero_problems(raw, size, cached) == []
    planted = bytearray(raw)  # half of RAM left zero, as a generator that forgot to fill it would
    planted[size // 4 : size // 4 + size // 2] = bytes(size // 2)
    assert any("RAM pages are zero" in p for p in zero_problems(planted, size, cached))
    scattered = bytearray(raw)  # zero pages sprinkled one by one: not how untouched memory looks
    for frame in range(300, size // PAGE - 600, 20):
        if frame not in cached:
            scattered[frame * PAGE : frame * PAGE + PAGE] = bytes(PAGE)
    assert any("runs of" in p for p in zero_problems(scattered, size, cached))


def test_lime_ranges_are_the_system_ram_map(variant: tuple[Path, Case, dict]) -> None:
    ev, case, _ = variant
    lime, pos, ranges = (ev / "memory.lime").read_bytes(), 0, []
    while pos < len(lime):
        _, _, start, end = struct.unpack_from("<IIQQ", lime, pos)
        ranges.append((start, end + 1))
        pos += 33 + end - start
    assert ranges == system_ram(case.memory.size_bytes) and pos == len(lime)


def test_never_touched_ram_is_a_hole_of_the_lime_file(variant: tuple[Path, Case, dict]) -> None:
    """The aligned 2 MiB blocks the allocator never handed out (zero on the machine) are holes of the LiME file,
    not written zeros: the file's allocated size is what RAM holds. A dense copy of it has no hole."""
    ev, case, _ = variant
    lime = ev / "memory.lime"
    size = case.memory.size_bytes
    raw = flat_from_lime(lime.read_bytes(), size)
    block = 512 * PAGE
    zero_blocks = sum(1 for at in range(0, size, block) if not any(raw[at : at + block]))
    assert zero_blocks >= 1  # a desktop's 256 MiB leaves a block or two the allocator never handed out
    assert hole_bytes(lime) >= 0.95 * zero_blocks * block
    dense = lime.parent / "dense.lime"
    subprocess.run(["cp", "--sparse=never", str(lime), str(dense)], check=True)
    try:
        assert hole_bytes(dense) < 0.95 * zero_blocks * block
    finally:
        dense.unlink()


def _cached_pages_problems(raw: bytes | bytearray, cache: dict[int, tuple[str, int]],
                           files: dict[str, bytes]) -> list[str]:
    out = []
    for frame, (path, off) in sorted(cache.items()):
        want = files[path][off : off + PAGE].ljust(PAGE, b"\0")
        if raw[frame * PAGE : frame * PAGE + PAGE] != want:
            out.append(f"frame {frame:#x} is not {path} at {off}")
    return out


def test_page_cache_pages_are_the_disk_files_bytes(variant: tuple[Path, Case, dict],
                                                   page_cache: dict[int, tuple[str, int]]) -> None:
    """Every page the fill put in the page cache equals its file's bytes on the disk the build wrote (the disk
    writer's own file list), at that page-aligned offset; a page that is not its file's is caught."""
    ev, case, _ = variant
    cache = page_cache
    files: dict[str, bytes] = {}
    for vol in case.disk.volumes:
        listed = [f for f in case.disk.files if f.volume == vol.id]
        if vol.os is not None:
            listed = ostree.files_for(case, vol) + listed
        mount = vol.mount_point.rstrip("/")
        files.update({mount + f.path: f.content for f in listed if not f.is_dir})
    # Cached of a desktop's meminfo, ~45 % of RAM, when the disk holds that much; a small disk, mostly cached
    on_disk = sum(len(data) for data in files.values())
    assert len(cache) * PAGE >= min(0.4 * case.memory.size_bytes, 0.5 * on_disk)
    raw = flat_from_lime((ev / "memory.lime").read_bytes(), case.memory.size_bytes)
    assert _cached_pages_problems(raw, cache, files) == []
    frame = next(iter(cache))
    broken = bytearray(raw)
    broken[frame * PAGE + 100] ^= 0xFF
    assert _cached_pages_problems(broken, cache, files) == [f"frame {frame:#x} is not {cache[frame][0]} at "
                                                           f"{cache[frame][1]}"]


def test_tsk_reads_files_memory_caches(variant: tuple[Path, Case, dict]) -> None:
    """Files of the root file system as icat reads them from the disk image (libraries when an installed system
    is there, else the story's and the user's files): their pages are in RAM, each at a page-aligned physical
    address (the page cache), found without knowing where the writer put them."""
    ev, case, key = variant
    root = next(p for p in key["facts"]["disk"]["partitions"] if p["volume"] == "root")
    offset = str(root["start_sector"])
    listing = subprocess.run(["fls", "-r", "-p", "-o", offset, str(ev / "disk.img")], capture_output=True,
                             text=True, check=True).stdout
    files = sorted((m.group(2), int(m.group(1))) for line in listing.splitlines() if (m := _FLS.match(line)))
    libs = [(path, inode) for path, inode in files
            if path.startswith("usr/lib/x86_64-linux-gnu/") and ".so." in path]
    raw = flat_from_lime((ev / "memory.lime").read_bytes(), case.memory.size_bytes)
    checked = found = 0
    candidates = libs[:: max(1, len(libs) // 20)] if len(libs) >= 20 else files
    for path, inode in candidates:
        if checked == 20:
            break
        data = subprocess.run(["icat", "-o", offset, str(ev / "disk.img"), str(inode)], capture_output=True,
                              check=True).stdout
        if len(data) < PAGE or not data[:PAGE].strip(b"\0"):
            continue  # a freed inode (deleted: no content), or a first page any file could hold
        checked += 1
        page = data[PAGE : 2 * PAGE] if len(data) >= 2 * PAGE else data[:PAGE].ljust(PAGE, b"\0")
        at = raw.find(page)
        if at >= 0:
            assert at % PAGE == 0, f"{path}'s page at {at:#x}, not page-aligned"
            found += 1
    assert checked >= 10 and found >= checked * 3 // 4, (found, checked)


def test_strings_show_what_the_processes_hold(variant: tuple[Path, Case, dict]) -> None:
    """`strings` over the image: the URL fetched, environment entries and the story's paths, as on a real host."""
    ev, case, _ = variant
    text = subprocess.run(["strings", "-n", "8", str(ev / "memory.lime")], capture_output=True, text=True,
                          check=True).stdout
    fetched = [f"http://{t.host_header}{t.uri}" for t in case.network.http if t.time <= case.memory.acquired_at]
    assert fetched and any(url in text for url in fetched)
    shell = next(p for p in case.memory.processes if p.comm == "bash" and p.environ)
    assert sum(f"{k}={v}" in text for k, v in shell.environ) >= len(shell.environ) // 2
