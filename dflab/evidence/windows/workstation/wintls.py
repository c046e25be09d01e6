"""TLS 1.2 as Windows 10's Schannel holds it (WinHTTP, Remote Desktop): what a capture shows without keys.

Windows 10 does not enable TLS 1.3 in Schannel, so its clients (Windows Update, telemetry, the Remote Desktop
client, an implant using WinHTTP) offer TLS 1.2 with Schannel's cipher suites and extensions in its order. A
client connecting to an address, not a name, sends no server_name. A first connection gets the full handshake:
ServerHello, the server's certificate chain (in the clear in TLS 1.2, so it is real DER here: names, validity,
a key and a signature of the right sizes, the bytes of key and signature from the case's RNG; a server's leaf dated
as its CA issues them, :func:`leaf_validity`, its CA's certificate the real one's names and dates), its ECDHE key
exchange and ServerHelloDone; the client's key, ChangeCipherSpec and Finished, then the server's. Schannel caches
the session (10 hours), so a later connection to the same server from the same process resumes it: ServerHello
echoing the session id, ChangeCipherSpec, Finished. Application data is AES-GCM records (8-byte explicit nonce,
16-byte tag), at most 16 KiB of plaintext each.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dflab.evidence.network.tcp import TcpSession
from dflab.evidence.network.tls import extension as _ext
from dflab.evidence.network.tls import record
from dflab.evidence.network.tls import vec16 as _vec16

HANDSHAKE, CCS, ALERT, APPDATA = 0x16, 0x14, 0x15, 0x17
MAX_RECORD = 16384
GCM_OVERHEAD = 8 + 16
CIPHERS = (0xC02C, 0xC02B, 0xC030, 0xC02F, 0xC024, 0xC023, 0xC028, 0xC027, 0xC00A, 0xC009, 0xC014, 0xC013, 0x009D,
           0x009C, 0x003D, 0x003C, 0x0035, 0x002F, 0x000A)
GROUPS = (0x001D, 0x0017, 0x0018)
SIGNATURES = (0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0201, 0x0403, 0x0503, 0x0203, 0x0202, 0x0601, 0x0603)
CHOSEN = 0xC030  # ECDHE-RSA-AES256-GCM-SHA384, what Windows servers and most others pick from this offer


def _handshake(kind: int, body: bytes) -> bytes:
    return struct.pack("!B", kind) + len(body).to_bytes(3, "big") + body


def client_hello(rng: random.Random, sni: str | None, session_id: bytes = b"", alpn: bool = False) -> bytes:
    """Schannel's ClientHello record; ``session_id`` non-empty to resume, ``alpn`` as WinHTTP offers it."""
    extensions = b""
    if sni:
        host = sni.encode()
        extensions += _ext(0x0000, struct.pack("!HBH", len(host) + 3, 0, len(host)) + host)
    extensions += b"".join((
        _ext(0x0005, b"\x01\x00\x00\x00\x00"),  # status_request
        _ext(0x000A, _vec16(GROUPS)),  # supported_groups
        _ext(0x000B, b"\x01\x00"),  # ec_point_formats
        _ext(0x000D, _vec16(SIGNATURES)),  # signature_algorithms
        _ext(0x0023, b""),  # session_ticket
    ))
    if alpn:
        protocols = b"".join(bytes([len(p)]) + p for p in (b"h2", b"http/1.1"))
        extensions += _ext(0x0010, struct.pack("!H", len(protocols)) + protocols)
    extensions += _ext(0x0017, b"") + _ext(0xFF01, b"\x00")  # extended_master_secret, renegotiation_info
    body = (b"\x03\x03" + rng.randbytes(32) + bytes([len(session_id)]) + session_id + _vec16(CIPHERS) + b"\x01\x00"
            + struct.pack("!H", len(extensions)) + extensions)
    return record(HANDSHAKE, _handshake(1, body))


def _server_hello(rng: random.Random, session_id: bytes) -> bytes:
    extensions = _ext(0xFF01, b"\x00") + _ext(0x0017, b"")
    return _handshake(2, b"\x03\x03" + rng.randbytes(32) + bytes([32]) + session_id + struct.pack("!HB", CHOSEN, 0)
                      + struct.pack("!H", len(extensions)) + extensions)


