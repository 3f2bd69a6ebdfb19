"""The Router: what each sink hears, dedup and repeat, grouping, routes, retries, bounds;
and the sinks' payloads."""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aimon
from aimon.alerts import (
    Alert,
    AlertmanagerSink,
    CallbackSink,
    FileSink,
    LogSink,
    Route,
    Router,
    SlackSink,
    WebhookSink,
)
from aimon.alerts.slack import slack_message
from aimon.alerts.webhook import idempotency_key, webhook_payload
from aimon.errors import ConfigError
from aimon.thresholds import Rule

T0 = 1_700_000_000.0


def alert(name: str = "Errors", state: str = "firing", **labels: str) -> Alert:
    when = datetime.fromtimestamp(T0, tz=timezone.utc)
    return Alert(
        labels={"alertname": name, "model": "fraud", "severity": "warning", **labels},
        annotations={"summary": f"{name} is bad", "value": "0.2"},
        state=state,  # type: ignore[arg-type]
        starts_at=when,
        ends_at=when if state == "resolved" else None,
        value=0.2,
    )


class Recorder:
    """A sink that records each notification (a list of alerts)."""

    def __init__(self, name: str = "recorder", fail_first: int = 0) -> None:
        self.name = name
        self.calls: list[list[Alert]] = []
        self.fail_first = fail_first
        self.attempts = 0

    def send(self, alerts: list[Alert]) -> None:
        self.attempts += 1
        if self.attempts <= self.fail_first:
            raise ConnectionError("receiver down")
        self.calls.append(list(alerts))


def router_with(*routes: Any, **options: Any) -> Router:
    options = {"backoff": 0.001, "backoff_max": 0.002, "seed": 1, **options}
    return Router(list(routes), **options)


def test_pending_never_firing_once_then_every_repeat_interval_resolved_once() -> None:
    sink = Recorder()
    router = router_with(sink, repeat_interval=60)
    try:
        router.submit([alert(state="pending")], T0)
        router.submit([alert()], T0 + 1)
        router.submit([alert()], T0 + 30)  # a duplicate within repeat_interval: dropped
        router.submit([alert()], T0 + 61)  # repeated
        router.submit([alert(state="resolved")], T0 + 70)
        router.submit([alert(state="resolved")], T0 + 200)  # resolved is sent once
        assert router.flush(5)
    finally:
        router.close()
    assert [[a.state for a in call] for call in sink.calls] == [
        ["firing"],
        ["firing"],
        ["resolved"],
    ]
    assert router.stats() == {"recorder": {"delivered": 3, "failed": 0, "dropped": 0}}


def test_a_resolved_alert_nobody_heard_firing_is_not_sent() -> None:
    sink = Recorder()
    router = router_with(sink)
    router.submit([alert(state="resolved")], T0)
    router.close()
    assert sink.calls == []


def test_grouping_and_routes_by_label() -> None:
    everything, pager = Recorder("all"), Recorder("pager")
    router = router_with(everything, Route(pager, match={"severity": "critical"}))
    batch = [
        alert("Psi", feature="age"),
        alert("Psi", feature="amount"),
        alert("Errors", severity="critical"),
    ]
    router.submit(batch, T0)
    router.close()
    assert sorted(len(call) for call in everything.calls) == [1, 2]  # grouped by alertname
    assert [[a.name for a in call] for call in pager.calls] == [["Errors"]]


def test_a_failing_sink_is_retried_then_delivered_once() -> None:
    flaky = Recorder(fail_first=2)
    router = router_with(flaky, retries=3)
    router.submit([alert()], T0)
    assert router.flush(5)
    router.close()
    assert flaky.attempts == 3 and len(flaky.calls) == 1
    assert router.stats()["recorder"] == {"delivered": 1, "failed": 0, "dropped": 0}


def test_a_dead_sink_fails_after_retries_and_a_full_queue_drops() -> None:
    gate = threading.Event()

    class Stuck:
        name = "stuck"

        def send(self, alerts: list[Alert]) -> None:
            gate.wait(5)
            raise ConnectionError("down")

    router = router_with(Stuck(), retries=1, queue_size=2)
    for i in range(10):  # distinct alerts: each one a notification
        router.submit([alert(f"Rule{i}")], T0)
    gate.set()
    assert router.flush(5)
    router.close()
    stats = router.stats()["stuck"]
    assert stats["dropped"] >= 7 and stats["failed"] + stats["dropped"] == 10
    assert stats["delivered"] == 0


@settings(max_examples=100, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 100), st.booleans()), min_size=1, max_size=30))
def test_no_duplicate_notifications_within_repeat_interval(
    steps: list[tuple[int, bool]],
) -> None:
    sink = Recorder()
    sent_at: list[tuple[float, str]] = []
    router = router_with(sink, repeat_interval=50)
    router._lanes[0].route.sink.send = lambda alerts: sent_at.append(  # type: ignore[method-assign]
        (now, alerts[0].state)
    )
    now = T0
    for gap, firing in steps:
        now += gap
        router.submit([alert(state="firing" if firing else "resolved")], now)
        assert router.flush(5)
    router.close()
    firing_times = [t for t, s in sent_at if s == "firing"]
    episodes: list[list[float]] = [[]]
    for t, s in sent_at:
        if s == "resolved":
            episodes.append([])
        else:
            episodes[-1].append(t)
    for times in episodes:
        assert all(b - a >= 50 for a, b in itertools.pairwise(times))
    assert len(firing_times) >= 1 or not any(f for _, f in steps)


