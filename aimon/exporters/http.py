"""``/metrics``, ``/healthz`` and ``/status`` as a WSGI app, an ASGI app and a background server.

Mount the WSGI app in Flask (``DispatcherMiddleware``) or the ASGI app in FastAPI/Starlette
(``app.mount("/aimon", make_asgi_app([mon]))``), or let :meth:`aimon.Monitor.serve` run a small
threaded server of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from aimon.exporters.prometheus import AimonCollector, MonitorSource

__all__ = ["MetricsServer", "make_asgi_app", "make_wsgi_app"]

Response = tuple[str, list[tuple[str, str]], bytes]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _Endpoints:
    """The routes, independent of the web stack."""

    def __init__(
        self,
        monitors: MonitorSource,
        ready: Callable[[], bool] | None = None,
        guard: Callable[[], AbstractContextManager[Any]] | None = None,
    ) -> None:
        self.collector = AimonCollector(monitors)
        self.ready = ready
        self.guard = guard or contextlib.nullcontext
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)

    def handle(self, path: str, accept: str) -> Response:
        with self.guard():
            return self._handle(path, accept)

    def _handle(self, path: str, accept: str) -> Response:
        path = path.rstrip("/") or "/"
        if path.endswith("/metrics") or path == "/":
            encoder, content_type = choose_encoder(accept)
            return "200 OK", [("Content-Type", content_type)], encoder(self.registry)
        if path.endswith("/healthz"):
            return "200 OK", [("Content-Type", "text/plain; charset=utf-8")], b"ok\n"
        if path.endswith("/ready"):
            if self.ready is None or self.ready():
                return "200 OK", [("Content-Type", "text/plain; charset=utf-8")], b"ready\n"
            return "503 Service Unavailable", [("Content-Type", "text/plain")], b"not ready\n"
        if path.endswith("/status"):
            body = {"monitors": [s.model_dump(mode="json") for s in self.collector.snapshots()]}
            payload = json.dumps(body, allow_nan=False, default=str).encode()
            return "200 OK", [("Content-Type", "application/json")], payload
        return "404 Not Found", [("Content-Type", "text/plain; charset=utf-8")], b"not found\n"


def make_wsgi_app(
    monitors: MonitorSource,
    ready: Callable[[], bool] | None = None,
    guard: Callable[[], AbstractContextManager[Any]] | None = None,
) -> Callable[[dict[str, Any], StartResponse], list[bytes]]:
    """A WSGI app serving ``/metrics``, ``/healthz``, ``/ready`` and ``/status`` for
    ``monitors``; ``/ready`` answers 503 while ``ready()`` is false (always 200 without it);
    each response is made inside ``guard()`` (the sidecar checkpoints there).

    Routes match on the end of the path, so the app works mounted under any prefix.
    """
    endpoints = _Endpoints(monitors, ready, guard)

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        status, headers, body = endpoints.handle(
            environ.get("PATH_INFO", "/"), environ.get("HTTP_ACCEPT", "")
        )
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body] if environ.get("REQUEST_METHOD", "GET") != "HEAD" else [b""]

    return app


ASGIApp = Callable[[dict[str, Any], Callable[[], Any], Callable[[dict[str, Any]], Any]], Any]


def make_asgi_app(monitors: MonitorSource) -> ASGIApp:
    """An ASGI app serving ``/metrics``, ``/healthz`` and ``/status`` for ``monitors``.

    Snapshots are taken in a worker thread so a scrape never blocks the event loop.
    """
    endpoints = _Endpoints(monitors)

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
        for key, value in scope.get("headers", []):
            if key.lower() == b"accept":
                accept = value.decode("latin-1")
        loop = asyncio.get_running_loop()
        status, headers, body = await loop.run_in_executor(
            None, endpoints.handle, scope.get("path", "/"), accept
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


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood stderr; stay quiet."""


class MetricsServer:
    """A threaded HTTP server for the endpoints, running on a daemon thread.

    Args:
        monitors: the monitors to serve (or a callable returning them).
        host: address to bind (``127.0.0.1`` by default; ``0.0.0.0`` to be scraped from
            other hosts).
        port: port to bind; 0 picks a free one.
    """

    def __init__(
        self,
        monitors: MonitorSource | Iterable[Any],
        host: str = "127.0.0.1",
        port: int = 9108,
        ready: Callable[[], bool] | None = None,
        guard: Callable[[], AbstractContextManager[Any]] | None = None,
    ) -> None:
        source = monitors if callable(monitors) else list(monitors)
        app = make_wsgi_app(source, ready, guard)
        self._httpd = make_server(host, port, app, _ThreadingServer, handler_class=_QuietHandler)
        self.host = host
        self.port = int(self._httpd.server_port)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="aimon-http", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:9108``."""
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
