"""A Remote Desktop session over TCP 3389 as mstsc and Windows 10's TermService hold it, seen without keys.

The client's first segment is in the clear: TPKT, an X.224 Connection Request carrying ``Cookie: mstshash=<user>``
(the user name typed into mstsc, truncated as mstsc truncates it, to 9 characters in older clients; Windows 10
sends it whole) and an RDP Negotiation Request for TLS and CredSSP (``PROTOCOL_SSL | PROTOCOL_HYBRID |
PROTOCOL_HYBRID_EX``). The server's Connection Confirm selects CredSSP (Network Level Authentication), and TLS 1.2
starts: Schannel's ClientHello without server_name (mstsc connects to an address), the server's self-signed
certificate named after the computer (Windows makes it when Remote Desktop first starts, valid six months).
Everything after is TLS records: CredSSP's NTLM round trips (the logon the 4624 records comes at their end), the
MCS connect and capability exchange, then the interactive session: small input records from the client, screen
updates from the server, in bursts while someone works and sparse while the screen is still.
"""

from __future__ import annotations

import random
import struct
from datetime import datetime, timedelta

from dflab.evidence.network.conversation import Conversation
from dflab.evidence.network.segment import Endpoint, randint
from dflab.evidence.network.tcp import TcpSession

from . import wintls

SECOND = 1_000_000
PROTOCOLS = 0x0000000B  # PROTOCOL_SSL | PROTOCOL_HYBRID | PROTOCOL_HYBRID_EX
SELECTED = 0x00000002  # PROTOCOL_HYBRID: CredSSP
_INPUTS = (14, 18, 22, 30, 46)  # plaintext sizes of the client's input PDUs (keys, mouse moves, clicks)


def _tpkt(x224: bytes) -> bytes:
    return struct.pack("!BBH", 3, 0, 4 + len(x224)) + x224


def connection_request(user: str) -> bytes:
    """TPKT + X.224 CR with the mstshash cookie and the RDP_NEG_REQ."""
    body = b"\x00\x00\x00\x00\x00" + f"Cookie: mstshash={user}\r\n".encode()
    body += struct.pack("<BBHI", 1, 0, 8, PROTOCOLS)
    return _tpkt(bytes([len(body) + 1, 0xE0]) + body)


def connection_confirm() -> bytes:
    """TPKT + X.224 CC with the RDP_NEG_RSP selecting CredSSP (flags as Windows 10's server sets them)."""
    body = b"\x00\x00\x12\x34\x00" + struct.pack("<BBHI", 2, 0x1F, 8, SELECTED)
    return _tpkt(bytes([len(body) + 1, 0xD0]) + body)


def rdp_certificate(rng: random.Random, computer: str, installed: datetime) -> bytes:
    """TermService's self-signed certificate: subject and issuer the computer name, valid six months."""
    return wintls.certificate(rng, computer, computer, installed, installed + timedelta(days=182))


def rdp_session(conv: Conversation, rng: random.Random, start_us: int, end_us: int, user: str,
                certificate: bytes) -> None:
    """The whole connection from the SYN at ``start_us`` to the client's disconnect at about ``end_us``."""
    session = TcpSession(conv, rng, start_us)
    session.open()
    session.send(True, connection_request(user), reply=True)
    session.send(False, connection_confirm(), reply=True, think_us=rng.randint(300, 2_000))
    wintls.handshake(session, rng, None, (certificate,), think_us=rng.randint(500, 3_000))
    # CredSSP: NTLM negotiate, challenge, authenticate (+ the server's public key echoed), then the credentials.
    for request, answer in ((rng.randint(60, 80), rng.randint(260, 320)), (rng.randint(600, 900),
                                                                           rng.randint(60, 90)),
                            (rng.randint(300, 420), 0)):
        session.send(True, wintls.encrypted(rng, request), reply=bool(answer), think_us=rng.randint(300, 6_000))
        if answer:
            session.send(False, wintls.encrypted(rng, answer), reply=True, think_us=rng.randint(2_000, 30_000))
    # MCS connect, channels, capabilities, licensing, the first screen.
    for request, answer in ((rng.randint(400, 700), rng.randint(300, 500)), (12, 16), (rng.randint(20, 60), 0),
                            (rng.randint(450, 600), rng.randint(300, 400)), (rng.randint(40, 90),
                                                                              rng.randint(30000, 90000))):
        session.send(True, wintls.encrypted(rng, request), reply=bool(answer), think_us=rng.randint(200, 40_000))
        if answer:
            session.send(False, wintls.encrypted(rng, answer), reply=True, think_us=rng.randint(5_000, 80_000))
    _interactive(session, rng, end_us)
    session.send(True, wintls.encrypted(rng, 11), think_us=rng.randint(10_000, 200_000))  # disconnect ultimatum
    session.close(by_client=True)


def _interactive(session: TcpSession, rng: random.Random, end_us: int) -> None:
    """Input and screen updates until ``end_us``: bursts of work (typing, moving the mouse, windows redrawn) and
    pauses in which only the server's heartbeat and an occasional cursor blink go out. (Thousands of messages a
    session: ``randint`` is :func:`~dflab.evidence.network.segment.randint`, the same draws as ``rng.randint``.)"""
    while session.end_us < end_us - 2 * SECOND:
        if rng.random() < 0.8:  # someone is working: a burst of a few dozen input/update pairs
            for _ in range(randint(rng, 5, 60)):
                if session.end_us >= end_us - 2 * SECOND:
                    return
                session.send(True, wintls.encrypted(rng, _INPUTS[randint(rng, 0, len(_INPUTS) - 1)]), reply=True,
                             think_us=randint(rng, 15_000, 400_000))
                if rng.random() < 0.85:
                    size = randint(rng, 60, 2_000) if rng.random() < 0.85 else randint(rng, 3_000, 40_000)
                    session.send(False, wintls.encrypted(rng, size), reply=True, think_us=randint(rng, 2_000, 25_000))
        else:  # a still screen
            pause = randint(rng, 2 * SECOND, 25 * SECOND)
            session.send(False, wintls.encrypted(rng, randint(rng, 20, 120)), reply=True,
                         think_us=min(pause, max(0, end_us - session.end_us - 3 * SECOND)))


def rdp_conversation(client: Endpoint, client_port: int, server: Endpoint) -> Conversation:
    return Conversation("tcp", client, client_port, server, 3389)
