"""The instructor's dashboard as a JupyterHub service (``dflab-dashboard``), open to the hub's instructors only.

The same app as ``dflab session dashboard`` (:mod:`dflab.dashboard.server`: routes, page, actions), with another
gate in front: JupyterHub's OAuth (``HubOAuthenticated``) instead of the session's instructor token. A browser
without the service's cookie is sent through the hub's log-in; the hub lets only users holding
``access:services!service=dflab-dashboard`` through (the ``dflab-instructors`` group's role, :mod:`dflab.hub.config`)
and answers anyone else 403; this service checks the same scope again on every request. Reading is a GET with the
cookie; an action is a POST that must also carry the page's anti-forgery token (``X-XSRFToken``), which JupyterHub
ties to the log-in, so another page on the hub's origin (a trainee's server) cannot act for the instructor.

Managed by the hub (``c.JupyterHub.services`` gives it a ``command``): the hub starts it with its API token and
OAuth client in the environment (``JUPYTERHUB_*``), restarts it if it dies and stops it with the hub, so there is no
token file to keep and no second process to supervise. It serves on the service's URL (127.0.0.1), reached only
through the hub's proxy under ``/services/dflab-dashboard/``.

    python -m dflab.hub.dashboard SESSION [--stuck-after MINUTES]      (run by the hub, not by hand)
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import sys
import urllib.parse
from datetime import timedelta
from pathlib import Path

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
from tornado.web import Application, HTTPError

from dflab.dashboard.progress import DEFAULT_STUCK_MINUTES
from dflab.dashboard.server import App, application, serve
from dflab.errors import DflabError
from dflab.hub.config import DASHBOARD_ACCESS_SCOPE
from dflab.session.manager import Session

log = logging.getLogger("dflab.dashboard")


class HubGate(HubOAuthenticated):
    """The hub's door: a user the hub's OAuth names and who holds the service's access scope."""

    request: object

    def admit(self) -> None:
        """A user with the scope passes; anyone else is sent to log in (a page) or refused (403).

        ``current_user`` is None both for no log-in and for a user without the scope (JupyterHub then turns the
        redirect into a 403), and for a POST without the anti-forgery token, which must not be redirected."""
        if self.current_user:  # type: ignore[attr-defined]
            return
        if self.request.method in ("GET", "HEAD"):  # type: ignore[attr-defined]
            self.redirect(self.get_login_url())  # type: ignore[attr-defined]
            return
        raise HTTPError(403, "log in through the hub; an action needs the page's X-XSRFToken header")

    def page_token(self) -> str:
        return ""  # the cookie authenticates: no token in links

    def page_xsrf(self) -> str:
        return self.xsrf_token.decode()  # type: ignore[attr-defined]


def hub_application(app: App, hub_auth: HubOAuth) -> Application:
    """The dashboard's routes behind :class:`HubGate` below the service's prefix, with the OAuth callback."""
    callback = urllib.parse.urlparse(hub_auth.oauth_redirect_uri).path
    return application(app, HubGate, prefix=hub_auth.base_url.rstrip("/"),  # /services/dflab-dashboard
                       routes=[(re.escape(callback), HubOAuthCallbackHandler)],
                       cookie_secret=secrets.token_bytes(32))  # per process: after a restart the hub is asked again


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dflab.hub.dashboard", description=__doc__.splitlines()[0])
    ap.add_argument("session", help="the session directory whose dashboard the hub serves")
    ap.add_argument("--stuck-after", type=float, default=DEFAULT_STUCK_MINUTES, metavar="MINUTES")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[dflab-dashboard %(levelname)s] %(message)s")
    service_url = os.environ.get("JUPYTERHUB_SERVICE_URL", "")
    port = urllib.parse.urlparse(service_url).port
    if not port:
        print(f"dflab-dashboard: error: JUPYTERHUB_SERVICE_URL {service_url!r} names no port: the hub starts this "
              "service (see `dflab hub config --dashboard`)", file=sys.stderr)
        return 2
    try:
        app = App(Session.existing(Path(args.session)), timedelta(minutes=args.stuck_after))
        hub_auth = HubOAuth.instance(access_scopes={DASHBOARD_ACCESS_SCOPE}, cache_max_age=60)  # the handlers' one
        serve(app, port, lambda bound: log.info("serving %s on 127.0.0.1:%d", args.session, bound),
              hub_application(app, hub_auth))
    except DflabError as exc:
        print(f"dflab-dashboard: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
