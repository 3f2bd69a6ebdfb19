"""Credentials the HTTP endpoints may require: a bearer token or a username and password.

Only a digest of a secret is kept, and a check compares digests with
:func:`hmac.compare_digest`. :class:`Authenticator` is the extension point: anything with
``check`` may guard the endpoints.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Protocol

__all__ = ["REALM", "Authenticator", "BasicAuth", "BearerAuth"]

REALM = "aimon"


class Authenticator(Protocol):
    """Checks the ``Authorization`` header of a request.

    ``check`` returns None when the credentials are right, else the ``WWW-Authenticate``
    challenge to send with the 401.
    """

    def check(self, authorization: str | None) -> str | None:
        """None if ``authorization`` (the header's value, None if absent) is accepted."""


def _digest(secret: bytes) -> bytes:
    # Comparing digests of equal length keeps compare_digest from leaking the secret's length.
    return hashlib.sha256(secret).digest()


def _credentials(authorization: str | None, scheme: str) -> str | None:
    """The credentials of an ``Authorization: <scheme> <credentials>`` header (the scheme is
    case-insensitive), or None."""
    if not authorization:
        return None
    given, _, credentials = authorization.strip().partition(" ")
    if given.lower() != scheme.lower():
        return None
    return credentials.strip() or None


class BearerAuth:
    """Requires ``Authorization: Bearer <token>``; only a digest of the token is kept.

    >>> auth = BearerAuth("s3cret")
    >>> auth.check("Bearer s3cret") is None, auth.check(None)
    (True, 'Bearer realm="aimon"')
    >>> auth
    BearerAuth(***)

    Raises:
        ValueError: an empty token.
    """

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("bearer token: empty")
        self._digest = _digest(token.encode())

    def check(self, authorization: str | None) -> str | None:
        """None if the header carries the token, else the challenge (RFC 6750)."""
        token = _credentials(authorization, "Bearer")
        if token is None:
            return f'Bearer realm="{REALM}"'
        if hmac.compare_digest(_digest(token.encode()), self._digest):
            return None
        return f'Bearer realm="{REALM}", error="invalid_token"'

    def __repr__(self) -> str:
        return "BearerAuth(***)"


class BasicAuth:
    """Requires ``Authorization: Basic base64(username:password)`` (RFC 7617, UTF-8); only a
    digest of the pair is kept.

    >>> auth = BasicAuth("prometheus", "s3cret")
    >>> auth.check("Basic " + base64.b64encode(b"prometheus:s3cret").decode()) is None
    True
    >>> auth.check("Basic " + base64.b64encode(b"prometheus:guess").decode())
    'Basic realm="aimon", charset="UTF-8"'

    Raises:
        ValueError: an empty username or password, or a username with a colon.
    """

    def __init__(self, username: str, password: str) -> None:
        if not username or ":" in username:
            raise ValueError("basic auth: the username must be non-empty and hold no ':'")
        if not password:
            raise ValueError("basic auth: empty password")
        self.username = username
        self._digest = _digest(f"{username}:{password}".encode())

    def check(self, authorization: str | None) -> str | None:
        """None if the header carries the username and password, else the challenge."""
        credentials = _credentials(authorization, "Basic")
        if credentials is not None:
            try:
                pair = base64.b64decode(credentials, validate=True)
            except (binascii.Error, ValueError):
                pair = b""
            # The whole pair in one comparison: no hint whether the username was right.
            if pair and hmac.compare_digest(_digest(pair), self._digest):
                return None
        return f'Basic realm="{REALM}", charset="UTF-8"'

    def __repr__(self) -> str:
        return f"BasicAuth({self.username!r}, ***)"
