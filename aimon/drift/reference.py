"""The reference profile: what the features looked like when the model was trained or last
validated, in a small versioned JSON file that drift is measured against.

Per feature it keeps its kind, the reference's quantile bin edges and the share of each bin
(or its categories with their shares, top-K plus ``"other"``), summary statistics, the missing
share, and a bounded sorted sample for the exact tests (KS, Wasserstein). Values are read by
:mod:`aimon.features`, the same code that reads live ``predict`` inputs, so a value means the
same thing on both sides: bools are 1/0, strings are labels, None/NaN/inf are missing. Bins
and category labels follow :mod:`aimon.drift.bins`; data sets are read by
:mod:`aimon.drift.tables`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aimon.drift.methods import column_kind
from aimon.drift.multivariate.profile import MultivariateProfile
from aimon.drift.profiles import (
    OTHER,
    FeatureProfile,
    bounded_profiles,
    check_profile,
    profile_column,
)
from aimon.drift.segment_labels import column_labels, group_rows, top_values
from aimon.drift.tables import as_frame, read_table
from aimon.errors import ReferenceError
from aimon.features import FeatureBatch, extract
from aimon.quality.cbpe import PerformanceEstimator
from aimon.quality.metrics import Label, QualityError, QualityMetrics, TaskKind
from aimon.quality.pairs import normal_label
from aimon.quality.stats import quality_metrics

__all__ = [
    "OTHER",
    "SCHEMA_VERSION",
    "FeatureProfile",
    "Reference",
    "ReferenceError",
]

#: The version of the JSON layout written by :meth:`Reference.save`. 2 added ``target`` and
#: ``quality`` (the model's quality on the reference rows), 3 the explicit bounds of numeric
#: features (``lower``, ``upper``), the performance estimator of a scored binary
#: classifier (``estimator``) and, optional, the multivariate drift profile
#: (``multivariate``), 4 the profiles per segment value (``segments``); older files still
#: load.
SCHEMA_VERSION = 4
_FORMAT = "aimon.reference"


class Reference(BaseModel):
    """A versioned profile of reference data. Build it with :meth:`from_frame` or
    :meth:`from_file`; write it with :meth:`save` and read it with :meth:`load`.

    >>> ref = Reference.from_frame({"age": [20.5, 30.0, 40.0, 50.0],
    ...                             "country": ["DE", "DE", "FR", None]})
    >>> ref.features["age"].kind, ref.features["country"].categories
    ('numeric', {'DE': 0.6666666666666666, 'FR': 0.3333333333333333})
    >>> ref.features["country"].missing
    1
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["aimon.reference"] = "aimon.reference"
    schema_version: int = SCHEMA_VERSION
    created_at: datetime
    rows: int = Field(ge=0)
    bins: int = Field(ge=2)
    sample_size: int = Field(ge=1)
    top_k: int = Field(ge=1)
    prediction: str | None = None
    target: str | None = None
    quality: QualityMetrics | None = None
    estimator: dict[str, Any] | None = None
    multivariate: MultivariateProfile | None = None
    features: dict[str, FeatureProfile]
    segments: dict[str, dict[str, Reference]] = {}

    @classmethod
    def from_frame(
        cls,
        data: pd.DataFrame | NDArray[Any] | Mapping[str, Sequence[Any]],
        *,
        bins: int = 10,
        categorical: Iterable[str] | None = None,
        bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
        sample_size: int = 10_000,
        top_k: int = 50,
        prediction: str | None = None,
        target: str | None = None,
        quality_task: TaskKind | None = None,
        positive_label: Label | None = None,
        quality_threshold: float = 0.5,
        multivariate: bool = False,
        segments: Sequence[str] = (),
        max_segment_values: int = 20,
        segment_sample_size: int = 500,
        seed: int = 0,
    ) -> Reference:
        """Profile a DataFrame, a 2-D array (columns ``f0, f1, ...``) or a dict of columns.

        Args:
            data: the reference rows.
            bins: quantile bins per numeric feature (fewer when values repeat).
            categorical: columns to treat as categories even though they hold numbers. The
                others are categorical or numeric by :func:`aimon.drift.methods.column_kind`,
                the rule :func:`aimon.drift.compare` applies (integers of at most 10
                distinct values, bools and strings are categories), and by their values
                where it has none (a column of nothing but missing values).
            bounds: per numeric column, its valid range ``(lower, upper)`` (None: open),
                which data quality checks values against instead of the reference's
                min and max.
            sample_size: values kept per numeric feature for the exact tests (all of them
                when there are no more; else a uniform random sample).
            top_k: categories kept per categorical feature; the rest count as ``other``.
            prediction: the name of the column that holds the model's output, if any.
            target: the name of the column that holds the ground truth, if any. With
                ``prediction``, the model's quality on these rows is measured
                (:func:`aimon.quality.quality_metrics`, exact) and kept as ``quality``, the
                baseline a Monitor compares its live quality with. The target is profiled
                like a feature: a Monitor compares the outcomes it matches with it (label
                drift), not the calls' inputs.
            quality_task, positive_label, quality_threshold: how quality is measured (see
                :class:`aimon.quality.QualityStats`); the task is inferred when None. A
                Monitor with this reference measures live quality the same way.
            multivariate: also keep what multivariate drift needs
                (:class:`~aimon.drift.multivariate.profile.MultivariateProfile`): a PCA
                reconstruction fit on the numeric input columns (3-6 KB at 20 columns), which
                a Monitor scores its window's rows with, and 2,000 whole rows for the batch
                domain classifier (about 0.8 MB of JSON at 20 columns). Off by default for
                that size.
            segments: columns whose values each get a profile of their own
                (``segments[column][value]``: the rows with that value, without the column,
                binned on their own), which a Monitor with the same ``segments`` compares
                each live segment with. Values are labelled as the Monitor labels them
                (:mod:`aimon.drift.segment_labels`).
            max_segment_values: values profiled per segment column, those with the most
                rows; the rows of the others are pooled in one ``__other__`` profile.
            segment_sample_size: values kept per numeric feature of each segment profile
                (a file holds up to ``max_segment_values + 1`` of them per column).
            seed: for the samples.

        Raises:
            ReferenceError: no rows, an unknown ``categorical``, ``bounds``, ``prediction`` or
                ``target`` column, bounds on a categorical column or upside down, a
                ``target`` without ``prediction``, targets and predictions that do not fit
                the task, ``multivariate`` with fewer than two numeric input columns or 20
                rows, an unknown ``segments`` column, or bad settings.
        """
        if bins < 2:
            raise ReferenceError(f"bins: must be at least 2, got {bins}")
        if sample_size < 1:
            raise ReferenceError(f"sample_size: must be at least 1, got {sample_size}")
        if top_k < 1:
            raise ReferenceError(f"top_k: must be at least 1, got {top_k}")
        if isinstance(segments, str):
            raise ReferenceError(f"segments: a list of column names, got the string {segments!r}")
        if max_segment_values < 1 or segment_sample_size < 1:
            raise ReferenceError(
                "max_segment_values, segment_sample_size: must be at least 1, got "
                f"{max_segment_values}, {segment_sample_size}"
            )
        frame = as_frame(data)
        if len(frame) == 0:
            raise ReferenceError("the reference data has no rows")
        names = [str(c) for c in frame.columns]
        as_categories = set(categorical or ())
        unknown = sorted(as_categories - set(names))
        if unknown:
            raise ReferenceError(f"categorical: no column named {', '.join(map(repr, unknown))}")
        unknown = sorted(set(segments) - set(names))
        if unknown:
            raise ReferenceError(f"segments: no column named {', '.join(map(repr, unknown))}")
        for field, column in (("prediction", prediction), ("target", target)):
            if column is not None and column not in names:
                raise ReferenceError(f"{field}: no column named {column!r}")
        quality = estimator = None
        if target is not None:
            quality = _reference_quality(
                frame, target, prediction, quality_task, positive_label, quality_threshold
            )
            if quality.task == "binary_score" and prediction is not None:
                estimator = _estimator(frame, target, prediction, quality).to_dict()
        batch = extract(frame, max_features=max(len(names), 1))
        rng = np.random.default_rng(seed)
        kinds = {str(c): column_kind(frame[c]) for c in frame.columns}
        features = {
            name: profile_column(
                column, kinds.get(name), name in as_categories, bins, sample_size, top_k, rng
            )
            for name, column in batch.columns.items()
        }
        if bounds:
            features.update(bounded_profiles(features, bounds))
        joint = None
        if multivariate:
            try:
                joint = MultivariateProfile.build(frame, exclude=(prediction, target), seed=seed)
            except ValueError as exc:
                raise ReferenceError(f"multivariate: {exc}") from None
        made = datetime.now(timezone.utc)

        def segment(rows: NDArray[np.intp], column: str) -> Reference:
            part = batch.take(rows, without=column)
            profiles = {
                name: _within(
                    features[name],
                    profile_column(
                        values, features[name].kind, False, bins, segment_sample_size, top_k, rng
                    ),
                )
                for name, values in part.columns.items()
            }
            return cls(
                created_at=made, rows=int(rows.size), bins=bins, sample_size=segment_sample_size,
                top_k=top_k, prediction=prediction, target=target, features=profiles,
            )  # fmt: skip

        per_segment = {
            column: {
                value: segment(rows, column)
                for value, rows in _top_segments(batch, column, max_segment_values)
            }
            for column in dict.fromkeys(segments)
        }
        return cls(
            created_at=made,
            rows=len(frame),
            bins=bins,
            sample_size=sample_size,
            top_k=top_k,
            prediction=prediction,
            target=target,
            quality=quality,
            estimator=estimator,
            multivariate=joint,
            features=features,
            segments=per_segment,
        )

    def performance_estimator(self) -> PerformanceEstimator | None:
        """The estimator of the model's quality from its scores alone (CBPE), calibrated on
        these rows; None unless the reference was built with the target and the scores of a
        binary classifier."""
        return None if self.estimator is None else PerformanceEstimator.from_dict(self.estimator)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **settings: Any) -> Reference:
        """Profile a CSV or Parquet file (by its extension); settings as :meth:`from_frame`.

        Raises:
            ReferenceError: the file is missing, of an unknown kind, or cannot be parsed.
        """
        return cls.from_frame(read_table(path), **settings)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the profile as JSON, atomically (a reader never sees half a file)."""
        target = Path(path)
        text = self.model_dump_json(indent=1)
        fd, temp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Reference:
        """Read a profile written by :meth:`save`.

        Raises:
            ReferenceError: the file is missing, not JSON, not a reference, of a newer
                schema than this aimon reads, or inconsistent; the message says which.
        """
        source = Path(path)
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ReferenceError(f"{source}: no such file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ReferenceError(f"{source}: not a JSON reference profile ({exc})") from None
        return cls.from_dict(data, source=str(source))

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "reference") -> Reference:
        """Validate a profile's parsed JSON (see :meth:`load`)."""
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ReferenceError(f"{source}: not an aimon reference profile (no format field)")
        version = data.get("schema_version")
        if not isinstance(version, int):
            raise ReferenceError(f"{source}: schema_version is missing or not a number")
        if version > SCHEMA_VERSION:
            raise ReferenceError(
                f"{source}: schema_version {version} is newer than this aimon reads "
                f"({SCHEMA_VERSION}); upgrade aimon or rebuild the profile"
            )
        if version < 1:
            raise ReferenceError(f"{source}: schema_version {version} is not valid")
        try:
            reference = cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ReferenceError(f"{source}: field {where}: {first['msg']}") from None
        for name, feature in reference.features.items():
            check_profile(source, name, feature)
        for column, values in reference.segments.items():
            for value, part in values.items():
                for name, feature in part.features.items():
                    check_profile(f"{source}: segment {column}={value}", name, feature)
        return reference

    def numeric(self) -> list[str]:
        """Names of the numeric features."""
        return [n for n, f in self.features.items() if f.kind == "numeric"]

    def categorical(self) -> list[str]:
        """Names of the categorical features."""
        return [n for n, f in self.features.items() if f.kind == "categorical"]


