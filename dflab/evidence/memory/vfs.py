"""The VFS objects behind open files and sockets: super blocks, mounts, dentries, inodes, files.

``linux.lsof`` rebuilds a path by walking ``dentry->d_parent`` up to the
task's root dentry/mount, and prints ``(deleted)`` when the inode has no
links left; ``linux.sockstat`` recognises a socket by ``file->f_op ==
&socket_file_ops`` and finds the ``struct socket`` around the dentry's inode
(``struct socket_alloc``).  Inode metadata comes from the disk file at the
same path when the case has one, so memory and disk evidence agree.
"""

from __future__ import annotations

import ipaddress
import random
import stat
from dataclasses import dataclass

from dflab.errors import EvidenceError
from dflab.evidence.memory.kmem import KernelMemory
from dflab.scenario.case import Case, DiskFile, Socket

MINORBITS = 20
TCP_STATES = {"ESTABLISHED": 1, "CLOSE_WAIT": 8, "LISTEN": 10, "UNCONNECTED": 7}  # 7 = TCP_CLOSE
SS_UNCONNECTED, SS_CONNECTED = 1, 3
AF_INET, SOCK_STREAM, SOCK_DGRAM, IPPROTO_TCP, IPPROTO_UDP = 2, 1, 2, 6, 17
FMODE_READ, FMODE_WRITE = 0x1, 0x2


@dataclass(frozen=True)
class FileMeta:
    """What an inode says about a file."""

    mode: int
    uid: int
    gid: int
    size: int
    atime: int
    mtime: int
    ctime: int
    deleted: bool


def vol_file_path(path: str, deleted: bool) -> str:
    """The path exactly as ``linux.lsof`` prints it (a leading space and suffix when deleted)."""
    return f" {path} (deleted)" if deleted else path


def vol_socket_state(sock: Socket) -> str:
    """The state column ``linux.sockstat`` prints for ``sock``."""
    if sock.proto == "tcp":
        return "CLOSE" if sock.state == "UNCONNECTED" else sock.state
    return "UNCONNECTED" if sock.state == "UNCONNECTED" else "CONNECTED"


