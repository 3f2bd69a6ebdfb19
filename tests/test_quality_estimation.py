"""aimon.quality.estimation and aimon.quality.cbpe: CBPE equal to NannyML's, merge laws, and
the estimate against the realised metrics on scikit-learn's breast-cancer data."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata
from sklearn import metrics
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aimon.quality import QualityError
from aimon.quality.cbpe import EstimatedQuality, PerformanceEstimator
from aimon.quality.estimation import ESTIMATED_METRICS, EstimationStats

ORACLE = json.loads((Path(__file__).parent / "data" / "cbpe_oracle.json").read_text())
FEATURES = load_breast_cancer(return_X_y=True)


def _split(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """As tests/data/make_cbpe_oracle.py: a logistic regression on mean radius and mean
    texture trained on 40 % of the rows; reference and live scores and labels, 30 % each."""
    x, y = FEATURES
    x_train, x_rest, y_train, y_rest = train_test_split(
        x[:, [0, 1]], y, train_size=0.4, random_state=seed, stratify=y
    )
    x_ref, x_live, y_ref, y_live = train_test_split(
        x_rest, y_rest, train_size=0.5, random_state=seed, stratify=y_rest
    )
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x_train, y_train)
    return model.predict_proba(x_ref)[:, 1], y_ref, model.predict_proba(x_live)[:, 1], y_live


def _realised(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    predicted = scores >= 0.5
    return {
        "accuracy": metrics.accuracy_score(labels, predicted),
        "precision": metrics.precision_score(labels, predicted, zero_division=0),
        "recall": metrics.recall_score(labels, predicted, zero_division=0),
        "f1": metrics.f1_score(labels, predicted, zero_division=0),
        "roc_auc": metrics.roc_auc_score(labels, scores),
    }


def _expected_roc_auc(p: np.ndarray) -> float:
    """The area under the expected ROC curve through every row (NannyML's docs, by hand)."""
    p = np.sort(p)[::-1]
    tpr = np.concatenate([[0.0], np.cumsum(p) / p.sum()])
    fpr = np.concatenate([[0.0], np.cumsum(1.0 - p) / (1.0 - p).sum()])
    return float(metrics.auc(fpr, tpr))


def _oracle_estimator(run: str) -> tuple[PerformanceEstimator, np.ndarray]:
    method = "identity" if run == "noop" else "isotonic"
    scores = np.array(ORACLE["reference_scores"])
    est = PerformanceEstimator.fit(scores, ORACLE["reference_labels"], calibration=method)
    return est, np.array(ORACLE["live_scores"])


@pytest.mark.parametrize("run", ["noop", "isotonic", "default"])
def test_equals_nannyml_per_chunk(run: str) -> None:
    est, live = _oracle_estimator(run)
    for chunk in ORACLE[run]["chunks"]:
        q = est.estimate_scores(live[chunk["start"] : chunk["end"]])
        for name in ("accuracy", "precision", "recall", "f1"):
            assert getattr(q, name) == pytest.approx(chunk[name], abs=1e-12), name
        # NannyML rounds its expected counts to 5 decimals before the curve.
        assert q.roc_auc_error_bound is not None
        assert abs(q.roc_auc - chunk["roc_auc"]) <= q.roc_auc_error_bound + 1e-5


def test_nannyml_calibrates_as_aimon_isotonic() -> None:
    est, live = _oracle_estimator("isotonic")
    assert ORACLE["default"]["needs_calibration"]  # NannyML's own choice on these scores
    np.testing.assert_allclose(est.calibration(live), ORACLE["isotonic"]["calibrated_live_scores"])


@pytest.mark.parametrize("calibration", ["identity", "isotonic", "sigmoid"])
def test_binned_auc_within_its_bound_below_the_exact_curve(calibration: str) -> None:
    ref, ref_y, live, _ = _split(0)
    est = PerformanceEstimator.fit(ref, ref_y, calibration=calibration)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    # the live scores, a U-shaped 100k, and 500 scores in the first bin: the bound is tight
    # where scores spread over the bins and large (yet holding) where they share one
    cases = ((live, 2e-3), (rng.beta(0.5, 0.5, 100_000), 2e-3), (rng.uniform(0.0, 1e-3, 500), 0.1))
    for scores, most in cases:
        q = est.estimate_scores(np.concatenate([scores, [0.999]]))
        exact = _expected_roc_auc(est.calibration(np.concatenate([scores, [0.999]])))
        assert q.roc_auc is not None
        assert q.roc_auc_error_bound is not None
        assert 0.0 <= exact - q.roc_auc <= q.roc_auc_error_bound + 1e-12
        assert q.roc_auc_error_bound < most


def test_bins_hold_ties_exactly_and_the_bound_is_of_the_bins() -> None:
    stats = EstimationStats(bins=4)
    stats.add(np.array([0.1, 0.1, 0.3, 0.3, 0.9]), np.array([False, False, False, False, True]))
    est = stats.estimates()
    assert est["roc_auc"] == pytest.approx(_expected_roc_auc(np.array([0.1, 0.1, 0.3, 0.3, 0.9])))
    assert est["roc_auc_error_bound"] == pytest.approx(0.0, abs=1e-12)
    stats.add(np.array([0.05, 0.2]), np.array([False, False]))  # two values in bin [0, 0.25)
    est = stats.estimates()
    exact = _expected_roc_auc(np.array([0.1, 0.1, 0.3, 0.3, 0.9, 0.05, 0.2]))
    assert 0.0 < exact - est["roc_auc"] <= est["roc_auc_error_bound"]


def _stats_of(p: np.ndarray, predicted: np.ndarray, bins: int = 64) -> EstimationStats:
    stats = EstimationStats(bins)
    stats.add(p, predicted)
    return stats


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=200),
    st.data(),
)
def test_merging_slices_in_any_grouping_equals_the_union(
    values: list[float], data: st.DataObject
) -> None:
    p = np.array(values)
    predicted = np.array(data.draw(st.lists(st.booleans(), min_size=p.size, max_size=p.size)))
    cuts = sorted(data.draw(st.lists(st.integers(0, p.size), max_size=6)))
    slices = [
        _stats_of(p[a:b], predicted[a:b]) for a, b in zip([0, *cuts], [*cuts, p.size], strict=True)
    ]
    order = data.draw(st.permutations(range(len(slices))))
    merged = EstimationStats(64)
    pairs = [slices[i] for i in order]
    while len(pairs) > 1:  # merge in a tree of the drawn order, not only left to right
        pairs = [
            *(_merged(pairs[i], pairs[i + 1]) for i in range(0, len(pairs) - 1, 2)),
            *pairs[len(pairs) - len(pairs) % 2 :],
        ]
    merged.merge(pairs[0])
    whole = _stats_of(p, predicted)
    np.testing.assert_array_equal(merged.counts, whole.counts)
    np.testing.assert_allclose(merged.sums, whole.sums, atol=1e-9)
    np.testing.assert_allclose(merged.squares, whole.squares, atol=1e-9)
    mine, theirs = merged.estimates(), whole.estimates()
    assert mine.keys() == theirs.keys()
    for key, value in theirs.items():
        assert mine[key] == pytest.approx(value, abs=1e-9), key


