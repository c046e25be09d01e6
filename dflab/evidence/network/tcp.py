"""Complete TCP sessions as two real stacks hold them: handshake, segments and ACKs, teardown.

Each side follows its :class:`~dflab.evidence.network.profiles.OsProfile`: SYN options in its stack's order,
window scaling, timestamps (TSval a millisecond clock plus an offset per address pair, TSecr the peer's latest
TSval that can have reached it), a receive window that stays where the handshake left it until a bulk transfer
makes the stack autotune its buffer (then it grows with the data), and its IP ID habit. Data goes out
in MSS-sized segments (less the 12 bytes of the timestamp option when timestamps are on) within the congestion
window, which grows from ten segments by one per segment acknowledged; the receiver ACKs every second segment,
and a message answered after longer than the delayed-ACK timer gets its own ACK first.

Times are those seen at the capture point. A frame by one side follows its own previous frame by the time the
frame takes on the sender's link, and the other side's latest frame by the side's reaction time: microseconds
for the capture host, a round trip for a remote peer.

Background sessions may lose a message's last segment past the capture point (``loss``): the capture then holds
it twice, the retransmission one probe timeout later, as Linux's tail loss probe sends it. Planned sessions lose
nothing, so every byte the answer key counts is on the wire once.
"""

from __future__ import annotations

import bisect
import random
import struct
from dataclasses import dataclass, field

from dflab.evidence.network.conversation import Conversation
from dflab.evidence.network.frames import ACK, FIN, PSH, RST, SYN, tcp_frame
from dflab.evidence.network.profiles import MSS, NOP, TS
from dflab.evidence.network.segment import Endpoint, derived_seed, randint

INITIAL_CWND = 10  # segments (RFC 6928)
MAX_CWND = 400
DELACK_US = 40_000  # Linux's minimum delayed-ACK timeout
TLP_MIN_US = 10_000
AUTOTUNE_AFTER = 32_768  # received bytes after which receive-buffer autotuning starts to open the window
_DATA_TS = struct.Struct("!BBBBII")  # what data_options() writes when timestamps are on: NOP NOP TS, TSval, TSecr


@dataclass
class _Side:
    ep: Endpoint
    port: int
    seq: int  # next sequence number this side sends
    ip_id: int
    ts_offset: int
    last_t: int  # time of this side's latest frame
    rcv_wnd: int = 0  # bytes it can receive; advertised (scaled) in every segment after the SYN
    cwnd: int = INITIAL_CWND
    sent: int = 0
    received: int = 0  # payload bytes it has received
    times: list[int] = field(default_factory=list)  # capture times of its frames, in order
    tsvals: list[int] = field(default_factory=list)


