"""Streaming drift: a Monitor with a reference keeps a drift window of counts and samples,
its Snapshot shows each feature's drift, and the numbers agree with the batch statistics."""

from __future__ import annotations

import math
import pickle
import time
from collections import deque

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

import aimon
from aimon.drift import Reference, stats
from aimon.drift.tracker import DriftTracker, ks_error_bound
from aimon.features import FeatureBatch, extract

rng = np.random.default_rng(2024)
REFERENCE_DATA = pd.DataFrame(
    {
        "age": rng.normal(40, 10, 5000),
        "amount": rng.lognormal(3, 1, 5000),
        "plan": rng.choice(["free", "pro", "team"], 5000, p=[0.6, 0.3, 0.1]),
        "score": rng.random(5000),
    }
)
REFERENCE = Reference.from_frame(REFERENCE_DATA, prediction="score")


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rows(n: int, *, age_shift: float = 0.0, new_plan: bool = False, seed: int = 0) -> list[dict]:
    gen = np.random.default_rng(seed)
    plans = ["free", "pro", "enterprise" if new_plan else "team"]
    frame = pd.DataFrame(
        {
            "age": gen.normal(40 + age_shift, 10, n),
            "amount": gen.lognormal(3, 1, n),
            "plan": gen.choice(plans, n, p=[0.6, 0.3, 0.1]),
        }
    )
    return frame.to_dict("records")


def observe_all(mon: aimon.Monitor, records: list[dict], score: float | None = None) -> None:
    for record in records:
        mon.observe(latency_s=0.01, features=record, prediction=score)


def test_snapshot_names_the_drifting_feature() -> None:
    with aimon.Monitor("m", reference=REFERENCE) as mon:
        observe_all(mon, rows(3000, age_shift=8.0, seed=1))
        snap = mon.snapshot()
    assert snap.drift_window is not None
    assert snap.drift_window.events == 3000
    assert snap.drift_window.drifted == ["age"]
    assert snap.drift["age"].drifted and snap.drift["age"].method == "wasserstein"
    assert not snap.drift["amount"].drifted
    assert not snap.drift["plan"].drifted
    assert snap.drift["age"].psi > 0.2
    assert snap.drift["plan"].chi2 is not None and snap.drift["plan"].ks is None
    assert snap.drift["age"].js is not None and snap.drift["age"].chi2 is None
    assert snap.drift_window.share_drifted == pytest.approx(1 / 3)


def test_unseen_categories_and_missing_shares() -> None:
    records = rows(2000, new_plan=True, seed=2)
    for record in records[:500]:
        record["amount"] = None
    with aimon.Monitor("m", reference=REFERENCE) as mon:
        observe_all(mon, records)
        snap = mon.snapshot()
    plan = snap.drift["plan"]
    assert plan.drifted
    assert set(plan.unseen) == {"enterprise"}
    assert snap.totals.feature_bins["plan"]["__unseen__"] == plan.unseen["enterprise"]
    assert snap.drift["amount"].missing == 500
    assert snap.drift["amount"].missing_share == pytest.approx(0.25)
    assert snap.drift["amount"].reference_missing_share == 0.0


def test_streaming_psi_equals_batch_psi_on_the_same_bins() -> None:
    records = rows(4000, age_shift=3.0, seed=3)
    with aimon.Monitor("m", reference=REFERENCE) as mon:
        observe_all(mon, records)
        snap = mon.snapshot()
    current = [r["age"] for r in records]
    edges = REFERENCE.features["age"].edges
    batch = stats.psi(REFERENCE_DATA["age"], current, bins=list(edges))
    assert snap.drift["age"].psi == pytest.approx(batch.statistic, rel=1e-9)


@pytest.mark.parametrize("uneven", [False, True])
def test_streaming_ks_is_within_the_dkw_bound_of_the_exact_ks(uneven: bool) -> None:
    """Over many seeds, the streaming KS statistic stays within its 95 % DKW bound of the
    exact statistic on all of the window's values (violations at most as often as alpha)."""
    profile = REFERENCE.features["age"]
    violations, trials = 0, 20
    for seed in range(trials):
        tracker = DriftTracker(REFERENCE, window_s=3600, sample_size=256, seed=seed)
        gen = np.random.default_rng(100 + seed)
        values = []
        for piece in range(12):  # one batch per drift slice, 5 minutes apart
            n = 4000 if (uneven and piece % 3 == 0) else 800
            chunk = gen.normal(41, 10, n)
            values.append(chunk)
            tracker.add(extract(pd.DataFrame({"age": chunk})), 1_000_000 + piece * 300)
        verdict = tracker.verdicts(1_000_000 + 11 * 300)["age"]
        exact = sps.ks_2samp(profile.sample_array(), np.concatenate(values)).statistic
        streaming = verdict.results["ks"].statistic
        assert verdict.ks_error_bound is not None
        if not uneven:  # equal slices: every value weighs the same, n = 12 x 256
            assert verdict.ks_error_bound == pytest.approx(ks_error_bound(12 * 256))
        violations += abs(streaming - exact) > verdict.ks_error_bound
    assert violations <= 2  # expected 1 in 20 at most; DKW is conservative


