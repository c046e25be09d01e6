"""The Windows workstation driven by a scenario spec: labs/scenarios/heron.yaml (``platform: windows``) built by
``dflab evidence build`` like the Linux cases, one variant per trainee.

tests/test_windows_workstation.py reads the workstation itself three ways; this module checks what the spec adds:
its errors (one line at file:line), the CLI's builds (a cohort in processes, byte-identical rebuilds, trainees that
differ, verify), a key addressed by role whose facts the real tools read back from the image (TSK's pytsk3 and
fls/icat for the download and its Zone.Identifier, regipy for the computer name), and a golden manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import pytsk3
from regipy.plugins.system.computer_name import ComputerNamePlugin
from regipy.registry import RegistryHive

from dflab.errors import SpecError
from dflab.evidence.key import windows_namespace_names
from dflab.scenario.draw import DEMO_SECRET, variant_seed
from dflab.scenario.load import parse_spec
from dflab.scenario.spec import WINDOWS_STEPS, WindowsSpec
from dflab.scenario.workstation import resolve_workstation
from tests.samples import tool

ROOT = Path(__file__).resolve().parents[1]
HERON = ROOT / "labs" / "scenarios" / "heron.yaml"
GOLDEN = ROOT / "images" / "heron" / "default.manifest.json"
DFLAB = str(Path(sys.executable).with_name("dflab"))

pytestmark = pytest.mark.xdist_group("heron")


def dflab(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DFLAB_COURSE_SECRET"}
    return subprocess.run([DFLAB, *args], capture_output=True, text=True, timeout=900, env=env)


# -- the spec ---------------------------------------------------------------------------------------------------------

def test_the_spec_loads_with_the_story_steps_as_its_timeline():
    spec = parse_spec(HERON.read_text(), str(HERON))
    assert isinstance(spec, WindowsSpec) and spec.platform == "windows"
    assert tuple(e.id for e in spec.timeline) == WINDOWS_STEPS
    resolved = resolve_workstation(spec, variant_seed(DEMO_SECRET, "heron", "default"), "default")
    assert resolved.case.user == resolved.users["victim"] and resolved.case.seed == variant_seed(
        DEMO_SECRET, "heron", "default").hex()
    assert resolved.case.intruder_ip == resolved.hosts["intruder"][1]
    assert set(resolved.answers) >= {"computer_name", "user_sid", "download_url", "deleted_mft_entry"}


def _line(text: str, needle: str) -> int:
    """1-based line of the first line holding ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _swap_steps(text: str) -> str:
    return (text.replace("{id: document_opened,", "{id: @@,").replace("{id: usb_removed,", "{id: document_opened,")
            .replace("{id: @@,", "{id: usb_removed,"))


BAD = {
    "unknown field": (lambda t: t.replace("  domain: WORKGROUP\n", "  domain: WORKGROUP\n  colour: blue\n"),
                      "colour: blue", "workstation.colour"),
    "out of order": (_swap_steps, "{id: document_opened, action: usb",
                     "step 'document_opened' comes after 'usb_removed'"),
    "missing step": (lambda t: re.sub(r"  - \{id: shutdown,.*\n.*\n", "", t), "{id: returned,",
                     "the story's step 'shutdown' is missing after this step"),
    "unknown role": (lambda t: t.replace("  user: victim\n", "  user: victm\n"), "user: victm",
                     "unknown user 'victm'"),
    "unknown platform": (lambda t: t.replace("platform: windows", "platform: macos"), "platform: macos",
                         "'macos' is not one dflab builds"),
}


def _victim(name: str):
    return lambda t: t.replace('{id: victim, name: "{user}"', '{id: victim, name: "' + name + '"')


def _c2(field: str):
    return lambda t: t.replace('hostname: "{c2_domain}", ip: {ip_in: 192.0.2.0/24}', field)


