"""A conversation (one 5-tuple): its frames and the per-direction counts the answer key reports."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from dflab.evidence.network.frames import pad, udp_frame
from dflab.evidence.network.segment import Endpoint

Frame = tuple[int, bytes]  # (timestamp in microseconds since the epoch, Ethernet frame)


def to_us(t: float) -> int:
    """Seconds (float) → integer microseconds, the only time unit frames carry (no float drift)."""
    return round(t * 1_000_000)


@dataclass
class Conversation:
    """Frames of one client/server 5-tuple, counted the way ``tshark -z conv`` counts them.

    Index 0 of the counters is client → server, index 1 server → client.
    """

    proto: str  # "tcp" or "udp"
    client: Endpoint
    client_port: int
    server: Endpoint
    server_port: int
    frames: list[Frame] = field(default_factory=list)
    packets: list[int] = field(default_factory=lambda: [0, 0])
    frame_bytes: list[int] = field(default_factory=lambda: [0, 0])
    payload_bytes: list[int] = field(default_factory=lambda: [0, 0])

    def add(self, t_us: int, from_client: bool, frame: bytes, payload_len: int) -> None:
        """Record a frame as the mirror port hands it over: padded to the Ethernet minimum, like on the wire."""
        frame = pad(frame)
        d = 0 if from_client else 1
        self.frames.append((t_us, frame))
        self.packets[d] += 1
        self.frame_bytes[d] += len(frame)
        self.payload_bytes[d] += payload_len

    def in_time_order(self) -> list[Frame]:
        """Frames sorted by time; ties keep the order they were made in (stable sort)."""
        return sorted(self.frames, key=lambda f: f[0])

    def facts(self) -> dict[str, object]:
        """The 5-tuple, timing and counts, JSON-serialisable."""
        times = [t for t, _ in self.frames]
        return {
            "protocol": self.proto,
            "client_ip": self.client.ip,
            "client_port": self.client_port,
            "server_ip": self.server.ip,
            "server_port": self.server_port,
            "start": min(times) / 1e6,
            "end": max(times) / 1e6,
            "packets": sum(self.packets),
            "packets_client_to_server": self.packets[0],
            "packets_server_to_client": self.packets[1],
            "frame_bytes_client_to_server": self.frame_bytes[0],
            "frame_bytes_server_to_client": self.frame_bytes[1],
            "payload_bytes_client_to_server": self.payload_bytes[0],
            "payload_bytes_server_to_client": self.payload_bytes[1],
        }


def datagram(conv: Conversation, t_us: int, from_client: bool, payload: bytes, ip_id: int, df: bool) -> None:
    """One UDP datagram of ``conv``, from the client or back from the server."""
    me, peer = (conv.client, conv.server) if from_client else (conv.server, conv.client)
    ports = (conv.client_port, conv.server_port) if from_client else (conv.server_port, conv.client_port)
    conv.add(t_us, from_client, udp_frame(me.mac, peer.mac, me.ip_raw, peer.ip_raw, me.ttl, ip_id, df, *ports,
                                          payload), len(payload))


def udp_exchange(conv: Conversation, rng: random.Random, t_us: int, request: bytes, response: bytes,
                 t_answer: int | None = None, *, server_df: bool = False) -> None:
    """A request from a connected client socket at ``t_us`` and the server's answer at ``t_answer``.

    The client (Linux, ``connect()``-ed as glibc and systemd-timesyncd do) sets DF and counts its IP IDs from a
    random start; an unconnected server socket sends ID 0 with DF, or a hashed (random-looking) ID without it.
    """
    datagram(conv, t_us, True, request, rng.getrandbits(16), True)
    if t_answer is None:
        t_answer = t_us + conv.server.react_us(rng)
    datagram(conv, t_answer, False, response, 0 if server_df else rng.getrandbits(16), server_df)
