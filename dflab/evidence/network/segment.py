"""The captured LAN segment: which MAC a frame carries, how late each peer answers, which stack it runs.

The capture is a mirror of the suspect's switch port (``Network.capture_host``). A frame to or from an off-link
peer carries the default gateway's MAC on that side; an on-link peer (same /24) is reached by its own MAC. Every
peer has a fixed round trip as seen from the capture point and a hop count (the routers to the office's provider,
which all paths share, then the destination's own), drawn from the case seed and its IP (so the timing of planned
flows never depends on the background), and one :class:`OsProfile`: the capture host
is a Linux desktop, the case's servers Linux (the software they announce runs on Ubuntu), a client whose
User-Agent names Windows or an Apple device that OS, and each background server what its operator runs.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
from dataclasses import dataclass

from dflab.errors import EvidenceError
from dflab.evidence.network.frames import ip_bytes, mac_bytes
from dflab.evidence.network.profiles import LINUX, OsProfile, profile_for_user_agent
from dflab.scenario.case import Case

EPHEMERAL = (32768, 60999)  # Linux's default local port range (net.ipv4.ip_local_port_range)


@dataclass(frozen=True)
class Endpoint:
    """One IP as seen on the captured wire."""

    ip: str
    ip_raw: bytes
    mac: bytes  # the L2 address frames to/from this IP carry on the segment
    os: OsProfile
    hops: int  # routers between it and the capture point (its TTL arrives as os.ttl - hops)
    rtt_us: int  # time from a frame seen at the capture point to this peer's answer being seen
    local: bool  # True for the capture host itself: it answers within microseconds of what it receives
    mbps: int  # rate of its path through the capture point: how far apart its back-to-back frames arrive
    ts_seed: int  # keys its TCP timestamp offsets (one per peer address)
    id_base: int  # where a global IP ID counter (Windows) stood at the epoch
    id_rate: int  # packets per second that counter advances by (the host's other traffic)

    @property
    def ttl(self) -> int:
        return self.os.ttl - self.hops

    def react_us(self, rng: random.Random) -> int:
        """Delay until this endpoint's answer to something it just saw shows up in the capture."""
        if self.local:
            return randint(rng, 25, 260)
        return self.rtt_us + randint(rng, 0, max(1, self.rtt_us // 8)) + randint(rng, 20, 200)


def randint(rng: random.Random, low: int, high: int) -> int:
    """``rng.randint(low, high)``: the same number from the same stream, drawn as CPython's ``Random`` draws it
    (``getrandbits`` of the range's bit length, again while past the range), without ``randrange``'s argument
    checks, a third of its cost; the TCP writer draws one for nearly every frame (200,000 in a Windows capture)."""
    n = high - low + 1
    k = n.bit_length()
    r = rng.getrandbits(k)
    while r >= n:
        r = rng.getrandbits(k)
    return low + r


def derived_seed(*parts: object) -> int:
    """A 64-bit seed from the case seed and labels, so each stream of randomness is independent."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _client_profiles(case: Case) -> dict[str, OsProfile]:
    """Hosts whose User-Agent, in a planned HTTP request they send, names their OS."""
    out: dict[str, OsProfile] = {}
    for h in case.network.http:
        out.setdefault(case.host(h.client).ip, profile_for_user_agent(h.user_agent))
    return out


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
        self._os = _client_profiles(case)
        self._os[self.capture.ip] = LINUX
        self._cache: dict[str, Endpoint] = {}
        # Routers from the segment to the core of the office's provider, which every off-link path shares.
        self._uplink = random.Random(derived_seed(case.seed, "network-uplink")).randint(4, 7)

    def on_link(self, ip: str) -> bool:
        return ipaddress.IPv4Address(ip) in self.lan

    def endpoint(self, ip: str) -> Endpoint:
        """The endpoint for ``ip``: a case host, or a background server :meth:`remote` made earlier.

        A case host off the segment is a rented server or a home connection in the region: 8 to 60 ms away,
        2 to 8 routers beyond the office's provider.
        """
        if ip not in self._cache:
            self._cache[ip] = self._make(ip, self._os.get(ip, LINUX), (8_000, 60_000), (2, 8))
        return self._cache[ip]

    def remote(self, ip: str, os: OsProfile, rtt_range: tuple[int, int], hops: tuple[int, int]) -> Endpoint:
        """A background server off the segment, running ``os``, ``rtt_range`` µs and ``hops`` routers beyond the
        office's provider away (the first call decides)."""
        if ip not in self._cache:
            self._cache[ip] = self._make(ip, os, rtt_range, hops)
        return self._cache[ip]

    def _make(self, ip: str, os: OsProfile, rtt_range: tuple[int, int], hops: tuple[int, int]) -> Endpoint:
        rng = random.Random(derived_seed(self._seed, "network-peer", ip))
        habits = {"ts_seed": rng.getrandbits(64), "id_base": rng.getrandbits(16), "id_rate": rng.randint(20, 3_000)}
        if ip == self.capture.ip:
            return Endpoint(ip, ip_bytes(ip), mac_bytes(self.capture.mac), os, 0, 0, True, 1000, **habits)
        if self.on_link(ip):
            if ip not in self._macs:
                raise EvidenceError(f"on-link peer {ip} is not a case host, so its MAC is unknown", "network")
            return Endpoint(ip, ip_bytes(ip), mac_bytes(self._macs[ip]), os, 0, rng.randint(150, 600), False, 1000,
                            **habits)
        return Endpoint(ip, ip_bytes(ip), mac_bytes(self.gateway.mac), os, self._uplink + rng.randint(*hops),
                        rng.randint(*rtt_range), False, rng.choice((50, 100, 200, 300, 500)), **habits)

    def ts_offset(self, src: str, dst: str) -> int:
        """The random offset Linux (4.13+) adds to its millisecond clock in TSval, one per address pair."""
        return derived_seed(self._seed, "tcp-ts", src, dst) & 0xFFFFFFFF

    def check_touches(self, a: str, b: str, where: str) -> None:
        """Refuse a flow the capture on this segment could not have seen."""
        if not (self.on_link(a) or self.on_link(b)):
            raise EvidenceError(f"flow between {a} and {b} does not cross the captured segment {self.lan}", where)
