"""Tests for seqcast.forecast.stats: special functions, tests and conformal intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqcast.errors import ConfigError, DataError
from seqcast.forecast.stats import (
    LAG_SPREAD_MAX,
    as_float_arrays,
    betainc,
    binomial_test,
    conformal_quantile,
    diebold_mariano,
    interval_coverage,
    lag_diagnosis,
    normal_cdf,
    rms,
    student_t_cdf,
)

# --- normal_cdf -------------------------------------------------------------


def test_normal_cdf_known_values() -> None:
    assert normal_cdf(0.0) == 0.5
    # References from mpmath.ncdf at 30 digits.
    assert normal_cdf(-1.0) == pytest.approx(0.158655253931457051, rel=1e-14)
    assert normal_cdf(2.5) == pytest.approx(0.993790334674223865, rel=1e-14)
    assert normal_cdf(1.959963984540054) == pytest.approx(0.975, rel=1e-14)


def test_normal_cdf_deep_tail_keeps_relative_precision() -> None:
    # 0.5 * (1 + erf(-10)) would be exactly 0.0 here.
    assert normal_cdf(-10.0) == pytest.approx(7.6198530241605260e-24, rel=1e-12)


# --- betainc ----------------------------------------------------------------


@pytest.mark.parametrize("x", [0.0, 0.1, 0.37, 0.5, 0.9, 1.0])
def test_betainc_closed_forms(x: float) -> None:
    assert betainc(1.0, 1.0, x) == pytest.approx(x, abs=1e-14)
    assert betainc(3.0, 1.0, x) == pytest.approx(x**3, abs=1e-14)
    assert betainc(1.0, 4.0, x) == pytest.approx(1 - (1 - x) ** 4, abs=1e-14)
    # Arcsine distribution: I_x(1/2, 1/2) = 2/pi * asin(sqrt(x)).
    expected = 2 / math.pi * math.asin(math.sqrt(x))
    assert betainc(0.5, 0.5, x) == pytest.approx(expected, abs=1e-13)


@pytest.mark.parametrize(
    ("a", "b", "x", "expected"),
    [
        # References from mpmath.betainc(..., regularized=True) at 30 digits.
        (2.5, 3.5, 0.3, 0.296752989295666378),
        (10.0, 20.0, 0.4, 0.785318389762826178),
        (0.2, 7.0, 0.05, 0.831897545006878227),
    ],
)
def test_betainc_reference_values(a: float, b: float, x: float, expected: float) -> None:
    assert betainc(a, b, x) == pytest.approx(expected, rel=1e-12)


def test_betainc_symmetric_case_is_one_half() -> None:
    assert betainc(7.3, 7.3, 0.5) == pytest.approx(0.5, abs=1e-14)


@pytest.mark.parametrize(("a", "b", "x"), [(0.0, 1.0, 0.5), (1.0, -1.0, 0.5), (1.0, 1.0, 1.5)])
def test_betainc_rejects_bad_parameters(a: float, b: float, x: float) -> None:
    with pytest.raises(ConfigError):
        betainc(a, b, x)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(
    a=st.floats(0.05, 500.0),
    b=st.floats(0.05, 500.0),
    x=st.floats(0.0, 1.0),
)
def test_betainc_reflection_and_range(a: float, b: float, x: float) -> None:
    # Round x so that 1 - x is exact (Sterbenz); otherwise the test would
    # measure the rounding of 1 - x, not betainc.
    y = 1.0 - x
    x = 1.0 - y
    value = betainc(a, b, x)
    assert 0.0 <= value <= 1.0 + 1e-15
    assert value + betainc(b, a, y) == pytest.approx(1.0, abs=1e-10)


# --- student_t_cdf ----------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "df", "expected"),
    [
        # References from mpmath (incomplete beta at 30 digits).
        (2.0, 10, 0.963305982614629817),
        (-1.5, 5, 0.0969518401212367161),
        (0.7, 3.5, 0.736182928827160546),
        (0.0, 3, 0.5),
    ],
)
def test_student_t_reference_values(x: float, df: float, expected: float) -> None:
    assert student_t_cdf(x, df) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("x", [-25.0, -3.0, -0.4, 0.0, 1.0, 7.5])
def test_student_t_closed_forms(x: float) -> None:
    # df = 1 is Cauchy; df = 2 has the closed form 1/2 + x / (2 sqrt(2 + x^2)).
    assert student_t_cdf(x, 1) == pytest.approx(0.5 + math.atan(x) / math.pi, abs=1e-14)
    assert student_t_cdf(x, 2) == pytest.approx(0.5 + x / (2 * math.sqrt(2 + x * x)), abs=1e-14)


def test_student_t_tends_to_normal() -> None:
    assert student_t_cdf(1.96, 1e6) == pytest.approx(normal_cdf(1.96), abs=1e-6)


def test_student_t_edges() -> None:
    assert student_t_cdf(math.inf, 4) == 1.0
    assert student_t_cdf(-math.inf, 4) == 0.0
    assert math.isnan(student_t_cdf(math.nan, 4))
    with pytest.raises(ConfigError):
        student_t_cdf(1.0, 0)


# --- binomial_test ----------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "p", "expected"),
    [
        # 2 * (C(10,9) + C(10,10)) / 2^10 = 2 * 11 / 1024
        (9, 10, 0.5, 0.021484375),
        # k at the mode: every outcome counts
        (5, 10, 0.5, 1.0),
        # n=3: outcomes 0 and 3 each 1/8
        (0, 3, 0.5, 0.25),
        # n=4: pmf 1,4,6,4,1 /16; all but the mode are <= 4/16 -> 10/16
        (1, 4, 0.5, 0.625),
        # n=2, p=1/4: pmf 9/16, 6/16, 1/16
        (2, 2, 0.25, 1 / 16),
        (1, 2, 0.25, 7 / 16),
        # scipy.stats.binomtest references
        (60, 100, 0.5, 0.05688793364098089),
        (7, 20, 0.6, 0.036990090267779406),
    ],
)
def test_binomial_test_known_values(k: int, n: int, p: float, expected: float) -> None:
    assert binomial_test(k, n, p) == pytest.approx(expected, rel=1e-9)


def test_binomial_test_large_n() -> None:
    assert binomial_test(50_000, 100_000) == 1.0
    # scipy.stats.binomtest(51000, 100000).pvalue
    assert binomial_test(51_000, 100_000) == pytest.approx(2.5887160383468943e-10, rel=1e-6)


def test_binomial_test_edges_and_errors() -> None:
    assert math.isnan(binomial_test(0, 0))
    with pytest.raises(DataError):
        binomial_test(11, 10)
    with pytest.raises(DataError):
        binomial_test(-1, 10)
    with pytest.raises(DataError):
        binomial_test(2.5, 10)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        binomial_test(3, 10, p=1.0)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(data=st.data(), n=st.integers(1, 300), p=st.floats(0.01, 0.99))
def test_binomial_test_is_a_probability(data: st.DataObject, n: int, p: float) -> None:
    k = data.draw(st.integers(0, n))
    value = binomial_test(k, n, p)
    assert 0.0 <= value <= 1.0
    # For p = 1/2 the test is symmetric in k <-> n - k.
    assert binomial_test(k, n) == pytest.approx(binomial_test(n - k, n), rel=1e-9)


# --- diebold_mariano --------------------------------------------------------


def _dm_reference_h1(e_model: np.ndarray, e_bench: np.ndarray) -> float:
    """Textbook DM for h=1: mean(d) / sqrt(var(d)/n), times the HLN factor."""
    d = e_model**2 - e_bench**2
    n = len(d)
    dm = d.mean() / math.sqrt(d.var(ddof=0) / n)
    return dm * math.sqrt((n + 1 - 2 + 0) / n)


def test_dm_hand_computed() -> None:
    # d = [0.25-1, 0-1, 0.25-1, 0.25-1, 0.25-1] = [-.75, -1, -.75, -.75, -.75]
    # mean -0.8, var 0.01, DM = -0.8 / sqrt(0.002) = -17.889, HLN sqrt(0.8) -> -16
    e_model = np.array([-0.5, 0.0, 0.5, -0.5, -0.5])
    e_bench = np.array([-1.0, -1.0, 1.0, -1.0, -1.0])
    stat, pvalue = diebold_mariano(e_model, e_bench)
    assert stat == pytest.approx(-16.0, rel=1e-12)
    # 2 * P(T_4 < -16), mpmath reference
    assert pvalue == pytest.approx(8.92165423810608662e-05, rel=1e-9)


def test_dm_matches_independent_formula() -> None:
    rng = np.random.default_rng(7)
    e_model = rng.normal(0, 1.0, 60)
    e_bench = rng.normal(0, 1.1, 60)
    stat, pvalue = diebold_mariano(e_model, e_bench)
    expected = _dm_reference_h1(e_model, e_bench)
    assert stat == pytest.approx(expected, rel=1e-12)
    assert pvalue == pytest.approx(2 * student_t_cdf(-abs(expected), 59), rel=1e-12)


def test_dm_multi_step_uses_autocovariance() -> None:
    rng = np.random.default_rng(3)
    e_model = rng.normal(0, 1.0, 40)
    e_bench = rng.normal(0, 1.2, 40)
    d = e_model**2 - e_bench**2
    n, h = 40, 3
    c = d - d.mean()
    # Loop-based long-run variance with lags 0..h-1.
    lrv = sum(c[t] * c[t] for t in range(n)) / n
    for lag in (1, 2):
        lrv += 2 * sum(c[t] * c[t - lag] for t in range(lag, n)) / n
    expected = d.mean() / math.sqrt(lrv / n) * math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    stat, _ = diebold_mariano(e_model, e_bench, h=h)
    assert stat == pytest.approx(expected, rel=1e-12)


def test_dm_identical_errors_is_nan() -> None:
    e = np.array([0.3, -1.0, 2.0, 0.5])
    stat, pvalue = diebold_mariano(e, e)
    assert math.isnan(stat) and math.isnan(pvalue)


def test_dm_too_short_is_nan() -> None:
    stat, pvalue = diebold_mariano([1.0, 2.0], [2.0, 1.0])
    assert math.isnan(stat) and math.isnan(pvalue)


def test_dm_clearly_better_model() -> None:
    rng = np.random.default_rng(11)
    e_model = rng.normal(0, 0.5, 300)
    e_bench = rng.normal(0, 2.0, 300)
    stat, pvalue = diebold_mariano(e_model, e_bench)
    assert stat < -8
    assert pvalue < 1e-10
    # Swapping the roles flips the sign and keeps the p-value.
    stat_swapped, pvalue_swapped = diebold_mariano(e_bench, e_model)
    assert stat_swapped == pytest.approx(-stat, rel=1e-12)
    assert pvalue_swapped == pytest.approx(pvalue, rel=1e-9)


def test_dm_errors() -> None:
    with pytest.raises(ConfigError):
        diebold_mariano([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], h=0)
    with pytest.raises(DataError):
        diebold_mariano([1.0, 2.0, 3.0], [1.0, 2.0])


# --- lag_diagnosis ----------------------------------------------------------


def _random_walk(seed: int, n: int, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (actual, previous) for a random walk with normal steps."""
    rng = np.random.default_rng(seed)
    path = 100.0 + np.cumsum(rng.normal(0, step, n + 1))
    return path[1:], path[:-1]


