"""The mount namespace: every mount of the host in ``init_nsproxy.mnt_ns``, as ``/proc/PID/mountinfo`` shows it.

``linux.mountinfo`` walks ``nsproxy->mnt_ns->list`` (5.15: a list through
``mount.mnt_list``; 6.8 moved to an rbtree) and prints, per mount, its id and
parent id, ``s_dev`` as major:minor, the mount point rebuilt through
``mnt_mountpoint``/``mnt_parent``, the mount flags, peer group, file system type
and source.  The disks' file systems and ``/dev``, ``/run``... are mounted by
:class:`~dflab.evidence.memory.vfs.Vfs` from the case's device facts; this
module mounts what no file lives on (``/proc``, ``/sys``, cgroups, ``/run/lock``),
numbers every mount in the order an Ubuntu 22.04 boot mounts them and links
them into the namespace.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass

from dflab.evidence.memory.kmem import KernelMemory
from dflab.evidence.memory.vfs import Vfs

MNT_NOSUID, MNT_NODEV, MNT_NOEXEC, MNT_RELATIME, MNT_READONLY, MNT_SHARED = 0x1, 0x2, 0x4, 0x20, 0x40, 0x1000
INIT_MNT_NS_INUM = 4026531841  # the first namespace inode allocated at boot: what /proc/1/ns/mnt names
FIRST_MNT_ID = 22  # ids below are taken by the initramfs' mounts, gone after switch_root
ROOTFS_MNT_ID = 1  # the namespace's initial mount: the real root is mounted on it, /proc never lists it
RAMFS_MAGIC = 0x858458F6


@dataclass(frozen=True)
class PseudoMount:
    """A file system with no files the case names: where, what, its anonymous device and flags."""

    mount_point: str
    fs: str
    source: str
    minor: int
    flags: int
    magic: int


NOSUID_NODEV_NOEXEC = MNT_NOSUID | MNT_NODEV | MNT_NOEXEC
PSEUDO_MOUNTS = (
    PseudoMount("/sys", "sysfs", "sysfs", 21, NOSUID_NODEV_NOEXEC | MNT_RELATIME, 0x62656572),
    PseudoMount("/proc", "proc", "proc", 22, NOSUID_NODEV_NOEXEC | MNT_RELATIME, 0x9FA0),
    PseudoMount("/sys/fs/cgroup", "cgroup2", "cgroup2", 27, NOSUID_NODEV_NOEXEC | MNT_RELATIME, 0x63677270),
    PseudoMount("/run/lock", "tmpfs", "tmpfs", 28, NOSUID_NODEV_NOEXEC | MNT_RELATIME, 0x01021994),
)
# mount flags of the file systems Vfs mounts, by mount point (anything else: a disk, rw,relatime)
VFS_FLAGS = {"/dev": MNT_NOSUID | MNT_RELATIME, "/dev/pts": MNT_NOSUID | MNT_NOEXEC | MNT_RELATIME,
             "/run": NOSUID_NODEV_NOEXEC | MNT_RELATIME, "/dev/shm": MNT_NOSUID | MNT_NODEV}  # noqa: S108
# the order an Ubuntu 22.04 boot mounts them in (others after these, by path)
BOOT_ORDER = ("/sys", "/proc", "/dev", "/dev/pts", "/run", "/", "/dev/shm", "/run/lock", "/sys/fs/cgroup")  # noqa: S108


def build_mount_namespace(km: KernelMemory, sym: dict[str, int], vfs: Vfs) -> dict[str, int]:
    """Mount every device of the case and the pseudo file systems; returns mount point -> mnt_id."""
    roots: dict[str, tuple[int, int]] = {"/": (vfs.root_dentry, vfs.root_sb)}  # mount point -> (root, sb)
    for device in vfs.facts.devices:
        if device.mount_point != "/":
            dentry = vfs.lookup(device.mount_point, 0, 0)[0]
            roots[device.mount_point] = (dentry, km.read_pointer(km.addr_of(dentry, "dentry", "d_sb")))
    mounts = {mp: mnt for mp, (mnt, _) in vfs.mounts.items()}
    flags = {mp: VFS_FLAGS.get(mp, MNT_RELATIME) for mp in mounts}
    dirs: dict[tuple[int, str], int] = {}
    for pm in PSEUDO_MOUNTS:
        parent_mp = max((mp for mp in mounts if pm.mount_point.startswith(mp.rstrip("/") + "/")), key=len)
        parent = roots[parent_mp][0]
        for part in pm.mount_point[len(parent_mp.rstrip("/")):].strip("/").split("/"):
            if (parent, part) not in dirs:
                dirs[(parent, part)] = _dentry(km, part.encode(), parent, roots[parent_mp][1])
            parent = dirs[(parent, part)]
        mounts[pm.mount_point], roots[pm.mount_point] = _pseudo_mount(km, pm, mounts[parent_mp], parent)
        flags[pm.mount_point] = pm.flags
    order = sorted(mounts, key=lambda mp: (BOOT_ORDER.index(mp) if mp in BOOT_ORDER else len(BOOT_ORDER), mp))
    ns = km.new("mnt_namespace", {"ns.inum": INIT_MNT_NS_INUM, "ns.count.refs.counter": 1, "root": mounts["/"],
                                  "mounts": len(order), "seq": 1})
    ids = {mp: FIRST_MNT_ID + i for i, mp in enumerate(order)}
    for i, mp in enumerate(order):
        km.fill(mounts[mp], "mount", {"mnt_id": ids[mp], "mnt_group_id": i + 1, "mnt_ns": ns,
                                      "mnt.mnt_flags": flags[mp] | MNT_SHARED})
        for head in ("mnt_share", "mnt_slave_list", "mnt_slave"):
            km.init_list(mounts[mp], "mount", head)
    km.link_list(km.addr_of(ns, "mnt_namespace", "list"), [km.addr_of(mounts[mp], "mount", "mnt_list")
                                                           for mp in order])
    _mount_on_rootfs(km, ns, mounts["/"])
    km.fill(sym["init_nsproxy"], "nsproxy", {"mnt_ns": ns})
    return ids


def _mount_on_rootfs(km: KernelMemory, ns: int, root_mnt: int) -> None:
    """Hang the root file system on the namespace's ``rootfs`` mount (id 1), as ``switch_root`` leaves it: the
    root mount's parent id in ``mountinfo`` is 1, a mount that is itself not shown (outside every task's root).
    ``rootfs`` is its own parent and stays off the namespace's list, so no plugin lists it."""
    rootfs, (rootfs_root, _) = _pseudo_mount(km, PseudoMount("/", "rootfs", "rootfs", 1, 0, RAMFS_MAGIC), 0, 0)
    km.fill(rootfs, "mount", {"mnt_parent": rootfs, "mnt_mountpoint": rootfs_root, "mnt_id": ROOTFS_MNT_ID,
                              "mnt_ns": ns})
    km.fill(root_mnt, "mount", {"mnt_parent": rootfs, "mnt_mountpoint": rootfs_root})


