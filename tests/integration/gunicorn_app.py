"""A minimal model server for tests/integration/test_gunicorn.py, run by a real gunicorn.

``gunicorn 'gunicorn_app:create_app()'`` calls the factory in each worker (or once in the
master with ``--preload``, before the fork). Each worker's Monitor appends its events to the
log named by ``GUNICORN_TEST_EVENT_LOG``. The app does nothing to flush at exit: aimon must
get every event into the log by itself when a worker exits.

``GET /predict?x=1.5&plan=pro`` answers the prediction; ``&fail=1`` makes the model raise a
ValueError that the app handles (422). Every answer names its worker in ``X-Worker-Pid``, and
the worker's pid is one of the features, so the test can match the log to what it was told.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import aimon


def create_app() -> Callable[..., Iterable[bytes]]:
    mon = aimon.Monitor("gunicorn", version="1", log_to=os.environ["GUNICORN_TEST_EVENT_LOG"])

    @mon.watch
    def predict(features: dict[str, Any]) -> float:
        if features["fail"]:
            raise ValueError("the model refused this input")
        return 0.5 * features["x"]

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"] != "/predict":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
        # The pid comes from os.getpid() at call time: with --preload the factory ran in
        # the master, and the worker's pid is only known after the fork.
        features = {"pid": os.getpid(), "x": float(query["x"]), "plan": query["plan"],
                    "fail": query.get("fail") == "1"}  # fmt: skip
        try:
            status, body = "200 OK", f"{predict(features)}\n".encode()
        except ValueError as exc:
            status, body = "422 Unprocessable Entity", f"{exc}\n".encode()
        start_response(status, [("Content-Type", "text/plain"), ("X-Worker-Pid", str(os.getpid()))])
        return [body]

    return app
