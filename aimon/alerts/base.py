"""The Sink protocol, and what the HTTP sinks share: secrets and one JSON POST."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from aimon.alerts.alert import Alert
from aimon.errors import AimonError, ConfigError

__all__ = ["DeliveryError", "Secret", "Sink", "check_url", "post_json", "redact_url"]


class DeliveryError(AimonError):
    """A sink could not deliver; the router retries unless ``retry`` is false (a redirect,
    an unusable URL: trying again cannot help). The message never holds a secret."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


@runtime_checkable
class Sink(Protocol):
    """Where alerts go. ``send`` delivers one notification (a group of alerts) or raises.

    Optional attributes the router reads: ``repeat_interval`` (seconds between re-sends of
    a still-firing alert; default: the router's) and ``resend_resolved_for`` (seconds during
    which a resolved alert keeps being re-sent; default 0: sent once).
    """

    name: str

    def send(self, alerts: Sequence[Alert]) -> None:
        """Deliver the alerts, or raise."""


class Secret:
    """A value that must not be logged (a webhook URL, a token): given directly, or read from
    an environment variable or a file at start. ``repr`` and ``str`` hide it.
    """

    def __init__(
        self,
        field: str,
        value: str | None = None,
        *,
        env: str | None = None,
        file: str | os.PathLike[str] | None = None,
        required: bool = True,
    ) -> None:
        given = [x for x in (value, env, file) if x is not None]
        if len(given) > 1:
            raise ConfigError(f"{field}: give one of the value, {field}_env or {field}_file")
        self.field = field
        self._value: str | None = None
        if value is not None:
            self._value = value
        elif env is not None:
            self._value = os.environ.get(env)
            if not self._value:
                raise ConfigError(f"{field}_env: the environment variable {env} is not set")
        elif file is not None:
            try:
                self._value = Path(file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{field}_file: cannot read {file}: {exc.strerror}") from None
        if required and not self._value:
            raise ConfigError(f"{field}: required (or {field}_env / {field}_file)")

    def get(self) -> str | None:
        """The secret itself."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.field}=***)" if self._value else f"Secret({self.field}=None)"

    __str__ = __repr__


def redact_url(url: str) -> str:
    """What of a URL may be logged: its scheme, host and port; the user info, path, query and
    fragment (where webhook tokens live) are replaced by ``***``.

    >>> redact_url("https://user:pw@hooks.example:8443/T0/B1/s3cret?token=x")
    'https://hooks.example:8443/***'
    >>> redact_url("hooks.example/T0/s3cret")
    '<not an http(s) URL>'
    """
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is no number, brackets that do not close...
        return "<not an http(s) URL>"
    if parts.scheme not in ("http", "https") or not host:
        return "<not an http(s) URL>"
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}{f':{port}' if port is not None else ''}/***"


def check_url(field: str, url: str) -> None:
    """Raises ConfigError (the URL redacted) unless ``url`` is an http(s) URL with a host and
    no user info (urllib would take ``user:password@host`` for a host name)."""
    shown = redact_url(url)
    if shown.startswith("<"):
        raise ConfigError(f"{field}: not an http(s) URL with a host: {shown}")
    if "@" in urllib.parse.urlsplit(url).netloc:
        raise ConfigError(f"{field}: user:password@ in the URL is not supported: {shown}")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A POST is never redirected: urllib would turn it into a body-less GET (301/302/303)
    and carry the Authorization header to whatever host the Location names."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx then raises HTTPError like any other status >= 300


def post_json(
    url: str,
    payload: Any,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    what: str = "webhook",
) -> int:
    """POST ``payload`` as JSON; returns the status. Redirects are not followed.

    Raises:
        DeliveryError: a network error, a timeout, a status >= 300 (a redirect included) or
            a URL that cannot be used. Its message names the status and the host, never the
            URL's user info, path or query, nor a header.
    """
    body = json.dumps(payload, allow_nan=False).encode()
    shown = redact_url(url)
    try:
        request = urllib.request.Request(url, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("User-Agent", "aimon")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        with urllib.request.build_opener(_NoRedirects).open(request, timeout=timeout) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            raise DeliveryError(
                f"{what}: HTTP {exc.code} redirect from {shown} not followed", retry=False
            ) from None
        raise DeliveryError(f"{what}: HTTP {exc.code} from {shown}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        message = _scrub(f"{type(reason).__name__}: {reason}", url)
        raise DeliveryError(f"{what}: {message} ({shown})") from None
    except ValueError as exc:  # urllib and http.client put the whole URL in these messages
        raise DeliveryError(
            f"{what}: unusable URL {shown} ({type(exc).__name__})", retry=False
        ) from None


def _scrub(text: str, url: str) -> str:
    """``text`` with every secret part of ``url`` in it replaced by ``***``."""
    try:
        parts = urllib.parse.urlsplit(url)
        secrets = [url, parts.path, parts.query, parts.fragment, parts.password]
    except ValueError:
        secrets = [url]
    for secret in sorted((s for s in secrets if s and len(s) > 1), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
