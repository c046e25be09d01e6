"""What of the case a desktop's RAM holds besides its structures: which files the page cache may hold, and the
strings its processes' heaps carry.

Only what the disk and the capture also show: files as the disk writer puts them (the story's files and the installed
system's packaged bytes, :func:`dflab.scenario.ostree.shared`, the same source :mod:`dflab.evidence.facts` reads for
the files processes map), none created, changed or deleted after the acquisition; URLs and names the capture holds
before it; the processes' own environments, command lines and shell history.
"""

from __future__ import annotations

from dflab.evidence.memory.residency import CachedFile
from dflab.scenario import ostree
from dflab.scenario.case import Case

_ALWAYS_READ = ("/etc/", "/usr/lib/", "/usr/bin/", "/usr/sbin/", "/var/lib/dpkg/status", "/usr/share/fonts/",
                "/usr/share/icons/", "/usr/share/locale/", "/usr/share/zoneinfo/")
_RARELY_READ = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/info/", "/var/lib/dpkg/info/")


def _mounted(mount: str, path: str) -> str:
    return (mount.rstrip("/") + path) if mount != "/" else path


def _tier(path: str) -> int:
    if path.startswith(_RARELY_READ):
        return 2
    return 0 if path.startswith(_ALWAYS_READ) else 1


def cached_files(case: Case) -> list[CachedFile]:
    """Files whose pages the page cache may hold, with the bytes the disk has for them at the acquisition.

    Programs and libraries the processes map are left out: their pages are the processes' own (already placed).
    """
    mem = case.memory
    mapped = {p.exe_path for p in mem.processes} | set(ostree.LOADED)
    out: list[CachedFile] = []
    story: dict[str, set[str]] = {}
    for f in case.disk.files:
        vol = next(v for v in case.disk.volumes if v.id == f.volume)
        story.setdefault(vol.id, set()).add(f.path)
        if (f.is_dir or f.link or not f.content or f.deleted_at is not None or not vol.mount_point
                or max(f.crtime, f.mtime, f.ctime) > mem.acquired_at):
            continue
        path = _mounted(vol.mount_point, f.path)
        if path not in mapped:
            read_since_boot = max(f.atime, f.mtime) >= mem.boot_time
            out.append(CachedFile(path, f.content, 0 if read_since_boot else 1))
    for vol in case.disk.volumes:
        if vol.os is None or not vol.mount_point:
            continue
        planned = story.get(vol.id, set()) | {f.path for f in ostree.extra_files(case, vol)}
        contents = ostree.shared(vol.os.distribution, vol.os.profile).contents
        for inner, data in contents.items():
            path = _mounted(vol.mount_point, inner)
            if data and inner not in planned and path not in mapped:
                out.append(CachedFile(path, data, _tier(inner)))
    return out


def held_strings(case: Case) -> list[bytes]:
    """Strings the desktop's processes hold in their heaps: environments, command lines, shell history, the
    paths of the story's files, and the URLs and names fetched before the acquisition."""
    mem = case.memory
    found: list[str] = []
    for p in mem.processes:
        found += [f"{k}={v}" for k, v in p.environ]
        if p.args:
            found.append(" ".join(p.args))
        found += [h.command for h in p.bash_history]
        found += [p.exe_path, *(o.path for o in p.open_files)]
    for f in case.disk.files:
        vol = next(v for v in case.disk.volumes if v.id == f.volume)
        if vol.mount_point and f.crtime <= mem.acquired_at:
            found.append(_mounted(vol.mount_point, f.path))
    fetched = [t for t in case.network.http if t.time <= mem.acquired_at]
    found += [f"http://{t.host_header}{t.uri}" for t in fetched] + [t.user_agent for t in fetched]
    found += [q.qname for q in case.network.dns if q.time <= mem.acquired_at]
    return sorted({s.encode() for s in found if s})
