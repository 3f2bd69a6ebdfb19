"""Segments in the sidecar: every model's monitor keeps a window, totals and drift per value
of the ``--segment`` features read from each log line's ``features``; the checkpoint carries
them across a restart; a bad setting fails at start, named."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from aimon.cli import main
from aimon.cli.exits import EXIT_BAD_INPUT
from aimon.drift.reference import Reference
from aimon.errors import ConfigError
from aimon.monitor_settings import MonitorSettings
from aimon.segments import MISSING, OTHER
from aimon.settings import SegmentSettings
from aimon.sidecar import Sidecar
from aimon.thresholds import Rule, Thresholds
from tests.integration.conftest import free_port

COUNTRIES = ("DE", "FR", "US")


def rows(n: int, seed: int, shift: float = 0.0) -> list[dict[str, Any]]:
    """Feature rows; ``shift`` raises the amounts of FR only."""
    rng = np.random.default_rng(seed)
    countries = rng.choice(COUNTRIES, n, p=[0.5, 0.3, 0.2])
    amounts = rng.lognormal(3.0, 0.5, n) + np.where(countries == "FR", shift, 0.0)
    return [
        {"country": str(c), "amount": float(a)} for c, a in zip(countries, amounts, strict=True)
    ]


def lines(features: list[dict[str, Any] | None], model: str = "fraud") -> str:
    """Log lines, latency by country (US slowest); a line without features has none."""
    latency = {"DE": 10.0, "FR": 50.0, "US": 200.0, None: 5.0}
    out = []
    for i, f in enumerate(features):
        record = {"ts": time.time(), "model": model, "version": "1", "request_id": f"r{i}",
                  "latency_ms": latency[None if f is None else f["country"]]}  # fmt: skip
        if f is not None:
            record["features"] = f
        out.append(json.dumps(record) + "\n")
    return "".join(out)


def append(path: Path, text: str) -> None:
    with path.open("a") as out:
        out.write(text)


def segment_counts(sidecar: Sidecar, model: str = "fraud") -> dict[str, int]:
    snap = sidecar.monitors[(model, "1")].snapshot()
    return {value: part.totals.calls for value, part in snap.segments["country"].items()}


def test_every_models_monitor_keeps_the_segments_of_the_log_features(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    features: list[dict[str, Any] | None] = [*rows(400, seed=1, shift=30.0), None, None]
    append(log, lines(features) + lines(rows(50, seed=2), model="churn"))
    reference = Reference.from_frame(pd.DataFrame(rows(3000, seed=0)), segments=["country"])
    settings = MonitorSettings(reference=reference, segments=SegmentSettings(("country",)))
    sidecar = Sidecar(str(log), monitor_settings=settings)
    try:
        sidecar.step()
        fraud = sidecar.monitors[("fraud", "1")].snapshot()
        churn = segment_counts(sidecar, "churn")
    finally:
        sidecar.close()
    expected = Counter(f["country"] for f in features if f is not None)
    parts = fraud.segments["country"]
    assert {v: p.count for v, p in parts.items()} == {**expected, MISSING: 2}
    assert sum(p.count for p in parts.values()) == fraud.count == 402
    assert parts["US"].latency.p50 == pytest.approx(0.2, rel=0.02)
    assert parts["DE"].latency.p99 == pytest.approx(0.01, rel=0.02)
    assert "country" not in parts["DE"].features and parts["DE"].features["amount"].count > 0
    fr, de = parts["FR"].drift["amount"], parts["DE"].drift["amount"]
    assert (de.psi or 1.0) < 0.2 < (fr.psi or 0.0)  # the shift is FR's, seen in FR only
    assert parts[MISSING].drift == {}  # the reference has no profile of it, nor __other__
    assert sum(churn.values()) == 50  # every model's monitor has the segments


def test_the_checkpoint_carries_the_segments_across_a_restart(tmp_path: Path) -> None:
    log, state = tmp_path / "p.log", tmp_path / "state"
    first_rows, more_rows = rows(300, seed=3), rows(120, seed=4)
    append(log, lines(list(first_rows)))
    settings = MonitorSettings(segments=SegmentSettings(("country",)))
    first = Sidecar(str(log), monitor_settings=settings, state_dir=str(state))
    first.step()
    before = first.monitors[("fraud", "1")].snapshot().segments
    first.close()  # checkpointed at the stop

    second = Sidecar(str(log), monitor_settings=settings, state_dir=str(state))
    try:
        after = second.monitors[("fraud", "1")].snapshot().segments
        assert sorted(after["country"]) == sorted(COUNTRIES)
        assert {v: p.totals.calls for v, p in after["country"].items()} == {
            v: p.totals.calls for v, p in before["country"].items()
        }
        assert after["country"]["DE"].latency == before["country"]["DE"].latency
        second.step()  # nothing new: no line counted twice
        assert segment_counts(second) == {v: p.totals.calls for v, p in before["country"].items()}
        append(log, lines(list(more_rows)))
        second.step()
        counts = segment_counts(second)
    finally:
        second.close()
    assert counts == Counter(f["country"] for f in first_rows + more_rows)


def test_a_bad_segment_setting_fails_at_start_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = str(tmp_path / "p.log")
    argv = ["sidecar", "--log-file", log, "--port", "0", "--segment", "country"]
    assert main([*argv, "--max-segment-values", "0"]) == EXIT_BAD_INPUT
    assert "field 'max_segment_values'" in capsys.readouterr().err
    assert main([*argv, "--segment", "country"]) == EXIT_BAD_INPUT
    assert "field 'segments': 'country' named twice" in capsys.readouterr().err
    config = tmp_path / "aimon.yaml"
    config.write_text(f"log_file: {log}\nsegments: [country, '']\n")
    assert main(["sidecar", "--config", str(config)]) == EXIT_BAD_INPUT
    assert f"{config}: field 'segments': an empty feature name" in capsys.readouterr().err


def test_rules_per_segment_need_the_segments_at_start(tmp_path: Path) -> None:
    """A rule on a segment column the monitors do not keep fails when the settings are made,
    not at a model's first line; with the segments, it fires on the segment at fault."""
    rule = Rule(name="ErrorsByCountry", metric="error_rate", op=">", value=0.1,
                segment="country")  # fmt: skip
    with pytest.raises(ConfigError, match="segment 'country' is not a segment column"):
        MonitorSettings(thresholds=Thresholds(rules=[rule]))
    log = tmp_path / "p.log"
    features = rows(200, seed=6)
    text = lines(list(features))
    failing = [json.loads(x) for x in text.splitlines()]
    for record in failing:
        if record["features"]["country"] == "FR":
            record["error"] = "ValueError"
    append(log, "".join(json.dumps(r) + "\n" for r in failing))
    settings = MonitorSettings(
        thresholds=Thresholds(rules=[rule]), segments=SegmentSettings(("country",))
    )
    sidecar = Sidecar(str(log), monitor_settings=settings)
    try:
        sidecar.step()
        active = sidecar.monitors[("fraud", "1")].check()
    finally:
        sidecar.close()
    assert [(a.labels["segment_value"], a.state) for a in active] == [("FR", "firing")]


def status(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


def test_aimon_sidecar_segment_flags_reach_every_monitor(tmp_path: Path) -> None:
    """The command with ``--segment`` and ``--max-segment-values``: ``/status`` shows the
    segments of each model's monitor."""
    log = tmp_path / "p.log"
    features = rows(100, seed=5)
    append(log, lines(list(features)))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "aimon", "sidecar", "--log-file", str(log), "--host",
         "127.0.0.1", "--port", str(port), "--segment", "country", "--max-segment-values", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        found: dict[str, Any] = {}
        while time.monotonic() < deadline and not found:
            try:
                monitors = status(port)["monitors"]
                found = next((m for m in monitors if m["count"] == 100), {})
            except OSError:
                pass
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert found, "the sidecar never showed the 100 lines on /status"
    every = Counter(f["country"] for f in features)
    counts = {v: p["count"] for v, p in found["segments"]["country"].items()}
    held = sorted(set(counts) - {OTHER})
    assert len(held) == 2 and OTHER in counts  # --max-segment-values 2: the third pooled
    assert {v: counts[v] for v in held} == {v: every[v] for v in held}
    assert counts[OTHER] == sum(every[v] for v in COUNTRIES if v not in held)
