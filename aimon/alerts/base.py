"""The Sink protocol, and what the HTTP sinks share: secrets and one JSON POST."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from aimon.alerts.alert import Alert
from aimon.errors import AimonError, ConfigError

__all__ = ["DeliveryError", "Secret", "Sink", "post_json"]


class DeliveryError(AimonError):
    """A sink could not deliver; the router retries. The message never holds a secret."""


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


def post_json(
    url: str,
    payload: Any,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    what: str = "webhook",
) -> int:
    """POST ``payload`` as JSON; returns the status. Raises DeliveryError (without the URL,
    which may carry a token) on a network error, a timeout or a status >= 300."""
    body = json.dumps(payload, allow_nan=False).encode()
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", "aimon")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"{what}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"{what}: {type(reason).__name__}: {reason}") from None
