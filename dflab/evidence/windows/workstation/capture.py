"""The capture of the workstation's segment: the intruder's Remote Desktop sessions, Chrome's download of the
payload and the implant's beacons, inside a Windows 10 desktop's ordinary traffic.

The office mirrors the workstation's switch port to a capture box (the same dumpcap-on-Ubuntu box as dflab's Linux
cases, so the file's SHB/IDB name it). The capture runs from a few minutes before the intruder's first connection
until a few minutes after the second one ends: every step the story puts on the wire is inside it, with the night
in between (the workstation stays on; only its own services speak), so the beacons' stop at the intruder's sign-out
and their return at the user's next logon show as they happened.

What is on the wire comes from the same decisions as the disk: the RDP connections from ``intruder_ip`` and
``intruder_ports[step]`` that the Security log's 4624 (type 10) names, a few seconds before each logon (NLA
authenticates first); the payload's bytes, whole, in Chrome's HTTP response (plain HTTP, so ``--export-objects
http`` gives the disk's SHA-256; an https URL would leave only TLS records); the implant's beacons over Schannel TLS
to its server's name (looked up again whenever Dnscache's copy expires), every ``beacon_period_s`` with jitter, from
the payload's run to the first session's end (signing out ends the processes of the session, the implant the payload
started among them) and from the implant's start at the next logon on (the Run value). The persistence script's
PowerShell is local and sends nothing.

Why plain HTTP for the download: with an https URL the capture would hold a TLS session whose SNI is the host and
nothing an examiner could hash, so the bundled cases use http and the writer takes any URL as it is.

``capture_facts`` is what the answer key states, computed from the frames the writer made, never read back.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from dflab.evidence.network.conversation import Conversation, Frame
from dflab.evidence.network.dns import Answer
from dflab.evidence.network.http import response_bytes
from dflab.evidence.network.pcapio import CaptureInfo, pcapng_bytes
from dflab.evidence.network.profiles import LINUX, WINDOWS
from dflab.evidence.network.segment import derived_seed
from dflab.evidence.network.sites import PROVIDERS
from dflab.evidence.network.tcp import TcpSession
from dflab.evidence.network.tls import Exchange
from dflab.evidence.network.tls import close_notify as tls13_close
from dflab.evidence.windows.browser import USER_AGENT

from . import wintls
from .activity import visits
from .chrome import chrome_session
from .decisions import DOWNLOAD_MIME, Decisions
from .description import WorkstationCase
from .netplan import EPHEMERAL, SECOND, NetworkPlan, plan_network, us
from .rdp import rdp_certificate, rdp_conversation, rdp_session
from .windns import windows_lookup
from .winnoise import Background

CHROME_USER_AGENT = USER_AGENT  # the History's Chrome (dflab.evidence.windows.browser.version)
DOWNLOAD_SERVER = "Apache/2.4.58 (Ubuntu)"
KEEPALIVE_S = 5  # Apache's KeepAliveTimeout: it closes Chrome's idle connection
C2_USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Trident/7.0; rv:11.0) like Gecko"


@dataclass(frozen=True)
class Built:
    """The frames in time order, which of them the story made (indices), and the key's facts."""

    frames: list[Frame]
    planned: frozenset[int]
    facts: dict[str, Any]
    start_us: int
    end_us: int


