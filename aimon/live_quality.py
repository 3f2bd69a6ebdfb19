"""A Monitor's live quality: predictions joined with their outcomes, scored per slice.

Predictions with a request id wait in a :class:`~aimon.quality.join.JoinBuffer` for their
outcome (and early outcomes for their prediction); each matched pair is counted in the
quality statistics of the window slice of the later of the two times. Until the task is known
(set, the reference's, or inferred from the first pairs) matched pairs are gathered unplaced.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aimon.columns import Columns
from aimon.errors import ConfigError, MalformedEventError
from aimon.quality.inference import infer_task
from aimon.quality.join import JoinBuffer, MatchFields
from aimon.quality.metrics import (
    QualityError,
    QualityMetrics,
    TaskKind,
    quality_change,
)
from aimon.quality.pairs import prediction_value
from aimon.quality.stats import QualityStats
from aimon.settings import QualitySettings
from aimon.window import Window

__all__ = ["LiveQuality"]

#: The types of outputs quality scores as they are (any other goes through prediction_value).
_PLAIN_OUTPUTS = frozenset({float, int, str, bool})
#: Matched pairs gathered before the quality task is inferred (when not set).
_INFER_PAIRS = 100


#: What :attr:`LiveQuality.on_pairs` is given: the pairs' times, request ids, actuals,
#: predictions, a maker of the task's statistics, and now.
PairsHook = Callable[
    [NDArray[np.float64], list[Any], list[Any], list[Any], Callable[[], QualityStats], float],
    None,
]


class LiveQuality:
    """The join of predictions with outcomes, and the quality of the matched pairs.

    Args:
        settings: the task, positive label, threshold, TTL and bounds.
        reference_quality: the reference's quality (live quality must be measured the same
            way to be compared with it).
        buffer_size: outcomes queued by ``record_outcome`` between folds at most.

    ``on_targets`` is told of each batch of matched outcomes (label drift; set by the fold).

    Raises:
        ConfigError: a setting is invalid or differs from the reference's; named as the
            Monitor's settings are.
    """

    def __init__(
        self,
        settings: QualitySettings,
        reference_quality: QualityMetrics | None,
        buffer_size: int,
    ) -> None:
        self.settings = settings
        self.reference_quality = reference_quality
        self._buffer_size = buffer_size
        self.on_targets: Callable[[list[Any]], None] = _ignore
        #: Given the pairs each time they are counted: their times, request ids, actuals,
        #: predictions and a maker of the task's statistics (the segments count them too).
        self.on_pairs: PairsHook | None = None
        self.new_join()  # check the bounds now
        self.task_settings = settings.measured_as(reference_quality)
        self.reset()

    def new_join(self) -> JoinBuffer:
        """An empty join buffer of these settings."""
        s = self.settings
        try:
            return JoinBuffer(
                s.max_pending_predictions,
                s.max_early_outcomes,
                s.outcome_ttl_s,
                max_remembered=s.max_remembered_ids,
            )
        except ConfigError as exc:  # named as the Monitor's settings are
            inner, _, rest = str(exc).partition(" ")
            outer = {"max_predictions": "max_pending_predictions", "ttl_s": "outcome_ttl",
                     "max_remembered": "max_remembered_ids"}.get(inner, inner)  # fmt: skip
            raise ConfigError(f"{outer}: {rest}") from None

    def reset(self) -> None:
        """Forget everything (a forked child starts clean)."""
        self.join = self.new_join()
        self.task: TaskKind | None = self.task_settings[0]
        # Matched pairs before the task: (the later time, actual, prediction, request id).
        self.unplaced: list[tuple[float, Any, Any, Any]] = []
        self.queue: list[tuple[str, Any, float]] = []
        self.outcomes_seen = False  # an outcome was recorded: hold every prediction

    # -- recording -----------------------------------------------------------------------

    def queue_outcome(self, request_id: Any, actual: Any, ts: float) -> bool:
        """Queue an outcome for the next fold; False when the queue is full."""
        self.outcomes_seen = True
        if len(self.queue) >= self._buffer_size:
            return False
        self.queue.append((str(request_id), actual, ts))
        return True

    def take_queue(self) -> list[tuple[str, Any, float]]:
        """The queued outcomes, removed (appends racing with this stay for next time)."""
        outcomes = self.queue.copy()
        del self.queue[: len(outcomes)]
        return outcomes

    # -- folding -------------------------------------------------------------------------

    def join_predictions(
        self,
        columns: Columns,
        window: Window,
        dropped: Counter[str],
        now: float,
        logged: bool = False,
    ) -> None:
        """Hold each successful prediction with a request id until its outcome comes.

        An id the fold made for a call nobody asked about can only be known from the event
        log: without one, and before any outcome was recorded, such predictions are not
        held (a monitor whose outcomes are never recorded pays nothing for the join).
        ``logged``: the calls are written to an event log."""
        ids = self.held_ids(columns, logged)
        outputs = columns.results
        if ids is None or not outputs:
            return
        # Hot path (every prediction once outcomes are recorded): one batch call to the join.
        rows = []
        plain = _PLAIN_OUTPUTS
        for rid, error, output, ts in zip(
            ids, columns.errors, outputs, columns.ts.tolist(), strict=False
        ):
            if rid is None or error is not None:
                continue
            try:
                value = output if output.__class__ in plain else prediction_value(output)
            except Exception:  # an output nothing can read: this call has nothing to join
                dropped["unreadable_output"] += 1
                continue
            if value is not None:
                rows.append((rid, value, ts))
        join = self.join
        try:
            matches = join.add_predictions(rows)  # checks every ts first, adds none if one is bad
        except MalformedEventError:
            # A bad ts raises (observe_many counts an internal error) after the predictions
            # before it are held, their matches uncounted: as one add_prediction each did.
            bad = next(i for i, row in enumerate(rows) if not math.isfinite(row[2]))
            join.add_predictions(rows[:bad])
            raise
        self.count_matches(matches, window, dropped, now)

    def held_ids(self, columns: Columns, logged: bool) -> Sequence[str | None] | None:
        """The request id of each call whose prediction the join holds, if it succeeded and
        has an output (None: the call's id, unasked for, cannot be known later)."""
        ids = columns.request_ids
        if ids is None or not columns.unasked or logged or self.outcomes_seen:
            return ids
        held: list[str | None] = list(ids)
        for i in columns.unasked:
            held[i] = None
        return held

    def join_outcomes(
        self,
        outcomes: list[tuple[str, Any, float]],
        window: Window,
        dropped: Counter[str],
        now: float,
    ) -> None:
        """Join outcomes with held predictions (or hold them), then expire what is due."""
        join = self.join
        try:
            matches = join.add_outcomes(outcomes)  # checks every ts first, adds none if one is bad
        except MalformedEventError:  # a non-finite ts among them: counted, the others joined
            valid = [o for o in outcomes if math.isfinite(o[2])]
            dropped["outcome_invalid"] += len(outcomes) - len(valid)
            matches = join.add_outcomes(valid)
        self.count_matches(matches, window, dropped, now)
        join.expire(now)

    def count_matches(
        self,
        matches: list[MatchFields],
        window: Window,
        dropped: Counter[str],
        now: float,
        force: bool = False,
    ) -> None:
        """Count matched pairs (the fields of :class:`~aimon.quality.join.Match`) into the
        quality of the slice of their later time; before the task is known, gather pairs
        until there are enough to infer it (``force``: infer from what there is)."""
        if matches:
            self.unplaced += [(ots if ots > pts else pts, actual, prediction, rid)  # the later
                              for rid, _, prediction, actual, pts, ots in matches]  # fmt: skip
            self.on_targets([m[3] for m in matches])
        pending = self.unplaced
        if not pending:
            return
        if self.task is None:
            if len(pending) < _INFER_PAIRS and not force:
                return
            try:
                task = infer_task([p[1] for p in pending], [p[2] for p in pending])
            except QualityError:
                dropped["outcome_invalid"] += len(pending)
                self.unplaced = []
                return
            if task is None:  # no complete pair yet
                return
            self.task = task
        self.unplaced = []
        when = np.array([p[0] for p in pending], dtype=np.float64)
        actuals = [p[1] for p in pending]
        predicted = [p[2] for p in pending]
        _, positive, threshold = self.task_settings
        task = self.task

        def make_stats() -> QualityStats:
            return QualityStats(task, positive_label=positive, threshold=threshold)

        invalid = window.add_pairs(when, actuals, predicted, make_stats, now)
        if invalid:
            dropped["outcome_invalid"] += invalid
        if self.on_pairs is not None:
            self.on_pairs(when, [p[3] for p in pending], actuals, predicted, make_stats, now)

    # -- reading -------------------------------------------------------------------------

    def knows(self, request_ids: Sequence[str]) -> set[str]:
        """The ids whose outcome belongs here (held, waiting or remembered)."""
        knows = self.join.knows
        return {rid for rid in request_ids if knows(rid)}

    def snapshot_fields(self, window_quality: QualityStats | None) -> dict[str, Any]:
        """The Snapshot's fields about outcomes and quality (only those that apply)."""
        fields: dict[str, Any] = {}
        joined = self.join.counts()
        if joined.outcomes_total or joined.predictions_held or joined.predictions_refused:
            fields["outcomes"] = {
                **joined.outcome_results,
                "waiting": joined.waiting,
                "predictions_held": joined.predictions_held,
                "predictions_refused": joined.predictions_refused,
            }
        if window_quality is not None:
            fields["quality"] = window_quality.metrics()
        if self.reference_quality is not None:
            fields["reference_quality"] = self.reference_quality
            fields["quality_change"] = quality_change(fields.get("quality"), self.reference_quality)
        return fields

    # -- checkpoints ---------------------------------------------------------------------

    def export_state(self) -> dict[str, Any]:
        """The join and the pairs not placed yet, for a checkpoint."""
        return {"join": self.join, "quality_task": self.task, "unplaced": list(self.unplaced)}

    def restore_state(self, state: dict[str, Any], window: Window) -> int:
        """Continue from :meth:`export_state`; forget the window's quality measured another
        way before (returns its pairs, counted ``quality_settings_changed``)."""
        self.join = state["join"]
        self.outcomes_seen = self.join.counts().outcomes_total > 0
        task, positive, threshold = self.task_settings
        forgotten = window.drop_quality(lambda stats: stats.measured_as(task, positive, threshold))
        self.task = task or state["quality_task"]
        # (pairs saved before their request id was kept have none: no segment counts them)
        self.unplaced = [(*p, None) if len(p) == 3 else p for p in state["unplaced"]]
        return forgotten


def _ignore(actuals: list[Any]) -> None:
    """No one counts the targets."""
