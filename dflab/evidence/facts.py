"""The facts two kinds of evidence both show, decided once: files' identities and sockets' states.

Memory names files the disk holds (open files, mapped executables, deleted-but-open files) and sockets whose
segments the capture holds. Each such fact has one decider, and memory reads it here instead of deciding again:

* **Files.** The disk writer decides inode numbers: it lays ext4 out (groups, flex_bg, the order files are
  created and deleted), and a second copy of that allocator here would drift from it. So the build runs the disk
  writer first and hands its layout, the key's ``facts.disk`` (``files.<id>.inode``, ``volumes.<id>.index``), to
  :class:`SharedFacts`; memory then names the same inode on the device the kernel gives that partition (sda is
  8:0, partition N 8:N; ``super_block.s_dev``), at the path ``d_path`` prints (the volume's mount point joined
  with the file's path in it), with the case's size and times. A file no volume holds is numbered on its own
  file system past every inode the disk names there, so it never takes a number the disk gives another file;
  device nodes and shared memory live on the pseudo file systems Linux mounts at ``/dev``, ``/dev/pts``,
  ``/dev/shm`` and ``/run``, numbered as those number. FAT has no inode numbers: vfat hands out ``iunique``
  numbers at lookup, which match nothing on the disk, as on a real host.
* **Sockets.** The network writer decides when a flow opens and closes (its TCP segments). A socket a process
  holds at acquisition is in the state those segments leave its end in at that instant
  (:func:`dflab.evidence.tcpstate.state_at`): ESTABLISHED while no FIN or RST was seen, CLOSE once the
  connection was closed or reset under a process that kept its descriptor. The segments come from the network
  writer's own planned conversations (:class:`~dflab.evidence.network.planned.PlannedFlows`, a pure function of
  the case, independent of the background traffic), rendered in memory, never read back from the capture file.

Nothing flows back from the evidence: the layout is what the disk writer reported, the segments what the
network writer made.
"""

from __future__ import annotations

import hashlib
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dflab.errors import EvidenceError
from dflab.evidence.disk import write_disk
from dflab.evidence.disk.ext4.story import Draws
from dflab.evidence.network.conversation import Conversation
from dflab.evidence.network.planned import PlannedFlows
from dflab.evidence.network.segment import Segment
from dflab.evidence.tcpstate import TcpSegment, state_at
from dflab.scenario import ostree
from dflab.scenario.case import Case, DiskFile, Socket, Volume

NS = 1_000_000_000
SD_MAJOR = 8  # SCSI disk: sda is 8:0, its partition N 8:N
ROOT_ELSEWHERE = (253, 0)  # dm-0: a root file system on a device other than the imaged disk
MINORBITS = 20
MAGIC = {"ext4": 0xEF53, "vfat": 0x4D44, "devtmpfs": 0x0102_1994, "tmpfs": 0x0102_1994, "devpts": 0x1CD1}
ROOT_INO = {"ext4": 2, "vfat": 1, "devtmpfs": 1, "tmpfs": 1, "devpts": 1}  # EXT4_ROOT_INO, MSDOS_ROOT_INO, ...


@dataclass(frozen=True)
class Device:
    """A mounted file system as the kernel numbers and names it."""

    mount_point: str
    fs: str  # the file_system_type's name
    major: int
    minor: int
    name: str  # super_block.s_id ("sda2", "devpts")
    source: str  # what /proc/mounts names as mounted ("/dev/sda2", "udev")
    volume: str | None = None  # the case volume it is, None for a pseudo file system

    @property
    def s_dev(self) -> int:
        return (self.major << MINORBITS) | self.minor

    @property
    def magic(self) -> int:
        return MAGIC[self.fs]

    @property
    def root_ino(self) -> int:
        return ROOT_INO[self.fs]


# What an Ubuntu 22.04 host mounts beside its disks, with the anonymous device numbers it boots with.
PSEUDO = (Device("/dev", "devtmpfs", 0, 5, "devtmpfs", "udev"), Device("/dev/pts", "devpts", 0, 24, "devpts", "devpts"),
          Device("/run", "tmpfs", 0, 25, "tmpfs", "tmpfs"), Device("/dev/shm", "tmpfs", 0, 26, "tmpfs", "tmpfs"))  # noqa: S108
_DEV_NODES = {"null": 5, "zero": 9, "full": 10, "random": 11, "urandom": 12, "tty": 13, "console": 14, "ptmx": 15}


