"""Past covariates and the target's own extra columns, aligned to the target's calendar.

A past covariate is another stored series the network reads next to the target.
The forecast for the target's day t uses the window of rows t-lookback..t-1, so
every input row i must hold only what was known on the target's date i:

- alignment is *as of*: row i takes the covariate's last value dated on or before
  the target's date i (never a later one), and only when that value is at most
  `max_stale_days` calendar days old; otherwise the row is missing (nan) and every
  window containing it is dropped (windowing.build_dataset);
- the transforms are causal: a covariate becomes its log-return since the previous
  target row and its log-level relative to the target, log(cov_i / target_i) (the
  "gap": stationary when both price the same thing, and the signal when one is
  quoted later in the day than the other).

The target's own Open/High/Low/Volume (`features`) become the log high/low range,
the log close/open body and the log volume change, all of the same bar i.

This module only builds unscaled input columns; scaling on the training part and
windowing happen in windowing.build_dataset, so every model sees the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from seqcast.config import FEATURE_COLUMNS
from seqcast.errors import DataError, NotEnoughDataError


@dataclass
class InputColumn:
    """One model input besides the target's own move, on the target's calendar."""

    symbol: str
    source: str
    transform: str
    values: np.ndarray  # (n_rows,) unscaled; nan where unknown or too stale

    @property
    def name(self) -> str:
        return f"{self.symbol}:{self.source} {self.transform}"


def align_asof(target_dates: np.ndarray, dates: np.ndarray, values: np.ndarray,
               max_stale_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Values of a series as of each target date: (aligned (n,), age in days (n,), -1 where none).

    Row i gets the last value dated on or before target_dates[i] (searchsorted
    'right' minus one), never one dated after it; older than max_stale_days -> nan.
    """
    target_dates = np.asarray(target_dates, dtype="datetime64[D]")
    dates = np.asarray(dates, dtype="datetime64[D]")
    values = np.asarray(values, dtype=np.float64)
    idx = np.searchsorted(dates, target_dates, side="right") - 1  # last date <= target date
    known = idx >= 0
    safe = np.where(known, idx, 0)
    age = np.where(known, (target_dates - dates[safe]).astype(np.int64), -1)
    ok = known & (age <= max_stale_days)
    return np.where(ok, values[safe], np.nan), age


def covariate_columns(symbol: str, source: str, target_dates: np.ndarray, target_close: np.ndarray,
                      dates: np.ndarray, close: np.ndarray, max_stale_days: int) -> list[InputColumn]:
    """The covariate's log-return and gap columns on the target's calendar."""
    name = f"{symbol}:{source}"
    finite = np.isfinite(close)
    if (close[finite] <= 0).any():
        raise DataError(f"covariate {name} has zero or negative prices; its inputs are log-returns "
                        "and log-ratios, which need positive prices")
    if (np.asarray(target_close) <= 0).any():
        raise DataError(f"the target has zero or negative prices; covariate {name}'s gap input "
                        "log(covariate / target) needs positive prices")
    dates, close = dates[finite], close[finite]
    if not dates.size:
        raise DataError(f"covariate {name} has no prices; fetch it again")
    aligned, _ = align_asof(target_dates, dates, close, max_stale_days)
    # After its last row the covariate has ended (not paused for a holiday): nothing to carry on.
    aligned[np.asarray(target_dates, dtype="datetime64[D]") > dates[-1]] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        logret = np.full_like(aligned, np.nan)
        logret[1:] = np.diff(np.log(aligned))
        gap = np.log(aligned / target_close)
    return [InputColumn(symbol, source, "logret", logret), InputColumn(symbol, source, "gap", gap)]


VOLUME_CHANGE_CAP = float(np.log(100.0))
"""Largest log volume change an input shows (a 100-fold change from one bar to the next)."""


