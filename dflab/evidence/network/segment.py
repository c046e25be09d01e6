"""The captured LAN segment: which MAC a frame carries and how late each peer answers.

The capture runs on the suspect's segment (``Network.capture_host``).  A frame
to or from an off-link peer carries the default gateway's MAC on that side;
an on-link peer (same /24) is reached by its own MAC.  Every peer also gets a
fixed round-trip latency as seen from the capture point, drawn from the case
seed and its IP, so the timing of planned flows never depends on the noise.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
from dataclasses import dataclass

from dflab.errors import EvidenceError
from dflab.evidence.network.frames import ip_bytes, mac_bytes
from dflab.scenario.case import Case


@dataclass(frozen=True)
class Endpoint:
    """One IP as seen on the captured wire."""

    ip: str
    ip_raw: bytes
    mac: bytes  # the L2 address frames to/from this IP carry on the segment
    ttl: int  # IP TTL of its packets when they reach the capture point
    rtt_us: int  # time from a frame seen at the capture point to this peer's answer being seen
    local: bool  # True for the capture host itself: its frames are seen as sent, unpadded

    def react_us(self, rng: random.Random) -> int:
        """Delay until this endpoint's answer to something it just saw shows up in the capture."""
        if self.local:
            return rng.randint(25, 260)
        return self.rtt_us + rng.randint(0, max(1, self.rtt_us // 8)) + rng.randint(20, 200)


def derived_seed(*parts: object) -> int:
    """A 64-bit seed from the case seed and labels, so each stream of randomness is independent."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


class Segment:
    """Resolves IPs into :class:`Endpoint` s for the capture on one /24."""

    def __init__(self, case: Case) -> None:
        net = case.network
        try:
            self.capture = case.host(net.capture_host)
            self.gateway = case.host(net.gateway)
        except KeyError as exc:
            raise EvidenceError(f"unknown host id {exc}", "network.capture_host/gateway") from exc
        self.lan = ipaddress.IPv4Network(f"{self.capture.ip}/24", strict=False)
        self._seed = case.seed
        self._macs = {h.ip: h.mac for h in case.hosts}
        self._cache: dict[str, Endpoint] = {}

    def on_link(self, ip: str) -> bool:
        return ipaddress.IPv4Address(ip) in self.lan

    def endpoint(self, ip: str) -> Endpoint:
        """The endpoint for ``ip``; unknown IPs (noise servers) must be off-link."""
        if ip not in self._cache:
            self._cache[ip] = self._make(ip)
        return self._cache[ip]

    def _make(self, ip: str) -> Endpoint:
        rng = random.Random(derived_seed(self._seed, "network-peer", ip))
        if ip == self.capture.ip:
            return Endpoint(ip, ip_bytes(ip), mac_bytes(self.capture.mac), 64, 0, True)
        if self.on_link(ip):
            if ip not in self._macs:
                raise EvidenceError(f"on-link peer {ip} is not a case host, so its MAC is unknown", "network")
            return Endpoint(ip, ip_bytes(ip), mac_bytes(self._macs[ip]), 64, rng.randint(150, 600), False)
        ttl = rng.choice((64, 128, 255)) - rng.randint(6, 20)
        return Endpoint(ip, ip_bytes(ip), mac_bytes(self.gateway.mac), ttl, rng.randint(8_000, 90_000), False)

    def check_touches(self, a: str, b: str, where: str) -> None:
        """Refuse a flow the capture on this segment could not have seen."""
        if not (self.on_link(a) or self.on_link(b)):
            raise EvidenceError(f"flow between {a} and {b} does not cross the captured segment {self.lan}", where)
