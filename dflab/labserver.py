"""A Jupyter server extension for trainee labs: nbgrader's *Validate* button, imported on first use.

Why: nbgrader's ``validate_assignment`` server extension imports nbgrader's whole application stack
(nbconvert, SQLAlchemy, pkg_resources, ...) when the server starts: one second of CPU and about 40 MiB
of memory in every trainee's lab, measured in the trainee image, for a button most trainees press a few
times a session, if at all. A cohort of 30 labs on one machine pays that 30 times before anyone works.
This extension registers the same two routes (``/assignments/validate`` and ``/nbgrader_version``) and
imports nbgrader's own handlers when the first request for either arrives; from then on tornado hands
requests straight to nbgrader's classes, which authenticate them as before (``@web.authenticated``).

nbgrader's ``assignment_list``, ``course_list`` and ``formgrader`` stay off in labs (see
jupyter_config.py): dflab collects submissions from the workspace (``dflab session collect``), not
through nbgrader's exchange, and grading belongs to the instructor.

Every trainee lab server (the image's jupyter_config.py, the local backend) enables exactly
``LAB_SERVER_EXTENSIONS``.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from jupyter_server.utils import url_path_join
from tornado import httputil, web
from tornado.routing import PathMatches, Router

NBGRADER_HANDLERS = "nbgrader.server_extensions.validate_assignment.handlers"

# The server extensions of a trainee's lab. Each costs start-up CPU and memory in every lab of a cohort
# (measured in the trainee image, per server: nbgrader's extensions 1 s of CPU and 41 MiB). Fetching and
# submitting through nbgrader's exchange (assignment_list, course_list) is not how dflab collects work
# (`dflab session collect` reads the workspace), grading belongs to the instructor (formgrader), and
# jupyter_lsp serves language servers, none of which is installed: those stay off.
LAB_SERVER_EXTENSIONS = {
    "dflab.labserver": True,
    "nbgrader.server_extensions.validate_assignment": False,
    "nbgrader.server_extensions.assignment_list": False,
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.course_list": False,
    "jupyter_lsp": False,
}


class LazyNbgraderRoutes(Router):
    """Routes matching nbgrader's validate patterns, resolved to nbgrader's handler classes on first request."""

    def __init__(self, application: web.Application, base_url: str, log: Any) -> None:
        self.application = application
        self.base_url = base_url
        self.log = log
        self._rules: list[tuple[PathMatches, type[web.RequestHandler]]] | None = None
        self._lock = threading.Lock()

    def rules(self) -> list[tuple[PathMatches, type[web.RequestHandler]]]:
        """nbgrader's (pattern, handler) list under this server's base URL, imported once."""
        with self._lock:
            if self._rules is None:
                self.log.info("dflab.labserver: loading nbgrader's validate_assignment handlers on first use")
                module = importlib.import_module(NBGRADER_HANDLERS)
                self._rules = [(PathMatches(url_path_join(self.base_url, pattern)), handler)
                               for pattern, handler in module.default_handlers]
            return self._rules

    def find_handler(self, request: httputil.HTTPServerRequest, **kwargs: Any) -> httputil.HTTPMessageDelegate | None:
        for matcher, handler in self.rules():
            if (params := matcher.match(request)) is not None:
                return self.application.get_handler_delegate(request, handler, **params)
        return None


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "dflab.labserver"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    webapp = serverapp.web_app
    base_url = webapp.settings["base_url"]
    # nbgrader's handlers read the notebook directory from here (their own loader sets it the same way).
    webapp.settings["root_dir"] = serverapp.root_dir
    lazy = LazyNbgraderRoutes(webapp, base_url, serverapp.log)
    patterns = [url_path_join(base_url, p) for p in ("/assignments/validate", "/nbgrader_version")]
    # tornado.web.Application.add_handlers, not the server's override: that override inspects handler
    # *classes* for authentication decorators, and the classes here are nbgrader's, not imported yet.
    web.Application.add_handlers(webapp, ".*$", [(PathMatches(p), lazy) for p in patterns])
    serverapp.log.info("dflab.labserver: nbgrader's Validate routes registered (imported on first use)")