def feature_columns(symbol: str, source: str, features: list[str], columns: dict[str, np.ndarray]) -> list[InputColumn]:
    """The target's own extra inputs from its Open/High/Low/Volume columns (same bar)."""
    out: list[InputColumn] = []
    close = np.asarray(columns["Close"], dtype=np.float64)
    for feature in features:
        lacking = [c for c in FEATURE_COLUMNS[feature] if c not in columns]
        if lacking:
            raise DataError(
                f"--features {feature} needs the {', '.join(lacking)} column(s), which {symbol} from "
                f"{source} does not have (only {', '.join(columns)}); drop --features {feature} or use "
                "a source with full bars, e.g. stooq"
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            if feature == "ohlc":
                high, low, open_ = (np.asarray(columns[c], dtype=np.float64) for c in ("High", "Low", "Open"))
                if (low[np.isfinite(low)] <= 0).any() or (open_[np.isfinite(open_)] <= 0).any():
                    raise DataError(f"{symbol} from {source} has zero or negative Open/Low prices; "
                                    "--features ohlc needs positive prices")
                out.append(InputColumn(symbol, source, "range", np.log(high / low)))
                out.append(InputColumn(symbol, source, "body", np.log(close / open_)))
            else:
                volume = np.asarray(columns["Volume"], dtype=np.float64)
                change = np.full_like(volume, np.nan)
                change[1:] = np.diff(np.log1p(np.maximum(volume, 0.0)))
                # A day without volume (0: a holiday row, missing data) would read as a 10^8-fold
                # change and blow up the input's scale: changes beyond 100-fold are cut to it.
                change = np.clip(change, -VOLUME_CHANGE_CAP, VOLUME_CHANGE_CAP)
                out.append(InputColumn(symbol, source, "volume", change))
    return out


def usable_rows(inputs: list[InputColumn], n: int) -> slice:
    """The rows from the first to the last on which every input is known.

    Outside it some input has not started yet or has already ended; the run uses
    only this range (gaps inside it drop single windows instead).
    """
    if not inputs:
        return slice(0, n)
    known = np.all([np.isfinite(c.values) for c in inputs], axis=0)
    rows = np.flatnonzero(known)
    if rows.size == 0:
        raise NotEnoughDataError(
            "the covariates and the target share no dates (within the staleness bound): "
            + "; ".join(describe_coverage(c) for c in inputs) + "; fetch data that overlaps"
        )
    return slice(int(rows[0]), int(rows[-1]) + 1)


def describe_coverage(column: InputColumn) -> str:
    known = int(np.isfinite(column.values).sum())
    return f"{column.name} is known on {known} of {len(column.values)} target days"


def input_matrix(inputs: list[InputColumn]) -> np.ndarray | None:
    """(n_rows, n_inputs) unscaled, or None without inputs."""
    if not inputs:
        return None
    return np.stack([c.values for c in inputs], axis=1)


def check_fresh(symbol: str, source: str, cov_last: np.datetime64, target_last: np.datetime64,
                target: str) -> None:
    """predict-next: a covariate must reach the target's last day."""
    if cov_last < target_last:
        raise DataError(
            f"covariate {symbol}:{source} ends {cov_last}, before the target {target}'s last day "
            f"{target_last}; a forecast from {target_last} needs it: {fetch_hint(symbol, source, 'a newer file')}"
        )


def fetch_hint(symbol: str, source: str, csv_note: str) -> str:
    """The fetch command that brings a stored series up to date."""
    from seqcast.data.store import fetch_command

    return fetch_command(symbol, source) + (f" ({csv_note})" if source == "csv" else "")


LoadedCovariate = tuple[str, str, Any, np.ndarray, np.ndarray]
"""(symbol, source, stored series, dates, close) of one covariate, as load_covariates returns it."""


def target_columns(frame: Any) -> dict[str, np.ndarray]:
    return {str(c): frame[c].to_numpy(dtype=np.float64) for c in frame.columns}


def build_columns(data: Any, loaded: list[LoadedCovariate], target_symbol: str, target_source: str,
                  dates: np.ndarray, columns: dict[str, np.ndarray]) -> list[InputColumn]:
    """Every extra input of a DataConfig on the target's rows (dates, its columns)."""
    out: list[InputColumn] = []
    for symbol, source, _stored, cov_dates, cov_close in loaded:
        out += covariate_columns(symbol, source, dates, columns["Close"], cov_dates, cov_close,
                                 data.max_stale_days)
    out += feature_columns(target_symbol, target_source, data.features, columns)
    return out


def input_records(descriptors: list[dict[str, Any]], ds: Any, dates: Any,
                  target: dict[str, Any]) -> list[dict[str, Any]]:
    """meta.json "inputs": every input with its transform, scaler, scaler dates and data fingerprint."""
    fitted_on = [str(dates[0].date()), str(dates[ds.n_train - 1].date())]
    records = [{**target, "role": "target", "scaler": ds.scaler.to_dict(), "scaler_fitted_on": fitted_on}]
    for descriptor, scaler in zip(descriptors, ds.input_scalers, strict=True):
        record = {**descriptor, "scaler": scaler.to_dict(), "scaler_fitted_on": fitted_on}
        if record["role"] == "feature":
            record["fingerprint"] = target.get("fingerprint")
        records.append(record)
    return records


def input_scalers(meta: dict[str, Any], expected: int, where: Any) -> list[Any]:
    """The extra inputs' scalers recorded in a run's meta.json, checked."""
    from seqcast.errors import RunCorruptError
    from seqcast.inputs.windows import Scaler

    records = meta.get("inputs", [])
    extra = [r for r in records if isinstance(r, dict) and r.get("role") != "target"] \
        if isinstance(records, list) else []
    try:
        scalers = [Scaler.from_dict(r["scaler"]) for r in extra]
    except (KeyError, TypeError, ValueError):
        scalers = []
    if len(scalers) != expected or not all(s.scale > 0 and np.isfinite(s.center) for s in scalers):
        raise RunCorruptError(f"{where} does not record the scalers of the run's {expected} extra "
                              "inputs; train again")
    return scalers
