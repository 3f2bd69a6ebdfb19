"""The dataset-level drift verdict, with a controlled false-alarm rate: ``max_ks``, what the
default ``ModelDrift`` rule reads.

Two samples of one distribution never have a KS statistic of 0: with 900 live values against
900 reference values, D exceeds 0.05 for most features by chance alone, and the largest of
30 or 60 features always does (on random halves of scikit-learn's digits, the raw largest
D was 0.050 to 0.075 in 5 of 5 splits). So ``max_ks`` is the largest KS statistic *beyond
chance*: each input feature's D less its critical value at ``alpha / m`` (Bonferroni over
the ``m`` numeric input features tested), never below 0. When nothing drifted, the chance
that any feature's D passes its critical value is at most ``alpha`` (5 %), whatever the
sample sizes; ``max_ks > 0.05`` asks for 0.05 more, so a false alarm is rarer still. Read
it as a lower confidence bound: with 95 % confidence (for all features at once), some
feature's live distribution is at least ``max_ks`` away from the reference's in KS distance.
"""

from __future__ import annotations

from collections.abc import Iterable

from aimon.drift.kolmogorov import ks_critical_value

__all__ = ["FAMILY_ALPHA", "ks_beyond_chance"]

#: The family-wise false-alarm rate of ``max_ks > 0``: the chance, when no feature drifted,
#: that any feature's KS statistic passes its critical value.
FAMILY_ALPHA = 0.05


def ks_beyond_chance(
    tests: Iterable[tuple[float, float, float]], alpha: float = FAMILY_ALPHA
) -> float | None:
    """The largest KS statistic less its Bonferroni critical value, at least 0.

    Args:
        tests: per feature, the KS statistic D and the sizes of its two samples (the
            reference's sample, the live sample's effective size).
        alpha: the family-wise false-alarm rate, shared out equally among the features.

    Returns:
        None without any feature; else ``max(0, max_i D_i - c_i)``, ``c_i`` the two-sample
        critical value of feature i at ``alpha / m`` (:func:`ks_critical_value`).

    >>> round(ks_beyond_chance([(0.08, 1000, 1000), (0.3, 1000, 1000)]), 4)  # c = 0.0662
    0.2338
    >>> ks_beyond_chance([(0.065, 1000, 1000), (0.05, 1000, 1000)])
    0.0
    """
    measured = list(tests)
    if not measured:
        return None
    per_test = alpha / len(measured)
    excess = (d - ks_critical_value(n1, n2, per_test) for d, n1, n2 in measured)
    return max(0.0, *excess)
