"""Streaming drift: live feature counts in a drift window, compared with a reference.

The drift window is separate from the latency window: by default the last hour in 12 time
slices (a :class:`~aimon.ring.SliceRing`), or the last N events (in chunks of N/12: the fewest
newest chunks that hold N events). Each slice keeps, per reference
feature, the counts in the reference's bins and categories and one reservoir of at most
``sample_size`` numbers (:mod:`aimon.drift.streaming`); the window is the merge of its
slices, so memory is bounded whatever the traffic: at most 12 x ``sample_size`` numbers per
numeric feature (96 KiB with the default 1024).

How close the streaming KS is to the exact one: the streaming statistic compares the
reference sample with a uniform sample of the window's values instead of all of them. The
two statistics differ by at most ``sup |G_s - G|``, the distance between the sample's and
the window's empirical CDFs, which the Dvoretzky-Kiefer-Wolfowitz inequality bounds by
``sqrt(ln(2 / alpha) / (2 n))`` with probability ``1 - alpha`` (n: the sample's effective
size; with alpha = 0.05: 0.042 for one full slice of 1024 values, 0.012 for twelve).
:func:`ks_error_bound` computes it and each :class:`~aimon.snapshot.FeatureDrift` carries
it (0 while the reservoirs hold every value of the window). PSI, Jensen-Shannon and
chi-square use the exact counts, not the sample.

The window's ``max_ks`` is not the largest raw KS statistic but the largest beyond chance,
with a family-wise false-alarm rate of 5 % over the features (:mod:`aimon.drift.dataset`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from aimon.drift.dataset import ks_beyond_chance
from aimon.drift.detector import FeatureInputs, profile_inputs, run_methods
from aimon.drift.methods import applies, default_method
from aimon.drift.reference import OTHER, FeatureProfile, Reference
from aimon.drift.stats import DriftResult
from aimon.drift.streaming import FeatureCounts, count_batch, empty_counts
from aimon.features import FeatureBatch, extract
from aimon.ring import SliceRing
from aimon.snapshot import DriftWindowInfo, FeatureDrift

__all__ = [
    "UNSEEN_BIN",
    "DriftTracker",
    "FeatureVerdict",
    "bin_total_counts",
    "drift_snapshot",
    "ks_error_bound",
    "prediction_batch",
]

#: The bin label of live labels a categorical reference without "other" never saw.
UNSEEN_BIN = "__unseen__"
#: What the Snapshot shows per feature, where the kind allows.
STREAMING_METHODS = ("psi", "ks", "wasserstein", "jensen_shannon", "chi_square")
_SLICES = 12
#: Methods that read the sorted samples (the same run whether chosen by default or not).
_ON_SAMPLES = frozenset({"ks", "wasserstein", "wasserstein_raw"})
_MIN_SAMPLE = 32


def ks_error_bound(effective_size: float, alpha: float = 0.05) -> float:
    """The DKW bound on ``|KS streaming - KS exact|`` at confidence ``1 - alpha``.

    >>> round(ks_error_bound(1024), 4), round(ks_error_bound(12 * 1024), 4)
    (0.0424, 0.0123)
    """
    if effective_size <= 0:
        return 1.0
    return min(1.0, math.sqrt(math.log(2.0 / alpha) / (2.0 * effective_size)))


@dataclass(slots=True)
class _Slice:
    """The counts of one time slice or chunk of events."""

    key: int  # the slice id floor(ts / slice_s), or the chunk's number
    rows: int = 0
    counts: dict[str, FeatureCounts] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeatureVerdict:
    """One feature's drift over the drift window."""

    profile: FeatureProfile
    counts: FeatureCounts
    results: dict[str, DriftResult]
    verdict: DriftResult | None  # the default method's (Evidently's choice), given enough values
    ks_error_bound: float | None
    ks_sizes: tuple[float, float] | None = None  # KS's samples: the reference's, the live one's

    def ks_test(self) -> tuple[float, float, float] | None:
        """The KS statistic with its two sample sizes (None without a KS result)."""
        ks = self.results.get("ks")
        if ks is None or self.ks_sizes is None:
            return None
        return (ks.statistic, *self.ks_sizes)