def test_lag_detected_for_copy_of_yesterday() -> None:
    actual, previous = _random_walk(1, 500, 1.0)
    rng = np.random.default_rng(2)
    predicted = previous + rng.normal(0, 0.01, 500)
    result = lag_diagnosis(actual, predicted, previous)
    assert result["lag_detected"] is True
    assert result["lag_ratio"] < 0.05


def test_lag_not_detected_for_predictive_model() -> None:
    actual, previous = _random_walk(4, 500, 5.0)
    rng = np.random.default_rng(5)
    predicted = actual + rng.normal(0, 0.5, 500)
    result = lag_diagnosis(actual, predicted, previous)
    assert result["lag_detected"] is False
    assert result["lag_ratio"] > 5


def test_lag_hand_computed() -> None:
    # pred - actual = [-.5, 0, .5, -.5, -.5] -> rmse sqrt(0.2)
    # pred - prev   = [.5, 1, -.5, .5, .5]   -> rmse sqrt(0.4); ratio sqrt(2)
    actual = [11.0, 12.0, 11.0, 12.0, 13.0]
    predicted = [10.5, 12.0, 11.5, 11.5, 12.5]
    previous = [10.0, 11.0, 12.0, 11.0, 12.0]
    result = lag_diagnosis(actual, predicted, previous)
    assert result["rmse_vs_actual"] == pytest.approx(math.sqrt(0.2), rel=1e-12)
    assert result["rmse_vs_previous"] == pytest.approx(math.sqrt(0.4), rel=1e-12)
    assert result["lag_ratio"] == pytest.approx(math.sqrt(2.0), rel=1e-12)
    assert result["lag_detected"] is False


