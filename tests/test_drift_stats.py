"""Drift statistics against their oracles: scipy, and Evidently's own stat tests (optional
extra), on numeric, categorical, tied, tiny, large and NaN-laden data."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from scipy.spatial import distance

from aimon.drift import stats
from aimon.drift.kolmogorov import kstwo_sf
from aimon.drift.samples import as_sample, binned_counts, fill_empty

RTOL = 1e-9


def close(ours: float | None, theirs: float) -> bool:
    assert ours is not None
    return math.isclose(ours, float(theirs), rel_tol=RTOL, abs_tol=1e-300)


def numeric_pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    nan_laden_ref = rng.normal(size=3000)
    nan_laden_ref[rng.random(3000) < 0.3] = np.nan
    nan_laden_cur = rng.normal(0.2, 1.0, size=2000)
    nan_laden_cur[rng.random(2000) < 0.1] = np.nan
    nan_laden_cur[:5] = np.inf
    return {
        "tiny": (rng.normal(size=12), rng.normal(0.5, 1.0, size=9)),
        "equal_sizes": (rng.normal(size=400), rng.normal(size=400)),
        "shifted": (rng.normal(size=5000), rng.normal(0.3, 1.2, size=3000)),
        "tied": (rng.integers(0, 30, 2000).astype(float), rng.integers(2, 33, 1500).astype(float)),
        "discrete": (rng.integers(0, 4, 800).astype(float), rng.integers(0, 5, 900).astype(float)),
        "huge": (rng.lognormal(size=60_000), rng.lognormal(0.01, 1.0, size=40_000)),
        # D in the tail where kstwo.sf sums the Birnbaum-Tingey series (2.2 <= n D^2 < 370)
        "huge_drifted": (rng.normal(size=60_000), rng.normal(0.05, 1.0, size=40_000)),
        "nan_laden": (nan_laden_ref, nan_laden_cur),
    }


NUMERIC = numeric_pairs()


def finite(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x)]


@pytest.mark.parametrize("case", sorted(NUMERIC))
def test_ks_equals_scipy(case: str) -> None:
    ref, cur = NUMERIC[case]
    ours = stats.ks(ref, cur)
    theirs = sps.ks_2samp(finite(ref), finite(cur))
    assert close(ours.statistic, theirs.statistic)
    assert close(ours.pvalue, theirs.pvalue)
    assert ours.drifted == (theirs.pvalue <= 0.05)
    assert ours.n_reference == finite(ref).size
    assert ours.missing_current == cur.size - finite(cur).size


def test_huge_drifted_case_is_in_the_series_branch() -> None:
    ref, cur = NUMERIC["huge_drifted"]
    n = round(ref.size * cur.size / (ref.size + cur.size))
    assert 2.2 <= n * stats.ks(ref, cur).statistic ** 2 < 370


@pytest.mark.parametrize("n", [141, 150, 999, 1013, 5000, 24_000, 100_000, 300_000])
def test_kstwo_sf_equals_scipy_across_its_branches(n: int) -> None:
    # every branch of scipy's _kolmogn, with the series one densely sampled
    n_d_squared = [0.3, 0.75, 1.5, 2.19, 2.2, 2.21, 3.0, 10.0, 50.0, 150.0, 300.0, 369.9, 370.0]
    statistics = [math.sqrt(v / n) for v in n_d_squared] + [0.4 / n, 0.9 / n, 0.6, 1 - 0.5 / n]
    for d in statistics:
        theirs = float(np.clip(sps.kstwo.sf(d, n), 0, 1))
        assert math.isclose(kstwo_sf(d, n), theirs, rel_tol=1e-12, abs_tol=1e-300), (n, d)


def test_ks_sorted_reference_is_not_sorted_again() -> None:
    ref, cur = NUMERIC["shifted"]
    assert stats.ks(np.sort(ref), cur, reference_sorted=True) == stats.ks(ref, cur)


@pytest.mark.parametrize("case", sorted(NUMERIC))
def test_wasserstein_equals_scipy(case: str) -> None:
    ref, cur = NUMERIC[case]
    raw = stats.wasserstein(ref, cur, normed=False)
    assert raw.method == "wasserstein_raw"
    assert close(raw.statistic, sps.wasserstein_distance(finite(ref), finite(cur)))
    assert not raw.drifted  # no threshold given: no verdict in the feature's units
    normed = stats.wasserstein(ref, cur)
    assert close(normed.statistic, raw.statistic / max(np.std(finite(ref)), 0.001))


def test_wasserstein_near_the_float_range_is_neither_zero_nor_noisy() -> None:
    # Issue 14 item 7: the reference's std overflowed to inf, so the normed distance was 0,
    # and numpy's overflow warnings went to stderr.
    rng = np.random.default_rng(3)
    ref = rng.choice([1.7e308, -1.7e308, 0.0, 1e308], 500)
    cur = rng.choice([1.7e308, 1.7e308, 0.0, 1e308], 400)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        normed = stats.wasserstein(ref, cur)
        raw = stats.wasserstein(ref, cur, normed=False)
    # The normed distance does not depend on the unit: the same data scaled down to where
    # scipy and numpy cannot overflow is the oracle.
    small_ref, small_cur = ref / 2.0**1000, cur / 2.0**1000
    expected = sps.wasserstein_distance(small_ref, small_cur) / np.std(small_ref)
    assert normed.statistic > 0.1 and normed.drifted
    assert close(normed.statistic, expected)
    assert close(raw.statistic, sps.wasserstein_distance(small_ref, small_cur) * 2.0**1000)


def test_weighted_current_with_unit_weights_is_the_plain_test() -> None:
    ref, cur = (np.sort(finite(x)) for x in NUMERIC["tied"])
    plain = stats.ks_sorted(ref, cur)
    weighted = stats.ks_sorted(ref, cur, current_weights=np.full(cur.size, 3.0))
    assert weighted.statistic == plain.statistic
    assert weighted.pvalue == plain.pvalue
    raw = stats.wasserstein_sorted(ref, cur, normed=False)
    doubled = stats.wasserstein_sorted(ref, cur, current_weights=np.full(cur.size, 2.0))
    assert math.isclose(doubled.statistic * max(np.std(ref), 0.001), raw.statistic, rel_tol=RTOL)


def test_psi_by_hand() -> None:
    # Quantile bins of the reference 0..99 in 4 bins: edges 24.75, 49.5, 74.25.
    ref = np.arange(100.0)
    cur = np.concatenate([np.arange(50.0), np.arange(50.0)])
    p = np.array([0.25, 0.25, 0.25, 0.25])
    q = np.array([0.5, 0.5, 0.0, 0.0])
    q = fill_empty(q)
    expected = float(np.sum((p - q) * np.log(p / q)))
    assert close(stats.psi(ref, cur, bins=4).statistic, expected)


def test_bins_are_half_open_with_open_outer_bins() -> None:
    ref = as_sample([0.0, 1.0, 2.0])
    cur = as_sample([-5.0, 0.0, 0.5, 1.0, 2.0, 99.0])
    ref_counts, cur_counts = binned_counts(ref, cur, [0.0, 1.0, 2.0])
    assert ref_counts.tolist() == [0, 1, 1, 1]
    assert cur_counts.tolist() == [1, 2, 1, 2]
    sorted_cur = as_sample(np.sort(cur.values), is_sorted=True)
    assert binned_counts(ref, sorted_cur, [0.0, 1.0, 2.0])[1].tolist() == cur_counts.tolist()


def test_fill_empty_is_evidentlys_rule() -> None:
    assert fill_empty(np.array([0.5, 0.5, 0.0])).tolist() == [0.5, 0.5, 1e-4]
    tiny = fill_empty(np.array([1e-5, 1 - 1e-5, 0.0]))
    assert tiny[2] == pytest.approx(1e-11)


def test_jensen_shannon_and_hellinger_by_hand() -> None:
    p, q = np.array([10, 30, 60]), np.array([30, 30, 40])
    js = stats.jensen_shannon_from_counts(p, q)
    assert close(js.statistic, distance.jensenshannon(p / p.sum(), q / q.sum()))
    hel = stats.hellinger_from_counts(p, q)
    expected = math.sqrt(1 - np.sum(np.sqrt(p / p.sum() * q / q.sum())))
    assert close(hel.statistic, expected)


def test_categorical_uses_the_union_of_categories() -> None:
    ref = ["a"] * 50 + ["b"] * 50
    cur = ["a"] * 40 + ["b"] * 40 + ["c"] * 20
    result = stats.chi_square(ref, cur)
    assert result.statistic == math.inf  # a category the reference never had
    assert result.pvalue == 0.0
    assert result.drifted
    assert stats.psi(ref, cur).statistic > 0.2


def test_chi_square_equals_scipy() -> None:
    rng = np.random.default_rng(3)
    ref = rng.choice(list("abcd"), 1000, p=[0.4, 0.3, 0.2, 0.1])
    cur = rng.choice(list("abcd"), 700, p=[0.35, 0.3, 0.2, 0.15])
    ours = stats.chi_square(ref, cur)
    labels, ref_n = np.unique(ref, return_counts=True)
    cur_n = np.array([(cur == label).sum() for label in labels])
    theirs = sps.chisquare(cur_n, ref_n * cur_n.sum() / ref_n.sum())
    assert close(ours.statistic, theirs.statistic)
    assert close(ours.pvalue, theirs.pvalue)


def test_numbers_are_categories_for_chi_square() -> None:
    assert stats.chi_square([1, 1, 2, 2], [1.0, 2.0, 2.0, 2.0]).n_current == 4


def test_bad_input_fails_clearly() -> None:
    with pytest.raises(ValueError, match="reference sample has no values"):
        stats.ks([np.nan, None], [1.0])
    with pytest.raises(ValueError, match="differ in length"):
        stats.psi_from_counts([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="strictly increasing"):
        stats.psi([1.0, 2.0], [1.0], bins=[2.0, 1.0])
    with pytest.raises(ValueError, match="two categories"):
        stats.z_test(["a", "b", "c"], ["a"])
    with pytest.raises(TypeError, match="one column"):
        stats.psi(pd.DataFrame({"a": [1]}), [1])


def test_inputs_of_every_shape_agree() -> None:
    values = [1.0, 2.0, None, 4.0, 5.0, 2.0]
    other = [2.0, 3.0, 3.0, np.nan]
    expected = stats.ks([1.0, 2.0, 4.0, 5.0, 2.0], [2.0, 3.0, 3.0])
    for ref in (values, tuple(values), np.array(values, dtype=float), pd.Series(values)):
        result = stats.ks(ref, pd.Series(other, dtype="Float64"))
        assert result.statistic == expected.statistic
        assert result.missing_reference == 1
        assert result.missing_current == 1
    assert stats.psi(pd.Series(["a", "b"], dtype="category"), ["a", "a"]).statistic > 0


def test_result_to_dict() -> None:
    result = stats.ks([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert result.to_dict()["method"] == "ks"
    assert result.to_dict()["pvalue"] == 1.0
    assert result.score == 1.0


# --- Against Evidently's own stat tests -------------------------------------------------


def evidently(module: str, function: str) -> Callable[..., Any]:
    pytest.importorskip("evidently")
    import importlib

    mod = importlib.import_module(f"evidently.legacy.calculations.stattests.{module}")
    return getattr(mod, function)  # type: ignore[no-any-return]


def run_evidently(test: Callable[..., Any], ref: Any, cur: Any, kind: str) -> float:
    from evidently.legacy.core import ColumnType

    column_type = ColumnType.Numerical if kind == "num" else ColumnType.Categorical
    # Evidently's data drift step drops NaN and inf before the test; do the same.
    ref_s = pd.Series(ref).replace([np.inf, -np.inf], np.nan).dropna()
    cur_s = pd.Series(cur).replace([np.inf, -np.inf], np.nan).dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(test(ref_s, cur_s, column_type, 0.1)[0])


@pytest.mark.parametrize("case", sorted(NUMERIC))
def test_numeric_stats_equal_evidentlys(case: str) -> None:
    ref, cur = NUMERIC[case]
    psi = run_evidently(evidently("psi", "_psi"), ref, cur, "num")
    assert close(stats.psi(ref, cur, bins="evidently").statistic, psi)
    js = run_evidently(evidently("jensenshannon", "_jensenshannon"), ref, cur, "num")
    assert close(stats.jensen_shannon(ref, cur, bins="evidently").statistic, js)
    hel = run_evidently(evidently("hellinger_distance", "_hellinger_distance"), ref, cur, "num")
    assert math.isclose(stats.hellinger(ref, cur, bins="evidently").statistic, hel, rel_tol=1e-9)
    wd = run_evidently(
        evidently("wasserstein_distance_norm", "_wasserstein_distance_norm"), ref, cur, "num"
    )
    assert close(stats.wasserstein(ref, cur).statistic, wd)
    ks = run_evidently(evidently("ks_stattest", "_ks_stat_test"), ref, cur, "num")
    assert close(stats.ks(ref, cur).pvalue, ks)


def categorical_pairs() -> dict[str, tuple[Any, Any]]:
    rng = np.random.default_rng(11)
    many = [f"c{i}" for i in range(40)]
    with_none_ref = list(rng.choice(list("xyz"), 500))
    with_none_ref[::7] = [None] * len(with_none_ref[::7])
    return {
        "tiny": (list("aabbc"), list("abccc")),
        "shifted": (rng.choice(list("abcde"), 3000), rng.choice(list("abcdf"), 2000)),
        "many": (rng.choice(many, 20_000), rng.choice(many[:30], 15_000)),
        "with_none": (with_none_ref, list(rng.choice(list("xyz"), 300))),
    }


CATEGORICAL = categorical_pairs()


@pytest.mark.parametrize("case", sorted(CATEGORICAL))
def test_categorical_stats_equal_evidentlys(case: str) -> None:
    ref, cur = CATEGORICAL[case]
    psi = run_evidently(evidently("psi", "_psi"), ref, cur, "cat")
    assert close(stats.psi(ref, cur).statistic, psi)
    js = run_evidently(evidently("jensenshannon", "_jensenshannon"), ref, cur, "cat")
    assert close(stats.jensen_shannon(ref, cur).statistic, js)
    hel = run_evidently(evidently("hellinger_distance", "_hellinger_distance"), ref, cur, "cat")
    assert math.isclose(stats.hellinger(ref, cur).statistic, hel, rel_tol=1e-9, abs_tol=1e-12)
    chi = run_evidently(evidently("chisquare_stattest", "_chi_stat_test"), ref, cur, "cat")
    assert close(stats.chi_square(ref, cur).pvalue, chi)


@pytest.mark.parametrize(
    ("ref", "cur"),
    [
        (["no"] * 60 + ["yes"] * 40, ["no"] * 45 + ["yes"] * 55),
        (["no"] * 600 + ["yes"] * 400, ["no"] * 580 + ["yes"] * 420),
        (["same"] * 10, ["same"] * 7),
        ([0, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]),
    ],
)
def test_z_test_equals_evidentlys(ref: list[Any], cur: list[Any]) -> None:
    theirs = run_evidently(evidently("z_stattest", "_z_stat_test"), ref, cur, "cat")
    assert close(stats.z_test(ref, cur).pvalue, theirs)


# --- Properties --------------------------------------------------------------------------

floats = st.floats(-1e6, 1e6, allow_nan=False)
samples = st.lists(floats, min_size=1, max_size=200)


@settings(max_examples=60, deadline=None)
@given(samples, samples, st.randoms(use_true_random=False))
def test_properties_of_the_numeric_statistics(ref: list[float], cur: list[float], rnd: Any) -> None:
    ks = stats.ks(ref, cur)
    assert 0.0 <= ks.statistic <= 1.0
    assert ks.pvalue is not None and 0.0 <= ks.pvalue <= 1.0
    assert stats.psi(ref, cur).statistic >= 0.0
    assert stats.psi(ref, ref).statistic == 0.0
    assert stats.ks(ref, ref).statistic == 0.0
    assert 0.0 <= stats.hellinger(ref, cur).statistic <= 1.0
    assert 0.0 <= stats.jensen_shannon(ref, cur).statistic <= math.sqrt(math.log(2)) + 1e-12
    shuffled_ref, shuffled_cur = list(ref), list(cur)
    rnd.shuffle(shuffled_ref)
    rnd.shuffle(shuffled_cur)
    for method in (stats.ks, stats.psi, stats.jensen_shannon, stats.wasserstein):
        a = method(ref, cur)  # type: ignore[operator]
        b = method(shuffled_ref, shuffled_cur)  # type: ignore[operator]
        assert math.isclose(a.statistic, b.statistic, rel_tol=1e-12, abs_tol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from("abcdef"), min_size=1, max_size=100),
    st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=100),
)
def test_properties_of_the_categorical_statistics(ref: list[str], cur: list[str]) -> None:
    assert stats.psi(ref, cur).statistic >= 0.0
    assert stats.psi(ref, ref).statistic == 0.0
    assert stats.chi_square(ref, ref).pvalue == pytest.approx(1.0)
    assert stats.psi(ref, cur).statistic == pytest.approx(stats.psi(cur[::-1], ref).statistic)
