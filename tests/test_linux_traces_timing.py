"""The workstation's logs keep a real machine's timing (dflab/scenario/traces): systemd's lines of one burst are
apart by drawn gaps (never a fixed 1 ms, never the same sub-millisecond digits), wtmp's runlevel record follows
each boot's own graphical.target (``utmpdump`` reads it), and logrotate's monthly files of dpkg and apt are made
by the logrotate run syslog shows, with the machine up. Each check is shown finding the generated tell it exists
for, planted back.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dflab.scenario.case import Case
from dflab.scenario.load import load_spec
from dflab.scenario.ostree.tree import shared  # noqa: F401  (loads ostree before traces.packages: their cycle)
from dflab.scenario.resolve import resolve
from dflab.scenario.traces.packages import Unpack, log_times, package_logs

SPEC = Path(__file__).resolve().parents[1] / "labs" / "scenarios" / "nightjar.yaml"
SEED = bytes(range(32))
LINE = re.compile(r"^(\S+) \S+ ([^:\[]+)(?:\[(\d+)\])?: (.*)$")


@pytest.fixture(scope="module")
def case() -> Case:
    return resolve(load_spec(SPEC), SEED)


def parse(data: bytes) -> list[tuple[float, str, str]]:
    """(time, tag, message) of each rsyslog line."""
    out = []
    for raw in data.decode().splitlines():
        m = LINE.match(raw)
        assert m, raw
        out.append((datetime.fromisoformat(m[1]).timestamp(), m[2], m[4]))
    return out


def burst_problems(data: bytes) -> list[str]:
    """systemd's "Deactivated successfully" -> "Finished" gaps fixed or out of a few hundred µs .. tens of ms; a
    burst (a process's lines under a second apart) whose lines share their sub-millisecond digits."""
    lines = parse(data)
    problems = []
    gaps = []
    for k, (t, _, msg) in enumerate(lines):
        if msg.endswith(": Deactivated successfully."):
            unit = msg.split(":", 1)[0]
            done = next(u for u, _, m in lines[k + 1:] if m.startswith(f"Finished {unit} "))
            gaps.append(round((done - t) * 1e6))
    if not gaps:
        return ["no timer ran"]
    if len(gaps) > 2 and len(set(gaps)) < len(gaps) // 2:
        problems.append(f"Deactivated -> Finished gaps repeat: {sorted(set(gaps))} us")
    problems += [f"Deactivated -> Finished {g} us" for g in gaps if not 100 <= g <= 100_000]
    burst: list[int] = []
    last = (0.0, "")
    for t, tag, _ in [*lines, (1e12, "", "")]:
        if tag == last[1] and t - last[0] < 1.0:
            burst.append(round(t * 1e6) % 1000)
        else:
            if len(burst) >= 3 and len(set(burst)) == 1:
                problems.append(f"a burst of {len(burst)} {last[1]} lines all at .xxx{burst[0]:03d} us")
            burst = [round(t * 1e6) % 1000]
        last = (t, tag)
    return problems


def test_systemd_bursts_are_drawn_not_fixed(case: Case) -> None:
    syslog, auth = case.file("syslog").content, case.file("auth-log").content
    assert burst_problems(syslog) == []
    assert all("burst" not in p for p in burst_problems(auth) if p != "no timer ran")
    # Planted: every Finished exactly 1.000 ms after its Deactivated, as the generator once wrote them.
    out, deactivated = [], {}
    for line in syslog.decode().splitlines(keepends=True):
        stamp, rest = line.split(" ", 1)
        m = re.search(r"systemd\[1\]: (?:(\S+): Deactivated successfully|Finished (\S+) - )", rest)
        if m and m[1]:
            deactivated[m[1]] = datetime.fromisoformat(stamp).timestamp()
        elif m and m[2] in deactivated:
            t = deactivated.pop(m[2]) + 0.001
            stamp = datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="microseconds")
        out.append(f"{stamp} {rest}")
    assert any("gaps repeat" in p for p in burst_problems("".join(out).encode()))
    # Planted: a burst whose lines keep the same microseconds (+12 ms, +30 ms on one base).
    planted = syslog + (b"2026-03-03T21:00:00.681122+00:00 h systemd[1]: a\n2026-03-03T21:00:00.693122+00:00 h "
                        b"systemd[1]: b\n2026-03-03T21:00:00.711122+00:00 h systemd[1]: c\n")
    assert any("all at .xxx122" in p for p in burst_problems(planted))


