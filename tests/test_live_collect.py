"""Live collection against the real running suspect: outputs, log, custody record and grading."""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from dflab.errors import DflabError, EvidenceError
from dflab.live import suspect
from dflab.live.collect import LOG_NAME, Collector, read_log, verify_log
from dflab.live.custody import (
    Transfer,
    build_custody,
    close_case,
    custody_errors,
    custody_problems,
    to_case_uco,
    validate_custody,
    write_custody,
)
from dflab.live.grading import POINTS, check_collection, grade_collection, sealed
from dflab.live.procfs import login_sessions
from dflab.live.traits import expected_traits, suspect_seed
from tests.livekit import collect_all, start_fresh_suspect

pytestmark = pytest.mark.xdist_group("live")

ORDER = ["network_connections", "logged_in_users", "processes", "open_files", "memory_maps",
         "recover_deleted_exe", "recover_deleted_fd", "file"]


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[suspect.SuspectInfo, dict]]:
    state = tmp_path / "state"
    info, seed = start_fresh_suspect(state)
    try:
        yield info, expected_traits(seed)
    finally:
        suspect.stop(state)


def test_collection_finds_every_trait_and_scores_full_marks(tmp_path: Path, running) -> None:
    info, exp = running
    pid = info.suspect_pid
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"handover notes\n")
    c = Collector(tmp_path / "case", "Det. Insp. Ada Example", "NJ-2026-0042")

    net = c.network_connections()
    listen = net[(net.state == "LISTEN") & (net.local_port == exp["listener"]["port"])]
    assert listen[["local_ip", "pid", "fd", "comm"]].values.tolist() == [["127.0.0.1", pid, 4, exp["exe_name"]]]
    est = net[(net.pid == pid) & (net.state == "ESTABLISHED")]
    assert est[["remote_ip", "remote_port", "fd"]].values.tolist() == [[exp["sink"]["ip"], exp["sink"]["port"], 3]]
    peer = net[(net.local_ip == exp["sink"]["ip"]) & (net.state == "ESTABLISHED")]
    assert peer.pid.tolist() == [info.sink_pid]

    users = c.logged_in_users()
    mine = users[users.pid == pid]
    assert mine[["remote_host", "remote_port", "tty"]].values.tolist() == [
        [exp["user_trace"]["remote_ip"], exp["user_trace"]["remote_port"], exp["user_trace"]["tty"]]]

    procs = c.processes()
    row = procs[procs.pid == pid].iloc[0]
    assert (row.comm, row.exe, bool(row.exe_deleted), row.pgid) == (
        exp["exe_name"], f"{info.exe_path} (deleted)", True, info.pgid)

    files = c.open_files(pid)
    assert files[files.deleted].values.tolist() == [
        [5, f"{info.held_path} (deleted)", True, exp["held_file"]["size"], "0100002"]]   # O_LARGEFILE|O_RDWR
    maps = c.memory_maps(pid)
    assert maps.path.iloc[0] == f"{info.exe_path} (deleted)" and maps.perms.iloc[0] == "r-xp"

    exe = c.recover_deleted_exe(pid)
    held = c.recover_deleted_fd(pid, 5)
    disk = c.file(notes)
    assert exe.sha256 == exp["exe_sha256"] == hashlib.sha256((c.case_dir / exe.output).read_bytes()).hexdigest()
    assert held.sha256 == exp["held_file"]["sha256"]
    assert disk.sha256 == hashlib.sha256(b"handover notes\n").hexdigest()
    assert exe.details["link"] == f"{info.exe_path} (deleted)"

    entries = read_log(c.log_path)
    assert [e.action for e in entries] == ["open_case", *ORDER]
    assert [e.seq for e in entries] == list(range(1, 10))
    assert verify_log(entries) == []
    assert all(sealed(e, bytes.fromhex(exp["witness"]["key"])) for e in entries)   # by the running suspect
    assert all(e.utc.endswith("Z") for e in entries)
    assert [e.monotonic_ns for e in entries] == sorted(e.monotonic_ns for e in entries)
    for e in entries[1:]:
        assert e.output.startswith(f"{e.seq:03d}-")
        assert hashlib.sha256((c.case_dir / e.output).read_bytes()).hexdigest() == e.sha256
    assert sorted(p.name for p in c.case_dir.iterdir()) == sorted([LOG_NAME, *(e.output for e in entries[1:])])

    record = build_custody(c.case_dir, [Transfer("Det. Insp. Ada Example", "Evidence officer B. Keeper",
                                                 "storage in the evidence locker", "2026-11-23T15:00:00Z")])
    validate_custody(record)
    assert [i["sha256"] for i in record["items"]] == [e.sha256 for e in entries[1:]]
    assert record["items"][5]["item_id"] == "NJ-2026-0042-007"
    assert record["transfers"][0]["items"] == [i["item_id"] for i in record["items"]]
    assert record["log"]["sha256"] == hashlib.sha256(c.log_path.read_bytes()).hexdigest()
    write_custody(record, tmp_path / "custody.json")
    assert json.loads((tmp_path / "custody.json").read_text()) == record

    graph = to_case_uco(record)["@graph"]
    types = [n["@type"] for n in graph]
    assert types.count("uco-observable:File") == 8 and types.count("case-investigation:ProvenanceRecord") == 8
    assert types.count("case-investigation:InvestigativeAction") == 9 and types.count("uco-tool:Tool") == 1
    hashes = [f["uco-observable:hash"][0] for n in graph if n["@type"] == "uco-observable:File"
              for f in n["uco-core:hasFacet"] if f["@type"] == "uco-observable:ContentDataFacet"]
    assert exp["exe_sha256"] in {h["uco-types:hashValue"]["@value"] for h in hashes}
    assert {h["uco-types:hashMethod"]["@value"] for h in hashes} == {"SHA256"}
    ids = {n["@id"] for n in graph}
    assert len(ids) == len(graph) and to_case_uco(record) == to_case_uco(record)

    report = grade_collection(c.case_dir, exp)
    assert report.total == report.max_total == sum(POINTS.values()), report.as_dict()


