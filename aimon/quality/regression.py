"""Regression metrics from mergeable sums: MAE, RMSE, MAPE and R², equal to
``sklearn.metrics`` on the same pairs, except that MAPE leaves out the pairs whose actual is 0
(see :mod:`aimon.quality.stats`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aimon.quality.metrics import EPS

__all__ = ["RegressionSums"]


class RegressionSums:
    """Regression sums; the actuals' spread as mean and squared deviations (Chan's merge).
    The absolute percentage errors are summed over the ``ape_count`` pairs whose actual is
    not 0: a percentage of 0 is undefined."""

    __slots__ = ("abs_sum", "ape_count", "ape_sum", "high", "low", "m2", "mean", "n", "sq_sum")

    def __init__(self) -> None:
        self.n = 0
        self.abs_sum = 0.0
        self.sq_sum = 0.0
        self.ape_sum = 0.0
        self.ape_count = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.low = math.inf
        self.high = -math.inf

    def __setstate__(self, state: tuple[None, dict[str, Any]]) -> None:
        slots = state[1]
        for name, value in slots.items():
            setattr(self, name, value)
        if "ape_count" not in slots:  # pickled before zero actuals were left out: all summed
            self.ape_count = self.n

    def add(self, actual: NDArray[np.float64], predicted: NDArray[np.float64]) -> None:
        """Count pairs in (two float64 arrays of equal length, no missing values)."""
        if actual.size == 0:
            return
        part = RegressionSums()
        error = np.abs(predicted - actual)
        part.n = int(actual.size)
        part.abs_sum = float(np.sum(error))
        part.sq_sum = float(np.sum(error * error))
        defined = actual != 0.0
        part.ape_count = int(np.count_nonzero(defined))
        ratio = error / np.maximum(np.abs(actual), EPS)
        part.ape_sum = float(np.sum(ratio, where=defined))
        part.mean = float(np.mean(actual))
        part.m2 = float(np.sum((actual - part.mean) ** 2))
        part.low, part.high = float(actual.min()), float(actual.max())
        self.merge(part)

    def merge(self, other: RegressionSums) -> None:
        """Add ``other``'s pairs (exact in any order, up to float rounding)."""
        if other.n == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.m2 = other.n, other.mean, other.m2
        else:
            n = self.n + other.n
            delta = other.mean - self.mean
            self.mean += delta * other.n / n
            self.m2 += other.m2 + delta * delta * self.n * other.n / n
            self.n = n
        self.abs_sum += other.abs_sum
        self.sq_sum += other.sq_sum
        self.ape_sum += other.ape_sum
        self.ape_count += other.ape_count
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)

    def copy(self) -> RegressionSums:
        """An independent copy."""
        out = RegressionSums()
        out.merge(self)
        return out

    def metrics(self) -> dict[str, Any]:
        """MAE, RMSE, MAPE and R² as :class:`~aimon.quality.metrics.QualityMetrics` fields
        (none without pairs; R² from two pairs on; MAPE with an actual that is not 0), and
        ``mape_excluded``, the pairs left out of MAPE."""
        n = self.n
        if n == 0:
            return {}
        out: dict[str, Any] = {
            "mae": self.abs_sum / n,
            "rmse": math.sqrt(self.sq_sum / n),
            "mape_excluded": n - self.ape_count,
        }
        if self.ape_count:
            out["mape"] = self.ape_sum / self.ape_count
        if n >= 2:
            if self.sq_sum == 0.0:
                out["r2"] = 1.0
            elif self.low == self.high or self.m2 == 0.0:
                out["r2"] = 0.0
            else:
                out["r2"] = 1.0 - self.sq_sum / self.m2
        return out
