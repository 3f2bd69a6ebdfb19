"""``aimon quality PREDICTIONS OUTCOMES``: a batch join by request id and sklearn's metrics."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from aimon.cli import main
from aimon.cli.exits import EXIT_BAD_INPUT, EXIT_OK


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, list[int], list[float]]:
    rng = np.random.default_rng(7)
    actual = rng.integers(0, 2, 200).tolist()
    scores = np.clip(np.array(actual) * 0.3 + rng.random(200) * 0.7, 0, 1).round(4).tolist()
    preds = [{"ts": 1.7e9 + i, "model": "fraud", "version": "2", "latency_ms": 3,
              "prediction": s, "request_id": f"r{i}"} for i, s in enumerate(scores)]  # fmt: skip
    preds += [{"ts": 1.7e9, "model": "fraud", "version": "2", "prediction": 0.9,
               "request_id": "r0"},  # a duplicate: the first wins
              {"ts": 1.7e9, "model": "fraud", "prediction": 0.9},  # no id
              {"ts": 1.7e9, "model": "fraud", "version": "2", "prediction": 0.1,
               "request_id": "lonely"}]  # fmt: skip
    outs = [{"request_id": f"r{i}", "actual": a} for i, a in enumerate(actual)]
    outs += [{"request_id": "r1", "actual": 0}, {"request_id": "ghost", "actual": 1}]
    p = write(tmp_path / "predictions.jsonl", preds)
    o = write(tmp_path / "outcomes.jsonl", outs)
    with o.open("a") as handle:
        handle.write("not json\n")
    return p, o, actual, scores


def test_json_equals_sklearn(files) -> None:
    p, o, actual, scores = files
    code, text = run("quality", str(p), str(o), "--format", "json")
    assert code == EXIT_OK
    report = json.loads(text)
    join = report["join"]
    assert join["matched"] == 200 and join["duplicate_predictions"] == 1
    assert join["duplicate_outcomes"] == 1 and join["outcomes_without_prediction"] == 1
    assert join["predictions_without_outcome"] == 1 and join["without_request_id"] == 1
    assert join["malformed_outcomes"] == {"json": 1}
    (entry,) = report["models"]
    q = entry["quality"]
    assert (entry["model"], entry["version"], q["task"]) == ("fraud", "2", "binary_score")
    assert q["roc_auc"] == pytest.approx(skm.roc_auc_score(actual, scores))
    assert q["log_loss"] == pytest.approx(skm.log_loss(actual, scores))
    labels = [int(s >= 0.5) for s in scores]
    assert q["f1"] == pytest.approx(skm.f1_score(actual, labels))


def test_table_and_task_option(files) -> None:
    p, o, actual, scores = files
    code, text = run("quality", str(p), str(o), "--task", "regression")
    assert code == EXIT_OK
    assert "joined 200 of 202 predictions" in text and "fraud 2: regression, 200 pairs" in text
    mae = skm.mean_absolute_error(actual, scores)
    assert f"mae              {mae:.6g}" in text


def test_missing_file_is_bad_input(tmp_path: Path) -> None:
    code, _ = run("quality", str(tmp_path / "nope"), str(tmp_path / "nope2"))
    assert code == EXIT_BAD_INPUT
