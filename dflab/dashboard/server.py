"""``dflab session dashboard``: the dashboard served by tornado on 127.0.0.1, for the instructor only.

Why tornado: it is already a dependency (Jupyter's server and dflab's instant checker run on it), it serves a few
routes and a background thread with nothing more, and the page needs no front-end build. A jupyter_server extension
would put the instructor's view inside a Jupyter server, whose kernels and terminals it does not need.

Who may come in is a *gate*, a mixin put in front of every handler: :class:`TokenGate` here (the session's
instructor token, below), or JupyterHub's OAuth when the hub runs the dashboard as its service
(:mod:`dflab.hub.dashboard`): the same routes, page and actions behind another door.

Every route but the static script and style sheet asks :class:`TokenGate` for the instructor's token
(:mod:`dflab.dashboard.auth`): none is 401, a trainee's or a wrong one 403. Reading accepts it as ``?token=`` (the
link printed once, so the page reads without JavaScript) or in the ``X-Dflab-Token``/``Authorization: token``
header; an action only as a POST with the token in a header, which a page of another origin cannot send without a
CORS preflight this server never grants, so a link or a form elsewhere cannot make the instructor grade or restart.
A request whose Host is not this server's own address is refused too (DNS rebinding).

Data routes: ``/api/data`` (the snapshot as JSON), ``/view`` (the live part as HTML), ``/chart/*.svg``,
``/api/jobs``; actions: ``POST /api/actions/<collect|grade|release-feedback|restart>`` (``{"trainee": id}``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, HTTPError, RequestHandler

from dflab.dashboard import charts, page
from dflab.dashboard.actions import ACTIONS, Actions
from dflab.dashboard.auth import INSTRUCTOR, TRAINEE, instructor_token, who
from dflab.dashboard.live import Watcher
from dflab.dashboard.snapshot import Dashboard
from dflab.errors import DflabError
from dflab.session.manager import Session

log = logging.getLogger("dflab.dashboard")
HEADER = "X-Dflab-Token"
MAX_BODY = 4096


class App:
    """What the handlers share: the session's model, its jobs, its token and the charts drawn so far."""

    def __init__(self, session: Session, stuck_after: timedelta, watch_interval: float = 1.0,
                 gradebook_url: str | None = None) -> None:
        self.session = session
        self.token = instructor_token(session.state)
        self.watcher = Watcher(session)
        self.dashboard = Dashboard(session, self.watcher, stuck_after, gradebook_url)
        self.actions = Actions(session.dir, gradebook_url)
        self.watch_interval = watch_interval
        self.port = 0  # once bound
        self._charts: dict[tuple[str, str], bytes] = {}
        self._charts_lock = threading.Lock()

    def jobs(self) -> list[dict[str, Any]]:
        return [asdict(j) for j in self.actions.jobs()]

    @staticmethod
    def chart_data(data: dict[str, Any]) -> dict[str, Any]:
        """What each chart is drawn from (its version is the hash of this)."""
        grading = data["grading"] or {}
        return {"progress": {"titles": [s["title"] for s in data["steps"]], "past": [s["past"] for s in data["steps"]],
                             "trainees": len(data["trainees"])},
                "scores": {"percents": grading.get("percents", [])}}

    def versions(self, data: dict[str, Any]) -> dict[str, str]:
        return {name: hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()[:16]
                for name, v in self.chart_data(data).items()}

    def chart(self, name: str, data: dict[str, Any]) -> bytes:
        inputs = self.chart_data(data)[name]
        key = (name, self.versions(data)[name])
        with self._charts_lock:
            if key in self._charts:
                return self._charts[key]
        svg = charts.step_progress(**inputs) if name == "progress" else charts.score_histogram(**inputs)
        with self._charts_lock:
            self._charts = {k: v for k, v in self._charts.items() if k[0] != name}
            self._charts[key] = svg
        return svg


class TokenGate:
    """The local dashboard's door: the instructor's token, from 127.0.0.1 only (see the module doc)."""

    app: App
    request: Any
    get_query_argument: Callable[..., str]

    def admit(self) -> None:
        """Raise HTTPError unless the request carries the instructor's token (an action: in a header)."""
        if self.request.host not in (f"127.0.0.1:{self.app.port}", f"localhost:{self.app.port}"):
            raise HTTPError(403, "not this server's address")
        in_header = self.request.headers.get(HEADER) or self.request.headers.get("Authorization", "")
        if self.request.method != "GET" and not in_header:
            raise HTTPError(401, f"an action needs the token in the {HEADER} header")
        presented = in_header.removeprefix("token ").strip()
        if not presented and self.request.method == "GET":
            presented = self.get_query_argument("token", "")
        if not presented:
            raise HTTPError(401, "the instructor's dashboard token is needed")
        role = who(presented, self.app.session.state)
        if role != INSTRUCTOR:
            log.warning("refused a %s token for %s", "trainee's" if role == TRAINEE else "wrong", self.request.path)
            raise HTTPError(403, "not the instructor's dashboard token")

    def page_token(self) -> str:
        """The token the page puts in its chart links and its script sends: the one it was opened with."""
        return self.get_query_argument("token", "") or self.app.token

    def page_xsrf(self) -> str:
        """No cookie authenticates here, so no anti-forgery token either: the header is what stops forgery."""
        return ""


