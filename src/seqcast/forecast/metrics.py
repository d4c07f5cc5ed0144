"""Forecast metrics in price units, always judged against the naive forecast.

The naive forecast ("tomorrow equals today") is the baseline every price model
has to beat; a low RMSE on its own says little for a random walk.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from seqcast.errors import DataError
from seqcast.forecast.stats import (
    as_float_arrays,
    binomial_test,
    christoffersen,
    diebold_mariano,
    interval_coverage,
    interval_scores,
    kupiec,
    lag_diagnosis,
    pesaran_timmermann,
    rms,
)

SIGNIFICANCE = 0.05
"""Words like "beats naive" need a Diebold–Mariano p below this."""

# Ratios closer to 1 than this are reported as a tie: 0.05 % is well inside
# the noise of any test set a user is likely to have.
_SAME_AS_NAIVE_TOL = 0.0005


def rmse(actual: object, predicted: object) -> float:
    """Root mean squared error."""
    act, pred = as_float_arrays(actual, predicted, names=("actual", "predicted"))
    return rms(pred - act)


def mae(actual: object, predicted: object) -> float:
    """Mean absolute error."""
    act, pred = as_float_arrays(actual, predicted, names=("actual", "predicted"))
    return float(np.mean(np.abs(pred - act)))


def mape(actual: object, predicted: object) -> float:
    """Mean absolute percentage error in percent, skipping points where actual is 0."""
    act, pred = as_float_arrays(actual, predicted, names=("actual", "predicted"))
    # A zero price has no meaningful relative error; dropping it beats inf.
    keep = act != 0.0
    if not np.any(keep):
        return math.nan
    # A price next to zero gives an enormous (even inf) percentage; that is the
    # honest answer, so the overflow is expected rather than warned about.
    with np.errstate(over="ignore"):
        rel = np.abs(pred[keep] - act[keep]) / np.abs(act[keep])
        return float(100.0 * np.mean(rel))


def _direction_hits(previous: object, actual: object, predicted: object) -> tuple[int, int]:
    """Count (correct directions, days with a real move)."""
    prev, act, pred = as_float_arrays(previous, actual, predicted, names=("previous", "actual", "predicted"))
    # A flat day has no direction to call, so it counts neither way.
    moved = act != prev
    hits = np.sign(pred[moved] - prev[moved]) == np.sign(act[moved] - prev[moved])
    return int(np.sum(hits)), int(np.sum(moved))


def _direction_test(previous: np.ndarray, actual: np.ndarray, forecast: np.ndarray) -> dict[str, float]:
    """Pesaran–Timmermann test and the hit rate of always calling the majority direction.

    Days on which the market or the forecast did not move are left out (no direction).
    The majority rate is the share of the more frequent direction on the same days: the
    best any constant "always up" or "always down" forecast could have done.
    """
    up_true, up_pred = actual - previous, forecast - previous
    both = (up_true != 0) & (up_pred != 0)
    if not both.any():
        return {"majority_direction_accuracy": math.nan, "pt_stat": math.nan, "pt_pvalue": math.nan}
    share_up = float(np.mean(up_true[both] > 0))
    stat, pvalue = pesaran_timmermann(up_pred[both] > 0, up_true[both] > 0)
    return {"majority_direction_accuracy": max(share_up, 1.0 - share_up), "pt_stat": stat, "pt_pvalue": pvalue}


def mase_scale(train_values: object) -> float:
    """Mean absolute one-day change over the training part: MASE's denominator (Hyndman & Koehler 2006)."""
    (vals,) = as_float_arrays(train_values, names=("train_values",))
    return float(np.mean(np.abs(np.diff(vals)))) if vals.size > 1 else math.nan


def directional_accuracy(previous: object, actual: object, predicted: object) -> float:
    """Share (0..1) of days with a real move whose direction the model called right."""
    hits, days = _direction_hits(previous, actual, predicted)
    return hits / days if days else math.nan


def _ratio(num: float, den: float) -> float:
    """num / den, or nan when the denominator is zero."""
    return num / den if den != 0.0 else math.nan


