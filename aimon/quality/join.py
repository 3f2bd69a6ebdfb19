"""The join of predictions with their outcomes (ground truth) by request id, in bounded memory.

Outcomes usually arrive after their prediction (a click after seconds, a chargeback after
days), sometimes before it (two logs read at different speeds). :class:`JoinBuffer` holds
recent predictions by request id for ``ttl_s``, lets outcomes that arrive first wait for
their prediction for ``early_ttl_s``, and remembers for ``ttl_s`` the ids that left it, so
that a second outcome is known as a duplicate and a late one as expired. Every structure has
a capacity; when one is full its oldest entry (earliest deadline) leaves to make room.

Time is the caller's: each entry carries the timestamp it was given (event time, seconds),
entries leave only when :meth:`JoinBuffer.expire` is called with a ``now`` past their
deadline (``ts + ttl``; an entry is still there at ``now == deadline``). The buffer is
plain data and pickles with its state (the sidecar checkpoints it).

Every outcome ends in exactly one result (``aimon_outcomes_total{result}``):

``matched``
    joined with its prediction: the prediction was held when the outcome came, or the
    outcome was waiting when the prediction came. A :class:`Match` is returned then.
``duplicate``
    its request id already had an outcome: matched (the id is remembered for ``ttl_s``
    after the match), waiting, or counted expired. The first outcome of an id wins.
``expired``
    it came too late: its prediction had been held and had already left, unmatched, by
    TTL or by eviction, no more than ``ttl_s`` (and ``max_remembered`` ids) before.
``unknown``
    its request id or its value is longer than ``max_text_chars`` (also counted in
    ``outcomes_refused``), or no prediction with its id was seen: not before it came (nor
    remembered as having left), nor while it waited (its wait ended after ``early_ttl_s``,
    or it was evicted to make room, also counted in ``outcomes_evicted``, or there is no
    room to wait at all, ``max_early_outcomes=0``).

An outcome still waiting has no result yet (``waiting``). So at any moment
``outcomes_total == matched + duplicate + expired + unknown + waiting``, and for the
predictions ``predictions_total == matched + predictions_expired + predictions_evicted +
predictions_duplicate + predictions_refused + predictions_held`` (refused: its id or
its text value longer than ``max_text_chars``); a prediction is a duplicate (ignored, the
first wins) when its id is held or remembered (matched, or left unmatched).

>>> buf = JoinBuffer(max_predictions=100, max_early_outcomes=10, ttl_s=60.0)
>>> buf.add_prediction("r1", 0.9, ts=0.0, key=("fraud", "1.4.0"))
>>> match = buf.add_outcome("r1", 1, ts=5.0)
>>> match.key, match.prediction, match.actual, match.prediction_ts, match.outcome_ts
(('fraud', '1.4.0'), 0.9, 1, 0.0, 5.0)
>>> buf.add_outcome("r1", 1, ts=6.0), buf.add_outcome("r9", 0, ts=6.0)
(None, None)
>>> buf.expire(now=100.0)
>>> buf.counts().outcome_results
{'matched': 1, 'expired': 0, 'unknown': 1, 'duplicate': 1}

Many at once cost less each (the Monitor's path); matches come as tuples of Match's fields:

>>> buf.add_predictions([("r2", 0.2, 101.0), ("r3", 0.7, 101.0)], key="m")
[]
>>> buf.add_outcomes([("r3", 1, 102.0), ("r2", 0, 103.0)])
[('r3', 'm', 0.7, 1, 101.0, 102.0), ('r2', 'm', 0.2, 0, 101.0, 103.0)]
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from aimon.errors import ConfigError, MalformedEventError
from aimon.quality.deadlines import Deadlines

__all__ = ["MAX_TEXT_CHARS", "JoinBuffer", "JoinCounts", "Match"]

#: The longest request id (and text prediction or outcome) the join holds, in characters: a
#: longer one is refused and counted, so memory stays bounded by the entry counts.
MAX_TEXT_CHARS = 256

#: A match as a plain tuple, the fields of :class:`Match` in order (what the batch calls return).
MatchFields = tuple[Hashable, Hashable, Any, Any, float, float]
_third = itemgetter(2)

# What the buffer remembers about a request id that left it.
_MATCHED = 0  # its prediction and an outcome were joined
_DROPPED = 1  # its prediction left unmatched (TTL or eviction)
_LATE = 2  # ... and an outcome came afterwards (counted expired)


@dataclass(frozen=True, slots=True)
class Match:
    """A prediction joined with its outcome."""

    request_id: Hashable
    key: Hashable
    prediction: Any
    actual: Any
    prediction_ts: float
    outcome_ts: float


@dataclass(frozen=True, slots=True)
class JoinCounts:
    """The buffer's counters and sizes at one moment (see :mod:`aimon.quality.join`)."""

    matched: int
    expired: int
    unknown: int
    duplicate: int
    waiting: int
    outcomes_evicted: int
    outcomes_total: int
    predictions_held: int
    predictions_expired: int
    predictions_evicted: int
    predictions_duplicate: int
    predictions_total: int
    remembered: int
    predictions_refused: int = 0
    outcomes_refused: int = 0

    @property
    def outcome_results(self) -> dict[str, int]:
        """Outcomes by result, the labels of ``aimon_outcomes_total{result}``."""
        return {
            "matched": self.matched,
            "expired": self.expired,
            "unknown": self.unknown,
            "duplicate": self.duplicate,
        }