def _merged(a: EstimationStats, b: EstimationStats) -> EstimationStats:
    out = a.copy()
    out.merge(b)
    return out


def test_merge_refuses_other_bins_and_copy_is_independent() -> None:
    a = _stats_of(np.array([0.2, 0.7]), np.array([False, True]))
    with pytest.raises(QualityError):
        a.merge(EstimationStats(32))
    b = a.copy()
    b.merge(a)
    assert (a.count, b.count) == (2, 4)
    back = EstimationStats.from_dict(json.loads(json.dumps(b.to_dict())))
    assert back.estimates() == b.estimates()


def test_breast_cancer_chunks_inside_their_intervals() -> None:
    ref, ref_y, live, live_y = _split(0)
    est = PerformanceEstimator.fit(ref, ref_y)
    for chunk in np.array_split(np.arange(live.size), 3):
        q = est.estimate_scores(live[chunk])
        for name, value in _realised(live_y[chunk], live[chunk]).items():
            lower, upper = q.interval(name)  # type: ignore[misc]
            assert lower <= value <= upper, (name, value, lower, upper)


def _coverage(z: float, chunks: int) -> tuple[dict[str, float], dict[str, float]]:
    """Over 40 random splits of the breast-cancer data, the share of live chunks whose
    realised metric is inside the estimate +- z standard errors; and the mean of
    (realised - estimate) / standard error."""
    inside = dict.fromkeys(ESTIMATED_METRICS, 0)
    bias = dict.fromkeys(ESTIMATED_METRICS, 0.0)
    total = 0
    for seed in range(40):
        ref, ref_y, live, live_y = _split(seed)
        est = PerformanceEstimator.fit(ref, ref_y, interval_z=z)
        for chunk in np.array_split(np.arange(live.size), chunks):
            q = est.estimate_scores(live[chunk])
            total += 1
            for name, value in _realised(live_y[chunk], live[chunk]).items():
                lower, upper = q.interval(name)  # type: ignore[misc]
                inside[name] += lower <= value <= upper
                bias[name] += (value - getattr(q, name)) / q.std_error[name]
    return {m: inside[m] / total for m in inside}, {m: bias[m] / total for m in bias}


def test_interval_coverage_on_real_labels() -> None:
    coverage, bias = _coverage(1.96, chunks=3)
    for name in ESTIMATED_METRICS:
        assert 0.88 <= coverage[name] <= 1.0, (name, coverage[name])
        assert abs(bias[name]) < 0.75, (name, bias[name])


