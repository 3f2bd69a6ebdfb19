"""Multivariate drift as data reconstruction error after a PCA fitted on the reference.

NannyML's method (``DataReconstructionDriftCalculator``, "Data Reconstruction with PCA" in
its documentation): impute missing values with the reference's means, standardise with the
reference's statistics, keep the principal components that explain 65 % of the reference's
variance, project every row on them and back, and measure the Euclidean distance between
the row and its reconstruction. A chunk's drift value is the mean distance over its rows;
the alert band is the mean of the reference's own chunks plus and minus 3 standard
deviations of them (the lower bound dropped when it is not above 0). A change of correlation
moves rows off the reference's principal plane, so the error grows even when every marginal
stays the same.

Reference chunks follow NannyML's default chunker, ``n // 10`` rows each in order, with
the remainder appended to the last chunk (NannyML's ``incomplete="append"``; its default
keeps it as a chunk of its own, whose few rows would widen the band by chance alone). The
band is learned at that chunk size, so a current sample is comparable with it when it holds
about as many rows: pass ``chunk_size`` equal to the rows the Monitor scores at once (its
window sample) when the reference has enough rows for several such chunks.

>>> from sklearn.datasets import load_wine
>>> wine = load_wine().data
>>> fit = fit_reconstruction(wine[::2])
>>> fit.components.shape, fit.chunk_size
((3, 13), 8)
>>> fit.score(wine[1::2]).drifted
False
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from aimon.drift.multivariate.scaling import Standardiser, as_rows

__all__ = ["ReconstructionDrift", "ReconstructionFit", "chunk_band", "fit_reconstruction"]

#: The share of the reference's variance the kept components explain (NannyML's default).
VARIANCE = 0.65
#: Half the width of the alert band, in standard deviations of the reference's chunks.
SIGMAS = 3.0
#: NannyML's default chunker splits the reference into this many chunks.
CHUNKS = 10
_FORMAT = "aimon.multivariate.reconstruction"


@dataclass(frozen=True, slots=True)
class ReconstructionDrift:
    """The mean reconstruction error of the current rows against the reference's band.

    ``drifted`` when the error is outside ``(lower, upper)``; ``lower`` is None when the
    band reaches 0 (an error cannot be below it). ``sampling_error`` is the standard error
    of the mean, ``n_current`` the rows scored (Kish's effective size for weighted rows).
    """

    error: float
    lower: float | None
    upper: float
    drifted: bool
    sampling_error: float
    n_current: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


def chunk_band(values: ArrayLike, sigmas: float = SIGMAS) -> tuple[float | None, float]:
    """The alert band of chunk values: their mean minus and plus ``sigmas`` population
    standard deviations, the lower bound None when it is not above 0 (NannyML's
    ``StandardDeviationThreshold`` with its lower limit of 0).

    >>> [round(bound, 4) for bound in chunk_band([1.0, 1.2, 1.4])]
    [0.7101, 1.6899]
    >>> chunk_band([1.0, 2.0], sigmas=3)
    (None, 3.0)
    """
    array = np.asarray(values, dtype=np.float64)
    mean, spread = float(np.mean(array)), float(np.std(array))
    lower = mean - sigmas * spread
    return (lower if lower > 0 else None), mean + sigmas * spread


@dataclass(frozen=True, slots=True)
class ReconstructionFit:
    """What scoring needs from the reference: its preprocessing, the kept principal
    components and its chunks' errors. Small (``(3 + k) * d + chunks`` numbers) and
    JSON-ready through :meth:`to_dict` / :meth:`from_dict`, so a Reference can carry it.
    """

    columns: tuple[str, ...]
    scaling: Standardiser
    components: NDArray[np.float64]  # k x d, orthonormal rows
    explained_variance: float  # the share of the reference's variance the k components keep
    chunk_size: int
    chunk_errors: NDArray[np.float64]  # the mean error of each reference chunk
    sigmas: float = SIGMAS

    @property
    def band(self) -> tuple[float | None, float]:
        """The alert band ``(lower, upper)`` learned from the reference's chunks."""
        return chunk_band(self.chunk_errors, self.sigmas)

    def errors(self, rows: ArrayLike) -> NDArray[np.float64]:
        """Each row's Euclidean distance from its reconstruction (columns in fit order).

        Raises:
            ValueError: not a 2-D array as wide as the reference.
        """
        standard = self.scaling.transform(as_rows(rows, len(self.columns)))
        residual = standard - (standard @ self.components.T) @ self.components
        squares: NDArray[np.float64] = np.einsum("ij,ij->i", residual, residual)
        return np.sqrt(squares)

    def score(self, rows: ArrayLike, weights: ArrayLike | None = None) -> ReconstructionDrift:
        """The mean reconstruction error of ``rows`` and its verdict against the band.

        Args:
            rows: the current rows, a 2-D array in the order of :attr:`columns`.
            weights: live rows each row stands for (a weighted reservoir sample), if not 1.

        Raises:
            ValueError: no rows, or rows of the wrong width.
        """
        errors = self.errors(rows)
        if errors.size == 0:
            raise ValueError("no current rows to score")
        w = np.ones_like(errors) if weights is None else np.asarray(weights, dtype=np.float64)
        total = float(w.sum())
        mean = float(w @ errors) / total
        n = total**2 / float(w @ w)
        spread = math.sqrt(float(w @ np.square(errors - mean)) / total * n / max(n - 1.0, 1.0))
        lower, upper = self.band
        drifted = not ((lower is None or lower < mean) and mean < upper)
        return ReconstructionDrift(mean, lower, upper, drifted, spread / math.sqrt(n), n)

    def to_dict(self) -> dict[str, Any]:
        """The fit as JSON-ready lists and numbers."""
        return {
            "format": _FORMAT,
            "version": 1,
            "columns": list(self.columns),
            "fill": self.scaling.fill.tolist(),
            "center": self.scaling.center.tolist(),
            "scale": self.scaling.scale.tolist(),
            "components": self.components.tolist(),
            "explained_variance": self.explained_variance,
            "chunk_size": self.chunk_size,
            "chunk_errors": self.chunk_errors.tolist(),
            "sigmas": self.sigmas,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReconstructionFit:
        """The fit that :meth:`to_dict` wrote.

        Raises:
            ValueError: not such a dict, or arrays of inconsistent sizes.
        """
        if data.get("format") != _FORMAT or data.get("version") != 1:
            raise ValueError(f"not a version 1 {_FORMAT} dict: {data.get('format')!r}")
        columns = tuple(map(str, data["columns"]))
        scaling = Standardiser(
            *(np.asarray(data[key], dtype=np.float64) for key in ("fill", "center", "scale"))
        )
        components = np.asarray(data["components"], dtype=np.float64).reshape(-1, len(columns))
        if any(a.shape != (len(columns),) for a in (scaling.fill, scaling.center, scaling.scale)):
            raise ValueError(f"{_FORMAT}: fill, center and scale need {len(columns)} values each")
        return cls(
            columns,
            scaling,
            components,
            float(data["explained_variance"]),
            int(data["chunk_size"]),
            np.asarray(data["chunk_errors"], dtype=np.float64),
            float(data["sigmas"]),
        )


def fit_reconstruction(
    reference: ArrayLike,
    columns: Sequence[str] | None = None,
    *,
    variance: float = VARIANCE,
    chunk_size: int | None = None,
    sigmas: float = SIGMAS,
) -> ReconstructionFit:
    """Fit the PCA on the reference rows and learn the alert band from its chunks.

    Args:
        reference: the reference rows, a 2-D numeric array (NaN or inf for missing values).
        columns: the columns' names (default ``"0"``, ``"1"``...).
        variance: keep the fewest components whose explained variance exceeds this share.
        chunk_size: rows per reference chunk (default ``n // 10``, NannyML's default).
        sigmas: half the band's width, in standard deviations of the chunks' errors.

    Raises:
        ValueError: fewer than two chunks, a column without values, or ``variance``
            outside ``(0, 1]``.
    """
    rows = as_rows(reference)
    n, width = rows.shape
    names = tuple(columns) if columns is not None else tuple(map(str, range(width)))
    if len(names) != width:
        raise ValueError(f"columns: {len(names)} names for {width} columns")
    if not 0.0 < variance <= 1.0:
        raise ValueError(f"variance: a share in (0, 1], got {variance}")
    size = chunk_size if chunk_size is not None else n // CHUNKS
    if size < 1 or n < 2 * size:
        raise ValueError(f"{n} reference rows make fewer than two chunks of {size} rows")
    scaling = Standardiser.fit(rows)
    standard = scaling.transform(rows)
    # The SVD of the centred rows is scikit-learn's PCA(svd_solver="full"): the same
    # components and explained-variance ratios.
    _, singular, vt = np.linalg.svd(standard - standard.mean(axis=0), full_matrices=False)
    power = np.square(singular)
    ratios = np.cumsum(power) / power.sum() if power.sum() > 0 else np.ones_like(power)
    k = min(int(np.searchsorted(ratios, variance, side="right")) + 1, ratios.size)
    fit = ReconstructionFit(names, scaling, vt[:k].copy(), float(ratios[k - 1]), size, np.zeros(0))
    errors = fit.errors(rows)
    starts = range(0, n - size + 1, size)
    means = [errors[i : i + size if i + 2 * size <= n else n].mean() for i in starts]
    return ReconstructionFit(
        names, scaling, fit.components, fit.explained_variance, size, np.array(means), sigmas
    )
