"""dpkg's database for the installed packages: ``/var/lib/dpkg/status`` and ``info/<package>.{list,md5sums,
conffiles}``, written from the very bytes the tree holds, so an examiner can use them as a known-good set
(``md5sum -c`` from the mounted image, or :func:`dflab.forensics.disk` reads compared with ``md5sums``).

A story file that replaces a packaged file (a trojaned ``/usr/bin/ls``) does not change these: dpkg never saw it.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping

from dflab.scenario.kernel import DebianKernel
from dflab.scenario.ostree.catalog import Catalog, Entry, Package

INFO = "/var/lib/dpkg/info"


def info_name(p: Package) -> str:
    """How dpkg names a package's info files: ``libc6:amd64`` for a Multi-Arch: same library."""
    return f"{p.name}:{p.arch}" if p.multiarch_same else p.name


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - what dpkg records, not security


def database(catalog: Catalog, contents: Mapping[str, bytes]) -> dict[str, bytes]:
    """Path -> bytes of every dpkg database file for ``catalog``'s packages installed with ``contents``."""
    out: dict[str, bytes] = {}
    stanzas = []
    for p in catalog.packages:
        entries = catalog.by_package.get(p.name, ())
        base = f"{INFO}/{info_name(p)}"
        out[f"{base}.list"] = _list(entries)
        sums = [f"{_md5(contents[e.path])}  {e.path[1:]}" for e in sorted(entries, key=lambda e: e.path)
                if e.kind != "link" and not e.conffile]
        if sums:
            out[f"{base}.md5sums"] = ("\n".join(sums) + "\n").encode()
        conffiles = [e for e in entries if e.conffile]
        if conffiles:
            out[f"{base}.conffiles"] = "".join(f"{e.path}\n" for e in conffiles).encode()
        r = random.Random(hashlib.sha256(b"dflab/ostree/dpkg\0" + p.name.encode()).digest())
        for script in ("postinst", "prerm", "postrm"):
            if r.random() < 0.35:
                out[f"{base}.{script}"] = _script(p, script)
        size = sum(len(contents[e.path]) for e in entries) // 1024 + len(entries) // 8 + 1
        stanzas.append(_stanza(p, size, conffiles, contents, catalog, r))
    out[STATUS] = ("\n".join(stanzas)).encode()
    out["/var/lib/dpkg/available"] = b""
    out["/var/lib/dpkg/diversions"] = b""
    out["/var/lib/dpkg/statoverride"] = b""
    out["/var/lib/dpkg/arch"] = b"amd64\n"
    return out


def _list(entries: tuple[Entry, ...]) -> bytes:
    paths = {"/."}
    for e in entries:
        parts = e.path.split("/")
        paths.update("/".join(parts[:i]) for i in range(2, len(parts) + 1))
    return ("\n".join(sorted(paths)) + "\n").encode()


def _script(p: Package, script: str) -> bytes:
    action = {"postinst": "configure", "prerm": "remove", "postrm": "purge"}[script]
    return (f"#!/bin/sh\nset -e\n# Automatically added by dh_installdeb\ncase \"$1\" in\n    {action})\n"
            f"        # {p.name}: nothing else to do\n        ;;\nesac\n\n#DEBHELPER#\n\nexit 0\n").encode()


def _stanza(p: Package, size: int, conffiles: list[Entry], contents: Mapping[str, bytes], catalog: Catalog,
            r: random.Random) -> str:
    lines = [f"Package: {p.name}"]
    if p.essential:
        lines.append("Essential: yes")
    lines += ["Status: install ok installed", f"Priority: {p.priority}", f"Section: {p.section}",
              f"Installed-Size: {size}", f"Maintainer: {r.choice(catalog.maintainers)}", f"Architecture: {p.arch}"]
    if p.multiarch_same:
        lines.append("Multi-Arch: same")
    if p.source != p.name:
        lines.append(f"Source: {p.source}")
    lines.append(f"Version: {p.version}")
    if p.name != "libc6" and p.arch != "all":
        lines.append("Depends: libc6 (>= 2.34)")
    if conffiles:
        lines.append("Conffiles:")
        lines += [f" {e.path} {_md5(contents[e.path])}" for e in conffiles]
    lines.append(f"Description: {p.description}")
    lines.append(f" This package provides {p.description[0].lower() + p.description[1:]}.")
    return "\n".join(lines) + "\n"


