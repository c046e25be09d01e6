"""dpkg's database for the installed packages: ``/var/lib/dpkg/status`` and ``info/<package>.{list,md5sums,
conffiles}``, written from the very bytes the tree holds, so an examiner can use them as a known-good set
(``md5sum -c`` from the mounted image, or :func:`dflab.forensics.disk` reads compared with ``md5sums``).

A story file that replaces a packaged file (a trojaned ``/usr/bin/ls``) does not change these: dpkg never saw it.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping

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
    out["/var/lib/dpkg/status"] = ("\n".join(stanzas)).encode()
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
