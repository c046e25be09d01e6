"""How a trainee's lab gets their evidence: the built variant itself, bound in read-only, never a copy.

Evidence is read-only for the trainee, so a copy per lab would buy nothing and cost its size in writes and disk:
a 1 GiB sparse disk image copied byte for byte is 1 GiB of real blocks per trainee (and a Docker workspace, a
size-limited file system, would have to hold it).  Both backends therefore bind the variant's folder,
``<session>/evidence/<trainee>/evidence``, into the lab read-only: the Docker backend at ``/evidence``
(``Mount(type="bind", read_only=True)``), the local backend at its host path inside the confined root
(:mod:`dflab.confine`, read-only unless asked).  The lab reads the very inode the build wrote: zero bytes
written per trainee, holes and all; the trainee's write quota (:mod:`dflab.provision.workspace_disk`) does
not hold it.  Writing there is ``EROFS`` (the mount) and ``EACCES`` (files 0444, folders 0555, not the
trainee's) twice over, and neither a reflink nor a hard link would add anything: a hard link shares the inode
(its mode and owner too) and would have to live inside the trainee's workspace, where they could unlink it.

A bind follows links when it is made (``mount --bind`` and the engine resolve the source), so a link where the
variant or anything in it should be could hand a trainee another trainee's variant, a key or any file of the
host.  :func:`checked_variant` refuses that before a lab starts: the folder and every folder up to the
session's must be real folders, and what is inside them only folders and regular files with one link each (a
second name is a file that lives somewhere else too: a key, another trainee's image).  A build makes exactly
that; anything else was put there by hand, and the trainee's lab does not start (one line naming the path).

The check and the bind are two moments: the local backend mounts after it, and the engine resolves a bind source
when it creates the container and again whenever it restarts one.  So every folder from the session's down to the
variant, and every folder in it, must also belong to us, to root or to the session folder's owner, and be writable
by no group and no other user: then nobody who could not already change the session can swap a link in between
the check and the bind.  The confined local lab also compares, once bound, the folder it sees with the one
checked (:func:`require_bound`): same device, same inode, or it does not start.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dflab.errors import DflabError

CHECKED_ENV = "DFLAB_EVIDENCE_CHECKED"  # "st_dev:st_ino" of the checked variant, for the lab to compare once bound


def checked_variant(evidence: Path, anchor: Path) -> Path:
    """``evidence`` as an absolute path once it is known safe to bind into a lab; else one ``DflabError``.

    ``anchor`` is the session's folder: ``evidence`` must lie below it, and no component from it down to
    ``evidence`` may be a link (above it is the instructor's machine, not the session's).  Nothing is followed
    while checking.
    """
    evidence = Path(os.path.abspath(evidence))
    anchor = Path(os.path.abspath(anchor))
    if not evidence.is_relative_to(anchor):
        raise DflabError(f"is not inside {anchor}: a lab binds evidence from its own session only", str(evidence))
    try:
        owners = frozenset({0, os.geteuid(), os.lstat(anchor).st_uid})  # who could swap a link in anyway
    except OSError as exc:
        raise DflabError(f"session folder cannot be read: {exc.strerror or exc}", str(anchor)) from None
    path = anchor
    for part in evidence.relative_to(anchor).parts:
        path = path / part
        _real_folder(path, owners)
    _only_plain_files(evidence, owners)
    return evidence


def _real_folder(path: Path, owners: frozenset[int]) -> None:
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise DflabError(f"evidence folder cannot be read: {exc.strerror or exc}", str(path)) from None
    if stat.S_ISLNK(info.st_mode):
        raise DflabError("is a symbolic link where the evidence's folder should be: refused (a lab never follows "
                         "one into another variant or the host); rebuild the variant", str(path))
    if not stat.S_ISDIR(info.st_mode):
        raise DflabError("is not a folder: no evidence variant here", str(path))
    _only_ours(info, str(path), owners)


def _only_ours(info: os.stat_result, where: str, owners: frozenset[int]) -> None:
    """Refuse a folder someone else could change between the check and the bind (module docstring)."""
    if info.st_uid not in owners:
        raise DflabError(f"belongs to uid {info.st_uid}, not to the session's owner: another user could swap a link "
                         "in before the lab binds it; chown it back or rebuild the variant", where)
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise DflabError(f"is writable by others (mode {stat.S_IMODE(info.st_mode):o}): another user could swap a "
                         "link in before the lab binds it; chmod go-w it or rebuild the variant", where)


def _unreadable(exc: OSError, where: Path) -> DflabError:
    """A folder or file the check cannot read is one nobody checked: the variant is refused, naming it."""
    return DflabError(f"cannot be read while checking a trainee's evidence: {exc.strerror or exc}", str(where))


def _only_plain_files(folder: Path, owners: frozenset[int], *, name: str | None = None,
                      dir_fd: int | None = None) -> None:
    """Walk ``folder`` by descriptor (opened as ``name`` in ``dir_fd`` below the top), following nothing; a folder
    it cannot list refuses the variant (``os.fwalk`` would skip it, and a link inside would pass unseen)."""
    try:
        fd = os.open(folder if name is None else name, _FOLDER_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise _unreadable(exc, folder) from None
    try:
        _only_ours(os.fstat(fd), str(folder), owners)
        try:
            names = sorted(os.listdir(fd))
        except OSError as exc:
            raise _unreadable(exc, folder) from None
        for entry in names:
            where = folder / entry
            try:
                info = os.stat(entry, dir_fd=fd, follow_symlinks=False)
            except OSError as exc:
                raise _unreadable(exc, where) from None
            if stat.S_ISLNK(info.st_mode):
                raise DflabError("is a symbolic link in a trainee's evidence: refused (a lab never follows one into "
                                 "another variant or the host); rebuild the variant", str(where))
            if stat.S_ISREG(info.st_mode) and info.st_nlink != 1:
                raise DflabError(f"has {info.st_nlink} names (a hard link to a file elsewhere): refused in a "
                                 "trainee's evidence; rebuild the variant", str(where))
            if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                raise DflabError("is neither a file nor a folder: refused in a trainee's evidence", str(where))
            if stat.S_ISDIR(info.st_mode):
                _only_plain_files(where, owners, name=entry, dir_fd=fd)
    finally:
        os.close(fd)


_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def identity(evidence: Path) -> str:
    """``st_dev:st_ino`` of the folder ``evidence`` (a bind mount of it shows the same pair)."""
    info = os.lstat(evidence)
    return f"{info.st_dev}:{info.st_ino}"


def require_bound(evidence: str, checked: str) -> None:
    """In the lab, after the bind: ``evidence`` must be the very folder :func:`checked_variant` passed (``checked``,
    its :func:`identity`); a link swapped in between the check and the bind made the bind follow it elsewhere."""
    try:
        seen = identity(Path(evidence))
    except OSError as exc:
        raise DflabError(f"evidence folder cannot be read: {exc.strerror or exc}", evidence) from None
    if seen != checked:
        raise DflabError("is not the evidence folder that was checked (replaced before the lab bound it): refused",
                         evidence)
