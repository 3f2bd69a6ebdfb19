"""Segments in the Monitor: each value of a segment column gets its own window, totals,
features and drift; on real data a shift inside one segment is flagged there only; the
cap keeps memory bounded; every input form gives the same segments as a dict."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pydantic
import pytest
from sklearn.datasets import load_breast_cancer, load_wine

from aimon import Monitor
from aimon.drift.reference import Reference
from aimon.errors import ConfigError
from aimon.segments import MISSING, MIXED, OTHER
from aimon.settings import SegmentSettings
from tests.conftest import Clock


def wine() -> pd.DataFrame:
    frame = load_wine(as_frame=True).frame
    frame["cultivar"] = frame.pop("target").map({0: "barolo", 1: "grignolino", 2: "barbera"})
    return frame


def drifted(snap: Any) -> dict[str, list[str]]:
    """Per value of the ``cultivar`` segment, its drifted features."""
    return {
        value: sorted(name for name, feature in part.drift.items() if feature.drifted)
        for value, part in snap.segments["cultivar"].items()
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_shift_inside_one_segment_is_flagged_there_only(
    seed: int, monitors: list[Monitor]
) -> None:
    """Wine, live rows drawn from the reference rows themselves: alcohol raised by half the
    data's standard deviation for grignolino only. The grignolino segment sees it in alcohol
    and nothing else; the other segments stay quiet."""
    data = wine()
    ref = Reference.from_frame(data, segments=["cultivar"])
    mon = Monitor("wine", reference=ref, segments=["cultivar"], drift_events=5000)
    monitors.append(mon)
    rows = data.sample(3000, replace=True, random_state=seed).reset_index(drop=True)
    rows.loc[rows.cultivar == "grignolino", "alcohol"] += 0.5 * data.alcohol.std()
    for row in rows.to_dict("records"):
        mon.observe(latency_s=0.01, features=row)
    found = drifted(mon.snapshot())
    assert found == {"grignolino": ["alcohol"], "barolo": [], "barbera": []}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unshifted_segments_stay_quiet_across_seeds(seed: int, monitors: list[Monitor]) -> None:
    """Breast cancer, segmented by diagnosis, live rows drawn from the reference's benign
    rows only: the whole monitor sees a shift (its mix of the two diagnoses is gone), the
    benign segment, compared with the reference's benign rows, no more than chance."""
    frame = load_breast_cancer(as_frame=True).frame
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    ref = Reference.from_frame(frame, segments=["diagnosis"])
    mon = Monitor("cancer", reference=ref, segments=["diagnosis"], drift_events=5000)
    monitors.append(mon)
    benign = frame[frame.diagnosis == "benign"]
    live = benign.sample(2000, replace=True, random_state=seed)
    for row in live.to_dict("records"):
        mon.observe(latency_s=0.01, features=row)
    snap = mon.snapshot()
    part = snap.segments["diagnosis"]["benign"]
    assert list(snap.segments["diagnosis"]) == ["benign"] and part.count == 2000
    # Each of the 30 features is a test at 5 %: a chance alarm or two may ring (the drift
    # window keeps a random sample per slice); the whole monitor rings in most of them.
    assert sum(f.drifted for f in part.drift.values()) <= 2
    assert sum(f.drifted for f in snap.drift.values()) >= 10


def test_counts_errors_and_latency_per_segment_add_up(monitors: list[Monitor]) -> None:
    clock = Clock()
    mon = Monitor("m", segments=["plan"], clock=clock)
    monitors.append(mon)
    plans = ["free"] * 60 + ["pro"] * 30 + [None] * 10
    for i, plan in enumerate(plans):
        error = ValueError("bad") if plan == "pro" and i % 3 == 0 else None
        features = {"x": float(i)} if plan is None else {"plan": plan, "x": float(i)}
        mon.observe(latency_s=0.5 if plan == "pro" else 0.01, error=error, features=features)
    snap = mon.snapshot()
    parts = snap.segments["plan"]
    assert sorted(parts) == [MISSING, "free", "pro"]
    assert {v: p.count for v, p in parts.items()} == {"free": 60, "pro": 30, MISSING: 10}
    assert sum(p.count for p in parts.values()) == snap.count == 100
    assert parts["pro"].error_count == 10 and parts["free"].error_count == 0
    assert parts["pro"].errors == {"ValueError": 10}
    assert parts["pro"].latency.p50 == pytest.approx(0.5, rel=0.02)
    assert parts["free"].latency.p99 == pytest.approx(0.01, rel=0.02)
    assert parts["free"].features["x"].count == 60
    assert "plan" not in parts["free"].features  # the segment column is not a feature of it
    assert parts["pro"].totals.calls == 30
    assert parts["free"].drift == {}  # no reference: counts, no drift


