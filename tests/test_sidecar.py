"""The sidecar: lines of a prediction log become each model's Monitor, malformed ones counted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from aimon.drift.reference import Reference
from aimon.errors import ConfigError
from aimon.events import FieldMap
from aimon.monitor_settings import MonitorSettings
from aimon.settings import DriftSettings, Limits
from aimon.sidecar import OTHER_MODEL, Sidecar


def line(model: str = "fraud", latency_ms: float = 12.0, error: str | None = None,
         **extra: object) -> str:  # fmt: skip
    record = {"ts": time.time(), "model": model, "version": "1", "latency_ms": latency_ms,
              "error": error, "features": {"age": 41}, **extra}  # fmt: skip
    return json.dumps(record) + "\n"


def append(path: Path, text: str) -> None:
    with path.open("a") as out:
        out.write(text)


def test_lines_are_counted_per_model_across_a_rotation(tmp_path: Path) -> None:
    log = tmp_path / "predictions.log"
    append(log, line() * 30 + line("churn", error="ValueError") * 5)
    sidecar = Sidecar(str(log))
    try:
        assert sidecar.step() == 35
        append(log, line() * 10)  # written to the old file just before it rotates
        os.rename(log, tmp_path / "predictions.log.1")
        bad = '{"ts": "yesterday"}\n' + "not json\n" + line(latency_ms="slow")  # type: ignore[arg-type]
        append(log, line() * 7 + bad)
        sidecar.step()
        fraud = sidecar.monitors[("fraud", "1")].snapshot()
        churn = sidecar.monitors[("churn", "1")].snapshot()
        default = sidecar.default_monitor().snapshot()
    finally:
        sidecar.close()
    assert fraud.totals.calls == 47 and churn.totals.errors == {"ValueError": 5}
    assert default.dropped["malformed"] == 3 and default.totals.calls == 0
    assert dict(sidecar.malformed) == {"json": 1, "ts": 1, "latency": 1}
    assert sidecar.tailer.counts["rotations"] == 1
    assert sidecar.ready()


def test_field_mapping_and_the_model_cap(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    records = [{"time": time.time(), "svc": f"m{i}", "duration_ms": 250,
                "request": {"features": {"x": i}}} for i in range(5)]  # fmt: skip
    append(log, "".join(json.dumps(r) + "\n" for r in records))
    fields = FieldMap(ts="time", model="svc", latency="duration_ms", features="request.features")
    sidecar = Sidecar(str(log), fields=fields, max_models=3)
    try:
        sidecar.step()
        names = sorted(model for model, _ in sidecar.monitors)
        other = sidecar.monitors[(OTHER_MODEL, None)].snapshot()
    finally:
        sidecar.close()
    assert names == ["m0", "m1", "m2", OTHER_MODEL]  # no idle default takes a place
    assert other.totals.calls == 2 and sidecar.models_folded == 2
    assert other.latency.max == pytest.approx(0.25, rel=0.02)


def test_every_model_gets_the_settings_and_folds_rather_than_drops(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    append(log, line() * 3 + line("churn") * 2)
    reference = Reference.from_frame({"age": [20, 30, 40, 50]})
    settings = MonitorSettings(
        window="10m",
        reference=reference,
        limits=Limits(slice="1m", buffer_size=64, on_full="drop"),
        drift=DriftSettings(window="30m"),
    )
    sidecar = Sidecar(str(log), monitor_settings=settings)
    try:
        sidecar.step()
        snaps = {key: m.snapshot() for key, m in sidecar.monitors.items()}
        limits = {m.limits for m in sidecar.monitors.values()}
    finally:
        sidecar.close()
    assert limits == {Limits(slice="1m", buffer_size=64, on_full="fold")}
    assert {key: s.totals.calls for key, s in snaps.items()} == {
        ("fraud", "1"): 3, ("churn", "1"): 2}  # fmt: skip
    for snap in snaps.values():
        assert (snap.window.length_s, snap.window.slice_s) == (600.0, 60.0)
        assert snap.drift_window is not None and snap.drift_window.length_s == 1800.0
        assert snap.reference_bins == snaps[("fraud", "1")].reference_bins != {}


def test_monitor_settings_check_the_window() -> None:
    with pytest.raises(ConfigError, match="window"):
        MonitorSettings(window="soon")


def test_aimon_sidecar_serves_metrics_ready_and_stops_on_sigterm(tmp_path: Path) -> None:
    from tests.integration.conftest import free_port

    log = tmp_path / "p.log"
    append(log, line() * 20 + "garbage\n")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "aimon", "sidecar", "--log-file", str(log), "--host",
         "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        body = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read().decode()
                if 'aimon_predictions_total{model="fraud",outcome="ok",version="1"} 20.0' in body:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert 'aimon_predictions_total{model="fraud",outcome="ok",version="1"} 20.0' in body
        assert (
            'aimon_events_dropped_total{model="default",reason="malformed",version=""} 1.0' in body
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as r:
            assert r.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "following" in out


def counts(sidecar: Sidecar) -> tuple[int, int]:
    calls = sum(m.snapshot().totals.calls for m in sidecar.monitors.values())
    return calls, sidecar.default_monitor().snapshot().dropped.get("malformed", 0)


def crash(sidecar: Sidecar) -> None:
    """Stop without the final checkpoint, as kill -9 would."""
    for monitor in sidecar.monitors.values():
        monitor.close()
    sidecar.tailer.close()


def test_a_restart_continues_from_the_checkpoint_exactly(tmp_path: Path) -> None:
    log, state = tmp_path / "p.log", tmp_path / "state"
    append(log, line() * 10 + "bad\n")
    first = Sidecar(str(log), state_dir=str(state))
    first.step()
    first.checkpoint()
    append(log, line() * 5)
    first.step()  # read and counted, but not checkpointed: lost with the crash, read again
    assert counts(first) == (15, 1)
    crash(first)
    os.rename(log, tmp_path / "p.log.1")  # rotated while down
    append(log, line() * 3 + "worse\n")
    second = Sidecar(str(log), state_dir=str(state))
    try:
        assert counts(second) == (10, 1)  # what the checkpoint held
        second.step()
        assert counts(second) == (18, 2)  # 10 + 5 from the rotated file + 3, each once
        assert second.tailer.counts["reopened"] == 1
        assert (state / "checkpoint").stat().st_mode & 0o777 == 0o600
    finally:
        second.close()
    third = Sidecar(str(log), state_dir=str(state))  # a clean stop checkpointed everything
    try:
        third.step()
        assert counts(third) == (18, 2)
    finally:
        third.close()


def test_a_checkpoint_of_another_aimon_version_falls_back_not_fatal(tmp_path: Path) -> None:
    """A checkpoint pickling a class since renamed (``aimon.totals.Totals`` became
    ``RunningTotals``) is unusable, not fatal: the previous one is tried, then afresh."""
    import hashlib

    from aimon import checkpoint

    log, state = tmp_path / "p.log", tmp_path / "state"
    append(log, line() * 3)
    state.mkdir()
    body = b"\x80\x04caimon.totals\nTotals\n."  # a reference to the old class
    old = checkpoint._MAGIC + hashlib.sha256(body).digest() + body
    (state / "checkpoint").write_bytes(old)
    fresh = Sidecar(str(log), state_dir=str(state))
    try:
        problems = fresh.store.problems  # type: ignore[union-attr]
        assert len(problems) == 1 and "another version of aimon" in problems[0]
        fresh.step()
        assert counts(fresh) == (3, 0)
    finally:
        fresh.close()


def test_a_corrupt_checkpoint_falls_back_to_the_previous_one(tmp_path: Path) -> None:
    log, state = tmp_path / "p.log", tmp_path / "state"
    append(log, line() * 4)
    first = Sidecar(str(log), state_dir=str(state))
    first.step()
    first.checkpoint()
    first.close()  # a second checkpoint: the first becomes checkpoint.prev
    data = (state / "checkpoint").read_bytes()
    (state / "checkpoint").write_bytes(data[: len(data) // 2])  # half-written
    again = Sidecar(str(log), state_dir=str(state))
    try:
        assert "checksum mismatch" in again.store.problems[0]  # type: ignore[union-attr]
        again.step()
        assert counts(again) == (4, 0)
    finally:
        again.close()
    (state / "checkpoint").write_bytes(b"garbage")
    (state / "checkpoint.prev").write_bytes(b"garbage")
    fresh = Sidecar(str(log), state_dir=str(state))  # nothing usable: start over, not fatal
    try:
        fresh.step()
        assert counts(fresh) == (4, 0) and len(fresh.store.problems) == 2  # type: ignore[union-attr]
    finally:
        fresh.close()
