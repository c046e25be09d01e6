"""Optional E01 copy of the disk (scenario field ``disk.e01``), written by the real ewfacquire under libfaketime.

Checked with the real tools: ewfverify accepts it, ewfinfo shows the header the spec planned, libewf's media is
the raw image byte for byte, TSK reading the E01 (dflab.forensics.disk: pytsk3 over pyewf) lists what the mmls and
fls commands list on the raw image, builds seconds apart are byte-identical, and a missing, broken or crashing tool
is one clear line. The mmls and fls commands on an E01 are checked in the trainee image, which is where trainees run
them (tests/test_forensics_disk.py): on the host they crash on Debian 13 (DEVELOPERS.md, "TSK on E01").
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyewf
import pytest

from dflab.errors import DflabError, SpecError, ToolError
from dflab.evidence.build import build_cohort, build_variant
from dflab.evidence.disk import ewf
from dflab.evidence.disk.ewf import write_e01
from dflab.evidence.manifest import Mismatch, sha256_file, verify
from dflab.forensics import disk as fdisk
from dflab.scenario.case import E01Header
from dflab.scenario.draw import DEMO_SECRET, variant_seed
from dflab.scenario.load import parse_spec
from dflab.scenario.resolve import resolve

ROOT = Path(__file__).resolve().parents[1]
NIGHTJAR = ROOT / "labs" / "scenarios" / "nightjar.yaml"
E01_SPEC = ('  e01: {acquired: "@acquire+20m", examiner: "J. Responder", evidence_number: "NJ-001-DISK", '
            'notes: "imaged with a write blocker"}\n')
TRAINEE = "erin"

pytestmark = pytest.mark.xdist_group("e01")


def _with_e01(e01_line: str = E01_SPEC) -> str:
    text = NIGHTJAR.read_text()
    assert "\n  filler:\n" in text
    return text.replace("\n  filler:\n", f"\n{e01_line}  filler:\n", 1)


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "nightjar-e01.yaml"
    path.write_text(_with_e01())
    return path


@pytest.fixture(scope="module")
def builds(tmp_path_factory, spec_file):
    """The same trainee built twice in a row and once more at least two wall-clock seconds later."""
    spec = parse_spec(spec_file.read_text(), str(spec_file))
    root = tmp_path_factory.mktemp("e01builds")
    started = time.time()
    out = {name: build_variant(spec, DEMO_SECRET, TRAINEE, root / name).out for name in ("a", "b")}
    time.sleep(max(0.0, started + 2.5 - time.time()))
    out["later"] = build_variant(spec, DEMO_SECRET, TRAINEE, root / "later").out
    return out


def _manifest(out: Path) -> dict:
    return json.loads((out / "evidence" / "manifest.json").read_text())


def _key(out: Path) -> dict:
    return json.loads((out / "key" / "answer_key.json").read_text())


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, check=True, text=True, timeout=120).stdout


def test_manifest_lists_the_e01_and_verify_checks_it(builds, tmp_path):
    ev = builds["a"] / "evidence"
    files = {f["path"]: f for f in _manifest(builds["a"])["files"]}
    assert files["disk.E01"] == {"path": "disk.E01", "size": (ev / "disk.E01").stat().st_size,
                                 "sha256": sha256_file(ev / "disk.E01")}
    assert "disk.img" in files  # the raw image stays: the labs read it
    assert verify(ev) == []
    assert not [p for p in builds["a"].rglob("*") if p.name.endswith(".part")]
    assert _key(builds["a"])["facts"]["disk"]["e01"]["segments"] == ["disk.E01"]
    # An altered E01 is named by the verifier (`dflab evidence verify`), like any other exhibit.
    copy = tmp_path / "evidence"
    shutil.copytree(ev, copy)
    with (copy / "disk.E01").open("r+b") as fh:
        fh.seek(5000)
        byte = fh.read(1)
        fh.seek(5000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert verify(copy) == [Mismatch("disk.E01", "sha256 differs (altered)")]


def test_builds_seconds_apart_are_byte_identical(builds):
    a, b, later = (builds[k] / "evidence" / "disk.E01" for k in ("a", "b", "later"))
    assert a.read_bytes() == b.read_bytes() == later.read_bytes()
    assert _manifest(builds["a"]) == _manifest(builds["b"]) == _manifest(builds["later"])


def test_ewfverify_and_ewfinfo_show_the_planned_header(builds):
    ev = builds["a"] / "evidence"
    check = _run("ewfverify", "-q", str(ev / "disk.E01"))
    assert "ewfverify: SUCCESS" in check
    info = dict(re.findall(r"^\t([^:\n]+):\t+(.*)$", _run("ewfinfo", str(ev / "disk.E01")), re.M))
    acquire = next(e["time"] for e in _key(builds["a"])["timeline"] if e["id"] == "acquire")
    planned = datetime.fromisoformat(acquire.replace("Z", "+00:00")) + timedelta(minutes=20)
    assert datetime.strptime(info["Acquisition date"], "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC) == planned
    assert info["System date"] == info["Acquisition date"]
    assert info["Case number"] == "nightjar"
    assert info["Description"] == "Operation Nightjar: data theft from a finance workstation"
    assert (info["Examiner name"], info["Evidence number"]) == ("J. Responder", "NJ-001-DISK")
    assert info["Notes"] == "imaged with a write blocker"
    assert info["File format"] == "EnCase 6" and info["Compression method"] == "deflate"
    raw_size = (ev / "disk.img").stat().st_size
    assert info["Media size"].endswith(f"({raw_size} bytes)")
    assert info["MD5"] == hashlib.md5((ev / "disk.img").read_bytes()).hexdigest()  # noqa: S324 - evidence hash


def test_e01_media_is_the_raw_image(builds):
    ev = builds["a"] / "evidence"
    handle = pyewf.handle()
    handle.open(pyewf.glob(str(ev / "disk.E01")))
    try:
        digest = hashlib.sha256()
        while chunk := handle.read(4 * 1024 * 1024):
            digest.update(chunk)
    finally:
        handle.close()
    raw = {f["path"]: f for f in _manifest(builds["a"])["files"]}["disk.img"]
    assert digest.hexdigest() == raw["sha256"]


_MMLS_ROW = re.compile(r"^(\d+):\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(.+)$")


def _mmls(image: Path) -> list[tuple[int, int, int, int, str]]:
    """mmls' table, every row (meta, unallocated, partitions): (row, start, end, length, description)."""
    rows = (_MMLS_ROW.match(line) for line in _run("mmls", str(image)).splitlines())
    return [(int(m[1]), int(m[2]), int(m[3]), int(m[4]), m[5]) for m in rows if m]


