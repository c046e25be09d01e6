"""Split reassembled HTTP/1.x byte streams into requests and responses.

HTTP/1.x is a text header block ended by a blank line, then a body whose
length is given by ``Content-Length``, by ``Transfer-Encoding: chunked``, or
(responses only) by the server closing the connection.  Responses to ``HEAD``
and status 1xx/204/304 never have a body, which is why responses are parsed
knowing their request.  Bodies are returned as the application saw them:
de-chunked and, for gzip/deflate ``Content-Encoding``, decompressed (the
same thing Wireshark's "Export Objects > HTTP" saves).

An upload from a browser form is one ``multipart/form-data`` body holding
every field and file (RFC 7578); :func:`parse_multipart` splits it into its
parts, so the file inside can be hashed as the file it was on the sender's
disk.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from email.message import Message as _MimeHeaders

__all__ = ["Message", "Part", "looks_like_http", "parse_multipart", "parse_requests", "parse_responses"]

_REQUEST_LINE = re.compile(rb"^([A-Z]{3,10}) (\S+) HTTP/(\d\.\d)$")
_STATUS_LINE = re.compile(rb"^HTTP/(\d\.\d) (\d{3})(?: (.*))?$")
_MAX_HEADER = 64 * 1024


@dataclass
class Message:
    """One HTTP request or response: start line parts, headers (lower-case names), body."""

    offset: int
    start: tuple[str, ...]
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    complete: bool = True

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Part:
    """One part of a multipart body: its form field name, the file name it was sent as, its own type and bytes."""

    name: str | None
    filename: str | None
    content_type: str | None
    body: bytes
    complete: bool


def looks_like_http(payload: bytes) -> bool:
    """True when a stream starts like an HTTP request or response (used to pick streams to keep)."""
    first = payload[:16]
    return first.startswith(b"HTTP/1.") or bool(re.match(rb"^[A-Z]{3,10} \S", first))


def parse_requests(data: bytes) -> list[Message]:
    """Parse pipelined requests from a client stream; stops at the first thing that is not HTTP.

    Request bodies (uploads: POST, PUT) are de-chunked and decoded as responses are.
    """
    messages, pos = [], 0
    while pos < len(data):
        head = _head(data, pos, _REQUEST_LINE)
        if head is None:
            break
        message, body_at = head
        declared = message.header("content-length")
        length = int(declared or 0) if _is_int(declared) else 0
        if "chunked" in (message.header("transfer-encoding") or "").lower():
            message.body, pos, message.complete = _dechunk(data, body_at)
        else:
            message.body = data[body_at:body_at + length]
            message.complete = len(message.body) == length
            pos = body_at + length
        message.body = _decode(message.body, message.header("content-encoding"))
        messages.append(message)
    return messages


def parse_responses(data: bytes, request_methods: list[str]) -> list[Message]:
    """Parse responses from a server stream, the n-th final response answering the n-th request.

    Interim ``1xx`` responses (``100 Continue``) are parsed and skipped: they
    do not answer a request.
    """
    messages, pos, answered = [], 0, 0
    while pos < len(data):
        head = _head(data, pos, _STATUS_LINE)
        if head is None:
            break
        message, body_at = head
        status = int(message.start[1])
        method = request_methods[answered] if answered < len(request_methods) else "GET"
        if 100 <= status < 200:
            pos = body_at
            continue
        answered += 1
        if method == "HEAD" or status in (204, 304):
            pos = body_at
        elif "chunked" in (message.header("transfer-encoding") or "").lower():
            message.body, pos, message.complete = _dechunk(data, body_at)
        elif _is_int(declared := message.header("content-length")):
            length = int(declared or 0)
            message.body = data[body_at:body_at + length]
            message.complete = len(message.body) == length
            pos = body_at + length
        else:  # body runs until the server closes the connection
            message.body, pos = data[body_at:], len(data)
        message.body = _decode(message.body, message.header("content-encoding"))
        messages.append(message)
    return messages


def parse_multipart(body: bytes, content_type: str | None) -> list[Part]:
    """Split a ``multipart/*`` body at its boundary (from ``content_type``) into its parts.

    Parts are returned in order; a body cut short (segments missing from the
    capture) gives the parts before the cut plus the cut one with
    ``complete=False``.  A body that is not multipart gives ``[]``.
    """
    headers = _mime_headers("content-type", content_type or "")
    boundary = headers.get_param("boundary", header="content-type")
    if headers.get_content_maintype() != "multipart" or not isinstance(boundary, str) or not boundary:
        return []
    delimiter = b"--" + boundary.encode("latin-1")
    parts: list[Part] = []
    pos = body.find(delimiter)
    while pos >= 0:
        pos += len(delimiter)
        if body[pos:pos + 2] == b"--":  # the close delimiter
            break
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            break
        start = eol + 2
        following = body.find(b"\r\n" + delimiter, start)
        end = following if following >= 0 else len(body)
        if body[start:start + 2] == b"\r\n":  # a part with no headers at all
            head, content = b"", body[start + 2:end]
        else:
            head_end = body.find(b"\r\n\r\n", start, end)
            if head_end < 0:
                break
            head, content = body[start:head_end], body[head_end + 4:end]
        part_headers = _MimeHeaders()
        for line in head.split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if sep:
                part_headers[name.strip().decode("latin-1")] = value.strip().decode("latin-1")
        parts.append(Part(_param_text(part_headers.get_param("name", header="content-disposition")),
                          part_headers.get_filename(), part_headers.get("content-type"), content, following >= 0))
        pos = following + 2 if following >= 0 else -1
    return parts


def _mime_headers(name: str, value: str) -> _MimeHeaders:
    headers = _MimeHeaders()
    headers[name] = value
    return headers


def _param_text(value: object) -> str | None:
    """A MIME parameter as text: RFC 2231 ``name*=utf-8''...`` comes back from ``email`` as a tuple."""
    if value is None or value == "":
        return None
    if isinstance(value, tuple):
        charset, _, text = value
        return text.encode("latin-1", "replace").decode(charset or "utf-8", "replace")
    return str(value)


def _head(data: bytes, pos: int, start_line: re.Pattern[bytes]) -> tuple[Message, int] | None:
    end = data.find(b"\r\n\r\n", pos, pos + _MAX_HEADER)
    if end < 0:
        return None
    lines = data[pos:end].split(b"\r\n")
    match = start_line.match(lines[0])
    if match is None:
        return None
    message = Message(pos, tuple((g or b"").decode("latin-1") for g in match.groups()))
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            message.headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return message, end + 4


def _dechunk(data: bytes, pos: int) -> tuple[bytes, int, bool]:
    parts: list[bytes] = []
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return b"".join(parts), len(data), False
        size_text = data[pos:eol].split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return b"".join(parts), len(data), False
        pos = eol + 2
        if size == 0:
            trailer_end = data.find(b"\r\n", pos)
            return b"".join(parts), (trailer_end + 2 if trailer_end >= 0 else len(data)), True
        chunk = data[pos:pos + size]
        parts.append(chunk)
        if len(chunk) < size:
            return b"".join(parts), len(data), False
        pos += size + 2


def _decode(body: bytes, encoding: str | None) -> bytes:
    kind = (encoding or "").strip().lower()
    if kind not in ("gzip", "x-gzip", "deflate") or not body:
        return body
    for wbits in ((31,) if "gzip" in kind else (15, -15)):
        try:
            return zlib.decompressobj(wbits).decompress(body)
        except zlib.error:
            continue
    return body  # undecodable: hand back what was on the wire rather than nothing


def _is_int(value: str | None) -> bool:
    return value is not None and value.strip().isdigit()