class JoinBuffer:
    """Joins predictions and outcomes by request id, within TTLs and bounded memory.

    Parameters:
        max_predictions: predictions held at most (waiting for their outcome).
        max_early_outcomes: outcomes waiting at most for their prediction (0: none wait).
        ttl_s: how long a prediction waits for its outcome, and how long a request id is
            remembered after it left (to count duplicates and late outcomes).
        early_ttl_s: how long an outcome waits for its prediction (default ``ttl_s``).
        max_remembered: request ids remembered at most (default ``max_predictions``);
            a forgotten id's next outcome waits again, and ends unknown if nothing comes.
        max_text_chars: a request id, or a text prediction or outcome, longer than this is
            refused (counted in ``predictions_refused`` / ``outcomes_refused``).

    Memory: at most ``max_predictions + max_early_outcomes + max_remembered`` entries (each
    with a deadline record; stale records are kept under twice the live ones), each with
    texts of at most ``max_text_chars``, whatever arrives. Not thread-safe: the owner
    serialises calls.
    """

    # Checkpoints pickled before the limit restore with these.
    _max_text = MAX_TEXT_CHARS
    _predictions_refused = 0
    _outcomes_refused = 0

    def __init__(
        self,
        max_predictions: int = 100_000,
        max_early_outcomes: int = 10_000,
        ttl_s: float = 3600.0,
        *,
        early_ttl_s: float | None = None,
        max_remembered: int | None = None,
        max_text_chars: int = MAX_TEXT_CHARS,
    ) -> None:
        if max_predictions < 1:
            raise ConfigError(f"max_predictions must be at least 1, got {max_predictions}")
        if max_early_outcomes < 0:
            raise ConfigError(f"max_early_outcomes must be 0 or more, got {max_early_outcomes}")
        for name, value in (("ttl_s", ttl_s), ("early_ttl_s", early_ttl_s)):
            if value is not None and not (value >= 0 and math.isfinite(value)):
                raise ConfigError(f"{name} must be a finite number of seconds >= 0, got {value}")
        remembered = max_predictions if max_remembered is None else max_remembered
        if remembered < 0:
            raise ConfigError(f"max_remembered must be 0 or more, got {max_remembered}")
        if max_text_chars < 1:
            raise ConfigError(f"max_text_chars must be at least 1, got {max_text_chars}")
        self._max_text = max_text_chars
        self.ttl_s = float(ttl_s)
        self.early_ttl_s = self.ttl_s if early_ttl_s is None else float(early_ttl_s)
        self._predictions = Deadlines(max_predictions)
        self._outcomes = Deadlines(max_early_outcomes)
        self._remembered = Deadlines(remembered)
        self._matched = 0
        self._expired = 0
        self._unknown = 0
        self._duplicate = 0
        self._outcomes_evicted = 0
        self._outcomes_total = 0
        self._predictions_expired = 0
        self._predictions_evicted = 0
        self._predictions_duplicate = 0
        self._predictions_total = 0
        self._predictions_refused = 0
        self._outcomes_refused = 0

    @property
    def max_predictions(self) -> int:
        return self._predictions.capacity

    @property
    def max_early_outcomes(self) -> int:
        return self._outcomes.capacity

    @property
    def max_remembered(self) -> int:
        return self._remembered.capacity

    def add_prediction(
        self, request_id: Hashable, prediction: Any, ts: float, key: Hashable = None
    ) -> Match | None:
        """Hold a prediction until its outcome comes; the :class:`Match` if one was waiting.

        ``key`` travels with the prediction into the match (e.g. ``(model, version)``).
        A prediction whose id is held or remembered is a duplicate and ignored.
        Raises :class:`~aimon.errors.MalformedEventError` for a non-finite ``ts``."""
        matches = self.add_predictions(((request_id, prediction, ts),), key)
        return Match(*matches[0]) if matches else None

    def add_predictions(
        self, predictions: Iterable[tuple[Hashable, Any, float]], key: Hashable = None
    ) -> list[MatchFields]:
        """:meth:`add_prediction` for each ``(request_id, prediction, ts)`` in order, all with
        ``key``; returns the matches as tuples of the fields of :class:`Match` (``Match(*t)``
        makes one), cheaper than one call each. Raises
        :class:`~aimon.errors.MalformedEventError` for a non-finite ``ts``, adding none."""
        # Hot path (every prediction of a monitor whose outcomes are recorded): for speed.
        rows = predictions if isinstance(predictions, list | tuple) else list(predictions)
        stamps = _timestamps(rows)
        held, waiting, remembered = self._predictions, self._outcomes, self._remembered
        held_entries, waiting_entries = held.entries, waiting.entries
        remembered_entries, remember = remembered.entries, remembered.capacity > 0
        put_remembered = remembered.put
        ttl, longest = self.ttl_s, self._max_text
        matches: list[MatchFields] = []
        total = duplicate = matched = evicted = refused = 0
        try:
            for (request_id, prediction, _), ts in zip(rows, stamps, strict=True):
                total += 1
                if _too_long(request_id, longest) or _too_long(prediction, longest):
                    refused += 1
                    continue
                if request_id in held_entries or request_id in remembered_entries:
                    duplicate += 1
                    continue
                outcome = waiting_entries.pop(request_id, None)
                if outcome is not None:
                    outcome_ts, actual = outcome[2]
                    matched += 1
                    if remember:
                        put_remembered(request_id, ts + ttl, _MATCHED)
                    matches.append((request_id, key, prediction, actual, ts, outcome_ts))
                    continue
                for gone, _ in held.put(request_id, ts + ttl, (ts, key, prediction)):
                    evicted += 1
                    if remember:
                        put_remembered(gone, ts + ttl, _DROPPED)
        finally:
            self._predictions_total += total
            self._predictions_duplicate += duplicate
            self._predictions_evicted += evicted
            self._predictions_refused += refused
            self._matched += matched
            waiting.tidy()
        return matches

    def add_outcome(self, request_id: Hashable, actual: Any, ts: float) -> Match | None:
        """Join an outcome with its prediction; the :class:`Match`, or None when it waits
        or is counted (duplicate, expired, unknown: see :mod:`aimon.quality.join`).
        Raises :class:`~aimon.errors.MalformedEventError` for a non-finite ``ts``."""
        matches = self.add_outcomes(((request_id, actual, ts),))
        return Match(*matches[0]) if matches else None

    def add_outcomes(self, outcomes: Iterable[tuple[Hashable, Any, float]]) -> list[MatchFields]:
        """:meth:`add_outcome` for each ``(request_id, actual, ts)`` in order; returns the
        matches as tuples of the fields of :class:`Match` (``Match(*t)`` makes one), cheaper
        than one call each. Raises :class:`~aimon.errors.MalformedEventError` for a
        non-finite ``ts``, adding none."""
        # Hot path (every outcome recorded): written for speed.
        rows = outcomes if isinstance(outcomes, list | tuple) else list(outcomes)
        stamps = _timestamps(rows)
        held, waiting, remembered = self._predictions, self._outcomes, self._remembered
        held_entries, waiting_entries = held.entries, waiting.entries
        remembered_entries, remember = remembered.entries, remembered.capacity > 0
        put_remembered = remembered.put
        ttl, early_ttl, can_wait = self.ttl_s, self.early_ttl_s, waiting.capacity > 0
        longest = self._max_text
        matches: list[MatchFields] = []
        total = matched = expired = duplicate = unknown = evicted = refused = 0
        try:
            for (request_id, actual, _), ts in zip(rows, stamps, strict=True):
                total += 1
                if _too_long(request_id, longest) or _too_long(actual, longest):
                    refused += 1
                    continue
                prediction = held_entries.pop(request_id, None)
                if prediction is not None:
                    prediction_ts, key, value = prediction[2]
                    matched += 1
                    if remember:
                        put_remembered(request_id, ts + ttl, _MATCHED)
                    matches.append((request_id, key, value, actual, prediction_ts, ts))
                    continue
                state = remembered_entries.get(request_id)
                if state is not None and state[2] == _DROPPED:
                    expired += 1
                    remembered.update(request_id, _LATE)
                elif state is not None or request_id in waiting_entries:
                    duplicate += 1
                elif not can_wait:
                    unknown += 1
                else:
                    gone = len(waiting.put(request_id, ts + early_ttl, (ts, actual)))
                    unknown += gone
                    evicted += gone
        finally:
            self._outcomes_total += total
            self._matched += matched
            self._expired += expired
            self._duplicate += duplicate
            self._unknown += unknown + refused
            self._outcomes_refused += refused
            self._outcomes_evicted += evicted
            held.tidy()
        return matches

    def knows(self, request_id: Hashable) -> bool:
        """The id's prediction is held, its outcome waits, or the id is remembered (so an
        outcome for it belongs here: to be matched, or counted duplicate or expired)."""
        return (
            request_id in self._predictions
            or request_id in self._outcomes
            or request_id in self._remembered
        )

    def expire(self, now: float) -> None:
        """Let go of every entry whose deadline is before ``now``: predictions (expired,
        remembered as dropped), waiting outcomes (unknown) and remembered ids."""
        now = _timestamp(now)
        for request_id, _ in self._predictions.due(now):
            self._predictions_expired += 1
            self._remember(request_id, _DROPPED, now)
        self._unknown += len(self._outcomes.due(now))
        self._remembered.due(now)

    def counts(self) -> JoinCounts:
        """The counters and sizes now."""
        return JoinCounts(
            matched=self._matched,
            expired=self._expired,
            unknown=self._unknown,
            duplicate=self._duplicate,
            waiting=len(self._outcomes),
            outcomes_evicted=self._outcomes_evicted,
            outcomes_total=self._outcomes_total,
            predictions_held=len(self._predictions),
            predictions_expired=self._predictions_expired,
            predictions_evicted=self._predictions_evicted,
            predictions_duplicate=self._predictions_duplicate,
            predictions_total=self._predictions_total,
            remembered=len(self._remembered),
            predictions_refused=self._predictions_refused,
            outcomes_refused=self._outcomes_refused,
        )

    def _remember(self, request_id: Hashable, state: int, now: float) -> None:
        if self._remembered.capacity:
            self._remembered.put(request_id, now + self.ttl_s, state)


def _too_long(value: Any, longest: int) -> bool:
    return value.__class__ is str and len(value) > longest


def _timestamps(rows: list[Any] | tuple[Any, ...]) -> list[float]:
    """The ``ts`` (third field) of each row as a float; raises for a non-finite one."""
    stamps = list(map(float, map(_third, rows)))
    if not math.isfinite(sum(stamps)):  # any non-finite term makes the sum non-finite
        for row, value in zip(rows, stamps, strict=True):
            if not math.isfinite(value):
                raise MalformedEventError(
                    "ts", f"a timestamp must be a finite number, got {row[2]!r}"
                )
    return stamps


def _timestamp(ts: float) -> float:
    value = float(ts)
    if not math.isfinite(value):
        raise MalformedEventError("ts", f"a timestamp must be a finite number, got {ts!r}")
    return value