def _estimator(
    frame: pd.DataFrame, target: str, prediction: str, quality: QualityMetrics
) -> PerformanceEstimator:
    """CBPE calibrated on the rows that have both a target and a score."""
    by_name = {str(c): c for c in frame.columns}
    actual, scores = frame[by_name[target]], frame[by_name[prediction]]
    both = actual.notna() & scores.notna()
    positive = quality.positive_label if quality.positive_label is not None else 1
    labels = [normal_label(value) == positive for value in actual[both].tolist()]
    try:
        return PerformanceEstimator.fit(
            scores[both].to_numpy(dtype=np.float64), labels, threshold=quality.threshold or 0.5
        )
    except QualityError as exc:
        raise ReferenceError(f"prediction: {exc}") from None


def _reference_quality(
    frame: pd.DataFrame,
    target: str,
    prediction: str | None,
    task: TaskKind | None,
    positive_label: Label | None,
    threshold: float,
) -> QualityMetrics:
    if prediction is None:
        raise ReferenceError(
            "target: measuring the reference's quality needs prediction= too (the column of "
            "the model's output on these rows)"
        )
    if prediction == target:
        raise ReferenceError(f"target: {target!r} is also the prediction column")
    by_name = {str(c): c for c in frame.columns}
    try:
        quality = quality_metrics(
            frame[by_name[target]],
            frame[by_name[prediction]],
            task=task,
            positive_label=positive_label,
            threshold=threshold,
        )
    except QualityError as exc:
        raise ReferenceError(f"target: {exc}") from None
    if quality.count == 0:
        raise ReferenceError(f"target: no row has both {target!r} and {prediction!r}")
    return quality


def _top_segments(
    batch: FeatureBatch, column: str, most: int
) -> list[tuple[str, NDArray[np.intp]]]:
    """The ``most`` values of ``column`` with the most rows (ties by value) with their rows,
    and the other values' rows pooled as :data:`OTHER`."""
    labels = column_labels(batch.columns.get(column), batch.n_rows)
    kept, pooled = top_values(labels, most)
    groups = dict(group_rows(labels))
    segments = [(value, groups[value]) for value in kept]
    if pooled:
        segments.append((OTHER, np.sort(np.concatenate([groups[value] for value in pooled]))))
    return segments


def _within(whole: FeatureProfile, part: FeatureProfile) -> FeatureProfile:
    """A segment's profile of a feature with the whole reference's explicit valid range."""
    if whole.lower is None and whole.upper is None:
        return part
    return part.model_copy(update={"lower": whole.lower, "upper": whole.upper})
