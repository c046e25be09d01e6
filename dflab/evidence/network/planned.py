"""The case's planned flows (DNS, HTTP, FTP, raw TCP, SMTP, IMAP) rendered into conversations, with their key facts.

Each flow draws its timing and sequence numbers from its own RNG seeded by
the case seed, kind and index, so planned flows are identical whatever the
noise is, and adding a flow never shifts another.

A flow's first packet leaves a little after the planned instant (the program starting, the name resolving):
2 to 600 ms, drawn per flow. A story's instants are whole seconds, and no real program's first packet falls on
one; the lag stays well under a second, so the second a timeline names is the second the capture shows.
"""

from __future__ import annotations

import email.utils
import hashlib
import random
from http import HTTPStatus

from dflab.errors import EvidenceError
from dflab.evidence.network.conversation import Conversation, to_us
from dflab.evidence.network.dns import Answer, lookup
from dflab.evidence.network.ftp import ftp_exchange
from dflab.evidence.network.http import http_exchange, request_bytes, response_bytes
from dflab.evidence.network.imap import imap_exchange
from dflab.evidence.network.segment import Segment, derived_seed
from dflab.evidence.network.smtp import smtp_exchange
from dflab.evidence.network.tcp import TcpSession
from dflab.scenario.case import Case, DnsQuery, FtpSession, HttpTransfer, ImapSession, RawTransfer, SmtpSubmission

# What a web server on each stack announces by default: its package's ``Server`` header. Linux servers of the
# case are other people's machines, so any common distribution's build fits (Debian 12's nginx adds no
# distribution, its Apache "(Debian)"; Ubuntu patches both; ``server_tokens off`` leaves "nginx").
SERVER_BANNERS = {
    "linux": ("nginx/1.22.1", "Apache/2.4.62 (Debian)", "nginx/1.24.0 (Ubuntu)", "Apache/2.4.58 (Ubuntu)",
              "nginx"),
    "windows": ("Microsoft-IIS/10.0",),
    "apple": ("Apache/2.4.62 (Unix)",),
}
PHP_VERSION = "8.2.29"  # Debian 12.12's php8.2-cli (8.2.29-1~deb12u1): the suspect's own ``php -S``
LAG_US = (2_000, 600_000)  # from a flow's planned instant to its first packet


