"""Model quality: predictions joined with their outcomes by request id, and the quality
metrics of the matched pairs (batch and mergeable per window slice)."""

from aimon.quality.inference import infer_task
from aimon.quality.join import JoinBuffer, JoinCounts, Match
from aimon.quality.metrics import (
    METRIC_NAMES,
    Label,
    QualityError,
    QualityMetrics,
    TaskKind,
    quality_change,
    quality_settings,
)
from aimon.quality.stats import QualityStats, quality_metrics

__all__ = [
    "METRIC_NAMES",
    "JoinBuffer",
    "JoinCounts",
    "Label",
    "Match",
    "QualityError",
    "QualityMetrics",
    "QualityStats",
    "TaskKind",
    "infer_task",
    "quality_change",
    "quality_metrics",
    "quality_settings",
]
