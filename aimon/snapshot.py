"""The Snapshot: an immutable, typed picture of one model's state at one moment.

Every consumer (the Prometheus exporter, ``/status``, thresholds, the CLI) reads Snapshots;
nobody reads the Window directly. Times are UTC, durations and latencies are in seconds,
sizes in bytes.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from aimon.alerts.alert import Alert
from aimon.quality.cbpe import EstimatedQuality
from aimon.quality.metrics import QualityMetrics

__all__ = [
    "DriftWindowInfo",
    "FeatureDrift",
    "FeatureQuality",
    "FeatureSummary",
    "Histogram",
    "MultivariateReading",
    "Snapshot",
    "Summary",
    "Totals",
    "WindowInfo",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Summary(_Frozen):
    """Distribution of a quantity over the window, from a quantile sketch.

    Quantiles are within the sketch's relative accuracy (1 % by default) of the exact value;
    ``mean``, ``min``, ``max`` and ``count`` are exact. Values are ``None`` when ``count`` is 0.
    """

    count: int = 0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    mean: float | None = None
    min: float | None = None
    max: float | None = None


class FeatureSummary(_Frozen):
    """One feature over the window: how often present, and what its values looked like."""

    kind: str | None
    count: int
    missing: int
    missing_share: float
    invalid: int
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    top: dict[str, int] = {}


class FeatureDrift(_Frozen):
    """One feature's drift over the drift window, against the reference.

    ``drifted`` and ``method`` are the verdict of the test Evidently would choose for the
    feature (by kind, reference size and distinct values; see :mod:`aimon.drift.methods`).
    The other numbers are there as the kind allows: ``psi``, ``js`` (Jensen-Shannon) and
    ``chi2`` come from exact counts in the reference's bins or categories; ``ks`` and
    ``wasserstein`` (normed by the reference's standard deviation) from a bounded sample of
    the window, within ``ks_error_bound`` of the exact KS statistic at 95 % confidence.
    ``unseen`` counts live labels the reference does not name (at most 32 named).
    """

    kind: str
    count: int
    missing: int
    missing_share: float
    reference_missing_share: float
    drifted: bool = False
    method: str | None = None
    psi: float | None = None
    ks: float | None = None
    ks_pvalue: float | None = None
    wasserstein: float | None = None
    js: float | None = None
    chi2: float | None = None
    chi2_pvalue: float | None = None
    ks_error_bound: float | None = None
    unseen: dict[str, int] = {}


class FeatureQuality(_Frozen):
    """One feature's data quality against the reference (see :mod:`aimon.drift.data_quality`).

    ``rows`` is the rows in which the feature was expected, ``values`` those with a valid
    value. Shares of rows: ``missing_share`` (no value: absent, None, NaN), its increase over
    the reference's (``missing_increase``; None for an absent feature, which ``absent``
    reports), ``type_violation_share`` (a label in a numeric
    feature). Shares of values: ``out_of_range_share`` (numeric: outside the reference's
    range or explicit bounds) and ``unseen_share`` (categorical: labels the reference does
    not name; None when it kept only its top K). ``out_of_range_pvalue`` bounds the chance of
    that many values beyond the reference's observed extremes with no change (0 against
    explicit bounds). ``absent``: no input had the feature;
    ``constant``: one distinct value where the reference had several.
    """

    kind: str
    rows: int
    values: int
    missing_share: float
    reference_missing_share: float
    missing_increase: float | None
    type_violation_share: float
    out_of_range_share: float | None = None
    out_of_range_pvalue: float | None = None
    unseen_share: float | None = None
    absent: bool = False
    constant: bool = False


class DriftWindowInfo(_Frozen):
    """The drift window: a time span (``length_s``) or the last ``max_events`` events.

    ``drifted`` lists the drifted features (the prediction included when the reference
    names one in ``prediction``, and the target, label drift of the matched outcomes, when it
    names one in ``target``); ``share_drifted`` is their share of the input features.
    """

    events: int
    length_s: float | None
    max_events: int | None
    share_drifted: float
    drifted: list[str]
    prediction: str | None = None
    target: str | None = None
    max_ks: float | None = None


class MultivariateReading(_Frozen):
    """Multivariate drift over the rolling window: the mean PCA reconstruction error of a
    sample of whole rows against the band learnt on the reference's chunks (see
    :mod:`aimon.drift.multivariate.reconstruction`).

    ``rows`` are the rows with a value in some of ``columns`` seen in the window, ``sampled``
    the rows kept and scored, ``effective_rows`` what the weighted sample is worth (Kish).
    ``drifted`` is the error outside ``(lower, upper)``, judged only once ``effective_rows``
    reaches ``chunk_size`` (the reference chunks' rows, which the band is calibrated for);
    False before.
    """

    columns: list[str]
    error: float
    lower: float | None
    upper: float
    drifted: bool
    sampling_error: float
    rows: int
    sampled: int
    effective_rows: float
    chunk_size: int


class Histogram(_Frozen):
    """A cumulative histogram since start: ``cumulative[i]`` values were <= ``bounds[i]``;
    the last entry of ``cumulative`` counts everything (``+Inf``)."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    sum: float
    count: int


class Totals(_Frozen):
    """Counts since the monitor started (Prometheus counters are made of these).

    ``features_skipped`` counts calls whose input (features, input size) was not profiled
    because the fold ran behind the calls; the profiled ones are then a uniform random sample.
    """

    calls: int
    ok: int
    errors: dict[str, int]
    latency: Histogram
    input_size: Histogram
    output_size: Histogram
    feature_missing: dict[str, int]
    features_skipped: int = 0
    feature_bins: dict[str, dict[str, int]] = {}
    notifications: dict[str, dict[str, int]] = {}


class WindowInfo(_Frozen):
    """The bounds of the rolling window the windowed numbers are computed over."""

    start: datetime
    end: datetime
    length_s: float
    slice_s: float
    span_s: float


class Snapshot(_Frozen):
    """The state of one model over its rolling window, plus totals since start.

    Attributes:
        count: calls in the window; ``ok`` of them succeeded.
        error_rate: errors / calls in the window (0.0 when there were no calls).
        errors: errors in the window by exception type name.
        throughput: calls per second over the elapsed part of the window.
        latency: p50/p95/p99/mean/min/max of call latency in seconds, over the calls that
            ended in the window and those still running (each at its age so far, a lower
            bound of its latency: a hung call shows, and can fire a latency rule).
        estimated_quality: a scored binary classifier's accuracy, precision, recall, F1 and
            ROC AUC estimated from its scores in the window before any label arrives (CBPE,
            calibrated on the reference; each with its sampling interval); None without a
            reference built with the target and the scores.
        reference_estimated_quality: the same estimate on the reference's own scores.
        estimated_quality_change: estimated minus the reference's own estimate, per metric;
            what ``relative_to="reference"`` rules on ``estimated_*`` metrics read.
        in_flight: watched calls running now (sync calls on any thread, async ones in any
            task); ``oldest_in_flight_s`` how long the oldest has been running.
        input_size, output_size: payload sizes in bytes.
        features: per-feature summaries over the window.
        dropped: events not counted, by reason (``buffer_full``, ``late``, ``future``,
            ``malformed``...), since start.
        late: events older than the window when they arrived (also in ``dropped``).
        internal_errors: failures inside aimon itself (never raised to the caller).
        drift: per reference feature (and the prediction), its drift over the drift window;
            empty without a reference.
        drift_window: what the drift window holds, which features drifted.
        data_quality: per reference input feature, its data quality over the rolling
            window (missing, out of range, type violations, unseen categories, absent,
            constant); empty without a reference.
        multivariate_drift: the reconstruction error of whole rows over the rolling window
            against the reference's band; None without a reference that carries a
            reconstruction fit (``Reference.from_frame(..., multivariate=True)``) or before
            a row with one of its columns.
        reference_bins: per reference feature, the reference's share of each bin.
        alerts: the pending and firing alerts of the last rule evaluation.
        rule_states: per rule, 0 inactive, 1 pending, 2 firing (the worst over its features
            and segment values).
        quality: the model's quality over the predictions matched with their outcome in the
            window (``quality.count`` pairs); None before the first match.
        reference_quality: the model's quality on the reference data (when the reference
            was built with a target and a prediction column); None otherwise.
        quality_change: live minus reference quality per metric both have (empty without
            one of them); what ``relative_to="reference"`` rules read.
        outcomes: outcomes recorded since start by result (``matched``, ``expired``,
            ``unknown``, ``duplicate``; see :mod:`aimon.quality.join`), plus ``waiting``
            (outcomes waiting for their prediction), ``predictions_held`` and
            ``predictions_refused`` (not held: a request id longer than 256 characters).
        segments: per segment column (``Monitor(segments=[...])``) and value, that segment's
            own Snapshot: its window, totals, features, data quality and drift against the
            reference's profile of the same value (``__other__``: the values past the cap,
            pooled; ``__missing__``: calls without a value), with the quality of the
            segment's predictions matched with outcomes. A segment's Snapshot has no
            alerts, estimated quality or segments of its own.
        segment_evictions: per segment column, values that lost their place to busier ones
            since start (their history went with them; their calls count in ``__other__``).
    """

    model: str
    version: str | None
    taken_at: datetime
    window: WindowInfo
    count: int
    ok: int
    error_count: int
    error_rate: float
    errors: dict[str, int]
    throughput: float
    latency: Summary
    input_size: Summary
    output_size: Summary
    features: dict[str, FeatureSummary]
    dropped: dict[str, int]
    late: int
    internal_errors: int
    totals: Totals
    drift: dict[str, FeatureDrift] = {}
    drift_window: DriftWindowInfo | None = None
    reference_bins: dict[str, dict[str, float]] = {}
    alerts: list[Alert] = []
    rule_states: dict[str, int] = {}
    quality: QualityMetrics | None = None
    reference_quality: QualityMetrics | None = None
    quality_change: dict[str, float] = {}
    outcomes: dict[str, int] = {}
    in_flight: int = 0
    oldest_in_flight_s: float | None = None
    estimated_quality: EstimatedQuality | None = None
    reference_estimated_quality: EstimatedQuality | None = None
    estimated_quality_change: dict[str, float] = {}
    data_quality: dict[str, FeatureQuality] = {}
    multivariate_drift: MultivariateReading | None = None
    segments: dict[str, dict[str, Snapshot]] = {}
    segment_evictions: dict[str, int] = {}
