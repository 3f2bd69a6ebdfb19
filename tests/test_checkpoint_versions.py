"""Checkpoints written before a class moved still restore (aimon.checkpoint.MOVED_CLASSES)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from aimon.checkpoint import unpickle
from aimon.quality.stats import QualityStats

#: Quality statistics pickled by aimon before quality/metrics.py was split (commit 1a3d553),
#: with the metrics they gave then.
BEFORE_SPLIT = Path(__file__).parent / "data" / "quality_stats_before_split.pickle"


def test_quality_statistics_pickled_before_the_split_restore_with_their_metrics() -> None:
    body = BEFORE_SPLIT.read_bytes()
    with pytest.raises(AttributeError):  # what a plain unpickling (before the map) met
        pickle.loads(body)
    state = unpickle(body)
    for task, stats in state["stats"].items():
        assert isinstance(stats, QualityStats)
        then = state["metrics"][task]
        now = stats.metrics().model_dump()
        assert {name: now[name] for name in then} == then
        merged = QualityStats(stats.task, positive_label=stats.positive_label)
        merged.merge(stats)  # and they go on being merged with new ones
        assert merged.metrics().count == stats.metrics().count
