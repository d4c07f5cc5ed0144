"""The Python API: everything the CLI does, as functions.

    from seqcast import api
    api.fetch("eurpln", source="sample")
    result = api.train(model="lstm", split=0.7)
    print(result.run.metrics["test"]["rmse_ratio"])
    print(api.predict_next().rows[0])

Every function takes `home` (the workspace root; default $SEQCAST_HOME or
~/.seqcast) and raises only SeqcastError subclasses for problems a user can fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from seqcast.errors import ConfigError, DataError, SeqcastError, UnknownSourceError
from seqcast.runs import Run, RunStore
from seqcast.store import Store, StoredSeries, check_writable, fetch_command
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from seqcast.training import EpochCallback, FitResult



# --------------------------------------------------------------------------- data


def fetch(
    symbol: str,
    *,
    source: str = "stooq",
    start: date | str | None = None,
    end: date | str | None = None,
    interval: str = "d",
    csv: Path | str | None = None,
    apikey: str | None = None,
    domain: str | None = None,
    full: bool = False,
    home: Path | str | None = None,
    date_format: str | None = None,
    options: dict[str, Any] | None = None,
) -> StoredSeries:
    """Fetch a series and store it; a later fetch only asks for the newest days.

    `csv=` imports a file (source "csv"); `date_format` ("dmy", "mdy" or "ymd") reads its
    dates when they read both day- and month-first. Stored rows are kept: new rows are merged
    in, and the newer value wins on dates both have; `full=True` replaces the stored
    series instead (a generated series, source "synthetic", is always replaced). A download
    that fails, is cut off or holds implausible values leaves what was stored untouched
    (see Store.fetch). `options=` passes source settings such as
    {"length": 1000, "noise": 0.1, "period": 20, "seed": 0} for "synthetic".
    """
    from seqcast.series import normalise_symbol
    from seqcast.sources import FetchRequest, get_source

    symbol = normalise_symbol(symbol)
    if csv is not None:
        source = "csv"
    start_d, end_d = _as_date(start, "--from"), _as_date(end, "--to")
    if start_d and end_d and start_d > end_d:
        raise ConfigError(f"--from {start_d} is after --to {end_d}")
    if interval not in ("d", "w", "m"):
        raise ConfigError(f"--interval must be d, w or m, got {interval!r}")
    if domain is not None and domain not in ("pl", "com"):
        raise ConfigError(f"--domain must be pl or com, got {domain!r}")
    src = get_source(source)
    ws = Workspace.resolve(home)
    check_writable(ws)
    options = dict(options or {})
    # A generated series is replaced, never merged with an earlier generation.
    full = full or bool(getattr(src, "replaces_stored", False))
    if csv is not None:
        options["path"] = str(csv)
    if date_format is not None:
        if csv is None:
            raise ConfigError("--date-format applies to a --csv file only")
        options["date_format"] = date_format
    if apikey:
        options["apikey"] = apikey
    if domain:
        options["domain"] = domain
    request = FetchRequest(symbol, start_d, end_d, interval, options)  # type: ignore[arg-type]
    return Store(ws).fetch(src, request, full=full, name=source)


def remove_series(
    symbol: str, *, source: str | None = None, home: Path | str | None = None
) -> list[StoredSeries]:
    """Delete a stored series (from one source, or from every source that has it); what was removed."""
    from seqcast.sources import source_names

    if source is not None and source not in source_names():
        raise UnknownSourceError(f"unknown source {source!r}; choose one of: {', '.join(source_names())}")
    return Store(Workspace.resolve(home)).remove(symbol, source)


def stored_series(home: Path | str | None = None) -> list[StoredSeries]:
    """Every series in the workspace's store."""
    return Store(Workspace.resolve(home)).list()


def load_series(
    symbol: str | None = None, source: str | None = None, home: Path | str | None = None
) -> tuple[StoredSeries, pd.DataFrame]:
    """A stored series (the most recently fetched when symbol is None) and its frame."""
    from seqcast.sources import source_names

    if source is not None and source not in source_names():
        raise UnknownSourceError(f"unknown source {source!r}; choose one of: {', '.join(source_names())}")
    store = Store(Workspace.resolve(home))
    stored = store.get(symbol, source) if symbol else store.latest(source)
    return stored, stored.load()


# --------------------------------------------------------------------------- training


@dataclass
class TrainResult:
    """A finished training: the saved run plus what the loop reported."""

    run: Run
    fit: FitResult


