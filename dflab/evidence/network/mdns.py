"""Multicast DNS on the captured segment (224.0.0.251:5353): the office's devices browsing, the suspect's avahi.

Every mDNS message goes to 01:00:5e:00:00:fb / 224.0.0.251, port 5353 to 5353, IP TTL 255 (RFC 6762 11), message
id 0. Queries carry flags 0 and questions whose class may set the unicast-response bit (not used here: every
querier below asks QM); responses carry QR and AA (0x8400), no questions, and the records: a unique record (a host
name's address, a service's SRV and TXT) with the cache-flush bit on its class, a shared one (a service type's
PTR) without it. The TTLs are the responders' defaults: 120 s for a host name's records and SRV, 4500 s (75
minutes) for PTR and TXT (avahi's ``AVAHI_DEFAULT_TTL_HOST_NAME`` and ``AVAHI_DEFAULT_TTL``; mDNSResponder's
``kHostNameTTL`` and ``kStandardTTL`` alike). A shared answer waits 20 to 120 ms (RFC 6762 6: others may answer
too); an answer holding only unique records goes at once.

The suspect runs Debian 12's avahi-daemon 0.8 with its shipped configuration (``publish-workstation=no``,
``publish-hinfo=no``, ``publish-aaaa-on-ipv4=yes``, no service files in ``/etc/avahi/services``): it publishes its
host name (``<host>.local``: the IPv4 address and the link-local IPv6 address the kernel derived from the MAC,
which memory's interface holds) and the reverse names of both, nothing else. So it answers a neighbour resolving
``<host>.local`` or its address, and asks on its own for what cups-browsed browses (``_ipp._tcp``, ``_ipps._tcp``),
on avahi's continuous-query clock: 1 s after the browse starts, the interval doubling to an hour, so two hours after
boot it asks once an hour, with the printer's PTR it cached as known answer (which silences the printer). Its
sockets are Linux's unconnected ones: DF and IP ID 0.

The other devices are the segment's other machines (the ones whose ARP the capture carries too), each with one
habit: a phone with the Google Home app and a Chrome on a Windows laptop browse ``_googlecast._tcp`` (the laptop
also looks for printers), a MacBook with Spotify open asks for AirPlay and Spotify Connect receivers, a colleague's
Debian desktop resolves the suspect's name now and then (``ssh <host>.local``), a TV with Chromecast built-in and
a network printer answer what is theirs.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from dflab.evidence.network.conversation import Frame
from dflab.evidence.network.dns import _Writer
from dflab.evidence.network.frames import pad, udp_frame

MDNS_IP = ipaddress.IPv4Address("224.0.0.251").packed
MDNS_MAC = bytes.fromhex("01005e0000fb")
PORT = 5353
A, PTR, TXT, AAAA, SRV = 1, 12, 16, 28, 33
FLUSH = 0x8000  # the cache-flush bit of a response record's class
HOST_TTL, SERVICE_TTL = 120, 4500
QUERY, RESPONSE = 0x0000, 0x8400
SECOND = 1_000_000


@dataclass(frozen=True)
class Record:
    """One resource record: owner, type, TTL, whether it is unique (cache-flush), and its data."""

    owner: str
    rtype: int
    ttl: int
    unique: bool
    data: bytes | str | tuple[int, int, int, str] | tuple[str, ...]  # address, name, SRV, TXT strings


class _Message(_Writer):
    """An mDNS message, names compressed as the responders compress them (SRV targets included, RFC 6762 18.14)."""

    def question(self, name: str, qtype: int) -> None:
        self.name(name)
        self.buf += struct.pack("!HH", qtype, 1)

    def rr(self, r: Record) -> None:
        self.name(r.owner)
        self.buf += struct.pack("!HHI", r.rtype, 1 | (FLUSH if r.unique else 0), r.ttl)
        at = len(self.buf)
        self.buf += b"\x00\x00"
        if r.rtype == SRV and isinstance(r.data, tuple):
            priority, weight, port, target = r.data  # type: ignore[misc]
            self.buf += struct.pack("!HHH", priority, weight, port)
            self.name(target)
        elif r.rtype == TXT and isinstance(r.data, tuple):
            for item in r.data:
                raw = str(item).encode()
                self.buf += bytes([len(raw)]) + raw
        elif isinstance(r.data, str):
            self.name(r.data)
        else:
            self.buf += bytes(r.data)  # type: ignore[arg-type]
        struct.pack_into("!H", self.buf, at, len(self.buf) - at - 2)


def query(questions: Sequence[tuple[str, int]], known: Sequence[Record] = ()) -> bytes:
    """A QM query: id 0, flags 0, the questions and the known answers the asker holds (RFC 6762 7.1)."""
    m = _Message()
    m.buf += struct.pack("!HHHHHH", 0, QUERY, len(questions), len(known), 0, 0)
    for name, qtype in questions:
        m.question(name, qtype)
    for r in known:
        m.rr(r)
    return bytes(m.buf)


def response(answers: Sequence[Record], additional: Sequence[Record] = ()) -> bytes:
    """A multicast response: id 0, QR AA, no questions, the answers and the additional records."""
    m = _Message()
    m.buf += struct.pack("!HHHHHH", 0, RESPONSE, 0, len(answers), 0, len(additional))
    for r in (*answers, *additional):
        m.rr(r)
    return bytes(m.buf)


@dataclass(frozen=True)
class Device:
    """A machine on the segment that speaks mDNS: its address, MAC and how its stack sends a multicast datagram."""

    ip: str
    mac: bytes
    stack: str  # "linux": DF, IP ID 0 (an unconnected socket); "apple"/"windows": no DF, IDs drawn

    def frame(self, rng: random.Random, t_us: int, payload: bytes) -> Frame:
        linux = self.stack == "linux"
        ip_id = 0 if linux else rng.getrandbits(16)
        return t_us, pad(udp_frame(self.mac, MDNS_MAC, ipaddress.IPv4Address(self.ip).packed, MDNS_IP, 255, ip_id,
                                   linux, PORT, PORT, payload))


def reverse_v4(ip: str) -> str:
    return ipaddress.IPv4Address(ip).reverse_pointer


def link_local(mac: bytes) -> str:
    """The IPv6 link-local address the kernel derives from ``mac`` (modified EUI-64), as memory's interface holds."""
    eui = bytes([mac[0] ^ 0x02]) + mac[1:3] + b"\xff\xfe" + mac[3:]
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + eui))


