"""RFC 5322 messages for the mail flows, composed with the standard library's ``email`` package, deterministically.

A message is content, like a file's bytes: the resolver composes it once, from the spec and the variant seed,
so the capture carries it and the answer key hashes it without either composing it again (the writers in
:mod:`dflab.evidence.network` only transmit ``Case`` bytes).

The client side of the mail flows is the ring's Python tooling (``smtplib``/``imaplib`` on the wire, see
:mod:`dflab.evidence.network.smtp`), so the message is exactly what ``email.message.EmailMessage`` makes with
the ``SMTP`` policy (CRLF line ends), except for the three things it would take from the clock, the process
or the ``random`` module: ``Date`` is the flow's time, and the ``Message-ID`` and the MIME boundary have the
shapes ``email.utils.make_msgid`` and the generator give them, drawn from the variant seed.
"""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime

ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+")  # an addr-spec without quoting: user@domain
# What an attachment's name says it is (kits attach by name). A table of our own, not ``mimetypes``: that reads
# /etc/mime.types, and its built-in table changes between Python releases, so evidence would too.
ATTACHMENT_TYPES = {
    "pdf": "application/pdf", "zip": "application/zip", "gz": "application/gzip", "7z": "application/x-7z-compressed",
    "rar": "application/vnd.rar", "doc": "application/msword", "xls": "application/vnd.ms-excel",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docm": "application/vnd.ms-word.document.macroEnabled.12", "html": "text/html", "htm": "text/html",
    "txt": "text/plain", "csv": "text/csv", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
    "gif": "image/gif", "eml": "message/rfc822", "js": "text/javascript", "iso": "application/x-iso9660-image",
}
BODY_TYPES = {"html": "html", "htm": "html"}  # a body file named so is text/html; any other body is text/plain


def is_address(text: str) -> bool:
    """``text`` is a bare ``user@domain`` (what MAIL FROM and RCPT TO carry inside ``<...>``)."""
    return ADDRESS.fullmatch(text) is not None


def attachment_type(name: str) -> tuple[str, str]:
    """(maintype, subtype) for an attachment called ``name``; ``application/octet-stream`` when unknown."""
    ext = name.rpartition(".")[2].lower() if "." in name else ""
    maintype, _, subtype = ATTACHMENT_TYPES.get(ext, "application/octet-stream").partition("/")
    return maintype, subtype


def body_subtype(name: str | None) -> str:
    """``html`` for a body taken from a file named ``*.html``/``*.htm``, else ``plain``."""
    return BODY_TYPES.get((name or "").rpartition(".")[2].lower(), "plain")


def message_id(r: random.Random, t: float, domain: str) -> str:
    """A Message-ID shaped like ``email.utils.make_msgid(domain=...)``'s: time in 1/100 s, a pid, a random int."""
    return f"<{int(t * 100)}.{r.randint(1000, 65535)}.{r.randrange(sys.maxsize)}@{domain}>"


def boundary(r: random.Random) -> str:
    """A MIME boundary shaped like the one ``email.generator`` draws: 15 ``=``, 19 digits, ``==``."""
    return "=" * 15 + f"{r.randrange(sys.maxsize):019d}" + "=="


def compose(*, from_header: str, to_header: str, subject: str, date: float, message_id: str, body: str,
            subtype: str = "plain", attachments: Sequence[tuple[str, bytes]] = (), mime_boundary: str) -> bytes:
    """The message's bytes: a text body, and with attachments a ``multipart/mixed`` of the body and each file.

    A header value holding a line break raises ``ValueError`` (the email package refuses header injection).
    """
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = from_header
    msg["To"] = to_header
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.fromtimestamp(int(date), UTC))
    msg["Message-ID"] = message_id
    msg.set_content(body, subtype=subtype)
    for name, data in attachments:
        maintype, sub = attachment_type(name)
        msg.add_attachment(data, maintype=maintype, subtype=sub, filename=name)
    if attachments:
        msg.set_boundary(mime_boundary)
    return msg.as_bytes(policy=policy.SMTP)


def postfix_date(t: float) -> str:
    """A date as Postfix writes it in a Received header: the day of month space-padded, the zone named."""
    d = datetime.fromtimestamp(int(t), UTC)
    return d.strftime("%a, ") + f"{d.day:2d}" + d.strftime(" %b %Y %H:%M:%S +0000 (UTC)")


def delivered(message: bytes, *, mail_from: str, rcpt_to: Sequence[str], helo: str, client_ip: str,
              server_name: str, queue_id: str, authenticated: bool, t: float) -> bytes:
    """The message as it sits in the recipient's mailbox: the delivery agent's ``Return-Path`` and Postfix's
    ``Received`` line (the client's EHLO name and address, the queue id the SMTP session was told) on top.

    Why: that is what an IMAP fetch returns, and the ``Received`` line is how an examiner ties a mailbox copy to
    the SMTP session that submitted it (its Message-ID, body and attachments are unchanged).
    """
    with_what = "ESMTPA" if authenticated else "ESMTP"
    received = (f"Received: from {helo} (unknown [{client_ip}])\r\n"
                f"\tby {server_name} (Postfix) with {with_what} id {queue_id}"
                + (f"\r\n\tfor <{rcpt_to[0]}>" if len(rcpt_to) == 1 else "")
                + f"; {postfix_date(t)}\r\n")
    return f"Return-Path: <{mail_from}>\r\n{received}".encode() + message


def crlf(data: bytes) -> bytes:
    """``data`` with CRLF line ends, as an IMAP server hands out a message stored with LF (Dovecot's maildir)."""
    return re.sub(rb"\r?\n", b"\r\n", data)


def header_message_id(data: bytes) -> str:
    """The Message-ID header of a stored message, "" when it has none."""
    value = BytesHeaderParser(policy=policy.compat32).parsebytes(data).get("Message-ID")
    return str(value).strip() if value else ""
