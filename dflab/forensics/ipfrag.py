"""Reassemble fragmented IPv4 and IPv6 datagrams while streaming through a capture, as Wireshark does by default.

A datagram larger than the path's MTU travels as fragments: only the first
carries the TCP or UDP header, and no fragment alone holds the DNS answer or
the HTTP segment.  Wireshark (``ip.defragment``/``ipv6.defragment``, on by
default) shows each fragment as a frame and dissects the whole datagram at
the frame that completes it; :class:`Reassembler` does the same for
:func:`dflab.forensics.capture.frames`:

* a fragment that does not complete its datagram keeps its link and IP
  headers, but its payload stays undissected (``Raw``), so no reader takes a
  piece of a datagram for a whole UDP message;
* the fragment that completes it becomes the whole datagram behind that
  frame's own link layer, with the fragmentation fields cleared, dissected
  from the IP header up.

Fragments are keyed as RFC 791 / RFC 8200 say (addresses, protocol and
identification); overlapping bytes keep the first copy seen.  At most
:data:`MAX_PENDING` datagrams wait for their missing fragments; the oldest is
dropped past that, so a capture full of lone fragments cannot fill memory.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
from scapy.packet import Packet, Raw

__all__ = ["MAX_PENDING", "Reassembler"]

MAX_PENDING = 1024
_IPV6_HEADER = 40


@dataclass
class _Datagram:
    """The fragments of one datagram seen so far."""

    header: bytes | None = None  # the IP header (IPv6: with the headers before Fragment) of the offset-0 fragment
    next_header_at: int = 6  # IPv6: where in ``header`` the Fragment header's own next-header byte must go
    next_header: int = 0
    pieces: list[tuple[int, bytes]] = field(default_factory=list)
    total: int | None = None  # payload length, known once the last fragment (more-fragments clear) is seen

    def whole(self) -> bytes | None:
        """The reassembled payload once every byte from 0 to ``total`` is present, else None."""
        if self.header is None or self.total is None:
            return None
        reached = 0
        for offset, piece in sorted(self.pieces):
            if offset > reached:
                return None
            reached = max(reached, offset + len(piece))
        if reached < self.total:
            return None
        data = bytearray(self.total)
        for offset, piece in reversed(self.pieces):  # written last to first: the first copy of a byte wins
            kept = piece[:max(0, self.total - offset)]
            data[offset:offset + len(kept)] = kept
        return bytes(data)


class Reassembler:
    """Feed every frame's packet in capture order; get back what to dissect and whether it is a lone fragment."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self._pending: OrderedDict[tuple, _Datagram] = OrderedDict()
        self._max_pending = max_pending

    def feed(self, packet: Packet) -> tuple[Packet, bool]:
        """(packet, is_fragment): the packet as is, a completed datagram, or a fragment left undissected."""
        if IP in packet:
            ip = packet[IP]
            if int(ip.frag) or int(ip.flags) & 0x1:  # fragment offset, or More Fragments
                return self._ipv4(packet, ip)
            return packet, False
        if IPv6ExtHdrFragment in packet and IPv6 in packet:
            return self._ipv6(packet, packet[IPv6], packet[IPv6ExtHdrFragment])
        return packet, False

    def _ipv4(self, packet: Packet, ip: Packet) -> tuple[Packet, bool]:
        raw = bytes(ip)
        header_length = int(ip.ihl) * 4
        payload = raw[header_length:int(ip.len)] if ip.len else raw[header_length:]
        key = (4, str(ip.src), str(ip.dst), int(ip.proto), int(ip.id))
        datagram = self._datagram(key)
        offset = int(ip.frag) * 8
        if offset == 0:
            datagram.header = raw[:header_length]
        datagram.pieces.append((offset, payload))
        if not int(ip.flags) & 0x1:
            datagram.total = offset + len(payload)
        whole = datagram.whole()
        if whole is None:
            return _undissected(packet, ip, payload), True
        del self._pending[key]
        header = bytearray(datagram.header or b"")
        header[2:4] = (len(header) + len(whole)).to_bytes(2, "big")
        header[6:8] = (int.from_bytes(header[6:8], "big") & 0x4000).to_bytes(2, "big")  # keep DF, clear MF+offset
        header[10:12] = b"\0\0"
        header[10:12] = _checksum(bytes(header)).to_bytes(2, "big")
        return _replace(packet, ip, IP(bytes(header) + whole)), False

    def _ipv6(self, packet: Packet, ip6: Packet, fragment: Packet) -> tuple[Packet, bool]:
        raw = bytes(ip6)
        start = len(raw) - len(bytes(fragment))  # where the Fragment header begins
        end = _IPV6_HEADER + int(ip6.plen)
        payload = raw[start + 8:end]
        key = (6, str(ip6.src), str(ip6.dst), int(fragment.id))
        datagram = self._datagram(key)
        offset = int(fragment.offset) * 8
        if offset == 0:
            datagram.header = raw[:start]
            datagram.next_header_at = _next_header_byte(raw, start)
            datagram.next_header = int(fragment.nh)
        datagram.pieces.append((offset, payload))
        if not int(fragment.m):
            datagram.total = offset + len(payload)
        whole = datagram.whole()
        if whole is None:
            return _undissected(packet, fragment, payload), True
        del self._pending[key]
        header = bytearray(datagram.header or b"")
        header[datagram.next_header_at] = datagram.next_header
        header[4:6] = (len(header) - _IPV6_HEADER + len(whole)).to_bytes(2, "big")
        return _replace(packet, ip6, IPv6(bytes(header) + whole)), False

    def _datagram(self, key: tuple) -> _Datagram:
        datagram = self._pending.get(key)
        if datagram is None:
            datagram = self._pending[key] = _Datagram()
            while len(self._pending) > self._max_pending:
                self._pending.popitem(last=False)
        return datagram


def _next_header_byte(raw: bytes, fragment_at: int) -> int:
    """Offset of the next-header byte that names the Fragment header: the IPv6 header's, or the last extension's."""
    position, at = 6, _IPV6_HEADER
    while at < fragment_at:
        position = at
        at += (raw[at + 1] + 1) * 8
    return position


def _undissected(packet: Packet, layer: Packet, payload: bytes) -> Packet:
    """``packet`` with everything after ``layer`` (an IP or Fragment header) as raw bytes."""
    layer.remove_payload()
    layer.add_payload(Raw(payload))
    return packet


def _replace(packet: Packet, old: Packet, new: Packet) -> Packet:
    """``packet`` with the IP layer ``old`` (and all above it) replaced by ``new``, keeping the link layer."""
    below = old.underlayer
    if below is None:
        new.time, new.wirelen = packet.time, packet.wirelen
        for name in ("sniffed_on", "comments", "direction"):
            if hasattr(packet, name):
                setattr(new, name, getattr(packet, name))
        return new
    below.remove_payload()
    below.add_payload(new)
    return packet


def _checksum(header: bytes) -> int:
    total = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, len(header), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
