"""Scenario spec: schema errors name file, line and field; resolution is a pure function of (spec, seed)."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from dflab.errors import SpecError
from dflab.scenario.draw import DEMO_SECRET, draw, variant_seed
from dflab.scenario.load import load_spec, parse_spec
from dflab.scenario.resolve import resolve

NIGHTJAR = Path(__file__).resolve().parents[1] / "labs" / "scenarios" / "nightjar.yaml"


@pytest.fixture(scope="module")
def spec_text() -> str:
    return NIGHTJAR.read_text()


def _case(trainee: str, secret: str = DEMO_SECRET):
    spec = load_spec(NIGHTJAR)
    return resolve(spec, variant_seed(secret, spec.scenario, trainee), trainee)


def test_bundled_scenario_resolves_deterministically():
    assert _case("alice") == _case("alice")


def test_trainees_get_different_answers():
    a, b = _case("alice"), _case("bob")
    assert a.seed != b.seed
    differing = [k for k in ("c2_domain", "user", "exfil_port", "ftp_password", "account")
                 if a.facts["variables"][k] != b.facts["variables"][k]]
    assert len(differing) >= 3
    assert a.file("payload").sha256 != b.file("payload").sha256


def test_course_secret_changes_the_variant():
    assert _case("alice", "secret-1").seed != _case("alice", "secret-2").seed


def test_evidence_kinds_agree_on_the_story():
    case = _case("carol")
    payload = case.file("payload")
    download = next(h for h in case.network.http if h.id == "download")
    assert download.response_body == payload.content  # same bytes on the wire and on disk
    implant = next(p for p in case.memory.processes if p.pid == case.facts["process_ids"]["implant"])
    assert implant.exe_path == payload.path
    exfil = next(r for r in case.network.raw if r.id == "exfil")
    assert exfil.upload == case.file("archive").content
    sock = implant.sockets[0]
    c2 = case.host("c2")
    assert (sock.remote_ip, sock.remote_port, sock.local_port) == (c2.ip, exfil.server_port, exfil.client_port)
    assert case.file("archive").true_type in {"zip", "tar", "gzip", "xz"} and case.file("archive").name.endswith(".jpg")
    assert payload.deleted_at is not None and payload.mtime == int(download.time)
    assert case.file("hostname").content.decode().strip() == case.memory.hostname == case.host("suspect").hostname


def test_unknown_field_is_reported_with_line(spec_text: str):
    bad = spec_text.replace("  table: {choice: [mbr, gpt]}\n", "  table: {choice: [mbr, gpt]}\n  tabel: gpt\n")
    line = bad.splitlines().index("  tabel: gpt") + 1
    with pytest.raises(SpecError) as err:
        parse_spec(bad, "nightjar.yaml")
    assert str(err.value).startswith(f"nightjar.yaml:{line}: disk.tabel: unknown field")


def test_bad_value_names_field_path(spec_text: str):
    bad = spec_text.replace("fs: ext4", "fs: ntfs4")
    with pytest.raises(SpecError, match=r"nightjar.yaml:\d+: disk.volumes\[1\].fs: must be one of 'fat32' or 'ext4'"):
        parse_spec(bad, "nightjar.yaml")


def test_dangling_reference_is_reported(spec_text: str):
    bad = spec_text.replace("members: [forecast, payroll, board]", "members: [forecast, payrol, board]")
    with pytest.raises(SpecError, match=r"unknown file 'payrol'"):
        parse_spec(bad, "nightjar.yaml")


def test_yaml_syntax_error_has_line():
    with pytest.raises(SpecError, match=r"x.yaml:2: not valid YAML"):
        parse_spec("scenario: a\n  bad: [1,\n", "x.yaml")


def test_unknown_template_reference_is_a_spec_error(spec_text: str):
    """Found when the spec is read (every command, `validate` first), at the field's line: not only when a variant
    that happens to use the string is resolved."""
    bad = spec_text.replace("{hostname}\\n", "{hostnme}\\n")
    line = next(i for i, text in enumerate(bad.splitlines(), 1) if "{hostnme}" in text)
    with pytest.raises(SpecError, match=rf"^nightjar.yaml:{line}: disk.files\[0\].content.text: unknown reference "
                                        r"\{hostnme\} in '\{hostnme\}\\n' \(variables are: .*hostname"):
        parse_spec(bad, "nightjar.yaml")


def test_impossible_time_range_is_reported(spec_text: str):
    early, late = '"2026-03-02T07:30:00Z"', '"2026-03-06T08:30:00Z"'
    bad = spec_text.replace(f"{early}, {late}", f"{late}, {early}")
    with pytest.raises(SpecError, match="start: time_between needs"):
        resolve(parse_spec(bad), b"\0" * 32)


def test_missing_spec_file(tmp_path: Path):
    with pytest.raises(SpecError, match="scenario spec not found"):
        load_spec(tmp_path / "nope.yaml")


def test_draws_are_independent_streams():
    seed = variant_seed("s", "x", "t")
    assert draw({"int": [0, 10**9]}, seed, "a") == draw({"int": [0, 10**9]}, seed, "a")
    assert draw({"int": [0, 10**9]}, seed, "a") != draw({"int": [0, 10**9]}, seed, "b")
    with pytest.raises(ValueError, match="unknown draw"):
        draw({"gauss": 1}, seed, "a")


def test_case_is_frozen():
    case = _case("dave")
    with pytest.raises(dataclasses.FrozenInstanceError):
        case.variant = "x"  # type: ignore[misc]


def test_memory_formats_option(spec_text: str):
    assert _case("erin").memory.formats == ("lime",)
    kernel = "  kernel: debian-12"
    assert kernel in spec_text
    both = parse_spec(spec_text.replace(kernel, "  formats: [raw, lime]\n" + kernel))
    assert resolve(both, b"\0" * 32).memory.formats == ("raw", "lime")


def test_every_variant_leaves_room_for_its_planned_slack():
    """A drawn file size must not eat the slack text's room: before, 8 of these 400 trainees got an unbuildable disk.

    Resolved without the workstation's traces (logs, browser profile, documents: dflab/scenario/traces), which take
    most of a resolve and draw from streams of their own, so the slack file's size is the one a full build draws
    (the last assertion checks it on one trainee)."""
    from dflab.scenario.content import TRACE_KINDS

    full = load_spec(NIGHTJAR)
    disk = full.disk.model_copy(update={"files": [f for f in full.disk.files if f.content.kind not in TRACE_KINDS]})
    spec = full.model_copy(update={"disk": disk})
    slack_files = 0
    for i in range(400):
        case = resolve(spec, variant_seed("x", spec.scenario, f"b{i:03d}"), f"b{i:03d}")
        for f in case.disk.files:
            if f.slack:
                slack_files += 1
                sizes = spec_sizes(spec, f.id)
                assert sizes[0] <= len(f.content) <= sizes[1], f.id
                # Clusters are multiples of 512 bytes: this much room in the last sector is room in any cluster.
                assert 0 < len(f.content) % 512 <= 512 - len(f.slack), (f"b{i:03d}", f.id, len(f.content))
    assert slack_files == 400
    whole = resolve(full, variant_seed("x", full.scenario, "b007"), "b007")
    light = resolve(spec, variant_seed("x", spec.scenario, "b007"), "b007")
    assert [(f.id, f.content) for f in whole.disk.files if f.slack] == [
        (f.id, f.content) for f in light.disk.files if f.slack]


def spec_sizes(spec, file_id: str) -> tuple[int, int]:
    return next(tuple(f.content.size) for f in spec.disk.files if f.id == file_id)


def test_a_variant_that_once_had_no_room_for_its_slack_builds(tmp_path: Path):
    from dflab.evidence.build import build_variant

    result = build_variant(load_spec(NIGHTJAR), "x", "b234", tmp_path / "b234")  # its size drew a multiple of 4096
    assert (result.out / "evidence" / "disk.img").is_file()


def test_the_disk_layout_and_the_archive_container_are_drawn_per_trainee():
    """Lab 02's partition and signature answers differ between neighbours: table, root start, archive type."""
    spec = load_spec(NIGHTJAR)
    cases = [resolve(spec, variant_seed("layout", spec.scenario, f"t{i}"), f"t{i}") for i in range(60)]
    tables = Counter(c.disk.table for c in cases)
    starts = Counter(c.disk.volumes[1].start_sector for c in cases)
    types = Counter(c.file("archive").true_type for c in cases)
    assert set(tables) == {"mbr", "gpt"} and min(tables.values()) >= 15
    assert all(s % 2048 == 0 and 35 * 2048 <= s <= 66 * 2048 for s in starts) and len(starts) >= 20
    assert set(types) == {"zip", "tar", "gzip", "xz"}
    assert cases[0].disk.volumes[0].start_sector is None  # TRANSFER: the first MiB boundary, as before


