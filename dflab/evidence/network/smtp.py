"""SMTP submissions as Python's ``smtplib`` makes them to a Postfix server: EHLO, an optional login, one message.

The client is the ring's tooling, so every command is what ``smtplib.SMTP.login()`` and ``sendmail()`` send:
lower-case ``ehlo``/``mail``/``rcpt``/``data``/``quit``, ``size=`` on MAIL FROM (Postfix offers SIZE), and the
login's first step carried in the ``AUTH`` line itself (RFC 4954's initial response). The server's replies are
Postfix's, with Ubuntu's banner and the extensions it lists without TLS.

Cleartext, with no STARTTLS: the ring's own relay offers none (as relays set up for a kit often do, taking its
mail on 25 or 587 without TLS). That is what makes the credential and the message evidence in a capture at all;
over TLS the capture would show neither.
"""

from __future__ import annotations

import base64
import random
import re

from dflab.evidence.network.conversation import Conversation
from dflab.evidence.network.segment import Segment
from dflab.evidence.network.tcp import TcpSession
from dflab.scenario.case import SmtpSubmission

# Postfix's EHLO reply on Ubuntu without TLS, after its host name; AUTH only where SASL is on (submission, or a
# relay that takes logins).
EXTENSIONS = ("PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "AUTH PLAIN LOGIN", "ENHANCEDSTATUSCODES", "8BITMIME",
              "DSN", "SMTPUTF8", "CHUNKING")
SUBMISSION_PORT = 587
NUL = "\0"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def dot_stuffed(message: bytes) -> bytes:
    """The DATA phase's bytes as ``smtplib`` sends them: a ``.`` doubled at each line start, CRLF, ``.``, CRLF."""
    data = re.sub(rb"(?m)^\.", b"..", message)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def ehlo_reply(server_name: str, offers_auth: bool) -> list[str]:
    """Postfix's multi-line 250 answer to EHLO."""
    return [server_name, *(e for e in EXTENSIONS if offers_auth or not e.startswith("AUTH"))]


def smtp_exchange(seg: Segment, rng: random.Random, t_us: int, s: SmtpSubmission, client_ip: str, server_ip: str,
                  server_name: str) -> Conversation:
    """Connect at ``t_us``, greet, log in if ``s`` has a login, submit ``s.message``, quit; Postfix closes."""
    conv = Conversation("tcp", seg.endpoint(client_ip), s.client_port, seg.endpoint(server_ip), s.server_port)
    session = TcpSession(conv, rng, t_us)

    def command(line: str) -> None:
        session.send(True, f"{line}\r\n".encode(), reply=True, think_us=rng.randint(150, 2_500))

    def reply(code: int, *lines: str, think_us: int | None = None) -> None:
        text = "".join(f"{code}{'-' if i < len(lines) - 1 else ' '}{line}\r\n" for i, line in enumerate(lines))
        session.send(False, text.encode(), think_us=rng.randint(100, 1_500) if think_us is None else think_us)

    session.open()
    reply(220, f"{server_name} ESMTP Postfix (Ubuntu)", think_us=rng.randint(2_000, 20_000))
    command(f"ehlo {s.helo}")
    reply(250, *ehlo_reply(server_name, s.auth is not None or s.server_port == SUBMISSION_PORT))
    if s.auth == "plain":
        command(f"AUTH PLAIN {_b64(NUL + s.user + NUL + s.password)}")  # authorization id empty (RFC 4616)
    elif s.auth == "login":
        command(f"AUTH LOGIN {_b64(s.user)}")
        reply(334, _b64("Password:"))
        command(_b64(s.password))
    if s.auth is not None:
        reply(235, "2.7.0 Authentication successful", think_us=rng.randint(3_000, 40_000))  # the SASL lookup
    command(f"mail FROM:<{s.mail_from}> size={len(s.message)}")
    reply(250, "2.1.0 Ok")
    for address in s.rcpt_to:
        command(f"rcpt TO:<{address}>")
        reply(250, "2.1.5 Ok")
    command("data")
    reply(354, "End data with <CR><LF>.<CR><LF>")
    session.send(True, dot_stuffed(s.message), reply=True, think_us=rng.randint(150, 2_500))
    reply(250, f"2.0.0 Ok: queued as {s.queue_id}", think_us=rng.randint(1_000, 12_000))  # cleanup queues it
    command("quit")
    reply(221, "2.0.0 Bye")
    session.close(by_client=False)
    return conv