def iso(t_us: int) -> str:
    """µs since the epoch as the key writes times: UTC, microseconds, ``Z``."""
    return datetime.fromtimestamp(t_us // SECOND, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{t_us % SECOND:06d}Z"


def _conv_facts(conv: Conversation) -> dict[str, Any]:
    times = [t for t, _ in conv.frames]
    return {"client_ip": conv.client.ip, "client_port": conv.client_port, "server_ip": conv.server.ip,
            "server_port": conv.server_port, "start": iso(min(times)), "end": iso(max(times)),
            "packets": sum(conv.packets), "frame_bytes_client_to_server": conv.frame_bytes[0],
            "frame_bytes_server_to_client": conv.frame_bytes[1],
            "payload_bytes_client_to_server": conv.payload_bytes[0],
            "payload_bytes_server_to_client": conv.payload_bytes[1]}


class _Story:
    """Makes the story's conversations, each from its own random stream (so none depends on the background)."""

    def __init__(self, case: WorkstationCase, decided: Decisions, plan: NetworkPlan,
                 window: tuple[int, int]) -> None:
        self.case, self.decided, self.plan, self.window = case, decided, plan, window
        self.seed = case.seed
        self.ws = plan.endpoint(plan.workstation_ip, WINDOWS, self.seed)
        self.resolver = plan.endpoint(plan.gateway_ip, LINUX, self.seed)
        self.convs: list[Conversation] = []
        self.ports: set[int] = {port for port, _, _ in plan.rdp}
        self.rng = random.Random(derived_seed(self.seed, "windows-story"))

    def port(self) -> int:
        while (port := self.rng.randint(*EPHEMERAL)) in self.ports:
            pass
        self.ports.add(port)
        return port

    def rdp(self) -> list[dict[str, Any]]:
        intruder = self.plan.endpoint(self.plan.intruder_ip, WINDOWS, self.seed)
        cert = rdp_certificate(random.Random(derived_seed(self.seed, "rdp-cert")), self.case.computer_name.upper(),
                               self.case.timeline.installed)
        out = []
        for n, (port, start, end) in enumerate(self.plan.rdp):
            conv = rdp_conversation(intruder, port, self.ws)
            rdp_session(conv, random.Random(derived_seed(self.seed, "rdp", n)), start, end, self.case.user.name, cert)
            self.convs.append(conv)
            out.append(_conv_facts(conv))
        return out

    def _lookup(self, rng: random.Random, t: int, name: str, answer: Answer) -> int:
        """Dnscache's lookup of ``name`` at ``t``; when the program can connect."""
        convs, t_answer = windows_lookup(rng, t, self.ws, self.resolver, name, answer, (self.port(), self.port()))
        self.convs += convs
        return t_answer + rng.randint(200, 900)

    def google(self) -> list[dict[str, Any]]:
        """The intruder's Google visits before the download (History's typed page and search, time for time): one
        HTTP/2 connection to www.google.com kept open from the first to the second, a second one to its assets."""
        rng = random.Random(derived_seed(self.seed, "google"))
        google = [v for v in visits(self.case, self.decided) if v.url.startswith("https://www.google.com/")]
        if not google:
            return []
        provider = PROVIDERS["google"]
        net = ipaddress.ip_network(provider.ipv4[0])
        out = []
        for n, (name, share) in enumerate((("www.google.com", 1.0), ("www.gstatic.com", 0.6))):
            ip = str(net.network_address + rng.randrange(256, net.num_addresses - 1))
            first = us(google[0].time) - rng.randint(300_000, 900_000) + n * rng.randint(150_000, 400_000)
            connect = self._lookup(rng, first - rng.randint(20_000, 60_000), name,
                                   Answer((), (ip,), (), provider.ttl, "google.com"))
            conv = Conversation("tcp", self.ws, self.port(), self.plan.endpoint(ip, provider.os, self.seed), 443)
            session = TcpSession(conv, rng, connect)
            session.open()
            exchanges, at = [], connect
            for visit in google:
                size = int(rng.randint(60_000, 220_000) * share)
                idle = max(0, us(visit.time) - rng.randint(200_000, 600_000) - at)
                exchanges.append(Exchange(rng.randint(400, 900), size, idle if exchanges else 0,
                                          rng.randint(20_000, 120_000)))
                at = us(visit.time)
            chrome_session(session, rng, name, exchanges, hybrid=provider.pq,
                           certificate=rng.randint(*provider.certificate))
            tls13_close(session, rng, False, rng.randint(180, 240) * SECOND)
            self.convs.append(conv)
            out.append(_conv_facts(conv) | {"host": name})
        return out

    def download(self) -> dict[str, Any]:
        """Chrome opens the download page at History's visit (a link from the results; https to http, so no
        Referer), then the payload's link on it, with the page as Referer: the response's head arrives as History's
        download starts, its last byte as it ends (the server is slow). Apache closes each idle connection 5 s on."""
        rng = random.Random(derived_seed(self.seed, "download"))
        activity = self.decided.activity
        url = urlsplit(self.case.download_url)
        host, path = url.netloc, url.path or "/"
        page = urlsplit(activity.download_page).path or "/"
        body = self.decided.contents[self.decided.payload]
        page_visit = next((v for v in visits(self.case, self.decided) if v.url == activity.download_page), None)
        t_page = us(page_visit.time if page_visit else activity.download_started) - rng.randint(300_000, 900_000)
        server = self.plan.endpoint(self.plan.download_server_ip, LINUX, self.seed)
        lookup = None
        if self.plan.download_host != self.plan.download_server_ip:
            answer = Answer((), (self.plan.download_server_ip,), (), 300, self.plan.download_host.split(".", 1)[-1])
            t_page = self._lookup(rng, t_page - rng.randint(20_000, 90_000), self.plan.download_host, answer)
            lookup = {"name": self.plan.download_host, "time": iso(self.convs[-2].frames[0][0])}

        def keep_alive(status: int, mime: str, content: bytes, t: int, left: int) -> bytes:
            return response_bytes(status, mime, content, t, DOWNLOAD_SERVER, (f"Keep-Alive: timeout=5, max={left}",)
                                  ).replace(b"Connection: close", b"Connection: Keep-Alive")

        listing = (f"<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<html>\n <head>\n  <title>Index of "
                   f"{page}</title>\n </head>\n <body>\n<h1>Index of {page}</h1>\n<ul><li><a href=\"../\"> Parent "
                   f"Directory</a></li>\n<li><a href=\"{path.rsplit('/', 1)[-1]}\"> {path.rsplit('/', 1)[-1]}</a></li>"
                   f"\n</ul>\n</body></html>\n").encode()
        first = Conversation("tcp", self.ws, self.port(), server, url.port or 80)
        session = TcpSession(first, rng, t_page)
        session.open()
        session.send(True, _chrome_get(host, page, None), reply=True)
        session.send(False, keep_alive(200, "text/html;charset=UTF-8", listing, session.end_us, 100),
                     think_us=rng.randint(300, 3_000))
        session.send(True, _chrome_get(host, "/favicon.ico", f"http://{host}{page}", image=True), reply=True,
                     think_us=rng.randint(5_000, 60_000))
        missing = b"<html><body><h1>Not Found</h1></body></html>\n"
        session.send(False, keep_alive(404, "text/html; charset=iso-8859-1", missing, session.end_us, 99),
                     think_us=rng.randint(300, 2_000))
        session.not_before(session.end_us + KEEPALIVE_S * SECOND + rng.randint(0, 5_000))
        session.close(by_client=False)
        self.convs.append(first)

        started, finished = us(activity.download_started), us(activity.download_finished)
        t_get = started - server.rtt_us - rng.randint(20_000, 200_000)
        conv = Conversation("tcp", self.ws, self.port(), server, url.port or 80)
        session = TcpSession(conv, rng, t_get - server.rtt_us - rng.randint(500, 3_000))
        session.open()
        session.not_before(t_get)
        session.send(True, _chrome_get(host, path, f"http://{host}{page}"), reply=True)
        request_at = session.end_us
        wire = keep_alive(200, DOWNLOAD_MIME, body, request_at, 100)
        head_len = len(wire) - len(body)
        pieces = max(1, (finished - started) // 250_000)  # a quarter-second's worth at a time, as the server paces
        step = -(-len(body) // pieces)
        session.not_before(started - server.rtt_us // 2)
        session.send(False, wire[:head_len + step])
        for k in range(1, pieces):
            session.not_before(started + k * (finished - started) // pieces - server.rtt_us // 2)
            session.send(False, wire[head_len + k * step:head_len + (k + 1) * step])
        response_end = conv.frames[-2][0]  # the body's last segment (Chrome's ACK of it follows)
        session.not_before(session.end_us + KEEPALIVE_S * SECOND + rng.randint(0, 5_000))
        session.close(by_client=False)
        self.convs.append(conv)
        facts = _conv_facts(conv)
        facts.update({"url": self.case.download_url, "host": host, "path": path, "user_agent": CHROME_USER_AGENT,
                      "page_request_time": iso(first.frames[3][0]), "request_time": iso(request_at),
                      "response_end": iso(response_end), "bytes": len(body), "content_type": DOWNLOAD_MIME,
                      "sha256": hashlib.sha256(body).hexdigest(), "dns": lookup})
        return facts

    def beacons(self) -> dict[str, Any]:
        """The implant's check-ins: one TLS connection each, the first of a process a full handshake, the later
        ones resuming its session; a task now and then, whose output goes back in the next check-in. WinHTTP keeps
        the connection for reuse, the server closes it when its keep-alive runs out (``c2_idle_s``)."""
        rng = random.Random(derived_seed(self.seed, "beacons"))
        t, plan = self.case.timeline, self.plan
        server = plan.endpoint(plan.c2_ip, LINUX, self.seed)
        # A cheap server's certificate: Let's Encrypt's, 90 days, issued days to weeks before the capture (its
        # dates and CA from a stream of their own, its bytes from this one); the leaf alone, as a server
        # configured with cert.pem rather than fullchain.pem sends it (Schannel fetches the CA's by AIA).
        dates = random.Random(derived_seed(self.seed, "c2-certificate"))
        authority = dates.choice(wintls.LETS_ENCRYPT)
        leaf = wintls.certificate(rng, plan.c2_host, authority.name,
                                  *wintls.leaf_validity(dates, authority, *self.window, (2, 28)))
        runs = ((us(t.payload_run) + rng.randint(2 * SECOND, 6 * SECOND), plan.rdp[0][2]),
                (us(self.decided.implant_started) + rng.randint(1 * SECOND, 4 * SECOND), plan.rdp[1][2]))
        period = plan.beacon_period_s * SECOND
        jitter = int(period * plan.beacon_jitter)
        times: list[str] = []
        first_conv: list[Conversation] = []
        lookups: list[str] = []
        answer = Answer((), (plan.c2_ip,), (), plan.c2_ttl, plan.c2_host.split(".", 1)[1])
        for start, stop in runs:
            at, session_id, output, cached_until = start, None, 0, 0
            while at < stop:
                connect = at
                if at >= cached_until:  # Dnscache's copy has expired: ask again, connect on the answer
                    convs, t_answer = windows_lookup(rng, at, self.ws, self.resolver, plan.c2_host, answer,
                                                     (self.port(), self.port()))
                    self.convs += convs
                    lookups.append(iso(at))
                    cached_until = at + plan.c2_ttl * SECOND
                    connect = t_answer + rng.randint(150, 900)
                conv = Conversation("tcp", self.ws, self.port(), server, plan.c2_port)
                session = TcpSession(conv, rng, connect)
                session.open()
                session_id = wintls.handshake(session, rng, plan.c2_host, (leaf,), session_id)
                request = rng.randint(260, 340) + output
                task = rng.random() < 0.08
                session.send(True, wintls.encrypted(rng, request), reply=True, think_us=rng.randint(100, 2_000))
                session.send(False, wintls.encrypted(rng, rng.randint(1_200, 6_000) if task else rng.randint(150, 210)),
                             think_us=rng.randint(5_000, 60_000))
                output = rng.randint(800, 12_000) if task else 0
                if task or rng.random() < 0.5:  # a POST check-in (or a task to run): the implant closes at once
                    session.close(by_client=True)
                else:  # the server gives up on the idle keep-alive connection
                    wintls.close_notify(session, rng, False, plan.c2_idle_s * SECOND + rng.randint(0, 900_000))
                self.convs.append(conv)
                times.append(iso(connect))
                first_conv.append(conv)
                at += period + rng.randint(-jitter, jitter)
        return {"ip": plan.c2_ip, "host": plan.c2_host, "port": plan.c2_port, "protocol": "TLS 1.2",
                "dns_ttl": plan.c2_ttl, "lookups": lookups, "count": len(times),
                "period_s": plan.beacon_period_s, "jitter": plan.beacon_jitter, "first": times[0], "last": times[-1],
                "times": times, "client_ports": [c.client_port for c in first_conv]}


def _chrome_get(host: str, path: str, referer: str | None, *, image: bool = False) -> bytes:
    """Chrome 127's request head for a page or a link followed from one (HTTP/1.1, keep-alive)."""
    accept = ("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8" if image else
              "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
              "application/signed-exchange;v=b3;q=0.7")
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    if not image:
        lines.append("Upgrade-Insecure-Requests: 1")
    lines += [f"User-Agent: {CHROME_USER_AGENT}", f"Accept: {accept}"]
    if referer:
        lines.append(f"Referer: {referer}")
    lines += ["Accept-Encoding: gzip, deflate", "Accept-Language: en-US,en;q=0.9"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


_cache: dict[tuple[WorkstationCase, int], tuple[Decisions, Built]] = {}


def build(case: WorkstationCase, decided: Decisions) -> Built:
    """Everything the capture holds (cached for the last case: the bytes and the facts come from one build)."""
    key = (case, id(decided))
    if key in _cache and _cache[key][0] is decided:
        return _cache[key][1]
    plan = plan_network(case, decided)
    start = plan.rdp[0][1] - (8 * 60 * SECOND + derived_seed(case.seed, "capture-start") % (7 * 60 * SECOND))
    end = plan.rdp[1][2] + (3 * 60 * SECOND + derived_seed(case.seed, "capture-end") % (9 * 60 * SECOND))
    story = _Story(case, decided, plan, (start, end))
    rdp = story.rdp()
    google = story.google()
    download = story.download()
    beacons = story.beacons()
    background = Background(case, decided, plan, story.ws, story.resolver, set(story.ports), start, end).frames()
    every = [f for conv in story.convs for f in conv.frames]  # the story's first, then the background's
    mine = len(every)
    every += [f for f in background if start <= f[0] <= end]
    order = sorted(range(len(every)), key=[t for t, _ in every].__getitem__)  # stable: ties keep this order
    frames = [every[i] for i in order]
    planned = frozenset(n for n, i in enumerate(order) if i < mine)
    facts = {
        "workstation_ip": plan.workstation_ip, "workstation_mac": plan.workstation_mac, "gateway_ip": plan.gateway_ip,
        "resolver_ip": plan.gateway_ip, "intruder_ip": plan.intruder_ip,
        "download_server_ip": plan.download_server_ip, "c2_ip": plan.c2_ip, "c2_host": plan.c2_host,
        "c2_port": plan.c2_port,
        "rdp": rdp, "download": download, "search": google, "beacons": beacons,
        "start": iso(start), "end": iso(end), "packets": len(frames),
        "file": "workstation.pcapng",
    }
    built = Built(frames, planned, facts, start, end)
    _cache.clear()
    _cache[key] = (decided, built)
    return built


def workstation_capture(case: WorkstationCase, decided: Decisions) -> bytes:
    """The pcapng the capture box wrote (same case and decisions, same bytes)."""
    built = build(case, decided)
    return pcapng_bytes(built.frames, CaptureInfo(built.start_us, built.end_us,
                                                  derived_seed(case.seed, "capture-ns")))


def capture_facts(case: WorkstationCase, decided: Decisions) -> dict[str, Any]:
    """What the answer key states about the capture (JSON-ready)."""
    return build(case, decided).facts
