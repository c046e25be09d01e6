"""The workstation's background: what a Windows 10 desktop on an office LAN sends and receives around the story.

Walked through the capture window from one random stream (the case's seed), the machine does what it does on its
own, day and night: telemetry and settings calls, Windows Update's scan, Defender's cloud, the notification
service, login.live.com, each over Schannel TLS 1.2 with its name in the SNI after a Dnscache lookup (A and AAAA,
no repeat within the record's TTL), each front end showing one certificate on every connection (its leaf issued
some days to months before the capture by one of Microsoft's CAs, no two sites in one second); crypt32 asking
ctldl.windowsupdate.com whether its trust lists changed (plain HTTP, ``304 Not Modified``); the Network
Connectivity Status Indicator fetching ``www.msftconnecttest.com/connecttest.txt``; W32Time's poll of
time.windows.com from port 123 (a workgroup machine syncs once a week, so one poll falls in a day's window at
most); the plan's DHCP lease renewed at half its time;
its own and its neighbours' LAN chatter: SSDP searches, LLMNR and NetBIOS name queries (``wpad`` among them),
mDNS, ARP. While someone is logged on, Chrome's own calls go out (updates, Safe Browsing, the optimisation
guide), and once the user is back at the keyboard, they browse (:data:`~dflab.evidence.network.sites.SITES`).
"""

from __future__ import annotations

import ipaddress
import random
import struct
from dataclasses import replace
from datetime import datetime, timedelta

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from dflab.evidence.network.arp import arp_exchange
from dflab.evidence.network.conversation import Conversation, Frame, datagram
from dflab.evidence.network.dns import Answer
from dflab.evidence.network.frames import arp_frame, pad, udp_frame
from dflab.evidence.network.http import response_bytes
from dflab.evidence.network.profiles import LINUX, WINDOWS
from dflab.evidence.network.segment import Endpoint, derived_seed
from dflab.evidence.network.sites import LONG_TAIL, PROVIDERS, SITES, THIRD_PARTIES, Host, Site
from dflab.evidence.network.tcp import TcpSession
from dflab.evidence.network.tls import Exchange
from dflab.evidence.network.tls import close_notify as tls13_close

from . import wintls
from .chrome import chrome_session
from .decisions import CHROME_CLOSED, Decisions
from .description import WorkstationCase
from .netplan import EPHEMERAL, SECOND, NetworkPlan, us
from .windns import global_ip_id, windows_lookup

MINUTE = 60 * SECOND


def _h(name: str, provider: str, *chain: str) -> Host:
    return Host(name, provider, chain)


# Windows' own services: (host, minutes between calls (low, high), request bytes, response bytes).
WINDOWS_SERVICES = (
    (_h("v10.events.data.microsoft.com", "microsoft", "global.asimov.events.data.trafficmanager.net",
        "onedscolprdweu03.westeurope.cloudapp.azure.com"), (10, 40), (2_000, 24_000), (120, 400)),
    (_h("settings-win.data.microsoft.com", "microsoft", "atm-settingsfe-prod-geo2.trafficmanager.net",
        "settings-prod-weu-1.westeurope.cloudapp.azure.com"), (45, 120), (400, 900), (1_500, 9_000)),
    (_h("client.wns.windows.com", "microsoft", "wns.notify.trafficmanager.net", "db5p.wns.notify.windows.com"),
     (25, 60), (300, 700), (200, 900)),
    (_h("login.live.com", "microsoft", "login.msa.msidentity.com", "lgincdnvzeuno.azureedge.net"), (60, 240),
     (1_500, 4_000), (3_000, 12_000)),
    (_h("wdcp.microsoft.com", "microsoft", "wdcp.microsoft.akadns.net", "wd-prod-cp-eu-north-2-fe.northeurope."
        "cloudapp.azure.com"), (40, 150), (800, 3_000), (300, 1_200)),
    (_h("slscr.update.microsoft.com", "microsoft", "glb.sls.prod.dcat.dsp.trafficmanager.net"), (360, 900),
     (1_000, 3_000), (4_000, 30_000)),
    (_h("fe3cr.delivery.mp.microsoft.com", "microsoft", "glb.cws.prod.dcat.dsp.trafficmanager.net"), (360, 900),
     (3_000, 9_000), (8_000, 90_000)),
)
# Chrome's calls while someone is logged on.
CHROME_SERVICES = (
    (_h("update.googleapis.com", "google"), (20, 60), (900, 2_500), (800, 3_000)),
    (_h("safebrowsing.googleapis.com", "google"), (25, 35), (300, 900), (300, 40_000)),
    (_h("optimizationguide-pa.googleapis.com", "google"), (30, 90), (400, 1_200), (1_000, 20_000)),
    (_h("clients2.google.com", "google", "clients.l.google.com"), (40, 120), (500, 1_500), (300, 2_000)),
    (_h("accounts.google.com", "google"), (60, 180), (600, 2_000), (1_000, 5_000)),
)
USER_SERVICES = (
    (_h("arc.msn.com", "microsoft", "arc.trafficmanager.net", "iris-de-prod-azsc-v2-neu.northeurope.cloudapp."
        "azure.com"), (40, 90), (600, 1_200), (2_000, 30_000)),
    (_h("www.bing.com", "microsoft", "www-www.bing.com.trafficmanager.net", "www.bing.com.edgekey.net"),
     (20, 60), (700, 2_000), (3_000, 60_000)),
)
NCSI = _h("www.msftconnecttest.com", "microsoft", "www.msftconnecttest.com.edgesuite.net", "a1961.g2.akamai.net")
NCSI_DNS = _h("dns.msftncsi.com", "microsoft")
CTL = _h("ctldl.windowsupdate.com", "akamai", "ctldl.windowsupdate.com.delivery.microsoft.com",
         "wu-b-net.trafficmanager.net")
