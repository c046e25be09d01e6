"""How each host's network stack writes its packets: one profile per operating system.

A TCP/IP stack leaves its signature in every packet (what p0f and examiners read): the initial TTL, the SYN's
window and the order of its options, whether timestamps and window scaling are used, how the IP ID advances.
Every packet of a host, the case's or the background's, is built from that host's one profile, so no field says
which of the two a packet belongs to.

Values are what the stacks send by default: Linux 6.x (``tcp_rmem`` 4096 131072 6291456, hence window scale 7;
options in the order ``tcp_options_write`` emits them), Windows 10/11 and Server 2019+ (no timestamps, window
scale 8), Apple's iOS/macOS (window scale 6, timestamps, the SYN's options ending in EOL).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

# TCP option kinds as on the wire.
EOL, NOP, MSS_KIND, WS, SACK_PERM, TS = 0, 1, 2, 3, 4, 8
MSS = 1460  # Ethernet MTU 1500 - 40


@dataclass(frozen=True)
class OsProfile:
    """The defaults one operating system's stack sends with."""

    name: str
    ttl: int  # initial IP TTL
    syn_window: int  # window field of its SYN
    synack_window: int  # window field of its SYN-ACK (when it is the server)
    wscale: int  # window scale shift it offers
    timestamps: bool  # offers TCP timestamps (RFC 7323)
    rcv_window: int  # receive window (bytes) right after the handshake, as the client
    rcv_window_max: int  # how far receive-buffer autotuning grows it
    ip_id: str  # "socket": a per-connection counter from a random start, 0 on SYN-ACKs (Linux);
    #             "global": one counter for every packet it sends (Windows); "random": random per packet (Apple)

    def synack_for(self, timestamps: bool) -> int:
        """Its SYN-ACK's window: Linux offers whole segments, 45 of 1448 bytes with timestamps, 44 of 1460 without."""
        if self.name == "linux" and not timestamps:
            return 44 * MSS
        return self.synack_window

    def syn_options(self, ts: tuple[int, int] | None, wscale: bool, sack: bool) -> bytes:
        """The options of a SYN or SYN-ACK, in this stack's order; ``ts`` is (TSval, TSecr) when used."""
        mss = struct.pack("!BBH", MSS_KIND, 4, MSS)
        ws = struct.pack("!BBB", WS, 3, self.wscale)
        tsopt = struct.pack("!BBII", TS, 10, *ts) if ts else b""
        if self.name == "linux":  # tcp_options_write: MSS, SACK_PERM+TS | NOP NOP TS, NOP NOP SACK_PERM, NOP WS
            out = mss
            if ts:
                out += (bytes([SACK_PERM, 2]) if sack else bytes([NOP, NOP])) + tsopt
            elif sack:
                out += bytes([NOP, NOP, SACK_PERM, 2])
            return out + (bytes([NOP]) + ws if wscale else b"")
        if self.name == "windows":  # MSS, NOP WS, NOP NOP SACK_PERM (timestamps off by default)
            return mss + (bytes([NOP]) + ws if wscale else b"") + (bytes([NOP, NOP, SACK_PERM, 2]) if sack else b"")
        # Apple: MSS, NOP WS, NOP NOP TS, SACK_PERM, EOL (padding to 24 bytes)
        out = mss + (bytes([NOP]) + ws if wscale else b"") + (bytes([NOP, NOP]) + tsopt if ts else b"")
        out += bytes([SACK_PERM, 2]) if sack else b""
        return out + bytes(-len(out) % 4)


LINUX = OsProfile("linux", 64, 64240, 65160, 7, True, 64256, 6_291_456, "socket")
WINDOWS = OsProfile("windows", 128, 64240, 65535, 8, False, 262_656, 4_194_304, "global")
APPLE = OsProfile("apple", 64, 65535, 65535, 6, True, 131_072, 4_194_304, "random")

_USER_AGENT_OS = ((re.compile(r"Windows NT"), WINDOWS), (re.compile(r"iPhone|iPad|Macintosh|Mac OS X"), APPLE))


def profile_for_user_agent(user_agent: str) -> OsProfile:
    """The OS a client's User-Agent claims (Linux when it names none, as wget and curl do not)."""
    for pattern, profile in _USER_AGENT_OS:
        if pattern.search(user_agent):
            return profile
    return LINUX


def data_options(ts: tuple[int, int] | None) -> bytes:
    """Options of a segment after the handshake: NOP NOP TS when timestamps are on, else none."""
    return struct.pack("!BBBBII", NOP, NOP, TS, 10, *ts) if ts else b""
