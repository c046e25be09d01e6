"""The VFS objects behind open files and sockets: super blocks, mounts, dentries, inodes, files.

``linux.lsof`` rebuilds a path by walking ``dentry->d_parent`` up to the
task's root dentry/mount, and prints ``(deleted)`` when the inode has no
links left; ``linux.sockstat`` recognises a socket by ``file->f_op ==
&socket_file_ops`` and finds the ``struct socket`` around the dentry's inode
(``struct socket_alloc``).  Which file an inode is (number, device, mount,
size, times) and which state a socket is in is the shared fact model's
(:mod:`dflab.evidence.facts`): memory names what the disk and the capture show.
Each file system a path crosses has its own super block and mount, hung on the
directory it covers, so ``d_path`` walks from ``/dev/pts/0`` up through devpts
and devtmpfs to ``/`` as on a real host.
"""

from __future__ import annotations

import ipaddress
import random
import stat
from dataclasses import dataclass

from dflab.errors import EvidenceError
from dflab.evidence.facts import Device, FileFact, SocketFact, for_case
from dflab.evidence.memory.kmem import KernelMemory
from dflab.evidence.tcpstate import STATE_NUMBERS
from dflab.scenario.case import Case, Socket

TCP_CLOSE = STATE_NUMBERS["CLOSE"]
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
    nsec: tuple[int, int, int] = (0, 0, 0)  # of atime, mtime, ctime


