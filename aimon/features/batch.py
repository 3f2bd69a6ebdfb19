"""What extraction produces: feature columns and the batches that hold them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

FeatureExtractor = Callable[[Any], Any]

FloatArray = NDArray[np.float64]
ObjectArray = NDArray[np.object_]


@dataclass(frozen=True, slots=True)
class FeatureColumn:
    """One feature over the rows of a batch.

    ``values`` holds the number (NaN where missing or not numeric); ``labels`` holds the
    categorical label (``None`` where numeric or missing), or is ``None`` altogether when no
    row of the batch has a label.
    """

    values: FloatArray
    labels: ObjectArray | None = None

    def label_mask(self) -> NDArray[np.bool_]:
        """Rows that hold a categorical label."""
        if self.labels is None:
            return np.zeros(self.values.size, dtype=bool)
        return np.asarray(self.labels != None, dtype=bool)  # noqa: E711 - element-wise

    def present_mask(self) -> NDArray[np.bool_]:
        """Rows where the feature has a value (a number or a label)."""
        return np.isfinite(self.values) | self.label_mask()


@dataclass(frozen=True, slots=True)
class FeatureBatch:
    """Feature rows in columns: every column has ``n_rows`` entries.

    ``invalid`` counts values that could not be read as a number or a label (containers,
    arbitrary objects) and were taken as missing.
    """

    n_rows: int
    columns: dict[str, FeatureColumn]
    invalid: int = 0
    input_sizes: FloatArray | None = None  # per input, from extract_many(sizes=True)


EMPTY = FeatureBatch(0, {})
