import asyncio
import dataclasses
import gc
import inspect
import json
import os
import threading
import time
import traceback

import numpy as np
import pandas as pd
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import aimon
from aimon.errors import ConfigError


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def buffered(monitor) -> int:
    return sum(c.buffered() for c in monitor._recorder.channels)


@pytest.fixture
def mon():
    m = aimon.Monitor("test", version="1", window="1m", slice="10s", flush_interval=0.05)
    yield m
    m.close()


def test_sync_call_is_recorded_and_transparent(mon):
    @mon.watch
    def predict(x):
        """Doubles."""
        return 2 * x

    assert predict(21) == 42
    assert predict.__name__ == "predict" and predict.__doc__ == "Doubles."
    snap = mon.snapshot()
    assert (snap.count, snap.ok, snap.error_count, snap.error_rate) == (1, 1, 0, 0.0)
    assert snap.latency.count == 1 and snap.latency.max >= 0
    assert snap.totals.calls == 1


def test_exception_passes_through_unchanged_and_is_counted(mon):
    raised = []

    @mon.watch
    def predict(x):
        err = KeyError(x)
        raised.append(err)
        raise err

    with pytest.raises(KeyError) as info:
        predict("missing")
    assert info.value is raised[0]
    frames = traceback.extract_tb(info.value.__traceback__)
    assert frames[-1].name == "predict" and "raise err" in frames[-1].line
    for _ in range(3):
        with pytest.raises(KeyError):
            predict("x")
    snap = mon.snapshot()
    assert snap.count == 4 and snap.errors == {"KeyError": 4} and snap.error_rate == 1.0


def test_base_exceptions_are_not_counted_as_errors(mon):
    @mon.watch
    def predict():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict()
    assert mon.snapshot().count == 0


def test_async_wrapper_stays_a_coroutine_function(mon):
    @mon.watch
    async def predict(x):
        await asyncio.sleep(0.02)
        if x < 0:
            raise ValueError("negative")
        return x + 1

    assert inspect.iscoroutinefunction(predict)

    async def main():
        results = await asyncio.gather(*(predict(i) for i in range(5)))
        with pytest.raises(ValueError, match="negative"):
            await predict(-1)
        return results

    assert asyncio.run(main()) == [1, 2, 3, 4, 5]
    snap = mon.snapshot()
    assert snap.count == 6 and snap.errors == {"ValueError": 1}
    assert snap.latency.min >= 0.019  # the awaited time is measured


def test_methods_classmethods_and_staticmethods(mon):
    class Model:
        factor = 3

        @mon.watch
        def predict(self, features):
            return self.factor * features["x"]

        @mon.watch
        @classmethod
        def cpredict(cls, features):
            return cls.factor * features["x"]

        @mon.watch
        @staticmethod
        def spredict(features):
            return features["x"]

    m = Model()
    assert (m.predict({"x": 2}), Model.cpredict({"x": 2}), m.spredict({"x": 2})) == (6, 6, 2)
    snap = mon.snapshot()
    assert snap.count == 3
    # features come from the argument, not from self/cls
    assert set(snap.features) == {"x"} and snap.features["x"].count == 3


def test_generator_functions_are_refused(mon):
    with pytest.raises(TypeError, match="generator"):

        @mon.watch
        def stream():
            yield 1


def test_features_sizes_and_custom_extractor(mon):
    @mon.watch
    def predict(features):
        return [0.1, 0.9]

    predict({"age": 30, "country": "DE"})
    predict({"age": 50, "country": "FR"})
    predict({"age": float("nan"), "country": None})

    @mon.watch(features=lambda req: req["payload"], sizes=False)
    def predict2(req):
        return 1

    predict2({"payload": {"age": 40}, "meta": "ignored"})
    snap = mon.snapshot()
    age = snap.features["age"]
    assert (age.count, age.missing, age.mean, age.min, age.max) == (4, 1, 40.0, 30.0, 50.0)
    assert snap.features["country"].top == {"DE": 1, "FR": 1}
    assert "meta" not in snap.features
    assert snap.input_size.count == 3 and snap.input_size.min > 0
    # country is None in one row and absent from predict2's input: missing twice
    assert snap.totals.feature_missing == {"age": 1, "country": 2}


