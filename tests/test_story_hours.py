"""The workstation's files and its last upgrade keep the machine's hours (#14: no statistical tells, consistent
across sources). The routine the logs tell (dflab/scenario/traces/story.py) boots the machine each weekday morning
and shuts it down each evening, and leaves it off at night and at weekends; on the incident's day it runs from the
boot memory shows to the acquisition. Read back from a written Nightjar with pytsk3 and from dpkg's and apt's
logs on it: no user file, no planned file and no upgrade line falls while the machine was off, files planned on
different days with day offsets (``created: "@start-20d"``) do not share a second of day, and the filler is
named as people name documents (no ``word_word_N``).
"""

from __future__ import annotations

import gzip
import re
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import pytsk3

from dflab.evidence.disk import write_disk
from dflab.scenario.case import Case
from dflab.scenario.draw import DEMO_SECRET, variant_seed
from dflab.scenario.resolve import resolve
from dflab.scenario.spec import TIME_REF, Spec
from dflab.scenario.traces.story import _day
from tests.haystack import haystack_spec

# the bundled default variant, and one whose incident falls on a Monday: "@start-9d", its last upgrade, on a Saturday
TRAINEES = ("default", "trainee02")
OLD_FILLER = re.compile(r"^[a-z]+_[a-z]+_\d+\.(txt|pdf|png|csv)$")  # e0d1723's word_word_N names
TIMES = ("crtime", "mtime", "atime", "ctime")


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%a %Y-%m-%d %H:%M:%S")


class Routine:
    """When the machine was up: the routine's boot..shutdown of each weekday before the incident's (story._day, what
    syslog and wtmp render), the incident's boot .. the host's shutdown after the acquisition (a deleted file still
    open is freed then); off at weekends, at night and afterwards."""


    def __init__(self, case: Case) -> None:
        self.seed = bytes.fromhex(case.seed)
        self.boot, self.acquired = case.memory.boot_time, case.shutdown_at
        self.incident = datetime.fromtimestamp(self.boot, tz=UTC).date()

    def period(self, day: date) -> tuple[float, float] | None:
        if day == self.incident:
            return self.boot, self.acquired
        if day > self.incident or day.weekday() >= 5:
            return None
        d = _day(self.seed, datetime(day.year, day.month, day.day, tzinfo=UTC))
        return d.boot, d.shutdown

    def on(self, t: float) -> bool:
        if self.boot <= t <= self.acquired:  # the incident's boot may run past midnight
            return True
        p = self.period(datetime.fromtimestamp(t, tz=UTC).date())
        return p is not None and p[0] <= t <= p[1]


class Written:
    """A Nightjar variant written to a raw image, its volumes opened with pytsk3 (FAT's times read as UTC)."""

    def __init__(self, spec: Spec, case: Case, image: Path) -> None:
        self.spec, self.case = spec, case
        self.facts = write_disk(case, image)
        img = pytsk3.Img_Info(str(image))
        self.fs = {v: pytsk3.FS_Info(img, offset=self.facts["volumes"][v]["start_sector"] * 512)
                   for v in self.facts["volumes"]}

    def times(self, file_id: str) -> dict[str, int]:
        f = self.facts["files"][file_id]
        meta = self.fs[f["volume"]].open_meta(inode=f["inode"]).info.meta
        return {k: getattr(meta, k) for k in TIMES if getattr(meta, k)}

    def walk(self, volume: str, path: str) -> list[tuple[str, object]]:
        out = []
        for entry in self.fs[volume].open_dir(path):
            name = entry.info.name.name.decode()
            meta = entry.info.meta
            if name in (".", "..") or name.startswith("$") or "(Volume Label Entry)" in name or meta is None:
                continue
            full = path.rstrip("/") + "/" + name
            out.append((full, meta))
            if meta.type == pytsk3.TSK_FS_META_TYPE_DIR:
                out.extend(self.walk(volume, full))
        return out

    def read(self, path: str) -> bytes:
        try:
            f = self.fs["root"].open(path)
        except OSError:
            return b""
        size = f.info.meta.size
        data = f.read_random(0, size) if size else b""
        return gzip.decompress(data) if path.endswith(".gz") else data


