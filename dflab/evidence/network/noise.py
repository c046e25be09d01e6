"""Background traffic: what a Debian 12 GNOME desktop with Firefox ESR sends and receives while the story unfolds.

The capture host is one machine with one habit of its own, walked through the capture window in time order:

* its user opens web pages (:data:`~dflab.evidence.network.sites.SITES`): each host name of a page is looked up
  (A and AAAA by glibc, which caches nothing; Firefox keeps an answer 60 s whatever its TTL) and contacted
  over TLS 1.3 on port 443; the connection idles until Firefox (115 s) or the server gives up on it, and now and
  then it is reset instead, or loses a segment;
* Firefox and the desktop call their services now and then (telemetry, remote settings, Safe Browsing, fwupd);
* Firefox checks for a captive portal (plain HTTP, ``detectportal.firefox.com/canonical.html``, its User-Agent)
  60 s after it starts, then five times further apart each time up to every 25 minutes; systemd-timesyncd polls
  the Debian pool's server at 32 s doubling to 2048 s from boot, Linux re-checks the resolver's MAC a few seconds
  after a lookup when the entry has gone stale, and the router asks for the workstation's address now and then;
  the segment carries other hosts' ARP broadcasts too;
* NetworkManager renews the DHCP lease at the times the logs show (:mod:`.dhcp`, from
  :func:`dflab.scenario.traces.story.renewals`: the logs' plan owns them, the capture reads them);
* the office's other devices browse with multicast DNS and the workstation's avahi answers for its name and asks
  for printers (:mod:`.mdns`).

Everything else is drawn from ``random.Random(network.noise_seed)``: a trainee's capture is reproducible and differs
from the next trainee's. Exactly ``network.noise_packets`` frames come out: random activities arrive at the rate
that spreads the budget left over the time left, whatever does not fit is left out, and ARP broadcasts fill the
last few frames; the renewals are taken out of the budget first, as they are the logs' and always there. Frames
after the capture's end (a connection still open) are cut, as the capture cut them.
Only integer draws and plain arithmetic decide anything (no logarithms: a libm may round them differently), so
the bytes are the same on every machine.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field, replace

from dflab.errors import EvidenceError
from dflab.evidence.network import mdns
from dflab.evidence.network.arp import arp_exchange
from dflab.evidence.network.conversation import Conversation, Frame, to_us, udp_exchange
from dflab.evidence.network.dhcp import renewal
from dflab.evidence.network.dns import Answer, lookup
from dflab.evidence.network.frames import arp_frame, pad
from dflab.evidence.network.http import http_exchange, response_bytes
from dflab.evidence.network.ntp import ntp_messages
from dflab.evidence.network.segment import EPHEMERAL, Endpoint, Segment, derived_seed
from dflab.evidence.network.sites import (
    APPS,
    CONNECTIVITY,
    LONG_TAIL,
    NTP,
    PROVIDERS,
    SERVICES,
    SITES,
    THIRD_PARTIES,
    UPLOADS,
    Host,
    Site,
    firefox_user_agent,
)
from dflab.evidence.network.tcp import TcpSession
from dflab.evidence.network.tls import Exchange, close_notify, tls_session
from dflab.scenario.case import Case
from dflab.scenario.traces.story import renewals

SECOND = 1_000_000
FIREFOX_IDLE_S = 115  # network.http.keep-alive.timeout
FIREFOX_DNS_CACHE_S = 60  # network.dnsCacheExpiration
LOSS = 0.01  # chance a message's last segment is lost past the capture point
RESET = 0.015  # chance Firefox resets a connection instead of closing it
FAVOURITES = 0.35  # share of page visits to the user's usual sites (the rest: the long tail, seldom twice)
# Firefox's captive-portal service: network.captive-portal-service.minInterval, maxInterval, backoffFactor
CHECK_FIRST, CHECK_MAX, CHECK_BACKOFF = 60 * SECOND, 1500 * SECOND, 5
FIREFOX_START_S = (40, 240)  # seconds after boot the user's desktop session starts Firefox
POLL_MIN, POLL_MAX = 32 * SECOND, 2048 * SECOND  # systemd-timesyncd
NUD_DELAY = 5 * SECOND  # Linux's delay_first_probe_time
# Polls on a clock of their own: Safe Browsing's list updates (30 min), Mozilla's tracking-protection lists
# (60 min), telemetry pings (every 10 to 40 min).
POLLS = ((SERVICES[3], 1800, 1800), (SERVICES[4], 3600, 3600), (SERVICES[2], 600, 2400))
CANONICAL = b'<meta http-equiv="refresh" content="0;url=https://support.mozilla.org/kb/captive-portal"/>\n'
PERIODIC_SIZE = {"ntp": 2, "check": 16, "router-arp": 2, "poll": 40, "mdns": 2}
# The segment's mDNS habits: (role, stack, seconds between two of its queries, low and high)
MDNS_ROLES = (("cast-phone", "linux", 120, 600), ("tv", "linux", 0, 0), ("printer", "linux", 0, 0),
              ("laptop", "windows", 240, 900), ("macbook", "apple", 120, 700), ("colleague", "linux", 300, 1500))
AVAHI_BROWSE_S = (12, 25)  # seconds after boot cups-browsed starts browsing for printers through avahi
ACTIVITIES = (("visit", 55), ("app", 20), ("upload", 10), ("service", 10))


@dataclass
class _State:
    """What the workstation remembers between activities (copied, so a rejected activity leaves no trace)."""

    # name → when Firefox looked it up and when its host cache drops it (a page's assets are looked up a moment
    # after the activity starts, so the next activity may come before a lookup of the last one)
    cached: dict[str, tuple[int, int]] = field(default_factory=dict)
    ports: set[int] = field(default_factory=set)
    resolver_confirmed: int = 0  # when the resolver's MAC was last confirmed
    reachable_us: int = 30 * SECOND

    def copy(self) -> _State:
        return replace(self, cached=dict(self.cached), ports=set(self.ports))


@dataclass(frozen=True)
class _Event:
    """One tick of the desktop's clockwork: when, what, and for a poll the host it calls."""

    t: int
    kind: str
    host: Host | None = None
    detail: str = ""  # an mDNS event's querier


