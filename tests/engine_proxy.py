"""A busy Docker engine, made from the real one: a Unix-socket proxy that holds chosen requests unanswered.

Point ``DOCKER_HOST`` at :attr:`StallingProxy.url` and every request reaches the real engine, except those
the ``stall`` rule picks: they are read and never answered (the connection is held open), which is what a
client sees from an engine busy starting thirty labs.  The rule sees each request's method and path, in
order, so a test can stall the first try of a request and let the retry through, or stall every try.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

ENGINE_SOCKET = "/var/run/docker.sock"
HOLD_S = 60.0  # a stalled request is held at most this long (the client gives up long before)


class StallingProxy:
    """Forward to the real engine, holding the requests ``stall(method, path)`` returns True for."""

    def __init__(self, path: Path, stall: Callable[[str, str], bool], upstream: str = ENGINE_SOCKET) -> None:
        self.path, self.stall, self.upstream = path, stall, upstream
        self.seen: list[tuple[str, str, bool]] = []  # (method, path, stalled) of every request, in order
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def stalled(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(m, p) for m, p, s in self.seen if s]

    def close(self) -> None:
        self._closing.set()
        self._server.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(self.upstream)
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
            buffer = b""
            while True:
                head, buffer = _read_until(client, buffer, b"\r\n\r\n")
                if head is None:
                    return
                method, target = head.split(b" ", 2)[:2]
                length = _content_length(head)
                body, buffer = _read_exactly(client, buffer, length)
                stall = self.stall(method.decode(), target.decode())
                with self._lock:
                    self.seen.append((method.decode(), target.decode(), stall))
                if stall:
                    client.settimeout(HOLD_S)
                    with contextlib.suppress(OSError):
                        while client.recv(65536):  # hold until the client gives up and closes
                            pass
                    return
                upstream.sendall(head + body)
        except OSError:
            return
        finally:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


def _read_until(sock: socket.socket, buffer: bytes, marker: bytes) -> tuple[bytes | None, bytes]:
    while marker not in buffer:
        data = sock.recv(65536)
        if not data:
            return None, buffer
        buffer += data
    end = buffer.index(marker) + len(marker)
    return buffer[:end], buffer[end:]


def _read_exactly(sock: socket.socket, buffer: bytes, length: int) -> tuple[bytes, bytes]:
    while len(buffer) < length:
        data = sock.recv(65536)
        if not data:
            break
        buffer += data
    return buffer[:length], buffer[length:]


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


@contextlib.contextmanager
def stalling_engine(directory: Path, stall: Callable[[str, str], bool]) -> Iterator[StallingProxy]:
    """A :class:`StallingProxy` in ``directory`` for the duration of the block."""
    proxy = StallingProxy(directory / "busy-engine.sock", stall)
    try:
        yield proxy
    finally:
        proxy.close()
