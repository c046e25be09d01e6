"""Specs are bounded: every size, count and range has a documented limit, and the YAML itself is bounded.

A spec outside a limit is one line, ``dflab: error: file:line: field: what``, from `dflab scenario validate` (and
every command that loads the spec): never a traceback, never a hang. The limits are documented in
dflab/scenario/spec.py (sizes, counts, ranges) and dflab/scenario/load.py (file size, nesting, aliases).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from dflab.errors import SpecError
from dflab.scenario.draw import variant_seed
from dflab.scenario.load import MAX_ALIASES, MAX_DEPTH, MAX_NODES, MAX_SPEC_BYTES, load_spec, parse_spec
from dflab.scenario.resolve import resolve
from dflab.scenario.spec import MAX_DISK_BYTES, MAX_FILE_BYTES, MAX_MEMORY_BYTES, MAX_NOISE_PACKETS
from tests.haystack import small_text

ROOT = Path(__file__).resolve().parents[1]
TEXT = small_text("nightjar")  # the bundled case without its installed system: the sizes edited below


def dflab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real CLI; the timeout bounds a test whose guard is missing (it fails instead of hanging the suite)."""
    return subprocess.run([sys.executable, "-m", "dflab.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "COLUMNS": "300", "HOME": str(cwd)})


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("dflab: error: "), proc.stderr
    return lines[0].removeprefix("dflab: error: ")


def edited(old: str, new: str) -> str:
    assert TEXT.count(old) == 1, old
    return TEXT.replace(old, new)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def refused(text: str, needle: str, field: str, what: str) -> None:
    """``text`` is refused at the line holding ``needle``, naming ``field`` and saying ``what`` (a regex)."""
    with pytest.raises(SpecError) as err:
        parse_spec(text, "spec.yaml")
    assert re.fullmatch(rf"spec\.yaml:{line_of(text, needle)}: {re.escape(field)}: {what}", str(err.value)), \
        str(err.value)


# -- reversed ranges --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("old", "new", "field", "what"), [
    ("exfil_port: {int: [4000, 9000]}", "exfil_port: {int: [9000, 4000]}", "variables.exfil_port",
     r"int range \[9000, 4000\] is reversed: use \[4000, 9000\]"),
    ("size: [6000, 14000]", "size: [14000, 6000]", "disk.files[2].content.size",
     r"size range \[14000, 6000\] is reversed: use \[6000, 14000\]"),
    ("count: [16, 40]", "count: [40, 16]", "disk.filler[0].count", r"count range \[40, 16\] is reversed.*"),
    ("start_mib: {int: [35, 66]}", "start_mib: {int: [66, 35]}", "disk.volumes[1].start_mib",
     r"int range \[66, 35\] is reversed.*"),
    ('pid: {int: [1100, 1400]}', 'pid: {int: [1400, 1100]}', "memory.processes[0].pid", r"int range .* is reversed.*"),
    ('{time_between: ["2026-03-02T07:30:00Z", "2026-03-06T08:30:00Z"]}',
     '{time_between: ["2026-03-06T08:30:00Z", "2026-03-02T07:30:00Z"]}', "start",
     r"time_between needs \[earlier, later\]"),
    ("seconds: [300, 1800]", "seconds: [1800, 300]", "timeline[2].seconds", r"seconds must be \[min, max\].*"),
])
def test_a_reversed_range_is_refused_at_its_line(old: str, new: str, field: str, what: str) -> None:
    refused(edited(old, new), new, field, what)


def test_a_reversed_range_is_one_line_from_validate_not_a_traceback(tmp_path: Path) -> None:
    spec = tmp_path / "rev.yaml"
    spec.write_text(edited("size: [6000, 14000]", "size: [14000, 6000]"))
    line = one_error_line(dflab("scenario", "validate", str(spec), cwd=tmp_path))
    assert line == (f"{spec}:{line_of(spec.read_text(), 'size: [14000, 6000]')}: disk.files[2].content.size: "
                    "size range [14000, 6000] is reversed: use [6000, 14000]")


# -- sizes and counts: negative, over the documented maxima -------------------------------------------------------

