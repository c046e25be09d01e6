"""Stream packets out of a pcap/pcapng file safely: one packet in memory at a time.

This is the low-level half of :mod:`dflab.forensics.pcap`.  It exists
separately because reading real captures has three traps the notebook
functions should not each have to know about:

* **Truncated files** (a capture copied while still being written): scapy
  returns the half-written last packet as if it were whole.  We scan the
  record headers first (seeking, not reading payloads) and stop before a
  cut-short packet, with a warning naming the file.
* **Odd link types**: the upper bits of a pcap link type may carry FCS
  information (tcpdump masks them off); scapy then falls back to raw bytes.
  We mask the same way and dissect with the real link layer.
* **Unreadable files** (not a capture, empty, header cut short) raise
  :class:`EvidenceError` naming the file instead of a scapy traceback.

It also makes every frame read as tshark reads it: MPLS label stacks and
PPPoE sessions are dissected down to the IP inside (scapy binds them only
when their modules are imported, which ``scapy.all`` does and a notebook
importing dflab does not), raw-IP captures choose IPv4 or IPv6 per packet
whatever the platform's number for "raw" (12, 14, 101; 228 and 229 fix the
version), and fragmented IP datagrams are reassembled
(:mod:`dflab.forensics.ipfrag`).
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

import scapy.contrib.mpls  # noqa: F401 - binds MPLS to Ethernet type 0x8847/0x8848, as Wireshark dissects it
import scapy.layers.ppp  # noqa: F401 - binds PPPoE (0x8863/0x8864) and PPP's IPv4/IPv6 payloads
from scapy.config import conf
from scapy.error import Scapy_Exception
from scapy.layers.inet6 import IPv46
from scapy.packet import Packet, Raw
from scapy.utils import PcapNgReader, PcapReader

from dflab.errors import EvidenceError
from dflab.forensics.ipfrag import Reassembler

__all__ = ["Frame", "TruncatedCaptureWarning", "frames"]

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",  # microsecond
    b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">",  # nanosecond
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_PCAPNG_PACKET_BLOCKS = {2, 3, 6}  # obsolete packet, simple packet, enhanced packet
_LINKTYPE_MASK = 0x03FFFFFF  # tcpdump's LT_LINKTYPE(): drop the FCS-length bits
# DLT_RAW is 12 on most systems and 14 on OpenBSD; captures written there carry that number and tshark reads both
# as raw IP. scapy knows 12 (and LINKTYPE_RAW 101), not 14.
_RAW_IP_LINKTYPES = {12: IPv46, 14: IPv46, 101: IPv46}


class TruncatedCaptureWarning(UserWarning):
    """The capture ends in the middle of a packet; the complete packets before it were read."""


@dataclass(frozen=True)
class Frame:
    """One captured packet: its 1-based number (as Wireshark counts), UTC time in ns, wire length, packet.

    ``fragment`` is True for an IP fragment that does not complete its
    datagram: its payload is left as raw bytes, and the datagram is dissected
    whole at the frame of its last fragment.
    """

    number: int
    time_ns: int
    length: int
    packet: Packet
    interface: str | None
    fragment: bool = False


def frames(path: str | os.PathLike[str]) -> Iterator[Frame]:
    """Yield every complete packet of a pcap or pcapng file, in file order.

    Raises :class:`EvidenceError` when the file is missing or is not a
    readable capture; warns (:class:`TruncatedCaptureWarning`) and stops
    early when the file was cut short inside a packet.
    """
    target = Path(path)
    complete = _complete_packet_count(target)
    try:
        reader = PcapReader(str(target))
    except (Scapy_Exception, OSError, struct.error, EOFError) as exc:
        raise EvidenceError(f"not a readable pcap/pcapng capture: {exc}", str(target)) from exc
    relink = _relink_class(reader)
    fragments = Reassembler()
    with reader:
        for number, packet in enumerate(reader, start=1):
            if complete is not None and number > complete:
                break
            if relink is not None and isinstance(packet, Raw):
                packet = _redissect(relink, packet)
            time_ns, length, interface = _ns(packet.time), int(packet.wirelen or len(packet)), _interface(packet)
            packet, fragment = fragments.feed(packet)
            yield Frame(number, time_ns, length, packet, interface, fragment)


def _ns(time: Decimal | float) -> int:
    """Seconds (scapy's exact EDecimal, nanosecond captures included) to integer nanoseconds."""
    return int(Decimal(time) * 1_000_000_000)


def _interface(packet: Packet) -> str | None:
    name = getattr(packet, "sniffed_on", None)
    return None if name is None else str(name)


def _relink_class(reader: PcapReader | PcapNgReader) -> type[Packet] | None:
    linktype = getattr(reader, "linktype", None)
    if linktype is None or linktype in conf.l2types:
        return None
    linktype &= _LINKTYPE_MASK
    cls = _RAW_IP_LINKTYPES.get(linktype) or conf.l2types.get(linktype)
    return cls if isinstance(cls, type) else None


def _redissect(cls: type[Packet], packet: Packet) -> Packet:
    fresh = cls(bytes(packet))
    fresh.time = packet.time
    fresh.wirelen = packet.wirelen
    return fresh


def _complete_packet_count(path: Path) -> int | None:
    """Count the packets whose records end inside the file; None if the file is whole.

    Only record headers are read (the payloads are skipped with seek), so this
    costs one pass of small reads even on a large capture.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            magic = fh.read(4)
            if magic in _PCAP_MAGICS:
                count, cut_at = _scan_pcap(fh, _PCAP_MAGICS[magic], size)
            elif magic == _PCAPNG_SHB:
                count, cut_at = _scan_pcapng(fh, size)
            else:
                return None  # let scapy say what it thinks of the file
    except OSError as exc:
        raise EvidenceError(f"cannot read capture: {exc.strerror or exc}", str(path)) from exc
    if cut_at is None:
        return None
    warnings.warn(
        f"{path}: capture is truncated at byte {cut_at} of {size} (packet {count + 1} is cut short); "
        f"reading the {count} complete packets before the cut",
        TruncatedCaptureWarning, stacklevel=4)
    return count


def _scan_pcap(fh: BinaryIO, endian: str, size: int) -> tuple[int, int | None]:
    if size < 24:
        return 0, None  # header itself is cut: scapy raises, and we turn that into EvidenceError
    pos, count = 24, 0
    while pos < size:
        fh.seek(pos)
        header = fh.read(16)
        if len(header) < 16:
            return count, pos
        caplen = struct.unpack(endian + "I", header[8:12])[0]
        end = pos + 16 + caplen
        if end > size:
            return count, pos
        pos, count = end, count + 1
    return count, None


def _scan_pcapng(fh: BinaryIO, size: int) -> tuple[int, int | None]:
    pos, count, endian = 0, 0, "<"
    while pos < size:
        fh.seek(pos)
        header = fh.read(12)
        if len(header) < 12:
            return count, pos
        if header[:4] == _PCAPNG_SHB:
            endian = "<" if header[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        block_type, length = struct.unpack(endian + "II", header[:8])
        if length < 12 or pos + length > size:
            return count, pos
        if block_type in _PCAPNG_PACKET_BLOCKS:
            count += 1
        pos += length
    return count, None
