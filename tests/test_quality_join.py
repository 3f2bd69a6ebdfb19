"""JoinBuffer: equal to a naive reference model and to an offline join; bounded; picklable."""

from __future__ import annotations

import math
import pickle
import random
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimon.errors import ConfigError, MalformedEventError
from aimon.quality import JoinBuffer, JoinCounts, Match
from aimon.quality.join import MAX_TEXT_CHARS

# --------------------------------------------------------------------------- reference model


class ReferenceJoin:
    """The documented rules, written as plainly as possible: dicts scanned in full, the
    oldest entry found with min() over (deadline, insertion order)."""

    def __init__(self, maxp: int, maxo: int, ttl: float, early_ttl: float, maxr: int) -> None:
        self.caps = {"held": maxp, "waiting": maxo, "memory": maxr}
        self.ttl, self.early_ttl = ttl, early_ttl
        self.tables: dict[str, dict[Any, list[Any]]] = {"held": {}, "waiting": {}, "memory": {}}
        self.order = 0
        self.c = dict.fromkeys(
            [
                "matched",
                "expired",
                "unknown",
                "duplicate",
                "outcomes_evicted",
                "outcomes_total",
                "predictions_expired",
                "predictions_evicted",
                "predictions_duplicate",
                "predictions_total",
            ],
            0,
        )

    def _insert(self, name: str, rid: Any, deadline: float, value: Any) -> list[Any]:
        table = self.tables[name]
        self.order += 1
        table[rid] = [deadline, self.order, value]
        out = []
        while len(table) > self.caps[name]:
            oldest = min(table, key=lambda r: (table[r][0], table[r][1]))
            out.append(oldest)
            del table[oldest]
        return out

    def _remember(self, rid: Any, state: str, now: float) -> None:
        self._insert("memory", rid, now + self.ttl, state)

    def prediction(self, rid: Any, pred: Any, ts: float, key: Any) -> Match | None:
        held, waiting, memory = (self.tables[n] for n in ("held", "waiting", "memory"))
        self.c["predictions_total"] += 1
        if rid in held or rid in memory:
            self.c["predictions_duplicate"] += 1
            return None
        if rid in waiting:
            _, _, (o_ts, actual) = waiting.pop(rid)
            self.c["matched"] += 1
            self._remember(rid, "matched", ts)
            return Match(rid, key, pred, actual, ts, o_ts)
        for gone in self._insert("held", rid, ts + self.ttl, (ts, key, pred)):
            self.c["predictions_evicted"] += 1
            self._remember(gone, "dropped", ts)
        return None

    def outcome(self, rid: Any, actual: Any, ts: float) -> Match | None:
        held, waiting, memory = (self.tables[n] for n in ("held", "waiting", "memory"))
        self.c["outcomes_total"] += 1
        if rid in held:
            _, _, (p_ts, key, pred) = held.pop(rid)
            self.c["matched"] += 1
            self._remember(rid, "matched", ts)
            return Match(rid, key, pred, actual, p_ts, ts)
        if rid in memory and memory[rid][2] == "dropped":
            self.c["expired"] += 1
            memory[rid][2] = "late"
        elif rid in memory or rid in waiting:
            self.c["duplicate"] += 1
        elif self.caps["waiting"] == 0:
            self.c["unknown"] += 1
        else:
            evicted = self._insert("waiting", rid, ts + self.early_ttl, (ts, actual))
            self.c["unknown"] += len(evicted)
            self.c["outcomes_evicted"] += len(evicted)
        return None

    def expire(self, now: float) -> None:
        held, waiting, memory = (self.tables[n] for n in ("held", "waiting", "memory"))
        for rid in sorted((r for r in held if held[r][0] < now), key=lambda r: held[r][:2]):
            del held[rid]
            self.c["predictions_expired"] += 1
            self._remember(rid, "dropped", now)
        for rid in [r for r in waiting if waiting[r][0] < now]:
            del waiting[rid]
            self.c["unknown"] += 1
        for rid in [r for r in memory if memory[r][0] < now]:
            del memory[rid]

    def counts(self) -> JoinCounts:
        return JoinCounts(
            **self.c,
            waiting=len(self.tables["waiting"]),
            predictions_held=len(self.tables["held"]),
            remembered=len(self.tables["memory"]),
        )


