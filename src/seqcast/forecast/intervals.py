"""Turning network outputs into price forecasts: shrinkage, recursion, intervals."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import overload

import numpy as np

from seqcast.forecast.volatility import GarchParams, horizon_scales
from seqcast.inputs.windows import Scaler, first_position, to_price, transform_series

Predictor = Callable[[np.ndarray], np.ndarray]
"""Scaled windows (batch, lookback, 1) float32 -> the network's scaled outputs (batch,)."""


def fit_shrink(previous: np.ndarray, actual: np.ndarray, predicted: np.ndarray, z: float = 2.0) -> float:
    """How much of the network's predicted moves to keep, in [0, 1], from validation days.

    The forecast becomes previous + w * (predicted - previous), w the shrinkage weight:
    w = 0 is the naive forecast, w = 1 the raw network. w is the least-squares slope of the
    real moves on the predicted ones, lowered by z standard errors: a move is trusted
    only as far as the validation tail shows, with about 97.5 % confidence (z = 2), that
    it points the right way. On a random walk that is (almost always) nothing.
    """
    move_pred = predicted - previous
    move_true = actual - previous
    denom = float(np.dot(move_pred, move_pred))
    n = len(move_pred)
    if n < 3 or denom == 0.0 or not np.isfinite(denom):
        return 0.0
    slope = float(np.dot(move_pred, move_true)) / denom
    resid = move_true - slope * move_pred
    se = float(np.sqrt(np.dot(resid, resid) / (n - 1) / denom))
    return float(np.clip(slope - z * se, 0.0, 1.0))


def apply_shrink(previous: np.ndarray, predicted: np.ndarray, shrinkage_weight: float) -> np.ndarray:
    shrunk: np.ndarray = previous + shrinkage_weight * (predicted - previous)
    return shrunk


def recursive_forecast(
    predict: Predictor,
    history: np.ndarray,
    horizon: int,
    *,
    target: str,
    scaler: Scaler,
    lookback: int,
    shrinkage_weight: float,
) -> np.ndarray:
    """Forecast `horizon` periods ahead from many origins at once, feeding forecasts back.

    predict: scaled windows (batch, lookback, 1) float32 -> scaled outputs (batch,).
    history: (n_origins, >= first_position) prices, each row ending at its origin.
    Returns (n_origins, horizon) prices.
    """
    need = first_position(lookback, target)
    paths = np.array(history[:, -need:], dtype=np.float64)  # (n_origins, need)
    out = np.empty((len(paths), horizon))
    for h in range(horizon):
        window = paths[:, -need:]
        modelled = transform_series(window, target)
        x = scaler.transform(modelled[:, -lookback:])[:, :, None].astype(np.float32)
        raw = scaler.inverse(np.asarray(predict(x), dtype=np.float64))
        previous = window[:, -1]
        price = apply_shrink(previous, to_price(raw, previous, target), shrinkage_weight)
        out[:, h] = price
        paths = np.concatenate([paths[:, 1:], price[:, None]], axis=1)
    return out


VOL_WINDOW = 20
"""Periods (rows of the series: business days for daily data) of past moves in the recent volatility
that sorts test days into thirds (about a month).

Runs saved before the GARCH scale (meta.json without 'volatility') used it as their interval scale."""


def local_scale(values: np.ndarray, positions: np.ndarray, relative: bool, window: int = VOL_WINDOW) -> np.ndarray:
    """Root-mean-square of the last `window` daily moves known before each position.

    Moves are log-returns (relative) or changes; only days before the forecast day
    count. It sorts test days into calm, middle and wild thirds for the coverage
    report (and was the interval scale of runs saved before the GARCH scale).
    """
    values = np.asarray(values, dtype=np.float64)
    moves = np.diff(np.log(values)) if relative else np.diff(values)  # moves[i-1]: from day i-1 to i
    squares = np.concatenate([[0.0], np.cumsum(moves**2)])  # squares[k] = sum of the first k moves
    last = np.asarray(positions) - 1  # moves known before position t: 1..t-1
    first = np.maximum(last - window, 0)
    count = np.maximum(last - first, 1)
    scale = np.sqrt((squares[last] - squares[first]) / count)
    # A flat stretch has no spread: fall back to the series' typical daily move.
    typical = float(np.sqrt(np.mean(moves**2))) if len(moves) else 1.0
    return np.where(scale > 0, scale, typical or 1.0)