# Names Windows (or DNS, or IPv4) would never have, each one line at its field's line for every trainee: the
# reviewer's reproductions crashed the build with a traceback (activity.py's KeyError for "a/b") while validate said ok.
NAMES = {
    "victim with a slash": (_victim("a/b"), "{id: victim,", "users[0].name: 'a/b': an account name holds"),
    "victim only dots": (_victim(".."), "{id: victim,", "users[0].name: '..': an account name is not only dots"),
    "victim empty": (_victim(""), "{id: victim,", "users[0].name: '': an account name is 1-20 characters (0)"),
    "victim 300 characters": (_victim("u" * 300), "{id: victim,", "an account name is 1-20 characters (300)"),
    "victim with a control": (_victim("a\\x01b"), "{id: victim,", "an account name holds no control character"),
    "victim named as helpdesk": (_victim("HelpDesk"), "{id: helpdesk,",
                                 "users[1].name: 'helpdesk' is also users[0]'s name (ignoring case)"),
    "payload with a colon": (lambda t: t.replace("remittance.exe]", "a:b.exe]"), "payload: \"{payload}\"",
                             "workstation.payload: 'a:b.exe': a Windows file name holds no control character"),
    "document with a trailing dot": (lambda t: t.replace("access_codes.txt]", "pw.txt.]"), "documents:",
                                     "workstation.documents.deleted: 'pw.txt.': a Windows file name does not end"),
    "document with a control": (lambda t: t.replace("access_codes.txt]", '"pw\\tx.txt"]'), "documents:",
                                "workstation.documents.deleted: 'pw\\tx.txt': a Windows file name holds no control"),
    "document a device": (lambda t: t.replace("access_codes.txt]", "nul.txt]"), "documents:",
                          "'nul.txt': CON, PRN, AUX, NUL, COM1-9 and LPT1-9 are device names"),
    "host with credentials": (_c2('hostname: "user:pw@evil.com", ip: 192.0.2.7'), "{id: c2,",
                              "hosts[2].hostname: 'user:pw@evil.com': a host name is labels"),
    "host with a newline": (_c2('hostname: "evil\\ncom", ip: 192.0.2.7'), "{id: c2,",
                            "hosts[2].hostname: 'evil\\ncom': a host name is labels"),
    "host label of 70": (_c2(f"hostname: {'a' * 70}.net, ip: 192.0.2.7"), "{id: c2,", "a host name is labels"),
    "address 0.0.0.0": (_c2("hostname: sync.example.net, ip: 0.0.0.0"), "{id: c2,",
                        "hosts[2].ip: 0.0.0.0: not a unicast IPv4 address"),
    "broadcast address": (_c2("hostname: sync.example.net, ip: 255.255.255.255"), "{id: c2,",
                          "hosts[2].ip: 255.255.255.255: not a unicast IPv4 address"),
    "download with a query": (lambda t: t.replace('"/d/{dl_id}/{payload}"', '"/d/{dl_id}/{payload}?x=1#top"'),
                              "download: {server", "holds no spaces, query ('?') or fragment ('#')"),
    "unknown time zone": (lambda t: t.replace("GMT Standard Time]}", "Mars Standard Time]}"), "  time_zone: \"{",
                          "workstation.time_zone: 'Mars Standard Time': not a time zone dflab writes"),
}
# Ranges that let some trainee's steps collide (the reviewer's usb_removed [0, 2] refused 11 of 21 at build), or
# the download before the browser it names existed: refused at the step's range whatever the trainee.
RANGES = {
    "usb removed with the opening": (lambda t: t.replace("after: document_opened, seconds: [300, 1200]",
                                                         "after: document_opened, seconds: [0, 2]"),
                                     "{id: usb_removed,", "timeline[4].seconds: step usb_removed can fall 0 s after "
                                                         "document_opened for some trainees"),
    "opened before the copies": (lambda t: t.replace("after: usb_inserted,\n     seconds: [120, 600]",
                                                     "after: usb_inserted,\n     seconds: [30, 600]"),
                                 "seconds: [30, 600]", "it must fall more than 46 s after it (the writers' least gap)"),
    "download before chrome 127.0.6533.120": (lambda t: t.replace('"2024-07-17", ', '"2024-02-01", '),
                                              "seconds: [120, 420]", "timeline[6].seconds: the download can fall on "
                                                                  "2024-02-29, before Chrome 127.0.6533.120"),
}
BAD |= NAMES | RANGES


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_spec_is_one_line_at_its_file_and_line(case, tmp_path):
    edit, at, what = BAD[case]
    text = edit(HERON.read_text())
    path = tmp_path / "heron.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        parse_spec(text, str(path))
    message = str(err.value)
    assert "\n" not in message and what in message
    assert message.startswith(f"{path}:{_line(text, at)}:"), message


def test_an_answer_naming_no_fact_is_its_line_before_anything_is_built(tmp_path):
    text = HERON.read_text().replace('user_sid: "{users.victim.sid}"', 'user_sid: "{users.victim.uid}"')
    path = tmp_path / "heron.yaml"
    path.write_text(text)
    spec = parse_spec(text, str(path))  # answers are checked when a variant is resolved, as for Linux specs
    with pytest.raises(SpecError) as err:
        resolve_workstation(spec, b"\0" * 32)
    assert str(err.value).startswith(f"{path}:{_line(text, 'users.victim.uid')}: answers.user_sid: unknown reference")
    run = dflab("evidence", "build", str(path), "--out", str(tmp_path / "out"), "--secret", "s3cret")
    errors = [line for line in run.stderr.splitlines() if line.startswith("dflab: error: ")]
    assert run.returncode == 2 and len(errors) == 1 and "Traceback" not in run.stderr, run.stderr
    assert "answers.user_sid: unknown reference {users.victim.uid}" in errors[0]
    assert not (tmp_path / "out" / "default").exists()


