"""Configuration that names the case (host name, file system UUIDs, users, keys, the DNS server) or that Debian
writes at install time rather than shipping in a package.

:func:`case_files` holds the files only the installer, ``adduser``, NetworkManager and the first boot write, which
differ per case; the package-shipped text an examiner reads first is :mod:`.shipped`'s, shared by every case.
"""

from __future__ import annotations

import base64
import hashlib
import random
import struct
from functools import cache

from dflab.scenario.case import Case, User, Volume
from dflab.scenario.kernel import DebianKernel, debian_kernel
from dflab.scenario.ostree import accounts, dpkg
from dflab.scenario.ostree.initrd import initrd
from dflab.scenario.ostree.modules import MODULE_NEEDS, MODULE_PATHS, module_files
from dflab.scenario.ostree.shipped import SHIPPED, SSHD_CONFIG
from dflab.scenario.ostree.sysmap import system_map

SOURCES = ("deb http://deb.debian.org/debian/ bookworm main non-free-firmware\n"
           "deb-src http://deb.debian.org/debian/ bookworm main non-free-firmware\n\n"
           "deb http://security.debian.org/debian-security bookworm-security main non-free-firmware\n"
           "deb-src http://security.debian.org/debian-security bookworm-security main non-free-firmware\n\n"
           "# bookworm-updates, to get updates before a point release is made;\n"
           "deb http://deb.debian.org/debian/ bookworm-updates main non-free-firmware\n"
           "deb-src http://deb.debian.org/debian/ bookworm-updates main non-free-firmware\n")


def _fstab(root: Volume, index: int) -> str:
    return ("# /etc/fstab: static file system information.\n#\n# Use 'blkid' to print the universally unique "
            "identifier for a\n# device; this may be used with UUID= as a more robust way to name devices\n# that "
            "works even if disks are added and removed. See fstab(5).\n#\n# systemd generates mount units based on "
            "this file, see systemd.mount(5).\n# Please run 'systemctl daemon-reload' after making changes here.\n"
            "#\n# <file system> <mount point>   <type>  <options>       <dump>  <pass>\n"
            f"# / was on /dev/sda{index} during installation\n"
            f"UUID={root.uuid} /               ext4    errors=remount-ro 0       1\n"
            "/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto     0       0\n")


def _key(r: random.Random, kind: str, hostname: str) -> tuple[bytes, bytes]:
    """An OpenSSH host key pair of ``kind`` in OpenSSH's formats (drawn: never a usable key)."""
    name = {"ed25519": b"ssh-ed25519", "ecdsa": b"ecdsa-sha2-nistp256", "rsa": b"ssh-rsa"}[kind]
    public_len = {"ed25519": 32, "ecdsa": 65, "rsa": 385}[kind]
    blob = len(name).to_bytes(4, "big") + name + public_len.to_bytes(4, "big") + r.randbytes(public_len)
    pub = name + b" " + base64.b64encode(blob) + f" root@{hostname}\n".encode()
    body = b"openssh-key-v1\0" + r.randbytes({"ed25519": 220, "ecdsa": 300, "rsa": 1500}[kind])
    text = base64.b64encode(body)
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    private = b"-----BEGIN OPENSSH PRIVATE KEY-----\n" + b"\n".join(lines) + b"\n-----END OPENSSH PRIVATE KEY-----\n"
    return private, pub