def make_config(config: RunConfig | None = None, **overrides: Any) -> RunConfig:
    """A RunConfig from defaults (or `config`) with flat overrides such as model="gru", lr=1e-3."""
    config = config or RunConfig()
    parts = {"data": config.data, "model": config.model, "train": config.train}
    aliases = {"model": ("model", "kind")}
    for key, value in overrides.items():
        section, name = aliases.get(key, (None, key))
        if section is None:
            section = next((s for s, part in parts.items()
                            if name in {f.name for f in fields(part)}), None)
        if section is None:
            raise ConfigError(f"unknown training option {key!r}")
        parts[section] = dataclasses.replace(parts[section], **{name: value})
    return RunConfig(**parts)


def train(
    config: RunConfig | None = None,
    *,
    home: Path | str | None = None,
    on_epoch_end: EpochCallback | None = None,
    **overrides: Any,
) -> TrainResult:
    """Window, scale, train, evaluate against naive, and save a run.

    Keyword overrides set single options: train(model="gru", epochs=10, split=0.7).
    The three steps are public for sweeps: load_input -> fit_run (needs no workspace) -> save_run.
    """
    cfg = make_config(config, **overrides)
    ws = Workspace.resolve(home)
    series = load_input(cfg, ws.root)
    RunStore(ws).check_writable()  # a read-only or full workspace fails now, not after training
    record, result = fit_run(series, on_epoch_end=on_epoch_end)
    return TrainResult(save_run(record, ws.root), result)


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


@dataclass
class RunRecord:
    """A trained run before it is saved: arrays and JSON-able dicts only (picklable, no torch)."""

    config: RunConfig
    meta: dict[str, Any]
    weights: dict[str, np.ndarray]  # the model's state dict as arrays
    scaler: dict[str, Any]
    history: list[dict[str, float]]
    report: dict[str, Any]  # metrics.json
    predictions: pd.DataFrame


def load_input(cfg: RunConfig, home: Path | str | None = None) -> SeriesInput:
    """The stored series cfg names (the last fetched when None), cut to --from/--to."""
    import numpy as np
    import pandas as pd

    from seqcast.series import between

    stored, frame = load_series(cfg.data.symbol, cfg.data.source, home)
    # The saved config names the series actually used, not "the last fetched".
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, symbol=stored.symbol, source=stored.source))
    selected = between(frame, _as_date(cfg.data.start, "--from"), _as_date(cfg.data.end, "--to"))
    if selected.empty:
        raise DataError(_empty_range_message(stored.symbol, cfg.data, frame))
    sampling = _sampling_record(stored, frame.index, selected.index)  # calendar + data warnings
    prepared = _prepare_inputs(Workspace.resolve(home), cfg, stored, selected)  # past covariates, extra columns
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, covariates=list(prepared.stored)))
    frame = prepared.frame
    if len(frame) < len(selected):  # the inputs are known on fewer rows than the target has: say so
        kept = f"{frame.index[0].date()} .. {frame.index[-1].date()}" if len(frame) else "no rows"
        sampling = {**sampling, "data_warnings": [*sampling.get("data_warnings", []), {
            "kind": "inputs-range",
            "message": (f"the inputs are known on {len(frame)} of the {len(selected)} selected {stored.symbol} rows "
                        f"({kept} of {selected.index[0].date()} .. {selected.index[-1].date()}): a covariate starts "
                        "later or ends earlier; fetch more of it to use the rest"),
        }]}
    dates = pd.DatetimeIndex(frame.index)
    descriptors = []
    if prepared.columns:
        from seqcast.covariates import input_descriptors

        descriptors = input_descriptors(prepared, dates, cfg.data.max_stale_days)
    return SeriesInput(cfg, frame["Close"].to_numpy(dtype=np.float64), dates, stored.meta.get("sha256"),
                       inputs=prepared.matrix, input_descriptors=descriptors, sampling=sampling)


def _prepare_inputs(ws: Workspace, cfg: RunConfig, stored: StoredSeries, frame: pd.DataFrame):
    """The covariates and extra columns of cfg on the target's rows (covariates.prepare_inputs)."""
    from seqcast.covariates import prepare_inputs

    return prepare_inputs(Store(ws), cfg.data, stored.symbol, stored.source, frame)


