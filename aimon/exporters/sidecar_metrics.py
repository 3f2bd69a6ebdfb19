"""The sidecar's own health as Prometheus metrics: lines read, malformed lines by reason, what
the log tailer saw (rotations, truncations, copies read, bytes skipped or lost), how far
behind the log it is, the models folded into ``other``, the outcomes that came in (lines
of the outcomes log, malformed ones, posted ones, rejected ones, its lag), and whether its
checkpoints are written (failures, the last success, unusable ones skipped at start)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = ["SidecarCollector", "SidecarHealth"]


class _Tailer(Protocol):
    @property
    def counts(self) -> Mapping[str, int]:
        """What the tailer saw, by event (see :data:`LOG_EVENTS`, :data:`LOG_BYTES`)."""

    def lag_bytes(self) -> int | None:
        """Bytes written and not read yet, None when that cannot be known (a pipe)."""


class SidecarHealth(Protocol):
    """What :class:`SidecarCollector` reads, as :class:`aimon.sidecar.Sidecar` has it."""

    @property
    def tailer(self) -> _Tailer:
        """The prediction log's reader."""

    @property
    def outcomes_tailer(self) -> _Tailer | None:
        """The outcomes log's reader, if there is one."""

    @property
    def lines(self) -> int:
        """Prediction log lines read."""

    @property
    def malformed(self) -> Mapping[str, int]:
        """Prediction log lines skipped, by reason."""

    @property
    def models_folded(self) -> int:
        """Events of models past the cap, counted as ``other``."""

    @property
    def outcome_lines(self) -> int:
        """Outcomes log lines read."""

    @property
    def outcomes_malformed(self) -> Mapping[str, int]:
        """Outcomes log lines skipped, by reason."""

    @property
    def outcomes_posted(self) -> int:
        """Outcomes accepted by ``POST /outcomes``."""

    @property
    def outcomes_rejected(self) -> Mapping[str, int]:
        """Outcomes not recorded, by reason (``unknown_model``)."""

    @property
    def checkpoint_failures(self) -> int:
        """Checkpoints that could not be written."""

    @property
    def last_checkpoint_at(self) -> float | None:
        """When the last checkpoint was written (epoch seconds), None before the first."""

    @property
    def checkpoints_discarded(self) -> int:
        """Checkpoints found unusable at start and skipped."""

    def ready(self) -> bool:
        """The log was read to its end."""


#: Tailer events counted in ``aimon_sidecar_log_events_total{event}``.
LOG_EVENTS = ("rotations", "truncations", "copies_read", "long_lines", "reopened",
              "lost_position")  # fmt: skip
#: Tailer byte counts in ``aimon_sidecar_log_bytes_total{kind}``.
LOG_BYTES = ("bytes_skipped", "bytes_lost")


class SidecarCollector(Collector):
    """Collects ``sidecar``'s health at each scrape (made inside the sidecar's scrape guard,
    so the numbers agree with the checkpoint taken for the same response)."""

    def __init__(self, sidecar: SidecarHealth) -> None:
        self.sidecar = sidecar

    def collect(self) -> Iterator[Metric]:
        sidecar = self.sidecar
        counts = sidecar.tailer.counts
        lines = CounterMetricFamily("aimon_sidecar_lines", "Log lines read (blank ones included).")
        lines.add_metric([], sidecar.lines)
        yield lines
        malformed = CounterMetricFamily(
            "aimon_sidecar_malformed_lines", "Log lines skipped as malformed, by reason.",
            labels=["reason"],
        )  # fmt: skip
        for reason, count in sorted(sidecar.malformed.items()):
            malformed.add_metric([reason], count)
        yield malformed
        events = CounterMetricFamily(
            "aimon_sidecar_log_events", "What the log tailer saw, by event.", labels=["event"]
        )
        for event in LOG_EVENTS:
            events.add_metric([event], counts.get(event, 0))
        yield events
        skipped = CounterMetricFamily(
            "aimon_sidecar_log_bytes",
            "Log bytes not read as lines: skipped (over-long or unfinished lines) or lost (a "
            "truncation took them before they were read, a lower bound).",
            labels=["kind"],
        )
        for kind in LOG_BYTES:
            skipped.add_metric([kind.removeprefix("bytes_")], counts.get(kind, 0))
        yield skipped
        folded = CounterMetricFamily(
            "aimon_sidecar_models_folded", "Events of models past the cap, counted as other."
        )
        folded.add_metric([], sidecar.models_folded)
        yield folded
        lag = sidecar.tailer.lag_bytes()
        if lag is not None:
            behind = GaugeMetricFamily(
                "aimon_sidecar_lag_bytes", "Bytes written to the log and not read yet."
            )
            behind.add_metric([], lag)
            yield behind
        ready = GaugeMetricFamily("aimon_sidecar_ready", "1 once the log was read to its end.")
        ready.add_metric([], 1.0 if sidecar.ready() else 0.0)
        yield ready
        yield from _outcome_metrics(sidecar)
        yield from _checkpoint_metrics(sidecar)