# --------------------------------------------------------------------------- streams


@dataclass(frozen=True)
class Op:
    kind: str  # "prediction", "outcome", "expire"
    rid: int = 0
    ts: float = 0.0


@st.composite
def streams(draw: st.DrawFn) -> list[Op]:
    """Interleavings over a small pool of ids (so early, late, duplicate and unknown
    outcomes and duplicate predictions all happen), timestamps a little out of order,
    time advanced by expire() calls."""
    n = draw(st.integers(1, 80))
    ids = draw(st.integers(1, 12))
    clock = 0.0
    ops = []
    for _ in range(n):
        kind = draw(st.sampled_from(["prediction", "outcome", "outcome", "expire"]))
        clock += draw(st.sampled_from([0.0, 0.5, 1.0, 3.0, 10.0]))
        if kind == "expire":
            ops.append(Op("expire", ts=clock))
        else:
            jitter = draw(st.sampled_from([0.0, 0.0, -2.0, 1.5]))
            ops.append(Op(kind, draw(st.integers(0, ids - 1)), clock + jitter))
    return ops


configs = st.fixed_dictionaries(
    {
        "max_predictions": st.integers(1, 6),
        "max_early_outcomes": st.integers(0, 4),
        "ttl_s": st.sampled_from([0.0, 2.0, 5.0, 20.0]),
        "early_ttl_s": st.sampled_from([None, 0.0, 1.0, 8.0]),
        "max_remembered": st.sampled_from([None, 0, 1, 3, 10]),
    }
)


def run(buf: JoinBuffer, op: Op) -> Match | None:
    if op.kind == "prediction":
        return buf.add_prediction(op.rid, f"p{op.rid}@{op.ts}", op.ts, key=("m", op.rid % 2))
    if op.kind == "outcome":
        return buf.add_outcome(op.rid, f"a{op.rid}@{op.ts}", op.ts)
    buf.expire(op.ts)
    return None


def run_reference(ref: ReferenceJoin, op: Op) -> Match | None:
    if op.kind == "prediction":
        return ref.prediction(op.rid, f"p{op.rid}@{op.ts}", op.ts, ("m", op.rid % 2))
    if op.kind == "outcome":
        return ref.outcome(op.rid, f"a{op.rid}@{op.ts}", op.ts)
    ref.expire(op.ts)
    return None


def reference_for(config: dict[str, Any]) -> ReferenceJoin:
    buf = JoinBuffer(**config)  # the defaults resolved the same way
    return ReferenceJoin(
        buf.max_predictions, buf.max_early_outcomes, buf.ttl_s, buf.early_ttl_s, buf.max_remembered
    )


def assert_accounting(c: JoinCounts) -> None:
    """Every outcome is in exactly one result (or still waiting); same for predictions."""
    assert c.outcomes_total == c.matched + c.duplicate + c.expired + c.unknown + c.waiting
    assert c.predictions_total == (
        c.matched
        + c.predictions_expired
        + c.predictions_evicted
        + c.predictions_duplicate
        + c.predictions_refused
        + c.predictions_held
    )
    assert c.outcomes_evicted + c.outcomes_refused <= c.unknown


def assert_bounded(buf: JoinBuffer) -> None:
    c = buf.counts()
    assert c.predictions_held <= buf.max_predictions
    assert c.waiting <= buf.max_early_outcomes
    assert c.remembered <= buf.max_remembered
    # Memory also counts the heaps' stale records (lazy deletion): kept under a fixed bound.
    for table in (buf._predictions, buf._outcomes, buf._remembered):
        assert len(table.heap) <= 2 * table.capacity + 33


# --------------------------------------------------------------------------- properties