@pytest.mark.parametrize(("old", "new", "field", "what"), [
    ("  size: 96MiB", "  size: -100663296", "disk.size", r"a size cannot be negative: -100663296"),
    ("  size: 96MiB", "  size: 3GiB", "disk.size", r"disk size 3 GiB is outside 2 MiB \.\. 2 GiB"),
    ("  size: 96MiB", "  size: 3000000", "disk.size", r"disk size 3000000 bytes is not a multiple of 512 bytes"),
    ("size: 28MiB", "size: 0", "disk.volumes[1].size", r"volume size 0 bytes is outside 1 MiB \.\. 2 GiB"),
    ("  size: 64MiB\n  kernel", "  size: 100GiB\n  kernel", "memory.size",
     r"memory size 100 GiB is outside 32 MiB \.\. 2 GiB"),
    ("  size: 64MiB\n  kernel", "  size: 65MiB\n  kernel", "memory.size", r".* is not a multiple of 2 MiB"),
    ("size: [6000, 14000]", "size: 100000000000", "disk.files[2].content.size",
     rf"content size must be between 0 and {MAX_FILE_BYTES} bytes \(64 MiB\), got 100000000000"),
    ("size: [24000, 48000]", "size: [24000, 480000000]", "disk.files[5].content.size",
     r"content size must be between .*"),
    ("noise_packets: {int: [4600, 5000]}", "noise_packets: {int: [4600, 5000000]}", "network.noise_packets",
     rf"noise_packets must be between 0 and {MAX_NOISE_PACKETS}, got \[4600, 5000000\]"),
    ("count: [16, 40]", "count: [16, 4000]", "disk.filler[0].count", r"count must be between 0 and 1000.*"),
    ("ftp_password: {password: 12}", "ftp_password: {password: 100000}", "variables.ftp_password",
     r"password length 100000 is outside 1 \.\. 256"),
    ("exfil_port: {int: [4000, 9000]}", "exfil_port: {int: [4000, 90000]}", "variables.exfil_port", None),
    ('pid: {int: [2700, 3200]}', 'pid: {int: [2700, 9999999]}', "memory.processes[3].pid",
     r"pid must be between 2 and 4194304, got \[2700, 9999999\]"),
    ("seconds: [600, 1800], sources: [memory, disk],\n     description: \"responders",
     "seconds: [600, 99999999], sources: [memory, disk],\n     description: \"responders", "timeline[9].seconds",
     r"seconds after the previous event are at most .*"),
    ('{kind: passwd}, created: "@start-60d"}', '{kind: passwd}, created: "@start-99999999d"}', "disk.files[1].created",
     r"time offset in '@start-99999999d' is more than 3650 days"),
])
def test_a_size_or_count_outside_its_limit_is_refused_at_its_line(old: str, new: str, field: str,
                                                                  what: str | None) -> None:
    text = edited(old, new)
    if what is None:  # a drawn variable has no unit: its use is checked when resolved (next test)
        spec = parse_spec(text, "spec.yaml")
        exfil_port = r"^spec\.yaml:\d+: network\.flows\.exfil\.port: \d+ is outside 1 \.\. 65535$"
        with pytest.raises(SpecError, match=exfil_port):
            for i in range(40):
                resolve(spec, variant_seed("s", "nightjar", f"t{i}"), f"t{i}")
        return
    refused(text, new.split("\n", maxsplit=1)[0].strip(), field, what)


def test_the_maxima_are_what_the_docstring_documents() -> None:
    assert (MAX_DISK_BYTES, MAX_MEMORY_BYTES, MAX_FILE_BYTES, MAX_NOISE_PACKETS) == (2 * 2**30, 2 * 2**30, 64 * 2**20,
                                                                                    50_000)
    assert (MAX_SPEC_BYTES, MAX_DEPTH, MAX_ALIASES, MAX_NODES) == (2**20, 64, 100, 100_000)


@pytest.mark.parametrize(("args", "expected"), [
    (("  size: 96MiB", "  size: -100663296"), "disk.size: a size cannot be negative: -100663296"),
    (("  size: 96MiB", "  size: 100GiB"), "disk.size: disk size 100 GiB is outside 2 MiB .. 2 GiB"),
    (("size: [6000, 14000]", "size: 100000000000"), "disk.files[2].content.size: content size must be between 0 and "
                                                    "67108864 bytes (64 MiB), got 100000000000"),
])
def test_negative_huge_disk_and_100_gb_content_are_one_line_from_validate(tmp_path: Path, args: tuple[str, str],
                                                                          expected: str) -> None:
    spec = tmp_path / "big.yaml"
    spec.write_text(edited(*args))
    line = one_error_line(dflab("scenario", "validate", str(spec), cwd=tmp_path))
    assert line == f"{spec}:{line_of(spec.read_text(), args[1].strip())}: {expected}"


