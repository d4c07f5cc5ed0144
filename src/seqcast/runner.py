"""Training runs: fit on a loaded series, save into the registry, and the loops over seeds and folds.

train = run_inputs.load_input -> fit_run (needs no workspace, so any process can run it) ->
save_run. train_seeds repeats it per seed (on several cores via seqcast.seeds); backtest
retrains per walk-forward fold (seqcast.backtest) and saves the record (backtest_store).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast.config import RunConfig, RunOptions, check_seeds, make_config
from seqcast.errors import SeqcastError
from seqcast.run_inputs import SeriesInput, fingerprint, load_input
from seqcast.runs import CSV_FLOAT_FORMAT, Run, RunStore
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from typing_extensions import Unpack

    from seqcast.backtest import BacktestResult, FoldCallback
    from seqcast.pipeline import Fitted
    from seqcast.training import EpochCallback, FitResult


@dataclass
class TrainResult:
    """A finished training: the saved run plus what the loop reported."""

    run: Run
    fit: FitResult


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


def train(
    config: RunConfig | None = None,
    *,
    home: Path | str | None = None,
    on_epoch_end: EpochCallback | None = None,
    **overrides: Unpack[RunOptions],
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


def fit_run(series: SeriesInput, *, on_epoch_end: EpochCallback | None = None) -> tuple[RunRecord, FitResult]:
    """Train and evaluate on series; touches no workspace, so any process can run it."""
    from seqcast.pipeline import fit_evaluate
    from seqcast.resources import memory_hint

    with memory_hint(series.cfg):
        fitted = fit_evaluate(series.values, series.cfg, on_epoch_end=on_epoch_end, inputs=series.inputs)
    weights = {k: v.detach().cpu().numpy() for k, v in fitted.model.state_dict().items()}
    record = RunRecord(series.cfg, _run_meta(series, fitted), weights, fitted.ds.scaler.to_dict(),
                       fitted.fit.history, fitted.report, _predictions_frame(series, fitted))
    return record, fitted.fit


def _predictions_frame(series: SeriesInput, fitted: Fitted) -> pd.DataFrame:
    """predictions.csv: every window's date, part, actual, forecast, naive and interval."""
    import numpy as np
    import pandas as pd

    ds = fitted.ds
    part_names = np.empty(len(ds.positions), dtype=object)
    part_names[ds.train], part_names[ds.val], part_names[ds.test] = "train", "val", "test"
    return pd.DataFrame({
        "date": series.dates[ds.positions].strftime("%Y-%m-%d"),
        "part": part_names,
        "actual": ds.actual,
        "predicted": fitted.predicted,
        "naive": ds.previous,
        "lower": fitted.lower,
        "upper": fitted.upper,
    })


def _run_meta(series: SeriesInput, fitted: Fitted) -> dict[str, Any]:
    """meta.json less run_id, created_at and the weights' checksums (save_run adds those)."""
    from seqcast.covariates import input_records

    cfg, values, dates = series.cfg, series.values, series.dates
    ds, result = fitted.ds, fitted.fit
    val_n = ds.val.stop - ds.val.start
    meta: dict[str, Any] = {
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
            "seconds": round(result.seconds, 3), "device": str(fitted.device),
            "threads": fitted.threads, "torch": fitted.torch_version,
        },
        "shrinkage_weight": fitted.shrinkage_weight,
        "interval_widths": fitted.widths,  # multipliers of the h-day GARCH scale, h = 1..
        "interval_scale": "log" if fitted.relative else "price",
        # GJR-GARCH(1,1)-t and GARCH(1,1)-normal fitted on the training part; variances averaged
        "volatility": [p.to_dict() for p in fitted.vol] if fitted.vol else None,
        "level": cfg.train.level,  # the intervals' nominal level
        **series.sampling,
    }
    meta["split"]["dropped_windows"] = ds.dropped
    meta["inputs"] = input_records(
        series.input_descriptors, ds, dates,
        {"name": f"{cfg.data.symbol}:{cfg.data.source} {cfg.data.target}", "symbol": cfg.data.symbol,
         "source": cfg.data.source, "transform": cfg.data.target, "fingerprint": meta["data"]["fingerprint"]})
    return meta


def save_run(record: RunRecord, home: Path | str | None = None) -> Run:
    """Write a trained run into the workspace's registry (atomically); returns it."""
    from seqcast.modelio import weight_files

    ws = Workspace.resolve(home)
    cfg = record.config
    runs = RunStore(ws)
    run_id = runs.new_id(cfg.model.kind, record.meta["symbol"])
    meta = {"run_id": run_id, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **record.meta}
    writer = runs.writer(run_id)
    try:
        files = weight_files(record.weights)  # model.pt and weights.npz
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


MAX_SEEDS = 100
"""train --seeds: trainings of one config."""
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
    **overrides: Unpack[RunOptions],
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
    cfg = make_config(config, **overrides)
    check_seeds(cfg.train.seed, seeds, max_seeds=MAX_SEEDS)
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
    results = _seeds_in_turn(cfg, seeds, home, on_epoch_end, on_seed_start, on_seed_end)
    return SeedsResult(results, _seed_summary(results))


def _seeds_in_turn(cfg: RunConfig, seeds: int, home: Path | str | None, on_epoch_end: EpochCallback | None,
                   on_seed_start: Callable[[int, int], None] | None,
                   on_seed_end: Callable[[int, int], None] | None) -> list[TrainResult]:
    """train_seeds in this process, one seed after another; Ctrl-C and errors name the runs saved."""
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
    return results


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
    **overrides: Unpack[RunOptions],
) -> BacktestResult:
    """Walk-forward backtest on expanding windows; saved as <home>/backtests/<id>.json.

    Each fold fits its own scaler and model on everything before its test block.
    Keyword overrides set single options, as for train(): backtest(folds=5, model="gru").
    backend="ray" runs the folds as Ray tasks (address: an existing cluster).
    """
    from seqcast.backtest import walk_forward
    from seqcast.backtest_store import save_backtest
    from seqcast.resources import memory_hint
    from seqcast.store import check_writable

    cfg = make_config(config, **overrides)
    ws = Workspace.resolve(home)
    series = load_input(cfg, ws.root)
    check_writable(ws)
    dates = series.dates
    with memory_hint(series.cfg):
        if backend == "local" and address is None:
            result = walk_forward(series.values, dates, series.cfg, folds, workers=workers,
                                  on_fold_end=on_fold_end, inputs=series.inputs)
        else:
            from seqcast.executors import make_executor

            with make_executor(backend, workers=workers, address=address) as executor:
                result = walk_forward(series.values, dates, series.cfg, folds, on_fold_end=on_fold_end,
                                      executor=executor, inputs=series.inputs)
    return save_backtest(result, series, ws.root)


