"""Outcomes in the library: Monitor.record_outcome, the join with predictions, quality per
window slice, Snapshot.quality, Prometheus and threshold rules on quality."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sklearn import metrics as skm

import aimon
from aimon.errors import ConfigError
from aimon.exporters.prometheus import AimonCollector
from aimon.thresholds import Rule, Thresholds


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _monitor(clock, **settings):
    return aimon.Monitor("q", version="1", window="10m", slice="10s", clock=clock, **settings)


def _feed(mon, clock, actuals, predictions, *, outcome_first=False):
    assert len(actuals) == len(predictions)
    if outcome_first:
        for i, a in enumerate(actuals):
            mon.record_outcome(f"r{i}", a, ts=clock.now)
    for i, p in enumerate(predictions):
        mon.observe(latency_s=0.01, prediction=p, request_id=f"r{i}", ts=clock.now)
    if not outcome_first:
        mon.flush()
        for i, a in enumerate(actuals):
            mon.record_outcome(f"r{i}", a, ts=clock.now + 1)


def test_classification_through_the_monitor_equals_sklearn():
    rng = np.random.default_rng(1)
    actual = rng.integers(0, 3, 300).tolist()
    predicted = [a if rng.random() < 0.7 else int(rng.integers(0, 3)) for a in actual]
    clock = FakeClock()
    with _monitor(clock) as mon:
        _feed(mon, clock, actual, predicted)
        snap = mon.snapshot()
    q = snap.quality
    assert q is not None and q.task == "classification" and q.count == 300
    assert q.accuracy == pytest.approx(skm.accuracy_score(actual, predicted))
    assert q.f1_macro == pytest.approx(skm.f1_score(actual, predicted, average="macro"))
    assert q.precision_macro == pytest.approx(
        skm.precision_score(actual, predicted, average="macro")
    )
    assert snap.outcomes["matched"] == 300


def test_binary_scores_with_early_outcomes_equal_sklearn():
    rng = np.random.default_rng(2)
    actual = rng.integers(0, 2, 400).tolist()
    scores = np.clip(np.array(actual) * 0.4 + rng.random(400) * 0.6, 0, 1).tolist()
    clock = FakeClock()
    with _monitor(clock) as mon:
        _feed(mon, clock, actual, scores, outcome_first=True)
        q = mon.snapshot().quality
    assert q is not None and q.task == "binary_score" and q.count == 400
    labels = [int(s >= 0.5) for s in scores]
    assert q.accuracy == pytest.approx(skm.accuracy_score(actual, labels))
    assert q.f1 == pytest.approx(skm.f1_score(actual, labels))
    assert q.log_loss == pytest.approx(skm.log_loss(actual, scores))
    assert abs(q.roc_auc - skm.roc_auc_score(actual, scores)) <= q.roc_auc_error_bound + 1e-12


def test_regression_set_explicitly_equals_sklearn():
    rng = np.random.default_rng(3)
    actual = (rng.random(50) * 10).tolist()
    predicted = [a + rng.normal() for a in actual]
    clock = FakeClock()
    with _monitor(clock, quality_task="regression") as mon:
        _feed(mon, clock, actual, predicted)
        q = mon.snapshot().quality
    assert q is not None and q.task == "regression" and q.count == 50
    assert q.mae == pytest.approx(skm.mean_absolute_error(actual, predicted))
    assert q.rmse == pytest.approx(skm.mean_squared_error(actual, predicted) ** 0.5)
    assert q.r2 == pytest.approx(skm.r2_score(actual, predicted))


def test_decorated_calls_join_outcomes_by_current_request_id():
    clock = FakeClock()
    with _monitor(clock) as mon:
        predict = mon.watch(features=False)(lambda x: int(x > 0))
        ids = []
        for x in (-2, -1, 1, 2):
            predict(x)
            ids.append(aimon.current_request_id())
        for rid, actual in zip(ids, (0, 1, 1, 1), strict=True):
            mon.record_outcome(rid, actual)
        q = mon.snapshot().quality
    assert q is not None and q.count == 4 and q.accuracy == 0.75


def test_outcome_results_are_counted_and_memory_bounded():
    clock = FakeClock()
    with _monitor(clock, outcome_ttl="1m", max_pending_predictions=10) as mon:
        for i in range(20):  # ten are evicted at once
            mon.observe(latency_s=0.01, prediction=1, request_id=f"r{i}", ts=clock.now)
        mon.flush()
        mon.record_outcome("r19", 1)
        mon.record_outcome("r19", 1)  # duplicate
        mon.record_outcome("r9", 1)  # its prediction was evicted: expired
        mon.record_outcome("nope", 1)  # waits, then unknown
        clock.now += 120
        mon.flush()
        snap = mon.snapshot()
    assert snap.outcomes["matched"] == 1 and snap.outcomes["duplicate"] == 1
    assert snap.outcomes["expired"] == 1 and snap.outcomes["unknown"] == 1
    assert snap.outcomes["predictions_held"] == 0


def test_quality_leaves_with_the_window():
    clock = FakeClock()
    with _monitor(clock) as mon:
        _feed(mon, clock, [1, 0] * 60, [1, 1] * 60)
        assert mon.snapshot().quality.count == 120
        clock.now += 3600
        assert mon.snapshot().quality is None


def _scrape(mon) -> dict:
    registry = CollectorRegistry()
    registry.register(AimonCollector([mon]))
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_prometheus_exports_quality_and_outcomes():
    clock = FakeClock()
    with _monitor(clock) as mon:
        _feed(mon, clock, [1, 0, 1, 1] * 30, [1, 0, 0, 1] * 30)
        mon.record_outcome("r0", 1)
        samples = _scrape(mon)
    base = (("model", "q"), ("version", "1"))
    accuracy = (("metric", "accuracy"), *base)
    assert samples[("aimon_model_quality", tuple(sorted(accuracy)))] == 0.75
    assert samples[("aimon_model_quality_pairs", base)] == 120
    assert samples[("aimon_outcomes_total", tuple(sorted((*base, ("result", "matched")))))] == 120
    dup = tuple(sorted((*base, ("result", "duplicate"))))
    assert samples[("aimon_outcomes_total", dup)] == 1


def test_rule_fires_on_low_f1_for_30_minutes():
    clock = FakeClock()
    rule = Rule(name="F1Low", metric="f1", op="<", value=0.8, for_="30m", min_count=50)
    with _monitor(clock, thresholds=Thresholds(rules=[rule]), quality_task="classification") as m:
        n = 0

        def minute(good: bool) -> None:
            nonlocal n
            for _ in range(10):
                rid = f"r{n}"
                n += 1
                m.observe(latency_s=0.01, prediction=1 if good else 0, request_id=rid, ts=clock.now)
                m.record_outcome(rid, 1, ts=clock.now)
            clock.now += 60

        for _ in range(10):
            minute(good=True)
        assert m.check() == []
        states = []
        for _ in range(45):
            minute(good=False)
            states.append([a.state for a in m.check()])
        assert states[5] == ["pending"]
        assert states[-1] == ["firing"]
        assert m.snapshot().quality.f1 < 0.8


def test_rule_needs_min_count_matched_pairs():
    clock = FakeClock()
    rule = Rule(name="F1Low", metric="f1", op="<", value=0.8, min_count=50)
    with _monitor(clock, thresholds=Thresholds(rules=[rule])) as m:
        _feed(m, clock, [1] * 10, [0] * 10)
        assert m.snapshot().quality.f1 == 0.0
        assert m.check() == []
    with pytest.raises(ValueError):
        Rule(name="x", metric="f1", value=0.8, feature="a")


def test_join_and_quality_survive_export_and_restore():
    clock = FakeClock()
    with _monitor(clock) as first:
        for i in range(150):
            first.observe(latency_s=0.01, prediction=1, request_id=f"r{i}", ts=clock.now)
        first.flush()
        for i in range(100):
            first.record_outcome(f"r{i}", 1)
        state = pickle.loads(pickle.dumps(first.export_state()))
    with _monitor(clock) as second:
        second.restore_state(state)
        for i in range(150):  # the first hundred again (duplicates), then fifty new matches
            second.record_outcome(f"r{i}", 1)
        snap = second.snapshot()
    assert snap.quality.count == 150
    assert snap.outcomes["matched"] == 150 and snap.outcomes["duplicate"] == 100


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError):
        aimon.Monitor("bad", quality_task="ranking")
    with pytest.raises(ConfigError):
        aimon.Monitor("bad", max_pending_predictions=0)


def test_predictions_nobody_can_know_are_not_held():
    clock = FakeClock()
    with _monitor(clock) as mon:
        predict = mon.watch(features=False)(lambda x: 1)
        for x in range(50):
            predict(x)  # no id asked for, no event log, no outcome yet: nothing to join
        assert mon.snapshot().outcomes == {}
        predict(0)
        rid = aimon.current_request_id()  # asked for: held
        predict(1)
        mon.flush()
        mon.record_outcome(rid, 1)
        for x in range(3):  # once outcomes are recorded, every prediction is held
            predict(x)
        snap = mon.snapshot()
    assert snap.outcomes["matched"] == 1 and snap.outcomes["predictions_held"] == 3


def test_quality_measured_otherwise_before_a_restart_is_forgotten():
    clock = FakeClock()
    with _monitor(clock, quality_task="binary_score") as first:
        _feed(first, clock, [1] * 50, [0.4] * 50)  # below 0.5: all wrong
        assert first.snapshot().quality.accuracy == 0.0
        state = pickle.loads(pickle.dumps(first.export_state()))
    settings = {"quality_task": "binary_score", "quality_threshold": 0.3}
    with _monitor(clock, **settings) as second:
        second.restore_state(state)  # same slice: the old statistics must not take new pairs
        for i in range(50, 80):
            second.observe(latency_s=0.01, prediction=0.4, request_id=f"r{i}", ts=clock.now)
        second.flush()
        for i in range(50, 80):
            second.record_outcome(f"r{i}", 1, ts=clock.now + 1)
        clock.now += 60
        q = second.snapshot()
    assert q.quality is not None and q.quality.threshold == 0.3
    assert (q.quality.count, q.quality.accuracy) == (30, 1.0)
    assert q.dropped["quality_settings_changed"] == 50


def test_pairs_that_do_not_fit_the_task_are_counted_apart_from_the_rest():
    clock = FakeClock()
    actual = [1, 0] * 500
    actual[17] = actual[600] = "yes"  # not a label of a binary score's task
    with _monitor(clock, quality_task="binary_score") as mon:
        _feed(mon, clock, actual, [0.9, 0.1] * 500)
        snap = mon.snapshot()
    assert snap.quality.count == 998 and snap.quality.accuracy == 1.0
    assert snap.dropped["outcome_invalid"] == 2


def test_remembered_ids_are_a_setting():
    clock = FakeClock()
    with _monitor(clock, max_pending_predictions=10, max_remembered_ids=5) as mon:
        _feed(mon, clock, [1] * 10, [1] * 10)  # ten matched: their ids remembered, five kept
        for i in range(10):
            mon.record_outcome(f"r{i}", 1, ts=clock.now + 2)
        outcomes = mon.snapshot().outcomes
    assert outcomes["matched"] == 10
    # the five forgotten ids look new: their outcomes wait for a prediction (unknown later)
    assert outcomes["duplicate"] == 5 and outcomes["waiting"] == 5
    with pytest.raises(ConfigError, match="max_remembered_ids: must be 0 or more"):
        aimon.Monitor("bad", max_remembered_ids=-1)


def test_a_batch_joins_around_bad_timestamps_and_outputs_quality_cannot_score():
    clock = FakeClock()
    with _monitor(clock) as mon:
        mon.observe_many(
            np.full(6, clock.now),
            predictions=[1, np.int64(0), None, {"not": "scored"}, 1],  # one short of the ids
            request_ids=[f"r{i}" for i in range(6)],
            errors=[None, None, None, None, "Boom", None],
        )
        mon.record_outcomes(
            [(f"r{i}", 1, clock.now + 1) for i in range(6)]
            + [("r0", 1, float("nan")), ("x", 0, float("inf"))]
        )
        snap = mon.snapshot()
    # r0 and r1 are held and matched; r2-r5 were never held (no output, an unscorable one,
    # an error, none given): their outcomes wait, unknown later
    assert snap.outcomes["matched"] == 2 and snap.outcomes["waiting"] == 4
    assert snap.dropped["outcome_invalid"] == 2
    assert snap.outcomes["predictions_held"] == 0


def test_a_bad_prediction_timestamp_stops_the_join_where_it_is():
    """The predictions before a non-finite ts are held, the rest are not (an internal error
    is counted), as when each was given to the join alone."""
    clock = FakeClock()
    with _monitor(clock) as mon:
        mon.record_outcomes([("early", 1, clock.now)])  # outcomes seen: every id is held
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy on a NaN slice id
            mon.observe_many(
                [clock.now, clock.now, float("nan"), clock.now],
                predictions=[1, 0, 1, 1],
                request_ids=["a", "b", "c", "d"],
            )
        mon.record_outcomes([(rid, 1, clock.now + 1) for rid in "abcd"])
        outcomes = mon.snapshot().outcomes
    assert outcomes["matched"] == 2 and outcomes["waiting"] == 3
