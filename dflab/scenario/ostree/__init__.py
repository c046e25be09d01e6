"""An operating system installed under a case's story: thousands of files an examiner searches through.

A volume with ``os: {distribution: debian-12, profile: desktop}`` in its spec (``Volume.os``) holds a Debian 12
desktop's root file system, modelled on a real install: packages from a shipped catalog (``debian-12.json``: real
package names and versions) with their programs (valid ELF, code-like bytes), shared objects and their symbolic
link chains, man pages, documentation, translations, configuration, and dpkg's database whose ``md5sums`` match
the bytes on disk (:mod:`.dpkg`); accounts consistent with the case's users (:mod:`.accounts`); the files that
name the case (:mod:`.etc`); the running kernel's, drawn per trainee and made once per release: the signed ``.ko``
files of the modules memory's lsmod lists (:mod:`.modules`), ``System.map`` at the addresses of memory's ISF
(:mod:`.sysmap`) and the initramfs (:mod:`.initrd`). Times: each package unpacked minutes after the install time,
a share of them replaced at the last upgrade, every file's mtime its package's build date as dpkg keeps it.

The packaged bytes are made once per process and shared by every case (:mod:`.tree`: ``shared``); a cohort build
makes them before it forks its workers, which inherit them (:func:`dflab.evidence.build.build_cohort`). The disk
writer plans the files for a case with :func:`files_for`; :func:`extra_files` is where later writers of the
system's own story (logs, a browser profile, documents) add files beside it.
"""

from __future__ import annotations

from dflab.scenario.case import Case, DiskFile, Volume
from dflab.scenario.ostree import etc
from dflab.scenario.ostree.dpkg import KERNEL_PACKAGES
from dflab.scenario.ostree.tree import ID_PREFIX, LOADED, os_files, shared

__all__ = ["ID_PREFIX", "LOADED", "extra_files", "files_for", "installed_packages", "shared"]


def installed_packages(distribution: str, profile: str) -> int:
    """How many packages dpkg's status lists installed: the shared catalog's and the case's kernel packages."""
    return len(shared(distribution, profile).catalog.packages) + KERNEL_PACKAGES


def extra_files(case: Case, volume: Volume) -> list[DiskFile]:
    """Files the system itself wrote after the install that tell the case's timeline (logs, login records, a shell
    history written at exit, a browser profile, documents made by their applications): none yet.

    The hook for those writers: what they return is planned after the story's files and before the installed
    system's, so the story wins a path, then these, then the install.
    """
    del case, volume
    return []


def files_for(case: Case, volume: Volume) -> list[DiskFile]:
    """The installed system's files on ``volume`` (which must have ``os``) for ``case``, story paths left out, and
    the extra files of :func:`extra_files`; programs and libraries the case's processes run or map were read at
    the memory's boot."""
    assert volume.os is not None
    story = [f for f in case.disk.files if f.volume == volume.id]
    extra = [f for f in extra_files(case, volume) if f.path not in {s.path for s in story}]
    mount = volume.mount_point.rstrip("/")
    boot = case.memory.boot_time
    read = {p.exe_path for p in case.memory.processes if p.exe_path} | set(LOADED)
    read_at = {path[len(mount):]: boot for path in read if path.startswith(mount + "/")}
    planned = frozenset(f.path for f in story + extra)
    return extra + os_files(bytes.fromhex(case.seed), volume, volume.os, case.host(case.suspect_host).hostname,
                            case.users, case.disk.volumes, planned=planned, read_at=read_at,
                            now=case.memory.acquired_at, boot=boot, nameserver=etc.nameserver(case))
