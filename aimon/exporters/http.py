"""``/metrics``, ``/healthz`` and ``/status`` as a WSGI app, an ASGI app and a background server.

Mount the WSGI app in Flask (``DispatcherMiddleware``) or the ASGI app in FastAPI/Starlette
(``app.mount("/aimon", make_asgi_app([mon]))``), or let :meth:`aimon.Monitor.serve` run a small
threaded server of its own.

The endpoints may require credentials (:class:`BearerAuth` or :class:`BasicAuth`; the probes
``/healthz`` and ``/ready`` stay open unless ``protect_probes``) and the server may speak TLS
(an :class:`ssl.SSLContext`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import ssl
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry

from aimon.errors import CheckpointError
from aimon.exporters.prometheus import AimonCollector, SnapshotSource, SnapshotSources
from aimon.exporters.workers import warn_if_multi_worker

__all__ = [
    "Authenticator",
    "BasicAuth",
    "BearerAuth",
    "MetricsServer",
    "make_asgi_app",
    "make_wsgi_app",
]

Response = tuple[str, list[tuple[str, str]], bytes]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]

REALM = "aimon"
PROBES = frozenset({"healthz", "ready"})
#: The largest ``POST /outcomes`` body accepted (a larger one gets 413).
MAX_OUTCOMES_BYTES = 4 << 20
#: What ``POST /outcomes`` calls with the decoded JSON array; returns how many it recorded and
#: raises ``ValueError`` with a message for the client when an item cannot be read.
OutcomesHandler = Callable[[Any], int]


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


class _Endpoints:
    """The routes, independent of the web stack."""

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


def make_wsgi_app(
    monitors: SnapshotSources,
    ready: Callable[[], bool] | None = None,
    guard: Callable[[], AbstractContextManager[Any]] | None = None,
    *,
    auth: Authenticator | None = None,
    protect_probes: bool = False,
    collectors: Sequence[Collector] = (),
    outcomes: OutcomesHandler | None = None,
    max_body_bytes: int = MAX_OUTCOMES_BYTES,
) -> Callable[[dict[str, Any], StartResponse], list[bytes]]:
    """A WSGI app serving ``/metrics``, ``/healthz``, ``/ready`` and ``/status`` for
    ``monitors``; ``/ready`` answers 503 while ``ready()`` is false (always 200 without it);
    each response is made inside ``guard()`` (the sidecar checkpoints there).

    With ``auth``, a request without the right credentials gets 401 and a
    ``WWW-Authenticate`` challenge; ``/healthz`` and ``/ready`` stay open for probes unless
    ``protect_probes``.

    ``collectors`` are served on ``/metrics`` next to the monitors' metrics.

    With ``outcomes``, ``POST /outcomes`` (authenticated like ``/status``) takes a JSON
    array of outcome objects and passes it to ``outcomes``: 200 ``{"accepted": n}``; 400 with
    ``{"error": ...}`` for a body that is not JSON (or nested too deeply, or holding a lone
    surrogate or a NUL) or an item the handler refuses, or a ``Content-Length`` that is not
    a decimal byte count; 411 without one; 413 for a body over ``max_body_bytes`` (refused
    before it is read); 503 when the handler raises ``CheckpointError`` (not made safe);
    405 for another method.

    Routes match on the end of the path, so the app works mounted under any prefix.

    Made in one of several workers of gunicorn, uvicorn or hypercorn, it logs a warning once
    and ``/status`` carries ``multi_worker``: each worker would report its own numbers (see
    :mod:`aimon.exporters.workers`).
    """
    endpoints = _Endpoints(
        monitors, ready, guard, auth, protect_probes, collectors, outcomes, max_body_bytes
    )

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        stream = environ.get("wsgi.input")
        status, headers, body = endpoints.handle(
            environ.get("PATH_INFO", "/"),
            environ.get("HTTP_ACCEPT", ""),
            environ.get("HTTP_AUTHORIZATION"),
            environ.get("REQUEST_METHOD", "GET"),
            stream.read if stream is not None else None,
            environ.get("CONTENT_LENGTH"),
        )
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body] if environ.get("REQUEST_METHOD", "GET") != "HEAD" else [b""]

    return app


ASGIApp = Callable[[dict[str, Any], Callable[[], Any], Callable[[dict[str, Any]], Any]], Any]


def make_asgi_app(
    monitors: SnapshotSources,
    *,
    auth: Authenticator | None = None,
    protect_probes: bool = False,
) -> ASGIApp:
    """An ASGI app serving ``/metrics``, ``/healthz`` and ``/status`` for ``monitors``
    (``auth`` and ``protect_probes`` as in :func:`make_wsgi_app`).

    Snapshots are taken in a worker thread so a scrape never blocks the event loop. Made in
    one of several server workers, it warns as :func:`make_wsgi_app` does.
    """
    endpoints = _Endpoints(monitors, auth=auth, protect_probes=protect_probes)

    async def app(
        scope: dict[str, Any],
        receive: Callable[[], Any],
        send: Callable[[dict[str, Any]], Any],
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        accept = ""
        authorization: str | None = None
        for key, value in scope.get("headers", []):
            if key.lower() == b"accept":
                accept = value.decode("latin-1")
            elif key.lower() == b"authorization":
                authorization = value.decode("latin-1")
        loop = asyncio.get_running_loop()
        status, headers, body = await loop.run_in_executor(
            None, endpoints.handle, scope.get("path", "/"), accept, authorization
        )
        await send(
            {
                "type": "http.response.start",
                "status": int(status.split()[0]),
                "headers": [(k.lower().encode(), v.encode()) for k, v in headers]
                + [(b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


# A client that stalls (mid-handshake or mid-request) gives up its thread after this long.
_SOCKET_TIMEOUT_S = 30.0


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # socketserver's default of 5 drops SYNs under a burst of scrapes: each dropped one is
    # retried by the client's kernel after a second.
    request_queue_size = 128
    ssl_context: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        # The handshake runs here, on the request's thread, so a slow or hostile client
        # never holds up the accept loop.
        request.settimeout(_SOCKET_TIMEOUT_S)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except OSError:  # a failed handshake (plain HTTP, untrusted client cert): nothing to log
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            self.shutdown_request(tls)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a reset, a timeout) is not worth a traceback on stderr."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _QuietHandler(WSGIRequestHandler):
    timeout = _SOCKET_TIMEOUT_S

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood stderr; stay quiet."""


