"""Running totals restored from checkpoints written by older versions of aimon."""

from __future__ import annotations

import numpy as np

from aimon.totals import LATENCY_BUCKETS, BucketCounts, RunningTotals


def test_totals_of_a_checkpoint_from_before_the_caps_are_capped_from_its_names() -> None:
    totals = RunningTotals(max_error_types=2)
    totals.errors.update({"A": 3, "B": 1})
    totals.feature_values.update({"x": 5})
    state = totals.__dict__.copy()
    for new in ("error_types", "feature_names"):
        del state[new]  # as pickled before the caps
    old = RunningTotals.__new__(RunningTotals)
    old.__setstate__(state)
    assert [old.error_label(e) for e in ("A", "C", "B")] == ["A", "other", "B"]
    assert old.feature_names.admits("x")


def test_totals_counted_in_older_latency_buckets_start_again_in_the_current_ones() -> None:
    totals = RunningTotals()
    state = totals.__dict__.copy()
    old_latency = BucketCounts((0.1, 1.0))
    old_latency.add_many(np.array([0.05, 0.5]))
    state["latency"] = old_latency
    restored = RunningTotals.__new__(RunningTotals)
    restored.__setstate__(state)
    assert restored.latency.bounds.tolist() == list(LATENCY_BUCKETS)
    assert restored.latency.count == 0
