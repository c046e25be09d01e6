"""One Windows workstation built from one case, read back only by real, independent tools.

The disk is opened as an examiner would: mmls finds the Windows partition, fls lists it, icat extracts the hives,
the event logs, the change journal, the Zone.Identifier stream and the Recycle Bin's $I file, and istat shows each
file's $STANDARD_INFORMATION and $FILE_NAME times. The registry is read by regipy (its plugins where it has one)
and hivex, the logs by python-evtx, libevtx and the Rust evtx parser, the journal by usnparser. Every answer-key
value must be what the tools show, and every step of the story must carry the same time in every source that
records it; a source shifted on purpose (a registry key's time, a journal record's time) must be reported.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import json
import os
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import evtx as rust_evtx
import Evtx.Evtx as python_evtx
import pyevtx
import pyfsntfs
import pytest
from regipy import registry as regipy_registry
from regipy.plugins.system.computer_name import ComputerNamePlugin
from regipy.plugins.system.services import ServicesPlugin
from regipy.plugins.system.usbstor import USBSTORPlugin

from dflab.errors import DflabError
from dflab.evidence.windows.registry.facts import SERVICE_STARTS, SERVICE_TYPES
from dflab.evidence.windows.registry.ntuser import USER_ASSIST, USER_ASSIST_PROGRAMS
from dflab.evidence.windows.wintypes import filetime
from dflab.evidence.windows.workstation import Timeline, User, WorkstationCase, build_workstation
from dflab.evidence.windows.workstation.logs import security_before
from tests.samples import tool
from tests.test_windows_evtx import classic_from_xml
from tests.test_windows_registry import hivex_view, libregf_view

pytestmark = pytest.mark.xdist_group("windows_ntfs")


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, second, tzinfo=UTC)


TIMELINE = Timeline(
    installed=at(1, 8), logon=at(4, 8, 55), usb_inserted=at(4, 9, 10), document_opened=at(4, 9, 20),
    usb_removed=at(4, 9, 40), remote_logon=at(4, 13, 58, 30), downloaded=at(4, 14, 2, 11),
    payload_run=at(4, 14, 5, 40), persisted=at(4, 14, 6, 2), log_cleared=at(4, 14, 9, 15),
    file_recycled=at(4, 14, 11, 5), file_deleted=at(4, 14, 12, 40), next_logon=at(5, 8, 48), returned=at(5, 10, 3),
    shutdown=at(5, 18))
CASE = WorkstationCase("DESKTOP-7QK2M4", User("mvdberg", 1001, "Marieke van den Berg"), TIMELINE,
                       "http://198.51.100.23/dl/invoice_2024.exe", "invoice_2024.exe", "svchostw.exe", "WinSvcHelper",
                       seed="case-7/trainee-12", other_users=(User("support", 1002),))
EVENT_NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
USNPARSER = str(Path(sys.executable).with_name("usn.py"))
"""usnparser's script, installed beside the interpreter by ``pip install usnparser``."""


def _run(*args: str) -> bytes:
    return subprocess.run(args, check=True, capture_output=True, timeout=300,
                          env={**os.environ, "TZ": "UTC"}).stdout