@dataclass(frozen=True)
class FileFact:
    """One file (or directory) memory shows, as its inode says it: the same on every evidence that shows it."""

    path: str  # as d_path prints it
    device: Device
    inode: int
    mode: int
    uid: int
    gid: int
    size: int
    atime: int
    mtime: int
    ctime: int
    deleted: bool  # unlinked before the acquisition, still open: i_nlink 0
    file_id: str | None = None  # the case's disk file, None when no volume holds it
    nsec: tuple[int, int, int] = (0, 0, 0)  # nanoseconds of atime, mtime, ctime

    @property
    def dev(self) -> str:
        """``major:minor`` as lsof and volatility print it."""
        return f"{self.device.major}:{self.device.minor}"


@dataclass(frozen=True)
class SocketFact:
    """A socket a process holds at acquisition: its 4-tuple and the state its segments leave it in."""

    state: str  # a TCP state name (tcpstate.STATE_NUMBERS) or UDP's "UNCONNECTED"/"CONNECTED"
    flow: str | None  # the planned flow whose segments decided the state, None for one the capture never saw


def _join(mount_point: str, path: str) -> str:
    return mount_point.rstrip("/") + path


def _segments(conv: Conversation) -> list[TcpSegment]:
    """The writer's frames of one TCP conversation as segments (Ethernet, IPv4 or IPv6, TCP)."""
    out = []
    for t_us, frame in conv.frames:
        ethertype, ip = int.from_bytes(frame[12:14], "big"), 14
        if ethertype == 0x8100:
            ethertype, ip = int.from_bytes(frame[16:18], "big"), 18
        if ethertype == 0x0800:
            tcp, total = ip + (frame[ip] & 0x0F) * 4, int.from_bytes(frame[ip + 2 : ip + 4], "big") + ip
            src_port = int.from_bytes(frame[tcp : tcp + 2], "big")
            src_ip = frame[ip + 12 : ip + 16]
        else:
            tcp, total = ip + 40, int.from_bytes(frame[ip + 4 : ip + 6], "big") + ip + 40
            src_port = int.from_bytes(frame[tcp : tcp + 2], "big")
            src_ip = frame[ip + 8 : ip + 24]
        data = tcp + (frame[tcp + 12] >> 4) * 4
        out.append(TcpSegment(t_us, src_ip == conv.client.ip_raw and src_port == conv.client_port, frame[tcp + 13],
                              int.from_bytes(frame[tcp + 4 : tcp + 8], "big"),
                              int.from_bytes(frame[tcp + 8 : tcp + 12], "big"), total - data))
    return out