class TcpSession:
    """One TCP connection; drive it with :meth:`open`, :meth:`send`, :meth:`close` or :meth:`abort`."""

    def __init__(self, conv: Conversation, rng: random.Random, t_us: int, *, loss: float = 0.0) -> None:
        self.conv = conv
        self.rng = rng
        self.loss = loss
        client, server = conv.client, conv.server
        self._sides = {
            True: _Side(client, conv.client_port, rng.getrandbits(32), rng.getrandbits(16),
                        self._ts_offset(client, server), t_us),
            False: _Side(server, conv.server_port, rng.getrandbits(32), rng.getrandbits(16),
                         self._ts_offset(server, client), t_us),
        }
        self._start = t_us
        self._not_before = t_us
        self._spoke: set[bool] = set()
        self._owed: tuple[bool, int] | None = None  # (receiver, time its ACK fell due) for a message not yet acked
        both = (client.os, server.os)
        self.timestamps = all(o.timestamps for o in both)
        self.payload = MSS - (12 if self.timestamps else 0)  # bytes of data per full segment

    def _ts_offset(self, me: Endpoint, peer: Endpoint) -> int:
        if me.os.name == "apple":  # a random offset per connection
            return self.rng.getrandbits(32)
        return derived_seed(me.ts_seed, peer.ip) & 0xFFFFFFFF

    @property
    def end_us(self) -> int:
        """Time of the session's latest frame."""
        return max(s.last_t for s in self._sides.values())

    def not_before(self, t_us: int) -> None:
        """Hold the next frame until ``t_us``: what happens next waits for something else (FTP data, a user)."""
        self._not_before = max(self._not_before, t_us)

    def _gap(self, me: _Side, size: int) -> int:
        """Time between two back-to-back frames of ``me`` at the capture point: its link's serialisation."""
        return size * 8_000_000 // (me.ep.mbps * 1_000_000) + randint(self.rng, 2, 40)

    def _next_time(self, by_client: bool) -> int:
        """When ``by_client``'s side can send: after its own last frame and after reacting to the peer's."""
        me, peer = self._sides[by_client], self._sides[not by_client]
        t = me.last_t + self._gap(me, 66) if by_client in self._spoke else me.last_t
        if (not by_client) in self._spoke:
            t = max(t, peer.last_t + me.ep.react_us(self.rng))
        return max(t, self._not_before)

    def _ip_id(self, me: _Side, t_us: int, flags: int) -> int:
        habit = me.ep.os.ip_id
        if habit == "global":
            return (me.ep.id_base + t_us * me.ep.id_rate // 1_000_000 + me.sent) & 0xFFFF
        if habit == "random":
            return self.rng.getrandbits(16)
        if flags & SYN and flags & ACK:  # ip_build_and_send_pkt: a SYN-ACK with DF carries ID 0
            return 0
        value, me.ip_id = me.ip_id, (me.ip_id + 1) & 0xFFFF
        return value

    def _echo(self, me: _Side, peer: _Side, t_us: int) -> int:
        """TSecr: the peer's latest TSval that reached ``me`` before ``t_us`` (a round trip earlier if remote)."""
        horizon = t_us - (0 if me.ep.local else me.ep.rtt_us)
        i = bisect.bisect_right(peer.times, horizon) - 1
        return peer.tsvals[i] if i >= 0 else (peer.tsvals[0] if peer.tsvals and not me.ep.local else 0)

    @staticmethod
    def _window(me: _Side, flags: int, timestamps: bool) -> int:
        """The window field: unscaled in a SYN (RFC 7323), then the receive window shifted by its scale."""
        if flags & SYN:
            return me.ep.os.synack_for(timestamps) if flags & ACK else me.ep.os.syn_window
        return min(me.rcv_wnd >> me.ep.os.wscale, 0xFFFF)

    def _emit(self, t_us: int, from_client: bool, flags: int, payload: bytes = b"", *, resent: bool = False) -> None:
        # Called for every frame of every session (70,000 in a Windows capture): the options and the window are
        # written here rather than through data_options() and _window(), with the same values.
        me, peer = self._sides[from_client], self._sides[not from_client]
        ep, size = me.ep, len(payload)
        tsval = (t_us // 1000 + me.ts_offset) & 0xFFFFFFFF
        if flags & SYN:
            ts = (tsval, self._echo(me, peer, t_us) if flags & ACK else 0)
            offer_ts = ep.os.timestamps and (from_client or self.timestamps)
            options = ep.os.syn_options(ts if offer_ts else None, wscale=True, sack=True)
            window = self._window(me, flags, self.timestamps)
        else:
            options = (_DATA_TS.pack(NOP, NOP, TS, 10, tsval, self._echo(me, peer, t_us) if flags & ACK else 0)
                       if self.timestamps else b"")
            window = min(me.rcv_wnd >> ep.os.wscale, 0xFFFF)
        seq = me.seq - size if resent else me.seq
        frame = tcp_frame(ep.mac, peer.ep.mac, ep.ip_raw, peer.ep.ip_raw, ep.ttl, self._ip_id(me, t_us, flags), True,
                          me.port, peer.port, seq, peer.seq, flags, window, options, payload)
        if not resent:
            me.seq = (me.seq + size + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
            peer.received += size
            if peer.received > AUTOTUNE_AFTER:  # a bulk transfer: the receive buffer grows with it
                peer.rcv_wnd = min(peer.ep.os.rcv_window_max, peer.rcv_wnd + 2 * size)
        me.sent += 1
        me.last_t = max(me.last_t, t_us)
        me.times.append(t_us)
        me.tsvals.append(tsval)
        self._spoke.add(from_client)
        self.conv.add(t_us, from_client, frame, 0 if resent else size)

    def open(self) -> None:
        """Three-way handshake, the SYN exactly at the session's start time."""
        client, server = self._sides[True], self._sides[False]
        client.rcv_wnd = client.ep.os.rcv_window
        server.rcv_wnd = server.ep.os.synack_for(self.timestamps) >> server.ep.os.wscale << server.ep.os.wscale
        self._emit(self._start, True, SYN)
        self._emit(self._next_time(False), False, SYN | ACK)
        self._emit(self._next_time(True), True, ACK)

    def _settle(self, from_client: bool, t_us: int) -> None:
        """Before ``from_client`` speaks at ``t_us``: the ACK it owes for the peer's message, if its timer ran out."""
        if self._owed is None:
            return
        receiver, due = self._owed
        self._owed = None
        if t_us > due:
            self._emit(due, receiver, ACK)

    def send(self, from_client: bool, data: bytes, *, reply: bool = False, think_us: int = 0) -> None:
        """Send one application message, segmented and acknowledged by the receiver.

        With ``reply`` the receiver answers with data: that data acknowledges the message's tail unless it comes
        after the delayed-ACK timer, when a pure ACK goes first.
        """
        if not data:
            return
        snd, rcv = self._sides[from_client], self._sides[not from_client]
        t = self._next_time(from_client) + think_us
        self._settle(from_client, t)
        t = max(t, snd.last_t + self._gap(snd, 66))
        acks: list[tuple[int, int]] = [(t, 0)]  # (time seen, bytes of this message acknowledged)
        pending = 0
        for off in range(0, len(data), self.payload):
            chunk = data[off:off + self.payload]
            end = off + len(chunk)
            final = end == len(data)
            if off:
                t += self._gap(snd, 66 + len(chunk))
            need = end - min(snd.cwnd * self.payload, max(rcv.rcv_wnd, 2 * self.payload))
            if need > 0:  # the window is full: wait for the ACK that opens it
                ack_t = next((at for at, upto in acks if upto >= need), acks[-1][0])
                t = max(t, ack_t + snd.ep.react_us(self.rng))
            self._emit(t, from_client, (PSH | ACK) if final else ACK, chunk)
            pending += 1
            if final and self.loss and self.rng.random() < self.loss:
                pto = max(TLP_MIN_US, 2 * max(snd.ep.rtt_us, rcv.ep.rtt_us))
                t += pto
                self._emit(t, from_client, PSH | ACK, chunk, resent=True)
            if pending == 2 or (final and not reply):
                at = max(t + rcv.ep.react_us(self.rng), rcv.last_t + 1)
                self._emit(at, not from_client, ACK)
                acks.append((at, end))
                snd.cwnd = min(MAX_CWND, snd.cwnd + pending)
                pending = 0
        if reply and pending:
            self._owed = (not from_client, max(t + rcv.ep.react_us(self.rng) + DELACK_US, rcv.last_t + 1))

    def close(self, by_client: bool) -> None:
        """FIN from ``by_client``'s side, FIN+ACK from the peer, final ACK."""
        t = self._next_time(by_client)
        self._settle(by_client, t)
        self._emit(max(t, self._next_time(by_client)), by_client, FIN | ACK)
        self._emit(self._next_time(not by_client), not by_client, FIN | ACK)
        self._emit(self._next_time(by_client), by_client, ACK)

    def abort(self, by_client: bool) -> None:
        """``by_client``'s side resets the connection (an application closing with data unread)."""
        t = self._next_time(by_client)
        self._settle(by_client, t)
        self._emit(max(t, self._next_time(by_client)), by_client, RST | ACK)
