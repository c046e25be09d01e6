"""SNTP client poll and server reply (UDP/123): scapy builds the layouts once, timestamps are patched."""

from __future__ import annotations

import functools
import struct

from scapy.layers.ntp import NTPHeader

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


@functools.cache
def _templates() -> tuple[bytes, bytes]:
    """Client (mode 3) and server (mode 4, stratum 2) headers with zeroed timestamps."""
    client = NTPHeader(version=4, mode=3, stratum=0, poll=0, precision=0, id="0.0.0.0",
                       ref=0, orig=0, recv=0, sent=0)
    server = NTPHeader(version=4, mode=4, stratum=2, poll=3, precision=-23, delay=0.0153, dispersion=0.0269,
                       id="17.253.34.253", ref=0, orig=0, recv=0, sent=0)
    return bytes(client), bytes(server)


def _ntp_ts(t_us: int) -> bytes:
    """Microseconds since the Unix epoch → 64-bit NTP timestamp (32.32 fixed point)."""
    sec, usec = divmod(t_us, 1_000_000)
    return struct.pack("!II", sec + NTP_EPOCH_OFFSET, (usec << 32) // 1_000_000)


def ntp_messages(t_request: int, t_reply: int) -> tuple[bytes, bytes]:
    """The poll sent at ``t_request`` and the reply seen at ``t_reply`` (times in microseconds)."""
    client_tpl, server_tpl = _templates()
    request = client_tpl[:40] + _ntp_ts(t_request)
    served = t_request + (t_reply - t_request) // 2
    reference = t_request - 512_000_000
    reply = server_tpl[:16] + _ntp_ts(reference) + _ntp_ts(t_request) + _ntp_ts(served) + _ntp_ts(served + 30)
    return request, reply
