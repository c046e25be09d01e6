"""What Windows writes around the story's events: PowerShell's console starting before its script block, and the
Service Control Manager's 7036 with the binary naming the service's key.

PowerShell/Operational must hold, before the persistence script's 4104 and from the same process, the console's
40961 (starting up), the IPC thread's 53504 (naming that process) and 40962 (ready), shaped as Windows 10 writes
them; every 7036 in System must carry the ``<Binary>`` the SCM appends, the service's key name and state number in
UTF-16 (``BITS/4``), agreeing with the state its text gives. Both logs are read by python-evtx and by libevtx, which
must agree; each check is shown failing on a planted inconsistency.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import Evtx.Evtx as python_evtx
import pyevtx
import pytest

from dflab.evidence.windows.evtx import build_logs
from dflab.evidence.windows.evtx.events import FILE_NAMES, POWERSHELL_OPERATIONAL, SYSTEM, Logged
from dflab.evidence.windows.evtx.routine import service_state
from dflab.evidence.windows.workstation.decisions import decide
from dflab.evidence.windows.workstation.logs import event_logs, machine, story_events
from tests.test_windows_workstation import CASE

pytestmark = pytest.mark.xdist_group("windows_logs_console")
NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
# A few services' key names, as `sc query` lists them beside their display names on Windows 10 22H2.
KEY_NAMES = {"Background Intelligent Transfer Service": "BITS", "Windows Update": "wuauserv",
             "Windows Event Log": "EventLog", "DHCP Client": "Dhcp", "Remote Desktop Services": "TermService",
             "AppX Deployment Service (AppXSVC)": "AppXSvc", "Windows Modules Installer": "TrustedInstaller"}


@dataclass(frozen=True)
class Record:
    """One record as a parser shows it: header facts, execution, user, data fields, the Binary's bytes."""

    event_id: int
    version: int
    level: int
    task: int
    opcode: int
    keywords: int
    time: str
    process_id: int
    thread_id: int
    user: str
    data: tuple[tuple[str, str], ...]
    binary: bytes | None


def _record(xml: str, decode_binary) -> Record:
    event = ET.fromstring(xml)
    system = event.find(f"{NS}System")
    execution = system.find(f"{NS}Execution")
    payload = event.find(f"{NS}EventData")
    data, binary = [], None
    for item in payload if payload is not None else ():
        if item.tag == f"{NS}Binary":
            binary = decode_binary((item.text or "").strip())
        else:
            data.append((item.get("Name"), item.text or ""))
    created = system.find(f"{NS}TimeCreated").get("SystemTime").replace(" ", "T").replace("Z", "")
    when = datetime.fromisoformat(created.split("+")[0]).replace(tzinfo=UTC)
    millis = round(when.timestamp() * 1000)  # python-evtx goes through a float: compare to the millisecond
    return Record(int(system.findtext(f"{NS}EventID")), int(system.findtext(f"{NS}Version") or 0),
                  int(system.findtext(f"{NS}Level")), int(system.findtext(f"{NS}Task")),
                  int(system.findtext(f"{NS}Opcode") or 0), int(system.findtext(f"{NS}Keywords"), 16),
                  datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds"),
                  int(execution.get("ProcessID")) if execution is not None else 0,  # classic events have none
                  int(execution.get("ThreadID")) if execution is not None else 0,
                  security.get("UserID") or "" if (security := system.find(f"{NS}Security")) is not None else "",
                  tuple(data), binary)


WATCHED = (7036, 40961, 53504, 40962, 4104)
"""The events checked here (the others, and each parser's spelling of them, are test_windows_evtx's)."""


def _event_id(xml: str) -> int:
    return int(ET.fromstring(xml).find(f"{NS}System").findtext(f"{NS}EventID"))


def read_both(path: Path) -> list[Record]:
    """python-evtx (Binary in base64) and libevtx (Binary in hex) must give the same records."""
    with python_evtx.Evtx(str(path)) as log:
        by_python = [_record(x, base64.b64decode) for r in log.records() if _event_id(x := r.xml()) in WATCHED]
    log = pyevtx.file()
    log.open(str(path))
    try:
        by_libevtx = [_record(r.xml_string, bytes.fromhex) for r in log.records if r.event_identifier in WATCHED]
    finally:
        log.close()
    assert by_python == by_libevtx, f"{path.name}: python-evtx and libevtx differ"
    return by_python