def fit_run(series: SeriesInput, *, on_epoch_end: EpochCallback | None = None) -> tuple[RunRecord, FitResult]:
    """Train and evaluate on series; touches no workspace, so any process can run it."""
    import numpy as np
    import pandas as pd

    from seqcast.pipeline import fit_evaluate
    from seqcast.resources import memory_hint

    cfg, values, dates = series.cfg, series.values, series.dates
    with memory_hint(cfg):
        fitted = fit_evaluate(values, cfg, on_epoch_end=on_epoch_end, inputs=series.inputs)
    ds, model, result, report, device = fitted.ds, fitted.model, fitted.fit, fitted.report, fitted.device
    val_n = ds.val.stop - ds.val.start

    part_names = np.empty(len(ds.positions), dtype=object)
    part_names[ds.train], part_names[ds.val], part_names[ds.test] = "train", "val", "test"
    predictions = pd.DataFrame({
        "date": dates[ds.positions].strftime("%Y-%m-%d"),
        "part": part_names,
        "actual": ds.actual,
        "predicted": fitted.predicted,
        "naive": ds.previous,
        "lower": fitted.lower,
        "upper": fitted.upper,
    })
    meta = {
        "symbol": cfg.data.symbol,
        "source": cfg.data.source,
        "data": {
            "first": str(dates[0].date()), "last": str(dates[-1].date()), "rows": len(values),
            "fingerprint": fingerprint(dates, values),
            "store_sha256": series.store_sha256,
        },
        "split": {
            "train_first": str(dates[0].date()),
            "train_last": str(dates[ds.n_train - 1].date()),
            "val_first": str(dates[ds.positions[ds.val.start]].date()) if val_n else None,
            "test_first": str(dates[ds.n_train].date()),
            "scaler_fitted_on": [str(dates[0].date()), str(dates[ds.n_train - 1].date())],
            "windows": {"train": ds.train.stop - ds.train.start, "val": val_n,
                        "test": ds.test.stop - ds.test.start},
        },
        "training": {
            "epochs_run": len(result.history), "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early, "interrupted": result.interrupted,
            "seconds": round(result.seconds, 3), "device": str(device),
            "threads": fitted.threads, "torch": fitted.torch_version,
        },
        "shrink": fitted.alpha,
        "interval_widths": fitted.widths,  # multipliers of the h-day GARCH scale, h = 1..
        "interval_scale": "log" if fitted.relative else "price",
        # GJR-GARCH(1,1)-t and GARCH(1,1)-normal fitted on the training part; variances averaged
        "volatility": [p.to_dict() for p in fitted.vol] if fitted.vol else None,
        "coverage": cfg.train.coverage,
        **series.sampling,
    }
    from seqcast.covariates import input_records

    meta["split"]["dropped_windows"] = ds.dropped
    meta["inputs"] = input_records(
        series.input_descriptors, ds, dates,
        {"name": f"{cfg.data.symbol}:{cfg.data.source} {cfg.data.target}", "symbol": cfg.data.symbol,
         "source": cfg.data.source, "transform": cfg.data.target, "fingerprint": meta["data"]["fingerprint"]})
    weights = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    record = RunRecord(cfg, meta, weights, ds.scaler.to_dict(), result.history, report, predictions)
    return record, result


def save_run(record: RunRecord, home: Path | str | None = None) -> Run:
    """Write a trained run into the workspace's registry (atomically); returns it."""
    import io

    import torch

    from seqcast.npmodel import save_npz

    ws = Workspace.resolve(home)
    cfg = record.config
    runs = RunStore(ws)
    run_id = runs.new_id(cfg.model.kind, record.meta["symbol"])
    meta = {"run_id": run_id, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **record.meta}
    writer = runs.writer(run_id)
    try:
        buffer = io.BytesIO()
        torch.save({k: torch.tensor(v) for k, v in record.weights.items()}, buffer)  # copies (Ray: read-only)
        # The same weights as plain arrays: predict-next runs them without importing torch.
        files = {"model.pt": buffer.getvalue(), "weights.npz": save_npz(record.weights)}
        for name, data in files.items():
            writer.bytes(name, data)
        meta["weights_sha256"] = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
        writer.json("config.json", cfg.to_dict())
        writer.json("scaler.json", record.scaler)
        writer.json("history.json", record.history)
        writer.text("predictions.csv", record.predictions.to_csv(index=False, lineterminator="\n",
                                                                 float_format=CSV_FLOAT_FORMAT))
        writer.json("metrics.json", record.report)
        writer.json("meta.json", meta)  # written last: its presence marks a complete run
    except BaseException:
        writer.abort()
        raise
    path = writer.commit()
    return Run(run_id, path)


def fingerprint(dates: Any, values: np.ndarray) -> str:
    """A short hash of the dates (any datetime array or index) and closes a model was trained on."""
    import numpy as np

    digest = hashlib.sha256()
    days = np.asarray(dates, dtype="datetime64[D]").astype("<i8")
    digest.update(days.tobytes())
    digest.update(np.asarray(values, dtype="<f8").tobytes())
    return digest.hexdigest()[:16]


if TYPE_CHECKING:
    from collections.abc import Callable

    from seqcast.backtest import BacktestResult, FoldCallback
    from seqcast.backtest_store import BacktestRecord
    from seqcast.sweep import Sweep

SEED_METRICS = ("rmse", "mae", "mape", "directional_accuracy", "rmse_ratio", "naive_rmse")
"""Test metrics summarised across seeds by train_seeds."""


