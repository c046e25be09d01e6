"""Where a session's checker keeps its sockets and log (standard library only: both backends import it).

::

    <session>/check/                   0711: trainees cannot list who else has a socket
    <session>/check/<trainee>/         0755, the session's user's (root's): bound read-only into that trainee's lab
    <session>/check/<trainee>/check.sock  0666: whoever reaches it is that trainee
    <session>/logs/checker/checker.log what the checker did (never a value, never a key)

The folder, not the socket, is what a lab gets: a restarted checker makes a new socket (a new inode), which a lab
holding a bind of the old file would never see.  The log has a folder of its own because ``logs/<trainee>.log``
is a local lab's, and ``checker`` is a legal trainee id.
"""

from __future__ import annotations

import os
from pathlib import Path

from dflab.checker.protocol import SOCKET_NAME

CHECK_DIR = "check"
LOG = Path("logs") / "checker" / "checker.log"


def _folder(path: Path, mode: int) -> Path:
    """``path`` as a real directory (not a link) of this user's with ``mode``."""
    try:
        path.mkdir(mode=mode)
    except FileExistsError:
        if path.is_symlink() or not path.is_dir():
            raise NotADirectoryError(f"{path} is not a directory") from None
    os.chmod(path, mode)
    return path


def trainee_dir(session_dir: Path, trainee: str) -> Path:
    """``<session>/check/<trainee>/``, made when missing: what the trainee's lab binds (before the checker runs)."""
    return _folder(_folder(session_dir / CHECK_DIR, 0o711) / trainee, 0o755)


def socket_path(session_dir: Path, trainee: str) -> Path:
    """The trainee's socket as the host (and an unconfined lab) sees it."""
    return session_dir / CHECK_DIR / trainee / SOCKET_NAME


def log_path(session_dir: Path) -> Path:
    return session_dir / LOG
