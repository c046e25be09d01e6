"""DNS A lookups over UDP/53: scapy builds each distinct question/answer once, the txid is patched in."""

from __future__ import annotations

import functools
import random
import struct

from scapy.layers.dns import DNS, DNSQR, DNSRR

from dflab.evidence.network.conversation import Conversation, udp_exchange
from dflab.evidence.network.segment import Segment


@functools.cache
def _messages(qname: str, answer: str, ttl: int) -> tuple[bytes, bytes]:
    query = DNS(id=0, rd=1, qd=DNSQR(qname=qname, qtype="A"))
    reply = DNS(id=0, qr=1, rd=1, ra=1, qd=DNSQR(qname=qname, qtype="A"),
                an=DNSRR(rrname=qname, type="A", ttl=ttl, rdata=answer))
    return bytes(query), bytes(reply)


def _with_txid(message: bytes, txid: int) -> bytes:
    return struct.pack("!H", txid) + message[2:]


def dns_lookup(seg: Segment, rng: random.Random, t_us: int, client_ip: str, client_port: int, resolver_ip: str,
               txid: int, qname: str, answer: str, ttl: int) -> Conversation:
    """A query at ``t_us`` and the resolver's answer."""
    conv = Conversation("udp", seg.endpoint(client_ip), client_port, seg.endpoint(resolver_ip), 53)
    query, reply = _messages(qname, answer, ttl)
    udp_exchange(conv, rng, t_us, _with_txid(query, txid), _with_txid(reply, txid))
    return conv
