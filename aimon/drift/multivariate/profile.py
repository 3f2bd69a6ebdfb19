"""What a saved reference keeps for multivariate drift: the reconstruction fit (what the
Monitor scores its window's rows with) and a sample of whole rows (what the batch domain
classifier compares current rows with, when the reference data is no longer at hand).

Size: the fit is ``(3 + k) * d + chunks`` numbers (3-6 KB of JSON at 20 columns); the row
sample ``rows x d`` numbers, 2,000 rows by default: about 0.8 MB of JSON at 20 columns,
a fifth of what the per-feature samples (10,000 numbers each) already take.

>>> from sklearn.datasets import load_wine
>>> wine = load_wine(as_frame=True).frame
>>> profile = MultivariateProfile.build(wine, exclude=("target",), sample_size=50)
>>> len(profile.columns), len(profile.sample), profile.reconstruction_fit().chunk_size
(13, 50, 17)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from aimon.drift.multivariate.batch import as_matrix, is_numeric
from aimon.drift.multivariate.reconstruction import CHUNKS, ReconstructionFit, fit_reconstruction

__all__ = ["LIVE_CHUNK", "SAMPLE_ROWS", "MultivariateProfile"]

#: Rows of the reference kept whole for the domain classifier.
SAMPLE_ROWS = 2000
#: The reference chunks the band is learnt on hold ``n // 10`` rows, at most this many: a
#: live sample is judged once it is worth a chunk's rows, so the chunk must be one the
#: Monitor's window sample reaches.
LIVE_CHUNK = 500


class MultivariateProfile(BaseModel):
    """The reconstruction fit (:meth:`ReconstructionFit.to_dict`) and a uniform sample of the
    reference's rows on the fit's columns (None for a missing value)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fit: dict[str, Any]
    sample: tuple[tuple[float | None, ...], ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """The numeric input columns, in the fit's order."""
        return tuple(map(str, self.fit["columns"]))

    def reconstruction_fit(self) -> ReconstructionFit:
        """The fit, ready to score rows."""
        return ReconstructionFit.from_dict(self.fit)

    def sample_rows(self) -> NDArray[np.float64]:
        """The row sample as a 2-D array, NaN for a missing value."""
        rows = np.array(self.sample, dtype=np.float64)
        return rows.reshape(len(self.sample), len(self.columns))

    @classmethod
    def build(
        cls,
        frame: pd.DataFrame,
        *,
        exclude: Iterable[str | None] = (),
        sample_size: int = SAMPLE_ROWS,
        seed: int = 0,
    ) -> MultivariateProfile:
        """Fit on ``frame``'s numeric (and bool) columns but ``exclude`` (the prediction and
        the target), with chunks of ``n // 10`` rows, at most :data:`LIVE_CHUNK`.

        Raises:
            ValueError: fewer than two numeric columns, fewer than 20 rows, or a column
                without any value.
        """
        left_out = set(exclude)
        names = [str(c) for c in frame.columns if str(c) not in left_out and is_numeric(frame[c])]
        if len(names) < 2:
            raise ValueError(f"multivariate drift needs two numeric input columns, got {names}")
        rows = as_matrix(frame.set_axis(list(map(str, frame.columns)), axis=1), names)
        if len(rows) < 2 * CHUNKS:
            raise ValueError(f"multivariate drift needs {2 * CHUNKS} reference rows or more")
        fit = fit_reconstruction(rows, names, chunk_size=min(len(rows) // CHUNKS, LIVE_CHUNK))
        rng = np.random.default_rng(seed)
        kept = rows if len(rows) <= sample_size else rows[rng.choice(len(rows), sample_size, False)]
        sample = tuple(tuple(None if np.isnan(v) else v for v in row) for row in kept.tolist())
        return cls(fit=fit.to_dict(), sample=sample)
