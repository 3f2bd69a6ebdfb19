"""Checkpoints written before a class moved still restore (aimon.checkpoint.MOVED_CLASSES)."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest

from aimon.checkpoint import unpickle
from aimon.quality.deadlines import Deadlines
from aimon.quality.join import JoinBuffer
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


#: A JoinBuffer mid-stream pickled before quality/join.py was split (commit 10899ca: its
#: tables were join._Deadlines), the operations that followed and what they gave then.
JOIN_BEFORE_SPLIT = Path(__file__).parent / "data" / "join_before_split.pickle"


def test_a_join_pickled_before_the_split_restores_and_goes_on_joining() -> None:
    body = JOIN_BEFORE_SPLIT.read_bytes()
    with pytest.raises(AttributeError):  # what a plain unpickling (before the map) met
        pickle.loads(body)
    state = unpickle(body)
    join = state["join"]
    assert isinstance(join, JoinBuffer)
    assert isinstance(join._predictions, Deadlines)
    assert dataclasses.asdict(join.counts()) == state["counts"]
    results = []
    for kind, arg in state["rest"]:
        if kind == "expire":
            join.expire(arg)
            results.append(None)
        elif kind == "predictions":
            results.append(join.add_predictions(arg, key="m"))
        else:
            results.append(join.add_outcomes(arg))
    assert results == state["results"]
    assert dataclasses.asdict(join.counts()) == state["final"]