def test_live_ks_pvalue_is_scipys_asymptotic_one_on_the_window() -> None:
    """A window that kept every value is judged on all of them: the live KS statistic is
    scipy's, and its p-value is ``ks_2samp``'s asymptotic one (a scrape skips the exact
    distribution's cost; batch comparisons keep it)."""
    profile = REFERENCE.features["age"]
    tracker = DriftTracker(REFERENCE, window_s=3600, sample_size=4096, seed=0)
    live = np.random.default_rng(7).normal(44, 10, 900)
    tracker.add(extract(pd.DataFrame({"age": live})), 1_000_000)
    result = tracker.verdicts(1_000_000)["age"].results["ks"]
    oracle = sps.ks_2samp(profile.sample_array(), live, method="asymp")
    assert result.statistic == pytest.approx(oracle.statistic, rel=1e-12)
    assert result.pvalue == pytest.approx(oracle.pvalue, rel=1e-9)
    exact = sps.ks_2samp(profile.sample_array(), live, method="exact").pvalue
    assert result.pvalue == pytest.approx(exact, rel=0.05)  # and close to the exact one


def test_sampled_verdicts_are_the_same_run_after_run() -> None:
    """Reservoirs that sample (more values than they keep) sample alike on a replay of the
    same calls: the KS numbers of two monitors fed the same rows are equal."""
    live = np.random.default_rng(3).normal(42, 10, 6000)

    def ks_of_a_run() -> tuple[float, float]:
        tracker = DriftTracker(REFERENCE, window_s=3600, sample_size=256)
        for piece in range(3):
            chunk = live[piece * 2000 : (piece + 1) * 2000]
            tracker.add(extract(pd.DataFrame({"age": chunk})), 1_000_000 + piece * 300)
        result = tracker.verdicts(1_000_000 + 600)["age"].results["ks"]
        return result.statistic, result.pvalue

    first = ks_of_a_run()
    assert ks_of_a_run() == first
    exact = sps.ks_2samp(REFERENCE.features["age"].sample_array(), live).statistic
    assert first[0] != exact  # it did sample


def test_events_window_keeps_the_last_n_events() -> None:
    with aimon.Monitor("m", reference=REFERENCE, drift_events=1200) as mon:
        observe_all(mon, rows(1000, age_shift=15.0, seed=4))
        mon.flush()
        assert mon.snapshot().drift["age"].drifted
        for seed in range(5, 10):
            observe_all(mon, rows(400, seed=seed))
            mon.flush()
        snap = mon.snapshot()
    assert snap.drift_window is not None
    assert 1200 <= snap.drift_window.events <= 1300
    assert snap.drift_window.max_events == 1200
    assert not snap.drift["age"].drifted


def test_time_window_forgets_old_drift() -> None:
    clock = FakeClock()
    with aimon.Monitor("m", reference=REFERENCE, drift_window="1h", clock=clock) as mon:
        observe_all(mon, rows(2000, age_shift=15.0, seed=11))
        mon.flush()
        assert mon.snapshot().drift["age"].drifted
        clock.now += 2 * 3600
        observe_all(mon, rows(2000, seed=12))
        snap = mon.snapshot()
    assert snap.drift_window is not None
    assert snap.drift_window.events == 2000
    assert not snap.drift["age"].drifted
    # The counters since start still hold every value.
    assert sum(snap.totals.feature_bins["age"].values()) == 4000


def test_every_bin_is_there_from_the_start() -> None:
    with aimon.Monitor("m", reference=REFERENCE) as mon:
        snap = mon.snapshot()
    assert set(snap.totals.feature_bins) == set(REFERENCE.features)
    assert all(v == 0 for bins in snap.totals.feature_bins.values() for v in bins.values())
    assert list(snap.reference_bins["age"]) == list(snap.totals.feature_bins["age"])
    assert sum(snap.reference_bins["age"].values()) == pytest.approx(1.0)
    assert snap.drift["age"].count == 0 and snap.drift["age"].psi is None


