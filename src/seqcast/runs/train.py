"""Training runs: fit on a loaded series, save into the registry, and the loops over seeds and folds.

train = run_inputs.load_input -> fit_run (needs no workspace, so any process can run it) ->
save_run. train_seeds repeats it per seed (on several cores via seqcast.runs.seeds); backtest
retrains per walk-forward fold (seqcast.runs.backtest) and saves the record (backtest_store).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast.config import RunConfig, RunOptions, make_config
from seqcast.data.revisions import anchors
from seqcast.inputs.loading import SeriesInput, fingerprint, load_input
from seqcast.runs.registry import CSV_FLOAT_FORMAT, Run, RunStore
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from typing_extensions import Unpack

    from seqcast.forecast.evaluation import Fitted
    from seqcast.models.training import EpochCallback, FitResult
    from seqcast.runs.backtest import BacktestResult, FoldCallback


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
    calibration: dict[str, Any] | None = None
    """calibration.json: forecast.intervals.Calibration.to_dict() (None: the run has no intervals)."""


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
    record, fitted = fit_record(series, on_epoch_end=on_epoch_end)
    return record, fitted.fit


def fit_record(series: SeriesInput, *, on_epoch_end: EpochCallback | None = None) -> tuple[RunRecord, Fitted]:
    """fit_run with the evaluation itself (the network, the windows, the calibration) instead of
    only the loop's result: seqcast.fit keeps it to forecast at other levels."""
    from seqcast.forecast.evaluation import fit_evaluate
    from seqcast.models.memory import memory_hint

    with memory_hint(series.cfg):
        fitted = fit_evaluate(series.values, series.cfg, on_epoch_end=on_epoch_end, inputs=series.inputs)
    weights = {k: v.detach().cpu().numpy() for k, v in fitted.model.state_dict().items()}
    record = RunRecord(series.cfg, _run_meta(series, fitted), weights, fitted.ds.scaler.to_dict(),
                       fitted.fit.history, fitted.report, _predictions_frame(series, fitted),
                       fitted.calibration.to_dict() if fitted.calibration is not None else None)
    return record, fitted


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
    from seqcast.inputs.covariates import input_records

    cfg, values, dates = series.cfg, series.values, series.dates
    ds, result = fitted.ds, fitted.fit
    val_n = ds.val.stop - ds.val.start
    meta: dict[str, Any] = {
        "symbol": cfg.data.symbol,
        "source": cfg.data.source,
        "data": {
            "first": str(dates[0].date()), "last": str(dates[-1].date()), "rows": len(values),
            "fingerprint": fingerprint(dates, values),
            "anchors": anchors(dates, values),  # to say what changed when the fingerprint no longer matches
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
    flat = _flat_training_warnings(series, ds.n_train)
    if flat:
        meta["data_warnings"] = [*meta.get("data_warnings", []), *flat]
    meta["inputs"] = input_records(
        series.input_descriptors, ds, dates,
        {"name": f"{cfg.data.symbol}:{cfg.data.source} {cfg.data.target}", "symbol": cfg.data.symbol,
         "source": cfg.data.source, "transform": cfg.data.target, "fingerprint": meta["data"]["fingerprint"]})
    return meta


def _flat_training_warnings(series: SeriesInput, n_train: int) -> list[dict[str, Any]]:
    """meta "data_warnings" for a training part in which the target, or a covariate's log-return, barely moves."""
    import numpy as np

    from seqcast.forecast.volatility import barely_moves

    dates = series.dates
    span = f"{dates[0].date()} .. {dates[n_train - 1].date()}, rows 1-{n_train}"
    out = []
    flat = barely_moves(np.diff(series.values[:n_train]))
    if flat:
        out.append({"kind": "flat-training-part", "message": (
            f"the training part ({span}) barely moves: {flat[0]} of {flat[1]} daily moves differ from 0, "
            "so the network, its intervals and a GARCH(1,1) comparison learn nothing from it (no comparison "
            "is made); train on data that moves: --from a date after the flat stretch, or a larger --split")})
    if series.inputs is not None:
        for j, record in enumerate(series.input_descriptors):
            if record.get("transform") != "logret":
                continue
            flat = barely_moves(series.inputs[:n_train, j])
            if flat:
                out.append({"kind": "flat-covariate", "message": (
                    f"{record.get('name', 'a covariate')} barely moves in the training part ({span}): "
                    f"{flat[0]} of {flat[1]} daily moves differ from 0 (a peg?), so its scale is floored at the "
                    "target's typical move; it can teach the network little: leave it out, or train from a "
                    "date when it floats")})
    return out


def save_run(record: RunRecord, home: Path | str | None = None) -> Run:
    """Write a trained run into the workspace's registry (atomically); returns it."""
    from seqcast.runs.networks import weight_files

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
        if record.calibration is not None:  # predict-next --level: the scores behind the widths
            writer.json("calibration.json", record.calibration)
        writer.json("meta.json", meta)  # written last: its presence marks a complete run
    except BaseException:
        writer.abort()
        raise
    path = writer.commit()
    return Run(run_id, path)


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
    from seqcast.data.store import check_writable
    from seqcast.models.memory import memory_hint
    from seqcast.runs.backtest import walk_forward
    from seqcast.runs.records import save_backtest

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
            from seqcast.runs.parallel.executors import make_executor

            with make_executor(backend, workers=workers, address=address) as executor:
                result = walk_forward(series.values, dates, series.cfg, folds, on_fold_end=on_fold_end,
                                      executor=executor, inputs=series.inputs)
    return save_backtest(result, series, ws.root)


