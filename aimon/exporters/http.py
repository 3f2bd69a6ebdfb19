"""``/metrics``, ``/healthz`` and ``/status`` as a WSGI app, an ASGI app and a background server.

Mount the WSGI app in Flask (``DispatcherMiddleware``) or the ASGI app in FastAPI/Starlette
(``app.mount("/aimon", make_asgi_app([mon]))``), or let :meth:`aimon.Monitor.serve` run a small
threaded server of its own.

The endpoints (:mod:`aimon.exporters.endpoints`) may require credentials
(:class:`~aimon.exporters.auth.BearerAuth` or :class:`~aimon.exporters.auth.BasicAuth`; the
probes ``/healthz`` and ``/ready`` stay open unless ``protect_probes``) and the server may
speak TLS (an :class:`ssl.SSLContext`).
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.registry import Collector

from aimon.exporters.auth import Authenticator
from aimon.exporters.endpoints import MAX_OUTCOMES_BYTES, Endpoints, OutcomesHandler
from aimon.exporters.prometheus import SnapshotSource, SnapshotSources

__all__ = ["MetricsServer", "make_asgi_app", "make_wsgi_app"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


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
    endpoints = Endpoints(
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
    endpoints = Endpoints(monitors, auth=auth, protect_probes=protect_probes)

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
        auth: credentials every request must carry
            (:class:`~aimon.exporters.auth.BearerAuth`,
            :class:`~aimon.exporters.auth.BasicAuth`); a request without them gets 401.
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
