"""TLS 1.3 as Firefox and a web server hold it: ClientHello with SNI, ServerHello, then encrypted records.

What a capture of HTTPS shows without keys: the ClientHello in the clear (Firefox's cipher suites, extensions and
key shares, X25519MLKEM768 first, so the hello fills two TCP segments), the server's ServerHello and the
middlebox-compatibility ChangeCipherSpec, then only application-data records. Everything encrypted is random
bytes from the case's RNG, in the sizes the real messages have: EncryptedExtensions, a certificate chain,
CertificateVerify and Finished from the server; Finished and the first HTTP/2 frames from the client; session
tickets; requests and responses in records of at most 16 KiB; a close_notify alert when a side closes.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from dflab.evidence.network.tcp import TcpSession

HANDSHAKE, CCS, ALERT, APPDATA = 0x16, 0x14, 0x15, 0x17
TAG = 16  # AEAD tag
MAX_RECORD = 16384
X25519MLKEM768, X25519, SECP256R1 = 0x11EC, 0x001D, 0x0017

# Firefox 140's offer (about:support and any capture of it show the same).
CIPHERS = (0x1301, 0x1303, 0x1302, 0xC02B, 0xC02F, 0xCCA9, 0xCCA8, 0xC02C, 0xC030, 0xC00A, 0xC009, 0xC013, 0xC014,
           0x009C, 0x009D, 0x002F, 0x0035)
GROUPS = (X25519MLKEM768, X25519, SECP256R1, 0x0018, 0x0019, 0x0100, 0x0101)
SIGNATURES = (0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203, 0x0201)
KEY_SIZES = {X25519MLKEM768: 1216, X25519: 32, SECP256R1: 65}  # client key shares
SERVER_KEY_SIZES = {X25519MLKEM768: 1120, X25519: 32}


def extension(kind: int, body: bytes) -> bytes:
    """A TLS extension: its type, its length, its body."""
    return struct.pack("!HH", kind, len(body)) + body


def vec16(items: Sequence[int]) -> bytes:
    """A vector of 16-bit values behind its length in bytes (cipher suites, groups, signature schemes)."""
    return struct.pack("!H", 2 * len(items)) + b"".join(struct.pack("!H", i) for i in items)


def record(kind: int, body: bytes, version: int = 0x0303) -> bytes:
    """A TLS record: content type, legacy version, length, body."""
    return struct.pack("!BHH", kind, version, len(body)) + body


def _handshake(kind: int, body: bytes) -> bytes:
    return struct.pack("!B", kind) + len(body).to_bytes(3, "big") + body


def client_hello(rng: random.Random, sni: str) -> tuple[bytes, bytes]:
    """Firefox's ClientHello record for ``sni``, and the legacy session id the server will echo."""
    session_id = rng.randbytes(32)
    host = sni.encode()
    shares = b"".join(struct.pack("!HH", g, KEY_SIZES[g]) + rng.randbytes(KEY_SIZES[g])
                      for g in (X25519MLKEM768, X25519, SECP256R1))
    alpn = b"".join(bytes([len(p)]) + p for p in (b"h2", b"http/1.1"))
    extensions = b"".join((
        extension(0x0000, struct.pack("!HBH", len(host) + 3, 0, len(host)) + host),  # server_name
        extension(0x0017, b""),  # extended_master_secret
        extension(0xFF01, b"\x00"),  # renegotiation_info
        extension(0x000A, vec16(GROUPS)),  # supported_groups
        extension(0x000B, b"\x01\x00"),  # ec_point_formats: uncompressed
        extension(0x0023, b""),  # session_ticket
        extension(0x0010, struct.pack("!H", len(alpn)) + alpn),  # ALPN
        extension(0x0005, b"\x01\x00\x00\x00\x00"),  # status_request (OCSP)
        extension(0x0022, vec16((0x0403, 0x0503, 0x0603, 0x0203))),  # delegated_credentials
        extension(0x0012, b""),  # signed_certificate_timestamp
        extension(0x0033, struct.pack("!H", len(shares)) + shares),  # key_share
        extension(0x002B, b"\x04\x03\x04\x03\x03"),  # supported_versions: TLS 1.3, 1.2
        extension(0x000D, vec16(SIGNATURES)),  # signature_algorithms
        extension(0x002D, b"\x01\x01"),  # psk_key_exchange_modes: psk_dhe_ke
        extension(0x001C, b"\x40\x01"),  # record_size_limit
        extension(0x001B, b"\x06\x00\x01\x00\x02\x00\x03"),  # compress_certificate: zlib, brotli, zstd
    ))
    body = (b"\x03\x03" + rng.randbytes(32) + bytes([32]) + session_id + vec16(CIPHERS) + b"\x01\x00"
            + struct.pack("!H", len(extensions)) + extensions)
    return record(HANDSHAKE, _handshake(1, body), 0x0301), session_id