def _fls(image: Path, start_sector: int, *flags: str) -> list[tuple[str, str, bool]]:
    """``fls -r -p`` of one partition as sorted (path, address, deleted) rows."""
    rows = []
    for line in _run("fls", "-r", "-p", *flags, "-o", str(start_sector), str(image)).splitlines():
        rest = line.split(" ", 1)[1]  # drop the "r/r" type column
        address, name = rest.removeprefix("* ").split(":\t", 1)
        rows.append(("/" + name, address, rest.startswith("* ")))
    return sorted(rows)


def test_tsk_reads_the_e01_like_the_raw_image(builds):
    """TSK on the E01 through the notebooks' reader (pytsk3 over pyewf) finds what TSK's commands find on the raw image.

    The TSK commands themselves read a dflab-written E01 in the trainee image, as trainees run them
    (tests/test_forensics_disk.py), not on this host: Debian 13's crash on E01 (DEVELOPERS.md, "TSK on E01").
    """
    ev = builds["a"] / "evidence"
    e01, raw = ev / "disk.E01", ev / "disk.img"
    parts = fdisk.partitions(e01, all_slots=True)
    assert list(zip(parts.slot, parts.start, parts.end, parts.length, parts.description, strict=True)) == _mmls(raw)
    key = _key(builds["a"])
    planned = {p["start_sector"]: p["volume"] for p in key["facts"]["disk"]["partitions"]}
    volumes = parts[parts["kind"] == "partition"]
    assert sorted(volumes.start) == sorted(planned) and "root" in planned.values()
    for index, start in zip(volumes["index"], volumes.start, strict=True):
        files = fdisk.list_files(e01, partition=int(index))
        assert sorted(zip(files.path, files.address, files.deleted, strict=True)) == _fls(raw, int(start)), index
        if planned[start] == "root":
            deleted = files[files.deleted]
            # Linux's unlink wiped the payload's name: ext4 keeps its inode, which TSK lists as an orphan.
            assert f"/$OrphanFiles/OrphanFile-{key['answers']['payload_inode']}" in set(deleted.path)
            assert sorted(zip(deleted.path, deleted.address, deleted.deleted, strict=True)) == \
                _fls(raw, int(start), "-d")


