"""What one training reads from the workspace: the stored series cut to --from/--to, its inputs, and
the fingerprint that ties a run to that data.

load_input needs the workspace; what it returns (SeriesInput) is plain arrays and dicts, so a
worker process or a Ray task can train on it without one.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seqcast.config import DataConfig, RunConfig, parse_covariate, parse_date
from seqcast.data.store import Store, StoredSeries, load_stored
from seqcast.errors import ConfigError, DataError, NotEnoughDataError
from seqcast.inputs.covariates import (
    InputColumn,
    LoadedCovariate,
    build_columns,
    fetch_hint,
    input_matrix,
    target_columns,
    usable_rows,
)
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class SeriesInput:
    """What one training takes from the workspace: its config (series resolved) and the data."""

    cfg: RunConfig
    values: np.ndarray  # (n,) closes
    dates: pd.DatetimeIndex  # (n,)
    store_sha256: str | None = None
    inputs: np.ndarray | None = None  # (n, k) unscaled past covariates / extra columns, nan = unknown
    input_descriptors: list[dict[str, Any]] = field(default_factory=list)  # meta "inputs" less scalers
    sampling: dict[str, Any] = field(default_factory=dict)  # meta "calendar" and "data_warnings"


def load_input(cfg: RunConfig, home: Path | str | None = None) -> SeriesInput:
    """The stored series cfg names (the last fetched when None), cut to --from/--to."""
    ws = Workspace.resolve(home)
    stored, frame = load_stored(ws, cfg.data.symbol, cfg.data.source)
    return _input_of(Store(ws), cfg, stored, frame)


def input_from(store: Any, cfg: RunConfig) -> SeriesInput:
    """load_input on any store: the workspace's Store, or seqcast.inputs.memory.MemoryStore (data
    held in Python). `store` has get(symbol, source) and latest(source), whose series have
    symbol, source, meta, load() and load_close() as data.store.StoredSeries has."""
    stored = store.get(cfg.data.symbol, cfg.data.source) if cfg.data.symbol else store.latest(cfg.data.source)
    return _input_of(store, cfg, stored, stored.load())


def _input_of(store: Any, cfg: RunConfig, stored: Any, frame: pd.DataFrame) -> SeriesInput:
    """The run's input from the target series (stored, its frame) and the covariates in store."""
    import pandas as pd

    from seqcast.data.series import between

    # The saved config names the series actually used, not "the last fetched".
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, symbol=stored.symbol, source=stored.source))
    selected = between(frame, parse_date(cfg.data.start, "--from"), parse_date(cfg.data.end, "--to"))
    if selected.empty:
        raise DataError(_empty_range_message(stored.symbol, cfg.data, frame))
    sampling = _sampling_record(stored, frame.index, selected)  # calendar + data warnings
    prepared = prepare_inputs(store, cfg.data, stored.symbol, stored.source, selected)  # covariates, columns
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, covariates=list(prepared.stored)))
    frame = prepared.frame
    if len(frame) < len(selected):  # the inputs are known on fewer rows than the target has: say so
        sampling = {**sampling, "data_warnings": [*sampling.get("data_warnings", []),
                                                  _inputs_range_warning(stored.symbol, frame, selected)]}
    dates = pd.DatetimeIndex(frame.index)
    descriptors: list[dict[str, Any]] = []
    if prepared.columns:
        descriptors = input_descriptors(prepared, dates, cfg.data.max_stale_days)
    return SeriesInput(cfg, frame["Close"].to_numpy(dtype=np.float64), dates, stored.meta.get("sha256"),
                       inputs=prepared.matrix, input_descriptors=descriptors, sampling=sampling)


def fingerprint(dates: Any, values: np.ndarray) -> str:
    """A short hash of the dates (any datetime array or index) and closes a model was trained on."""
    digest = hashlib.sha256()
    days = np.asarray(dates, dtype="datetime64[D]").astype("<i8")
    digest.update(days.tobytes())
    digest.update(np.asarray(values, dtype="<f8").tobytes())
    return digest.hexdigest()[:16]


def _inputs_range_warning(symbol: str, frame: pd.DataFrame, selected: pd.DataFrame) -> dict[str, str]:
    """meta's data warning when the inputs are known on fewer rows than the selected target rows."""
    kept = f"{frame.index[0].date()} .. {frame.index[-1].date()}" if len(frame) else "no rows"
    return {
        "kind": "inputs-range",
        "message": (f"the inputs are known on {len(frame)} of the {len(selected)} selected {symbol} rows "
                    f"({kept} of {selected.index[0].date()} .. {selected.index[-1].date()}): a covariate starts "
                    "later or ends earlier; fetch more of it to use the rest"),
    }


def _sampling_record(stored: StoredSeries, stored_dates: Any, used: pd.DataFrame) -> dict[str, Any]:
    """meta's "calendar" (from every stored date) and "data_warnings" (from the rows used)."""
    from seqcast.data.sampling import sampling_record

    volume = used["Volume"].to_numpy(dtype=float) if "Volume" in used.columns else None
    return sampling_record(stored_dates, used.index, source=stored.source, symbol=stored.symbol,
                           interval=stored.meta.get("interval"), used_close=used["Close"].to_numpy(dtype=float),
                           used_volume=volume)


