"""User-facing errors.

Every mistake a user can make (bad spec, corrupt image, unwritable output)
raises a :class:`DflabError`; the CLI prints its one-line message and exits
non-zero.  Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


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
