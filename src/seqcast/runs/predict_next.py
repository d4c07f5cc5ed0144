"""predict-next: a saved run's forecast of the next day(s) from the latest stored data.

Checks that the stored series still holds what the run was trained on, forecasts
(seqcast.forecast.intervals), dates the forecast days on the series' own calendar
(seqcast.data.calendars), and widens intervals by the run's calibrated multipliers.
Needs no pandas: the stored series is read with numpy (a faster start).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast.data.store import Store, StoredSeries, fetch_command
from seqcast.errors import ConfigError, DataError, NotEnoughDataError, RunCorruptError
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from seqcast.data.calendars import Calendar
    from seqcast.runs.registry import Run

MAX_HORIZON = 250
"""predict-next forecasts at most this many periods (days, weeks, months) ahead."""


@dataclass
class Forecast:
    """predict-next's answer: the last known close and the forecast days."""

    run_id: str
    symbol: str
    source: str
    last_date: str
    last_close: float
    level: float
    """The prediction intervals' nominal level (their coverage measured on the test part is in the run's metrics)."""
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    calendar: dict[str, Any] = field(default_factory=dict)
    """The series' calendar the dates follow (seqcast.data.calendars.Calendar.to_dict())."""
    stale: dict[str, Any] | None = None
    """When the latest data day is long past: last_date, today, periods, unit, message."""

    @property
    def coverage(self) -> float:
        """The old name of `level` (the nominal level, not a measured coverage), still readable."""
        return self.level

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        """`rows` as a DataFrame indexed by the forecast dates ("date"): predicted, lower, upper (the
        interval at `level`; NaN past the calibrated horizons), change_pct (vs last_close, in %)."""
        import pandas as pd

        frame = pd.DataFrame(self.rows, columns=["date", "predicted", "lower", "upper", "change_pct"])
        return frame.set_index(pd.DatetimeIndex(pd.to_datetime(frame.pop("date")), name="date"))


def predict_next(run_id: str | None = None, *, horizon: int | None = None, home: Path | str | None = None,
                 days: int | None = None, level: float | None = None) -> Forecast:
    """Forecast the next `horizon` periods (business days, or the series' weeks or months) from the
    latest stored data of the run's symbol. `days` is horizon's old name, still accepted.

    level: the intervals' nominal level (0.5..0.999; default the run's trained level), from the
    run's stored calibration (forecast.intervals.multiplier_at): a higher level never gives a
    narrower band. A run saved without calibration.json gives its trained level only (ConfigError).
    """

    from seqcast.runs.registry import get_run

    if days is not None and horizon is not None:
        raise ConfigError("give the horizon once: days is horizon's old name")
    if horizon is None:
        horizon = 1 if days is None else days
    if not isinstance(horizon, int) or isinstance(horizon, bool) or not 1 <= horizon <= MAX_HORIZON:
        raise ConfigError(f"--horizon must be between 1 and {MAX_HORIZON}, got {horizon!r}")
    ws = Workspace.resolve(home)
    return forecast_run(get_run(ws, run_id, "predict-next"), Store(ws), horizon, level)


def forecast_run(run: Any, store: Any, horizon: int, level: float | None = None) -> Forecast:
    """predict_next of a run (a saved Run, or any object with its meta, config, scaler, run_id, path and
    weights_bytes) from the series in store (the workspace's Store, or an inputs.memory.MemoryStore),
    its intervals at `level` (None: the trained level)."""
    from seqcast.data.calendars import recorded_calendar, staleness
    from seqcast.forecast.intervals import interval_bounds

    meta = run.meta
    trained_level = float(meta.get("level", run.config.train.level))
    multipliers = _level_multipliers(run, trained_level, level)
    try:
        symbol, source = meta["symbol"], meta["source"]
    except KeyError:
        raise RunCorruptError(f"{run.path / 'meta.json'} lacks the symbol; train again") from None
    stored = store.get(symbol, source)
    dates, values = stored.load_close()
    notes: list[str] = []
    trained_first = _check_stored_data(run, stored, dates, values, notes)
    path = _forecast_path(store, run, dates, values, horizon, notes)
    # The series' own next dates: its business days, weeks or months (seqcast.data.calendars).
    calendar = recorded_calendar(meta.get("calendar"), dates, source=source, symbol=symbol,
                                 interval=stored.meta.get("interval"))
    next_days = calendar.next_dates(dates[-1], horizon)
    stale = staleness(calendar, dates[-1], date.today())
    if stale is not None:
        again = (f"seqcast fetch {symbol} --source ecb (the bundled sample does not change)" if source == "sample"
                 else fetch_command(symbol, source) + (" (a newer file)" if source == "csv" else ""))
        notes.append(f"{stale['message']}: {again}")
    relative = meta.get("interval_scale", "price") == "log" and bool((path > 0).all())
    half_widths = _half_widths(run, calendar, dates, values, trained_first, horizon, relative, notes, multipliers)
    lower, upper = interval_bounds(path, half_widths, relative)
    rows = [
        {"date": str(day), "predicted": float(p), "lower": float(lo), "upper": float(hi),
         "change_pct": float((p / values[-1] - 1) * 100)}
        for day, p, lo, hi in zip(next_days, path, lower, upper, strict=True)
    ]
    return Forecast(run.run_id, symbol, source, str(dates[-1]), float(values[-1]),
                    trained_level if level is None else float(level), rows, notes,
                    calendar=calendar.to_dict(), stale=stale)


