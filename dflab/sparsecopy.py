"""Copy a file with its holes: the one way dflab copies a file that may be a sparse image.

A generated disk image is 1 GiB or more of apparent size holding a few MiB of data; copied byte for byte
(``shutil.copyfileobj``) it becomes 1 GiB of real blocks, per copy.  Here the source's data runs are found
with ``SEEK_DATA``/``SEEK_HOLE`` and only they are copied (``os.copy_file_range``, so the kernel moves the
bytes, or shares the extents on a file system that reflinks); holes stay holes (the destination is extended
with ``ftruncate``, which allocates nothing).  A file system without hole reporting answers ``SEEK_DATA``
with the whole file as data (Linux's generic ``lseek``), which is copied as it is; one that refuses the
calls (``EINVAL``) gets the same plain copy.  ``copy_file_range`` between file systems a kernel will not copy
across (``EXDEV``: since Linux 5.19, any two of different types, ext4 to tmpfs say; ``ENOSYS``, ``EOPNOTSUPP``)
falls back to ``sendfile``, then to ``pread``/``pwrite``; so does one that moves nothing short of the run's end
(some file systems' ``copy_file_range`` does): only ``pread`` reading nothing means the source shrank.

A stream has no holes to ask for (a tar member from the Docker engine): :func:`copy_stream` leaves a hole
wherever a whole block of it is zeros, so a sparse file that went through a stream comes back sparse.

Sources are opened without following links: a symbolic link where a file was expected is refused in one
line (``DflabError``), never followed, since the source may be a folder someone else can write to.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

from dflab.errors import DflabError

RUN = 1 << 30  # bytes one copy_file_range / sendfile call is asked to move (the kernel caps it near 2 GiB)
BLOCK = 64 * 1024  # a stream's zeros become a hole in whole blocks of this size (a multiple of every page size)
CHUNK = 1 << 20  # bytes read from a stream at a time, and by the pread/pwrite fallback
_ZEROS = bytes(BLOCK)
# copy_file_range refused for this pair of files (not for this range): sendfile does the rest of the file.
_NO_COPY_RANGE = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL}
_NO_SENDFILE = {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP}
_SOURCE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_TARGET_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def data_runs(fd: int, size: int) -> list[tuple[int, int]]:
    """The ``(start, end)`` byte ranges of ``fd``'s first ``size`` bytes that hold data; the rest are holes.

    Asked of the file system with ``SEEK_DATA``/``SEEK_HOLE``; one that cannot say reports the whole file.
    """
    runs: list[tuple[int, int]] = []
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole from pos to the end
                break
            return [*runs, (pos, size)]  # no hole reporting here: the rest is data
        if start >= size:
            break
        try:
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        except OSError:
            end = size
        runs.append((start, end))
        pos = end
    return runs


def copy_fd(src: int, dest: int) -> int:
    """Copy the regular file open at ``src`` into the empty file open for writing at ``dest``, holes kept.

    Returns the bytes copied (the data runs; holes cost nothing).  ``dest`` ends with ``src``'s size.
    """
    size = os.fstat(src).st_size
    copied = 0
    movers = [_copy_range, _sendfile, _read_write]  # the first is dropped whenever it cannot go on
    for start, end in data_runs(src, size):
        pos = start
        while pos < end:
            try:
                n = movers[0](src, dest, pos, end - pos)
            except OSError as exc:
                if len(movers) > 1 and exc.errno in _GIVES_UP[movers[0]]:
                    movers.pop(0)
                    continue
                raise
            if n == 0:
                if len(movers) > 1:  # copy_file_range and sendfile may move nothing short of the end: ask the next
                    movers.pop(0)
                    continue
                break  # pread read nothing: the source shrank while it was copied; the rest is a hole (ftruncate)
            pos += n
            copied += n
    os.ftruncate(dest, size)
    return copied


def _copy_range(src: int, dest: int, pos: int, count: int) -> int:
    return os.copy_file_range(src, dest, min(count, RUN), pos, pos)


def _sendfile(src: int, dest: int, pos: int, count: int) -> int:
    os.lseek(dest, pos, os.SEEK_SET)  # sendfile writes where dest's offset is
    return os.sendfile(dest, src, pos, min(count, RUN))


def _read_write(src: int, dest: int, pos: int, count: int) -> int:
    data = os.pread(src, min(count, CHUNK), pos)
    return os.pwrite(dest, data, pos) if data else 0


_GIVES_UP = {_copy_range: _NO_COPY_RANGE, _sendfile: _NO_SENDFILE}


def open_source(path: str | os.PathLike[str], *, dir_fd: int | None = None) -> int:
    """Open the regular file ``path`` (relative to ``dir_fd`` if given) for reading, following no link.

    A link, a FIFO, a device or a folder is one ``DflabError`` naming ``path``; the caller closes the descriptor.
    """
    try:
        fd = os.open(path, _SOURCE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DflabError("is a symbolic link, not a file: refused (links are never followed)", str(path)) from None
        raise DflabError(f"cannot read: {exc.strerror or exc}", str(path)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DflabError("is not a regular file: refused", str(path))
    return fd


def copy_file(src: str | os.PathLike[str], dest: str | os.PathLike[str], *, src_dir_fd: int | None = None,
              mode: int | None = None) -> int:
    """Copy the regular file ``src`` to the new file ``dest``, holes kept, following no link; return bytes copied.

    ``dest`` must not exist (a link planted there is not written through, nor replaced).  Its mode is ``mode``,
    else ``src``'s permission bits; its access and modification times are ``src``'s.  ``dest`` appears only
    complete: the copy goes to a new hidden file beside it, given the name ``dest`` by ``link`` (which never
    replaces) once written, so a copy killed halfway (``SIGKILL``, a full disk) leaves no ``dest`` a later
    seeding would take for done, at worst a ``.<name>.*.part`` file.
    """
    fd = open_source(src, dir_fd=src_dir_fd)
    try:
        info = os.fstat(fd)
        perms = stat.S_IMODE(info.st_mode) & 0o777 if mode is None else mode
        target = Path(dest)
        if os.path.lexists(target):
            raise DflabError("cannot create: File exists", str(target))
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
        try:
            out = os.open(tmp, _TARGET_FLAGS, perms | 0o200)  # writable by us until it is complete
        except OSError as exc:
            raise DflabError(f"cannot create: {exc.strerror or exc}", str(target)) from None
        try:
            try:
                copied = copy_fd(fd, out)
                os.fchmod(out, perms)
                os.utime(out, ns=(info.st_atime_ns, info.st_mtime_ns))
            finally:
                os.close(out)
            try:
                os.link(tmp, target, follow_symlinks=False)
            except OSError as exc:
                raise DflabError(f"cannot create: {exc.strerror or exc}", str(target)) from None
        finally:
            tmp.unlink(missing_ok=True)
        return copied
    finally:
        os.close(fd)


def copy_stream(src: BinaryIO, dest: int) -> int:
    """Write the stream ``src`` into the empty file open at ``dest``, leaving a hole for every block of zeros.

    Returns the bytes written (zeros skipped are not).  For sources that cannot say where their holes are.
    """
    pos = written = 0
    while chunk := src.read(CHUNK):
        view = memoryview(chunk)
        for at in range(0, len(chunk), BLOCK):
            block = view[at:at + BLOCK]
            if chunk.count(0, at, at + len(block)) != len(block):
                os.pwrite(dest, block, pos + at)
                written += len(block)
        pos += len(chunk)
    os.ftruncate(dest, pos)
    return written


def allocated(path: str | os.PathLike[str]) -> int:
    """Bytes of disk ``path`` really holds (``st_blocks``), not following a link: what ``du`` counts."""
    return os.lstat(path).st_blocks * 512
