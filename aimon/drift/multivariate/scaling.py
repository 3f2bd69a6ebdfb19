"""The reference's imputation and standardisation, shared by both multivariate methods.

Missing values (NaN, infinities) take the reference's column mean, then every column is
centred and scaled by the reference's mean and population standard deviation after that
imputation: scikit-learn's ``SimpleImputer(strategy="mean")`` followed by ``StandardScaler``,
the preprocessing NannyML applies before its PCA. A column constant in the reference is scaled
by 1, as ``StandardScaler`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Standardiser", "as_rows"]


def as_rows(rows: Any, width: int | None = None) -> NDArray[np.float64]:
    """A 2-D float64 copy of ``rows`` with NaN for every non-finite value.

    Raises:
        ValueError: not two-dimensional, or not ``width`` columns wide.
    """
    array = np.array(rows, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"rows must be a 2-D array (rows x columns), got {array.ndim} dimensions")
    if width is not None and array.shape[1] != width:
        raise ValueError(f"rows must have {width} columns like the reference, got {array.shape[1]}")
    array[~np.isfinite(array)] = np.nan
    return array


@dataclass(frozen=True, slots=True)
class Standardiser:
    """Per column: the value that fills a missing one, the centre and the scale."""

    fill: NDArray[np.float64]
    center: NDArray[np.float64]
    scale: NDArray[np.float64]

    @classmethod
    def fit(cls, rows: NDArray[np.float64]) -> Standardiser:
        """Learn the statistics from reference rows (NaN for missing values).

        Raises:
            ValueError: a column without any value.
        """
        present = np.isfinite(rows)
        counts = present.sum(axis=0)
        if rows.shape[0] == 0 or np.any(counts == 0):
            empty = np.flatnonzero(counts == 0).tolist()
            raise ValueError(f"reference columns {empty} have no values to learn from")
        fill = np.where(present, rows, 0.0).sum(axis=0) / counts
        filled = np.where(present, rows, fill)
        center = filled.mean(axis=0)
        scale = filled.std(axis=0)
        scale[scale == 0.0] = 1.0
        return cls(fill, center, scale)

    def transform(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """Rows imputed and standardised (a new array)."""
        filled = np.where(np.isnan(rows), self.fill, rows)
        filled -= self.center
        filled /= self.scale
        return filled
