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

from aimon.drift.bins import bin_index, interval_labels, labels_of, quantile_edges
from aimon.drift.methods import Kind, column_kind
from aimon.drift.multivariate.profile import MultivariateProfile
from aimon.drift.tables import as_frame, read_table
from aimon.errors import ReferenceError
from aimon.features import FeatureColumn, extract
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
#: (``multivariate``); older files still load.
SCHEMA_VERSION = 3
_FORMAT = "aimon.reference"

#: The category that collects every label beyond the reference's top K.
OTHER = "__other__"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeatureProfile(_Frozen):
    """One feature of the reference.

    Numeric features have ``edges`` (inner bin edges) and ``shares`` (``len(edges) + 1``
    bin shares summing to 1), summary statistics and a sorted ``sample``. Categorical features
    have ``categories`` (label -> share, top K by count, plus :data:`OTHER` for the rest) and
    ``counts`` (label -> count, for the chi-square test). ``lower`` and ``upper`` are a
    numeric feature's explicit valid range (data quality), when one was given.
    """

    kind: Literal["numeric", "categorical"]
    count: int = Field(ge=0, description="rows with a value")
    missing: int = Field(ge=0, description="rows without one")
    edges: tuple[float, ...] = ()
    shares: tuple[float, ...] = ()
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    sample: tuple[float, ...] = ()
    categories: dict[str, float] = {}
    counts: dict[str, int] = {}
    lower: float | None = None
    upper: float | None = None

    @property
    def missing_share(self) -> float:
        """Share of reference rows without a value."""
        total = self.count + self.missing
        return self.missing / total if total else 0.0

    @property
    def n_bins(self) -> int:
        """Bins (numeric) or categories including ``other`` (categorical)."""
        return len(self.shares) if self.kind == "numeric" else len(self.categories)

    def bin_labels(self) -> list[str]:
        """A stable label per bin, for metrics: ``"[-inf,1.5)"``, ... or the category."""
        if self.kind == "categorical":
            return list(self.categories)
        return interval_labels(self.edges)

    def sample_array(self) -> NDArray[np.float64]:
        """The sorted sample as a numpy array."""
        return np.asarray(self.sample, dtype=np.float64)


