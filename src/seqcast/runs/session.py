"""seqcast.Workspace: one workspace folder and every verb on it, the way requests' Session carries its settings.

    ws = seqcast.Workspace("~/fx")
    ws.fetch("eurpln", source="sample")
    run = ws.train(model="gru", epochs=10).run
    ws.predict_next(run.run_id).rows

The functions of seqcast.api are thin wrappers around these methods (api.fetch(..., home=h) is
Workspace(h).fetch(...)). The class extends seqcast.workspace.Workspace, the folder resolver that
seqcast's modules pass around, so a Workspace goes wherever one is taken (Store(ws), RunStore(ws)).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast.errors import ConfigError
from seqcast.workspace import Workspace as Folders

if TYPE_CHECKING:
    import pandas as pd
    from typing_extensions import Unpack

    from seqcast.config import RunConfig, RunOptions
    from seqcast.data.store import StoredSeries
    from seqcast.fitted import Fitted
    from seqcast.models.training import EpochCallback
    from seqcast.runs.backtest import BacktestResult, FoldCallback
    from seqcast.runs.predict_next import Forecast
    from seqcast.runs.records import BacktestRecord
    from seqcast.runs.registry import Run
    from seqcast.runs.seeds import SeedsResult
    from seqcast.runs.sweep import Sweep
    from seqcast.runs.train import TrainResult


class Workspace(Folders):
    """A seqcast workspace (fetched series, runs, backtests, sweeps) and the verbs on it.

    home: the folder (str or Path, ~ expanded); None: $SEQCAST_HOME, else ~/.seqcast. It is
    resolved once, here; nothing is created until a verb writes. Raises WorkspaceError when home
    is not a path or names a file. Every method raises only SeqcastError subclasses for problems
    a user can fix, with the messages the CLI prints.
    """

    def __init__(self, home: Path | str | None = None) -> None:
        object.__setattr__(self, "root", Folders.resolve(home).root)

    @property
    def home(self) -> Path:
        """The workspace folder, resolved (absolute, links followed)."""
        return self.root

    def __fspath__(self) -> str:
        """A Workspace is a path too: home=ws works wherever home= is taken."""
        return str(self.root)

    def __repr__(self) -> str:
        return f"seqcast.Workspace({str(self.root)!r})"

    # ------------------------------------------------------------------ data

    def fetch(self, symbol: str, *, source: str = "stooq", start: date | str | None = None,
              end: date | str | None = None, interval: str = "d", csv: Path | str | None = None,
              apikey: str | None = None, domain: str | None = None, full: bool = False,
              date_format: str | None = None, options: dict[str, Any] | None = None) -> StoredSeries:
        """Fetch a series and store it (seqcast fetch); a later fetch only asks for the newest days.

        `csv=` imports a file (source "csv"); `date_format` ("dmy", "mdy" or "ymd") reads its dates
        when they read both day- and month-first. Stored rows are kept and the newer value wins on
        dates both have; `full=True` replaces the stored series. A download that fails, is cut off
        or holds implausible values leaves what was stored untouched. `options=` passes source
        settings such as {"length": 1000, "noise": 0.1, "period": 20, "seed": 0} for "synthetic".
        Returns the stored series' record (symbol, source, meta with rows, first, last).
        """
        from seqcast.data.store import fetch_series

        return fetch_series(self, symbol, source=source, start=start, end=end, interval=interval, csv=csv,
                            apikey=apikey, domain=domain, full=full, date_format=date_format, options=options)

    def series(self, symbol: str | None = None, source: str | None = None) -> tuple[StoredSeries, pd.DataFrame]:
        """A stored series (the most recently fetched when symbol is None) and its frame (Date index;
        Close, and Open/High/Low/Volume where the source has them)."""
        from seqcast.data.store import load_stored

        return load_stored(self, symbol, source)

    def stored_series(self) -> list[StoredSeries]:
        """Every series in the workspace's store (seqcast data)."""
        from seqcast.data.store import Store

        return Store(self).list()

    def remove_series(self, symbol: str, *, source: str | None = None) -> list[StoredSeries]:
        """Delete a stored series (from one source, or from every source that has it); what was removed."""
        from seqcast.data.store import Store, check_source_name

        check_source_name(source)
        return Store(self).remove(symbol, source)

    # ------------------------------------------------------------------ training

    def train(self, config: RunConfig | None = None, *, on_epoch_end: EpochCallback | None = None,
              **overrides: Unpack[RunOptions]) -> TrainResult:
        """Window, scale, train, evaluate against naive, and save a run (seqcast train).

        Keyword overrides set single options: train(model="gru", epochs=10, split=0.7) (the names of
        seqcast.config.RunOptions; an unknown one names the closest). Returns the saved run and the
        training loop's result.
        """
        from seqcast.runs.train import train

        return train(config, home=self.root, on_epoch_end=on_epoch_end, **overrides)

    def train_seeds(self, config: RunConfig | None = None, *, seeds: int = 3, workers: int | None = None,
                    on_epoch_end: EpochCallback | None = None, **overrides: Unpack[RunOptions]) -> SeedsResult:
        """Train with seeds seed, seed+1, ... (each a saved run); mean ± sd of the test metrics (train --seeds)."""
        from seqcast.runs.seeds import train_seeds

        return train_seeds(config, seeds=seeds, home=self.root, workers=workers, on_epoch_end=on_epoch_end,
                           **overrides)

    def backtest(self, config: RunConfig | None = None, *, folds: int = 5, workers: int | None = None,
                 backend: str = "local", address: str | None = None, on_fold_end: FoldCallback | None = None,
                 **overrides: Unpack[RunOptions]) -> BacktestResult:
        """Walk-forward backtest on expanding windows (seqcast backtest); saved as <home>/backtests/<id>.json."""
        from seqcast.runs.train import backtest

        return backtest(config, folds=folds, workers=workers, backend=backend, address=address, home=self.root,
                        on_fold_end=on_fold_end, **overrides)

    def sweep(self, grid: Mapping[str, Any] | None = None, *, symbols: list[str] | None = None, seeds: int = 1,
              seed: int = 0, backtest: int = 0, resume: str | None = None, backend: str = "local",
              address: str | None = None, workers: int | None = None,
              on_cell_end: Callable[[dict[str, Any], int, int], None] | None = None) -> Sweep:
        """Train every cell of a grid (options × symbols × seeds, or × backtest folds) (seqcast sweep).

        grid maps train options (as for train(): model, lookback, lr, ...) to a value or a list of
        values: sweep({"model": ["lstm", "gru"], "lookback": [20, 60]}, symbols=["eurpln"], seeds=3).
        Each cell is saved as a run; the record with its leaderboard as <home>/sweeps/<id>.json.
        Raises ConfigError for a grid that is not such a mapping.
        """
        from seqcast.runs.sweep import SweepSpec, run_sweep

        spec = None
        if resume is None:
            if grid is not None and not isinstance(grid, Mapping):
                raise ConfigError("grid must map train options to a value or a list of values, e.g. "
                                  f"{{'model': ['lstm', 'gru'], 'lookback': [20, 60]}}; got {type(grid).__name__}")
            if symbols is not None and (isinstance(symbols, str) or not all(isinstance(s, str) for s in symbols)):
                raise ConfigError(f"symbols must be a list of symbols such as ['eurpln'], got {symbols!r}")
            values = {k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in (grid or {}).items()}
            spec = SweepSpec(values, list(symbols) if symbols else [None], seeds, seed, backtest)
        return run_sweep(spec, resume=resume, home=self.root, backend=backend, address=address, workers=workers,
                         on_cell_end=on_cell_end)

    # ------------------------------------------------------------------ runs

    def runs(self) -> list[Run]:
        """Completed runs, oldest first (seqcast runs)."""
        from seqcast.runs.registry import RunStore

        return RunStore(self).list()

    def run(self, run_id: str | None = None) -> Run:
        """A run by id or unique id prefix; the latest when None. Raises RunNotFoundError."""
        from seqcast.runs.registry import RunStore

        return RunStore(self).get(run_id)

    def load(self, run_id: str | None = None) -> Fitted:
        """A saved run as a seqcast.Fitted (metrics, predictions and forecast as DataFrames)."""
        from seqcast.fitted import load

        return load(run_id, self.root)

    def backtests(self) -> list[str]:
        """Ids of saved backtests, oldest first."""
        from seqcast.runs.records import backtest_ids

        return backtest_ids(self)

    def load_backtest(self, backtest_id: str | None = None) -> BacktestRecord:
        """A saved backtest by id or unique prefix (the latest when None)."""
        from seqcast.runs.records import get_backtest

        return get_backtest(self, backtest_id)

    def sweeps(self) -> list[Sweep]:
        """Saved sweeps, oldest first."""
        from seqcast.runs.sweep import list_sweeps

        return list_sweeps(self.root)

    def load_sweep(self, sweep_id: str | None = None) -> Sweep:
        """A sweep record by id or unique prefix (the latest when None)."""
        from seqcast.runs.sweep import load_sweep

        return load_sweep(sweep_id, self.root)

    def predict_next(self, run_id: str | None = None, *, horizon: int | None = None,
                     days: int | None = None) -> Forecast:
        """A saved run's forecast of the next `horizon` periods from the latest stored data (seqcast
        predict-next); `days` is horizon's old name. Raises RunNotFoundError, DataError (stored data
        the run cannot forecast from), ConfigError (a bad horizon)."""
        from seqcast.runs.predict_next import predict_next

        return predict_next(run_id, horizon=horizon, home=self.root, days=days)

    def find(self, ident: str | None = None) -> Run | BacktestRecord:
        """A run or a saved backtest by id or unique prefix; the latest run when None."""
        from seqcast.reports.outputs import find

        return find(ident, self.root)

    def report(self, ident: str | None = None, *, out: Path | str | None = None, fmt: str = "html",
               forecast: bool = False) -> Path:
        """Write the report of a run, backtest or sweep (seqcast report): HTML, self-contained, or
        Markdown (fmt="md"); beside the run unless `out`. Returns the path written."""
        from seqcast.reports.outputs import report

        return report(ident, home=self.root, out=out, fmt=fmt, forecast=forecast)

    def plot(self, run_id: str | None = None, *, fmt: str | None = None, out: Path | str | None = None) -> Path:
        """Draw a run's charts, a backtest's folds or a sweep's leaderboard (seqcast plot); the file written."""
        from seqcast.reports.outputs import plot

        return plot(run_id, home=self.root, fmt=fmt, out=out)

    def export_predictions(self, ident: str | None = None) -> str:
        """A run's predictions.csv as text; for a backtest, every fold's test forecasts."""
        from seqcast.reports.outputs import find
        from seqcast.runs.registry import predictions_csv

        return predictions_csv(find(ident, self.root))
