"""Write frames as classic pcap and as pcapng with scapy's writers, byte-for-byte reproducibly.

Timestamps are integer microseconds throughout: the pcap writer gets seconds
and microseconds separately, the pcapng writer an exact :class:`~decimal.Decimal`
(a float would round some microseconds down).  The pcap byte order is fixed
to little-endian instead of scapy's default of the host's.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from scapy.data import DLT_EN10MB
from scapy.utils import PcapNgWriter, PcapWriter

from dflab.evidence.network.conversation import Frame

SNAPLEN = 65535


# Not scapy's context manager: it flushes before it closes, so on a full disk (the flush fails) the file stays
# open and its file system busy. ``close()`` closes the file even when its last write fails.


def write_pcap(path: Path, frames: Sequence[Frame]) -> None:
    """Classic libpcap file, microsecond resolution, Ethernet link type."""
    writer = PcapWriter(str(path), linktype=DLT_EN10MB, endianness="<", snaplen=SNAPLEN)
    try:
        writer.write_header(None)
        for t_us, frame in frames:
            writer.write_packet(frame, sec=t_us // 1_000_000, usec=t_us % 1_000_000)
    finally:
        writer.close()


def write_pcapng(path: Path, frames: Sequence[Frame]) -> None:
    """pcapng with one Ethernet interface; scapy writes no host, OS or application options."""
    writer = PcapNgWriter(str(path))
    try:
        writer.linktype = DLT_EN10MB
        writer.write_header(None)
        for t_us, frame in frames:
            writer.write_packet(frame, sec=Decimal(t_us).scaleb(-6))  # type: ignore[arg-type]
    finally:
        writer.close()
