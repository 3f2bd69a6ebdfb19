"""The dataset-level drift verdict (aimon/drift/dataset.py, issue 14 item 3): the default rules
stay quiet on random halves of a real data set (scikit-learn's digits, 64 features) and fire
when one feature really moves; the KS critical value against scipy's exact distributions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.datasets import load_digits

import aimon
from aimon.drift.dataset import FAMILY_ALPHA, ks_beyond_chance
from aimon.drift.kolmogorov import ks_critical_value
from aimon.exporters.prometheus import render
from tests.test_monitor import FakeClock

DIGITS = load_digits(as_frame=True).frame.drop(columns=["target"])
SEEDS = range(20)


@pytest.mark.parametrize("n", [50, 300, 900, 4000])
@pytest.mark.parametrize("alpha", [0.05, 0.05 / 64])
def test_the_critical_value_bounds_scipys_exact_two_sample_tail(n: int, alpha: float) -> None:
    c = ks_critical_value(n, n, alpha)
    # Two samples of n values whose statistic is the smallest D >= c (D moves in steps of 1/n).
    k = math.ceil(c * n - 1e-9)
    ref = np.arange(n, dtype=float)
    pvalue = sps.ks_2samp(ref, ref + k - 0.5, method="exact").pvalue
    assert sps.ks_2samp(ref, ref + k - 0.5).statistic == pytest.approx(k / n)
    assert pvalue <= alpha  # a bound: the chance level is never understated
    assert pvalue >= alpha / 3  # ... nor far overstated


def test_one_sided_sizes_reach_the_one_sample_bound() -> None:
    # A huge live sample: the two-sample bound tends to the one-sample DKW bound, which
    # scipy's exact one-sample distribution checks.
    c = ks_critical_value(500, 1e12, 0.01)
    assert sps.kstwo.sf(c, 500) <= 0.01


def test_beyond_chance_is_bonferroni_over_the_features() -> None:
    c = ks_critical_value(800, 900, FAMILY_ALPHA / 3)
    tests = [(c - 0.01, 800, 900), (c + 0.07, 800, 900), (0.0, 800, 900)]
    assert ks_beyond_chance(tests) == pytest.approx(0.07)
    assert ks_beyond_chance(tests[:1] * 3) == 0.0
    assert ks_beyond_chance([]) is None


def split(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(DIGITS))
    half = len(DIGITS) // 2
    return DIGITS.iloc[order[:half]], DIGITS.iloc[order[half:]]


def live_run(reference: pd.DataFrame, live: pd.DataFrame, **settings: int) -> aimon.Snapshot:
    """The live half through a Monitor with the default rules; the snapshot after a check
    and, 5 minutes later (ModelDrift's ``for``), after a second check."""
    clock = FakeClock()
    ref = aimon.Reference.from_frame(reference)
    with aimon.Monitor("digits", reference=ref, thresholds=aimon.Thresholds(), clock=clock,
                       **settings) as mon:  # fmt: skip
        rows = live.to_dict("records")
        mon.observe_many(ts=np.full(len(rows), clock.now), latency_s=np.full(len(rows), 0.01),
                         features=rows)  # fmt: skip
        mon.check()
        clock.now += 301
        mon.check()
        return mon.snapshot()


@pytest.mark.parametrize("sample", [1024, 128])
def test_the_default_rules_stay_quiet_on_random_halves_of_real_data(sample: int) -> None:
    # drift_sample=128 keeps 128 values per slice: KS on a sample, as on a busy server.
    raised, raw_above = [], 0
    for seed in SEEDS:
        snap = live_run(*split(seed), drift_sample=sample)
        assert snap.drift_window is not None and snap.drift_window.events == len(DIGITS) - 898
        raised += [(seed, rule) for rule, state in snap.rule_states.items() if state]
        raw_above += max(d.ks or 0.0 for d in snap.drift.values()) > 0.05
        # 899 values fit one 1024-value reservoir: the sample is the window, KS is exact.
        bounds = {d.ks_error_bound for d in snap.drift.values()}
        assert bounds == {0.0} if sample == 1024 else min(bounds) > 0.0
    assert raised == []
    # What the rule read before: the largest raw KS, above 0.05 in (nearly) every split.
    assert raw_above >= 18


def test_one_feature_moved_by_one_std_fires_model_drift() -> None:
    reference, live = split(0)
    feature = "pixel_3_3"
    moved = live.assign(**{feature: live[feature] + reference[feature].std()})
    snap = live_run(reference, moved)
    assert snap.rule_states["ModelDrift"] == 2  # firing after its 5 minutes
    assert snap.drift_window is not None and snap.drift_window.max_ks is not None
    assert snap.drift_window.max_ks > 0.2
    largest = max(snap.drift, key=lambda name: snap.drift[name].ks or 0.0)
    assert largest == feature
    # Exported as the gauge the Prometheus rule reads.
    (exported,) = (m for m in render([snap]) if m.name == "aimon_drift_max_ks")
    assert [s.value for s in exported.samples] == [snap.drift_window.max_ks]