def evaluate(
    actual: object, predicted: object, previous: object, direction_from: object | None = None,
    mase_denominator: float | None = None,
) -> dict[str, float]:
    """All metrics for one forecast, next to the naive forecast (= previous).

    direction_from: forecasts whose direction is scored instead of predicted's
    (the network's raw forecast when predicted moves were shrunk, possibly to 0).
    mase_denominator: mase_scale of the training part (MASE is nan without it).
    """
    act, pred, prev = as_float_arrays(actual, predicted, previous, names=("actual", "predicted", "previous"))
    model_rmse, naive_rmse = rmse(act, pred), rmse(act, prev)
    model_mae, naive_mae = mae(act, pred), mae(act, prev)
    direction = pred if direction_from is None else as_float_arrays(direction_from, names=("direction_from",))[0]
    hits, days = _direction_hits(prev, act, direction)
    scale = math.nan if mase_denominator is None else float(mase_denominator)
    if naive_rmse == 0.0:
        # Naive is exact (a pegged or constant series): any error makes the model worse,
        # and a test of "equal accuracy" against a zero loss has no meaning.
        dm_stat, dm_pvalue = math.nan, math.nan
    else:
        dm_stat, dm_pvalue = diebold_mariano(pred - act, prev - act, h=1, power=2)
    lag = lag_diagnosis(act, pred, prev)
    return {
        "n": int(act.size),
        "rmse": model_rmse,
        "mae": model_mae,
        "mape": mape(act, pred),
        "mase": _ratio(model_mae, scale),
        "directional_accuracy": hits / days if days else math.nan,
        "naive_rmse": naive_rmse,
        "naive_mae": naive_mae,
        "naive_mape": mape(act, prev),
        "naive_mase": _ratio(naive_mae, scale),
        "rmse_ratio": _ratio(model_rmse, naive_rmse),
        "mae_ratio": _ratio(model_mae, naive_mae),
        "da_pvalue": binomial_test(hits, days) if days else math.nan,
        **_direction_test(prev, act, direction),
        "dm_stat": dm_stat,
        "dm_pvalue": dm_pvalue,
        "lag_ratio": float(lag["lag_ratio"]),
        "lag_spread": float(lag["lag_spread"]),
        "lag_detected": bool(lag["lag_detected"]),
    }


def interval_metrics(
    actual: object, lower: object, upper: object, level: float, recent_volatility: object,
) -> dict[str, float]:
    """Interval score, width and coverage, overall and in each third of days by recent volatility.

    recent_volatility: a measure known before each day (seqcast uses the RMS of the 20
    previous daily moves); days are sorted by it and cut into calm, middle and wild thirds.
    """
    (act,) = as_float_arrays(actual, names=("actual",))
    lo, hi = as_float_arrays(lower, upper, names=("lower", "upper"), allow_inf=True)
    (vol,) = as_float_arrays(recent_volatility, names=("recent_volatility",))
    inside = (act >= lo) & (act <= hi)
    out = {
        "interval_level": float(level),
        "interval_coverage": float(np.mean(inside)),
        "interval_score": float(np.mean(interval_scores(act, lo, hi, level))),
        "interval_width": float(np.mean(hi - lo)),
    }
    thirds = np.array_split(np.argsort(vol, kind="stable"), 3)
    for name, days in zip(("calm", "mid", "wild"), thirds, strict=True):
        out[f"interval_coverage_{name}"] = float(np.mean(inside[days])) if len(days) else math.nan
    return out


def coverage_backtests(actual: object, lower: object, upper: object, level: float) -> dict[str, float]:
    """Backtests of an interval's coverage, as value-at-risk models are backtested.

    A miss is a day whose actual value fell outside [lower, upper]. Returns interval_miss_rate
    (0..1, expected 1 - level), kupiec_pvalue (the miss rate vs 1 - level), christoffersen_ind_pvalue
    (misses independent from one day to the next), christoffersen_cc_pvalue (both together) and
    interval_miss_after_miss (0..1: the share of days after a miss that missed too); a p-value is
    nan where its test cannot be run (no miss before the last day).
    """
    (act,) = as_float_arrays(actual, names=("actual",))
    lo, hi = as_float_arrays(lower, upper, names=("lower", "upper"), allow_inf=True)
    if lo.size != act.size:
        raise DataError(f"arrays differ in length: actual={act.size}, bounds={lo.size}")
    misses = ((act < lo) | (act > hi)).astype(float)
    _, uc_pvalue = kupiec(misses, level)
    independence = christoffersen(misses, level)
    return {
        "interval_miss_rate": float(misses.mean()),
        "kupiec_pvalue": uc_pvalue,
        "christoffersen_ind_pvalue": independence["ind_pvalue"],
        "christoffersen_cc_pvalue": independence["cc_pvalue"],
        "interval_miss_after_miss": independence["miss_after_miss"],
    }