def test_wrong_order_loses_only_the_order_points(tmp_path: Path, running) -> None:
    info, exp = running
    notes = tmp_path / "notes.txt"
    notes.write_text("x\n")
    c = collect_all(tmp_path / "case", info.suspect_pid, notes, file_first=True)
    report = grade_collection(c.case_dir, exp).by_name()
    assert report["order"].points == 0
    assert "network_connections (entry 3" in report["order"].reasons[0]
    # tmp_path is on a disk here, on a tmpfs in some containers: RFC 3227 item 4 or item 3.
    assert re.search(r"after file \(entry 2, (disk \(RFC 3227 §2\.1 item 4\)|temporary file systems \(RFC 3227 §2\.1 "
                     r"item 3\))\)", report["order"].reasons[0]), report["order"].reasons[0]
    assert all(cr.points == cr.max_points for name, cr in report.items() if name != "order")


def test_altered_outputs_and_log_are_caught(tmp_path: Path, running) -> None:
    info, exp = running
    notes = tmp_path / "notes.txt"
    notes.write_text("x\n")
    c = collect_all(tmp_path / "case", info.suspect_pid, notes)
    entries = read_log(c.log_path)
    exe = next(e for e in entries if e.action == "recover_deleted_exe")
    (c.case_dir / exe.output).write_bytes(b"not the executable")
    report = grade_collection(c.case_dir, exp).by_name()
    assert report["hashes"].points == round(3.0 * 7 / 8, 2)
    assert report["hashes"].reasons == (f"entry {exe.seq}: {exe.output} does not match its logged SHA-256",)
    assert report["trait_exe"].points == 0 and report["completeness"].points == round(2.0 * 6 / 7, 2)

    lines = c.log_path.read_bytes().splitlines()
    lines[2] = lines[2].replace(b'"rows":', b'"rows":1')
    c.log_path.write_bytes(b"\n".join(lines) + b"\n")
    report = grade_collection(c.case_dir, exp).by_name()
    assert report["hashes"].points == 0
    assert report["hashes"].reasons[:2] == (
        "1 of 9 log entries (entry 3) carry no seal of your running suspect for the time they state: collected "
        "without it, copied from another trainee, or changed afterwards",
        "entry 4: hash chain broken (an earlier entry was changed or removed)")


