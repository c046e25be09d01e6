"""Log-in for a training room: each roster id with its own access code, no accounts to manage.

Why not the authenticators JupyterHub ships: DummyAuthenticator lets anyone in, and
SharedPasswordAuthenticator (one password for the room) lets any trainee log in *as any other trainee*,
open their server and read or change their graded work. Here each trainee's code is an HMAC of their
roster id under a hub secret (``dflab hub config`` creates the secret and prints the codes to
``access.csv``), so a code opens exactly one account and the hub stores no password at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path
from typing import Any

from jupyterhub.auth import Authenticator
from traitlets import Unicode

CODE_LENGTH = 16


def access_code(secret: bytes, trainee: str) -> str:
    """The trainee's code: 16 base32 characters (80 bits), easy to read out or copy from a slip."""
    digest = hmac.new(secret, b"dflab-hub-access:" + trainee.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:CODE_LENGTH].lower()


class AccessCodeAuthenticator(Authenticator):
    """Roster id + personal access code; only ``allowed_users`` (the roster) can ever log in."""

    secret_file = Unicode(help="File holding the hub secret the access codes derive from (owner-only).").tag(
        config=True)

    _secret: bytes | None = None

    def _key(self) -> bytes:
        if self._secret is None:
            secret = Path(self.secret_file).read_bytes().strip()
            if len(secret) < 32:
                raise ValueError(f"{self.secret_file}: the hub secret is too short (re-run `dflab hub config`)")
            self._secret = secret
        return self._secret

    async def authenticate(self, handler: Any, data: dict[str, str]) -> str | None:
        name = self.normalize_username(data.get("username", ""))
        if name not in self.allowed_users:
            return None
        given = data.get("password", "").strip().lower()
        return name if hmac.compare_digest(given.encode(), access_code(self._key(), name).encode()) else None