def _dentry(km: KernelMemory, name: bytes, parent: int | None, sb: int) -> int:
    inode = km.new("inode", {"i_mode": stat.S_IFDIR | 0o755, "i_sb": sb, "i_nlink": 2, "i_count.counter": 1,
                             "i_ino": 1 if parent is None else 0})
    dentry = km.new("dentry")
    km.fill(dentry, "dentry", {"d_iname": name, "d_parent": parent if parent is not None else dentry,
                               "d_name.len": len(name), "d_name.name": km.addr_of(dentry, "dentry", "d_iname"),
                               "d_inode": inode, "d_sb": sb, "d_lockref": 1 << 32})
    for head in ("d_lru", "d_child", "d_subdirs"):
        km.init_list(dentry, "dentry", head)
    return dentry


def _pseudo_mount(km: KernelMemory, pm: PseudoMount, parent_mnt: int, covered: int) -> tuple[int, tuple[int, int]]:
    """A ``struct mount`` of a new ``pm`` super block on ``covered``; returns it and ``(root dentry, sb)``."""
    fs_type = km.new("file_system_type", {"name": km.new_string(pm.fs.encode())})
    sb = km.new("super_block", {"s_dev": pm.minor, "s_type": fs_type, "s_magic": pm.magic, "s_blocksize": 4096,
                                "s_id": pm.fs.encode()})
    root = _dentry(km, b"/", None, sb)
    km.fill(sb, "super_block", {"s_root": root})
    mnt = km.new("mount", {"mnt_parent": parent_mnt, "mnt_mountpoint": covered, "mnt.mnt_root": root,
                           "mnt.mnt_sb": sb, "mnt_devname": km.new_string(pm.source.encode()), "mnt_count": 1})
    for head in ("mnt_mounts", "mnt_child", "mnt_instance", "mnt_list"):
        km.init_list(mnt, "mount", head)
    return mnt, (root, sb)
