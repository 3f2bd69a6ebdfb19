"""A batch evaluation: a prediction log and an outcomes log joined by request id, and the
quality of each model and version (``aimon quality PREDICTIONS OUTCOMES``)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from aimon.events import EventCodec, FieldMap
from aimon.quality.metrics import (
    Label,
    QualityMetrics,
    TaskKind,
    quality_change,
    quality_settings,
)
from aimon.quality.outcomes import decode_outcomes
from aimon.quality.stats import quality_metrics

__all__ = ["JoinSummary", "ModelQuality", "QualityReport", "evaluate_files"]

_CHUNK = 50_000


class JoinSummary(BaseModel):
    """How the two files joined."""

    model_config = ConfigDict(frozen=True)

    predictions: int  # prediction lines with a request id and a prediction
    outcomes: int  # outcome lines read
    matched: int
    predictions_without_outcome: int
    outcomes_without_prediction: int
    duplicate_predictions: int  # a later prediction with an id already seen (the first wins)
    duplicate_outcomes: int  # a later outcome with an id already seen (the first wins)
    without_request_id: int  # prediction lines with no request id or no prediction
    malformed_predictions: dict[str, int]
    malformed_outcomes: dict[str, int]


class ModelQuality(BaseModel):
    """The quality of one model and version over its matched pairs."""

    model_config = ConfigDict(frozen=True)

    model: str
    version: str | None
    quality: QualityMetrics
    change: dict[str, float] = {}  # minus the reference's quality, when one is given


class QualityReport(BaseModel):
    """What ``aimon quality`` prints: the join and the quality per model and version."""

    model_config = ConfigDict(frozen=True)

    join: JoinSummary
    models: list[ModelQuality]
    reference: QualityMetrics | None = None


def _lines(path: Path) -> Iterator[list[bytes]]:
    with path.open("rb") as handle:
        chunk: list[bytes] = []
        for line in handle:
            chunk.append(line)
            if len(chunk) >= _CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def evaluate_files(
    predictions: str | os.PathLike[str],
    outcomes: str | os.PathLike[str],
    *,
    task: TaskKind | None = None,
    positive_label: Label | None = None,
    threshold: float | None = None,
    fields: FieldMap | None = None,
    reference: QualityMetrics | None = None,
) -> QualityReport:
    """Join a JSON-lines prediction log (the sidecar's format, with ``request_id``) and an
    outcomes log (:mod:`aimon.quality.outcomes`) by request id, and compute each model's
    quality with :func:`~aimon.quality.quality_metrics` (exact, as scikit-learn's).

    The first prediction and the first outcome of an id count; later ones are duplicates.
    There is no TTL here: every outcome whose prediction is in the file matches.

    With ``reference`` (a reference profile's ``quality``), quality is measured as the
    reference's was (:func:`~aimon.quality.quality_settings`) and each model's ``change``
    is its quality minus the reference's.
    """
    task, positive_label, threshold = quality_settings(task, positive_label, threshold, reference)
    codec = EventCodec(fields)
    held: dict[str, tuple[tuple[str, str | None], Any]] = {}
    malformed_predictions: Counter[str] = Counter()
    duplicate_predictions = without_id = 0
    for chunk in _lines(Path(predictions)):
        groups, malformed = codec.decode_many(chunk)
        malformed_predictions.update(malformed)
        for group in groups:
            key = (group.model, group.version)
            for rid, value, error in zip(
                group.request_ids, group.predictions, group.errors, strict=True
            ):
                if rid is None or value is None or error is not None:
                    without_id += 1
                elif rid in held:
                    duplicate_predictions += 1
                else:
                    held[rid] = (key, value)
    pairs: dict[tuple[str, str | None], tuple[list[Any], list[Any]]] = {}
    seen: set[str] = set()
    malformed_outcomes: Counter[str] = Counter()
    n_outcomes = duplicate_outcomes = unknown = 0
    for chunk in _lines(Path(outcomes)):
        read, malformed = decode_outcomes(chunk)
        malformed_outcomes.update(malformed)
        n_outcomes += len(read)
        for outcome in read:
            if outcome.request_id in seen:
                duplicate_outcomes += 1
                continue
            seen.add(outcome.request_id)
            found = held.get(outcome.request_id)
            if found is None:
                unknown += 1
                continue
            key, value = found
            actuals, predicted = pairs.setdefault(key, ([], []))
            actuals.append(outcome.actual)
            predicted.append(value)
    matched = sum(len(a) for a, _ in pairs.values())
    models = []
    for (model, version), (actuals, predicted) in sorted(
        pairs.items(), key=lambda item: (item[0][0], item[0][1] or "")
    ):
        quality = quality_metrics(
            actuals, predicted, task=task, positive_label=positive_label, threshold=threshold
        )
        change = {} if reference is None else quality_change(quality, reference)
        models.append(ModelQuality(model=model, version=version, quality=quality, change=change))
    join = JoinSummary(
        predictions=len(held) + duplicate_predictions,
        outcomes=n_outcomes,
        matched=matched,
        predictions_without_outcome=len(held) - matched,
        outcomes_without_prediction=unknown,
        duplicate_predictions=duplicate_predictions,
        duplicate_outcomes=duplicate_outcomes,
        without_request_id=without_id,
        malformed_predictions=dict(malformed_predictions),
        malformed_outcomes=dict(malformed_outcomes),
    )
    return QualityReport(join=join, models=models, reference=reference)


def format_table(report: QualityReport) -> str:
    """The report as plain text: the join, then one table of metrics per model."""
    j = report.join
    lines = [
        f"joined {j.matched} of {j.predictions} predictions with {j.outcomes} outcomes "
        f"({j.predictions_without_outcome} without outcome, {j.outcomes_without_prediction} "
        f"outcomes without prediction, {j.duplicate_predictions + j.duplicate_outcomes} "
        "duplicates)",
    ]
    bad = sum(j.malformed_predictions.values()) + sum(j.malformed_outcomes.values())
    if bad:
        lines.append(f"skipped {bad} malformed lines")
    if not report.models:
        lines.append("no matched pairs: nothing to evaluate")
    for entry in report.models:
        q = entry.quality
        name = entry.model + (f" {entry.version}" if entry.version else "")
        lines.append("")
        lines.append(
            f"{name}: {q.task}, {q.count} pairs" + (f", {q.missing} missing" if q.missing else "")
        )
        reference = report.reference.values() if report.reference is not None else None
        if reference is not None:
            lines.append(f"  {'metric':<16} {'live':>10} {'reference':>10} {'change':>10}")
        for metric, value in q.values().items():
            if reference is None:
                lines.append(f"  {metric:<16} {value:.6g}")
            elif metric in reference:
                lines.append(
                    f"  {metric:<16} {value:>10.4g} {reference[metric]:>10.4g} "
                    f"{entry.change[metric]:>+10.4g}"
                )
    return "\n".join(lines) + "\n"