def _checkpoint_metrics(sidecar: SidecarHealth) -> Iterator[Metric]:
    """Whether checkpoints are written: a failing one does not stop the sidecar, so this
    (and ``/ready``) is how it is seen."""
    failures = CounterMetricFamily(
        "aimon_sidecar_checkpoint_failures",
        "Checkpoints that could not be written (full disk, read-only state directory...).",
    )
    failures.add_metric([], sidecar.checkpoint_failures)
    yield failures
    if sidecar.last_checkpoint_at is not None:
        last = GaugeMetricFamily(
            "aimon_sidecar_checkpoint_last_success_timestamp_seconds",
            "When the last checkpoint was written, in epoch seconds.",
        )
        last.add_metric([], sidecar.last_checkpoint_at)
        yield last
    discarded = CounterMetricFamily(
        "aimon_sidecar_checkpoints_discarded",
        "Checkpoints found unusable at start (corrupt, half-written, of another version), "
        "skipped for an older one or a fresh start.",
    )
    discarded.add_metric([], sidecar.checkpoints_discarded)
    yield discarded


def _outcome_metrics(sidecar: SidecarHealth) -> Iterator[Metric]:
    """What came in as outcomes: lines of the outcomes log, malformed ones, posted ones."""
    lines = CounterMetricFamily(
        "aimon_sidecar_outcome_lines", "Outcomes log lines read (blank ones included)."
    )
    lines.add_metric([], sidecar.outcome_lines)
    yield lines
    malformed = CounterMetricFamily(
        "aimon_sidecar_malformed_outcome_lines",
        "Outcomes log lines skipped as malformed, by reason.",
        labels=["reason"],
    )
    for reason, count in sorted(sidecar.outcomes_malformed.items()):
        malformed.add_metric([reason], count)
    yield malformed
    posted = CounterMetricFamily(
        "aimon_sidecar_outcomes_posted", "Outcomes accepted by POST /outcomes."
    )
    posted.add_metric([], sidecar.outcomes_posted)
    yield posted
    rejected = CounterMetricFamily(
        "aimon_sidecar_outcomes_rejected",
        "Outcomes not recorded, by reason (unknown_model: a model the prediction log never "
        "named, and no monitor holds the request id).",
        labels=["reason"],
    )
    for reason in sorted({"unknown_model", *sidecar.outcomes_rejected}):
        rejected.add_metric([reason], sidecar.outcomes_rejected.get(reason, 0))
    yield rejected
    tailer = sidecar.outcomes_tailer
    lag = None if tailer is None else tailer.lag_bytes()
    if lag is not None:
        behind = GaugeMetricFamily(
            "aimon_sidecar_outcomes_lag_bytes", "Bytes written to the outcomes log, not read yet."
        )
        behind.add_metric([], lag)
        yield behind
