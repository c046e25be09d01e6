"""Ethernet/IPv4 frames packed with :mod:`struct`, their Internet checksums summed as integers.

Building one layered scapy packet costs about a millisecond, far too slow for captures of thousands of packets,
so headers are packed directly: Ethernet II, a 20-byte IPv4 header (DF as the sender's stack sets it), and UDP
here; TCP's frames, whose fixed fields a session sums once per side, in :mod:`.tcp` (``TcpSession._emit``).
The checksums (RFC 1071) are not summed word by word:
since 2**16 is 1 modulo 0xFFFF, the one's-complement sum of big-endian 16-bit words is the whole buffer read as one
integer, modulo 0xFFFF (0 standing for 0xFFFF once anything was added), so each header's fields are added as
numbers and a payload is read with one ``int.from_bytes``: the same values as scapy's
:func:`scapy.utils.checksum`, a frame written in about 60 % of the time (a Windows capture has 70,000). The tests
re-dissect every frame with scapy and tshark and check every checksum.
"""

from __future__ import annotations

import functools
import ipaddress
import struct

from scapy.layers.l2 import ARP, Ether

ETH_LEN = 14
IP_LEN = 20
MIN_FRAME = 60  # shortest Ethernet frame without FCS; shorter frames carry padding on the wire

# TCP flag bits as on the wire.
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
_ETH_IPV4 = b"\x08\x00"
_DF = 0x4000


def mac_bytes(mac: str) -> bytes:
    """``"52:54:00:12:34:56"`` → 6 bytes."""
    return bytes.fromhex(mac.replace(":", ""))


def ip_bytes(ip: str) -> bytes:
    """Dotted quad → 4 bytes."""
    return ipaddress.IPv4Address(ip).packed


_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")


def _fold(total: int) -> int:
    """The Internet checksum of data whose big-endian 16-bit words add up to ``total`` (not all zero words)."""
    rest = total % 0xFFFF
    return 0xFFFF - rest if rest else 0


def _payload_sum(payload: bytes) -> int:
    """``payload`` as one integer, padded with a zero byte to whole 16-bit words (congruent to its words' sum)."""
    value = int.from_bytes(payload, "big")
    return value << 8 if len(payload) & 1 else value


def _ip_sum(length: int, ip_id: int, df: bool, ttl: int, proto: int, addresses: int) -> int:
    """The IPv4 header's checksum from its fields (``addresses``: source and destination as one integer)."""
    return _fold(0x4500 + length + (ip_id & 0xFFFF) + (_DF if df else 0) + (ttl << 8 | proto) + addresses)


def _ipv4(length: int, ip_id: int, df: bool, ttl: int, proto: int, src_ip: bytes, dst_ip: bytes) -> bytes:
    cksum = _ip_sum(length, ip_id, df, ttl, proto, int.from_bytes(src_ip + dst_ip, "big"))
    return _IPV4.pack(0x45, 0, length, ip_id & 0xFFFF, _DF if df else 0, ttl, proto, cksum, src_ip, dst_ip)


def pad(frame: bytes) -> bytes:
    """Pad a frame to the Ethernet minimum, as it crosses the wire (and a mirror port hands it to the capture)."""
    return frame + b"\x00" * (MIN_FRAME - len(frame)) if len(frame) < MIN_FRAME else frame


def udp_frame(src_mac: bytes, dst_mac: bytes, src_ip: bytes, dst_ip: bytes, ttl: int, ip_id: int, df: bool,
              sport: int, dport: int, payload: bytes) -> bytes:
    """One Ether/IPv4/UDP frame with a valid UDP checksum."""
    length = 8 + len(payload)
    addresses = int.from_bytes(src_ip + dst_ip, "big")
    cksum = _fold(addresses + 17 + length + sport + dport + length + _payload_sum(payload)) or 0xFFFF  # 0: "none"
    return (dst_mac + src_mac + _ETH_IPV4 + _ipv4(IP_LEN + length, ip_id, df, ttl, 17, src_ip, dst_ip)
            + _UDP.pack(sport, dport, length, cksum) + payload)


@functools.cache
def arp_frame(op: int, src_mac: bytes, src_ip: str, dst_mac: bytes, dst_ip: str, broadcast: bool = True) -> bytes:
    """An ARP request (op 1: broadcast, or unicast to ``dst_mac`` when re-checking a cached entry) or reply (op 2)."""
    smac = src_mac.hex(":")
    eth_dst = "ff:ff:ff:ff:ff:ff" if op == 1 and broadcast else dst_mac.hex(":")
    hwdst = "00:00:00:00:00:00" if op == 1 else dst_mac.hex(":")
    return bytes(Ether(src=smac, dst=eth_dst) / ARP(op=op, hwsrc=smac, psrc=src_ip, hwdst=hwdst, pdst=dst_ip))