def _check_stored_data(run: Run, stored: StoredSeries, dates: np.ndarray, values: np.ndarray,
                       notes: list[str]) -> np.datetime64:
    """Refuse stored data the run cannot forecast from; note a revision. Returns the first trained day."""
    import numpy as np

    from seqcast.inputs.loading import fingerprint
    from seqcast.inputs.windows import first_position

    cfg, symbol, source = run.config, stored.symbol, stored.source
    need = first_position(cfg.data.lookback, cfg.data.target)
    if len(values) < need:
        raise DataError(
            f"the stored {symbol} series has {len(values)} rows; run {run.run_id} needs the last "
            f"{need}; fetch more data: {fetch_command(symbol, source)}"
        )
    trained = run.meta.get("data", {})
    try:
        trained_first = np.datetime64(trained.get("first", str(dates[0])), "D")
        trained_last = np.datetime64(trained.get("last", str(dates[-1])), "D")
    except (ValueError, TypeError, AttributeError):
        raise RunCorruptError(f"{run.path / 'meta.json'} holds invalid data dates; train again") from None
    if dates[-1] < trained_last:
        raise DataError(
            f"the stored {symbol} data ends {dates[-1]}, before the data run "
            f"{run.run_id} was trained on (to {trained_last}); fetch it again: "
            f"{fetch_command(symbol, source)}"
        )
    mask = (dates >= trained_first) & (dates <= trained_last)
    if fingerprint(dates[mask], values[mask]) != trained.get("fingerprint"):
        _changed_history(run, symbol, source, trained.get("anchors"), dates, values, notes)
    if cfg.data.target == "logret" and (values[-need:] <= 0).any():
        raise DataError(f"the latest {symbol} prices include zero or negative values; "
                        "this run models log-returns and cannot use them")
    return trained_first


def _changed_history(run: Run, symbol: str, source: str, recorded: Any, dates: np.ndarray, values: np.ndarray,
                     notes: list[str]) -> None:
    """Say what changed in the stored data since training; refuse a rescaled history for a price-scale model."""
    from seqcast.data.revisions import describe_change

    change = describe_change(recorded, dates, values)
    if change is None:
        notes.append("the stored data was revised since this run was trained")
        return
    target = run.config.data.target
    if change["kind"] == "rescaled" and target != "logret":
        raise DataError(
            f"{change['message']}; run {run.run_id} models {symbol} as {target} on the old price scale and "
            f"cannot forecast from this one: train again on the stored data (seqcast train --symbol {symbol} "
            f"--source {source}), or fetch the history it was trained on"
        )
    if change["kind"] == "rescaled":
        notes.append(f"{change['message']}; this run models log-returns, which the factor leaves alone: the "
                     "forecast is on the new scale")
        return
    notes.append(f"{change['message']}; the forecast starts from the stored values: train again to learn from them")


def _forecast_path(store: Any, run: Run, dates: np.ndarray, values: np.ndarray, horizon: int,
                   notes: list[str]) -> np.ndarray:
    """The forecast prices of the next `horizon` periods, (horizon,); refuses a forecast that is not finite."""
    import numpy as np

    from seqcast.forecast.intervals import recursive_forecast
    from seqcast.inputs.windows import first_position
    from seqcast.runs.networks import predictor

    cfg = run.config
    if cfg.data.n_inputs > 1:  # covariates or extra columns: one day, from every input's latest data
        path = predict_one_day(store, run, dates, values, horizon, notes)
    else:
        need = first_position(cfg.data.lookback, cfg.data.target)
        path = recursive_forecast(
            predictor(run), values[None, -need:], horizon, target=cfg.data.target, scaler=run.scaler,
            lookback=cfg.data.lookback, shrinkage_weight=float(run.meta.get("shrinkage_weight", 1.0)),
        )[0]
    if not np.isfinite(path).all():
        raise RunCorruptError(f"run {run.run_id} forecasts a value that is not a finite number: its "
                              "weights or scaling are damaged; train again")
    return path


def _level_multipliers(run: Run, trained_level: float, level: float | None) -> list[float] | None:
    """The multipliers at a level other than the trained one (None: use the run's widths); refuses in one line."""
    if level is None:
        return None
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.5 <= level <= 0.999:
        raise ConfigError(f"--level must be between 0.5 and 0.999, got {level!r}")
    if abs(level - trained_level) < 1e-12:
        return None
    if not run.meta.get("interval_widths"):
        return None  # no intervals at any level: _half_widths says why
    calibration = run.calibration()
    if calibration is None:
        raise ConfigError(
            f"run {run.run_id} was saved without its interval calibration (calibration.json), so it has "
            f"intervals at its trained level {trained_level:g} only: leave out --level, or train again"
        )
    from seqcast.forecast.intervals import multiplier_at

    return [float(m) for m in multiplier_at(calibration, level)]