def test_every_archive_container_is_a_real_file_of_its_type_holding_the_zip(tmp_path: Path):
    """The real tools read each wrapper, and the ZIP stays readable through it: lab 04 lists the exfiltrated
    archive's members with zipfile, whatever container it came in."""
    spec = load_spec(NIGHTJAR)
    seen = {}
    for i in range(80):
        case = resolve(spec, variant_seed("wrap", spec.scenario, f"w{i}"), f"w{i}")
        archive = case.file("archive")
        members = [case.file(m).name for m in ("forecast", "payroll", "board")]
        assert zipfile.ZipFile(io.BytesIO(archive.content)).namelist() == members, archive.true_type
        seen.setdefault(archive.true_type, archive)
    assert set(seen) == {"zip", "tar", "gzip", "xz"}
    for kind, archive in seen.items():
        path = tmp_path / f"{kind}.bin"
        path.write_bytes(archive.content)
        stem = archive.name.removesuffix(".jpg")
        if kind == "tar":
            listing = subprocess.run(["tar", "tvf", str(path)], capture_output=True, text=True, check=True).stdout
            assert listing.split()[-1] == f"{stem}.zip" and "root/root" in listing
        elif kind in ("gzip", "xz"):
            inner = subprocess.run([kind, "-dc", str(path)], capture_output=True, check=True).stdout
            assert zipfile.ZipFile(io.BytesIO(inner)).namelist() == members
        out = subprocess.run(["file", "-b", str(path)], capture_output=True, text=True, check=True).stdout
        assert out.startswith({"zip": "Zip archive", "tar": "POSIX tar archive", "gzip": "gzip compressed data",
                               "xz": "XZ compressed data"}[kind]), out


def test_a_spec_without_the_new_fields_resolves_as_before(spec_text: str):
    """table: mbr, no start_mib, no wrap: what the spec said before they were drawn (optional parts stay off)."""
    plain = spec_text.replace("table: {choice: [mbr, gpt]}", "table: mbr").replace(
        ", start_mib: {int: [35, 66]}", "").replace(", wrap: {choice: [none, tar, gzip, xz]}", "")
    case = resolve(parse_spec(plain), b"\0" * 32)
    assert case.disk.table == "mbr" and [v.start_sector for v in case.disk.volumes] == [None, None]
    assert case.file("archive").true_type == "zip"
