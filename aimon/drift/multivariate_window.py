"""Live multivariate drift: a sample of whole feature rows per slice of a Monitor's rolling
window, counted in the fold from the feature rows it already extracts, scored at snapshot
time with the reference's PCA reconstruction fit.

The window's slices are grouped into at most 12 (a 5-minute window of 10 s slices into 10
of 30 s), each keeping a :class:`~aimon.drift.row_sample.RowSample` of at most 1,024 rows
on the fit's columns: ``8 * 12 * 1024 * d`` bytes at most whatever the traffic, 96 KiB per
column (1.9 MiB at 20), as much as the drift tracker's per-feature reservoirs. A burst in
one slice still leaves 1,024 rows to score. A snapshot scores the union of the groups that
overlap the window (so up to one group longer than it), each row weighted by the rows it
stands for. The domain classifier is not run here: at 0.2-1.6 s it is batch only
(:func:`aimon.drift.compare`).

>>> import pandas as pd
>>> from sklearn.datasets import load_wine
>>> from aimon.drift.multivariate import fit_reconstruction
>>> from aimon.features import extract
>>> wine = load_wine(as_frame=True).data
>>> fit = fit_reconstruction(wine.iloc[::2].to_numpy(), list(wine.columns), chunk_size=8)
>>> live = MultivariateWindow(fit, n_slices=3, slice_s=10.0)
>>> live.add(0, extract(wine.iloc[1::2], max_features=20))
>>> reading = live.snapshot(now=5.0)
>>> reading.rows, reading.drifted
(89, False)
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
from numpy.typing import NDArray

from aimon.drift.multivariate.reconstruction import ReconstructionFit
from aimon.drift.row_sample import RowSample, stack
from aimon.features import FeatureBatch
from aimon.ring import SliceRing
from aimon.snapshot import MultivariateReading

__all__ = ["GROUP_ROWS", "MultivariateWindow", "rows_of"]

#: Rows each group of slices keeps at most.
GROUP_ROWS = 1024
_GROUPS = 12


def rows_of(batch: FeatureBatch, columns: tuple[str, ...]) -> NDArray[np.float64]:
    """The batch's rows on ``columns`` (NaN where missing, a label or not in the batch),
    without the rows that have none of them: imputing every value would score the
    reference's mean, not the row."""
    rows = np.full((batch.n_rows, len(columns)), np.nan)
    for j, name in enumerate(columns):
        column = batch.columns.get(name)
        if column is not None:
            rows[:, j] = column.values
    rows[~np.isfinite(rows)] = np.nan
    kept: NDArray[np.float64] = rows[~np.isnan(rows).all(axis=1)]
    return kept


def _fresh(capacity: int, width: int, key: int) -> RowSample:
    return RowSample(capacity, width)


class MultivariateWindow:
    """Whole-row samples in the slices of a rolling window, scored with ``fit``.

    Args:
        fit: the reference's reconstruction fit (its columns are the ones sampled).
        n_slices, slice_s: the rolling window's slices (the Monitor's Window's, so that
            :meth:`add` takes the slice ids it places rows in).
        rows: rows each group of slices keeps at most.
        seed: for the samples.
    """

    def __init__(
        self,
        fit: ReconstructionFit,
        n_slices: int,
        slice_s: float,
        rows: int = GROUP_ROWS,
        seed: int | None = None,
    ) -> None:
        self.fit = fit
        self.n_slices = n_slices
        self.slice_s = slice_s
        self.capacity = rows
        self.group = math.ceil(n_slices / _GROUPS)
        # A group straddles the window's start unless groups are single slices.
        groups = math.ceil(n_slices / self.group) + (self.group > 1)
        fresh = partial(_fresh, rows, len(fit.columns))
        self._ring: SliceRing[RowSample] = SliceRing(groups, fresh)
        self._rng = np.random.default_rng(seed)

    def same_settings(self, other: MultivariateWindow) -> bool:
        """Whether ``other`` samples the same columns in the same slices for the same fit
        (its samples can then go on in this one's place)."""
        mine = (self.n_slices, self.slice_s, self.capacity, self.fit.to_dict())
        return mine == (other.n_slices, other.slice_s, other.capacity, other.fit.to_dict())

    def add(self, sid: int, batch: FeatureBatch) -> None:
        """Sample a batch of feature rows into slice ``sid`` (an older slice is ignored)."""
        sample = self._ring.get(sid // self.group)
        if sample is None or not batch.n_rows:
            return
        rows = rows_of(batch, self.fit.columns)
        if len(rows):
            sample.add(rows, self._rng)

    def snapshot(self, now: float) -> MultivariateReading | None:
        """The reconstruction error of the window's rows as of ``now``; None without any."""
        live = list(self._ring.live(math.floor(now / self.slice_s) // self.group))
        rows, weights = stack(live)
        if not len(rows):
            return None
        found = self.fit.score(rows, weights)
        judged = found.n_current >= self.fit.chunk_size
        return MultivariateReading(
            columns=list(self.fit.columns),
            error=found.error,
            lower=found.lower,
            upper=found.upper,
            drifted=judged and found.drifted,
            sampling_error=found.sampling_error,
            rows=sum(s.seen for s in live),
            sampled=len(rows),
            effective_rows=found.n_current,
            chunk_size=self.fit.chunk_size,
        )