@given(streams(), configs)
@settings(max_examples=400, deadline=None)
def test_equals_the_reference_model_step_by_step(ops: list[Op], config: dict[str, Any]) -> None:
    buf, ref = JoinBuffer(**config), reference_for(config)
    for op in ops:
        assert run(buf, op) == run_reference(ref, op), op
        assert buf.counts() == ref.counts(), op
        assert_accounting(buf.counts())
        assert_bounded(buf)


@given(streams(), configs, st.data())
@settings(max_examples=200, deadline=None)
def test_a_pickle_round_trip_mid_stream_changes_nothing(
    ops: list[Op], config: dict[str, Any], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(ops)))
    straight = JoinBuffer(**config)
    want = [run(straight, op) for op in ops]
    buf = JoinBuffer(**config)
    got = [run(buf, op) for op in ops[:cut]]
    buf = pickle.loads(pickle.dumps(buf, protocol=pickle.HIGHEST_PROTOCOL))
    got += [run(buf, op) for op in ops[cut:]]
    assert got == want
    assert buf.counts() == straight.counts()


@st.composite
def one_each(draw: st.DrawFn) -> list[Op]:
    """Each id has at most one prediction and at most one outcome, in either order, with
    increasing timestamps; some ids have only one side."""
    n = draw(st.integers(1, 40))
    events = []
    for rid in range(n):
        shape = draw(st.sampled_from(["both", "both", "prediction", "outcome"]))
        t = draw(st.floats(0, 100, allow_nan=False))
        gap = draw(st.floats(0, 30, allow_nan=False))
        if shape in ("both", "prediction"):
            events.append(Op("prediction", rid, t))
        if shape in ("both", "outcome"):
            first = draw(st.booleans()) if shape == "both" else True
            events.append(Op("outcome", rid, t - gap if first and shape == "both" else t + gap))
    return sorted(events, key=lambda op: (op.ts, op.kind))


@given(one_each(), st.sampled_from([0.0, 5.0, 10.0, 25.0]), st.sampled_from([0.0, 3.0, 10.0]))
@settings(max_examples=300, deadline=None)
def test_matched_set_equals_an_offline_join(ops: list[Op], ttl: float, early: float) -> None:
    """Time advances with the events (expire(ts) before each): a pair is matched exactly
    when the outcome comes at most ttl after its prediction, or the prediction at most
    early_ttl after its outcome. Capacities are large enough to evict nothing."""
    buf = JoinBuffer(1000, 1000, ttl, early_ttl_s=early)
    matched = set()
    for op in ops:
        buf.expire(op.ts)
        m = run(buf, op)
        if m is not None:
            matched.add(m.request_id)
            assert m.prediction == f"p{m.request_id}@{m.prediction_ts}"
            assert m.actual == f"a{m.request_id}@{m.outcome_ts}"
    when: dict[int, dict[str, float]] = {}
    for op in ops:
        when.setdefault(op.rid, {})[op.kind] = op.ts
    offline = {
        rid
        for rid, t in when.items()
        if len(t) == 2
        and (
            # as deadlines (ts + ttl), the buffer's definition: in floats, o - p <= ttl and
            # o <= p + ttl differ at the edge (-9.9999 + 10.0 < 0.0001)
            t["prediction"] <= t["outcome"] <= t["prediction"] + ttl
            or t["outcome"] < t["prediction"] <= t["outcome"] + early
        )
    }
    assert matched == offline
    c = buf.counts()
    assert c.matched == len(offline)
    assert_accounting(c)


@given(
    st.lists(st.tuples(st.sampled_from(["prediction", "outcome"]), st.integers(0, 15)), max_size=80)
)
@settings(max_examples=200, deadline=None)
def test_without_time_or_limits_it_is_the_inner_join_first_come_first_served(
    events: list[tuple[str, int]],
) -> None:
    buf = JoinBuffer(10_000, 10_000, ttl_s=1e9)
    got = {}
    for i, (kind, rid) in enumerate(events):
        m = run(buf, Op(kind, rid, float(i)))
        if m is not None:
            assert m.request_id not in got  # nothing matched twice
            got[m.request_id] = (m.prediction, m.actual)
    first: dict[str, dict[int, str]] = {"prediction": {}, "outcome": {}}
    for i, (kind, rid) in enumerate(events):
        first[kind].setdefault(rid, f"{'p' if kind == 'prediction' else 'a'}{rid}@{float(i)}")
    want = {
        rid: (pred, first["outcome"][rid])
        for rid, pred in first["prediction"].items()
        if rid in first["outcome"]
    }
    assert got == want
    c = buf.counts()
    assert (c.expired, c.unknown) == (0, 0)
    assert c.duplicate == sum(k == "outcome" for k, _ in events) - len(want) - c.waiting


