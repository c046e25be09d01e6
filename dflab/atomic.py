"""Write files and directories so that a crash never leaves half of one behind.

Everything dflab writes goes to a temporary sibling first and is renamed into
place only when complete (rename is atomic within one file system).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dflab.errors import DflabError


def ensure_writable_dir(directory: Path) -> Path:
    """Create ``directory`` if needed and check it is writable, so a bad output path fails before any work."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DflabError(f"cannot create directory: {exc.strerror}", str(directory)) from exc
    if not os.access(directory, os.W_OK):
        raise DflabError("directory is not writable", str(directory))
    return directory


def _writable_parent(path: Path) -> Path:
    return ensure_writable_dir(path.parent)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; on success rename it to ``path``.

    On any exception the temporary file is removed and ``path`` is untouched.
    A full disk (ENOSPC) becomes a :class:`DflabError` naming the file.
    """
    target = Path(path)
    parent = _writable_parent(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise DflabError(f"cannot write: {exc.strerror or exc}", str(target)) from exc
    except BaseException:
        _unlink_quietly(tmp)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically replace ``path`` with ``data``."""
    with atomic_file(path) as fh:
        fh.write(data)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; on success rename it to ``path``.

    With ``replace`` an existing ``path`` is swapped out only after the new
    one is complete, so a failed rebuild keeps the previous good one.
    """
    target = Path(path)
    parent = _writable_parent(target)
    if target.exists() and not replace:
        raise DflabError("already exists (use --force to replace it)", str(target))
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=parent))
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            os.replace(target, old / "x")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DflabError(f"cannot write: {exc.strerror or exc}", str(target)) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
