"""A Debian 12 GNOME desktop in memory as an examiner reads it with volatility3 on the bundled Nightjar: the
logging daemons start before their first log lines, Firefox holds the installed files it reads (the disk's
inodes), and the desktop's usual daemons run. The logs and the disk are read with TSK, never with dflab."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from dflab.evidence.build import build_variant
from dflab.scenario.draw import DEMO_SECRET
from tests.haystack import haystack_spec
from tests.test_memory_writer import run_vol

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.xdist_group("memory-desktop")


class Built:
    def __init__(self, out: Path, cache: Path) -> None:
        self.out, self.cache, self._memo = out, cache, {}  # type: ignore[var-annotated]
        self.ev = out / "evidence"

    def vol(self, plugin: str) -> list[dict[str, Any]]:
        if plugin not in self._memo:
            self._memo[plugin] = run_vol(self.ev / "memory.lime", self.cache, plugin)
        return self._memo[plugin]

    def root_names(self) -> tuple[int, dict[str, int]]:
        """The ext4 root's offset and its allocated names (fls), path -> inode."""
        parts = subprocess.run(["mmls", str(self.ev / "disk.img")], capture_output=True, text=True, check=True)
        offsets = [int(line.split()[2]) for line in parts.stdout.splitlines() if re.match(r"^\d{3}:\s+\d{3}", line)]
        for off in offsets:
            proc = subprocess.run(["fls", "-r", "-p", "-o", str(off), str(self.ev / "disk.img")],
                                  capture_output=True, text=True, check=False)
            if "var/log/syslog" in proc.stdout:
                names = {}
                for line in proc.stdout.splitlines():
                    m = re.match(r"^\S+\s+(\*\s+)?(\d+)(?:\(realloc\))?:\t(.*)$", line)
                    if m and not m.group(1):
                        names["/" + m.group(3)] = int(m.group(2))
                return off, names
        raise AssertionError("no partition holds /var/log/syslog")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("desktop")
    # with its installed system: Firefox's and the daemons' files are the installed tree's
    result = build_variant(haystack_spec("nightjar"), DEMO_SECRET, "desktop", root / "nightjar")
    return Built(result.out, root / "volcache")


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def first_lines(syslog: str, since: float) -> dict[int, float]:
    """pid -> the moment of its first syslog line after ``since`` (``NAME[pid]:`` tags and rsyslogd's x-pid)."""
    first: dict[int, float] = {}
    for line in syslog.splitlines():
        stamp, _host, tag = line.split(" ")[:3]
        t = _epoch(stamp)
        if t < since:
            continue
        m = re.match(r"\S+\[(\d+)\]:$", tag)
        pid = int(m.group(1)) if m else None
        if tag == "rsyslogd:":  # rsyslogd prints no pid in its tag: the first line of the boot is its own
            pid = -1
        if pid is not None:
            first.setdefault(pid, t)
    return first


def test_logging_daemons_start_before_their_first_log_line(built: Built) -> None:
    """A process cannot log before it starts: memory's start of rsyslogd and NetworkManager (linux.pslist) precedes
    their first syslog line on the boot memory shows, and journald's precedes systemd's "Started" of it."""
    ps = {r["PID"]: r for r in built.vol("linux.pslist")}
    boot = _epoch(ps[1]["CREATION TIME"])
    off, names = built.root_names()
    syslog = subprocess.run(["icat", "-o", str(off), str(built.ev / "disk.img"), str(names["/var/log/syslog"])],
                            capture_output=True, text=True, check=True).stdout
    first = first_lines(syslog, boot)
    by_comm = {r["COMM"]: r for r in ps.values()}
    rsyslogd = by_comm["rsyslogd"]
    assert f'x-pid="{rsyslogd["PID"]}"' in syslog
    starts = {"rsyslogd": (_epoch(rsyslogd["CREATION TIME"]), first[-1]),
              "NetworkManager": (_epoch(by_comm["NetworkManager"]["CREATION TIME"]),
                                 first[by_comm["NetworkManager"]["PID"]])}
    started = next(_epoch(line.split(" ")[0]) for line in syslog.splitlines()
                   if "Started systemd-journald.service" in line and _epoch(line.split(" ")[0]) >= boot)
    starts["systemd-journal"] = (_epoch(by_comm["systemd-journal"]["CREATION TIME"]), started)
    for comm, (mem, log) in starts.items():
        assert mem < log, f"{comm} starts at {mem} in memory but logs at {log}"
        assert log - mem < 2.0, f"{comm}: its first line comes {log - mem:.3f} s after its start"


