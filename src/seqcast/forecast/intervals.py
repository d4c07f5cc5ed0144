"""Turning network outputs into price forecasts: shrinkage, recursion, intervals."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, overload

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


CALIBRATION_DAYS = 250
"""Conformal calibration uses the most recent out-of-sample days, at most this many (about a year).

Measured (benchmarks/quality.py and the issue-23 notes): with 1,000 days, a validation tail from
turbulent months (2022-23 on the ECB rates from 2015: the 0.9-quantile of its standardized moves
1.77 against 1.54 on the test part) stayed in every test day's calibration, since the test part is
shorter than 1,000 days, and the band over-covered (0.92 at 0.90). 250 days drop it after a year
of test days; the finite-sample rank ceil((n + 1) * level) adds about 0.004 to the level at n = 250."""


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


def horizon_scores(
    predict: Predictor,
    values: np.ndarray,
    origins: np.ndarray,
    max_horizon: int,
    *,
    vol: Sequence[GarchParams],
    target: str,
    scaler: Scaler,
    lookback: int,
    shrinkage_weight: float,
    relative: bool,
    window: int = CALIBRATION_DAYS,
) -> list[np.ndarray]:
    """Standardized out-of-sample scores |residual| / h-day volatility scale, h = 1..max_horizon.

    origins: positions t of the first forecast day from which the network's forecasts
    are out of sample (the validation tail and the test part). For each horizon the
    last `window` origins whose target t+h-1 is in `values` give its scores (n_h,); the list
    stops at the first horizon with fewer than 10. Calibration.from_scores keeps them for any level.
    """
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
    scores = []
    for h in range(max_horizon):
        ok = np.flatnonzero(origins + h < n)[-window:]
        if len(ok) < 10:
            break
        scores.append(interval_residuals(values[origins[ok] + h], paths[ok, h], relative) / scales[ok, h])
    return scores


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


CALIBRATION_KEEP_LEVEL = 0.5
"""Calibration stores the scores from the median up: every level from 0.5 to 0.999 is answered exactly."""


@dataclass(frozen=True)
class Calibration:
    """What the conformal step needs at any level: the standardized out-of-sample scores per horizon.

    counts[h-1]: how many out-of-sample days calibrate horizon h (at most CALIBRATION_DAYS).
    tails[h-1]: their sorted (ascending) scores |residual| / h-day volatility scale, from
    rank floor(counts * CALIBRATION_KEEP_LEVEL) up (the lower ranks answer no level >= 0.5).
    trained_level: the level the run was trained at (its saved bands and metrics use it).
    """

    counts: tuple[int, ...]
    tails: tuple[np.ndarray, ...]
    trained_level: float

    @classmethod
    def from_scores(cls, scores: Sequence[np.ndarray], trained_level: float) -> Calibration:
        """From each horizon's standardized scores (any order, shape (n_h,))."""
        counts, tails = [], []
        for z in scores:
            z = np.sort(np.abs(np.asarray(z, dtype=np.float64)))
            counts.append(len(z))
            tails.append(z[int(len(z) * CALIBRATION_KEEP_LEVEL):])
        return cls(tuple(counts), tuple(tails), float(trained_level))

    @property
    def horizons(self) -> int:
        return len(self.counts)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON form (calibration.json of a run): scores rounded to 7 significant digits."""
        return {"method": "conformal", "score": "abs_residual_over_volatility", "trained_level": self.trained_level,
                "counts": list(self.counts), "tails": [[float(f"{x:.7g}") for x in t] for t in self.tails]}

    @classmethod
    def from_dict(cls, raw: object, where: str = "calibration.json") -> Calibration:
        """Checked read of to_dict's form; raises RunCorruptError on anything else."""
        from seqcast.errors import RunCorruptError

        bad = RunCorruptError(f"{where} is not a valid interval calibration; train again")
        if not isinstance(raw, dict):
            raise bad
        counts, tails, level = raw.get("counts"), raw.get("tails"), raw.get("trained_level")
        if (not isinstance(counts, list) or not isinstance(tails, list) or len(counts) != len(tails)
                or isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.5 <= level < 1):
            raise bad
        out_tails = []
        for n, t in zip(counts, tails, strict=True):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1 or not isinstance(t, list):
                raise bad
            if any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in t):
                raise bad
            arr = np.asarray(t, dtype=np.float64)
            if len(arr) != n - int(n * CALIBRATION_KEEP_LEVEL) or not np.isfinite(arr).all() or (arr < 0).any() \
                    or (np.diff(arr) < 0).any():
                raise bad
            out_tails.append(arr)
        return cls(tuple(counts), tuple(out_tails), float(level))


def multiplier_at(calibration: Calibration, level: float) -> np.ndarray:
    """Conformal multipliers of the h-day volatility scale at `level`, h = 1..calibration.horizons.

    level: the nominal level, 0.5 <= level <= 0.999 (ConfigError otherwise). Returns a float
    array of shape (calibration.horizons,): multiplier[h-1] is the ceil((n_h + 1) * level)-th
    smallest standardized score of horizon h (split conformal's quantile, as at training), or
    inf where n_h is too small for the level. The half-width of the band h periods after the
    data is multiplier[h-1] * the h-day volatility scale (forecast_half_widths). A higher level
    never gives a smaller multiplier, so bands at several levels are nested.
    """
    import math

    from seqcast.errors import ConfigError
    from seqcast.forecast.stats import _RANK_SLACK

    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.5 <= level <= 0.999:
        raise ConfigError(f"level must be between 0.5 and 0.999, got {level!r}")
    out = np.empty(calibration.horizons)
    for h, (n, tail) in enumerate(zip(calibration.counts, calibration.tails, strict=True)):
        rank = math.ceil((n + 1) * level - _RANK_SLACK)
        out[h] = math.inf if rank > n else float(tail[rank - 1 - (n - len(tail))])
    return out