def test_memory_stays_bounded_under_a_flood() -> None:
    rng = random.Random(7)
    buf = JoinBuffer(max_predictions=50, max_early_outcomes=20, ttl_s=5.0, max_remembered=30)
    for i in range(30_000):
        t = i * 0.01
        rid = rng.randrange(2000)
        if rng.random() < 0.5:
            buf.add_prediction(rid, i, t)
        else:
            buf.add_outcome(rid, i, t)
        if i % 97 == 0:
            buf.expire(t)
        if i % 501 == 0:
            assert_bounded(buf)
    assert_bounded(buf)
    c = buf.counts()
    assert_accounting(c)
    assert c.predictions_evicted > 0 and c.outcomes_evicted > 0 and c.matched > 0


def test_matched_entries_leave_no_garbage_behind() -> None:
    """A long-lived entry at the top of a heap keeps lazy deletion from ever reaching the
    records of entries matched after it: compaction has to bound them."""
    buf = JoinBuffer(max_predictions=10, max_early_outcomes=10, ttl_s=1e9)
    buf.add_prediction("old", 0, ts=0.0)
    buf.add_outcome("early", 0, ts=0.0)
    for i in range(5_000):
        buf.add_prediction(i, i, ts=float(i))
        buf.add_outcome(i, i, ts=float(i))
        buf.add_outcome(-i - 1, i, ts=float(i))
        buf.add_prediction(-i - 1, i, ts=float(i))
    assert_bounded(buf)
    assert buf.counts().matched == 10_000


# --------------------------------------------------------------------------- the rules, one by one


def test_an_outcome_after_its_prediction_matches() -> None:
    buf = JoinBuffer(10, 10, ttl_s=60)
    assert buf.add_prediction("r", 0.3, ts=0.0, key=("m", "1")) is None
    buf.expire(60.0)  # still there at the deadline
    assert buf.add_outcome("r", 1, ts=60.0) == Match("r", ("m", "1"), 0.3, 1, 0.0, 60.0)


def test_an_early_outcome_waits_for_its_prediction() -> None:
    buf = JoinBuffer(10, 10, ttl_s=60, early_ttl_s=5)
    assert buf.add_outcome("r", 1, ts=10.0) is None
    assert buf.counts().waiting == 1
    buf.expire(15.0)
    assert buf.add_prediction("r", 0.9, ts=15.0) == Match("r", None, 0.9, 1, 15.0, 10.0)
    assert buf.counts().outcome_results == {
        "matched": 1,
        "expired": 0,
        "unknown": 0,
        "duplicate": 0,
    }


def test_an_early_outcome_whose_prediction_never_comes_is_unknown() -> None:
    buf = JoinBuffer(10, 10, ttl_s=60, early_ttl_s=5)
    buf.add_outcome("r", 1, ts=10.0)
    buf.expire(15.5)
    assert (buf.counts().unknown, buf.counts().waiting) == (1, 0)
    assert buf.add_prediction("r", 0.9, ts=16.0) is None  # too late: held, unmatched
    buf.expire(100.0)
    assert buf.counts().predictions_expired == 1


def test_a_late_outcome_is_expired() -> None:
    buf = JoinBuffer(10, 10, ttl_s=60)
    buf.add_prediction("r", 0.3, ts=0.0)
    buf.expire(61.0)
    assert buf.add_outcome("r", 1, ts=70.0) is None
    c = buf.counts()
    assert (c.expired, c.predictions_expired, c.waiting) == (1, 1, 0)
    assert buf.add_outcome("r", 1, ts=71.0) is None  # a second late one is a duplicate
    assert buf.counts().duplicate == 1