def test_lag_not_detected_for_a_forecast_that_is_simply_far_off() -> None:
    # A trend leaving the training range: the network saturates near the training maximum,
    # far below both today's and yesterday's value (a little closer to yesterday's, which is lower).
    rng = np.random.default_rng(7)
    path = 100.0 + np.cumsum(1.0 + rng.normal(0, 0.5, 301))
    actual, previous = path[1:], path[:-1]
    predicted = np.full(300, 90.0) + rng.normal(0, 0.3, 300)
    result = lag_diagnosis(actual, predicted, previous)
    assert result["rmse_vs_previous"] < result["rmse_vs_actual"]  # the old rule alone would flag it
    assert result["lag_spread"] > 50  # but it sits ~150 day-to-day moves away from yesterday
    assert result["lag_detected"] is False


def test_lag_still_detected_for_a_noisy_copy_of_yesterday_worse_than_naive() -> None:
    # The README's course LSTM on levels: RMSE about 1.48 x naive's, its forecasts yesterday's
    # price plus an error about as large as a day's move.
    actual, previous = _random_walk(8, 500, 1.0)
    rng = np.random.default_rng(9)
    predicted = previous + rng.normal(0, 1.09, 500)
    result = lag_diagnosis(actual, predicted, previous)
    assert 1.3 < result["rmse_vs_actual"] / result["rms_move"] < 1.7
    assert 0.9 < result["lag_spread"] < 1.3
    assert result["lag_detected"] is True


