"""The reference's quality (a target and a prediction column in the reference data) and its
comparison with live quality: Snapshot.quality_change, aimon_reference_quality, rules
relative to the reference, ``aimon reference build --target`` and ``aimon quality --reference``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import aimon
from aimon.cli import main
from aimon.drift.reference import Reference, ReferenceError
from aimon.errors import ConfigError
from aimon.thresholds import Rule, Thresholds
from tests.test_quality_monitor import FakeClock, _scrape


def _scored(rows: int = 2000, seed: int = 0, noise: float = 0.15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.random(rows)
    label = (score + rng.normal(0.0, noise, rows) >= 0.5).astype(int)
    return pd.DataFrame({"x": rng.normal(size=rows), "score": score, "label": label})


def test_reference_quality_equals_sklearn_for_scores():
    data = _scored()
    ref = Reference.from_frame(data, target="label", prediction="score", quality_threshold=0.4)
    q = ref.quality
    assert q is not None and q.task == "binary_score" and q.count == len(data)
    y, s = data["label"], data["score"]
    assert q.accuracy == pytest.approx(skm.accuracy_score(y, s >= 0.4))
    assert q.f1 == pytest.approx(skm.f1_score(y, s >= 0.4))
    assert q.roc_auc == pytest.approx(skm.roc_auc_score(y, s))
    assert q.log_loss == pytest.approx(skm.log_loss(y, s))
    assert q.threshold == 0.4
    assert set(ref.features) == {"x", "score", "label"}  # the target: for label drift


def test_reference_quality_for_labels_and_for_regression():
    rng = np.random.default_rng(1)
    actual = rng.choice(["cat", "dog", "eel"], 500)
    predicted = np.where(rng.random(500) < 0.8, actual, rng.choice(["cat", "dog", "eel"], 500))
    ref = Reference.from_frame({"y": actual, "p": predicted, "x": rng.random(500)},
                               target="y", prediction="p")  # fmt: skip
    assert ref.quality is not None and ref.quality.task == "classification"
    assert ref.quality.f1_macro == pytest.approx(skm.f1_score(actual, predicted, average="macro"))
    y = rng.normal(10, 2, 400)
    p = y + rng.normal(0, 0.5, 400)
    reg = Reference.from_frame({"y": y, "p": p}, target="y", prediction="p")
    assert reg.quality is not None and reg.quality.task == "regression"
    assert reg.quality.r2 == pytest.approx(skm.r2_score(y, p))
    assert reg.quality.mae == pytest.approx(skm.mean_absolute_error(y, p))


def test_reference_quality_survives_save_and_load(tmp_path: Path):
    ref = Reference.from_frame(_scored(), target="label", prediction="score")
    ref.save(tmp_path / "ref.json")
    loaded = Reference.load(tmp_path / "ref.json")
    assert loaded.quality == ref.quality and loaded.target == "label"


def test_bad_target_settings_name_the_field():
    data = _scored(50)
    with pytest.raises(ReferenceError, match="target: no column named 'y'"):
        Reference.from_frame(data, target="y", prediction="score")
    with pytest.raises(ReferenceError, match=r"target: .*needs prediction="):
        Reference.from_frame(data, target="label")
    with pytest.raises(ReferenceError, match="target: 'score' is also the prediction"):
        Reference.from_frame(data, target="score", prediction="score")
    with pytest.raises(ReferenceError, match="target: "):  # labels where scores are due
        Reference.from_frame({"y": ["a", "b"], "p": [0.1, 0.9]}, target="y", prediction="p",
                             quality_task="regression")  # fmt: skip


def _monitor(clock: FakeClock, ref: Reference, **settings):
    return aimon.Monitor("q", version="1", window="10m", slice="10s", clock=clock,
                         reference=ref, drift_min_count=0, **settings)  # fmt: skip


def _pairs(mon, clock, labels, scores, start=0):
    for i, s in enumerate(scores, start):
        mon.observe(latency_s=0.01, features={"x": 0.0, "score": s}, prediction=s,
                    request_id=f"r{i}", ts=clock.now)  # fmt: skip
    mon.flush()
    for i, y in enumerate(labels, start):
        mon.record_outcome(f"r{i}", int(y), ts=clock.now)


def test_live_quality_is_measured_as_the_reference_and_compared():
    ref = Reference.from_frame(_scored(), target="label", prediction="score", quality_threshold=0.4)
    live = _scored(600, seed=5, noise=0.4)  # a worse model: labels less tied to the score
    clock = FakeClock()
    with _monitor(clock, ref) as mon:
        _pairs(mon, clock, live["label"], live["score"])
        snap = mon.snapshot()
        samples = _scrape(mon)
    assert snap.quality is not None and snap.quality.threshold == 0.4  # the reference's
    assert snap.reference_quality == ref.quality
    labels = live["score"] >= 0.4
    live_f1 = skm.f1_score(live["label"], labels)
    assert snap.quality.f1 == pytest.approx(live_f1)
    assert snap.quality_change["f1"] == pytest.approx(live_f1 - ref.quality.f1)
    assert snap.quality_change["accuracy"] < -0.05
    assert set(snap.quality_change) == set(snap.quality.values())
    f1 = tuple(sorted((("metric", "f1"), ("model", "q"), ("version", "1"))))
    assert samples[("aimon_reference_quality", f1)] == pytest.approx(ref.quality.f1)


def test_settings_that_differ_from_the_reference_are_config_errors():
    ref = Reference.from_frame(_scored(100), target="label", prediction="score")
    with pytest.raises(ConfigError, match=r"quality_threshold: 0\.3 differs from the reference's"):
        aimon.Monitor("q", reference=ref, quality_threshold=0.3)
    with pytest.raises(ConfigError, match="quality_task: 'classification' differs"):
        aimon.Monitor("q", reference=ref, quality_task="classification")
    with pytest.raises(ConfigError, match="quality_threshold: must be in"):
        aimon.Monitor("q", quality_threshold=1.5)
    with aimon.Monitor("q", reference=ref, quality_threshold=0.5, positive_label=1) as mon:
        assert mon.snapshot().quality_change == {}  # no live quality yet


def test_default_rule_fires_when_accuracy_falls_below_the_reference():
    ref = Reference.from_frame(_scored(), target="label", prediction="score")
    good, bad = _scored(3000, seed=7), _scored(3000, seed=8, noise=0.6)
    clock = FakeClock()
    with _monitor(clock, ref, thresholds=Thresholds()) as mon:
        n = 0

        def minute(rows: pd.DataFrame) -> list[str]:
            nonlocal n
            chunk = rows.iloc[(n % 2900) : (n % 2900) + 50]
            _pairs(mon, clock, chunk["label"], chunk["score"], start=n)
            n += 50
            clock.now += 60
            alerts = mon.check()
            return [a.state for a in alerts if a.labels["alertname"] == "QualityBelowReference"]

        assert all(minute(good) == [] for _ in range(10))
        states = [minute(bad) for _ in range(45)]
    assert ["pending"] in states[:10]
    assert states[-1] == ["firing"]
    fired = [a for a in mon.snapshot().alerts if a.labels["alertname"] == "QualityBelowReference"]
    assert "from the reference's" in fired[0].annotations["summary"]


def test_relative_rules_are_for_quality_metrics_only():
    with pytest.raises(ValueError, match="relative_to: only quality metrics"):
        Rule(name="x", metric="latency_p95", value=0.1, relative_to="reference")
    rule = Rule.model_validate(
        {"name": "F1Drop", "metric": "f1", "op": "<", "value": -0.1, "relative_to": "reference"}
    )
    clock = FakeClock()
    with aimon.Monitor("q", clock=clock, thresholds=Thresholds(rules=[rule])) as mon:
        mon.observe(latency_s=0.01, prediction=0, request_id="a", ts=clock.now)
        mon.flush()
        mon.record_outcome("a", 1)
        assert mon.check() == []  # no reference quality: no verdict


def test_cli_builds_a_reference_with_quality_and_compares(tmp_path: Path):
    data = _scored(1000)
    data.to_csv(tmp_path / "train.csv", index=False)
    out = io.StringIO()
    code = main(["reference", "build", str(tmp_path / "train.csv"), "-o", str(tmp_path / "r.json"),
                 "--target", "label", "--prediction", "score"], out=out)  # fmt: skip
    assert code == 0
    assert "quality on 1000 rows" in out.getvalue()
    ref = Reference.load(tmp_path / "r.json")
    live = _scored(300, seed=3, noise=0.5)
    with (tmp_path / "pred.jsonl").open("w") as preds, (tmp_path / "out.jsonl").open("w") as outs:
        for i, row in live.iterrows():
            preds.write(json.dumps({"ts": 1.0, "model": "m", "latency_ms": 1, "request_id": f"r{i}",
                                    "prediction": row["score"]}) + "\n")  # fmt: skip
            outs.write(json.dumps({"request_id": f"r{i}", "actual": int(row["label"])}) + "\n")
    args = ["quality", str(tmp_path / "pred.jsonl"), str(tmp_path / "out.jsonl"),
            "--reference", str(tmp_path / "r.json")]  # fmt: skip
    table = io.StringIO()
    assert main(args, out=table) == 0
    assert "reference" in table.getvalue() and "change" in table.getvalue()
    report = io.StringIO()
    assert main([*args, "--format", "json"], out=report) == 0
    parsed = json.loads(report.getvalue())
    assert ref.quality is not None
    assert parsed["reference"]["f1"] == pytest.approx(ref.quality.f1)
    live_f1 = skm.f1_score(live["label"], live["score"] >= 0.5)
    change = parsed["models"][0]["change"]["f1"]
    assert change == pytest.approx(live_f1 - ref.quality.f1)


def test_sidecar_quality_settings_that_differ_from_the_reference_fail_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    Reference.from_frame(_scored(200), target="label", prediction="score").save(tmp_path / "r.json")
    (tmp_path / "p.log").write_text("")
    args = ["sidecar", "--log-file", str(tmp_path / "p.log"), "--port", "0",
            "--reference", str(tmp_path / "r.json"), "--quality-threshold", "0.3"]  # fmt: skip
    assert main(args) == 2
    assert "quality_threshold: 0.3 differs from the reference's 0.5" in capsys.readouterr().err


def test_matched_outcomes_drift_against_the_reference_target():
    ref = Reference.from_frame(_scored(), target="label", prediction="score")  # ~50 % ones
    clock = FakeClock()
    with _monitor(clock, ref, drift_window="10m") as mon:
        scores = np.linspace(0.0, 1.0, 800)
        labels = (np.arange(800) % 10 < 9).astype(int)  # 90 % ones: the truth moved
        _pairs(mon, clock, labels, scores)
        snap = mon.snapshot()
    label = snap.drift["label"]
    assert label.count == 800 and label.psi is not None and label.psi > 0.5
    assert snap.drift_window is not None and snap.drift_window.target == "label"
    assert "label" in snap.drift_window.drifted
    inputs = [n for n in snap.drift if n not in ("label", "score")]
    assert inputs == ["x"]
    assert snap.drift_window.share_drifted == float(snap.drift["x"].drifted)  # inputs only