class MetricsServer:
    """A threaded HTTP(S) server for the endpoints, running on a daemon thread.

    Args:
        monitors: the monitors to serve (or a callable returning them).
        host: address to bind (``127.0.0.1`` by default; ``0.0.0.0`` to be scraped from
            other hosts).
        port: port to bind; 0 picks a free one.
        ready: ``/ready`` answers 503 while it returns false.
        guard: each response is made inside ``guard()``.
        auth: credentials every request must carry (:class:`BearerAuth`, :class:`BasicAuth`);
            a request without them gets 401.
        protect_probes: require ``auth`` on ``/healthz`` and ``/ready`` too (open by default,
            for the kubelet's probes).
        ssl_context: serve HTTPS with this server-side context (certificate loaded).
        collectors: more Prometheus collectors to serve on ``/metrics``.
        outcomes, max_body_bytes: ``POST /outcomes`` (see :func:`make_wsgi_app`).
    """

    def __init__(
        self,
        monitors: Iterable[SnapshotSource] | Callable[[], Iterable[SnapshotSource]],
        host: str = "127.0.0.1",
        port: int = 9108,
        ready: Callable[[], bool] | None = None,
        guard: Callable[[], AbstractContextManager[Any]] | None = None,
        *,
        auth: Authenticator | None = None,
        protect_probes: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        collectors: Sequence[Collector] = (),
        outcomes: OutcomesHandler | None = None,
        max_body_bytes: int = MAX_OUTCOMES_BYTES,
    ) -> None:
        source = monitors if callable(monitors) else list(monitors)
        app = make_wsgi_app(
            source,
            ready,
            guard,
            auth=auth,
            protect_probes=protect_probes,
            collectors=collectors,
            outcomes=outcomes,
            max_body_bytes=max_body_bytes,
        )
        self._httpd = make_server(host, port, app, _ThreadingServer, handler_class=_QuietHandler)
        self._httpd.ssl_context = ssl_context
        if ssl_context is not None:
            self._httpd.base_environ["HTTPS"] = "on"
        self.host = host
        self.port = int(self._httpd.server_port)
        self.scheme = "https" if ssl_context is not None else "http"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="aimon-http", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:9108``."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
