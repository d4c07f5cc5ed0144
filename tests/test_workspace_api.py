"""seqcast.Workspace (the verbs as methods), the facade's old names and keywords, __all__, and bad
input from Python: each gets seqcast's own error with the CLI's message, never a bare traceback."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

import seqcast
from seqcast import api
from seqcast.errors import ConfigError, DataError, RunNotFoundError, SeqcastError, WorkspaceError

TINY = {"epochs": 1, "hidden": 8, "lookback": 10, "threads": 1, "device": "cpu", "patience": 0}

# Every function seqcast.api exported before issue 21, with its parameters in order.
OLD_SIGNATURES = {
    "backtest": "config folds workers backend address home on_fold_end overrides",
    "export_predictions": "ident home",
    "fetch": "symbol source start end interval csv apikey domain full home date_format options",
    "find": "ident home",
    "fingerprint": "dates values",
    "fit_run": "series on_epoch_end",
    "list_backtests": "home",
    "list_runs": "home",
    "list_sweeps": "home",
    "load_backtest": "backtest_id home",
    "load_input": "cfg home",
    "load_run": "run_id home",
    "load_series": "symbol source home",
    "load_sweep": "sweep_id home",
    "make_config": "config overrides",
    "plot": "run_id home fmt out",
    "predict_next": "run_id horizon home days",
    "remove": "found",
    "remove_series": "symbol source home",
    "report": "ident home out fmt forecast",
    "save_backtest": "result series home",
    "save_run": "record home",
    "stored_series": "home",
    "sweep": "grid symbols seeds seed backtest resume backend address workers home on_cell_end",
    "train": "config home on_epoch_end overrides",
    "train_seeds": "config seeds home on_epoch_end on_seed_start on_seed_end workers on_start overrides",
}
OLD_NAMES = ["CSV_FLOAT_FORMAT", "SEED_METRICS", "BacktestRecord", "DataConfig", "Forecast", "ModelConfig",
             "RunConfig", "RunOptions", "RunRecord", "SeedsResult", "SeriesInput", "TrainConfig", "TrainResult"]
INTERNALS = ["fit_run", "save_run", "fingerprint", "CSV_FLOAT_FORMAT", "SEED_METRICS", "load_input", "save_backtest",
             "SeriesInput", "RunRecord"]


def test_every_old_name_and_keyword_still_works() -> None:
    for name, params in OLD_SIGNATURES.items():
        now = list(inspect.signature(getattr(api, name)).parameters)
        assert now[:len(params.split())] == params.split(), name  # new keywords may follow the old ones
    for name in OLD_NAMES:
        assert getattr(api, name) is not None
    old_top = ["SeqcastError", "backtest", "fetch", "list_runs", "load_run", "load_series", "plot", "predict_next",
               "train", "train_seeds"]
    assert set(old_top) <= set(seqcast.__all__)


def test_all_lists_verbs_and_result_types_not_internals() -> None:
    for module in (api, seqcast):
        assert not set(INTERNALS) & set(module.__all__), module.__name__
        for name in ("fit", "load", "Fitted", "Workspace", "TrainResult", "Forecast", "BacktestResult", "Sweep"):
            assert name in module.__all__
        for name in module.__all__:
            assert getattr(module, name) is not None, name
    assert seqcast.fit is api.fit and seqcast.Workspace is api.Workspace


def test_the_workspace_carries_its_home(tmp_path) -> None:
    from seqcast.workspace import Workspace as Folders

    ws = seqcast.Workspace(tmp_path / "ws")
    assert isinstance(ws, Folders) and ws.home == (tmp_path / "ws").resolve() and not ws.home.exists()
    stored = ws.fetch("eurpln", source="sample", start="2023-06-01")
    assert stored.symbol == "eurpln" and [s.symbol for s in ws.stored_series()] == ["eurpln"]
    meta, frame = ws.series("eurpln")
    assert len(frame) == meta.meta["rows"]
    result = ws.train(**TINY)
    assert [r.run_id for r in ws.runs()] == [result.run.run_id] == [r.run_id for r in api.list_runs(ws.home)]
    assert ws.run().run_id == result.run.run_id
    forecast = ws.predict_next(horizon=2)
    assert forecast.run_id == result.run.run_id and len(forecast.rows) == 2
    frame = forecast.to_frame()
    assert list(frame.columns) == ["predicted", "lower", "upper", "change_pct"]
    assert [d.strftime("%Y-%m-%d") for d in frame.index] == [r["date"] for r in forecast.rows]
    assert frame["upper"].tolist() == [r["upper"] for r in forecast.rows]
    assert ws.report().name == "report.html" and ws.plot().name == "plot.png"
    assert ws.export_predictions().startswith("date,part,actual,predicted")
    fitted = ws.load()
    assert fitted.run_id == result.run.run_id and fitted.verdict == result.run.metrics["verdict"]
    # Two workspaces are two folders: nothing is shared between them.
    other = seqcast.Workspace(tmp_path / "elsewhere")
    assert other.runs() == [] and ws.runs() != []
    assert repr(ws) == f"seqcast.Workspace({str(ws.home)!r})"
    assert [r.run_id for r in api.list_runs(home=ws)] == [result.run.run_id]  # a Workspace is a path too


def test_the_default_workspace_is_seqcast_home(workspace) -> None:
    assert seqcast.Workspace().home == workspace.resolve()


def series(n: int = 200) -> pd.Series:
    return pd.Series(4 + np.sin(np.arange(n) / 7), index=pd.bdate_range("2020-01-01", periods=n), name="x")


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "afile"
    path.write_text("x")
    return path


BAD_CALLS = [
    (lambda f: api.train(symbol=5), ConfigError, "invalid symbol 5"),
    (lambda f: api.fetch(None), ConfigError, "invalid symbol None"),
    (lambda f: api.predict_next(5), RunNotFoundError, "5 is not a run id; list runs with: seqcast runs"),
    (lambda f: api.report(5), RunNotFoundError, "5 is not a run id"),
    (lambda f: api.plot(5), RunNotFoundError, "5 is not a run id"),
    (lambda f: api.sweep(grid=[{"model": "gru"}]), ConfigError, "grid must map train options"),
    (lambda f: api.sweep({"model": "gru"}, symbols="eurpln"), ConfigError, "symbols must be a list"),
    (lambda f: api.list_runs(home=5), WorkspaceError, "home must be a folder path"),
    (lambda f: api.list_runs(home=f), WorkspaceError, "is a file, not a folder"),
    (lambda f: api.stored_series(home=f), WorkspaceError, "is a file, not a folder"),
    (lambda f: seqcast.Workspace(f), WorkspaceError, "is a file, not a folder"),
    (lambda f: seqcast.load(5), RunNotFoundError, "5 is not a run id"),
    (lambda f: seqcast.fit([1.0, 2.0]), ConfigError, "must be a pandas Series"),
    (lambda f: seqcast.fit(pd.Series([1.0, 2.0, 3.0])), DataError, "is not indexed by dates"),
    (lambda f: seqcast.fit(series().where(series().index != series().index[9])), DataError,
     "Close on 2020-01-14 is nan (not a finite number)"),
    (lambda f: seqcast.fit(series().replace(series().iloc[9], np.inf)), DataError, "Close on 2020-01-14 is inf"),
    (lambda f: seqcast.fit(pd.concat([series(), series().iloc[:2]])), DataError,
     "the date 2020-01-01 appears more than once"),
    (lambda f: seqcast.fit(series() - 4, **TINY), ConfigError, "log-returns need positive prices"),
    (lambda f: seqcast.fit(series(), lookbak=10), ConfigError, "did you mean 'lookback'?"),
    (lambda f: seqcast.fit(series(), epochs=0), ConfigError, "--epochs must be at least 1, got 0"),
    (lambda f: seqcast.fit(series().astype(str)), DataError, "not numbers"),
    (lambda f: seqcast.fit(pd.DataFrame({"Open": series()})), DataError, "has no Close column"),
    (lambda f: seqcast.fit(series(), covariates=["eurpln"]), ConfigError, "covariates= maps a name"),
    (lambda f: seqcast.fit(series(), covariates={"c": pd.Series([1.0])}), DataError,
     "covariate c is not indexed by dates"),
    (lambda f: seqcast.fit(series(), covariates={"x": series()}), ConfigError, "has the name of the target"),
    (lambda f: seqcast.fit(series(), source="ecb"), ConfigError, "fit takes no source= option"),
    (lambda f: seqcast.fit(series(), symbol=5), ConfigError, "needs a name"),
    (lambda f: seqcast.fit(series(), symbol="../x"), ConfigError, "invalid symbol '../x'"),
    (lambda f: seqcast.fit(series(30)), DataError, "too few for --lookback 60"),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_CALLS)
def test_bad_input_from_python_gets_seqcasts_own_error(call, error, message, a_file) -> None:
    with pytest.raises(error) as caught:
        call(a_file)
    assert message in str(caught.value)


def test_bad_levels_and_horizons_of_a_forecast() -> None:
    fitted = seqcast.fit(series(), **TINY)
    for level in (0, 1, 1.5, "0.9", float("nan"), True):
        with pytest.raises(ConfigError, match="level must be a number between 0 and 1"):
            fitted.forecast(level=level)
    with pytest.raises(ConfigError, match="level must be"):
        fitted.forecast(level=[])
    for horizon in (0, 251, 1.5):
        with pytest.raises(ConfigError, match="--horizon must be between 1 and 250"):
            fitted.forecast(horizon=horizon)
    with pytest.raises(SeqcastError, match="invalid symbol"):
        fitted.save(name="a/b")
