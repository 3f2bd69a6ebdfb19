"""Request ids: from the user's function, generated lazily, in the context variable, in
events and in the event log."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import json
import random
import threading

import aimon
from aimon import request_ids as decorator
from aimon.events import EventCodec
from aimon.request_ids import _CURRENT_CALL


def _logged(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_generated_id_is_returned_to_the_caller_and_logged(tmp_path):
    log = tmp_path / "events.jsonl"
    with aimon.Monitor("rid", log_to=log) as mon:
        predict = mon.watch(lambda x: x * 2)
        predict(1)
        first = aimon.current_request_id()
        predict(2)
        second = aimon.current_request_id()
        predict(3)  # nobody asks: the fold makes its id
        mon.flush()
    assert first and second and first != second and len(first) == 32
    ids = [record["request_id"] for record in _logged(log)]
    assert ids[:2] == [first, second]
    assert len(ids) == 3 and len(set(ids)) == 3 and len(ids[2]) == 32


def test_id_asked_after_the_fold_is_the_fold_one(tmp_path):
    log = tmp_path / "events.jsonl"
    with aimon.Monitor("rid", log_to=log) as mon:
        predict = mon.watch(lambda x: x)
        predict(1)
        mon.flush()
        late = aimon.current_request_id()
    assert _logged(log)[0]["request_id"] == late


def test_id_from_the_user_function_and_inside_the_call(tmp_path):
    log = tmp_path / "events.jsonl"
    seen = []
    with aimon.Monitor("rid", log_to=log) as mon:

        @mon.watch(request_id=lambda features: features["id"])
        def predict(features):
            seen.append(aimon.current_request_id())
            return 0.5

        predict({"id": "req-1", "age": 3})
        predict({"id": 17, "age": 4})
        assert aimon.current_request_id() == "17"
        mon.flush()
    assert seen == ["req-1", "17"]
    assert [r["request_id"] for r in _logged(log)] == ["req-1", "17"]


def test_failing_id_function_does_not_fail_the_call_and_errors_keep_ids(tmp_path):
    log = tmp_path / "events.jsonl"
    with aimon.Monitor("rid", log_to=log) as mon:
        predict = mon.watch(request_id=lambda x: 1 / 0)(lambda x: x)
        assert predict(5) == 5
        failing = mon.watch(request_id=lambda x: f"f{x}")(lambda x: 1 / x)
        try:
            failing(0)
        except ZeroDivisionError:
            pass
        mon.flush()
        snap = mon.snapshot()
    records = _logged(log)
    assert len(records[0]["request_id"]) == 32
    assert records[1]["request_id"] == "f0" and records[1]["error"] == "ZeroDivisionError"
    assert snap.count == 2 and snap.error_count == 1


def test_async_calls_have_their_own_ids():
    with aimon.Monitor("rid") as mon:

        @mon.watch(request_id=lambda x: f"a{x}")
        async def predict(x):
            await asyncio.sleep(0)
            return aimon.current_request_id()

        async def main():
            return await asyncio.gather(*(predict(i) for i in range(5)))

        assert asyncio.run(main()) == [f"a{i}" for i in range(5)]


def test_observe_and_observe_many_carry_ids(tmp_path):
    log = tmp_path / "events.jsonl"
    with aimon.Monitor("rid", log_to=log) as mon:
        mon.observe(latency_s=0.01, request_id="o1")
        mon.observe_many([1.7e9, 1.7e9], request_ids=["m1", None])
        mon.flush()
    ids = sorted(str(r.get("request_id")) for r in _logged(log))
    assert ids == ["None", "m1", "o1"]


def test_outside_any_call_there_is_no_id():
    assert contextvars.Context().run(aimon.current_request_id) is None


def test_threads_sharing_a_copied_context_keep_their_own_ids():
    with aimon.Monitor("rid") as mon:
        predict = mon.watch(request_id=lambda x: f"t{x}")(lambda x: x)
        predict("main")
        barrier = threading.Barrier(4)
        got: dict[int, list] = {}

        def work(k):
            barrier.wait()
            for i in range(200):
                predict(f"{k}-{i}")
                got.setdefault(k, []).append(aimon.current_request_id() == f"t{k}-{i}")

        ctx = contextvars.copy_context()  # as asyncio.to_thread and anyio do
        threads = [threading.Thread(target=ctx.copy().run, args=(work, k)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(all(v) for v in got.values()) and len(got) == 4
        assert aimon.current_request_id() == "tmain"
        assert _CURRENT_CALL.get()[0] is not None


def test_records_are_not_tracked_by_the_garbage_collector():
    with aimon.Monitor("rid", flush_interval=3600) as mon:
        predict = mon.watch(features=False, sizes=False)(lambda x: 0.5)
        predict(1)
        aimon.current_request_id()
        predict(2)
        gc.collect()
        buffers = [b for channel in mon._recorder.channels for b in channel.buffers.values()]
        assert sum(len(b) for b in buffers) == 2
        # the records are floats in one array('d') and the results beside them: no
        # container per call for the garbage collector to traverse
        assert all(b.times.typecode == "d" and len(b.times) == 4 for b in buffers)
        assert not any(gc.is_tracked(r) for b in buffers for r in b.results)


def test_event_log_lines_decode_with_the_id(tmp_path):
    log = tmp_path / "events.jsonl"
    with aimon.Monitor("rid", log_to=log) as mon:
        mon.observe(latency_s=0.01, request_id="x1")
        mon.flush()
    assert EventCodec().decode(log.read_text().splitlines()[0]).request_id == "x1"


def test_the_fold_makes_the_ids_the_caller_makes():
    rng = random.Random(7)
    starts = [rng.uniform(0.0, 1e7) for _ in range(200)] + [0.0, 1e-9, 123456.789]
    threads = [rng.getrandbits(64) for _ in starts]
    assert decorator._call_id_texts(starts, threads) == [
        decorator.call_id(s, t) for s, t in zip(starts, threads, strict=True)
    ]
    texts = decorator._call_id_texts(starts, threads)
    assert all(len(rid) == 32 and int(rid, 16) >= 0 for rid in texts)
    assert len(set(texts)) == len(texts)


def test_calls_starting_at_the_same_time_on_two_threads_get_different_ids():
    same = 1234.5
    ids, unasked = decorator.call_ids([same, same, same], [11, 12, "given"], every=True)
    assert ids is not None and len(set(ids)) == 3 and ids[2] == "given"
    assert unasked == [0, 1]


def test_ids_of_many_threads_are_distinct_and_each_thread_gets_its_own(tmp_path):
    log = tmp_path / "events.jsonl"
    with aimon.Monitor("rid", log_to=log) as mon:
        predict = mon.watch(features=False)(lambda x: x)
        asked: dict[int, list[str]] = {}

        def work(k):
            for i in range(300):
                predict(i)
                if i % 3 == 0:
                    asked.setdefault(k, []).append(aimon.current_request_id())

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        mon.flush()
    ids = [record["request_id"] for record in _logged(log)]
    assert len(ids) == 1200 and len(set(ids)) == 1200
    mine = [rid for k in range(4) for rid in asked[k]]
    assert len(mine) == 400 and set(mine) <= set(ids)


def test_an_id_asked_for_is_remembered_until_the_fold_and_the_memory_is_bounded(monkeypatch):
    with aimon.Monitor("rid", flush_interval=3600) as mon:
        predict = mon.watch(features=False)(lambda x: x)
        predict(1)
        rid = aimon.current_request_id()
        start = decorator._CURRENT_CALL.get()[0]
        assert start in decorator._ASKED
        mon.flush()  # no event log, no outcome: only the asked id is made, and held
        assert start not in decorator._ASKED
        mon.record_outcome(rid, 1)
        assert mon.snapshot().outcomes["matched"] == 1
        monkeypatch.setattr(decorator, "_ASKED_LIMIT", 10)
        for x in range(50):
            predict(x)
            aimon.current_request_id()
        assert len(decorator._ASKED) <= 10
        mon.flush()


def test_a_forked_child_makes_other_ids():
    before = decorator.call_id(5.0, 1)
    key = list(decorator._KEY)
    try:
        decorator._after_fork_in_child()
        assert decorator.call_id(5.0, 1) != before
    finally:
        decorator._KEY[:] = key
    assert decorator.call_id(5.0, 1) == before
