"""compare(): every column of two data sets (or a profile and a data set), Evidently's default
choice of test per column, and the same verdicts as Evidently's DataDriftPreset."""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from aimon.drift import Reference, compare
from aimon.drift.methods import column_kind, default_method, resolve_methods


def mixed(n: int, shift: float, seed: int) -> pd.DataFrame:
    """Numeric, small and large integer, bool, categorical and binary columns; with
    ``shift`` some of them move and some stay."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(10 + shift, 0.5, n),
            "age": rng.normal(40, 10, n),  # never moves
            "clicks": rng.integers(0, 4 + int(shift > 0), n),
            "visits": rng.integers(0, 100, n) + int(20 * shift),
            "is_new": rng.random(n) < 0.3 + shift / 4,
            "plan": rng.choice(["free", "pro", "team", "enterprise"], n, p=[0.5, 0.3, 0.15, 0.05]),
            "country": rng.choice(
                list("ABCDE") if shift == 0 else list("ABCDF"), n, p=[0.4, 0.2, 0.2, 0.1, 0.1]
            ),
            "channel": rng.choice(["web", "app"], n, p=[0.6 - shift / 5, 0.4 + shift / 5]),
        }
    )
    frame.loc[rng.random(n) < 0.05, "age"] = np.nan
    return frame


def evidently_verdicts(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    pytest.importorskip("evidently")
    from evidently import Report
    from evidently.presets import DataDriftPreset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset()]).run(current, reference)
    verdicts: dict[str, Any] = {}
    for metric in snapshot.dict()["metrics"]:
        name = metric["metric_name"]
        if not name.startswith("ValueDrift("):
            continue
        params = dict(part.split("=", 1) for part in name[len("ValueDrift(") : -1].split(","))
        value, threshold = float(metric["value"]), float(params["threshold"])
        p_value_test = "p_value" in params["method"]
        drifted = value <= threshold if "K-S" in params["method"] else value < threshold
        verdicts[params["column"]] = {
            "method": params["method"],
            "value": value,
            "drifted": drifted if p_value_test else value >= threshold,
        }
    return verdicts


EVIDENTLY_METHOD = {
    "ks": "K-S p_value",
    "wasserstein": "Wasserstein distance (normed)",
    "jensen_shannon": "Jensen-Shannon distance",
    "chi_square": "chi-square p_value",
    "z_test": "Z-test p_value",
}


@pytest.mark.parametrize(("n_reference", "n_current"), [(3000, 2000), (800, 600)])
@pytest.mark.parametrize("shift", [0.0, 0.4])
def test_default_verdicts_equal_evidentlys_data_drift_preset(
    n_reference: int, n_current: int, shift: float
) -> None:
    reference = mixed(n_reference, 0.0, seed=1)
    current = mixed(n_current, shift, seed=2)
    theirs = evidently_verdicts(reference, current)
    ours = compare(reference, current)
    assert set(ours) == set(theirs)
    for column, verdict in theirs.items():
        (method, result), *_ = ours[column].items()
        assert EVIDENTLY_METHOD[method] == verdict["method"], column
        assert result.score == pytest.approx(verdict["value"], rel=1e-9, abs=1e-12), column
        assert result.drifted == verdict["drifted"], column
    if shift:
        assert "income" in ours.drifted_columns
        assert "age" not in ours.drifted_columns


def test_report_shapes() -> None:
    reference, current = mixed(2000, 0.0, 1), mixed(1500, 0.4, 2)
    report = compare(reference, current, methods="psi,ks")
    assert set(report["income"]) == {"psi", "ks"}
    assert set(report["plan"]) == {"psi"}  # KS does not apply to categories
    frame = report.to_frame()
    assert list(frame.columns[:4]) == ["column", "kind", "method", "statistic"]
    assert frame["drifted"].iloc[0]  # drifted columns first
    assert frame.loc[frame.column == "age", "missing_reference"].iloc[0] > 0
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["drifted_columns"] == report.drifted_columns
    assert 0 < report.share_drifted <= 1
    assert report.dataset_drift == (report.share_drifted >= 0.5)


def test_ks_in_compare_equals_scipy_per_column() -> None:
    reference, current = mixed(5000, 0.0, 1), mixed(4000, 0.1, 2)
    report = compare(reference, current, methods=["ks"], columns=["income", "age", "visits"])
    for column in ("income", "age", "visits"):
        ref = reference[column].dropna().to_numpy(float)
        cur = current[column].dropna().to_numpy(float)
        expected = sps.ks_2samp(ref, cur)
        assert report[column]["ks"].statistic == pytest.approx(expected.statistic, rel=1e-12)
        assert report[column]["ks"].pvalue == pytest.approx(expected.pvalue, rel=1e-9)


def test_compare_with_a_profile_matches_compare_with_the_data() -> None:
    reference, current = mixed(4000, 0.0, 1), mixed(3000, 0.4, 2)
    profile = Reference.from_frame(reference, sample_size=10_000)
    from_data = compare(reference, current, methods=["psi", "ks", "wasserstein"])
    from_profile = compare(profile, current, methods=["psi", "ks", "wasserstein"])
    for column in ("income", "age"):
        for method in ("psi", "ks", "wasserstein"):
            ours = from_profile[column][method].statistic
            assert math.isclose(ours, from_data[column][method].statistic, rel_tol=1e-9), (
                column,
                method,
            )
    assert set(from_profile.drifted_columns) >= {"income", "country"}


def test_unseen_categories_count_against_a_profile_without_other() -> None:
    profile = Reference.from_frame({"c": ["a", "b"] * 50})
    report = compare(profile, pd.DataFrame({"c": ["a", "b", "z"] * 20}), methods="chi2,psi")
    assert report["c"]["chi_square"].drifted
    assert report["c"]["chi_square"].statistic == math.inf


def test_bad_input_names_the_column_or_method() -> None:
    reference = pd.DataFrame({"a": [1.0, 2.0], "when": pd.to_datetime(["2024-01-01"] * 2)})
    with pytest.raises(ValueError, match="'b' is not in the reference"):
        compare(reference, reference, columns=["b"])
    with pytest.raises(ValueError, match="unknown method 'kss'"):
        compare(reference, reference, methods="kss")
    current = reference.assign(a=np.nan)
    report = compare(reference, current)
    assert report.skipped == {
        "when": f"not compared: {reference['when'].dtype} column",  # ns (pandas 2), us (3)
        "a": "no values in the current data",
    }
    assert len(report) == 0
    assert not report.dataset_drift


def test_column_kinds_follow_evidently() -> None:
    assert column_kind(pd.Series([1.5, 2.5])) == "numeric"
    assert column_kind(pd.Series(range(10))) == "categorical"
    assert column_kind(pd.Series(range(11))) == "numeric"
    assert column_kind(pd.Series([True, False])) == "categorical"
    assert column_kind(pd.Series(["a", "b"])) == "categorical"
    assert column_kind(pd.Series(pd.to_datetime(["2024-01-01"]))) is None
    assert default_method("numeric", 1000, 6) == "ks"
    assert default_method("numeric", 1001, 5) == "jensen_shannon"
    assert default_method("numeric", 10, 3) == "chi_square"
    assert resolve_methods(["JS", "js", "chi2"]) == ("jensen_shannon", "chi_square")
