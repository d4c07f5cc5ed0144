"""Forecast metrics in price units, always judged against the naive forecast.

The naive forecast ("tomorrow equals today") is the baseline every price model
has to beat; a low RMSE on its own says little for a random walk.
"""

from __future__ import annotations

import math

import numpy as np

from seqcast.stats import (
    as_float_arrays,
    binomial_test,
    diebold_mariano,
    lag_diagnosis,
    rms,
)

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


def directional_accuracy(previous: object, actual: object, predicted: object) -> float:
    """Share (0..1) of days with a real move whose direction the model called right."""
    hits, days = _direction_hits(previous, actual, predicted)
    return hits / days if days else math.nan


def _ratio(num: float, den: float) -> float:
    """num / den, or nan when the denominator is zero."""
    return num / den if den != 0.0 else math.nan


def evaluate(
    actual: object, predicted: object, previous: object, direction_from: object | None = None
) -> dict[str, float]:
    """All metrics for one forecast, next to the naive forecast (= previous).

    direction_from: forecasts whose direction is scored instead of predicted's
    (the network's raw forecast when predicted moves were shrunk, possibly to 0).
    """
    act, pred, prev = as_float_arrays(actual, predicted, previous, names=("actual", "predicted", "previous"))
    model_rmse, naive_rmse = rmse(act, pred), rmse(act, prev)
    model_mae, naive_mae = mae(act, pred), mae(act, prev)
    hits, days = _direction_hits(prev, act, pred if direction_from is None else direction_from)
    dm_stat, dm_pvalue = diebold_mariano(pred - act, prev - act, h=1, power=2)
    lag = lag_diagnosis(act, pred, prev)
    return {
        "n": int(act.size),
        "rmse": model_rmse,
        "mae": model_mae,
        "mape": mape(act, pred),
        "directional_accuracy": hits / days if days else math.nan,
        "naive_rmse": naive_rmse,
        "naive_mae": naive_mae,
        "naive_mape": mape(act, prev),
        "rmse_ratio": _ratio(model_rmse, naive_rmse),
        "mae_ratio": _ratio(model_mae, naive_mae),
        "da_pvalue": binomial_test(hits, days) if days else math.nan,
        "dm_stat": dm_stat,
        "dm_pvalue": dm_pvalue,
        "lag_ratio": float(lag["lag_ratio"]),
        "lag_detected": bool(lag["lag_detected"]),
    }


def verdict(rmse_ratio: float) -> str:
    """Plain-words comparison of a model's RMSE with the naive forecast's."""
    ratio = float(rmse_ratio)
    if math.isnan(ratio):
        return "no naive baseline (constant series)"
    # Checked first so a 0.0004 difference is not dressed up as "0.0 %".
    if abs(1.0 - ratio) < _SAME_AS_NAIVE_TOL:
        return "same as naive"
    if ratio < 1.0:
        return f"beats naive by {(1.0 - ratio) * 100:.1f} %"
    return f"worse than naive by {(ratio - 1.0) * 100:.1f} %"