def test_another_trainees_key_credits_nothing(tmp_path: Path, running) -> None:
    """Sound and sealed, but by another trainee's suspect: neither the traits nor the procedure are theirs."""
    info, _ = running
    notes = tmp_path / "notes.txt"
    notes.write_text("x\n")
    c = collect_all(tmp_path / "case", info.suspect_pid, notes)
    report = grade_collection(c.case_dir, expected_traits(suspect_seed("someone-else"))).by_name()
    assert {n: cr.points for n, cr in report.items()} == dict.fromkeys(
        ["order", "hashes", "completeness", "trait_exe", "trait_held_file", "trait_listener",
         "trait_sink_connection", "trait_user_trace"], 0.0)
    assert "9 of 9 log entries (entry 1, 2, 3, 4, 5 and 4 more) carry no seal" in report["order"].reasons[0]


def test_missing_or_broken_log_scores_zero_with_a_reason(tmp_path: Path) -> None:
    exp = expected_traits(suspect_seed("alice"))
    report = grade_collection(tmp_path, exp)
    assert report.total == 0 and "cannot read the collection log" in report.criteria[0].reasons[0]
    (tmp_path / LOG_NAME).write_text("{not json\n")
    report = grade_collection(tmp_path, exp)
    assert report.total == 0 and f"{LOG_NAME}:1: malformed log entry" in report.criteria[0].reasons[0]


def test_collector_guards_the_case_directory(tmp_path: Path) -> None:
    c = Collector(tmp_path, "examiner", "CASE-1")
    c.file(Path(__file__), dest="copy.py")
    with pytest.raises(DflabError, match="belongs to case 'CASE-1'"):
        Collector(tmp_path, "examiner", "CASE-2")
    again = Collector(tmp_path, "examiner", "CASE-1")             # a restarted kernel continues the log,
    assert again.file(Path(__file__), dest="copy.py").seq == 2    # replays what it holds (collected once)
    entry = again.file(Path(__file__).with_name("__init__.py"), dest="copy.py")   # and collects what is new
    assert entry.seq == 3 and entry.output == "003-copy.py"
    assert verify_log(read_log(again.log_path)) == []
    with pytest.raises(DflabError, match="plain file name"):
        again.file(Path(__file__).with_name("labkit.py"), dest="../escape.py")
    with pytest.raises(DflabError, match="no such process"):
        again.open_files(2 ** 22 + 1)


def test_a_closed_case_replays_the_same_tables_and_refuses_anything_new(tmp_path: Path, running) -> None:
    info, exp = running
    notes = tmp_path / "notes.txt"
    notes.write_text("x\n")
    case = tmp_path / "case"
    c = collect_all(case, info.suspect_pid, notes)
    live = {"net": c.network_connections(), "users": c.logged_in_users(), "procs": c.processes(),
            "fds": c.open_files(info.suspect_pid), "maps": c.memory_maps(info.suspect_pid)}
    assert len(c.entries()) == 9          # asked again in the same session: replayed, not collected twice
    record = close_case(case, [Transfer("examiner", "custodian", "storage")])
    files = {p.name: p.read_bytes() for p in case.iterdir()}
    assert {"custody.json", "custody.jsonld"} <= set(files) and custody_problems(case) == []
    suspect.stop(tmp_path / "state")     # the grader's world: no suspect, a closed case

    replay = Collector(case, "examiner", "NJ-2026-0042")
    assert replay.closed and "closed" in replay.status()
    again = {"net": replay.network_connections(), "users": replay.logged_in_users(), "procs": replay.processes(),
             "fds": replay.open_files(info.suspect_pid), "maps": replay.memory_maps(info.suspect_pid)}
    for name, df in live.items():
        pd.testing.assert_frame_equal(again[name], df, check_dtype=True, obj=name)
    assert replay.recover_deleted_exe(info.suspect_pid).sha256 == exp["exe_sha256"]
    assert close_case(case) == record
    with pytest.raises(DflabError, match="is closed .*recover_deleted_fd was not collected before closing"):
        replay.recover_deleted_fd(info.suspect_pid, 4)
    assert {p.name: p.read_bytes() for p in case.iterdir()} == files   # nothing written by replaying or closing

    exe = next(e for e in replay.entries() if e.action == "recover_deleted_exe")
    (case / exe.output).write_bytes(b"altered")
    with pytest.raises(EvidenceError, match="does not match its logged SHA-256"):
        Collector(case, "examiner", "NJ-2026-0042").recover_deleted_exe(info.suspect_pid)
    log = case / LOG_NAME
    log.write_bytes(log.read_bytes().replace(b'"rows":', b'"rows":1', 1))
    assert custody_problems(case) == ["the collection log changed after the custody record was written"]


