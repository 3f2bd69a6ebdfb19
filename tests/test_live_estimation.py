"""Quality estimated in the Monitor from scores before labels arrive (CBPE, issue 15), on
scikit-learn's breast-cancer data with a two-feature logistic regression (well calibrated,
not perfectly separating: its estimates have room to be wrong)."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

import aimon
from aimon.exporters.prometheus import render
from aimon.rule_engine import Evaluator
from aimon.thresholds import Thresholds

FEATURES = ["mean radius", "mean texture"]


def _data(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(reference, live): scored rows with their labels, the model fitted on a third."""
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    order = np.random.default_rng(seed).permutation(len(y))
    train, ref, live = np.array_split(order, 3)
    model = LogisticRegression(max_iter=1000).fit(x.iloc[train][FEATURES], y.iloc[train])

    def scored(rows: np.ndarray) -> pd.DataFrame:
        frame = x.iloc[rows][FEATURES].reset_index(drop=True)
        frame["score"] = model.predict_proba(frame[FEATURES])[:, 1]
        frame["label"] = y.iloc[rows].to_numpy()
        return frame

    return scored(ref), scored(live)


def _observe(mon: aimon.Monitor, live: pd.DataFrame) -> list[str]:
    ids = [f"r{i}" for i in range(len(live))]
    mon.observe_many(
        [time.time()] * len(live),
        latency_s=[0.01] * len(live),
        features=live[FEATURES].to_dict("records"),
        predictions=live["score"].tolist(),
        request_ids=ids,
    )
    return ids


def test_estimated_quality_before_labels_then_realised_beside_it() -> None:
    reference, live = _data(0)
    profile = aimon.Reference.from_frame(reference, target="label", prediction="score")
    with aimon.Monitor("cbpe", reference=profile, window="1h") as mon:
        ids = _observe(mon, live)
        snap = mon.snapshot()
        estimated = snap.estimated_quality
        assert estimated is not None and estimated.count == len(live)
        assert snap.quality is None  # no label yet
        exported = {
            (family.name, sample.labels.get("metric"))
            for family in render([snap])
            for sample in family.samples
        }
        assert ("aimon_estimated_quality", "accuracy") in exported
        assert ("aimon_reference_estimated_quality", "roc_auc") in exported
        predicted = live["score"] >= 0.5
        realised = {
            "accuracy": accuracy_score(live["label"], predicted),
            "f1": f1_score(live["label"], predicted),
            "roc_auc": roc_auc_score(live["label"], live["score"]),
        }
        for metric, value in realised.items():
            low, high = estimated.interval(metric) or (np.nan, np.nan)
            assert low <= value <= high, (metric, low, value, high)
        for rid, label in zip(ids, live["label"].tolist(), strict=True):
            mon.record_outcome(rid, label)
        snap = mon.snapshot()
        assert snap.quality is not None and snap.quality.count == len(live)
        assert snap.quality.accuracy == pytest.approx(realised["accuracy"])
        assert snap.estimated_quality is not None  # side by side once labels arrive


def test_estimated_quality_falls_with_the_realised_under_covariate_shift() -> None:
    """Live traffic drawn toward the hard cases (scores near 0.5): the estimate falls below
    the reference's before any label, as the realised accuracy does, and the default rule
    EstimatedQualityBelowReference fires."""
    reference, live = _data(1)
    hard = live.iloc[(live["score"] - 0.5).abs().argsort()[: len(live) // 3]]
    hard = pd.concat([hard] * 10, ignore_index=True)  # the rule asks for 500 scores
    profile = aimon.Reference.from_frame(reference, target="label", prediction="score")
    with aimon.Monitor("cbpe", reference=profile, window="1h") as mon:
        _observe(mon, hard)
        snap = mon.snapshot()
    estimated = snap.estimated_quality
    assert estimated is not None and estimated.accuracy is not None
    realised = accuracy_score(hard["label"], hard["score"] >= 0.5)
    assert snap.estimated_quality_change["accuracy"] < -0.1
    low, high = estimated.interval("accuracy") or (np.nan, np.nan)
    assert low <= realised <= high
    evaluator = Evaluator(Thresholds(), "cbpe", None)
    evaluator.evaluate(snap, 1_000_000.0)
    alerts = evaluator.evaluate(snap, 1_000_000.0 + 3600)
    assert "EstimatedQualityBelowReference" in {
        a.labels["alertname"] for a in alerts if a.state == "firing"
    }


def test_unshifted_traffic_raises_no_estimated_quality_alert_across_seeds() -> None:
    for seed in range(10):
        reference, live = _data(seed)
        profile = aimon.Reference.from_frame(reference, target="label", prediction="score")
        with aimon.Monitor("cbpe", reference=profile, window="1h") as mon:
            _observe(mon, pd.concat([live] * 3, ignore_index=True))
            snap = mon.snapshot()
        evaluator = Evaluator(Thresholds(), "cbpe", None)
        evaluator.evaluate(snap, 1_000_000.0)
        alerts = evaluator.evaluate(snap, 1_000_000.0 + 3600)
        assert "EstimatedQualityBelowReference" not in {a.labels["alertname"] for a in alerts}


def test_outputs_that_are_no_score_are_counted_and_the_state_survives_a_checkpoint() -> None:
    reference, live = _data(2)
    profile = aimon.Reference.from_frame(reference, target="label", prediction="score")
    with aimon.Monitor("cbpe", reference=profile, window="1h") as first:
        _observe(first, live)
        first.observe(latency_s=0.01, prediction="yes")
        first.observe(latency_s=0.01, prediction=1.5)
        snap = first.snapshot()
        assert snap.dropped["estimation_invalid"] == 2
        state = pickle.loads(pickle.dumps(first.export_state()))
    with aimon.Monitor("cbpe", reference=profile, window="1h") as second:
        second.restore_state(state)
        assert second.snapshot().estimated_quality == snap.estimated_quality