def php_dev_server_response(status: int, host: str, content_type: str, body: bytes, t_us: int) -> bytes:
    """What PHP's built-in web server (``php -S``, the suspect's own listener) answers a script's request with.

    It names no ``Server``: its own headers are ``Host`` (echoing the request's), ``Date`` and ``Connection:
    close``, then the script's: ``X-Powered-By`` (``expose_php``) and PHP's spelling ``Content-type`` with
    ``default_charset`` appended to a text type the script did not set a charset on.
    """
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    kind = f"{content_type}; charset=UTF-8" if content_type.startswith("text/") and "charset" not in content_type \
        else content_type
    lines = [f"HTTP/1.1 {status} {reason}", f"Host: {host}",
             f"Date: {email.utils.formatdate(t_us // 1_000_000, usegmt=True)}", "Connection: close",
             f"X-Powered-By: PHP/{PHP_VERSION}", f"Content-type: {kind}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PlannedFlows:
    """Renders every planned flow; ``conversations`` and ``facts`` are filled in plan order."""

    def __init__(self, case: Case, seg: Segment) -> None:
        self.case = case
        self.seg = seg
        self.conversations: list[Conversation] = []
        self.facts: list[dict[str, object]] = []
        self.spans: list[tuple[str, int, int]] = []  # (flow's place in the case, first frame µs, last frame µs)

    def _rng(self, kind: str, index: int) -> random.Random:
        return random.Random(derived_seed(self.case.seed, "network-flow", kind, index))

    @staticmethod
    def _first_packet(rng: random.Random, t: float) -> int:
        """When the flow planned for ``t`` puts its first packet on the wire."""
        return to_us(t) + rng.randint(*LAG_US)

    def _ip(self, host_id: str, where: str) -> str:
        try:
            return self.case.host(host_id).ip
        except KeyError:
            raise EvidenceError(f"unknown host id {host_id!r}", where) from None

    def _keep(self, kind: str, index: int, conv: Conversation) -> None:
        self.conversations.append(conv)
        times = [t for t, _ in conv.frames]
        self.spans.append((f"network.{kind}[{index}]", min(times), max(times)))

    def _add(self, kind: str, index: int, flow_id: str, conv: Conversation, **extra: object) -> None:
        self._keep(kind, index, conv)
        self.facts.append({"kind": kind, "index": index, "id": flow_id, **conv.facts(), **extra})

    def render(self) -> None:
        net = self.case.network
        for i, q in enumerate(net.dns):
            self._dns(i, q)
        for i, h in enumerate(net.http):
            self._http(i, h)
        for i, f in enumerate(net.ftp):
            self._ftp(i, f)
        for i, r in enumerate(net.raw):
            self._raw(i, r)
        for i, s in enumerate(net.smtp):
            self._smtp(i, s)
        for i, m in enumerate(net.imap):
            self._imap(i, m)

    def _dns(self, i: int, q: DnsQuery) -> None:
        where = f"network.dns[{i}]"
        client, resolver = self._ip(q.client, where), self._ip(q.resolver, where)
        self.seg.check_touches(client, resolver, where)
        rng = self._rng("dns", i)
        t = self._first_packet(rng, q.time)
        ttl = rng.choice((60, 300, 600, 3600))  # a name nobody asked for before: the authority's full TTL
        zone = ".".join(q.qname.rstrip(".").split(".")[-2:])
        conv, aaaa = lookup(self.seg, rng, t, client, resolver, q.qname, Answer((), (q.answer,), (), ttl, zone),
                            q.client_port, q.txid)
        self._add("dns", i, q.id, conv, qname=q.qname, answer=q.answer, txid=q.txid, ttl=ttl)
        self._keep("dns", i, aaaa)

    def _http(self, i: int, h: HttpTransfer) -> None:
        where = f"network.http[{i}]"
        client, server = self._ip(h.client, where), self._ip(h.server, where)
        self.seg.check_touches(client, server, where)
        rng = self._rng("http", i)
        t = self._first_packet(rng, h.time)
        request = request_bytes(h.method, h.host_header, h.uri, h.user_agent, h.request_body, h.basic_auth)
        if h.server == self.case.suspect_host:
            software = f"PHP/{PHP_VERSION}"
            response = php_dev_server_response(h.status, h.host_header, h.content_type, h.response_body, t)
        else:
            banners = SERVER_BANNERS[self.seg.endpoint(server).os.name]
            software = random.Random(derived_seed(self.case.seed, "http-server", server)).choice(banners)
            response = response_bytes(h.status, h.content_type, h.response_body, t, software)
        conv = http_exchange(self.seg, rng, t, client, h.client_port, server, h.server_port, request, response)
        self._add("http", i, h.id, conv, method=h.method, host=h.host_header, uri=h.uri, user_agent=h.user_agent,
                  status=h.status, content_type=h.content_type, server_software=software,
                  response_length=len(h.response_body), response_sha256=h.response_sha256,
                  request_body_length=len(h.request_body), request_body_sha256=_sha256(h.request_body),
                  basic_auth=list(h.basic_auth) if h.basic_auth else None)

    def _ftp(self, i: int, f: FtpSession) -> None:
        where = f"network.ftp[{i}]"
        client, server = self._ip(f.client, where), self._ip(f.server, where)
        self.seg.check_touches(client, server, where)
        rng = self._rng("ftp", i)
        ctrl, data = ftp_exchange(self.seg, rng, self._first_packet(rng, f.time), client, f.client_port, server,
                                  f.user, f.password, f.stor_name, f.stor_data, f.data_port, f.data_client_port,
                                  where)
        data_facts = None
        if data is not None:
            self._keep("ftp", i, data)
            data_facts = data.facts()
        self._add("ftp", i, f.id, ctrl, user=f.user, password=f.password, stor_name=f.stor_name,
                  stor_length=len(f.stor_data), stor_sha256=_sha256(f.stor_data), data=data_facts)

    def _raw(self, i: int, r: RawTransfer) -> None:
        where = f"network.raw[{i}]"
        client, server = self._ip(r.client, where), self._ip(r.server, where)
        self.seg.check_touches(client, server, where)
        conv = Conversation("tcp", self.seg.endpoint(client), r.client_port, self.seg.endpoint(server),
                            r.server_port)
        rng = self._rng("raw", i)
        session = TcpSession(conv, rng, self._first_packet(rng, r.time))
        session.open()
        session.send(True, r.upload)
        session.send(False, r.download)
        session.close(by_client=True)
        self._add("raw", i, r.id, conv, label=r.label, upload_length=len(r.upload), upload_sha256=_sha256(r.upload),
                  download_length=len(r.download), download_sha256=_sha256(r.download))

    def _smtp(self, i: int, s: SmtpSubmission) -> None:
        where = f"network.smtp[{i}]"
        client, server = self._ip(s.client, where), self._ip(s.server, where)
        self.seg.check_touches(client, server, where)
        rng = self._rng("smtp", i)
        conv = smtp_exchange(self.seg, rng, self._first_packet(rng, s.time), s, client, server,
                             self.case.host(s.server).hostname)
        self._add("smtp", i, s.id, conv, helo=s.helo, mail_from=s.mail_from, rcpt_to=list(s.rcpt_to),
                  from_header=s.from_header, to_header=s.to_header, subject=s.subject, message_id=s.message_id,
                  message_length=len(s.message), message_sha256=s.message_sha256, attachments=list(s.attachments),
                  queue_id=s.queue_id, auth=s.auth, user=s.user if s.auth else None,
                  password=s.password if s.auth else None)

    def _imap(self, i: int, m: ImapSession) -> None:
        where = f"network.imap[{i}]"
        client, server = self._ip(m.client, where), self._ip(m.server, where)
        self.seg.check_touches(client, server, where)
        rng = self._rng("imap", i)
        conv = imap_exchange(self.seg, rng, self._first_packet(rng, m.time), m, client, server)
        self._add("imap", i, m.id, conv, user=m.user, password=m.password, mailbox=m.mailbox,
                  message_ids=list(m.message_ids), message_lengths=[len(b) for b in m.messages],
                  messages_sha256=[_sha256(b) for b in m.messages])