# The running kernel's packages (dflab.scenario.kernel.debian_kernel): drawn per case, so not in the shared catalog.
# bookworm installs the signed image (source linux-signed-amd64) and its meta-package linux-image-amd64.
KERNEL_MAINTAINER = "Debian Kernel Team <debian-kernel@lists.debian.org>"
KERNEL_PACKAGES = 2  # linux-image-<release> and linux-image-amd64: what kernel_stanzas adds to the status
STATUS = "/var/lib/dpkg/status"


def kernel_stanzas(k: DebianKernel) -> list[str]:
    """dpkg's status stanzas of ``linux-image-<release>`` and ``linux-image-amd64`` as bookworm's packages have
    them (their control fields; Installed-Size is the real image package's, modules included)."""
    signed = f"Source: linux-signed-amd64 ({k.version.replace('-', '+')})"
    image = [f"Package: linux-image-{k.release}", "Status: install ok installed", "Priority: optional",
             "Section: kernel", "Installed-Size: 398460", f"Maintainer: {KERNEL_MAINTAINER}", "Architecture: amd64",
             signed, f"Version: {k.version}", "Depends: kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2)"
             " | linux-initramfs-tool", "Recommends: firmware-linux-free, apparmor",
             "Suggests: linux-doc-6.1, debian-kernel-handbook, grub-pc | grub-efi-amd64 | extlinux",
             "Breaks: fwupdate (<< 12-7), initramfs-tools (<< 0.120+deb8u2), wireless-regdb (<< 2019.06.03-1~)",
             "Description: Linux 6.1 for 64-bit PCs (signed)",
             " The Linux kernel 6.1 and modules for use on PCs with AMD64, Intel 64 or",
             " VIA Nano processors.", " .", " The kernel image is signed for use with Secure Boot.",
             f"Built-Using: linux (= {k.version})"]
    meta = ["Package: linux-image-amd64", "Status: install ok installed", "Priority: optional", "Section: kernel",
            "Installed-Size: 13", f"Maintainer: {KERNEL_MAINTAINER}", "Architecture: amd64", signed,
            f"Version: {k.version}", f"Depends: linux-image-{k.release} (= {k.version})",
            "Description: Linux for 64-bit PCs (meta-package)",
            " This package depends on the latest Linux kernel and modules for use on PCs",
            " with AMD64, Intel 64 or VIA Nano processors.", f"Built-Using: linux (= {k.version})"]
    return ["\n".join(image) + "\n", "\n".join(meta) + "\n"]


def with_stanzas(status: bytes, stanzas: list[str]) -> bytes:
    """``status`` with ``stanzas`` among its own, in package-name order as dpkg writes the file."""
    parts = status.decode().split("\n\n")
    merged = sorted([p.rstrip("\n") + "\n" for p in parts if p.strip()] + stanzas,
                    key=lambda s: s.split("\n", 1)[0].removeprefix("Package: "))
    return "\n".join(merged).encode()


def kernel_info(k: DebianKernel, packaged: Mapping[str, bytes]) -> dict[str, bytes]:
    """``info/linux-image-<release>.{list,md5sums}`` for the image package's files on the disk (``packaged``:
    path -> bytes; what depmod generates at install, modules.dep, is no package's), and the meta-package's list."""
    base = f"{INFO}/linux-image-{k.release}"
    paths = {"/."}
    for path in packaged:
        parts = path.split("/")
        paths.update("/".join(parts[:i]) for i in range(2, len(parts) + 1))
    sums = "".join(f"{_md5(data)}  {path[1:]}\n" for path, data in sorted(packaged.items()))
    return {f"{base}.list": ("\n".join(sorted(paths)) + "\n").encode(), f"{base}.md5sums": sums.encode(),
            f"{INFO}/linux-image-amd64.list": "\n".join(("/.", "/usr", "/usr/share", "/usr/share/doc",
                                                          "/usr/share/doc/linux-image-amd64", "")).encode()}