def test_a_forgotten_id_counts_unknown() -> None:
    buf = JoinBuffer(10, 10, ttl_s=60)
    buf.add_prediction("r", 0.3, ts=0.0)
    buf.expire(61.0)  # dropped, remembered until 121
    buf.expire(122.0)  # forgotten
    buf.add_outcome("r", 1, ts=122.0)
    buf.expire(183.0)
    c = buf.counts()
    assert (c.expired, c.unknown, c.remembered) == (0, 1, 0)


def test_duplicates() -> None:
    buf = JoinBuffer(10, 10, ttl_s=60)
    buf.add_prediction("a", 1, ts=0.0)
    assert buf.add_prediction("a", 2, ts=1.0) is None  # held: the first wins
    assert buf.add_outcome("a", "yes", ts=2.0) == Match("a", None, 1, "yes", 0.0, 2.0)
    assert buf.add_outcome("a", "no", ts=3.0) is None  # already matched
    assert buf.add_prediction("a", 3, ts=4.0) is None  # already matched
    buf.add_outcome("b", "yes", ts=5.0)
    assert buf.add_outcome("b", "no", ts=6.0) is None  # one is already waiting
    assert buf.add_prediction("b", 9, ts=7.0) == Match("b", None, 9, "yes", 7.0, 5.0)
    c = buf.counts()
    assert (c.matched, c.duplicate, c.predictions_duplicate) == (2, 2, 2)


def test_full_buffers_evict_the_oldest() -> None:
    buf = JoinBuffer(max_predictions=2, max_early_outcomes=1, ttl_s=60)
    buf.add_prediction("a", 0, ts=5.0)
    buf.add_prediction("b", 0, ts=1.0)
    buf.add_prediction("c", 0, ts=3.0)  # evicts b, the earliest deadline
    assert buf.counts().predictions_evicted == 1
    assert buf.add_outcome("b", 1, ts=6.0) is None  # its prediction left: expired
    assert buf.add_outcome("a", 1, ts=6.0) is not None
    buf.add_outcome("x", 1, ts=7.0)
    buf.add_outcome("y", 1, ts=8.0)  # evicts x's wait: unknown
    c = buf.counts()
    assert (c.expired, c.unknown, c.outcomes_evicted, c.waiting) == (1, 1, 1, 1)
    assert_accounting(c)


def test_no_waiting_room_means_unknown_at_once() -> None:
    buf = JoinBuffer(10, 0, ttl_s=60)
    assert buf.add_outcome("r", 1, ts=0.0) is None
    c = buf.counts()
    assert (c.unknown, c.outcomes_evicted, c.waiting) == (1, 0, 0)


def test_bad_timestamps_and_settings_are_refused() -> None:
    buf = JoinBuffer(10, 10, ttl_s=60)
    for bad in (math.nan, math.inf):
        with pytest.raises(MalformedEventError, match="finite"):
            buf.add_prediction("r", 1, ts=bad)
        with pytest.raises(MalformedEventError, match="finite"):
            buf.add_outcome("r", 1, ts=bad)
    assert buf.counts().outcomes_total == buf.counts().predictions_total == 0
    for kwargs in (
        {"max_predictions": 0},
        {"max_early_outcomes": -1},
        {"ttl_s": -1.0},
        {"ttl_s": math.inf},
        {"early_ttl_s": math.nan},
        {"max_remembered": -1},
    ):
        with pytest.raises(ConfigError):
            JoinBuffer(**kwargs)


# --------------------------------------------------------------------------- batches, records


def assert_records_bounded(buf: JoinBuffer) -> None:
    """Every record kept (in order or not, live or stale) counts: under twice the cap."""
    for table in (buf._predictions, buf._outcomes, buf._remembered):
        assert len(table.queue) + len(table.heap) <= 2 * table.capacity + 33


