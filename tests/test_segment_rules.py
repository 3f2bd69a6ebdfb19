"""Rules per segment: a rule with ``segment`` is evaluated on each segment value's Snapshot,
each value pending, firing and resolving on its own, its alerts labelled with the segment;
rule files name the segment, and metrics segments do not keep are refused at load."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_wine

from aimon import Monitor
from aimon.alerts import Alert, AlertmanagerSink, CallbackSink, LogSink, Router
from aimon.drift.reference import Reference
from aimon.errors import ConfigError
from aimon.rule_engine import make_alerting
from aimon.segments import MISSING
from aimon.settings import SegmentSettings
from aimon.thresholds import SEGMENT_METRICS, Rule, Thresholds
from tests.conftest import Clock

T0 = 1_700_000_000.0


class Heard:
    """What a CallbackSink was handed: every delivered alert, in order."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self._lock = threading.Lock()

    def __call__(self, alerts: list[Alert]) -> None:
        with self._lock:
            self.alerts.extend(alerts)

    def take(self) -> list[tuple[str, str | None, str]]:
        """(state, segment value, summary) of each alert heard since the last take."""
        with self._lock:
            heard, self.alerts = self.alerts, []
        return [(a.state, a.labels.get("segment_value"), a.annotations["summary"]) for a in heard]


class Watched:
    """A Monitor on a fake clock whose alerts go through a real router to a CallbackSink and
    a LogSink. The background thread never evaluates the rules (a first evaluation at
    construction and an interval of a day): every evaluation is the test's own."""

    def __init__(self, rules: list[Rule], **options: Any) -> None:
        self.clock = Clock(T0)
        self.heard = Heard()
        self.router = Router([CallbackSink(self.heard), LogSink()])
        self.mon = Monitor(
            "fraud", version="1.4", window="5m", thresholds=rules, router=self.router,
            clock=self.clock, flush_interval="1h", evaluation_interval="1d", **options,
        )  # fmt: skip
        self.mon.check()

    def check(self, at: float) -> dict[tuple[str | None, str | None], str]:
        """Evaluate at ``T0 + at`` and deliver; the active alerts as {(segment, value): state}."""
        self.clock.now = T0 + at
        active = self.mon.check()
        assert self.router.flush(5.0)
        return {(a.labels.get("segment"), a.labels.get("segment_value")): a.state for a in active}

    def close(self) -> None:
        self.mon.close()
        self.router.close()


@pytest.fixture
def watched() -> Iterator[list[Watched]]:
    made: list[Watched] = []
    yield made
    for w in made:
        w.close()


def traffic(mon: Monitor, country: str | None, calls: int, errors: int, plan: bool = False) -> None:
    """``calls`` calls from ``country`` (None: no country), the first ``errors`` failing;
    with ``plan``, every other call on the free plan, the rest on pro."""
    for i in range(calls):
        features: dict[str, Any] = {"amount": float(i)}
        if country is not None:
            features["country"] = country
        if plan:
            features["plan"] = "free" if i % 2 else "pro"
        mon.observe(latency_s=0.01, error=ValueError("bad") if i < errors else None,
                    features=features)  # fmt: skip


ERRORS_BY_COUNTRY = Rule(
    name="ErrorsByCountry", metric="error_rate", op=">", value=0.05, for_="1m", min_count=20,
    segment="country", severity="critical", labels={"team": "payments"},
)  # fmt: skip


