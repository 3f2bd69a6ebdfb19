"""What extraction produces: feature columns and the batches that hold them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
        finite = np.isfinite(self.values)
        return finite if self.labels is None else finite | self.label_mask()


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

    def take(self, rows: NDArray[np.intp], without: str | None = None) -> FeatureBatch:
        """The batch's ``rows`` (itself, columns aside, when they are all of them), without
        the column named ``without``; ``invalid`` and ``input_sizes`` are not carried."""
        every = rows.size == self.n_rows
        columns = {
            name: column if every else FeatureColumn(
                column.values[rows], None if column.labels is None else column.labels[rows]
            )
            for name, column in self.columns.items()
            if name != without
        }  # fmt: skip
        return FeatureBatch(int(rows.size), columns)


EMPTY = FeatureBatch(0, {})


def concat_batches(batches: Sequence[FeatureBatch]) -> FeatureBatch:
    """The rows of ``batches`` in order, columns aligned by name (absent: missing)."""
    if len(batches) == 1:
        return batches[0]
    names: dict[str, None] = {}
    for batch in batches:
        names.update(dict.fromkeys(batch.columns))
    columns: dict[str, FeatureColumn] = {}
    for name in names:
        values: list[NDArray[np.float64]] = []
        labels: list[NDArray[np.object_]] = []
        labelled = False
        for batch in batches:
            column = batch.columns.get(name)
            if column is None:
                values.append(np.full(batch.n_rows, np.nan))
                labels.append(np.full(batch.n_rows, None, dtype=object))
                continue
            values.append(column.values)
            if column.labels is None:
                labels.append(np.full(batch.n_rows, None, dtype=object))
            else:
                labelled = True
                labels.append(column.labels)
        columns[name] = FeatureColumn(
            np.concatenate(values), np.concatenate(labels) if labelled else None
        )
    return FeatureBatch(sum(b.n_rows for b in batches), columns)
