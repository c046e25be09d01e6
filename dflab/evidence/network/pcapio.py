"""Write frames as the capture box's dumpcap wrote them (pcapng) and as ``editcap -F pcap`` converts that (pcap).

The pcapng file is what Wireshark's dumpcap 4.2 on the box's Ubuntu 24.04 writes: a Section Header Block naming
the hardware, OS and capturing application (``shb_hardware``, ``shb_os``, ``shb_userappl``); one Interface
Description Block with the mirror port's name, its OS and nanosecond timestamps (``if_name``, ``if_os``,
``if_tsresol`` 9), Enhanced Packet Blocks, and an Interface Statistics Block when the capture stops. Frames are
timed in microseconds throughout dflab; the nanoseconds below each microsecond, which a software timestamp
carries too, are drawn from the case's seed. The classic pcap holds the same frames at microsecond resolution,
each time the pcapng's truncated, as ``editcap`` truncates it. Both are little-endian, packed with :mod:`struct`,
byte-for-byte reproducible.
"""

from __future__ import annotations

import array
import random
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dflab.evidence.network.conversation import Frame

SNAPLEN = 262144  # dumpcap's default
LINKTYPE_ETHERNET = 1
HARDWARE = "Intel(R) Xeon(R) E-2224 CPU @ 3.40GHz (with SSE4.2)"
OS = "Linux 6.8.0-51-generic"
APPLICATION = "Dumpcap (Wireshark) 4.2.2 (Git v4.2.2 packaged as 4.2.2-1.1build3)"
INTERFACE = "eno2"  # the capture box's port on the switch's mirror (SPAN) session


@dataclass(frozen=True)
class CaptureInfo:
    """When dumpcap started and stopped (µs since the epoch), and the seed of the sub-microsecond digits."""

    start_us: int
    end_us: int
    seed: int


_PAD = (b"", b"\0", b"\0\0", b"\0\0\0")


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + bytes(-len(value) % 4)


def _options(*pairs: tuple[int, bytes]) -> bytes:
    return b"".join(_option(c, v) for c, v in pairs) + struct.pack("<HH", 0, 0)


def _block(kind: int, body: bytes) -> bytes:
    size = 12 + len(body)
    return struct.pack("<II", kind, size) + body + struct.pack("<I", size)


def _ts(ns: int) -> bytes:
    return struct.pack("<II", ns >> 32, ns & 0xFFFFFFFF)


def write_pcap(path: Path, frames: Sequence[Frame]) -> None:
    """Classic libpcap file, microsecond resolution, Ethernet link type."""
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))
        for t_us, frame in frames:
            out.write(struct.pack("<IIII", t_us // 1_000_000, t_us % 1_000_000, len(frame), len(frame)) + frame)


def write_pcapng(path: Path, frames: Sequence[Frame], info: CaptureInfo) -> None:
    """pcapng with one Ethernet interface at nanosecond resolution, as dumpcap writes it."""
    rng = random.Random(info.seed)
    with open(path, "wb") as out:
        out.write(_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + _options(
            (2, HARDWARE.encode()), (3, OS.encode()), (4, APPLICATION.encode()))))
        out.write(_block(1, struct.pack("<HHI", LINKTYPE_ETHERNET, 0, SNAPLEN) + _options(
            (2, INTERFACE.encode()), (9, b"\x09"), (12, OS.encode()))))
        for t_us, frame in frames:
            body = struct.pack("<I", 0) + _ts(t_us * 1000 + rng.randint(0, 999))
            body += struct.pack("<II", len(frame), len(frame)) + frame + bytes(-len(frame) % 4)
            out.write(_block(6, body))
        stop = info.end_us * 1000 + rng.randint(0, 999)
        out.write(_block(5, struct.pack("<I", 0) + _ts(stop) + _options(
            (2, _ts(info.start_us * 1000 + rng.randint(0, 999))), (3, _ts(stop)),
            (4, struct.pack("<Q", len(frames))), (5, struct.pack("<Q", 0)))))


def _sub_microseconds(rng: random.Random, n: int) -> list[int]:
    """``[rng.randint(0, 999) for _ in range(n)]``, the same numbers and the generator left in the same state.

    ``randint(0, 999)`` takes ``getrandbits(10)`` (one 32-bit output of the Mersenne Twister, its top 10 bits) until
    one is below 1000; ``getrandbits(32 * m)`` is the next m outputs, the first in the lowest bits. So the outputs
    are drawn in bulk, filtered, and the generator is set back and moved on by exactly the outputs used."""
    state = rng.getstate()
    out: list[int] = []
    used = 0
    while len(out) < n:
        want = (n - len(out)) * 1025 // 1000 + 64
        words = array.array("I", rng.getrandbits(32 * want).to_bytes(4 * want, "little"))
        if sys.byteorder == "big":
            words.byteswap()
        for word in words:
            used += 1
            if (value := word >> 22) < 1000:
                out.append(value)
                if len(out) == n:
                    break
    rng.setstate(state)
    if used:
        rng.getrandbits(32 * used)
    return out


def pcapng_bytes(frames: Sequence[Frame], info: CaptureInfo, *, hardware: str = HARDWARE, os: str = OS,
                 application: str = APPLICATION, interface: str = INTERFACE) -> bytes:
    """The pcapng :func:`write_pcapng` writes, as bytes, for a capture box described by the keyword arguments."""
    rng = random.Random(info.seed)
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + _options(
               (2, hardware.encode()), (3, os.encode()), (4, application.encode()))),
           _block(1, struct.pack("<HHI", LINKTYPE_ETHERNET, 0, SNAPLEN) + _options(
               (2, interface.encode()), (9, b"\x09"), (12, os.encode())))]
    # An Enhanced Packet Block: type, length, interface, timestamp (high, low), captured and original length, the
    # frame, padding and the length again; what depends only on the frame's size is made once per size.
    stamp = struct.Struct("<II").pack
    shapes: dict[int, tuple[bytes, bytes, bytes]] = {}
    for (t_us, frame), ns in zip(frames, _sub_microseconds(rng, len(frames)), strict=True):
        ns += t_us * 1000
        size = len(frame)
        shape = shapes.get(size)
        if shape is None:
            block = 32 + size + (-size & 3)
            shape = shapes[size] = (struct.pack("<III", 6, block, 0), struct.pack("<II", size, size),
                                    _PAD[-size & 3] + block.to_bytes(4, "little"))
        head, sizes, tail = shape
        out += (head + stamp(ns >> 32, ns & 0xFFFFFFFF) + sizes, frame, tail)  # joined once: no frame copied twice
    stop = info.end_us * 1000 + rng.randint(0, 999)
    out.append(_block(5, struct.pack("<I", 0) + _ts(stop) + _options(
        (2, _ts(info.start_us * 1000 + rng.randint(0, 999))), (3, _ts(stop)),
        (4, struct.pack("<Q", len(frames))), (5, struct.pack("<Q", 0)))))
    return b"".join(out)