@dataclass
class SeedsResult:
    """One saved run per seed plus mean and sample sd of their test metrics."""

    results: list[TrainResult]
    summary: dict[str, dict[str, float]]  # metric -> {"mean", "sd"}

    @property
    def runs(self) -> list[Run]:
        return [r.run for r in self.results]

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [{"run_id": r.run_id, "seed": r.config.train.seed, "path": str(r.path),
                      "test": r.metrics["test"], "verdict": r.metrics.get("verdict")}
                     for r in self.runs],
            "summary": self.summary,
        }


def train_seeds(
    config: RunConfig | None = None,
    *,
    seeds: int = 3,
    home: Path | str | None = None,
    on_epoch_end: EpochCallback | None = None,
    on_seed_start: Callable[[int, int], None] | None = None,
    on_seed_end: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    on_start: Callable[[int], None] | None = None,
    **overrides: Any,
) -> SeedsResult:
    """Train with seeds seed, seed+1, ... (each a saved run); mean ± sd of the test metrics.

    A single seed of a small network is noise; the spread across seeds says how much.
    On the CPU with more than one usable core, seeds train at once in worker processes,
    one thread each (seqcast.seeds.seed_workers; workers=1 forces one after another), with
    the same runs and metrics; the runs are saved in seed order. on_seed_start(index, seed)
    and on_epoch_end are called only one after another (workers report no epochs);
    on_seed_end(index, seed) after each seed's training, either way. By default seeds train
    at once only when each is expected to take longer than starting a worker
    (seqcast.seeds.MIN_PARALLEL_SEED_FLOP). on_start(workers) says which, before training.
    """
    if not isinstance(seeds, int) or isinstance(seeds, bool) or not 1 <= seeds <= 100:
        raise ConfigError(f"--seeds must be a whole number between 1 and 100, got {seeds!r}")
    cfg = make_config(config, **overrides)
    from seqcast.config import MAX_SEED

    if cfg.train.seed + seeds - 1 > MAX_SEED:
        raise ConfigError(f"--seed {cfg.train.seed} with --seeds {seeds} goes past the largest seed, "
                          f"{MAX_SEED}; choose a smaller --seed")
    from seqcast.seeds import MIN_PARALLEL_SEED_FLOP, seed_flop, seed_workers, train_parallel

    n_workers, series = seed_workers(cfg, seeds, workers), None
    if n_workers > 1 and workers is None:  # by default only when a seed costs more than a worker's start
        series = load_input(cfg, home)
        if seed_flop(series) < MIN_PARALLEL_SEED_FLOP:
            n_workers, series = 1, None
    if on_start is not None:
        on_start(n_workers)
    if n_workers > 1:
        at_once = train_parallel(cfg, seeds, n_workers, home, on_seed_end=on_seed_end, series=series)
        return SeedsResult(at_once, _seed_summary(at_once))
    results: list[TrainResult] = []
    try:
        for i in range(seeds):
            seed = cfg.train.seed + i
            if on_seed_start is not None:
                on_seed_start(i, seed)
            results.append(train(make_config(cfg, seed=seed), home=home, on_epoch_end=on_epoch_end))
            if on_seed_end is not None and not results[-1].fit.interrupted:
                on_seed_end(i, seed)
            if results[-1].fit.interrupted:
                raise KeyboardInterrupt  # Ctrl-C ends the whole command, not just this seed
    except KeyboardInterrupt:
        from seqcast.errors import TrainingInterrupted

        cut = bool(results) and results[-1].fit.interrupted
        note = f"seed {cfg.train.seed + len(results) - 1} was stopped early and saved with its best weights"
        raise TrainingInterrupted([r.run for r in results], note if cut else "") from None
    except SeqcastError as exc:
        if not results:
            raise
        ids = ", ".join(r.run.run_id for r in results)
        raise type(exc)(f"{exc} (seed {cfg.train.seed + len(results)}); the runs of the seeds "
                        f"before it were saved: {ids}") from exc
    return SeedsResult(results, _seed_summary(results))


