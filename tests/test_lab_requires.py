"""lab.yaml's ``requires:`` (the scenario roles a lab needs) and ``dflab scenario validate`` checking a spec against
the labs that use it (dflab/lab_requires.py): each shortfall one line at the spec's file:line, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from dflab.errors import DflabError
from dflab.grading.checks import load_checks
from dflab.lab_meta import FlowRole, Requires, VolumeRole, for_trainees, load_lab, parse_lab
from dflab.lab_requires import lab_platform, lab_problems, labs_for, undeclared
from dflab.scenario.load import load_spec, parse_spec, platform_of
from dflab.scenario.spec import FlowSpec, VolumeSpec

ROOT = Path(__file__).resolve().parents[1]
LABS = ROOT / "labs"
NIGHTJAR = LABS / "scenarios" / "nightjar.yaml"
HERON = LABS / "scenarios" / "heron.yaml"
LAB_IDS = sorted(p.parent.name for p in LABS.glob("*/lab.yaml"))
# A lab reads one platform's evidence (ext4 and volatility, or NTFS and the registry): it is checked against the
# bundled cases of its platform, and a Linux spec's shortfalls are the Linux labs'.
CASES = {p.stem: p for p in sorted((LABS / "scenarios").glob("*.yaml"))}
PLATFORMS = {name: platform_of(load_spec(path)) for name, path in CASES.items()}
LAB_CASES = [(lab, case) for lab in LAB_IDS for case in CASES if PLATFORMS[case] == lab_platform(LABS / lab)]
LINUX_LABS = [lab for lab in LAB_IDS if lab_platform(LABS / lab) == "linux"]


def dflab(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dflab.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(cwd),
                                            "DFLAB_COURSE_SECRET": "test-secret"})


def edited(text: str, *changes: tuple[str, str]) -> str:
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


# -- lab.yaml's requires: ------------------------------------------------------------------------------

def test_the_roles_a_lab_may_ask_about_are_the_specs() -> None:
    """lab_meta writes the spec's file systems and flow kinds out (the trainee's kernel does not import the spec)."""
    assert set(get_args(get_args(VolumeRole.model_fields["fs"].annotation)[0])) == \
        set(get_args(VolumeSpec.model_fields["fs"].annotation))
    assert set(get_args(get_args(FlowRole.model_fields["kind"].annotation)[0])) == \
        set(get_args(FlowSpec.model_fields["kind"].annotation))


def test_requires_reads_short_and_long_forms() -> None:
    meta = load_lab(LABS, "02-disk")
    assert meta.requires.roles()["volumes"] == ("root", "transfer")
    assert meta.requires.volumes["root"].fs == "ext4" and meta.requires.files["payload"].deleted is True
    assert meta.requires.events == {"download": meta.requires.events["download"]}  # [download]: no conditions
    assert load_lab(LABS, "01-live").requires.roles() == {kind: () for kind in meta.requires.roles()}


@pytest.mark.parametrize(("old", "new", "at", "message"), [
    ("    root: {fs: ext4}", "    root: {fs: ntfs}", "    root: {fs: ntfs}",
     "requires.volumes.root.fs: must be one of 'ext4' or 'fat32'"),
    ("    transfer: {fs: fat32}", "    transfer: {fs: fat32, size: 34MiB}", "    transfer:",
     "requires.volumes.transfer.size: unknown field"),
    ("    payload: {volume: root, deleted: true}", "    payload: {volume: home, deleted: true}", "    payload:",
     "requires.files: file 'payload' is needed on volume 'home', which volumes: does not list"),
    ("  events: [download]", "  events: [download, download]", "  events:",
     "requires.events: role 'download' is listed twice"),
    ("  events: [download]", "  events: [Download]", "  events:",
     "requires.events: role id 'Download': a spec's id (lower-case letters, digits, _ and -, starting with a letter)"),
    ("  events: [download]", "  events: download", "  events:",
     "requires.events: a list of role ids, or a mapping of role id to what the lab needs of it"),
    ("  events: [download]", "  event: [download]", "  event:", "requires.event: unknown field"),
])
def test_a_mistake_in_requires_is_one_line_at_its_file_and_line(tmp_path: Path, old: str, new: str, at: str,
                                                                message: str) -> None:
    shutil.copytree(LABS / "02-disk", tmp_path / "02-disk")
    path = tmp_path / "02-disk" / "lab.yaml"
    text = edited(path.read_text(encoding="utf-8"), (old, new))
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DflabError) as err:
        load_lab(tmp_path, "02-disk")
    assert str(err.value) == f"{path}:{line_of(text, at)}: {message}"


@pytest.mark.parametrize("lab", LAB_IDS)
def test_trainees_get_lab_yaml_without_requires_and_otherwise_as_written(lab: str) -> None:
    """Roles are for course teams: in a release they would hint at the solution, and a role id can spell a drawn
    answer (Nightjar's stick is volume `transfer`, one of the FTP user names trainees draw)."""
    text = (LABS / lab / "lab.yaml").read_text(encoding="utf-8")
    released = for_trainees(text, "lab.yaml")
    assert "requires" not in released and "transfer" not in released and "ftp-upload" not in released
    assert released.splitlines() == [line for line in text.splitlines() if line in released.splitlines()]
    meta, kept = load_lab(LABS, lab), parse_lab(released, "lab.yaml")
    assert kept.model_dump(exclude={"requires"}) == meta.model_dump(exclude={"requires"})
    assert kept.requires == Requires()


def test_only_requires_and_its_own_comments_are_left_out() -> None:
    text = ("id: x\n# why these roles\nrequires:\n  volumes: [root]\n  # the files\n  files: [a]\n"
            "# the shapes\nanswers:\n  a: {shape: text}\n")
    assert for_trainees(text, "t") == "id: x\n# the shapes\nanswers:\n  a: {shape: text}\n"
    assert for_trainees("id: x\nrequires: {hosts: [c2]}\nanswers: {a: {shape: int}}\n", "t") == \
        "id: x\nanswers: {a: {shape: int}}\n"
    assert for_trainees("id: x\nanswers: {a: {shape: int}}\n", "t") == "id: x\nanswers: {a: {shape: int}}\n"
    with pytest.raises(DflabError, match=r"^t: requires: must be written on lines of its own"):
        for_trainees("{id: x, requires: {hosts: [c2]}, answers: {a: {shape: int}}}\n", "t")


@pytest.mark.parametrize("lab", LAB_IDS)
def test_every_role_a_bundled_grader_reads_is_declared(lab: str) -> None:
    assert undeclared(LABS / lab, load_lab(LABS, lab), load_checks(LABS / lab / "grader.yaml")) == []


def test_every_bundled_lab_has_a_bundled_case_of_its_platform() -> None:
    """Each lab names a bundled scenario, so its platform is known and it is checked against at least one case."""
    assert all(lab_platform(LABS / lab) in ("linux", "windows") for lab in LAB_IDS)
    assert sorted({lab for lab, _ in LAB_CASES}) == LAB_IDS
    assert {PLATFORMS[case] for case in CASES} == {"linux", "windows"}


@pytest.mark.parametrize(("lab", "case"), LAB_CASES)
def test_every_bundled_case_has_all_its_platforms_labs_require(lab: str, case: str) -> None:
    spec = parse_spec(CASES[case].read_text(encoding="utf-8"), f"{case}.yaml")
    assert lab_problems(LABS / lab, spec, f"{case}.yaml") == []


def test_a_grader_reading_an_undeclared_role_is_the_labs_mistake_at_the_graders_line(tmp_path: Path) -> None:
    shutil.copytree(LABS / "02-disk", tmp_path / "02-disk")
    grader = tmp_path / "02-disk" / "grader.yaml"
    text = edited(grader.read_text(encoding="utf-8"), ("  slack_secret:          {compare: exact}",
                                                       "  slack_secret:          {compare: exact, "
                                                       "key: namespace.hosts.c2.hostname}"))
    grader.write_text(text, encoding="utf-8")
    problems = lab_problems(tmp_path / "02-disk", parse_spec(NIGHTJAR.read_text(encoding="utf-8"), "n.yaml"), "n.yaml")
    assert problems == [f"{grader}:{line_of(text, 'slack_secret:')}: the grader reads host 'c2', which lab.yaml's "
                        "requires: does not list"]


# -- a spec against the labs ---------------------------------------------------------------------------

SPEC = NIGHTJAR.read_text(encoding="utf-8")
# A spec edit, then (the line it concerns, what follows 'lab <id>' in the problem) for each lab it breaks.
SHORTFALLS = {
    "stick-not-fat32": ((("{id: transfer, fs: fat32,", "{id: transfer, fs: ext4,"),),
                        {"02-disk": [("{id: transfer,",
                                      " requires volume 'transfer' to be fat32 (the spec's is ext4)")]}),
    "note-missing": ((("{id: usb-note,", "{id: usb-memo,"),),
                     {"02-disk": [("{id: hostname, volume: root",
                                   " requires file 'usb-note' (the spec has: hostname, passwd, forecast, payroll, "
                                   "board, payload, archive, history, usb-report, usb-memo, auth-log, syslog, wtmp, "
                                   "btmp, lastlog, contract, budget, audit-report, photo, places, firefox-profiles, "
                                   "firefox-installs)")]}),
    "payload-kept": ((('accessed: "@execute",\n       deleted: "@cleanup"}', 'accessed: "@execute"}'),),
                     {lab: [("{id: payload,", " requires file 'payload' to be deleted (the spec never deletes it: set "
                             "deleted:)")] for lab in ("02-disk", "04-network", "05-capstone")}),
    "archive-honest": ((("owner: suspect, type_lies: true,", "owner: suspect,"),),
                       {"02-disk": [("{id: archive,", " requires file 'archive' to have an extension that lies about "
                                     "its content (type_lies: true)")]}),
    "no-slack": (((', slack: "DRAFT wire transfer to account {account}"', ""),),
                 {"02-disk": [("{id: forecast,", " requires file 'forecast' to hide text in its slack (slack:)")]}),
    "helper-visible": ((("exe: /tmp/.cache/.kw, hidden: true,", "exe: /tmp/.cache/.kw, hidden: false,"),),
                       {"03-memory": [("/.kw, hidden: false,", " requires process 'hidden' to be hidden from the "
                                       "task list (hidden: true)")]}),
    "no-shellcode": ((("      inject: shellcode\n", ""),),
                     {"03-memory": [("    - id: implant", " requires process 'implant' to hold injected code "
                                     "(inject:)")]}),
    "exfil-over-http": (((' port: "{exfil_port}",\n       upload: {file: archive}, label: exfiltration}',
                          ' uri: /up, body: {text: "ok"}}'), ("{id: exfil, kind: raw,", "{id: exfil, kind: http,")),
                        {lab: [("{id: exfil, kind:", " requires flow 'exfil' to be a raw flow (the spec's is http)")]
                         for lab in ("04-network", "05-capstone")}),
    "no-slack-answer": ((('  slack_secret: "{files.forecast.slack}"\n', ""),),
                        {"02-disk": [('  suspect_user: "', "'s grader reads answer 'slack_secret', which the spec's "
                                      "answers: does not define")]}),
}


@pytest.mark.parametrize("case", sorted(SHORTFALLS))
def test_each_shortfall_of_a_spec_is_one_line_at_the_specs_line_for_each_lab_it_breaks(case: str) -> None:
    changes, broken = SHORTFALLS[case]
    text = edited(SPEC, *changes)
    spec = parse_spec(text, "case.yaml")
    for lab in LINUX_LABS:
        want = [f"case.yaml:{line_of(text, at)}: lab {lab}{what}"
                for at, what in broken.get(lab, [])]
        assert lab_problems(LABS / lab, spec, "case.yaml") == want, lab


def test_validate_passes_the_bundled_spec_against_every_lab_that_uses_it() -> None:
    assert [d.name for d in labs_for("nightjar")] == LINUX_LABS
    proc = dflab("scenario", "validate", str(NIGHTJAR))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert f"has every role and answer lab(s) {', '.join(LINUX_LABS)} require" in proc.stdout


def test_validate_passes_the_windows_spec_and_prints_its_plan() -> None:
    """heron.yaml (platform: windows) through the CLI: the plan's table, then the labs that use it."""
    windows = [lab for lab in LAB_IDS if lab_platform(LABS / lab) == "windows"]
    assert windows and [d.name for d in labs_for("heron")] == windows
    proc = dflab("scenario", "validate", str(HERON))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "heron v1: Operation Heron" in proc.stdout
    for row in ("disk", "network", "timeline"):
        assert f"│ {row} " in proc.stdout, row
    assert f"ok {HERON} is valid (variant 'default' resolved)" in proc.stdout
    assert f"has every role and answer lab(s) {', '.join(windows)} require" in proc.stdout


def test_validate_of_the_windows_spec_against_a_linux_lab_fails_in_lines_not_a_traceback() -> None:
    """A Windows case cannot serve a lab that reads ext4 and volatility: the command fails, each problem one line
    at a file (the spec's, or the lab's notebook), the last line dflab's error naming the lab."""
    proc = dflab("scenario", "validate", str(HERON), "--lab", "02-disk")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    *lines, last = proc.stderr.splitlines()
    assert last.startswith("dflab: error: ") and "02-disk" in last, last
    assert all(line.startswith((str(HERON), str(LABS / "02-disk"))) for line in lines), lines
    assert "has every role" not in proc.stdout


def test_validate_names_each_role_a_renamed_volume_takes_from_the_labs(tmp_path: Path) -> None:
    """The brief's case: volume ``root`` renamed ``system``. Labs 02, 04 and 05 read the root file system; each says so
    at the spec's volumes, and the command fails with one summary line, never a traceback."""
    text = SPEC.replace("{id: root, fs: ext4", "{id: system, fs: ext4").replace("volume: root", "volume: system")
    spec = tmp_path / "renamed.yaml"
    spec.write_text(text, encoding="utf-8")
    proc = dflab("scenario", "validate", str(spec), cwd=tmp_path)
    at = f"{spec}:{line_of(text, '{id: transfer,')}"
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [
        *(f"{at}: lab {lab} requires volume 'root' (the spec has: transfer, system)"
          for lab in ("02-disk", "04-network", "05-capstone")),
        f"dflab: error: {spec}: 3 problem(s) above: lab(s) 02-disk, 04-network, 05-capstone cannot run on this spec"]
    only = dflab("scenario", "validate", str(spec), "--lab", "04-network", cwd=tmp_path)
    assert only.returncode == 2 and only.stderr.splitlines()[0] == \
        f"{at}: lab 04-network requires volume 'root' (the spec has: transfer, system)"
    assert len(only.stderr.splitlines()) == 2


def test_validate_checks_a_lab_folder_given_with_lab_whatever_scenario_it_names(tmp_path: Path) -> None:
    shutil.copytree(LABS / "02-disk", tmp_path / "02-disk")
    path = tmp_path / "02-disk" / "lab.yaml"
    path.write_text(edited(path.read_text(encoding="utf-8"), ("scenario: nightjar", "scenario: plover"),
                           ("  events: [download]", "  events: [download]\n  hosts: [mole]")), encoding="utf-8")
    proc = dflab("scenario", "validate", str(NIGHTJAR), "--lab", str(tmp_path / "02-disk"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[0] == (f"{NIGHTJAR}:{line_of(SPEC, '{id: suspect, hostname:')}: lab 02-disk "
                                           "requires host 'mole' (the spec has: suspect, gateway, resolver, intranet, "
                                           "c2, drop)")
    nope = dflab("scenario", "validate", str(NIGHTJAR), "--lab", "07-nope")
    assert nope.returncode == 2 and nope.stderr.splitlines() == [
        f"dflab: error: --lab: no lab '07-nope': neither a folder holding lab.yaml nor a bundled lab "
        f"({', '.join(LAB_IDS)})"]


def test_a_spec_no_lab_uses_is_valid_on_its_own(tmp_path: Path) -> None:
    spec = tmp_path / "plover.yaml"
    spec.write_text(SPEC.replace("scenario: nightjar", "scenario: plover"), encoding="utf-8")
    proc = dflab("scenario", "validate", str(spec), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "no bundled lab uses scenario 'plover'" in proc.stdout
