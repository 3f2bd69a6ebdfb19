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
    no prediction with its id was seen: not before it came (nor remembered as having
    left), nor while it waited (its wait ended after ``early_ttl_s``, or it was evicted to
    make room, also counted in ``outcomes_evicted``, or there is no room to wait at all,
    ``max_early_outcomes=0``).

An outcome still waiting has no result yet (``waiting``). So at any moment
``outcomes_total == matched + duplicate + expired + unknown + waiting``, and for the
predictions ``predictions_total == matched + predictions_expired + predictions_evicted +
predictions_duplicate + predictions_held``; a prediction is a duplicate (ignored, the
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
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from aimon.errors import ConfigError, MalformedEventError

__all__ = ["JoinBuffer", "JoinCounts", "Match"]

# What the buffer remembers about a request id that left it.
_MATCHED = 0  # its prediction and an outcome were joined
_DROPPED = 1  # its prediction left unmatched (TTL or eviction)
_LATE = 2  # ... and an outcome came afterwards (counted expired)

# A heap may hold this many stale records beyond twice its live entries before a rebuild.
_HEAP_SLACK = 32


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

    @property
    def outcome_results(self) -> dict[str, int]:
        """Outcomes by result, the labels of ``aimon_outcomes_total{result}``."""
        return {
            "matched": self.matched,
            "expired": self.expired,
            "unknown": self.unknown,
            "duplicate": self.duplicate,
        }


class _Deadlines:
    """Entries by id, each with a deadline, the earliest found first (a heap with lazy
    deletion, rebuilt when stale records outnumber live ones). At most ``capacity``
    entries: an insertion beyond it evicts the earliest deadline (ties: the oldest entry)."""

    __slots__ = ("capacity", "entries", "heap", "seq")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: dict[Hashable, tuple[float, int, Any]] = {}
        self.heap: list[tuple[float, int, Hashable]] = []
        self.seq = 0

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.entries

    def get(self, key: Hashable) -> Any:
        entry = self.entries.get(key)
        return None if entry is None else entry[2]

    def put(self, key: Hashable, deadline: float, value: Any) -> list[tuple[Hashable, Any]]:
        """Insert (or replace) ``key``; returns the entries evicted to stay within capacity,
        possibly the new one itself if its deadline is the earliest."""
        self.seq += 1
        self.entries[key] = (deadline, self.seq, value)
        heapq.heappush(self.heap, (deadline, self.seq, key))
        evicted = []
        while len(self.entries) > self.capacity:
            popped = self._pop_earliest()
            assert popped is not None
            evicted.append(popped)
        self._compact()
        return evicted

    def update(self, key: Hashable, value: Any) -> None:
        """Replace ``key``'s value, keeping its deadline and its place."""
        deadline, seq, _ = self.entries[key]
        self.entries[key] = (deadline, seq, value)

    def pop(self, key: Hashable) -> Any:
        """Remove ``key`` and return its value (None if absent)."""
        entry = self.entries.pop(key, None)
        if entry is None:
            return None
        self._compact()
        return entry[2]

    def due(self, now: float) -> list[tuple[Hashable, Any]]:
        """Remove and return the entries whose deadline is before ``now``, earliest first."""
        out = []
        while self.heap and self.heap[0][0] < now:
            _, seq, key = heapq.heappop(self.heap)
            entry = self.entries.get(key)
            if entry is not None and entry[1] == seq:
                del self.entries[key]
                out.append((key, entry[2]))
        self._compact()
        return out

    def _pop_earliest(self) -> tuple[Hashable, Any] | None:
        while self.heap:
            _, seq, key = heapq.heappop(self.heap)
            entry = self.entries.get(key)
            if entry is not None and entry[1] == seq:
                del self.entries[key]
                return key, entry[2]
        return None

    def _compact(self) -> None:
        if len(self.heap) > 2 * len(self.entries) + _HEAP_SLACK:
            self.heap = [(d, s, k) for k, (d, s, _) in self.entries.items()]
            heapq.heapify(self.heap)


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

    Memory: at most ``max_predictions + max_early_outcomes + max_remembered`` entries (each
    with a heap record; stale records are kept under twice the live ones), whatever
    arrives. Not thread-safe: the owner serialises calls.
    """

    def __init__(
        self,
        max_predictions: int = 100_000,
        max_early_outcomes: int = 10_000,
        ttl_s: float = 3600.0,
        *,
        early_ttl_s: float | None = None,
        max_remembered: int | None = None,
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
        self.ttl_s = float(ttl_s)
        self.early_ttl_s = self.ttl_s if early_ttl_s is None else float(early_ttl_s)
        self._predictions = _Deadlines(max_predictions)
        self._outcomes = _Deadlines(max_early_outcomes)
        self._remembered = _Deadlines(remembered)
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
        ts = _timestamp(ts)
        self._predictions_total += 1
        if request_id in self._predictions or request_id in self._remembered:
            self._predictions_duplicate += 1
            return None
        waiting = self._outcomes.pop(request_id)
        if waiting is not None:
            outcome_ts, actual = waiting
            return self._match(request_id, key, prediction, actual, ts, outcome_ts, ts)
        evicted = self._predictions.put(request_id, ts + self.ttl_s, (ts, key, prediction))
        for gone, _ in evicted:
            self._predictions_evicted += 1
            self._remember(gone, _DROPPED, ts)
        return None

    def add_outcome(self, request_id: Hashable, actual: Any, ts: float) -> Match | None:
        """Join an outcome with its prediction; the :class:`Match`, or None when it waits
        or is counted (duplicate, expired, unknown: see :mod:`aimon.quality.join`).
        Raises :class:`~aimon.errors.MalformedEventError` for a non-finite ``ts``."""
        ts = _timestamp(ts)
        self._outcomes_total += 1
        held = self._predictions.pop(request_id)
        if held is not None:
            prediction_ts, key, prediction = held
            return self._match(request_id, key, prediction, actual, prediction_ts, ts, ts)
        state = self._remembered.get(request_id)
        if state == _DROPPED:
            self._expired += 1
            self._remembered.update(request_id, _LATE)
        elif state is not None or request_id in self._outcomes:
            self._duplicate += 1
        elif not self._outcomes.capacity:
            self._unknown += 1
        else:
            evicted = self._outcomes.put(request_id, ts + self.early_ttl_s, (ts, actual))
            self._unknown += len(evicted)
            self._outcomes_evicted += len(evicted)
        return None

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
        )

    def _match(
        self,
        request_id: Hashable,
        key: Hashable,
        prediction: Any,
        actual: Any,
        prediction_ts: float,
        outcome_ts: float,
        now: float,
    ) -> Match:
        self._matched += 1
        self._remember(request_id, _MATCHED, now)
        return Match(request_id, key, prediction, actual, prediction_ts, outcome_ts)

    def _remember(self, request_id: Hashable, state: int, now: float) -> None:
        if self._remembered.capacity:
            self._remembered.put(request_id, now + self.ttl_s, state)


def _timestamp(ts: float) -> float:
    value = float(ts)
    if not math.isfinite(value):
        raise MalformedEventError("ts", f"a timestamp must be a finite number, got {ts!r}")
    return value