def interval_residuals(actual: np.ndarray, predicted: np.ndarray, relative: bool) -> np.ndarray:
    """|log(actual / predicted)| for positive prices (widths scale with the price), else |actual - predicted|."""
    residuals: np.ndarray = np.abs(np.log(actual / predicted)) if relative else np.abs(actual - predicted)
    return residuals


@overload
def interval_bounds(predicted: float, width: float, relative: bool) -> tuple[float, float]: ...


@overload
def interval_bounds(predicted: np.ndarray, width: np.ndarray | float,
                    relative: bool) -> tuple[np.ndarray, np.ndarray]: ...


@overload
def interval_bounds(predicted: np.ndarray | float, width: np.ndarray,
                    relative: bool) -> tuple[np.ndarray, np.ndarray]: ...


def interval_bounds(predicted: np.ndarray | float, width: np.ndarray | float,
                    relative: bool) -> tuple[np.ndarray | float, np.ndarray | float]:
    """(lower, upper) around predicted for a half-width from interval_residuals."""
    if relative:
        return predicted * np.exp(-width), predicted * np.exp(width)
    return predicted - width, predicted + width


CALIBRATION_DAYS = 1000
"""Conformal calibration uses the most recent out-of-sample days, at most this many (about four years)."""


def rolling_multipliers(z: np.ndarray, start: int, stop: int, first: int, level: float,
                        window: int = CALIBRATION_DAYS) -> np.ndarray:
    """Conformal multipliers for windows start..stop-1, each from the scores before it.

    z: standardized |residuals| of every window; the multiplier of window i is the
    conformal quantile of z[max(first, i - window):i]. With first = the start of the
    validation tail, day i's interval uses the validation tail and the test days
    already known on day i (never day i itself or later), so calibration follows a
    market whose standardized moves drift away from the training part's. The validation
    tail also chose the epoch and the shrinkage weight, so split conformal's finite-sample
    guarantee is approximate: the coverage reached is measured on the test part.
    """
    from seqcast.forecast.stats import conformal_quantile

    return np.array([conformal_quantile(z[max(first, i - window):i], level) for i in range(start, stop)])


def horizon_multipliers(
    predict: Predictor,
    values: np.ndarray,
    origins: np.ndarray,
    max_horizon: int,
    level: float,
    *,
    vol: Sequence[GarchParams],
    target: str,
    scaler: Scaler,
    lookback: int,
    shrinkage_weight: float,
    relative: bool,
    window: int = CALIBRATION_DAYS,
) -> list[float]:
    """Conformal multipliers (approximate: see rolling_multipliers) of the h-day volatility scale, h = 1..max_horizon.

    origins: positions t of the first forecast day from which the network's forecasts
    are out of sample (the validation tail and the test part). For each horizon the
    last `window` origins whose target t+h-1 is in `values` calibrate it: the forecast
    of the next day(s) after `values` then uses the same scale (horizon_scales) times
    these multipliers.
    """
    from seqcast.forecast.stats import conformal_quantile

    need = first_position(lookback, target)
    n = len(values)
    origins = origins[(origins >= need) & (origins < n)]
    origins = origins[-(window + max_horizon):]
    if len(origins) == 0:
        return []
    if shrinkage_weight == 0.0:
        # Shrunk to the naive forecast: every horizon forecasts the last known price.
        paths = np.repeat(values[origins - 1][:, None], max_horizon, axis=1)
    else:
        idx = origins[:, None] - need + np.arange(need)[None, :]  # (n_origins, need)
        paths = recursive_forecast(predict, values[idx], max_horizon, target=target, scaler=scaler,
                                   lookback=lookback, shrinkage_weight=shrinkage_weight)
    scales = horizon_scales(values, origins, vol, relative, max_horizon)  # (n_origins, max_horizon)
    multipliers = []
    for h in range(max_horizon):
        ok = np.flatnonzero(origins + h < n)[-window:]
        if len(ok) < 10:
            break
        z = interval_residuals(values[origins[ok] + h], paths[ok, h], relative) / scales[ok, h]
        multipliers.append(float(conformal_quantile(z, level)))
    return multipliers


def forecast_half_widths(multipliers: list[float], values: np.ndarray, vol: Sequence[GarchParams], relative: bool,
                         horizon: int) -> np.ndarray:
    """Interval half-widths for the `horizon` periods after `values` (nan past the calibrated horizons)."""
    known = min(horizon, len(multipliers))
    half = np.full(horizon, np.nan)
    if known:
        scales = horizon_scales(values, np.array([len(values)]), vol, relative, known)[0]
        # Honest intervals never narrow with the horizon.
        half[:known] = np.maximum.accumulate(np.asarray(multipliers[:known]) * scales)
    return half
