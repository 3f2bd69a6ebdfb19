"""The sidecar's outcomes: a second log, POST /outcomes, and the join in the checkpoint."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from aimon.exporters.auth import BearerAuth
from aimon.exporters.http import MetricsServer
from aimon.sidecar import Sidecar


def prediction(i: int) -> str:
    record = {"ts": time.time(), "model": "fraud", "version": "1", "latency_ms": 5.0, "error": None,
              "prediction": i % 2, "request_id": f"r{i}"}  # fmt: skip
    return json.dumps(record) + "\n"


def outcome(i: int) -> str:
    return json.dumps({"request_id": f"r{i}", "actual": 1, "ts": time.time() + 1}) + "\n"


def append(path: Path, text: str) -> None:
    with path.open("a") as out:
        out.write(text)


def crash(sidecar: Sidecar) -> None:
    """Stop without the final checkpoint, as kill -9 would."""
    for monitor in sidecar.monitors.values():
        monitor.close()
    sidecar.tailer.close()
    if sidecar.outcomes_tailer is not None:
        sidecar.outcomes_tailer.close()


def results(sidecar: Sidecar) -> dict[str, int]:
    snap = sidecar.monitors[("fraud", "1")].snapshot()
    out = {k: snap.outcomes.get(k, 0) for k in ("matched", "duplicate", "unknown", "waiting")}
    out["pairs"] = snap.quality.count if snap.quality is not None else 0
    return out


def post(server: MetricsServer, body: bytes, token: str | None = "tok") -> tuple[int, dict]:
    request = urllib.request.Request(f"{server.url}/outcomes", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        text = exc.read()
        return exc.code, json.loads(text) if text.startswith(b"{") else {}


def serve(sidecar: Sidecar, **settings) -> MetricsServer:
    return MetricsServer(
        sidecar.all_monitors, port=0, guard=sidecar.scrape, auth=BearerAuth("tok"),
        outcomes=sidecar.post_outcomes, **settings,
    )  # fmt: skip


def test_both_logs_and_posts_across_a_restart_match_each_outcome_once(tmp_path: Path) -> None:
    log, outcomes, state = tmp_path / "p.log", tmp_path / "o.log", tmp_path / "state"
    append(log, "".join(prediction(i) for i in range(40)))
    append(outcomes, "".join(outcome(i) for i in range(20)) + "not json\n{}\n")
    first = Sidecar(str(log), state_dir=str(state), outcomes_file=str(outcomes))
    first.step()
    assert results(first)["matched"] == 20
    assert dict(first.outcomes_malformed) == {"json": 1, "request_id": 1}
    server = serve(first)
    try:
        body = json.dumps([json.loads(outcome(i)) for i in range(20, 30)]).encode()
        assert post(server, body, token=None)[0] == 401
        assert post(server, body) == (200, {"accepted": 10})  # journaled before the 200
        status, answer = post(server, b"[{")
        assert status == 400 and "not valid JSON" in answer["error"]
        status, answer = post(server, b'[{"request_id": "r1"}]')
        assert status == 400 and "item 0" in answer["error"] and "actual" in answer["error"]
        status, answer = post(server, b'{"request_id": "r1", "actual": 1}')
        assert status == 400 and "array" in answer["error"]
    finally:
        server.close()
    append(outcomes, "".join(outcome(i) for i in range(30, 35)))
    first.step()  # read but not checkpointed: read again after the crash
    assert results(first)["matched"] == 35
    crash(first)
    second = Sidecar(str(log), state_dir=str(state), outcomes_file=str(outcomes))
    try:
        # No checkpoint was written: the journaled posts wait for the log to be read again.
        assert results(second)["matched"] == 0 and results(second)["waiting"] == 10
        second.step()
        assert results(second) == {
            "matched": 35, "duplicate": 0, "unknown": 0, "waiting": 0, "pairs": 35,
        }  # fmt: skip
        server = serve(second)
        try:  # the same posts again: duplicates, never matched twice
            body = json.dumps([json.loads(outcome(i)) for i in range(20, 30)]).encode()
            assert post(server, body) == (200, {"accepted": 10})
        finally:
            server.close()
        assert results(second)["matched"] == 35 and results(second)["duplicate"] == 10
    finally:
        second.close()
    third = Sidecar(str(log), state_dir=str(state), outcomes_file=str(outcomes))
    try:
        third.step()
        assert results(third) == {
            "matched": 35, "duplicate": 10, "unknown": 0, "waiting": 0, "pairs": 35,
        }  # fmt: skip
        assert third.outcome_lines == 27 and third.outcomes_posted == 20
    finally:
        third.close()


def test_outcomes_before_their_predictions_wait_and_large_posts_are_refused(
    tmp_path: Path,
) -> None:
    log, outcomes = tmp_path / "p.log", tmp_path / "o.log"
    append(log, prediction(0))
    append(outcomes, outcome(1) + outcome(2))
    sidecar = Sidecar(str(log), outcomes_file=str(outcomes))
    try:
        sidecar.step()  # r1 and r2 wait in the only model's monitor
        append(log, prediction(1) + prediction(2))
        sidecar.step()
        assert results(sidecar)["matched"] == 2
        server = serve(sidecar, max_body_bytes=100)
        try:
            status, answer = post(server, b"[" + b" " * 200 + b"]")
            assert status == 413 and "100 bytes" in answer["error"]
            get = urllib.request.Request(f"{server.url}/outcomes")
            get.add_header("Authorization", "Bearer tok")
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(get, timeout=10)
            assert refused.value.code == 405
        finally:
            server.close()
    finally:
        sidecar.close()


def test_outcomes_go_to_the_monitor_of_their_prediction(tmp_path: Path) -> None:
    log, outcomes = tmp_path / "p.log", tmp_path / "o.log"
    churn = json.dumps({"ts": time.time(), "model": "churn", "prediction": 1, "request_id": "c1"})
    append(log, prediction(0) + churn + "\n")
    append(outcomes, outcome(0) + json.dumps({"request_id": "c1", "actual": 0}) + "\n")
    sidecar = Sidecar(str(log), outcomes_file=str(outcomes))
    try:
        sidecar.step()
        assert results(sidecar)["matched"] == 1
        snap = sidecar.monitors[("churn", None)].snapshot()
        assert snap.outcomes["matched"] == 1 and snap.quality.accuracy == 0.0
    finally:
        sidecar.close()


def test_outcomes_naming_unseen_models_create_no_monitor(tmp_path: Path) -> None:
    """Issue 16 item 10: bogus model names in posts filled max_models, so the real model's
    predictions landed in ``other``. An outcome of a model the log never named goes to the
    monitor holding its request id, else it is rejected."""
    log = tmp_path / "p.log"
    append(log, prediction(0) + prediction(1))
    sidecar = Sidecar(str(log), max_models=4)
    server = serve(sidecar)
    try:
        sidecar.step()
        bogus = [{"request_id": f"x{i}", "actual": 1, "model": f"bogus{i}"} for i in range(10)]
        status, answer = post(server, json.dumps(bogus).encode())
        assert (status, answer) == (200, {"accepted": 10})
        # no version: the model's only monitor; a wrong model name, but a known request id
        named = [{"request_id": "r0", "actual": 1, "model": "fraud"},
                 {"request_id": "r1", "actual": 0, "model": "frauds"}]  # fmt: skip
        assert post(server, json.dumps(named).encode())[0] == 200
        append(log, "".join(prediction(i) for i in range(2, 8)))
        sidecar.step()
        assert list(sidecar.monitors) == [("fraud", "1")]
        assert results(sidecar)["matched"] == 2 and results(sidecar)["waiting"] == 0
        assert sidecar.monitors[("fraud", "1")].snapshot().totals.calls == 8
        assert sidecar.outcomes_rejected == {"unknown_model": 10}
        scrape = urllib.request.Request(f"{server.url}/metrics")
        scrape.add_header("Authorization", "Bearer tok")
        with urllib.request.urlopen(scrape, timeout=10) as response:
            body = response.read().decode()
        assert 'model="bogus' not in body and 'model="default"' not in body
    finally:
        server.close()
        sidecar.close()


def test_posts_are_journaled_not_checkpointed_and_replayed_after_a_crash(tmp_path: Path) -> None:
    log, state = tmp_path / "p.log", tmp_path / "state"
    append(log, "".join(prediction(i) for i in range(40)))
    first = Sidecar(str(log), state_dir=str(state))
    first.step()
    first.checkpoint()
    checkpoint = state / "checkpoint"
    written = checkpoint.stat().st_mtime_ns, checkpoint.stat().st_ino
    server = MetricsServer(first.all_monitors, port=0, auth=BearerAuth("tok"),
                           outcomes=first.post_outcomes)  # fmt: skip
    try:
        for start in (0, 10):
            body = json.dumps([json.loads(outcome(i)) for i in range(start, start + 10)])
            assert post(server, body.encode()) == (200, {"accepted": 10})
        # Each post was made safe without pickling every monitor's join again.
        assert (checkpoint.stat().st_mtime_ns, checkpoint.stat().st_ino) == written
        first.checkpoint()  # holds the two posts: the journal is emptied
        assert (state / "outcomes.journal").stat().st_size == 0
        body = json.dumps([json.loads(outcome(i)) for i in range(20, 30)])
        assert post(server, body.encode()) == (200, {"accepted": 10})
        long_id = json.dumps([{"request_id": "r" * 257, "actual": 1}]).encode()
        status, answer = post(server, long_id)
        assert status == 400 and "longer than 256 characters" in answer["error"]
    finally:
        server.close()
    assert results(first)["matched"] == 30
    crash(first)
    with (state / "outcomes.journal").open("ab") as journal:  # a post torn by the crash
        journal.write(b'{"post": 4, "request_id": "r30", "act')
    second = Sidecar(str(log), state_dir=str(state))
    try:
        assert results(second) == {
            "matched": 30, "duplicate": 0, "unknown": 0, "waiting": 0, "pairs": 30,
        }  # fmt: skip
        assert second.outcomes_posted == 30
        second.step()
        assert results(second)["matched"] == 30
    finally:
        second.close()
    third = Sidecar(str(log), state_dir=str(state))  # after a clean close: nothing to replay
    try:
        assert results(third)["matched"] == 30 and third.outcomes_posted == 30
    finally:
        third.close()
