"""Walk-forward backtest: K expanding-window folds, each scaled and trained on its own past.

The first training part is cfg.data.split of the series; the rest is cut into K
contiguous test blocks. Fold k trains on everything before block k (its validation
tail is the end of that training part) and is tested on block k only, so no fold
ever sees its own test days or anything after them. Folds run in parallel worker
processes (or on Ray, seqcast.runs.parallel.executors) when more than one CPU core is
available; every fold uses the same seed, so the result does not depend on how many workers
ran it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seqcast.config import RunConfig, check_workers
from seqcast.errors import ConfigError, DataError, NotEnoughDataError, SeqcastError
from seqcast.forecast import metrics
from seqcast.inputs.windows import MIN_TEST_WINDOWS, MIN_TRAIN_WINDOWS, first_position
from seqcast.runs.parallel.executors import Executor, LocalExecutor, Task, available_cpus

if TYPE_CHECKING:
    import pandas as pd

MAX_FOLDS = 20
MIN_FOLD_TEST_DAYS = MIN_TEST_WINDOWS


@dataclass
class FoldResult:
    """One fold: where it was cut, what it learned from, and its test forecasts."""

    fold: int  # 1-based
    train_first: str
    train_last: str
    test_first: str
    test_last: str
    n_train: int  # rows in the training part (validation tail included)
    n_test: int  # test days = test windows
    windows: dict[str, int]  # train / val / test window counts
    scaler: dict[str, float]  # fitted on rows [0, n_train) only
    shrinkage_weight: float  # the fold's weight of the network's moves (0 = naive)
    epochs_run: int
    best_epoch: int
    seconds: float
    metrics: dict[str, Any]  # the fold's test metrics against naive
    test_dates: list[str]
    actual: np.ndarray  # (n_test,)
    predicted: np.ndarray  # (n_test,) after shrinkage
    previous: np.ndarray  # (n_test,) the naive forecast
    net_price: np.ndarray  # (n_test,) the network's own forecasts (direction is scored on these)
    input_scalers: list[dict[str, float]] = field(default_factory=list)  # extra inputs', fitted on [0, n_train)
    linear: np.ndarray = field(default_factory=lambda: np.empty(0))  # (n_test,) least squares on the same inputs

    def to_dict(self, predictions: bool = False) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("test_dates", "actual", "predicted", "previous", "net_price", "linear")}
        if predictions:
            out["predictions"] = [
                {"date": d, "actual": float(a), "predicted": float(p), "naive": float(n)}
                for d, a, p, n in zip(self.test_dates, self.actual, self.predicted, self.previous,
                                      strict=True)
            ]
        return out


@dataclass
class BacktestResult:
    """Every fold (sorted by fold) plus metrics on all test days pooled."""

    config: RunConfig
    folds: list[FoldResult]
    pooled: dict[str, Any]
    verdict: str
    workers: int
    backtest_id: str | None = None
    path: Path | None = None  # where api.backtest saved it
    meta: dict[str, Any] = field(default_factory=dict)
    linear: dict[str, float] = field(default_factory=dict)  # pooled least squares on the same inputs

    def to_dict(self, predictions: bool = False) -> dict[str, Any]:
        return {
            "backtest_id": self.backtest_id,
            **self.meta,
            "folds": [f.to_dict(predictions) for f in self.folds],
            "pooled": self.pooled,
            "linear": self.linear,
            "verdict": self.verdict,
            "workers": self.workers,
            "config": self.config.to_dict(),
            "path": str(self.path) if self.path else None,
        }


FoldCallback = Callable[[FoldResult], None]
"""on_fold_end(fold): called in the calling process as each fold finishes (any order)."""


def fold_bounds(n: int, split: float, folds: int) -> list[tuple[int, int]]:
    """(train_end, test_end) row indices per fold: test blocks of near-equal size."""
    blocks = np.array_split(np.arange(int(np.floor(split * n)), n), folds)
    return [(int(block[0]), int(block[-1]) + 1) for block in blocks]


def walk_forward(
    values: np.ndarray,
    dates: pd.DatetimeIndex | np.ndarray,
    cfg: RunConfig,
    folds: int,
    *,
    workers: int | None = None,
    on_fold_end: FoldCallback | None = None,
    inputs: np.ndarray | None = None,
    executor: Executor | None = None,
) -> BacktestResult:
    """Train and test one model per fold on an expanding window; pool the test days.

    Folds run on `executor` (seqcast.runs.parallel.executors: a local process pool or Ray); without one,
    in `workers` local processes (default: min(folds, CPU cores); 1 on a GPU), and in this
    process when that is 1. Worker processes are spawned, so a script calling this must
    guard its top level with `if __name__ == "__main__":`.
    """
    import pandas as pd

    from seqcast.runs.parallel.fanout import fan_out

    values = np.asarray(values, dtype=np.float64)
    dates = pd.DatetimeIndex(dates)
    if len(dates) != len(values):
        raise DataError(f"{len(values)} values but {len(dates)} dates")
    bounds = check_folds(len(values), cfg, folds)
    workers = _pick_workers(workers, folds, cfg) if executor is None else min(executor.workers, folds)

    # inputs: (len(values), k) unscaled extra inputs; each fold scales them on its own training part.
    def fold_inputs(end: int) -> np.ndarray | None:
        return None if inputs is None else inputs[:end]

    finished: dict[int, FoldResult] = {}

    def done(k: int, out: dict[str, Any]) -> None:
        finished[k] = fold_result(k, out, dates)
        if on_fold_end is not None:
            on_fold_end(finished[k])

    if executor is None and workers == 1:
        for k, (start, end) in enumerate(bounds, start=1):
            out = run_fold(values[:end], cfg, start, fold_inputs(end))
            if out["interrupted"]:
                raise KeyboardInterrupt
            done(k, out)
    else:
        # Longest folds first: they finish last otherwise.
        tasks = [Task(k, run_fold, (values[:end], _cap_threads(cfg, workers), start, fold_inputs(end)))
                 for k, (start, end) in reversed(list(enumerate(bounds, start=1)))]
        own = executor is None
        pool: Executor = (LocalExecutor(workers, threads=max(1, available_cpus() // workers))
                          if executor is None else executor)
        try:
            for outcome in fan_out(pool, tasks):  # Ctrl-C or SIGTERM: workers stopped, KeyboardInterrupt
                if not outcome.ok:
                    if isinstance(outcome.exception, SeqcastError):
                        raise outcome.exception
                    raise RuntimeError(f"backtest fold {outcome.key} failed: {outcome.error}")
                fold = outcome.key
                assert isinstance(fold, int)  # the fold number each Task was given
                done(fold, outcome.value)
        finally:
            if own:
                pool.close()
    return pool_folds(cfg, [finished[k] for k in sorted(finished)], workers)


def pool_folds(cfg: RunConfig, results: list[FoldResult], workers: int) -> BacktestResult:
    """The backtest of finished folds (sorted by fold): metrics on all their test days pooled."""
    pool = {name: np.concatenate([getattr(f, name) for f in results])
            for name in ("actual", "predicted", "previous", "net_price")}
    pooled = metrics.evaluate(pool["actual"], pool["predicted"], pool["previous"],
                              direction_from=pool["net_price"])
    # The simplest model on the same inputs, each fold fitted on its own training part.
    linear_rmse = metrics.rmse(pool["actual"], np.concatenate([f.linear for f in results]))
    linear = {"rmse": linear_rmse,
              "rmse_ratio": linear_rmse / pooled["naive_rmse"] if pooled["naive_rmse"] else float("nan")}
    verdict = metrics.verdict(pooled["rmse_ratio"], pooled["dm_pvalue"], rmse=pooled["rmse"],
                              naive_rmse=pooled["naive_rmse"])
    return BacktestResult(cfg, results, pooled, verdict, workers, linear=linear)


def _cap_threads(cfg: RunConfig, workers: int) -> RunConfig:
    """Split the cores between workers so they do not oversubscribe them."""
    threads = max(1, available_cpus() // workers)
    if cfg.train.threads and cfg.train.threads > threads:
        return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, threads=threads))
    return cfg


def check_folds(n: int, cfg: RunConfig, folds: int) -> list[tuple[int, int]]:
    if not isinstance(folds, int) or isinstance(folds, bool) or not 1 <= folds <= MAX_FOLDS:
        raise ConfigError(f"--folds must be a whole number between 1 and {MAX_FOLDS}, got {folds!r}")
    split, lookback, target = cfg.data.split, cfg.data.lookback, cfg.data.target
    first = int(np.floor(split * n))
    train_windows = first - first_position(lookback, target)
    if train_windows < MIN_TRAIN_WINDOWS:
        raise NotEnoughDataError(
            f"{n} rows are too few for --lookback {lookback} and --split {split:g}: the first "
            f"fold trains on {first} rows, which leaves {max(train_windows, 0)} training windows "
            f"(need {MIN_TRAIN_WINDOWS}); use a shorter --lookback, a higher --split or more data"
        )
    test_days = n - first
    if test_days // folds < MIN_FOLD_TEST_DAYS:
        raise NotEnoughDataError(
            f"{n} rows with --split {split:g} leave {test_days} test days; {folds} folds would get "
            f"{test_days // folds} each (need at least {MIN_FOLD_TEST_DAYS}); use fewer --folds, "
            f"a lower --split or more data"
        )
    return fold_bounds(n, split, folds)


def _pick_workers(workers: int | None, folds: int, cfg: RunConfig) -> int:
    check_workers(workers)
    if workers is not None:
        return min(workers, folds)
    from seqcast.models.training import pick_device

    if pick_device(cfg.train.device).type != "cpu":
        return 1  # one accelerator: folds queue for it anyway
    return max(1, min(folds, available_cpus()))


def run_fold(values: np.ndarray, cfg: RunConfig, n_train: int, inputs: np.ndarray | None = None) -> dict[str, Any]:
    """Train on values[:n_train], test on the rest; plain picklable results only (a pure task)."""
    from seqcast.forecast.evaluation import fit_evaluate

    fitted = fit_evaluate(values, cfg, n_train=n_train, intervals=False, inputs=inputs)
    ds, fit = fitted.ds, fitted.fit
    test = ds.test
    return {
        "n_train": ds.n_train,
        "n_total": len(values),
        "test_positions": ds.positions[test].copy(),  # windows with an unknown input are left out
        "windows": {"train": ds.train.stop - ds.train.start, "val": ds.val.stop - ds.val.start,
                    "test": test.stop - test.start},
        "scaler": ds.scaler.to_dict(),
        "input_scalers": [s.to_dict() for s in ds.input_scalers],
        "shrinkage_weight": float(fitted.shrinkage_weight),
        "epochs_run": len(fit.history),
        "best_epoch": fit.best_epoch,
        "seconds": round(fit.seconds, 3),
        "interrupted": fit.interrupted,
        "metrics": fitted.report["test"],
        "actual": ds.actual[test].copy(),
        "predicted": fitted.predicted[test].copy(),
        "previous": ds.previous[test].copy(),
        "net_price": fitted.net_price[test].copy(),
        "linear": fitted.linear[test].copy(),
    }


def fold_result(k: int, out: dict[str, Any], dates: Any) -> FoldResult:
    n_train, n_total = out["n_train"], out["n_total"]

    def day(i: int) -> str:
        return str(dates[i].date())

    return FoldResult(
        fold=k,
        train_first=day(0), train_last=day(n_train - 1),
        test_first=day(n_train), test_last=day(n_total - 1),
        n_train=n_train, n_test=len(out["test_positions"]),
        windows=out["windows"], scaler=out["scaler"], shrinkage_weight=out["shrinkage_weight"],
        epochs_run=out["epochs_run"], best_epoch=out["best_epoch"], seconds=out["seconds"],
        metrics=out["metrics"],
        test_dates=list(dates[out["test_positions"]].strftime("%Y-%m-%d")),
        actual=out["actual"], predicted=out["predicted"], previous=out["previous"],
        net_price=out["net_price"], input_scalers=out["input_scalers"], linear=out["linear"],
    )