def _only_tools(tmp_path: Path, *tools: str) -> str:
    """A PATH holding just ``tools`` (symlinks to the real ones)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        (bin_dir / tool).symlink_to(Path("/usr/bin") / tool)
    return str(bin_dir)


def test_missing_ewfacquire_is_one_line_before_any_build(tmp_path, spec_file):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "dflab.cli", "evidence", "build", str(spec_file), "--out", str(out),
                           "--trainee", TRAINEE, "--secret", "s"], capture_output=True, text=True,
                          env={**os.environ, "PATH": _only_tools(tmp_path, "faketime"), "COLUMNS": "300"})
    assert proc.returncode == 4
    assert proc.stderr.strip().splitlines()[-1] == (
        f"dflab: error: {spec_file}: disk.e01: E01 output needs ewfacquire (Debian package ewf-tools), "
        "which is not on PATH")
    assert "Traceback" not in proc.stderr
    assert list(out.iterdir()) == []


def test_missing_faketime_stops_a_cohort_before_it_starts(tmp_path, spec_file, monkeypatch):
    monkeypatch.setenv("PATH", _only_tools(tmp_path, "ewfacquire"))
    with pytest.raises(ToolError, match=r"disk.e01: E01 output needs faketime \(Debian package faketime\)"):
        build_cohort(spec_file, DEMO_SECRET, [TRAINEE, "frank"], tmp_path / "out", workers=2)
    assert not (tmp_path / "out").exists()


def test_missing_tool_in_a_single_build_leaves_nothing(tmp_path, spec_file, monkeypatch):
    spec = parse_spec(spec_file.read_text(), str(spec_file))
    monkeypatch.setenv("PATH", _only_tools(tmp_path, "faketime"))
    with pytest.raises(ToolError, match=r"^scenario nightjar: disk.e01: E01 output needs ewfacquire"):
        build_variant(spec, DEMO_SECRET, TRAINEE, tmp_path / "out" / TRAINEE)
    assert list((tmp_path / "out").iterdir()) == []


def _header(acquired_at: int = 1_772_445_600) -> E01Header:
    return E01Header(acquired_at, "case", "desc", "examiner", "disk", "")


def test_a_clock_that_is_not_frozen_is_refused(tmp_path, builds, monkeypatch):
    """A faketime that fails to fake (libfaketime missing: ld.so only warns) would leak the wall clock."""
    shim = tmp_path / "bin" / "faketime"
    shim.parent.mkdir()
    shim.write_text('#!/bin/sh\nshift 2\nexec "$@"\n')  # drops "-f TIME", runs ewfacquire on the real clock
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    target = tmp_path / "out" / "disk.E01"
    target.parent.mkdir()
    with pytest.raises(ToolError, match="faketime did not freeze ewfacquire's clock"):
        write_e01(builds["a"] / "evidence" / "disk.img", target, _header(), where="test")
    assert list(target.parent.iterdir()) == []


def test_a_disk_past_the_segment_size_gets_every_segment(tmp_path, monkeypatch):
    """Disks over 1.4 GiB are split into disk.E01, disk.E02 ...: shown here with ewfacquire's 1 MiB minimum."""
    monkeypatch.setattr(ewf, "SEGMENT_SIZE", "1.0MiB")
    raw = tmp_path / "raw.img"
    raw.write_bytes(random.Random(7).randbytes(3 * 1024 * 1024))  # 3 MiB that deflate cannot shrink
    (tmp_path / "out").mkdir()
    facts = write_e01(raw, tmp_path / "out" / "disk.E01", _header(), where="test")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(names) > 1 and names == facts["segments"] and names[0] == "disk.E01" and names[1] == "disk.E02"
    handle = pyewf.handle()
    handle.open(pyewf.glob(str(tmp_path / "out" / "disk.E01")))
    try:
        assert handle.read(raw.stat().st_size) == raw.read_bytes()
    finally:
        handle.close()
    assert facts["md5"] == hashlib.md5(raw.read_bytes()).hexdigest()  # noqa: S324 - evidence hash


