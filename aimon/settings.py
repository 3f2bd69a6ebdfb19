"""A Monitor's tuning knobs, grouped into a few typed settings objects.

The way httpx takes ``limits=Limits(...)``: :class:`Limits` for recording and folding,
:class:`DriftSettings` for the drift window, :class:`QualitySettings` for matching outcomes
with predictions. Each object checks itself when made, so a bad value fails at start with a
:class:`~aimon.errors.ConfigError` naming the field. A Monitor also takes each knob as a
keyword of its own (``Monitor(buffer_size=...)``, ``Monitor(drift_window="1h")``), a
shorthand that lands in the same objects (:func:`apply_shorthands`).

>>> Limits(buffer_size=1024).high_water
512
>>> DriftSettings(window="30m").window_s
1800.0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from aimon.drift.methods import resolve_methods
from aimon.durations import Duration, parse_duration
from aimon.errors import ConfigError
from aimon.quality.metrics import (
    Label,
    QualityError,
    QualityMetrics,
    TaskKind,
    quality_settings,
)

__all__ = [
    "DriftSettings",
    "Limits",
    "QualitySettings",
    "SegmentSettings",
    "Shorthands",
    "apply_shorthands",
    "segment_settings",
]


@dataclass(frozen=True, slots=True)
class Limits:
    """How a Monitor records and folds.

    Args:
        slice: slice length of the rolling window (``"10s"``).
        buffer_size: calls held per watched function and thread between folds.
        on_full: what a call that finds its buffer full does after trying to fold a chunk
            itself: ``"drop"`` (count it, ``dropped["buffer_full"]``; only a server whose
            threads outrun the fold gets there) or ``"fold"`` (wait for the fold: nothing
            is ever lost, for batch jobs).
        flush_interval: how often the background thread folds the buffers.
        evaluation_interval: how often the background thread evaluates the alert rules.
        relative_accuracy: of the latency and size quantiles (0.01 = 1 %).
        max_features: features tracked at most.
        max_error_types: distinct error type labels at most (the rest count as ``other``).
        held_bytes: bytes of inputs and results a watched function's buffers hold between
            folds, about (estimated from samples of the calls): past half of it a call folds
            a chunk itself, at all of it its buffer is full.
    """

    slice: Duration = "10s"
    buffer_size: int = 65536
    on_full: Literal["drop", "fold"] = "drop"
    flush_interval: Duration = 1.0
    evaluation_interval: Duration = "15s"
    relative_accuracy: float = 0.01
    max_features: int = 512
    max_error_types: int = 32
    held_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        if not isinstance(self.buffer_size, int) or self.buffer_size < 1:
            raise ConfigError(f"buffer_size: must be at least 1, got {self.buffer_size!r}")
        if not isinstance(self.held_bytes, int) or self.held_bytes < 1:
            raise ConfigError(f"held_bytes: must be at least 1 byte, got {self.held_bytes!r}")
        if self.on_full not in ("drop", "fold"):
            raise ConfigError(f"on_full: must be 'drop' or 'fold', got {self.on_full!r}")
        if not 0 < self.relative_accuracy < 1:
            raise ConfigError(f"relative_accuracy: must be in (0, 1), got {self.relative_accuracy}")
        for name in ("slice", "flush_interval", "evaluation_interval"):
            parse_duration(getattr(self, name), name)

    @property
    def slice_s(self) -> float:
        """The slice length in seconds."""
        return parse_duration(self.slice, "slice")

    @property
    def flush_interval_s(self) -> float:
        """The flush interval in seconds."""
        return parse_duration(self.flush_interval, "flush_interval")

    @property
    def evaluation_interval_s(self) -> float:
        """The evaluation interval in seconds."""
        return parse_duration(self.evaluation_interval, "evaluation_interval")

    @property
    def high_water(self) -> int:
        """Buffered calls past which a call wakes the fold and may fold a chunk itself."""
        return max(1, self.buffer_size // 2)


@dataclass(frozen=True, slots=True)
class DriftSettings:
    """How live features are compared with the reference.

    Args:
        window: the drift window's length (default one hour), separate from the rolling
            window.
        events: the last N events instead of a time window (at least 12).
        sample: numbers kept per numeric feature and drift slice (of 12) for KS and
            Wasserstein (memory: 8 bytes each).
        methods: the methods shown per feature (default psi, ks, wasserstein, js and chi2 as
            the feature's kind allows).
        min_count: values a feature needs in the drift window before its ``drifted`` verdict
            can be true (the numbers are shown from the first value).
    """

    window: Duration = "1h"
    events: int | None = None
    sample: int = 1024
    methods: str | Sequence[str] | None = None
    min_count: int = 500

    def __post_init__(self) -> None:
        parse_duration(self.window, "drift_window")
        events = self.events
        if events is not None and (not isinstance(events, int) or events < 12):
            raise ConfigError(
                f"drift_events: must be a whole number of at least 12, got {events!r}"
            )
        if not isinstance(self.sample, int) or self.sample < 32:
            raise ConfigError(
                f"drift_sample: must be a whole number of at least 32, got {self.sample!r}"
            )
        if not isinstance(self.min_count, int) or self.min_count < 0:
            raise ConfigError(
                f"drift_min_count: must be a whole number >= 0, got {self.min_count!r}"
            )
        self.resolved_methods()

    @property
    def window_s(self) -> float:
        """The drift window in seconds."""
        return parse_duration(self.window, "drift_window")

    def resolved_methods(self) -> tuple[str, ...] | None:
        """The methods by their canonical names, None for the default per feature
        (ConfigError names ``drift_methods``)."""
        try:
            return resolve_methods(self.methods)
        except ValueError as exc:
            raise ConfigError(f"drift_{exc}") from None


@dataclass(frozen=True, slots=True)
class SegmentSettings:
    """Which features segment the monitor, and how many of their values are kept apart.

    Args:
        columns: the segment columns: features whose values each get a window, drift and
            data quality of their own (``["country", "plan"]``; each column on its own, not
            their combinations).
        max_values: values kept apart per column, the busiest by recent traffic; calls with
            any other value are counted together in ``__other__``.
        drift_sample: numbers kept per numeric feature and drift slice of each segment (for
            KS and Wasserstein; 8 bytes each, per segment value).
    """

    columns: tuple[str, ...]
    max_values: int = 20
    drift_sample: int = 256

    def __post_init__(self) -> None:
        columns = self.columns
        if isinstance(columns, str) or not all(isinstance(c, str) and c for c in columns):
            raise ConfigError(f"segments: a list of feature names, got {columns!r}")
        if len(set(columns)) != len(columns):
            raise ConfigError(f"segments: a column is named twice in {list(columns)!r}")
        object.__setattr__(self, "columns", tuple(columns))
        if not isinstance(self.max_values, int) or self.max_values < 1:
            raise ConfigError(
                f"max_segment_values: must be a whole number >= 1, got {self.max_values!r}"
            )
        if not isinstance(self.drift_sample, int) or self.drift_sample < 32:
            raise ConfigError(
                f"segment_drift_sample: must be a whole number >= 32, got {self.drift_sample!r}"
            )


def segment_settings(segments: Sequence[str] | SegmentSettings | None) -> SegmentSettings | None:
    """The segment settings of a Monitor's ``segments`` argument (None or empty: none).

    Raises:
        ConfigError: not a list of feature names (the message names ``segments``).
    """
    if segments is None or isinstance(segments, SegmentSettings):
        return segments
    if isinstance(segments, str):
        raise ConfigError(f"segments: a list of feature names, got the string {segments!r}")
    columns = tuple(segments)
    return SegmentSettings(columns) if columns else None


@dataclass(frozen=True, slots=True)
class QualitySettings:
    """How predictions are matched with their outcomes and scored.

    Args:
        task: ``"classification"``, ``"binary_score"`` or ``"regression"`` (default: the
            reference's, else inferred from the first 100 matched pairs).
        positive_label: the positive class of binary metrics (default: the reference's,
            else ``1``).
        threshold: a score at or above it predicts the positive class (``"binary_score"``;
            default: the reference's, else 0.5).
        outcome_ttl: how long a prediction waits for its outcome (and an early outcome for
            its prediction), in event time.
        max_pending_predictions, max_early_outcomes: the join buffer's bounds; beyond them
            the oldest entries leave (counted ``expired`` / ``unknown``).
        max_remembered_ids: ids kept after their prediction left (matched or expired), so
            that a late or repeated outcome counts ``expired`` or ``duplicate`` rather than
            ``unknown`` (default: ``max_pending_predictions``); about 350 bytes each.
    """

    task: TaskKind | None = None
    positive_label: Label | None = None
    threshold: float | None = None
    outcome_ttl: Duration = "1h"
    max_pending_predictions: int = 100_000
    max_early_outcomes: int = 10_000
    max_remembered_ids: int | None = None

    def __post_init__(self) -> None:
        parse_duration(self.outcome_ttl, "outcome_ttl")

    @property
    def outcome_ttl_s(self) -> float:
        """The outcome TTL in seconds."""
        return parse_duration(self.outcome_ttl, "outcome_ttl")

    def measured_as(
        self, reference: QualityMetrics | None
    ) -> tuple[TaskKind | None, Label | None, float]:
        """``(task, positive_label, threshold)`` quality is measured with, these settings
        completed by ``reference``'s quality (see :func:`aimon.quality.quality_settings`).

        Raises:
            ConfigError: a setting differs from the reference's, or is invalid (named).
        """
        try:
            return quality_settings(self.task, self.positive_label, self.threshold, reference)
        except QualityError as exc:
            raise ConfigError(str(exc)) from None


class Shorthands(TypedDict, total=False):
    """The knobs a Monitor also takes as keywords of its own."""

    slice: Duration
    buffer_size: int
    on_full: Literal["drop", "fold"]
    flush_interval: Duration
    evaluation_interval: Duration
    relative_accuracy: float
    max_features: int
    max_error_types: int
    held_bytes: int
    drift_window: Duration
    drift_events: int | None
    drift_sample: int
    drift_methods: str | Sequence[str] | None
    drift_min_count: int
    quality_task: TaskKind | None
    positive_label: Label | None
    quality_threshold: float | None
    outcome_ttl: Duration
    max_pending_predictions: int
    max_early_outcomes: int
    max_remembered_ids: int | None


#: Each shorthand keyword: the settings object it belongs to, and its field there.
_SHORTHANDS: dict[str, tuple[str, str]] = {
    **{name: ("limits", name) for name in (f.name for f in dataclasses.fields(Limits))},
    **{f"drift_{f.name}": ("drift", f.name) for f in dataclasses.fields(DriftSettings)},
    "quality_task": ("quality", "task"),
    "positive_label": ("quality", "positive_label"),
    "quality_threshold": ("quality", "threshold"),
    **{
        name: ("quality", name)
        for name in (
            "outcome_ttl", "max_pending_predictions", "max_early_outcomes", "max_remembered_ids"
        )
    },
}  # fmt: skip


def apply_shorthands(
    limits: Limits | None,
    drift: DriftSettings | None,
    quality: QualitySettings | None,
    shorthands: dict[str, Any],
) -> tuple[Limits, DriftSettings, QualitySettings]:
    """The three settings objects with the shorthand keywords applied (given objects are
    the base; a keyword overrides its field).

    Raises:
        ConfigError: an unknown keyword (named), or a bad value.

    >>> limits, drift, quality = apply_shorthands(None, None, None, {"drift_window": "2h"})
    >>> drift.window, limits.buffer_size
    ('2h', 65536)
    """
    objects: dict[str, Any] = {
        "limits": limits or Limits(),
        "drift": drift or DriftSettings(),
        "quality": quality or QualitySettings(),
    }
    changes: dict[str, dict[str, Any]] = {"limits": {}, "drift": {}, "quality": {}}
    for keyword, value in shorthands.items():
        where = _SHORTHANDS.get(keyword)
        if where is None:
            raise ConfigError(f"{keyword}: not a Monitor setting")
        changes[where[0]][where[1]] = value
    for group, fields in changes.items():
        if fields:
            objects[group] = dataclasses.replace(objects[group], **fields)
    return objects["limits"], objects["drift"], objects["quality"]