def runlevel_problems(wtmp: bytes, syslog: bytes, tmp: Path) -> list[str]:
    """``utmpdump``'s runlevel records against their boot records and syslog's graphical.target: a fixed offset
    from the boot, or a runlevel 5 not written when graphical.target was reached."""
    (tmp / "wtmp").write_bytes(wtmp)
    rows = [re.findall(r"\[([^\]]*)\]", row) for row in subprocess.run(
        ["utmpdump", str(tmp / "wtmp")], check=True, capture_output=True, text=True).stdout.splitlines()]
    when = [(r[0], datetime.fromisoformat(r[7].strip()).timestamp()) for r in rows]
    pairs = [(b, t) for (k, b), (k2, t) in zip(when, when[1:], strict=False) if (k, k2) == ("2", "1")]
    if not pairs:
        return ["no reboot record followed by its runlevel"]
    problems = []
    offsets = {round(t - b, 6) for b, t in pairs}
    if len(pairs) > 1 and len(offsets) == 1:
        problems.append(f"runlevel always {offsets.pop()} s after reboot")
    problems += [f"runlevel {t - b:.3f} s after reboot" for b, t in pairs if not 1.0 <= t - b <= 20.0]
    graphical = [t for t, _, m in parse(syslog) if m.startswith("Reached target graphical.target")]
    for _, t in pairs:
        if not any(0 <= t - g <= 0.2 for g in graphical) and t > min(graphical, default=t):
            problems.append(f"runlevel at {t}: syslog reached graphical.target at none of {graphical}")
    return problems


def test_wtmp_runlevel_follows_each_boot_s_graphical_target(case: Case, tmp_path: Path) -> None:
    wtmp, syslog = case.file("wtmp").content, case.file("syslog").content
    assert runlevel_problems(wtmp, syslog, tmp_path) == []
    # Planted: every runlevel record 0.6 s after its boot record.
    planted = bytearray(wtmp)
    for k in range(0, len(wtmp), 384):
        if wtmp[k] == 1 and wtmp[k + 4] == 0x35:
            boot = int.from_bytes(wtmp[k - 384 + 340:k - 384 + 344], "little") + \
                int.from_bytes(wtmp[k - 384 + 344:k - 384 + 348], "little") / 1e6 + 0.6
            planted[k + 340:k + 348] = int(boot).to_bytes(4, "little") + \
                round((boot - int(boot)) * 1e6).to_bytes(4, "little")
    assert any("always 0.6 s" in p for p in runlevel_problems(bytes(planted), syslog, tmp_path))


INSTALLED = int(datetime(2025, 1, 20, 9, 12, tzinfo=UTC).timestamp())
UPGRADED = int(datetime(2026, 2, 23, 10, 3, tzinfo=UTC).timestamp())


def rotation_problems(created: dict[str, int], syslog: bytes) -> list[str]:
    """A log file logrotate made outside every logrotate.service run syslog shows (the second it ran in)."""
    lines = parse(syslog)
    runs = [(t, next(u for u, _, m in lines if u > t and m == "logrotate.service: Deactivated successfully."))
            for t, _, m in lines if m.startswith("Starting logrotate.service")]
    return [f"{path} created {datetime.fromtimestamp(t, tz=UTC)}, no logrotate run then" for path, t in
            created.items() if not any(int(s) <= t <= e for s, e in runs)]


def test_package_logs_are_rotated_by_the_logrotate_run_syslog_shows(case: Case) -> None:
    now, boot = case.memory.acquired_at, case.memory.boot_time
    unpacks = [Unpack("wget", "amd64", "1.21.3-1", INSTALLED), Unpack("dpkg", "amd64", "1.21.22", INSTALLED + 3),
               Unpack("wget", "amd64", "1.21.3-1+deb12u1", UPGRADED, "1.21.3-1")]
    logs = package_logs(unpacks, now, ("jdoe", 1001), 61234)
    times = {path: log_times(path, unpacks, now, SEED, boot) for path in logs}
    syslog = case.file("syslog").content
    # March's files: logrotate's run of the first boot of March, which this syslog holds.
    march = {p: c for p, (c, _) in times.items() if not re.search(r"\.\d+(\.gz)?$", p)}
    assert len(march) == 3 and rotation_problems(march, syslog) == []
    assert all(m >= c for c, m in times.values())
    # Every rotated month's file was made with the machine up: a working day, after its morning boot.
    for path, (created, _) in times.items():
        d = datetime.fromtimestamp(created, tz=UTC)
        assert d.weekday() < 5 and 7 * 3600 + 40 * 60 < d.hour * 3600 + d.minute * 60 < 15 * 3600, (path, d)
    # Planted: the files made at midnight of March 1st, as before: no logrotate run then (the machine was off).
    midnight = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
    assert len(rotation_problems({p: midnight for p in march}, syslog)) == 3
    assert log_times("/var/log/dpkg.log", unpacks, now) == (midnight, midnight)  # no seed: the calendar's