def test_a_forged_log_or_a_symlink_cannot_make_the_grader_read_outside_the_case(tmp_path: Path, running) -> None:
    _, exp = running
    c = Collector(tmp_path / "case", "examiner", "CASE-1")
    entry = c.file(Path(__file__))
    (tmp_path / "outside").write_bytes(Path(__file__).read_bytes())      # same bytes, so the same hash
    assert check_collection("case", exp, "hashes", tmp_path) == (True, "correct")
    (c.case_dir / entry.output).unlink()
    (c.case_dir / entry.output).symlink_to(tmp_path / "outside")
    assert check_collection("case", exp, "hashes", tmp_path) == (
        False, "the case folder holds symbolic links: exhibits, log and record must be the files themselves")
    (c.case_dir / entry.output).unlink()
    forged = c.log_path.read_bytes().replace(f'"output":"{entry.output}"'.encode(), b'"output":"../outside"')
    c.log_path.write_bytes(forged)
    assert grade_collection(c.case_dir, exp).by_name()["hashes"].reasons[-1] == (
        "entry 2: output '../outside' is not a file of the case folder")
    assert check_collection("../..", exp, "order", tmp_path) == (
        False, "the case directory must be a relative path inside your assignment folder")


def test_custody_errors_name_the_field(tmp_path: Path) -> None:
    c = Collector(tmp_path, "examiner", "CASE-1")
    c.file(Path(__file__))
    record = build_custody(tmp_path, [Transfer("examiner", "lab", "analysis", items=("CASE-1-999",))])
    assert custody_errors(record) == ["transfers.0.items: unknown item 'CASE-1-999'"]
    del record["examiner"]
    record["items"][0]["sha256"] = "ABC"
    assert custody_errors(record) == ["<record>: 'examiner' is a required property",
                                      "items.0.sha256: 'ABC' does not match '^[0-9a-f]{64}$'"]
    with pytest.raises(DflabError, match="2 problem"):
        validate_custody(record)


def test_utmp_records_are_read_like_who_reads_them(tmp_path: Path) -> None:
    """Containers rarely have /run/utmp; a real glibc x86-64 utmp record proves the parser anyway."""
    record = struct.pack("<hxxi32s4s32s256shhiii16s20s", 7, 4242, b"pts/3", b"ts/3", b"jdoe", b"198.51.100.7",
                         0, 0, 0, 1_700_000_000, 0, bytes(16), bytes(20))
    dead = struct.pack("<hxxi32s4s32s256shhiii16s20s", 8, 99, b"pts/1", b"", b"", b"", 0, 0, 0, 0, 0,
                       bytes(16), bytes(20))
    (tmp_path / "utmp").write_bytes(dead + record)
    df = login_sessions((str(tmp_path / "utmp"),))
    utmp = df[df.source == str(tmp_path / "utmp")]
    assert utmp[["user", "pid", "tty", "remote_host", "login_time"]].values.tolist() == [
        ["jdoe", 4242, "/dev/pts/3", "198.51.100.7", 1_700_000_000]]