def _seed_summary(results: list[TrainResult]) -> dict[str, dict[str, float]]:
    import numpy as np

    summary: dict[str, dict[str, float]] = {}
    for name in SEED_METRICS:
        values = np.array([float(r.run.metrics["test"][name]) for r in results])
        summary[name] = {"mean": float(np.mean(values)),
                         "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}
    return summary


def backtest(
    config: RunConfig | None = None,
    *,
    folds: int = 5,
    workers: int | None = None,
    backend: str = "local",
    address: str | None = None,
    home: Path | str | None = None,
    on_fold_end: FoldCallback | None = None,
    **overrides: Any,
) -> BacktestResult:
    """Walk-forward backtest on expanding windows; saved as <home>/backtests/<id>.json.

    Each fold fits its own scaler and model on everything before its test block.
    Keyword overrides set single options, as for train(): backtest(folds=5, model="gru").
    backend="ray" runs the folds as Ray tasks (address: an existing cluster).
    """
    from seqcast.backtest import walk_forward

    cfg = make_config(config, **overrides)
    ws = Workspace.resolve(home)
    series = load_input(cfg, ws.root)
    check_writable(ws)
    from seqcast.resources import memory_hint

    with memory_hint(series.cfg):
        if backend == "local" and address is None:
            result = walk_forward(series.values, series.dates, series.cfg, folds, workers=workers,
                                  on_fold_end=on_fold_end, inputs=series.inputs)
        else:
            from seqcast.executors import make_executor

            with make_executor(backend, workers=workers, address=address) as executor:
                result = walk_forward(series.values, series.dates, series.cfg, folds, on_fold_end=on_fold_end,
                                      executor=executor, inputs=series.inputs)
    return save_backtest(result, series, ws.root)


def save_backtest(result: BacktestResult, series: SeriesInput, home: Path | str | None = None) -> BacktestResult:
    """Give a finished backtest an id and write it to <home>/backtests/<id>.json (atomically)."""
    from seqcast import atomic

    ws = Workspace.resolve(home)
    cfg, values, dates = series.cfg, series.values, series.dates
    result.config = cfg
    result.backtest_id = RunStore(ws).new_id(cfg.model.kind, str(cfg.data.symbol))
    result.meta = {
        **result.meta,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "symbol": cfg.data.symbol,
        "source": cfg.data.source,
        "data": {"first": str(dates[0].date()), "last": str(dates[-1].date()), "rows": len(values),
                 "fingerprint": fingerprint(dates, values),
                 "store_sha256": series.store_sha256},
        **series.sampling,
    }
    result.path = ws.root / "backtests" / f"{result.backtest_id}.json"
    atomic.write_json(result.path, result.to_dict(predictions=True))
    return result


def sweep(
    grid: dict[str, Any] | None = None,
    *,
    symbols: list[str] | None = None,
    seeds: int = 1,
    seed: int = 0,
    backtest: int = 0,
    resume: str | None = None,
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
    home: Path | str | None = None,
    on_cell_end: Callable[[dict[str, Any], int, int], None] | None = None,
) -> Sweep:
    """Train every cell of a grid (options × symbols × seeds, or × backtest folds); see seqcast.sweep.

    grid maps train options (as for train(): model, lookback, lr, ...) to a value or a list of
    values: sweep({"model": ["lstm", "gru"], "lookback": [20, 60]}, symbols=["eurpln"], seeds=3).
    Each cell is saved as a run; the record with its leaderboard as <home>/sweeps/<id>.json.
    """
    from seqcast.sweep import SweepSpec, run_sweep

    spec = None
    if resume is None:
        values = {k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in (grid or {}).items()}
        spec = SweepSpec(values, list(symbols) if symbols else [None], seeds, seed, backtest)
    return run_sweep(spec, resume=resume, home=home, backend=backend, address=address, workers=workers,
                     on_cell_end=on_cell_end)


def list_sweeps(home: Path | str | None = None) -> list[Sweep]:
    """Saved sweeps, oldest first."""
    from seqcast.sweep import list_sweeps as listed

    return listed(home)


def load_sweep(sweep_id: str | None = None, home: Path | str | None = None) -> Sweep:
    """A sweep record by id or unique prefix (the latest when None)."""
    from seqcast.sweep import load_sweep as loaded

    return loaded(sweep_id, home)


# --------------------------------------------------------------------------- runs


def list_runs(home: Path | str | None = None) -> list[Run]:
    """Completed runs, oldest first."""
    return RunStore(Workspace.resolve(home)).list()


def load_run(run_id: str | None = None, home: Path | str | None = None) -> Run:
    """A run by id or unique id prefix; the latest when None."""
    return RunStore(Workspace.resolve(home)).get(run_id)


def plot(
    run_id: str | None = None,
    *,
    home: Path | str | None = None,
    fmt: str | None = None,
    out: Path | str | None = None,
) -> Path:
    """Draw the run's train and test charts and loss curves; returns the file written.

    The format is fmt, else out's extension (.png, .svg, .pdf), else PNG; an extension
    that contradicts fmt is an error, never a PNG inside a file named .svg.
    """
    from seqcast.plotting import save_run_figure

    formats = ("png", "svg", "pdf")
    if fmt is not None and fmt not in formats:
        raise ConfigError(f"--format must be png, svg or pdf, got {fmt!r}")
    if out is not None:
        ext = Path(out).suffix.lower().lstrip(".")
        if ext in formats and fmt is not None and ext != fmt:
            raise ConfigError(f"--format {fmt} does not match the file name {Path(out).name}; "
                              f"name the file .{fmt}, or drop --format (the extension decides)")
        if ext and ext not in formats:
            raise ConfigError(f"cannot write a .{ext} chart; name the file .png, .svg or .pdf")
        fmt = fmt or ext or None
    fmt = fmt or "png"
    sweep = _sweep_or_none(run_id, home)
    if sweep is not None:  # a sweep: its leaderboard
        from seqcast.plotting import save_sweep_figure

        return save_sweep_figure(sweep.data, Path(out) if out else sweep.path.with_suffix(f".{fmt}"), fmt)
    run = find(run_id, home)
    if not isinstance(run, Run):  # a backtest: its folds' test blocks, model vs naive
        from seqcast.plotting import save_backtest_figure

        return save_backtest_figure(run.data, Path(out) if out else run.path.with_suffix(f".{fmt}"), fmt)
    target = Path(out) if out else run.path / f"plot.{fmt}"
    return save_run_figure(run, target, fmt)


def list_backtests(home: Path | str | None = None) -> list[str]:
    """Ids of saved backtests, oldest first."""
    from seqcast.backtest_store import backtest_ids

    return backtest_ids(Workspace.resolve(home))


def load_backtest(backtest_id: str | None = None, home: Path | str | None = None) -> BacktestRecord:
    """A saved backtest by id or unique prefix (the latest when None)."""
    from seqcast.backtest_store import get_backtest

    return get_backtest(Workspace.resolve(home), backtest_id)


def find(ident: str | None = None, home: Path | str | None = None) -> Run | BacktestRecord:
    """A run or a saved backtest by id or unique prefix; the latest run when None."""
    from seqcast.backtest_store import resolve

    return resolve(Workspace.resolve(home), ident)


def remove(found: Run | BacktestRecord) -> None:
    """Delete a run folder, or a backtest with its report and charts (it disappears from listings at once)."""
    import os
    import shutil

    from seqcast.errors import WorkspaceError

    try:
        if isinstance(found, Run):
            # Renamed out of sight first: a half-deleted run is never listed as a run.
            hidden = found.path.with_name(f".tmp-rm-{found.run_id}-{os.getpid()}")
            os.rename(found.path, hidden)
            shutil.rmtree(hidden)
        else:
            from seqcast.backtest_store import remove_backtest

            remove_backtest(found)  # its JSON and the report and charts beside it
    except OSError as exc:
        raise WorkspaceError(f"cannot delete {found.path}: {exc.strerror or exc}") from exc


def export_predictions(ident: str | None = None, home: Path | str | None = None) -> str:
    """A run's predictions.csv as text; for a backtest, every fold's test forecasts."""
    found = find(ident, home)
    if isinstance(found, Run):
        return found.predictions().to_csv(index=False, lineterminator="\n", date_format="%Y-%m-%d",
                                          float_format=CSV_FLOAT_FORMAT)
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["fold", "date", "actual", "predicted", "naive"])
    for fold in found.data["folds"]:
        for row in fold.get("predictions") or []:
            writer.writerow([fold.get("fold"), row.get("date"),
                             *(_csv_number(row.get(k)) for k in ("actual", "predicted", "naive"))])
    return buffer.getvalue()


