"""dpkg.log and apt's history.log and term.log (dflab/scenario/traces/packages.py) held against dpkg's status of the
installed Debian 12 tree: every version they name is the status's (an upgrade's previous one a bookworm version
the status's replaced), the runs are dated where the install and the last upgrade put them, logrotate's months
are where it leaves them (``zcat`` reads the old ones). Each check is shown finding a planted contradiction.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from dflab.scenario.ostree.tree import shared
from dflab.scenario.traces.packages import Unpack, package_logs, previous_version

INSTALLED = int(datetime(2025, 1, 20, 9, 12, tzinfo=UTC).timestamp())
UPGRADED = int(datetime(2026, 2, 21, 10, 3, tzinfo=UTC).timestamp())
NOW = int(datetime(2026, 3, 3, 8, 0, tzinfo=UTC).timestamp())
DPKG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (\S+) (\S+) (\S+)(?: (\S+))?(?: (\S+))?$")


def status_versions() -> dict[str, str]:
    """Package -> Version of the installed tree's /var/lib/dpkg/status."""
    status = shared("debian-12", "desktop").status.decode()
    return {m["Package"]: m["Version"] for m in (dict(line.split(": ", 1) for line in stanza.splitlines()
                                                      if ": " in line and not line.startswith(" "))
                                                 for stanza in status.split("\n\n")) if "Package" in m}