def test_lag_spread_hand_computed() -> None:
    # pred - prev = [.5, 1, -.5, .5, .5] -> rms sqrt(0.4); actual - prev = [1, 1, -1, 1, 1] -> rms 1
    result = lag_diagnosis([11.0, 12.0, 11.0, 12.0, 13.0], [10.5, 12.0, 11.5, 11.5, 12.5],
                           [10.0, 11.0, 12.0, 11.0, 12.0])
    assert result["rms_move"] == 1.0
    assert result["lag_spread"] == pytest.approx(math.sqrt(0.4), rel=1e-12)
    # Below yesterday by 1.1 moves: flagged; by 2.1 moves (past LAG_SPREAD_MAX = 2): simply far off.
    far = lag_diagnosis([1.0, 2.0, 3.0], [-1.1, -0.1, 0.9], [0.0, 1.0, 2.0])
    assert far["rmse_vs_previous"] < far["rmse_vs_actual"] and far["lag_spread"] == pytest.approx(1.1)
    assert far["lag_detected"] is True
    farther = lag_diagnosis([1.0, 2.0, 3.0], [-2.1, -1.1, -0.1], [0.0, 1.0, 2.0])
    assert LAG_SPREAD_MAX == 2.0
    assert farther["lag_spread"] == pytest.approx(2.1) and farther["lag_detected"] is False


