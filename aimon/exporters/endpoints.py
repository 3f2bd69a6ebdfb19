"""The routes of the HTTP endpoints, independent of the web stack: access checks, dispatch,
and the reading of a ``POST /outcomes`` body (its length, JSON and text checked before the
handler sees it). :mod:`aimon.exporters.http` serves them over WSGI, ASGI and its own server.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry

from aimon.errors import CheckpointError
from aimon.exporters.auth import Authenticator
from aimon.exporters.prometheus import AimonCollector, SnapshotSources
from aimon.exporters.workers import warn_if_multi_worker

__all__ = ["MAX_OUTCOMES_BYTES", "PROBES", "Endpoints", "OutcomesHandler", "Response"]

#: A response: its status line, its headers, its body.
Response = tuple[str, list[tuple[str, str]], bytes]

PROBES = frozenset({"healthz", "ready"})
#: The largest ``POST /outcomes`` body accepted (a larger one gets 413).
MAX_OUTCOMES_BYTES = 4 << 20
#: What ``POST /outcomes`` calls with the decoded JSON array; returns how many it recorded and
#: raises ``ValueError`` with a message for the client when an item cannot be read.
OutcomesHandler = Callable[[Any], int]


def _route(path: str) -> str:
    """The endpoint a path reaches (routes match on the end of the path, so the apps work
    mounted under any prefix); access checks and dispatch share it, so no path can be let in
    as a probe and then served as something else."""
    path = path.rstrip("/") or "/"
    if path.endswith("/metrics") or path == "/":
        return "metrics"
    for name in ("healthz", "ready", "status", "outcomes"):
        if path.endswith(f"/{name}"):
            return name
    return "not_found"


def _unauthorized(challenge: str) -> Response:
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("WWW-Authenticate", challenge)]
    return "401 Unauthorized", headers, b"unauthorized\n"


class Endpoints:
    """The routes, independent of the web stack (the arguments are those of
    :func:`~aimon.exporters.http.make_wsgi_app`)."""

    def __init__(
        self,
        monitors: SnapshotSources,
        ready: Callable[[], bool] | None = None,
        guard: Callable[[], AbstractContextManager[Any]] | None = None,
        auth: Authenticator | None = None,
        protect_probes: bool = False,
        collectors: Sequence[Collector] = (),
        outcomes: OutcomesHandler | None = None,
        max_body_bytes: int = MAX_OUTCOMES_BYTES,
    ) -> None:
        self.collector = AimonCollector(monitors)
        self.outcomes = outcomes
        self.max_body_bytes = max_body_bytes
        self.ready = ready
        self.guard = guard or contextlib.nullcontext
        self.auth = auth
        self.protect_probes = protect_probes
        self.multi_worker = warn_if_multi_worker()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        for extra in collectors:
            self.registry.register(extra)

    def handle(
        self,
        path: str,
        accept: str,
        authorization: str | None = None,
        method: str = "GET",
        body: Callable[[int], bytes] | None = None,
        content_length: str | None = None,
    ) -> Response:
        """The response to one request: its path, its ``Accept`` and ``Authorization``
        headers (None if absent), its method, a reader of its body and its
        ``Content-Length`` header."""
        route = _route(path)
        if self.auth is not None and (self.protect_probes or route not in PROBES):
            challenge = self.auth.check(authorization)
            if challenge is not None:  # refused before the guard: no checkpoint for strangers
                return _unauthorized(challenge)
        if route == "outcomes" and self.outcomes is not None:
            return self._post_outcomes(method, body, content_length)
        with self.guard():
            return self._handle(route, accept)

    def _post_outcomes(
        self, method: str, body: Callable[[int], bytes] | None, content_length: str | None
    ) -> Response:
        """``POST /outcomes``: a JSON array of outcome objects (not inside ``guard``: the
        handler checkpoints what it recorded before answering).

        The ``Content-Length`` header is checked before a byte of the body is read: absent
        (411), not a plain decimal number (400: ``-1`` would read to the end of the stream)
        or over the limit (413)."""
        assert self.outcomes is not None
        if method != "POST":
            headers = [("Content-Type", "text/plain; charset=utf-8"), ("Allow", "POST")]
            return "405 Method Not Allowed", headers, b"POST a JSON array of outcomes\n"
        limit = self.max_body_bytes
        declared = (content_length or "").strip()
        if not declared or body is None:
            return _json_error("411 Length Required", "a Content-Length header is required")
        if not (declared.isascii() and declared.isdigit()):
            return _json_error("400 Bad Request", "Content-Length must be a decimal byte count")
        length = int(declared)
        if length > limit:
            return _json_error(
                "413 Content Too Large", f"the body is over {limit} bytes: post smaller batches"
            )
        raw = body(length)
        if len(raw) < length:
            return _json_error("400 Bad Request", "the body is shorter than its Content-Length")
        try:
            records = json.loads(raw)
        except RecursionError:
            return _json_error("400 Bad Request", "the body is nested too deeply")
        except (ValueError, UnicodeDecodeError) as exc:
            return _json_error("400 Bad Request", f"the body is not valid JSON: {exc}")
        problem = _bad_text(records)
        if problem is not None:
            return _json_error("400 Bad Request", problem)
        try:
            accepted = self.outcomes(records)
        except ValueError as exc:
            return _json_error("400 Bad Request", str(exc))
        except CheckpointError as exc:  # not made safe: not acknowledged, the client retries
            return _json_error("503 Service Unavailable", str(exc))
        payload = json.dumps({"accepted": accepted}).encode()
        return "200 OK", [("Content-Type", "application/json")], payload

    def _handle(self, route: str, accept: str) -> Response:
        if route == "metrics":
            encoder, content_type = choose_encoder(accept)
            return "200 OK", [("Content-Type", content_type)], encoder(self.registry)
        if route == "healthz":
            return "200 OK", [("Content-Type", "text/plain; charset=utf-8")], b"ok\n"
        if route == "ready":
            if self.ready is None or self.ready():
                return "200 OK", [("Content-Type", "text/plain; charset=utf-8")], b"ready\n"
            return "503 Service Unavailable", [("Content-Type", "text/plain")], b"not ready\n"
        if route == "status":
            body: dict[str, Any] = {
                "monitors": [s.model_dump(mode="json") for s in self.collector.snapshots()]
            }
            if self.multi_worker is not None:
                found = self.multi_worker
                body["multi_worker"] = {
                    "server": found.server, "workers": found.workers, "advice": found.advice,
                }  # fmt: skip
            payload = json.dumps(body, allow_nan=False, default=str).encode()
            return "200 OK", [("Content-Type", "application/json")], payload
        return "404 Not Found", [("Content-Type", "text/plain; charset=utf-8")], b"not found\n"


def _bad_text(decoded: Any) -> str | None:
    """Why a decoded JSON body cannot be taken (a string with a lone surrogate, which is no
    valid UTF-8 and would break every later ``/metrics``, or with a NUL), or None."""
    stack = [decoded]
    while stack:  # not recursive: json.loads already accepted the depth, this must too
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return "strings must not hold NUL characters"
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "strings must be valid Unicode (a lone surrogate such as \\ud800 is not)"
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None


def _json_error(status: str, message: str) -> Response:
    body = json.dumps({"error": message}).encode()
    return status, [("Content-Type", "application/json")], body
