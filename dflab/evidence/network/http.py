"""HTTP/1.1 exchanges: one request and one ``Connection: close`` response per TCP connection.

The response carries ``Content-Length`` and the exact body bytes, so
Wireshark's "Export Objects > HTTP" reproduces the body bit for bit.
"""

from __future__ import annotations

import base64
import email.utils
import random
from http import HTTPStatus

from dflab.evidence.network.conversation import Conversation
from dflab.evidence.network.segment import Segment
from dflab.evidence.network.tcp import TcpSession


def request_bytes(method: str, host: str, uri: str, user_agent: str, body: bytes = b"",
                  basic_auth: tuple[str, str] | None = None) -> bytes:
    """The request head (and body for POST/PUT) as a client like wget or curl sends it."""
    lines = [f"{method} {uri} HTTP/1.1", f"Host: {host}", f"User-Agent: {user_agent}", "Accept: */*"]
    if basic_auth is not None:
        token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
        lines.append(f"Authorization: Basic {token}")
    if method in ("POST", "PUT"):
        lines += ["Content-Type: application/octet-stream", f"Content-Length: {len(body)}"]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body if method in ("POST", "PUT") else b"")


def response_bytes(status: int, content_type: str, body: bytes, t_us: int, server: str,
                   extra: tuple[str, ...] = ()) -> bytes:
    """Status line, headers (``Date`` from the packet time, never the wall clock) and the body.

    A 204 carries neither a body nor its type and length (RFC 9110 15.3.5).
    """
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}", f"Date: {email.utils.formatdate(t_us // 1_000_000, usegmt=True)}",
             f"Server: {server}"]
    if status != 204:
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    lines += ["Connection: close", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def http_exchange(seg: Segment, rng: random.Random, t_us: int, client_ip: str, client_port: int, server_ip: str,
                  server_port: int, request: bytes, response_head_and_body: bytes, *,
                  loss: float = 0.0) -> Conversation:
    """Handshake at ``t_us``, request, response after a little server think time, server closes."""
    conv = Conversation("tcp", seg.endpoint(client_ip), client_port, seg.endpoint(server_ip), server_port)
    session = TcpSession(conv, rng, t_us, loss=loss)
    session.open()
    session.send(True, request, reply=True)
    session.send(False, response_head_and_body, think_us=rng.randint(200, 4000))
    session.close(by_client=False)
    return conv