def test_prediction_drift_from_the_models_outputs() -> None:
    with aimon.Monitor("m", reference=REFERENCE) as mon:

        @mon.watch
        def predict(features: dict) -> float:
            return 0.9  # a model stuck on one score

        for record in rows(1500, seed=13):
            predict(record)
        snap = mon.snapshot()
    assert snap.drift_window is not None and snap.drift_window.prediction == "score"
    assert snap.drift["score"].count == 1500
    assert snap.drift["score"].drifted
    assert "score" in snap.drift_window.drifted


def test_batch_predictions_count_each_element() -> None:
    with aimon.Monitor("m", reference=REFERENCE) as mon:

        @mon.watch
        def predict(frame: pd.DataFrame) -> np.ndarray:
            return np.full(len(frame), 0.5)

        predict(pd.DataFrame(rows(300, seed=14)))
        snap = mon.snapshot()
    assert snap.drift["score"].count == 300
    assert snap.drift["age"].count == 300


def test_metrics_exported() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    with aimon.Monitor("m", reference=REFERENCE) as mon:
        observe_all(mon, rows(500, age_shift=10.0, seed=15))
        registry = CollectorRegistry()
        registry.register(aimon.AimonCollector([mon]))
        text = generate_latest(registry).decode()
    assert 'aimon_feature_drift{feature="age",method="psi",model="m",version=""}' in text
    assert 'aimon_feature_drift{feature="age",method="ks_pvalue"' in text
    assert 'aimon_feature_drifted{feature="age",model="m",version=""} 1.0' in text
    assert 'aimon_feature_bin_total{bin="[-inf,' in text
    assert 'aimon_reference_bin_ratio{bin="free",feature="plan"' in text


def test_bad_drift_settings_name_the_field(tmp_path) -> None:
    with pytest.raises(aimon.ConfigError, match=r"reference: .*no such file"):
        aimon.Monitor("m", reference=tmp_path / "missing.json")
    with pytest.raises(aimon.ConfigError, match="drift_events"):
        aimon.Monitor("m", reference=REFERENCE, drift_events=5)
    with pytest.raises(aimon.ConfigError, match="drift_methods: unknown method 'bogus'"):
        aimon.Monitor("m", reference=REFERENCE, drift_methods="psi,bogus")
    with pytest.raises(aimon.ConfigError, match="drift_window"):
        aimon.Monitor("m", reference=REFERENCE, drift_window="soon")
    path = tmp_path / "ref.json"
    REFERENCE.save(path)
    with aimon.Monitor("m", reference=str(path), drift_methods=["psi"]) as mon:
        observe_all(mon, rows(100, seed=16))
        assert mon.snapshot().drift["age"].ks is None


def test_no_verdict_before_enough_values() -> None:
    drifted = rows(100, age_shift=15.0, seed=17)
    with aimon.Monitor("m", reference=REFERENCE) as mon:
        observe_all(mon, drifted)
        snap = mon.snapshot()
    assert snap.drift["age"].psi is not None and snap.drift["age"].psi > 0.5
    assert not snap.drift["age"].drifted and snap.drift["age"].method is None
    with aimon.Monitor("m", reference=REFERENCE, drift_min_count=50) as mon:
        observe_all(mon, drifted)
        assert mon.snapshot().drift["age"].drifted
    with pytest.raises(aimon.ConfigError, match="drift_min_count"):
        aimon.Monitor("m", reference=REFERENCE, drift_min_count=-1)


def test_a_new_reference_after_a_restart_is_the_one_drift_is_measured_against() -> None:
    old = aimon.Reference.from_frame({"x": np.random.default_rng(0).normal(0, 1, 2000)})
    new = aimon.Reference.from_frame({"x": np.random.default_rng(0).normal(5, 1, 2000)})
    live = np.random.default_rng(1).normal(5, 1, 600)
    rows, ts = [{"x": float(v)} for v in live], [time.time()] * 600
    first = aimon.Monitor("m", reference=old)
    first.observe_many(ts, latency_s=[0.01] * 600, features=rows)
    assert first.snapshot().drift["x"].psi > 1.0  # far from the old reference
    state = pickle.loads(pickle.dumps(first.export_state()))
    first.close()
    again = aimon.Monitor("m", reference=old)
    again.restore_state(state)  # the same reference: drift goes on from the checkpoint
    assert again.snapshot().drift["x"].count == 600
    again.close()
    second = aimon.Monitor("m", reference=new)
    second.restore_state(state)
    second.observe_many(ts, latency_s=[0.01] * 600, features=rows)
    snap = second.snapshot()
    second.close()
    assert snap.drift["x"].count == 600 and snap.drift["x"].psi < 0.1  # against the new one
    assert snap.dropped["drift_reset"] == 1 and snap.totals.calls == 1200