class Vfs:
    """Builds dentries, inodes and files for one memory image."""

    def __init__(self, km: KernelMemory, case: Case, rng: random.Random, default_time: int,
                 ops: dict[str, int]) -> None:
        """``ops`` holds the addresses of ``ext4_file_operations``, ``socket_file_ops`` and
        ``sockfs_dentry_operations``."""
        self.km = km
        self._file_fops = ops["ext4_file_operations"]
        self._socket_fops = ops["socket_file_ops"]
        self._socket_dops = ops["sockfs_dentry_operations"]
        self._case = case
        self._default_time = default_time
        self._next_ino = rng.randrange(130_000, 900_000)
        self._next_sock_ino = rng.randrange(20_000, 60_000)
        self._disk = self._index_disk(case)
        self._dentries: dict[str, int] = {}
        self._children: dict[int, list[int]] = {}
        self._inodes: dict[str, tuple[int, int, FileMeta]] = {}  # path -> (inode address, number, meta)
        ext4 = self._fs_type("ext4")
        sockfs = self._fs_type("sockfs")
        self.root_sb = km.new("super_block", {"s_dev": (8 << MINORBITS) | 1, "s_type": ext4,
                                              "s_magic": 0xEF53, "s_blocksize": 4096, "s_id": b"sda1"})
        self.sock_sb = km.new("super_block", {"s_dev": 8, "s_type": sockfs, "s_magic": 0x534F434B,
                                              "s_blocksize": 4096, "s_id": b"sockfs"})
        root_meta = FileMeta(stat.S_IFDIR | 0o755, 0, 0, 4096, default_time, default_time, default_time, False)
        self.root_dentry = self._new_dentry(b"/", None, self._new_inode(2, root_meta, self.root_sb), self.root_sb)
        self._dentries["/"] = self.root_dentry
        self.root_mnt = self._mount(self.root_dentry, self.root_sb, b"/dev/sda1")
        sock_root_meta = FileMeta(stat.S_IFDIR | 0o755, 0, 0, 0, default_time, default_time, default_time, False)
        sock_root = self._new_dentry(b"socket:", None, self._new_inode(1, sock_root_meta, self.sock_sb),
                                     self.sock_sb)
        self.sock_mnt = self._mount(sock_root, self.sock_sb, b"sockfs")

    @staticmethod
    def _index_disk(case: Case) -> dict[str, DiskFile]:
        mounts = {v.id: v.mount_point.rstrip("/") for v in case.disk.volumes}
        return {mounts.get(f.volume, "") + f.path: f for f in case.disk.files if not f.is_dir}

    def disk_content(self, path: str) -> bytes:
        """The bytes of the case's disk file at ``path`` (empty when the disk has none)."""
        f = self._disk.get(path)
        return f.content if f is not None else b""

    def _fs_type(self, name: str) -> int:
        return self.km.new("file_system_type", {"name": self.km.new_string(name.encode())})

    def _mount(self, root: int, sb: int, devname: bytes) -> int:
        """A ``struct mount`` mounted on itself (a namespace root); returns its ``vfsmount`` address."""
        km = self.km
        mnt = km.new("mount", {"mnt_mountpoint": root, "mnt.mnt_root": root, "mnt.mnt_sb": sb,
                               "mnt_devname": km.new_string(devname), "mnt_count": 1})
        km.fill(mnt, "mount", {"mnt_parent": mnt})
        for head in ("mnt_mounts", "mnt_child", "mnt_instance", "mnt_list"):
            km.init_list(mnt, "mount", head)
        return km.addr_of(mnt, "mount", "mnt")

    def _new_inode(self, ino: int, meta: FileMeta, sb: int, at: int | None = None) -> int:
        km = self.km
        values: dict[str, int | bytes] = {
            "i_mode": meta.mode, "i_uid.val": meta.uid, "i_gid.val": meta.gid, "i_sb": sb, "i_ino": ino,
            "i_nlink": 0 if meta.deleted else (2 if stat.S_ISDIR(meta.mode) else 1), "i_size": meta.size,
            "i_atime.tv_sec": meta.atime, "i_mtime.tv_sec": meta.mtime, "i_ctime.tv_sec": meta.ctime,
            "i_blocks": -(-meta.size // 512), "i_count.counter": 1,
        }
        if at is None:
            return km.new("inode", values)
        km.fill(at, "inode", values)
        return at

    def _new_dentry(self, name: bytes, parent: int | None, inode: int, sb: int, dops: int = 0) -> int:
        km = self.km
        dentry = km.new("dentry")
        if len(name) < 32:
            km.fill(dentry, "dentry", {"d_iname": name})
            name_ptr = km.addr_of(dentry, "dentry", "d_iname")
        else:
            name_ptr = km.new_string(name)
        km.fill(dentry, "dentry", {"d_parent": parent if parent is not None else dentry, "d_name.len": len(name),
                                   "d_name.name": name_ptr, "d_inode": inode, "d_sb": sb, "d_op": dops,
                                   "d_lockref": 1 << 32})
        for head in ("d_lru", "d_child", "d_subdirs"):
            km.init_list(dentry, "dentry", head)
        if parent is not None and parent != dentry:
            self._children.setdefault(parent, []).append(km.addr_of(dentry, "dentry", "d_child"))
        return dentry

    def _meta(self, path: str, is_dir: bool, uid: int, gid: int, acquired_at: int) -> FileMeta:
        f = self._disk.get(path)
        if is_dir or f is None:
            t = self._default_time
            if is_dir:
                mode = stat.S_IFDIR | 0o755
            elif path.startswith("/dev/"):
                mode = stat.S_IFCHR | (0o620 if path.startswith("/dev/pts/") else 0o666)
            else:
                mode = stat.S_IFREG | 0o644
            return FileMeta(mode, uid if not is_dir else 0, gid if not is_dir else 0, 4096 if is_dir else 0,
                            t, t, t, False)
        deleted = f.deleted_at is not None and f.deleted_at <= acquired_at
        return FileMeta(stat.S_IFREG | f.mode, f.uid, f.gid, len(f.content), f.atime, f.mtime, f.ctime, deleted)

    def lookup(self, path: str, uid: int, gid: int) -> tuple[int, int, int, FileMeta]:
        """``(dentry, inode address, inode number, meta)`` for an absolute path, creating the dentry chain as needed."""
        if not path.startswith("/") or path.endswith("/") or "//" in path:
            raise EvidenceError(f"not an absolute file path: {path!r}", "memory.processes")
        acquired = self._case.memory.acquired_at
        parts = path.strip("/").split("/")
        parent, so_far = self.root_dentry, ""
        for i, part in enumerate(parts):
            so_far += "/" + part
            if so_far not in self._dentries:
                meta = self._meta(so_far, i < len(parts) - 1, uid, gid, acquired)
                ino = self._next_ino
                self._next_ino += 1
                inode = self._new_inode(ino, meta, self.root_sb)
                self._inodes[so_far] = (inode, ino, meta)
                self._dentries[so_far] = self._new_dentry(part.encode(), parent, inode, self.root_sb)
            parent = self._dentries[so_far]
        inode, ino, meta = self._inodes[path]
        return self._dentries[path], inode, ino, meta

    def open_file(self, path: str, uid: int, gid: int) -> tuple[int, int, FileMeta]:
        """A ``struct file`` for ``path``; returns ``(file, inode number, meta)``."""
        dentry, inode, ino, meta = self.lookup(path, uid, gid)
        filp = self.km.new("file", {"f_path.mnt": self.root_mnt, "f_path.dentry": dentry, "f_inode": inode,
                                    "f_op": self._file_fops, "f_count.counter": 1, "f_mode": FMODE_READ,
                                    "f_flags": 0o100000})
        return filp, ino, meta

    def open_socket(self, sock: Socket, uid: int, gid: int, created: int, net: int) -> tuple[int, int]:
        """A socket file with its ``socket_alloc`` and ``inet_sock``; returns ``(file, inode number)``."""
        km = self.km
        ino = self._next_sock_ino
        self._next_sock_ino += 1
        alloc = km.new("socket_alloc")
        inode = km.addr_of(alloc, "socket_alloc", "vfs_inode")
        meta = FileMeta(stat.S_IFSOCK | 0o777, uid, gid, 0, created, created, created, False)
        self._new_inode(ino, meta, self.sock_sb, at=inode)
        dentry = self._new_dentry(b"", None, inode, self.sock_sb, dops=self._socket_dops)
        filp = km.new("file", {"f_path.mnt": self.sock_mnt, "f_path.dentry": dentry, "f_inode": inode,
                               "f_op": self._socket_fops, "f_count.counter": 1, "f_mode": FMODE_READ | FMODE_WRITE,
                               "f_flags": 0o2, "private_data": alloc})
        tcp = sock.proto == "tcp"
        connected = sock.state in ("ESTABLISHED", "CLOSE_WAIT") or (not tcp and sock.state != "UNCONNECTED")
        sk = km.new("inet_sock", {
            "sk.__sk_common.skc_family": AF_INET,
            "sk.__sk_common.skc_state": TCP_STATES.get(sock.state, 7) if tcp else 7,
            "sk.__sk_common.skc_rcv_saddr": ipaddress.IPv4Address(sock.local_ip).packed,
            "sk.__sk_common.skc_daddr": ipaddress.IPv4Address(sock.remote_ip).packed,
            "sk.__sk_common.skc_dport": sock.remote_port.to_bytes(2, "big"),
            "sk.__sk_common.skc_num": sock.local_port,
            "sk.__sk_common.skc_net": net,
            "sk.sk_type": SOCK_STREAM if tcp else SOCK_DGRAM,
            "sk.sk_protocol": IPPROTO_TCP if tcp else IPPROTO_UDP,
            "sk.sk_socket": alloc,
            "sk.sk_rcvbuf": 131072, "sk.sk_sndbuf": 16384,
            "inet_saddr": ipaddress.IPv4Address(sock.local_ip).packed,
            "inet_sport": sock.local_port.to_bytes(2, "big"),
            "uc_ttl": -1,
        })
        km.fill(alloc, "socket_alloc", {"socket.state": SS_CONNECTED if connected else SS_UNCONNECTED,
                                        "socket.type": SOCK_STREAM if tcp else SOCK_DGRAM,
                                        "socket.file": filp, "socket.sk": sk})
        return filp, ino

    def finish(self) -> None:
        """Link every dentry into its parent's ``d_subdirs`` list."""
        for parent, children in self._children.items():
            head = self.km.addr_of(parent, "dentry", "d_subdirs")
            self.km.link_list(head, children)
