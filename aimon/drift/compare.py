"""Batch drift: every column of a current data set against a reference data set or profile.

>>> import pandas as pd
>>> ref = pd.DataFrame({"age": range(100), "plan": ["a", "b"] * 50})
>>> cur = pd.DataFrame({"age": range(50, 150), "plan": ["a"] * 100})
>>> report = compare(ref, cur, methods=["psi", "ks"])
>>> report.drifted_columns, report.share_drifted
(['age', 'plan'], 1.0)
>>> round(report["age"]["ks"].statistic, 2)
0.5

Every reference column also gets its data quality (:mod:`aimon.drift.data_quality`): here
``age`` has 50 % of its values above the reference's maximum, and ``plan`` grew constant.

>>> report.quality_failures
{'age': ['out_of_range_share'], 'plan': ['constant']}
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from aimon.drift.data_quality import QualityLimits, assess, parse_numbers
from aimon.drift.data_quality import count_batch as count_quality
from aimon.drift.detector import FeatureInputs, profile_inputs, run_methods, sample_inputs
from aimon.drift.methods import Kind, column_kind, resolve_methods
from aimon.drift.multivariate import MultivariateDrift, multivariate_drift
from aimon.drift.multivariate.batch import against_profile, is_numeric
from aimon.drift.multivariate.reconstruction import CHUNKS
from aimon.drift.reference import FeatureProfile, Reference
from aimon.drift.samples import (
    NUMERIC_INFERRED,
    Bins,
    LabelTally,
    PairedCounts,
    Sample,
    as_sample,
    label_tally,
)
from aimon.drift.stats import DriftResult
from aimon.drift.streaming import FeatureCounts, count_batch
from aimon.drift.tables import as_frame
from aimon.features import FeatureBatch, extract
from aimon.snapshot import FeatureQuality

__all__ = ["ColumnDrift", "DriftReport", "compare"]

#: Evidently's DataDriftPreset calls the data set drifted when this share of columns drift.
DRIFT_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """The drift of one column: its kind and one result per method; ``drifted`` when any
    method says so. ``histogram`` holds both sides' counts in the bins (or categories) the
    binned methods use, for charts."""

    column: str
    kind: Kind
    results: dict[str, DriftResult]
    histogram: PairedCounts | None = field(default=None, compare=False, repr=False)

    @property
    def drifted(self) -> bool:
        """Any method found drift."""
        return any(r.drifted for r in self.results.values())


@dataclass(frozen=True)
class DriftReport(Mapping[str, dict[str, DriftResult]]):
    """Per column, the drift results by method: ``report[column][method]``.

    ``skipped`` names the columns not compared and why (a datetime, no values...).
    ``data_quality`` holds every reference column's data quality (compared or not), judged
    by ``limits``. ``multivariate`` holds the multivariate drift of the numeric columns when
    it was asked for.
    """

    columns: dict[str, ColumnDrift]
    skipped: dict[str, str] = field(default_factory=dict)
    drift_share: float = DRIFT_SHARE
    data_quality: dict[str, FeatureQuality] = field(default_factory=dict)
    limits: QualityLimits = field(default_factory=QualityLimits)
    multivariate: MultivariateDrift | None = None

    def __getitem__(self, column: str) -> dict[str, DriftResult]:
        return self.columns[column].results

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def drifted_columns(self) -> list[str]:
        """Columns in which some method found drift."""
        return [name for name, column in self.columns.items() if column.drifted]

    @property
    def share_drifted(self) -> float:
        """Drifted columns / compared columns (0 when none were compared)."""
        return len(self.drifted_columns) / len(self.columns) if self.columns else 0.0

    @property
    def dataset_drift(self) -> bool:
        """At least ``drift_share`` of the columns drifted (Evidently's dataset verdict)."""
        return bool(self.columns) and self.share_drifted >= self.drift_share

    @property
    def quality_failures(self) -> dict[str, list[str]]:
        """Per column that fails a data-quality check, the checks it fails."""
        failures = {name: self.limits.failures(q) for name, q in self.data_quality.items()}
        return {name: failed for name, failed in failures.items() if failed}

    def to_frame(self) -> pd.DataFrame:
        """One row per column and method, drifted columns first."""
        rows = [
            {"column": name, "kind": column.kind, **result.to_dict()}
            for name, column in self.columns.items()
            for result in column.results.values()
        ]
        frame = pd.DataFrame(
            rows,
            columns=[
                "column",
                "kind",
                "method",
                "statistic",
                "pvalue",
                "threshold",
                "drifted",
                "n_reference",
                "n_current",
                "missing_reference",
                "missing_current",
            ],
        )
        order = {name: i for i, name in enumerate(self._drifted_first())}
        return frame.sort_values("column", key=lambda c: c.map(order), kind="stable").reset_index(
            drop=True
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: the verdicts and every result."""
        return {
            "dataset_drift": self.dataset_drift,
            "share_drifted": self.share_drifted,
            "drifted_columns": self.drifted_columns,
            "columns": {
                name: {
                    "kind": column.kind,
                    "drifted": column.drifted,
                    "results": {m: r.to_dict() for m, r in column.results.items()},
                }
                for name, column in self.columns.items()
            },
            "skipped": dict(self.skipped),
            "quality_failures": self.quality_failures,
            "data_quality": {name: q.model_dump() for name, q in self.data_quality.items()},
            **({"multivariate": self.multivariate.to_dict()} if self.multivariate else {}),
        }

    def _drifted_first(self) -> list[str]:
        return sorted(self.columns, key=lambda name: not self.columns[name].drifted)


def compare(
    reference: pd.DataFrame | Reference | NDArray[Any] | Mapping[str, Sequence[Any]],
    current: pd.DataFrame | NDArray[Any] | Mapping[str, Sequence[Any]],
    methods: str | Iterable[str] | None = None,
    columns: Iterable[str] | None = None,
    *,
    bins: Bins = 10,
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = DRIFT_SHARE,
    limits: QualityLimits | None = None,
    multivariate: bool = False,
) -> DriftReport:
    """Compare every column of ``current`` with ``reference`` (a data set, or a saved
    :class:`~aimon.drift.reference.Reference` profile).

    Args:
        reference: the reference rows, or a profile of them.
        current: the rows to check.
        methods: method names (see :data:`aimon.drift.methods.METHODS`) run on every column
            they apply to; None chooses one per column the way Evidently's defaults do.
        columns: the columns to compare (default: every reference column in ``current``).
        bins: numeric bins for PSI, Jensen-Shannon and Hellinger on data sets: a number of
            reference quantile bins, explicit inner edges, or ``"evidently"``. A profile
            brings its own bins.
        thresholds: per method, a threshold other than the default.
        drift_share: the share of drifted columns that makes ``dataset_drift``.
        limits: when a data-quality check fails (default :class:`QualityLimits`).
        multivariate: also measure multivariate drift on the numeric columns
            (:func:`aimon.drift.multivariate.multivariate_drift`: PCA reconstruction error
            and domain classifier; about a second). A profile must carry its multivariate
            part (``Reference.from_frame(..., multivariate=True)``).

    Raises:
        ValueError: an unknown method, a requested column missing on either side, or
            ``multivariate`` on a profile without its part or on fewer than two numeric
            columns.
        ReferenceError: a reference data set without rows.
    """
    chosen = resolve_methods(methods)
    frame = as_frame(current)
    limits = limits or QualityLimits()
    if isinstance(reference, Reference):
        report = _compare_profile(reference, frame, chosen, columns, thresholds, drift_share)
        joint = _profile_multivariate(reference, frame) if multivariate else None
        return replace(report, limits=limits, multivariate=joint)
    ref_frame = as_frame(reference)
    names, skipped = _columns(list(map(str, ref_frame.columns)), frame, columns)
    ref_frame = ref_frame.set_axis(list(map(str, ref_frame.columns)), axis=1)
    frame = frame.set_axis(list(map(str, frame.columns)), axis=1)
    kinds: dict[str, Kind] = {}
    for name in names:
        kind = column_kind(ref_frame[name])
        if kind is None:
            skipped[name] = f"not compared: {ref_frame[name].dtype} column"
        else:
            kinds[name] = kind
    numeric = [n for n, k in kinds.items() if k == "numeric"]
    ref_sorted = _sorted_columns(ref_frame, numeric)
    cur_sorted = _sorted_columns(frame, numeric)
    results: dict[str, ColumnDrift] = {}
    for name, kind in kinds.items():
        ref: Sample | LabelTally
        cur: Sample | LabelTally
        if kind == "numeric":
            ref, cur = ref_sorted[name], cur_sorted[name]
        else:
            ref, cur = _categories(ref_frame[name]), _categories(frame[name])
        if ref.size == 0 or cur.size == 0:
            side = "reference" if ref.size == 0 else "current"
            skipped[name] = f"no values in the {side} data"
            continue
        inputs = sample_inputs(kind, ref, cur, bins)
        found = run_methods(inputs, chosen, thresholds)
        results[name] = ColumnDrift(name, kind, found, inputs.histogram)
    quality = {}
    judged = kinds if columns is not None else _kinds(ref_frame)
    if judged:
        profile = Reference.from_frame(ref_frame[list(judged)], sample_size=1)
        quality = data_quality(profile, current_batch(profile, frame))
    joint = None
    if multivariate:
        joint = _frame_multivariate(ref_frame, frame, None if columns is None else list(kinds))
    return DriftReport(results, skipped, drift_share, quality, limits, joint)


def _frame_multivariate(
    reference: pd.DataFrame, current: pd.DataFrame, names: list[str] | None
) -> MultivariateDrift:
    """Multivariate drift of two data sets; the band learnt on reference chunks no larger
    than the current data (a chunk of more rows would make it narrower than the current
    mean's own spread)."""
    if names is not None:
        names = [n for n in names if is_numeric(reference[n]) and is_numeric(current[n])]
    size = max(1, min(len(reference) // CHUNKS, len(current)))
    return multivariate_drift(reference, current, names, chunk_size=size)


def _profile_multivariate(reference: Reference, current: pd.DataFrame) -> MultivariateDrift:
    joint = reference.multivariate
    if joint is None:
        raise ValueError(
            "multivariate: this reference profile has no multivariate part; rebuild it with "
            "Reference.from_frame(..., multivariate=True) or aimon reference build --multivariate"
        )
    current = current.set_axis(list(map(str, current.columns)), axis=1)
    return against_profile(joint.reconstruction_fit(), joint.sample_rows(), current)


def _kinds(frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` that have a kind (compared or judged)."""
    return [name for name in frame.columns if column_kind(frame[name]) is not None]


def current_batch(reference: Reference, frame: pd.DataFrame) -> FeatureBatch:
    """The rows of ``frame`` as the reference's features: its numeric columns read from
    text (a CSV's) parsed as numbers, so that only what is no number is a type violation."""
    names = [name for name in reference.features if name in frame.columns]
    batch = extract(frame[names] if names else frame.iloc[:, :0], max_features=len(names) or 1)
    columns = {
        name: parse_numbers(column) if reference.features[name].kind == "numeric" else column
        for name, column in batch.columns.items()
    }
    return FeatureBatch(len(frame), columns, batch.invalid)


def data_quality(reference: Reference, batch: FeatureBatch) -> dict[str, FeatureQuality]:
    """Every reference feature's data quality in a batch of rows (the prediction and the
    target only when the rows hold them: data without outcomes is not missing them)."""
    outputs = (reference.prediction, reference.target)
    features = {
        name: profile
        for name, profile in reference.features.items()
        if name in batch.columns or name not in outputs
    }
    counts = count_quality(reference, batch, names=features)
    return {name: assess(reference.features[name], counts[name]) for name in counts}


def _columns(
    reference_columns: list[str], current: pd.DataFrame, wanted: Iterable[str] | None
) -> tuple[list[str], dict[str, str]]:
    present = set(map(str, current.columns))
    if wanted is not None:
        names = list(wanted)
        for name in names:
            if name not in reference_columns:
                raise ValueError(f"columns: {name!r} is not in the reference")
            if name not in present:
                raise ValueError(f"columns: {name!r} is not in the current data")
        return names, {}
    names = [n for n in reference_columns if n in present]
    skipped = {n: "not in the current data" for n in reference_columns if n not in present}
    return names, skipped


def _sorted_columns(frame: pd.DataFrame, names: list[str]) -> dict[str, Sample]:
    """Every numeric column sorted in one 2-D sort, infinities and NaN dropped and counted."""
    if not names:
        return {}
    matrix = np.empty((len(names), len(frame)), dtype=np.float64)  # a row per column
    for j, name in enumerate(names):
        matrix[j] = as_sample_values(frame[name])
    matrix[~np.isfinite(matrix)] = np.nan  # NaN sorts last
    matrix.sort(axis=1)
    kept = np.isfinite(matrix).sum(axis=1)
    return {
        name: Sample(matrix[j, : kept[j]], None, len(frame) - int(kept[j]), True)
        for j, name in enumerate(names)
    }


def _categories(column: pd.Series) -> Sample | LabelTally:
    """A categorical column: strings and other objects are tallied in one hash pass; numbers
    go through :func:`as_sample` so that they are labelled as numbers."""
    if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(column.dtype):
        return as_sample(column, categorical=True)
    if pd.api.types.infer_dtype(column, skipna=True) in NUMERIC_INFERRED:
        return as_sample(column, categorical=True)
    return label_tally(column)


def as_sample_values(column: pd.Series) -> NDArray[np.float64]:
    """A numeric column as float64 with NaN for anything missing or not a number."""
    if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _compare_profile(
    reference: Reference,
    frame: pd.DataFrame,
    methods: tuple[str, ...] | None,
    columns: Iterable[str] | None,
    thresholds: Mapping[str, float] | None,
    drift_share: float,
) -> DriftReport:
    names, skipped = _columns(list(reference.features), frame, columns)
    batch = current_batch(reference, frame[names] if names else frame.iloc[:, :0])
    counts = count_batch(reference, batch, max(len(frame), 1), np.random.default_rng(0))
    judged = reference.features if columns is None else {n: reference.features[n] for n in names}
    results: dict[str, ColumnDrift] = {}
    for name in names:
        profile = reference.features[name]
        inputs = profile_inputs(profile, counts[name])
        found = run_methods(inputs, methods, thresholds)
        if not found:
            skipped[name] = "no values to compare"
            continue
        chart = _profile_histogram(profile, counts[name], inputs)
        results[name] = ColumnDrift(name, profile.kind, found, chart)
    quality = {name: q for name, q in data_quality(reference, batch).items() if name in judged}
    return DriftReport(results, skipped, drift_share, quality)


def _profile_histogram(
    profile: FeatureProfile, counts: FeatureCounts, inputs: FeatureInputs
) -> PairedCounts:
    """The profile's bins (or categories) and the current counts in them: the counts the
    methods read (``inputs``), labelled."""
    labels = profile.bin_labels()
    if inputs.reference_counts.size > len(labels):  # labels the reference never saw
        labels += list(counts.unseen)
    edges = None
    if profile.kind == "numeric":
        edges = np.array([-np.inf, *profile.edges, np.inf])
    return PairedCounts(
        tuple(labels), np.rint(inputs.reference_counts), inputs.current_counts.copy(), edges
    )