def test_firefox_holds_the_installed_files_it_reads(built: Built) -> None:
    """Firefox's main process (linux.lsof) holds its omni.ja archives, fonts and randomness besides /dev/null; every
    file of the root it names has the inode the disk gives that path (TSK's fls)."""
    ff = next(r["PID"] for r in built.vol("linux.pslist") if r["COMM"] == "firefox-esr")
    held = {r["FD"]: r for r in built.vol("linux.lsof") if r["PID"] == ff}
    paths = {r["Path"] for r in held.values()}
    assert {"/dev/null", "/dev/urandom", "/usr/lib/firefox-esr/omni.ja", "/usr/lib/firefox-esr/browser/omni.ja",
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"} <= paths, paths
    assert len(held) >= 10, sorted(held)
    _, names = built.root_names()
    on_root = [r for r in held.values() if r["Device"].startswith("8:")]
    assert len(on_root) >= 7
    for r in on_root:
        assert names.get(r["Path"]) == r["Inode"], (r["Path"], r["Inode"], names.get(r["Path"]))


def test_the_desktop_daemons_run(built: Built) -> None:
    """udisksd and upowerd (root, children of systemd), the user's gvfsd (under their systemd --user), as
    linux.psaux and linux.pstree show them on a Debian 12 GNOME desktop."""
    aux = {r["PID"]: r for r in built.vol("linux.psaux")}
    ps = {r["PID"]: r for r in built.vol("linux.pslist")}
    by_comm = {r["COMM"]: pid for pid, r in aux.items()}
    for comm, args in (("udisksd", "/usr/libexec/udisks2/udisksd"), ("upowerd", "/usr/libexec/upowerd")):
        pid = by_comm[comm]
        assert (aux[pid]["ARGS"], aux[pid]["PPID"], ps[pid]["UID"]) == (args, 1, 0)
    gvfsd = by_comm["gvfsd"]
    manager = aux[gvfsd]["PPID"]
    assert aux[manager]["ARGS"] == "/lib/systemd/systemd --user" and ps[gvfsd]["UID"] == ps[manager]["UID"] >= 1000
    tree = {r["PID"] for r in built.vol("linux.pstree")}
    assert {by_comm["udisksd"], by_comm["upowerd"], gvfsd} <= tree


def test_an_ssh_login_runs_under_its_session_sshd(built: Built) -> None:
    """OpenSSH 9.2's chain (linux.pstree, linux.psaux): the listener, ``sshd: USER [priv]`` as root (the pid
    auth.log's ``Accepted password`` names), its child ``sshd: USER@pts/0`` as the user, and the login shell."""
    aux = {r["PID"]: r for r in built.vol("linux.psaux")}
    ps = {r["PID"]: r for r in built.vol("linux.pslist")}
    shell = next(pid for pid, r in aux.items() if r["ARGS"] == "-bash")
    session = aux[shell]["PPID"]
    priv = aux[session]["PPID"]
    user = aux[priv]["ARGS"].removeprefix("sshd: ").removesuffix(" [priv]")
    assert aux[priv]["ARGS"] == f"sshd: {user} [priv]" and ps[priv]["UID"] == 0
    assert aux[session]["ARGS"] == f"sshd: {user}@pts/0" and ps[session]["UID"] == ps[shell]["UID"] >= 1000
    assert aux[aux[priv]["PPID"]]["ARGS"].startswith("sshd: /usr/sbin/sshd -D [listener]")
    assert _epoch(ps[priv]["CREATION TIME"]) < _epoch(ps[session]["CREATION TIME"]) < _epoch(ps[shell]["CREATION TIME"])
    off, names = built.root_names()
    auth = subprocess.run(["icat", "-o", str(off), str(built.ev / "disk.img"), str(names["/var/log/auth.log"])],
                          capture_output=True, text=True, check=True).stdout
    assert re.search(rf" sshd\[{priv}\]: Accepted password for {user} ", auth)


def test_the_root_file_system_has_its_journal_threads(built: Built) -> None:
    """ext4's journal thread of the root's partition (jbd2/sdaN-8, N as the disk's table numbers the root) and
    ext4's conversion workqueue, kernel threads under kthreadd."""
    aux = {r["PID"]: r for r in built.vol("linux.psaux")}
    off, _ = built.root_names()
    table = subprocess.run(["mmls", str(built.ev / "disk.img")], capture_output=True, text=True, check=True).stdout
    slots = [line for line in table.splitlines() if re.match(r"^\d{3}:\s+\d{3}", line)]
    index = next(k for k, line in enumerate(slots, start=1) if int(line.split()[2]) == off)
    threads = {r["ARGS"]: r["PPID"] for r in aux.values()}
    assert threads.get(f"[jbd2/sda{index}-8]") == 2 and threads.get("[ext4-rsv-conver]") == 2, sorted(threads)


def test_firefox_holds_its_profile_history(built: Built) -> None:
    """Firefox's places.sqlite, open in its main process, is the profile's on the disk (same inode)."""
    ff = next(r["PID"] for r in built.vol("linux.pslist") if r["COMM"] == "firefox-esr")
    _, names = built.root_names()
    places = [r for r in built.vol("linux.lsof") if r["PID"] == ff and r["Path"].endswith("/places.sqlite")]
    assert len(places) == 1 and names.get(places[0]["Path"]) == places[0]["Inode"], places