CSV_FLOAT_FORMAT = "%.10g"
"""Every number in predictions.csv and `runs export`: ten significant digits, the same for each column."""


def _csv_number(value: Any) -> Any:
    return CSV_FLOAT_FORMAT % value if isinstance(value, float) else value


def report(
    ident: str | None = None,
    *,
    home: Path | str | None = None,
    out: Path | str | None = None,
    fmt: str = "html",
    forecast: bool = False,
) -> Path:
    """Write the report of a run or backtest (HTML, self-contained; or Markdown); returns its path.

    Default place: report.html in the run folder; <backtest id>.html beside a backtest's JSON.
    forecast=True adds the next-day forecast from the latest stored data (runs only).
    """
    from seqcast import report as rep

    if fmt not in ("html", "md"):
        raise ConfigError(f"--format must be html or md, got {fmt!r}")
    sweep = _sweep_or_none(ident, home)
    if sweep is not None:
        if forecast:
            raise ConfigError("--forecast needs a run; a sweep has one model per cell")
        return _sweep_report(sweep, home=home, out=out, fmt=fmt)
    found = find(ident, home)
    if isinstance(found, Run):
        target = Path(out) if out else found.path / f"report.{fmt}"
        store_meta = None
        try:
            store_meta = Store(Workspace.resolve(home)).get(found.meta["symbol"], found.meta["source"]).meta
        except (DataError, KeyError):
            store_meta = None
        fc = predict_next(found.run_id, home=home) if forecast else None
        doc = rep.run_document(found, forecast=fc, store_meta=store_meta, report_path=target.resolve())
    else:
        if forecast:
            raise ConfigError("--forecast needs a run; a backtest has one model per fold")
        target = Path(out) if out else found.path.with_suffix(f".{fmt}")
        doc = rep.backtest_document(found, report_path=target.resolve())
    return rep.write(doc, target, fmt)  # type: ignore[arg-type]


