"""The Python API: everything the CLI does, as functions.

    from seqcast import api
    api.fetch("eurpln", source="sample")
    result = api.train(model="lstm", split=0.7)
    print(result.run.metrics["test"]["rmse_ratio"])
    print(api.predict_next().rows[0])

Every function takes `home` (the workspace root; default $SEQCAST_HOME or
~/.seqcast) and raises only SeqcastError subclasses for problems a user can fix.
This module is a thin facade: the logic lives in the modules named below, and the
names re-exported here (train, predict_next, SeriesInput, ...) are theirs.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast.config import DataConfig, ModelConfig, RunConfig, RunOptions, TrainConfig, make_config
from seqcast.data.store import Store, StoredSeries, check_source_name, fetch_series, load_stored
from seqcast.inputs.loading import SeriesInput, fingerprint, load_input
from seqcast.reports.outputs import find, plot, report
from seqcast.runs.backtests import BacktestRecord, predictions_csv, save_backtest
from seqcast.runs.predict_next import Forecast, predict_next
from seqcast.runs.registry import CSV_FLOAT_FORMAT, Run, RunStore
from seqcast.runs.seeds import SEED_METRICS, SeedsResult, train_seeds
from seqcast.runs.train import RunRecord, TrainResult, backtest, fit_run, save_run, train
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from seqcast.runs.sweep import Sweep

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
    return fetch_series(Workspace.resolve(home), symbol, source=source, start=start, end=end,
                        interval=interval, csv=csv, apikey=apikey, domain=domain, full=full,
                        date_format=date_format, options=options)


def remove_series(
    symbol: str, *, source: str | None = None, home: Path | str | None = None
) -> list[StoredSeries]:
    """Delete a stored series (from one source, or from every source that has it); what was removed."""
    check_source_name(source)
    return Store(Workspace.resolve(home)).remove(symbol, source)


def stored_series(home: Path | str | None = None) -> list[StoredSeries]:
    """Every series in the workspace's store."""
    return Store(Workspace.resolve(home)).list()


def load_series(
    symbol: str | None = None, source: str | None = None, home: Path | str | None = None
) -> tuple[StoredSeries, pd.DataFrame]:
    """A stored series (the most recently fetched when symbol is None) and its frame."""
    return load_stored(Workspace.resolve(home), symbol, source)


# --------------------------------------------------------------------------- sweeps


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
    """Train every cell of a grid (options × symbols × seeds, or × backtest folds); see seqcast.runs.sweep.

    grid maps train options (as for train(): model, lookback, lr, ...) to a value or a list of
    values: sweep({"model": ["lstm", "gru"], "lookback": [20, 60]}, symbols=["eurpln"], seeds=3).
    Each cell is saved as a run; the record with its leaderboard as <home>/sweeps/<id>.json.
    """
    from seqcast.runs.sweep import SweepSpec, run_sweep

    spec = None
    if resume is None:
        values = {k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in (grid or {}).items()}
        spec = SweepSpec(values, list(symbols) if symbols else [None], seeds, seed, backtest)
    return run_sweep(spec, resume=resume, home=home, backend=backend, address=address, workers=workers,
                     on_cell_end=on_cell_end)


def list_sweeps(home: Path | str | None = None) -> list[Sweep]:
    """Saved sweeps, oldest first."""
    from seqcast.runs.sweep import list_sweeps as listed

    return listed(home)


def load_sweep(sweep_id: str | None = None, home: Path | str | None = None) -> Sweep:
    """A sweep record by id or unique prefix (the latest when None)."""
    from seqcast.runs.sweep import load_sweep as loaded

    return loaded(sweep_id, home)


# --------------------------------------------------------------------------- runs and backtests


def list_runs(home: Path | str | None = None) -> list[Run]:
    """Completed runs, oldest first."""
    return RunStore(Workspace.resolve(home)).list()


def load_run(run_id: str | None = None, home: Path | str | None = None) -> Run:
    """A run by id or unique id prefix; the latest when None."""
    return RunStore(Workspace.resolve(home)).get(run_id)


def list_backtests(home: Path | str | None = None) -> list[str]:
    """Ids of saved backtests, oldest first."""
    from seqcast.runs.backtests import backtest_ids

    return backtest_ids(Workspace.resolve(home))


def load_backtest(backtest_id: str | None = None, home: Path | str | None = None) -> BacktestRecord:
    """A saved backtest by id or unique prefix (the latest when None)."""
    from seqcast.runs.backtests import get_backtest

    return get_backtest(Workspace.resolve(home), backtest_id)


def remove(found: Run | BacktestRecord) -> None:
    """Delete a run folder, or a backtest with its report and charts (it disappears from listings at once)."""
    from seqcast.runs.backtests import remove as removed

    removed(found)


def export_predictions(ident: str | None = None, home: Path | str | None = None) -> str:
    """A run's predictions.csv as text; for a backtest, every fold's test forecasts."""
    return predictions_csv(find(ident, home))


__all__ = [
    "DataConfig", "Forecast", "ModelConfig", "RunConfig", "RunRecord", "SeedsResult", "SeriesInput",
    "TrainConfig", "TrainResult", "backtest", "fetch", "fit_run", "list_runs", "list_sweeps", "load_input",
    "load_run", "load_series", "load_sweep", "make_config", "plot", "predict_next", "save_backtest", "save_run",
    "stored_series", "sweep", "train", "train_seeds",
]
__all__ += ["export_predictions", "find", "list_backtests", "load_backtest", "remove", "report"]
__all__ += ["CSV_FLOAT_FORMAT", "SEED_METRICS", "BacktestRecord", "RunOptions", "fingerprint", "remove_series"]
