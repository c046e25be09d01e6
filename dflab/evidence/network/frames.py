"""Ethernet/IPv4 frames packed with :mod:`struct` and checksummed with scapy's own :func:`scapy.utils.checksum`.

Building one layered scapy packet costs about a millisecond, far too slow for captures of thousands of packets,
so headers are packed directly: Ethernet II, a 20-byte IPv4 header (DF as the sender's stack sets it), TCP with
whatever options the sender's profile writes, or UDP. The tests re-dissect every frame with scapy and tshark and
check every checksum.
"""

from __future__ import annotations

import functools
import ipaddress
import struct

from scapy.layers.l2 import ARP, Ether
from scapy.utils import checksum

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


def _ipv4(length: int, ip_id: int, df: bool, ttl: int, proto: int, src_ip: bytes, dst_ip: bytes) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, ip_id & 0xFFFF, _DF if df else 0, ttl, proto, 0,
                       src_ip, dst_ip)
    return head[:10] + struct.pack("!H", checksum(head)) + head[12:]


def _pseudo_header(src_ip: bytes, dst_ip: bytes, proto: int, length: int) -> bytes:
    return src_ip + dst_ip + struct.pack("!BBH", 0, proto, length)


def pad(frame: bytes) -> bytes:
    """Pad a frame to the Ethernet minimum, as it crosses the wire (and a mirror port hands it to the capture)."""
    return frame + b"\x00" * (MIN_FRAME - len(frame)) if len(frame) < MIN_FRAME else frame


def tcp_frame(src_mac: bytes, dst_mac: bytes, src_ip: bytes, dst_ip: bytes, ttl: int, ip_id: int, df: bool,
              sport: int, dport: int, seq: int, ack: int, flags: int, window: int, options: bytes = b"",
              payload: bytes = b"") -> bytes:
    """One Ether/IPv4/TCP frame; ``options`` must be a multiple of 4 bytes long."""
    offset = (20 + len(options)) // 4
    head = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF if flags & ACK else 0,
                       offset << 4, flags, window, 0, 0) + options
    segment = head + payload
    cksum = checksum(_pseudo_header(src_ip, dst_ip, 6, len(segment)) + segment)
    segment = segment[:16] + struct.pack("!H", cksum) + segment[18:]
    return dst_mac + src_mac + _ETH_IPV4 + _ipv4(IP_LEN + len(segment), ip_id, df, ttl, 6, src_ip, dst_ip) + segment


def udp_frame(src_mac: bytes, dst_mac: bytes, src_ip: bytes, dst_ip: bytes, ttl: int, ip_id: int, df: bool,
              sport: int, dport: int, payload: bytes) -> bytes:
    """One Ether/IPv4/UDP frame with a valid UDP checksum."""
    length = 8 + len(payload)
    datagram = struct.pack("!HHHH", sport, dport, length, 0) + payload
    cksum = checksum(_pseudo_header(src_ip, dst_ip, 17, length) + datagram) or 0xFFFF  # 0 means "none" in UDP
    datagram = datagram[:6] + struct.pack("!H", cksum) + datagram[8:]
    return dst_mac + src_mac + _ETH_IPV4 + _ipv4(IP_LEN + length, ip_id, df, ttl, 17, src_ip, dst_ip) + datagram


@functools.cache
def arp_frame(op: int, src_mac: bytes, src_ip: str, dst_mac: bytes, dst_ip: str, broadcast: bool = True) -> bytes:
    """An ARP request (op 1: broadcast, or unicast to ``dst_mac`` when re-checking a cached entry) or reply (op 2)."""
    smac = src_mac.hex(":")
    eth_dst = "ff:ff:ff:ff:ff:ff" if op == 1 and broadcast else dst_mac.hex(":")
    hwdst = "00:00:00:00:00:00" if op == 1 else dst_mac.hex(":")
    return bytes(Ether(src=smac, dst=eth_dst) / ARP(op=op, hwsrc=smac, psrc=src_ip, hwdst=hwdst, pdst=dst_ip))
