"""User-facing errors.

Every mistake a user can make (bad spec, corrupt image, unwritable output)
raises a :class:`DflabError`; the CLI prints its one-line message and exits
non-zero.  Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
from pathlib import Path


class DflabError(Exception):
    """An error caused by the user's input or environment, reported as one line.

    ``where`` names the file, field path, cell or trainee the problem is in,
    so the line always says both what is wrong and where.
    """

    exit_code = 2

    def __init__(self, what: str, where: str | None = None) -> None:
        self.what = what
        self.where = where
        super().__init__(f"{where}: {what}" if where else what)


class SpecError(DflabError):
    """The scenario spec is invalid (``where`` is "file:line: field.path")."""


class EvidenceError(DflabError):
    """Evidence is missing, corrupt, truncated or does not match its manifest."""

    exit_code = 3


class ToolError(DflabError):
    """An external tool (volatility3, TSK, tshark) is missing or failed on valid input."""

    exit_code = 4


def read_user_text(path: str | os.PathLike[str], what: str, error: type[DflabError] = DflabError,
                   encoding: str = "utf-8") -> str:
    """Read a file the user named (a spec, a roster); a missing or unreadable file is one clear line."""
    try:
        return Path(path).read_text(encoding=encoding)
    except FileNotFoundError as exc:
        raise error(f"{what} not found", str(path)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what}: {exc}", str(path)) from exc