def vol_file_path(path: str, deleted: bool) -> str:
    """The path exactly as ``linux.lsof`` prints it (a leading space and suffix when deleted)."""
    return f" {path} (deleted)" if deleted else path


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
        self._sock_destruct = ops.get("inet_sock_destruct", 0)  # sk_destruct: what linux.sockscan searches for
        self._case = case
        self.facts = for_case(case)
        self._default_time = default_time
        self._next_sock_ino = rng.randrange(20_000, 60_000)
        self._dentries: dict[str, int] = {}
        self._children: dict[int, list[int]] = {}
        self._inodes: dict[str, tuple[int, int, FileFact]] = {}  # path -> (inode address, number, fact)
        self._fs_types: dict[str, int] = {}
        self._sbs: dict[str, int] = {}  # mount point -> super_block
        self._mounts: dict[str, tuple[int, int]] = {}  # mount point -> (struct mount, its vfsmount)
        sockfs = self._fs_type("sockfs")
        self.sock_sb = km.new("super_block", {"s_dev": 8, "s_type": sockfs, "s_magic": 0x534F434B,
                                              "s_blocksize": 4096, "s_id": b"sockfs"})
        self.root_dentry = self._mount_fs("/", None)
        self.root_sb = self._sbs["/"]
        self.root_mnt = self._mounts["/"][1]
        sock_root_meta = FileMeta(stat.S_IFDIR | 0o755, 0, 0, 0, default_time, default_time, default_time, False)
        sock_root = self._new_dentry(b"socket:", None, self._new_inode(1, sock_root_meta, self.sock_sb),
                                     self.sock_sb)
        self.sock_mnt = self._mount(sock_root, self.sock_sb, b"sockfs")

    @property
    def mounts(self) -> dict[str, tuple[int, int]]:
        """Mount point -> ``(struct mount, its vfsmount)`` of every file system mounted so far."""
        return dict(self._mounts)

    def disk_content(self, path: str) -> bytes:
        """The bytes of the case's disk file at ``path`` (empty when the disk has none)."""
        f = self.facts.disk_file(path)
        return f.content if f is not None else b""

    def _fs_type(self, name: str) -> int:
        if name not in self._fs_types:
            self._fs_types[name] = self.km.new("file_system_type", {"name": self.km.new_string(name.encode())})
        return self._fs_types[name]

    def _mount(self, root: int, sb: int, devname: bytes, parent: tuple[int, int] | None = None) -> int:
        """A ``struct mount`` of ``root``; ``parent`` is ``(struct mount, covered dentry)`` it hangs on, None for a
        namespace root (mounted on itself). Returns its ``vfsmount`` address."""
        km = self.km
        mnt = km.new("mount", {"mnt_mountpoint": root if parent is None else parent[1], "mnt.mnt_root": root,
                               "mnt.mnt_sb": sb, "mnt_devname": km.new_string(devname), "mnt_count": 1})
        km.fill(mnt, "mount", {"mnt_parent": mnt if parent is None else parent[0]})
        for head in ("mnt_mounts", "mnt_child", "mnt_instance", "mnt_list"):
            km.init_list(mnt, "mount", head)
        return km.addr_of(mnt, "mount", "mnt")

    def _mount_fs(self, mount_point: str, covered: int | None) -> int:
        """The super block, root dentry and mount of the file system at ``mount_point``, hung on the ``covered``
        dentry of the file system below (None for ``/``); returns the root dentry."""
        km = self.km
        dev: Device = self.facts.device_of(mount_point)
        sb = km.new("super_block", {"s_dev": dev.s_dev, "s_type": self._fs_type(dev.fs), "s_magic": dev.magic,
                                    "s_blocksize": 4096, "s_id": dev.name.encode()})
        fact = self.facts.file(mount_point, is_dir=True)
        inode = self._new_inode(fact.inode, fact, sb)
        root = self._new_dentry(b"/", None, inode, sb)
        parent = None
        if covered is not None:
            below = self.facts.device_of(mount_point, covered=True).mount_point
            parent = (self._mounts[below][0], covered)
        vfsmnt = self._mount(root, sb, dev.source.encode(), parent)
        self._sbs[mount_point] = sb
        self._mounts[mount_point] = (vfsmnt - km.addr_of(0, "mount", "mnt"), vfsmnt)
        self._inodes[mount_point] = (inode, fact.inode, fact)
        self._dentries[mount_point] = root
        return root

    def _new_inode(self, ino: int, meta: FileMeta | FileFact, sb: int, at: int | None = None) -> int:
        km = self.km
        values: dict[str, int | bytes] = {
            "i_mode": meta.mode, "i_uid.val": meta.uid, "i_gid.val": meta.gid, "i_sb": sb, "i_ino": ino,
            "i_nlink": 0 if meta.deleted else (2 if stat.S_ISDIR(meta.mode) else 1), "i_size": meta.size,
            "i_atime.tv_sec": meta.atime, "i_mtime.tv_sec": meta.mtime, "i_ctime.tv_sec": meta.ctime,
            "i_atime.tv_nsec": meta.nsec[0], "i_mtime.tv_nsec": meta.nsec[1], "i_ctime.tv_nsec": meta.nsec[2],
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

    def _new_entry(self, path: str, parent: int, fact: FileFact) -> tuple[int, int]:
        """The dentry and inode of ``fact`` under ``parent`` on the file system holding it: ``(dentry, inode)``."""
        sb = self._sbs[fact.device.mount_point]
        inode = self._new_inode(fact.inode, fact, sb)
        return self._new_dentry(path.rsplit("/", 1)[-1].encode(), parent, inode, sb), inode

    def lookup(self, path: str, uid: int, gid: int) -> tuple[int, int, int, FileFact]:
        """``(dentry, inode address, inode number, fact)`` for an absolute path, creating the dentry chain (and the
        mounts it crosses) as needed."""
        if not path.startswith("/") or path.endswith("/") or "//" in path:
            raise EvidenceError(f"not an absolute file path: {path!r}", "memory.processes")
        parts = path.strip("/").split("/")
        parent, so_far = self.root_dentry, ""
        for i, part in enumerate(parts):
            so_far += "/" + part
            if so_far not in self._dentries:
                is_dir = i < len(parts) - 1
                if self.facts.device_of(so_far).mount_point == so_far:  # a mount point: the directory it covers
                    covered, _ = self._new_entry(so_far, parent, self.facts.file(so_far, is_dir=True, covered=True))
                    self._mount_fs(so_far, covered)
                else:
                    fact = self.facts.file(so_far, is_dir=is_dir, uid=uid, gid=gid)
                    self._dentries[so_far], inode = self._new_entry(so_far, parent, fact)
                    self._inodes[so_far] = (inode, fact.inode, fact)
            parent = self._dentries[so_far]
        inode, ino, fact = self._inodes[path]
        return self._dentries[path], inode, ino, fact

    def open_file(self, path: str, uid: int, gid: int) -> tuple[int, int, FileFact]:
        """A ``struct file`` for ``path``; returns ``(file, inode number, fact)``."""
        dentry, inode, ino, fact = self.lookup(path, uid, gid)
        mnt = self._mounts[fact.device.mount_point][1]
        filp = self.km.new("file", {"f_path.mnt": mnt, "f_path.dentry": dentry, "f_inode": inode,
                                    "f_op": self._file_fops, "f_count.counter": 1, "f_mode": FMODE_READ,
                                    "f_flags": 0o100000})
        return filp, ino, fact

    def open_socket(self, sock: Socket, uid: int, gid: int, created: int, net: int) -> tuple[int, int, SocketFact]:
        """A socket file with its ``socket_alloc`` and ``inet_sock`` in the state the fact model gives it at the
        acquisition; returns ``(file, inode number, fact)``."""
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
        fact = self.facts.socket(sock)
        connected = fact.state not in ("LISTEN", "UNCONNECTED") and (tcp or fact.state == "CONNECTED")
        sk = km.new("inet_sock", {
            "sk.__sk_common.skc_family": AF_INET,
            "sk.__sk_common.skc_state": STATE_NUMBERS[fact.state] if tcp else TCP_CLOSE,
            "sk.__sk_common.skc_rcv_saddr": ipaddress.IPv4Address(sock.local_ip).packed,
            "sk.__sk_common.skc_daddr": ipaddress.IPv4Address(sock.remote_ip).packed,
            "sk.__sk_common.skc_dport": sock.remote_port.to_bytes(2, "big"),
            "sk.__sk_common.skc_num": sock.local_port,
            "sk.__sk_common.skc_net": net,
            "sk.sk_type": SOCK_STREAM if tcp else SOCK_DGRAM,
            "sk.sk_protocol": IPPROTO_TCP if tcp else IPPROTO_UDP,
            "sk.sk_socket": alloc,
            "sk.sk_destruct": self._sock_destruct,
            "sk.sk_rcvbuf": 131072, "sk.sk_sndbuf": 16384,
            "inet_saddr": ipaddress.IPv4Address(sock.local_ip).packed,
            "inet_sport": sock.local_port.to_bytes(2, "big"),
            "uc_ttl": -1,
        })
        km.fill(alloc, "socket_alloc", {"socket.state": SS_CONNECTED if connected else SS_UNCONNECTED,
                                        "socket.type": SOCK_STREAM if tcp else SOCK_DGRAM,
                                        "socket.file": filp, "socket.sk": sk})
        return filp, ino, fact

    def finish(self) -> None:
        """Link every dentry into its parent's ``d_subdirs`` list."""
        for parent, children in self._children.items():
            head = self.km.addr_of(parent, "dentry", "d_subdirs")
            self.km.link_list(head, children)
