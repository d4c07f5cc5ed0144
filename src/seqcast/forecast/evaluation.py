"""One training and evaluation on an array of prices, without saving anything.

api.train saves its result as a run; the backtest calls it once per fold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from seqcast.config import RunConfig
from seqcast.forecast import metrics
from seqcast.forecast.baselines import linear_forecast
from seqcast.forecast.intervals import (
    CALIBRATION_DAYS,
    Calibration,
    apply_shrink,
    fit_shrink,
    horizon_scores,
    interval_bounds,
    interval_residuals,
    local_scale,
    rolling_multipliers,
)
from seqcast.forecast.stats import conformal_quantile, normal_ppf
from seqcast.forecast.volatility import (
    GarchParams,
    barely_moves,
    fit_volatility,
    horizon_scales,
    moves,
    reference_garch,
)
from seqcast.inputs.windows import WindowedData, build_dataset, to_price
from seqcast.models.networks import build_model
from seqcast.models.training import EpochCallback, FitResult, fit, pick_device, predict_numpy

MAX_HORIZON = 30
"""Horizons (periods of the series' calendar: business days for daily data) for which interval widths are calibrated."""
MIN_CALIBRATION_WINDOWS = 10
"""Validation windows needed to calibrate prediction intervals; with fewer a run has none."""


def no_intervals_reason(val_windows: object) -> str:
    """Why a run has no calibrated intervals, with the next step (train and predict-next print it)."""
    had = f"{val_windows} windows" if isinstance(val_windows, int) else "too few windows"
    return (f"the validation tail had {had}, fewer than the {MIN_CALIBRATION_WINDOWS} needed to calibrate "
            "them; train with a larger --val-fraction or on more data")


@dataclass
class Fitted:
    """A trained model with its forecasts for every window and their metrics."""

    model: nn.Module
    ds: WindowedData
    fit: FitResult
    net_price: np.ndarray  # the network's own forecasts, in price units
    predicted: np.ndarray  # after shrinkage toward naive
    shrinkage_weight: float
    widths: list[float]  # interval multipliers of the h-day volatility scale, horizons 1..
    relative: bool  # widths are |log(actual/predicted)| rather than price units
    vol: list[GarchParams] | None  # the interval's volatility models, fitted on the training part
    lower: np.ndarray
    upper: np.ndarray
    report: dict[str, Any]
    device: torch.device
    threads: int
    torch_version: str
    linear: np.ndarray = field(default_factory=lambda: np.empty(0))  # least squares on the same inputs, prices
    calibration: Calibration | None = None
    """The standardized out-of-sample scores per horizon: forecast.intervals.multiplier_at(calibration, level)
    gives the multipliers (the `widths`) at any level; None where the run has no intervals."""


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
    device = pick_device(cfg.train.device)
    x = torch.from_numpy(ds.x).to(device)  # (n_windows, lookback, n_features), built once
    y = torch.from_numpy(ds.y).to(device)  # (n_windows,)
    # The seed drives weight initialisation and dropout through torch's global generator;
    # fork_rng restores that generator afterwards, so a library call leaves it as it was.
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(cfg.train.seed)
        model = build_model(cfg.model, ds.n_features).to(device)
        # fit() applies --threads (or its default) and restores the thread setting.
        result = fit(model, x[ds.train], y[ds.train], x[ds.val], y[ds.val], cfg.train, on_epoch_end)

    # Predictions and interval calibration run many forward passes: with the threads the
    # training chose (seqcast.models.threads), restored afterwards.
    from seqcast.models.threads import torch_threads

    with torch_threads(result.threads):
        # One batched pass over every window, then back to prices.
        raw = ds.scaler.inverse(predict_numpy(model, ds.x, device))
        net_price = to_price(raw, ds.previous, ds.target)
        val_n = ds.val.stop - ds.val.start
        shrinkage_weight = 1.0
        if cfg.train.shrink and val_n > 0:
            shrinkage_weight = fit_shrink(ds.previous[ds.val], ds.actual[ds.val], net_price[ds.val])
        predicted = apply_shrink(ds.previous, net_price, shrinkage_weight)

        # Intervals: a GARCH-type volatility scale fitted on the training part, times a
        # conformal multiplier from days the network was not fitted on (never the day itself);
        # the validation tail also chose the epoch and the shrinkage weight, so the split-conformal
        # guarantee is approximate and the coverage is measured on the test part.
        # Relative widths where prices are positive, so a band follows the price level.
        relative = bool((values > 0).all() and (predicted > 0).all())
        widths: list[float] = []
        vol: list[GarchParams] | None = None
        calibration: Calibration | None = None
        lower = upper = np.full(len(predicted), np.nan)
        if intervals and val_n >= MIN_CALIBRATION_WINDOWS:
            vol = fit_volatility(moves(values[:ds.n_train], relative))
            scale = horizon_scales(values, ds.positions, vol, relative)[:, 0]  # (n_windows,) 1-day scale
            z = interval_residuals(ds.actual, predicted, relative) / scale
            # Train and validation windows: the validation tail's multiplier. Test day i: the last
            # CALIBRATION_DAYS out-of-sample days before i (validation tail, then test days known on day i).
            multiplier = np.full(len(z), conformal_quantile(z[ds.val], cfg.train.level))
            multiplier[ds.test] = rolling_multipliers(z, ds.test.start, ds.test.stop, ds.val.start,
                                                      cfg.train.level)
            lower, upper = interval_bounds(predicted, multiplier * scale, relative)
            if ds.n_features > 1:
                # Extra inputs are not known ahead, so a run with them forecasts one day only:
                # its multiplier comes from the latest out-of-sample days, as for horizon 1 below.
                scores = [z[ds.val.start:][-CALIBRATION_DAYS:]]
            else:
                # For predict-next: scores per horizon from the latest out-of-sample days.
                scores = horizon_scores(
                    lambda x: predict_numpy(model, x, device), values, ds.positions[ds.val.start:],
                    MAX_HORIZON, vol=vol,
                    target=ds.target, scaler=ds.scaler, lookback=ds.lookback, shrinkage_weight=shrinkage_weight,
                    relative=relative,
                )
            widths = [float(conformal_quantile(s, cfg.train.level)) for s in scores]
            calibration = Calibration.from_scores(scores, cfg.train.level) if scores else None

        report: dict[str, Any] = {}
        mase_denominator = metrics.mase_scale(values[:ds.n_train])
        train_part = slice(ds.train.start, ds.val.stop)
        for name, part in (("train", train_part), ("val", ds.val), ("test", ds.test)):
            if part.stop - part.start > 0:
                # Shrinking by a weight > 0 keeps each move's sign; at weight 0 the network's
                # own direction is still worth scoring.
                report[name] = metrics.evaluate(ds.actual[part], predicted[part], ds.previous[part],
                                                direction_from=net_price[part], mase_denominator=mase_denominator)
        # The simplest model on the same inputs, beside the network.
        linear = linear_forecast(ds)
        linear_rmse, naive_rmse = metrics.rmse(ds.actual[ds.test], linear[ds.test]), report["test"]["naive_rmse"]
        report["test"]["linear_rmse"] = linear_rmse
        report["test"]["linear_rmse_ratio"] = linear_rmse / naive_rmse if naive_rmse else float("nan")
        if vol is not None:
            train_moves = moves(values[:ds.n_train], relative)
            flat = barely_moves(train_moves)
            ref = None if flat else reference_garch(train_moves)
            report["test"].update(_interval_report(values, ds, lower, upper, relative, cfg.train.level, ref))
            if flat:  # a GARCH(1,1) band fitted on no movement is degenerate: no comparison, no p-value
                report["test"]["garch_skipped"] = (
                    f"the training part barely moves ({flat[0]} of {flat[1]} daily moves differ from 0), "
                    "so a GARCH(1,1) band fitted on it is degenerate")
        test = report["test"]
        report["verdict"] = metrics.verdict(test["rmse_ratio"], test["dm_pvalue"], rmse=test["rmse"],
                                            naive_rmse=test["naive_rmse"])
        return Fitted(model, ds, result, net_price, predicted, shrinkage_weight, widths, relative, vol, lower, upper,
                      report, device, result.threads, torch.__version__, linear, calibration)


def _interval_report(values: np.ndarray, ds: WindowedData, lower: np.ndarray, upper: np.ndarray,
                     relative: bool, level: float, ref: GarchParams | None) -> dict[str, float]:
    """Test-part interval quality, next to a GARCH(1,1) band with normal errors around the naive forecast.

    ref: the GARCH(1,1)-normal model fitted on the training part's moves (volatility.reference_garch);
    None: no comparison (the training part barely moves).
    """
    t = ds.test
    out = metrics.interval_metrics(ds.actual[t], lower[t], upper[t], level,
                                   local_scale(values, ds.positions[t], relative))
    out.update(metrics.coverage_backtests(ds.actual[t], lower[t], upper[t], level))  # Kupiec, Christoffersen
    if ref is None:
        return out
    ref_half = normal_ppf(0.5 + level / 2) * horizon_scales(values, ds.positions[t], ref, relative)[:, 0]
    ref_lower, ref_upper = interval_bounds(ds.previous[t], ref_half, relative)
    out.update(metrics.compare_intervals(ds.actual[t], lower[t], upper[t], ref_lower, ref_upper, level))
    return out