def test_the_cap_keeps_the_busiest_values_and_pools_the_rest(monitors: list[Monitor]) -> None:
    clock = Clock()
    mon = Monitor("m", segments=SegmentSettings(("country",), max_values=3), clock=clock)
    monitors.append(mon)
    traffic = {"DE": 40, "FR": 30, "IT": 20, "ES": 5, "PT": 3, "NL": 2}
    batch = [c for c, n in traffic.items() for _ in range(n)]
    for country in batch:
        mon.observe(latency_s=0.01, features={"country": country})
    parts = mon.snapshot().segments["country"]
    assert sorted(parts) == sorted(["DE", "FR", "IT", OTHER])
    assert parts[OTHER].count == 10 and sum(p.count for p in parts.values()) == len(batch)
    # A newcomer with more than twice the traffic of the quietest held value takes its place.
    clock.now += 1.0
    for _ in range(100):
        mon.observe(latency_s=0.01, features={"country": "US"})
    parts = mon.snapshot().segments["country"]
    assert "US" in parts and "IT" not in parts and len(parts) == 4
    assert mon.snapshot().segment_evictions == {"country": 1}


def test_memory_is_bounded_by_the_cap(monitors: list[Monitor]) -> None:
    """10,000 distinct values (a user id used as a segment by mistake) make at most
    ``max_values`` parts plus ``__other__``; waiting values are bounded too."""
    mon = Monitor("m", segments=SegmentSettings(("user",), max_values=5))
    monitors.append(mon)
    for i in range(10_000):
        mon.observe(latency_s=0.01, features={"user": f"u{i}", "x": 1.0})
    snap = mon.snapshot()
    segments = mon._fold.segments
    assert segments is not None
    assert len(segments.parts["user"]) <= 6 and len(snap.segments["user"]) <= 6
    assert len(segments.caps["user"].waiting) <= 4 * 5
    assert sum(p.count for p in snap.segments["user"].values()) == 10_000


@dataclasses.dataclass
class Row:
    plan: str
    x: float


class RowModel(pydantic.BaseModel):
    plan: str
    x: float


def test_every_input_form_gives_the_segments_of_a_dict(monitors: list[Monitor]) -> None:
    rows = [{"plan": "free" if i % 4 else "pro", "x": float(i)} for i in range(40)]
    forms: dict[str, list[Any]] = {
        "dict": rows,
        "dataclass": [Row(**r) for r in rows],
        "pydantic": [RowModel(**r) for r in rows],
        "frame": [pd.DataFrame([r]) for r in rows],
        "series": [pd.Series(r) for r in rows],
    }
    seen = {}
    for form, inputs in forms.items():
        mon = Monitor(form, segments=["plan"])
        monitors.append(mon)
        predict = mon.watch(lambda x: 1)
        for x in inputs:
            predict(x)
        parts = mon.snapshot().segments["plan"]
        seen[form] = {v: (p.count, p.features["x"].mean) for v, p in parts.items()}
    assert seen["dict"] == {"free": (30, 20.0), "pro": (10, 18.0)}
    for form, found in seen.items():
        assert found == seen["dict"], form


def test_a_batch_input_splits_its_rows_by_segment(monitors: list[Monitor]) -> None:
    """A DataFrame of several rows: each row's features go to its own segment; the call is
    counted once, in ``__mixed__`` when its rows have different values."""
    mon = Monitor("m", segments=["plan"])
    monitors.append(mon)
    predict = mon.watch(lambda frame: [1] * len(frame))
    predict(pd.DataFrame({"plan": ["free", "free", "pro"], "x": [1.0, 2.0, 3.0]}))
    predict(pd.DataFrame({"plan": ["pro", "pro"], "x": [4.0, 5.0]}))
    parts = mon.snapshot().segments["plan"]
    assert parts[MIXED].count == 1 and parts["pro"].count == 1
    assert parts["free"].features["x"].count == 2 and parts["pro"].features["x"].count == 3
    assert parts["pro"].features["x"].mean == pytest.approx(4.0)


def test_numbers_and_bools_label_one_segment_each_way(monitors: list[Monitor]) -> None:
    mon = Monitor("m", segments=["tier", "flag"])
    monitors.append(mon)
    for value in (3, 3.0, np.int64(3)):
        mon.observe(latency_s=0.01, features={"tier": value, "flag": True})
    mon.observe(latency_s=0.01, features={"tier": 0.5, "flag": 0})
    snap = mon.snapshot()
    assert {v: p.count for v, p in snap.segments["tier"].items()} == {"3": 3, "0.5": 1}
    assert {v: p.count for v, p in snap.segments["flag"].items()} == {"1": 3, "0": 1}


def test_a_value_the_reference_never_saw_is_compared_with_its_rest(
    monitors: list[Monitor],
) -> None:
    data = wine()
    ref = Reference.from_frame(data, segments=["cultivar"], max_segment_values=2)
    assert sorted(ref.segments["cultivar"]) == sorted(["barolo", "grignolino", OTHER])
    mon = Monitor("wine", reference=ref, segments=["cultivar"], drift_events=500)
    monitors.append(mon)
    for row in data.to_dict("records"):
        row["cultivar"] = "nebbiolo" if row["cultivar"] == "barbera" else row["cultivar"]
        mon.observe(latency_s=0.01, features=row)
    parts = mon.snapshot().segments["cultivar"]
    assert "nebbiolo" in parts and parts["nebbiolo"].drift  # against the reference's rest
    assert not any(f.drifted for f in parts["nebbiolo"].drift.values())