def test_one_segment_pends_fires_and_resolves_on_its_own(
    watched: list[Watched], caplog: pytest.LogCaptureFixture
) -> None:
    w = Watched([ERRORS_BY_COUNTRY], segments=["country"])
    watched.append(w)
    traffic(w.mon, "DE", 40, errors=16)
    traffic(w.mon, "FR", 60, errors=0)
    traffic(w.mon, None, 30, errors=1)  # __missing__: 3 %, under the threshold
    assert sorted(w.mon.snapshot().segments["country"]) == ["DE", "FR", MISSING]
    caplog.set_level(logging.INFO, logger="aimon.alerts")

    assert w.check(0) == {("country", "DE"): "pending"}
    assert w.mon.snapshot().rule_states == {"ErrorsByCountry": 1}
    assert w.check(59) == {("country", "DE"): "pending"}
    assert w.heard.take() == []  # pending alerts are never sent

    assert w.check(60) == {("country", "DE"): "firing"}
    assert w.mon.snapshot().rule_states == {"ErrorsByCountry": 2}
    (firing,) = w.heard.alerts
    assert firing.labels == {
        "alertname": "ErrorsByCountry", "model": "fraud", "version": "1.4",
        "severity": "critical", "segment": "country", "segment_value": "DE", "team": "payments",
    }  # fmt: skip
    assert firing.starts_at.timestamp() == T0
    assert w.heard.take() == [
        ("firing", "DE", "error_rate of fraud in country=DE is 0.4 (alert above 0.05)")
    ]
    logged = [r.getMessage() for r in caplog.records if r.name == "aimon.alerts"]
    assert logged == [
        "[FIRING] ErrorsByCountry (model=fraud, segment=country, segment_value=DE, "
        "severity=critical, team=payments, version=1.4) "
        "error_rate of fraud in country=DE is 0.4 (alert above 0.05)"
    ]
    body = AlertmanagerSink("http://alertmanager.invalid:9093").body([firing])
    assert body[0]["labels"]["segment"] == "country"
    assert body[0]["labels"]["segment_value"] == "DE"

    # The errors stop: six minutes on, the window holds only good DE calls.
    w.clock.now = T0 + 420
    traffic(w.mon, "DE", 40, errors=0)
    assert w.check(420) == {}
    assert w.heard.take() == [
        ("resolved", "DE", "error_rate of fraud in country=DE is 0 (alert above 0.05)")
    ]
    assert w.mon.snapshot().rule_states == {"ErrorsByCountry": 0}


def test_a_segment_value_that_loses_its_place_resolves(watched: list[Watched]) -> None:
    rule = Rule(name="Errors", metric="error_rate", value=0.05, segment="country")
    w = Watched([rule], segments=SegmentSettings(("country",), max_values=2))
    watched.append(w)
    traffic(w.mon, "DE", 30, errors=15)
    traffic(w.mon, "FR", 40, errors=0)
    assert w.check(0) == {("country", "DE"): "firing"}
    traffic(w.mon, "IT", 200, errors=0)  # more than twice DE's traffic: DE is evicted
    assert sorted(w.mon.snapshot().segments["country"]) == ["FR", "IT"]
    assert w.check(15) == {}
    assert [(state, value) for state, value, _ in w.heard.take()] == [
        ("firing", "DE"),
        ("resolved", "DE"),
    ]


def test_star_reads_every_segment_column(watched: list[Watched]) -> None:
    rule = Rule(name="Errors", metric="error_rate", value=0.1, min_count=20, segment="*")
    whole = Rule(name="ErrorsOverall", metric="error_rate", value=0.3)
    w = Watched([rule, whole], segments=["country", "plan"])
    watched.append(w)
    traffic(w.mon, "DE", 40, errors=20, plan=True)  # DE 50 %; each plan 25 %
    traffic(w.mon, "FR", 40, errors=0, plan=True)
    assert w.check(0) == {
        ("country", "DE"): "firing",
        ("plan", "free"): "firing",
        ("plan", "pro"): "firing",
    }  # the whole model's 25 % is under its own rule's 30 %
    summaries = sorted(summary for _, _, summary in w.heard.take())
    assert summaries == [
        "error_rate of fraud in country=DE is 0.5 (alert above 0.1)",
        "error_rate of fraud in plan=free is 0.25 (alert above 0.1)",
        "error_rate of fraud in plan=pro is 0.25 (alert above 0.1)",
    ]
    assert w.mon.snapshot().rule_states == {"Errors": 2, "ErrorsOverall": 0}