class Reference(_Frozen):
    """A versioned profile of reference data. Build it with :meth:`from_frame` or
    :meth:`from_file`; write it with :meth:`save` and read it with :meth:`load`.

    >>> ref = Reference.from_frame({"age": [20.5, 30.0, 40.0, 50.0],
    ...                             "country": ["DE", "DE", "FR", None]})
    >>> ref.features["age"].kind, ref.features["country"].categories
    ('numeric', {'DE': 0.6666666666666666, 'FR': 0.3333333333333333})
    >>> ref.features["country"].missing
    1
    """

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
            seed: for the samples.

        Raises:
            ReferenceError: no rows, an unknown ``categorical``, ``bounds``, ``prediction`` or
                ``target`` column, bounds on a categorical column or upside down, a
                ``target`` without ``prediction``, targets and predictions that do not fit
                the task, ``multivariate`` with fewer than two numeric input columns or 20
                rows, or bad settings.
        """
        if bins < 2:
            raise ReferenceError(f"bins: must be at least 2, got {bins}")
        if sample_size < 1:
            raise ReferenceError(f"sample_size: must be at least 1, got {sample_size}")
        if top_k < 1:
            raise ReferenceError(f"top_k: must be at least 1, got {top_k}")
        frame = as_frame(data)
        if len(frame) == 0:
            raise ReferenceError("the reference data has no rows")
        names = [str(c) for c in frame.columns]
        as_categories = set(categorical or ())
        unknown = sorted(as_categories - set(names))
        if unknown:
            raise ReferenceError(f"categorical: no column named {', '.join(map(repr, unknown))}")
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
            name: _profile(
                column, kinds.get(name), name in as_categories, bins, sample_size, top_k, rng
            )
            for name, column in batch.columns.items()
        }
        if bounds:
            features.update(_bounded(features, bounds))
        joint = None
        if multivariate:
            try:
                joint = MultivariateProfile.build(frame, exclude=(prediction, target), seed=seed)
            except ValueError as exc:
                raise ReferenceError(f"multivariate: {exc}") from None
        return cls(
            created_at=datetime.now(timezone.utc),
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
            _check(source, name, feature)
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


def _check(source: str, name: str, feature: FeatureProfile) -> None:
    where = f"{source}: feature {name!r}"
    if feature.kind == "numeric":
        if list(feature.edges) != sorted(set(feature.edges)):
            raise ReferenceError(f"{where}: edges must be strictly increasing")
        if len(feature.shares) != len(feature.edges) + 1:
            raise ReferenceError(f"{where}: needs one share per bin (len(edges) + 1)")
        if list(feature.sample) != sorted(feature.sample):
            raise ReferenceError(f"{where}: the sample must be sorted")
    elif not feature.categories and feature.count:
        raise ReferenceError(f"{where}: a categorical feature needs its categories")


def _bounded(
    features: dict[str, FeatureProfile], bounds: Mapping[str, tuple[float | None, float | None]]
) -> dict[str, FeatureProfile]:
    """The profiles of the ``bounds`` columns with their explicit valid range."""
    out = {}
    for name, (lower, upper) in bounds.items():
        profile = features.get(name)
        if profile is None:
            raise ReferenceError(f"bounds: no column named {name!r}")
        if profile.kind != "numeric":
            raise ReferenceError(f"bounds: {name!r} is categorical; bounds are for numbers")
        if lower is not None and upper is not None and not lower <= upper:
            raise ReferenceError(f"bounds: {name!r} has lower {lower} above upper {upper}")
        out[name] = profile.model_copy(update={"lower": lower, "upper": upper})
    return out


def _profile(
    column: FeatureColumn,
    kind: Kind | None,
    as_category: bool,
    bins: int,
    sample_size: int,
    top_k: int,
    rng: np.random.Generator,
) -> FeatureProfile:
    present = column.present_mask()
    n_labels = int(column.label_mask().sum())
    n_present = int(present.sum())
    missing = column.values.size - n_present
    # The kind compare gives the column (one rule, methods.column_kind); where it has none,
    # a column of numbers is numeric and one that holds mostly labels categorical (its
    # numbers then count as labels too).
    if kind is None:
        kind = "categorical" if n_labels * 2 > n_present else "numeric"
    if as_category or kind == "categorical":
        return _categorical_profile(column, missing, top_k)
    values = column.values[np.isfinite(column.values)]
    edges = quantile_edges(values, bins)
    counts = np.bincount(bin_index(edges, values), minlength=edges.size + 1)
    shares = counts / values.size if values.size else np.zeros(edges.size + 1)
    sample = values if values.size <= sample_size else rng.choice(values, sample_size, False)
    return FeatureProfile(
        kind="numeric",
        count=int(values.size),
        missing=int(column.values.size - values.size),
        edges=tuple(edges.tolist()),
        shares=tuple(shares.tolist()),
        mean=float(values.mean()) if values.size else None,
        std=float(values.std(ddof=1)) if values.size > 1 else None,
        min=float(values.min()) if values.size else None,
        max=float(values.max()) if values.size else None,
        sample=tuple(np.sort(sample).tolist()),
    )


def _categorical_profile(column: FeatureColumn, missing: int, top_k: int) -> FeatureProfile:
    labels = labels_of(column)
    present = labels[labels != None]  # noqa: E711 - element-wise
    counts = pd.Series(present, dtype=object).value_counts(sort=True)
    kept = counts.iloc[:top_k]
    rest = int(counts.iloc[top_k:].sum())
    total = int(counts.sum())
    categories = {str(k): int(v) / total for k, v in kept.items()}
    category_counts = {str(k): int(v) for k, v in kept.items()}
    if rest:
        categories[OTHER] = rest / total
        category_counts[OTHER] = rest
    return FeatureProfile(
        kind="categorical",
        count=total,
        missing=missing,
        categories=categories,
        counts=category_counts,
    )