def _sweep_or_none(ident: str | None, home: Path | str | None) -> Sweep | None:
    """The sweep ident names when it is no run or backtest id (None otherwise)."""
    from seqcast.errors import RunNotFoundError

    if ident is None:
        return None
    try:
        find(ident, home)
        return None
    except RunNotFoundError:
        pass
    try:
        return load_sweep(ident, home)
    except SeqcastError:
        return None  # find's own message is the one to show


def _sweep_report(sweep: Sweep, *, home: Path | str | None, out: Path | str | None, fmt: str) -> Path:
    """A sweep's report beside its record, plus each finished cell's own report, linked by relative path."""
    import os

    from seqcast import report as rep

    target = Path(out) if out else sweep.path.with_suffix(f".{fmt}")
    links: dict[str, str] = {}
    for cell in sweep.cells:
        ident = cell.get("run_id") or cell.get("backtest_id")
        if cell.get("status") != "done" or not ident or ident in links:
            continue
        try:
            cell_report = report(str(ident), home=home, fmt=fmt)
        except SeqcastError:
            continue  # a cell removed since (runs rm): listed without a link
        links[str(ident)] = os.path.relpath(cell_report, target.resolve().parent)
    return rep.write(rep.sweep_document(sweep.data, cell_reports=links), target, fmt)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- forecast


