"""One fact model for disk, memory and capture (#14 item 2), read back from each bundled case with the real tools.

Every file a process shows in memory (``linux.lsof`` descriptors, ``linux.proc.Maps`` mapped files) is looked up
on the partition its device names (8:N is partition N of sda) with TSK: ``fls`` finds its path on that volume,
``istat`` its inode, allocation, size, mode and times. Every TCP socket ``linux.sockstat`` shows is looked up in
the capture with tshark: its 4-tuple must be a captured flow and its state the one that flow's segments before
the acquisition leave the local end in. The expectations here read only the evidence and the spec's story, never
:mod:`dflab.evidence.facts`, so a writer that drifts from the others is caught; the planted test shows it is.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytsk3

from dflab.evidence import facts as facts_mod
from dflab.evidence.build import build_variant
from dflab.evidence.disk import writer as disk_writer
from dflab.evidence.facts import SharedFacts, SocketFact
from dflab.evidence.tcpstate import ACK, FIN, RST, SYN, TcpSegment, state_at
from dflab.forensics import disk as disk_reader
from dflab.scenario.draw import DEMO_SECRET
from dflab.scenario.load import load_spec
from tests.haystack import haystack_spec
from tests.test_memory_writer import run_vol
from tests.test_network_writer import fields

ROOT = Path(__file__).resolve().parents[1]
CASES = ("nightjar", "kestrel")
SD_MAJOR = 8

pytestmark = pytest.mark.xdist_group("fact-model")


@dataclass
class Built:
    """One built variant and its tools' views, each run once."""

    out: Path
    cache: Path
    _memo: dict[str, list[dict[str, Any]]]

    @property
    def ev(self) -> Path:
        return self.out / "evidence"

    @property
    def key(self) -> dict[str, Any]:
        return json.loads((self.out / "key" / "answer_key.json").read_text())

    def vol(self, plugin: str) -> list[dict[str, Any]]:
        if plugin not in self._memo:
            image = next(self.ev / name for name in ("memory.lime", "memory.raw") if (self.ev / name).exists())
            self._memo[plugin] = run_vol(image, self.cache, plugin)
        return self._memo[plugin]


def _build(root: Path, name: str) -> Built:
    result = build_variant(load_spec(ROOT / "labs" / "scenarios" / f"{name}.yaml"), DEMO_SECRET, "fact-model",
                           root / name)
    return Built(result.out, root / "volcache", {})


@pytest.fixture(scope="module", params=CASES)
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _build(tmp_path_factory.mktemp("facts"), request.param)


# ---- the disk, read with TSK -------------------------------------------------------------------------------------


def _run(*cmd: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}"
    return proc.stdout


_FLS = re.compile(r"^\S+\s+(\*\s+)?(\d+)(?:\(realloc\))?:\t(.*)$")
_NS_TIME = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d{9}))? \(UTC\)")


@dataclass(frozen=True)
class Partition:
    """A partition as the disk's own table and TSK show it."""

    offset: int  # sectors
    mount: str
    fs: str
    names: dict[str, tuple[int, bool]]  # path in the volume -> (inode, allocated), as fls -r -p lists it


def _partitions(b: Built) -> dict[int, Partition]:
    """Partition index -> its TSK view; the mount point is the spec's (the host's fstab)."""
    disk = b.key["facts"]["disk"]
    mounts = {vid: b.key["namespace"][f"volumes.{vid}.mount"] for vid in disk["volumes"]}
    out = {}
    for p in disk["partitions"]:
        names: dict[str, tuple[int, bool]] = {}
        for line in _run("fls", "-r", "-p", "-o", str(p["start_sector"]), str(b.ev / "disk.img")).splitlines():
            m = _FLS.match(line)
            if m and (m.group(3) not in names or not m.group(1)):
                names["/" + m.group(3)] = (int(m.group(2)), not m.group(1))
        out[p["index"]] = Partition(p["start_sector"], mounts[p["volume"]], p["fs"], names)
    return out


