"""The workstation's event logs tell the machine's life, not only the story: weeks of boots and shutdowns in
System with record numbers running from 1, Security's numbers going on past its clearing, the final shutdown at
the time SYSTEM's ShutdownTime and the key give, logoffs closing each session, and the victim an administrator
(SAM's Builtin Administrators lists the SID; each logon is UAC's linked pair with a 4672).

Read back by python-evtx, libevtx and the Rust evtx parser (which must agree record for record) and by regipy.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from regipy import registry as regipy_registry

from dflab.evidence.windows.evtx.events import FILE_NAMES, POWERSHELL_OPERATIONAL, SECURITY, SYSTEM
from dflab.evidence.windows.registry.regf import serialize
from dflab.evidence.windows.registry.sam import sam_hive
from dflab.evidence.windows.wintypes import filetime
from dflab.evidence.windows.workstation.decisions import decide
from dflab.evidence.windows.workstation.hives import registry_facts
from dflab.evidence.windows.workstation.logs import elevated_logon_id, event_logs, first_session_end, uptimes
from tests.test_windows_evtx import assert_read_identically, read_python_evtx, types_of
from tests.test_windows_registry import hivex_view
from tests.test_windows_workstation import CASE, TIMELINE

pytestmark = pytest.mark.xdist_group("windows_logs_story")

# Four weeks between installation and the story, as the bundled cases have it.
WEEKS = replace(CASE, timeline=replace(TIMELINE, installed=datetime(2024, 2, 5, 9, 12, tzinfo=UTC)))
NAMES = {"System": SYSTEM, "Security": SECURITY, "PowerShell": POWERSHELL_OPERATIONAL}


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, tuple[Path, object]]:
    folder = tmp_path_factory.mktemp("logs")
    out = {}
    for short, channel in NAMES.items():
        log = event_logs(WEEKS, decide(WEEKS))[FILE_NAMES[channel]]
        path = folder / FILE_NAMES[channel]
        log.write(path)
        out[short] = (path, log)
    return out


@pytest.fixture(scope="module")
def logs(written) -> dict:
    """Each log's records as python-evtx reads them (the first test holds the other two parsers to the same)."""
    return {name: [Rec(r.record_id, r.created, r.event_id, dict(r.data)) for r in read_python_evtx(path, types_of(log))]
            for name, (path, log) in written.items()}


@dataclass(frozen=True)
class Rec:
    record_id: int
    created: int  # FILETIME
    event_id: int
    data: dict

    def get(self, name: str) -> object:
        return self.data[name]


def test_three_parsers_read_the_weeks_of_records_as_written(written):
    for path, log in written.values():
        assert_read_identically(path, log)


def test_system_holds_every_boot_since_installation_numbered_from_one(written, logs):
    system = logs["System"]
    assert [rec.record_id for rec in system] == list(range(1, len(system) + 1))
    assert [rec.created for rec in system] == sorted(rec.created for rec in system)
    boots = uptimes(WEEKS)
    assert len(boots) >= 15 and boots[0].boot > WEEKS.timeline.installed
    started = [rec for rec in system if rec.event_id == 12]
    assert [rec.get("StartTime") for rec in started] == [(filetime(u.boot)) for u in boots]
    stopped = [rec for rec in system if rec.event_id == 13]
    assert [rec.get("StopTime") for rec in stopped] == [(filetime(u.shutdown)) for u in boots]
    for boot, stop, user in zip(started, stopped, [rec for rec in system if rec.event_id == 1074], strict=True):
        assert boot.created < user.created < stop.created
        assert user.get("param5") == "power off" and user.get("param7").endswith("\\" + WEEKS.user.name)
    assert sum(rec.event_id == 7036 for rec in system) > 1000
    for event_id in (6009, 6005, 6006):  # the EventLog service starts with each boot and stops with each shutdown
        assert sum(rec.event_id == event_id for rec in system) == len(boots), event_id
    assert sum(rec.event_id == 6013 for rec in system) >= len(boots)  # the daily uptime report
    path = written["System"][0]
    assert 1 << 20 <= path.stat().st_size <= 20 << 20 and (path.stat().st_size - 4096) % 0x10000 == 0


def test_the_last_shutdown_is_at_the_keys_time_in_both_logs(logs):
    shutdown = (filetime(WEEKS.timeline.shutdown))
    system, security = logs["System"], logs["Security"]
    assert system[-1].event_id == 13 and system[-1].created == system[-1].get("StopTime") == shutdown
    assert [rec.event_id for rec in security[-6:-1]] == [4647, 4634, 4634, 4634, 4634]
    assert security[-1].event_id == 1100 and security[-1].created < shutdown
    last_logon = [rec for rec in security if rec.event_id == 4624][-1].created
    assert all(last_logon < rec.created < shutdown for rec in security[-6:])


