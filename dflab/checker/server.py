"""The checker's HTTP side: one tornado ``HTTPServer`` per trainee socket, all in one IOLoop.

Everything that reaches it comes from a trainee's code, so every request is bounded before it is read: a body of
at most ``MAX_BODY`` bytes (413; no more than ``UNREAD_BODY`` of one is read at all), JSON only (415), headers
within ``HEADER_TIMEOUT`` and the body within ``BODY_TIMEOUT`` (a slow sender is cut off, never waited for, and
never holds up another trainee: one thread serves all and nothing blocks it), ``CONNECTIONS`` connections served
at once per trainee and ``WAITING`` more queued.  Every reply is a JSON object; a refusal is ``{"error": line}``.
Log lines go through :class:`dflab.grading.sanitize.PrintableLogFilter`: a request line or an answer name a
trainee wrote reaches the instructor's terminal as escaped text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
import socket
from collections import deque
from pathlib import Path
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.httputil import responses
from tornado.iostream import IOStream
from tornado.web import Application, HTTPError, RequestHandler, stream_request_body

from dflab.checker import paths
from dflab.checker.body import BadBody, parse_check
from dflab.checker.process import served_trainees
from dflab.checker.protocol import ANSWERS_ROUTE, CHECK_ROUTE, JSON_TYPE, MAX_BODY, short_path
from dflab.checker.service import Checker, Refused
from dflab.errors import DflabError
from dflab.grading.checks import checks_for
from dflab.i18n.lang import N_  # refusal lines the trainee's kernel translates (dflab.lab.check)
from dflab.session.state import SessionState

log = logging.getLogger("dflab.checker")

HEADER_TIMEOUT = 30.0  # seconds a connection may take to send a request's headers (or stay idle between requests)
BODY_TIMEOUT = 10.0  # seconds a request's body may take once its headers are in
MAX_HEADERS = 16 * 1024
UNREAD_BODY = 4 * MAX_BODY  # a larger body is refused unread (and, sent in chunks, cut off by tornado)
CONNECTIONS = 16  # connections served at once per trainee (a kernel needs one at a time)
WAITING = 112  # connections of one trainee waiting for a turn; beyond these a flood is closed
WATCH_INTERVAL = 30.0  # seconds between checks that the session still exists (a deleted one ends its checker)


class _Handler(RequestHandler):
    """What every route shares: JSON replies, one-line refusals, no caching, the trainee the socket names."""

    def initialize(self, checker: Checker, trainee: str) -> None:
        self.checker = checker
        self.trainee = trainee

    def set_default_headers(self) -> None:
        self.clear_header("Server")
        self.set_header("Content-Type", f"{JSON_TYPE}; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")

    def compute_etag(self) -> None:
        return None  # every reply is for now only

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = exc.log_message if isinstance(exc, HTTPError) and exc.log_message else \
            responses.get(status_code, "error")
        self.finish({"error": message})

    def refuse(self, status: int, message: str, retry_after: int | None = None) -> None:
        self.set_status(status)
        if retry_after is not None:
            self.set_header("Retry-After", str(retry_after))
        self.finish({"error": message})


class AnswersHandler(_Handler):
    def get(self) -> None:
        self.finish({"answers": self.checker.answers()})


class NotFoundHandler(_Handler):
    def prepare(self) -> None:
        raise HTTPError(404, "no such route: POST /check or GET /answers")


@stream_request_body
class CheckHandler(_Handler):
    """``POST /check``: the body is gathered as it arrives, never more than ``MAX_BODY`` of it kept.

    A body up to ``UNREAD_BODY`` is read to its end even when it is refused (413, 415), so the refusal arrives: a
    socket closed with data still unread is reset, and the client would see a broken connection instead.
    """

    async def prepare(self) -> None:
        self._body = bytearray()
        self._too_large = False
        length = self.request.headers.get("Content-Length")
        if self.request.method == "POST" and length is not None and (not length.isdigit() or int(length) > UNREAD_BODY):
            # Not worth reading: refuse, then close (tornado would read it all before the next request).
            self.set_status(413)
            await self.finish({"error": f"a check is at most {MAX_BODY} bytes"})
            self.request.connection.close()

    def data_received(self, chunk: bytes) -> None:
        if len(self._body) + len(chunk) > MAX_BODY:
            self._too_large = True
            self._body.clear()
        elif not self._too_large:
            self._body += chunk

    def post(self) -> None:
        if self._too_large:
            self.refuse(413, f"a check is at most {MAX_BODY} bytes")
            return
        if self.request.headers.get("Content-Type", "").split(";")[0].strip().lower() != JSON_TYPE:
            self.refuse(415, f"expected {JSON_TYPE}")
            return
        try:
            name, value = parse_check(bytes(self._body))
        except BadBody as exc:
            self.refuse(400, str(exc))
            return
        try:
            verdict = self.checker.check(self.trainee, name, value)
        except Refused as exc:
            log.info("%s %s: refused %d (%s)", self.trainee, name, exc.status, exc.message)
            self.refuse(exc.status, exc.message, exc.retry_after)
            return
        except DflabError as exc:  # the key or the check file: the instructor's problem, not the trainee's
            log.error("%s %s: cannot check: %s", self.trainee, name, exc)
            self.refuse(500, N_("this answer cannot be checked now: tell your instructor"))
            return
        log.info("%s %s: %s (%d left)", self.trainee, name, "right" if verdict.correct else "wrong",
                 verdict.tries_left)
        self.finish({"answer": verdict.answer, "correct": verdict.correct, "tries_left": verdict.tries_left})


class TraineeServer(HTTPServer):
    """One trainee's socket: tornado's server, serving ``CONNECTIONS`` connections at a time; up to ``WAITING``
    more wait their turn (a kernel checking many answers at once is served in order), any beyond are closed."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:  # tornado's Configurable: no __init__
        super().initialize(*args, **kwargs)
        self.serving = 0
        self.waiting: deque[tuple[IOStream, Any]] = deque()

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        if self.serving < CONNECTIONS:
            self.serving += 1
            super().handle_stream(stream, address)
        elif len(self.waiting) < WAITING:
            self.waiting.append((stream, address))
        else:
            stream.close()

    def on_close(self, server_conn: object) -> None:
        super().on_close(server_conn)
        self.serving -= 1
        while self.waiting:
            stream, address = self.waiting.popleft()
            if not stream.closed():
                self.handle_stream(stream, address)
                return