def compare_intervals(
    actual: object, lower: object, upper: object, ref_lower: object, ref_upper: object, level: float,
) -> dict[str, float]:
    """A reference band's score, coverage and a Diebold–Mariano test of the daily score differences."""
    (act,) = as_float_arrays(actual, names=("actual",))
    lo, hi, rlo, rhi = as_float_arrays(lower, upper, ref_lower, ref_upper, allow_inf=True,
                                       names=("lower", "upper", "ref_lower", "ref_upper"))
    mine, ref = interval_scores(act, lo, hi, level), interval_scores(act, rlo, rhi, level)
    pvalue = math.nan  # an unbounded interval (too few calibration days for its level) has no test
    # Nor does a test part that never moves (a pegged rate): every band covers it, the scores
    # are only widths, and the volatility models were fitted on no movement at all.
    if np.isfinite(mine).all() and np.isfinite(ref).all() and not np.all(act == act[0]):
        _, pvalue = diebold_mariano(mine, ref, h=1, power=1)  # scores are >= 0: |score| is the score
    return {
        "garch_interval_score": float(np.mean(ref)),
        "garch_interval_coverage": interval_coverage(act, rlo, rhi),
        "interval_score_ratio": _ratio(float(np.mean(mine)), float(np.mean(ref))),
        "interval_score_dm_pvalue": pvalue,
    }


def p_text(pvalue: float | None) -> str:
    """A p-value in few digits, never rounded onto the 0.05 threshold ("0.0501", not "0.05")."""
    if pvalue is None or math.isnan(pvalue):
        return "n/a"
    if pvalue == 0.0:
        return "<1e-300"  # underflowed: smaller than any double shows, not exactly 0
    if pvalue < 0.001:
        return f"{pvalue:.1e}"
    for digits in range(2, 7):
        text = f"{pvalue:.{digits}g}"
        if float(text) != SIGNIFICANCE:
            return text
    return f"{pvalue:.6g}"


def verdict(rmse_ratio: float, dm_pvalue: float | None = None, *, rmse: float | None = None,
            naive_rmse: float | None = None) -> str:
    """Plain-words comparison with the naive forecast that claims only what the test supports.

    "beats naive" / "worse than naive" need a Diebold–Mariano p below SIGNIFICANCE;
    otherwise "no significant difference (x % lower RMSE, p = ...)". Without a p-value
    (None or nan) no difference is called significant. The one exception: where naive is
    exact (naive_rmse 0, a constant or pegged series) any error is worse, with no test.
    rmse, naive_rmse: the model's and naive's RMSE, which tell that case apart.
    """
    ratio = float(rmse_ratio)
    if naive_rmse is not None and float(naive_rmse) == 0.0:
        if rmse is not None and float(rmse) == 0.0:
            return "same as naive (both exact)"
        return "worse than naive (naive is exact here: its RMSE is 0; no test needed)"
    if math.isnan(ratio):
        return "not comparable with naive (naive's RMSE is 0)"
    # Checked first so a 0.0004 difference is not dressed up as "0.0 %".
    if abs(1.0 - ratio) < _SAME_AS_NAIVE_TOL:
        return "same as naive"
    pvalue = math.nan if dm_pvalue is None else float(dm_pvalue)
    percent = abs(1.0 - ratio) * 100
    if pvalue < SIGNIFICANCE:
        words = "beats naive" if ratio < 1.0 else "worse than naive"
        return f"{words} by {percent:.1f} % (p = {p_text(pvalue)})"
    direction = "lower" if ratio < 1.0 else "higher"
    return f"no significant difference ({percent:.1f} % {direction} RMSE, p = {p_text(pvalue)})"


def naive_is_exact(test: dict[str, Any]) -> bool:
    """True when naive's RMSE is 0 and the model's is not: the model is worse, no test needed."""
    naive, model = test.get("naive_rmse"), test.get("rmse")
    return naive == 0 and isinstance(model, (int, float)) and model > 0


_PERIODS = {"weekly": ("week", "last week"), "monthly": ("month", "last month"),
            "fixed-step": ("period", "the previous period")}


def lag_words(calendar: object) -> tuple[str, str]:
    """The lag warning's words for a run's recorded calendar (meta.json `calendar`).

    Returns (period, last): ("day", "yesterday") for daily data, ("week", "last week")
    for weekly, ("month", "last month") for monthly, ("period", "the previous period") for a fixed step.
    """
    frequency = calendar.get("frequency") if isinstance(calendar, dict) else None
    return _PERIODS.get(str(frequency), ("day", "yesterday"))


def lag_warning(calendar: object) -> str:
    """The lag warning in the calendar's unit: "... the previous week's price ..., a week late"."""
    period, last = lag_words(calendar)
    return (f"test predictions are closer to the previous {period}'s price than to the real one: "
            f"the model mostly repeats {last}, a {period} late")