# -- DER, enough for an X.509 certificate ------------------------------------------------------------------------------
def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _seq(*parts: bytes) -> bytes:
    return _der(0x30, b"".join(parts))


def _oid(dotted: str) -> bytes:
    nums = [int(x) for x in dotted.split(".")]
    out = bytearray([40 * nums[0] + nums[1]])
    for n in nums[2:]:
        chunk = [n & 0x7F]
        while n := n >> 7:
            chunk.append(0x80 | (n & 0x7F))
        out += bytes(reversed(chunk))
    return _der(0x06, bytes(out))


def _int(value: bytes) -> bytes:
    return _der(0x02, (b"\x00" + value) if value[0] & 0x80 else value)


def _name(name: str | tuple[str, str, str]) -> bytes:
    """A distinguished name: a common name alone, or (country, organization, common name) as CAs spell theirs."""
    if isinstance(name, str):
        return _seq(_der(0x31, _seq(_oid("2.5.4.3"), _der(0x0C, name.encode()))))
    country, org, common = name
    return _seq(_der(0x31, _seq(_oid("2.5.4.6"), _der(0x13, country.encode()))),
                _der(0x31, _seq(_oid("2.5.4.10"), _der(0x13, org.encode()))),
                _der(0x31, _seq(_oid("2.5.4.3"), _der(0x13, common.encode()))))


def _time(when: datetime) -> bytes:
    return _der(0x17, when.strftime("%y%m%d%H%M%SZ").encode())


Name = str | tuple[str, str, str]


def certificate(rng: random.Random, subject: Name, issuer: Name, not_before: datetime, not_after: datetime) -> bytes:
    """An RSA-2048 certificate's DER signed with SHA-256 (modulus and signature are the RNG's bytes)."""
    sha256_rsa = _seq(_oid("1.2.840.113549.1.1.11"), b"\x05\x00")
    modulus = bytes([0x80 | rng.getrandbits(7)]) + rng.randbytes(255)
    key = _seq(_seq(_oid("1.2.840.113549.1.1.1"), b"\x05\x00"),
               _der(0x03, b"\x00" + _seq(_int(modulus), _int(b"\x01\x00\x01"))))
    serial = bytes([0x10 | rng.getrandbits(3)]) + rng.randbytes(15)
    tbs = _seq(_der(0xA0, _int(b"\x02")), _int(serial), sha256_rsa, _name(issuer),
               _seq(_time(not_before), _time(not_after)), _name(subject), key)
    return _seq(tbs, sha256_rsa, _der(0x03, b"\x00" + rng.randbytes(256)))


# -- the servers' certificates -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Authority:
    """An issuing CA as its certificate names it, the root that signed it, its own validity (the real one's), and
    how long the leaves it issues live (``lifetime``: days, low and high; Let's Encrypt's end a second short)."""

    name: tuple[str, str, str]
    root: tuple[str, str, str]
    valid: tuple[datetime, datetime]
    lifetime: tuple[int, int]

    @property
    def common_name(self) -> str:
        return self.name[2]


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


_DIGICERT_G2 = ("US", "DigiCert Inc", "DigiCert Global Root G2")
_ISRG_X1 = ("US", "Internet Security Research Group", "ISRG Root X1")
# Let's Encrypt's RSA intermediates since June 2024 (R3 retired): leaves of 90 days.
LETS_ENCRYPT = tuple(Authority(("US", "Let's Encrypt", cn), _ISRG_X1,
                               (_utc(2024, 3, 13), _utc(2027, 3, 12, 23, 59, 59)), (90, 90)) for cn in ("R10", "R11"))
# What Microsoft's front ends present: Azure's issuing CAs under DigiCert Global Root G2, leaves of six months to a
# year.
MICROSOFT = (*(Authority(("US", "Microsoft Corporation", f"Microsoft Azure RSA TLS Issuing CA {n}"), _DIGICERT_G2,
                         (_utc(2023, 6, 8), _utc(2026, 8, 25, 23, 59, 59)), (180, 365))
               for n in ("03", "04", "07", "08")),
             Authority(("US", "DigiCert Inc", "DigiCert Global G2 TLS RSA SHA256 2020 CA1"), _DIGICERT_G2,
                       (_utc(2021, 3, 30), _utc(2031, 3, 29, 23, 59, 59)), (180, 365)))


