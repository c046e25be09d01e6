"""The workstation's user-activity artefacts, read back from the BUILT volume by independent real parsers.

pytsk3 opens the disk image's NTFS partition and extracts each artefact (never the writer's bytes); Chrome's
History is read by Debian's sqlite3 tool and histexport, the Recent links by LnkParse3, liblnk and libfwsi, the
Prefetch files by libscca and windowsprefetch, the change journal by usnparser, the Security log by libevtx, the
RecentDocs key by regipy. Each check returns what disagrees, so every test first sees none on the built disk, then
plants one inconsistency in a copy (a shifted time, another MFT reference, another referrer) and sees it reported.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import sqlite3
import struct
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import LnkParse3
import pyfwsi
import pylnk
import pyscca
import pytest
import pytsk3
from regipy import registry as regipy_registry

from dflab.evidence.windows.prefetch import prefetch_hash
from dflab.evidence.windows.workstation import build_workstation
from dflab.evidence.windows.workstation.activity import CHROME_EXE
from dflab.evidence.windows.workstation.decisions import PREFETCH_DELAY
from dflab.evidence.windows.workstation.netplan import plan_network
from tests.samples import tool
from tests.test_windows_browser import cli, histexport
from tests.test_windows_prefetch import windowsprefetch
from tests.test_windows_workstation import (
    CASE,
    USER,
    Extracted,
    _run,
    iso,
    journal_time,
    listing,
    read_libevtx,
    read_python_evtx,
    usn_records,
    windows_partition,
)

pytestmark = pytest.mark.xdist_group("windows_ntfs")
EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)
DEVICE = r"\DEVICE\HARDDISKVOLUME2"
"""C: on the workstation's GPT disk (the ESP is volume 1; the MSR has no volume device)."""
WINDOWS_PREFETCH_LAG = timedelta(seconds=10)
"""Windows writes a program's Prefetch run time when its ten-second trace ends: the 4688 is at most this earlier."""


def volume_path(windows: str) -> str:
    return windows[3:].replace("\\", "/")


@dataclass
class Node:
    """What TSK shows of one file: MFT entry and sequence, $STANDARD_INFORMATION times (ISO, UTC)."""

    entry: int
    sequence: int
    created: str
    modified: str
    changed: str
    accessed: str


class Tsk:
    """The Windows partition through pytsk3 (The Sleuth Kit's library), as an examiner's script opens it."""

    def __init__(self, image: Path, mac: str) -> None:
        offset = windows_partition(image)
        self.fs = pytsk3.FS_Info(pytsk3.Img_Info(str(image)), offset=offset * 512)
        fsstat = _run(tool("fsstat"), "-o", str(offset), str(image)).decode()
        self.serial = next(line.split(": ", 1)[1] for line in fsstat.splitlines()
                           if line.startswith("Volume Serial Number"))
        self.mac = mac
        """The workstation's network card, as the capture's plan has it."""

    def read(self, path: str, stream: str | None = None) -> bytes:
        f = self.fs.open("/" + path)
        if stream is None:
            return f.read_random(0, f.info.meta.size)
        for attribute in f:
            if attribute.info.name == stream.encode():
                return f.read_random(0, attribute.info.size, attribute.info.type, attribute.info.id)
        raise AssertionError(f"{path} has no stream {stream}")

    def node(self, path: str) -> Node:
        meta = self.fs.open("/" + path).info.meta

        def at(seconds: int, nanos: int) -> str:
            when = datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=nanos // 1000)
            return iso(when)

        return Node(meta.addr, meta.seq, at(meta.crtime, meta.crtime_nano), at(meta.mtime, meta.mtime_nano),
                    at(meta.ctime, meta.ctime_nano), at(meta.atime, meta.atime_nano))


@pytest.fixture(scope="module")
def built():
    return build_workstation(CASE)