def _istat(b: Built, part: Partition, inode: int) -> dict[str, Any]:
    """istat's view of ``inode``; ``{"error": ...}`` when there is no such inode on the partition."""
    proc = subprocess.run(["istat", "-o", str(part.offset), str(b.ev / "disk.img"), str(inode)],
                          capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip(), "allocated": False}
    lines = proc.stdout.splitlines()
    out: dict[str, Any] = {"allocated": lines[1].strip() == "Allocated"}
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("size", "mode", "uid / gid"):
            out[key] = value.strip()
        elif key in ("Accessed", "File Modified", "Inode Modified", "Deleted"):
            m = _NS_TIME.search(value)
            if m and m.group(1).startswith("0000"):
                out[key] = 0
            elif m:
                sec = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
                out[key] = int(sec) * 1_000_000_000 + int(m.group(2) or 0)
    return out


def _ns(vol_time: str) -> int:
    """A volatility JSON time in nanoseconds (it prints microseconds)."""
    t = datetime.fromisoformat(vol_time)
    return (int(t.replace(microsecond=0).timestamp()) * 1_000_000 + t.microsecond) * 1000


def _same_instant(vol_time: str, disk_ns: int) -> bool:
    return abs(_ns(vol_time) - disk_ns) <= 2_000  # volatility rounds nanoseconds to microseconds through a float


# ---- the comparisons: each returns what disagrees, so the planted test can show them failing -------------------


def _memory_files(b: Built) -> list[dict[str, Any]]:
    """Every file memory shows: lsof descriptors and proc.Maps file mappings, as the plugins print them."""
    rows = [{"pid": r["PID"], "path": r["Path"], "dev": r["Device"], "inode": r["Inode"], "type": r["Type"],
             "mode": r["Mode"], "size": r["Size"], "mtime": r["Modified"], "ctime": r["Changed"], "via": "lsof"}
            for r in b.vol("linux.lsof") if r["Type"] != "SOCK"]
    rows += [{"pid": r["PID"], "path": r["File Path"], "dev": f"{r['Major']}:{r['Minor']}", "inode": r["Inode"],
              "type": "REG", "via": "proc.Maps"}
             for r in b.vol("linux.proc.Maps") if r["Inode"] and r["File Path"].startswith(("/", " /"))]
    return rows


def file_disagreements(b: Built) -> list[str]:
    """Where a file memory shows differs from the partition its device names, as TSK reads it."""
    parts = _partitions(b)
    problems: list[str] = []
    seen = 0
    for row in _memory_files(b):
        major, minor = (int(x) for x in row["dev"].split(":"))
        deleted = row["path"].endswith(" (deleted)")
        path = row["path"].strip().removesuffix(" (deleted)")
        where = f"pid {row['pid']} {row['via']} {row['path']!r} ({row['dev']}, inode {row['inode']})"
        if major != SD_MAJOR:
            if path.startswith(tuple(p.mount.rstrip("/") + "/" for p in parts.values() if p.mount != "/")) or \
                    not path.startswith(("/dev/", "/run/")):
                problems.append(f"{where}: a disk path on a device that is no partition of sda")
            continue
        part = parts.get(minor)
        if part is None or not (path == part.mount or path.startswith(part.mount.rstrip("/") + "/")):
            problems.append(f"{where}: partition {minor} is not mounted at a prefix of this path")
            continue
        inside = "/" + path[len(part.mount.rstrip("/")):].lstrip("/")
        named = part.names.get(inside)
        if named is None and not deleted:
            continue  # a file the story never put on the disk (/usr/bin/bash): files_the_disk_lacks_... checks it
        seen += 1
        if part.fs != "ext4":  # vfat numbers inodes at lookup (iunique), so only the name can agree
            if named is None:
                problems.append(f"{where}: {inside} is not on partition {minor}")
            continue
        st = _istat(b, part, int(row["inode"]))
        if "error" in st:
            problems.append(f"{where}: istat: {st['error']}")
            continue
        if deleted:
            if st["allocated"] or (named is not None and named[1]):
                problems.append(f"{where}: memory says deleted, the disk still has it (fls {named}, istat {st})")
            problems += _held_disagreements(b, part, row, st, where)
            continue
        if named != (int(row["inode"]), True):
            problems.append(f"{where}: fls lists {inside} as {named}")
            continue
        if not st["allocated"]:
            problems.append(f"{where}: istat says the inode is not allocated")
        if row["via"] == "lsof":
            if int(st["size"]) != int(row["size"]):
                problems.append(f"{where}: size {row['size']} in memory, {st['size']} on disk")
            if st["mode"][1:] != row["mode"][1:]:
                problems.append(f"{where}: mode {row['mode']} in memory, {st['mode']} on disk")
            if not _same_instant(row["mtime"], st["File Modified"]):
                problems.append(f"{where}: mtime {row['mtime']} in memory, {st['File Modified']} ns on disk")
            if not _same_instant(row["ctime"], st["Inode Modified"]):
                problems.append(f"{where}: ctime {row['ctime']} in memory, {st['Inode Modified']} ns on disk")
    if not seen:
        problems.append("memory shows no file on the disk at all")
    return problems


