"""The Python API: everything the CLI does, as functions, plus seqcast.fit on data held in memory.

    from seqcast import api
    api.fetch("eurpln", source="sample")
    result = api.train(model="lstm", split=0.7)
    print(result.run.metrics["test"]["rmse_ratio"])
    print(api.predict_next().rows[0])

    fitted = api.fit(close_series, epochs=20)    # no workspace: seqcast.fitted
    ws = api.Workspace("~/fx")                   # the verbs as methods: seqcast.runs.session

Every workspace function takes `home` (the workspace root; default $SEQCAST_HOME or
~/.seqcast) and is a thin wrapper of the Workspace method of the same name; all raise only
SeqcastError subclasses for problems a user can fix. This module is a thin facade: the logic
lives in the modules named below, and the names re-exported here are theirs. `__all__` lists
the verbs and their result types; the internals still importable from here for older code
(fit_run, save_run, load_input, fingerprint, CSV_FLOAT_FORMAT, SEED_METRICS, ...) are not in it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast.config import DataConfig, ModelConfig, RunConfig, RunOptions, TrainConfig, make_config
from seqcast.data.store import StoredSeries
from seqcast.fitted import Fitted, fit, load
from seqcast.reports.outputs import find, plot, report
from seqcast.runs.predict_next import Forecast, predict_next
from seqcast.runs.records import BacktestRecord
from seqcast.runs.registry import Run
from seqcast.runs.seeds import SeedsResult, train_seeds
from seqcast.runs.session import Workspace
from seqcast.runs.train import TrainResult, backtest, train

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from seqcast.runs.backtest import BacktestResult
    from seqcast.runs.sweep import Sweep

# Internals that older code imports from here; not part of the API (not in __all__).
from seqcast.data.store import Store, check_source_name, fetch_series, load_stored  # noqa: F401
from seqcast.inputs.loading import SeriesInput, fingerprint, load_input  # noqa: F401
from seqcast.runs.records import save_backtest  # noqa: F401
from seqcast.runs.registry import CSV_FLOAT_FORMAT, RunStore, predictions_csv  # noqa: F401
from seqcast.runs.seeds import SEED_METRICS  # noqa: F401
from seqcast.runs.train import RunRecord, fit_run, save_run  # noqa: F401

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
    """Fetch a series and store it; a later fetch only asks for the newest days (Workspace.fetch)."""
    return Workspace(home).fetch(symbol, source=source, start=start, end=end, interval=interval, csv=csv,
                                 apikey=apikey, domain=domain, full=full, date_format=date_format, options=options)


def sample(symbol: str = "eurpln") -> pd.Series:
    """A bundled sample as a pandas Series of closes named `symbol` (DatetimeIndex "Date"), ready for
    fit; "eurpln": the ECB's EUR/PLN reference rate (PLN per EUR) from 1999, offline. Raises NoDataError
    for a symbol the sample does not have."""
    from seqcast.data.sources.sample import sample_series

    return sample_series(symbol)


def remove_series(
    symbol: str, *, source: str | None = None, home: Path | str | None = None
) -> list[StoredSeries]:
    """Delete a stored series (from one source, or from every source that has it); what was removed."""
    return Workspace(home).remove_series(symbol, source=source)


def stored_series(home: Path | str | None = None) -> list[StoredSeries]:
    """Every series in the workspace's store."""
    return Workspace(home).stored_series()


def load_series(
    symbol: str | None = None, source: str | None = None, home: Path | str | None = None
) -> tuple[StoredSeries, pd.DataFrame]:
    """A stored series (the most recently fetched when symbol is None) and its frame."""
    return Workspace(home).series(symbol, source)


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
    """Train every cell of a grid (options × symbols × seeds, or × backtest folds); see Workspace.sweep.

    grid maps train options (as for train(): model, lookback, lr, ...) to a value or a list of
    values: sweep({"model": ["lstm", "gru"], "lookback": [20, 60]}, symbols=["eurpln"], seeds=3).
    Each cell is saved as a run; the record with its leaderboard as <home>/sweeps/<id>.json.
    """
    return Workspace(home).sweep(grid, symbols=symbols, seeds=seeds, seed=seed, backtest=backtest, resume=resume,
                                 backend=backend, address=address, workers=workers, on_cell_end=on_cell_end)


def list_sweeps(home: Path | str | None = None) -> list[Sweep]:
    """Saved sweeps, oldest first."""
    return Workspace(home).sweeps()


def load_sweep(sweep_id: str | None = None, home: Path | str | None = None) -> Sweep:
    """A sweep record by id or unique prefix (the latest when None)."""
    return Workspace(home).load_sweep(sweep_id)


# --------------------------------------------------------------------------- runs and backtests


def list_runs(home: Path | str | None = None) -> list[Run]:
    """Completed runs, oldest first."""
    return Workspace(home).runs()


def load_run(run_id: str | None = None, home: Path | str | None = None) -> Run:
    """A run by id or unique id prefix; the latest when None."""
    return Workspace(home).run(run_id)


def list_backtests(home: Path | str | None = None) -> list[str]:
    """Ids of saved backtests, oldest first."""
    return Workspace(home).backtests()


def load_backtest(backtest_id: str | None = None, home: Path | str | None = None) -> BacktestRecord:
    """A saved backtest by id or unique prefix (the latest when None)."""
    return Workspace(home).load_backtest(backtest_id)


def remove(found: Run | BacktestRecord) -> None:
    """Delete a run folder, or a backtest with its report and charts (it disappears from listings at once)."""
    from seqcast.runs.registry import remove as removed

    removed(found)


def export_predictions(ident: str | None = None, home: Path | str | None = None) -> str:
    """A run's predictions.csv as text; for a backtest, every fold's test forecasts."""
    return Workspace(home).export_predictions(ident)


__all__ = [  # the verbs, their results and the configuration they take
    "BacktestRecord", "BacktestResult", "DataConfig", "Fitted", "Forecast", "ModelConfig", "Run", "RunConfig",
    "RunOptions", "SeedsResult", "StoredSeries", "Sweep", "TrainConfig", "TrainResult", "Workspace", "backtest",
    "export_predictions", "fetch", "find", "fit", "list_backtests", "list_runs", "list_sweeps", "load",
    "load_backtest", "load_run", "load_series", "load_sweep", "make_config", "plot", "predict_next", "remove",
    "remove_series", "report", "sample", "stored_series", "sweep", "train", "train_seeds",
]


def __getattr__(name: str) -> Any:
    if name in ("BacktestResult", "Sweep"):  # imported on use: sweeps and backtests pull in more
        from seqcast.runs.backtest import BacktestResult
        from seqcast.runs.sweep import Sweep

        return {"BacktestResult": BacktestResult, "Sweep": Sweep}[name]
    raise AttributeError(f"module 'seqcast.api' has no attribute {name!r}")
