"""From a price series to model-ready windows: split, target, scaling.

Positions are indices into the close-price array `values`. The forecast for
position t uses history up to t-1 only; its "previous" value is values[t-1]
(the naive forecast). The split is chronological: positions < n_train are the
training part (its last `val_fraction` of targets is the validation tail), the
rest is the test part. Scaling statistics come from the training part only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqcast.config import check_window_options
from seqcast.errors import ConfigError, DataError, NotEnoughDataError

MIN_TRAIN_WINDOWS = 20
MIN_TEST_WINDOWS = 5


@dataclass(frozen=True)
class Scaler:
    """Affine scaling z = (x - center) / scale, fitted on the training part."""

    center: float
    scale: float

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.center) / self.scale

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return z * self.scale + self.center

    def to_dict(self) -> dict[str, float]:
        return {"center": self.center, "scale": self.scale}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Scaler:
        return cls(float(raw["center"]), float(raw["scale"]))


def transform_series(values: np.ndarray, target: str) -> np.ndarray:
    """The modelled quantity along the last axis: level, change or log-return (nan first)."""
    values = np.asarray(values, dtype=np.float64)
    if target == "level":
        level: np.ndarray = values.copy()
        return level
    out = np.full_like(values, np.nan)
    if target == "change":
        out[..., 1:] = np.diff(values, axis=-1)
    elif target == "logret":
        if (values <= 0).any():
            raise ConfigError(
                "the series has a zero or negative price; log-returns need positive prices: "
                "use --target change or --target level"
            )
        out[..., 1:] = np.diff(np.log(values), axis=-1)
    else:
        raise ConfigError(f"unknown target {target!r}")
    return out


def to_price(pred_target: np.ndarray, previous: np.ndarray, target: str) -> np.ndarray:
    """Turn predictions of the modelled quantity back into prices."""
    if target == "level":
        return np.asarray(pred_target, dtype=np.float64)
    price: np.ndarray = previous + pred_target if target == "change" else previous * np.exp(pred_target)
    return price


def fit_scaler(series: np.ndarray, target: str) -> Scaler:
    """Min-max to [0, 1] for levels (as in the course), standardisation for moves."""
    series = series[np.isfinite(series)]
    if target == "level":
        low, high = float(series.min()), float(series.max())
        return Scaler(low, (high - low) or 1.0)
    # Moves: divide by their spread but do not re-centre, so 0 stays "no change".
    scale = float(np.sqrt(np.mean(series**2)))
    return Scaler(0.0, scale or 1.0)


def first_position(lookback: int, target: str) -> int:
    """The first position that has a full window of history."""
    return lookback + (0 if target == "level" else 1)


@dataclass
class WindowedData:
    """All windows of one series, built once, plus where each part starts and ends."""

    x: np.ndarray  # (n_windows, lookback, n_features) float32, scaled; feature 0 = the target's move
    y: np.ndarray  # (n_windows,) float32, scaled target
    positions: np.ndarray  # (n_windows,) position t each window forecasts
    previous: np.ndarray  # (n_windows,) values[t-1]: the naive forecast
    actual: np.ndarray  # (n_windows,) values[t]
    train: slice
    val: slice
    test: slice
    n_train: int
    scaler: Scaler
    target: str
    lookback: int
    input_scalers: list[Scaler] = field(default_factory=list)  # one per extra input column
    dropped: int = 0  # windows left out because an extra input was unknown (missing or stale)

    @property
    def n_features(self) -> int:
        return 1 + len(self.input_scalers)


def fit_input_scaler(column: np.ndarray, floor: float = 0.0) -> Scaler:
    """Standardisation of one extra input from its known training-part values.

    floor: the smallest scale (build_dataset passes the target's typical move): a covariate pegged
    in the training part, with a few one-pip flickers, has a spread near 1e-6, and a 1 % move after
    the peg would enter as thousands of standard deviations."""
    known = column[np.isfinite(column)]
    if known.size == 0:
        raise NotEnoughDataError("an extra input has no known value in the training part; "
                                 "fetch covariate data that covers the training dates")
    scale = float(np.std(known))
    scale = scale if scale > 0 and np.isfinite(scale) else 1.0
    return Scaler(float(np.mean(known)), max(scale, floor))


def windows(series: np.ndarray, lookback: int) -> np.ndarray:
    """All windows series[t-lookback:t] for t = lookback..len: (len-lookback+1, lookback)."""
    return np.lib.stride_tricks.sliding_window_view(series, lookback)


def build_dataset(
    values: np.ndarray, *, lookback: int, split: float, val_fraction: float, target: str,
    n_train: int | None = None, inputs: np.ndarray | None = None,
) -> WindowedData:
    """Split chronologically, fit the scaler on the training part, build every window.

    n_train, when given, is the exact length of the training part (split is then ignored).
    inputs: (n_rows, k) unscaled extra inputs (nan = unknown) on the rows of `values`.
    """
    # DataConfig's rule, with the bounds that keep the arithmetic below sound: a backtest fold's
    # split is its own (n_train / rows) and callers may build windows without a RunConfig.
    check_window_options(lookback=lookback, split=split if n_train is None else None,
                         val_fraction=val_fraction, target=target, split_range=(0.0, 1.0),
                         val_fraction_range=(0.0, 1.0))
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise DataError(f"expected one column of prices, got an array of shape {values.shape}")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise DataError(
            f"the series has {bad.size} missing or infinite values (first at row {bad[0] + 1}); "
            "remove or fill those rows and fetch again"
        )
    n = len(values)
    if n_train is None:
        if split is None:
            raise ConfigError("give --split (the training fraction) or an exact training length")
        n_train = int(np.floor(split * n))
    elif not isinstance(n_train, (int, np.integer)) or not 0 <= n_train <= n:
        raise ConfigError(f"the training part must have between 0 and {n} rows, got {n_train!r}")
    start = first_position(lookback, target)
    n_train_windows = n_train - start
    n_test_windows = n - n_train
    if n_train_windows < MIN_TRAIN_WINDOWS or n_test_windows < MIN_TEST_WINDOWS:
        need = int(np.ceil(max((start + MIN_TRAIN_WINDOWS) / max(split, 0.01),
                               start + MIN_TRAIN_WINDOWS + MIN_TEST_WINDOWS)))
        raise NotEnoughDataError(
            f"{n} rows are too few for --lookback {lookback} and --split {split:g}: the training "
            f"part has {n_train} rows, which leaves {max(n_train_windows, 0)} training windows "
            f"(need {MIN_TRAIN_WINDOWS}) and {n_test_windows} test days (need {MIN_TEST_WINDOWS}); "
            f"use a shorter --lookback or more data (at least {need} rows)"
        )
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is checked just below
        modelled = transform_series(values, target)
        # Statistics of the training part only: positions before n_train.
        scaler = fit_scaler(modelled[:n_train], target)
        scaled = scaler.transform(modelled).astype(np.float32)
    positions = np.arange(start, n)
    feature_start = start - lookback
    if not (np.isfinite([scaler.center, scaler.scale]).all() and np.isfinite(scaled[feature_start:]).all()):
        raise DataError(
            f"the series' {target} values are too large or too uneven to scale (from "
            f"{np.min(values):.6g} to {np.max(values):.6g}); check the data, e.g. a wrong decimal "
            "separator or a price in the wrong unit"
        )
    x = windows(scaled[feature_start : n - 1], lookback)[:, :, None]  # (n_windows, lookback, 1)
    y = scaled[start:]
    input_scalers: list[Scaler] = []
    dropped = 0
    if inputs is not None:
        inputs = np.asarray(inputs, dtype=np.float64)
        if inputs.ndim != 2 or len(inputs) != n:
            raise DataError(f"expected extra inputs of shape ({n}, k), got {inputs.shape}")
        # Statistics of the training part only, as for the target.
        # An input that barely moves in the training part (fewer than 5 % of its known values differ
        # from 0: a pegged covariate's log-return) gets its scale floored at the target's typical move.
        floor = scaler.scale if target != "level" else 0.0
        input_scalers = []
        for j in range(inputs.shape[1]):
            known = inputs[:n_train, j][np.isfinite(inputs[:n_train, j])]
            pegged = known.size > 0 and np.count_nonzero(known) < 0.05 * known.size
            input_scalers.append(fit_input_scaler(inputs[:n_train, j], floor if pegged else 0.0))
        centers = np.array([s.center for s in input_scalers])
        scales = np.array([s.scale for s in input_scalers])
        with np.errstate(invalid="ignore", over="ignore"):
            scaled_inputs = ((inputs - centers) / scales).astype(np.float32)  # (n, k)
        known = np.isfinite(scaled_inputs).all(axis=1)  # (n,)
        # The window forecasting position t reads rows t-lookback..t-1, all of which must be known.
        keep = windows(known[feature_start : n - 1], lookback).all(axis=1)  # (n_windows,)
        extra = np.lib.stride_tricks.sliding_window_view(scaled_inputs[feature_start : n - 1], lookback, axis=0)
        x = np.concatenate([x, extra.transpose(0, 2, 1)], axis=2)[keep]  # (n_windows, lookback, 1 + k)
        y, positions = y[keep], positions[keep]
        dropped = int((~keep).sum())
        n_train_windows = int((positions < n_train).sum())
        n_test_windows = len(positions) - n_train_windows
        if n_train_windows < MIN_TRAIN_WINDOWS or n_test_windows < MIN_TEST_WINDOWS:
            raise NotEnoughDataError(
                f"only {n_train_windows} training windows and {n_test_windows} test windows have every "
                f"input known ({dropped} of {dropped + len(positions)} windows hold a covariate value that "
                f"is missing or too stale); need {MIN_TRAIN_WINDOWS} and {MIN_TEST_WINDOWS}: fetch the "
                "covariates for the whole period, raise --max-stale-days, or use a shorter --lookback"
            )
    n_val = round(val_fraction * n_train_windows)
    if val_fraction > 0:
        n_val = max(n_val, 1)
    train_end = n_train_windows - n_val
    if train_end < MIN_TRAIN_WINDOWS // 2:
        raise NotEnoughDataError(
            f"only {train_end} windows left for fitting after the validation tail; "
            "lower --val-fraction or --lookback, or use more data"
        )
    return WindowedData(
        x=np.ascontiguousarray(x),
        y=np.ascontiguousarray(y),
        positions=positions,
        previous=values[positions - 1],
        actual=values[positions],
        train=slice(0, train_end),
        val=slice(train_end, n_train_windows),
        test=slice(n_train_windows, len(positions)),
        n_train=n_train,
        scaler=scaler,
        target=target,
        lookback=lookback,
        input_scalers=input_scalers,
        dropped=dropped,
    )


def last_window(
    values: np.ndarray, *, lookback: int, target: str, scaler: Scaler,
    inputs: np.ndarray | None = None, input_scalers: list[Scaler] | tuple[Scaler, ...] = (),
) -> np.ndarray:
    """The window that forecasts the day after the last value: (1, lookback, n_features) float32.

    inputs: (n_rows, k) unscaled extra inputs on the rows of values; their last
    `lookback` rows must all be known.
    """
    values = np.asarray(values, dtype=np.float64)
    need = first_position(lookback, target)
    if len(values) < need:
        raise NotEnoughDataError(
            f"the series has {len(values)} rows; this model needs at least {need} to forecast"
        )
    modelled = transform_series(values[-need:], target)
    window = scaler.transform(modelled[-lookback:]).astype(np.float32)[:, None]  # (lookback, 1)
    if input_scalers:
        rows = np.asarray(inputs, dtype=np.float64)[-lookback:]  # (lookback, k)
        centers = np.array([s.center for s in input_scalers])
        scales = np.array([s.scale for s in input_scalers])
        if rows.shape != (lookback, len(input_scalers)) or not np.isfinite(rows).all():
            raise NotEnoughDataError(
                f"an extra input is missing or too stale within the last {lookback} days; "
                "fetch every covariate again so it covers them"
            )
        window = np.concatenate([window, ((rows - centers) / scales).astype(np.float32)], axis=1)
    return window[None]