def _half_widths(run: Run, calendar: Calendar, dates: np.ndarray, values: np.ndarray,
                 trained_first: np.datetime64, horizon: int, relative: bool, notes: list[str],
                 multipliers: list[float] | None = None) -> np.ndarray:
    """Interval half-widths of the forecast periods (nan where none is calibrated); notes why none.

    multipliers: the conformal multipliers at the requested level (default: the run's trained widths)."""
    import numpy as np

    from seqcast.forecast.intervals import forecast_half_widths, local_scale
    from seqcast.forecast.volatility import models_from_meta

    meta = run.meta
    widths = [float(w) for w in meta.get("interval_widths", [])] if multipliers is None else multipliers
    if not widths:
        from seqcast.forecast.evaluation import no_intervals_reason

        val_windows = meta.get("split", {}).get("windows", {}).get("val")
        notes.append(f"this run has no calibrated intervals ({no_intervals_reason(val_windows)})")
    elif horizon > len(widths):
        notes.append(f"intervals are calibrated up to {len(widths)} {calendar.unit} ahead; "
                     "later ones show none")
    if meta.get("volatility") is not None:
        vol = models_from_meta(meta["volatility"], str(run.path / "meta.json"))
        # The volatility recursion starts where training started, as it did then.
        since = values[dates >= trained_first]
        if meta.get("interval_scale") == "log" and not (since > 0).all():
            return np.full(horizon, np.nan)  # log-return volatility needs positive prices
        return forecast_half_widths(widths, since, vol, meta.get("interval_scale") == "log", horizon)
    # A run saved before the GARCH scale: widths are multiples of the recent RMS move.
    half = np.array(widths[:horizon] + [np.nan] * max(0, horizon - len(widths)))
    window = meta.get("interval_vol_window")
    if isinstance(window, int) and window > 0:
        half = half * local_scale(values, np.array([len(values)]), relative, window)[0]
    return half


def predict_one_day(store: Any, run: Any, dates: np.ndarray, values: np.ndarray, horizon: int,
                    notes: list[str] | None = None) -> np.ndarray:
    """predict-next for a run with extra inputs: the next day's price, as a (1,) array.

    Refuses when a covariate does not reach the target's last day (its future
    values are unknown, so more than one day ahead is refused too). Appends to
    `notes` when a covariate's data was revised since training.
    """
    import numpy as np

    from seqcast.forecast.intervals import apply_shrink
    from seqcast.inputs.covariates import build_columns, check_fresh, input_matrix, input_scalers, target_columns
    from seqcast.inputs.loading import load_covariates, revised_covariates
    from seqcast.inputs.windows import last_window, to_price

    cfg, meta = run.config, run.meta
    data = cfg.data
    if horizon != 1:
        raise ConfigError(
            f"run {run.run_id} reads covariates or extra columns, whose later values are not known yet, "
            "so it forecasts one day ahead only; use --horizon 1"
        )
    symbol, source = meta["symbol"], meta["source"]
    scalers = input_scalers(meta, data.n_inputs - 1, run.path / "meta.json")
    loaded = load_covariates(store, data.covariates, symbol, source, data.lookback)
    for cov_symbol, cov_source, _stored, cov_dates, _close in loaded:
        check_fresh(cov_symbol, cov_source, cov_dates[-1], dates[-1], symbol)
    if notes is not None:
        notes.extend(revised_covariates(meta, loaded, data.max_stale_days))
    need = data.lookback + 2  # the window plus the rows its first log-returns start from
    if data.features:
        frame = store.get(symbol, source).load()
        columns = target_columns(frame.iloc[-len(values):])
    else:
        columns = {"Close": values}
    tail = slice(max(0, len(values) - need), len(values))
    columns = {k: v[tail] for k, v in columns.items()}
    built = build_columns(data, loaded, symbol, source, dates[tail], columns)
    try:
        window = last_window(values, lookback=data.lookback, target=data.target, scaler=run.scaler,
                             inputs=input_matrix(built), input_scalers=scalers)
    except NotEnoughDataError:
        stale = [c.name for c in built if not np.isfinite(c.values[-data.lookback:]).all()]
        raise DataError(
            f"{', '.join(stale)} is missing or older than {data.max_stale_days} days on some of the "
            f"last {data.lookback} {symbol} days; fetch it again so it covers them"
        ) from None
    raw = run.scaler.inverse(np.asarray(run.predictor()(window), dtype=np.float64))
    previous = values[-1:]
    return apply_shrink(previous, to_price(raw, previous, data.target), float(meta.get("shrinkage_weight", 1.0)))