def test_interval_coverage_where_calibration_holds_by_construction() -> None:
    """The breast-cancer live scores, calibrated, with labels drawn from them: the variance
    formulas alone are tested (95 % promised at z = 1.96)."""
    ref, ref_y, live, _ = _split(0)
    est = PerformanceEstimator.fit(ref, ref_y, interval_z=1.96)
    p = est.calibration(live)
    labels = np.random.default_rng(1).uniform(size=(2000, p.size)) < p
    predicted = live >= 0.5
    realised = _realised_rows(labels, predicted, live)
    for row in range(3):  # the vectorised metrics are scikit-learn's
        for name, value in _realised(labels[row], live).items():
            assert realised[name][row] == pytest.approx(value), name
    q = est.estimate_scores(live)
    for name in ESTIMATED_METRICS:
        lower, upper = q.interval(name)  # type: ignore[misc]
        share = np.mean((lower <= realised[name]) & (realised[name] <= upper))
        assert 0.93 <= share <= (0.97 if name != "roc_auc" else 1.0), (name, share)


def _realised_rows(
    labels: np.ndarray, predicted: np.ndarray, scores: np.ndarray
) -> dict[str, np.ndarray]:
    """The realised metrics of each row of labels (one draw per row), by counting."""
    tp = (labels & predicted).sum(axis=1)
    fn = (labels & ~predicted).sum(axis=1)
    fp = predicted.sum() - tp
    positives = labels.sum(axis=1)
    negatives = labels.shape[1] - positives
    ranks = rankdata(scores)
    u = (labels * ranks).sum(axis=1) - positives * (positives + 1) / 2.0
    return {
        "accuracy": (labels == predicted).mean(axis=1),
        "precision": tp / predicted.sum(),
        "recall": tp / positives,
        "f1": 2.0 * tp / (2.0 * tp + fp + fn),
        "roc_auc": u / (positives * negatives),
    }


def test_covariate_shift_toward_harder_cases_lowers_estimate_with_realised() -> None:
    """The live rows whose score is nearest 0.5 are a selection on the inputs alone, so
    P(y | x) and the calibration are kept while the task gets harder."""
    ref, ref_y, live, live_y = _split(0)
    est = PerformanceEstimator.fit(ref, ref_y)
    hard = np.argsort(np.abs(live - 0.5))[:57]
    everything, shifted = est.estimate_scores(live), est.estimate_scores(live[hard])
    realised_all, realised_hard = _realised(live_y, live), _realised(live_y[hard], live[hard])
    for name in ("accuracy", "f1", "roc_auc"):
        assert getattr(shifted, name) < getattr(everything, name) - 0.1, name
        assert realised_hard[name] < realised_all[name] - 0.1, name
        lower, upper = shifted.interval(name)  # type: ignore[misc]
        assert lower <= realised_hard[name] <= upper, name


def test_predicted_labels_given_or_from_the_threshold() -> None:
    est = PerformanceEstimator.fit(
        [0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0], calibration="identity", threshold=0.3
    )
    scores = np.array([0.9, 0.6, 0.25, 0.05])
    by_threshold = est.estimate_scores(scores)
    given = est.estimate_scores(scores, predicted=scores >= 0.3)
    assert by_threshold == given
    assert by_threshold.precision == pytest.approx((0.9 + 0.6) / 2)
    flipped = est.estimate_scores(scores, predicted=[False, False, True, True])
    assert flipped.accuracy == pytest.approx((0.1 + 0.4 + 0.25 + 0.05) / 4)


def test_undefined_estimates_and_bad_input() -> None:
    est = PerformanceEstimator.fit([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0], calibration="identity")
    empty = est.estimate(est.new_stats())
    assert (empty.count, empty.values(), empty.interval("f1")) == (0, {}, None)
    certain = est.estimate_scores([0.0, 0.0])
    assert certain.roc_auc is None
    assert (certain.accuracy, certain.precision, certain.recall) == (1.0, 0.0, 0.0)
    stats = est.new_stats()
    for scores, predicted in (
        ([0.5, 1.5], None),
        ([0.5, float("nan")], None),
        ([0.5], [True, False]),
    ):
        with pytest.raises(QualityError):
            est.add(stats, scores, predicted)
    assert stats.count == 0
    with pytest.raises(QualityError):
        PerformanceEstimator(est.calibration, threshold=1.5)


def test_estimator_round_trips_and_pickles() -> None:
    ref, ref_y, live, _ = _split(1)
    est = PerformanceEstimator.fit(ref, ref_y, calibration="sigmoid", interval_z=2.0)
    for back in (
        PerformanceEstimator.from_dict(json.loads(json.dumps(est.to_dict()))),
        pickle.loads(pickle.dumps(est)),
    ):
        assert back.estimate_scores(live) == est.estimate_scores(live)
        assert back.reference == est.reference


def test_change_against_the_reference_estimate() -> None:
    ref, ref_y, live, _ = _split(0)
    est = PerformanceEstimator.fit(ref, ref_y)
    assert isinstance(est.reference, EstimatedQuality)
    hard = est.estimate_scores(live[np.argsort(np.abs(live - 0.5))[:57]])
    change = hard.change(est.reference)
    assert set(change) == set(ESTIMATED_METRICS)
    assert change["accuracy"] == pytest.approx(hard.accuracy - est.reference.accuracy)  # type: ignore[operator]
    assert change["accuracy"] < -0.1