def unpacks() -> list[Unpack]:
    """The install (every package) and a stable-update upgrade of those the status holds at a +deb12uN version."""
    catalog = shared("debian-12", "desktop").catalog
    out = [Unpack(p.name, p.arch, previous_version(p.version) or p.version, INSTALLED + k // 4)
           for k, p in enumerate(catalog.packages)]
    out += [Unpack(p.name, p.arch, p.version, UPGRADED + k // 3, previous_version(p.version))
            for k, p in enumerate(q for q in catalog.packages if previous_version(q.version))]
    return out


def log_problems(logs: dict[str, bytes], status: dict[str, str]) -> list[str]:
    """What dpkg.log and history.log say is installed, against the status: the last version each configured."""
    problems = []
    last: dict[str, str] = {}
    dpkg = logs.get("/var/log/dpkg.log.1", b"") + logs["/var/log/dpkg.log"]  # last month's, then this month's
    history = logs.get("/var/log/apt/history.log.1", b"") + logs["/var/log/apt/history.log"]
    for line in dpkg.decode().splitlines():
        m = DPKG_LINE.match(line)
        if m is None:
            problems.append(f"not a dpkg.log line: {line}")
        elif m[1] == "status" and m[2] == "installed":
            last[m[3].split(":")[0]] = m[4]
        elif m[1] == "upgrade" and previous_version(m[4]) != m[3]:
            problems.append(f"{m[2]} upgraded from {m[3]}, not the bookworm version {m[4]} replaced")
    problems += [f"dpkg.log leaves {name} at {v}, the status has {status.get(name)}" for name, v in last.items()
                 if status.get(name) != v and name != "man-db"]
    for name, old, new in re.findall(r"(\S+):\w+ \(([^,()]+), ([^()]+)\)", history.decode()):
        if status.get(name) != new or previous_version(new) != old:
            problems.append(f"history.log upgrades {name} {old} -> {new}; the status has {status.get(name)}")
    return problems


def test_dpkg_and_apt_logs_name_the_status_versions(tmp_path: Path) -> None:
    status = status_versions()
    logs = package_logs(unpacks(), NOW, ("jdoe", 1001), 61234)
    assert log_problems(logs, status) == []
    text = logs["/var/log/dpkg.log"].decode()  # the upgrade was in February: dpkg.log is March's, empty
    assert text == "" and "upgrade wget:amd64" in logs["/var/log/dpkg.log.1"].decode()
    history = logs["/var/log/apt/history.log.1"].decode()
    assert "Commandline: apt upgrade\nRequested-By: jdoe (1001)\n" in history
    term = logs["/var/log/apt/term.log.1"].decode()
    assert f"Unpacking wget ({status['wget']}) over ({previous_version(status['wget'])}) ..." in term
    # The install was 13 months before: logrotate's twelve months no longer hold it.
    assert not any("install " in v.decode(errors="replace") for k, v in logs.items() if not k.endswith(".gz"))
    assert not any(k.endswith((".13.gz", ".14.gz")) for k in logs)
    # Old months are gzip'd as logrotate leaves them: zcat reads one back.
    older = package_logs(unpacks(), UPGRADED + 40 * 86400 * 3, None, 61234)
    gz = next(k for k in older if k.startswith("/var/log/dpkg.log.") and k.endswith(".gz") and older[k])
    (tmp_path / "dpkg.log.gz").write_bytes(older[gz])
    assert "upgrade wget:amd64" in subprocess.run(["zcat", str(tmp_path / "dpkg.log.gz")], check=True,
                                                  capture_output=True, text=True).stdout

    # Planted: a status whose wget is another version; a log upgrading from a version bookworm never had.
    assert any("wget" in p for p in log_problems(logs, {**status, "wget": "1.21.2-2ubuntu1"}))
    bad = {**logs, "/var/log/dpkg.log": b"2026-03-02 10:00:00 upgrade wget:amd64 1.21.2 1.21.3-1+deb12u1\n"}
    assert any("not the bookworm version" in p for p in log_problems(bad, status))


def downgrades(history: str) -> list[str]:
    """Every history.log ``Upgrade:`` pair that dpkg itself does not order old < new."""
    pairs = re.findall(r"(\S+):\w+ \(([^,()]+), ([^()]+)\)", history)
    assert pairs
    return [f"{name} {old} -> {new}" for name, old, new in pairs
            if subprocess.run(["dpkg", "--compare-versions", new, "gt", old]).returncode != 0]


def test_upgrades_go_up_by_dpkgs_ordering() -> None:
    """An upgrade goes from an older version to a newer one as dpkg compares them (``1~deb12u1`` sorts before
    ``1``: a ``~deb12u1`` rebuild replaced an older upstream, never its own ``X-1``), the status holds the newer,
    and the command history.log names is a program the installed tree has (no PackageKit on this desktop)."""
    status = status_versions()
    logs = package_logs(unpacks(), NOW, ("jdoe", 1001), 61234)
    history = logs["/var/log/apt/history.log.1"].decode()
    assert downgrades(history) == []
    for name in ("firefox-esr", "systemd", "libssl3", "bind9-host"):
        assert f"{name}:amd64 ({previous_version(status[name])}, {status[name]})" in history
    tree = shared("debian-12", "desktop")
    for command in set(re.findall(r"^Commandline: (\S+)", history, re.M)):
        assert f"/usr/bin/{command}" in tree.contents, command
    assert "/usr/bin/pkcon" not in tree.contents and "packagekit" not in status
    # Planted: the old rule (``X-1~deb12u1`` over ``X-1``) is a downgrade dpkg sees.
    assert downgrades("Upgrade: systemd:amd64 (252.33-1, 252.33-1~deb12u1)") == ["systemd 252.33-1 -> 252.33-1~deb12u1"]


def test_previous_versions_are_bookworm_s() -> None:
    assert previous_version("1.21.3-1+deb12u1") == "1.21.3-1"
    assert previous_version("252.33-1~deb12u1") == "252.32-1~deb12u1"
    assert previous_version("128.14.0esr-1~deb12u1") == "128.13.0esr-1~deb12u1"
    assert previous_version("2:2.6.1-4~deb12u2") == "2:2.6.1-4~deb12u1"
    assert previous_version("1:43.6-2~deb12u1") == "1:43.5-2~deb12u1"
    assert previous_version("2.36-9+deb12u9") == "2.36-9+deb12u8"
    assert previous_version("1.42.4-1") is None
