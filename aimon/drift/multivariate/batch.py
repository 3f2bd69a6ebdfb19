"""Both multivariate methods on two data sets at once: the batch API.

Numeric columns only: numbers and bools are compared; categorical, text and datetime
columns are left out and named in ``skipped`` (one-hot columns of a high-cardinality
category would dominate both the PCA's variance and the classifier's terms).

>>> import pandas as pd
>>> from sklearn.datasets import load_wine
>>> wine = load_wine(as_frame=True).data
>>> wine["batch"] = "a"
>>> result = multivariate_drift(wine.iloc[::2], wine.iloc[1::2])
>>> result.drifted, result.skipped
(False, {'batch': 'not numeric'})
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from aimon.drift.multivariate.classifier import ALPHA, ClassifierDrift, domain_classifier
from aimon.drift.multivariate.reconstruction import (
    VARIANCE,
    ReconstructionDrift,
    ReconstructionFit,
    fit_reconstruction,
)

__all__ = ["MultivariateDrift", "against_profile", "as_matrix", "is_numeric", "multivariate_drift"]


@dataclass(frozen=True, slots=True)
class MultivariateDrift:
    """Both methods' results on the same columns; ``drifted`` when either says so."""

    columns: tuple[str, ...]
    reconstruction: ReconstructionDrift
    classifier: ClassifierDrift
    fit: ReconstructionFit
    skipped: dict[str, str]

    @property
    def drifted(self) -> bool:
        """Either method found drift."""
        return self.reconstruction.drifted or self.classifier.drifted

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (the fit left out: see :meth:`ReconstructionFit.to_dict`)."""
        return {
            "drifted": self.drifted,
            "columns": list(self.columns),
            "reconstruction": self.reconstruction.to_dict(),
            "classifier": self.classifier.to_dict(),
            "skipped": dict(self.skipped),
        }


def multivariate_drift(
    reference: pd.DataFrame | NDArray[Any] | Mapping[str, Sequence[Any]],
    current: pd.DataFrame | NDArray[Any] | Mapping[str, Sequence[Any]],
    columns: Iterable[str] | None = None,
    *,
    variance: float = VARIANCE,
    chunk_size: int | None = None,
    alpha: float = ALPHA,
    seed: int = 0,
) -> MultivariateDrift:
    """Data reconstruction error and domain-classifier AUC of ``current`` against
    ``reference``, on their shared numeric columns.

    Args:
        reference: the reference rows (a frame, a 2-D array or a mapping of columns).
        current: the rows to check.
        columns: the columns to use (default: every numeric reference column present in
            ``current``).
        variance: the share of variance the PCA keeps.
        chunk_size: rows per reference chunk for the reconstruction band (default
            ``n // 10``).
        alpha: the classifier test's false-alarm rate.
        seed: for the classifier's samples and folds.

    Raises:
        ValueError: fewer than two numeric columns, or a requested column that is missing
            or not numeric.
    """
    ref, cur = _frame(reference), _frame(current)
    names, skipped = _numeric_columns(ref, cur, columns)
    if len(names) < 2:
        raise ValueError(f"multivariate drift needs two numeric columns or more, got {names}")
    ref_rows, cur_rows = as_matrix(ref, names), as_matrix(cur, names)
    fit = fit_reconstruction(ref_rows, names, variance=variance, chunk_size=chunk_size)
    found = domain_classifier(ref_rows, cur_rows, alpha=alpha, seed=seed)
    return MultivariateDrift(tuple(names), fit.score(cur_rows), found, fit, skipped)


def _frame(data: pd.DataFrame | NDArray[Any] | Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    return frame.set_axis(list(map(str, frame.columns)), axis=1)


def is_numeric(column: pd.Series) -> bool:
    """Numbers and bools: the columns both methods compare."""
    dtype = column.dtype
    return pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype)


def _numeric_columns(
    reference: pd.DataFrame, current: pd.DataFrame, wanted: Iterable[str] | None
) -> tuple[list[str], dict[str, str]]:
    if wanted is not None:
        names = list(wanted)
        for name in names:
            for side, frame in (("reference", reference), ("current", current)):
                if name not in frame.columns:
                    raise ValueError(f"columns: {name!r} is not in the {side} data")
                if not is_numeric(frame[name]):
                    raise ValueError(f"columns: {name!r} is not numeric in the {side} data")
        return names, {}
    names, skipped = [], {}
    for name in dict.fromkeys([*reference.columns, *current.columns]):
        if name not in reference.columns or name not in current.columns:
            skipped[name] = "not in the " + ("current" if name in reference else "reference")
        elif not (is_numeric(reference[name]) and is_numeric(current[name])):
            skipped[name] = "not numeric"
        else:
            names.append(name)
    return names, skipped


def as_matrix(frame: pd.DataFrame, names: Sequence[str]) -> NDArray[np.float64]:
    """The ``names`` columns of ``frame`` as float rows, NaN for a missing value."""
    return frame[list(names)].to_numpy(dtype=np.float64, na_value=np.nan)


def against_profile(
    fit: ReconstructionFit,
    reference_rows: NDArray[np.float64],
    current: pd.DataFrame | NDArray[Any] | Mapping[str, Sequence[Any]],
    *,
    alpha: float = ALPHA,
    seed: int = 0,
) -> MultivariateDrift:
    """Both methods against what a saved profile keeps of the reference: its reconstruction
    fit and a sample of its rows (for the classifier), on the fit's columns.

    Raises:
        ValueError: a column of the fit missing from ``current`` or not numeric there.
    """
    cur = _frame(current)
    for name in fit.columns:
        if name not in cur.columns:
            raise ValueError(f"columns: {name!r} of the reference's fit is not in the current data")
        if not is_numeric(cur[name]):
            raise ValueError(f"columns: {name!r} is not numeric in the current data")
    rows = as_matrix(cur, fit.columns)
    skipped = {
        str(name): "not in the reference's fit" for name in cur.columns if name not in fit.columns
    }
    found = domain_classifier(reference_rows, rows, alpha=alpha, seed=seed)
    return MultivariateDrift(fit.columns, fit.score(rows), found, fit, skipped)