def test_lag_perfect_forecast_is_not_flagged() -> None:
    result = lag_diagnosis([2.0, 3.0], [2.0, 3.0], [1.0, 2.0])
    assert result["lag_ratio"] == math.inf
    assert result["lag_detected"] is False


# --- conformal ----------------------------------------------------------------


def test_conformal_quantile_hand_computed() -> None:
    res = np.arange(1, 11) / 10.0  # 0.1 .. 1.0, n = 10
    assert conformal_quantile(res, 0.8) == 0.9  # k = ceil(11 * 0.8) = 9
    assert conformal_quantile(res, 0.9) == 1.0  # k = ceil(11 * 0.9) = 10
    assert conformal_quantile(res, 0.95) == math.inf  # k = 11 > n
    # n = 9, coverage 0.9: 10 * 0.9 is 9.000000000000002 in floats, k must be 9.
    assert conformal_quantile(res[:9], 0.9) == 0.9
    # Order of the input does not matter.
    assert conformal_quantile(res[::-1], 0.8) == 0.9


@pytest.mark.parametrize("coverage", [0.0, 1.0, 1.5, -0.1])
def test_conformal_quantile_rejects_bad_coverage(coverage: float) -> None:
    with pytest.raises(ConfigError):
        conformal_quantile([1.0, 2.0], coverage)


def test_conformal_quantile_rejects_empty() -> None:
    with pytest.raises(DataError):
        conformal_quantile([], 0.9)


def test_interval_coverage_hand_computed() -> None:
    # inside, on lower edge, outside, on upper edge -> 3 / 4
    actual = [1.0, 2.0, 5.0, 4.0]
    lower = [0.0, 2.0, 0.0, 3.0]
    upper = [2.0, 3.0, 4.0, 4.0]
    assert interval_coverage(actual, lower, upper) == 0.75
    assert interval_coverage([1.0, 9.0], [-math.inf, -math.inf], [math.inf, math.inf]) == 1.0
    with pytest.raises(DataError):
        interval_coverage([1.0, 2.0], [0.0], [3.0])


def test_conformal_coverage_on_gaussian_noise() -> None:
    rng = np.random.default_rng(2024)
    calibration = rng.normal(0, 1, 500)
    q = conformal_quantile(np.abs(calibration), 0.9)
    truth = rng.normal(0, 1, 5000) * 3 + 50.0
    noise = rng.normal(0, 1, 5000)
    forecast = truth + noise
    coverage = interval_coverage(truth, forecast - q, forecast + q)
    assert abs(coverage - 0.9) <= 0.03


# --- rms ------------------------------------------------------------------------


def test_rms_hand_computed_and_extreme_scales() -> None:
    # (9 + 16) / 2 = 12.5
    assert rms(np.array([3.0, -4.0])) == pytest.approx(math.sqrt(12.5), rel=1e-15)
    assert rms(np.zeros(3)) == 0.0
    # Plain sqrt(mean(x**2)) gives 0 and inf for these.
    assert rms(np.array([1e-200, 1e-200])) == pytest.approx(1e-200, rel=1e-15)
    assert rms(np.array([1e200, -1e200])) == pytest.approx(1e200, rel=1e-15)


# --- input validation -----------------------------------------------------------


def test_as_float_arrays_validation() -> None:
    with pytest.raises(DataError):
        as_float_arrays([1.0, 2.0], [1.0])
    with pytest.raises(DataError):
        as_float_arrays([])
    with pytest.raises(DataError):
        as_float_arrays([[1.0, 2.0]])
    with pytest.raises(DataError):
        as_float_arrays([1.0, math.nan])
    with pytest.raises(DataError):
        as_float_arrays([1.0, math.inf])
    with pytest.raises(DataError):
        as_float_arrays(["a", "b"])
    (arr,) = as_float_arrays([1.0, math.inf], allow_inf=True)
    assert arr[1] == math.inf