def test_a_quality_rule_per_segment_fires_where_the_model_is_wrong(
    watched: list[Watched],
) -> None:
    """Outcomes joined by request id count in their calls' segments: accuracy below 0.8
    fires for FR (half wrong), not for DE (all right), nor for the whole model (0.83)."""
    rule = Rule(name="AccuracyByCountry", metric="accuracy", op="<", value=0.8, min_count=10,
                segment="country")  # fmt: skip
    w = Watched([rule], segments=["country"])
    watched.append(w)
    calls = [("DE", 1)] * 40 + [("FR", i % 2) for i in range(20)]
    for i, (country, _) in enumerate(calls):
        w.mon.observe(latency_s=0.01, prediction=1, request_id=f"r{i}",
                      features={"country": country}, ts=T0)  # fmt: skip
    for i, (_, actual) in enumerate(calls):
        w.mon.record_outcome(f"r{i}", actual, ts=T0 + 1)
    assert w.check(2) == {("country", "FR"): "firing"}
    state, value, summary = w.heard.take()[0]
    assert (state, value) == ("firing", "FR") and "country=FR" in summary


def test_a_rule_without_segment_reads_the_whole_model(watched: list[Watched]) -> None:
    rule = Rule(name="Errors", metric="error_rate", value=0.1)
    w = Watched([rule], segments=["country"])
    watched.append(w)
    traffic(w.mon, "DE", 40, errors=20)
    traffic(w.mon, "FR", 60, errors=0)
    assert w.check(0) == {(None, None): "firing"}
    ((_, value, summary),) = w.heard.take()
    assert value is None and summary == "error_rate of fraud is 0.2 (alert above 0.1)"


def wine() -> pd.DataFrame:
    frame = load_wine(as_frame=True).frame
    frame["cultivar"] = frame.pop("target").map({0: "barolo", 1: "grignolino", 2: "barbera"})
    return frame


def test_a_drift_rule_per_segment_fires_for_the_shifted_segment_only(
    watched: list[Watched],
) -> None:
    """Wine, live rows drawn from the reference rows, alcohol raised by half the data's
    standard deviation for grignolino only (as in tests/test_segments_live.py)."""
    data = wine()
    rules = [
        Rule(name="SegmentFeatureDrift", metric="drifted", value=0.5, segment="cultivar"),
        Rule(name="SegmentDrift", metric="share_drifted", value=0.0, segment="cultivar"),
    ]
    w = Watched(
        rules, reference=Reference.from_frame(data, segments=["cultivar"]),
        segments=["cultivar"], drift_events=5000,
    )  # fmt: skip
    watched.append(w)
    rows = data.sample(3000, replace=True, random_state=0).reset_index(drop=True)
    rows.loc[rows.cultivar == "grignolino", "alcohol"] += 0.5 * data.alcohol.std()
    for row in rows.to_dict("records"):
        w.mon.observe(latency_s=0.01, features=row)
    snap = w.mon.snapshot()
    assert sorted(snap.segments["cultivar"]) == ["barbera", "barolo", "grignolino"]
    assert all(part.drift for part in snap.segments["cultivar"].values())
    active = w.mon.check()
    found = sorted(
        (a.name, a.labels["segment_value"], a.labels.get("feature"), a.state) for a in active
    )
    assert found == [
        ("SegmentDrift", "grignolino", None, "firing"),
        ("SegmentFeatureDrift", "grignolino", "alcohol", "firing"),
    ]
    feature_alert = next(a for a in active if a.name == "SegmentFeatureDrift")
    assert feature_alert.annotations["summary"] == (
        "drifted of alcohol of fraud in cultivar=grignolino is 1 (alert above 0.5)"
    )


# --- rule files -----------------------------------------------------------------------