@dataclass
class Forecast:
    """predict-next's answer: the last known close and the forecast days."""

    run_id: str
    symbol: str
    source: str
    last_date: str
    last_close: float
    coverage: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    calendar: dict[str, Any] = field(default_factory=dict)
    """The series' calendar the dates follow (seqcast.calendars.Calendar.to_dict())."""
    stale: dict[str, Any] | None = None
    """When the latest data day is long past: last_date, today, periods, unit, message."""

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def predict_next(
    run_id: str | None = None, *, days: int = 1, home: Path | str | None = None
) -> Forecast:
    """Forecast the next trading day(s) from the latest stored data of the run's symbol.

    Needs torch but not pandas: the stored series is read with numpy (a faster start).
    """
    import numpy as np

    from seqcast.calendars import recorded_calendar, staleness
    from seqcast.forecasting import forecast_half_widths, interval_bounds, local_scale, recursive_forecast
    from seqcast.volatility import models_from_meta
    from seqcast.windowing import first_position

    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 250:
        raise ConfigError(f"--days must be between 1 and 250, got {days!r}")
    ws = Workspace.resolve(home)
    from seqcast.backtest_store import get_run

    run = get_run(ws, run_id, "predict-next")
    cfg, meta = run.config, run.meta
    try:
        symbol, source = meta["symbol"], meta["source"]
    except KeyError:
        from seqcast.errors import RunCorruptError

        raise RunCorruptError(f"{run.path / 'meta.json'} lacks the symbol; train again") from None
    stored = Store(ws).get(symbol, source)
    dates, values = stored.load_close()
    notes: list[str] = []
    need = first_position(cfg.data.lookback, cfg.data.target)
    if len(values) < need:
        raise DataError(
            f"the stored {symbol} series has {len(values)} rows; run {run.run_id} needs the last "
            f"{need}; fetch more data: {fetch_command(symbol, source)}"
        )
    trained = meta.get("data", {})
    try:
        trained_first = np.datetime64(trained.get("first", str(dates[0])), "D")
        trained_last = np.datetime64(trained.get("last", str(dates[-1])), "D")
    except (ValueError, TypeError, AttributeError):
        from seqcast.errors import RunCorruptError

        raise RunCorruptError(f"{run.path / 'meta.json'} holds invalid data dates; train again") from None
    if dates[-1] < trained_last:
        raise DataError(
            f"the stored {symbol} data ends {dates[-1]}, before the data run "
            f"{run.run_id} was trained on (to {trained_last}); fetch it again: "
            f"{fetch_command(symbol, source)}"
        )
    mask = (dates >= trained_first) & (dates <= trained_last)
    if fingerprint(dates[mask], values[mask]) != trained.get("fingerprint"):
        notes.append("the stored data was revised since this run was trained")
    if cfg.data.target == "logret" and (values[-need:] <= 0).any():
        raise DataError(f"the latest {symbol} prices include zero or negative values; "
                        "this run models log-returns and cannot use them")

    if cfg.data.n_inputs > 1:  # covariates or extra columns: one day, from every input's latest data
        from seqcast.covariates import predict_one_day

        path = predict_one_day(Store(ws), run, dates, values, days, notes)
    else:
        path = recursive_forecast(
            run.predictor(), values[None, -need:], days, target=cfg.data.target, scaler=run.scaler,
            lookback=cfg.data.lookback, alpha=float(meta.get("shrink", 1.0)),
        )[0]
    if not np.isfinite(path).all():
        from seqcast.errors import RunCorruptError

        raise RunCorruptError(f"run {run.run_id} forecasts a value that is not a finite number: its "
                              "weights or scaling are damaged; train again")
    widths = [float(w) for w in meta.get("interval_widths", [])]
    # The series' own next dates: its business days, weeks or months (seqcast.calendars).
    calendar = recorded_calendar(meta.get("calendar"), dates, source=source, symbol=symbol,
                                 interval=stored.meta.get("interval"))
    next_days = calendar.next_dates(dates[-1], days)
    stale = staleness(calendar, dates[-1], date.today())
    if stale is not None:
        again = (f"seqcast fetch {symbol} --source ecb (the bundled sample does not change)" if source == "sample"
                 else fetch_command(symbol, source) + (" (a newer file)" if source == "csv" else ""))
        notes.append(f"{stale['message']}: {again}")
    if not widths:
        from seqcast.pipeline import no_intervals_reason

        val_windows = meta.get("split", {}).get("windows", {}).get("val")
        notes.append(f"this run has no calibrated intervals ({no_intervals_reason(val_windows)})")
    elif days > len(widths):
        notes.append(f"intervals are calibrated up to {len(widths)} {calendar.unit} ahead; "
                     "later ones show none")
    relative = meta.get("interval_scale", "price") == "log" and bool((path > 0).all())
    if meta.get("volatility") is not None:
        vol = models_from_meta(meta["volatility"], str(run.path / "meta.json"))
        # The volatility recursion starts where training started, as it did then.
        since = values[dates >= trained_first]
        if meta.get("interval_scale") == "log" and not (since > 0).all():
            widths_h = np.full(days, np.nan)  # log-return volatility needs positive prices
        else:
            widths_h = forecast_half_widths(widths, since, vol, meta.get("interval_scale") == "log", days)
    else:  # a run saved before the GARCH scale: widths are multiples of the recent RMS move
        widths_h = np.array(widths[:days] + [np.nan] * max(0, days - len(widths)))
        window = meta.get("interval_vol_window")
        if isinstance(window, int) and window > 0:
            widths_h = widths_h * local_scale(values, np.array([len(values)]), relative, window)[0]
    lower, upper = interval_bounds(path, widths_h, relative)
    rows = [
        {"date": str(day), "predicted": float(p), "lower": float(lo), "upper": float(hi),
         "change_pct": float((p / values[-1] - 1) * 100)}
        for day, p, lo, hi in zip(next_days, path, lower, upper, strict=True)
    ]
    return Forecast(run.run_id, symbol, source, str(dates[-1]), float(values[-1]),
                    float(meta.get("coverage", cfg.train.coverage)), rows, notes,
                    calendar=calendar.to_dict(), stale=stale)


def _sampling_record(stored: StoredSeries, stored_dates: Any, used_dates: Any) -> dict[str, Any]:
    """meta's "calendar" (from every stored date) and "data_warnings" (from the rows used)."""
    from seqcast.calendars import sampling_record

    return sampling_record(stored_dates, used_dates, source=stored.source, symbol=stored.symbol,
                           interval=stored.meta.get("interval"))


def _as_date(value: date | str | None, flag: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{flag} must be a date as YYYY-MM-DD, got {value!r}") from None


def _empty_range_message(symbol: str, data: DataConfig, frame: pd.DataFrame) -> str:
    """No stored rows between --from and --to: say what is stored and what to do."""
    asked = " and ".join(f"{flag} {value}" for flag, value in (("--from", data.start), ("--to", data.end))
                         if value)
    return (f"no {symbol} rows for {asked}; the stored data covers {frame.index[0].date()} .. "
            f"{frame.index[-1].date()}: choose dates within it, or fetch more data")


__all__ = [
    "DataConfig", "Forecast", "ModelConfig", "RunConfig", "RunRecord", "SeedsResult", "SeriesInput",
    "TrainConfig", "TrainResult", "backtest", "fetch", "fit_run", "list_runs", "list_sweeps", "load_input",
    "load_run", "load_series", "load_sweep", "make_config", "plot", "predict_next", "save_backtest", "save_run",
    "stored_series", "sweep", "train", "train_seeds",
]
__all__ += ["export_predictions", "find", "list_backtests", "load_backtest", "remove", "report"]
