"""End-to-end evidence builds of the bundled case, checked with the real tools.

These are the tests that prove the three kinds of evidence tell one story:
the payload's bytes recovered by TSK from the disk (by the inode the key
names) equal the HTTP object tshark extracts from the capture, and the
process volatility3 finds in memory runs that file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dflab.errors import DflabError
from dflab.evidence import build as build_mod
from dflab.evidence.build import build_variant
from dflab.evidence.manifest import verify
from dflab.forensics.disk import name_history, recover_from_journal
from dflab.scenario.draw import DEMO_SECRET
from dflab.scenario.load import load_spec
from tests.haystack import small_text

ROOT = Path(__file__).resolve().parents[1]
NIGHTJAR = ROOT / "labs" / "scenarios" / "nightjar.yaml"
GOLDEN = ROOT / "images" / "nightjar" / "default.manifest.json"
VOL = Path(sys.executable).with_name("vol")

pytestmark = pytest.mark.xdist_group("build")


@pytest.fixture(scope="module")
def spec():
    return load_spec(NIGHTJAR)


@pytest.fixture(scope="module")
def built(tmp_path_factory, spec):
    """alice twice (in different places) and bob once."""
    root = tmp_path_factory.mktemp("builds")
    return {name: build_variant(spec, DEMO_SECRET, trainee, root / name)
            for name, trainee in (("alice", "alice"), ("alice2", "alice"), ("bob", "bob"))}


def _key(result) -> dict:
    return json.loads((result.out / "key" / "answer_key.json").read_text())


def _manifest(result) -> dict:
    return json.loads((result.out / "evidence" / "manifest.json").read_text())


def _run(*cmd: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, check=True, timeout=300)
    return proc.stdout.decode(errors="replace")


def test_layout_and_manifest(built):
    ev = built["alice"].out / "evidence"
    names = {f["path"] for f in _manifest(built["alice"])["files"]}
    assert {"disk.img", "memory.lime", "network.pcap", "network.pcapng"} <= names
    assert any(n.startswith("symbols/linux/") and n.endswith(".json") for n in names)
    assert verify(ev) == []
    assert not (ev / "answer_key.json").exists()  # the key never sits with the evidence
    assert not list(built["alice"].out.parent.glob(".*.part"))


def test_same_trainee_is_byte_identical(built):
    assert _manifest(built["alice"]) == _manifest(built["alice2"])
    assert (built["alice"].out / "key" / "answer_key.json").read_bytes() == \
        (built["alice2"].out / "key" / "answer_key.json").read_bytes()


def test_different_trainees_get_different_evidence_and_answers(built):
    a, b = _manifest(built["alice"]), _manifest(built["bob"])
    assert {f["path"]: f["sha256"] for f in a["files"]}["disk.img"] != \
        {f["path"]: f["sha256"] for f in b["files"]}["disk.img"]
    ka, kb = _key(built["alice"])["answers"], _key(built["bob"])["answers"]
    assert ka["payload_sha256"] != kb["payload_sha256"]
    assert ka["ftp_password"] != kb["ftp_password"]


def test_golden_manifest_matches_any_machine(tmp_path, spec):
    """The committed manifest of the default variant was made on another machine: same bytes here."""
    res = build_variant(spec, DEMO_SECRET, "default", tmp_path / "default")
    assert _manifest(res) == json.loads(GOLDEN.read_text())


def test_key_answers_match_the_real_tools(built):
    """Disk (TSK), network (tshark) and memory (volatility3) agree with the key and with each other."""
    res = built["alice"]
    ev = res.out / "evidence"
    key = _key(res)
    ans = key["answers"]
    disk = key["facts"]["disk"]
    root = disk["volumes"]["root"]  # by role: the partition holding volume root, wherever the table puts it
    # Disk: the deleted payload is an orphan at the inode the key names (Linux's unlink wiped its name and emptied
    # the inode, so icat reads nothing); its name and its bytes come back from the journal, with the key's hash.
    deleted = _run("fls", "-r", "-d", "-p", "-o", str(root["start_sector"]), str(ev / "disk.img"))
    assert f"$OrphanFiles/OrphanFile-{ans['payload_inode']}" in deleted
    data = subprocess.run(["icat", "-o", str(root["start_sector"]), str(ev / "disk.img"), str(ans["payload_inode"])],
                          capture_output=True, check=True).stdout
    assert data == b""
    image, inode, offset = ev / "disk.img", ans["payload_inode"], root["start_sector"] * 512
    assert ans["payload_path"] in set(name_history(image, inode, partition=offset)["path"])
    recovered = recover_from_journal(image, inode, res.out.parent / "payload", partition=offset)
    assert recovered["sha256"] == ans["payload_sha256"]
    # Network: the HTTP object tshark exports is the same file.
    out = Path(res.out.parent / "objects")
    _run("tshark", "-r", str(ev / "network.pcap"), "-q", "--export-objects", f"http,{out}")
    hashes = {hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir()}
    assert ans["payload_sha256"] in hashes
    for capture in ("network.pcap", "network.pcapng"):
        flagged = _run("tshark", "-r", str(ev / capture), "-Y", "_ws.malformed || _ws.expert.severity >= error")
        assert flagged.strip() == "", f"{capture}: malformed packets or expert errors:\n{flagged[:2000]}"
    creds = _run("tshark", "-r", str(ev / "network.pcap"), "-Y", "ftp.request.command == \"PASS\"", "-T", "fields",
                 "-e", "ftp.request.arg")
    assert creds.split() == [ans["ftp_password"]]
    # Memory: the implant runs with the key's pid and command line; the hidden one only psscan sees.
    symbols = ev / "symbols"
    cache = res.out.parent / "volcache"
    cache.mkdir(exist_ok=True)

    def vol(plugin: str) -> list[dict]:
        text = _run(str(VOL), "-q", "-r", "json", "--offline", "--cache-path", str(cache), "-s", str(symbols),
                    "-f", str(ev / "memory.lime"), plugin)
        return json.loads(text)

    psaux = {row["PID"]: row["ARGS"] for row in vol("linux.psaux.PsAux")}
    assert psaux[ans["implant_pid"]] == ans["implant_cmdline"]
    assert ans["hidden_pid"] not in {row["PID"] for row in vol("linux.pslist.PsList")}
    assert ans["hidden_pid"] in {row["PID"] for row in vol("linux.psscan.PsScan")}


def test_failed_build_leaves_nothing(tmp_path, spec, monkeypatch):
    def boom(case, out_dir):
        (out_dir / "network.pcap").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(build_mod, "write_network", boom)
    with pytest.raises(DflabError, match=r"cannot write: No space left on device"):
        build_variant(spec, DEMO_SECRET, "zed", tmp_path / "zed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_an_interrupted_cohort_leaves_no_temporary_and_no_empty_folder(tmp_path, monkeypatch, workers):
    """Ctrl-C while bob builds: bob's temporary build and the output folders the cohort made go; alice's variant,
    completed (and handed out through on_done) before the interrupt, stays whole. Two workers: the interrupt comes
    back from a worker process, and alice, still running then, is waited for."""
    def interrupted(case, out_dir):
        if case.variant in stop:
            raise KeyboardInterrupt
        return real_network(case, out_dir)

    real_network = build_mod.write_network
    monkeypatch.setattr(build_mod, "write_network", interrupted)
    out = tmp_path / "new" / "out"
    stop = {"alice", "bob"}
    with pytest.raises(KeyboardInterrupt):
        build_mod.build_cohort(NIGHTJAR, DEMO_SECRET, ["alice", "bob"], out, workers=workers)
    assert list(tmp_path.iterdir()) == []  # nothing completed: not even the folders are left

    stop = {"bob"}
    with pytest.raises(KeyboardInterrupt):
        build_mod.build_cohort(NIGHTJAR, DEMO_SECRET, ["alice", "bob"], out, workers=workers)
    assert sorted(p.name for p in out.iterdir()) == ["alice"]
    assert verify(out / "alice" / "evidence") == [] and (out / "alice" / "key" / "answer_key.json").is_file()


def test_a_failed_cli_build_leaves_no_folder(tmp_path):
    """A spec that validates but cannot be built (its files outgrow the root volume): one line, no output folder."""
    bad = tmp_path / "too-big.yaml"
    text = small_text("nightjar")  # the small root (28 MiB), whichever way the bundled spec is shipped
    assert text.count("size: [3000, 9000]") == 1
    bad.write_text(text.replace("size: [3000, 9000]", "size: [15000000, 15000000]"))  # payroll, zipped in once more
    assert subprocess.run([sys.executable, "-m", "dflab.cli", "scenario", "validate", str(bad)],
                          capture_output=True).returncode == 0
    proc = subprocess.run([sys.executable, "-m", "dflab.cli", "evidence", "build", str(bad), "--out",
                           str(tmp_path / "out"), "--trainee", "alice", "--trainee", "bob", "--workers", "2"],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "300"}, timeout=300)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("dflab:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and re.fullmatch(r"dflab: error: disk\.files\[archive\] on volume root: /tmp/\.cache/\S+"
                                            r"\.jpg does not fit: the volume has 28672 blocks of 1024 bytes", lines[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["too-big.yaml"]


def test_disk_full_is_one_clear_error(tmp_path, spec):
    """A real full file system (a 2 MiB tmpfs; mounting needs root, as `make test` does)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=True)
    try:
        with pytest.raises(DflabError, match="No space left on device"):
            build_variant(spec, DEMO_SECRET, "full", mnt / "full")
        assert list(mnt.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_rebuild_with_force_replaces_atomically(tmp_path, spec):
    first = build_variant(spec, DEMO_SECRET, "amy", tmp_path / "amy")
    with pytest.raises(DflabError, match="already exists"):
        build_variant(spec, DEMO_SECRET, "amy", tmp_path / "amy")
    again = build_variant(spec, DEMO_SECRET, "amy", tmp_path / "amy", force=True)
    assert first.manifest_sha256 == again.manifest_sha256
    assert sorted(p.name for p in tmp_path.iterdir()) == ["amy"]


def test_verify_cli_names_the_altered_file(tmp_path, built):
    ev = tmp_path / "evidence"
    shutil.copytree(built["bob"].out / "evidence", ev)
    with (ev / "network.pcap").open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\xff")
    os.truncate(ev / "disk.img", 1024)
    proc = subprocess.run([sys.executable, "-m", "dflab.cli", "evidence", "verify", str(ev)], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "300"})
    assert proc.returncode == 3
    assert "disk.img: size 1024 != " in proc.stderr and "network.pcap: sha256 differs" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("dflab: error: ")


