"""Lone surrogates never reach a label (issue 16 item 2): one made every /metrics answer 500,
also after a restart, since the checkpoint kept it."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import aimon
from aimon.exporters.http import MetricsServer
from aimon.sidecar import Sidecar
from aimon.text import valid_text
from tests.integration.conftest import SidecarProcess, free_port, http_get, wait_until


@given(st.text())
def test_valid_text_encodes_and_keeps_what_already_did(text: str) -> None:
    made = valid_text(text)
    made.encode("utf-8")
    assert len(made) == len(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        assert "\ufffd" in made
    else:
        assert made == text


def metrics(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        return response.status, response.read().decode()


def test_a_dict_key_or_an_error_type_with_a_lone_surrogate_in_the_library() -> None:
    mon = aimon.Monitor("fraud", window="1m", slice="10s")

    @mon.watch
    def predict(features: dict) -> float:
        return 0.5

    server = MetricsServer([mon], port=0)
    try:
        for i in range(20):
            predict({"a\ud800ge": i, "amount": None})
        # (a class name cannot hold one: type() refuses it; a type name given as text can)
        mon.observe(latency_s=0.1, error="Bad\udc80Input", features={"boom": 1})
        snap = mon.snapshot()
        status, body = metrics(server.url)
    finally:
        server.close()
        mon.close()
    assert set(snap.features) == {"a\ufffdge", "amount", "boom"}  # in state as valid text
    assert snap.totals.calls == 21
    assert status == 200
    assert 'aimon_prediction_errors_total{error_type="Bad\ufffdInput"' in body


def test_an_old_checkpoint_holding_a_lone_surrogate_does_not_break_metrics(
    tmp_path: Path,
) -> None:
    """A checkpoint written before the fix holds the label; the exposition makes it valid."""
    log, state = tmp_path / "p.log", tmp_path / "state"
    log.write_text(json.dumps({"ts": time.time(), "model": "fraud", "latency_ms": 3}) + "\n")
    old = Sidecar(str(log), state_dir=str(state))
    try:
        old.step()
        # what an older aimon let into its state: an error type with a lone surrogate
        old.monitors[("fraud", None)].observe(latency_s=0.01, error="Err\ud800")
        old.checkpoint()
    finally:
        old.close()
    sidecar = SidecarProcess(log, state, port=free_port())
    try:
        wait_until(sidecar.ready, timeout=60, what="the sidecar caught up")
        status, _, body = http_get(f"{sidecar.url}/metrics")
        assert status == 200
        assert 'error_type="Err\ufffd",model="fraud"' in body.decode()
    finally:
        sidecar.process.send_signal(signal.SIGTERM)
        sidecar.process.wait(30)