def server_hello(rng: random.Random, session_id: bytes, group: int) -> bytes:
    """ServerHello (TLS_AES_128_GCM_SHA256, ``group``'s key share) and the ChangeCipherSpec after it."""
    share = struct.pack("!HH", group, SERVER_KEY_SIZES[group]) + rng.randbytes(SERVER_KEY_SIZES[group])
    extensions = extension(0x0033, share) + extension(0x002B, b"\x03\x04")
    body = (b"\x03\x03" + rng.randbytes(32) + bytes([32]) + session_id + struct.pack("!HB", 0x1301, 0)
            + struct.pack("!H", len(extensions)) + extensions)
    return record(HANDSHAKE, _handshake(2, body)) + record(CCS, b"\x01")


def encrypted(rng: random.Random, size: int) -> bytes:
    """Application-data records carrying ``size`` bytes of plaintext (each record adds its type byte and tag)."""
    out = bytearray()
    while True:
        part = min(size, MAX_RECORD)
        out += record(APPDATA, rng.randbytes(part + 1 + TAG))
        size -= part
        if size <= 0:
            return bytes(out)


@dataclass(frozen=True)
class Exchange:
    """One request and its response on an open connection, after ``idle_us`` of quiet."""

    request: int  # plaintext bytes the client sends (HTTP/2 frames)
    response: int  # plaintext bytes the server returns
    idle_us: int = 0
    server_us: int = 20_000  # the server's time to answer


def tls_session(session: TcpSession, rng: random.Random, sni: str, exchanges: Sequence[Exchange], *,
                pq: bool, certificate: int) -> None:
    """Handshake on an open TCP session, then each exchange; the caller ends the session (close, abort, or not).

    ``pq``: the server takes the X25519MLKEM768 share (its ServerHello carries 1120 key bytes) instead of X25519.
    ``certificate``: plaintext size of its (compressed) certificate chain.
    """
    hello, session_id = client_hello(rng, sni)
    session.send(True, hello, reply=True, think_us=rng.randint(200, 3_000))
    flight = (server_hello(rng, session_id, X25519MLKEM768 if pq else X25519)
              + encrypted(rng, rng.randint(30, 120)) + encrypted(rng, certificate)
              + encrypted(rng, rng.choice((79, 264, 520))) + encrypted(rng, 36))
    session.send(False, flight, reply=True, think_us=rng.randint(300, 4_000))
    for n, ex in enumerate(exchanges):
        head = (record(CCS, b"\x01") + encrypted(rng, 36)) if n == 0 else b""  # client Finished with the first
        session.send(True, head + encrypted(rng, ex.request), reply=True, think_us=ex.idle_us)
        tickets = encrypted(rng, rng.randint(180, 260)) + encrypted(rng, rng.randint(180, 260)) if n == 0 else b""
        session.send(False, tickets + encrypted(rng, ex.response), think_us=ex.server_us)


def close_notify(session: TcpSession, rng: random.Random, by_client: bool, idle_us: int) -> None:
    """After ``idle_us`` of quiet, one side sends its close_notify alert and FIN; the other answers with its FIN."""
    session.send(by_client, encrypted(rng, 2), think_us=idle_us)
    session.close(by_client)