def test_sinks_payloads(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    batch = [alert(feature="age"), alert(feature="amount", state="resolved")]
    payload = webhook_payload(batch, "ops")
    assert payload["version"] == "4" and payload["status"] == "firing"
    assert payload["groupLabels"] == {"alertname": "Errors", "model": "fraud"}
    assert payload["groupKey"] == '{}:{alertname="Errors",model="fraud"}'
    assert payload["commonLabels"] == {"alertname": "Errors", "model": "fraud",
                                       "severity": "warning"}  # fmt: skip
    assert [a["fingerprint"] for a in payload["alerts"]] == [a.fingerprint for a in batch]
    assert payload["alerts"][1]["status"] == "resolved"
    assert idempotency_key(payload) == idempotency_key(webhook_payload(batch, "ops"))
    json.dumps(payload, allow_nan=False)

    message = slack_message(batch)
    assert message["text"] == "1 firing, 1 resolved: Errors"
    assert message["blocks"][0]["type"] == "header" and len(message["blocks"]) == 3

    am = AlertmanagerSink("http://127.0.0.1:1", evaluation_interval=15, resend_delay=60,
                          clock=lambda: T0 + 100)  # fmt: skip
    firing, resolved = am.body(batch)
    assert firing["endsAt"] == datetime.fromtimestamp(T0 + 100 + 240, tz=timezone.utc).isoformat()
    assert resolved["endsAt"] == batch[1].starts_at.isoformat()

    out = tmp_path / "alerts.jsonl"
    FileSink(out).send(batch)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["state"] for line in lines] == ["firing", "resolved"]

    with caplog.at_level(logging.INFO, logger="aimon.alerts"):
        LogSink().send(batch)
    assert "[FIRING] Errors" in caplog.records[0].getMessage()
    assert caplog.records[1].levelno == logging.INFO
    assert caplog.records[0].alert["labels"]["feature"] == "age"  # type: ignore[attr-defined]


def test_secrets_come_from_env_or_file_and_are_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_URL", "https://hooks.example/T0KEN")
    (tmp_path / "token").write_text("s3cret\n")
    sink = WebhookSink(url_env="HOOK_URL", token_file=tmp_path / "token")
    assert "T0KEN" not in repr(sink) and "s3cret" not in repr(vars(sink))
    assert sink._token.get() == "s3cret"
    with pytest.raises(ConfigError, match="url_env: the environment variable NOPE is not set"):
        WebhookSink(url_env="NOPE")
    with pytest.raises(ConfigError, match="url: required"):
        SlackSink()
    with pytest.raises(ConfigError, match="give one of"):
        WebhookSink(url="http://x", url_env="HOOK_URL")


def test_monitor_wiring_check_snapshot_and_metrics() -> None:
    got: list[list[Alert]] = []
    rules = [Rule(name="Errors", metric="error_rate", value=0.1, min_count=5, severity="page")]
    mon = aimon.Monitor("wired", version="2", thresholds=rules,
                        sinks=[CallbackSink(got.append)], evaluation_interval=3600)  # fmt: skip
    try:
        for i in range(10):
            mon.observe(latency_s=0.01, error=ValueError if i % 2 else None)
        (active,) = mon.check()
        assert active.state == "firing" and active.labels["severity"] == "page"
        snap = mon.snapshot()
        assert [a.name for a in snap.alerts] == ["Errors"]
        assert snap.rule_states == {"Errors": 2}
        text = aimon.AimonCollector([mon])
        families = {m.name: m for m in text.collect()}
        state = families["aimon_alert_state"].samples[0]
        assert state.labels["rule"] == "Errors" and state.value == 2
    finally:
        mon.close()
    assert [a.name for call in got for a in call] == ["Errors"]  # flushed by close()
    samples = families["aimon_alert_notifications"].samples
    notes = {s.labels["result"]: s.value for s in samples if s.name.endswith("_total")}
    assert set(notes) == {"delivered", "failed", "dropped"}


def test_monitor_settings_errors() -> None:
    with pytest.raises(ConfigError, match="sinks: give sinks or a router, not both"):
        aimon.Monitor("x", sinks=[LogSink()], router=Router([]))
    with pytest.raises(ConfigError, match="has no send"):
        aimon.Monitor("x", sinks=[object()])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="evaluation_interval"):
        aimon.Monitor("x", sinks=[LogSink()], evaluation_interval="often")


def test_the_background_thread_evaluates_on_its_interval() -> None:
    got: list[list[Alert]] = []
    rules = [Rule(name="Errors", metric="error_rate", value=0.1)]
    mon = aimon.Monitor("background", thresholds=aimon.Thresholds(rules=rules),
                        sinks=[CallbackSink(got.append)], evaluation_interval=0.1,
                        flush_interval=0.05)  # fmt: skip
    try:
        mon.observe(latency_s=0.01, error=ValueError)
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        mon.close()
    assert got and got[0][0].name == "Errors"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_delivers_its_own_alerts(tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    rules = [Rule(name="Errors", metric="error_rate", value=0.1)]
    mon = aimon.Monitor("forked", thresholds=rules, sinks=[FileSink(out)],
                        evaluation_interval=3600)  # fmt: skip
    try:
        mon.observe(latency_s=0.01)
        mon.check()
        pid = os.fork()
        if pid == 0:  # child: fresh alert state and delivery threads
            code = 1
            try:
                mon.observe(latency_s=0.01, error=ValueError)
                mon.check()
                code = 0 if mon._alerting.router.flush(10) else 2  # type: ignore[union-attr]
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        mon.close()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["labels"]["model"] for line in lines] == ["forked"]