def test_each_session_ends_with_its_logoffs(logs):
    decided = decide(WEEKS)
    ids = decided.logon_ids
    security = logs["Security"]
    ended = {rec.get("TargetLogonId"): rec.created for rec in security if rec.event_id == 4634}
    first_day = (filetime(first_session_end(WEEKS)))
    for step in ("remote_logon", "logon"):
        for logon_id in (ids[step], elevated_logon_id(ids[step])):
            assert first_day <= ended[logon_id] < (filetime(WEEKS.timeline.next_logon)), step
    for step in ("returned", "next_logon"):
        for logon_id in (ids[step], elevated_logon_id(ids[step])):
            assert ended[logon_id] < (filetime(WEEKS.timeline.shutdown)), step
    user_logoffs = [rec.get("TargetLogonId") for rec in security if rec.event_id == 4647]
    assert user_logoffs == [elevated_logon_id(ids["remote_logon"]), elevated_logon_id(ids["returned"])]


def test_securitys_numbers_go_on_past_the_clear(written, logs):
    """Windows keeps counting after a clear: the real single-record log in shared/samples has its 1102 as record
    33072, and the sample Security.evtx starts at 31878 with its 1102; so the 1102 here is far from 1."""
    security = logs["Security"]
    assert security[0].event_id == 1102 and security[0].record_id > 1000
    assert [rec.record_id for rec in security] == list(range(security[0].record_id, security[-1].record_id + 1))
    other = replace(WEEKS, seed="case-7/trainee-13")
    assert event_logs(other, decide(other))["Security.evtx"].first_record_id != security[0].record_id
    assert len(event_logs(other, decide(other))["System.evtx"].events) != len(logs["System"])


def test_each_logon_is_uacs_linked_pair_with_its_privileges(logs):
    decided = decide(WEEKS)
    security = logs["Security"]
    logons = [rec for rec in security if rec.event_id == 4624]
    assert len(logons) == 4  # the next morning's and the return's; the first day's were cleared
    for elevated, limited in zip(logons[::2], logons[1::2], strict=True):
        assert elevated.get("ElevatedToken") == "%%1842" and limited.get("ElevatedToken") == "%%1843"
        assert elevated.get("TargetLinkedLogonId") == limited.get("TargetLogonId")
        assert limited.get("TargetLinkedLogonId") == elevated.get("TargetLogonId")
        (privileges,) = [rec for rec in security if rec.event_id == 4672 and rec.created == elevated.created]
        assert privileges.get("SubjectLogonId") == elevated.get("TargetLogonId")
        assert "SeDebugPrivilege" in privileges.get("PrivilegeList")
    limited_ids = [rec.get("TargetLogonId") for rec in logons[1::2]]
    assert limited_ids == [decided.logon_ids["next_logon"], decided.logon_ids["returned"]]  # what the key names
    (cleared,) = [rec for rec in security if rec.event_id == 1102]
    assert cleared.get("SubjectLogonId") == elevated_logon_id(decided.logon_ids["remote_logon"])


def test_sam_lists_the_victim_among_the_administrators(tmp_path):
    decided = decide(WEEKS)
    path = tmp_path / "SAM"
    path.write_bytes(serialize(sam_hive(registry_facts(WEEKS, decided))))
    hive = regipy_registry.RegistryHive(str(path))
    names = hive.get_key(r"\SAM\Domains\Builtin\Aliases\Names\Administrators")
    (default,) = list(names.iter_values(trim_values=False))
    assert int(default.value_type) == 0x220  # the alias' RID as the value's type, as for accounts
    alias = hive.get_key(r"\SAM\Domains\Builtin\Aliases\00000220").get_value("C", as_json=False)
    data = alias if isinstance(alias, bytes) else bytes.fromhex(alias)
    rid, = struct.unpack_from("<I", data, 0)
    name_at, name_len = struct.unpack_from("<II", data, 0x10)
    members_at, members_len, count = struct.unpack_from("<III", data, 0x28)
    assert rid == 0x220 and data[0x34 + name_at:0x34 + name_at + name_len].decode("utf-16-le") == "Administrators"
    sids, at = [], 0x34 + members_at
    while at < 0x34 + members_at + members_len:
        subs = data[at + 1]
        authority = int.from_bytes(data[at + 2:at + 8], "big")
        sids.append("-".join(["S", str(data[at]), str(authority),
                              *map(str, struct.unpack_from(f"<{subs}I", data, at + 8))]))
        at += 8 + 4 * subs
    assert count == len(sids) and sids == [f"{decided.machine_sid}-500", decided.user_sid]
    # The reverse map: the aliases a user is in, their count as the value's type (read raw: regipy decodes type 1).
    members = rf"SAM\Domains\Builtin\Aliases\Members\{decided.machine_sid}"
    (member,) = hivex_view(path)[rf"{members}\{WEEKS.user.rid:08X}"].values
    assert member[1:] == (1, struct.pack("<I", 0x220))
    # The account logged on every day the System log shows the machine on, the story's four logons among them.
    f = hive.get_key(rf"\SAM\Domains\Account\Users\{WEEKS.user.rid:08X}").get_value("F", as_json=False)
    f = f if isinstance(f, bytes) else bytes.fromhex(f)
    assert struct.unpack_from("<H", f, 0x42)[0] == len(uptimes(WEEKS)) - 1 + 4
