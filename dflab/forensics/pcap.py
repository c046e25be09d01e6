"""Read packet captures into pandas tables: packets, conversations, DNS, HTTP, credentials.

Every function takes the capture path and streams through it with scapy's
``PcapReader`` (pcap and pcapng, any link type scapy knows: Ethernet, raw IP,
Linux cooked, ...), so a capture larger than memory is fine::

    from dflab.forensics import pcap
    pcap.packets("evidence/net.pcap", limit=20)     # first look, like tcpdump
    pcap.conversations("evidence/net.pcap")         # who talked to whom, how much
    pcap.dns("evidence/net.pcap")                   # which names were looked up
    pcap.http_objects("evidence/net.pcap")          # HTTP bodies, downloads and uploads, with sha256
    pcap.http_uploads("evidence/net.pcap")          # files sent to a server (form uploads split into files)
    pcap.credentials("evidence/net.pcap")           # clear-text FTP / HTTP Basic logins

Times are UTC pandas timestamps with full nanosecond precision.  A capture
with no packets gives empty tables (with the usual columns), a capture that
is cut short gives the packets before the cut plus a
:class:`~dflab.forensics.capture.TruncatedCaptureWarning`, and a file that
is not a capture at all raises :class:`~dflab.errors.EvidenceError`.

Only the payloads a function needs are kept (HTTP-looking TCP streams for
the HTTP functions, port 21 for FTP), so memory stays small.

Frames are read as tshark reads them (:mod:`dflab.forensics.capture`):
through VLAN, MPLS and PPPoE, on raw-IP link types, past IPv6 extension
headers, with fragmented IP datagrams reassembled.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message as EmailHeaders
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import pandas as pd
from scapy.layers.dns import DNS
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    IPv6ExtHdrSegmentRouting,
)
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet

from dflab.errors import EvidenceError
from dflab.forensics.capture import TruncatedCaptureWarning, frames
from dflab.forensics.hashing import hash_bytes
from dflab.forensics.http import (
    Message,
    looks_like_http,
    parse_multipart,
    parse_requests,
    parse_responses,
)
from dflab.forensics.tcp import FlowKey, HalfStream, Stream

__all__ = [
    "TruncatedCaptureWarning",
    "conversations",
    "credentials",
    "dns",
    "http_objects",
    "http_requests",
    "http_uploads",
    "packets",
    "tcp_stream",
]

PathLike = str | os.PathLike[str]

_PACKET_COLUMNS = ["number", "time", "interface", "src", "dst", "proto", "sport", "dport", "length", "summary"]
_CONV_COLUMNS = ["proto", "src", "sport", "dst", "dport", "packets_ab", "bytes_ab", "packets_ba", "bytes_ba",
                 "packets", "bytes", "start", "end", "duration"]
_DNS_COLUMNS = ["number", "time", "src", "sport", "dst", "dport", "id", "response", "qname", "qtype", "rcode",
                "answers"]
_REQUEST_COLUMNS = ["time", "client", "client_port", "server", "server_port", "method", "host", "uri", "url",
                    "user_agent", "status", "content_type", "response_size"]
_OBJECT_COLUMNS = ["time", "server", "server_port", "client", "client_port", "url", "status", "content_type",
                   "filename", "size", "sha256", "complete", "body", "direction", "method"]
_UPLOAD_COLUMNS = ["time", "client", "client_port", "server", "server_port", "url", "method", "status", "field",
                   "filename", "content_type", "size", "sha256", "complete", "body"]
_CRED_COLUMNS = ["time", "protocol", "client", "client_port", "server", "server_port", "username", "password",
                 "target", "success"]
_IP_PROTOS = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 47: "GRE", 50: "ESP", 132: "SCTP"}
_IPV6_EXTENSIONS = (IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrSegmentRouting, IPv6ExtHdrDestOpt,
                    IPv6ExtHdrFragment)


def packets(path: PathLike, limit: int | None = None) -> pd.DataFrame:
    """One row per packet, like the top pane of Wireshark.

    Columns: ``number`` (1-based, as Wireshark numbers frames), ``time``,
    ``interface`` (pcapng interface name, else None), ``src``/``dst`` (IP
    addresses, or MAC addresses for non-IP frames such as ARP), ``proto``
    (TCP, UDP, ICMP, ARP, ...), ``sport``/``dport`` (<NA> without ports),
    ``length`` (bytes on the wire) and scapy's one-line ``summary``.
    ``limit`` stops after that many packets (a quick look at a big capture).
    """
    rows = []
    for frame in frames(path):
        if limit is not None and frame.number > limit:
            break
        src, dst, proto, sport, dport = _addresses(frame.packet, frame.fragment)
        rows.append({"number": frame.number, "time": frame.time_ns, "interface": frame.interface, "src": src,
                     "dst": dst, "proto": proto, "sport": sport, "dport": dport, "length": frame.length,
                     "summary": _summary(frame.packet)})
    table = pd.DataFrame(rows, columns=_PACKET_COLUMNS)
    return _finish(table, times=["time"], ints=["number", "sport", "dport", "length"])


def conversations(path: PathLike) -> pd.DataFrame:
    """Bidirectional IP conversations with packets and bytes each way, like Wireshark's Conversations.

    A conversation is one (protocol, address:port, address:port) pair in
    either direction.  ``src``/``sport`` is whoever sent the first packet we
    saw (usually the client), ``_ab`` counts go src -> dst and ``_ba`` the
    reply direction.  ``bytes`` are frame lengths on the wire (as tshark's
    ``-z conv,tcp``).  ``duration`` is in seconds.  A fragmented datagram
    counts once, at the frame of the fragment that completes it (as tshark's
    ``-z conv,udp`` counts it).
    """
    table: dict[tuple, dict] = {}
    for frame in frames(path):
        if frame.fragment:
            continue  # counted with its datagram, at the fragment that completes it (as tshark -z conv does)
        src, dst, proto, sport, dport = _addresses(frame.packet)
        if src is None or not _is_ip(frame.packet):
            continue  # ARP and other non-IP frames have no IP conversation
        a, b = (src, sport), (dst, dport)
        key = (proto, *sorted([a, b], key=repr))
        conv = table.get(key)
        if conv is None:
            conv = table[key] = {"proto": proto, "src": src, "sport": sport, "dst": dst, "dport": dport,
                                 "packets_ab": 0, "bytes_ab": 0, "packets_ba": 0, "bytes_ba": 0,
                                 "start": frame.time_ns, "end": frame.time_ns}
        way = "ab" if (src, sport) == (conv["src"], conv["sport"]) else "ba"
        conv[f"packets_{way}"] += 1
        conv[f"bytes_{way}"] += frame.length
        conv["start"] = min(conv["start"], frame.time_ns)
        conv["end"] = max(conv["end"], frame.time_ns)
    rows = list(table.values())
    for row in rows:
        row["packets"] = row["packets_ab"] + row["packets_ba"]
        row["bytes"] = row["bytes_ab"] + row["bytes_ba"]
        row["duration"] = (row["end"] - row["start"]) / 1e9
    result = pd.DataFrame(rows, columns=_CONV_COLUMNS)
    result = _finish(result, times=["start", "end"], ints=["sport", "dport", "packets_ab", "bytes_ab", "packets_ba",
                                                           "bytes_ba", "packets", "bytes"])
    result["duration"] = result["duration"].astype(float)
    return result


def dns(path: PathLike) -> pd.DataFrame:
    """DNS queries and responses, one row per DNS message.

    Columns: ``id`` (pairs a query with its response), ``response``
    (False = query), ``qname``/``qtype`` (what was asked), ``rcode``
    (``ok``, ``name-error`` = NXDOMAIN, ...) and ``answers``: the answer
    records as ``"name TYPE data"`` strings joined by ``"; "`` (so
    ``df.answers.str.contains("1.2.3.4")`` works).  Packets on the DNS port
    that do not parse as DNS (corrupt or fuzzed) are skipped.
    """
    rows = []
    for frame in frames(path):
        packet = frame.packet
        if DNS not in packet:
            continue
        try:
            message = packet[DNS]
            question = message.qd[0] if message.qd else None
            answers = "; ".join(_rr_text(rr) for rr in (message.an or []))
            row = {"id": int(message.id), "response": bool(message.qr),
                   "qname": _text(question.qname) if question is not None else None,
                   "qtype": question.sprintf("%qtype%") if question is not None else None,
                   "rcode": message.sprintf("%rcode%"), "answers": answers}
        except (AttributeError, IndexError, TypeError, ValueError):
            continue
        src, dst, _, sport, dport = _addresses(packet)
        rows.append({"number": frame.number, "time": frame.time_ns, "src": src, "sport": sport, "dst": dst,
                     "dport": dport, **row})
    table = pd.DataFrame(rows, columns=_DNS_COLUMNS)
    table = _finish(table, times=["time"], ints=["number", "sport", "dport", "id"])
    table["response"] = table["response"].astype(bool)
    return table


def http_requests(path: PathLike) -> pd.DataFrame:
    """HTTP/1.x requests found in reassembled TCP streams, with the status of their response.

    Columns: ``time`` (when the request started), ``client``/``client_port``,
    ``server``/``server_port``, ``method``, ``host`` (Host header), ``uri``
    (as sent), ``url`` (``http://host/uri``), ``user_agent``, then from the
    matching response ``status``, ``content_type`` and ``response_size``
    (decoded body bytes).  Works on any port: streams are recognised by
    content, not by port 80.  Responses whose request the capture missed are
    in :func:`http_objects`, not here.
    """
    rows = [{"time": t.request_time, "client": t.client[0], "client_port": t.client[1], "server": t.server[0],
             "server_port": t.server[1], "method": t.request.start[0], "host": t.request.header("host"),
             "uri": t.request.start[1], "url": t.url, "user_agent": t.request.header("user-agent"),
             "status": _status(t), "content_type": t.response.header("content-type") if t.response else None,
             "response_size": len(t.response.body) if t.response else None}
            for t in _http_transactions(path) if t.request is not None]
    table = pd.DataFrame(rows, columns=_REQUEST_COLUMNS)
    return _finish(table, times=["time"], ints=["client_port", "server_port", "status", "response_size"])


def http_objects(path: PathLike) -> pd.DataFrame:
    """Every HTTP message body, rebuilt from TCP segments, with its SHA-256: what ``--export-objects http`` saves.

    One row per message with a body: ``direction`` ``"response"`` for what a
    server sent (downloads), ``"request"`` for what a client sent (uploads:
    POST and PUT bodies, a ``multipart/form-data`` form as one body; see
    :func:`http_uploads` for the files inside it).  ``body`` holds the bytes
    as the application saw them (de-chunked, gzip undone), ``filename`` is the
    last part of the URL path (what Export Objects names it), ``method`` the
    request's, ``status`` the response's.  ``complete`` is False when segments
    were missing from the capture or the body is shorter than announced.

    A response whose request the capture missed (it started mid-connection)
    is still exported, with ``url``/``method`` unknown (None) and
    ``filename`` taken from its ``Content-Disposition`` if it has one.
    Compare ``sha256`` with a file found on disk to prove where it came from.
    """
    rows = []
    for t in _http_transactions(path):
        base = {"server": t.server[0], "server_port": t.server[1], "client": t.client[0],
                "client_port": t.client[1], "url": t.url, "status": _status(t),
                "method": t.request.start[0] if t.request else None}
        if t.request is not None and t.request.body:
            rows.append({**base, **_body_fields(t.request.body), "time": t.request_time, "direction": "request",
                         "content_type": t.request.header("content-type"), "filename": _url_name(t),
                         "complete": t.request.complete and t.client_complete})
        if t.response is not None and t.response.body:
            rows.append({**base, **_body_fields(t.response.body), "time": t.response_time, "direction": "response",
                         "content_type": t.response.header("content-type"),
                         "filename": _url_name(t) if t.request else _disposition_name(t.response),
                         "complete": t.response.complete and t.server_complete})
    table = _finish(pd.DataFrame(rows, columns=_OBJECT_COLUMNS), times=["time"],
                    ints=["server_port", "client_port", "status", "size"])
    return table.sort_values("time", kind="stable", na_position="first").reset_index(drop=True)


def http_uploads(path: PathLike) -> pd.DataFrame:
    """Files clients sent to servers over HTTP, one row per file, with its SHA-256.

    A ``multipart/form-data`` body (a browser form, ``curl -F``) is split into
    its parts and each *file* part is a row: ``field`` is the form field,
    ``filename`` the name the file had on the client (``Content-Disposition``),
    ``content_type`` the part's own.  Any other request body (``curl -T``
    PUT, ``curl --data-binary @file`` POST, a script posting raw bytes) is one
    row with the whole body, ``field`` None and ``filename`` from the URL.
    ``complete`` is False when the capture missed part of the upload.
    """
    rows = []
    for t in _http_transactions(path):
        if t.request is None or not t.request.body:
            continue
        base = {"time": t.request_time, "client": t.client[0], "client_port": t.client[1], "server": t.server[0],
                "server_port": t.server[1], "url": t.url, "method": t.request.start[0], "status": _status(t)}
        whole = t.request.complete and t.client_complete
        parts = parse_multipart(t.request.body, t.request.header("content-type"))
        if parts:
            rows += [{**base, **_body_fields(part.body), "field": part.name, "filename": part.filename,
                      "content_type": part.content_type, "complete": whole and part.complete}
                     for part in parts if part.filename is not None]
        else:
            rows.append({**base, **_body_fields(t.request.body), "field": None, "filename": _url_name(t),
                         "content_type": t.request.header("content-type"), "complete": whole})
    table = pd.DataFrame(rows, columns=_UPLOAD_COLUMNS)
    return _finish(table, times=["time"], ints=["client_port", "server_port", "status", "size"])


def credentials(path: PathLike) -> pd.DataFrame:
    """Clear-text logins: FTP ``USER``/``PASS`` pairs and HTTP Basic authentication, decoded.

    Columns: ``protocol`` (ftp, http-basic), ``username``, ``password``,
    ``target`` (the URL for HTTP), and ``success``: for FTP whether the server
    answered the password with 230 (True) or an error such as 530 (False),
    <NA> when no reply was captured; for HTTP whether the response was not
    401/407.  HTTP Basic splits at the *first* colon, because the password
    (not the user name) may contain colons.
    """
    rows = list(_ftp_logins(path))
    for t in _http_transactions(path):
        if t.request is None:
            continue
        for header in ("authorization", "proxy-authorization"):
            decoded = _basic_auth(t.request.header(header))
            if decoded is None:
                continue
            status = int(t.response.start[1]) if t.response else None
            rows.append({"time": t.request_time, "protocol": "http-basic", "client": t.client[0],
                         "client_port": t.client[1], "server": t.server[0], "server_port": t.server[1],
                         "username": decoded[0], "password": decoded[1], "target": t.url,
                         "success": None if status is None else status not in (401, 407)})
    table = pd.DataFrame(rows, columns=_CRED_COLUMNS)
    table = _finish(table, times=["time"], ints=["client_port", "server_port"])
    table["success"] = table["success"].astype("boolean")
    return table.sort_values("time", kind="stable").reset_index(drop=True)


def tcp_stream(path: PathLike, flow: tuple[str, int, str, int] | pd.Series) -> bytes:
    """The bytes one side of a TCP connection sent, in order, like Wireshark's "Follow TCP Stream".

    ``flow`` is ``(src, sport, dst, dport)`` -- the direction you want -- or a
    row of :func:`conversations` (which gives its src -> dst direction; swap
    the ends for the reply).  Stops at the first segment missing from the
    capture.  An unknown flow raises :class:`EvidenceError`.
    """
    key = _flow_key(flow)
    collected = _collect_streams(path, lambda k, _payload: k == key)
    if key not in collected:
        raise EvidenceError(f"no TCP segments from {key[0]}:{key[1]} to {key[2]}:{key[3]}", str(path))
    return collected[key].reassemble().data


# --------------------------------------------------------------------------- internals

@dataclass
class _Transaction:
    """One request and its response; either may be missing from the capture (``None``)."""

    client: tuple[str, int]
    server: tuple[str, int]
    request: Message | None
    request_time: int | None
    response: Message | None
    response_time: int | None
    server_complete: bool
    client_complete: bool

    @property
    def url(self) -> str | None:
        if self.request is None:
            return None
        uri = self.request.start[1]
        if re.match(r"^[a-z]+://", uri):
            return uri
        host = self.request.header("host") or (
            self.server[0] if self.server[1] == 80 else f"{self.server[0]}:{self.server[1]}")
        return f"http://{host}{uri}"


def _http_transactions(path: PathLike) -> list[_Transaction]:
    """Requests paired with responses in order; then the responses of streams whose requests were not captured."""
    streams = _collect_streams(path, lambda _key, payload: looks_like_http(payload))
    built = {key: half.reassemble() for key, half in streams.items()}
    transactions, answered = [], set()
    for key, client in built.items():
        requests = parse_requests(client.data)
        if not requests:
            continue
        reverse = _reverse(key)
        answered.add(reverse)
        server = built.get(reverse, Stream(reverse, b"", False))
        responses = parse_responses(server.data, [r.start[0] for r in requests])
        for index, request in enumerate(requests):
            response = responses[index] if index < len(responses) else None
            transactions.append(_Transaction(
                (key[0], key[1]), (key[2], key[3]), request, client.time_at(request.offset), response,
                server.time_at(response.offset) if response else None, server.complete, client.complete))
    for key, server in built.items():
        if key in answered or not server.data.startswith(b"HTTP/"):
            continue  # a capture that began after the request was sent: the responses are all there is
        transactions += [_Transaction((key[2], key[3]), (key[0], key[1]), None, None, response,
                                      server.time_at(response.offset), server.complete, False)
                         for response in parse_responses(server.data, [])]
    return sorted(transactions, key=lambda t: (t.request_time or t.response_time or 0, t.client,
                                               t.request.offset if t.request else 0))


def _status(t: _Transaction) -> int | None:
    return int(t.response.start[1]) if t.response else None


def _url_name(t: _Transaction) -> str | None:
    """The name Export Objects gives a body: the URL path's last part (``index.html`` for ``/``)."""
    if t.request is None:
        return None
    return PurePosixPath(urlsplit(t.request.start[1]).path).name or "index.html"


