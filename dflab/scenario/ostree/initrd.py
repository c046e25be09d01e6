"""``/boot/initrd.img-<release>``: the initramfs ``update-initramfs`` made when the kernel was installed.

bookworm's initramfs-tools (0.142) packs the tree with ``find . | LC_ALL=C sort | cpio --reproducible -H newc``
and compresses it with zstd (``COMPRESS=zstd``, its default). This guest is QEMU's without a microcode package,
so no early (uncompressed) microcode archive comes first: the file is one zstd stream whose first cpio member is
``.``. The tree is what ``MODULES=most`` keeps for this machine, cut to what mounts its root: the storage and file
system modules (those of :data:`ROOT_MODULES` and what they need, the very ``.ko`` files the root holds), their
``modules.dep``, the ``init`` script, initramfs-tools' ``conf`` and ``scripts``, busybox, the installed system's
kmod, udevadm and the libraries they load (copied: the same bytes as on the root), and the merged-/usr links.

The zstd frame holds its cpio in raw (stored) blocks, which the format allows and every decoder reads: dflab has
no zstd compressor of its own, and the modules' drawn code would not compress anyway. Made once per release (its
member times are the kernel build's day), so every trainee running that kernel shares the bytes.
"""

from __future__ import annotations

import calendar
import hashlib
import random
import struct
from functools import cache

from dflab.scenario.kernel import DISTRIBUTION, DebianKernel
from dflab.scenario.ostree import contents as c
from dflab.scenario.ostree.modules import MODULE_NEEDS, MODULE_PATHS, module_files

# The modules that mount this guest's root (PIIX IDE through libata and SCSI disk, ext4 with its checksum): the
# initramfs holds them and everything they need.
ROOT_MODULES = ("ata_piix", "ata_generic", "sd_mod", "ext4", "crc32c_generic", "crc32c_intel")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
RAW_BLOCK = 128 * 1024 - 1  # the largest block a frame without a window size may hold (Block_Maximum_Size)

