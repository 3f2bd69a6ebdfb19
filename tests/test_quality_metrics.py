"""Quality metrics: equal to sklearn.metrics; sufficient statistics merge to the batch."""

from __future__ import annotations

import itertools
import math
import pickle
import random
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from aimon.errors import AimonError
from aimon.quality import (
    METRIC_NAMES,
    QualityError,
    QualityMetrics,
    QualityStats,
    infer_task,
    quality_metrics,
)

REL = 1e-12


def close(ours: float | None, theirs: float, rel: float = REL) -> bool:
    return ours is not None and math.isclose(ours, theirs, rel_tol=rel, abs_tol=rel)


def oracle(fn: Any, *args: Any, **kwargs: Any) -> float:
    """sklearn's value, its warnings (the edge cases we define) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(*args, **kwargs))


def prf(y: list[Any], p: list[Any], **kwargs: Any) -> tuple[float, float, float]:
    """sklearn's precision, recall and F1 in one call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        precision, recall, f1, _ = skm.precision_recall_fscore_support(y, p, **kwargs)
    return float(precision), float(recall), float(f1)


def assert_label_metrics(m: QualityMetrics, y: list[Any], p: list[Any]) -> None:
    assert m.count == len(y)
    assert close(m.accuracy, oracle(skm.accuracy_score, y, p))
    ours = (m.precision_macro, m.recall_macro, m.f1_macro)
    theirs = prf(y, p, average="macro")
    assert all(close(a, b) for a, b in zip(ours, theirs, strict=True)), (ours, theirs)
    assert m.classes == len(set(y) | set(p))


def assert_binary_metrics(m: QualityMetrics, y: list[Any], p: list[Any], pos: Any) -> None:
    ours = (m.precision, m.recall, m.f1)
    theirs = prf(y, p, average="binary", pos_label=pos)
    assert all(close(a, b) for a, b in zip(ours, theirs, strict=True)), (ours, theirs)


# --------------------------------------------------------------------------- oracles