@given(streams(), configs, st.data())
@settings(max_examples=300, deadline=None)
def test_batches_equal_one_call_each(
    ops: list[Op], config: dict[str, Any], data: st.DataObject
) -> None:
    """Runs of predictions (or outcomes) given to add_predictions (add_outcomes) at once
    match, count and evict as the reference model does one by one."""
    buf, ref = JoinBuffer(**config), reference_for(config)
    i = 0
    while i < len(ops):
        kind = ops[i].kind
        size = data.draw(st.integers(1, 8))
        run_ops = []
        while i < len(ops) and ops[i].kind == kind and len(run_ops) < size:
            run_ops.append(ops[i])
            i += 1
        want = [m for m in (reference_step(ref, op) for op in run_ops) if m is not None]
        if kind == "prediction":
            got = buf.add_predictions(
                [(op.rid, f"p{op.rid}@{op.ts}", op.ts) for op in run_ops], key="k"
            )
        elif kind == "outcome":
            got = buf.add_outcomes([(op.rid, f"a{op.rid}@{op.ts}", op.ts) for op in run_ops])
        else:
            for op in run_ops:
                buf.expire(op.ts)
            got = []
        assert [Match(*m) for m in got] == want, run_ops
        assert buf.counts() == ref.counts(), run_ops
        assert_accounting(buf.counts())
        assert_bounded(buf)
        assert_records_bounded(buf)


def reference_step(ref: ReferenceJoin, op: Op) -> Match | None:
    """As run_reference, every prediction with the key "k" (a batch has one key)."""
    if op.kind == "prediction":
        return ref.prediction(op.rid, f"p{op.rid}@{op.ts}", op.ts, "k")
    return run_reference(ref, op)


@given(streams(), configs)
@settings(max_examples=200, deadline=None)
def test_every_record_kept_stays_bounded(ops: list[Op], config: dict[str, Any]) -> None:
    buf = JoinBuffer(**config)
    for op in ops:
        run(buf, op)
        assert_records_bounded(buf)