def _disposition_name(message: Message) -> str | None:
    """The file name a ``Content-Disposition: attachment; filename=...`` header gives, if any."""
    value = message.header("content-disposition")
    if not value:
        return None
    headers = EmailHeaders()
    headers["content-disposition"] = value
    return headers.get_filename()


def _body_fields(body: bytes) -> dict[str, object]:
    return {"size": len(body), "sha256": hash_bytes(body, ("sha256",))["sha256"], "body": body}


def _collect_streams(path: PathLike, keep: Callable[[FlowKey, bytes], bool]) -> dict[FlowKey, HalfStream]:
    """Stream the capture once, keeping payloads only of connections ``keep`` accepts.

    ``keep`` sees each direction's first payload.  Once a direction is
    accepted, both directions of its connection keep their payloads (an HTTP
    response is kept because its request looked like HTTP); everything else
    keeps only its SYN sequence number, so memory stays small.
    """
    streams: dict[FlowKey, HalfStream] = {}
    accepted: dict[FlowKey, bool] = {}
    for frame in frames(path):
        found = _tcp(frame.packet)
        if found is None:
            continue
        key, seq, flags, payload = found
        if payload and key not in accepted:
            accepted[key] = keep(key, payload)
        wanted = accepted.get(key) or accepted.get(_reverse(key))
        half = streams.setdefault(key, HalfStream(key))
        half.add(seq, frame.time_ns, payload if wanted else b"", syn=bool(flags & 0x02))
    return {key: half for key, half in streams.items() if accepted.get(key) or accepted.get(_reverse(key))}


