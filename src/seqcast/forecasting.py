"""Turning network outputs into price forecasts: shrinkage, recursion, intervals."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from seqcast.training import predict_numpy
from seqcast.windowing import Scaler, first_position, to_price, transform_series


def fit_shrink(previous: np.ndarray, actual: np.ndarray, predicted: np.ndarray) -> float:
    """Least-squares factor in [0, 1] for the predicted moves, fitted on validation days.

    The forecast becomes previous + alpha * (predicted - previous): alpha = 0 is
    the naive forecast, alpha = 1 the raw network.
    """
    move_pred = predicted - previous
    move_true = actual - previous
    denom = float(np.dot(move_pred, move_pred))
    if denom == 0.0 or not np.isfinite(denom):
        return 0.0
    return float(np.clip(np.dot(move_pred, move_true) / denom, 0.0, 1.0))


def apply_shrink(previous: np.ndarray, predicted: np.ndarray, alpha: float) -> np.ndarray:
    return previous + alpha * (predicted - previous)


def recursive_forecast(
    model: nn.Module,
    history: np.ndarray,
    steps: int,
    *,
    target: str,
    scaler: Scaler,
    lookback: int,
    alpha: float,
    device: torch.device,
) -> np.ndarray:
    """Forecast `steps` days ahead from many origins at once, feeding forecasts back.

    history: (n_origins, >= first_position) prices, each row ending at its origin.
    Returns (n_origins, steps) prices.
    """
    need = first_position(lookback, target)
    paths = np.array(history[:, -need:], dtype=np.float64)  # (n_origins, need)
    out = np.empty((len(paths), steps))
    for h in range(steps):
        window = paths[:, -need:]
        modelled = transform_series(window, target)
        x = scaler.transform(modelled[:, -lookback:])[:, :, None].astype(np.float32)
        raw = scaler.inverse(predict_numpy(model, x, device))
        previous = window[:, -1]
        price = apply_shrink(previous, to_price(raw, previous, target), alpha)
        out[:, h] = price
        paths = np.concatenate([paths[:, 1:], price[:, None]], axis=1)
    return out


def horizon_quantiles(
    model: nn.Module,
    values: np.ndarray,
    origins: np.ndarray,
    limit: int,
    max_horizon: int,
    coverage: float,
    *,
    target: str,
    scaler: Scaler,
    lookback: int,
    alpha: float,
    device: torch.device,
) -> list[float]:
    """Split-conformal half-widths for horizons 1..max_horizon from validation origins.

    origins are positions t of the first forecast day; a residual at horizon h
    counts only when its target position t+h-1 lies before `limit` (the end of
    the training part), so the test part is never used.
    """
    from seqcast.stats import conformal_quantile

    need = first_position(lookback, target)
    origins = origins[origins >= need]
    if len(origins) == 0:
        return []
    idx = origins[:, None] - need + np.arange(need)[None, :]  # (n_origins, need)
    paths = recursive_forecast(
        model, values[idx], max_horizon, target=target, scaler=scaler,
        lookback=lookback, alpha=alpha, device=device,
    )
    widths = []
    for h in range(max_horizon):
        ok = origins + h < limit
        if ok.sum() < 10:
            break
        residuals = np.abs(values[origins[ok] + h] - paths[ok, h])
        widths.append(float(conformal_quantile(residuals, coverage)))
    # Honest intervals never narrow with the horizon.
    return list(np.maximum.accumulate(widths)) if widths else []
