"""A TCP endpoint's state at one instant, from the segments of its connection, as Linux's state machine leaves it.

Memory shows a socket's state (``linux.sockstat``); the capture shows the segments that put it there. The
state is therefore not a second fact to plan but a function of the first: the segments up to the instant,
replayed through RFC 793's machine as Linux implements it (``tcp_rcv_state_process``, ``tcp_fin``,
``tcp_time_wait``). Two Linux details decide what memory holds after a close:

* a socket its process still holds (the file descriptor open) leaves TIME_WAIT to a ``inet_timewait_sock``
  and is itself ``tcp_done``: it reads CLOSE from then on, as it does after a reset;
* a socket its process closed is an orphan: in TIME_WAIT for 60 s (``TCP_TIMEWAIT_LEN``) after the last FIN's
  ACK, then gone (``None``), and gone at once after a reset.

Each segment's time is the capture's: the capture runs on the host's own segment, so the instant it saw a
segment is, within a link's delay, the instant the host sent or received it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
TIME_WAIT_US = 60_000_000  # TCP_TIMEWAIT_LEN
STATE_NUMBERS = {"ESTABLISHED": 1, "SYN_SENT": 2, "SYN_RECV": 3, "FIN_WAIT1": 4, "FIN_WAIT2": 5, "TIME_WAIT": 6,
                 "CLOSE": 7, "CLOSE_WAIT": 8, "LAST_ACK": 9, "LISTEN": 10, "CLOSING": 11}  # include/net/tcp_states.h


@dataclass(frozen=True)
class TcpSegment:
    """One segment of a connection: when it was seen, which way it went, and what in it moves the state."""

    t_us: int
    from_client: bool
    flags: int
    seq: int
    ack: int
    payload_len: int

    @property
    def seq_end(self) -> int:
        """The sequence number after this segment (SYN and FIN each take one)."""
        return (self.seq + self.payload_len + bool(self.flags & SYN) + bool(self.flags & FIN)) & 0xFFFF_FFFF


def state_at(segments: Iterable[TcpSegment], local_is_client: bool, t_us: int, *, held: bool = True) -> str | None:
    """The state of the connection's ``local`` endpoint at ``t_us`` (a name of :data:`STATE_NUMBERS`), or ``None``
    once an orphan (``held`` false) is gone. Segments after ``t_us`` are not seen yet."""
    state = "CLOSE" if local_is_client else "LISTEN"
    fin_end: int | None = None  # the sequence number that acknowledges our FIN
    time_wait_since: int | None = None
    for seg in sorted(segments, key=lambda s: s.t_us):
        if seg.t_us > t_us:
            break
        mine = seg.from_client == local_is_client
        if seg.flags & RST:
            return "CLOSE" if held else None
        if seg.flags & SYN:
            if mine:
                state = "SYN_SENT" if not seg.flags & ACK else "SYN_RECV"
            elif state == "SYN_SENT" and seg.flags & ACK:
                state = "ESTABLISHED"  # our ACK of the SYN+ACK follows at once
            elif state == "LISTEN":
                state = "SYN_RECV"
            continue
        if not mine and state == "SYN_RECV" and seg.flags & ACK:
            state = "ESTABLISHED"
        ours_acked = not mine and fin_end is not None and seg.flags & ACK and seg.ack == fin_end
        if mine and seg.flags & FIN:
            fin_end = seg.seq_end
            state = {"ESTABLISHED": "FIN_WAIT1", "CLOSE_WAIT": "LAST_ACK", "SYN_RECV": "FIN_WAIT1"}.get(state, state)
        if not mine and ours_acked:
            state = {"FIN_WAIT1": "FIN_WAIT2", "CLOSING": "TIME_WAIT", "LAST_ACK": "CLOSE"}.get(state, state)
        if not mine and seg.flags & FIN:
            state = {"ESTABLISHED": "CLOSE_WAIT", "FIN_WAIT1": "CLOSING", "FIN_WAIT2": "TIME_WAIT"}.get(state, state)
        if state == "TIME_WAIT" and time_wait_since is None:
            time_wait_since = seg.t_us
    if state == "TIME_WAIT":
        if held:
            return "CLOSE"  # tcp_time_wait() hands the connection to a timewait sock and tcp_done()s this one
        return "TIME_WAIT" if time_wait_since is not None and t_us - time_wait_since < TIME_WAIT_US else None
    if state == "CLOSE" and not held:
        return None
    return state
