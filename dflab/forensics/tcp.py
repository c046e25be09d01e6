"""Rebuild the byte stream each side of a TCP connection sent, from its segments.

Packets can arrive out of order, be retransmitted, or overlap; TCP's
sequence numbers say where each payload belongs.  We place every payload at
``seq - initial_seq`` and read the bytes back in order, keeping the *first*
copy of any byte seen (what the receiver's stack would have accepted first).
A gap (a segment the capture missed) ends the usable stream: bytes after it
cannot be placed reliably, so :class:`Stream` reports ``complete=False``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

__all__ = ["Endpoint", "FlowKey", "HalfStream", "Stream"]

Endpoint = tuple[str, int]
FlowKey = tuple[str, int, str, int]  # src, sport, dst, dport: one direction of a connection


@dataclass
class Stream:
    """The reassembled bytes one side sent, and when each byte range arrived."""

    key: FlowKey
    data: bytes
    complete: bool
    offsets: list[int] = field(default_factory=list)
    times_ns: list[int] = field(default_factory=list)

    def time_at(self, offset: int) -> int | None:
        """Capture time (ns) of the segment carrying byte ``offset``: when a message was sent."""
        index = bisect.bisect_right(self.offsets, offset) - 1
        return self.times_ns[index] if index >= 0 else None


@dataclass
class HalfStream:
    """Segments collected for one direction while streaming through a capture."""

    key: FlowKey
    syn_seq: int | None = None
    segments: list[tuple[int, int, bytes]] = field(default_factory=list)  # (seq, time_ns, payload)

    def add(self, seq: int, time_ns: int, payload: bytes, syn: bool) -> None:
        if syn:
            self.syn_seq = seq
        if payload:
            self.segments.append((seq, time_ns, payload))

    def reassemble(self) -> Stream:
        if not self.segments:
            return Stream(self.key, b"", True)
        reference = self.syn_seq + 1 if self.syn_seq is not None else self.segments[0][0]
        placed = sorted(((_relative(seq, reference), t, payload) for seq, t, payload in self.segments),
                        key=lambda item: (item[0], -len(item[2])))
        start = 0 if self.syn_seq is not None else min(0, placed[0][0])
        pos, parts, offsets, times, complete = start, [], [], [], True
        for rel, t, payload in placed:
            if rel > pos:
                complete = False
                break
            fresh = payload[pos - rel:]
            if fresh:
                offsets.append(pos - start)
                times.append(t)
                parts.append(fresh)
                pos += len(fresh)
        return Stream(self.key, b"".join(parts), complete, offsets, times)


def _relative(seq: int, reference: int) -> int:
    """Signed distance from ``reference`` in 32-bit sequence space (handles wrap-around)."""
    return ((seq - reference + 2**31) & 0xFFFFFFFF) - 2**31
