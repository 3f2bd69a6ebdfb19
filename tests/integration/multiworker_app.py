"""aimon's WSGI app served by gunicorn, for tests/integration/test_multi_worker.py: each worker
makes its own Monitor and endpoints, as an app that mounts make_wsgi_app would."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import aimon
from aimon.exporters.http import make_wsgi_app


def create_app() -> Callable[..., Iterable[bytes]]:
    return make_wsgi_app([aimon.Monitor("multi")])
