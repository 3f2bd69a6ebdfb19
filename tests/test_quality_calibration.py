"""aimon.quality.calibration: the maps against scikit-learn and scipy, the choice, ECE."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.isotonic import IsotonicRegression

from aimon.quality import QualityError
from aimon.quality.calibration import Calibration, expected_calibration_error, fit_calibration


def _rows(n: int, seed: int, truth: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Scores with ties (3 decimals) and labels drawn as Bernoulli(score ** truth)."""
    rng = np.random.default_rng(seed)
    scores = np.round(rng.beta(2.0, 2.0, n), 3)
    return scores, rng.uniform(size=n) < scores**truth


@pytest.mark.parametrize(("n", "seed"), [(5, 0), (40, 1), (1000, 2), (5000, 3)])
def test_isotonic_equals_scikit_learn(n: int, seed: int) -> None:
    scores, labels = _rows(n, seed, truth=2.0)
    cal = fit_calibration(scores, labels, "isotonic")
    oracle = IsotonicRegression(out_of_bounds="clip").fit(scores, labels)
    queries = np.concatenate([np.linspace(0.0, 1.0, 1001), scores])
    np.testing.assert_allclose(cal(queries), oracle.predict(queries), atol=1e-12)
    assert np.all(np.diff(cal(np.linspace(0.0, 1.0, 101))) >= 0.0)


def test_sigmoid_minimises_platts_loss() -> None:
    scores, labels = _rows(500, 4, truth=3.0)
    cal = fit_calibration(scores, labels, "sigmoid")
    logit = np.log(scores.clip(1e-12, 1 - 1e-12)) - np.log1p(-scores.clip(1e-12, 1 - 1e-12))
    n_pos, n_neg = labels.sum(), (~labels).sum()
    target = np.where(labels, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

    def loss(ab: np.ndarray) -> float:
        z = ab[0] * logit + ab[1]
        return float(np.sum(np.logaddexp(0.0, z) - target * z))

    oracle = minimize(loss, x0=[0.0, 0.0], method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(cal.coef, oracle, atol=1e-5)
    inside = cal(np.array([1e-3, 0.5, 1.0 - 1e-3]))
    assert 0.0 < inside[0] < inside[1] < inside[2] < 1.0


def test_auto_keeps_calibrated_scores_and_fixes_miscalibrated_ones() -> None:
    calibrated = fit_calibration(*_rows(4000, 5))
    assert calibrated.method == "identity"
    assert calibrated.already_calibrated
    assert calibrated.ece_raw < 0.03
    skewed = fit_calibration(*_rows(4000, 6, truth=3.0))
    assert not skewed.already_calibrated
    assert skewed.ece_raw > 0.15
    assert skewed.ece_calibrated is not None
    assert skewed.ece_calibrated < 0.04


def test_expected_calibration_error_by_hand() -> None:
    # bins [0.1, 0.2): mean p 0.15, positives 1/2; [0.9, 1.0]: mean p 0.95, positives 1.
    ece = expected_calibration_error([0.1, 0.2 - 1e-9, 0.9, 1.0], [0, 1, 1, 1])
    assert ece == pytest.approx(0.5 * abs(0.5 - 0.15) + 0.5 * abs(1.0 - 0.95))


@pytest.mark.parametrize("method", ["identity", "sigmoid", "isotonic"])
def test_round_trip_through_json(method: str) -> None:
    scores, labels = _rows(300, 7, truth=2.0)
    cal = fit_calibration(scores, labels, method)  # type: ignore[arg-type]
    back = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    queries = np.linspace(0.0, 1.0, 257)
    np.testing.assert_array_equal(back(queries), cal(queries))
    assert (back.method, back.ece_raw, back.ece_calibrated) == (
        cal.method,
        cal.ece_raw,
        cal.ece_calibrated,
    )


@pytest.mark.parametrize(
    ("scores", "labels", "method"),
    [
        ([], [], "isotonic"),
        ([0.2, 0.3], [1], "isotonic"),
        ([0.2, 1.3], [1, 0], "isotonic"),
        ([0.2, float("nan")], [1, 0], "sigmoid"),
        ([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], "auto"),  # too few rows per class to choose
    ],
)
def test_bad_rows_raise(scores: list[float], labels: list[int], method: str) -> None:
    with pytest.raises(QualityError):
        fit_calibration(scores, labels, method)  # type: ignore[arg-type]