def age_batch(n: int, seed: int) -> FeatureBatch:
    return extract(pd.DataFrame({"age": np.random.default_rng(seed).normal(40, 10, n)}))


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(st.tuples(st.integers(1, 20), st.floats(-900, 300)), min_size=1, max_size=40)
)
def test_the_time_window_holds_the_rows_of_its_last_12_slices_in_any_order(
    batches: list[tuple[int, float]],
) -> None:
    """Batches a little out of order (the inputs of calls made before the outputs counted at
    fold time) count in their own slice, also when older than every slice yet made; those
    older than the window do not count."""
    tracker = DriftTracker(REFERENCE, window_s=3600, seed=0)  # 12 slices of 300 s
    clock, placed = 1_000_000.0, []
    for i, (n, offset) in enumerate(batches):
        clock += 120.0
        tracker.add(age_batch(n, i), clock + offset)
        placed.append((n, math.floor((clock + offset) / 300)))
    newest = max(key for _, key in placed)
    now = clock + 300
    horizon = max(newest, math.floor(now / 300))
    want = sum(n for n, key in placed if key > horizon - 12)
    assert tracker.rows(now) == want
    assert tracker.verdicts(now)["age"].counts.present == want
    assert len(tracker._ring) <= 12


def test_a_batch_older_than_every_slice_but_inside_the_window_counts() -> None:
    tracker = DriftTracker(REFERENCE, window_s=3600, seed=0)
    tracker.add(age_batch(10, 0), 1_000_000.0)
    tracker.add(age_batch(5, 1), 1_000_000.0 - 1000)  # three slices back
    tracker.add(age_batch(7, 2), 1_000_000.0 - 3600)  # twelve back: out of the window
    assert tracker.rows(1_000_000.0) == 15


@pytest.mark.parametrize("events", [None, 1200])
def test_verdicts_are_computed_again_only_when_the_counts_or_the_window_change(
    events: int | None,
) -> None:
    """A scrape that finds no new rows reuses the verdicts; new rows, and slices leaving the
    window, give new ones, equal to a fresh tracker's; a checkpoint carries no verdicts."""
    tracker = DriftTracker(REFERENCE, window_s=3600, events=events, seed=0)
    tracker.add(age_batch(600, 0), 1_000_000.0)
    first = tracker.verdicts(1_000_000.0)
    assert tracker.verdicts(1_000_010.0) is first  # the same slices, nothing added
    tracker.add(age_batch(600, 1), 1_000_020.0)
    second = tracker.verdicts(1_000_020.0)
    assert second is not first
    assert second["age"].counts.present == 1200
    restored = pickle.loads(pickle.dumps(tracker))
    assert restored._verdicts is None
    again = restored.verdicts(1_000_020.0)
    assert again["age"].results["ks"].statistic == second["age"].results["ks"].statistic
    if events is None:  # an hour and more later every slice has left the window
        assert tracker.verdicts(1_000_000.0 + 7200)["age"].counts.present == 0


@pytest.mark.parametrize("events", [None, 120])
def test_a_pickle_of_the_deque_layout_restores(events: int | None) -> None:
    """A checkpoint taken before the SliceRing (the slices, or the chunks, in one deque sorted
    by key) goes on as the tracker it was."""

    def old_layout(tracker: DriftTracker) -> DriftTracker:
        state = dict(pickle.loads(pickle.dumps(tracker)).__dict__)
        ring, chunks = state.pop("_ring"), state.pop("_chunks")
        state["_slices"] = chunks if events is not None else deque(ring)
        old = DriftTracker.__new__(DriftTracker)
        old.__setstate__(state)
        return old

    straight = DriftTracker(REFERENCE, window_s=3600, events=events, seed=7)
    tracker = DriftTracker(REFERENCE, window_s=3600, events=events, seed=7)
    now = 1_000_000.0
    for part in range(3):
        for i in range(20):
            now += 250.0
            batch = age_batch(9, 100 * part + i)
            straight.add(batch, now)
            tracker.add(batch, now)
        tracker = old_layout(tracker)
        assert tracker.rows(now) == straight.rows(now)
        got, want = tracker.verdicts(now)["age"], straight.verdicts(now)["age"]
        assert got.counts.bins.tolist() == want.counts.bins.tolist()
        assert got.results == want.results
        assert tracker.same_settings(straight)
    assert np.array_equal(tracker.bin_totals["age"], straight.bin_totals["age"])
