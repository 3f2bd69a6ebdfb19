"""Live data quality: each reference input feature's :class:`QualityCounts` per time slice of
a Monitor's rolling window, counted in the fold from the feature rows it already extracts
(never on the ``predict`` path), and judged against the reference at snapshot time.

>>> import pandas as pd
>>> from aimon.drift.reference import Reference
>>> from aimon.features import extract
>>> ref = Reference.from_frame(pd.DataFrame({"age": [20.5, 30.0, 41.5], "plan": ["a", "b", "a"]}))
>>> live = QualityWindow(ref, n_slices=3, slice_s=10.0)
>>> live.add(0, extract(pd.DataFrame({"age": [25.0, 90.0]})))
>>> quality = live.snapshot(now=5.0)
>>> quality["age"].out_of_range_share, quality["plan"].absent
(0.5, True)
>>> live.snapshot(now=35.0)["age"].rows  # the slice has left the window
0
"""

from __future__ import annotations

import math
from functools import partial

from aimon.drift.data_quality import QualityCounts, assess, count_batch
from aimon.drift.reference import Reference
from aimon.features import FeatureBatch
from aimon.ring import SliceRing
from aimon.snapshot import FeatureQuality

__all__ = ["QualityWindow"]


def _fresh(key: int) -> dict[str, QualityCounts]:
    return {}


class QualityWindow:
    """The data-quality counts of a reference's input features (not its prediction or
    target) in the slices of a rolling window.

    Args:
        reference: what the features are judged against.
        n_slices, slice_s: the rolling window's slices (the same as the Monitor's Window, so
            that ``add`` takes the slice ids it places rows in).
    """

    def __init__(self, reference: Reference, n_slices: int, slice_s: float) -> None:
        self.reference = reference
        self.n_slices = n_slices
        self.slice_s = slice_s
        outputs = (reference.prediction, reference.target)
        self._inputs = {n: p for n, p in reference.features.items() if n not in outputs}
        self._ring: SliceRing[dict[str, QualityCounts]] = SliceRing(n_slices, partial(_fresh))

    def same_settings(self, other: QualityWindow) -> bool:
        """Whether ``other`` judges against the same reference in the same slices (its
        counts can then go on in this one's place)."""
        return (self.n_slices, self.slice_s) == (
            other.n_slices,
            other.slice_s,
        ) and self.reference == other.reference

    def add(self, sid: int, batch: FeatureBatch) -> None:
        """Count a batch of feature rows into slice ``sid`` (an older slice is ignored)."""
        counts = self._ring.get(sid)
        if counts is not None and batch.n_rows:
            count_batch(self.reference, batch, into=counts, names=self._inputs)

    def snapshot(self, now: float) -> dict[str, FeatureQuality]:
        """Each input feature's data quality over the window's live slices as of ``now``."""
        merged = {name: QualityCounts() for name in self._inputs}
        for counts in self._ring.live(math.floor(now / self.slice_s)):
            for name, feature in counts.items():
                merged[name].merge(feature)
        return {name: assess(self._inputs[name], merged[name]) for name in self._inputs}
