"""An installed operating system as the files of one volume: the shared part made once per process, the case's
part (times, accounts, keys, host name, UUIDs) made per case.

**How the common part is shared.** What a package installs does not depend on the case: the bytes of every
packaged file and of dpkg's database are a function of ``(distribution, profile)`` alone (each file seeded from its
path), so :func:`shared` builds them once per process (``functools.cache`` keyed by exactly those two) and every
later case, in a cohort build's worker or in a test process, reuses them. Per case only light work remains: the
install and upgrade times (when each package was unpacked, drawn from the case seed), the files that name the
case (:func:`.etc.case_files`), and one :class:`~dflab.scenario.case.DiskFile` per path pointing at the shared
bytes (never copied). A cohort build (:func:`dflab.evidence.build.build_cohort`) calls :func:`shared` in its own
process before it forks its workers: they inherit the bytes (pages shared copy-on-write) instead of each making
them again. The file system holding them is the case's: inode numbers, times, generations, the hash seed and the
checksums follow its seed, its UUIDs and where its story's files fall between the packages, so ext4's metadata
is planned per variant (:mod:`dflab.evidence.disk.ext4`), and the shared bytes are written into the image once
per variant, zero blocks left as holes (:mod:`dflab.evidence.disk.sparse`).
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, replace
from functools import cache

from dflab.scenario.case import DiskFile, OsInstall, User, Volume
from dflab.scenario.kernel import debian_kernel
from dflab.scenario.ostree import contents as c
from dflab.scenario.ostree import etc, shipped, texts
from dflab.scenario.ostree.accounts import GID
from dflab.scenario.ostree.catalog import EXE_MODE, LINK_MODE, Catalog, Entry, load
from dflab.scenario.ostree.dpkg import STATUS, database, info_name, kernel_stanzas, with_stanzas
from dflab.scenario.traces.packages import Unpack, log_times, package_logs, previous_version

MAX_SIZE = 5 << 19  # the largest program or library: keeps a variant's data near 80 MB (libxul.so is 2.5 MiB)
MAX_DATA = 1 << 20  # the largest data file (udev's hwdb.bin, file's magic.mgc, Firefox's omni.ja)
ID_PREFIX = "os:"  # DiskFile ids of the tree's files: never a spec id (those match ID_PATTERN, no colon)
# glibc's libc and loader: every dynamically linked process maps them (dflab.evidence.memory.userspace).
LOADED = ("/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
COMMON_NEEDED = ("libselinux.so.1", "libpcre2-8.so.0", "libtinfo.so.6", "libsystemd.so.0", "libcrypto.so.3",
                 "libz.so.1", "libglib-2.0.so.0", "libgobject-2.0.so.0", "libacl.so.1", "libcap.so.2",
                 "libmount.so.1", "libblkid.so.1", "libpam.so.0", "libaudit.so.1", "libgcc_s.so.1")
# Debian's alternatives: /etc/alternatives/<name> -> the chosen program.
ALTERNATIVES = {"awk": "/usr/bin/mawk", "nawk": "/usr/bin/mawk", "vi": "/usr/bin/vim.tiny", "view": "/usr/bin/vim.tiny",
                "editor": "/bin/nano", "pager": "/bin/less", "x-www-browser": "/usr/bin/firefox-esr",
                "x-terminal-emulator": "/usr/bin/gnome-terminal.wrapper"}
# Directories an install leaves empty (mode, group); a directory that holds something is the file system's own.
EMPTY_DIRS: dict[str, tuple[int, str]] = {
    "/boot": (0o755, "root"), "/dev": (0o755, "root"), "/proc": (0o555, "root"), "/sys": (0o555, "root"),
    "/run": (0o755, "root"), "/mnt": (0o755, "root"), "/media": (0o755, "root"), "/opt": (0o755, "root"),
    "/srv": (0o755, "root"), "/tmp": (0o1777, "root"), "/var/tmp": (0o1777, "root"),  # noqa: S108 - in the image
    "/usr/local/bin": (0o755, "root"),
    "/usr/local/sbin": (0o755, "root"), "/usr/local/lib": (0o755, "root"), "/usr/local/share": (0o755, "root"),
    "/var/log/apt": (0o755, "root"), "/var/log/installer": (0o755, "root"), "/var/log/journal": (0o2755, "root"),
    "/var/log/private": (0o700, "root"), "/var/log/cups": (0o755, "root"), "/var/log/gdm3": (0o700, "root"),
    "/var/log/runit": (0o755, "root"), "/var/cache/apt/archives/partial": (0o700, "root"),
    "/var/lib/apt/lists/partial": (0o700, "root"), "/var/spool/cron/crontabs": (0o1730, "crontab"),
    "/var/mail": (0o2775, "mail"), "/var/backups": (0o755, "root"), "/var/lib/sudo/lectured": (0o700, "root"),
    "/etc/ssh/ssh_config.d": (0o755, "root"), "/etc/ssh/sshd_config.d": (0o755, "root"),
    "/etc/sudoers.d": (0o750, "root"), "/etc/profile.d": (0o755, "root"),
}
USER_DIRS = ("Desktop", "Documents", "Downloads", "Music", "Pictures", "Public", "Templates", "Videos")
# What a GNOME session makes in a home at the first login (GLib's user directories, mode 0700).
USER_XDG_DIRS = (".config", ".local", ".local/share", ".cache")
# bookworm's base-files ships os-release under /usr/lib, /etc/os-release a relative symbolic link to it.
MOVED = {"/etc/os-release": ("/usr/lib/os-release", "../usr/lib/os-release")}
STATUS_OLD = "/var/lib/dpkg/status-old"


@dataclass(frozen=True)
class Shared:
    """What every case of ``(distribution, profile)`` installs identically."""

    catalog: Catalog
    contents: dict[str, bytes]  # path -> bytes: packaged files and dpkg's database but its status
    owner: dict[str, str]  # path -> package, dpkg's database files included
    entries: dict[str, Entry]
    # dpkg's status of the shared packages: each case adds its kernel's (drawn per case), so the file on the disk
    # is the case's, never these bytes, and what reads ``contents`` as the disk's (memory's page cache) skips it.
    status: bytes = b""


@cache
def shared(distribution: str, profile: str) -> Shared:
    """The installed system's bytes, made once per process (see the module docstring)."""
    del profile  # one profile per distribution so far: the desktop
    catalog = _as_shipped(load(distribution))
    pool = [c.sentence(_rng("pool", str(i))) for i in range(400)]
    contents = {e.path: _content(e, catalog, pool) for e in catalog.entries}
    owner = {e.path: e.package for e in catalog.entries}
    names = {info_name(p): p.name for p in catalog.packages}
    for path, data in database(catalog, contents).items():
        contents[path] = data
        leaf = path.rsplit("/", 1)[-1]
        owner[path] = names.get(leaf.rsplit(".", 1)[0], "")
    status = contents.pop(STATUS)
    return Shared(catalog, contents, owner, {e.path: e for e in catalog.entries}, status)