def console_problems(records: list[Record], user_sid: str, persisted: datetime) -> list[str]:
    """What PowerShell's log says that a console's start, before the script block of ``persisted``, contradicts."""
    by_id = {r.event_id: r for r in records}
    missing = [eid for eid in (40961, 53504, 40962, 4104) if eid not in by_id]
    if missing:
        return [f"no {missing} in PowerShell's log"]
    order = [r.event_id for r in records if r.event_id in (40961, 53504, 40962, 4104)]
    problems = [] if order == [40961, 53504, 40962, 4104] else [f"events in the order {order}"]
    shapes = {40961: (1, 4, 4, 1, 0), 53504: (1, 4, 111, 10, 0), 40962: (1, 4, 4, 2, 0)}
    for eid, shape in shapes.items():
        r = by_id[eid]
        if (r.version, r.level, r.task, r.opcode, r.keywords) != shape:
            problems.append(f"{eid} is (version, level, task, opcode, keywords) "
                            f"{(r.version, r.level, r.task, r.opcode, r.keywords)}, not {shape}")
        if r.user != user_sid:
            problems.append(f"{eid} is logged for {r.user}, not the script's user {user_sid}")
    script = by_id[4104]
    if script.time != persisted.isoformat(timespec="milliseconds"):
        problems.append(f"the 4104 is at {script.time}, not the story's {persisted.isoformat()}")
    pids = {by_id[eid].process_id for eid in (40961, 53504, 40962, 4104)}
    if len(pids) != 1:
        problems.append(f"the console's events and the 4104 come from processes {sorted(pids)}")
    if dict(by_id[53504].data) != {"param1": str(script.process_id), "param2": "DefaultAppDomain"}:
        problems.append(f"53504's data {by_id[53504].data} does not name the process {script.process_id}")
    if by_id[40961].thread_id != script.thread_id or by_id[53504].thread_id == script.thread_id:
        problems.append("the console's events are not from the script's thread, or the IPC one is")
    start = datetime.fromisoformat(by_id[40961].time)
    if not timedelta(0) < datetime.fromisoformat(script.time) - start < timedelta(seconds=5):
        problems.append(f"the console started at {start}, not in the seconds before the 4104")
    return problems


def binary_problems(records: list[Record]) -> list[str]:
    """7036s whose Binary is missing or does not name the service's key and the state the text gives."""
    problems = []
    for r in records:
        if r.event_id != 7036:
            continue
        fields = dict(r.data)
        if r.binary is None:
            problems.append(f"7036 of {fields['param1']} at {r.time} has no Binary")
            continue
        text = r.binary.decode("utf-16-le")
        key, _, state = text.rstrip("\0").rpartition("/")
        want_state = {"running": "4", "stopped": "1"}[fields["param2"]]
        if not text.endswith("\0") or state != want_state or not key:
            problems.append(f"7036 of {fields['param1']} ({fields['param2']}) has Binary {text!r}")
        elif fields["param1"] in KEY_NAMES and key != KEY_NAMES[fields["param1"]]:
            problems.append(f"7036 of {fields['param1']} names the key {key!r}, not {KEY_NAMES[fields['param1']]!r}")
    return problems


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, list[Record]]:
    folder = tmp_path_factory.mktemp("console")
    out = {}
    for channel in (POWERSHELL_OPERATIONAL, SYSTEM):
        path = folder / FILE_NAMES[channel]
        event_logs(CASE, decide(CASE))[FILE_NAMES[channel]].write(path)
        out[channel] = read_both(path)
    return out


def test_the_console_starts_before_the_script_block_in_its_process(logs):
    assert console_problems(logs[POWERSHELL_OPERATIONAL], decide(CASE).user_sid, CASE.timeline.persisted) == []


def test_a_console_out_of_place_is_reported(tmp_path):
    decided = decide(CASE)
    events = story_events(CASE, decided)
    late = [replace(e, time=e.time + timedelta(seconds=3)) if isinstance(e, Logged) and e.event_id == 40961 else e
            for e in events]
    other = [replace(e, execution=replace(e.execution, process_id=e.execution.process_id + 4))
             if isinstance(e, Logged) and e.event_id == 53504 else e for e in events]
    for planted, what in ((late, "events in the order"), (other, "processes")):
        path = tmp_path / "ps.evtx"
        build_logs(machine(CASE, decided), planted)[FILE_NAMES[POWERSHELL_OPERATIONAL]].write(path)
        found = console_problems(read_both(path), decided.user_sid, CASE.timeline.persisted)
        assert any(what in p for p in found), found


def test_every_7036_names_its_service_key_and_state_in_its_binary(logs):
    records = [r for r in logs[SYSTEM] if r.event_id == 7036]
    assert len(records) > 100
    assert binary_problems(records) == []
    seen = {dict(r.data)["param1"] for r in records}
    assert {"Windows Event Log", "Background Intelligent Transfer Service"} <= seen
    bits = next(r for r in records if dict(r.data)["param1"] == "Background Intelligent Transfer Service")
    assert bits.binary.hex().upper().startswith("4200490054005300")  # the example: 'BITS' …
    assert bits.binary.hex().upper().endswith("2F00" + ("3400" if dict(bits.data)["param2"] == "running"
                                                        else "3100") + "0000")


def test_a_7036_binary_that_contradicts_its_text_is_reported(tmp_path):
    decided = decide(CASE)
    host = machine(CASE, decided)
    at = CASE.timeline.logon
    good = service_state(at, "Background Intelligent Transfer Service", True, host.services)
    planted = [good,
               replace(good, time=at + timedelta(seconds=1), binary="BITS/1\0".encode("utf-16-le")),  # wrong state
               replace(good, time=at + timedelta(seconds=2), binary="wuauserv/4\0".encode("utf-16-le")),
               replace(good, time=at + timedelta(seconds=3), binary=None)]
    path = tmp_path / "System.evtx"
    build_logs(host, planted)[FILE_NAMES[SYSTEM]].write(path)
    found = binary_problems(read_both(path))
    assert len(found) == 3, found
