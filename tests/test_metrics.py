"""Tests for seqcast.forecast.metrics: price-unit errors, direction and the naive baseline."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from seqcast.errors import DataError
from seqcast.forecast.metrics import directional_accuracy, evaluate, mae, mape, rmse, verdict

# --- point metrics ------------------------------------------------------------


def test_point_metrics_hand_computed() -> None:
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    predicted = np.array([2.0, 2.0, 1.0, 4.0])
    # errors [1, 0, -2, 0]: squares sum 5 -> mean 1.25; |e| sum 3 -> 0.75
    assert rmse(actual, predicted) == pytest.approx(math.sqrt(1.25), rel=1e-15)
    assert mae(actual, predicted) == pytest.approx(0.75, rel=1e-15)
    # |e|/|a| = [1, 0, 2/3, 0] -> mean 5/12 -> 41.67 %
    assert mape(actual, predicted) == pytest.approx(100 * 5 / 12, rel=1e-14)


def test_mape_skips_zero_actuals() -> None:
    # only 2 and -4 count: 1/2 and 1/4 -> mean 0.375
    assert mape([0.0, 2.0, -4.0], [1.0, 1.0, -5.0]) == pytest.approx(37.5, rel=1e-15)
    assert math.isnan(mape([0.0, 0.0], [1.0, 2.0]))


def test_perfect_forecast_is_zero() -> None:
    x = [3.0, 1.0, 4.0]
    assert rmse(x, x) == 0.0
    assert mae(x, x) == 0.0
    assert mape(x, x) == 0.0


def test_directional_accuracy_hand_computed() -> None:
    previous = [10.0, 10.0, 10.0, 10.0, 10.0]
    actual = [11.0, 9.0, 10.0, 12.0, 8.0]  # moves + - 0 + -
    predicted = [12.0, 11.0, 13.0, 10.0, 7.0]  # moves + + + 0 -
    # day 3 is flat and skipped; hits on days 1 and 5, misses on 2 and 4
    assert directional_accuracy(previous, actual, predicted) == 0.5


def test_directional_accuracy_without_moves_is_nan() -> None:
    assert math.isnan(directional_accuracy([1.0, 2.0], [1.0, 2.0], [3.0, 0.0]))


@pytest.mark.parametrize("func", [rmse, mae, mape])
def test_point_metrics_reject_bad_input(func: Callable[[object, object], float]) -> None:
    with pytest.raises(DataError):
        func([1.0, 2.0], [1.0])
    with pytest.raises(DataError):
        func([], [])
    with pytest.raises(DataError):
        func([1.0, math.nan], [1.0, 2.0])
    with pytest.raises(DataError):
        func(np.ones((2, 2)), np.ones((2, 2)))


def test_directional_accuracy_rejects_mismatched_lengths() -> None:
    with pytest.raises(DataError):
        directional_accuracy([1.0, 2.0], [1.0, 2.0], [1.0])


# --- evaluate -----------------------------------------------------------------


def test_evaluate_hand_computed() -> None:
    previous = [10.0, 11.0, 12.0, 11.0, 12.0]
    actual = [11.0, 12.0, 11.0, 12.0, 13.0]
    predicted = [10.5, 12.0, 11.5, 11.5, 12.5]
    result = evaluate(actual, predicted, previous)
    # model errors [-.5, 0, .5, -.5, -.5]; naive errors [-1, -1, 1, -1, -1]
    assert result["n"] == 5
    assert result["rmse"] == pytest.approx(math.sqrt(0.2), rel=1e-12)
    assert result["mae"] == pytest.approx(0.4, rel=1e-12)
    assert result["mape"] == pytest.approx(100 * (0.5 / 11 * 2 + 0.5 / 12 + 0.5 / 13) / 5)
    assert result["naive_rmse"] == 1.0
    assert result["naive_mae"] == 1.0
    assert result["naive_mape"] == pytest.approx(100 * (2 / 11 + 2 / 12 + 1 / 13) / 5)
    assert result["rmse_ratio"] == pytest.approx(math.sqrt(0.2), rel=1e-12)
    assert result["mae_ratio"] == pytest.approx(0.4, rel=1e-12)
    # all 5 directions right: p = 2 / 2^5
    assert result["directional_accuracy"] == 1.0
    assert result["da_pvalue"] == pytest.approx(0.0625, rel=1e-12)
    # see test_stats.test_dm_hand_computed for the arithmetic
    assert result["dm_stat"] == pytest.approx(-16.0, rel=1e-12)
    assert result["dm_pvalue"] == pytest.approx(8.92165423810608662e-05, rel=1e-9)
    assert result["lag_ratio"] == pytest.approx(math.sqrt(2.0), rel=1e-12)
    assert result["lag_detected"] is False


def test_evaluate_is_json_serialisable_with_plain_types() -> None:
    rng = np.random.default_rng(0)
    path = 100 + np.cumsum(rng.normal(0, 1, 51))
    result = evaluate(path[1:], path[1:] + rng.normal(0, 0.5, 50), path[:-1])
    json.dumps(result)
    assert set(result) == {
        "n", "rmse", "mae", "mape", "mase", "directional_accuracy", "naive_rmse", "naive_mae",
        "naive_mape", "naive_mase", "rmse_ratio", "mae_ratio", "da_pvalue", "dm_stat", "dm_pvalue",
        "majority_direction_accuracy", "pt_stat", "pt_pvalue", "lag_ratio", "lag_spread", "lag_detected",
    }  # fmt: skip
    assert type(result["n"]) is int
    assert type(result["lag_detected"]) is bool
    for key, value in result.items():
        if key not in {"n", "lag_detected"}:
            assert type(value) is float, key


def test_evaluate_naive_forecast_itself() -> None:
    previous = [5.0, 6.0, 7.0, 6.0]
    actual = [6.0, 7.0, 6.0, 8.0]
    result = evaluate(actual, previous, previous)
    assert result["rmse_ratio"] == 1.0
    assert result["mae_ratio"] == 1.0
    # zero predicted move is never a correct direction
    assert result["directional_accuracy"] == 0.0
    # identical loss -> Diebold-Mariano undefined
    assert math.isnan(result["dm_stat"])
    assert math.isnan(result["dm_pvalue"])
    assert result["lag_detected"] is True


def test_evaluate_constant_series_naive_is_exact_and_the_model_worse() -> None:
    flat = [4.0, 4.0, 4.0]
    result = evaluate(flat, [4.5, 3.5, 4.0], flat)
    assert result["naive_rmse"] == 0.0
    assert math.isnan(result["rmse_ratio"])
    assert math.isnan(result["mae_ratio"])
    assert math.isnan(result["directional_accuracy"])
    assert math.isnan(result["da_pvalue"])
    assert verdict(result["rmse_ratio"], result["dm_pvalue"], rmse=result["rmse"], naive_rmse=result["naive_rmse"]) \
        == "worse than naive (naive is exact here: its RMSE is 0; no test needed)"


def test_pegged_series_has_no_diebold_mariano_p_and_no_lag_flag() -> None:
    # A pegged rate (e.g. EUR/BGN): naive is exact, the model misses by a little every day.
    rng = np.random.default_rng(3)
    peg = np.full(200, 1.95583)
    predicted = peg + rng.normal(0.0, 0.01, 200)
    result = evaluate(peg, predicted, peg)
    assert result["naive_rmse"] == 0.0 and result["rmse"] == pytest.approx(0.01, rel=0.2)
    # Against a zero loss, "equal accuracy" is not a hypothesis: no statistic, no p-value.
    assert math.isnan(result["dm_stat"]) and math.isnan(result["dm_pvalue"])
    assert result["lag_detected"] is False  # nothing moved: no lag to see
    words = verdict(result["rmse_ratio"], result["dm_pvalue"], rmse=result["rmse"], naive_rmse=result["naive_rmse"])
    assert words.startswith("worse than naive (naive is exact") and "p =" not in words
    # The naive forecast itself on the peg: exact too.
    same = evaluate(peg, peg, peg)
    assert verdict(same["rmse_ratio"], same["dm_pvalue"], rmse=same["rmse"], naive_rmse=same["naive_rmse"]) \
        == "same as naive (both exact)"


def test_evaluate_rejects_mismatched_lengths() -> None:
    with pytest.raises(DataError):
        evaluate([1.0, 2.0], [1.0, 2.0], [1.0])


# --- verdict ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "pvalue", "expected"),
    [
        (0.969, 0.001, "beats naive by 3.1 % (p = 0.001)"),
        (1.12, 2e-5, "worse than naive by 12.0 % (p = 2.0e-05)"),
        (1.0, 0.3, "same as naive"),
        (1.0004, 0.01, "same as naive"),
        (0.9996, math.nan, "same as naive"),
        (0.999, 0.0499, "beats naive by 0.1 % (p = 0.0499)"),
        (0.999, 0.0501, "no significant difference (0.1 % lower RMSE, p = 0.0501)"),
        (1.003, 0.0499, "worse than naive by 0.3 % (p = 0.0499)"),
        (1.003, 0.0501, "no significant difference (0.3 % higher RMSE, p = 0.0501)"),
        (0.997, 0.84, "no significant difference (0.3 % lower RMSE, p = 0.84)"),
        (0.95, math.nan, "no significant difference (5.0 % lower RMSE, p = n/a)"),
        (0.95, None, "no significant difference (5.0 % lower RMSE, p = n/a)"),
        (2.0, 0.2, "no significant difference (100.0 % higher RMSE, p = 0.2)"),
        (math.nan, 0.01, "not comparable with naive (naive's RMSE is 0)"),
    ],
)
def test_verdict_follows_the_diebold_mariano_test(ratio: float, pvalue: float | None, expected: str) -> None:
    assert verdict(ratio, pvalue) == expected


def test_p_text_never_rounds_onto_the_threshold() -> None:
    from seqcast.forecast.metrics import p_text

    assert p_text(0.04996) == "0.04996"
    assert p_text(0.050004) == "0.050004"
    assert p_text(0.84) == "0.84"
    assert p_text(None) == "n/a"
    assert p_text(0.0) == "<1e-300"  # an underflowed p-value is not shown as "0.0e+00"


def test_interval_comparison_on_a_series_that_never_moves_has_no_test() -> None:
    from seqcast.forecast.metrics import compare_intervals

    peg = np.full(50, 1.95583)
    rng = np.random.default_rng(1)
    upper, ref_upper = peg + 0.01 + rng.uniform(0, 1e-3, 50), peg + 5 + rng.uniform(0, 1, 50)
    out = compare_intervals(peg, peg - 0.01, upper, peg - 5, ref_upper, 0.9)
    assert out["garch_interval_coverage"] == 1.0 and out["interval_score_ratio"] < 0.01
    assert math.isnan(out["interval_score_dm_pvalue"])
    # The same bands around a series that moves a little: a test, and a clear one.
    moving = compare_intervals(peg + np.arange(50) * 1e-4, peg - 0.01, upper, peg - 5, ref_upper, 0.9)
    assert moving["interval_score_dm_pvalue"] < 1e-6


# --- properties -----------------------------------------------------------------

_prices = st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(data=st.data(), actual=_prices)
def test_rmse_at_least_mae_at_least_zero(data: st.DataObject, actual: list[float]) -> None:
    predicted = data.draw(st.lists(st.floats(-1e6, 1e6), min_size=len(actual), max_size=len(actual)))
    r, m = rmse(actual, predicted), mae(actual, predicted)
    assert m >= 0.0
    # equal errors make rmse == mae up to rounding
    assert r >= m * (1 - 1e-12)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(data=st.data(), actual=_prices)
def test_naive_forecast_ratio_is_exactly_one(data: st.DataObject, actual: list[float]) -> None:
    previous = data.draw(st.lists(st.floats(-1e6, 1e6), min_size=len(actual), max_size=len(actual)))
    assume(any(a != p for a, p in zip(actual, previous, strict=True)))
    result = evaluate(actual, previous, previous)
    assert result["rmse_ratio"] == 1.0
    assert 0.0 <= result["da_pvalue"] <= 1.0
    assert verdict(result["rmse_ratio"]) == "same as naive"
