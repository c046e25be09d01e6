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
from dflab.evidence.network.frames import _DF, ACK, FIN, IP_LEN, MIN_FRAME, PSH, RST, SYN
from dflab.evidence.network.profiles import MSS, NOP, TS
from dflab.evidence.network.segment import Endpoint, derived_seed, randint

INITIAL_CWND = 10  # segments (RFC 6928)
MAX_CWND = 400
DELACK_US = 40_000  # Linux's minimum delayed-ACK timeout
TLP_MIN_US = 10_000
AUTOTUNE_AFTER = 32_768  # received bytes after which receive-buffer autotuning starts to open the window
_DATA_TS_WORD = int.from_bytes(bytes((NOP, NOP, TS, 10)), "big")  # data_options()' first word: NOP NOP TS, length
# Ethernet, IPv4 without options and TCP's fixed 20 bytes, what a side always sends the same in three pieces (the
# Ethernet header with IP's version and TOS; DF, TTL and protocol; addresses and ports); then the same followed by
# data_options()' NOP NOP TS, TSval, TSecr.
_HEAD = struct.Struct("!16sHH4sH12sIIHHHH")
_HEAD_TS = struct.Struct("!16sHH4sH12sIIHHHH4sII")
_DATA_TS_BYTES = bytes((NOP, NOP, TS, 10))


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
    # What every frame of this side repeats, worked out once (set by TcpSession): the Ethernet header, the IPv4
    # header's checksum over its fixed fields, the TCP checksum's over the pseudo-header and ports.
    head: bytes = b""
    mid: bytes = b""
    ends: bytes = b""
    ip_fixed: int = 0
    tcp_fixed: int = 0


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
        for me, peer in ((self._sides[True], self._sides[False]), (self._sides[False], self._sides[True])):
            addresses = int.from_bytes(me.ep.ip_raw + peer.ep.ip_raw, "big")
            me.head = peer.ep.mac + me.ep.mac + b"\x08\x00\x45\x00"
            me.mid = struct.pack("!HBB", _DF, me.ep.ttl, 6)
            me.ends = me.ep.ip_raw + peer.ep.ip_raw + struct.pack("!HH", me.port, peer.port)
            me.ip_fixed = 0x4500 + _DF + (me.ep.ttl << 8 | 6) + addresses
            me.tcp_fixed = addresses + 6 + me.port + peer.port
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
        # Called for every frame of every session (60,000 in a Windows capture): the frame is packed here by one
        # struct rather than through data_options(), _window() and Conversation.add(), with the same bytes, both
        # checksums summed from the fields the side fixed once (frames.py says why the sum of a buffer's words is
        # the buffer read as one integer, modulo 0xFFFF).
        me, peer = self._sides[from_client], self._sides[not from_client]
        ep, size = me.ep, len(payload)
        tsval = (t_us // 1000 + me.ts_offset) & 0xFFFFFFFF
        if flags & SYN:
            ts = (tsval, self._echo(me, peer, t_us) if flags & ACK else 0)
            offer_ts = ep.os.timestamps and (from_client or self.timestamps)
            options = ep.os.syn_options(ts if offer_ts else None, wscale=True, sack=True)
            window = self._window(me, flags, self.timestamps)
            option_sum = int.from_bytes(options, "big")
        else:
            options = b""
            window = min(me.rcv_wnd >> ep.os.wscale, 0xFFFF)
            if self.timestamps:
                tsecr = self._echo(me, peer, t_us) if flags & ACK else 0
                option_sum = _DATA_TS_WORD << 64 | tsval << 32 | tsecr
            else:
                option_sum = 0
        habit = ep.os.ip_id
        if habit == "global":
            ip_id = (ep.id_base + t_us * ep.id_rate // 1_000_000 + me.sent) & 0xFFFF
        elif habit == "random":
            ip_id = self.rng.getrandbits(16)
        elif flags & SYN and flags & ACK:  # ip_build_and_send_pkt: a SYN-ACK with DF carries ID 0
            ip_id = 0
        else:
            ip_id, me.ip_id = me.ip_id, (me.ip_id + 1) & 0xFFFF
        seq = (me.seq - size) & 0xFFFFFFFF if resent else me.seq
        ack = peer.seq if flags & ACK else 0
        opt_len = len(options) if options else (12 if option_sum else 0)
        offset_flags = (20 + opt_len) << 10 | flags
        length = 20 + opt_len + size
        if size:
            payload_sum = int.from_bytes(payload, "big")
            if size & 1:
                payload_sum <<= 8
        else:
            payload_sum = 0
        rest = (me.tcp_fixed + length + seq + ack + offset_flags + window + option_sum + payload_sum) % 0xFFFF
        ip_rest = (me.ip_fixed + IP_LEN + length + ip_id) % 0xFFFF
        ip_sum = 0xFFFF - ip_rest if ip_rest else 0
        tcp_sum = 0xFFFF - rest if rest else 0
        if options or not option_sum:
            frame = _HEAD.pack(me.head, IP_LEN + length, ip_id, me.mid, ip_sum, me.ends, seq, ack, offset_flags,
                               window, tcp_sum, 0) + options + payload
            if len(frame) < MIN_FRAME:  # a mirror port hands it over padded to the Ethernet minimum
                frame += bytes(MIN_FRAME - len(frame))
        else:
            frame = _HEAD_TS.pack(me.head, IP_LEN + length, ip_id, me.mid, ip_sum, me.ends, seq, ack, offset_flags,
                                  window, tcp_sum, 0, _DATA_TS_BYTES, tsval, tsecr) + payload
        if not resent:
            me.seq = (me.seq + size + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
            peer.received += size
            if peer.received > AUTOTUNE_AFTER:  # a bulk transfer: the receive buffer grows with it
                peer.rcv_wnd = min(peer.ep.os.rcv_window_max, peer.rcv_wnd + 2 * size)
        me.sent += 1
        me.last_t = max(me.last_t, t_us)
        if self.timestamps or flags & SYN:  # what _echo() reads
            me.times.append(t_us)
            me.tsvals.append(tsval)
        self._spoke.add(from_client)
        conv, d = self.conv, 0 if from_client else 1
        conv.frames.append((t_us, frame))
        conv.packets[d] += 1
        conv.frame_bytes[d] += len(frame)
        if not resent:
            conv.payload_bytes[d] += size

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
        opened, last_need = 0, 0  # acks[opened]: the first ACK that can open the window for ``need`` bytes
        pending = 0
        emit, payload, size = self._emit, self.payload, len(data)
        window = snd.cwnd * payload
        for off in range(0, size, payload):
            chunk = data[off:off + payload]
            end = off + len(chunk)
            final = end == size
            if off:
                t += self._gap(snd, 66 + len(chunk))
            need = end - min(window, max(rcv.rcv_wnd, 2 * payload))
            if need > 0:  # the window is full: wait for the ACK that opens it
                if need < last_need:  # (the receiver's window grew faster than the data)
                    opened = 0
                last_need = need
                while opened < len(acks) and acks[opened][1] < need:
                    opened += 1
                ack_t = acks[opened][0] if opened < len(acks) else acks[-1][0]
                t = max(t, ack_t + snd.ep.react_us(self.rng))
            emit(t, from_client, (PSH | ACK) if final else ACK, chunk)
            pending += 1
            if final and self.loss and self.rng.random() < self.loss:
                pto = max(TLP_MIN_US, 2 * max(snd.ep.rtt_us, rcv.ep.rtt_us))
                t += pto
                emit(t, from_client, PSH | ACK, chunk, resent=True)
            if pending == 2 or (final and not reply):
                at = max(t + rcv.ep.react_us(self.rng), rcv.last_t + 1)
                emit(at, not from_client, ACK)
                acks.append((at, end))
                snd.cwnd = min(MAX_CWND, snd.cwnd + pending)
                window = snd.cwnd * payload
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