@pytest.fixture(scope="module", params=TRAINEES)
def written(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TZ", "UTC")  # TSK reads FAT's wall-clock times in the local zone; dflab writes UTC
        time.tzset()
        spec = haystack_spec("nightjar")
        trainee = request.param
        case = resolve(spec, variant_seed(DEMO_SECRET, spec.scenario, trainee), trainee)
        yield Written(spec, case, tmp_path_factory.mktemp("hours") / "disk.img")
    time.tzset()


def keys(volume: str) -> tuple[str, ...]:
    """The times a volume keeps to the second: FAT keeps a last-access date only (TSK shows its midnight)."""
    return ("crtime", "mtime") if volume == "transfer" else TIMES


def off_hours(written: Written) -> list[str]:
    """Every time of a file under /home, of the FAT stick's files and of the spec's planned files at which the
    machine was off."""
    routine = Routine(written.case)
    problems = []
    seen: set[tuple[str, int]] = set()
    home = [("root", p, m) for p, m in written.walk("root", "/home") if m.type == pytsk3.TSK_FS_META_TYPE_REG]
    stick = [("transfer", p, m) for p, m in written.walk("transfer", "/") if m.type == pytsk3.TSK_FS_META_TYPE_REG]
    for volume, path, meta in home + stick:
        seen.add((volume, meta.addr))
        problems += [f"{volume}:{path} {k} {_iso(t)}" for k in keys(volume)
                     if (t := getattr(meta, k)) and not routine.on(t)]
    for f in written.spec.disk.files:
        fact = written.facts["files"][f.id]
        if (f.volume, fact["inode"]) in seen:
            continue
        problems += [f"{f.volume}:{fact['path']} {k} {_iso(t)}" for k, t in written.times(f.id).items()
                     if k in keys(f.volume) and not routine.on(t)]
    return problems


def test_no_file_time_falls_while_the_machine_was_off(written: Written) -> None:
    assert off_hours(written) == []


def upgrade_lines(written: Written) -> list[tuple[float, str]]:
    """(time, line) of the last ``apt upgrade`` in dpkg.log (and its rotated months) and apt's history.log: its
    dpkg run from ``startup archives unpack`` to its last ``status installed``, and apt's Start-Date/End-Date."""
    dpkg = []
    for name in ["/var/log/dpkg.log", "/var/log/dpkg.log.1", *(f"/var/log/dpkg.log.{k}.gz" for k in range(2, 13))]:
        for line in written.read(name).decode().splitlines():
            dpkg.append((datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp(), line))
    dpkg.sort()
    last = max(k for k, (_, line) in enumerate(dpkg) if " upgrade " in line)
    start = max(k for k, (_, line) in enumerate(dpkg[:last + 1]) if line.endswith("startup archives unpack"))
    end = next((k for k in range(last + 1, len(dpkg)) if dpkg[k][1].endswith("startup archives unpack")), len(dpkg))
    history = []
    for name in ["/var/log/apt/history.log", "/var/log/apt/history.log.1"]:
        for block in written.read(name).decode().split("\n\n"):
            if "Commandline: apt upgrade" in block:
                history += [(datetime.strptime(m[1], "%Y-%m-%d  %H:%M:%S").replace(tzinfo=UTC).timestamp(), m[0])
                            for m in re.finditer(r"^(?:Start|End)-Date: (.+)$", block, re.M)]
    assert dpkg[start:end] and history, "no upgrade in dpkg.log or apt's history.log"
    return dpkg[start:end] + sorted(history)[-2:]


def test_the_last_upgrade_falls_while_the_machine_was_up(written: Written) -> None:
    routine = Routine(written.case)
    lines = upgrade_lines(written)
    assert [line for t, line in lines if not routine.on(t)] == []
    # the upgrade is the user's (sudo apt upgrade), at the desk, and the installed tree agrees with the logs
    (os_install,) = [v.os for v in written.case.disk.volumes if v.os is not None]
    assert os_install.updated_at <= lines[0][0] <= os_install.updated_at + 4  # dpkg's first unpack


def day_offset_seconds(written: Written) -> dict[int, set[date]]:
    """Second of day -> the dates of the planned files' times (read back) whose reference is a day offset."""
    out: dict[int, set[date]] = defaultdict(set)
    fields = {"created": ("crtime",), "modified": ("mtime",)}
    for f in written.spec.disk.files:
        got = written.times(f.id)
        for field, keys in fields.items():
            ref = getattr(f, field)
            m = TIME_REF.match(ref or "")
            if m is None or m["unit"] != "d":
                continue
            for k in keys:
                if k in got:
                    d = datetime.fromtimestamp(got[k], tz=UTC)
                    out[d.hour * 3600 + d.minute * 60 + d.second].add(d.date())
    return out


def test_files_planned_on_different_days_do_not_share_a_second_of_day(written: Written) -> None:
    shared = {s: sorted(days) for s, days in day_offset_seconds(written).items() if len(days) > 1}
    assert shared == {}, f"{len(shared)} seconds of day repeat across dates"
    assert sum(map(len, day_offset_seconds(written).values())) >= 10  # the check saw the files it is about


def test_filler_is_named_as_people_name_documents(written: Written) -> None:
    names = [written.facts["files"][f.id]["path"].rsplit("/", 1)[1] for f in written.case.disk.files
             if f.id.startswith("filler-")]
    assert len(names) >= 20
    assert [n for n in names if OLD_FILLER.match(n)] == []
    indexed = [n for k, n in enumerate(names) if re.search(rf"[_ ]{k}\.\w+$", n)]
    assert len(indexed) <= 2, indexed  # a trailing number is not the file's index in its rule


# Folders named for a kind of file, as people keep them (a CSV export in Pictures or a screenshot in Documents is an
# examiner's question nobody's habit answers).
KEPT_IN = {"Pictures": {"png"}, "assets": {"png"}, "SCANS": {"png", "pdf"}, "Documents": {"txt", "pdf", "csv"},
           "REPORTS": {"txt", "pdf", "csv"}}


@pytest.mark.parametrize("scenario", ["nightjar", "kestrel"])
def test_filler_sits_in_folders_that_hold_its_type(scenario: str) -> None:
    spec = haystack_spec(scenario)
    misplaced, seen = [], set()
    for trainee in (f"t{k:02d}" for k in range(8)):
        case = resolve(spec, variant_seed(DEMO_SECRET, spec.scenario, trainee), trainee)
        for f in case.disk.files:
            if f.id.startswith("filler-"):
                folder, ext = f.path.rsplit("/", 2)[-2], f.path.rsplit(".", 1)[-1]
                seen.add(folder)
                if ext not in KEPT_IN.get(folder, {ext}):
                    misplaced.append(f"{trainee} {f.path}")
    assert misplaced == []
    assert seen & set(KEPT_IN)  # the rule saw folders it is about


def _days(ref: str) -> float | None:
    """How many days before ``@start`` a ``@start-Nd`` reference is; None for any other."""
    m = TIME_REF.match(ref)
    return float(m["num"]) if m and m["event"] == "start" and m["unit"] == "d" and m["sign"] == "-" else None


@pytest.mark.parametrize("scenario", ["nightjar", "kestrel"])
def test_every_variant_keeps_the_hours(scenario: str) -> None:
    """Many trainees' cases (resolved only): filler, planned day-offset times and the upgrade inside the routine's
    on-periods; created <= modified <= changed kept."""
    spec = haystack_spec(scenario)
    for trainee in (f"t{k:02d}" for k in range(12)):
        case = resolve(spec, variant_seed(DEMO_SECRET, spec.scenario, trainee), trainee)
        routine = Routine(case)
        planned = {f.id: f for f in spec.disk.files}
        bad = []
        for f in case.disk.files:
            p = planned.get(f.id)
            if f.id.startswith("filler-"):
                times = {"crtime": f.crtime, "mtime": f.mtime, "atime": f.atime}
            elif p is not None:
                refs = {"crtime": p.created, "mtime": p.modified, "atime": p.accessed, "ctime": p.changed}
                times = {k: getattr(f, k) for k, ref in refs.items() if ref and TIME_REF.match(ref)["unit"] == "d"}
                if _days(p.created) is not None and _days(p.modified or p.created) is not None:
                    assert (f.crtime <= f.mtime) == (_days(p.created) >= _days(p.modified or p.created)), f.id
                assert f.mtime <= f.ctime or p.changed, (trainee, f.id)
            else:
                continue
            bad += [f"{trainee} {f.path} {k} {_iso(t)}" for k, t in times.items() if not routine.on(t)]
        for v in case.disk.volumes:
            if v.os is not None:
                bad += [f"{trainee} {v.id} {what} {_iso(t)}" for what, t in
                        (("installed", v.os.installed_at), ("updated", v.os.updated_at)) if not routine.on(t)]
        assert bad == []


def test_the_routine_here_is_the_one_the_logs_render(written: Written) -> None:
    """The test's on-periods are syslog's: each boot syslog holds starts on a day the routine has the machine up,
    seconds after the routine's boot (or memory's, the incident's)."""
    routine = Routine(written.case)
    syslog = written.read("/var/log/syslog").decode()
    boots = [datetime.fromisoformat(m[1]).timestamp()
             for m in re.finditer(r"^(\S+) \S+ kernel: \[ +0\.000000\] Linux version ", syslog, re.M)]
    assert boots
    for t in boots:
        period = routine.period(datetime.fromtimestamp(t, tz=UTC).date())
        assert period is not None and 0 < t - period[0] < 30, _iso(t)  # rsyslog's imklog, seconds after the boot