def test_rule_files_name_the_segment(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        "rules:\n"
        "  - name: ErrorsByCountry\n    metric: error_rate\n    value: 0.05\n"
        "    segment: country\n"
        "    annotations: {summary: 'errors in {segment}={segment_value}: {value:.0%}'}\n"
        "  - name: DriftAnywhere\n    metric: psi\n    value: 0.2\n    segment: '*'\n"
        "  - name: Whole\n    metric: error_rate\n    value: 0.05\n"
    )
    (tmp_path / "rules.toml").write_text(
        '[[rules]]\nname = "Slow"\nmetric = "latency_p95"\nvalue = 0.5\nsegment = "plan"\n'
    )
    by_country, anywhere, whole = Thresholds.from_file(tmp_path / "rules.yaml").rules
    assert (by_country.segment, anywhere.segment, whole.segment) == ("country", "*", None)
    assert anywhere.feature == "*"
    assert Thresholds.from_file(tmp_path / "rules.toml").rules[0].segment == "plan"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("segment: ''", "field 'segment': Value error, a segment column"),
        ("segment: '   '", "field 'segment': Value error, a segment column"),
        ("segment: 3", "field 'segment': Input should be a valid string"),
        ("segment: [country]", "field 'segment': Input should be a valid string"),
        ("segmnt: country", "field 'segmnt': unknown field; did you mean 'segment'?"),
        ("labels: {segment_value: DE}", "labels: ['segment_value'] are set by aimon"),
    ],
)
def test_a_bad_segment_fails_at_load_naming_the_field(
    tmp_path: Path, rule: str, message: str
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(f"rules:\n  - name: A\n    metric: error_rate\n    value: 1\n    {rule}\n")
    with pytest.raises(ConfigError) as caught:
        Thresholds.from_file(path)
    assert str(caught.value).startswith(f"{path}: rule 'A' (rules[0]): field "), caught.value
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("metric", "reads"),
    [
        ("estimated_roc_auc", "the quality estimated from the scores (CBPE)"),
        ("multivariate_drifted", "multivariate drift"),
    ],
)
def test_metrics_segments_do_not_keep_are_refused_at_load(
    tmp_path: Path, metric: str, reads: str
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        f"rules:\n  - name: Q\n    metric: {metric}\n    value: 0.8\n    segment: country\n"
    )
    with pytest.raises(ConfigError) as caught:
        Thresholds.from_file(path)
    assert "rule 'Q' (rules[0]): field 'segment'" in str(caught.value)
    assert f"metric {metric!r} reads {reads}, which segments do not keep" in str(caught.value)
    assert "remove 'segment'" in str(caught.value)


def test_relative_quality_rules_are_refused_per_segment_too() -> None:
    with pytest.raises(ValueError, match="segments have no reference quality"):
        Rule(name="Q", metric="accuracy", op="<", value=-0.05, relative_to="reference",
             segment="*")  # fmt: skip


def test_segment_metrics_are_the_ones_a_segment_snapshot_has() -> None:
    assert "error_rate" in SEGMENT_METRICS and "psi" in SEGMENT_METRICS
    assert "max_ks" in SEGMENT_METRICS and "out_of_range_share" in SEGMENT_METRICS
    assert "accuracy" in SEGMENT_METRICS and "f1_macro" in SEGMENT_METRICS
    assert not {"estimated_accuracy", "multivariate_drifted"} & set(SEGMENT_METRICS)
    for metric in SEGMENT_METRICS:  # every one of them is accepted
        Rule(name="R", metric=metric, value=1.0, segment="country")  # type: ignore[arg-type]


def test_make_alerting_checks_the_segment_columns() -> None:
    rules = [Rule(name="Typo", metric="error_rate", value=0.05, segment="contry")]
    with pytest.raises(ConfigError, match=r"rule 'Typo': segment 'contry' is not a segment"):
        make_alerting(rules, None, None, "15s", "m", None, segments=["country"])
    with pytest.raises(ConfigError, match="it has no segments"):
        make_alerting(rules, None, None, "15s", "m", None, segments=[])
    star = [Rule(name="Any", metric="error_rate", value=0.05, segment="*")]
    assert make_alerting(star, None, None, "15s", "m", None, segments=["country"]) is not None
    assert make_alerting(rules, None, None, "15s", "m", None) is not None  # unchecked
