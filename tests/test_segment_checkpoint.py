"""Segments survive a checkpoint: a Monitor's segments (each value's window, totals, data
quality, drift, and each column's cap) are exported with its aggregates and restored into a
new Monitor, which goes on counting them; checkpoints with and without segments restore
either way, keeping the columns both sides have."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from aimon import Monitor
from aimon.checkpoint import CheckpointStore
from aimon.drift.reference import Reference
from aimon.segments import OTHER
from aimon.settings import SegmentSettings
from tests.conftest import Clock

COUNTRIES = ("DE", "FR", "US")


def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Amounts and ages by country; ``shift`` raises the amounts of FR only."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {
            "country": rng.choice(COUNTRIES, n, p=[0.5, 0.3, 0.2]),
            "amount": rng.lognormal(3.0, 0.5, n),
            "age": rng.normal(40.0, 10.0, n),
            "plan": rng.choice(["free", "pro"], n),
        }
    )
    data.loc[data.country == "FR", "amount"] += shift
    return data


@pytest.fixture(scope="module")
def reference() -> Reference:
    return Reference.from_frame(frame(3000, seed=0), segments=["country", "plan"])


def feed(mon: Monitor, rows: pd.DataFrame) -> None:
    for row in rows.to_dict("records"):
        latency = {"DE": 0.01, "FR": 0.05, "US": 0.2}[row["country"]]
        error = None if row["age"] > 20 else ValueError("young")
        mon.observe(latency_s=latency, error=error, features=row)


def restarted(state: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """``state`` written to a checkpoint file and read back, as the sidecar does."""
    store = CheckpointStore(tmp_path / "state")
    store.save({"monitors": [state]})
    loaded = store.load()
    assert loaded is not None
    restored: dict[str, Any] = loaded["monitors"][0]
    return restored


def test_segments_survive_a_checkpoint_and_go_on_counting(
    reference: Reference, monitors: list[Monitor], tmp_path: Path
) -> None:
    clock = Clock()
    before, after = (
        Monitor("fraud", reference=reference, segments=["country", "plan"], clock=clock)
        for _ in range(2)
    )
    monitors += [before, after]
    feed(before, frame(3000, seed=1, shift=30.0))
    clock.now += 1.0
    state = restarted(before.export_state(), tmp_path)
    after.restore_state(state)

    old, new = before.snapshot(), after.snapshot()
    assert new.segments == old.segments  # every count, quantile, feature and drift value
    parts = new.segments["country"]
    assert sorted(parts) == sorted(COUNTRIES)
    assert sum(p.count for p in parts.values()) == new.count == 3000
    assert parts["US"].latency.p95 == pytest.approx(0.2, rel=0.02)
    assert parts["FR"].latency.p50 == pytest.approx(0.05, rel=0.02)
    fr, de = parts["FR"].drift["amount"], parts["DE"].drift["amount"]
    assert fr.drifted and (de.psi or 1.0) < 0.2 < (fr.psi or 0.0)  # FR's amounts shifted
    assert fr.psi == old.segments["country"]["FR"].drift["amount"].psi
    assert parts["DE"].data_quality == old.segments["country"]["DE"].data_quality != {}
    assert sorted(new.segments["plan"]) == ["free", "pro"]

    # Both go on alike from there: the restored caps, windows and drift keep counting.
    more = frame(300, seed=2)
    clock.now += 1.0
    feed(before, more)
    feed(after, more)
    old, new = before.snapshot(), after.snapshot()
    assert new.segments == old.segments
    counts = more.country.value_counts()
    for country in COUNTRIES:
        assert new.segments["country"][country].totals.calls == (
            parts[country].totals.calls + counts[country]
        )


def test_a_checkpoint_without_segments_restores_with_them_empty(
    monitors: list[Monitor], tmp_path: Path
) -> None:
    clock = Clock()
    plain = Monitor("m", clock=clock)
    segmented = Monitor("m", clock=clock, segments=["country"])
    monitors += [plain, segmented]
    feed(plain, frame(50, seed=3))
    state = restarted(plain.export_state(), tmp_path)
    assert state["segments"] is None
    del state["segments"]  # (a checkpoint written before segments were checkpointed)
    segmented.restore_state(state)
    snap = segmented.snapshot()
    assert snap.count == 50 and snap.segments == {"country": {}}
    feed(segmented, frame(20, seed=4))
    parts = segmented.snapshot().segments["country"]
    assert sum(p.count for p in parts.values()) == 20


def test_segments_in_a_checkpoint_are_ignored_by_a_monitor_without_them(
    monitors: list[Monitor], tmp_path: Path
) -> None:
    clock = Clock()
    segmented = Monitor("m", clock=clock, segments=["country"])
    plain = Monitor("m", clock=clock)
    monitors += [segmented, plain]
    feed(segmented, frame(50, seed=5))
    plain.restore_state(restarted(segmented.export_state(), tmp_path))
    snap = plain.snapshot()
    assert snap.count == 50 and snap.segments == {}
    assert plain.export_state()["segments"] is None


def test_only_the_columns_both_have_go_on(
    reference: Reference, monitors: list[Monitor], tmp_path: Path
) -> None:
    clock = Clock()
    before = Monitor("m", clock=clock, reference=reference, segments=["country", "plan"])
    after = Monitor("m", clock=clock, reference=reference, segments=["device", "country"])
    monitors += [before, after]
    feed(before, frame(200, seed=6))
    after.restore_state(restarted(before.export_state(), tmp_path))
    old, new = before.snapshot(), after.snapshot()
    assert sorted(new.segments) == ["country", "device"]
    assert new.segments["country"] == old.segments["country"]
    assert new.segments["device"] == {}
    feed(after, frame(10, seed=7).assign(device="phone"))
    assert after.snapshot().segments["device"]["phone"].count == 10


def test_fewer_values_kept_apart_after_a_restart(monitors: list[Monitor], tmp_path: Path) -> None:
    """The busiest values keep their segments; a value that no longer has a place of its own
    is forgotten (its calls stay in the monitor's own counts), and waits for one again."""
    clock = Clock()
    before = Monitor("m", clock=clock, segments=SegmentSettings(("country",), max_values=3))
    after = Monitor("m", clock=clock, segments=SegmentSettings(("country",), max_values=2))
    monitors += [before, after]
    for country, n in {"DE": 40, "FR": 30, "US": 20, "IT": 5}.items():
        for _ in range(n):
            before.observe(latency_s=0.01, features={"country": country})
    after.restore_state(restarted(before.export_state(), tmp_path))
    old, new = before.snapshot().segments["country"], after.snapshot().segments["country"]
    assert sorted(old) == sorted(["DE", "FR", "US", OTHER])
    assert sorted(new) == sorted(["DE", "FR", OTHER])
    assert {v: p.count for v, p in new.items()} == {"DE": 40, "FR": 30, OTHER: 5}
    segments = after._fold.segments
    assert segments is not None and segments.caps["country"].label("US") == OTHER
    for _ in range(10):
        after.observe(latency_s=0.01, features={"country": "US"})
    assert after.snapshot().segments["country"][OTHER].count == 15


def test_a_new_reference_restarts_segment_drift_but_keeps_the_counts(
    reference: Reference, monitors: list[Monitor], tmp_path: Path
) -> None:
    clock = Clock()
    other = Reference.from_frame(frame(3000, seed=9, shift=50.0), segments=["country"])
    before = Monitor("m", clock=clock, reference=reference, segments=["country"])
    after = Monitor("m", clock=clock, reference=other, segments=["country"])
    monitors += [before, after]
    feed(before, frame(300, seed=10))
    after.restore_state(restarted(before.export_state(), tmp_path))
    old, new = before.snapshot().segments["country"], after.snapshot().segments["country"]
    for country in COUNTRIES:
        assert new[country].totals.calls == old[country].totals.calls > 0
        assert new[country].dropped["drift_reset"] == 1
        assert new[country].drift["amount"].count == 0 < old[country].drift["amount"].count