def _reverse(key: FlowKey) -> FlowKey:
    return (key[2], key[3], key[0], key[1])


def _tcp(packet: Packet) -> tuple[FlowKey, int, int, bytes] | None:
    if TCP not in packet:
        return None
    if not _is_ip(packet):
        return None
    ip = packet[IP] if IP in packet else packet[IPv6]
    segment = packet[TCP]
    try:
        payload = bytes(segment.payload)
        if IP in packet and ip.len:  # drop Ethernet padding beyond the IP datagram
            payload = payload[:max(0, int(ip.len) - int(ip.ihl) * 4 - int(segment.dataofs) * 4)]
        key = (str(ip.src), int(segment.sport), str(ip.dst), int(segment.dport))
        return key, int(segment.seq), int(segment.flags), payload
    except (TypeError, ValueError, AttributeError):
        return None


def _ftp_logins(path: PathLike) -> Iterator[dict]:
    streams = _collect_streams(path, lambda key, _payload: 21 in (key[1], key[3]))
    for key, half in streams.items():
        if key[3] != 21:
            continue
        client = half.reassemble()
        reverse = _reverse(key)
        server = streams[reverse].reassemble() if reverse in streams else Stream(reverse, b"", False)
        replies = [(t, code) for t, code in _lines(server, rb"^(\d{3})[ -]") if not code.startswith("1")]
        user = None
        for t, line in _lines(client, rb"^((?i:USER|PASS) .*)$"):
            command, _, argument = line.partition(" ")
            if command.upper() == "USER":
                user = argument
                continue
            reply = next((code for rt, code in replies if t is not None and rt is not None and rt >= t), None)
            yield {"time": t, "protocol": "ftp", "client": key[0], "client_port": key[1], "server": key[2],
                   "server_port": key[3], "username": user, "password": argument,
                   "target": f"ftp://{key[2]}", "success": None if reply is None else reply == "230"}


