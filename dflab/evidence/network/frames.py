"""Ethernet/IPv4 frames: layouts built by scapy once, then copied and patched per packet.

Building one layered scapy packet costs about a millisecond on the lab
machines, far too slow for captures of thousands of packets.  So scapy builds
each header layout (Ether/IP/TCP, Ether/IP/TCP with SYN options, Ether/IP/UDP)
exactly once, and every packet is a copy of that template with addresses,
ports, sequence numbers, lengths and checksums patched in with :mod:`struct`
and checksummed with scapy's own :func:`scapy.utils.checksum`.  The tests
re-dissect every frame with scapy and rebuild its checksums to prove the
patched bytes equal what scapy itself would have produced.
"""

from __future__ import annotations

import functools
import ipaddress
import struct

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.utils import checksum

ETH_LEN = 14
IP_LEN = 20
MIN_FRAME = 60  # shortest Ethernet frame without FCS; shorter received frames carry padding
MSS = 1460

# TCP flag bits as on the wire.
FIN, SYN, PSH, ACK = 0x01, 0x02, 0x08, 0x10
SYN_OPTIONS = [("MSS", MSS), ("NOP", None), ("NOP", None), ("SAckOK", b"")]


@functools.cache
def _templates() -> tuple[bytes, bytes, bytes]:
    """Return the plain TCP, SYN TCP (with MSS/SACK options) and UDP frame layouts."""
    tcp = bytes(Ether() / IP(flags="DF") / TCP(flags="A"))
    syn = bytes(Ether() / IP(flags="DF") / TCP(flags="S", options=SYN_OPTIONS))
    udp = bytes(Ether() / IP(flags="DF") / UDP())
    return tcp, syn, udp


def mac_bytes(mac: str) -> bytes:
    """``"52:54:00:12:34:56"`` → 6 bytes."""
    return bytes.fromhex(mac.replace(":", ""))


def ip_bytes(ip: str) -> bytes:
    """Dotted quad → 4 bytes."""
    return ipaddress.IPv4Address(ip).packed


def _ip_header(buf: bytearray, src_ip: bytes, dst_ip: bytes, ttl: int, ip_id: int) -> None:
    """Patch the IPv4 header of ``buf`` (total length taken from the buffer) and checksum it."""
    struct.pack_into("!HH", buf, ETH_LEN + 2, len(buf) - ETH_LEN, ip_id & 0xFFFF)
    buf[ETH_LEN + 8] = ttl
    buf[ETH_LEN + 12:ETH_LEN + 20] = src_ip + dst_ip
    struct.pack_into("!H", buf, ETH_LEN + 10, 0)
    struct.pack_into("!H", buf, ETH_LEN + 10, checksum(bytes(buf[ETH_LEN:ETH_LEN + IP_LEN])))


def _pseudo_header(src_ip: bytes, dst_ip: bytes, proto: int, length: int) -> bytes:
    return src_ip + dst_ip + struct.pack("!BBH", 0, proto, length)


def pad(frame: bytes) -> bytes:
    """Pad a received frame to the Ethernet minimum, as a NIC hands it to the capture."""
    return frame + b"\x00" * (MIN_FRAME - len(frame)) if len(frame) < MIN_FRAME else frame


def tcp_frame(
    src_mac: bytes,
    dst_mac: bytes,
    src_ip: bytes,
    dst_ip: bytes,
    ttl: int,
    ip_id: int,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    window: int,
    payload: bytes = b"",
) -> bytes:
    """One Ether/IP/TCP frame; SYN segments carry the MSS and SACK-permitted options."""
    tcp_tpl, syn_tpl, _ = _templates()
    buf = bytearray(syn_tpl if flags & SYN else tcp_tpl)
    buf += payload
    buf[0:6] = dst_mac
    buf[6:12] = src_mac
    _ip_header(buf, src_ip, dst_ip, ttl, ip_id)
    off = ETH_LEN + IP_LEN
    struct.pack_into("!HHII", buf, off, sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF if flags & ACK else 0)
    buf[off + 13] = flags
    struct.pack_into("!HHH", buf, off + 14, window, 0, 0)
    segment = bytes(buf[off:])
    cksum = checksum(_pseudo_header(src_ip, dst_ip, 6, len(segment)) + segment)
    struct.pack_into("!H", buf, off + 16, cksum)
    return bytes(buf)


def udp_frame(
    src_mac: bytes,
    dst_mac: bytes,
    src_ip: bytes,
    dst_ip: bytes,
    ttl: int,
    ip_id: int,
    sport: int,
    dport: int,
    payload: bytes,
) -> bytes:
    """One Ether/IP/UDP frame with a valid UDP checksum."""
    _, _, udp_tpl = _templates()
    buf = bytearray(udp_tpl)
    buf += payload
    buf[0:6] = dst_mac
    buf[6:12] = src_mac
    _ip_header(buf, src_ip, dst_ip, ttl, ip_id)
    off = ETH_LEN + IP_LEN
    length = len(buf) - off
    struct.pack_into("!HHHH", buf, off, sport, dport, length, 0)
    cksum = checksum(_pseudo_header(src_ip, dst_ip, 17, length) + bytes(buf[off:]))
    struct.pack_into("!H", buf, off + 6, cksum or 0xFFFF)  # 0 means "no checksum" in UDP
    return bytes(buf)


@functools.cache
def arp_frame(op: int, src_mac: bytes, src_ip: str, dst_mac: bytes, dst_ip: str) -> bytes:
    """An ARP request (op 1, broadcast) or reply (op 2); few distinct ones exist, so they are cached."""
    smac = src_mac.hex(":")
    eth_dst = "ff:ff:ff:ff:ff:ff" if op == 1 else dst_mac.hex(":")
    hwdst = "00:00:00:00:00:00" if op == 1 else dst_mac.hex(":")
    return bytes(Ether(src=smac, dst=eth_dst) / ARP(op=op, hwsrc=smac, psrc=src_ip, hwdst=hwdst, pdst=dst_ip))