def test_a_lab_that_needs_only_the_disk_gets_the_same_disk_and_answers(tmp_path, spec, built):
    """kinds=("disk",): the disk image and every answer are the full build's; no memory or capture is written."""
    res = build_variant(spec, DEMO_SECRET, "alice", tmp_path / "alice", kinds=["disk"])
    full = {f["path"]: f["sha256"] for f in _manifest(built["alice"])["files"]}
    only = {f["path"]: f["sha256"] for f in _manifest(res)["files"]}
    assert set(only) == {"disk.img"} and only["disk.img"] == full["disk.img"]
    assert verify(res.out / "evidence") == []
    key, full_key = _key(res), _key(built["alice"])
    assert key["answers"] == full_key["answers"] and key["timeline"] == full_key["timeline"]
    assert set(key["facts"]) == {"disk", "live"} and key["facts"]["disk"] == full_key["facts"]["disk"]
    net = build_variant(spec, DEMO_SECRET, "alice", tmp_path / "alice-net", kinds=["network"])  # disk comes too
    assert {f["path"] for f in _manifest(net)["files"]} == {"disk.img", "network.pcap", "network.pcapng"}


def test_an_unknown_evidence_kind_is_one_clear_line(tmp_path, spec):
    with pytest.raises(DflabError, match=r"^evidence kinds: unknown evidence kind 'registry' \(choose from disk, "):
        build_variant(spec, DEMO_SECRET, "alice", tmp_path / "alice", kinds=["disk", "registry"])
    assert not (tmp_path / "alice").exists()
