"""IMAP sessions as Python's ``imaplib`` holds them with a Dovecot server: LOGIN, SELECT, FETCH each message, LOGOUT.

The client is the ring's tooling: ``imaplib`` tags its commands with four letters A-P drawn per connection and a
counter from 0, sends the user as it is and the password as a quoted string (``LOGIN``), and fetches with
``fetch(n, "(BODY[])")``. The server's greeting, capabilities and tagged replies are Dovecot 2.3's (Ubuntu), set
up without TLS and with plain-text logins allowed, as the ring's own server is: each message comes back as an
IMAP literal, ``BODY[] {n}`` and then exactly ``n`` bytes, so the capture holds every byte of it.
"""

from __future__ import annotations

import random
import re

from dflab.evidence.network.conversation import Conversation
from dflab.evidence.network.segment import Segment
from dflab.evidence.network.tcp import TcpSession
from dflab.scenario.case import ImapSession

GREETING_CAPABILITIES = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN"
LOGGED_IN_CAPABILITIES = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS "
    "THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED "
    "I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE "
    "SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE")
FLAGS = r"\Answered \Flagged \Deleted \Seen \Draft"
ATOM = re.compile(r"[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+")  # ATOM-CHARs: no specials, no "%*\"(){"


def tag_prefix(rng: random.Random) -> str:
    """``imaplib.Int2AP(random.randint(4096, 65535))``: a number written in the letters A-P."""
    n, out = rng.randint(4096, 65535), ""
    while n:
        n, digit = divmod(n, 16)
        out = "ABCDEFGHIJKLMNOP"[digit] + out
    return out


def quoted(text: str) -> str:
    """An IMAP quoted string, escaped as ``imaplib._quote`` does it."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def astring(text: str) -> str:
    """``text`` as an atom when it is one, else quoted (``imaplib`` would send it bare and break the command)."""
    return text if ATOM.fullmatch(text) else quoted(text)


def imap_exchange(seg: Segment, rng: random.Random, t_us: int, m: ImapSession, client_ip: str,
                  server_ip: str) -> Conversation:
    """Connect at ``t_us``, log in, select ``m.mailbox``, fetch each of ``m.messages``, log out; Dovecot closes."""
    conv = Conversation("tcp", seg.endpoint(client_ip), m.client_port, seg.endpoint(server_ip), m.server_port)
    session = TcpSession(conv, rng, t_us)
    prefix = tag_prefix(rng)
    tags = (f"{prefix}{n}" for n in range(10**6))

    def command(line: str) -> str:
        tag = next(tags)
        session.send(True, f"{tag} {line}\r\n".encode(), reply=True, think_us=rng.randint(150, 2_500))
        return tag

    def answer(data: bytes, think_us: int | None = None) -> None:
        session.send(False, data, think_us=rng.randint(100, 1_500) if think_us is None else think_us)

    def took(parts: int = 3) -> str:
        """Dovecot's "(running + lock wait [+ storage wait] secs)" after a tagged OK."""
        spent = [rng.randint(0, 3)] + [rng.randint(0, 1) for _ in range(parts - 1)]
        return "(" + " + ".join(f"0.{ms:03d}" for ms in spent) + " secs)"

    count = len(m.messages)
    uid_validity = int(m.time) - rng.randint(30 * 86400, 400 * 86400)  # when the mailbox was created
    session.open()
    answer(f"* OK [CAPABILITY {GREETING_CAPABILITIES}] Dovecot (Ubuntu) ready.\r\n".encode(),
           think_us=rng.randint(1_000, 8_000))
    tag = command(f"LOGIN {astring(m.user)} {quoted(m.password)}")
    answer(f"{tag} OK [CAPABILITY {LOGGED_IN_CAPABILITIES}] Logged in\r\n".encode(),
           think_us=rng.randint(3_000, 40_000))  # the passdb lookup
    tag = command(f"SELECT {astring(m.mailbox)}")
    answer((f"* FLAGS ({FLAGS})\r\n"
            f"* OK [PERMANENTFLAGS ({FLAGS} \\*)] Flags permitted.\r\n"
            f"* {count} EXISTS\r\n"
            f"* {count} RECENT\r\n"
            + ("* OK [UNSEEN 1] First unseen.\r\n" if count else "")
            + f"* OK [UIDVALIDITY {uid_validity}] UIDs valid\r\n"
            f"* OK [UIDNEXT {count + 1}] Predicted next UID\r\n"
            f"{tag} OK [READ-WRITE] Select completed {took()}.\r\n").encode())
    for n, message in enumerate(m.messages, 1):
        tag = command(f"FETCH {n} (BODY[])")
        answer(f"* {n} FETCH (FLAGS (\\Seen \\Recent) BODY[] {{{len(message)}}}\r\n".encode() + message
               + f")\r\n{tag} OK Fetch completed {took()}.\r\n".encode())
    tag = command("LOGOUT")
    answer(f"* BYE Logging out\r\n{tag} OK Logout completed {took(2)}.\r\n".encode())
    session.close(by_client=False)
    return conv