# -- builds through the CLI -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> Path:
    """default and alice as a cohort (two worker processes), default again on its own elsewhere."""
    root = tmp_path_factory.mktemp("heron")
    run = dflab("evidence", "build", str(HERON), "--out", str(root / "a"), "--trainee", "default", "--trainee",
                "alice", "--workers", "2")
    assert run.returncode == 0, run.stderr
    again = dflab("evidence", "build", str(HERON), "--out", str(root / "b"), "--trainee", "default")
    assert again.returncode == 0, again.stderr
    return root


def _key(variant: Path) -> dict:
    return json.loads((variant / "key" / "answer_key.json").read_text())


def test_a_variant_holds_the_disk_and_the_capture_with_a_key_in_the_shared_format(builds):
    variant = builds / "a" / "default"
    manifest = json.loads((variant / "evidence" / "manifest.json").read_text())
    assert [f["path"] for f in manifest["files"]] == ["capture.pcapng", "disk.img"]
    key = _key(variant)
    assert key["format"] == "dflab-answer-key/1" and key["scenario"] == "heron" and key["variant"] == "default"
    assert key["evidence_items"] == manifest["files"]
    assert key["evidence_manifest_sha256"] == hashlib.sha256(
        (variant / "evidence" / "manifest.json").read_bytes()).hexdigest()
    assert [e["id"] for e in key["timeline"]] == list(WINDOWS_STEPS)
    assert {"windows", "disk", "network"} <= set(key["facts"])
    assert not (variant / "evidence" / "answer_key.json").exists()


def test_the_same_trainee_rebuilds_byte_identical(builds):
    for part in ("evidence/manifest.json", "key/answer_key.json"):
        assert (builds / "a" / "default" / part).read_bytes() == (builds / "b" / "default" / part).read_bytes()


def test_two_trainees_get_different_machines_and_answers(builds):
    one, two = _key(builds / "a" / "default")["answers"], _key(builds / "a" / "alice")["answers"]
    assert one.keys() == two.keys()
    differ = {name for name in one if one[name] != two[name]}
    assert {"user_sid", "usb_serial", "payload_sha256", "download_time", "intruder_ip", "deleted_path"} <= differ
    assert "computer_name" in differ or "user_name" in differ


def test_the_key_is_addressed_by_role_never_by_position(builds):
    key = _key(builds / "a" / "default")
    facts = key["facts"]["windows"]

    def lists(node, path=""):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from lists(v, f"{path}.{k}")
        elif isinstance(node, list):
            yield path

    # the workstation's own lists (accounts, logons, MFT references) are keyed by role; the capture's are its own
    assert not [p for p in lists(facts) if p.split(".")[1] in ("accounts", "logons") or p.endswith(".mft")]
    assert facts["accounts"]["victim"]["sid"] == key["answers"]["user_sid"]
    assert facts["logons"]["returned"]["ip"] == key["answers"]["intruder_ip"] == key["namespace"]["hosts.intruder.ip"]
    assert facts["deleted"]["mft"] == {"entry": key["answers"]["deleted_mft_entry"], "sequence": 2}
    assert set(key["namespace"]) == windows_namespace_names(parse_spec(HERON.read_text(), str(HERON)))
    assert key["facts"]["network"]["intruder_ip"] == key["answers"]["intruder_ip"]  # the capture names the same one


def test_verify_passes_and_catches_a_flipped_byte(builds, tmp_path):
    variant = builds / "a" / "alice"
    ok = dflab("evidence", "verify", str(variant))
    assert ok.returncode == 0, ok.stderr
    copy = tmp_path / "alice"
    subprocess.run(["cp", "-a", "--sparse=always", str(variant), str(copy)], check=True)
    key = _key(copy)
    at = key["facts"]["disk"]["volumes"]["windows"]["start_sector"] * 512 + 3  # the NTFS boot sector's OEM id
    with open(copy / "evidence" / "disk.img", "r+b") as fh:
        fh.seek(at)
        byte = fh.read(1)
        fh.seek(at)
        fh.write(bytes([byte[0] ^ 1]))
    bad = dflab("evidence", "verify", str(copy))
    assert bad.returncode == 3
    assert "disk.img: sha256 differs" in bad.stderr and "1 file(s) do not match the manifest" in bad.stderr


