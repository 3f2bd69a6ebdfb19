"""Drift statistics: pure functions comparing a reference sample with a current one.

Each works on raw samples (numpy arrays, pandas Series, lists: NaN/None/inf dropped and
counted, strings read as categories) and, where the method is about shares, on counts per
bin (``*_from_counts``), which is what the streaming windows keep. Every function returns a
:class:`DriftResult`. The numbers equal scipy's and Evidently's on the same data and bins:

* :func:`ks` equals ``scipy.stats.ks_2samp`` (statistic and p-value, ``method="auto"``),
* :func:`psi`, :func:`jensen_shannon`, :func:`hellinger` equal Evidently's on its bins
  (``bins="evidently"``) and fill empty bins the way Evidently does,
* :func:`wasserstein` equals ``scipy.stats.wasserstein_distance`` (raw) and Evidently's
  normed distance (divided by the reference's standard deviation),
* :func:`chi_square` and :func:`z_test` equal Evidently's categorical tests.

Default thresholds are Evidently's: p-value tests drift below 0.05, distances at or above 0.1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special
from scipy import stats as sps

from aimon.drift.kolmogorov import kstwo_sf
from aimon.drift.samples import (
    Bins,
    Sample,
    as_sample,
    binned_counts,
    category_counts,
    fill_empty,
    sturges_counts,
)

__all__ = [
    "DriftResult",
    "chi_square",
    "chi_square_from_counts",
    "hellinger",
    "hellinger_from_counts",
    "jensen_shannon",
    "jensen_shannon_from_counts",
    "ks",
    "ks_sorted",
    "psi",
    "psi_from_counts",
    "wasserstein",
    "wasserstein_sorted",
    "z_test",
    "z_test_from_counts",
]

# scipy.stats.ks_2samp's method="auto": exact p-values up to this sample size.
_KS_MAX_EXACT = 10_000
# Evidently divides the Wasserstein distance by max(std(reference), this).
_WASSERSTEIN_MIN_NORM = 0.001
# Values beyond this are scaled down before the Wasserstein distance (see _power_of_two_scale).
_LARGE = 2.0**500


@dataclass(frozen=True, slots=True)
class DriftResult:
    """One drift statistic between a reference and a current sample.

    ``pvalue`` is None for distances. ``drifted`` applies the method's rule: a p-value below
    the threshold (KS: at or below, as Evidently), a distance at or above it.
    """

    method: str
    statistic: float
    pvalue: float | None
    threshold: float
    drifted: bool
    n_reference: int = 0
    n_current: int = 0
    missing_reference: int = 0
    missing_current: int = 0

    @property
    def score(self) -> float:
        """The number the verdict is about: the p-value of a test, else the statistic."""
        return self.pvalue if self.pvalue is not None else self.statistic

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


def _result(
    method: str,
    statistic: float,
    pvalue: float | None,
    threshold: float,
    reference: Sample | NDArray[Any],
    current: Sample | NDArray[Any],
    *,
    pvalue_inclusive: bool = False,
) -> DriftResult:
    if pvalue is None:
        drifted = statistic >= threshold
    else:
        drifted = pvalue <= threshold if pvalue_inclusive else pvalue < threshold
    return DriftResult(
        method=method,
        statistic=float(statistic),
        pvalue=None if pvalue is None else float(pvalue),
        threshold=float(threshold),
        drifted=bool(drifted),
        n_reference=_size(reference),
        n_current=_size(current),
        missing_reference=reference.missing if isinstance(reference, Sample) else 0,
        missing_current=current.missing if isinstance(current, Sample) else 0,
    )


def _size(side: Sample | NDArray[Any]) -> int:
    return side.size if isinstance(side, Sample) else int(np.sum(side))


def _samples(reference: Any, current: Any, **options: Any) -> tuple[Sample, Sample]:
    ref, cur = as_sample(reference, **options), as_sample(current, **options)
    for side, sample in (("reference", ref), ("current", cur)):
        if sample.size == 0:
            raise ValueError(f"the {side} sample has no values (missing: {sample.missing})")
    return ref, cur


def _shares(counts: ArrayLike, side: str) -> NDArray[np.float64]:
    array = np.asarray(counts, dtype=np.float64)
    total = float(array.sum())
    if array.ndim != 1 or total <= 0 or np.any(array < 0):
        raise ValueError(f"{side} counts must be a 1-D array of non-negative numbers, not all 0")
    return array / total


def _paired(reference: ArrayLike, current: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
    ref, cur = np.asarray(reference), np.asarray(current)
    if ref.shape != cur.shape:
        raise ValueError(f"counts differ in length: reference {ref.shape}, current {cur.shape}")
    return ref, cur


# --- Population stability index ----------------------------------------------------------


def psi(reference: Any, current: Any, *, bins: Bins = 10, threshold: float = 0.1) -> DriftResult:
    """Population stability index, ``sum((p - q) * ln(p / q))`` over bins (numeric: quantile
    bins of the reference by default) or categories (the union of both samples').

    >>> rng = np.random.default_rng(0)
    >>> psi(rng.normal(size=5000), rng.normal(size=5000)).drifted
    False
    >>> psi(rng.normal(size=5000), rng.normal(1.0, size=5000)).drifted
    True
    """
    return _binned("psi", reference, current, bins, threshold)


def psi_from_counts(
    reference: ArrayLike, current: ArrayLike, *, threshold: float = 0.1
) -> DriftResult:
    """PSI from counts (or shares) in the same bins; empty bins filled as Evidently does."""
    return _counted("psi", reference, current, threshold)


def _psi_value(p: NDArray[np.float64], q: NDArray[np.float64]) -> float:
    p, q = fill_empty(p), fill_empty(q)
    return float(np.sum((p - q) * np.log(p / q)))


# --- Jensen-Shannon and Hellinger distances ----------------------------------------------


def jensen_shannon(
    reference: Any, current: Any, *, bins: Bins = 10, threshold: float = 0.1
) -> DriftResult:
    """Jensen-Shannon distance (natural log, as ``scipy.spatial.distance.jensenshannon``)
    between the two samples' shares of each bin or category; in ``[0, sqrt(ln 2)]``."""
    return _binned("jensen_shannon", reference, current, bins, threshold)


def jensen_shannon_from_counts(
    reference: ArrayLike, current: ArrayLike, *, threshold: float = 0.1
) -> DriftResult:
    """Jensen-Shannon distance from counts in the same bins (empty bins stay empty)."""
    return _counted("jensen_shannon", reference, current, threshold)


def _jensen_shannon_value(p: NDArray[np.float64], q: NDArray[np.float64]) -> float:
    m = (p + q) / 2.0
    divergence = (special.rel_entr(p, m).sum() + special.rel_entr(q, m).sum()) / 2.0
    return math.sqrt(max(float(divergence), 0.0))


def hellinger(
    reference: Any, current: Any, *, bins: Bins = 10, threshold: float = 0.1
) -> DriftResult:
    """Hellinger distance ``sqrt(1 - sum(sqrt(p * q)))`` between the shares of each bin or
    category; in ``[0, 1]``. With ``bins="evidently"`` numbers are binned as Evidently's
    Hellinger test bins them (Sturges' histogram over the distinct values)."""
    ref, cur = _samples(reference, current)
    if bins == "evidently" and ref.numeric and cur.numeric:
        ref_counts, cur_counts = sturges_counts(ref, cur)
    else:
        ref_counts, cur_counts = binned_counts(ref, cur, bins)
    return _on_shares("hellinger", ref_counts, cur_counts, threshold, ref, cur)


def hellinger_from_counts(
    reference: ArrayLike, current: ArrayLike, *, threshold: float = 0.1
) -> DriftResult:
    """Hellinger distance from counts in the same bins."""
    return _counted("hellinger", reference, current, threshold)


def _hellinger_value(p: NDArray[np.float64], q: NDArray[np.float64]) -> float:
    overlap = min(max(float(np.sqrt(p * q).sum()), 0.0), 1.0)
    return math.sqrt(1.0 - overlap)


_SHARE_DISTANCES = {
    "psi": _psi_value,
    "jensen_shannon": _jensen_shannon_value,
    "hellinger": _hellinger_value,
}


def _binned(method: str, reference: Any, current: Any, bins: Bins, threshold: float) -> DriftResult:
    ref, cur = _samples(reference, current)
    ref_counts, cur_counts = binned_counts(ref, cur, bins)
    return _on_shares(method, ref_counts, cur_counts, threshold, ref, cur)


def _counted(
    method: str, reference: ArrayLike, current: ArrayLike, threshold: float
) -> DriftResult:
    ref, cur = _paired(reference, current)
    return _on_shares(method, ref, cur, threshold, ref, cur)


def _on_shares(
    method: str,
    ref_counts: ArrayLike,
    cur_counts: ArrayLike,
    threshold: float,
    ref: Sample | NDArray[Any],
    cur: Sample | NDArray[Any],
) -> DriftResult:
    """A distance between the two sides' shares of the same bins."""
    p, q = _shares(ref_counts, "reference"), _shares(cur_counts, "current")
    return _result(method, _SHARE_DISTANCES[method](p, q), None, threshold, ref, cur)


# --- Categorical tests -------------------------------------------------------------------


def chi_square(reference: Any, current: Any, *, threshold: float = 0.05) -> DriftResult:
    """Pearson's chi-square test of the current category counts against the reference's
    shares (values read as categories, the union of both samples'); as Evidently's test."""
    ref, cur = _samples(reference, current, categorical=True)
    _, ref_counts, cur_counts = category_counts(ref, cur)
    return _chi_square(ref_counts, cur_counts, threshold, ref, cur)


def chi_square_from_counts(
    reference: ArrayLike, current: ArrayLike, *, threshold: float = 0.05
) -> DriftResult:
    """Chi-square test from counts per category (the same categories on both sides)."""
    ref, cur = _paired(reference, current)
    return _chi_square(ref, cur, threshold, ref, cur)


def _chi_square(
    ref_counts: ArrayLike,
    cur_counts: ArrayLike,
    threshold: float,
    ref: Sample | NDArray[Any],
    cur: Sample | NDArray[Any],
) -> DriftResult:
    observed = np.asarray(cur_counts, dtype=np.float64)
    _shares(observed, "current")
    expected = _shares(ref_counts, "reference") * observed.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(observed == expected, 0.0, (observed - expected) ** 2 / expected)
    statistic = float(terms.sum())
    pvalue = float(sps.chi2.sf(statistic, max(observed.size - 1, 1)))
    return _result("chi_square", statistic, pvalue, threshold, ref, cur)


def z_test(reference: Any, current: Any, *, threshold: float = 0.05) -> DriftResult:
    """Two-proportion z-test for a feature with two values (Evidently's choice for binary
    columns): the share of the values other than the first (in sorted order) on each side."""
    ref, cur = _samples(reference, current, categorical=True)
    labels, ref_counts, cur_counts = category_counts(ref, cur)
    if len(labels) > 2:
        raise ValueError(f"z_test compares two categories, got {len(labels)}: use chi_square")
    return _z_test(ref_counts, cur_counts, threshold, ref, cur)


def z_test_from_counts(
    reference: ArrayLike, current: ArrayLike, *, threshold: float = 0.05
) -> DriftResult:
    """Two-proportion z-test from the counts of two categories on each side."""
    ref, cur = _paired(reference, current)
    if ref.size > 2:
        raise ValueError(f"z_test compares two categories, got {ref.size}: use chi_square")
    return _z_test(ref, cur, threshold, ref, cur)


def _z_test(
    ref_counts: ArrayLike,
    cur_counts: ArrayLike,
    threshold: float,
    ref: Sample | NDArray[Any],
    cur: Sample | NDArray[Any],
) -> DriftResult:
    r = np.asarray(ref_counts, dtype=np.float64)
    c = np.asarray(cur_counts, dtype=np.float64)
    n1, n2 = float(r.sum()), float(c.sum())
    if n1 <= 0 or n2 <= 0:
        raise ValueError("z_test needs at least one value on each side")
    if np.count_nonzero(r + c) <= 1:  # one and the same value on both sides
        return _result("z_test", 0.0, 1.0, threshold, ref, cur)
    p1, p2 = float(r[1:].sum()) / n1, float(c[1:].sum()) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    # Evidently's formula, 2 * (1 - cdf), rather than 2 * sf, so tiny p-values agree.
    pvalue = 2 * (1 - float(sps.norm.cdf(abs(z))))
    return _result("z_test", z, pvalue, threshold, ref, cur)


# --- Tests on sorted samples: Kolmogorov-Smirnov and Wasserstein -------------------------


def ks(
    reference: Any,
    current: Any,
    *,
    threshold: float = 0.05,
    reference_sorted: bool = False,
) -> DriftResult:
    """Two-sample Kolmogorov-Smirnov test; statistic and p-value equal
    ``scipy.stats.ks_2samp(reference, current)`` (two-sided, ``method="auto"``).

    The reference is sorted once; pass ``reference_sorted=True`` when it already is (a
    :class:`~aimon.drift.reference.Reference` keeps its sample sorted).

    >>> r = ks([1.0, 2.0, 3.0, 4.0], [3.5, 4.5, 5.5, 6.5])
    >>> r.statistic, round(r.pvalue, 4)
    (0.75, 0.2286)
    """
    ref = as_sample(reference, is_sorted=reference_sorted)
    cur = as_sample(current)
    _samples(ref, cur)
    return ks_sorted(
        ref.sorted_values(), cur.sorted_values(), threshold=threshold, sides=(ref, cur)
    )


def ks_sorted(
    reference: NDArray[np.float64],
    current: NDArray[np.float64],
    *,
    current_weights: NDArray[np.float64] | None = None,
    threshold: float = 0.05,
    sides: tuple[Sample, Sample] | None = None,
    exact: bool = True,
) -> DriftResult:
    """KS on samples already sorted (and cleaned). With ``current_weights`` the current
    sample is weighted (each value stands for that many live values, a merged reservoir); its
    size for the p-value is then Kish's effective size. ``exact=False`` takes the p-value from
    the asymptotic distribution (``ks_2samp(method="asymp")``) even for small samples."""
    _, ref_cdf, cur_cdf = _merged_cdfs(reference, current, current_weights)
    statistic = float(np.max(np.abs(ref_cdf - cur_cdf))) if ref_cdf.size else 0.0
    n_current = current.size
    if current_weights is not None:
        total = float(current_weights.sum())
        n_current = max(round(total**2 / float(np.square(current_weights).sum())), 1)
    pvalue = _ks_pvalue(statistic, reference.size, n_current, exact)
    ref_side: Sample | NDArray[Any] = sides[0] if sides else np.array([reference.size])
    cur_side: Sample | NDArray[Any] = sides[1] if sides else np.array([n_current])
    return _result("ks", statistic, pvalue, threshold, ref_side, cur_side, pvalue_inclusive=True)


def _merged_cdfs(
    reference: NDArray[np.float64],
    current: NDArray[np.float64],
    current_weights: NDArray[np.float64] | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Both empirical CDFs at each distinct value of the two sorted samples, by one linear
    merge (a stable sort of two sorted runs), instead of two binary searches per value."""
    values = np.concatenate([reference, current])
    order = np.argsort(values, kind="stable")
    merged = values[order]
    from_reference = order < reference.size
    # The CDFs step at the last of each run of equal values (every value, when none repeat).
    step = merged[1:] != merged[:-1]
    last = None if step.all() else np.flatnonzero(np.append(step, True))
    ref_seen = np.cumsum(from_reference.view(np.int8), dtype=np.int64)
    if current_weights is None:
        cur_seen = np.arange(1, values.size + 1) - ref_seen
        cur_total = float(current.size)
    else:
        weights = np.zeros(values.size)
        weights[reference.size :] = current_weights
        cur_seen = np.cumsum(weights[order])
        cur_total = float(current_weights.sum())
    if last is not None:
        merged, ref_seen, cur_seen = merged[last], ref_seen[last], cur_seen[last]
    return merged, ref_seen / reference.size, cur_seen / cur_total


def _ks_pvalue(statistic: float, n1: int, n2: int, exact: bool = True) -> float:
    """The two-sided p-value as ``scipy.stats.ks_2samp`` computes it with ``method="auto"``
    (with ``exact=False``, ``method="asymp"``)."""
    if exact and max(n1, n2) <= _KS_MAX_EXACT:
        pvalue = _ks_exact_pvalue(statistic, n1, n2)
        if pvalue is not None:
            return pvalue
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    return kstwo_sf(statistic, round(en))


def _ks_exact_pvalue(statistic: float, n1: int, n2: int) -> float | None:
    # The exact two-sample distribution is scipy's own (private) routine; when a scipy
    # release moves it, ks_2samp on a synthetic pair with the same D gives the same answer.
    try:
        from scipy.stats._stats_py import _attempt_exact_2kssamp
    except ImportError:  # pragma: no cover - depends on the scipy release
        return None
    g = math.gcd(n1, n2)
    with np.errstate(all="ignore"):
        success, _, prob = _attempt_exact_2kssamp(n1, n2, g, statistic, "two-sided")
    return float(np.clip(prob, 0.0, 1.0)) if success else None


def wasserstein(
    reference: Any,
    current: Any,
    *,
    normed: bool = True,
    threshold: float | None = None,
    reference_sorted: bool = False,
) -> DriftResult:
    """First Wasserstein (earth mover's) distance between two numeric samples.

    ``normed=True`` (default, method ``"wasserstein"``) divides by the reference's standard
    deviation (at least 0.001), as Evidently does, so one threshold (0.1) fits every feature.
    ``normed=False`` (method ``"wasserstein_raw"``) is ``scipy.stats.wasserstein_distance`` in
    the feature's own units; give it a ``threshold`` for a verdict (default: never drifted).
    """
    ref = as_sample(reference, is_sorted=reference_sorted)
    cur = as_sample(current)
    _samples(ref, cur)
    return wasserstein_sorted(
        ref.sorted_values(),
        cur.sorted_values(),
        normed=normed,
        threshold=threshold,
        sides=(ref, cur),
    )


def wasserstein_sorted(
    reference: NDArray[np.float64],
    current: NDArray[np.float64],
    *,
    current_weights: NDArray[np.float64] | None = None,
    normed: bool = True,
    threshold: float | None = None,
    sides: tuple[Sample, Sample] | None = None,
) -> DriftResult:
    """The Wasserstein distance of two sorted, cleaned samples (current optionally weighted)."""
    scale = _power_of_two_scale(reference, current)
    if scale != 1.0:
        reference, current = reference / scale, current / scale
    points, ref_cdf, cur_cdf = _merged_cdfs(reference, current, current_weights)
    distance = float(np.sum(np.abs(ref_cdf[:-1] - cur_cdf[:-1]) * np.diff(points)))
    if normed:
        distance /= max(float(np.std(reference)), _WASSERSTEIN_MIN_NORM / scale)
    else:
        with np.errstate(over="ignore"):  # a distance beyond the largest float is inf
            distance = float(np.float64(distance) * scale)
    method = "wasserstein" if normed else "wasserstein_raw"
    limit = threshold if threshold is not None else (0.1 if normed else math.inf)
    ref_side: Sample | NDArray[Any] = sides[0] if sides else np.array([reference.size])
    cur_side: Sample | NDArray[Any] = sides[1] if sides else np.array([current.size])
    return _result(method, distance, None, limit, ref_side, cur_side)


def _power_of_two_scale(*samples: NDArray[np.float64]) -> float:
    """1, or for values near the float range (``|x| > 2**500``) a power of two near the
    largest: dividing by it is exact, and spreads, squares and the standard deviation of the
    scaled values cannot overflow (they did: the std of +-1.7e308 was inf, the normed
    distance 0)."""
    largest = max((float(np.max(np.abs(s[[0, -1]]))) for s in samples if s.size), default=0.0)
    if largest <= _LARGE:
        return 1.0
    return math.ldexp(1.0, math.frexp(largest)[1] - 1)
