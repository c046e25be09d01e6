"""Name lookups as Windows 10's DNS Client service (Dnscache) makes them, and the router's dnsmasq answers.

A program's ``getaddrinfo`` goes to Dnscache, which asks the resolver DHCP gave it: an A and an AAAA question,
each from a socket of its own (a fresh random port in the dynamic range, a random id, RD set, no EDNS0 record:
Windows 10's stub sends none), the IP ID the host's one global counter. It caches answers for their TTL, so a
name asked again within it causes nothing on the wire. dnsmasq answers from an unconnected socket (no DF,
hashed IP IDs) with the CNAME chain and addresses, or NODATA and the zone's SOA for a name without IPv6.
"""

from __future__ import annotations

import random
import struct

from dflab.evidence.network.conversation import Conversation, datagram
from dflab.evidence.network.dns import AAAA, A, Answer, query, response
from dflab.evidence.network.segment import Endpoint

_OPT_LEN = 11  # the EDNS0 OPT record dflab's DNS writer appends (root name, type, class, TTL, RDLENGTH)


def _without_opt(message: bytes) -> bytes:
    """A message as a stub that sends no EDNS0 gets it: the OPT record gone, ARCOUNT one less."""
    body = message[:-_OPT_LEN]
    return body[:10] + struct.pack("!H", struct.unpack("!H", body[10:12])[0] - 1) + body[12:]


def global_ip_id(ep: Endpoint, t_us: int, nth: int) -> int:
    """The IP ID Windows' one counter holds at ``t_us`` (it advances with all the host's traffic)."""
    return (ep.id_base + t_us * ep.id_rate // 1_000_000 + nth) & 0xFFFF


def windows_lookup(rng: random.Random, t_us: int, client: Endpoint, resolver: Endpoint, qname: str, answer: Answer,
                   ports: tuple[int, int]) -> tuple[list[Conversation], int]:
    """The A and AAAA transactions for ``qname`` asked at ``t_us``; returns them and when the A answer arrives."""
    convs = []
    t_answer_a = 0
    t_ask = t_us
    for k, qtype in enumerate((A, AAAA)):
        conv = Conversation("udp", client, ports[k], resolver, 53)
        txid = rng.randrange(1, 65536)
        t_ans = t_ask + resolver.react_us(rng)
        datagram(conv, t_ask, True, _without_opt(query(txid, qname, qtype)), global_ip_id(client, t_ask, k), False)
        datagram(conv, t_ans, False, _without_opt(response(txid, qname, qtype, answer)), rng.getrandbits(16), False)
        if qtype == A:
            t_answer_a = t_ans
        convs.append(conv)
        t_ask += rng.randint(40, 400)
    return convs, t_answer_a
