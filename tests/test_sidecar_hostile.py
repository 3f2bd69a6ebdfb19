"""Hostile log lines (issue 16): each is counted malformed and skipped, the sidecar never
exits on input, and no valid line is lost, in the prediction log and in the outcomes log;
a real ``aimon sidecar`` killed with -9 and restarted among them counts every line once."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimon.sidecar import Sidecar
from tests.integration.conftest import SidecarProcess, free_port, http_get, wait_until

#: Hostile lines and the reason each is counted under (``too_long``: past max_line_bytes).
HOSTILE: dict[str, tuple[bytes, str]] = {
    "nested": (b'{"ts": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "json"),
    "nested_value": (b'{"ts": 1, "latency_ms": ' + b"[" * 1020 + b"]" * 1020 + b"}", "latency"),
    "nul": (b'{"ts": 1, "model": "a\x00b"}', "json"),
    "nul_bytes": (b"\x00" * 64, "json"),
    "huge": (b'{"ts": 1, "pad": "' + b"x" * (10 << 20) + b'"}', "too_long"),
    "not_utf8": (b'{"ts": 1, "model": "caf\xe9"}', "json"),
    "surrogate_model": (b'{"ts": 1, "model": "m\\ud800"}', "unicode"),
    "surrogate_error": (b'{"ts": 1, "error": "E\\udfff", "latency_ms": 1}', "unicode"),
    "surrogate_feature": (b'{"ts": 1, "features": {"\\ud800": 1}}', "unicode"),
    "not_json": (b"not json", "json"),
}


def valid(i: int) -> bytes:
    record = {"ts": time.time(), "model": "fraud", "version": "1", "latency_ms": 5.0,
              "features": {"age": i % 90}, "prediction": i % 2, "request_id": f"r{i}"}  # fmt: skip
    return json.dumps(record).encode()


def outcome(i: int) -> bytes:
    return json.dumps({"request_id": f"r{i}", "actual": 1, "ts": time.time() + 1}).encode()


def append(path: Path, lines: list[bytes]) -> None:
    with path.open("ab") as out:
        out.write(b"".join(line + b"\n" for line in lines))


def test_hostile_lines_in_both_logs_are_counted_and_skipped(tmp_path: Path) -> None:
    log, outcomes = tmp_path / "p.log", tmp_path / "o.log"
    hostile = [line for line, _ in HOSTILE.values()]
    append(log, [valid(i) for i in range(500)] + hostile + [valid(i) for i in range(500, 1000)])
    append(outcomes, [outcome(0), *hostile, outcome(999)])
    sidecar = Sidecar(str(log), outcomes_file=str(outcomes))
    try:
        while sidecar.step():
            pass
        fraud = sidecar.monitors[("fraud", "1")].snapshot()
        default = sidecar.default_monitor().snapshot()
    finally:
        sidecar.close()
    expected = Counter(reason for _, reason in HOSTILE.values())
    assert fraud.totals.calls == 1000
    assert sidecar.malformed == expected
    assert default.dropped["malformed"] == len(HOSTILE)
    assert fraud.outcomes["matched"] == 2
    # the outcomes log: the same lines are malformed there (an over-long one is skipped by the
    # tailer and counted in its long_lines; the others by the reason of outcome records)
    assert sidecar.outcomes_malformed.total() == len(HOSTILE) - 1
    assert sidecar.outcomes_tailer is not None
    assert sidecar.outcomes_tailer.counts["long_lines"] == 1


def scrape(process: SidecarProcess) -> tuple[float, float]:
    """(valid predictions, malformed lines) from the sidecar's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    body = http_get(f"{process.url}/metrics")[2].decode()
    found = {"ok": 0.0, "malformed": 0.0}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "aimon_predictions_total" and sample.labels["outcome"] == "ok":
                found["ok"] += sample.value
            if sample.name == "aimon_sidecar_malformed_lines_total":
                found["malformed"] += sample.value
    return found["ok"], found["malformed"]


def test_a_nested_line_does_not_kill_a_real_sidecar_nor_lose_the_lines_after_it(
    tmp_path: Path,
) -> None:
    """Issue 16 item 1: the sidecar died on the nested line, its last checkpoint past the
    lines after it: 1,000 of 2,000 valid lines counted after a restart."""
    log, state = tmp_path / "p.log", tmp_path / "state"
    append(log, [valid(i) for i in range(1000)] + [HOSTILE["nested"][0]])
    append(log, [valid(i) for i in range(1000, 2000)])
    port = free_port()
    sidecar = SidecarProcess(log, state, port=port)
    try:
        wait_until(lambda: scrape(sidecar) == (2000, 1), timeout=60, what="every line counted")
        assert sidecar.process.poll() is None
    finally:
        sidecar.process.send_signal(signal.SIGKILL)
        sidecar.process.wait(10)
    again = SidecarProcess(log, state, port=port)
    try:
        wait_until(again.ready, timeout=60, what="the restarted sidecar caught up")
        assert scrape(again) == (2000, 1)
    finally:
        again.stop()
    assert again.process.returncode == 0


MIX = st.lists(
    st.one_of(
        st.tuples(st.just("valid"), st.integers(1, 300)),
        st.tuples(st.sampled_from(sorted(HOSTILE)), st.integers(1, 3)),
        st.tuples(st.just("kill"), st.just(0)),
    ),
    min_size=3,
    max_size=8,
)


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mix=MIX)
def test_model_based_mixes_of_lines_and_kill_9_restarts(tmp_path_factory, mix) -> None:
    """A model of the sidecar (valid lines counted, the rest malformed) against a real one fed
    random runs of valid and hostile lines, killed with -9 and restarted at random points:
    the counts equal the model's after every restart, and the process never exits on its
    own. Four examples (about 20 s here): each starts real processes."""
    folder = tmp_path_factory.mktemp("mix")
    log, state, port = folder / "p.log", folder / "state", free_port()
    log.touch()
    model = [0, 0]  # the valid and malformed lines written so far
    sidecar = SidecarProcess(log, state, port=port)
    try:
        for kind, count in mix:
            if kind == "kill":
                sidecar.process.send_signal(signal.SIGKILL)
                sidecar.process.wait(10)
                sidecar = SidecarProcess(log, state, port=port)
                continue
            if kind == "valid":
                append(log, [valid(model[0] + i) for i in range(count)])
                model[0] += count
            else:
                append(log, [HOSTILE[kind][0]] * count)
                model[1] += count
            assert sidecar.process.poll() is None, "the sidecar exited on input"
        expected = (float(model[0]), float(model[1]))
        wait_until(lambda: scrape(sidecar) == expected, timeout=60, what=f"counts {expected}")
        assert sidecar.process.poll() is None
    finally:
        sidecar.stop()
    assert sidecar.process.returncode == 0
