"""DNS lookups as the suspect's glibc makes them: an A and an AAAA question per name, on one socket.

A Debian 12 desktop runs no systemd-resolved: NetworkManager writes ``/etc/resolv.conf`` with the DHCP server's
resolver, and every ``getaddrinfo`` (AF_UNSPEC) goes to the wire, glibc keeping no cache. Its stub (``send_dg``)
opens one UDP socket on a random port and sends the A question, then the AAAA question microseconds later, each
with its own random id and RD set; it takes the answers in whichever order they come. The office's
NetworkManager profile sets ``ipv4.dns-options edns0``, so resolv.conf has ``options edns0`` and glibc adds an
EDNS0 OPT record (1232-byte UDP payload, no DNSSEC); glibc's default, without it, sends none. The resolver (BIND,
Unbound or the router's dnsmasq) answers each with the CNAME chain it followed and the records at its end, or,
for a name without IPv6 addresses, no answer and the zone's SOA in the authority section (RFC 2308 NODATA), and
its own OPT record.

Messages are packed with :mod:`struct`, names compressed as a server compresses them (a pointer to the first
place a suffix occurs); tshark dissects every one in the tests.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from dataclasses import dataclass

from dflab.evidence.network.conversation import Conversation, datagram
from dflab.evidence.network.segment import Segment

A, CNAME, SOA, AAAA, OPT = 1, 5, 6, 28, 41
EDNS_PAYLOAD = 1232
QUERY_FLAGS = 0x0100  # RD
ANSWER_FLAGS = 0x8180  # QR RD RA, NOERROR


@dataclass(frozen=True)
class Answer:
    """What the resolver knows of a name: the CNAME chain from it, and the addresses at the chain's end."""

    chain: tuple[str, ...]  # CNAME targets in order (empty: the name has the addresses itself)
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]
    ttl: int  # seconds the resolver's cached records have left
    zone: str  # the zone whose SOA a NODATA answer carries


class _Writer:
    """Packs one message, compressing names against what it already holds."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.names: dict[str, int] = {}

    def name(self, name: str) -> None:
        labels = name.rstrip(".").split(".")
        for i in range(len(labels)):
            suffix = ".".join(labels[i:]).lower()
            if suffix in self.names:
                self.buf += struct.pack("!H", 0xC000 | self.names[suffix])
                return
            if len(self.buf) < 0x3FFF:
                self.names[suffix] = len(self.buf)
            raw = labels[i].encode()
            self.buf += bytes([len(raw)]) + raw
        self.buf += b"\x00"

    def record(self, owner: str, rtype: int, ttl: int, rdata: bytes | str | None = None,
               soa: tuple[str, str, int, int, int, int, int] | None = None) -> None:
        self.name(owner)
        self.buf += struct.pack("!HHI", rtype, 1, ttl)
        at = len(self.buf)
        self.buf += b"\x00\x00"
        if isinstance(rdata, bytes):
            self.buf += rdata
        elif isinstance(rdata, str):
            self.name(rdata)
        elif soa is not None:
            self.name(soa[0])
            self.name(soa[1])
            self.buf += struct.pack("!IIIII", *soa[2:])
        struct.pack_into("!H", self.buf, at, len(self.buf) - at - 2)


def _opt() -> bytes:
    """An EDNS0 OPT pseudo-record: root owner, the UDP payload size, no extended flags, no options."""
    return b"\x00" + struct.pack("!HHIH", OPT, EDNS_PAYLOAD, 0, 0)


def query(txid: int, qname: str, qtype: int) -> bytes:
    """glibc's question (``res_mkquery``, ``options edns0``): RD set, one question, an EDNS0 OPT record."""
    w = _Writer()
    w.buf += struct.pack("!HHHHHH", txid, QUERY_FLAGS, 1, 0, 0, 1)
    w.name(qname)
    w.buf += struct.pack("!HH", qtype, 1)
    return bytes(w.buf) + _opt()


def response(txid: int, qname: str, qtype: int, answer: Answer) -> bytes:
    """The resolver's answer to ``qtype`` for ``qname``: the chain, the addresses, or NODATA with the SOA."""
    addresses = answer.ipv4 if qtype == A else answer.ipv6
    owners = (qname, *answer.chain)
    w = _Writer()
    count = len(answer.chain) + len(addresses)
    w.buf += struct.pack("!HHHHHH", txid, ANSWER_FLAGS, 1, count, 0 if addresses else 1, 1)
    w.name(qname)
    w.buf += struct.pack("!HH", qtype, 1)
    for owner, target in zip(owners, answer.chain, strict=False):
        w.record(owner, CNAME, answer.ttl, target)
    for address in addresses:
        w.record(owners[-1], qtype, answer.ttl, ipaddress.ip_address(address).packed)
    if not addresses:
        zone = answer.zone
        w.record(zone, SOA, min(answer.ttl, 900), soa=(f"ns1.{zone}", f"hostmaster.{zone}", 2026010101, 7200,
                                                       3600, 1209600, 900))
    return bytes(w.buf) + _opt()


def lookup(seg: Segment, rng: random.Random, t_us: int, client_ip: str, resolver_ip: str, qname: str,
           answer: Answer, port: int, a_txid: int) -> tuple[Conversation, Conversation]:
    """Both transactions for ``qname`` starting at ``t_us``: (the A one, the AAAA one), from glibc's one socket.

    The socket is connected (DF, IP IDs counted from a random start); the resolver's unconnected socket answers
    without DF, with hashed IP IDs. The A answer is seen first. The two share their 5-tuple, so tshark shows one
    UDP stream; they are kept apart here so the A transaction is the fact a planned lookup reports.
    """
    client, resolver = seg.endpoint(client_ip), seg.endpoint(resolver_ip)
    convs = (Conversation("udp", client, port, resolver, 53), Conversation("udp", client, port, resolver, 53))
    t_aaaa = t_us + rng.randint(15, 90)
    t_answer = t_us + resolver.react_us(rng)
    t_answer_aaaa = max(t_aaaa + resolver.react_us(rng), t_answer + rng.randint(20, 400))
    ip_id = rng.getrandbits(16)  # the connected socket's counter: the AAAA question takes the next one
    for k, (conv, qtype, t_ask, t_ans, txid) in enumerate(((convs[0], A, t_us, t_answer, a_txid),
                                                           (convs[1], AAAA, t_aaaa, t_answer_aaaa,
                                                            rng.randrange(1, 65536)))):
        datagram(conv, t_ask, True, query(txid, qname, qtype), (ip_id + k) & 0xFFFF, True)
        datagram(conv, t_ans, False, response(txid, qname, qtype, answer), rng.getrandbits(16), False)
    return convs