@pytest.fixture(scope="module")
def image(built, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("activity")
    built.write(folder / "disk.img", folder / "answers.json")
    return folder / "disk.img"


@pytest.fixture(scope="module")
def disk(image, tmp_path_factory) -> Extracted:
    offset = windows_partition(image)
    return Extracted(offset, listing(image, offset, "-u"), listing(image, offset, "-d"),
                     tmp_path_factory.mktemp("activity-extracted"))


@pytest.fixture(scope="module")
def tsk(built, image) -> Tsk:
    return Tsk(image, plan_network(CASE, built.decided).workstation_mac)


@pytest.fixture(scope="module")
def journal(disk, image) -> list[tuple[str, str, str]]:
    return usn_records(disk.icat(image, "$Extend/$UsnJrnl:$J", "J"), disk.folder)


def webkit_iso(value: int) -> str:
    return iso(EPOCH_1601 + timedelta(microseconds=value))


# -- Chrome's History, Zone.Identifier, the volume's file and the journal --------------------------------------------


def history_problems(history: Path, payload: bytes, zone: str, node: Node, journal: list, facts: dict,
                     out: Path) -> list[str]:
    """What disagrees between History (sqlite3 and histexport), the file, its Zone.Identifier and the journal."""
    problems = []
    b = facts["browser"]
    (row,) = cli(history, "SELECT target_path, start_time, end_time, total_bytes, received_bytes, referrer, "
                          "tab_url, hex(hash) AS hash, state FROM downloads")
    (chain,) = cli(history, "SELECT url FROM downloads_url_chains")
    terms = [r["term"] for r in cli(history, "SELECT term FROM keyword_search_terms")]
    zone_fields = dict(line.split("=", 1) for line in zone.splitlines() if "=" in line)
    checks = {
        "History target": (row["target_path"], b["target_path"]),
        "History start == $SI created": (webkit_iso(row["start_time"]), node.created),
        "History start == journal .crdownload create": (
            webkit_iso(row["start_time"]), journal_time(journal, b["partial_name"], "FILE_CREATE")),
        "History end == $SI modified": (webkit_iso(row["end_time"]), node.modified),
        "History end == journal rename (old name)": (
            webkit_iso(row["end_time"]), journal_time(journal, b["partial_name"], "RENAME_OLD_NAME")),
        "History end == journal rename (new name)": (
            webkit_iso(row["end_time"]), journal_time(journal, CASE.payload_name, "RENAME_NEW_NAME")),
        "History end == journal Zone.Identifier": (
            webkit_iso(row["end_time"]),
            journal_time(journal, CASE.payload_name, "NAMED_DATA_EXTEND STREAM_CHANGE CLOSE")),
        "History bytes == file size": (row["total_bytes"], len(payload)),
        "History received == total": (row["received_bytes"], row["total_bytes"]),
        "History SHA-256 == file's": (row["hash"].lower(), hashlib.sha256(payload).hexdigest()),
        "History URL == Zone HostUrl": (chain["url"], zone_fields.get("HostUrl")),
        "History referrer == Zone ReferrerUrl": (row["referrer"], zone_fields.get("ReferrerUrl")),
        "History tab URL == referrer": (row["tab_url"], row["referrer"]),
        "Zone id": (zone_fields.get("ZoneId"), "3"),
        "search terms": (terms, [b["search_terms"]]),
        "key start": (webkit_iso(row["start_time"]), b["started"]),
        "key end": (webkit_iso(row["end_time"]), b["finished"]),
        "key referrer": (row["referrer"], b["referrer"]),
    }
    urls, downloads = histexport(history, out)
    (exported,) = downloads
    checks["histexport URL"] = (exported["URL"], chain["url"])
    checks["histexport start"] = (iso(datetime.fromisoformat(exported["Start_Time"]).replace(tzinfo=UTC)),
                                  webkit_iso(row["start_time"]))
    checks["histexport end"] = (iso(datetime.fromisoformat(exported["End_Time"]).replace(tzinfo=UTC)),
                                webkit_iso(row["end_time"]))
    checks["histexport referrer"] = (exported["Referrer"], row["referrer"])
    checks["download page visited"] = (b["download_page"] in {r["URL"] for r in urls}, True)
    for what, (seen, expected) in checks.items():
        if seen != expected:
            problems.append(f"{what}: {seen!r} != {expected!r}")
    return problems


def test_history_download_zone_identifier_and_journal_agree(built, tsk, journal, tmp_path):
    facts = built.facts
    history = tmp_path / "History"
    history.write_bytes(tsk.read(volume_path(facts["browser"]["history"])))
    payload_path = volume_path(facts["download"]["path"])
    payload = tsk.read(payload_path)
    zone = tsk.read(payload_path, "Zone.Identifier").decode()
    node = tsk.node(payload_path)
    assert cli(history, "PRAGMA integrity_check")[0]["integrity_check"] == "ok"
    # Chrome made History when it first started, in the intruder's session, before the first page it loaded.
    (first,) = cli(history, "SELECT min(visit_time) AS t FROM visits")
    history_node = tsk.node(volume_path(facts["browser"]["history"]))
    assert iso(CASE.timeline.remote_logon) < history_node.created <= webkit_iso(first["t"])
    assert history_node.modified == facts["browser"]["finished"]
    assert history_problems(history, payload, zone, node, journal, facts, tmp_path / "ok") == []
    # The download's record in the journal is the payload's own MFT record (the .crdownload was renamed, not copied).
    refs = {ref for label, ref, _ in journal if label.startswith(facts["browser"]["partial_name"] + " ")}
    assert refs == {f"{node.entry}-{node.sequence}"}

    planted = tmp_path / "planted"
    shutil.copy(history, planted)
    with sqlite3.connect(planted) as db:
        db.execute("UPDATE downloads SET end_time = end_time + 5000000")
    db.close()
    found = history_problems(planted, payload, zone, node, journal, facts, tmp_path / "p1")
    assert any(p.startswith("History end == journal rename") for p in found), found
    referrer = "ReferrerUrl=" + facts["browser"]["referrer"]
    other_zone = zone.replace(referrer, referrer + "other/")
    found = history_problems(history, payload, other_zone, node, journal, facts, tmp_path / "p2")
    assert [p.split(": ", 1)[0] for p in found] == ["History referrer == Zone ReferrerUrl"], found


# -- Recent's links, the MFT and RecentDocs ---------------------------------------------------------------------------


def shell_item_references(link: bytes) -> list[tuple[str, int]]:
    """libfwsi's reading of the link's shell items: (long name, NTFS file reference) per file entry item."""
    (size,) = struct.unpack_from("<H", link, 0x4C)
    items = pyfwsi.item_list()
    items.copy_from_byte_stream(link[0x4E:0x4E + size])
    out = []
    for item in items.items:
        if type(item).__name__ == "file_entry":
            (ext,) = item.extension_blocks
            out.append((ext.long_name, ext.file_reference))
    return out


def recent_docs(ntuser: Path) -> tuple[str, list[tuple[str, str]]]:
    """regipy: RecentDocs' last-written time and, per value, (the name opened, the link's name)."""
    key = regipy_registry.RegistryHive(str(ntuser)).get_key(
        r"\Software\Microsoft\Windows\CurrentVersion\Explorer\RecentDocs")
    out = []
    for value in key.iter_values(trim_values=False):
        if value.name == "MRUListEx":
            continue
        data = value.value
        end = next(k for k in range(0, len(data), 2) if data[k:k + 2] == b"\0\0")
        item = data[end + 4:]  # the name's NUL, then the ID list's first item size
        out.append((data[:end].decode("utf-16-le"), item[12:].split(b"\0")[0].decode("ascii")))
    return iso(key.header.last_modified), sorted(out)


def link_problems(link: bytes, link_node: Node, tsk: Tsk, facts: dict, target: str,
                  modified_then: str | None = None) -> list[str]:
    """What disagrees between a Recent link (LnkParse3, liblnk, libfwsi), the MFT (pytsk3) and the answer key.
    ``modified_then``: the target's modified time when the link was made, when it has changed since (a folder)."""
    r = facts["recent_links"]
    parsed = LnkParse3.lnk_file(io.BytesIO(link)).get_json()
    f = pylnk.file()
    f.open_file_object(io.BytesIO(link))
    node = tsk.node(volume_path(target))
    checks = {
        "LnkParse3 target": (parsed["link_info"]["local_base_path"], target),
        "liblnk target": (f.local_path, target),
        "liblnk serial": (f"{f.drive_serial_number:08X}", r["volume_serial"]),
        "LnkParse3 serial": (parsed["link_info"]["location_info"]["drive_serial_number"],
                             "0x" + r["volume_serial"].lower()),
        "liblnk machine": (f.machine_identifier, r["machine"]),
        "serial == fsstat's": (r["volume_serial"], tsk.serial[-8:]),
        # Link tracking's object id is a version-1 GUID: made when the link was, on the NIC the capture shows.
        "object id node == the workstation's MAC": (f"{uuid.UUID(f.droid_file_identifier).node:012x}",
                                                    tsk.mac.replace(":", "")),
        "object id time == link made": (iso(datetime(1582, 10, 15, tzinfo=UTC) + timedelta(
            microseconds=uuid.UUID(f.droid_file_identifier).time // 10)), link_node.created),
        "header created == target $SI created": (iso(parsed["header"]["creation_time"]), node.created),
        "header modified == target $SI modified": (iso(parsed["header"]["modified_time"]),
                                                    modified_then or node.modified),
        "link made == key": (link_node.created, r["created"]),
    }
    # Each shell item names a path component by the MFT reference TSK shows for it.
    parts = volume_path(target).split("/")
    refs = shell_item_references(link)
    checks["shell item names"] = ([name for name, _ in refs], parts)
    for k, (name, ref) in enumerate(refs):
        component = tsk.node("/".join(parts[:k + 1]))
        checks[f"shell item {name} MFT reference"] = ((ref & (1 << 48) - 1, ref >> 48),
                                                      (component.entry, component.sequence))
    return [f"{what}: {seen!r} != {want!r}" for what, (seen, want) in checks.items() if seen != want]


def test_recent_links_name_the_document_by_its_mft_record_and_agree_with_recent_docs(built, tsk, journal,
                                                                                       tmp_path):
    facts = built.facts
    r = facts["recent_links"]
    document = tsk.read(volume_path(r["document_link"]))
    folder = tsk.read(volume_path(r["folder_link"]))
    document_node, folder_node = tsk.node(volume_path(r["document_link"])), tsk.node(volume_path(r["folder_link"]))
    target_folder = r["target"].rsplit("\\", 1)[0]
    assert link_problems(document, document_node, tsk, facts, r["target"]) == []
    # Documents changed after the link was made: then, its last change was the last document copied into it.
    copied = max(journal_time(journal, name, "DATA_EXTEND FILE_CREATE CLOSE") for name in CASE.documents)
    assert link_problems(folder, folder_node, tsk, facts, target_folder, copied) == []
    node = tsk.node(volume_path(r["target"]))
    assert [r["target_mft"]["entry"], r["target_mft"]["sequence"]] == [node.entry, node.sequence] == \
        facts["document_opened"]["mft"]
    assert LnkParse3.lnk_file(io.BytesIO(folder)).get_json()["header"]["file_flags"] == ["FILE_ATTRIBUTE_DIRECTORY"]
    # Explorer made both links when the document was opened: the journal, the files' times and RecentDocs agree.
    link_name, folder_name = r["document_link"].rsplit("\\", 1)[1], r["folder_link"].rsplit("\\", 1)[1]
    for name in (link_name, folder_name):
        assert journal_time(journal, name, "DATA_EXTEND FILE_CREATE CLOSE") == r["created"]
    ntuser = tmp_path / "NTUSER.DAT"
    ntuser.write_bytes(tsk.read(f"{USER}/NTUSER.DAT"))
    written, values = recent_docs(ntuser)
    assert written == document_node.created == document_node.modified == folder_node.created == r["created"]
    assert values == sorted([(CASE.documents[0], link_name), ("Documents", folder_name)])

    # Planted: the link names the next MFT record (a file the volume does not hold at that path).
    planted = bytearray(document)
    reference = struct.pack("<Q", node.entry | node.sequence << 48)
    at = planted.index(reference)
    planted[at:at + 8] = struct.pack("<Q", (node.entry + 1) | node.sequence << 48)
    found = link_problems(bytes(planted), document_node, tsk, facts, r["target"])
    assert [p.split(": ", 1)[0] for p in found] == [f"shell item {CASE.documents[0]} MFT reference"], found


# -- Prefetch, the MFT, the Security log -----------------------------------------------------------------------------


def prefetch_problems(pf: Path, pf_node: Node, tsk: Tsk, traced: dict, process_started: list[str],
                      monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What disagrees between a .pf (libscca, windowsprefetch), the MFT (pytsk3), the 4688s and the answer key."""
    f = pyscca.file()
    f.open(str(pf))
    runs = [iso(f.get_last_run_time(k).replace(tzinfo=UTC)) for k in range(f.run_count)]
    p = windowsprefetch(pf, monkeypatch)
    executable = traced["executable"][2:].upper()
    checks = {
        "name": (pf.name, f"{executable.rsplit(chr(92), 1)[1]}-{prefetch_hash(DEVICE + executable):08X}.pf"),
        "libscca hash": (f.prefetch_hash, prefetch_hash(DEVICE + executable)),
        "run count": ((f.run_count, p.runCount), (traced["run_count"], traced["run_count"])),
        "last runs": (runs, traced["run_times"]),
        "last run": (runs[0], traced["last_run"]),
        "windowsprefetch last runs": ([iso(datetime.fromisoformat(t).replace(tzinfo=UTC)) for t in p.timestamps],
                                      runs),
        ".pf $SI created == first run": (pf_node.created, runs[-1]),
        ".pf $SI modified == last run": (pf_node.modified, runs[0]),
    }
    # Every file it loaded is named by the MFT reference TSK shows for that path.
    volume = f.get_volume_information(0).device_path
    for k in range(f.number_of_file_metrics_entries):
        path = f.get_filename(k)
        assert path.startswith(volume)
        relative = path[len(volume) + 1:].replace("\\", "/")
        node = tsk.fs.open("/" + relative).info.meta
        checks[f"reference of {relative}"] = (f.get_file_metrics_entry(k).file_reference,
                                              node.addr | node.seq << 48)
    checks["executable reference"] = (checks[f"reference of {executable[1:].replace(chr(92), '/')}"][0],
                                      traced["mft"]["entry"] | traced["mft"]["sequence"] << 48)
    # The Security log's 4688 for a start Prefetch recorded: within Windows' lag before the run time.
    for started in process_started:
        lag = datetime.fromisoformat(runs[0].replace("Z", "+00:00")) - datetime.fromisoformat(
            started.replace("Z", "+00:00"))
        checks[f"4688 at {started} within the lag"] = (timedelta(0) <= lag <= WINDOWS_PREFETCH_LAG, True)
    return [f"{what}: {seen!r} != {want!r}" for what, (seen, want) in checks.items() if seen != want]


def test_prefetch_runs_match_the_security_log_and_the_mft(built, tsk, journal, tmp_path, monkeypatch):
    facts = built.facts
    security = tmp_path / "Security.evtx"
    security.write_bytes(tsk.read("Windows/System32/winevt/Logs/Security.evtx"))
    starts = {}
    for rec in read_libevtx(security):
        if rec.event_id == 4688:
            starts.setdefault(rec.get("NewProcessName").lower(), []).append(rec.created)
    found_any = {}
    for role in ("payload", "implant"):
        traced = facts["prefetch"][role]
        pf = tmp_path / traced["file"].rsplit("\\", 1)[1]
        pf.write_bytes(tsk.read(volume_path(traced["file"])))
        pf_node = tsk.node(volume_path(traced["file"]))
        started = starts.get(traced["executable"].lower(), [])
        found_any[role] = started
        assert prefetch_problems(pf, pf_node, tsk, traced, started, monkeypatch) == [], role
        # The journal: the .pf written after the first run, rewritten after each later one.
        assert journal_time(journal, pf.name, "DATA_EXTEND FILE_CREATE CLOSE") == traced["run_times"][-1]
        if traced["run_count"] > 1:
            assert journal_time(journal, pf.name, "DATA_EXTEND DATA_TRUNCATION CLOSE") == traced["last_run"]
    # The log was cleared after the payload ran: only the implant's start at the next logon is left to compare.
    assert found_any["payload"] == [] and found_any["implant"] == [facts["process"]["time"]]
    implant = facts["prefetch"]["implant"]
    assert implant["last_run"] == iso(datetime.fromisoformat(facts["process"]["time"].replace("Z", "+00:00"))
                                          + PREFETCH_DELAY)

    # Planted: the 4688 a minute later than the Prefetch run (a log that does not fit the trace).
    pf = tmp_path / implant["file"].rsplit("\\", 1)[1]
    later = iso(datetime.fromisoformat(facts["process"]["time"].replace("Z", "+00:00")) + timedelta(minutes=1))
    found = prefetch_problems(pf, tsk.node(volume_path(implant["file"])), tsk, implant, [later], monkeypatch)
    assert [p.split(": ", 1)[0] for p in found] == [f"4688 at {later} within the lag"], found
    # Planted: the executable's record moved (the MFT no longer holds it where the .pf says).
    moved = dict(implant, mft={"entry": implant["mft"]["entry"] + 1, "sequence": implant["mft"]["sequence"]})
    found = prefetch_problems(pf, tsk.node(volume_path(implant["file"])), tsk, moved, [], monkeypatch)
    assert [p.split(": ", 1)[0] for p in found] == ["executable reference"], found


# -- Chrome's and PowerShell's Prefetch, History and PowerShell's log -------------------------------------------------


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def read_pf(pf: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[datetime], dict[str, int]]:
    """Run count, run times (newest first) and each loaded file's MFT reference by volume path, as libscca reads
    them; windowsprefetch must give the same count and times."""
    f = pyscca.file()
    f.open(str(pf))
    runs = [f.get_last_run_time(k).replace(tzinfo=UTC) for k in range(min(f.run_count, 8))]
    p = windowsprefetch(pf, monkeypatch)
    assert p.runCount == f.run_count
    assert [datetime.fromisoformat(t).replace(tzinfo=UTC) for t in p.timestamps] == runs, "windowsprefetch differs"
    volume = f.get_volume_information(0).device_path
    refs = {f.get_filename(k)[len(volume) + 1:].replace("\\", "/"): f.get_file_metrics_entry(k).file_reference
            for k in range(f.number_of_file_metrics_entries)}
    return f.run_count, runs, refs


def _site(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return host if host.replace(".", "").isdigit() else ".".join(host.split(".")[-2:])


def chrome_prefetch_problems(pf: Path, pf_node: Node, tsk: Tsk, history: Path, history_node: Node,
                             monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What CHROME.EXE's .pf says that History (sqlite3), its file's times and the MFT (pytsk3) contradict: the
    browser process made History as it started; each site History visits had its renderer started just before;
    every process started before the download; the .pf was made after the first run and rewritten after the last."""
    count, runs, refs = read_pf(pf, monkeypatch)
    starts = sorted(r - WINDOWS_PREFETCH_LAG for r in runs)
    visits = cli(history, "SELECT u.url, v.visit_time FROM visits v JOIN urls u ON u.id = v.url ORDER BY v.visit_time")
    (download,) = cli(history, "SELECT start_time FROM downloads")
    first_visit: dict[str, datetime] = {}
    for visit in visits:
        first_visit.setdefault(_site(visit["url"]), _at(webkit_iso(visit["visit_time"])))
    problems = []
    if count != len(runs) or not 6 <= count <= 8:
        problems.append(f"run count {count} with {len(runs)} run times (a browser, its children, a renderer a site)")
    if iso(starts[0]) != history_node.created:
        problems.append(f"the first chrome.exe started at {iso(starts[0])}, History was made at {history_node.created}")
    for site, when in first_visit.items():
        if not any(timedelta(0) <= when - start <= timedelta(seconds=1) for start in starts):
            problems.append(f"no chrome.exe started in the second before the first visit to {site} ({iso(when)})")
    if starts[-1] > _at(webkit_iso(download["start_time"])):
        problems.append(f"a chrome.exe started at {iso(starts[-1])}, after the download began")
    if (pf_node.created, pf_node.modified) != (iso(runs[-1]), iso(runs[0])):
        problems.append(f".pf made {pf_node.created}, written {pf_node.modified}: not its first and last run")
    return problems + reference_problems(refs, tsk)


def reference_problems(refs: dict, tsk: Tsk) -> list[str]:
    """The files a .pf names whose MFT reference (entry | sequence << 48) is not the one TSK reads on the volume."""
    problems = []
    for path, ref in refs.items():
        node = tsk.fs.open("/" + path).info.meta
        if ref != node.addr | node.seq << 48:
            problems.append(f"{path}: the .pf's MFT reference is not TSK's")
    return problems


def powershell_prefetch_problems(pf: Path, pf_node: Node, tsk: Tsk, records: list,
                                 monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What POWERSHELL.EXE's .pf says that PowerShell's log (40961 as the console starts, the 4104 it ran) and the
    MFT contradict: one run, the process started just before its console, its script block within its trace."""
    count, runs, refs = read_pf(pf, monkeypatch)
    console = [_at(r.created) for r in records if r.event_id == 40961]
    scripts = [_at(r.created) for r in records if r.event_id == 4104]
    problems = [] if count == len(runs) == len(console) == 1 else [f"{count} runs, {len(console)} consoles"]
    started = runs[0] - WINDOWS_PREFETCH_LAG
    if not all(timedelta(0) < c - started < timedelta(seconds=2) for c in console):
        problems.append(f"the console started at {[iso(c) for c in console]}, not just after {iso(started)}")
    if not scripts or not all(timedelta(0) < s - started < WINDOWS_PREFETCH_LAG for s in scripts):
        problems.append(f"the script blocks at {[iso(s) for s in scripts]} are not within the trace from "
                        f"{iso(started)}")
    if pf_node.created != iso(runs[0]):
        problems.append(f".pf made {pf_node.created}, not at its run {iso(runs[0])}")
    return problems + reference_problems(refs, tsk)


def _pf(tsk: Tsk, stem: str, folder: Path) -> tuple[Path, Node]:
    (name,) = [e.info.name.name.decode() for e in tsk.fs.open_dir("/Windows/Prefetch")
               if e.info.name.name.decode().startswith(stem + "-")]
    path = folder / name
    path.write_bytes(tsk.read(f"Windows/Prefetch/{name}"))
    return path, tsk.node(f"Windows/Prefetch/{name}")


def test_chrome_and_powershell_prefetch_match_history_and_powershell_s_log(built, tsk, tmp_path, monkeypatch):
    history = tmp_path / "History"
    history.write_bytes(tsk.read(volume_path(built.facts["browser"]["history"])))
    history_node = tsk.node(volume_path(built.facts["browser"]["history"]))
    chrome, chrome_node = _pf(tsk, "CHROME.EXE", tmp_path)
    device_path = DEVICE + "\\" + CHROME_EXE.upper().replace("/", "\\")
    assert chrome.name == f"CHROME.EXE-{prefetch_hash(device_path):08X}.pf"
    assert chrome_prefetch_problems(chrome, chrome_node, tsk, history, history_node, monkeypatch) == []

    log = tmp_path / "PowerShell.evtx"
    log.write_bytes(tsk.read("Windows/System32/winevt/Logs/Microsoft-Windows-PowerShell%4Operational.evtx"))
    records = read_libevtx(log)
    assert [(r.event_id, r.created) for r in records] == [(r.event_id, r.created) for r in read_python_evtx(log)]
    powershell, powershell_node = _pf(tsk, "POWERSHELL.EXE", tmp_path)
    assert powershell.name == "POWERSHELL.EXE-920BBA2A.pf"  # the name every Windows 10 gives it on C:
    assert powershell_prefetch_problems(powershell, powershell_node, tsk, records, monkeypatch) == []
    (script,) = [r for r in records if r.event_id == 4104]
    assert script.created == iso(CASE.timeline.persisted)

    # Planted: History's visits a minute later (no renderer then), the script block a minute after the trace.
    planted = tmp_path / "planted-History"
    shutil.copy(history, planted)
    with sqlite3.connect(planted) as db:
        db.execute("UPDATE visits SET visit_time = visit_time + 60000000")
    db.close()
    found = chrome_prefetch_problems(chrome, chrome_node, tsk, planted, history_node, monkeypatch)
    assert found and all(p.startswith("no chrome.exe started") for p in found), found
    late = [replace(r, created=iso(_at(r.created) + timedelta(minutes=1))) if r.event_id == 4104 else r
            for r in records]
    found = powershell_prefetch_problems(powershell, powershell_node, tsk, late, monkeypatch)
    assert [p.split(" at ")[0] for p in found] == ["the script blocks"], found
    # Planted: another program's .pf in Chrome's place (its runs fit nothing History says).
    (tmp_path / "other").mkdir()
    other, other_node = _pf(tsk, "POWERSHELL.EXE", tmp_path / "other")
    assert chrome_prefetch_problems(other, other_node, tsk, history, history_node, monkeypatch)


def test_activity_artefacts_are_the_same_for_the_same_case_and_differ_for_another(built):
    from dataclasses import replace

    again = build_workstation(CASE)
    keys = ("browser", "recent_links", "prefetch")
    assert {k: again.facts[k] for k in keys} == {k: built.facts[k] for k in keys}
    other = build_workstation(replace(CASE, seed="case-7/trainee-13"))
    assert other.decided.activity.volume_guid != built.decided.activity.volume_guid
    assert other.facts["recent_links"]["volume_serial"] != built.facts["recent_links"]["volume_serial"]
