"""Data quality on scikit-learn's breast-cancer data: batch (compare), live (the Monitor and its
default rules), and the one rule for what is categorical (issue 14 items 1, 3 and 7)."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_wine

import aimon
from aimon.drift import Reference, compare
from aimon.drift.data_quality import QualityLimits
from aimon.drift.methods import column_kind
from aimon.rule_engine import Evaluator
from aimon.thresholds import DATA_QUALITY_METRICS, Thresholds

CANCER = load_breast_cancer(as_frame=True).frame  # 30 float features and a 0/1 target
FEATURES = CANCER.drop(columns="target")


def halves(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    half = len(shuffled) // 2
    return shuffled.iloc[:half], shuffled.iloc[half:].reset_index(drop=True)


def damaged(current: pd.DataFrame) -> pd.DataFrame:
    """A dropped column, a column set to NaN, one shifted out of range, one unparseable, a
    new category in the target."""
    out = current.drop(columns="mean area")
    out["mean radius"] = np.nan
    out["mean texture"] = out["mean texture"] + 100.0
    out["mean perimeter"] = out["mean perimeter"].astype(str) + "mm"
    out["target"] = out["target"].where(out.index % 4 != 0, 7)
    return out


@pytest.mark.parametrize("as_profile", [False, True], ids=["data", "profile"])
def test_each_failure_is_flagged_by_its_check(as_profile: bool) -> None:
    reference, current = halves(CANCER, 0)
    ref = Reference.from_frame(reference) if as_profile else reference
    report = compare(ref, damaged(current))
    assert report.quality_failures == {
        "mean radius": ["missing_increase"],
        "mean texture": ["out_of_range_share"],
        "mean perimeter": ["type_violation_share"],
        "mean area": ["absent"],
        "target": ["unseen_share"],
    }
    quality = report.data_quality
    assert quality["mean radius"].missing_share == 1.0
    assert quality["mean perimeter"].type_violation_share == 1.0
    assert quality["target"].unseen_share == pytest.approx((current.index % 4 == 0).mean())
    assert "mean radius" not in report.columns  # no drift without values, but not silent


def test_shares_equal_pandas() -> None:
    reference, current = halves(CANCER, 1)
    current = current.copy()
    current.loc[::7, "worst area"] = np.nan
    current["mean smoothness"] *= 1.3
    report = compare(reference, current)
    for name in ("worst area", "mean smoothness", "mean symmetry"):
        column = current[name]
        present = column.dropna()
        low, high = reference[name].min(), reference[name].max()
        quality = report.data_quality[name]
        assert quality.missing_share == pytest.approx(column.isna().mean())
        assert quality.out_of_range_share == pytest.approx(
            ((present < low) | (present > high)).mean()
        )


def test_explicit_bounds_replace_the_reference_range() -> None:
    reference, current = halves(FEATURES, 2)
    profile = Reference.from_frame(reference, bounds={"mean radius": (0.0, 15.0)})
    quality = compare(profile, current).data_quality["mean radius"]
    assert quality.out_of_range_share == pytest.approx((current["mean radius"] > 15.0).mean())
    assert quality.out_of_range_share > 0.05


def test_a_constant_column_is_flagged() -> None:
    reference, current = halves(CANCER, 3)
    current = current.assign(**{"mean concavity": 0.0})
    assert compare(reference, current).quality_failures == {"mean concavity": ["constant"]}


def test_a_skewed_binary_column_is_not_constant_after_a_few_rows() -> None:
    # 63 % of breast-cancer's targets are 1: 10 rows of 1 are likely, 300 are not
    reference = CANCER[["target"]]
    assert not compare(reference, pd.DataFrame({"target": [1] * 10})).quality_failures
    assert compare(reference, pd.DataFrame({"target": [1] * 300})).quality_failures == {
        "target": ["constant"]
    }


@pytest.mark.parametrize("data", [CANCER, load_wine(as_frame=True).frame], ids=["cancer", "wine"])
def test_random_splits_pass_every_check(data: pd.DataFrame) -> None:
    failed = {seed: compare(*halves(data, seed)).quality_failures for seed in range(12)}
    assert failed == {seed: {} for seed in range(12)}


def test_profiles_and_compare_agree_on_categorical_columns() -> None:
    # issue 14 item 7: the 0/1 integer target was numeric in a profile, categorical in compare
    profile = Reference.from_frame(CANCER)
    assert profile.features["target"].kind == column_kind(CANCER["target"]) == "categorical"
    reference, current = halves(CANCER, 4)
    by_data = compare(reference, current)
    by_profile = compare(Reference.from_frame(reference), current)
    kinds = {name: column.kind for name, column in by_data.columns.items()}
    assert kinds == {name: column.kind for name, column in by_profile.columns.items()}
    assert kinds["target"] == "categorical" and kinds["mean radius"] == "numeric"


def test_limits_are_the_callers() -> None:
    reference, current = halves(FEATURES, 5)
    current = current.copy()
    current.loc[: len(current) // 10, "mean radius"] = np.nan  # 10 % missing
    assert compare(reference, current).quality_failures == {"mean radius": ["missing_increase"]}
    relaxed = QualityLimits(missing_increase=0.2)
    assert compare(reference, current, limits=relaxed).quality_failures == {}


# -- live ---------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def live_snapshot(reference: pd.DataFrame, current: pd.DataFrame) -> aimon.Snapshot:
    with aimon.Monitor("m", reference=Reference.from_frame(reference)) as mon:
        for record in current.to_dict("records"):
            mon.observe(latency_s=0.01, features=record)
        return mon.snapshot()


def firing(snapshot: aimon.Snapshot) -> set[tuple[str, str]]:
    evaluator = Evaluator(Thresholds(), "m", None)
    evaluator.evaluate(snapshot, 1_000_000.0)
    alerts = evaluator.evaluate(snapshot, 1_000_061.0)
    return {
        (a.labels["alertname"], a.labels.get("feature", "")) for a in alerts if a.state == "firing"
    }


def test_the_monitor_flags_what_compare_flags() -> None:
    reference, current = halves(FEATURES, 6)
    current = damaged(current.assign(target=0)).drop(columns="target")
    snapshot = live_snapshot(reference, current)
    assert snapshot.data_quality["mean area"].absent
    assert snapshot.drift["mean area"].missing_share == 1.0  # what the issue saw, unalerted
    assert firing(snapshot) == {
        ("FeatureAbsent", "mean area"),
        ("FeatureMissing", "mean radius"),
        ("FeatureOutOfRange", "mean texture"),
        ("FeatureTypeViolations", "mean perimeter"),
    }
    batch = compare(reference, current).data_quality
    for name in ("mean radius", "mean texture", "mean perimeter", "worst area"):
        assert snapshot.data_quality[name] == batch[name]  # one counting, batch and live


def test_the_monitor_flags_unseen_categories_and_constant_columns() -> None:
    wine = load_wine(as_frame=True).frame
    reference, current = halves(wine, 7)
    current = pd.concat([current, current], ignore_index=True)  # the rules ask 100 rows
    current = current.assign(alcohol=13.0)
    current["target"] = current["target"].where(current.index % 3 != 0, 9)
    assert firing(live_snapshot(reference, current)) == {
        ("FeatureConstant", "alcohol"),
        ("FeatureUnseenCategories", "target"),
    }


def test_random_splits_raise_no_data_quality_alert_live() -> None:
    names = {f"Feature{n}" for n in ("Missing", "OutOfRange", "TypeViolations",
                                     "UnseenCategories", "Absent", "Constant")}  # fmt: skip
    assert len(names) == len(DATA_QUALITY_METRICS)
    for seed in range(10):
        snapshot = live_snapshot(*halves(CANCER, seed))
        assert {alert for alert in firing(snapshot) if alert[0] in names} == set(), seed


def test_live_data_quality_survives_a_checkpoint() -> None:
    """The window's data-quality counts go into the Monitor's state and come back (they
    started empty after a restart of the sidecar)."""
    reference, current = halves(FEATURES, 8)
    current = damaged(current.assign(target=0)).drop(columns="target")
    profile = Reference.from_frame(reference)
    rows = current.to_dict("records")
    with aimon.Monitor("dq", reference=profile, window="1h") as first:
        first.observe_many([time.time()] * len(rows), latency_s=[0.01] * len(rows), features=rows)
        before = first.snapshot().data_quality
        state = pickle.loads(pickle.dumps(first.export_state()))
    with aimon.Monitor("dq", reference=profile, window="1h") as second:
        second.restore_state(state)
        assert second.snapshot().data_quality == before
    other = Reference.from_frame(current.drop(columns=["mean radius", "mean perimeter"]))
    with aimon.Monitor("dq", reference=other, window="1h") as third:
        third.restore_state(state)  # judged against another reference: starts empty
        assert all(q.rows == 0 for q in third.snapshot().data_quality.values())