def _as_shipped(catalog: Catalog) -> Catalog:
    """The catalog with the files :data:`MOVED` names where the package really puts them: the file at its new path,
    a symbolic link at the old one (so dpkg's md5sums and conffiles list the file, never the link)."""
    entries: list[Entry] = []
    for e in catalog.entries:
        if e.path in MOVED and e.kind != "link":
            path, target = MOVED[e.path]
            entries += [replace(e, path=path), replace(e, kind="link", link=target, mode=LINK_MODE)]
        else:
            entries.append(e)
    by_package: dict[str, list[Entry]] = {}
    for e in entries:
        by_package.setdefault(e.package, []).append(e)
    return replace(catalog, entries=tuple(entries), by_package={k: tuple(v) for k, v in by_package.items()})


def _rng(*labels: str) -> random.Random:
    return random.Random(hashlib.sha256("\0".join(("dflab/ostree/content", *labels)).encode()).digest())


def _drawn_size(r: random.Random, median: int, lo: int, hi: int) -> int:
    return int(min(max(r.lognormvariate(math.log(median), 0.8), lo), hi)) // 8 * 8


def _content(e: Entry, catalog: Catalog, pool: list[str]) -> bytes:
    r = _rng(e.path)
    leaf = e.path.rsplit("/", 1)[-1]
    pkg = next(p for p in catalog.packages if p.name == e.package) if e.kind in ("man", "doc-copyright",
                                                                                  "doc-changelog") else None
    if e.kind == "link":
        return b""
    if e.kind in ("exe", "so"):
        size = min(e.size or _drawn_size(r, 20_000 if e.kind == "exe" else 40_000, 14_400, 900_000), MAX_SIZE)
        needed = ["libc.so.6", *r.sample(COMMON_NEEDED, r.randint(0, 5))] if leaf not in LOADED_NAMES else []
        strings = [leaf, f"Usage: {leaf} [OPTION]...", *r.choices(pool, k=max(1, size // 2000))]
        return c.elf(r, size, soname=e.args[0] if e.kind == "so" and e.args else "", needed=needed,
                     executable=e.kind == "exe" or leaf == "ld-linux-x86-64.so.2", strings=strings)
    if e.kind == "man":
        assert pkg is not None
        return c.gzip9n(texts.man_page(r, e.args[0], e.args[1], pkg.name, pkg.version, pkg.description))
    if e.kind == "doc-copyright":
        assert pkg is not None
        return texts.copyright_file(r, pkg.name, pkg.source, pkg.license)
    if e.kind == "doc-changelog":
        assert pkg is not None
        return c.gzip9n(texts.changelog(r, pkg.name, pkg.source, pkg.version, list(catalog.maintainers)))
    if e.kind == "mo":
        return c.gettext_mo(r, e.args[0], e.args[1])
    if e.kind == "tz":
        return c.tzif(r, leaf)
    if e.kind == "py":
        return texts.python_source(r, leaf)
    if e.kind == "conf":
        text = shipped.SHIPPED.get(e.path)
        return text.encode() if text is not None else texts.config(r, e.path, e.package)
    if e.kind == "png":
        return c.icon(r, int(e.args[0]) if e.args else 64)
    if e.kind == "gz":
        return c.gzip9n(texts.plain(r, _drawn_size(r, 6000, 400, 200_000)))
    if e.kind == "data":
        return c.data_blob(r, min(e.size or _drawn_size(r, 20_000, 1_000, 1_000_000), MAX_DATA))
    return texts.plain(r, _drawn_size(r, 4000, 200, 60_000))


LOADED_NAMES = {p.rsplit("/", 1)[-1] for p in LOADED}


def _type(path: str, data: bytes) -> str:
    """The ``true_type`` of a tree file, from its magic bytes, cheaply (dflab.forensics.magic's names)."""
    if data.startswith(b"\x7fELF"):
        return "elf"
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    if data.startswith(b"\x89PNG"):
        return "png"
    return "empty" if not data else "text" if not path.endswith(".mo") and b"\0" not in data[:512] else "data"


def os_files(seed: bytes, volume: Volume, install: OsInstall, hostname: str, users: tuple[User, ...],
             volumes: tuple[Volume, ...], *, planned: frozenset[str] = frozenset(),
             read_at: dict[str, int] | None = None, now: int | None = None,
             boot: float | None = None, nameserver: str | None = None) -> list[DiskFile]:
    """The installed system's files on ``volume`` for one case, in install order; paths in ``planned`` (the story's
    and later writers' files) are left to them. ``read_at`` gives paths read since (a boot's programs and
    libraries): their atime. ``now``: when the disk was last running; with it, dpkg's and apt's logs of the install
    and the upgrade as logrotate left them then (the first user ran ``apt upgrade``), each month's file created by the
    logrotate run the routine's syslog shows (``boot``: the incident's boot, memory's). ``nameserver``: the DNS server
    the case's network names (:func:`.etc.nameserver`), written to ``/etc/resolv.conf`` as NetworkManager does at
    each boot's lease."""
    sh = shared(install.distribution, install.profile)
    r = random.Random(hashlib.sha256(b"dflab/ostree/times\0" + seed + b"\0" + volume.id.encode()).digest())
    packages = sh.catalog.packages
    base = [p for p in packages if p.priority in ("required", "important")]
    rest = [p for p in packages if p.priority not in ("required", "important")]
    unpacked: dict[str, int] = {}
    built: dict[str, int] = {}
    t = install.installed_at
    for p in base + rest:  # debootstrap's base system first, then tasksel's desktop
        t += r.randint(0, 6)
        unpacked[p.name] = t
        built[p.name] = t - r.randint(20, 700) * 86400 - r.randint(0, 86399)
    install_end = t + r.randint(30, 240)
    installed = dict(unpacked)
    # an upgrade replaces only what bookworm's stable updates changed: a package at its release's version had none
    updates = [p for p in packages if previous_version(p.version) is not None]
    upgraded = r.sample(updates, min(len(updates), max(1, len(packages) // 9)))
    t = install.updated_at
    for p in sorted(upgraded, key=lambda p: p.name):  # apt upgrades in name order
        t += r.randint(0, 4)
        built[p.name] = min(t - 86400, max(unpacked[p.name], t - r.randint(3, 90) * 86400))
        unpacked[p.name] = t
    last_dpkg = max(unpacked.values()) + 1
    first_unpacked: dict[str, int] = {}  # path -> when its package first put it there (before any upgrade)
    read_at = read_at or {}
    files: list[DiskFile] = []
    owner_uid = {0: 0}

    def add(path: str, data: bytes, crtime: int, mtime: int, mode: int, uid: int = 0, gid: int = 0,
            link: str = "") -> None:
        if path in planned:
            return
        atime = max(crtime, read_at.get(path, crtime))
        files.append(DiskFile(ID_PREFIX + path, volume.id, path, data, mtime, atime, crtime, crtime, uid=uid,
                              gid=gid, mode=mode, true_type="symlink" if link else _type(path, data), link=link))

    for p in base + rest:
        when = unpacked[p.name]
        for e in sh.catalog.by_package.get(p.name, ()):
            first_unpacked[e.path] = installed[p.name]
            add(e.path, sh.contents[e.path], when, when if e.kind == "link" else built[p.name], e.mode,
                gid=GID.get(e.group, 0), link=e.link)
    for path, data in sh.contents.items():
        if path.startswith("/var/lib/dpkg/"):
            pkg = sh.owner.get(path, "")
            when = unpacked.get(pkg, last_dpkg)
            add(path, data, when, when, EXE_MODE if path.endswith(("inst", "rm")) else 0o644)
    # The case's kernel is one of bookworm's, drawn per case: its packages are in this case's status alone.
    status = with_stanzas(sh.status, kernel_stanzas(debian_kernel(seed)))
    add(STATUS, status, last_dpkg, last_dpkg, 0o644)
    # dpkg keeps the status before its last write: the last package the upgrade configured was still half-configured
    last = max(upgraded, key=lambda p: (unpacked[p.name], p.name)).name if upgraded else None
    add(STATUS_OLD, _status_before(status, last), last_dpkg - 1, last_dpkg - 1, 0o644)
    for name, target in ALTERNATIVES.items():
        add(f"/etc/alternatives/{name}", b"", install_end, install_end, 0o777, link=target)
        add(f"/var/lib/dpkg/alternatives/{name}", f"auto\n/usr/bin/{name}\n\n{target}\n50\n\n".encode(),
            install_end, install_end, 0o644)
    add("/var/lib/dbus/machine-id", b"", install_end, install_end, 0o777, link="/etc/machine-id")
    add("/etc/localtime", b"", install_end, install_end, 0o777, link="/usr/share/zoneinfo/Etc/UTC")
    for i, (path, data, mode, uid, gid) in enumerate(etc.case_files(seed, hostname, users, volumes, volume,
                                                                    install.installed_at)):
        when = install_end + 1 + i // 6
        add(path, data, when, when, mode, uid, gid)
        owner_uid[uid] = gid
    for path, text in shipped.INSTALLED.items():  # what the installer and maintainer scripts wrote
        add(path, text.encode(), install_end, install_end, 0o644)
    if nameserver:  # NetworkManager rewrites it (a rename) at each boot's DHCP lease
        lease = int(boot) + 7 if boot is not None else install_end
        add("/etc/resolv.conf", shipped.resolv_conf(nameserver).encode(), lease, lease, 0o644)
    if now is not None:
        unpacks = [Unpack(p.name, p.arch, (previous_version(p.version) if p in upgraded else None) or p.version,
                          installed[p.name]) for p in packages]
        unpacks += [Unpack(p.name, p.arch, p.version, unpacked[p.name], previous_version(p.version)) for p in upgraded]
        requested_by = (users[0].name, users[0].uid) if users else None
        for path, data in sorted(package_logs(unpacks, now, requested_by, len(files)).items()):
            created, modified = log_times(path, unpacks, now, seed, boot)
            # apt's term.log holds what the maintainer scripts printed: root and the adm group only, as apt makes it
            mode, gid = (0o640, GID["adm"]) if "/term.log" in path else (0o644, 0)
            add(path, data, created, modified, mode, 0, gid)
    files += _upgraded_directories(files, first_unpacked, planned, install.updated_at)
    taken = {f.path for f in files} | set(planned)
    below = {p.rsplit("/", i)[0] for p in taken for i in range(1, p.count("/"))}
    dirs = dict(EMPTY_DIRS)
    for u in users:
        dirs.update({f"{u.home}/{d}": (0o755, str(u.uid)) for d in USER_DIRS})
        dirs.update({f"{u.home}/{d}": (0o700, str(u.uid)) for d in USER_XDG_DIRS})
    holding = {p.rsplit("/", i)[0] for p in dirs for i in range(1, p.count("/"))}  # ~/.local holds ~/.local/share
    for path, (mode, group) in dirs.items():
        if path in below or path in taken:
            continue  # holds something: the file system dates it by its entries
        uid = int(group) if group.isdigit() else 0
        gid = owner_uid.get(uid, uid) if group.isdigit() else GID.get(group, 0)
        when = install.installed_at if path.count("/") == 1 else install_end  # debootstrap makes the top level first
        # A folder made with the one inside it (~/.local, then ~/.local/share): made just before it, and changed by
        # the new name, so its mtime is not older than its subfolder's creation.
        made, changed = (when - 1, when + 1) if path in holding else (when, when)
        files.append(DiskFile(ID_PREFIX + path, volume.id, path, b"", changed, changed, changed, made, uid=uid,
                              gid=gid, mode=mode, true_type="empty", is_dir=True))
    return files


def _status_before(status: bytes, package: str | None) -> bytes:
    """dpkg's ``status-old``: ``status`` as it was before dpkg's last write, ``package`` not yet configured."""
    stanzas = status.split(b"\n\n")
    name = f"Package: {package}\n".encode()
    for i, stanza in enumerate(stanzas):
        if package is not None and stanza.lstrip(b"\n").startswith(name):
            stanzas[i] = stanza.replace(b"Status: install ok installed\n", b"Status: install ok half-configured\n", 1)
    return b"\n\n".join(stanzas)


def _upgraded_directories(files: list[DiskFile], first_unpacked: dict[str, int], planned: frozenset[str],
                          upgraded_at: int) -> list[DiskFile]:
    """Directories holding only files an upgrade replaced (``/usr/share/doc/<package>``, glibc's ``gconv``): they
    were made at the install, and the upgrade's renames changed them. The file system would date such a directory
    by its first entry (the upgrade's); planned here, it keeps its install time and the upgrade's last change."""
    first: dict[str, int] = {}
    last_child: dict[str, int] = {}
    installed: dict[str, int] = {}
    for f in files:
        parts = f.path.split("/")
        for depth in range(2, len(parts)):
            d = "/".join(parts[:depth])
            first[d] = min(first.get(d, f.crtime), f.crtime)
            installed[d] = min(installed.get(d, f.crtime), first_unpacked.get(f.path, f.crtime))
    for f in files:  # a directory last changed when its last entry came: a file, or a directory made just before
        parent = f.path.rsplit("/", 1)[0]
        last_child[parent] = max(last_child.get(parent, 0), f.crtime)
    for d, when in first.items():
        parent = d.rsplit("/", 1)[0]
        last_child[parent] = max(last_child.get(parent, 0), when)
    below_story = {p.rsplit("/", i)[0] for p in planned for i in range(1, p.count("/"))}
    out = []
    for d in sorted(first):
        if installed[d] < first[d] and first[d] >= upgraded_at and d not in below_story and d not in planned:
            changed = last_child.get(d, first[d]) + 1  # the last rename, just after the last file was written
            made = installed[d] + d.count("/")  # a second per level: a directory is made after the one holding it
            out.append(DiskFile(ID_PREFIX + d, files[0].volume, d, b"", changed, changed, changed, made,
                                mode=0o755, true_type="empty", is_dir=True))
    return out
