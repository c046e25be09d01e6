"""Chrome 127's TLS on Windows, as a capture shows it: its own ClientHello (BoringSSL, not Schannel), then TLS 1.3.

What sets Chrome's hello apart from Firefox's (and so what JA3/JA4 fingerprints read): GREASE values in the cipher
list, the groups, the key shares, the versions and as the first and last extensions; the extensions in an order
drawn anew for every connection (Chrome 110 on); the X25519Kyber768Draft00 key share (0x6399, Chrome 124 to 130)
before X25519; ALPS (``application_settings``) for h2; a GREASE Encrypted Client Hello extension; brotli certificate
compression. A server that knows the hybrid group answers with its 1120-byte share, others with X25519.
The rest of the session (encrypted records, tickets, close) is what :mod:`dflab.evidence.network.tls` writes.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

from dflab.evidence.network.tcp import TcpSession
from dflab.evidence.network.tls import CCS, HANDSHAKE, Exchange, encrypted
from dflab.evidence.network.tls import extension as _ext
from dflab.evidence.network.tls import record as _record
from dflab.evidence.network.tls import vec16 as _vec16

KYBER = 0x6399  # X25519Kyber768Draft00
X25519, SECP256R1, SECP384R1 = 0x001D, 0x0017, 0x0018
CIPHERS = (0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014, 0x009C, 0x009D,
           0x002F, 0x0035)
SIGNATURES = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)


def _grease(rng: random.Random) -> int:
    """One of the sixteen GREASE values (RFC 8701), 0x0A0A to 0xFAFA."""
    n = rng.randrange(16)
    return (n << 12) | 0x0A00 | (n << 4) | 0x0A


def client_hello(rng: random.Random, sni: str) -> tuple[bytes, bytes]:
    """Chrome's ClientHello record for ``sni``, and the legacy session id the server echoes."""
    grease = [_grease(rng) for _ in range(4)]
    if grease[3] == grease[0]:  # BoringSSL keeps the first and last extensions' GREASE apart
        grease[3] ^= 0x1010
    session_id = rng.randbytes(32)
    host = sni.encode()
    alpn = b"".join(bytes([len(p)]) + p for p in (b"h2", b"http/1.1"))
    shares = (struct.pack("!HH", grease[1], 1) + b"\x00" + struct.pack("!HH", KYBER, 1216) + rng.randbytes(1216)
              + struct.pack("!HH", X25519, 32) + rng.randbytes(32))
    ech = struct.pack("!BHHB", 0, 1, 1, rng.randrange(256)) + struct.pack("!H", 32) + rng.randbytes(32)
    ech += struct.pack("!H", 144) + rng.randbytes(144)
    middle = [
        _ext(0x0000, struct.pack("!HBH", len(host) + 3, 0, len(host)) + host),  # server_name
        _ext(0x0017, b""),  # extended_master_secret
        _ext(0xFF01, b"\x00"),  # renegotiation_info
        _ext(0x000A, _vec16((grease[1], KYBER, X25519, SECP256R1, SECP384R1))),  # supported_groups
        _ext(0x000B, b"\x01\x00"),  # ec_point_formats
        _ext(0x0023, b""),  # session_ticket
        _ext(0x0010, struct.pack("!H", len(alpn)) + alpn),  # ALPN
        _ext(0x0005, b"\x01\x00\x00\x00\x00"),  # status_request
        _ext(0x000D, _vec16(SIGNATURES)),  # signature_algorithms
        _ext(0x0012, b""),  # signed_certificate_timestamp
        _ext(0x0033, struct.pack("!H", len(shares)) + shares),  # key_share
        _ext(0x002D, b"\x01\x01"),  # psk_key_exchange_modes
        _ext(0x002B, b"\x06" + struct.pack("!HHH", grease[2], 0x0304, 0x0303)),  # supported_versions
        _ext(0x001B, b"\x02\x00\x02"),  # compress_certificate: brotli
        _ext(0x4469, struct.pack("!H", 3) + b"\x02h2"),  # application_settings (ALPS)
        _ext(0xFE0D, ech),  # a GREASE encrypted_client_hello
    ]
    rng.shuffle(middle)
    extensions = _ext(grease[0], b"") + b"".join(middle) + _ext(grease[3], b"\x00")
    body = (b"\x03\x03" + rng.randbytes(32) + bytes([32]) + session_id
            + _vec16((_grease(rng), *CIPHERS)) + b"\x01\x00" + struct.pack("!H", len(extensions)) + extensions)
    return _record(HANDSHAKE, b"\x01" + len(body).to_bytes(3, "big") + body, 0x0301), session_id


def server_hello(rng: random.Random, session_id: bytes, hybrid: bool) -> bytes:
    """ServerHello (TLS_AES_128_GCM_SHA256) with the hybrid share or X25519's, and the ChangeCipherSpec."""
    group, size = (KYBER, 1120) if hybrid else (X25519, 32)
    extensions = _ext(0x0033, struct.pack("!HH", group, size) + rng.randbytes(size)) + _ext(0x002B, b"\x03\x04")
    body = (b"\x03\x03" + rng.randbytes(32) + bytes([32]) + session_id + struct.pack("!HB", 0x1301, 0)
            + struct.pack("!H", len(extensions)) + extensions)
    return _record(HANDSHAKE, b"\x02" + len(body).to_bytes(3, "big") + body) + _record(CCS, b"\x01")


def chrome_session(session: TcpSession, rng: random.Random, sni: str, exchanges: Sequence[Exchange], *,
                   hybrid: bool, certificate: int) -> None:
    """Chrome's handshake on an open TCP session, then each exchange (as ``tls.tls_session`` has them)."""
    hello, session_id = client_hello(rng, sni)
    session.send(True, hello, reply=True, think_us=rng.randint(200, 3_000))
    flight = (server_hello(rng, session_id, hybrid) + encrypted(rng, rng.randint(30, 120))
              + encrypted(rng, certificate) + encrypted(rng, rng.choice((79, 264, 520))) + encrypted(rng, 36))
    session.send(False, flight, reply=True, think_us=rng.randint(300, 4_000))
    for n, ex in enumerate(exchanges):
        head = (_record(CCS, b"\x01") + encrypted(rng, 36)) if n == 0 else b""
        session.send(True, head + encrypted(rng, ex.request), reply=True, think_us=ex.idle_us)
        tickets = encrypted(rng, rng.randint(180, 260)) + encrypted(rng, rng.randint(180, 260)) if n == 0 else b""
        session.send(False, tickets + encrypted(rng, ex.response), think_us=ex.server_us)
