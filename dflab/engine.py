"""How dflab talks to a Docker engine: one connection recipe, one timeout, retries, one-line errors.

A classroom engine is often busy (thirty labs starting, an image being loaded), so a slow answer is an
ordinary condition, not a bug:

* the per-request timeout is ``$DFLAB_DOCKER_TIMEOUT`` seconds (default 60);
* read-only requests (``GET``/``HEAD``: inspect, list, ping, logs) are retried with back-off on a
  timeout, a dropped connection or a 5xx answer, through urllib3's ``Retry`` on the SDK's own transport;
  requests that change state are not repeated behind the caller's back;
* anything the engine does wrong (timeout, lost connection, refusal) reaches the user as one
  :class:`~dflab.errors.DflabError` line saying who it concerned and what to do
  (:func:`engine_errors`).

Used by the Docker backend, the Docker grading sandbox, bundles and the hub's runtime.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

TIMEOUT_ENV = "DFLAB_DOCKER_TIMEOUT"
DEFAULT_TIMEOUT = 60
MIN_TIMEOUT = 3  # `docker stats` alone samples for a second
RETRIES = 3  # read-only requests: at most 3 more tries, the waits between them doubling from 0.5 s
BACKOFF_S = 0.5
RETRY_STATUS = (500, 502, 503, 504)
SAFE_METHODS = frozenset({"GET", "HEAD"})


def timeout() -> int:
    """Seconds one engine request may take: ``$DFLAB_DOCKER_TIMEOUT``, default 60."""
    from dflab.errors import DflabError

    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not MIN_TIMEOUT <= value <= 3600:
        raise DflabError(f"must be a whole number of seconds from {MIN_TIMEOUT} to 3600, not {raw!r}", TIMEOUT_ENV)
    return value


def connect(where: str, hint: str, *, at_least: int = 0, seconds: int | None = None) -> Any:
    """A client of the engine ``DOCKER_HOST`` names (or the default socket) that answered a ping.

    ``hint`` says how to get an engine, for the one-line error when none answers; ``at_least`` raises the
    timeout for callers whose single requests are long (``docker save`` of an image); ``seconds`` sets it
    outright, for a quick probe.
    """
    import docker
    import docker.errors
    import requests.exceptions
    from urllib3.util.retry import Retry

    from dflab.errors import DflabError

    seconds = seconds or max(timeout(), at_least)
    try:
        client = _client(seconds)
        adapter = client.api.get_adapter(client.api.base_url)
        adapter.max_retries = Retry(total=RETRIES, connect=RETRIES, read=RETRIES, status=RETRIES, other=0,
                                    backoff_factor=BACKOFF_S, allowed_methods=SAFE_METHODS,
                                    status_forcelist=RETRY_STATUS, raise_on_status=False,
                                    respect_retry_after_header=True)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise DflabError(f"no Docker engine answers within {seconds} s ({_reason(exc)}); {hint}", where) from exc
    return client


def _client(seconds: int) -> Any:
    """``docker.from_env``, whose API-version probe (a GET made before any retry policy applies) is retried here."""
    import docker
    import docker.errors

    for attempt in range(RETRIES + 1):
        try:
            return docker.from_env(timeout=seconds)
        except docker.errors.DockerException as exc:
            if attempt == RETRIES or not timed_out(exc):
                raise
            time.sleep(BACKOFF_S * 2 ** attempt)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def engine_errors(where: str, doing: str) -> Iterator[None]:
    """Turn whatever the engine does wrong while ``doing`` something for ``where`` into one line.

    ``doing`` reads after "while", e.g. ``"starting the lab"``.  A :class:`DflabError` raised inside
    passes through unchanged.
    """
    import docker.errors
    import requests.exceptions

    from dflab.errors import DflabError

    try:
        yield
    except DflabError:
        raise
    except docker.errors.APIError as exc:
        raise DflabError(f"Docker refused {doing}: {_reason(exc)}", where) from exc
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        if timed_out(exc):
            raise DflabError(f"the Docker engine did not answer within {timeout()} s while {doing}: it is busy "
                             f"or stuck; run the same command again (it is safe to), or allow more time with "
                             f"{TIMEOUT_ENV}=SECONDS", where) from exc
        if isinstance(exc, requests.exceptions.ConnectionError):
            raise DflabError(f"lost the Docker engine while {doing} ({_reason(exc)}); start it again "
                             "(`bash environments/docker/engine.sh start`) and run the same command again",
                             where) from exc
        raise DflabError(f"Docker failed while {doing}: {_reason(exc)}", where) from exc


def timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` is a request that ran out of time (retried ones arrive as a ``ConnectionError``)."""
    import requests.exceptions
    from urllib3.exceptions import MaxRetryError, ReadTimeoutError
    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    seen: BaseException | None = exc
    while seen is not None:  # the SDK wraps what requests raised (its version probe), requests wraps urllib3
        if isinstance(seen, (requests.exceptions.Timeout, ReadTimeoutError, Urllib3Timeout)):
            return True
        cause = seen.args[0] if seen.args else None
        if isinstance(cause, MaxRetryError) and isinstance(cause.reason, (ReadTimeoutError, Urllib3Timeout)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(exc: BaseException) -> str:
    """The engine's own words, on one line, without the SDK's request dump."""
    explanation = getattr(exc, "explanation", None)
    text = str(explanation or exc)
    if "Read timed out" in text or "timed out" in text.lower():
        return "timed out"
    return " ".join(text.split())[:300]