def test_out_of_order_deadlines_evict_earliest_first_ties_oldest() -> None:
    """Deadlines out of insertion order (a late prediction's early ts) and equal ones:
    eviction goes by deadline, then insertion, as the reference model's min()."""
    rng = random.Random(11)
    buf = JoinBuffer(max_predictions=7, max_early_outcomes=3, ttl_s=10.0, max_remembered=5)
    ref = ReferenceJoin(7, 3, 10.0, 10.0, 5)
    for i in range(3_000):
        ts = float(i // 3 + rng.choice([0, 0, 0, -4, -1, 2]))  # ties and out of order
        rid = rng.randrange(40)
        op = Op(rng.choice(["prediction", "outcome", "outcome"]), rid, ts)
        if i % 50 == 49:
            op = Op("expire", ts=ts)
        assert run(buf, op) == run_reference(ref, op), (i, op)
        assert buf.counts() == ref.counts(), (i, op)
        assert_records_bounded(buf)
    c = buf.counts()
    assert c.predictions_evicted > 0 and c.outcomes_evicted > 0 and c.expired > 0


def test_a_bad_timestamp_in_a_batch_adds_none_of_it() -> None:
    buf = JoinBuffer(10, 10, ttl_s=60)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(MalformedEventError, match="finite"):
            buf.add_predictions([("a", 1, 0.0), ("b", 1, bad)])
        with pytest.raises(MalformedEventError, match="finite"):
            buf.add_outcomes([("a", 1, 0.0), ("b", 1, bad)])
    c = buf.counts()
    assert (c.predictions_total, c.outcomes_total, c.predictions_held, c.waiting) == (0, 0, 0, 0)
    # finite values whose sum overflows are fine
    assert buf.add_predictions([("a", 1, 1e308), ("b", 2, 1e308)]) == []
    assert buf.add_outcomes((r, 0, 1e308) for r in "ab") == [
        ("a", None, 1, 0, 1e308, 1e308),
        ("b", None, 2, 0, 1e308, 1e308),
    ]


def test_a_pickle_of_the_heap_only_layout_restores() -> None:
    """A checkpoint taken before the in-order queue (every record in one heap) goes on as
    the buffer it was."""
    import heapq

    def old_layout(buf: JoinBuffer) -> JoinBuffer:
        copy = pickle.loads(pickle.dumps(buf))
        for table in (copy._predictions, copy._outcomes, copy._remembered):
            heap = [(d, s, k) for k, (d, s, _) in table.entries.items()]
            heapq.heapify(heap)
            state = {"capacity": table.capacity, "entries": table.entries, "heap": heap,
                     "seq": table.seq}  # fmt: skip
            del table.queue
            table.__setstate__((None, state))
        return copy

    rng = random.Random(5)
    ops = [
        Op(rng.choice(["prediction", "outcome"]), rng.randrange(30), float(i + rng.choice([0, -3])))
        for i in range(400)
    ]
    straight = JoinBuffer(8, 4, ttl_s=15.0, max_remembered=6)
    want = [run(straight, op) for op in ops]
    buf = JoinBuffer(8, 4, ttl_s=15.0, max_remembered=6)
    got = [run(buf, op) for op in ops[:200]]
    buf = old_layout(buf)
    got += [run(buf, op) for op in ops[200:]]
    assert got == want
    assert buf.counts() == straight.counts()


def test_matched_entries_leave_no_stale_records_behind() -> None:
    """As above, counting the in-order records too, for batches and single calls."""
    buf = JoinBuffer(max_predictions=10, max_early_outcomes=10, ttl_s=1e9)
    buf.add_prediction("old", 0, ts=0.0)
    buf.add_outcome("early", 0, ts=0.0)
    for i in range(2_000):
        buf.add_predictions([(i, i, float(i)), (-i - 1, i, float(i))])
        buf.add_outcomes([(i, i, float(i)), (-i - 1, i, float(i))])
        buf.add_outcome(f"e{i}", i, ts=float(i))
        buf.add_prediction(f"e{i}", i, ts=float(i))
        assert_records_bounded(buf)
    assert buf.counts().matched == 6_000


def test_a_wait_ends_at_its_deadline_computed_as_ts_plus_ttl() -> None:
    """The float edge hypothesis found: -9.9999 + 10.0 is just below 0.0001, so an outcome
    at -9.9999 waiting 10 s has expired when its prediction comes at 0.0001."""
    buf = JoinBuffer(10, 10, 0.0, early_ttl_s=10.0)
    assert buf.add_outcome("a", 1, -9.9999) is None
    buf.expire(0.0001)
    assert buf.add_prediction("a", 0.5, 0.0001) is None
    assert buf.counts().matched == 0


def test_long_ids_and_texts_are_refused_and_counted_so_memory_stays_bounded() -> None:
    buf = JoinBuffer(max_predictions=10, max_early_outcomes=10, ttl_s=60.0)
    long_id, long_label = "r" * (MAX_TEXT_CHARS + 1), "x" * (1 << 20)
    at_limit = "k" * MAX_TEXT_CHARS
    assert (
        buf.add_predictions([(long_id, 1, 0.0), ("r1", long_label, 0.0), (at_limit, 1, 0.0)]) == []
    )
    assert buf.add_outcomes([(long_id, 1, 1.0), ("r2", long_label, 1.0), (at_limit, 0, 1.0)]) == [
        (at_limit, None, 1, 0, 0.0, 1.0)
    ]
    c = buf.counts()
    assert (c.predictions_refused, c.outcomes_refused, c.unknown, c.matched) == (2, 2, 2, 1)
    assert c.predictions_held == c.waiting == 0  # nothing long is kept
    assert_accounting(c)
    with pytest.raises(ConfigError, match="max_text_chars"):
        JoinBuffer(max_text_chars=0)


def test_a_pickle_from_before_the_text_limit_restores_with_it() -> None:
    buf = JoinBuffer(max_predictions=10)
    state = pickle.loads(pickle.dumps(buf)).__dict__
    for name in ("_max_text", "_predictions_refused", "_outcomes_refused"):
        del state[name]
    old = JoinBuffer.__new__(JoinBuffer)
    old.__dict__.update(state)
    old.add_prediction("r" * 1000, 1, 0.0)
    assert old.counts().predictions_refused == 1 and old.counts().predictions_held == 0