def mapping_disagreements(b: Built) -> list[str]:
    """Every file-backed mapping memory shows on a partition of sda (each process's program, libc and the loader)
    is a file the partition holds: ``fls`` names its path at the mapped inode, ``istat`` has it allocated (or, for
    a deleted executable, freed after the acquisition: file_disagreements checks those) and at least as long as
    the mapping reaches into it (to its last page). Every path an installed package lists (dpkg's
    ``info/*.list`` on the partition) must be there."""
    parts = _partitions(b)
    problems: list[str] = []
    sizes: dict[tuple[int, int], int] = {}
    packaged: dict[int, set[str]] = {}
    for r in b.vol("linux.proc.Maps"):
        path = r["File Path"]
        if not r["Inode"] or not path.startswith("/") or int(r["Major"]) != SD_MAJOR:
            continue  # anonymous, pseudo file systems, deleted (" /... (deleted)")
        part = parts.get(int(r["Minor"]))
        where = f"pid {r['PID']} maps {path} ({r['Major']}:{r['Minor']}, inode {r['Inode']})"
        if part is None or part.fs != "ext4":
            problems.append(f"{where}: not an ext4 partition of the disk")
            continue
        inside = "/" + path[len(part.mount.rstrip("/")):].lstrip("/")
        if inside not in part.names and inside not in packaged.setdefault(part.offset, _packaged(b, part)):
            continue  # a program neither the story nor a package put on the disk: files_the_disk_lacks_... checks it
        if part.names.get(inside) != (int(r["Inode"]), True):
            problems.append(f"{where}: fls lists {inside} as {part.names.get(inside)}")
            continue
        key = (int(r["Minor"]), int(r["Inode"]))
        if key not in sizes:
            st = _istat(b, part, int(r["Inode"]))
            sizes[key] = int(st["size"]) if st.get("allocated") else -1
        reach = int(r["PgOff"]) + int(r["End"]) - int(r["Start"])
        if sizes[key] < 0 or reach > -(-sizes[key] // 4096) * 4096:
            problems.append(f"{where}: the mapping reaches byte {reach}, the disk's file has {sizes[key]} bytes")
    if not sizes:
        problems.append("memory maps no file of the disk")
    return problems


def _packaged(b: Built, part: Partition) -> set[str]:
    """The paths dpkg's ``info/*.list`` files on the partition say its packages installed (empty: no system)."""
    fs = pytsk3.FS_Info(pytsk3.Img_Info(str(b.ev / "disk.img")), offset=part.offset * 512)
    out: set[str] = set()
    try:
        info = fs.open_dir("/var/lib/dpkg/info")
    except OSError:
        return out
    for entry in info:
        name = entry.info.name.name.decode()
        if name.endswith(".list") and entry.info.meta is not None:
            f = fs.open(f"/var/lib/dpkg/info/{name}")
            out.update(f.read_random(0, f.info.meta.size).decode().splitlines())
    return out


def _held_disagreements(b: Built, part: Partition, row: dict[str, Any], st: dict[str, Any], where: str) -> list[str]:
    """A deleted file memory shows in use was still held at the acquisition: Linux frees it at the last close, so
    the disk must have freed it after the acquisition (istat's Deleted), and the journal's last copy of its inode
    before the acquisition must be the orphan memory shows: links 0, size and extents intact, with lsof's size,
    mtime and ctime (ctime the unlink)."""
    acquired = datetime.fromtimestamp(int(b.key["facts"]["memory"]["acquired_at"]), UTC)
    problems = []
    if not st.get("Deleted") or st["Deleted"] < acquired.timestamp() * 1_000_000_000:
        problems.append(f"{where}: in use in memory at {acquired}, freed on the disk at {st.get('Deleted')} ns")
    history = disk_reader.inode_history(b.ev / "disk.img", int(row["inode"]), partition=part.offset * 512)
    before = history[history["committed"] <= acquired]
    if before.empty:
        return [*problems, f"{where}: the journal holds no copy of the inode from before the acquisition"]
    last = before.iloc[-1]
    if last["links"] != 0 or last["size"] == 0 or not last["extents"]:
        problems.append(f"{where}: the disk's inode at the acquisition is not an orphan holding its data "
                        f"(links {last['links']}, size {last['size']}, extents {last['extents']})")
    if row["via"] == "lsof":
        if int(last["size"]) != int(row["size"]):
            problems.append(f"{where}: size {row['size']} in memory, {last['size']} in the journal's orphan")
        for name, column in (("mtime", "mtime"), ("ctime", "ctime")):
            if int(_ns(row[name]) // 1_000_000_000) != int(last[column].timestamp()):
                problems.append(f"{where}: {name} {row[name]} in memory, {last[column]} in the journal's orphan")
    return problems


def files_the_disk_lacks_are_numbered_apart(b: Built) -> list[str]:
    """A file memory shows on a partition the disk does not hold must not take an inode the disk uses."""
    parts = _partitions(b)
    problems = []
    for row in _memory_files(b):
        major, minor = (int(x) for x in row["dev"].split(":"))
        part = parts.get(minor)
        path = row["path"].strip().removesuffix(" (deleted)")
        if major != SD_MAJOR or part is None or part.fs != "ext4":
            continue
        inside = "/" + path[len(part.mount.rstrip("/")):].lstrip("/")
        st = _istat(b, part, int(row["inode"])) if inside not in part.names else {}
        if st.get("allocated") or "error" in st:
            problems.append(f"{path}: inode {row['inode']} on partition {minor}: {st.get('error', 'another file')}")
    return problems


def _flag(v: str) -> bool:
    return v in ("1", "True")


def expected_state(segments: list[tuple[float, bool, bool, bool, bool]], acquired: float) -> str:
    """The state of the local end of a connection its process still holds, from the segments seen before
    ``acquired``: (time, from local, SYN, FIN, RST). Linux moves a held socket that reached TIME_WAIT, or
    LAST_ACK's final ACK, or a reset, to CLOSE; one that saw no FIN is ESTABLISHED."""
    before = [s for s in segments if s[0] <= acquired]
    if any(rst for *_, rst in before):
        return "CLOSE"
    fins = [(t, local) for t, local, _, fin, _ in before if fin]
    local_fin = next((t for t, local in fins if local), None)
    remote_fin = next((t for t, local in fins if not local), None)
    if local_fin is None and remote_fin is None:
        return "ESTABLISHED"
    if local_fin is None:
        return "CLOSE_WAIT"
    if remote_fin is None:
        return "FIN_WAIT2"
    last = before[-1]
    return "CLOSE" if last[0] >= max(local_fin, remote_fin) else "CLOSING"


def socket_disagreements(b: Built) -> list[str]:
    """Where a connected TCP socket memory shows differs from its flow in the capture."""
    acquired = float(b.key["facts"]["memory"]["acquired_at"])
    problems: list[str] = []
    checked = 0
    for r in b.vol("linux.sockstat"):
        if r["Proto"] != "TCP" or r["State"] == "LISTEN":
            continue
        src, sport = r["Source Addr"], int(r["Source Port"])
        dst, dport = r["Destination Addr"], int(r["Destination Port"])
        rows = fields(b.ev / "network.pcap", f"ip.addr=={src} && ip.addr=={dst} && tcp.port=={sport} && "
                      f"tcp.port=={dport}", "frame.time_epoch", "ip.src", "tcp.srcport", "tcp.flags.syn",
                      "tcp.flags.fin", "tcp.flags.reset")
        where = f"pid {r['PID']} fd {r['FD']} {src}:{sport} -> {dst}:{dport} {r['State']}"
        if not rows:
            problems.append(f"{where}: the capture holds no such connection")
            continue
        checked += 1
        segments = [(float(t), ip == src and int(port) == sport, _flag(syn), _flag(fin), _flag(rst))
                    for t, ip, port, syn, fin, rst in rows]
        want = expected_state(segments, acquired)
        if r["State"] != want:
            problems.append(f"{where}: the capture's segments before the acquisition leave it {want}")
    if not checked:
        problems.append("memory shows no connected TCP socket to compare")
    return problems


# ---- the tests ---------------------------------------------------------------------------------------------------


def _conversation(*steps: tuple[int, bool, int]) -> list[TcpSegment]:
    """Segments at (second, from client, flags), sequence numbers as a real exchange numbers them."""
    seq = {True: 1000, False: 5000}
    out = []
    for t, client, flags in steps:
        data = 100 if not flags & (SYN | FIN | RST) and t == 2 else 0
        out.append(TcpSegment(t * 1_000_000, client, flags, seq[client], seq[not client], data))
        seq[client] += data + bool(flags & SYN) + bool(flags & FIN)
    return out


HANDSHAKE = ((0, True, SYN), (0, False, SYN | ACK), (1, True, ACK), (2, True, ACK))


@pytest.mark.parametrize(("steps", "at", "held", "want"), [
    (HANDSHAKE, 5, True, "ESTABLISHED"),
    ((*HANDSHAKE, (10, True, FIN | ACK), (10, False, FIN | ACK), (10, True, ACK)), 9, True, "ESTABLISHED"),
    ((*HANDSHAKE, (10, True, FIN | ACK), (10, False, FIN | ACK), (10, True, ACK)), 11, True, "CLOSE"),
    ((*HANDSHAKE, (10, True, FIN | ACK), (10, False, FIN | ACK), (10, True, ACK)), 69, False, "TIME_WAIT"),
    ((*HANDSHAKE, (10, True, FIN | ACK), (10, False, FIN | ACK), (10, True, ACK)), 71, False, None),
    ((*HANDSHAKE, (10, True, FIN | ACK), (10, False, ACK)), 600, True, "FIN_WAIT2"),
    ((*HANDSHAKE, (10, False, FIN | ACK), (10, True, ACK)), 600, True, "CLOSE_WAIT"),
    ((*HANDSHAKE, (10, False, FIN | ACK), (10, True, ACK), (20, True, FIN | ACK)), 21, True, "LAST_ACK"),
    ((*HANDSHAKE, (10, False, FIN | ACK), (10, True, ACK), (20, True, FIN | ACK), (20, False, ACK)), 21, True,
     "CLOSE"),
    ((*HANDSHAKE, (10, False, RST | ACK)), 11, True, "CLOSE"),
    ((*HANDSHAKE, (10, False, RST | ACK)), 11, False, None),
])
def test_a_sockets_state_follows_linux_tcp_state_machine(steps, at, held, want):
    assert state_at(_conversation(*steps), True, at * 1_000_000, held=held) == want


def test_the_server_end_of_a_conversation_has_its_own_state():
    steps = (*HANDSHAKE, (10, True, FIN | ACK), (10, False, ACK))
    assert state_at(_conversation(*steps), False, 11_000_000) == "CLOSE_WAIT"


def test_every_file_memory_shows_is_the_disk_file_tsk_reads(built: Built):
    assert file_disagreements(built) == []


@pytest.fixture(scope="module")
def haystack(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Nightjar with an installed Debian 12 on its root (tests/haystack.py): the programs memory runs are files."""
    root = tmp_path_factory.mktemp("facts-haystack")
    result = build_variant(haystack_spec("nightjar"), DEMO_SECRET, "fact-model", root / "nightjar")
    return Built(result.out, root / "volcache", {})


def test_every_mapped_file_is_on_the_disk_at_its_inode(haystack: Built):
    """Processes run installed programs and map libc and the loader: each is on the root partition (the installed
    system), at the inode memory names, with the size memory maps of it; a mapping moved to another inode is
    caught."""
    assert mapping_disagreements(haystack) == []
    maps = haystack.vol("linux.proc.Maps")
    mapped = {r["File Path"] for r in maps if int(r["Major"] or 0) == SD_MAJOR}
    assert {"/usr/bin/bash", "/usr/sbin/sshd", "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"} <= mapped
    libc = "/usr/lib/x86_64-linux-gnu/libc.so.6"
    planted = [dict(r, Inode=int(r["Inode"]) + 1) if r["File Path"] == libc else r for r in maps]
    haystack._memo["linux.proc.Maps"] = planted
    try:
        assert any(f"maps {libc}" in p for p in mapping_disagreements(haystack))
    finally:
        haystack._memo["linux.proc.Maps"] = maps


def test_files_the_disk_lacks_take_no_inode_the_disk_uses(built: Built):
    assert files_the_disk_lacks_are_numbered_apart(built) == []


def test_deleted_but_open_files_are_inodes_their_partition_freed(built: Built):
    """Nightjar's implant runs from its executable, deleted before the acquisition: proc.Maps names the inode the
    root partition kept as an orphan until the shutdown, then freed (file_disagreements checks every deleted file
    against the journal's copy at the acquisition; this pins that there is one to check)."""
    deleted = [r for r in _memory_files(built) if r["path"].endswith(" (deleted)")]
    if built.out.name == "nightjar":
        payload = built.key["namespace"]["files.payload.path"]
        assert {r["path"] for r in deleted} == {f" {payload} (deleted)"}
    parts = _partitions(built)
    for r in deleted:
        major, minor = (int(x) for x in r["dev"].split(":"))
        assert (major, parts[minor].mount) == (SD_MAJOR, "/")
        st = _istat(built, parts[minor], int(r["inode"]))
        assert not st["allocated"] and "Deleted" in st, st


def test_every_connected_socket_is_its_captured_flow_in_the_state_the_capture_leaves_it(built: Built):
    assert socket_disagreements(built) == []


def test_the_exfiltration_socket_is_closed_at_acquisition_since_the_capture_saw_it_finish(built: Built):
    """Both cases' exfiltration ends with FINs long before responders arrive: the implant still holds the
    descriptor, so the socket reads CLOSE with its 4-tuple, never ESTABLISHED."""
    port = built.key["namespace"]["flows.exfil.client_port"]
    rows = [r for r in built.vol("linux.sockstat") if r["Proto"] == "TCP" and int(r["Source Port"]) == port]
    assert [r["State"] for r in rows] == ["CLOSE"]


def test_a_planted_inconsistency_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Memory numbered as before the fact model (its own inode numbers on 8:1), sockets in the spec's state and a
    disk that frees the running implant's executable at its unlink: the comparisons above name each disagreement."""
    decide, device_of = SharedFacts._decide, SharedFacts.device_of

    def old_numbering(self: SharedFacts, path: str, is_dir: bool, uid: int, gid: int, covered: bool):
        fact = decide(self, path, is_dir, uid, gid, covered)
        return replace(fact, inode=529_113 + fact.inode) if fact.device.major == SD_MAJOR else fact

    def sda1(self: SharedFacts, path: str, *, covered: bool = False):
        device = device_of(self, path, covered=covered)
        return replace(device, minor=1) if device.major == SD_MAJOR else device

    monkeypatch.setattr(SharedFacts, "_decide", old_numbering)
    monkeypatch.setattr(SharedFacts, "device_of", sda1)
    monkeypatch.setattr(SharedFacts, "socket", lambda self, sock: SocketFact(facts_mod._spec_state(sock), None))
    planted = _build(tmp_path, "nightjar")
    files = file_disagreements(planted)
    assert any("Q1_forecast.txt' (8:1, inode 5" in p for p in files), files  # 529113 + its inode
    monkeypatch.undo()
    monkeypatch.setattr(disk_writer, "held_at_shutdown", lambda case: frozenset())
    freed_early = file_disagreements(_build(tmp_path / "freed-at-unlink", "nightjar"))
    assert any("(deleted)" in p and "freed on the disk at" in p for p in freed_early), freed_early
    assert any("(deleted)" in p and "not an orphan holding its data" in p for p in freed_early), freed_early
    sockets = socket_disagreements(planted)
    assert any("ESTABLISHED" in p and "leave it CLOSE" in p for p in sockets), sockets