def _second(t_us: int) -> datetime:
    return datetime.fromtimestamp(t_us // 1_000_000, UTC)


def leaf_validity(rng: random.Random, authority: Authority, first_us: int, last_us: int,
                  age_days: tuple[int, int]) -> tuple[datetime, datetime]:
    """When a leaf of ``authority`` was issued (to the second, ``age_days`` before ``first_us``, its first use) and
    when it ends: a lifetime drawn from the CA's, always past ``last_us`` (the capture's last packet)."""
    days = rng.randint(*authority.lifetime)
    lifetime = timedelta(days=days) - (timedelta(seconds=1) if authority in LETS_ENCRYPT else timedelta())
    first, last = _second(first_us), _second(last_us) + timedelta(seconds=1)
    oldest = min(timedelta(days=age_days[1]), lifetime - (last - first) - timedelta(days=1))
    youngest = min(timedelta(days=age_days[0]), oldest)
    age = rng.randint(int(youngest.total_seconds()), int(oldest.total_seconds()))
    not_before = first - timedelta(seconds=age)
    return not_before, not_before + lifetime


def intermediate(authority: Authority, first_us: int, last_us: int) -> bytes:
    """The CA's own certificate, the same bytes in every case (its dates the real one's, widened only if a case
    falls outside them)."""
    rng = random.Random(authority.common_name)
    not_before = min(authority.valid[0], _second(first_us) - timedelta(days=365))
    not_after = max(authority.valid[1], _second(last_us) + timedelta(days=365))
    return certificate(rng, authority.name, authority.root, not_before, not_after)


def encrypted(rng: random.Random, size: int, kind: int = APPDATA) -> bytes:
    """Records carrying ``size`` bytes of plaintext, AES-GCM as TLS 1.2 frames it."""
    if size <= MAX_RECORD:  # one record: most messages
        return record(kind, rng.randbytes(size + GCM_OVERHEAD))
    out = bytearray()
    while True:
        part = min(size, MAX_RECORD)
        out += record(kind, rng.randbytes(part + GCM_OVERHEAD))
        size -= part
        if size <= 0:
            return bytes(out)


def handshake(session: TcpSession, rng: random.Random, sni: str | None, chain: Sequence[bytes],
              resume: bytes | None = None, *, alpn: bool = False, think_us: int = 0) -> bytes:
    """The handshake on an open TCP session; returns the session id (the same one when ``resume`` is given).

    ``chain``: the server's certificates (leaf first) for a full handshake.
    """
    session.send(True, client_hello(rng, sni, resume or b"", alpn), reply=True, think_us=think_us)
    finished = encrypted(rng, 16, HANDSHAKE)
    if resume:
        session.send(False, record(HANDSHAKE, _server_hello(rng, resume)) + record(CCS, b"\x01") + finished,
                     reply=True, think_us=rng.randint(300, 3_000))
        session.send(True, record(CCS, b"\x01") + encrypted(rng, 16, HANDSHAKE), reply=True)
        return resume
    session_id = rng.randbytes(32)
    certs = b"".join(len(c).to_bytes(3, "big") + c for c in chain)
    key_exchange = (b"\x03" + struct.pack("!HB", 0x001D, 32) + rng.randbytes(32) + struct.pack("!HH", 0x0804, 256)
                    + rng.randbytes(256))
    flight = (_server_hello(rng, session_id) + _handshake(11, len(certs).to_bytes(3, "big") + certs)
              + _handshake(12, key_exchange) + _handshake(14, b""))
    session.send(False, record(HANDSHAKE, flight), reply=True, think_us=rng.randint(500, 4_000))
    client_key = record(HANDSHAKE, _handshake(16, b"\x20" + rng.randbytes(32)))
    session.send(True, client_key + record(CCS, b"\x01") + finished, reply=True, think_us=rng.randint(200, 1_500))
    session.send(False, record(CCS, b"\x01") + encrypted(rng, 16, HANDSHAKE), reply=True,
                 think_us=rng.randint(200, 2_000))
    return session_id


def close_notify(session: TcpSession, rng: random.Random, by_client: bool, idle_us: int) -> None:
    """A close_notify alert after ``idle_us`` of quiet, then the FIN exchange."""
    session.send(by_client, encrypted(rng, 2, ALERT), think_us=idle_us)
    session.close(by_client)