# -- the key's facts, read back from the image by the real tools ------------------------------------------------------

def _volume(builds: Path) -> tuple[Path, dict, pytsk3.FS_Info, int]:
    variant = builds / "a" / "default"
    key = _key(variant)
    image = variant / "evidence" / "disk.img"
    offset = key["facts"]["disk"]["volumes"]["windows"]["start_sector"]
    assert key["facts"]["disk"]["volumes"]["windows"]["fs"] == "ntfs"
    return image, key, pytsk3.FS_Info(pytsk3.Img_Info(str(image)), offset=offset * 512), offset


def _tsk_path(windows_path: str) -> str:
    return "/" + windows_path.removeprefix("C:\\").replace("\\", "/")


def test_the_download_and_its_zone_identifier_are_where_the_key_says(builds):
    image, key, fs, offset = _volume(builds)
    answers = key["answers"]
    payload = fs.open(_tsk_path(answers["download_path"]))
    data = payload.read_random(0, payload.info.meta.size)
    assert hashlib.sha256(data).hexdigest() == answers["payload_sha256"]
    assert payload.info.meta.addr == key["namespace"]["files.payload.mft_entry"]
    # fls names the alternate data stream; icat reads it by its attribute address
    listing = subprocess.run([tool("fls"), "-r", "-p", "-o", str(offset), str(image)], capture_output=True,
                             check=True, text=True).stdout
    ads = _tsk_path(answers["download_path"])[1:] + ":Zone.Identifier"
    address = next(line.split(":\t")[0].split()[-1] for line in listing.splitlines() if line.endswith("\t" + ads))
    assert address.startswith(f"{payload.info.meta.addr}-128-")
    zone = subprocess.run([tool("icat"), "-o", str(offset), str(image), address], capture_output=True,
                          check=True).stdout.decode()
    assert "ZoneId=3\r\n" in zone and f"HostUrl={answers['download_url']}\r\n" in zone


def test_the_computer_name_in_the_system_hive_is_the_keys(builds, tmp_path):
    _, key, fs, _ = _volume(builds)
    hive = fs.open("/Windows/System32/config/SYSTEM")
    path = tmp_path / "SYSTEM"
    path.write_bytes(hive.read_random(0, hive.info.meta.size))
    plugin = ComputerNamePlugin(RegistryHive(str(path)), as_json=False)
    plugin.run()
    assert [entry["name"] for entry in plugin.entries] == [key["answers"]["computer_name"]]


def test_the_golden_manifest_has_not_drifted(builds):
    """images/heron/default.manifest.json was built on another machine (images/README.md says how to remake it)."""
    assert json.loads((builds / "a" / "default" / "evidence" / "manifest.json").read_text()) == \
        json.loads(GOLDEN.read_text())



def test_a_linux_lab_on_the_windows_case_is_one_line(tmp_path):
    """lab check and validate say at once that a lab reads the other platform's evidence (nothing is built)."""
    run = dflab("lab", "check", "02-disk", "--scenario", str(HERON), "--keep", str(tmp_path / "work"))
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.strip() == ("dflab: error: --scenario: lab 02-disk reads a linux case and heron.yaml is a "
                                  "windows one: choose a linux scenario")
    assert not (tmp_path / "work").exists()


def test_a_range_the_story_cannot_hold_is_its_steps_line(tmp_path):
    """The writers' own limit (the copies from the stick take most of a minute) is found when the spec is read, at the
    step's range, for every trainee (not only those whose draw collides), before anything is built."""
    text = HERON.read_text().replace("after: usb_inserted,\n     seconds: [120, 600]",
                                     "after: usb_inserted,\n     seconds: [10, 20]")
    path = tmp_path / "heron.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        parse_spec(text, str(path))
    assert str(err.value).startswith(f"{path}:{_line(text, 'seconds: [10, 20]')}: timeline[3].seconds: step "
                                     "document_opened can fall 10 s after usb_inserted"), str(err.value)


@pytest.mark.parametrize("case", ["victim with a slash", "payload with a colon", "host with credentials",
                                  "usb removed with the opening"])
def test_validate_and_build_refuse_the_same_one_line(case, tmp_path):
    """What crashed the build with a traceback while validate said ok is now one and the same line from both."""
    edit, at, what = BAD[case]
    text = edit(HERON.read_text())
    path = tmp_path / "heron.yaml"
    path.write_text(text)
    said = []
    for args in (("scenario", "validate", str(path)),
                 ("evidence", "build", str(path), "--out", str(tmp_path / "out"), "--trainee", "t2")):
        run = dflab(*args)
        assert run.returncode == 2 and "Traceback" not in run.stderr and run.stderr.count("\n") == 1, run.stderr
        said.append(run.stderr)
    assert said[0] == said[1] and what in said[0], said
    assert said[0].startswith(f"dflab: error: {path}:{_line(text, at)}:"), said[0]
    assert not (tmp_path / "out" / "t2").exists()


