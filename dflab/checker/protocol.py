"""The instant checker's wire protocol, as both ends see it: HTTP/1.1 over one Unix socket per trainee.

Standard library only: the client half runs in the trainee's kernel (:mod:`dflab.lab.check`, in the Docker trainee
image too), the server half in the checker (:mod:`dflab.checker.server`).

* ``POST /check`` with ``{"answer": NAME, "value": VALUE}`` (``application/json``, at most ``MAX_BODY`` bytes):
  200 ``{"answer": NAME, "correct": bool, "tries_left": n}``; 400 malformed body or an answer the lab does not
  have; 409 an answer checked only when graded; 413 too large; 415 not JSON; 429 too many tries (``Retry-After``
  seconds); 503 the trainee's key is not built yet. Every refusal is ``{"error": "one line"}``.
* ``GET /answers``: ``{"answers": [NAME, ...]}``, the names ``POST /check`` takes.

Who asks is the socket they reach, never something they send: each trainee's lab sees only its own socket.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
from collections.abc import Iterator
from typing import Any

SOCKET_ENV = "DFLAB_CHECK_SOCKET"  # where a lab's kernel finds its checker (unset: the lab has none)
LAB_CHECK_DIR = "/run/dflab-check"  # the trainee's own socket folder, as a confined or Docker lab sees it
SOCKET_NAME = "check.sock"
CHECK_ROUTE = "/check"
ANSWERS_ROUTE = "/answers"
JSON_TYPE = "application/json"
MAX_BODY = 64 * 1024  # a request body; the largest answer a lab records (a citations list) is a few KiB
SOCKET_PATH_MAX = 107  # sockaddr_un.sun_path less its terminating NUL


def lab_socket() -> str:
    """Where a confined or Docker lab reaches its checker (its own folder is bound at ``LAB_CHECK_DIR``)."""
    return f"{LAB_CHECK_DIR}/{SOCKET_NAME}"


@contextlib.contextmanager
def short_path(path: str) -> Iterator[str]:
    """``path`` as a name ``bind``/``connect`` accept: itself, or ``/proc/self/fd/N/<name>`` through its folder
    held open when it is longer than a socket address holds (a session folder may be deep)."""
    if len(os.fsencode(path)) <= SOCKET_PATH_MAX:
        yield path
        return
    folder, name = os.path.split(path)
    fd = os.open(folder, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{name}"
    finally:
        os.close(fd)


def connect_unix(path: str, timeout: float) -> socket.socket:
    """A stream socket connected to the Unix socket at ``path`` (any length), with ``timeout``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        with short_path(path) as name:
            sock.connect(name)
    except BaseException:
        sock.close()
        raise
    return sock


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client's connection over a Unix socket (the host name is only what the Host header says)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("dflab-checker", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = connect_unix(self.path, self.timeout)


def request(path: str, method: str, route: str, body: dict[str, Any] | None = None,
            timeout: float = 10.0) -> tuple[int, dict[str, str], dict[str, Any]]:
    """One request to the checker at ``path``: (status, headers, JSON reply); raises OSError when unreachable.

    A reply that is not a JSON object reads as ``{}``.
    """
    conn = UnixHTTPConnection(path, timeout)
    try:
        payload = None if body is None else json.dumps(body, allow_nan=False).encode()
        conn.request(method, route, body=payload, headers={"Content-Type": JSON_TYPE} if payload is not None else {})
        response = conn.getresponse()
        raw = response.read(MAX_BODY + 1)
        headers = {k.lower(): v for k, v in response.getheaders()}
    except http.client.HTTPException as exc:
        raise ConnectionError(f"the checker's reply was not HTTP ({type(exc).__name__})") from exc
    finally:
        conn.close()
    try:
        reply = json.loads(raw)
    except ValueError:
        reply = {}
    return response.status, headers, reply if isinstance(reply, dict) else {}