class SharedFacts:
    """Every file and socket memory shows, decided from the case and the disk writer's layout.

    ``disk_layout`` is what :func:`dflab.evidence.disk.write_disk` returned for this case. Files are numbered on
    first request; memory asks in its own fixed order, so the numbers are a function of the case.
    """

    def __init__(self, case: Case, disk_layout: Mapping[str, Any]) -> None:
        self.case = case
        placed = dict(disk_layout.get("volumes", {}))
        self._files_layout = dict(disk_layout.get("files", {}))
        devices = [self._volume_device(v, placed) for v in case.disk.volumes if v.mount_point]
        if not any(d.mount_point == "/" for d in devices):
            devices.append(Device("/", "ext4", *ROOT_ELSEWHERE, "dm-0", "/dev/mapper/root"))
        self.devices: tuple[Device, ...] = tuple(devices) + tuple(
            p for p in PSEUDO if not any(d.mount_point == p.mount_point for d in devices))
        self._by_path: dict[str, DiskFile] = {}
        for f in case.disk.files:
            vol = next(v for v in case.disk.volumes if v.id == f.volume)
            self._by_path[_join(vol.mount_point, f.path).rstrip("/") or "/"] = f
        # An installed system's files (dflab.scenario.ostree) memory shows: the disk writer reported their inodes,
        # owners, sizes and times as the file system holds them (``facts.disk.os.<volume>.shown``).
        self._os_shown: dict[str, tuple[str, dict[str, int]]] = {}
        self._os_last: dict[str, int] = {}
        for vol_id, system in dict(disk_layout.get("os", {})).items():
            vol = next(v for v in case.disk.volumes if v.id == vol_id)
            self._os_last[vol_id] = int(system.get("last_inode", 0))
            for path, stat_ in dict(system.get("shown", {})).items():
                self._os_shown[_join(vol.mount_point, path).rstrip("/") or "/"] = (vol_id, stat_)
        self._decided: dict[tuple[str, bool], FileFact] = {}
        self._next_ino = {d.mount_point: self._first_free(d) for d in self.devices}
        self._sockets: dict[tuple[tuple[str, int], tuple[str, int]], tuple[str, bool, list[TcpSegment]]] | None = None

    @staticmethod
    def _volume_device(v: Volume, placed: dict[str, Any]) -> Device:
        if v.id not in placed:
            raise EvidenceError(f"the disk layout has no partition for volume {v.id!r}", "disk.volumes")
        index = int(placed[v.id]["index"])
        fs = "vfat" if v.fs == "fat32" else "ext4"
        return Device(v.mount_point, fs, SD_MAJOR, index, f"sda{index}", f"/dev/sda{index}", v.id)

    def _first_free(self, d: Device) -> int:
        """Where numbering starts for what the disk does not name on ``d``."""
        if d.fs == "ext4":
            known = [int(f["inode"]) for f in self._files_layout.values() if f.get("volume") == d.volume
                     and f.get("inode")]
            return max(known + [self._os_last.get(d.volume or "", 0)], default=d.root_ino) + 1
        if d.fs == "tmpfs":  # get_next_ino(): shared by every pseudo file system since boot, in the thousands
            seed = hashlib.sha256(f"{self.case.seed}\0{d.mount_point}".encode()).digest()
            return 1000 + int.from_bytes(seed[:2], "big") % 3000
        return d.root_ino + 1

    def device_of(self, path: str, *, covered: bool = False) -> Device:
        """The file system ``path`` lives on: the mount with the longest prefix. ``covered``: the one below the
        mount at ``path`` (where its mount point directory is)."""
        best = None
        for d in self.devices:
            mp = d.mount_point.rstrip("/")
            if covered and d.mount_point == path:
                continue
            if (path == d.mount_point or path.startswith(mp + "/")) and (best is None or len(mp) >
                                                                           len(best.mount_point.rstrip("/"))):
                best = d
        assert best is not None  # "/" is always among them
        return best

    def disk_file(self, path: str) -> DiskFile | None:
        """The case's disk file at ``path`` as the host sees it (its volume's mount point joined), if any: a story
        file, or an installed system's file memory shows (its bytes are what a process maps of it)."""
        found = self._by_path.get(path)
        if found is None and path in self._os_shown:
            vol = next(v for v in self.case.disk.volumes if v.id == self._os_shown[path][0])
            assert vol.os is not None
            inner = path[len(vol.mount_point.rstrip("/")):]
            data = ostree.shared(vol.os.distribution, vol.os.profile).contents.get(inner)
            if data is not None:
                return DiskFile(ostree.ID_PREFIX + inner, vol.id, inner, data, 0, 0, 0, 0)
        return found

    def file(self, path: str, *, is_dir: bool = False, uid: int = 0, gid: int = 0, covered: bool = False) -> FileFact:
        """The fact of ``path`` (an absolute path as the host sees it); ``uid``/``gid`` own one no volume holds.

        A mount point is the root of what is mounted there, or with ``covered`` the directory it hides.
        """
        if (path, covered) not in self._decided:
            self._decided[(path, covered)] = self._decide(path, is_dir, uid, gid, covered)
        return self._decided[(path, covered)]

    def _number(self, d: Device, path: str) -> int:
        if path == d.mount_point:
            return d.root_ino
        name = path.rsplit("/", 1)[-1]
        if d.fs == "devpts" and name.isdigit():
            return int(name) + 3  # devpts: root 1, ptmx 2, pts/N N+3
        if d.fs == "devtmpfs" and path.count("/") == 2 and name in _DEV_NODES:
            return _DEV_NODES[name]
        if d.fs == "devtmpfs":
            self._next_ino[d.mount_point] = max(self._next_ino[d.mount_point], 200)
        ino = self._next_ino[d.mount_point]
        self._next_ino[d.mount_point] += 1
        return ino

    def _decide(self, path: str, is_dir: bool, uid: int, gid: int, covered: bool) -> FileFact:
        d = self.device_of(path, covered=covered)
        t = self.case.memory.boot_time
        f = self._by_path.get(path)
        if f is not None and f.is_dir == is_dir:
            inode = int(self._files_layout.get(f.id, {}).get("inode") or 0)
            if d.fs != "ext4" or not inode:
                inode = self._number(d, path)
            deleted = f.deleted_at is not None and f.deleted_at <= self.case.memory.acquired_at
            kind = stat.S_IFDIR if f.is_dir else stat.S_IFREG
            ctime = max(f.ctime, f.deleted_at) if deleted and f.deleted_at is not None else f.ctime  # unlink: ctime
            return FileFact(path, d, inode, kind | f.mode, f.uid, f.gid, 4096 if f.is_dir else len(f.content),
                            f.atime, f.mtime, ctime, deleted, f.id, self._nanos(f, (f.atime, f.mtime, ctime)))
        if path in self._os_shown and d.volume == self._os_shown[path][0]:  # the directory a mount covers too
            st = self._os_shown[path][1]
            ns = (st["atime_ns"], st["mtime_ns"], st["ctime_ns"])
            return FileFact(path, d, st["inode"], st["mode"], st["uid"], st["gid"], st["size"],
                            *(t // NS for t in ns), False, None, tuple(t % NS for t in ns))  # type: ignore[arg-type]
        if is_dir:
            mode, uid, gid, size = stat.S_IFDIR | 0o755, 0, 0, 4096 if d.fs in ("ext4", "vfat") else 0
        elif d.fs in ("devtmpfs", "devpts"):
            mode, size = stat.S_IFCHR | (0o620 if d.fs == "devpts" else 0o666), 0
        else:
            mode, size = stat.S_IFREG | 0o644, 0
        return FileFact(path, d, self._number(d, path), mode, uid, gid, size, t, t, t, False)

    def _nanos(self, f: DiskFile, seconds: tuple[int, int, int]) -> tuple[int, int, int]:
        """The nanoseconds ext4 gives these times of ``f`` (its writer's keyed draw); FAT keeps none in memory."""
        vol = next(v for v in self.case.disk.volumes if v.id == f.volume)
        if vol.fs != "ext4":
            return (0, 0, 0)
        draws = Draws(bytes.fromhex(self.case.seed), vol)
        a, m, c = (draws.nanos(f.path, t) for t in seconds)
        return (a, m, c)

    def socket(self, sock: Socket) -> SocketFact:
        """The state of ``sock`` at the acquisition: its planned flow's, when the capture carried one."""
        if sock.proto != "tcp" or sock.state in ("LISTEN", "UNCONNECTED"):
            return SocketFact(_spec_state(sock), None)
        for (local, remote), (flow, local_is_client, segments) in self._flows().items():
            if local == (sock.local_ip, sock.local_port) and remote == (sock.remote_ip, sock.remote_port):
                state = state_at(segments, local_is_client, round(self.case.memory.acquired_at * 1_000_000))
                assert state is not None  # a socket its process holds is never gone
                return SocketFact(state, flow)
        return SocketFact(_spec_state(sock), None)

    def _flows(self) -> dict[tuple[tuple[str, int], tuple[str, int]], tuple[str, bool, list[TcpSegment]]]:
        """Each planned TCP conversation by (local, remote) address, seen from either end, with its flow id."""
        if self._sockets is None:
            planned = PlannedFlows(self.case, Segment(self.case))
            planned.render()
            ids: dict[tuple[str, int, str, int], str] = {}
            for f in planned.facts:
                for part, suffix in ((f, ""), (f.get("data"), "/data")):
                    if isinstance(part, dict):
                        ids[(part["client_ip"], part["client_port"], part["server_ip"], part["server_port"])] = \
                            f"{f['id'] or f['kind'] + str(f['index'])}{suffix}"
            self._sockets = {}
            for conv in planned.conversations:
                if conv.proto == "tcp":
                    segs = _segments(conv)
                    client, server = (conv.client.ip, conv.client_port), (conv.server.ip, conv.server_port)
                    fid = ids.get((*client, *server), "")
                    self._sockets[(client, server)] = (fid, True, segs)
                    self._sockets[(server, client)] = (fid, False, segs)
        return self._sockets


def _spec_state(sock: Socket) -> str:
    """The state the case gives a socket no captured segment decides, in the kernel's naming."""
    if sock.proto == "tcp":
        return "CLOSE" if sock.state == "UNCONNECTED" else sock.state
    return "UNCONNECTED" if sock.state == "UNCONNECTED" else "CONNECTED"


def decide(case: Case) -> SharedFacts:
    """The facts of ``case`` when no build handed its disk layout over (a memory image written on its own): the
    disk writer lays the disk out in a scratch file, since it alone decides inode numbers."""
    with tempfile.TemporaryDirectory(prefix="dflab-layout-") as scratch:
        return SharedFacts(case, write_disk(case, Path(scratch) / "disk.img"))


_HANDED: ContextVar[SharedFacts | None] = ContextVar("dflab_shared_facts", default=None)


@contextmanager
def handed_over(facts: SharedFacts) -> Iterator[SharedFacts]:
    """Make ``facts`` the ones :func:`for_case` gives while the block runs (one writer's build of one case).

    The memory image is assembled by code that takes only the case; the writer hands the build's facts to the
    VFS through this context rather than through every constructor between them.
    """
    token = _HANDED.set(facts)
    try:
        yield facts
    finally:
        _HANDED.reset(token)


def for_case(case: Case) -> SharedFacts:
    """The facts handed over for ``case`` (:func:`handed_over`), else decided now (:func:`decide`)."""
    handed = _HANDED.get()
    return handed if handed is not None and handed.case is case else decide(case)