def iso(when: datetime | int) -> str:
    """A time as the answer key writes it (whole seconds); a fraction of a second is kept, so it cannot match."""
    if isinstance(when, int):
        seconds, ticks = divmod(when, 10_000_000)
        text = (datetime(1601, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
        return text + (f".{ticks:07d}".rstrip("0") if ticks else "") + "Z"  # one spelling for every reader
    fraction = f".{when.microsecond:06d}".rstrip("0") if when.microsecond else ""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


# -- the disk, as TSK sees it -----------------------------------------------------------------------------------------


@dataclass
class Extracted:
    """What TSK gave: the Windows partition's offset (sectors), the listing (path → address), extracted files."""

    offset: int
    live: dict[str, str]
    deleted: dict[str, str]
    folder: Path

    def icat(self, image: Path, path: str, name: str) -> Path:
        out = self.folder / name
        out.write_bytes(_run(tool("icat"), "-o", str(self.offset), str(image), self.live[path]))
        return out

    def istat(self, image: Path, path: str) -> dict[str, dict[str, str]]:
        """$STANDARD_INFORMATION (``si``) and $FILE_NAME (``fn``) times and the header, from istat's text."""
        address = (self.live.get(path) or self.deleted[path]).split("-")[0]
        text = _run(tool("istat"), "-o", str(self.offset), str(image), address).decode()
        out: dict[str, dict[str, str]] = {"si": {}, "fn": {}, "header": {}}
        section = "header"
        for line in text.splitlines():
            if line.startswith("$STANDARD_INFORMATION"):
                section = "si"
            elif line.startswith("$FILE_NAME"):
                section = "fn"
            elif line.startswith("Attributes:"):
                section = "rest"
            elif section in ("si", "fn") and "\t" in line and line.endswith("(UTC)"):
                key, _, value = line.partition(":\t")
                fraction = value[20:29].rstrip("0")  # istat prints nanoseconds
                out[section][key] = value[:19].replace(" ", "T") + (f".{fraction}" if fraction else "") + "Z"
            elif section == "header" and line.startswith("Entry:"):
                entry, sequence = line.split()[1], line.split()[3]
                out["header"] = {"entry": entry, "sequence": sequence}
        return out


def windows_partition(image: Path) -> int:
    rows = [line.split(maxsplit=5) for line in _run(tool("mmls"), str(image)).decode().splitlines()]
    starts = [int(r[2]) for r in rows if len(r) == 6 and r[5] == "Basic data partition"]
    assert len(starts) == 1, f"mmls shows {len(starts)} basic data partitions"
    return starts[0]


def listing(image: Path, offset: int, *flags: str) -> dict[str, str]:
    out = {}
    for line in _run(tool("fls"), "-r", "-p", *flags, "-o", str(offset), str(image)).decode().splitlines():
        address, _, path = line.partition(":\t")
        out[path] = address.split()[-1]
    return out


@pytest.fixture(scope="module")
def built():
    return build_workstation(CASE)


@pytest.fixture(scope="module")
def image(built, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("workstation")
    built.write(folder / "disk.img", folder / "answers.json")
    assert json.loads((folder / "answers.json").read_text()) == built.facts
    return folder / "disk.img"


@pytest.fixture(scope="module")
def disk(image, tmp_path_factory) -> Extracted:
    offset = windows_partition(image)
    return Extracted(offset, listing(image, offset, "-u"), listing(image, offset, "-d"),
                     tmp_path_factory.mktemp("extracted"))


# -- the sources, each read by its tools ------------------------------------------------------------------------------

USER = "Users/mvdberg"
HIVES = {"SYSTEM": "Windows/System32/config/SYSTEM", "SOFTWARE": "Windows/System32/config/SOFTWARE",
         "SAM": "Windows/System32/config/SAM", "NTUSER.DAT": f"{USER}/NTUSER.DAT",
         "UsrClass.dat": f"{USER}/AppData/Local/Microsoft/Windows/UsrClass.dat"}
LOGS = "Windows/System32/winevt/Logs"
EVTX = {"Security": f"{LOGS}/Security.evtx", "System": f"{LOGS}/System.evtx",
        "PowerShell": f"{LOGS}/Microsoft-Windows-PowerShell%4Operational.evtx"}


@dataclass(frozen=True)
class Rec:
    record_id: int
    event_id: int
    created: str
    computer: str
    data: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str:
        return dict(self.data)[name]


def _canonical(text: str) -> str:
    """One spelling where the parsers print a value differently: a HexInt64 (the Rust parser pads it to 16 digits)
    and a GUID (the Rust parser leaves the braces off)."""
    if text.startswith("0x") and all(c in "0123456789abcdefABCDEF" for c in text[2:]) and len(text) > 2:
        return hex(int(text, 16))
    if len(text) == 36 and text.count("-") == 4:
        return "{" + text.lower() + "}"
    if len(text) >= 19 and text[4] == text[7] == "-" and text[10] in " T" and text[13] == text[16] == ":":
        return _when(text)  # a FILETIME field (Kernel-General's StartTime, StopTime): each parser spells it its way
    return text.lower() if len(text) == 38 and text.startswith("{") and text.count("-") == 4 else text


def _when(text: str) -> str:
    """A parser's spelling of a time (``2024-03-01 08:02:00+00:00``, ``…T08:02:00.000000000Z``) as ``iso`` gives it,
    to the microsecond (python-evtx's precision)."""
    day, _, rest = text.replace("T", " ").partition(" ")
    clock = rest.replace("Z", "").split("+")[0]
    whole, _, fraction = clock.partition(".")
    moment = datetime.fromisoformat(f"{day} {whole}").replace(tzinfo=UTC)
    return iso(moment.replace(microsecond=int((fraction + "000000")[:6])))


def _rec(xml: str, created: str, binary=bytes.fromhex) -> Rec:
    """``binary`` decodes a classic event's Binary: libevtx and Rust print hex, python-evtx base64."""
    event = ET.fromstring(xml)
    system = event.find(f"{EVENT_NS}System")
    payload = event.find(f"{EVENT_NS}EventData")
    if payload is not None and len(payload) and all(d.get("Name") is None for d in payload):
        (_, strings), (_, shown) = classic_from_xml(payload)  # EventLog's 6005, 6009, 6013, 6006
        data = (("Data", "|".join(strings)), ("Binary", binary(shown).hex()))
    elif payload is not None:  # named fields, and the Binary a classic-keyword event carries after them (7036)
        data = tuple(("Binary", binary(d.text or "").hex()) if d.tag == f"{EVENT_NS}Binary"
                     else (d.get("Name"), _canonical(d.text or "")) for d in payload)
    else:
        (element,) = event.find(f"{EVENT_NS}UserData")
        data = tuple((child.tag.rsplit("}", 1)[-1], _canonical(child.text or "")) for child in element)
    return Rec(int(system.findtext(f"{EVENT_NS}EventRecordID")), int(system.findtext(f"{EVENT_NS}EventID")),
               created, system.findtext(f"{EVENT_NS}Computer"), data)


def read_python_evtx(path: Path) -> list[Rec]:
    """python-evtx: header and chunk CRCs checked; its SystemTime goes through a float (sub-ms noise), so it is
    rounded to the millisecond, which keeps a whole-second time whole and a shifted one shifted."""
    out = []
    with python_evtx.Evtx(str(path)) as log:
        header = log.get_file_header()
        assert header.verify() and all(chunk.verify() for chunk in header.chunks()), f"{path.name}: CRC"
        for record in log.records():
            xml = record.xml()
            text = ET.fromstring(xml).find(f"{EVENT_NS}System/{EVENT_NS}TimeCreated").get("SystemTime")
            when = datetime.fromisoformat(text.replace("Z", "").split("+")[0]).replace(tzinfo=UTC)
            millis = round(when.timestamp() * 1000)
            when = datetime.fromtimestamp(millis // 1000, UTC).replace(microsecond=(millis % 1000) * 1000)
            out.append(_rec(xml, iso(when), base64.b64decode))
    return out


def read_libevtx(path: Path) -> list[Rec]:
    log = pyevtx.file()
    log.open(str(path))
    try:
        assert not log.is_corrupted() and log.number_of_recovered_records == 0, f"{path.name}: libevtx"
        return [_rec(r.xml_string, iso(r.get_creation_time_as_integer())) for r in log.records]
    finally:
        log.close()


def read_rust_evtx(path: Path) -> list[Rec]:
    """The ``evtx`` (Rust) package's parser, checksums validated."""
    out = []
    for entry in rust_evtx.PyEvtxParser(str(path), validate_checksums=True).records():
        text = ET.fromstring(entry["data"]).find(f"{EVENT_NS}System/{EVENT_NS}TimeCreated").get("SystemTime")
        out.append(_rec(entry["data"], iso(datetime.fromisoformat(text.replace("Z", "+00:00")))))
    return out


def read_logs(files: dict[str, Path]) -> dict[str, list[Rec]]:
    """Each log by the three readers, which must agree record for record."""
    out = {}
    for name, path in files.items():
        by_libevtx = read_libevtx(path)
        assert read_python_evtx(path) == by_libevtx, f"{name}: python-evtx and libevtx differ"
        assert read_rust_evtx(path) == by_libevtx, f"{name}: evtx (Rust) and libevtx differ"
        out[name] = by_libevtx
    return out


def regipy_key(hive: Path, path: str):
    return regipy_registry.RegistryHive(str(hive)).get_key(path)


def registry_times(hives: dict[str, Path], sid: str) -> dict[str, dict[str, str]]:
    """The story's registry keys and values: regipy and hivex must give the same last-written times."""
    keys = {("SOFTWARE", r"Microsoft\Windows\CurrentVersion\Run"): "persisted",
            ("SYSTEM", rf"ControlSet001\Services\{CASE.service_name}"): "persisted",
            ("NTUSER.DAT", r"Software\Microsoft\Windows\CurrentVersion\Explorer\RecentDocs"): "document_opened",
            ("NTUSER.DAT", rf"{USER_ASSIST}\{USER_ASSIST_PROGRAMS}\Count"): "payload_run"}
    out: dict[str, dict[str, str]] = {}
    views = {name: hivex_view(hives[name]) for name in {hive for hive, _ in keys}}
    for (hive, path), step in keys.items():
        by_regipy = regipy_key(hives[hive], "\\" + path).header.last_modified
        assert views[hive][path].last_written == by_regipy, f"{hive}\\{path}: regipy and hivex differ"
        out.setdefault(step, {})[f"registry {hive}\\{path}"] = iso(by_regipy)
    count = regipy_key(hives["NTUSER.DAT"], rf"\{USER_ASSIST}\{USER_ASSIST_PROGRAMS}\Count")
    for value in count.iter_values(trim_values=False):
        name = codecs.decode(value.name, "rot13")
        if name.endswith(CASE.payload_name):
            out["payload_run"]["UserAssist last run"] = iso(struct.unpack_from("<Q", value.value, 60)[0])
    sam = hivex_view(hives["SAM"])[rf"SAM\Domains\Account\Users\{CASE.user.rid:08X}"]
    f_value = next(data for name, _, data in sam.values if name == "F")
    profile = regipy_key(hives["SOFTWARE"], rf"\Microsoft\Windows NT\CurrentVersion\ProfileList\{sid}")
    out["returned"] = {"SAM F last logon": iso(struct.unpack_from("<Q", f_value, 8)[0]),
                       "registry ProfileList": iso(profile.header.last_modified)}
    shutdown = regipy_key(hives["SYSTEM"], r"\ControlSet001\Control\Windows")
    out["shutdown"] = {"SYSTEM ShutdownTime": iso(struct.unpack("<Q", shutdown.get_value("ShutdownTime"))[0]),
                       "registry Control\\Windows": iso(shutdown.header.last_modified)}
    plugin = USBSTORPlugin(regipy_registry.RegistryHive(str(hives["SYSTEM"]), hive_type="system"), as_json=False)
    plugin.run()
    (stick,) = plugin.entries
    out.setdefault("usb_inserted", {})["USBSTOR last connected"] = iso(stick["last_connected"])
    out.setdefault("usb_removed", {})["USBSTOR last removed"] = iso(stick["last_removed"])
    return out


def usn_records(journal: Path, folder: Path) -> list[tuple[str, str, str]]:
    """usnparser's bodyfile: (name with reasons, record-sequence, time) per record."""
    if not Path(USNPARSER).is_file():
        pytest.fail("usnparser is not installed in this environment (pip install usnparser==4.1.5)")
    out = folder / "usn.body"
    subprocess.run([sys.executable, USNPARSER, "-b", "-f", str(journal), "-o", str(out)], check=True, timeout=120)
    rows = []
    for line in out.read_text().splitlines():
        fields = line.split("|")
        rows.append((fields[1], fields[2], iso(datetime.fromtimestamp(int(fields[8]), UTC))))
    return rows


def journal_time(rows: list[tuple[str, str, str]], name: str, reason: str) -> str:
    found = {when for label, _, when in rows if label == f"{name} (USN: {reason})"}
    assert len(found) == 1, f"journal: {name} {reason}: {found}"
    return found.pop()


@dataclass
class Sources:
    """Every file the checks read, extracted by icat into one folder (a planted defect edits a copy)."""

    hives: dict[str, Path]
    logs: dict[str, Path]
    journal: Path
    zone: Path
    index: Path


def extract(disk: Extracted, image: Path, facts: dict) -> Sources:
    bin_path = facts["recycled"]["index_file"][3:].replace("\\", "/")
    return Sources({name: disk.icat(image, path, name) for name, path in HIVES.items()},
                   {name: disk.icat(image, path, f"{name}.evtx") for name, path in EVTX.items()},
                   disk.icat(image, "$Extend/$UsnJrnl:$J", "J"),
                   disk.icat(image, f"{USER}/Downloads/{CASE.payload_name}:Zone.Identifier", "zone"),
                   disk.icat(image, bin_path, "index"))


def story_times(sources: Sources, disk: Extracted, image: Path, facts: dict) -> dict[str, dict[str, str]]:
    """Step → {source: time} for every step several sources record (plus the answer key's value)."""
    times = registry_times(sources.hives, facts["accounts"][0]["sid"])
    logs = read_logs(sources.logs)
    security = logs["Security"]
    by_id = {}
    for name, records in logs.items():
        for rec in records:
            by_id.setdefault((name, rec.event_id), []).append(rec)
    times["persisted"]["System 7045"] = by_id[("System", 7045)][0].created
    times["persisted"]["PowerShell 4104"] = by_id[("PowerShell", 4104)][0].created
    times["log_cleared"] = {"Security 1102": by_id[("Security", 1102)][0].created}
    logons = {rec.get("LogonType"): rec for rec in security if rec.event_id == 4624}
    times["next_logon"] = {"Security 4624 type 2": logons["2"].created}
    times["returned"]["Security 4624 type 10"] = logons["10"].created
    times["implant_started"] = {"Security 4688": by_id[("Security", 4688)][0].created}

    rows = usn_records(sources.journal, disk.folder)
    payload = f"{USER}/Downloads/{CASE.payload_name}"
    implant = f"Windows/System32/{CASE.implant_name}"
    recycled_r = facts["recycled"]["data_file"][3:].replace("\\", "/")
    stat = {path: disk.istat(image, path) for path in (payload, implant, recycled_r, f"{USER}/Documents",
                                                       HIVES["SYSTEM"])}
    times["shutdown"]["MFT SI modified (SYSTEM hive)"] = stat[HIVES["SYSTEM"]]["si"]["File Modified"]
    times["shutdown"]["System 13 (Kernel-General StopTime)"] = by_id[("System", 13)][-1].created
    times["downloaded"] = {"MFT SI created": stat[payload]["si"]["Created"],
                           "MFT FN created": stat[payload]["fn"]["Created"],
                           "USN create (.crdownload)": journal_time(rows, f"{CASE.payload_name}.crdownload",
                                                                    "FILE_CREATE")}
    times["download_finished"] = {"MFT SI modified": stat[payload]["si"]["File Modified"],
                                  "USN close (.crdownload)": journal_time(rows, f"{CASE.payload_name}.crdownload",
                                                                          "DATA_EXTEND FILE_CREATE CLOSE"),
                                  "USN rename": journal_time(rows, CASE.payload_name, "RENAME_NEW_NAME CLOSE"),
                                  "USN Zone.Identifier": journal_time(rows, CASE.payload_name,
                                                                      "NAMED_DATA_EXTEND STREAM_CHANGE CLOSE")}
    times["payload_run"].update({
        "MFT FN created (implant)": stat[implant]["fn"]["Created"],
        "MFT SI changed (implant)": stat[implant]["si"]["MFT Modified"],
        "USN create (implant)": journal_time(rows, CASE.implant_name, "DATA_EXTEND FILE_CREATE CLOSE"),
        "USN timestomp (implant)": journal_time(rows, CASE.implant_name, "BASIC_INFO_CHANGE CLOSE")})
    deleted_ft = struct.unpack_from("<Q", sources.index.read_bytes(), 16)[0]
    times["file_recycled"] = {"$I deleted": iso(deleted_ft),
                              "MFT SI changed ($R)": stat[recycled_r]["si"]["MFT Modified"],
                              "USN rename": journal_time(rows, CASE.documents[1], "RENAME_OLD_NAME")}
    times["file_deleted"] = {"USN delete": journal_time(rows, CASE.documents[2], "FILE_DELETE CLOSE"),
                             "MFT SI modified (Documents)": stat[f"{USER}/Documents"]["si"]["File Modified"]}
    key = {"persisted": facts["run_key"]["last_written"], "document_opened": facts["document_opened"]["time"],
           "payload_run": facts["implant"]["fn_created"], "usb_inserted": facts["usb"]["inserted"],
           "usb_removed": facts["usb"]["removed"], "log_cleared": facts["log_cleared"]["time"],
           "next_logon": facts["logons"][0]["time"], "returned": facts["logons"][1]["time"],
           "implant_started": facts["process"]["time"], "downloaded": facts["download"]["time"],
           "download_finished": facts["browser"]["finished"],
           "file_recycled": facts["recycled"]["time"], "file_deleted": facts["deleted"]["time"],
           "shutdown": facts["last_shutdown"]}
    for step, when in key.items():
        times[step]["answer key"] = when
    return times


def disagreements(times: dict[str, dict[str, str]]) -> list[str]:
    """Steps whose sources do not all show one time, each with what every source showed."""
    return [f"{step}: {seen}" for step, seen in sorted(times.items()) if len(set(seen.values())) != 1]


@pytest.fixture(scope="module")
def sources(built, disk, image) -> Sources:
    return extract(disk, image, built.facts)


# -- the tests --------------------------------------------------------------------------------------------------------


def test_tsk_finds_every_artefact_where_windows_keeps_it(built, disk):
    facts = built.facts
    for path in (*HIVES.values(), *EVTX.values(), f"{USER}/Downloads/{CASE.payload_name}:Zone.Identifier",
                 f"Windows/System32/{CASE.implant_name}", f"{USER}/Documents/{CASE.documents[0]}",
                 facts["recycled"]["index_file"][3:].replace("\\", "/"),
                 facts["recycled"]["data_file"][3:].replace("\\", "/")):
        assert path in disk.live, path
    assert f"{USER}/Documents/{CASE.documents[1]}" not in disk.live  # recycled: only $R holds it now
    deleted = f"{USER}/Documents/{CASE.documents[2]}"
    assert deleted not in disk.live and deleted in disk.deleted
    for item in ("download", "implant", "document_opened", "recycled"):
        path = facts[item].get("path") or facts[item]["data_file"]
        assert disk.live[path[3:].replace("\\", "/")].split("-")[0] == str(facts[item]["mft"][0]), item


def test_mft_shows_the_deleted_file_free_and_recoverable_and_the_implant_timestomped(built, disk, image):
    facts, decided = built.facts, built.decided
    deleted = f"{USER}/Documents/{CASE.documents[2]}"
    header = disk.istat(image, deleted)["header"]
    assert [int(header["entry"]), int(header["sequence"])] == facts["deleted"]["mft"]
    recovered = _run(tool("icat"), "-o", str(disk.offset), str(image), disk.deleted[deleted].split("-")[0])
    assert recovered == decided.contents[deleted]
    implant = disk.istat(image, f"Windows/System32/{CASE.implant_name}")
    assert implant["si"]["Created"] == facts["implant"]["si_created"] == iso(TIMELINE.installed)
    assert implant["fn"]["Created"] == facts["implant"]["fn_created"] != implant["si"]["Created"]


def _partition(image: Path, disk: Extracted) -> Path:
    """The Windows partition alone (where mmls put it, as long as mmls says), for tools that take no offset."""
    rows = [line.split(maxsplit=5) for line in _run(tool("mmls"), str(image)).decode().splitlines()]
    (length,) = [int(r[4]) for r in rows if len(r) == 6 and r[2].isdigit() and int(r[2]) == disk.offset]
    out = disk.folder / "windows.img"
    with open(image, "rb") as source:
        source.seek(disk.offset * 512)
        out.write_bytes(source.read(length * 512))
    return out


def test_libfsntfs_and_ntfs3g_read_the_timestomp_and_the_stream_too(built, disk, image):
    facts = built.facts
    partition = _partition(image, disk)
    try:
        fix = subprocess.run([tool("ntfsfix"), "-n", str(partition)], capture_output=True, text=True, timeout=120)
        assert fix.returncode == 0, fix.stdout + fix.stderr
        vol = pyfsntfs.volume()
        vol.open(str(partition))
        try:
            implant = vol.get_file_entry_by_path(facts["implant"]["path"][2:])
            fn = next(implant.get_attribute(i) for i in range(implant.number_of_attributes)
                      if implant.get_attribute(i).attribute_type == 0x30)
            assert iso(implant.get_creation_time_as_integer()) == facts["implant"]["si_created"]
            assert iso(fn.get_creation_time_as_integer()) == facts["implant"]["fn_created"]
            payload = vol.get_file_entry_by_path(facts["download"]["path"][2:])
            assert iso(payload.get_creation_time_as_integer()) == facts["download"]["time"]
            zone = payload.get_alternate_data_stream_by_name("Zone.Identifier")
            assert f"HostUrl={facts['download']['url']}" in zone.read_buffer(zone.get_size()).decode()
        finally:
            vol.close()
    finally:
        partition.unlink()


def test_zone_identifier_and_recycle_bin_index_name_the_download_and_the_original(built, sources):
    facts = built.facts
    zone = sources.zone.read_bytes().decode().split("\r\n")
    assert "ZoneId=3" in zone and f"HostUrl={facts['download']['url']}" in zone
    data = sources.index.read_bytes()
    version, size, _, chars = struct.unpack_from("<qqQI", data)
    original = data[28:28 + 2 * chars].decode("utf-16-le").rstrip("\0")
    assert (version, original) == (2, facts["recycled"]["original"])
    assert size == len(built.decided.contents[facts["recycled"]["original"][3:].replace("\\", "/")])


def test_registry_facts_read_by_regipy_plugins_and_hivex(built, sources):
    facts = built.facts
    system = regipy_registry.RegistryHive(str(sources.hives["SYSTEM"]), hive_type="system")
    plugin = ComputerNamePlugin(system, as_json=False)
    plugin.run()
    assert [entry["name"] for entry in plugin.entries] == [facts["computer_name"]]
    tz = regipy_key(sources.hives["SYSTEM"], r"\ControlSet001\Control\TimeZoneInformation")
    assert tz.get_value("TimeZoneKeyName") == facts["time_zone"]
    stor = hivex_view(sources.hives["SYSTEM"])
    instances = [p for p in stor if p.startswith("ControlSet001\\Enum\\USBSTOR\\") and p.count("\\") == 4]
    assert instances == [rf"ControlSet001\Enum\USBSTOR\{facts['usb']['device']}\{facts['usb']['serial']}&0"]
    run = hivex_view(sources.hives["SOFTWARE"])[facts["run_key"]["key"]]
    values = {name: data.decode("utf-16-le").rstrip("\0") for name, _, data in run.values}
    assert values[facts["run_key"]["value"]] == facts["run_key"]["data"]
    assert regipy_key(sources.hives["SOFTWARE"], "\\" + facts["run_key"]["key"]).get_value(
        facts["run_key"]["value"]) == facts["run_key"]["data"]
    count = regipy_key(sources.hives["NTUSER.DAT"], rf"\{USER_ASSIST}\{USER_ASSIST_PROGRAMS}\Count")
    ran = [codecs.decode(value.name, "rot13") for value in count.iter_values(trim_values=False)]
    assert facts["payload_run"]["user_assist"] in ran
    sam = hivex_view(sources.hives["SAM"])
    for account in facts["accounts"]:
        (value,) = sam[rf"SAM\Domains\Account\Users\Names\{account['name']}"].values
        assert value[1] == account["rid"]  # SAM stores the RID as the value's type
    assert account["sid"].startswith(facts["machine_sid"] + "-")


def test_event_logs_hold_what_the_answer_key_says_for_both_readers(built, sources):
    facts = built.facts
    logs = read_logs(sources.logs)
    assert {rec.computer for records in logs.values() for rec in records} == {facts["computer_name"]}
    security = logs["Security"]
    assert [rec.event_id for rec in security] == [1102, 4647, 4634, 4634, 4634, 4634, 4624, 4672, 4624, 4688,
                                                  4624, 4672, 4624, 4647, 4634, 4634, 4634, 4634, 1100]
    # The clear took the earlier records with it (weeks of them, and the story's 8 before it); the ids go on.
    assert security[0].record_id == 1 + security_before(CASE) + 8 > 200  # this case: two boots before
    assert [rec.record_id for rec in security] == list(range(security[0].record_id, security[-1].record_id + 1))
    security = [rec for rec in security if dict(rec.data).get("ElevatedToken") != "%%1842"]  # key: limited ones
    local = next(rec for rec in security if rec.event_id == 4624 and rec.get("LogonType") == "2")
    assert local.get("IpAddress") == facts["logons"][0]["ip"]
    assert int(local.get("IpPort")) == facts["logons"][0]["port"] == 0
    remote = next(rec for rec in security if rec.event_id == 4624 and rec.get("LogonType") == "10")
    assert remote.get("IpAddress") == facts["intruder"]["ip"] == facts["logons"][1]["ip"]
    assert int(remote.get("TargetLogonId"), 16) == int(facts["logons"][1]["logon_id"], 16)
    assert int(remote.get("IpPort")) == facts["logons"][1]["port"]  # the returning visit's own client port
    process = next(rec for rec in security if rec.event_id == 4688)
    assert process.get("CommandLine") == facts["process"]["command_line"]
    assert int(process.get("NewProcessId"), 16) == facts["process"]["pid"]
    (service,) = [rec for rec in logs["System"] if rec.event_id == 7045]
    assert (service.event_id, service.get("ServiceName"), service.get("ImagePath")) == (
        7045, facts["service"]["name"], facts["service"]["image_path"])
    # The console starting (40961, its IPC thread's 53504, 40962), then the script block.
    assert [rec.event_id for rec in logs["PowerShell"]] == [40961, 53504, 40962, 4104]
    script = logs["PowerShell"][-1]
    assert script.event_id == 4104 and facts["run_key"]["value"] in script.get("ScriptBlockText")


def test_the_7045_announces_the_service_key_system_holds(built, sources):
    """Each reader of SYSTEM finds the key the System log's 7045 names, with the event's image path, start and
    type, and last written at the event's time (the SCM writes the key, then logs it)."""
    (event,) = [rec for rec in read_logs({"System": sources.logs["System"]})["System"] if rec.event_id == 7045]
    service = built.facts["service"]
    assert (built.facts["service"]["hive"], service["key"]) == ("SYSTEM", rf"ControlSet001\Services\{service['name']}")
    system = regipy_registry.RegistryHive(str(sources.hives["SYSTEM"]), hive_type="system")
    plugin = ServicesPlugin(system, as_json=False)
    plugin.run()
    (entry,) = [e for e in plugin.entries[r"\ControlSet001\Services"]["services"] if e["name"] == service["name"]]
    by_regipy = {v["name"]: v["value"] for v in entry["values"]}
    by_hivex = hivex_view(sources.hives["SYSTEM"])[service["key"]]
    by_libregf = libregf_view(sources.hives["SYSTEM"])[service["key"]]
    assert by_hivex.values == by_libregf.values
    assert by_hivex.last_written == by_libregf.last_written == filetime(entry["last_modified"])
    assert iso(by_hivex.last_written) == event.created == service["installed"]
    assert event.get("ServiceName") == by_regipy["DisplayName"] == service["name"]
    assert event.get("ImagePath") == by_regipy["ImagePath"] == service["image_path"]
    assert event.get("StartType") == SERVICE_STARTS[by_regipy["Start"]] == service["start_type"]
    assert event.get("ServiceType") == SERVICE_TYPES[by_regipy["Type"]]
    assert event.get("AccountName") == by_regipy["ObjectName"]


def test_journal_names_each_file_by_its_mft_reference_then(built, disk, sources):
    """The journal keeps the reference a file had when it changed: the deleted file's live sequence, one below the
    one its freed record now carries; the recycled document's creation under its old name, by its record."""
    facts = built.facts
    refs: dict[str, set[str]] = {}
    for label, ref, _ in usn_records(sources.journal, disk.folder):
        refs.setdefault(label.split(" (USN: ")[0], set()).add(ref)
    entry, sequence = facts["deleted"]["mft"]
    assert refs[CASE.documents[2]] == {f"{entry}-{sequence - 1}"}
    for name, item in ((CASE.payload_name, "download"), (CASE.implant_name, "implant"),
                       (CASE.documents[1], "recycled"), (CASE.documents[0], "document_opened")):
        assert refs[name] == {"{}-{}".format(*facts[item]["mft"])}, name


def test_every_source_shows_each_step_at_the_same_time(built, disk, image, sources):
    times = story_times(sources, disk, image, built.facts)
    assert disagreements(times) == []
    assert all(len(seen) >= 2 for seen in times.values())  # each step checked against another source


def _shift_key_time(hive: Path, path: str, delta: timedelta) -> None:
    """Move one key's last-written time in the file (the nk cell: signature, flags, then the FILETIME)."""
    import pyregf

    regf = pyregf.file()
    regf.open(str(hive))
    offset = regf.get_key_by_path(path).offset
    regf.close()
    data = bytearray(hive.read_bytes())
    assert data[offset:offset + 2] == b"nk"
    struct.pack_into("<Q", data, offset + 4, struct.unpack_from("<Q", data, offset + 4)[0]
                     + int(delta.total_seconds()) * 10_000_000)
    hive.write_bytes(bytes(data))


def test_a_registry_time_shifted_by_a_minute_is_reported(built, disk, image, sources):
    _shift_key_time(sources.hives["SOFTWARE"], r"\Microsoft\Windows\CurrentVersion\Run", timedelta(minutes=1))
    try:
        found = disagreements(story_times(sources, disk, image, built.facts))
        assert len(found) == 1 and found[0].startswith("persisted:") and "14:07:02" in found[0], found
    finally:
        extract(disk, image, built.facts)  # restore the clean copies for any test after this one


def test_a_journal_record_time_shifted_is_reported(built, disk, image, sources):
    data = bytearray(sources.journal.read_bytes())
    name = CASE.documents[2].encode("utf-16-le")
    at_name = data.rindex(name)
    record = at_name - 0x3C  # USN_RECORD_V2: the name follows the fixed 0x3C bytes; the time is at 0x20
    struct.pack_into("<Q", data, record + 0x20, struct.unpack_from("<Q", data, record + 0x20)[0] + 10_000_000)
    sources.journal.write_bytes(bytes(data))
    try:
        found = disagreements(story_times(sources, disk, image, built.facts))
        assert len(found) == 1 and found[0].startswith("file_deleted:"), found
    finally:
        extract(disk, image, built.facts)


def test_same_case_same_bytes_other_seed_other_machine(built):
    def digest(workstation) -> str:
        h = hashlib.sha256(str(workstation.disk.size).encode())
        for offset, data in workstation.disk.chunks:
            h.update(offset.to_bytes(8, "little") + hashlib.sha256(data).digest())
        return h.hexdigest()

    again = build_workstation(CASE)
    assert digest(again) == digest(built) and again.facts == built.facts
    other = build_workstation(replace(CASE, seed="case-7/trainee-13"))
    assert digest(other) != digest(built)
    assert other.facts["machine_sid"] != built.facts["machine_sid"]
    assert other.facts["usb"]["serial"] != built.facts["usb"]["serial"]


def test_each_remote_desktop_visit_has_its_own_client_port():
    """mstsc opens every connection from a new ephemeral port, so the two visits never share one, for any seed."""
    from dflab.evidence.windows.workstation.decisions import RDP_STEPS, _rdp_ports, decide

    assert decide(CASE).intruder_ports == _rdp_ports(CASE.seed)
    for n in range(5000):
        ports = _rdp_ports(f"case-7/trainee-{n}")
        assert tuple(ports) == RDP_STEPS and len(set(ports.values())) == 2, n
        assert all(49152 <= p < 49152 + 16000 for p in ports.values()), n


def test_a_mistaken_case_is_one_line_naming_what_is_wrong():
    with pytest.raises(DflabError, match="timeline.persisted"):
        replace(TIMELINE, persisted=TIMELINE.payload_run)
    with pytest.raises(DflabError, match="DESKTOP-TOO-LONG-NAME"):
        replace(CASE, computer_name="DESKTOP-TOO-LONG-NAME")
    with pytest.raises(DflabError, match="timeline.document_opened"):
        build_workstation(replace(CASE, timeline=replace(TIMELINE, document_opened=at(4, 9, 10, 30))))



# -- the MFT's numbering and the journal's order, as Windows makes them ----------------------------------------------


def fn_created(disk: Extracted, image: Path) -> list[tuple[int, str, str]]:
    """(entry, $FILE_NAME created, path) for every file and folder of the case (entries from 64: NTFS's own and the
    $Extend files come before), live and deleted, as fls and istat show them, in entry order."""
    out = {}
    for path, address in (*disk.live.items(), *disk.deleted.items()):
        entry = int(address.split("-")[0])
        if entry >= 64 and ":" not in path and not path.startswith("$") and entry not in out:  # not $OrphanFiles
            out[entry] = (disk.istat(image, path)["fn"]["Created"], path)
    return [(entry, *out[entry]) for entry in sorted(out)]


def test_mft_entries_rise_with_creation_time(disk, image):
    """Windows gives each new file the lowest free MFT entry, so on a volume used since its install the entry
    numbers rise with the $FILE_NAME creation times: Windows' own files first, then the story's in time order."""
    rows = fn_created(disk, image)
    assert len(rows) > 60
    late = [f"{a[2]} (entry {a[0]}, created {a[1]}) before {b[2]} (entry {b[0]}, created {b[1]})"
            for a, b in pairwise(rows) if b[1].rstrip("Z") < a[1].rstrip("Z")]  # "…40Z" and "…40.5Z" in order
    assert late == []
    entries = {path: entry for entry, _, path in rows}
    docs = f"{USER}/Documents"
    assert entries[f"Windows/System32/{CASE.implant_name}"] > entries[f"{USER}/Downloads/{CASE.payload_name}"] \
        > entries[f"{docs}/{CASE.documents[0]}"] > entries["Program Files/Google/Chrome/Application/chrome.exe"] \
        > entries["Windows/System32/ntdll.dll"]
    assert {"Users/Public/Documents", "Users/Default/AppData/Roaming"} <= set(entries)


def test_the_journal_creates_each_folder_before_what_it_holds(disk, sources):
    """A file's FILE_CREATE comes after its folder's, when the folder was created in the journal too (Chrome's
    profile folders before History, the Recycle Bin before $I). usnparser gives each record's name and reference,
    TSK each entry's path; a file renamed or moved since (``$R``, created in Documents) is left out."""
    paths = {int(address.split("-")[0]): path for path, address in (*disk.deleted.items(), *disk.live.items())
             if ":" not in path}
    entries = {path: entry for entry, path in paths.items()}
    first: dict[int, int] = {}
    rows = usn_records(sources.journal, disk.folder)
    for k, (label, ref, _) in enumerate(rows):
        if "FILE_CREATE" in label.split(" (USN: ")[1]:
            first.setdefault(int(ref.split("-")[0]), k)
    late = []
    for entry, k in first.items():
        name = rows[k][0].split(" (USN: ")[0]
        path = paths[entry]
        parent = entries.get(path.rpartition("/")[0])
        if path.rpartition("/")[2] == name and parent in first and first[parent] > k:
            late.append(f"{path} (record {k}) before its folder (record {first[parent]})")
    assert len(first) > 10 and late == []
    history = entries[f"{USER}/AppData/Local/Google/Chrome/User Data/Default/History"]
    assert first[entries[f"{USER}/AppData/Local/Google"]] < first[history]


def test_the_deleted_files_entry_differs_between_trainees(built):
    """What Windows made between its install and the story (Defender's and Windows Update's files, a count drawn
    per case) moves the story's files to other entries on each trainee's volume."""
    entries = {tuple(built.facts["deleted"]["mft"])}
    for trainee in (13, 14):
        entries.add(tuple(build_workstation(replace(CASE, seed=f"case-7/trainee-{trainee}")).facts["deleted"]["mft"]))
    assert len(entries) == 3