@pytest.mark.parametrize("segments", ["country", [""], ["a", "a"], [1]])
def test_bad_segments_name_the_field(segments: Any) -> None:
    with pytest.raises(ConfigError, match="segments"):
        Monitor("m", segments=segments)


def test_bad_segment_settings_name_the_field() -> None:
    with pytest.raises(ConfigError, match="max_segment_values"):
        SegmentSettings(("a",), max_values=0)
    with pytest.raises(ConfigError, match="segment_drift_sample"):
        SegmentSettings(("a",), drift_sample=8)


def test_a_reference_names_an_unknown_segment_column() -> None:
    from aimon.errors import ReferenceError

    with pytest.raises(ReferenceError, match="segments: no column named 'nope'"):
        Reference.from_frame(wine(), segments=["nope"])
    with pytest.raises(ReferenceError, match="segments: a list"):
        Reference.from_frame(wine(), segments="cultivar")  # type: ignore[arg-type]


def test_segment_profiles_survive_save_and_load(tmp_path: Any) -> None:
    ref = Reference.from_frame(wine(), segments=["cultivar"], segment_sample_size=50)
    path = tmp_path / "ref.json"
    ref.save(path)
    loaded = Reference.load(path)
    assert loaded == ref
    barolo = loaded.segments["cultivar"]["barolo"]
    assert barolo.rows == 59 and "cultivar" not in barolo.features
    assert len(barolo.features["alcohol"].sample) == 50


def test_model_quality_per_segment_from_outcomes(monitors: list[Monitor]) -> None:
    """Outcomes join their predictions by request id; each pair is also counted in its
    call's segment: the model is right for DE, wrong for half of FR."""
    clock = Clock()
    mon = Monitor("m", segments=["country"], clock=clock)
    monitors.append(mon)
    calls = [("DE", 1, 1)] * 40 + [("FR", 1, i % 2) for i in range(20)]
    for i, (country, predicted, _) in enumerate(calls):
        mon.observe(latency_s=0.01, prediction=predicted, request_id=f"r{i}",
                    features={"country": country}, ts=clock.now)  # fmt: skip
    for i, (_, _, actual) in enumerate(calls[::-1]):  # outcomes come later, in any order
        mon.record_outcome(f"r{len(calls) - 1 - i}", actual, ts=clock.now + 1)
    clock.now += 2
    snap = mon.snapshot()
    de, fr = snap.segments["country"]["DE"].quality, snap.segments["country"]["FR"].quality
    assert snap.quality is not None and snap.quality.count == 60
    assert de is not None and fr is not None
    assert (de.count, de.accuracy) == (40, 1.0)
    assert (fr.count, fr.accuracy) == (20, 0.5)
    assert snap.quality.accuracy == pytest.approx(50 / 60)


def test_outcomes_before_their_calls_reach_the_segments(monitors: list[Monitor]) -> None:
    """An outcome recorded before the fold of its prediction waits in the join; once both
    meet, the segment counts the pair; across a checkpoint the waiting keys are kept."""
    clock = Clock()
    mon = Monitor("m", segments=["plan"], clock=clock)
    monitors.append(mon)
    for i in range(10):
        mon.record_outcome(f"r{i}", 1, ts=clock.now)
    for i in range(10):
        mon.observe(latency_s=0.01, prediction=1, request_id=f"r{i}",
                    features={"plan": "pro"}, ts=clock.now)  # fmt: skip
    for i in range(10, 20):  # waiting for their outcomes across a restart
        mon.observe(latency_s=0.01, prediction=0, request_id=f"r{i}",
                    features={"plan": "free"}, ts=clock.now)  # fmt: skip
    state = mon.export_state()
    again = Monitor("m", segments=["plan"], clock=clock)
    monitors.append(again)
    again.restore_state(state)
    for i in range(10, 20):
        again.record_outcome(f"r{i}", 1, ts=clock.now + 1)
    clock.now += 2
    parts = again.snapshot().segments["plan"]
    pro, free = parts["pro"].quality, parts["free"].quality
    assert pro is not None and (pro.count, pro.accuracy) == (10, 1.0)
    assert free is not None and (free.count, free.accuracy) == (10, 0.0)


def test_a_reference_without_segment_profiles_is_warned_about(
    monitors: list[Monitor], caplog: pytest.LogCaptureFixture
) -> None:
    ref = Reference.from_frame(wine())  # no segments=[...]
    with caplog.at_level("WARNING", logger="aimon"):
        monitors.append(Monitor("wine", reference=ref, segments=["cultivar"]))
    assert "no profiles per value of 'cultivar'" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="aimon"):
        profiled = Reference.from_frame(wine(), segments=["cultivar"])
        monitors.append(Monitor("wine", reference=profiled, segments=["cultivar"]))
    assert "no profiles" not in caplog.text
