"""Multivariate drift wired in (issue 15 part 3): the Monitor's whole-row samples scored with
the reference's reconstruction fit, its export and default rule, checkpoints, and the batch
comparison and CLI, on scikit-learn's breast-cancer data."""

from __future__ import annotations

import io
import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import aimon
from aimon.cli import main
from aimon.drift import compare
from aimon.drift.row_sample import RowSample, stack
from aimon.exporters.prometheus import render
from aimon.rule_engine import Evaluator
from aimon.snapshot import Snapshot
from aimon.thresholds import Thresholds
from tests.test_drift_multivariate import FEATURES, flipped, halves


def _data() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).data[FEATURES]


def _live(reference: pd.DataFrame, live: pd.DataFrame) -> Snapshot:
    """A Monitor's snapshot after ``live`` twice over (the drift rules ask for 500 values)."""
    profile = aimon.Reference.from_frame(reference, multivariate=True)
    rows = pd.concat([live, live], ignore_index=True)
    with aimon.Monitor("mv", reference=profile, window="1h") as mon:
        mon.observe_many(
            [time.time()] * len(rows),
            latency_s=[0.01] * len(rows),
            features=rows.to_dict("records"),
        )
        return mon.snapshot()


def _firing(snap: Snapshot) -> set[str]:
    """The default rules firing on ``snap`` held for an hour."""
    evaluator = Evaluator(Thresholds(), "mv", None)
    evaluator.evaluate(snap, 1_000_000.0)
    alerts = evaluator.evaluate(snap, 1_000_000.0 + 3600)
    return {a.labels["alertname"] for a in alerts if a.state == "firing"}


def test_a_flipped_correlation_fires_the_multivariate_rule_and_no_per_feature_rule() -> None:
    data = _data()
    snap = _live(data.iloc[::2], flipped(data.iloc[1::2], "mean radius"))
    reading = snap.multivariate_drift
    assert reading is not None
    assert reading.rows == reading.sampled == 2 * len(data.iloc[1::2])
    assert reading.error > reading.upper  # measured 1.53 against 0.97, as in batch
    assert reading.drifted
    assert all(d.count >= 500 and not d.drifted for d in snap.drift.values())
    assert _firing(snap) == {"MultivariateDrift"}
    exported = {f.name: [s.value for s in f.samples] for f in render([snap])}
    assert exported["aimon_multivariate_drifted"] == [1.0]
    assert exported["aimon_multivariate_reconstruction_error"] == [reading.error]
    assert exported["aimon_multivariate_reconstruction_upper"] == [reading.upper]


def test_random_halves_stay_quiet_live() -> None:
    data = _data()
    for seed in range(10):
        snap = _live(*halves(data, seed))
        assert snap.multivariate_drift is not None
        assert not snap.multivariate_drift.drifted, seed
        assert "MultivariateDrift" not in _firing(snap), seed


def test_no_verdict_before_the_sample_is_worth_a_reference_chunk() -> None:
    data = _data()
    snap = _live(data.iloc[::2], flipped(data.iloc[1::2], "mean radius").iloc[:10])
    reading = snap.multivariate_drift
    assert reading is not None and reading.chunk_size == 28
    assert reading.effective_rows == 20 and not reading.drifted


def test_the_row_samples_survive_a_checkpoint_and_a_new_reference_starts_afresh() -> None:
    data = _data()
    profile = aimon.Reference.from_frame(data.iloc[::2], multivariate=True)
    rows = data.iloc[1::2].to_dict("records")
    with aimon.Monitor("mv", reference=profile, window="1h") as first:
        first.observe_many([time.time()] * len(rows), latency_s=[0.01] * len(rows), features=rows)
        before = first.snapshot().multivariate_drift
        state = pickle.loads(pickle.dumps(first.export_state()))
    assert before is not None
    with aimon.Monitor("mv", reference=profile, window="1h") as second:
        second.restore_state(state)
        assert second.snapshot().multivariate_drift == before
    other = aimon.Reference.from_frame(data.iloc[1::2], multivariate=True)
    with aimon.Monitor("mv", reference=other, window="1h") as third:
        third.restore_state(state)
        assert third.snapshot().multivariate_drift is None


def test_a_reference_without_the_fit_measures_nothing() -> None:
    data = _data()
    profile = aimon.Reference.from_frame(data.iloc[::2])
    assert profile.multivariate is None
    with aimon.Monitor("mv", reference=profile, window="1h") as mon:
        mon.observe(latency_s=0.01, features=data.iloc[0].to_dict())
        assert mon.snapshot().multivariate_drift is None


def test_the_reservoir_keeps_every_row_alike() -> None:
    """Each of 40 rows offered in batches of 7 lands in a 10-row sample a quarter of the
    time (2,000 trials: a binomial's 5 standard deviations is 0.05)."""
    rng = np.random.default_rng(0)
    kept = np.zeros(40)
    for _ in range(2000):
        sample = RowSample(capacity=10, width=2)
        rows = np.c_[np.arange(40.0), -np.arange(40.0)]
        for start in range(0, 40, 7):
            sample.add(rows[start : start + 7], rng)
        assert sample.kept == 10 and sample.seen == 40
        assert np.array_equal(sample.rows[:, 1], -sample.rows[:, 0])  # rows stay whole
        kept[sample.rows[:, 0].astype(int)] += 1
    np.testing.assert_allclose(kept / 2000, 0.25, atol=0.05)
    copy = pickle.loads(pickle.dumps(sample))
    assert np.array_equal(stack([copy])[0], stack([sample])[0])


def test_compare_and_the_cli_report_and_exit_on_multivariate_drift(tmp_path: Path) -> None:
    data = _data()
    reference, current = data.iloc[::2], flipped(data.iloc[1::2], "mean radius")
    from_frame = compare(reference, current, multivariate=True).multivariate
    profile = aimon.Reference.from_frame(reference, multivariate=True)
    from_profile = compare(profile, current, multivariate=True).multivariate
    assert from_frame is not None and from_profile is not None
    assert from_frame.reconstruction == from_profile.reconstruction
    assert from_profile.drifted and from_profile.classifier.auc > 0.9
    assert compare(reference, current).multivariate is None
    with pytest.raises(ValueError, match="no multivariate part"):
        compare(aimon.Reference.from_frame(reference), current, multivariate=True)

    reference.to_csv(tmp_path / "ref.csv", index=False)
    current.to_csv(tmp_path / "cur.csv", index=False)
    data.iloc[1::2].to_csv(tmp_path / "same.csv", index=False)
    out = io.StringIO()
    assert main(["reference", "build", str(tmp_path / "ref.csv"), "-o",
                 str(tmp_path / "ref.json"), "--multivariate"], out) == 0  # fmt: skip
    assert main(["drift", str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv")], out) == 0
    for ref in ("ref.csv", "ref.json"):
        out = io.StringIO()
        args = ["drift", str(tmp_path / ref), str(tmp_path / "cur.csv"), "--multivariate"]
        assert main(args, out) == 1
        assert "multivariate drift on 4 numeric columns: DRIFT" in out.getvalue()
        args = ["drift", str(tmp_path / ref), str(tmp_path / "same.csv"), "--multivariate"]
        assert main(args, io.StringIO()) == 0
