"""One training and evaluation on an array of prices, without saving anything.

api.train saves its result as a run; the backtest calls it once per fold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from seqcast import metrics
from seqcast.baselines import linear_forecast
from seqcast.config import RunConfig
from seqcast.forecasting import apply_shrink, fit_shrink, horizon_quantiles, interval_bounds, local_scale
from seqcast.models import build_model
from seqcast.stats import interval_coverage
from seqcast.training import EpochCallback, FitResult, fit, pick_device, predict_numpy
from seqcast.windowing import Dataset, build_dataset, to_price

MAX_HORIZON = 30
"""Horizons (trading days) for which interval widths are calibrated."""


@dataclass
class Fitted:
    """A trained model with its forecasts for every window and their metrics."""

    model: nn.Module
    ds: Dataset
    fit: FitResult
    net_price: np.ndarray  # the network's own forecasts, in price units
    predicted: np.ndarray  # after shrinkage toward naive
    alpha: float
    widths: list[float]  # interval half-widths for horizons 1.., in units of local_scale
    relative: bool  # widths are |log(actual/predicted)| rather than price units
    lower: np.ndarray
    upper: np.ndarray
    report: dict[str, Any]
    device: torch.device
    threads: int
    torch_version: str
    linear: np.ndarray = field(default_factory=lambda: np.empty(0))  # least squares on the same inputs, prices


def fit_evaluate(
    values: np.ndarray,
    cfg: RunConfig,
    *,
    n_train: int | None = None,
    on_epoch_end: EpochCallback | None = None,
    intervals: bool = True,
    inputs: np.ndarray | None = None,
) -> Fitted:
    """Window, scale (training part only), train, shrink, calibrate, evaluate vs naive.

    n_train overrides cfg.data.split with an exact training length (backtest folds).
    inputs: (len(values), k) unscaled extra inputs (covariates.input_matrix), nan = unknown.
    """
    split = cfg.data.split if n_train is None else n_train / len(values)
    ds = build_dataset(values, lookback=cfg.data.lookback, split=split,
                       val_fraction=cfg.data.val_fraction, target=cfg.data.target, n_train=n_train,
                       inputs=inputs)
    torch.manual_seed(cfg.train.seed)
    device = pick_device(cfg.train.device)
    model = build_model(cfg.model, ds.n_features).to(device)
    x = torch.from_numpy(ds.x).to(device)  # (n_windows, lookback, n_features), built once
    y = torch.from_numpy(ds.y).to(device)  # (n_windows,)
    # fit() applies --threads and the allocator settings.
    result = fit(model, x[ds.train], y[ds.train], x[ds.val], y[ds.val], cfg.train, on_epoch_end)

    # One batched pass over every window, then back to prices.
    raw = ds.scaler.inverse(predict_numpy(model, ds.x, device))
    net_price = to_price(raw, ds.previous, ds.target)
    val_n = ds.val.stop - ds.val.start
    alpha = 1.0
    if cfg.train.shrink and val_n > 0:
        alpha = fit_shrink(ds.previous[ds.val], ds.actual[ds.val], net_price[ds.val])
    predicted = apply_shrink(ds.previous, net_price, alpha)

    # Interval half-widths per horizon from validation residuals only (never test).
    # Relative widths where prices are positive, so a band follows the price level.
    relative = bool((values > 0).all() and (predicted > 0).all())
    widths: list[float] = []
    if intervals and val_n >= 10 and ds.n_features > 1:
        # Extra inputs are not known ahead, so a run with them forecasts one day only.
        widths = one_step_widths(ds, values, predicted, relative, cfg.train.coverage)
    elif intervals and val_n >= 10:
        widths = horizon_quantiles(
            lambda x: predict_numpy(model, x, device), values, ds.positions[ds.val], ds.n_train,
            MAX_HORIZON, cfg.train.coverage,
            target=ds.target, scaler=ds.scaler, lookback=ds.lookback, alpha=alpha, relative=relative,
        )
    scale = local_scale(values, ds.positions, relative)  # (n_windows,) recent volatility
    lower, upper = interval_bounds(predicted, (widths[0] if widths else float("nan")) * scale, relative)

    report: dict[str, Any] = {}
    train_part = slice(ds.train.start, ds.val.stop)
    for name, part in (("train", train_part), ("val", ds.val), ("test", ds.test)):
        if part.stop - part.start > 0:
            # Shrinking by alpha > 0 keeps each move's sign; at alpha = 0 the network's
            # own direction is still worth scoring.
            report[name] = metrics.evaluate(ds.actual[part], predicted[part], ds.previous[part],
                                            direction_from=net_price[part])
    # The simplest model on the same inputs, beside the network.
    linear = linear_forecast(ds)
    linear_rmse, naive_rmse = metrics.rmse(ds.actual[ds.test], linear[ds.test]), report["test"]["naive_rmse"]
    report["test"]["linear_rmse"] = linear_rmse
    report["test"]["linear_rmse_ratio"] = linear_rmse / naive_rmse if naive_rmse else float("nan")
    if widths:
        report["test"]["interval_coverage"] = float(
            interval_coverage(ds.actual[ds.test], lower[ds.test], upper[ds.test]))
        report["test"]["interval_level"] = cfg.train.coverage
    report["verdict"] = metrics.verdict(report["test"]["rmse_ratio"])
    return Fitted(model, ds, result, net_price, predicted, alpha, widths, relative, lower, upper, report,
                  device, torch.get_num_threads(), torch.__version__, linear)


def one_step_widths(ds: Dataset, values: np.ndarray, predicted: np.ndarray, relative: bool,
                    coverage: float) -> list[float]:
    """Split-conformal half-width for the next day from validation residuals (units of local_scale)."""
    from seqcast.forecasting import interval_residuals
    from seqcast.stats import conformal_quantile

    val = ds.val
    scale = local_scale(values, ds.positions[val], relative)
    residuals = interval_residuals(ds.actual[val], predicted[val], relative) / scale
    return [float(conformal_quantile(residuals, coverage))]