@st.composite
def binary_pairs(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    n = draw(st.integers(1, 80))
    rate_y = draw(st.sampled_from([0.0, 0.02, 0.2, 0.5, 0.9, 1.0]))
    rate_p = draw(st.sampled_from([0.0, 0.05, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate_y).astype(int).tolist()
    p = (rng.random(n) < rate_p).astype(int).tolist()
    return y, p


@given(binary_pairs())
@settings(max_examples=100, deadline=None)
def test_binary_labels_equal_sklearn(pairs: tuple[list[int], list[int]]) -> None:
    y, p = pairs
    m = quality_metrics(y, p)
    assert m.task == "classification"
    assert_label_metrics(m, y, p)
    assert_binary_metrics(m, y, p, 1)
    assert m.positive_label == 1


@given(
    st.lists(
        st.tuples(st.sampled_from("abcdef"), st.sampled_from("abcdefg")), min_size=1, max_size=80
    )
)
@settings(max_examples=100, deadline=None)
def test_multiclass_labels_equal_sklearn(pairs: list[tuple[str, str]]) -> None:
    y, p = [a for a, _ in pairs], [b for _, b in pairs]
    m = quality_metrics(y, p)
    assert m.task == "classification"
    assert_label_metrics(m, y, p)
    labels = set(y) | set(p)
    if len(labels) > 2:
        assert m.precision is m.recall is m.f1 is None  # sklearn: average="binary" raises
    positive = sorted(labels)[-1]
    m = quality_metrics(y, p, positive_label=positive)
    if len(labels) <= 2:
        assert_binary_metrics(m, y, p, positive)


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=60))
@settings(max_examples=100, deadline=None)
def test_integer_classes_equal_sklearn(pairs: list[tuple[int, int]]) -> None:
    y, p = [a for a, _ in pairs], [b for _, b in pairs]
    m = quality_metrics(np.array(y), np.array(p))
    assert m.task == "classification"
    assert_label_metrics(m, y, p)


@st.composite
def scored_pairs(draw: st.DrawFn) -> tuple[list[int], list[float]]:
    n = draw(st.integers(1, 80))
    rate = draw(st.sampled_from([0.0, 0.03, 0.3, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(int)
    style = draw(st.sampled_from(["continuous", "ties", "extreme", "separable"]))
    if style == "continuous":
        s = np.clip(rng.normal(0.3 + 0.4 * y, 0.25), 0.0, 1.0)
    elif style == "ties":
        s = rng.choice([0.0, 0.1, 0.5, 0.7, 1.0], n)
    elif style == "extreme":
        s = rng.choice([0.0, 1e-300, 1e-17, 1e-9, 1 - 1e-17, 1 - 1e-9, 1.0], n)
    else:
        s = np.where(y == 1, rng.uniform(0.6, 1.0, n), rng.uniform(0.0, 0.4, n))
    scores = s.tolist()
    assume(not all(float(v).is_integer() for v in scores))  # else they read as labels
    return y.tolist(), scores


@given(scored_pairs())
@settings(max_examples=120, deadline=None)
def test_scores_equal_sklearn(pairs: tuple[list[int], list[float]]) -> None:
    y, s = pairs
    m = quality_metrics(y, s)
    assert m.task == "binary_score"
    assert m.threshold == 0.5
    labels = [int(v >= 0.5) for v in s]
    assert_label_metrics(m, y, labels)
    assert_binary_metrics(m, y, labels, 1)
    assert close(m.log_loss, oracle(skm.log_loss, y, s, labels=[0, 1]))
    if len(set(y)) == 2:
        assert close(m.roc_auc, oracle(skm.roc_auc_score, y, s))
        assert m.roc_auc_error_bound == 0.0
    else:  # sklearn >= 1.6: NaN and a warning (before: ValueError)
        assert m.roc_auc is None and m.roc_auc_error_bound is None


@st.composite
def regression_pairs(draw: st.DrawFn) -> tuple[list[float], list[float]]:
    n = draw(st.integers(1, 80))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3, 1e6]))
    style = draw(st.sampled_from(["noisy", "zeros", "constant", "offset"]))
    y = rng.normal(0.0, scale, n)
    if style == "zeros":
        y[rng.random(n) < 0.3] = 0.0
    elif style == "constant":
        y[:] = rng.choice([0.0, 0.1, 3.0, -7.25])
    elif style == "offset":
        y += 10 * scale
    p = y + rng.normal(0.0, scale * draw(st.sampled_from([0.0, 0.1, 1.0])), n)
    return y.tolist(), p.tolist()


@given(regression_pairs())
@settings(max_examples=150, deadline=None)
def test_regression_equals_sklearn(pairs: tuple[list[float], list[float]]) -> None:
    y, p = pairs
    m = quality_metrics(y, p, task="regression")
    assert m.count == len(y)
    assert close(m.mae, oracle(skm.mean_absolute_error, y, p))
    assert close(m.rmse, oracle(skm.root_mean_squared_error, y, p))
    defined = [i for i, actual in enumerate(y) if actual != 0.0]  # MAPE leaves out zeros
    assert m.mape_excluded == len(y) - len(defined)
    if defined:
        y_d, p_d = [y[i] for i in defined], [p[i] for i in defined]
        assert close(m.mape, oracle(skm.mean_absolute_percentage_error, y_d, p_d))
    else:
        assert m.mape is None
    if len(y) < 2:
        assert m.r2 is None  # sklearn: NaN and a warning
    elif min(y) == max(y):
        assert m.r2 == (1.0 if y == p else 0.0)  # force_finite, without rounding residue
    else:
        assert close(m.r2, oracle(skm.r2_score, y, p), rel=1e-9)


# --------------------------------------------------------------------------- edge cases


def test_empty_input_has_no_metrics() -> None:
    m = quality_metrics([], [])
    assert (m.task, m.count, m.values()) == (None, 0, {})
    m = quality_metrics([], [], task="binary_score")
    assert (m.task, m.count, m.accuracy, m.roc_auc, m.log_loss) == ("binary_score", 0, *[None] * 3)
    assert QualityStats("regression").metrics().values() == {}


def test_missing_values_are_left_out_and_counted() -> None:
    y = [1, None, 0, 1, float("nan"), 0, 1]
    p = [0.9, 0.2, float("inf"), 0.4, 0.3, pd.NA, 0.7]
    m = quality_metrics(y, p)
    assert (m.task, m.count, m.missing) == ("binary_score", 3, 4)
    assert close(m.log_loss, skm.log_loss([1, 1, 1], [0.9, 0.4, 0.7], labels=[0, 1]))
    m = quality_metrics(["a", {"x": 1}, "b", ["list"]], ["a", "b", "b", "a"])
    assert (m.count, m.missing, m.accuracy) == (2, 2, 1.0)


def test_no_predicted_positives_gives_zero_precision_like_sklearn() -> None:
    y, p = [1, 1, 0, 0], [0, 0, 0, 0]
    m = quality_metrics(y, p)
    assert (m.precision, m.recall, m.f1) == (0.0, 0.0, 0.0)
    assert m.precision == oracle(skm.precision_score, y, p)
    assert m.precision_macro == oracle(skm.precision_score, y, p, average="macro") == 0.25


def test_single_class_actuals() -> None:
    y, s = [1, 1, 1], [0.9, 0.2, 0.6]
    m = quality_metrics(y, s)
    assert m.roc_auc is None
    assert close(m.log_loss, skm.log_loss(y, s, labels=[0, 1]))
    assert (m.accuracy, m.recall, m.precision) == (2 / 3, 2 / 3, 1.0)
    m = quality_metrics([0, 0, 0], [0, 0, 0])
    assert (m.accuracy, m.precision, m.recall, m.f1, m.f1_macro) == (1.0, 0.0, 0.0, 0.0, 1.0)
    assert m.f1 == oracle(skm.f1_score, [0, 0, 0], [0, 0, 0])
    m = quality_metrics(["a", "a"], ["a", "a"])  # the positive label 1 never occurs
    assert (m.positive_label, m.f1) == (1, 0.0) == (1, oracle(skm.f1_score, ["a"], ["a"]))


def test_two_labels_without_the_positive_one_have_no_binary_metrics() -> None:
    with pytest.raises(ValueError, match="pos_label"):
        skm.f1_score([0, 2], [0, 2])
    m = quality_metrics([0, 2, 2], [0, 2, 0])
    assert (m.precision, m.recall, m.f1) == (None, None, None)
    assert m.accuracy == 2 / 3
    m = quality_metrics([0, 2, 2], [0, 2, 0], positive_label=2)
    assert_binary_metrics(m, [0, 2, 2], [0, 2, 0], 2)


def test_log_loss_clips_like_sklearn() -> None:
    y, s = [1, 0, 1, 0, 1], [0.0, 1.0, 1.0, 0.0, 1e-20]
    m = quality_metrics(y, s, task="binary_score")
    assert close(m.log_loss, skm.log_loss(y, s))
    eps = np.finfo(np.float64).eps
    assert close(m.log_loss, (-2 * math.log(eps) - 2 * math.log(1 - eps) - math.log(eps)) / 5)


def test_roc_auc_ties_count_one_half() -> None:
    y, s = [0, 1, 0, 1, 1], [0.5, 0.5, 0.2, 0.9, 0.2]
    m = quality_metrics(y, s)
    assert close(m.roc_auc, skm.roc_auc_score(y, s))
    assert close(m.roc_auc, (0.5 + 1 + 1 + 1 + 0 + 0.5) / 6)


def test_r2_edge_cases() -> None:
    assert quality_metrics([3.5], [2.5]).r2 is None
    assert quality_metrics([3.0, 3.0, 3.0], [3.0, 3.0, 3.0], task="regression").r2 == 1.0
    assert skm.r2_score([3.0] * 3, [3.0, 4.0, 3.0]) == 0.0
    assert quality_metrics([3.0] * 3, [3.0, 4.0, 3.0], task="regression").r2 == 0.0
    # sklearn divides by the rounding residue of a two-pass variance here; we do not.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert skm.r2_score([0.1] * 3, [0.1, 0.2, 0.1]) < -1e30
    assert quality_metrics([0.1] * 3, [0.1, 0.2, 0.1], task="regression").r2 == 0.0


def test_mape_leaves_out_zero_actuals_on_real_data() -> None:
    """Issue 14: a zero target made MAPE ~1e15 (scikit-learn's eps in the denominator).
    On the diabetes data with some targets set to 0, MAPE is over the other pairs and the
    zeros are counted in ``mape_excluded``; the batch and the merged statistics agree."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    x, y = load_diabetes(return_X_y=True)
    predicted = LinearRegression().fit(x, y).predict(x)
    actual = y.copy()
    actual[::25] = 0.0  # outcomes recorded as 0: a refund, a sensor reading nothing
    zeros = actual == 0.0
    m = quality_metrics(actual, predicted, task="regression")
    assert m.mape_excluded == int(zeros.sum()) == 18
    want = skm.mean_absolute_percentage_error(actual[~zeros], predicted[~zeros])
    assert close(m.mape, want)
    assert m.values()["mape"] < 1.0  # about 0.39, not 2.6e15
    assert close(m.mae, skm.mean_absolute_error(actual, predicted))  # zeros still count here
    stats = QualityStats("regression")
    for part in np.array_split(np.arange(actual.size), 7):
        stats.add(actual[part], predicted[part])
    assert_same_metrics(stats.metrics(), m, rel=1e-9)
    assert stats.metrics().mape_excluded == m.mape_excluded


def test_mape_is_none_when_every_actual_is_zero() -> None:
    m = quality_metrics([0.0, 0.0], [1.0, 0.0], task="regression")
    assert (m.mape, m.mape_excluded, m.mae) == (None, 2, 0.5)
    assert "mape" not in m.values()


def test_bool_and_string_actuals() -> None:
    y, s = [True, False, True, False], [0.8, 0.3, 0.45, 0.6]
    m = quality_metrics(y, s)
    assert m.task == "binary_score"
    assert close(m.roc_auc, skm.roc_auc_score(y, s))
    y_s = ["fraud", "ok", "fraud", "ok"]
    with pytest.raises(QualityError, match="positive_label"):
        quality_metrics(y_s, s)
    m2 = quality_metrics(y_s, s, positive_label="fraud")
    assert (m2.roc_auc, m2.log_loss, m2.accuracy) == (m.roc_auc, m.log_loss, m.accuracy)
    assert m2.positive_label == "fraud"
    m = quality_metrics([False, False, True], [0, 0, 1])  # True and 1 are the same class
    assert (m.task, m.accuracy, m.classes, m.f1) == ("classification", 1.0, 2, 1.0)


def test_inputs_of_any_sequence_type() -> None:
    y = [0, 1, 2, 1, 0, 2]
    p = [0, 2, 2, 1, 0, 1]
    want = quality_metrics(y, p)
    for yy, pp in (
        (np.array(y), np.array(p)),
        (pd.Series(y), pd.Series(p)),
        (pd.Series(y, dtype="Int64"), np.array(p, dtype=np.int8)),
        (tuple(float(v) for v in y), p),
        (np.array(y, dtype=object), [np.int64(v) for v in p]),
    ):
        assert quality_metrics(yy, pp) == want
    strings = quality_metrics([str(v) for v in y], pd.Series([str(v) for v in p], dtype="str"))
    assert strings.f1_macro == want.f1_macro
    mixed = quality_metrics(["a", 1, "a", 2], ["a", "1", "b", 2])  # "1" is not 1
    assert (mixed.accuracy, mixed.classes) == (0.5, 5)


@pytest.mark.parametrize(
    ("actual", "predicted", "kind"),
    [
        ([0, 1, 1], [0.2, 0.7, 0.5], "binary_score"),
        ([True, False], [0.2, 0.7], "binary_score"),
        (["yes", "no"], [0.2, 0.7], "binary_score"),
        ([0.0, 1.0, 1.0], [0.2, 0.7, 0.5], "binary_score"),
        ([0, 1, 2], [0.2, 0.7, 0.5], "regression"),
        ([0, 1, 1], [0.0, 1.0, 1.0], "classification"),
        ([0, 1, 1], [0.2, 1.7, 0.5], "regression"),
        (["a", "b"], ["a", "c"], "classification"),
        ([True, False], [True, True], "classification"),
        ([1, 2, 3], [1, 3, 3], "classification"),
        (list(range(11)), list(range(11)), "regression"),
        ([1.5, 2.0], [1.0, 2.0], "regression"),
        ([None, float("nan")], [1.0, 2.0], None),
    ],
)
def test_infer_task(actual: list[Any], predicted: list[Any], kind: str | None) -> None:
    assert infer_task(actual, predicted) == kind


def test_errors_say_what_to_do() -> None:
    assert issubclass(QualityError, AimonError) and issubclass(QualityError, ValueError)
    with pytest.raises(QualityError, match="pass task="):
        infer_task(["a", "b", "c"], [0.2, 0.5, 0.9])
    with pytest.raises(QualityError, match=r"\[0, 1\]"):
        quality_metrics([0, 1], [0.5, 1.5], task="binary_score")
    with pytest.raises(QualityError, match="labels"):
        quality_metrics(["a", "b"], [1.0, 2.0], task="regression")
    with pytest.raises(QualityError, match="0/1"):
        quality_metrics([0, 2], [0.5, 0.2], task="binary_score")
    with pytest.raises(QualityError, match="length"):
        quality_metrics([0, 1], [0])
    with pytest.raises(QualityError, match="one-dimensional"):
        quality_metrics(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(QualityError, match="unknown task"):
        QualityStats("ranking")  # type: ignore[arg-type]
    with pytest.raises(QualityError, match="pass task="):
        QualityStats.from_pairs([None], [None])


def test_threshold_decides_the_label() -> None:
    y, s = [1, 0, 1, 0], [0.3, 0.3, 0.8, 0.1]
    assert quality_metrics(y, s).recall == 0.5
    assert quality_metrics(y, s, threshold=0.3).recall == 1.0  # at the threshold: positive
    assert quality_metrics(y, s, threshold=0.3).threshold == 0.3


def test_result_is_json_ready() -> None:
    m = quality_metrics([0, 1, 1, 0], [0.1, 0.9, 0.4, 0.2])
    again = QualityMetrics.model_validate_json(m.model_dump_json())
    assert again == m
    assert list(m.values()) == [n for n in METRIC_NAMES if getattr(m, n) is not None]
    assert "mae" not in m.values() and "roc_auc" in m.values()
    with pytest.raises(ValueError, match="frozen"):
        m.accuracy = 1.0  # type: ignore[misc]


# --------------------------------------------------------------------------- streaming


def split_merge(
    y: list[Any], p: list[Any], seed: int, **kwargs: Any
) -> tuple[QualityStats, QualityStats]:
    """The pairs' statistics in one batch, and merged from random slices in random order
    (each merge into a random partial result, so both associativity and commutativity
    are exercised)."""
    rng = random.Random(seed)
    batch = QualityStats.from_pairs(y, p, **kwargs)
    task = batch.task
    bounds = sorted(rng.sample(range(1, len(y)), min(len(y) - 1, rng.randint(0, 6))))
    cuts = [0, *bounds, len(y)]
    parts = []
    for lo, hi in itertools.pairwise(cuts):
        part = QualityStats(task, **{k: v for k, v in kwargs.items() if k != "task"})
        part.add(y[lo:hi], p[lo:hi])
        parts.append(part)
    rng.shuffle(parts)
    while len(parts) > 1:
        i, j = rng.sample(range(len(parts)), 2)
        parts[i].merge(parts[j])
        parts.pop(j)
    return batch, parts[0]


def assert_same_metrics(ours: QualityMetrics, want: QualityMetrics, rel: float = REL) -> None:
    assert (ours.task, ours.count, ours.missing, ours.classes) == (
        want.task,
        want.count,
        want.missing,
        want.classes,
    )
    assert ours.positive_label == want.positive_label
    for name in METRIC_NAMES:
        a, b = getattr(ours, name), getattr(want, name)
        if name == "roc_auc":
            continue
        assert (a is None) == (b is None), name
        if a is not None:
            assert math.isclose(a, b, rel_tol=rel, abs_tol=rel), (name, a, b)


@given(binary_pairs(), st.integers(0, 10**6))
@settings(max_examples=80, deadline=None)
def test_merged_label_stats_equal_batch(pairs: tuple[list[int], list[int]], seed: int) -> None:
    y, p = pairs
    batch, merged = split_merge(y, p, seed)
    assert_same_metrics(merged.metrics(), quality_metrics(y, p))
    assert merged.metrics() == batch.metrics()  # integer counts: exactly equal


@given(
    st.lists(st.tuples(st.sampled_from("abcde"), st.sampled_from("abcdef")), min_size=1),
    st.integers(0, 10**6),
)
@settings(max_examples=80, deadline=None)
def test_merged_multiclass_stats_equal_batch(pairs: list[tuple[str, str]], seed: int) -> None:
    y, p = [a for a, _ in pairs], [b for _, b in pairs]
    _, merged = split_merge(y, p, seed)
    assert_same_metrics(merged.metrics(), quality_metrics(y, p))


@given(scored_pairs(), st.integers(0, 10**6))
@settings(max_examples=80, deadline=None)
def test_merged_score_stats_equal_batch(pairs: tuple[list[int], list[float]], seed: int) -> None:
    y, s = pairs
    batch, merged = split_merge(y, s, seed)
    got, want = merged.metrics(), quality_metrics(y, s)
    assert_same_metrics(got, want, rel=1e-12)
    # Histogram counts are integers: the merged AUC is the batch's binned AUC exactly,
    assert (got.roc_auc, got.roc_auc_error_bound) == (
        batch.metrics().roc_auc,
        batch.metrics().roc_auc_error_bound,
    )
    # and within its stated bound of the exact AUC.
    if want.roc_auc is None:
        assert got.roc_auc is None
    else:
        assert got.roc_auc is not None and got.roc_auc_error_bound is not None
        assert abs(got.roc_auc - want.roc_auc) <= got.roc_auc_error_bound + 1e-12


@given(regression_pairs(), st.integers(0, 10**6))
@settings(max_examples=100, deadline=None)
def test_merged_regression_stats_equal_batch(
    pairs: tuple[list[float], list[float]], seed: int
) -> None:
    y, p = pairs
    _, merged = split_merge(y, p, seed, task="regression")
    got, want = merged.metrics(), quality_metrics(y, p, task="regression")
    assert_same_metrics(got, want, rel=1e-9)  # Chan's merge rounds differently from two-pass


@pytest.mark.parametrize("seed", range(5))
def test_binned_auc_is_close_on_realistic_scores(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 20_000
    y = (rng.random(n) < 0.05).astype(int)  # imbalanced, as fraud
    logits = rng.normal(-4.0 + 2.5 * y, 1.5)
    s = 1 / (1 + np.exp(-logits))
    stats = QualityStats.from_pairs(y, s)
    got = stats.metrics()
    exact = skm.roc_auc_score(y, s)
    assert got.roc_auc is not None and got.roc_auc_error_bound is not None
    assert abs(got.roc_auc - exact) <= got.roc_auc_error_bound
    assert got.roc_auc_error_bound < 2e-3
    assert abs(got.roc_auc - exact) < 2e-4  # in practice the errors cancel


def test_binned_auc_bound_holds_when_every_score_shares_a_bin() -> None:
    y = [0, 1, 0, 1]
    s = [0.6, 0.6 + 1e-6, 0.6 - 1e-6, 0.6 + 2e-6]  # exactly separable, one bin
    got = QualityStats.from_pairs(y, s).metrics()
    assert (got.roc_auc, got.roc_auc_error_bound) == (0.5, 0.5)
    assert quality_metrics(y, s).roc_auc == 1.0


def test_stats_pickle_and_copy() -> None:
    stats = QualityStats.from_pairs(["a", "b", "c"], ["a", "c", "c"])
    clone = pickle.loads(pickle.dumps(stats))
    copy = stats.copy()
    stats.add(["a"], ["b"])
    assert clone.metrics() == copy.metrics() == quality_metrics(["a", "b", "c"], ["a", "c", "c"])
    assert stats.count == 4
    clone.add(["a"], ["b"])
    assert clone.metrics() == stats.metrics()


def test_labels_beyond_max_classes_are_excluded_and_counted() -> None:
    stats = QualityStats("classification", max_classes=3)
    stats.add(["a", "b", "c", "d", "a"], ["a", "b", "x", "a", "a"])
    m = stats.metrics()
    assert (m.count, m.excluded) == (3, 2)
    other = QualityStats("classification", max_classes=3)
    other.add(["z", "a"], ["z", "b"])
    stats.merge(other)
    assert (stats.count, stats.excluded) == (4, 3)
    assert stats.metrics().accuracy == 0.75


def test_merge_refuses_different_settings() -> None:
    with pytest.raises(QualityError, match="cannot merge"):
        QualityStats("binary_score").merge(QualityStats("binary_score", threshold=0.7))
    with pytest.raises(QualityError, match="cannot merge"):
        QualityStats("binary_score").merge(QualityStats("binary_score", score_bins=16))
    with pytest.raises(QualityError, match="cannot merge"):
        QualityStats("regression").merge(QualityStats("classification"))


def test_add_counts_missing_and_refuses_wrong_values() -> None:
    stats = QualityStats("regression")
    stats.add([1.0, None, 3.0], [1.5, 2.0, float("nan")])
    assert (stats.count, stats.missing) == (1, 2)
    with pytest.raises(QualityError):
        stats.add(["a"], [1.0])
    assert (stats.count, stats.missing) == (1, 2)  # nothing counted on error