class Avahi:
    """The suspect's avahi-daemon: the records it publishes, and its answer to a question it owns."""

    def __init__(self, device: Device, hostname: str) -> None:
        self.device = device
        self.host = f"{hostname}.local"
        v6 = link_local(device.mac)
        self.records = {
            (self.host, A): Record(self.host, A, HOST_TTL, True, ipaddress.IPv4Address(device.ip).packed),
            (self.host, AAAA): Record(self.host, AAAA, HOST_TTL, True, ipaddress.IPv6Address(v6).packed),
            (reverse_v4(device.ip), PTR): Record(reverse_v4(device.ip), PTR, HOST_TTL, True, self.host),
            (ipaddress.IPv6Address(v6).reverse_pointer, PTR): Record(ipaddress.IPv6Address(v6).reverse_pointer, PTR,
                                                                     HOST_TTL, True, self.host),
        }

    def answer(self, name: str, qtype: int) -> bytes | None:
        record = self.records.get((name, qtype))
        return response([record]) if record else None


@dataclass(frozen=True)
class Service:
    """A service instance a device on the segment publishes: PTR from its type, SRV, TXT, its host's A."""

    kind: str  # "_googlecast._tcp.local"
    instance: str  # the instance's label
    host: str  # "<label>.local"
    port: int
    txt: tuple[str, ...]
    ip: str

    @property
    def name(self) -> str:
        return f"{self.instance}.{self.kind}"

    def ptr(self, ttl: int = SERVICE_TTL) -> Record:
        return Record(self.kind, PTR, ttl, False, self.name)

    def response(self) -> bytes:
        return response([self.ptr()], [Record(self.name, TXT, SERVICE_TTL, True, self.txt),
                                       Record(self.name, SRV, HOST_TTL, True, (0, 0, self.port, self.host)),
                                       Record(self.host, A, HOST_TTL, True, ipaddress.IPv4Address(self.ip).packed)])


def googlecast(rng: random.Random, ip: str) -> Service:
    """A TV with Chromecast built-in: its instance and host named by its 32-digit id, as Cast devices name them."""
    uid = f"{rng.getrandbits(128):032x}"
    model = rng.choice(("Chromecast", "Google TV Streamer", "BRAVIA 4K VH2", "Philips Google TV"))
    room = rng.choice(("Meeting Room", "Reception TV", "Break Room", "Board Room"))
    cert = f"{rng.getrandbits(160):040X}"[:30]
    return Service("_googlecast._tcp.local", f"{model.replace(' ', '-')}-{uid}", f"{uid[:8]}-{uid[8:12]}-"
                   f"{uid[12:16]}-{uid[16:20]}-{uid[20:]}.local", 8009,
                   (f"id={uid}", f"cd={cert[:32]}", "rm=", "ve=05", f"md={model}", "ic=/setup/icon.png",
                    f"fn={room}", f"ca={rng.choice((199172, 264709, 465413))}", "st=0", f"bs=FA8F{cert[:8]}", "nf=1",
                    "rs="), ip)


def printer(rng: random.Random, ip: str, kind: str) -> Service:
    """A network printer's IPP (or IPPS) service, named as HP's firmware names it: model and the MAC's tail."""
    tail = f"{rng.getrandbits(24):06X}"
    model = rng.choice(("HP LaserJet Pro M404dn", "HP Color LaserJet MFP M479fdw", "HP OfficeJet Pro 9020"))
    uuid = f"{rng.getrandbits(128):032x}"
    return Service(kind, f"{model} [{tail}]", f"HP{tail}.local", 631,
                   ("txtvers=1", "qtotal=1", "rp=ipp/print", f"ty={model}", "adminurl=http://"
                    f"HP{tail}.local./#hId-pgAirPrint", "note=", "priority=0",
                    "product=(" + model.removeprefix("HP ") + ")", "pdl=application/pdf,image/urf,image/pwg-raster",
                    f"UUID={uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}", "Color=F",
                    "Duplex=T", "URF=V1.4,CP99,W8,OB10,PQ3-4-5,ADOBERGB24,DEVRGB24,DEVW8,SRGB24,DM1,IS1,MT1-2-3-5-12",
                    "TLS=1.2", "mopria-certified=2.0", "kind=document,envelope,label,postcard"), ip)


def continuous(start_us: int, lo: int, hi: int) -> list[int]:
    """When a querier browsing since ``start_us`` asks inside ``[lo, hi]``: 1 s after it starts, then at intervals
    doubling up to an hour (RFC 6762 5.2; avahi's and mDNSResponder's continuous querying)."""
    out, at, gap = [], start_us + SECOND, SECOND
    while at <= hi:
        if at >= lo:
            out.append(at)
        at += gap
        gap = min(2 * gap, 3600 * SECOND)
    return out
