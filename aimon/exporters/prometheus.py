"""A custom ``prometheus_client`` collector that renders Snapshots at scrape time.

Nothing is recorded into prometheus_client metrics on the hot path: every scrape folds each
monitor's buffer and reads one Snapshot, as client_python's custom collectors are meant to be
used. Metric names follow the design (prefix ``aimon_``, labels ``model`` and ``version``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from aimon.snapshot import Histogram, Snapshot
from aimon.text import valid_text

__all__ = ["AimonCollector", "SnapshotSource", "SnapshotSources", "window_label"]


class SnapshotSource(Protocol):
    """Anything the exporters can read: one object with ``snapshot()``, such as a Monitor."""

    def snapshot(self) -> Snapshot:
        """The source's state now."""


#: What the exporters serve: some sources, or a callable returning them (read at each scrape).
SnapshotSources = Sequence[SnapshotSource] | Callable[[], Iterable[SnapshotSource]]

BASE_LABELS = ("model", "version")


def window_label(seconds: float) -> str:
    """A window length the way Prometheus writes durations: 300 -> ``"5m"``.

    >>> window_label(300), window_label(3600), window_label(90), window_label(0.5)
    ('5m', '1h', '90s', '500ms')
    """
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def _bucket_bound(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def _histogram_buckets(hist: Histogram) -> list[tuple[str, float]]:
    bounds = [*hist.bounds, math.inf]
    return [(_bucket_bound(b), float(c)) for b, c in zip(bounds, hist.cumulative, strict=True)]


class AimonCollector(Collector):
    """Exposes the Snapshots of some monitors as Prometheus metrics.

    Args:
        monitors: a sequence of monitors (anything with ``snapshot()``), or a callable
            returning the monitors to export (read at every scrape).

    Register it with any ``prometheus_client`` registry::

        REGISTRY.register(AimonCollector([mon]))
    """

    def __init__(self, monitors: SnapshotSources) -> None:
        self._source = monitors

    def snapshots(self) -> list[Snapshot]:
        """One fresh Snapshot per monitor."""
        monitors = self._source() if callable(self._source) else self._source
        return [m.snapshot() for m in monitors]

    def collect(self) -> Iterator[Metric]:
        """Called by the registry at every scrape."""
        yield from render(self.snapshots())


_Family = (
    type[CounterMetricFamily]
    | type[GaugeMetricFamily]
    | type[HistogramMetricFamily]
    | type[SummaryMetricFamily]
)

#: Every family the exporter writes: key -> (kind, metric name, help, labels after the base).
_FAMILIES: dict[str, tuple[_Family, str, str, tuple[str, ...]]] = {
    "predictions": (CounterMetricFamily, "aimon_predictions",
                    "Predictions by outcome (ok or error).", ("outcome",)),
    "errors": (CounterMetricFamily, "aimon_prediction_errors",
               "Failed predictions by exception type (capped cardinality).", ("error_type",)),
    "latency": (HistogramMetricFamily, "aimon_prediction_latency_seconds",
                "Prediction latency; fixed log-spaced buckets, summable across replicas.", ()),
    "input": (HistogramMetricFamily, "aimon_input_bytes",
              "Input payload size (estimated for containers).", ()),
    "output": (HistogramMetricFamily, "aimon_output_bytes",
               "Output payload size (estimated for containers).", ()),
    "quantiles": (SummaryMetricFamily, "aimon_latency_seconds",
                  "Latency quantiles over the rolling window, from a 1%-relative-error sketch "
                  "(_sum and _count: since start, as a summary's are).", ("window",)),
    "error_ratio": (GaugeMetricFamily, "aimon_error_ratio",
                    "Errors / predictions over the rolling window.", ("window",)),
    "throughput": (GaugeMetricFamily, "aimon_throughput",
                   "Predictions per second over the rolling window.", ("window",)),
    "window_count": (GaugeMetricFamily, "aimon_window_predictions",
                     "Predictions in the rolling window.", ("window",)),
    "missing": (CounterMetricFamily, "aimon_feature_missing",
                "Missing, NaN or invalid feature values.", ("feature",)),
    "skipped": (CounterMetricFamily, "aimon_features_skipped",
                "Calls whose input was not profiled because the fold ran behind.", ()),
    "dropped": (CounterMetricFamily, "aimon_events_dropped",
                "Events not counted in the window, by reason.", ("reason",)),
    "internal": (CounterMetricFamily, "aimon_internal_errors",
                 "Failures inside aimon (never raised to the caller).", ()),
    "drift": (GaugeMetricFamily, "aimon_feature_drift",
              "Drift of a feature over the drift window, by method (psi, ks, ks_pvalue, "
              "wasserstein, js, chi2, chi2_pvalue).", ("feature", "method")),
    "drifted": (GaugeMetricFamily, "aimon_feature_drifted",
                "1 when the feature's default drift test finds drift.", ("feature",)),
    "bins": (CounterMetricFamily, "aimon_feature_bin",
             "Live values in each of the reference's bins or categories.", ("feature", "bin")),
    "reference_bins": (GaugeMetricFamily, "aimon_reference_bin_ratio",
                       "The reference's share of each bin or category.", ("feature", "bin")),
    "drift_events": (GaugeMetricFamily, "aimon_drift_window_events",
                     "Events in the drift window.", ()),
    "max_ks": (GaugeMetricFamily, "aimon_drift_max_ks",
               "The largest KS statistic across input features beyond chance (less its "
               "Bonferroni critical value, family-wise 5 %): what the ModelDrift rule reads.",
               ()),
    "missing_ratio": (GaugeMetricFamily, "aimon_feature_missing_ratio",
                      "Share of the rolling window's rows without the feature's value.",
                      ("feature",)),
    "reference_missing": (GaugeMetricFamily, "aimon_reference_missing_ratio",
                          "The reference's share of rows without the feature's value.",
                          ("feature",)),
    "out_of_range": (GaugeMetricFamily, "aimon_feature_out_of_range_ratio",
                     "Share of the feature's values in the rolling window outside the "
                     "reference's range (or explicit bounds).", ("feature",)),
    "type_violations": (GaugeMetricFamily, "aimon_feature_type_violation_ratio",
                        "Share of the rolling window's rows with a label in a numeric feature.",
                        ("feature",)),
    "unseen": (GaugeMetricFamily, "aimon_feature_unseen_ratio",
               "Share of the feature's labels in the rolling window that the reference does "
               "not name.", ("feature",)),
    "absent": (GaugeMetricFamily, "aimon_feature_absent",
               "1 when no input in the rolling window had the feature.", ("feature",)),
    "constant": (GaugeMetricFamily, "aimon_feature_constant",
                 "1 when the feature has one distinct value in the rolling window where the "
                 "reference had several.", ("feature",)),
    "alert_state": (GaugeMetricFamily, "aimon_alert_state",
                    "Alert rule state: 0 inactive, 1 pending, 2 firing.", ("rule",)),
    "quality": (GaugeMetricFamily, "aimon_model_quality",
                "Model quality over the predictions matched with their outcome in the rolling "
                "window (accuracy, f1, roc_auc, mae...).", ("metric",)),
    "reference_quality": (GaugeMetricFamily, "aimon_reference_quality",
                          "Model quality on the reference data, the baseline of "
                          "aimon_model_quality (same metrics).", ("metric",)),
    "quality_pairs": (GaugeMetricFamily, "aimon_model_quality_pairs",
                      "Matched (prediction, outcome) pairs behind aimon_model_quality.", ()),
    "estimated": (GaugeMetricFamily, "aimon_estimated_quality",
                  "Quality estimated from the scores in the rolling window before labels "
                  "arrive (CBPE): accuracy, precision, recall, f1, roc_auc.", ("metric",)),
    "estimated_error": (GaugeMetricFamily, "aimon_estimated_quality_std_error",
                        "Standard error of aimon_estimated_quality (its sampling interval).",
                        ("metric",)),
    "estimated_rows": (GaugeMetricFamily, "aimon_estimated_quality_rows",
                       "Scores behind aimon_estimated_quality.", ()),
    "reference_estimated": (GaugeMetricFamily, "aimon_reference_estimated_quality",
                            "The same estimate on the reference's scores: the baseline of "
                            "EstimatedQualityBelowReference.", ("metric",)),
    "mv_error": (GaugeMetricFamily, "aimon_multivariate_reconstruction_error",
                 "Mean PCA reconstruction error of a sample of the rolling window's whole "
                 "rows (multivariate drift).", ()),
    "mv_upper": (GaugeMetricFamily, "aimon_multivariate_reconstruction_upper",
                 "Upper bound of the reconstruction error's band, from the reference's "
                 "chunks (mean + 3 standard deviations).", ()),
    "mv_drifted": (GaugeMetricFamily, "aimon_multivariate_drifted",
                   "1 when the reconstruction error is outside the reference's band (judged "
                   "once the sample is worth a reference chunk's rows).", ()),
    "mv_rows": (GaugeMetricFamily, "aimon_multivariate_rows",
                "Rows in the rolling window behind aimon_multivariate_reconstruction_error.",
                ()),
    "outcomes": (CounterMetricFamily, "aimon_outcomes",
                 "Outcomes recorded, by result (matched, expired, unknown, duplicate).",
                 ("result",)),
    "refused": (CounterMetricFamily, "aimon_predictions_refused",
                "Predictions not held for the outcome join: their request id (or text value) "
                "longer than 256 characters.", ()),
    "in_flight": (GaugeMetricFamily, "aimon_in_flight_calls",
                  "Watched calls running now (a hung call shows here before it returns).", ()),
    "oldest_in_flight": (GaugeMetricFamily, "aimon_oldest_in_flight_seconds",
                         "How long the oldest watched call still running has run (0: none).",
                         ()),
    "notifications": (CounterMetricFamily, "aimon_alert_notifications",
                      "Alert notifications by sink and result (delivered, failed, dropped).",
                      ("sink", "result")),
    # Per segment value (Monitor(segments=[...])): per segment column at most max_values
    # values (the busiest; __missing__ and __mixed__ compete like any) and __other__.
    "segment_predictions": (CounterMetricFamily, "aimon_segment_predictions",
                            "Predictions of a segment by outcome (ok or error), since the "
                            "value got its place.", ("segment", "segment_value", "outcome")),
    "segment_quantiles": (SummaryMetricFamily, "aimon_segment_latency_seconds",
                          "Latency quantiles of a segment over the rolling window (_sum and "
                          "_count: since the value got its place).",
                          ("segment", "segment_value", "window")),
    "segment_error_ratio": (GaugeMetricFamily, "aimon_segment_error_ratio",
                            "Errors / predictions of a segment over the rolling window.",
                            ("segment", "segment_value", "window")),
    "segment_window_count": (GaugeMetricFamily, "aimon_segment_window_predictions",
                             "Predictions of a segment in the rolling window.",
                             ("segment", "segment_value", "window")),
    "segment_drift": (GaugeMetricFamily, "aimon_segment_feature_drift",
                      "Drift of a feature within a segment against the reference's profile of "
                      "the same segment, by method (as aimon_feature_drift).",
                      ("segment", "segment_value", "feature", "method")),
    "segment_drifted": (GaugeMetricFamily, "aimon_segment_feature_drifted",
                        "1 when the feature's default drift test finds drift within a segment.",
                        ("segment", "segment_value", "feature")),
    "segment_max_ks": (GaugeMetricFamily, "aimon_segment_drift_max_ks",
                       "The largest KS statistic across input features beyond chance within "
                       "a segment (as aimon_drift_max_ks).", ("segment", "segment_value")),
    "segment_quality": (GaugeMetricFamily, "aimon_segment_model_quality",
                        "Model quality of a segment over its predictions matched with their "
                        "outcome in the rolling window (as aimon_model_quality).",
                        ("segment", "segment_value", "metric")),
    "segment_quality_pairs": (GaugeMetricFamily, "aimon_segment_model_quality_pairs",
                              "Matched pairs behind aimon_segment_model_quality.",
                              ("segment", "segment_value")),
    "segment_evictions": (CounterMetricFamily, "aimon_segment_evictions",
                          "Values of a segment column that lost their place to busier ones "
                          "(past the cap of values kept apart), since start.", ("segment",)),
}  # fmt: skip

#: Drop reasons exported from the start (at 0), so that rate() sees their first increase;
#: others (``malformed_outcome``, ``outcome_invalid``...) appear when they first happen.
_DROP_REASONS = ("buffer_full", "late", "future", "malformed")
_DRIFT_NUMBERS = ("psi", "ks", "ks_pvalue", "wasserstein", "js", "chi2", "chi2_pvalue")


def render(snapshots: Sequence[Snapshot]) -> Iterator[Metric]:
    """The Prometheus metric families for some Snapshots."""
    f: dict[str, Any] = {  # the three family classes share add_metric, Metric does not
        key: kind(name, doc, labels=[*BASE_LABELS, *labels])
        for key, (kind, name, doc, labels) in _FAMILIES.items()
    }
    for snap in snapshots:
        base = [snap.model, snap.version or ""]
        window = window_label(snap.window.length_s)
        totals = snap.totals
        f["predictions"].add_metric([*base, "ok"], totals.ok)
        f["predictions"].add_metric([*base, "error"], totals.calls - totals.ok)
        for error_type, count in sorted(totals.errors.items()):
            f["errors"].add_metric([*base, error_type], count)
        for key, hist in (
            ("latency", totals.latency),
            ("input", totals.input_size),
            ("output", totals.output_size),
        ):
            f[key].add_metric(base, buckets=_histogram_buckets(hist), sum_value=hist.sum)
        _render_quantiles(f["quantiles"], _labels((*BASE_LABELS, "window"), *base, window), snap)
        f["error_ratio"].add_metric([*base, window], snap.error_rate)
        f["throughput"].add_metric([*base, window], snap.throughput)
        f["window_count"].add_metric([*base, window], snap.count)
        for feature, count in sorted(totals.feature_missing.items()):
            f["missing"].add_metric([*base, feature], count)
        for reason in sorted({*_DROP_REASONS, *snap.dropped}):
            f["dropped"].add_metric([*base, reason], snap.dropped.get(reason, 0))
        f["skipped"].add_metric(base, totals.features_skipped)
        f["internal"].add_metric(base, snap.internal_errors)
        f["in_flight"].add_metric(base, snap.in_flight)
        f["oldest_in_flight"].add_metric(base, snap.oldest_in_flight_s or 0.0)
        _render_drift(f, base, snap)
        _render_data_quality(f, base, snap)
        _render_alerts(f, base, snap)
        _render_quality(f, base, snap)
        _render_multivariate(f, base, snap)
        _render_segments(f, base, snap)
    families = list(f.values())
    _valid_labels(families)
    yield from families


def _labels(names: Sequence[str], *values: str) -> dict[str, str]:
    return dict(zip(names, values, strict=True))


def _valid_labels(families: list[Any]) -> None:
    """Label values made :func:`~aimon.text.valid_text`: one lone surrogate (kept in a
    checkpoint of an older aimon, or from an exception class's name) failed the UTF-8
    encoding of the whole exposition, so every scrape answered 500."""
    for family in families:
        for sample in family.samples:
            labels = sample.labels
            for name, value in labels.items():
                if not value.isascii():
                    labels[name] = valid_text(value)


def _render_quantiles(family: SummaryMetricFamily, labels: dict[str, str], snap: Snapshot) -> None:
    """p50, p95 and p99 over ``snap``'s window; ``labels``: every label but ``quantile``, in
    the family's order."""
    # A summary, not gauges: a `quantile` label on a gauge fails `promtool check metrics`.
    for q, value in (("0.5", snap.latency.p50), ("0.95", snap.latency.p95),
                     ("0.99", snap.latency.p99)):  # fmt: skip
        sample = math.nan if value is None else value
        family.add_sample(family.name, {**labels, "quantile": q}, sample)
    family.add_metric(list(labels.values()), snap.totals.latency.count, snap.totals.latency.sum)


def _render_quality(f: dict[str, Any], base: list[str], snap: Snapshot) -> None:
    if snap.outcomes:
        for result in ("matched", "expired", "unknown", "duplicate"):
            f["outcomes"].add_metric([*base, result], snap.outcomes.get(result, 0))
        f["refused"].add_metric(base, snap.outcomes.get("predictions_refused", 0))
    if snap.quality is not None:
        f["quality_pairs"].add_metric(base, snap.quality.count)
        for metric, value in snap.quality.values().items():
            f["quality"].add_metric([*base, metric], value)
    if snap.reference_quality is not None:
        for metric, value in snap.reference_quality.values().items():
            f["reference_quality"].add_metric([*base, metric], value)
    estimated = snap.estimated_quality
    if estimated is not None:
        f["estimated_rows"].add_metric(base, estimated.count)
        for metric, value in estimated.values().items():
            f["estimated"].add_metric([*base, metric], value)
        for metric, error in estimated.std_error.items():
            f["estimated_error"].add_metric([*base, metric], error)
    if snap.reference_estimated_quality is not None:
        for metric, value in snap.reference_estimated_quality.values().items():
            f["reference_estimated"].add_metric([*base, metric], value)


def _render_alerts(f: dict[str, Any], base: list[str], snap: Snapshot) -> None:
    for rule, state in sorted(snap.rule_states.items()):
        f["alert_state"].add_metric([*base, rule], state)
    for sink, results in sorted(snap.totals.notifications.items()):
        for result, count in sorted(results.items()):
            f["notifications"].add_metric([*base, sink, result], count)


def _render_multivariate(f: dict[str, Any], base: list[str], snap: Snapshot) -> None:
    reading = snap.multivariate_drift
    if reading is not None:
        f["mv_error"].add_metric(base, reading.error)
        f["mv_upper"].add_metric(base, reading.upper)
        f["mv_drifted"].add_metric(base, float(reading.drifted))
        f["mv_rows"].add_metric(base, reading.rows)


def _render_data_quality(f: dict[str, Any], base: list[str], snap: Snapshot) -> None:
    for feature, q in sorted(snap.data_quality.items()):
        labels = [*base, feature]
        f["missing_ratio"].add_metric(labels, q.missing_share)
        f["reference_missing"].add_metric(labels, q.reference_missing_share)
        f["type_violations"].add_metric(labels, q.type_violation_share)
        if q.out_of_range_share is not None:
            f["out_of_range"].add_metric(labels, q.out_of_range_share)
        if q.unseen_share is not None:
            f["unseen"].add_metric(labels, q.unseen_share)
        f["absent"].add_metric(labels, float(q.absent))
        f["constant"].add_metric(labels, float(q.constant))


def _render_drift(f: dict[str, Any], base: list[str], snap: Snapshot) -> None:
    if snap.drift_window is None:
        return
    f["drift_events"].add_metric(base, snap.drift_window.events)
    if snap.drift_window.max_ks is not None:
        f["max_ks"].add_metric(base, snap.drift_window.max_ks)
    _render_feature_drift(f["drift"], f["drifted"], base, snap)
    for feature, bins in sorted(snap.totals.feature_bins.items()):
        for label, count in bins.items():
            f["bins"].add_metric([*base, feature, label], count)
    for feature, ratios in sorted(snap.reference_bins.items()):
        for label, ratio in ratios.items():
            f["reference_bins"].add_metric([*base, feature, label], ratio)


def _render_feature_drift(
    drift: GaugeMetricFamily, drifted: GaugeMetricFamily, labels: list[str], snap: Snapshot
) -> None:
    """Each feature's drift numbers and verdict; ``labels``: the values before ``feature``."""
    for feature, reading in sorted(snap.drift.items()):
        drifted.add_metric([*labels, feature], float(reading.drifted))
        for method in _DRIFT_NUMBERS:
            value = getattr(reading, method)
            if value is not None:
                drift.add_metric([*labels, feature, method], value)


def _render_segments(f: dict[str, Any], base: list[str], snap: Snapshot) -> None:
    """Each segment value's Snapshot, labelled with its column (``segment``) and value."""
    for column, evicted in sorted(snap.segment_evictions.items()):
        f["segment_evictions"].add_metric([*base, column], evicted)
    for column, values in sorted(snap.segments.items()):
        for value, seg in sorted(values.items()):
            labels = [*base, column, value]
            window = window_label(seg.window.length_s)
            totals = seg.totals
            f["segment_predictions"].add_metric([*labels, "ok"], totals.ok)
            f["segment_predictions"].add_metric([*labels, "error"], totals.calls - totals.ok)
            names = (*BASE_LABELS, "segment", "segment_value", "window")
            _render_quantiles(f["segment_quantiles"], _labels(names, *labels, window), seg)
            f["segment_error_ratio"].add_metric([*labels, window], seg.error_rate)
            f["segment_window_count"].add_metric([*labels, window], seg.count)
            if seg.quality is not None:
                f["segment_quality_pairs"].add_metric(labels, seg.quality.count)
                for metric, reading in seg.quality.values().items():
                    f["segment_quality"].add_metric([*labels, metric], reading)
            if seg.drift_window is None:
                continue
            if seg.drift_window.max_ks is not None:
                f["segment_max_ks"].add_metric(labels, seg.drift_window.max_ks)
            _render_feature_drift(f["segment_drift"], f["segment_drifted"], labels, seg)