# What mkinitramfs' copy_exec takes from the installed system (the very bytes: their md5sums are dpkg's), the loader
# at its /usr/lib64 path.
COPIED = ("/usr/bin/kmod", "/usr/sbin/modprobe", "/usr/bin/udevadm", "/usr/lib/x86_64-linux-gnu/libc.so.6",
          "/usr/lib/x86_64-linux-gnu/libkmod.so.2.4.0", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")

INIT = """#!/bin/sh

# Default PATH differs between shells, and is not automatically exported
# by klibc dash.  Make it consistent.
export PATH=/sbin:/usr/sbin:/bin:/usr/bin

[ -d /dev ] || mkdir -m 0755 /dev
[ -d /root ] || mkdir -m 0700 /root
[ -d /sys ] || mkdir /sys
[ -d /proc ] || mkdir /proc
[ -d /tmp ] || mkdir /tmp
mkdir -p /var/lock
mount -t sysfs -o nodev,noexec,nosuid sysfs /sys
mount -t proc -o nodev,noexec,nosuid proc /proc

# shellcheck disable=SC2013
for x in $(cat /proc/cmdline); do
\tcase $x in
\tinitramfs.clear)
\t\tclear
\t\t;;
\tquiet)
\t\tquiet=y
\t\t;;
\tesac
done

export quiet
mount -t devtmpfs -o nosuid,mode=0755 udev /dev
mkdir /dev/pts
mount -t devpts -o noexec,nosuid,gid=5,mode=0620 devpts /dev/pts || true

. /conf/initramfs.conf
. /scripts/functions

maybe_break top
run_scripts /scripts/init-top
maybe_break modules
[ "$quiet" != "y" ] && log_begin_msg "Loading essential drivers"
load_modules
[ "$quiet" != "y" ] && log_end_msg

. /scripts/local
maybe_break mount
mountroot
maybe_break bottom
run_scripts /scripts/init-bottom
exec run-init ${drop_caps} "${rootmnt}" "${init}" "$@" <"${console}" >"${console}" 2>&1
"""
INITRAMFS_CONF = ("#\n# initramfs.conf\n# Configuration file for mkinitramfs(8). See initramfs.conf(5).\n#\n\n"
                  "MODULES=most\nBUSYBOX=auto\nKEYMAP=n\nCOMPRESS=zstd\nCOMPRESSLEVEL=1\nDEVICE=\nNFSROOT=auto\n"
                  "RUNSIZE=10%\nFSTYPE=auto\n")


def _closure() -> list[str]:
    """:data:`ROOT_MODULES` and what they need, in depmod's order (a module's needs before it)."""
    out: list[str] = []
    for name in ROOT_MODULES:
        for m in (*reversed(MODULE_NEEDS.get(name, ())), name):
            if m not in out:
                out.append(m)
    return out


def _cpio(members: list[tuple[str, int, bytes]], mtime: int) -> bytes:
    """A newc archive of ``(name, mode, data)`` as ``cpio --reproducible`` writes it: inodes numbered in order,
    device numbers zero, then the trailer."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate([*members, ("TRAILER!!!", 0, b"")]):
        trailer = name == "TRAILER!!!"
        raw = name.encode() + b"\0"
        nlink = 2 if mode & 0o040000 else 1
        fields = (0 if trailer else ino + 1, mode, 0, 0, 0 if trailer else nlink, 0 if trailer else mtime,
                  len(data), 0, 0, 0, 0, len(raw), 0)
        out += b"070701" + "".join(f"{v:08X}" for v in fields).encode() + raw
        out += bytes(-len(out) % 4)
        out += data
        out += bytes(-len(out) % 4)
    return bytes(out)


def zstd_stored(data: bytes) -> bytes:
    """A zstd frame (RFC 8878) holding ``data`` in raw blocks, its content size in the header (single segment)."""
    header = ZSTD_MAGIC + bytes([0xE0]) + struct.pack("<Q", len(data))  # FCS 8 bytes, single segment, no checksum
    blocks = bytearray()
    for at in range(0, max(len(data), 1), RAW_BLOCK):
        chunk = data[at:at + RAW_BLOCK]
        last = at + RAW_BLOCK >= len(data)
        blocks += (len(chunk) << 3 | 0 << 1 | int(last)).to_bytes(3, "little") + chunk  # Block_Type 0: raw
    return header + bytes(blocks)


@cache
def initrd(k: DebianKernel) -> bytes:
    """The bytes of ``/boot/initrd.img-<k.release>``."""
    from dflab.scenario.ostree.tree import shared  # the installed system, whose programs the initramfs copies

    r = random.Random(hashlib.sha256(b"dflab/ostree/initrd\0" + k.release.encode()).digest())
    mtime = calendar.timegm((*map(int, k.built.split("-")), 0, 0, 0))
    kos = module_files(k.release)
    mods = _closure()
    modbase = f"usr/lib/modules/{k.release}"
    dep = "".join(f"kernel/{MODULE_PATHS[m]}.ko:" + "".join(f" kernel/{MODULE_PATHS[n]}.ko"
                                                             for n in MODULE_NEEDS.get(m, ())) + "\n" for m in mods)
    files: dict[str, tuple[int, bytes]] = {
        "init": (0o100755, INIT.encode()),
        "conf/arch.conf": (0o100644, b"DPKG_ARCH=amd64\n"),
        "conf/initramfs.conf": (0o100644, INITRAMFS_CONF.encode()),
        "conf/conf.d/resume": (0o100644, b"RESUME=none\n"),
        "scripts/functions": (0o100644, b"# -*- shell-script -*-\n\n_log_msg()\n{\n\tif [ \"${quiet?}\" = \"y\" ];"
                              b" then return; fi\n\t# shellcheck disable=SC2059\n\tprintf \"$@\"\n\treturn 0\n}\n"),
        "scripts/local": (0o100644, b"# Local filesystem mounting\t\t\t-*- shell-script -*-\n\nlocal_mount_root()\n"
                          b"{\n\tlocal_top\n\tlocal_device_setup \"${ROOT}\" \"root file system\"\n\t"
                          b"ROOT=\"${DEV}\"\n\tmount ${roflag} ${FSTYPE:+-t \"${FSTYPE}\"} ${ROOTFLAGS} \"${ROOT}\" "
                          b"\"${rootmnt?}\"\n}\n\nmountroot()\n{\n\tlocal_mount_root\n}\n"),
        "etc/modprobe.d/fbdev-blacklist.conf": (0o100644, b"# This file blacklists most old-style PCI framebuffer "
                                                          b"drivers.\n"),
        "usr/bin/busybox": (0o100755, c.elf(r, 180_000, needed=["libc.so.6"], strings=["BusyBox v1.35.0 (Debian "
                                                                                          "1:1.35.0-4+b3)"])),
        "usr/bin/sh": (0o120777, b"busybox"),
        f"{modbase}/modules.dep": (0o100644, dep.encode()),
        f"{modbase}/modules.order": (0o100644, "".join(f"kernel/{MODULE_PATHS[m]}.ko\n" for m in mods).encode()),
        "bin": (0o120777, b"usr/bin"), "lib": (0o120777, b"usr/lib"), "lib64": (0o120777, b"usr/lib64"),
        "sbin": (0o120777, b"usr/sbin"),
    }
    installed = shared(DISTRIBUTION, "desktop")
    for path in COPIED:  # copy_exec's copies of the installed programs and the libraries they load, modes kept
        files[path[1:].replace("usr/lib/x86_64-linux-gnu/ld-", "usr/lib64/ld-")] = (
            0o100000 | installed.entries[path].mode, installed.contents[path])
    files["usr/lib/x86_64-linux-gnu/libkmod.so.2"] = (0o120777, b"libkmod.so.2.4.0")
    for m in mods:
        path = f"/usr/lib/modules/{k.release}/kernel/{MODULE_PATHS[m]}.ko"
        files[path[1:]] = (0o100644, kos[path])
    for d in ("run", "var", "tmp"):
        files[d] = (0o040755, b"")
    names = set(files)
    for path in list(files):
        parts = path.split("/")
        names.update("/".join(parts[:i]) for i in range(1, len(parts)))
    members = [(".", 0o040755, b"")]
    for name in sorted(names, key=lambda n: n.encode()):
        mode, data = files.get(name, (0o040755, b""))
        members.append((name, mode, data))
    return zstd_stored(_cpio(members, mtime))