TIME = _h("time.windows.com", "microsoft", "twc.trafficmanager.net")
CONNECT_TEST = b"Microsoft Connect Test"
MCAST = {"llmnr": ("224.0.0.252", "01:00:5e:00:00:fc", 5355), "mdns": ("224.0.0.251", "01:00:5e:00:00:fb", 5353),
         "ssdp": ("239.255.255.250", "01:00:5e:7f:ff:fa", 1900)}
_NEIGHBOUR_NAMES = ("DESKTOP-", "LAPTOP-", "PC-")


class Background:
    """Produces the background's frames for ``[start, end]``; the story's ports are never reused."""

    def __init__(self, case: WorkstationCase, decided: Decisions, plan: NetworkPlan, ws: Endpoint,
                 resolver: Endpoint, reserved_ports: set[int], start: int, end: int) -> None:
        self.case, self.plan, self.ws, self.resolver = case, plan, ws, resolver
        self.rng = random.Random(derived_seed(case.seed, "windows-background"))
        self.ports = set(reserved_ports)
        self.start, self.end = start, end
        self.frames_out: list[Frame] = []
        self.cache: dict[str, int] = {}  # name → when Dnscache drops it
        self.arp_fresh_until = 0
        self.nth = 0
        self.answers: dict[str, Answer] = {}
        self.servers: dict[str, Endpoint] = {}
        self.chains: dict[str, tuple[bytes, bytes]] = {}
        self.issued: set[datetime] = {case.timeline.installed.replace(microsecond=0)}  # the RDP certificate's
        lan = ipaddress.IPv4Network(plan.lan)
        taken = {plan.workstation_ip, plan.gateway_ip}
        self.neighbours: list[tuple[Endpoint, str]] = []
        while len(self.neighbours) < self.rng.randint(3, 6):
            ip = str(lan.network_address + self.rng.randint(2, 250))
            if ip in taken:
                continue
            taken.add(ip)
            name = self.rng.choice(_NEIGHBOUR_NAMES) + "".join(self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
                                                               for _ in range(7))
            self.neighbours.append((plan.endpoint(ip, WINDOWS, case.seed), name[:15]))
        t = case.timeline
        self.sessions = [(plan.rdp[0][1], plan.rdp[0][2]), (us(t.next_logon), end)]
        activity = getattr(decided, "activity", None)  # Chrome runs from its start to its close (History's)
        chrome_closed = us(activity.download_finished + CHROME_CLOSED) if activity else plan.rdp[0][2]
        self.chrome = [(us(activity.chrome_started) if activity else plan.rdp[0][1], chrome_closed),
                       (us(t.next_logon) + MINUTE, end)]
        self.browsing = [(us(t.next_logon) + 2 * MINUTE, plan.rdp[1][1] - 30 * SECOND)]

    # -- helpers -----------------------------------------------------------------------------------------------
    def _port(self) -> int:
        while (port := self.rng.randint(*EPHEMERAL)) in self.ports:
            pass
        self.ports.add(port)
        return port

    def _answer(self, host: Host) -> Answer:
        if host.name not in self.answers:
            p = PROVIDERS[host.provider]
            net = ipaddress.ip_network(self.rng.choice(p.ipv4))
            end = host.chain[-1] if host.chain else host.name
            known = next((a for h, a in self.answers.items() if a.chain[-1:] == (end,) and host.chain), None)
            if known is not None:
                self.answers[host.name] = replace(known, chain=host.chain)
            else:
                v4 = tuple(str(net.network_address + self.rng.randrange(1, net.num_addresses - 1))
                           for _ in range(self.rng.choice((1, 1, 2))))
                v6 = ()
                if p.ipv6:
                    net6 = ipaddress.ip_network(p.ipv6)
                    v6 = tuple(str(net6.network_address + self.rng.getrandbits(64)) for _ in v4)
                zone = p.zone if host.chain else ".".join(host.name.split(".")[-2:])
                self.answers[host.name] = Answer(host.chain, v4, v6, p.ttl, zone)
        return self.answers[host.name]

    def _server(self, host: Host) -> Endpoint:
        ip = self._answer(host).ipv4[0]
        if ip not in self.servers:
            self.servers[ip] = self.plan.endpoint(ip, PROVIDERS[host.provider].os, self.case.seed)
        return self.servers[ip]

    def _chain(self, host: Host) -> tuple[bytes, bytes]:
        """The certificates ``host``'s front end presents, the same on every connection: its own leaf, issued to the
        second some days to months before the capture by one of Microsoft's CAs (drawn per site), valid past its
        end, then that CA's certificate."""
        if host.name not in self.chains:
            rng = random.Random(derived_seed(self.case.seed, "certificate", host.name))
            authority = rng.choice(wintls.MICROSOFT)
            not_before, not_after = wintls.leaf_validity(rng, authority, self.start, self.end, (3, 240))
            while not_before in self.issued:  # two sites' leaves are never issued in one second
                not_before, not_after = not_before - timedelta(seconds=1), not_after - timedelta(seconds=1)
            self.issued.add(not_before)
            leaf = wintls.certificate(rng, host.name, authority.name, not_before, not_after)
            self.chains[host.name] = (leaf, wintls.intermediate(authority, self.start, self.end))
        return self.chains[host.name]

    def _emit(self, frames: list[Frame]) -> None:
        self.frames_out.extend(frames)

    def _resolve(self, t: int, host: Host) -> int:
        """Dnscache's lookup unless the name is cached; when the program can connect."""
        if self.cache.get(host.name, 0) > t:
            return t + self.rng.randint(100, 900)
        answer = self._answer(host)
        ttl = self.rng.randint(max(1, answer.ttl // 10), answer.ttl)
        convs, t_answer = windows_lookup(self.rng, t, self.ws, self.resolver, host.name, replace(answer, ttl=ttl),
                                         (self._port(), self._port()))
        self.cache[host.name] = t + ttl * SECOND
        for conv in convs:
            self._emit(conv.frames)
        self._gateway_arp(t)
        return t_answer + self.rng.randint(100, 900)

    def _gateway_arp(self, t: int) -> None:
        """Windows re-confirms the router's MAC once its reachable time (15-45 s) has passed."""
        if t > self.arp_fresh_until:
            gateway = self.plan.endpoint(self.plan.gateway_ip, LINUX, self.case.seed)
            self._emit(arp_exchange(self.rng, t + self.rng.randint(50, 3_000), self.ws, gateway, unicast=True))
        self.arp_fresh_until = t + self.rng.randint(15, 45) * SECOND

    def _schannel(self, t: int, host: Host, request: int, response: int) -> None:
        """A WinHTTP call: lookup, TCP, TLS 1.2 with SNI, one request and its answer, then the close."""
        known = self._resolve(t, host)
        conv = Conversation("tcp", self.ws, self._port(), self._server(host), 443)
        session = TcpSession(conv, self.rng, known)
        session.open()
        wintls.handshake(session, self.rng, host.name, self._chain(host), alpn=self.rng.random() < 0.5)
        session.send(True, wintls.encrypted(self.rng, request), reply=True, think_us=self.rng.randint(100, 3_000))
        session.send(False, wintls.encrypted(self.rng, response), think_us=self.rng.randint(5_000, 120_000))
        if self.rng.random() < 0.5:  # the service's front end closes the idle keep-alive connection
            wintls.close_notify(session, self.rng, False, self.rng.randint(4, 240) * SECOND)
        elif self.rng.random() < 0.6:
            wintls.close_notify(session, self.rng, True, self.rng.randint(100_000, 4 * SECOND))
        else:
            session.close(by_client=True)
        self._emit(conv.frames)

    def _chrome(self, t: int, host: Host, exchanges: list[Exchange]) -> None:
        """Chrome's TLS 1.3 connection to ``host`` (its own hello: :mod:`.chrome`)."""
        known = self._resolve(t, host)
        conv = Conversation("tcp", self.ws, self._port(), self._server(host), 443)
        session = TcpSession(conv, self.rng, known)
        session.open()
        p = PROVIDERS[host.provider]
        chrome_session(session, self.rng, host.name, exchanges, hybrid=p.pq,
                       certificate=self.rng.randint(*p.certificate))
        idle = self.rng.randint(*p.idle_s)
        tls13_close(session, self.rng, idle > 300 or self.rng.random() < 0.3, min(idle, 300) * SECOND)
        self._emit(conv.frames)

    # -- the periodic and random activities --------------------------------------------------------------------
    def _periodic(self, services: tuple, spans: list[tuple[int, int]], chrome: bool) -> None:
        for host, minutes, request, response in services:
            for lo, hi in spans:
                at = lo + self.rng.randint(0, minutes[1] * MINUTE)
                while at < hi:
                    req, resp = self.rng.randint(*request), self.rng.randint(*response)
                    if chrome:
                        self._chrome(at, host, [Exchange(req, resp, 0, self.rng.randint(10_000, 200_000))])
                    else:
                        self._schannel(at, host, req, resp)
                    at += self.rng.randint(minutes[0] * MINUTE, minutes[1] * MINUTE)

    def _browse(self) -> None:
        for lo, hi in self.browsing:
            at = lo + self.rng.randint(0, 2 * MINUTE)
            while at < hi:
                site: Site = self.rng.choice(SITES if self.rng.random() < 0.5 else LONG_TAIL)
                total = self.rng.randint(*site.page_kib) * 1024
                hosts = [site.main, *self.rng.sample(site.assets, (len(site.assets) + 1) // 2),
                         *self.rng.sample(THIRD_PARTIES, self.rng.randint(1, 4))]
                for k, host in enumerate(hosts):
                    part = total // 3 if k == 0 else self.rng.randint(2_000, max(3_000, total // len(hosts)))
                    n = max(1, min(5, part // 40_000 + 1))
                    self._chrome(at + k * self.rng.randint(50_000, 400_000), host,
                                 [Exchange(self.rng.randint(300, 800), part // n + 300,
                                           0 if i == 0 else self.rng.randint(2_000, 400_000),
                                           self.rng.randint(3_000, 120_000)) for i in range(n)])
                at += self.rng.randint(20, 300) * SECOND

    def _ncsi(self) -> None:
        """NCSI's probe now and then (a network event, a wake of the adapter): the DNS check, then the web one."""
        at = self.start + self.rng.randint(1, 40) * MINUTE
        while at < self.end:
            self._resolve(at, NCSI_DNS)
            known = self._resolve(at + self.rng.randint(1_000, 50_000), NCSI)
            request = (f"GET /connecttest.txt HTTP/1.1\r\nConnection: Close\r\nUser-Agent: Microsoft NCSI\r\n"
                       f"Host: {NCSI.name}\r\n\r\n").encode()
            response = response_bytes(200, "text/plain", CONNECT_TEST, known, "Microsoft-IIS/10.0",
                                      ("Cache-Control: max-age=30, must-revalidate",))
            self._http(known, NCSI, request, response)
            at += self.rng.randint(40, 240) * MINUTE

    def _http(self, t: int, host: Host, request: bytes, response: bytes) -> None:
        conv = Conversation("tcp", self.ws, self._port(), self._server(host), 80)
        session = TcpSession(conv, self.rng, t)
        session.open()
        session.send(True, request, reply=True)
        session.send(False, response, think_us=self.rng.randint(300, 20_000))
        session.close(by_client=False)
        self._emit(conv.frames)

    def _ctl(self) -> None:
        """crypt32's check of the trust lists: ``If-Modified-Since``, answered ``304``."""
        at = self.start + self.rng.randint(10, 300) * MINUTE
        while at < self.end:
            known = self._resolve(at, CTL)
            name = self.rng.choice(("authrootstl.cab", "disallowedcertstl.cab", "pinrulesstl.cab"))
            request = (f"GET /msdownload/update/v3/static/trustedr/en/{name}?{self.rng.getrandbits(64):016x} "
                       f"HTTP/1.1\r\nConnection: Keep-Alive\r\nAccept: */*\r\n"
                       f"If-Modified-Since: Tue, 13 Feb 2024 21:42:03 GMT\r\nIf-None-Match: \"0ef5e3bc5eda1:0\"\r\n"
                       f"User-Agent: Microsoft-CryptoAPI/10.0\r\nHost: {CTL.name}\r\n\r\n").encode()
            response = response_bytes(304, "application/vnd.ms-cab-compressed", b"", known, "Microsoft-IIS/10.0",
                                      ("ETag: \"0ef5e3bc5eda1:0\"", "Last-Modified: Tue, 13 Feb 2024 21:42:03 GMT"))
            response = response.replace(b"Content-Type: application/vnd.ms-cab-compressed\r\nContent-Length: 0\r\n",
                                        b"")
            self._http(known, CTL, request, response)
            at += self.rng.randint(180, 720) * MINUTE

    def _ntp(self) -> None:
        """W32Time's weekly sync (source port 123, NTPv3, client mode), falling once inside the window."""
        at = self.rng.randint(self.start + MINUTE, self.end - MINUTE)
        self._resolve(at - self.rng.randint(10_000, 300_000), TIME)
        server = self._server(TIME)
        conv = Conversation("udp", self.ws, 123, server, 123)
        sec, usec = divmod(at, SECOND)
        stamp = struct.pack("!II", sec + 2_208_988_800, (usec << 32) // SECOND)
        request = bytes([0xDB, 0, 17, 0xE9]) + bytes(8) + b"LOCL" + bytes(24) + stamp
        t_reply = at + server.react_us(self.rng)
        rsec, rusec = divmod(t_reply - server.rtt_us // 2, SECOND)
        served = struct.pack("!II", rsec + 2_208_988_800, (rusec << 32) // SECOND)
        reply = bytes([0x1C, 3, 17, 0xE7]) + struct.pack("!II", 0x0000_0B7A, 0x0000_0F1E) + bytes([25, 66, 230, 1])
        reply += served[:4] + bytes(4) + stamp + served + served
        datagram(conv, at, True, request, global_ip_id(self.ws, at, 0), False)
        datagram(conv, t_reply, False, reply, self.rng.getrandbits(16), False)
        self._emit(conv.frames)

    def _dhcp(self) -> None:
        """The plan's lease renewed at T1 (half its time) from the final boot's ACK on, while the machine is up:
        a unicast REQUEST from port 68 a fraction of a second into the renewal's second, the router's ACK."""
        plan = self.plan
        lease = plan.dhcp_lease_s
        gw = plan.endpoint(plan.gateway_ip, LINUX, self.case.seed)
        mac = self.ws.mac
        options = [("message-type", "request"), ("client_id", b"\x01" + mac),
                   ("hostname", self.case.computer_name.encode()),
                   (81, b"\x00\x00\x00" + self.case.computer_name.encode()), ("vendor_class_id", b"MSFT 5.0"),
                   ("param_req_list", [1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252]), "end"]
        request_0 = bytes(BOOTP(chaddr=mac + bytes(10), xid=0, ciaddr=self.ws.ip, flags=0) / DHCP(options=options))
        ack_options = [("message-type", "ack"), ("server_id", gw.ip), ("lease_time", lease),
                       ("renewal_time", lease // 2), ("rebinding_time", lease * 7 // 8),
                       ("subnet_mask", "255.255.255.0"), ("router", gw.ip), ("name_server", gw.ip), "end"]
        ack_0 = bytes(BOOTP(op=2, chaddr=mac + bytes(10), xid=0, ciaddr=self.ws.ip, yiaddr=self.ws.ip,
                            siaddr=gw.ip) / DHCP(options=ack_options))
        up_to = min(self.end, us(self.case.timeline.shutdown))
        # The first renewal inside the window (not the boot's own exchange: the story's window opens after it).
        k = max(1, -(-(self.start // SECOND - plan.dhcp_ack_second(0)) // plan.dhcp_renewal_s))
        while (second := plan.dhcp_ack_second(k) * SECOND) < up_to:
            at = second + self.rng.randint(2_000, 900_000)  # the renewal timer's latency; the ACK in that second
            k += 1
            if at < self.start:
                continue
            xid = self.rng.getrandbits(32).to_bytes(4, "big")  # BOOTP's xid, bytes 4-7: the rest is the same
            request, ack = request_0[:4] + xid + request_0[8:], ack_0[:4] + xid + ack_0[8:]
            conv = Conversation("udp", self.ws, 68, gw, 67)
            datagram(conv, at, True, request, global_ip_id(self.ws, at, 0), False)
            datagram(conv, at + gw.react_us(self.rng), False, ack, self.rng.getrandbits(16), False)
            self._emit(conv.frames)

    def _multicast(self, t: int, sender: Endpoint, kind: str, payload: bytes, ttl: int, sport: int = 0) -> None:
        ip, mac, port = MCAST[kind]
        sport = port if kind == "mdns" else sport or self.rng.randint(*EPHEMERAL)
        frame = udp_frame(sender.mac, bytes.fromhex(mac.replace(":", "")), sender.ip_raw,
                          ipaddress.IPv4Address(ip).packed, ttl, global_ip_id(sender, t, 0), False, sport, port,
                          payload)
        self._emit([(t, pad(frame))])

    def _name_query(self, qname: str, qtype: int, mdns: bool = False) -> bytes:
        txid = 0 if mdns else self.rng.getrandbits(16)
        labels = b"".join(bytes([len(p)]) + p.encode() for p in qname.split(".")) + b"\x00"
        return struct.pack("!HHHHHH", txid, 0, 1, 0, 0, 0) + labels + struct.pack("!HH", qtype, 1)

    def _nbns(self, t: int, sender: Endpoint, name: str) -> None:
        """A NetBIOS name query broadcast to the subnet (port 137 both ways)."""
        padded = name.upper().ljust(15)[:15] + "\x00"
        encoded = "".join(chr(0x41 + (ord(c) >> 4)) + chr(0x41 + (ord(c) & 0xF)) for c in padded)
        payload = struct.pack("!HHHHHH", self.rng.getrandbits(16), 0x0110, 1, 0, 0, 0)
        payload += b"\x20" + encoded.encode() + b"\x00" + struct.pack("!HH", 0x20, 1)
        bcast = str(ipaddress.IPv4Network(self.plan.lan).broadcast_address)
        frame = udp_frame(sender.mac, b"\xff" * 6, sender.ip_raw, ipaddress.IPv4Address(bcast).packed, 128,
                          global_ip_id(sender, t, 0), False, 137, 137, payload)
        self._emit([(t, pad(frame))])

    def _chatter(self) -> None:
        """LLMNR, NetBIOS, mDNS and SSDP from the workstation and its neighbours; the router's ARP broadcasts."""
        gw = self.plan.endpoint(self.plan.gateway_ip, LINUX, self.case.seed)
        hosts = [(self.ws, self.case.computer_name), *self.neighbours]
        at = self.start + self.rng.randint(0, 30 * SECOND)
        search = (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n"
                  b"ST: urn:dial-multiscreen-org:service:dial:1\r\nUSER-AGENT: Microsoft Edge/127.0.2651.98 "
                  b"Windows\r\n\r\n")
        while at < self.end:
            sender, name = self.rng.choice(hosts)
            kind = self.rng.choices(("llmnr", "nbns", "mdns", "ssdp", "arp"), (3, 2, 2, 2, 3))[0]
            if kind == "llmnr":
                target = self.rng.choice(("wpad", *(n for _, n in self.neighbours)))
                for qtype in (28, 1):  # each question from its own socket, asked twice 100 ms apart
                    query, sport = self._name_query(target.lower(), qtype), self.rng.randint(*EPHEMERAL)
                    for _ in range(2):
                        self._multicast(at, sender, "llmnr", query, 1, sport)
                        at += 100_000 + self.rng.randint(0, 3_000)
                self._nbns(at + self.rng.randint(1_000, 20_000), sender, target)
            elif kind == "nbns":
                self._nbns(at, sender, self.rng.choice(("WPAD", *(n for _, n in self.neighbours))))
            elif kind == "mdns":
                target = self.rng.choice(("_googlecast._tcp.local", "_spotify-connect._tcp.local",
                                          f"{self.rng.choice(self.neighbours)[1].lower()}.local"))
                self._multicast(at, sender, "mdns", self._name_query(target, 12 if target[0] == "_" else 1, True), 255)
            elif kind == "ssdp":
                sport = self.rng.randint(*EPHEMERAL)  # one search: its copies from one socket, a second or so apart
                for _ in range(self.rng.randint(2, 4)):
                    self._multicast(at, sender, "ssdp", search, 2, sport)
                    at += self.rng.randint(900_000, 3_100_000)
            else:
                who, _ = self.rng.choice(self.neighbours)
                self._emit([(at, pad(arp_frame(1, gw.mac, gw.ip, b"\0" * 6, who.ip)))])
            at += self.rng.randint(5, 240) * SECOND

    def _delivery_optimization(self) -> None:
        """Delivery Optimization: Windows PCs of the LAN hand each other pieces of updates and Store apps over
        TCP 7680 (its own protocol, no TLS), a peer serving what the other asks for in bursts of 1 MiB pieces."""
        at = self.start + self.rng.randint(5, 60) * MINUTE
        while at < self.end:
            peer, _ = self.rng.choice(self.neighbours)
            serving = self.rng.random() < 0.5
            client, server = (peer, self.ws) if serving else (self.ws, peer)
            conv = Conversation("tcp", client, self.rng.randint(*EPHEMERAL) if serving else self._port(), server, 7680)
            session = TcpSession(conv, self.rng, at)
            session.open()
            session.send(True, bytes([0x13]) + b"Swarm protocol" + self.rng.randbytes(54), reply=True)
            session.send(False, bytes([0x13]) + b"Swarm protocol" + self.rng.randbytes(54), reply=True)
            for _ in range(self.rng.randint(1, 8)):
                session.send(True, self.rng.randbytes(self.rng.randint(17, 120)), reply=True,
                             think_us=self.rng.randint(1_000, 400_000))
                session.send(False, self.rng.randbytes(self.rng.randint(8_000, 120_000)),
                             think_us=self.rng.randint(500, 20_000))
            session.close(by_client=self.rng.random() < 0.5)
            self._emit(conv.frames)
            at += self.rng.randint(10, 90) * MINUTE

    def _web_app(self) -> None:
        """A web app the user keeps open (mail, chat): one connection trickling small messages both ways."""
        from dflab.evidence.network.sites import APPS
        for lo, hi in self.browsing:
            at = lo + self.rng.randint(0, 5 * MINUTE)
            while at < hi:
                host = self.rng.choice(APPS)
                exchanges = [Exchange(self.rng.randint(500, 900), self.rng.randint(20_000, 120_000), 0, 60_000)]
                span = 0
                while span < min(hi - at, 40 * MINUTE):
                    gap = self.rng.randint(1, 40) * SECOND + self.rng.randint(0, 999_999)
                    span += gap
                    exchanges.append(Exchange(self.rng.randint(40, 900), self.rng.randint(30, 4_000), gap,
                                              self.rng.randint(2_000, 80_000)))
                self._chrome(at, host, exchanges)
                at += span + self.rng.randint(1, 10) * MINUTE

    def frames(self) -> list[Frame]:
        """All of the background, in no order (the caller sorts)."""
        self._periodic(WINDOWS_SERVICES, [(self.start, self.end)], chrome=False)
        self._periodic(USER_SERVICES, self.sessions, chrome=False)
        self._periodic(CHROME_SERVICES, self.chrome, chrome=True)
        self._browse()
        self._ncsi()
        self._ctl()
        self._ntp()
        self._dhcp()
        self._chatter()
        self._delivery_optimization()
        self._web_app()
        return self.frames_out


__all__ = ["Background", "IP", "UDP", "Ether"]
