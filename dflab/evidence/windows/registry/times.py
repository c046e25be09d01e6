"""FILETIME, the registry's clock: 100-nanosecond ticks since 1601-01-01 UTC, as an unsigned 64-bit integer.

Keys' last-written times, USB device properties, UserAssist and SAM records all store it; converting in one place
keeps every writer exact to the tick and refuses a naive datetime, whose meaning would depend on the build machine.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dflab.errors import DflabError

_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
NEVER = 0x7FFF_FFFF_FFFF_FFFF
"""What Windows stores for "never" (an account that does not expire)."""


def filetime(when: datetime | int) -> int:
    """Return ``when`` as a FILETIME; an int is taken as one already (to keep sub-microsecond ticks)."""
    if isinstance(when, int):
        if not 0 <= when < 1 << 64:
            raise DflabError(f"FILETIME {when} is outside 0 .. 2**64-1", "registry")
        return when
    if when.tzinfo is None:
        raise DflabError(f"time {when.isoformat()} has no time zone; registry times are UTC", "registry")
    delta = when.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10

