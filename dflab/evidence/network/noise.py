"""Benign background traffic: DNS lookups, small HTTP GETs, NTP polls and ARP, all complete exchanges.

Everything is drawn from ``random.Random(network.noise_seed)`` so a trainee's
capture is reproducible yet differs between variants.  Noise always comes from
the capture host, uses client ports no planned flow uses, and stays inside the
capture window; exactly ``network.noise_packets`` frames are produced.
"""

from __future__ import annotations

import random

from dflab.errors import EvidenceError
from dflab.evidence.network.arp import arp_exchange, gratuitous_arp
from dflab.evidence.network.conversation import Conversation, Frame, to_us, udp_exchange
from dflab.evidence.network.dns import dns_lookup
from dflab.evidence.network.http import http_exchange, request_bytes, response_bytes
from dflab.evidence.network.ntp import ntp_messages
from dflab.evidence.network.segment import Segment
from dflab.scenario.case import Case

# (host name, path, user agent, server software) of harmless web fetches.
WEB = (
    ("connectivity-check.ubuntu.com", "/", "NetworkManager/1.36.6", "nginx"),
    ("archive.ubuntu.com", "/ubuntu/dists/jammy-updates/InRelease", "Debian APT-HTTP/1.3 (2.4.11)",
     "Apache/2.4.29 (Ubuntu)"),
    ("security.ubuntu.com", "/ubuntu/dists/jammy-security/InRelease", "Debian APT-HTTP/1.3 (2.4.11)",
     "Apache/2.4.29 (Ubuntu)"),
    ("detectportal.firefox.com", "/canonical.html", "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) "
     "Gecko/20100101 Firefox/121.0", "nginx"),
    ("www.debian.org", "/News/index.en.html", "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) "
     "Gecko/20100101 Firefox/121.0", "Apache/2.4.52 (Ubuntu)"),
)
LOOKUPS = ("www.google.com", "fonts.gstatic.com", "api.snapcraft.io", "motd.ubuntu.com", "changelogs.ubuntu.com",
           "ocsp.digicert.com", "www.wikipedia.org", "github.com")
NTP_NAME = "ntp.ubuntu.com"
WORDS = ("quarterly", "update", "meeting", "notes", "release", "security", "mirror", "package", "index", "news",
         "weather", "team", "report", "status", "service", "network", "office", "welcome")
KINDS = ("dns", "http", "ntp", "arp")
WEIGHTS = (35, 30, 15, 20)
EPHEMERAL = (32768, 60999)  # Linux's default local port range


class NoiseMaker:
    """Draws noise units (a few frames of one exchange each) until the budget is spent."""

    def __init__(self, case: Case, seg: Segment, reserved_ports: set[int], resolver_ip: str) -> None:
        net = case.network
        self.rng = random.Random(net.noise_seed)
        self.seg = seg
        self.client = seg.endpoint(seg.capture.ip)
        self.resolver_ip = resolver_ip
        self.reserved_ports = frozenset(reserved_ports)
        self.used_ports = set(self.reserved_ports)
        self.lo = to_us(net.start) + 1_000_000
        self.hi = to_us(net.end) - 5_000_000
        if net.noise_packets and self.hi <= self.lo:
            raise EvidenceError("capture window shorter than 6 s leaves no room for noise", "network.start/end")
        case_ips = {h.ip for h in case.hosts}
        self.ips: dict[str, str] = {}
        for name in [w[0] for w in WEB] + list(LOOKUPS) + [NTP_NAME]:
            ip = self._public_ip()
            while ip in case_ips or ip in self.ips.values() or seg.on_link(ip):
                ip = self._public_ip()
            self.ips[name] = ip
        self.on_link_peers = [seg.endpoint(ip) for ip in sorted({seg.gateway.ip, resolver_ip})
                              if ip != self.client.ip]

    def _public_ip(self) -> str:
        r = self.rng
        return f"{r.choice((23, 34, 52, 91, 104, 142, 151, 185))}.{r.randint(0, 255)}.{r.randint(0, 255)}." \
               f"{r.randint(1, 254)}"

    def _port(self) -> int:
        """A fresh ephemeral client port; once all are spent they are reused, as a busy host does."""
        if len(self.used_ports) >= EPHEMERAL[1] - EPHEMERAL[0] + 1:
            self.used_ports = set(self.reserved_ports)
        while True:
            port = self.rng.randint(*EPHEMERAL)
            if port not in self.used_ports:
                self.used_ports.add(port)
                return port

    def frames(self, budget: int) -> list[list[Frame]]:
        """Exactly ``budget`` frames, grouped by the unit (exchange) they belong to."""
        units: list[list[Frame]] = []
        while budget > 0:
            t = self.rng.randint(self.lo, self.hi)
            kind = self.rng.choices(KINDS, WEIGHTS)[0]
            unit = getattr(self, f"_{kind}")(t)
            if len(unit) > budget:
                unit = self._dns(t) if budget >= 2 else [gratuitous_arp(t, self.seg.endpoint(self.seg.gateway.ip))]
            units.append(unit)
            budget -= len(unit)
        return units

    def _lookup(self, t: int, name: str) -> Conversation:
        return dns_lookup(self.seg, self.rng, t, self.client.ip, self._port(), self.resolver_ip,
                          self.rng.getrandbits(16), name, self.ips[name], self.rng.choice((60, 300, 900, 3600)))

    def _dns(self, t: int) -> list[Frame]:
        return self._lookup(t, self.rng.choice(LOOKUPS)).frames

    def _http(self, t: int) -> list[Frame]:
        name, path, agent, server = self.rng.choice(WEB)
        lookup = self._lookup(t, name)
        t_conn = max(f[0] for f in lookup.frames) + self.client.react_us(self.rng)
        words = " ".join(self.rng.choices(WORDS, k=self.rng.randint(20, 900)))
        body = f"<!DOCTYPE html>\n<html><head><title>{name}</title></head><body><p>{words}</p></body></html>\n"
        request = request_bytes("GET", name, path, agent)
        response = response_bytes(200, "text/html; charset=utf-8", body.encode(), t_conn, server)
        http = http_exchange(self.seg, self.rng, t_conn, self.client.ip, self._port(), self.ips[name], 80,
                             request, response)
        return lookup.frames + http.frames

    def _ntp(self, t: int) -> list[Frame]:
        server = self.seg.endpoint(self.ips[NTP_NAME])
        conv = Conversation("udp", self.client, self._port(), server, 123)
        t_answer = t + server.react_us(self.rng)
        request, reply = ntp_messages(t, t_answer)
        udp_exchange(conv, self.rng, t, request, reply, t_answer)
        return conv.frames

    def _arp(self, t: int) -> list[Frame]:
        peer = self.rng.choice(self.on_link_peers)
        if self.rng.random() < 0.5:
            return arp_exchange(self.rng, t, self.client, peer)
        return arp_exchange(self.rng, t, peer, self.client)
