"""What each of a sidecar's monitors is made with (:class:`MonitorSettings`), checked once
when the settings are made, and the Monitor made from them for each model (and version).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from aimon.alerts.router import Router
from aimon.drift.reference import Reference
from aimon.durations import Duration, parse_duration
from aimon.monitors import Monitor
from aimon.rule_engine import make_alerting
from aimon.settings import DriftSettings, Limits, QualitySettings, SegmentSettings
from aimon.thresholds import Thresholds

__all__ = ["MonitorSettings"]


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """What each of a sidecar's monitors (one per model and version) is made with.

    Args:
        window: the rolling window's length.
        reference: the profile to measure drift against, one for every model.
        thresholds: the alerting rules (None: the default rules when there is a router).
        router: where every model's alerts go; its owner closes it (the monitors do not).
        limits: how events are recorded and folded. Its ``on_full`` is always ``"fold"``
            here: a log line is never dropped for want of buffer room, the read waits
            for the fold instead.
        drift: the drift window's settings.
        quality: how outcomes are matched with predictions and scored.
        segments: the features whose values each get a window, drift and data quality of
            their own in every monitor, read from each line's ``features`` (None: none).
            Drift per segment needs a reference built with the same segments.

    Raises:
        ConfigError: the window is not a duration, or a rule names a segment column the
            monitors do not keep (``segments``).

    >>> settings = MonitorSettings(window="10m", limits=Limits(buffer_size=1024))
    >>> settings.limits.on_full, settings.limits.buffer_size
    ('fold', 1024)
    """

    window: Duration = "5m"
    reference: Reference | None = None
    thresholds: Thresholds | None = None
    router: Router | None = None
    limits: Limits = field(default_factory=Limits)
    drift: DriftSettings = field(default_factory=DriftSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    segments: SegmentSettings | None = None

    def __post_init__(self) -> None:
        parse_duration(self.window, "window")
        # at start, not at the first model's first line (monitors are made when needed)
        self.quality.measured_as(None if self.reference is None else self.reference.quality)
        if self.thresholds is not None:  # a rule on a segment column the monitors do not keep
            columns = self.segments.columns if self.segments is not None else ()
            make_alerting(self.thresholds, None, None, self.limits.evaluation_interval, "", None,
                          segments=columns)  # fmt: skip
        if self.limits.on_full != "fold":
            # frozen: the one way to set a field while making the object
            object.__setattr__(self, "limits", dataclasses.replace(self.limits, on_full="fold"))

    def monitor(self, model: str, version: str | None) -> Monitor:
        """A new Monitor of ``model`` (and ``version``) with these settings."""
        return Monitor(
            model,
            version,
            window=self.window,
            reference=self.reference,
            thresholds=self.thresholds,
            router=self.router,
            limits=self.limits,
            drift=self.drift,
            quality=self.quality,
            segments=self.segments,
        )