def _bzimage(r: random.Random, k: DebianKernel) -> bytes:
    """/boot/vmlinuz-<release>: a bzImage whose setup header names the build as Debian's does, so ``file`` prints
    ``Linux kernel x86 boot executable bzImage, version 6.1.0-39-amd64 (debian-kernel@lists.debian.org) #1 ...``
    (the payload is drawn: no examiner boots it)."""
    setup = bytearray(0x4000)
    setup[0:2] = b"MZ"
    setup[0x1F1] = 0x1F  # setup_sects
    setup[0x1FE:0x200] = b"\x55\xaa"
    setup[0x202:0x206] = b"HdrS"
    setup[0x206:0x208] = struct.pack("<H", 0x020F)  # boot protocol 2.15
    version = (f"{k.release} (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian {k.version} "
               f"({k.built})").encode() + b"\0"
    where = 0x3C0
    setup[0x20E:0x210] = struct.pack("<H", where - 0x200)  # kernel_version, relative to the header's sector
    setup[where:where + len(version)] = version
    setup[0x211] = 0x01  # loadflags: LOADED_HIGH
    # The compressed kernel after the setup: bookworm's 6.1 amd64 images are some 7.7-8.0 MB in all.
    payload = r.randbytes(r.randint(7_650_000, 7_950_000) - len(setup))
    setup[0x1F4:0x1F8] = struct.pack("<I", (len(payload) + 15) // 16)  # syssize, in 16-byte paragraphs
    return bytes(setup) + payload


def kernel_files(seed: bytes) -> list[tuple[str, bytes, int, int, int]]:
    """The running kernel's files (:func:`dflab.scenario.kernel.debian_kernel`, the release memory's banner and
    the logs name): ``/boot``'s image and config, ``/usr/lib/modules/<release>``'s index of the loaded modules and
    their ``.ko`` files (:mod:`.modules`), ``System.map`` (:mod:`.sysmap`) and the initramfs (:mod:`.initrd`). The same
    for every case running that kernel: made once per release."""
    return list(_kernel_files(debian_kernel(seed)))


@cache
def _kernel_files(k: DebianKernel) -> tuple[tuple[str, bytes, int, int, int], ...]:
    from dflab.scenario.system import KERNEL_MODULES  # the memory's lsmod

    r = random.Random(hashlib.sha256(b"dflab/ostree/kernel\0" + k.release.encode()).digest())
    upstream = k.version.split("-")[0]
    config = (f"#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 {upstream} Kernel Configuration\n#\n"
              f'CONFIG_CC_VERSION_TEXT="gcc-12 (Debian {k.gcc}) 12.2.0"\nCONFIG_CC_IS_GCC=y\n'
              "CONFIG_GCC_VERSION=120200\nCONFIG_CLANG_VERSION=0\nCONFIG_AS_IS_GNU=y\nCONFIG_AS_VERSION=24000\n"
              "CONFIG_LD_IS_BFD=y\nCONFIG_LD_VERSION=24000\nCONFIG_LLD_VERSION=0\n"
              'CONFIG_LOCALVERSION=""\n# CONFIG_LOCALVERSION_AUTO is not set\nCONFIG_BUILD_SALT="'
              f'{k.release}"\nCONFIG_HAVE_KERNEL_GZIP=y\nCONFIG_KERNEL_XZ=y\nCONFIG_DEFAULT_HOSTNAME="(none)"\n'
              "CONFIG_SYSVIPC=y\nCONFIG_POSIX_MQUEUE=y\nCONFIG_PREEMPT_DYNAMIC=y\nCONFIG_EXT4_FS=m\n"
              "CONFIG_MODULE_SIG=y\nCONFIG_MODULE_SIG_SHA256=y\n")
    modules = [name for name, _, _ in KERNEL_MODULES if name in MODULE_PATHS]
    dep = "".join(f"kernel/{MODULE_PATHS[m]}.ko:"
                  + "".join(f" kernel/{MODULE_PATHS[n]}.ko" for n in MODULE_NEEDS.get(m, ())) + "\n"
                  for m in modules)  # depmod writes them in modules.order's order
    order = "".join(f"kernel/{MODULE_PATHS[m]}.ko\n" for m in modules)
    base = f"/usr/lib/modules/{k.release}"
    return ((f"/boot/vmlinuz-{k.release}", _bzimage(r, k), 0o644, 0, 0),
            (f"/boot/config-{k.release}", config.encode(), 0o644, 0, 0),
            (f"/boot/System.map-{k.release}", system_map(k), 0o644, 0, 0),
            (f"/boot/initrd.img-{k.release}", initrd(k), 0o644, 0, 0),
            (f"{base}/modules.dep", dep.encode(), 0o644, 0, 0),
            (f"{base}/modules.order", order.encode(), 0o644, 0, 0),
            *((path, data, 0o644, 0, 0) for path, data in module_files(k.release).items()))


# What no package ships: depmod and update-initramfs write them when the package is installed.
GENERATED = ("/modules.dep", "/initrd.img-")


def kernel_package(seed: bytes) -> list[tuple[str, bytes, int, int, int]]:
    """dpkg's info files of the running kernel's package: its list and the md5sums of the files it put on the disk
    (:func:`kernel_files` but what :data:`GENERATED` names, which no package ships)."""
    return list(_kernel_package(debian_kernel(seed)))


@cache
def _kernel_package(k: DebianKernel) -> tuple[tuple[str, bytes, int, int, int], ...]:
    packaged = {path: data for path, data, *_ in _kernel_files(k) if not any(g in path for g in GENERATED)}
    return tuple((path, data, 0o644, 0, 0) for path, data in dpkg.kernel_info(k, packaged).items())


def nameserver(case: Case) -> str | None:
    """The DNS server the suspect's DHCP lease named, as the capture shows it: the resolver its own queries went to,
    else the segment's default gateway (a home router answers DNS); ``None`` when neither names a known host."""
    network = case.network
    ours = [q.resolver for q in network.dns if q.client == case.suspect_host]
    host_id = ours[0] if ours else network.gateway
    try:
        return case.host(host_id).ip or None
    except KeyError:
        return None


def case_files(seed: bytes, hostname: str, users: tuple[User, ...], volumes: tuple[Volume, ...], root: Volume,
               installed_at: int) -> list[tuple[str, bytes, int, int, int]]:
    """(path, content, mode, uid, gid) of the files the installer and first boot write for this case."""
    r = random.Random(hashlib.sha256(b"dflab/ostree/case\0" + seed).digest())
    shadow_gid = accounts.GID["shadow"]
    index = next(i for i, v in enumerate(volumes, 1) if v.id == root.id)
    out: list[tuple[str, bytes, int, int, int]] = [
        ("/etc/hostname", f"{hostname}\n".encode(), 0o644, 0, 0),
        ("/etc/hosts", (f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n\n# The following lines are desirable for "
                        "IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\n"
                        "ff02::2 ip6-allrouters\n").encode(), 0o644, 0, 0),
        ("/etc/fstab", _fstab(root, index).encode(), 0o644, 0, 0),
        ("/etc/machine-id", (r.randbytes(16).hex() + "\n").encode(), 0o444, 0, 0),
        ("/etc/timezone", b"Etc/UTC\n", 0o644, 0, 0),
        ("/etc/default/locale", b"#  File generated by update-locale\nLANG=en_US.UTF-8\n", 0o644, 0, 0),
        ("/etc/apt/sources.list", SOURCES.encode(), 0o644, 0, 0),
        ("/etc/ssh/sshd_config", SSHD_CONFIG.encode(), 0o644, 0, 0),
        ("/etc/passwd", accounts.passwd(users), 0o644, 0, 0),
        ("/etc/passwd-", accounts.passwd(users[:-1]), 0o644, 0, 0),
        ("/etc/group", accounts.group(users), 0o644, 0, 0),
        ("/etc/group-", accounts.group(users[:-1]), 0o644, 0, 0),
        ("/etc/shadow", accounts.shadow(users, seed, installed_at), 0o640, 0, shadow_gid),
        ("/etc/shadow-", accounts.shadow(users[:-1], seed, installed_at), 0o640, 0, shadow_gid),
        ("/etc/gshadow", accounts.gshadow(users), 0o640, 0, shadow_gid),
        ("/etc/subuid", "".join(f"{u.name}:{100000 + i * 65536}:65536\n" for i, u in enumerate(users)).encode(),
         0o644, 0, 0),
        ("/etc/subgid", "".join(f"{u.name}:{100000 + i * 65536}:65536\n" for i, u in enumerate(users)).encode(),
         0o644, 0, 0),
        ("/var/lib/systemd/random-seed", r.randbytes(512), 0o600, 0, 0),
        *kernel_files(seed),
        *kernel_package(seed),
    ]
    for kind in ("ecdsa", "ed25519", "rsa"):
        private, public = _key(r, kind, hostname)
        out += [(f"/etc/ssh/ssh_host_{kind}_key", private, 0o600, 0, 0),
                (f"/etc/ssh/ssh_host_{kind}_key.pub", public, 0o644, 0, 0)]
    for home, uid, gid in [("/root", 0, 0)] + [(u.home, u.uid, u.gid) for u in users]:
        for name in (".bashrc", ".profile") + ((".bash_logout",) if uid else ()):
            out.append((f"{home}/{name}", SHIPPED[f"/etc/skel/{name}"].encode(), 0o644, uid, gid))
    return out
