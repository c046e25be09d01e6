"""The package catalog (``<distribution>.json``, shipped data): real package names, versions, sections and the files
each installs, expanded into one :class:`Entry` per path.

The catalog is compact: a package lists its programs (``bin``, ``sbin``; each gets a man page), shared objects
(``lib``: ``soname=realname`` is the real file and the symbolic link naming it), other files by full path
(``libexec``, ``share``), configuration under ``/etc`` (conffiles), gettext domains (``loc``), ``links`` and a
generator (``gen``) for the big regular trees (zoneinfo, the Python standard library, icons, locale sources,
keyboard maps). Every package also gets ``/usr/share/doc/<package>/copyright`` and ``changelog.Debian.gz``.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from dflab.errors import DflabError

LIB = "/usr/lib/x86_64-linux-gnu"
EXE_MODE, FILE_MODE, LINK_MODE = 0o755, 0o644, 0o777
# Permissions Debian sets beyond 0755/0644: (mode, group).  setuid/setgid programs, secrets, sudo's rules.
SPECIAL: dict[str, tuple[int, str]] = {
    "/usr/bin/passwd": (0o4755, "root"), "/usr/bin/su": (0o4755, "root"), "/usr/bin/sudo": (0o4755, "root"),
    "/usr/bin/mount": (0o4755, "root"), "/usr/bin/umount": (0o4755, "root"), "/usr/bin/chsh": (0o4755, "root"),
    "/usr/bin/chfn": (0o4755, "root"), "/usr/bin/gpasswd": (0o4755, "root"), "/usr/bin/newgrp": (0o4755, "root"),
    "/usr/bin/pkexec": (0o4755, "root"), "/usr/lib/openssh/ssh-keysign": (0o4755, "root"),
    "/usr/lib/polkit-1/polkit-agent-helper-1": (0o4755, "root"), "/usr/lib/xorg/Xorg.wrap": (0o4755, "root"),
    "/usr/lib/dbus-1.0/dbus-daemon-launch-helper": (0o4754, "messagebus"),
    "/usr/bin/crontab": (0o2755, "crontab"), "/usr/sbin/unix_chkpwd": (0o2755, "shadow"),
    "/usr/bin/chage": (0o2755, "shadow"), "/usr/bin/expiry": (0o2755, "shadow"),
    "/usr/libexec/sudo/sesh": (0o755, "root"),
    "/etc/sudoers": (0o440, "root"), "/etc/sudoers.d/README": (0o440, "root"),
}


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    section: str
    priority: str
    description: str
    license: str
    source: str
    arch: str
    essential: bool
    multiarch_same: bool  # a library co-installable per architecture: dpkg names its files <name>:amd64.*


@dataclass(frozen=True)
class Entry:
    """One path a package installs: ``kind`` says how its bytes are made (:mod:`.tree`), ``args`` what for."""

    path: str
    package: str
    kind: str  # exe so link man doc-copyright doc-changelog mo tz py conf text gz data png
    mode: int = FILE_MODE
    group: str = "root"
    link: str = ""
    size: int = 0  # 0: drawn for the kind
    args: tuple[str, ...] = ()

    @property
    def conffile(self) -> bool:
        return self.path.startswith("/etc/") and self.kind != "link"


@dataclass(frozen=True)
class Catalog:
    distribution: str
    release: str
    codename: str
    maintainers: tuple[str, ...]
    packages: tuple[Package, ...]
    entries: tuple[Entry, ...]
    by_package: dict[str, tuple[Entry, ...]] = field(hash=False, compare=False)


@cache
def load(distribution: str) -> Catalog:
    """The catalog of ``distribution`` expanded into entries (once per process)."""
    try:
        raw = json.loads(resources.files("dflab.scenario.ostree").joinpath(f"{distribution}.json").read_text())
    except FileNotFoundError as exc:
        raise DflabError(f"no package catalog for {distribution!r}", "disk.volumes[].os.distribution") from exc
    packages: list[Package] = []
    entries: dict[str, Entry] = {}
    for p in raw["packages"]:
        pkg = Package(p["n"], p["v"], p["s"], p["p"], p["d"], p["l"], p.get("src", p["n"]), p.get("a", "amd64"),
                      bool(p.get("ess")), p["s"] == "libs" and p["n"].startswith("lib") and p.get("a") is None)
        packages.append(pkg)
        for e in _expand(pkg, p, raw):
            if e.path in entries:
                raise DflabError(f"{e.path} is installed by {entries[e.path].package} and {pkg.name}",
                                 f"ostree catalog {distribution}")
            entries[e.path] = e
    by_package: dict[str, list[Entry]] = {}
    for e in entries.values():
        by_package.setdefault(e.package, []).append(e)
    return Catalog(raw["distribution"], raw["release"], raw["codename"], tuple(raw["maintainer_pool"]),
                   tuple(packages), tuple(entries.values()), {k: tuple(v) for k, v in by_package.items()})


def _r(*labels: str) -> random.Random:
    return random.Random(hashlib.sha256("\0".join(("dflab/ostree", *labels)).encode()).digest())


def _expand(pkg: Package, p: dict[str, Any], raw: dict[str, Any]) -> list[Entry]:
    sizes: dict[str, int] = p.get("sz", {})
    out: list[Entry] = []
    name = pkg.name

    def add(path: str, kind: str, *args: str, mode: int = FILE_MODE, link: str = "") -> None:
        mode, group = SPECIAL.get(path, (mode, "root"))
        out.append(Entry(path, name, kind, LINK_MODE if link else mode, group, link,
                         sizes.get(path.rsplit("/", 1)[-1], 0), args))

    for section, folder in (("bin", "/usr/bin"), ("sbin", "/usr/sbin")):
        for prog in dict.fromkeys(p.get(section, ())):
            add(f"{folder}/{prog}", "exe", mode=EXE_MODE)
            man = "1" if section == "bin" else "8"
            add(f"/usr/share/man/man{man}/{prog}.{man}.gz", "man", prog, man)
            if _r(name, prog, "l10n").random() < 0.08:  # a few pages are translated (manpages-de, -fr ...)
                for lang in _r(name, prog, "langs").sample(["de", "es", "fr", "it", "ja", "pl", "pt_BR", "ru",
                                                            "sv", "uk", "zh_CN"], 3):
                    add(f"/usr/share/man/{lang}/man{man}/{prog}.{man}.gz", "man", prog, man)
    for spec in p.get("lib", ()):
        soname, _, real = spec.partition("=")
        add(f"{LIB}/{real or soname}", "so", soname, mode=EXE_MODE if soname in EXECUTABLE_SO else FILE_MODE)
        if real:
            add(f"{LIB}/{soname}", "link", link=real)
    for path in dict.fromkeys(p.get("libexec", ())):
        leaf = path.rsplit("/", 1)[-1]
        is_so = ".so" in leaf
        add(path, "so" if is_so else "exe", leaf if is_so else "", mode=FILE_MODE if is_so else EXE_MODE)
    for path in dict.fromkeys(p.get("share", ())):
        add(path, _kind_of(path))
    for rel in p.get("etc", ()):
        add(f"/etc/{rel}", "conf")
    for path, target in p.get("links", {}).items():
        add(path, "link", link=target)
    langs = raw["languages"]
    for domain in p.get("loc", ()):
        r = _r(name, domain)
        for lang in sorted(r.sample(langs, r.randint(len(langs) // 8, len(langs) // 3))):
            add(f"/usr/share/locale/{lang}/LC_MESSAGES/{domain}.mo", "mo", domain, lang)
    for gen in p.get("gen", ()):
        out.extend(_generated(gen, name, raw))
    doc = f"/usr/share/doc/{name}"
    add(f"{doc}/copyright", "doc-copyright")
    add(f"{doc}/changelog.Debian.gz", "doc-changelog")
    r = _r(name, "docs")
    if r.random() < 0.2:
        add(f"{doc}/NEWS.Debian.gz", "gz")
    if r.random() < 0.15:
        add(f"{doc}/README.Debian", "text")
    return out


EXECUTABLE_SO = {"libc.so.6", "ld-linux-x86-64.so.2"}  # glibc's libc and loader run as programs: 0755


def _kind_of(path: str) -> str:
    leaf = path.rsplit("/", 1)[-1]
    if leaf.endswith(".gz"):
        return "gz"
    if leaf.endswith(".png"):
        return "png"
    if leaf.endswith((".gpg", ".bin", ".mgc", ".ja")) or "/terminfo/" in path or "/cursors/" in path:
        return "data"
    if ".so" in leaf:
        return "so"
    return "conf"


def _generated(gen: str, package: str, raw: dict[str, Any]) -> list[Entry]:
    out: list[Entry] = []
    if gen == "zoneinfo":
        for region, cities in raw["zoneinfo"].items():
            for city in cities:
                path = f"/usr/share/zoneinfo/{region}/{city}" if region else f"/usr/share/zoneinfo/{city}"
                out.append(Entry(path, package, "tz"))
                if region and region not in ("Etc",) and _r(path, "right").random() < 0.3:
                    out.append(Entry(f"/usr/share/zoneinfo/right/{region}/{city}", package, "tz"))
        out += [Entry("/usr/share/zoneinfo/zone.tab", package, "text"),
                Entry("/usr/share/zoneinfo/zone1970.tab", package, "text"),
                Entry("/usr/share/zoneinfo/iso3166.tab", package, "text"),
                Entry("/usr/share/zoneinfo/leap-seconds.list", package, "text"),
                Entry("/usr/share/zoneinfo/tzdata.zi", package, "text")]
    elif gen == "python":
        base = "/usr/lib/python3.11"
        out += [Entry(f"{base}/{m}.py", package, "py") for m in raw["python_modules"]]
        for folder, modules in raw["python_packages"].items():
            out += [Entry(f"{base}/{folder}/{m}.py", package, "py") for m in modules]
        out += [Entry(f"{base}/lib-dynload/{m}.cpython-311-x86_64-linux-gnu.so", package, "so",
                      args=(f"{m}.cpython-311-x86_64-linux-gnu.so",)) for m in raw["python_extensions"]]
    elif gen == "icons":
        for size in raw["icon_sizes"]:
            for category, names in raw["icons"].items():
                out += [Entry(f"/usr/share/icons/Adwaita/{size}x{size}/{category}/{n}.png", package, "png",
                              args=(str(size),)) for n in names]
    elif gen == "i18n":
        out += [Entry(f"/usr/share/i18n/locales/{n}", package, "text") for n in raw["i18n_locales"]]
        out += [Entry(f"/usr/share/i18n/charmaps/{n}.gz", package, "gz") for n in raw["charmaps"]]
        out.append(Entry("/usr/share/i18n/SUPPORTED", package, "text"))
    elif gen == "xkb":
        out += [Entry(f"/usr/share/X11/xkb/symbols/{n}", package, "text") for n in raw["xkb_symbols"]]
        out += [Entry(f"/usr/share/X11/xkb/rules/{n}", package, "text") for n in ("base", "base.lst", "base.xml",
                                                                                  "evdev", "evdev.lst", "evdev.xml")]
    else:
        raise DflabError(f"unknown generator {gen!r} in package {package}", "ostree catalog")
    return out
