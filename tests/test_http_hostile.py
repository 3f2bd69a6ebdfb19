"""Hostile requests to the HTTP server: lying or missing lengths, nested and invalid bodies,
bursts of connections. A real MetricsServer on a loopback port, raw sockets as the client."""

from __future__ import annotations

import json
import selectors
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from aimon.errors import CheckpointError
from aimon.exporters.http import MetricsServer
from aimon.monitors import Monitor


@pytest.fixture
def posted() -> list[Any]:
    return []


@pytest.fixture
def server(posted: list[Any]) -> Iterator[MetricsServer]:
    def record(records: Any) -> int:
        posted.append(records)
        return len(records)

    mon = Monitor("hostile")
    srv = MetricsServer([mon], port=0, outcomes=record, max_body_bytes=1 << 20)
    try:
        yield srv
    finally:
        srv.close()
        mon.close()


def exchange(server: MetricsServer, head: bytes, body: bytes = b"", timeout: float = 5.0):
    """Send a raw request with the connection left open; the status and JSON answer.
    Raises TimeoutError if no answer comes while the client still holds the socket."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < _length(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, json.loads(answer.partition(b"\r\n\r\n")[2] or b"{}")


def _length(answer: bytes) -> int:
    head, _, _ = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(answer) + 1


def post_head(length: str | None) -> bytes:
    header = f"Content-Length: {length}\r\n" if length is not None else ""
    return (f"POST /outcomes HTTP/1.1\r\nHost: x\r\n{header}\r\n").encode()


@pytest.mark.parametrize(
    ("length", "status"),
    [("-1", 400), ("abc", 400), ("+5", 400), ("1e3", 400), (None, 411), (str(2 << 20), 413)],
)
def test_content_length_is_judged_before_the_body_is_read(
    server: MetricsServer, posted: list[Any], length: str | None, status: int
) -> None:
    # The client sends part of a body and keeps the socket open: a server that reads "until
    # the end" (Content-Length: -1) would wait here until the timeout instead of answering.
    got, answer = exchange(server, post_head(length), b"[" * 1000)
    assert got == status and answer["error"]
    assert posted == []


def test_a_body_shorter_than_its_length_is_refused(server: MetricsServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(post_head("100") + b"[]")
        sock.shutdown(socket.SHUT_WR)
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.0 400") and b"shorter" in answer


def test_deeply_nested_json_is_a_400_not_a_500(server: MetricsServer) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    status, answer = exchange(server, post_head(str(len(body))), body)
    assert status == 400 and "nested" in answer["error"]


@pytest.mark.parametrize(
    "text",
    [
        r'[{"request_id": "\ud800", "actual": 1}]',
        r'[{"request_id": "r1", "actual": 1, "model": "a\udfffb"}]',
        r'[{"request_id": "r\u0000", "actual": 1}]',
        r'[{"request_id": "r1", "actual": 1, "x": {"\ud83d": [1]}}]',
    ],
)
def test_lone_surrogates_and_nul_are_a_clear_400(
    server: MetricsServer, posted: list[Any], text: str
) -> None:
    body = text.encode()
    status, answer = exchange(server, post_head(str(len(body))), body)
    assert status == 400 and ("Unicode" in answer["error"] or "NUL" in answer["error"])
    assert posted == []


def test_a_valid_body_still_goes_through(server: MetricsServer, posted: list[Any]) -> None:
    body = json.dumps([{"request_id": "r\U0001f600", "actual": 1}]).encode()
    assert exchange(server, post_head(str(len(body))), body) == (200, {"accepted": 1})
    assert posted == [[{"request_id": "r\U0001f600", "actual": 1}]]


def test_a_burst_of_connections_is_accepted_without_syn_retries(server: MetricsServer) -> None:
    # 64 connects fired at once from this thread, faster than the server's accept loop takes
    # them: with a listen backlog of 5 most SYNs are dropped and retried a second later.
    burst = 64
    selector = selectors.DefaultSelector()
    socks = []
    start = time.monotonic()
    for _ in range(burst):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex((server.host, server.port))
        selector.register(sock, selectors.EVENT_WRITE)
        socks.append(sock)
    connected: dict[socket.socket, float] = {}
    try:
        while len(connected) < burst and time.monotonic() - start < 0.9:
            for key, _ in selector.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                selector.unregister(sock)
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    connected[sock] = time.monotonic() - start
        assert len(connected) == burst, f"{burst - len(connected)} connects waited for a retry"
        served = 0
        for sock in socks:
            sock.setblocking(True)
            sock.settimeout(5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for sock in socks:
            served += sock.recv(65536).startswith(b"HTTP/1.0 200")
        assert served == burst
        assert max(connected.values()) < 0.9
    finally:
        selector.close()
        for sock in socks:
            sock.close()


def test_a_post_the_handler_could_not_make_safe_is_a_503() -> None:
    def unsafe(records: Any) -> int:
        raise CheckpointError("state/outcomes.journal: cannot append to the journal: disk full")

    srv = MetricsServer([], port=0, outcomes=unsafe)
    try:
        status, answer = exchange(srv, post_head("2"), b"[]")
    finally:
        srv.close()
    assert status == 503 and "disk full" in answer["error"]