def test_volumes_must_fit_the_disk_in_every_variant() -> None:
    refused(edited("start_mib: {int: [35, 66]}", "start_mib: {int: [20, 66]}"), "start_mib: {int: [20, 66]}",
            "disk.volumes[1].start_mib", r"volume root can start at 20 MiB, before the previous partition ends .*")
    refused(edited("start_mib: {int: [35, 66]}", "start_mib: {int: [35, 70]}"), "label: rootfs",
            "disk.volumes[1].size", r"volume root \(28 MiB at LBA 143360\) ends at LBA 200703, past the disk's last "
            r"usable LBA 196574 \(96 MiB disk, GPT\)")
    refused(edited("label: TRANSFER, size: 34MiB", "label: TRANSFER, size: 8MiB"), "label: TRANSFER",
            "disk.volumes[0].size", r"FAT32 needs at least 65525 clusters .*")
    refused(edited("label: TRANSFER, size: 34MiB", "label: TRANSFER, size: 40MiB"), "label: rootfs",
            "disk.volumes[1].start_mib", r"volume root can start at 35 MiB, before the previous partition ends "
            r"\(the first free MiB is 41 in some variants\)")
    refused(edited("size: [3000, 9000]", "size: [3000, 40000000]"), "size: [3000, 40000000]",
            "disk.files[3].content.size", r"file payroll can be 40000000 bytes, more than its volume root \(28 MiB\)")
    refused(edited("table: {choice: [mbr, gpt]}", "table: {choice: [mbr, apm]}"), "table: {choice",
            "disk.table", r"table is mbr, gpt or \{choice: \[mbr, gpt\]\}, got \{'choice': \['mbr', 'apm'\]\}")
    refused(edited("wrap: {choice: [none, tar, gzip, xz]}", "wrap: {choice: [none, rar]}"), "wrap: {choice",
            "disk.files[6].content.wrap", r"wrap is one of none, tar, gzip, xz .*")


def test_an_error_found_while_resolving_names_file_and_line() -> None:
    """Templates are only known when a variant is resolved; the error still points at the spec's line."""
    text = edited("exfil_port: {int: [4000, 9000]}", "exfil_port: {choice: [high]}")
    spec = parse_spec(text, "spec.yaml")
    with pytest.raises(SpecError) as err:
        resolve(spec, b"\0" * 32)
    assert str(err.value) == f"spec.yaml:{line_of(text, '- {id: exfil, kind: raw')}: network.flows.exfil.port: " \
                             "'high' is not a whole number"


# -- the YAML itself --------------------------------------------------------------------------------------------

def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\nscenario: x\n"


def test_billion_laughs_is_refused_at_its_first_alias(tmp_path: Path) -> None:
    """9^10 values once expanded, 81 aliases in 10 lines: refused from the composed graph, before anything walks it.

    Run through the CLI with a timeout, so that without the guard the test fails instead of hanging the suite.
    """
    spec = tmp_path / "laughs.yaml"
    spec.write_text(billion_laughs())
    line = one_error_line(dflab("scenario", "validate", str(spec), cwd=tmp_path))
    assert line == (f"{spec}:2: YAML aliases expand the file to more than {MAX_NODES} values ('billion laughs'): "
                    "write the values out or use fewer aliases")


def test_two_aliases_per_level_are_refused_too() -> None:
    """A doubling chain: 60 aliases (under the alias limit) that expand to 2^30 values."""
    with pytest.raises(SpecError, match=r"^s\.yaml:2: YAML aliases expand the file to more than"):
        parse_spec(billion_laughs(levels=30, width=2), "s.yaml")


def test_aliases_nesting_and_size_have_limits(tmp_path: Path) -> None:
    many = "v: &v 1\nl: [" + ", ".join(["*v"] * (MAX_ALIASES + 1)) + "]\n"
    with pytest.raises(SpecError, match=rf"^s\.yaml:2: more than {MAX_ALIASES} YAML aliases \(\*name\)"):
        parse_spec(many, "s.yaml")
    with pytest.raises(SpecError, match=rf"^s\.yaml:1: YAML nested more than {MAX_DEPTH} levels deep$"):
        parse_spec("a: " + "[" * 100 + "]" * 100 + "\n", "s.yaml")
    deep = "\n".join(f"b{i}: &b{i} " + "[" * 40 + (f"*b{i - 1}" if i else "1") + "]" * 40 for i in range(5))
    with pytest.raises(SpecError, match=rf"^s\.yaml:2: YAML aliases nest the file more than {MAX_DEPTH} levels deep"):
        parse_spec(deep + "\n", "s.yaml")
    with pytest.raises(SpecError, match=r"^s\.yaml:1: a YAML alias refers to a value that contains it"):
        parse_spec("a: &a [1, *a]\n", "s.yaml")
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"# " + b"x" * MAX_SPEC_BYTES + b"\n")
    with pytest.raises(SpecError, match=rf"^{re.escape(str(huge))}: scenario spec is larger than 1024 KiB$"):
        load_spec(huge)
    with pytest.raises(SpecError, match=r"^/dev/zero: scenario spec is larger than 1024 KiB$"):
        load_spec("/dev/zero")  # read up to the limit, never to the end


def test_a_few_ordinary_aliases_still_work() -> None:
    text = edited("sources: [network, disk, memory],", "sources: &seen [network, disk, memory],")
    text = text.replace("seconds: [20, 120], sources: [memory, disk],", "seconds: [20, 120], sources: *seen,")
    spec = parse_spec(text, "s.yaml")
    assert {e.id: e.sources for e in spec.timeline}["execute"] == ("network", "disk", "memory")