class DriftTracker:
    """Counts live features (and the prediction) into a drift window and compares them with
    a :class:`~aimon.drift.reference.Reference`.

    Args:
        reference: the profile to compare with.
        window_s: the drift window in seconds (ignored when ``events`` is given).
        events: keep the last ``events`` events instead of a time window.
        sample_size: numbers kept per numeric feature and slice (for KS and Wasserstein).
        methods: methods shown per feature (default :data:`STREAMING_METHODS`, as the
            feature's kind allows).
        min_count: live values a feature needs in the window before it gets a verdict
            (``verdict`` None below it: with a large reference, a few hundred values drift
            by chance more often than the tests' thresholds assume).
        seed: for the reservoirs; fixed by default, so that the same calls give the same
            verdicts run after run (a borderline one does not flip on a replay).
    """

    def __init__(
        self,
        reference: Reference,
        *,
        window_s: float = 3600.0,
        events: int | None = None,
        sample_size: int = 1024,
        methods: Sequence[str] | None = None,
        min_count: int = 500,
        seed: int | None = 0,
    ) -> None:
        if events is not None and events < _SLICES:
            raise ValueError(f"drift_events: must be at least {_SLICES}, got {events}")
        if sample_size < _MIN_SAMPLE:
            raise ValueError(f"drift_sample: must be at least {_MIN_SAMPLE}, got {sample_size}")
        self.reference = reference
        self.events = events
        self.window_s = float(window_s)
        self.slice_s = self.window_s / _SLICES
        self.reservoir_size = sample_size
        self.methods = tuple(methods) if methods is not None else STREAMING_METHODS
        self.min_count = min_count
        self._ring: SliceRing[_Slice] = SliceRing(_SLICES, _Slice)  # the time window
        # The events window: a chunk is closed when it holds events // 12 rows (or more: a
        # batch is not split), and the fewest newest chunks that hold ``events`` rows stay,
        # so their number varies; they are a queue, not a ring.
        self._chunks: deque[_Slice] = deque()
        self._rng = np.random.default_rng(seed)
        self._sequence = 0  # the last chunk's number
        self._changes = 0  # counts taken so far: a verdict is computed again only after one
        self._verdicts: tuple[Any, dict[str, FeatureVerdict]] | None = None
        outputs = (reference.prediction, reference.target)
        self._inputs = [n for n in reference.features if n not in outputs]
        #: Live counts per reference bin since start (Prometheus counters).
        self.bin_totals: dict[str, NDArray[np.int64]] = {
            name: np.zeros(len(bin_labels(p)), dtype=np.int64)
            for name, p in reference.features.items()
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "_slices" in state:  # pickled before the SliceRing: one deque sorted by key
            state = dict(state)
            pieces: deque[_Slice] = state.pop("_slices")
            state["_ring"] = SliceRing(_SLICES, _Slice)
            state["_chunks"] = deque()
            if state["events"] is not None:
                state["_chunks"] = pieces
            else:
                for piece in pieces:
                    state["_ring"].put(piece.key, piece)
        self.__dict__.update(state)
        self.__dict__.setdefault("_changes", 0)
        self._verdicts = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_verdicts"] = None  # recomputed from the counts, not kept in checkpoints
        return state

    def same_settings(self, other: DriftTracker) -> bool:
        """Made with the same reference and settings as ``other`` (a checkpointed tracker is
        restored only then: after a new reference, drift is measured against the new one)."""
        return self._settings() == other._settings()

    def _settings(self) -> tuple[Any, ...]:
        return (self.reference, self.events, self.window_s, self.reservoir_size, self.methods,
                self.min_count)  # fmt: skip

    # -- writing -------------------------------------------------------------------------

    def add(self, batch: FeatureBatch, ts: float) -> None:
        """Count a batch of input feature rows observed at ``ts`` (epoch seconds)."""
        self._add(batch, ts, self._inputs, rows=True)

    def add_column(self, name: str, batch: FeatureBatch, ts: float) -> None:
        """Count a batch of values of one reference column that is not an input: the
        prediction (model outputs) or the target (matched outcomes), by its name."""
        if name in (self.reference.prediction, self.reference.target):
            self._add(batch, ts, [name], rows=False)

    def add_outputs(
        self, role: Literal["prediction", "target"], values: Sequence[Any], ts: float
    ) -> None:
        """Count the model's outputs (``"prediction"``; None: no output) or matched outcomes
        (``"target"``: label drift, the truth moved whatever the model made of it) against
        the reference's column of that role, if it names one."""
        name = getattr(self.reference, role)
        if name is None or not values:
            return
        batch = prediction_batch(name, values)
        if batch is not None:
            self.add_column(name, batch, ts)

    def _add(self, batch: FeatureBatch, ts: float, names: list[str], *, rows: bool) -> None:
        if batch.n_rows == 0 or not names:
            return
        target = self._slice_for(ts)
        if target is None:
            return
        before = {name: counts.bins.copy() for name, counts in target.counts.items()}
        outside = {name: counts.outside for name, counts in target.counts.items()}
        count_batch(
            self.reference, batch, self.reservoir_size, self._rng, into=target.counts, names=names
        )
        self._changes += 1
        if rows:
            target.rows += batch.n_rows
            self._evict_events()
        for name in names:
            counts = target.counts[name]
            added = counts.bins - before.get(name, 0)
            totals = self.bin_totals[name]
            totals[: added.size] += added
            if totals.size > added.size:  # the unseen bin
                totals[-1] += counts.outside - outside.get(name, 0)

    def _slice_for(self, ts: float) -> _Slice | None:
        """The slice (or chunk) to count into; None for a time older than the window."""
        if self.events is None:
            return self._ring.get(math.floor(ts / self.slice_s))
        chunks = self._chunks
        if not chunks or chunks[-1].rows >= max(self.events // _SLICES, 1):
            self._sequence += 1
            chunks.append(_Slice(self._sequence))
        return chunks[-1]

    def _evict_events(self) -> None:
        """Keep the fewest newest chunks that hold ``events`` rows (to a fold's batch)."""
        if self.events is None:
            return
        chunks = self._chunks
        total = sum(s.rows for s in chunks)
        while len(chunks) > 1 and total - chunks[0].rows >= self.events:
            total -= chunks.popleft().rows

    def _live(self, now: float) -> Iterable[_Slice]:
        """The slices (or chunks) of the window as of ``now``, oldest first."""
        if self.events is not None:
            return self._chunks
        self._ring.expire(math.floor(now / self.slice_s))
        return self._ring

    # -- reading -------------------------------------------------------------------------

    def rows(self, now: float) -> int:
        """Events in the drift window."""
        return sum(s.rows for s in self._live(now))

    def verdicts(self, now: float) -> dict[str, FeatureVerdict]:
        """Every reference feature's drift over the window (features without live values
        have no results)."""
        pieces = list(self._live(now))
        # The same counts give the same verdicts: a scrape that finds no new rows (a quiet
        # segment, say) reuses the last ones instead of running every test again.
        key = (self._changes, tuple(piece.key for piece in pieces))
        if self._verdicts is not None and self._verdicts[0] == key:
            return self._verdicts[1]
        out: dict[str, FeatureVerdict] = {}
        for name, profile in self.reference.features.items():
            merged = empty_counts(profile)
            for piece in pieces:
                counts = piece.counts.get(name)
                if counts is not None:
                    merged.merge(counts)
            out[name] = self._verdict(profile, merged)
        self._verdicts = (key, out)
        return out

    def _verdict(self, profile: FeatureProfile, counts: FeatureCounts) -> FeatureVerdict:
        if counts.present == 0 or profile.count == 0:
            return FeatureVerdict(profile, counts, {}, None, None)
        inputs = profile_inputs(profile, counts, exact_pvalue=False)
        methods = [m for m in self.methods if applies(m, profile.kind)]
        results = run_methods(inputs, methods)
        verdict = None
        if counts.present >= self.min_count:
            default = default_method(inputs.kind, inputs.n_reference, inputs.n_values())
            # Run as reported unless the default reads a numeric feature's distinct values.
            if default in results and (inputs.kind != "numeric" or default in _ON_SAMPLES):
                verdict = results[default]
            else:
                verdict = next(iter(run_methods(inputs, None).values()), None)
        if profile.kind != "numeric" or inputs.reference_sorted is None:
            return FeatureVerdict(profile, counts, results, verdict, None)
        live = _effective_size(inputs)
        # Reservoirs that kept every value they saw are the window itself: KS is exact.
        exact = all(r.seen == r.values.size for r in counts.reservoirs)
        bound = 0.0 if exact else ks_error_bound(live)
        sizes = (float(inputs.reference_sorted.size), live)
        return FeatureVerdict(profile, counts, results, verdict, bound, sizes)


def _effective_size(inputs: FeatureInputs) -> float:
    if inputs.current_sorted is None:
        return 0.0
    if inputs.current_weights is None:
        return float(inputs.current_sorted.size)
    weights = inputs.current_weights
    return float(weights.sum()) ** 2 / float(np.square(weights).sum())


def bin_labels(profile: FeatureProfile) -> list[str]:
    """The labels of a feature's live bins: the reference's, plus :data:`UNSEEN_BIN` for a
    categorical reference without ``other`` (labels it never saw land there)."""
    labels = profile.bin_labels()
    if profile.kind == "categorical" and OTHER not in profile.categories:
        labels.append(UNSEEN_BIN)
    return labels


def reference_ratios(profile: FeatureProfile) -> list[float]:
    """The reference's share of each of :func:`bin_labels`."""
    if profile.kind == "numeric":
        return list(profile.shares)
    shares = list(profile.categories.values())
    if OTHER not in profile.categories:
        shares.append(0.0)
    return shares


def describe(results: dict[str, DriftResult]) -> dict[str, Any]:
    """The flat numbers a Snapshot shows: psi, ks, ks_pvalue, wasserstein, js, chi2 ..."""
    names = {"jensen_shannon": "js", "chi_square": "chi2"}
    flat: dict[str, Any] = {}
    for method, result in results.items():
        key = names.get(method, method)
        flat[key] = result.statistic
        if result.pvalue is not None:
            flat[f"{key}_pvalue"] = result.pvalue
    return flat


def prediction_batch(name: str, results: Sequence[Any]) -> FeatureBatch | None:
    """Model outputs as one feature column: a scalar per call, or each element of an array,
    list or Series a call returned (a batch prediction). Other outputs are skipped."""
    values: list[Any] = []
    for result in results:
        if isinstance(result, np.ndarray | pd.Series | pd.Index):
            values.extend(np.asarray(result).ravel().tolist())
        elif isinstance(result, list | tuple):
            values.extend(result)
        elif isinstance(result, bool | int | float | str | np.generic) and result is not None:
            values.append(result)
    if not values:
        return None
    return extract(pd.DataFrame({name: values}), max_features=1)


def drift_snapshot(
    tracker: DriftTracker, now: float
) -> tuple[dict[str, FeatureDrift], DriftWindowInfo, dict[str, dict[str, float]]]:
    """The Snapshot's drift parts: per feature, the window's summary, and reference bins."""
    reference = tracker.reference
    drift: dict[str, FeatureDrift] = {}
    verdicts = tracker.verdicts(now)
    for name, verdict in verdicts.items():
        counts, profile = verdict.counts, verdict.profile
        total = counts.present + counts.missing
        drift[name] = FeatureDrift(
            kind=profile.kind,
            count=counts.present,
            missing=counts.missing,
            missing_share=counts.missing / total if total else 0.0,
            reference_missing_share=profile.missing_share,
            drifted=verdict.verdict is not None and verdict.verdict.drifted,
            method=verdict.verdict.method if verdict.verdict is not None else None,
            ks_error_bound=verdict.ks_error_bound,
            unseen=dict(counts.unseen),
            **describe(verdict.results),
        )
    inputs = [n for n in drift if n not in (reference.prediction, reference.target)]
    drifted = [n for n, d in drift.items() if d.drifted]
    ks_tests = [t for n in inputs if (t := verdicts[n].ks_test()) is not None]
    info = DriftWindowInfo(
        events=tracker.rows(now),
        length_s=None if tracker.events is not None else tracker.window_s,
        max_events=tracker.events,
        share_drifted=sum(drift[n].drifted for n in inputs) / len(inputs) if inputs else 0.0,
        drifted=drifted,
        prediction=reference.prediction,
        target=reference.target,
        max_ks=ks_beyond_chance(ks_tests),
    )
    bins = {
        name: dict(zip(bin_labels(p), reference_ratios(p), strict=True))
        for name, p in reference.features.items()
    }
    return drift, info, bins


def bin_total_counts(tracker: DriftTracker) -> dict[str, dict[str, int]]:
    """Live counts per reference bin since start, by feature and bin label."""
    return {
        name: dict(zip(bin_labels(profile), tracker.bin_totals[name].tolist(), strict=True))
        for name, profile in tracker.reference.features.items()
    }