def _empty_range_message(symbol: str, data: DataConfig, frame: pd.DataFrame) -> str:
    """No stored rows between --from and --to: say what is stored and what to do."""
    asked = " and ".join(f"{flag} {value}" for flag, value in (("--from", data.start), ("--to", data.end))
                         if value)
    return (f"no {symbol} rows for {asked}; the stored data covers {frame.index[0].date()} .. "
            f"{frame.index[-1].date()}: choose dates within it, or fetch more data")


# --------------------------------------------------------------------------- past covariates


@dataclass
class PreparedInputs:
    """The target's rows where every input is known, and the inputs on those rows."""

    frame: Any  # pandas DataFrame of the target, trimmed to the usable rows
    columns: list[InputColumn]
    stored: dict[str, Any]  # "symbol:source" -> the covariate's StoredSeries

    @property
    def matrix(self) -> np.ndarray | None:
        return input_matrix(self.columns)


def load_covariates(store: Any, covariates: list[str], target_symbol: str, target_source: str,
                     lookback: int) -> list[LoadedCovariate]:
    """(symbol, source, stored, dates, close) for every covariate, checked."""
    out = []
    for spec in covariates:
        symbol, source = parse_covariate(spec)
        stored = store.get(symbol, source)  # SeriesNotFoundError says what to fetch
        if (stored.symbol, stored.source) == (target_symbol, target_source):
            raise ConfigError(f"--covariate {spec} is the target series itself; name another series "
                              "(e.g. the same symbol from another source)")
        dates, close = stored.load_close()
        if len(dates) < lookback:
            raise NotEnoughDataError(
                f"covariate {stored.symbol}:{stored.source} has {len(dates)} rows, fewer than --lookback "
                f"{lookback}; fetch more of it ("
                f"{fetch_hint(stored.symbol, stored.source, 'a longer file')}, from an earlier date) or use "
                "a shorter --lookback"
            )
        out.append((stored.symbol, stored.source, stored, dates, close))
    return out


def prepare_inputs(store: Any, data: Any, target_symbol: str, target_source: str, frame: Any) -> PreparedInputs:
    """Load the covariates of a DataConfig, align them, and trim the target to the usable rows."""
    loaded = load_covariates(store, data.covariates, target_symbol, target_source, data.lookback)
    dates = frame.index.to_numpy(dtype="datetime64[D]")
    columns = build_columns(data, loaded, target_symbol, target_source, dates, target_columns(frame))
    rows = usable_rows(columns, len(frame))
    for column in columns:
        column.values = column.values[rows]
    return PreparedInputs(frame.iloc[rows], columns, {f"{s[0]}:{s[1]}": s[2] for s in loaded})


def input_descriptors(prepared: PreparedInputs, dates: Any, max_stale_days: int) -> list[dict[str, Any]]:
    """Every extra input as meta.json will record it, less its scaler: name, source, transform, and
    a fingerprint of the covariate data the run uses. Needs the store, so the driver computes it
    when it loads the data; plain dicts, so a worker process or a Ray task can carry them."""
    first, last = np.datetime64(dates[0].date(), "D"), np.datetime64(dates[-1].date(), "D")
    out = []
    for column in prepared.columns:
        key = f"{column.symbol}:{column.source}"
        record: dict[str, Any] = {"name": column.name, "symbol": column.symbol, "source": column.source,
                                  "transform": column.transform}
        if key in prepared.stored:
            stored = prepared.stored[key]
            cov_dates, cov_close = stored.load_close()
            used = (cov_dates <= last) & (cov_dates >= first - np.timedelta64(max_stale_days, "D"))
            record.update(role="covariate", fingerprint=fingerprint(cov_dates[used], cov_close[used]),
                          store_sha256=stored.meta.get("sha256"))
        else:
            record.update(role="feature")
        out.append(record)
    return out


def revised_covariates(meta: dict[str, Any], loaded: list[LoadedCovariate], max_stale_days: int) -> list[str]:
    """Notes for covariates whose stored rows over the training dates differ from what was trained on."""
    data = meta.get("data", {})
    try:
        first, last = np.datetime64(data["first"], "D"), np.datetime64(data["last"], "D")
    except (KeyError, TypeError, ValueError):
        return []
    recorded = {f"{r.get('symbol')}:{r.get('source')}": r.get("fingerprint")
                for r in meta.get("inputs", []) if isinstance(r, dict) and r.get("role") == "covariate"}
    notes = []
    for symbol, source, _stored, cov_dates, cov_close in loaded:
        used = (cov_dates <= last) & (cov_dates >= first - np.timedelta64(max_stale_days, "D"))
        key = f"{symbol}:{source}"
        if key in recorded and fingerprint(cov_dates[used], cov_close[used]) != recorded[key]:
            notes.append(f"the stored data of covariate {key} was revised since this run was trained")
    return notes
