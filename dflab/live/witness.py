"""The live witness: a value only the trainee's running suspect shows, that changes every :data:`SLOT_S` seconds.

Why: a case folder is just files.  Without something the trainee cannot compute, anyone holding the released
notebook and the lab text can write a collection log, exhibits and a custody record that look collected: the
log's hash chain is unkeyed, and its times are whatever was typed.  So every log entry is *sealed* with a value
that exists only on the live system, at that time:

* **the key** (:func:`slot_key`) is derived from the trainee's lab-01 seed (HMAC-SHA256, then 16 bytes).  The
  launcher hands it to the suspect through a pipe that the suspect reads once and closes: it is then only in the
  suspect's memory, never in a file, an environment, an argument, or the recovered executable (whose bytes stay
  a pure function of the seed).  The grader finds it in the trainee's answer key (``facts.live.witness``).
* **the token** (:func:`token`) is SipHash-2-4(key, slot) as 16 hex digits, slot = floor(unix time / SLOT_S).
  The suspect's own machine code (:func:`dflab.live.elf.suspect_program`) reads the real-time clock on every
  beacon and writes the current token into its first environment string, ``DFLAB_WITNESS=<token>``, in place;
  ``/proc/<pid>/environ`` reads the process's memory, so it always shows the current token, and only while the
  suspect runs.  SipHash is a keyed PRF small enough to write out in machine code: tokens of past slots (or of
  another trainee) say nothing about the token of any other slot.
* **the seal** (:func:`seal`) of a log entry is HMAC-SHA256(token, the entry without its seal).  The collector
  (:mod:`dflab.live.collect`) reads the token right before it stamps the entry's times and stores only the seal,
  never the token.  The grader (:mod:`dflab.live.grading`) recomputes the token for the slot of the entry's
  recorded UTC time (or the slot before: the suspect refreshes it every beacon, and the collector stamps the time
  just after reading it) and accepts the entry only if one of its seals matches.

What that proves: each entry was written, with exactly its content (times, exhibit hash, previous entry's hash),
while the trainee's own suspect ran, within a minute of the time it states.  A folder made without the suspect, a
neighbour's folder (another key), an entry edited, moved, re-timed or re-chained afterwards (its content or slot
changes, and a past slot's token is gone) carries no valid seal.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct

VARIABLE = "DFLAB_WITNESS"
SLOT_S = 30
TOKEN_HEX = 16
TOKEN_RE = re.compile(rb"[0-9a-f]{16}")
_SEAL_CONTEXT = b"dflab-live-seal/1\n"
_MASK = (1 << 64) - 1


def slot_key(seed: bytes) -> bytes:
    """The 16-byte SipHash key of a trainee's suspect: one-way from the seed, so it reveals nothing else."""
    return hmac.new(seed, b"dflab-live-witness/1", hashlib.sha256).digest()[:16]


def slot(unix_seconds: int, slot_s: int = SLOT_S) -> int:
    """The slot a time falls in (the suspect computes exactly this from ``clock_gettime(CLOCK_REALTIME)``)."""
    return unix_seconds // slot_s


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK


def siphash24(key: bytes, data: bytes) -> int:
    """SipHash-2-4 (Aumasson and Bernstein, 2012) of ``data`` under a 16-byte ``key``, as a 64-bit integer."""
    if len(key) != 16:
        raise ValueError("SipHash needs a 16-byte key")
    k0, k1 = struct.unpack("<QQ", key)
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def rounds(n: int) -> None:
        for _ in range(n):
            v[0] = (v[0] + v[1]) & _MASK
            v[1] = _rotl(v[1], 13) ^ v[0]
            v[0] = _rotl(v[0], 32)
            v[2] = (v[2] + v[3]) & _MASK
            v[3] = _rotl(v[3], 16) ^ v[2]
            v[0] = (v[0] + v[3]) & _MASK
            v[3] = _rotl(v[3], 21) ^ v[0]
            v[2] = (v[2] + v[1]) & _MASK
            v[1] = _rotl(v[1], 17) ^ v[2]
            v[2] = _rotl(v[2], 32)

    tail = len(data) % 8
    for (m,) in struct.iter_unpack("<Q", data[:len(data) - tail]):
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    b = ((len(data) & 0xFF) << 56) | int.from_bytes(data[len(data) - tail:], "little")
    v[3] ^= b
    rounds(2)
    v[0] ^= b
    v[2] ^= 0xFF
    rounds(4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def token(key: bytes, slot_number: int) -> str:
    """The witness the suspect shows during ``slot_number``: SipHash-2-4(key, slot as 8 bytes LE), 16 hex digits."""
    return f"{siphash24(key, struct.pack('<Q', slot_number & _MASK)):016x}"


def seal(token_text: str, body: bytes) -> str:
    """The seal of one log entry's ``body`` (its canonical JSON without the seal) under a witness token."""
    return hmac.new(token_text.encode(), _SEAL_CONTEXT + body, hashlib.sha256).hexdigest()


def tokens_for(key: bytes, utc_us: int, slot_s: int = SLOT_S) -> tuple[str, str]:
    """The tokens a collector could have read for an entry stamped ``utc_us`` (µs since the epoch): that time's
    slot, and the one before (the suspect refreshes its witness once per beacon, so it may lag a few seconds)."""
    now = slot(utc_us // 1_000_000, slot_s)
    return token(key, now), token(key, now - 1)


def environ_token(environ: bytes) -> str | None:
    """The witness in one process's ``/proc/<pid>/environ``, if it shows one."""
    prefix = VARIABLE.encode() + b"="
    for item in environ.split(b"\0"):
        if item.startswith(prefix):
            value = item[len(prefix):]
            return value.decode() if TOKEN_RE.fullmatch(value) else None
    return None
