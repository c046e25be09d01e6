"""Complete TCP sessions: handshake, MSS-sized data with ACKs and a sliding window, FIN teardown.

Times are those seen at the capture point.  A frame by one side follows both
its own previous frame (by a small serialisation gap) and the other side's
latest frame (by the side's reaction time: microseconds for the capture host,
a round trip for a remote peer).  The receiver ACKs every second segment and
the end of each message; a sender never has more than ten segments in flight,
so large transfers take the time a real slow link would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from dflab.evidence.network.conversation import Conversation
from dflab.evidence.network.frames import ACK, FIN, MSS, PSH, SYN, tcp_frame
from dflab.evidence.network.segment import Endpoint

WINDOW = 64240  # advertised receive window (no window scaling is negotiated)
IN_FLIGHT = 10 * MSS  # unacknowledged bytes a sender allows itself (initial congestion window)


@dataclass
class _Side:
    ep: Endpoint
    port: int
    seq: int  # next sequence number this side sends
    ip_id: int
    last_t: int  # time of this side's latest frame


class TcpSession:
    """One TCP connection; drive it with :meth:`open`, :meth:`send` and :meth:`close`."""

    def __init__(self, conv: Conversation, rng: random.Random, t_us: int) -> None:
        self.conv = conv
        self.rng = rng
        self._sides = {
            True: _Side(conv.client, conv.client_port, rng.getrandbits(32), rng.getrandbits(16), t_us),
            False: _Side(conv.server, conv.server_port, rng.getrandbits(32), rng.getrandbits(16), t_us),
        }
        self._start = t_us
        self._not_before = t_us
        self._spoke: set[bool] = set()

    @property
    def end_us(self) -> int:
        """Time of the session's latest frame."""
        return max(s.last_t for s in self._sides.values())

    def not_before(self, t_us: int) -> None:
        """Hold the next frame until ``t_us``: what happens next waits for another connection (FTP data)."""
        self._not_before = max(self._not_before, t_us)

    def _gap(self) -> int:
        return self.rng.randint(12, 120)

    def _next_time(self, by_client: bool) -> int:
        """When ``by_client``'s side can send: after its own last frame and after reacting to the peer's."""
        me, peer = self._sides[by_client], self._sides[not by_client]
        t = me.last_t + self._gap() if by_client in self._spoke else me.last_t
        if (not by_client) in self._spoke:
            t = max(t, peer.last_t + me.ep.react_us(self.rng))
        return max(t, self._not_before)

    def _emit(self, t_us: int, from_client: bool, flags: int, payload: bytes = b"") -> None:
        me, peer = self._sides[from_client], self._sides[not from_client]
        frame = tcp_frame(me.ep.mac, peer.ep.mac, me.ep.ip_raw, peer.ep.ip_raw, me.ep.ttl, me.ip_id, me.port,
                          peer.port, me.seq, peer.seq, flags, WINDOW, payload)
        me.ip_id = (me.ip_id + 1) & 0xFFFF
        me.seq = (me.seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        me.last_t = max(me.last_t, t_us)
        self._spoke.add(from_client)
        self.conv.add(t_us, from_client, frame, len(payload))

    def open(self) -> None:
        """Three-way handshake, the SYN exactly at the session's start time."""
        self._emit(self._start, True, SYN)
        self._emit(self._next_time(False), False, SYN | ACK)
        self._emit(self._next_time(True), True, ACK)

    def send(self, from_client: bool, data: bytes, *, reply: bool = False, think_us: int = 0) -> None:
        """Send one application message, segmented at the MSS and acknowledged by the receiver.

        With ``reply`` the receiver answers with data at once, so that data
        acknowledges the message's tail and no separate pure ACK is sent.
        """
        if not data:
            return
        snd, rcv = self._sides[from_client], self._sides[not from_client]
        t = self._next_time(from_client) + think_us
        acks: list[tuple[int, int]] = []  # (time seen, bytes of this message acknowledged)
        pending = 0
        for off in range(0, len(data), MSS):
            chunk = data[off:off + MSS]
            end = off + len(chunk)
            final = end == len(data)
            if off:
                t += self._gap()
            if end - IN_FLIGHT > 0:
                ack_t = next(at for at, upto in acks if upto >= end - IN_FLIGHT)
                t = max(t, ack_t + snd.ep.react_us(self.rng))
            self._emit(t, from_client, (PSH | ACK) if final else ACK, chunk)
            pending += 1
            if pending == 2 or (final and not reply):
                at = max(t + rcv.ep.react_us(self.rng), rcv.last_t + 1)
                self._emit(at, not from_client, ACK)
                acks.append((at, end))
                pending = 0

    def close(self, by_client: bool) -> None:
        """FIN from ``by_client``'s side, FIN+ACK from the peer, final ACK."""
        self._emit(self._next_time(by_client), by_client, FIN | ACK)
        self._emit(self._next_time(not by_client), not by_client, FIN | ACK)
        self._emit(self._next_time(by_client), by_client, ACK)