def _lines(stream: Stream, pattern: bytes) -> Iterator[tuple[int | None, str]]:
    """Yield (time sent, first group) for each CRLF line of a text protocol stream matching ``pattern``."""
    regex = re.compile(pattern)
    offset = 0
    for raw in stream.data.split(b"\n"):
        match = regex.match(raw.rstrip(b"\r"))
        if match:
            yield stream.time_at(offset), match.group(1).decode("latin-1")
        offset += len(raw) + 1


def _basic_auth(value: str | None) -> tuple[str, str] | None:
    if not value or not value.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None
    user, _, password = decoded.partition(":")
    return user, password


def _flow_key(flow: tuple[str, int, str, int] | pd.Series) -> FlowKey:
    if isinstance(flow, pd.Series):
        return (str(flow["src"]), int(flow["sport"]), str(flow["dst"]), int(flow["dport"]))
    src, sport, dst, dport = flow
    return (str(src), int(sport), str(dst), int(dport))


def _is_ip(packet: Packet) -> bool:
    return IP in packet or IPv6 in packet


def _addresses(packet: Packet, fragment: bool = False) -> tuple[str | None, str | None, str, int | None, int | None]:
    """(src, dst, protocol name, sport, dport) for any frame, however malformed.

    A fragment that does not complete its datagram is named ``IPv4``/``IPv6``
    with no ports, as tshark's protocol column shows it: its transport header
    belongs to the datagram, which is counted at its last fragment.
    """
    try:
        if IP in packet or IPv6 in packet:
            ip = packet[IP] if IP in packet else packet[IPv6]
            if fragment:
                return str(ip.src), str(ip.dst), "IPv4" if IP in packet else "IPv6", None, None
            number = int(ip.proto) if IP in packet else _upper_protocol(ip)
            proto = _IP_PROTOS.get(number, f"IP-{number}")
            sport = dport = None
            for layer in (TCP, UDP):
                if layer in packet:
                    sport, dport = int(packet[layer].sport), int(packet[layer].dport)
            if ICMP in packet:
                proto = "ICMP"
            return str(ip.src), str(ip.dst), proto, sport, dport
        if ARP in packet:
            return str(packet[ARP].psrc), str(packet[ARP].pdst), "ARP", None, None
        if Ether in packet:
            return str(packet[Ether].src), str(packet[Ether].dst), "non-IP", None, None
    except (AttributeError, TypeError, ValueError, IndexError):
        pass
    return None, None, "non-IP", None, None


def _upper_protocol(ip6: Packet) -> int:
    """The protocol after an IPv6 header's extension headers (hop-by-hop, routing, destination options, ...)."""
    number, layer = int(ip6.nh), ip6.payload
    while isinstance(layer, _IPV6_EXTENSIONS):
        number, layer = int(layer.nh), layer.payload
    return number


def _summary(packet: Packet) -> str:
    try:
        return packet.summary()
    except Exception as exc:  # noqa: BLE001 - fuzzed packets can break any layer's summary code
        return f"<undecodable packet: {type(exc).__name__}>"


def _rr_text(rr: Packet) -> str:
    data = getattr(rr, "rdata", None)
    if isinstance(data, list):
        data = " ".join(_text(item) for item in data)
    return f"{_text(rr.rrname)} {rr.sprintf('%type%')} {_text(data)}"


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _finish(table: pd.DataFrame, times: list[str], ints: list[str]) -> pd.DataFrame:
    for column in times:
        table[column] = pd.to_datetime(table[column].astype("Int64"), unit="ns", utc=True)
    for column in ints:
        table[column] = table[column].astype("Int64")
    return table

