"""Calibration of a binary classifier's scores on labelled reference rows: a monotone map from
a score to the probability that the row is positive, fitted once, numpy only.

Three maps (:data:`CalibrationMethod`):

* ``"identity"``: the scores are taken as they are (already calibrated);
* ``"sigmoid"``: Platt scaling, ``1 / (1 + exp(-(a * logit(score) + b)))``, fitted by Newton's
  method on Platt's smoothed targets (Platt 1999, as scikit-learn's ``method="sigmoid"``);
  strictly between 0 and 1 on scores away from 0 and 1, so it suits small references;
* ``"isotonic"``: the pool-adjacent-violators fit, interpolated linearly between its knots and
  clipped outside them, equal to scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``
  (NannyML's calibrator). On a small reference it maps whole ranges to exactly 0 or 1.

``"auto"`` (the default) compares the maps' cross-validated log loss on the reference
(stratified folds, each map fitted on the other folds): a proper scoring rule, so a map that
claims certainty (isotonic's 0 and 1) where the held-out fold has errors loses. The scores are
kept as they are unless a map's mean loss per row is lower than theirs by more than two
standard errors of the rows' paired differences (a sigmoid always fits a little better by
chance, having the identity among its maps); of the maps that are, the lowest wins. Whether
the scores were already calibrated is reported as their expected calibration error (ECE, 10
equal-width bins; NannyML uses equal-count bins) beside the cross-validated ECE of the chosen
map, as NannyML decides whether to calibrate (its "Appendix: Probability calibration",
https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from aimon.quality.metrics import EPS, QualityError

__all__ = [
    "Calibration",
    "CalibrationMethod",
    "expected_calibration_error",
    "fit_calibration",
]

CalibrationMethod = Literal["identity", "sigmoid", "isotonic"]
#: Folds of the cross-validation that ``method="auto"`` chooses the map by.
_FOLDS = 3
_METHODS: tuple[CalibrationMethod, ...] = get_args(CalibrationMethod)
#: Scores are clipped this far inside (0, 1) before the logit (sigmoid map).
_LOGIT_CLIP = 1e-12


class Calibration:
    """A fitted calibration map and how well the reference's scores were calibrated.

    Call it on scores to get calibrated probabilities. ``ece_raw`` is the reference's ECE as
    scored, ``ece_calibrated`` the cross-validated ECE of the map's probabilities on the same
    rows (each fold calibrated by a map fitted without it; None with fewer than 3 rows of
    a class); ``already_calibrated`` says the
    chosen map is the identity. Serialisable with :meth:`to_dict` / :meth:`from_dict`.

    >>> cal = fit_calibration([0.1, 0.2, 0.3, 0.6, 0.7, 0.9], [0, 0, 1, 0, 1, 1], "isotonic")
    >>> cal(np.array([0.15, 0.45, 0.95])).round(3).tolist()
    [0.0, 0.5, 1.0]
    """

    __slots__ = ("coef", "ece_calibrated", "ece_raw", "knots", "method", "values")

    def __init__(
        self,
        method: CalibrationMethod,
        *,
        knots: NDArray[np.float64] | None = None,
        values: NDArray[np.float64] | None = None,
        coef: tuple[float, float] = (1.0, 0.0),
        ece_raw: float | None = None,
        ece_calibrated: float | None = None,
    ) -> None:
        if method not in get_args(CalibrationMethod):
            raise QualityError(f"unknown calibration method {method!r}")
        self.method: CalibrationMethod = method
        self.knots = np.zeros(0) if knots is None else np.asarray(knots, dtype=np.float64)
        self.values = np.zeros(0) if values is None else np.asarray(values, dtype=np.float64)
        if method == "isotonic" and (self.knots.size == 0 or self.knots.size != self.values.size):
            raise QualityError("an isotonic calibration needs as many knots as values, >= 1")
        self.coef = (float(coef[0]), float(coef[1]))
        self.ece_raw = ece_raw
        self.ece_calibrated = ece_calibrated

    @property
    def already_calibrated(self) -> bool:
        """The reference's scores were kept as they are (the identity map was best)."""
        return self.method == "identity"

    def __call__(self, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated probabilities of ``scores`` (floats in [0, 1])."""
        if self.method == "isotonic":
            return np.interp(scores, self.knots, self.values)
        if self.method == "sigmoid":
            return _sigmoid(self.coef[0] * _logit(scores) + self.coef[1])
        return scores

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (:meth:`from_dict` reads it back)."""
        return {
            "method": self.method,
            "knots": self.knots.tolist(),
            "values": self.values.tolist(),
            "coef": list(self.coef),
            "ece_raw": self.ece_raw,
            "ece_calibrated": self.ece_calibrated,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        """The calibration written by :meth:`to_dict`."""
        a, b = data["coef"]
        return cls(
            data["method"],
            knots=np.asarray(data["knots"], dtype=np.float64),
            values=np.asarray(data["values"], dtype=np.float64),
            coef=(a, b),
            ece_raw=data.get("ece_raw"),
            ece_calibrated=data.get("ece_calibrated"),
        )


def fit_calibration(
    scores: Any,
    labels: Any,
    method: CalibrationMethod | Literal["auto"] = "auto",
    *,
    seed: int = 0,
) -> Calibration:
    """Fit a calibration map on labelled rows.

    Parameters:
        scores: the model's scores of the positive class, in [0, 1].
        labels: whether each row is positive (bools or 0/1).
        method: ``"identity"``, ``"sigmoid"``, ``"isotonic"`` or ``"auto"`` (the one of
            lowest cross-validated log loss).
        seed: the folds' shuffle (the fit is deterministic for a given seed).

    Raises :class:`QualityError` when the rows are empty, the lengths differ, a score is
    outside [0, 1] or not finite, or ``"auto"`` has fewer than 3 rows of a class.

    >>> scores = np.linspace(0.01, 0.99, 300)
    >>> cal = fit_calibration(scores, scores ** 2 > np.random.default_rng(1).uniform(size=300))
    >>> cal.method, round(cal.ece_raw, 3), round(cal.ece_calibrated, 3)
    ('sigmoid', 0.183, 0.049)
    """
    s, y = _rows(scores, labels)
    folds = _stratified_folds(y, seed)
    chosen: CalibrationMethod
    if method != "auto":
        chosen = method
    elif folds is None:
        raise QualityError(
            f"choosing a calibration needs >= {_FOLDS} rows of each class: pass method="
        )
    else:
        chosen = _choose(y, {m: _log_losses(y, _cross_validated(s, y, m, folds)) for m in _METHODS})
    fitted = _fit(s, y, chosen)
    fitted.ece_raw = expected_calibration_error(s, y)
    if folds is not None:
        fitted.ece_calibrated = expected_calibration_error(_cross_validated(s, y, chosen, folds), y)
    return fitted


def expected_calibration_error(probabilities: Any, labels: Any, bins: int = 10) -> float:
    """ECE: over ``bins`` equal-width bins of the probabilities, the row-weighted mean of
    ``|share of positives - mean probability|`` (Naeini et al. 2015; NannyML's check).

    >>> expected_calibration_error([0.2, 0.2, 0.8, 0.8], [0, 1, 1, 1])
    0.25
    """
    p, y = _rows(probabilities, labels)
    where = np.minimum((p * bins).astype(np.intp), bins - 1)
    gap = np.bincount(where, weights=y - p, minlength=bins)
    return float(np.abs(gap).sum() / p.size)


def _rows(scores: Any, labels: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool).astype(np.float64)
    if s.size == 0 or s.size != y.size:
        raise QualityError(f"calibration needs as many labels as scores, >= 1: {s.size}, {y.size}")
    if not np.all((s >= 0.0) & (s <= 1.0)):
        raise QualityError("calibration scores must be finite and in [0, 1]")
    return s, y


def _fit(s: NDArray[np.float64], y: NDArray[np.float64], method: CalibrationMethod) -> Calibration:
    if method == "isotonic":
        knots, values = _isotonic(s, y)
        return Calibration("isotonic", knots=knots, values=values)
    if method == "sigmoid":
        return Calibration("sigmoid", coef=_platt(_logit(s), y))
    return Calibration("identity")


def _isotonic(
    s: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Pool adjacent violators on the unique scores (ties pooled first, as scikit-learn's);
    the knots kept are each block's first and last score, which interpolate the same."""
    x, inverse, weight = np.unique(s, return_inverse=True, return_counts=True)
    target = np.bincount(inverse, weights=y) / weight
    means: list[float] = []
    weights: list[float] = []
    sizes: list[int] = []
    for t, w in zip(target.tolist(), weight.tolist(), strict=True):
        mean, total, size = t, float(w), 1
        while means and means[-1] >= mean:
            prev_w = weights.pop()
            mean = (means.pop() * prev_w + mean * total) / (prev_w + total)
            total += prev_w
            size += sizes.pop()
        means.append(mean)
        weights.append(total)
        sizes.append(size)
    fitted = np.repeat(means, sizes)
    change = np.ones(x.size, dtype=bool)
    change[1:-1] = (fitted[1:-1] != fitted[:-2]) | (fitted[1:-1] != fitted[2:])
    return x[change], fitted[change]


def _platt(f: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float]:
    """Platt's sigmoid on ``f`` by Newton's method, targets smoothed towards 1/2 by one row of
    each class (Platt 1999), which keeps a separable reference from an infinite slope."""
    n_pos = float(y.sum())
    n_neg = y.size - n_pos
    t = np.where(y > 0, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    a, b = 1.0, 0.0
    for _ in range(100):
        p = _sigmoid(a * f + b)
        w = np.maximum(p * (1.0 - p), 1e-12)
        r = p - t
        grad = np.array([np.dot(r, f), r.sum()])
        hess = np.array([[np.dot(w * f, f), np.dot(w, f)], [np.dot(w, f), w.sum()]])
        step = np.linalg.solve(hess + 1e-12 * np.eye(2), grad)
        a, b = a - float(step[0]), b - float(step[1])
        if np.max(np.abs(step)) < 1e-10:
            break
    return a, b


def _stratified_folds(y: NDArray[np.float64], seed: int) -> NDArray[np.intp] | None:
    """Each row's fold: the rows of each class shuffled and dealt round-robin (None with
    fewer rows of a class than folds)."""
    if min(y.sum(), y.size - y.sum()) < _FOLDS:
        return None
    rng = np.random.default_rng(seed)
    folds = np.empty(y.size, dtype=np.intp)
    for cls in (0.0, 1.0):
        rows = rng.permutation(np.flatnonzero(y == cls))
        folds[rows] = np.arange(rows.size) % _FOLDS
    return folds


def _cross_validated(
    s: NDArray[np.float64],
    y: NDArray[np.float64],
    method: CalibrationMethod,
    folds: NDArray[np.intp],
) -> NDArray[np.float64]:
    out = np.empty_like(s)
    for k in range(_FOLDS):
        test = folds == k
        out[test] = _fit(s[~test], y[~test], method)(s[test])
    return out


def _choose(
    y: NDArray[np.float64], losses: dict[CalibrationMethod, NDArray[np.float64]]
) -> CalibrationMethod:
    raw = losses["identity"]
    best: CalibrationMethod = "identity"
    for method, loss in losses.items():
        gain = raw - loss
        significant = gain.mean() > 2.0 * gain.std() / np.sqrt(y.size)
        if significant and loss.mean() < losses[best].mean():
            best = method
    return best


def _log_losses(y: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
    p = np.clip(p, EPS, 1.0 - EPS)
    out: NDArray[np.float64] = -(y * np.log(p) + (1.0 - y) * np.log1p(-p))
    return out


def _logit(s: NDArray[np.float64]) -> NDArray[np.float64]:
    c = np.clip(s, _LOGIT_CLIP, 1.0 - _LOGIT_CLIP)
    return np.log(c) - np.log1p(-c)


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out