class _Handler(RequestHandler):
    """A dashboard route; :func:`application` puts the gate's mixin in front of it."""

    def initialize(self, app: App) -> None:
        self.app = app

    def admit(self) -> None:
        raise NotImplementedError("application() puts a gate in front of every handler")

    def page_token(self) -> str:
        raise NotImplementedError

    def page_xsrf(self) -> str:
        raise NotImplementedError

    def set_default_headers(self) -> None:
        self.clear_header("Server")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "
                        "img-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; "
                        "base-uri 'none'")

    def compute_etag(self) -> None:
        return None

    def check_xsrf_cookie(self) -> None:
        return None  # actions carry the token in a header, which is what stops cross-site requests here

    def prepare(self) -> None:
        self.admit()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = exc.log_message if isinstance(exc, HTTPError) and exc.log_message else self._reason
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish({"error": message})

    def data(self) -> dict[str, Any]:
        return self.app.dashboard.snapshot()


class DataHandler(_Handler):
    def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps({**self.data(), "jobs": self.app.jobs()}))


class JobsHandler(_Handler):
    def get(self) -> None:
        self.finish({"jobs": self.app.jobs()})


class ViewHandler(_Handler):
    def get(self) -> None:
        data = self.data()
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(page.view(data, self.app.jobs(), self.page_token(), self.app.versions(data)))


class PageHandler(_Handler):
    def get(self) -> None:
        data = self.data()
        view = page.view(data, self.app.jobs(), self.page_token(), self.app.versions(data))
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(page.page(data, view, self.page_xsrf()))


class ChartHandler(_Handler):
    async def get(self, name: str) -> None:
        data = self.data()
        svg = await asyncio.get_running_loop().run_in_executor(None, self.app.chart, name, data)
        self.set_header("Content-Type", "image/svg+xml")
        self.finish(svg)


class ActionHandler(_Handler):
    def post(self, action: str) -> None:
        trainee = None
        if self.request.body:
            if len(self.request.body) > MAX_BODY:
                raise HTTPError(413, "request too large")
            try:
                body = json.loads(self.request.body)
            except ValueError:
                raise HTTPError(400, "the body is not JSON") from None
            trainee = body.get("trainee") if isinstance(body, dict) else None
            if trainee is not None and not isinstance(trainee, str):
                raise HTTPError(400, "trainee is a string")
        if action == "restart" and trainee not in {r.id for r in self.app.session.state.trainees()}:
            raise HTTPError(400, "restart: no such trainee in this session")
        try:
            job = self.app.actions.submit(action, trainee)
        except DflabError as exc:
            raise HTTPError(409, str(exc)) from None
        self.set_status(202)
        self.finish({"job": asdict(job)})


class StaticHandler(RequestHandler):
    """The script and the style sheet: no secret in them, so no token (a ``<script src>`` sends none)."""

    FILES = {"dashboard.js": ("text/javascript", page.SCRIPT), "dashboard.css": ("text/css", page.STYLE)}

    def get(self, name: str) -> None:
        kind, text = self.FILES[name]
        self.set_header("Content-Type", f"{kind}; charset=UTF-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(text)


def application(app: App, gate: type = TokenGate, prefix: str = "", routes: list[tuple[Any, ...]] | None = None,
                **settings: Any) -> Application:
    """The dashboard's routes below ``prefix`` (the hub's service prefix; none here), each behind ``gate`` (a mixin
    with ``admit``, ``page_token`` and ``page_xsrf``); ``routes`` are the gate's own (an OAuth callback), ``settings``
    tornado's (its ``cookie_secret``)."""
    shared = {"app": app}
    actions = "|".join(ACTIONS)

    def gated(handler: type[_Handler]) -> type:
        return type(handler.__name__, (gate, handler), {})

    return Application([
        (rf"{prefix}/", gated(PageHandler), shared),
        (rf"{prefix}/view", gated(ViewHandler), shared),
        (rf"{prefix}/api/data", gated(DataHandler), shared),
        (rf"{prefix}/api/jobs", gated(JobsHandler), shared),
        (rf"{prefix}/api/actions/({actions})", gated(ActionHandler), shared),
        (rf"{prefix}/chart/(progress|scores)\.svg", gated(ChartHandler), shared),
        (rf"{prefix}/static/(dashboard\.js|dashboard\.css)", StaticHandler),
        *(routes or []),
    ], xsrf_cookies=False, **settings)


async def _serve(app: App, port: int, stop: asyncio.Event, on_listening: Callable[[int], None] | None,
                 web: Application | None = None) -> None:
    server = HTTPServer(web or application(app), max_body_size=MAX_BODY * 4)
    bound = bind_sockets(port, address="127.0.0.1")
    app.port = bound[0].getsockname()[1]
    server.add_sockets(bound)
    app.watcher.start(app.watch_interval)
    try:
        if on_listening:
            on_listening(app.port)
        await stop.wait()
    finally:
        app.watcher.stop()
        server.stop()


def serve(app: App, port: int, on_listening: Callable[[int], None] | None = None,
          web: Application | None = None) -> None:
    """Serve on 127.0.0.1:``port`` (0: any free port) until interrupted; ``on_listening(port)`` once bound.
    ``web``: the tornado application to serve (default: :func:`application` behind the token gate)."""

    async def main() -> None:
        await _serve(app, port, asyncio.Event(), on_listening, web)

    asyncio.run(main())


@contextlib.contextmanager
def serving(app: App, port: int = 0) -> Iterator[int]:
    """Serve in a thread of this process for the ``with`` block (benchmarks, tests); yields the port."""
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            loop.run_until_complete(_serve(app, port, stop, lambda _: ready.set()))
        except BaseException as exc:  # noqa: BLE001 -- handed to the caller's thread
            failed.append(exc)
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="dflab-dashboard", daemon=True)
    thread.start()
    ready.wait()
    if failed:
        raise failed[0]
    try:
        yield app.port
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join()