def _access_log(handler: RequestHandler) -> None:
    log.debug("%s %s %s %d %.1f ms", getattr(handler, "trainee", "?"), handler.request.method, handler.request.uri,
              handler.get_status(), 1000 * handler.request.request_time())


def application(checker: Checker, trainee: str) -> Application:
    """The routes one trainee's socket serves."""
    who = {"checker": checker, "trainee": trainee}
    return Application([(CHECK_ROUTE, CheckHandler, who), (ANSWERS_ROUTE, AnswersHandler, who)],
                       default_handler_class=NotFoundHandler, default_handler_args=who, log_function=_access_log,
                       compress_response=False, serve_traceback=False)


def listen_at(path: Path) -> socket.socket:
    """A listening socket at ``path``, mode 0666, replacing any earlier one in one rename: a client finds either
    the old socket or the new one, never none."""
    fresh = path.with_name(f"{path.name}.new")
    with contextlib.suppress(FileNotFoundError):
        fresh.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        with short_path(str(fresh)) as name:
            sock.bind(name)
        sock.listen(128)
        os.chmod(fresh, 0o666)  # noqa: S103 -- who reaches it is who sees the folder: one trainee's lab
        os.replace(fresh, path)
    except BaseException:
        sock.close()
        raise
    return sock


def _more_files() -> None:
    """Connections are files: take the hard limit, so a session of many trainees never runs out first."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve(session_dir: Path) -> None:
    """Serve every trainee of the session at ``session_dir`` until SIGTERM or SIGINT (or the session is gone)."""
    # Attempts are commits of their own, one per check: waiting for the disk on each (an fsync, 2-10 ms) would make
    # thirty trainees checking at once wait on one another. A power cut may lose the last second of attempts.
    state = SessionState(session_dir, durable=False)
    lab = state.get_meta("lab_id")
    if not lab:
        raise DflabError("no lab recorded in this session", str(session_dir))
    checker = Checker(session_dir, state, lab, checks_for(session_dir / "graders", lab))
    trainees = served_trainees(state)
    _more_files()
    servers: list[TraineeServer] = []
    sockets: dict[Path, int] = {}  # each socket and its inode: only ours are removed at the end
    for trainee in trainees:
        paths.trainee_dir(session_dir, trainee)
        path = paths.socket_path(session_dir, trainee)
        server = TraineeServer(application(checker, trainee), idle_connection_timeout=HEADER_TIMEOUT,
                               body_timeout=BODY_TIMEOUT, max_header_size=MAX_HEADERS, max_body_size=UNREAD_BODY)
        server.add_socket(listen_at(path))
        sockets[path] = path.stat().st_ino
        servers.append(server)
    log.info("pid %d checks %d answer(s) of lab %s for %d trainee(s)", os.getpid(), len(checker.answers()), lab,
             len(trainees))
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, done.set)
    database = state.path
    while not done.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), WATCH_INTERVAL)
        if not database.exists():
            log.info("the session's state is gone: stopping")
            break
    for server in servers:
        server.stop()
    for path, inode in sockets.items():
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_ino == inode:  # not a successor's
                path.unlink()
    log.info("pid %d stopped", os.getpid())