class NoiseMaker:
    """Walks the capture window in time order, producing the background's units (the frames of one activity)."""

    def __init__(self, case: Case, seg: Segment, reserved_ports: set[int], resolver_ip: str) -> None:
        net = case.network
        self.rng = random.Random(net.noise_seed)
        self.seg = seg
        self.client = seg.endpoint(seg.capture.ip)
        self.resolver = seg.endpoint(resolver_ip)
        self.gateway = seg.endpoint(seg.gateway.ip)
        self.reserved = frozenset(reserved_ports)
        self.start, self.end = to_us(net.start), to_us(net.end)
        self.boot = to_us(case.memory.boot_time)
        self.lo = self.start + SECOND
        self.hi = self.end - SECOND
        if net.noise_packets and self.hi <= self.lo:
            raise EvidenceError("capture window shorter than 2 s leaves no room for background traffic",
                                "network.start/end")
        self.taken = {h.ip for h in case.hosts}
        self.answers = self._addresses()
        self.state = _State(ports=set(self.reserved))
        self.others = self._lan_neighbours(case)
        self._mdns_setup(case)
        self.leases = self._leases(case)

    # -- addresses -------------------------------------------------------------------------------------------
    def _draw(self, prefixes: tuple[str, ...] | str, pool: list[str]) -> str:
        nets = [ipaddress.ip_network(p) for p in ((prefixes,) if isinstance(prefixes, str) else prefixes)]
        while True:
            net = self.rng.choice(nets)
            host = net.network_address + self.rng.randrange(1, net.num_addresses - 1)
            text = str(host)
            if net.version == 6 or (text not in self.taken and not self.seg.on_link(text) and text not in pool):
                return text

    def _addresses(self) -> dict[str, Answer]:
        """Every background name's answer: its provider's edge addresses, shared by names with the same chain end."""
        pools: dict[str, tuple[list[str], list[str]]] = {}
        for name, p in PROVIDERS.items():
            v4: list[str] = []
            for _ in range(self.rng.randint(4, 9)):
                v4.append(self._draw(p.ipv4, v4))
            v6 = [self._draw(p.ipv6, []) for _ in range(len(v4))] if p.ipv6 else []
            pools[name] = (v4, v6)
        ends: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        answers = {}
        hosts = [h for s in SITES + LONG_TAIL for h in (s.main, *s.assets)]
        hosts += [*THIRD_PARTIES, *UPLOADS, *APPS, *SERVICES, CONNECTIVITY, NTP]
        for h in hosts:
            p = PROVIDERS[h.provider]
            end = h.chain[-1] if h.chain else h.name
            if end not in ends:
                v4, v6 = pools[h.provider]
                k = self.rng.choice((1, 1, 2, 2, 3, 4))
                picked = self.rng.sample(range(len(v4)), min(k, len(v4)))
                ends[end] = (tuple(v4[i] for i in picked), tuple(v6[i] for i in picked) if v6 else ())
            zone = ".".join(end.split(".")[-2:]) if not h.chain else p.zone
            answers[h.name] = Answer(h.chain, *ends[end], p.ttl, zone)
        return answers

    def _lan_neighbours(self, case: Case) -> list[str]:
        """Other machines on the segment, whose ARP broadcasts the mirror port carries too."""
        known = {h.ip for h in case.hosts}
        hosts = list(self.seg.lan.hosts())
        picked: list[str] = []
        while len(picked) < 6:
            ip = str(self.rng.choice(hosts))
            if ip not in known and ip not in picked:
                picked.append(ip)
        return picked

    def _server(self, host: Host) -> Endpoint:
        p = PROVIDERS[host.provider]
        return self.seg.remote(self.answers[host.name].ipv4[0], p.os, p.rtt_us, p.hops)

    def _port(self, state: _State) -> int:
        """A fresh ephemeral client port; once all are spent they are reused, as a busy host does."""
        if len(state.ports) >= EPHEMERAL[1] - EPHEMERAL[0] + 1:
            state.ports = set(self.reserved)
        while True:
            port = self.rng.randint(*EPHEMERAL)
            if port not in state.ports:
                state.ports.add(port)
                return port

    # -- the walk --------------------------------------------------------------------------------------------
    def frames(self, budget: int) -> list[list[Frame]]:
        """Exactly ``budget`` frames, grouped by the activity they belong to."""
        if budget <= 0:
            return []
        units: list[list[Frame]] = [unit for unit in self.leases if unit]
        budget -= sum(len(unit) for unit in units)
        if budget < 0:
            raise EvidenceError(f"noise_packets leaves no room for the {len(units)} DHCP renewals the logs show "
                                "inside the capture window", "network.noise_packets")
        clockwork = self._schedule()
        spent, mean, done = 0, 150.0, 0  # frames so far; running mean size of a random activity, and their count
        t, i = self.lo, 0
        while True:
            free = budget - spent - sum(PERIODIC_SIZE[e.kind] for e in clockwork[i:])  # what random activities may use
            t_next = self._next_activity(t, free, mean)
            t_clock = clockwork[i].t if i < len(clockwork) else self.end
            if min(t_next, t_clock) > self.hi:
                break
            if t_clock <= t_next:
                event, i, t = clockwork[i], i + 1, t_clock
                unit = self._commit(event.kind, t, budget - spent, event.host, event.detail)
            else:
                t = t_next
                first = self.rng.choices([k for k, _ in ACTIVITIES], [w for _, w in ACTIVITIES])[0]
                unit = self._commit(first, t, free) or self._commit("service", t, free)
                if unit:
                    done += 1
                    mean += (len(unit) - mean) / min(done + 1, 20)
            units += [unit] if unit else []
            spent += len(unit)
        units += [[self._broadcast(self.rng.randint(self.lo, self.hi))] for _ in range(budget - spent)]
        return units

    def _next_activity(self, t: int, free: int, mean: float) -> int:
        """When the next random activity starts: on average, the time left shared among the activities ``free``
        frames hold (past the window when too little is left, unless too much would be left over)."""
        if free <= 24:
            return self.end
        mean_gap = max(1, self.hi - t) * mean / free
        t_next = t + self.rng.randint(0, int(2 * mean_gap))
        if t_next > self.hi and free > 2 * PERIODIC_SIZE["poll"]:
            t_next = self.rng.randint(t, self.hi)
        return t_next

    def _commit(self, kind: str, t: int, room: int, host: Host | None = None, detail: str = "") -> list[Frame]:
        """Render activity ``kind`` at ``t``; keep it (and what the workstation learnt) if it fits in ``room``."""
        state = self.state.copy()
        if host is not None:  # a poll of that host
            frames = self._call(t, host, state)
        elif kind == "mdns":
            frames = self._mdns(t, detail)
        else:
            frames = getattr(self, "_" + kind.replace("-", "_"))(t, state)
        frames = [f for f in frames if f[0] <= self.end]
        if not frames or len(frames) > room:
            return []
        self.state = state
        return frames

    def _schedule(self) -> list[_Event]:
        """The desktop's clockwork inside the window: timesyncd polls, captive-portal checks, the router's ARP,
        Firefox's list updates and telemetry."""
        out: list[_Event] = []
        poll, at = POLL_MIN, self.boot + self.rng.randint(2, 9) * SECOND  # first sync soon after boot
        while at < self.hi:
            if at >= self.lo:
                out.append(_Event(at + self.rng.randint(0, 999_999), "ntp"))
            at += poll
            poll = min(POLL_MAX, 2 * poll)
        gap, at = CHECK_FIRST, self.boot + self.rng.randint(*FIREFOX_START_S) * SECOND + CHECK_FIRST
        while at < self.hi:
            if at >= self.lo:
                out.append(_Event(at + self.rng.randint(0, 400_000), "check"))
            gap = min(CHECK_MAX, gap * CHECK_BACKOFF)
            at += gap
        at = self.lo + self.rng.randint(0, 240) * SECOND
        while at < self.hi:
            out.append(_Event(at, "router-arp"))
            at += self.rng.randint(60, 300) * SECOND
        for host, low, high in POLLS:
            at = self.lo + self.rng.randint(0, low) * SECOND
            while at < self.hi:
                out.append(_Event(at, "poll", host))
                at += self.rng.randint(low, high) * SECOND
        for role, _, low, high in MDNS_ROLES:
            if not high:
                continue  # answers only
            at = self.lo + self.rng.randint(0, high) * SECOND + self.rng.randint(0, 999_999)
            while at < self.hi:
                out.append(_Event(at, "mdns", detail=role))
                at += self.rng.randint(low, high) * SECOND + self.rng.randint(0, 999_999)
        browse = self.boot + self.rng.randint(*AVAHI_BROWSE_S) * SECOND + self.rng.randint(0, 999_999)
        out += [_Event(at, "mdns", detail="avahi") for at in mdns.continuous(browse, self.lo, self.hi)]
        return sorted(out, key=lambda e: e.t)

    def _broadcast(self, t: int) -> Frame:
        """An ARP request another machine broadcasts on the segment (the router asking for a neighbour, ...)."""
        who = self.rng.choice(self.others)
        if self.rng.random() < 0.5:
            return t, pad(arp_frame(1, self.gateway.mac, self.gateway.ip, b"\0" * 6, who))
        return t, pad(arp_frame(1, _neighbour_mac(who), who, b"\0" * 6, self.gateway.ip))

    # -- the logs' DHCP renewals and the segment's mDNS ----------------------------------------------------
    def _leases(self, case: Case) -> list[list[Frame]]:
        """The DHCP renewals of the incident's boot that fall inside the capture window, at the logs' times."""
        if case.network.capture_host != case.suspect_host:
            return []
        from dflab.scenario.ostree.etc import nameserver  # the DNS server /etc/resolv.conf names

        dns = nameserver(case) or self.gateway.ip
        rng = random.Random(derived_seed(case.seed, "network-dhcp"))
        hostname = case.host(case.suspect_host).hostname
        out = []
        for logged in renewals(bytes.fromhex(case.seed), float(case.memory.boot_time),
                               float(case.memory.acquired_at)):
            if self.start <= to_us(logged) <= self.end:
                frames = renewal(rng, logged, self.client, self.gateway, hostname, dns)
                out.append([f for f in frames if self.start <= f[0] <= self.end])
        return out

    def _mdns_setup(self, case: Case) -> None:
        """Who speaks mDNS on the segment: the other machines in their roles, the suspect's avahi."""
        self.devices = {role: mdns.Device(ip, _neighbour_mac(ip), stack)
                        for (role, stack, _, _), ip in zip(MDNS_ROLES, self.others, strict=False)}
        self.avahi = mdns.Avahi(mdns.Device(self.client.ip, self.client.mac, "linux"),
                                case.host(case.network.capture_host).hostname)
        self.cast = mdns.googlecast(self.rng, self.devices["tv"].ip)
        ip = self.devices["printer"].ip  # one printer: IPP and IPPS, named alike (each from the same draws)
        self.printers = [mdns.printer(random.Random(derived_seed(case.seed, "mdns-printer")), ip, kind)
                         for kind in ("_ipp._tcp.local", "_ipps._tcp.local")]

    def _mdns(self, t: int, who: str) -> list[Frame]:
        """One querier's query and the answers it draws."""
        if who == "avahi":  # cups-browsed's browse, the printer's PTRs known: it stays silent
            left = self.rng.randint(mdns.SERVICE_TTL // 2, mdns.SERVICE_TTL)  # both cached from one answer
            known = [p.ptr(left) for p in self.printers]
            return [self.avahi.device.frame(self.rng, t, mdns.query([(p.kind, mdns.PTR) for p in self.printers],
                                                                    known))]
        device = self.devices[who]
        if who == "colleague":  # ssh <host>.local, or a look at whose address that is
            name, qtype = ((self.avahi.host, mdns.A) if self.rng.random() < 0.8
                           else (mdns.reverse_v4(self.client.ip), mdns.PTR))
            answer = self.avahi.answer(name, qtype)
            frames = [device.frame(self.rng, t, mdns.query([(name, qtype)]))]
            if answer is not None:
                at = t + self.client.react_us(self.rng) + self.rng.randint(200, 3_000)
                frames.append(self.avahi.device.frame(self.rng, at, answer))
            return frames
        if who == "macbook":
            kinds = ["_airplay._tcp.local", "_raop._tcp.local", "_spotify-connect._tcp.local"]
            return [device.frame(self.rng, t, mdns.query([(k, mdns.PTR) for k in kinds]))]
        service = self.cast if who == "cast-phone" or self.rng.random() < 0.6 else self.printers[0]
        responder = self.devices["tv" if service is self.cast else "printer"]
        shared = t + self.rng.randint(20_000, 120_000)  # a shared answer's random delay
        return [device.frame(self.rng, t, mdns.query([(service.kind, mdns.PTR)])),
                responder.frame(self.rng, shared, service.response())]

    # -- activities ------------------------------------------------------------------------------------------
    def _resolve(self, t: int, host: Host, state: _State) -> tuple[list[Frame], int]:
        """Look ``host`` up unless Firefox's host cache still holds it; the frames and when the address is known.

        A Debian 12 desktop has no caching resolver (no systemd-resolved; glibc asks the DHCP server's resolver
        every time), so only Firefox's own cache (``network.dnsCacheExpiration``, 60 s, not the record's TTL)
        spares the wire; past it Firefox asks again (its grace period refreshes in the background)."""
        asked, expires = state.cached.get(host.name, (0, 0))
        if asked <= t < expires:
            return [], t + self.client.react_us(self.rng)
        answer = self.answers[host.name]
        fresh = self.rng.random() < 0.3  # nobody asked the resolver recently: the authority's full TTL
        remaining = answer.ttl if fresh else self.rng.randint(max(1, answer.ttl // 10), answer.ttl)
        answer = replace(answer, ttl=remaining)
        a, aaaa = lookup(self.seg, self.rng, t, self.client.ip, self.resolver.ip, host.name, answer,
                         self._port(state), self.rng.randrange(1, 65536))
        state.cached[host.name] = (t, t + FIREFOX_DNS_CACHE_S * SECOND)
        frames = a.frames + aaaa.frames
        known = max(f[0] for f in a.frames) + self.client.react_us(self.rng)
        if t - state.resolver_confirmed > state.reachable_us:  # stale: probe it once the delay has passed
            probe = t + NUD_DELAY + self.rng.randint(0, 200_000)
            frames += arp_exchange(self.rng, probe, self.client, self.resolver, unicast=True)
            state.resolver_confirmed = probe
            state.reachable_us = self.rng.randint(15, 45) * SECOND
        return frames, known

    def _tls(self, t: int, host: Host, exchanges: list[Exchange], state: _State) -> list[Frame]:
        p = PROVIDERS[host.provider]
        conv = Conversation("tcp", self.client, self._port(state), self._server(host), 443)
        session = TcpSession(conv, self.rng, t, loss=LOSS)
        session.open()
        tls_session(session, self.rng, host.name, exchanges, pq=p.pq, certificate=self.rng.randint(*p.certificate))
        server_idle = self.rng.randint(*p.idle_s)
        if self.rng.random() < RESET:
            session.abort(True)
        elif server_idle < FIREFOX_IDLE_S:
            close_notify(session, self.rng, False, server_idle * SECOND)
        else:
            close_notify(session, self.rng, True, FIREFOX_IDLE_S * SECOND + self.rng.randint(0, 999_999))
        return conv.frames

    def _exchanges(self, total: int, first_request: int) -> list[Exchange]:
        """``total`` bytes of responses in one to six requests, fetched as a page loads."""
        n = max(1, min(6, total // 40_000 + self.rng.randint(0, 2)))
        cuts = sorted(self.rng.randint(0, total) for _ in range(n - 1))
        sizes = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
        return [Exchange(first_request if k == 0 else self.rng.randint(60, 260), max(120, size) + 300,
                         0 if k == 0 else self.rng.randint(2_000, 600_000), self.rng.randint(3_000, 120_000))
                for k, size in enumerate(sizes)]

    def _visit(self, t: int, state: _State) -> list[Frame]:
        """A page: its own host first, then (once its HTML arrives) its asset hosts and a few third parties."""
        site: Site = self.rng.choice(SITES if self.rng.random() < FAVOURITES else LONG_TAIL)
        total = self.rng.randint(*site.page_kib) * 1024
        own = self.rng.sample(site.assets, self.rng.randint((len(site.assets) + 1) // 2, len(site.assets)))
        others = self.rng.sample(THIRD_PARTIES, self.rng.randint(2, 7))
        frames, known = self._resolve(t, site.main, state)
        share = self.rng.randint(15, 35) * total // 100
        main = self._tls(known, site.main, self._exchanges(share, self.rng.randint(450, 800)), state)
        frames += main
        t_assets = sorted(f[0] for f in main)[min(len(main) - 1, 12)]  # once the page's HTML is arriving
        for k, host in enumerate(own + others):
            at = t_assets + k * self.rng.randint(200, 30_000)
            found, known = self._resolve(at, host, state)
            frames += found
            part = (total - share) // len(own) if host in own else self.rng.randint(300, 30_000)
            frames += self._tls(known, host, self._exchanges(part, self.rng.randint(300, 600)), state)
        return frames

    def _app(self, t: int, state: _State) -> list[Frame]:
        """A web app's tab: its page, then one connection trickling small messages both ways for minutes."""
        host = self.rng.choice(APPS)
        frames, known = self._resolve(t, host, state)
        exchanges = [Exchange(self.rng.randint(500, 900), self.rng.randint(20_000, 120_000), 0, 60_000)]
        at = 0
        for _ in range(self.rng.randint(6, 40)):
            gap = self.rng.randint(2, 45) * SECOND + self.rng.randint(0, 999_999)
            at += gap
            exchanges.append(Exchange(self.rng.randint(40, 900), self.rng.randint(30, 4_000), gap,
                                      self.rng.randint(2_000, 80_000)))
        return frames + self._tls(known, host, exchanges, state)

    def _upload(self, t: int, state: _State) -> list[Frame]:
        """The user saves a document to the cloud: one upload of tens of kilobytes to a megabyte or two."""
        host = self.rng.choice(UPLOADS)
        frames, known = self._resolve(t, host, state)
        scale = self.rng.randint(15, 20)  # 32 KiB to 2 MiB, as many small documents as large ones
        size = self.rng.randint(2**scale, 2 ** (scale + 1))
        exchanges = [Exchange(self.rng.randint(600, 1_500), self.rng.randint(300, 2_000), 0, 40_000),
                     Exchange(size, self.rng.randint(400, 1_200), self.rng.randint(50_000, 900_000),
                              self.rng.randint(30_000, 400_000))]
        return frames + self._tls(known, host, exchanges, state)

    def _service(self, t: int, state: _State) -> list[Frame]:
        """One of the desktop's rarer calls (remote settings, new-tab tiles, fwupd's metadata, push)."""
        return self._call(t, self.rng.choice([h for h in SERVICES if h not in {p[0] for p in POLLS}]), state)

    def _call(self, t: int, host: Host, state: _State) -> list[Frame]:
        frames, known = self._resolve(t, host, state)
        upload = host is SERVICES[2]  # a telemetry ping carries its payload up
        request = self.rng.randint(2_000, 30_000) if upload else self.rng.randint(250, 900)
        exchanges = [Exchange(request, self.rng.randint(150, 6_000), 0, self.rng.randint(5_000, 150_000))]
        return frames + self._tls(known, host, exchanges, state)

    def _check(self, t: int, state: _State) -> list[Frame]:
        """Firefox's captive-portal check: GET /canonical.html, which the portal-free Internet answers with
        Mozilla's page (a portal would answer anything else)."""
        frames, known = self._resolve(t, CONNECTIVITY, state)
        request = (f"GET /canonical.html HTTP/1.1\r\nHost: {CONNECTIVITY.name}\r\n"
                   f"User-Agent: {firefox_user_agent()}\r\nAccept: */*\r\nAccept-Language: en-US,en;q=0.5\r\n"
                   "Accept-Encoding: gzip, deflate\r\nCache-Control: no-cache\r\nPragma: no-cache\r\n"
                   "Connection: keep-alive\r\n\r\n").encode()
        server = self._server(CONNECTIVITY)
        response = response_bytes(200, "text/html", CANONICAL, known, "nginx",
                                  ("Via: 1.1 google", "Cache-Control: public,must-revalidate,max-age=0,s-maxage=3600"))
        conv = http_exchange(self.seg, self.rng, known, self.client.ip, self._port(state), server.ip, 80, request,
                             response, loss=LOSS)
        return frames + conv.frames

    def _ntp(self, t: int, state: _State) -> list[Frame]:
        """systemd-timesyncd's poll from a fresh socket, to the Debian pool server it resolved at boot."""
        server = self._server(NTP)
        conv = Conversation("udp", self.client, self._port(state), server, 123)
        t_answer = t + server.react_us(self.rng)
        request, reply = ntp_messages(t, t_answer)
        udp_exchange(conv, self.rng, t, request, reply, t_answer, server_df=True)
        return conv.frames

    def _router_arp(self, t: int, state: _State) -> list[Frame]:
        """The router re-checks the workstation's MAC (broadcast who-has, unicast is-at)."""
        return arp_exchange(self.rng, t, self.gateway, self.client)


def _neighbour_mac(ip: str) -> bytes:
    """The MAC of another machine of the segment (a VM's: QEMU's OUI, then its address's last three bytes)."""
    return bytes([0x52, 0x54, 0x00]) + ipaddress.IPv4Address(ip).packed[1:]
