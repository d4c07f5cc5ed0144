"""seqcast on the data you hold: `fit` a pandas Series, get a `Fitted` back, forecast at any level.

    import seqcast
    fitted = seqcast.fit(close, covariates={"eurpln_stooq": other}, model="lstm", epochs=20)
    fitted.verdict                      # the sentence `seqcast train` prints
    fitted.metrics                      # the terminal table as a DataFrame
    fitted.forecast(level=(0.8, 0.95))  # the next day, with nested 80 % and 95 % bands
    run_id = fitted.save()              # a normal run: seqcast runs / report / predict-next

fit trains exactly as `seqcast train` does on the same data imported as CSV files (the same
checks, the same evaluation, the same numbers for the same options and seed) and writes nothing;
the series count as the source "python" (seqcast.data.sources.memory).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from seqcast.forecast.evaluation import Fitted as Evaluation
    from seqcast.inputs.loading import SeriesInput
    from seqcast.inputs.memory import MemoryStore
    from seqcast.runs.predict_next import Forecast
    from seqcast.runs.registry import Run
    from seqcast.runs.train import RunRecord

__all__ = ["Fitted", "fit", "load"]

_METRIC_ROWS = (("RMSE", "rmse", "naive_rmse"), ("MAE", "mae", "naive_mae"), ("MAPE %", "mape", "naive_mape"),
                ("MASE", "mase", "naive_mase"))


def fit(
    y: pd.Series | pd.DataFrame,
    *,
    covariates: Mapping[str, pd.Series] | None = None,
    on_epoch_end: Callable[[int, float, float], None] | None = None,
    **options: Any,
) -> Fitted:
    """Train and evaluate a network on a series held in memory, as `seqcast train` does; nothing is written.

    y: a pandas Series of closes indexed by a DatetimeIndex (its `name` is the symbol, else
        "series"; `symbol=` names it too), or a DataFrame with a Close column (and Open, High,
        Low, Volume for `features=`). Daily data; timezone-aware dates are read in their own zone.
    covariates: past covariates as {name: Series of closes}, each read up to each window's last
        day as `seqcast train --covariate` reads a stored series; the names are their symbols.
    on_epoch_end: called after every epoch with (epoch, train_loss, val_loss).
    options: the options of `seqcast train` by their Python names (seqcast.config.RunOptions:
        model, lookback, split, val_fraction, target, features, start, end, hidden, layers, epochs,
        lr, seed, threads, level, ...), with the same defaults and checks.

    The data gets the checks of a CSV import (sorted by date; a date given twice, a NaN or
    infinite value, a date before 1900 or in the future is refused) and its calendar is
    inferred; the run gets the same split, evaluation against the naive forecast and intervals,
    and the same numbers, as `seqcast fetch NAME --csv FILE` + `seqcast train` on the same data,
    options and seed. Raises ConfigError (an unknown option names the closest one; a bad value
    gives the CLI's message), DataError (data that fails the checks, too short for --lookback,
    non-positive prices with the logret target), TrainingError (training diverged).
    """
    from seqcast.config import make_config
    from seqcast.inputs.loading import input_from
    from seqcast.inputs.memory import SOURCE, covariate_specs, memory_store
    from seqcast.runs.train import fit_record

    if "source" in options:
        raise ConfigError(f"fit takes no source= option: the data given to fit is the source {SOURCE!r} "
                          "(stored series are trained with seqcast.train(symbol=..., source=...))")
    symbol = options.pop("symbol", None)
    cfg = make_config(**options)  # every option checked before the data is read
    store = memory_store(y, covariates, symbol)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(
        cfg.data, symbol=store.series[0].symbol, source=SOURCE, covariates=covariate_specs(store)))
    series = input_from(store, cfg)
    record, evaluation = fit_record(series, on_epoch_end=on_epoch_end)
    return Fitted(record, series=series, store=store, evaluation=evaluation)


def load(run_id: str | None = None, home: Path | str | None = None) -> Fitted:
    """A saved run as a Fitted (the latest run when run_id is None; a unique id prefix is enough).

    Raises RunNotFoundError for an id that names no run, WorkspaceError for a bad home.
    Its forecasts read the workspace's latest stored data (as `seqcast predict-next`), at the
    level it was trained at (see Fitted.forecast).
    """
    from seqcast.runs.registry import get_run
    from seqcast.runs.train import RunRecord
    from seqcast.workspace import Workspace

    ws = Workspace.resolve(home)
    run = get_run(ws, _check_id(run_id), "seqcast.load")
    preds = run.predictions()
    preds["date"] = preds["date"].dt.strftime("%Y-%m-%d")
    record = RunRecord(run.config, run.meta, {}, run.scaler.to_dict(), run.history(), run.metrics, preds)
    fitted = Fitted(record)
    fitted._saved = (run, ws.root)
    return fitted


def _check_id(run_id: Any) -> str | None:
    from seqcast.errors import RunNotFoundError

    if run_id is not None and not isinstance(run_id, str):
        raise RunNotFoundError(f"{run_id!r} is not a run id; list runs with: seqcast runs")
    return run_id


class Fitted:
    """A trained and evaluated run: what `seqcast train` prints and saves, as Python objects.

    From seqcast.fit (in memory until save()) or seqcast.load (a saved run). Attributes are
    computed from the run's record, so they match its files: `predictions` is predictions.csv,
    `metrics` the terminal table, `verdict` the sentence train prints.
    """

    def __init__(self, record: RunRecord, *, series: SeriesInput | None = None, store: MemoryStore | None = None,
                 evaluation: Evaluation | None = None) -> None:
        from seqcast.runs.inmemory import MemoryRun

        self._record = record
        self._series = series
        self._store = store
        self._evaluation = evaluation
        self._memory = MemoryRun(record)
        self._calibration = evaluation.calibration if evaluation is not None else None
        self._saved: tuple[Run, Path] | None = None

    # ------------------------------------------------------------------ what train reports

    @property
    def run_id(self) -> str | None:
        """The run id once saved (save() or seqcast.load), else None."""
        return self._saved[0].run_id if self._saved else None

    @property
    def config(self) -> Any:
        """The run's seqcast.config.RunConfig (every option, resolved)."""
        return self._record.config

    @property
    def symbol(self) -> str:
        return str(self._record.meta.get("symbol"))

    @property
    def verdict(self) -> str:
        """The test part against the naive forecast, in words (Diebold–Mariano), as train prints it."""
        return str(self._record.report.get("verdict", ""))

    @property
    def scores(self) -> dict[str, Any]:
        """metrics.json: every metric of the train, val and test parts, plus the verdict."""
        return dict(self._record.report)

    @property
    def metrics(self) -> pd.DataFrame:
        """The terminal table: rows RMSE, MAE, MAPE %, MASE, direction %, RMSE / naive; columns
        "train model", "train naive", "test model", "test naive" (prices' units; direction in %;
        NaN where the table shows nothing). The full set is `scores`."""
        import pandas as pd

        m = self._record.report
        rows: dict[str, list[float]] = {}
        for label, key, naive_key in _METRIC_ROWS:
            rows[label] = [_number(m.get(p, {}).get(k)) for p in ("train", "test") for k in (key, naive_key)]
        nan = math.nan
        rows["direction %"] = [100 * _number(m["train"].get("directional_accuracy")), nan,
                               100 * _number(m["test"].get("directional_accuracy")), nan]
        rows["RMSE / naive"] = [_number(m["train"].get("rmse_ratio")), nan, _number(m["test"].get("rmse_ratio")), nan]
        frame = pd.DataFrame.from_dict(rows, orient="index",
                                       columns=["train model", "train naive", "test model", "test naive"])
        frame.index.name = "metric"
        return frame

    @property
    def predictions(self) -> pd.DataFrame:
        """Every window's forecast, indexed by date (DatetimeIndex "date"): part (train, val or
        test), actual, predicted, naive (the previous close), lower and upper (the interval at the
        trained level; NaN without calibrated intervals), in the series' units: predictions.csv."""
        import pandas as pd

        preds = self._record.predictions.copy()
        preds.index = pd.DatetimeIndex(pd.to_datetime(preds.pop("date")), name="date")
        return preds

    @property
    def history(self) -> pd.DataFrame:
        """The training loop, one row per epoch (index "epoch"): train_loss, val_loss (MSE of scaled targets)."""
        import pandas as pd

        frame = pd.DataFrame(self._record.history)
        return frame.set_index("epoch") if "epoch" in frame else frame

    @property
    def meta(self) -> dict[str, Any]:
        """meta.json: data range and fingerprint, split, training, calendar, inputs, interval calibration."""
        return dict(self._run.meta)

    # ------------------------------------------------------------------ forecasts

    def forecast(self, horizon: int = 1, level: float | Sequence[float] | None = None) -> pd.DataFrame:
        """The next `horizon` periods (business days for daily data) after the series' last date.

        level: the interval level, a number in (0, 1), or several, e.g. (0.8, 0.95); None: the level
            the run was trained at (`level=` of fit, 0.9 by default). A run in memory forecasts at
            any level: its multipliers are the same conformal quantiles of its out-of-sample
            residuals taken at that level; a run from seqcast.load at its trained level only.
        Returns a DataFrame indexed by the forecast dates ("date", on the series' own calendar)
        with `predicted` and a `lower_80` / `upper_80` pair per level (named by the percentage,
        lowest level first; NaN past the calibrated horizons), in the series' units. The bands
        are nested: a higher level's band contains a lower one's. `attrs` holds last_date,
        last_close, level(s) and the notes predict-next prints.

        A run with covariates or extra columns forecasts one day only (horizon 1), as
        `seqcast predict-next`. Raises ConfigError for a bad horizon or level.
        """
        import pandas as pd

        from seqcast.runs.inmemory import check_level

        levels = [level] if level is None or isinstance(level, (int, float)) else list(level)
        if not levels:
            raise ConfigError("level must be a number between 0 and 1 or a non-empty list of them, got []")
        trained = float(self._run.meta.get("level", self.config.train.level))
        chosen = sorted({trained if lv is None else check_level(lv) for lv in levels})
        frame: pd.DataFrame | None = None
        for lv in chosen:
            fc = self._forecast_at(horizon, lv)
            if frame is None:
                frame = pd.DataFrame({"predicted": [r["predicted"] for r in fc.rows]},
                                     index=pd.DatetimeIndex([r["date"] for r in fc.rows], name="date"))
                frame.attrs.update(last_date=fc.last_date, last_close=fc.last_close, notes=list(fc.notes),
                                   run_id=self.run_id, levels=chosen)
            tag = _level_tag(lv)
            frame[f"lower_{tag}"] = [r["lower"] for r in fc.rows]
            frame[f"upper_{tag}"] = [r["upper"] for r in fc.rows]
        assert frame is not None
        return frame

    def _forecast_at(self, horizon: int, level: float) -> Forecast:
        """predict-next at `level`: the run read with its multipliers at that level (widths_at_level)."""
        from seqcast.runs.inmemory import MemoryRun, widths_at_level
        from seqcast.runs.predict_next import MAX_HORIZON, forecast_run, predict_next

        if not isinstance(horizon, int) or isinstance(horizon, bool) or not 1 <= horizon <= MAX_HORIZON:
            raise ConfigError(f"--horizon must be between 1 and {MAX_HORIZON}, got {horizon!r}")
        if self._store is None:  # a saved run: the workspace's latest data, as predict-next reads it
            assert self._saved is not None
            run, home = self._saved
            return predict_next(run.run_id, horizon=horizon, home=home, level=level)
        widths = widths_at_level(self._memory, self._calibration, level)
        record = dataclasses.replace(self._record, meta={**self._record.meta, "interval_widths": widths,
                                                         "level": level})
        return forecast_run(MemoryRun(record, self._memory.run_id), self._store, horizon)

    # ------------------------------------------------------------------ charts, reports, saving

    @property
    def _run(self) -> Any:
        """The saved Run once saved or loaded, else the run in memory (runs.inmemory.MemoryRun)."""
        return self._saved[0] if self._saved else self._memory

    def plot(self) -> Figure:
        """The run's chart as a matplotlib Figure (train part, test part with naive forecast and
        interval band, loss curves), as `seqcast plot` draws it; nothing is shown or saved."""
        from seqcast.reports.charts import run_figure

        return run_figure(self._run)

    def report(self, path: Path | str, *, fmt: str | None = None) -> Path:
        """Write the run's report to `path`, as `seqcast report` does: HTML (self-contained) or
        Markdown, from fmt ("html", "md") or else path's extension (.md; anything else HTML).
        Returns the path. Raises ConfigError for an unknown fmt, WorkspaceError if it cannot write."""
        from typing import Literal, cast

        from seqcast.reports.outputs import REPORT_FORMATS

        target = Path(path).expanduser()
        chosen = fmt or ("md" if target.suffix.lower() == ".md" else "html")
        if chosen not in REPORT_FORMATS:
            raise ConfigError(f"--format must be html or md, got {chosen!r}")
        if self._saved:
            from seqcast.reports.outputs import report

            run, home = self._saved
            return report(run.run_id, home=home, out=target, fmt=chosen)
        from seqcast.reports import document
        from seqcast.reports.render import write

        doc = document.run_document(self._memory, report_path=target.resolve())  # type: ignore[arg-type]
        return write(doc, target, cast(Literal["html", "md"], chosen))

    def save(self, home: Path | str | None = None, name: str | None = None) -> str:
        """Save as a normal run in the workspace `home` (default $SEQCAST_HOME, else ~/.seqcast);
        returns its run id. The series and covariates are stored there as the source "python"
        (merged into what an earlier save stored, as a fetch merges), so `seqcast runs`, `plot`,
        `report`, `predict-next` and `train --source python` work on them. `name` stores the
        target under another symbol. A run from seqcast.load is saved already: its id is returned.
        Raises WorkspaceError when the workspace cannot be written."""
        from seqcast.runs.registry import RunStore
        from seqcast.runs.train import save_run
        from seqcast.workspace import Workspace

        if self._saved:
            return self._saved[0].run_id
        assert self._store is not None
        ws = Workspace.resolve(home)
        record, store = self._renamed(name) if name is not None else (self._record, self._store)
        RunStore(ws).check_writable()
        _store_series(ws, store)
        run = save_run(record, ws.root)
        self._record, self._store = record, store
        self._saved = (run, ws.root)
        return run.run_id

    def _renamed(self, name: str) -> tuple[RunRecord, MemoryStore]:
        """The record and store with the target called `name`."""
        from seqcast.data.symbols import normalise_symbol
        from seqcast.inputs.memory import MemoryStore

        if not isinstance(name, str):
            raise ConfigError(f"name must be a symbol such as eurpln, got {name!r}")
        assert self._store is not None
        new, old = normalise_symbol(name), self.symbol
        if new in (s.symbol for s in self._store.series[1:]):
            raise ConfigError(f"name {new!r} is a covariate's name; choose another")
        target = self._store.series[0]
        target = dataclasses.replace(target, meta={**target.meta, "symbol": new})
        meta = {**self._record.meta, "symbol": new, "inputs": [
            {**r, "symbol": new, "name": str(r.get("name", "")).replace(f"{old}:", f"{new}:", 1)}
            if r.get("symbol") == old and r.get("role") in ("target", "feature") else r
            for r in self._record.meta.get("inputs", [])]}
        cfg = dataclasses.replace(self.config, data=dataclasses.replace(self.config.data, symbol=new))
        record = dataclasses.replace(self._record, config=cfg, meta=meta)
        return record, MemoryStore([target, *self._store.series[1:]])

    def _repr_html_(self) -> str:
        """A notebook cell's view: the verdict, the metrics table and the chart."""
        import base64
        import html
        import io

        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig = self.plot()
        FigureCanvasAgg(fig)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=72)
        image = base64.b64encode(buffer.getvalue()).decode("ascii")
        title = html.escape(f"{self.symbol} · {self.config.model.kind} · run {self._run.run_id}")
        table = self.metrics.to_html(float_format=lambda v: f"{v:.6g}", na_rep="")
        return (f"<div><p><b>{title}</b></p><p>test vs naive (Diebold–Mariano): {html.escape(self.verdict)}</p>"
                f"{table}<img src='data:image/png;base64,{image}' style='max-width:100%'/></div>")

    def __repr__(self) -> str:
        return f"<seqcast.Fitted {self.symbol} {self.config.model.kind} run {self._run.run_id}: {self.verdict}>"


def _store_series(ws: Any, store: MemoryStore) -> None:
    """Merge the series of a memory store into the workspace's store under the source "python"."""
    from seqcast.data.sources import FetchRequest
    from seqcast.data.sources.memory import MemorySource
    from seqcast.data.store import Store, check_writable

    check_writable(ws)
    for series in store.series:
        Store(ws).fetch(MemorySource(), FetchRequest(series.symbol, options={"frame": series.load()}),
                        name=series.source)


def _level_tag(level: float) -> str:
    """0.8 -> "80", 0.95 -> "95", 0.975 -> "97.5"."""
    return f"{round(level * 100, 6):g}"


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