def test_the_case_refuses_what_windows_never_allows():
    """Defence in depth: a case built in code (no spec) is refused the same names, one line each."""
    from dataclasses import replace

    from dflab.errors import DflabError
    from dflab.evidence.windows.workstation.description import User

    case = resolve_workstation(parse_spec(HERON.read_text(), str(HERON)), b"\0" * 32).case
    for change in ({"payload_name": "a:b.exe"}, {"documents": ("a.xlsx", "b.docx", "CON")},
                   {"user": User("..", 1001)}, {"user": User("HELPDESK", 1001)}, {"c2_host": "evil\ncom"},
                   {"c2_ip": "255.255.255.255"}, {"download_url": "http://x.example/a.exe?q=1"}):
        with pytest.raises(DflabError) as err:
            replace(case, **change)
        assert "\n" not in err.value.what, change


def test_a_victim_of_another_users_name_gets_its_own_sid(builds):
    """The key's accounts by RID, not by name: two accounts of one name (as the reviewer's ``user: helpdesk``
    beside the helpdesk account made them) each keep their own SID (by name, the victim got helpdesk's)."""
    from types import SimpleNamespace

    from dflab.evidence.key import windows_facts, windows_namespace
    from dflab.evidence.windows.workstation.description import User

    key = _key(builds / "a" / "default")
    resolved = resolve_workstation(parse_spec(HERON.read_text(), str(HERON)),
                                   variant_seed(DEMO_SECRET, "heron", "default"), "default")
    facts = json.loads(json.dumps(key["facts"]["windows"]))
    facts["accounts"] = [dict(a, name="helpdesk") for a in facts["accounts"].values()]
    facts["logons"] = list(facts["logons"].values())
    for section in facts.values():
        if isinstance(section, dict) and isinstance(section.get("mft"), dict):
            section["mft"] = [section["mft"]["entry"], section["mft"]["sequence"]]
    same = SimpleNamespace(**{**vars(resolved), "users": {ident: User("helpdesk", u.rid, u.full_name)
                                                          for ident, u in resolved.users.items()}})
    ns = windows_namespace(same, windows_facts(same, resolved.decided, facts))
    assert ns["users.victim.sid"].endswith("-1001") and ns["users.helpdesk.sid"].endswith("-1002")
    assert ns["users.victim.sid"] == key["answers"]["user_sid"]


def test_the_c2_host_the_time_zone_and_the_browser_agree_with_the_spec(builds):
    """The case carries the spec's C2 host name (what the capture names, netplan.py); the time zone is drawn from
    those whose TimeZoneInformation dflab writes, on daylight time when the machine last shut down in August; the
    story happens while the browser's Chrome release was current."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from dflab.evidence.windows.browser.version import CHROME_RELEASED, CHROME_SUPERSEDED
    from dflab.evidence.windows.workstation.description import TIME_ZONES
    from dflab.scenario.spec import WINDOWS_TIME_ZONES

    assert set(TIME_ZONES) == set(WINDOWS_TIME_ZONES)
    spec = parse_spec(HERON.read_text(), str(HERON))
    zones, c2_hosts = set(), set()
    c2_choices = set(spec.variables["c2_domain"]["choice"])
    for trainee in ("default", "alice", "bob", "carol", "dave", "erin", "frank"):
        resolved = resolve_workstation(spec, variant_seed(DEMO_SECRET, "heron", trainee), trainee)
        case = resolved.case
        assert case.c2_host == resolved.variables["c2_domain"] in c2_choices
        c2_hosts.add(case.c2_host)
        assert case.time_zone == replace(TIME_ZONES[case.time_zone.key_name], in_daylight_time=True)
        start = datetime.combine(CHROME_RELEASED, datetime.min.time(), UTC)
        end = datetime.combine(CHROME_SUPERSEDED, datetime.min.time(), UTC)
        assert start < case.timeline.logon < case.timeline.downloaded < end
        zones.add(case.time_zone.key_name)
    assert len(zones) > 1 and len(c2_hosts) > 1
    key = _key(builds / "a" / "default")
    assert key["namespace"]["hosts.c2.hostname"] == key["facts"]["network"]["c2_host"] in c2_choices
    assert key["answers"]["time_zone"] in WINDOWS_TIME_ZONES