def test_ewfacquire_crash_is_one_line_naming_the_signal_and_the_image(tmp_path, monkeypatch):
    """A crashing ewfacquire (here one that kills itself, run under the real faketime) is one line, not exit 1."""
    shim = tmp_path / "bin" / "ewfacquire"
    shim.parent.mkdir()
    shim.write_text("#!/bin/sh\nkill -SEGV $$\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    raw = tmp_path / "disk.img"
    raw.write_bytes(bytes(1024 * 1024))
    (tmp_path / "out").mkdir()
    with pytest.raises(ToolError) as caught:
        write_e01(raw, tmp_path / "out" / "disk.E01", _header(), where="test")
    assert str(caught.value) == f"test: ewfacquire crashed (Segmentation fault) writing disk.E01 from {raw}"
    assert list((tmp_path / "out").iterdir()) == []


def test_ewfacquire_failure_is_one_line(tmp_path):
    target = tmp_path / "disk.E01"
    with pytest.raises(ToolError, match=r"^test: ewfacquire failed \(exit 1\): Unable to open file\(s\) or device"):
        write_e01(tmp_path / "no-such.img", target, _header(), where="test")
    assert list(tmp_path.iterdir()) == []


def test_e01_is_off_by_default_and_defaults_come_from_the_scenario():
    plain = parse_spec(NIGHTJAR.read_text())
    assert plain.disk.e01 is None
    assert resolve(plain, variant_seed(DEMO_SECRET, "nightjar", TRAINEE), TRAINEE).disk.e01 is None
    spec = parse_spec(_with_e01("  e01: {}\n"))
    case = resolve(spec, variant_seed(DEMO_SECRET, "nightjar", TRAINEE), TRAINEE)
    assert case.disk.e01 == E01Header(case.memory.acquired_at, "nightjar", spec.title, "dflab", "disk", "", "fast")


@pytest.mark.parametrize(("line", "message"), [
    ('  e01: {examiner: "{user}"}\n', r"disk.e01.examiner: E01 header text is literal, not a template"),
    ('  e01: {notes: "a\\tb"}\n', r"disk.e01.notes: E01 header text must be printable ASCII"),
    ("  e01: {compression: zstd}\n", r"disk.e01.compression"),
    ("  e01: {acquired: tomorrow}\n", r"disk.e01.acquired"),
])
def test_bad_e01_fields_name_file_line_and_field(line, message):
    text = _with_e01(line)
    lineno = text.splitlines().index(line.rstrip("\n")) + 1
    with pytest.raises(SpecError, match=rf"^x.yaml:{lineno}: {message}"):
        parse_spec(text, "x.yaml")


def test_a_title_that_cannot_be_a_header_needs_a_description():
    text = _with_e01("  e01: {}\n").replace('title: "Operation Nightjar', 'title: "Opération Nightjar', 1)
    with pytest.raises(DflabError, match="disk.e01.description defaults to the title"):
        parse_spec(text)
    fixed = parse_spec(text.replace("  e01: {}\n", '  e01: {description: "Operation Nightjar"}\n'))
    assert fixed.disk.e01 is not None and fixed.disk.e01.description == "Operation Nightjar"