def test_batch_dataframe_input_yields_many_rows(mon):
    import pandas as pd

    @mon.watch
    def predict(df):
        return np.zeros(len(df))

    predict(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", None]}))
    snap = mon.snapshot()
    assert snap.count == 1
    assert snap.features["a"].count == 3 and snap.features["a"].mean == 2.0
    assert snap.features["b"].missing == 1


def test_failing_extractor_loses_no_event(mon):
    @mon.watch(features=lambda x: 1 / 0)
    def predict(x):
        return x

    assert predict(5) == 5
    snap = mon.snapshot()
    assert snap.count == 1 and snap.internal_errors == 1


def test_internal_failure_on_the_hot_path_never_reaches_the_caller(mon):
    @mon.watch
    def predict(x):
        return x

    @mon.watch
    def fails(x):
        raise LookupError(x)

    for channel in mon._recorder.channels:  # a "buffer" without times: the append raises
        channel.buffers[threading.get_ident()] = object()

    assert predict(1) == 1
    with pytest.raises(LookupError):
        fails(1)
    for channel in mon._recorder.channels:
        channel.buffers.clear()
    assert mon.snapshot().internal_errors == 2


def _hold_folds_in_another_thread(m):
    """Hold the monitor's fold lock in another thread (a fold that takes long); returns the
    event that lets it go."""
    held, release = threading.Event(), threading.Event()

    def hold():
        with m._fold_lock:
            held.set()
            release.wait(10)

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(5)
    return release


def test_full_buffer_drops_and_counts_without_blocking():
    m = aimon.Monitor("tiny", buffer_size=10, flush_interval=60)
    other_done = threading.Event()

    def other_client():  # another thread records too: a server, where a full call drops
        predict(-1)
        other_done.wait(10)

    try:
        predict = m.watch(lambda x: x)
        other = threading.Thread(target=other_client, daemon=True)
        other.start()
        release = _hold_folds_in_another_thread(m)  # no fold can run meanwhile
        started = time.perf_counter()
        for i in range(60):
            assert predict(i) == i
        assert time.perf_counter() - started < 5.0  # each full call waits ~5 ms at most
        assert buffered(m) == 11  # this thread's 10 and the other's 1
        release.set()
        snap = m.snapshot()
        other_done.set()
        # 10 in the buffer, 20 handed to the pending folds, and up to 10 more the woken fold
        # thread took before it had to wait for the lock; the rest dropped and counted
        dropped = snap.dropped["buffer_full"]
        assert snap.count - 1 + dropped == 60 and 31 <= snap.count <= 41
        assert set(snap.dropped) == {"buffer_full"}
    finally:
        m.close()


def test_a_thread_recording_alone_waits_for_the_fold_rather_than_drop():
    m = aimon.Monitor("tiny", buffer_size=10, flush_interval=60)
    try:
        predict = m.watch(lambda x: x)
        release = _hold_folds_in_another_thread(m)
        threading.Timer(0.2, release.set).start()  # the fold is held for 0.2 s
        for i in range(60):
            assert predict(i) == i
        snap = m.snapshot()
        assert snap.count == 60 and snap.dropped == {}
    finally:
        m.close()


def test_a_caller_past_the_high_water_mark_folds_a_chunk_itself():
    m = aimon.Monitor("tiny", buffer_size=10, flush_interval=60)
    try:
        predict = m.watch(lambda x: x)
        for i in range(1000):
            assert predict({"i": i}) == {"i": i}
            assert buffered(m) <= 10
        snap = m.snapshot()
        assert snap.count == 1000 and snap.dropped == {}
        assert snap.features["i"].count == 1000 and snap.totals.features_skipped == 0
    finally:
        m.close()


def test_a_tight_loop_of_a_million_calls_at_default_settings_counts_every_call():
    m = aimon.Monitor("loop")
    try:
        predict = m.watch(features=False, sizes=False)(lambda x: 0.5)
        for i in range(1_000_000):
            predict(i)
        snap = m.snapshot()
        assert snap.totals.calls == 1_000_000 and snap.count == 1_000_000
        assert snap.dropped == {} and snap.internal_errors == 0
    finally:
        m.close()


def test_on_full_fold_loses_nothing_and_never_samples():
    m = aimon.Monitor("batch", buffer_size=10, flush_interval=60, on_full="fold")
    try:
        predict = m.watch(lambda x: x)
        for i in range(25):
            assert predict({"i": i}) == {"i": i}
        assert buffered(m) <= 20
        snap = m.snapshot()
        assert snap.count == 25 and snap.dropped == {}
        assert snap.features["i"].count == 25
        assert snap.totals.features_skipped == 0
    finally:
        m.close()


def test_bad_on_full_is_a_config_error():
    with pytest.raises(ConfigError, match="on_full"):
        aimon.Monitor("x", on_full="block")  # type: ignore[arg-type]


def test_profiling_is_shed_to_a_sample_when_the_fold_falls_behind(mon):
    predict = mon.watch(lambda row: 1)
    channel = mon._recorder.channels[-1]
    # Pretend the fold has learnt that profiling an input costs far more than the calls
    # arrive: a drain of 5000 calls then profiles a random sample.
    channel.record_cost, channel.input_cost = 1e-9, 1.0
    for i in range(5000):
        predict({"i": i, "c": "x"})
    snap = mon.snapshot()
    assert snap.count == 5000  # every call is counted...
    skipped = snap.totals.features_skipped
    assert 0 < skipped < 5000  # ...some inputs are not profiled...
    assert snap.features["i"].count + skipped == 5000  # ...and the rest are, exactly once
    assert snap.features["c"].top == {"x": 5000 - skipped}


def test_the_profiling_stride_follows_the_fold_cost():
    from aimon.recording import Channel

    channel = Channel(None, given_ids=False)
    channel.last_drain = 0.0
    assert channel.plan_stride(10_000, 1.0) == 1  # nothing learnt yet
    channel.learn(10_000, 0.01, 10_000, 0.04)  # 1 us a record, 4 us an input
    assert channel.record_cost == pytest.approx(1e-6)
    # 10k calls a second: 0.05 s of fold work in a 0.5 s budget
    assert channel.plan_stride(10_000, 2.0) == 1
    # 200k calls a second: 1 us x 200k = 0.2 s of records, 0.3 s spare for 0.8 s of inputs
    assert channel.plan_stride(200_000, 3.0) == 3
    # faster than the records alone can be folded: profile as little as possible
    assert channel.plan_stride(600_000, 4.0) == 256
    assert channel.plan_stride(100, 4.001) == 1  # small drains are always profiled


def test_exact_counts_under_eight_threads(mon):
    @mon.watch
    def predict(features):
        if features["i"] % 10 == 0:
            raise ValueError("every tenth")
        return 1

    per_thread = 5000
    barrier = threading.Barrier(8)

    def client(t):
        barrier.wait()
        for i in range(per_thread):
            try:
                predict({"i": i, "t": t})
            except ValueError:
                pass

    threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = mon.snapshot()
    assert snap.dropped.get("buffer_full", 0) == 0
    assert snap.count == 8 * per_thread
    assert snap.errors == {"ValueError": 8 * per_thread // 10}
    assert snap.error_rate == pytest.approx(0.1)
    # Under load, input profiling may be shed to a random sample; the calls never are.
    assert snap.features["i"].count + snap.totals.features_skipped == 8 * per_thread


def test_observe_records_by_hand_with_fake_clock():
    clock = FakeClock()
    m = aimon.Monitor("manual", window="1m", slice="10s", clock=clock)
    try:
        for i in range(100):
            error = "Timeout" if i < 5 else None
            m.observe(latency_s=0.001 * (i + 1), error=error, features={"x": i},
                      prediction=0.5, input_size=100, output_size=10)  # fmt: skip
        snap = m.snapshot()
        assert snap.count == 100 and snap.errors == {"Timeout": 5}
        assert snap.error_rate == 0.05
        exact = np.quantile(np.arange(1, 101) * 0.001, [0.5, 0.95, 0.99], method="lower")
        got_all = (snap.latency.p50, snap.latency.p95, snap.latency.p99)
        for got, want in zip(got_all, exact, strict=True):
            assert abs(got - want) <= 0.01 * want
        assert snap.latency.mean == pytest.approx(0.0505)
        assert snap.input_size.mean == 100 and snap.output_size.max == 10
        # a minute later the window is empty again, but the totals remain
        clock.now += 61
        later = m.snapshot()
        assert later.count == 0 and later.totals.calls == 100
        # an event from before the window is late: counted in totals, not in the window
        m.observe(latency_s=0.01, ts=clock.now - 3600)
        late = m.snapshot()
        assert late.late == 1 and late.count == 0 and late.totals.calls == 101
        m.observe(latency_s=0.01, ts=clock.now + 3600)
        assert m.snapshot().dropped["future"] == 1
    finally:
        m.close()


def test_throughput_over_the_elapsed_window():
    clock = FakeClock(1_000_000.0)
    m = aimon.Monitor("rate", window="1m", slice="10s", clock=clock)
    try:
        for _ in range(200):
            m.observe(latency_s=0.01)
        clock.now += 20
        assert m.snapshot().throughput == pytest.approx(200 / 20)
        clock.now += 105  # 1_000_125: the live slices cover 1_000_070 .. now
        for _ in range(55):
            m.observe(latency_s=0.01)
        assert m.snapshot().throughput == pytest.approx(55 / 55)
    finally:
        m.close()


def test_snapshot_is_immutable_and_serialisable(mon):
    mon.observe(latency_s=0.5)
    snap = mon.snapshot()
    with pytest.raises(ValidationError):
        snap.count = 5
    data = json.loads(snap.model_dump_json())
    assert data["model"] == "test" and data["latency"]["max"] == 0.5
    assert data["window"]["length_s"] == 60.0


def test_bare_and_named_module_level_decorator():
    @aimon.monitor
    def scorer(x):
        return x

    @aimon.monitor(name="shared", version="2")
    def first(x):
        return x

    @aimon.monitor(name="shared")
    def second(x):
        return x

    scorer(1)
    first(1)
    second(2)
    try:
        assert aimon.get_monitor("scorer").snapshot().count == 1
        shared = aimon.get_monitor("shared")
        assert shared.version == "2" and shared.snapshot().count == 2
        assert first.__aimon_monitor__ is second.__aimon_monitor__ is shared
        with pytest.raises(ConfigError, match="version"):
            aimon.get_monitor("shared", version="3")
    finally:
        aimon.get_monitor("scorer").close()
        aimon.get_monitor("shared").close()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"window": "soon"}, "window"), ({"slice": "-1s"}, "slice"),
     ({"window": "10s", "slice": "1m"}, "slice"), ({"buffer_size": 0}, "buffer_size"),
     ({"relative_accuracy": 2}, "relative_accuracy"), ({"name": ""}, "name")],
)  # fmt: skip
def test_bad_settings_fail_with_the_field_name(kwargs, field):
    with pytest.raises(ConfigError, match=f"^{field}:"):
        aimon.Monitor(**{"name": "x", **kwargs})


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_keeps_recording(mon):
    predict = mon.watch(lambda x: x)
    predict(1)
    mon.snapshot()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            for i in range(3):
                predict(i)
            snap = mon.snapshot()
            alive = mon._thread.is_alive()
            os.write(write_fd, json.dumps([snap.count, snap.totals.calls, alive]).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        child_count, child_calls, thread_alive = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert (child_count, child_calls, thread_alive) == (3, 3, True)
    predict(2)
    assert mon.snapshot().count == 2  # the parent is unaffected


def test_background_thread_folds_without_snapshot(mon):
    predict = mon.watch(lambda x: x)
    for i in range(10):
        predict(i)
    for _ in range(200):
        if not buffered(mon):
            break
        threading.Event().wait(0.01)
    assert buffered(mon) == 0


def test_close_stops_the_thread_and_monitor_can_be_collected():
    m = aimon.Monitor("gc", flush_interval=0.01)
    thread = m._thread
    m.close()
    assert not thread.is_alive()
    m2 = aimon.Monitor("gc2", flush_interval=0.01)
    import weakref

    ref = weakref.ref(m2)
    del m2
    gc.collect()
    assert ref() is None


# -- every input form is profiled as the dict of the same values ------------------------------

_FORM_FIELDS = ("f0", "f1", "f2")


@dataclasses.dataclass
class _Row:
    f0: float
    f1: float
    f2: float


class _RowModel(pydantic.BaseModel):
    f0: float
    f1: float
    f2: float


_FORMS = {
    "list": list,
    "tuple": tuple,
    "ndarray": lambda values: np.array(values, dtype=np.float64),
    "dataclass": lambda values: _Row(*values),
    "pydantic": lambda values: _RowModel(**dict(zip(_FORM_FIELDS, values, strict=True))),
    "dataframe": lambda values: pd.DataFrame([dict(zip(_FORM_FIELDS, values, strict=True))]),
}


def _profiled(rows, form) -> dict:
    with aimon.Monitor("forms", on_full="fold") as m:
        predict = m.watch(lambda x: 0.5)
        for values in rows:
            predict(form(values))
        snap = m.snapshot()
    assert snap.count == len(rows) and snap.totals.features_skipped == 0
    return {
        name: (f.count, f.missing, f.mean, f.min, f.max)
        for name, f in sorted(snap.features.items())
    }


@settings(max_examples=15, deadline=None)
@given(
    rows=st.lists(
        st.lists(
            st.floats(-1e6, 1e6) | st.just(float("nan")) | st.integers(-1000, 1000),
            min_size=3,
            max_size=3,
        ),
        min_size=1,
        max_size=40,
    ),
    form=st.sampled_from(sorted(_FORMS)),
)
def test_each_input_form_gives_the_features_of_the_same_dict(rows, form) -> None:
    as_dicts = _profiled(rows, lambda values: dict(zip(_FORM_FIELDS, values, strict=True)))
    got = _profiled(rows, _FORMS[form])
    assert got.keys() == as_dicts.keys()
    for name, (count, missing, mean, low, high) in got.items():
        d_count, d_missing, d_mean, d_low, d_high = as_dicts[name]
        assert (count, missing) == (d_count, d_missing)
        for a, b in ((mean, d_mean), (low, d_low), (high, d_high)):
            assert (a is None and b is None) or a == pytest.approx(b, rel=1e-9, abs=1e-9)


def test_buffers_of_threads_that_ended_are_let_go():
    with aimon.Monitor("threads", flush_interval=3600) as m:
        predict = m.watch(lambda x: x)

        def work():
            predict(1)
            m.observe(latency_s=0.01)

        for _ in range(20):
            t = threading.Thread(target=work)
            t.start()
            t.join()
        m.flush()  # drains them; the empty buffers of ended threads are let go
        m.flush()  # and drained once more from the retired list
        assert all(len(c.buffers) <= 1 for c in m._recorder.channels)
        assert m.snapshot().count == 40


def test_observed_array_features_are_profiled():
    """Features given to observe() as arrays (which have no truth value) are read, and the
    calls counted."""
    with aimon.Monitor("arrays") as m:
        m.observe(latency_s=0.01, features=np.array([1.0, 2.0]))
        m.observe(latency_s=0.01, features=np.array([3.0, 4.0]))
        m.observe(latency_s=0.01)
        snap = m.snapshot()
    assert snap.count == 3 and snap.internal_errors == 0
    assert snap.features["f0"].mean == 2.0 and snap.features["f1"].count == 2
