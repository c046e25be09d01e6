"""Who may see the dashboard: the instructor's token, one per session, kept in the session's state.

The token lives in ``session.sqlite``'s meta table beside the trainees' (the file is the owner's only, mode 0600),
made on the dashboard's first start and kept after, so a link stays valid across restarts of the dashboard. Each
presented token is compared in constant time (``hmac.compare_digest``) with the instructor's and then with every
trainee's, so a trainee's token is told apart from a wrong one (403 either way, but the log says which).
"""

from __future__ import annotations

import hmac
import secrets

from dflab.session.state import SessionState

TOKEN_META = "dashboard_token"
INSTRUCTOR, TRAINEE, NOBODY = "instructor", "trainee", "nobody"


def instructor_token(state: SessionState) -> str:
    """The session's dashboard token, made (32 random bytes, URL-safe) the first time it is asked for."""
    token = state.get_meta(TOKEN_META)
    if not token:
        state.set_meta(TOKEN_META, secrets.token_urlsafe(32))
        token = state.get_meta(TOKEN_META) or ""
    return token


def who(presented: str, state: SessionState) -> str:
    """INSTRUCTOR for the session's dashboard token, TRAINEE for a trainee's lab token, NOBODY otherwise."""
    wanted = state.get_meta(TOKEN_META) or ""
    if presented and wanted and hmac.compare_digest(presented.encode(), wanted.encode()):
        return INSTRUCTOR
    if presented and any(hmac.compare_digest(presented.encode(), row.token.encode()) for row in state.trainees()):
        return TRAINEE
    return NOBODY
