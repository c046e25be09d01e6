"""The two Windows encodings every artefact writer here shares: FILETIME and the binary SID.

Registry hives (key times, device properties, UserAssist, SAM) and event logs (record times, FILETIME and SID
substitutions) store the same things; one conversion keeps them exact to the tick and byte-identical, and refuses a
naive datetime, whose meaning would depend on the build machine.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from dflab.errors import DflabError

_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
NEVER = 0x7FFF_FFFF_FFFF_FFFF
"""What Windows stores for "never" (an account that does not expire)."""


def filetime(when: datetime | int) -> int:
    """``when`` as a FILETIME (100 ns ticks since 1601-01-01 UTC); an int is taken as one already (to keep
    sub-microsecond ticks)."""
    if isinstance(when, int):
        if not 0 <= when < 1 << 64:
            raise DflabError("FILETIME is outside 0 .. 2**64-1", str(when))
        return when
    if when.tzinfo is None:
        raise DflabError("time has no time zone; Windows artefacts' times are UTC", when.isoformat())
    delta = when.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def sid_bytes(text: str) -> bytes:
    """A SID string such as ``S-1-5-21-…-1001`` in its binary form (MS-DTYP 2.4.2.2): revision, count, 48-bit
    big-endian authority, little-endian sub-authorities."""
    parts = text.split("-")
    try:
        if parts[0] != "S" or len(parts) < 3:
            raise ValueError
        revision, authority, *subs = (int(p) for p in parts[1:])
        if revision != 1 or len(subs) > 15 or not 0 <= authority < 1 << 48 or any(not 0 <= s < 1 << 32 for s in subs):
            raise ValueError
    except ValueError:
        raise DflabError("not a SID (S-1-<authority>-<up to 15 sub-authorities>)", text) from None
    return struct.pack("<BB", 1, len(subs)) + authority.to_bytes(6, "big") + struct.pack(f"<{len(subs)}I", *subs)
