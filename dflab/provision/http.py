"""Readiness checks against a trainee's Jupyter server."""

from __future__ import annotations

import urllib.error
import urllib.request


def api_status(url: str, token: str | None, timeout: float = 3.0) -> int | None:
    """HTTP status of ``GET <url>api/status`` (with ``token`` if given); ``None`` when nothing answers.

    Jupyter answers 200 only with the right token and 403 otherwise, so this one request tells both
    "is it up" and "is it locked".
    """
    headers = {"Authorization": f"token {token}"} if token else {}
    request = urllib.request.Request(f"{url}api/status", headers=headers)  # noqa: S310 -- our own http:// URL
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except (OSError, ValueError):
        return None
