"""seqcast.fit on pandas data in memory: the same numbers as `seqcast fetch --csv` + `seqcast train` on
the same data (issue 21's acceptance check), nothing written, forecasts at any level with nested bands,
and a saved Fitted that the CLI lists, reports and forecasts."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import seqcast
from seqcast.cli import app
from seqcast.forecast.intervals import multiplier_at

runner = CliRunner()
TINY = {"epochs": 2, "hidden": 8, "lookback": 20, "threads": 1, "device": "cpu", "patience": 0}
TINY_FLAGS = ["--epochs", "2", "--hidden", "8", "--lookback", "20", "--threads", "1", "--device", "cpu",
              "--patience", "0"]


def sample_close(rows: int = 700) -> pd.Series:
    """The bundled ECB EUR/PLN reference rate, its last `rows` days, as a user would hold it."""
    from seqcast.data.sources import FetchRequest
    from seqcast.data.sources.sample import SampleSource

    return SampleSource().fetch(FetchRequest("eurpln")).frame["Close"].iloc[-rows:].rename("eurpln")


def derived_covariate(close: pd.Series) -> pd.Series:
    """A stand-in for the stooq close of the same pair (real stooq data cannot be committed): the rate
    with its own small seeded noise, quoted on slightly fewer days."""
    rng = np.random.default_rng(7)
    cov = close * np.exp(rng.normal(0, 0.002, len(close)))
    return cov.drop(cov.index[5::37]).rename("eurpln_stooq")


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every file under the folders with its size and mtime (nothing there: an empty dict)."""
    out = {}
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            for name in files + dirs:
                stat = os.lstat(os.path.join(root, name))
                out[os.path.join(root, name)] = (stat.st_size, stat.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The acceptance pair fitted once in memory (in an empty cwd and workspace) and once by the CLI."""
    base = tmp_path_factory.mktemp("pair")
    close, cov = sample_close(), derived_covariate(sample_close())
    cwd, home = base / "cwd", base / "home"
    cwd.mkdir()
    saved_cwd, saved_home = os.getcwd(), os.environ.get("SEQCAST_HOME")
    os.environ["SEQCAST_HOME"] = str(home)
    os.chdir(cwd)
    try:
        before = snapshot(cwd, home, base)
        fitted = seqcast.fit(close, covariates={"eurpln_stooq": cov}, **TINY)
        after = snapshot(cwd, home, base)
    finally:
        os.chdir(saved_cwd)
    try:
        csvs = base / "csv"
        csvs.mkdir()
        # The same data as files: full precision, as pandas writes them.
        close.rename("Close").rename_axis("Date").to_csv(csvs / "eurpln.csv")
        cov.rename("Close").rename_axis("Date").to_csv(csvs / "eurpln_stooq.csv")
        for symbol in ("eurpln", "eurpln_stooq"):
            result = runner.invoke(app, ["fetch", symbol, "--csv", str(csvs / f"{symbol}.csv"), "--home", str(home)])
            assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["train", "--symbol", "eurpln", "--source", "csv", "--covariate",
                                     "eurpln_stooq:csv", *TINY_FLAGS, "--json", "--home", str(home)])
        assert result.exit_code == 0, result.output
        run = seqcast.load_run(json.loads(result.output)["run_id"], home=home)
    finally:
        if saved_home is None:
            os.environ.pop("SEQCAST_HOME", None)
        else:
            os.environ["SEQCAST_HOME"] = saved_home
    return {"fitted": fitted, "run": run, "before": before, "after": after, "home": home}


def test_fit_in_memory_gives_the_cli_numbers_on_the_same_csvs(pair) -> None:
    fitted, run = pair["fitted"], pair["run"]
    mine, theirs = fitted.predictions, run.predictions().set_index("date")
    assert list(mine.columns) == ["part", "actual", "predicted", "naive", "lower", "upper"]
    assert mine.index.equals(pd.DatetimeIndex(theirs.index, name="date")) and len(mine) > 500
    assert (mine["part"] == theirs["part"]).all()
    for column in ("actual", "predicted", "naive", "lower", "upper"):  # predictions.csv has 10 digits
        np.testing.assert_allclose(mine[column], theirs[column], rtol=0, atol=1e-9, err_msg=column)
    # metrics.json is full precision: the same numbers, not only close ones.
    for part in ("train", "val", "test"):
        for key, value in run.metrics[part].items():
            ours = fitted.scores[part][key]
            assert (math.isnan(value) and math.isnan(ours)) if isinstance(value, float) and math.isnan(value) \
                else ours == pytest.approx(value, rel=1e-12, abs=1e-15), (part, key)
    assert fitted.verdict == run.metrics["verdict"]
    assert fitted.meta["data"]["fingerprint"] == run.meta["data"]["fingerprint"]
    assert fitted.meta["data"]["store_sha256"] == run.meta["data"]["store_sha256"]  # the same CSV text
    assert fitted.meta["interval_widths"] == pytest.approx(run.meta["interval_widths"], rel=1e-12)
    assert [r["name"] for r in fitted.meta["inputs"]] == ["eurpln:python logret", "eurpln_stooq:python logret",
                                                          "eurpln_stooq:python gap"]


def test_fit_writes_nothing(pair) -> None:
    assert pair["after"] == pair["before"]
    assert not any("python" in p for p in pair["before"])  # the CLI's workspace came later, from the CSVs


def test_the_table_history_and_verdict_are_the_runs(pair) -> None:
    fitted, run = pair["fitted"], pair["run"]
    table = fitted.metrics
    assert list(table.columns) == ["train model", "train naive", "test model", "test naive"]
    assert list(table.index) == ["RMSE", "MAE", "MAPE %", "MASE", "direction %", "RMSE / naive"]
    assert table.loc["RMSE", "test model"] == run.metrics["test"]["rmse"]
    assert table.loc["direction %", "test model"] == 100 * run.metrics["test"]["directional_accuracy"]
    assert math.isnan(table.loc["RMSE / naive", "test naive"])
    assert list(fitted.history.index) == [1, 2]
    assert fitted.history["train_loss"].tolist() == pytest.approx([h["train_loss"] for h in run.history()])
    html = fitted._repr_html_()
    assert fitted.verdict in html and "<table" in html and "data:image/png;base64," in html


@pytest.fixture(scope="module")
def alone():
    """The sample alone (no covariate): forecasts several days ahead; unshrunk, so that its forecasts
    are the network's own (shrunk to naive, every horizon would forecast the last close)."""
    return seqcast.fit(sample_close(600), shrink=False, **TINY)


def test_bands_are_nested_at_any_level(alone) -> None:
    frame = alone.forecast(horizon=5, level=(0.95, 0.8))
    assert list(frame.columns) == ["predicted", "lower_80", "upper_80", "lower_95", "upper_95"]
    assert isinstance(frame.index, pd.DatetimeIndex) and len(frame) == 5
    assert frame.index[0] > alone.predictions.index[-1] and frame.index.day_of_week.max() < 5
    assert (frame["lower_95"] < frame["lower_80"]).all() and (frame["lower_80"] < frame["predicted"]).all()
    assert (frame["predicted"] < frame["upper_80"]).all() and (frame["upper_80"] < frame["upper_95"]).all()
    at_trained = alone.forecast(horizon=5)
    assert list(at_trained.columns) == ["predicted", "lower_90", "upper_90"]
    assert (frame["lower_95"] < at_trained["lower_90"]).all() and (at_trained["lower_90"] < frame["lower_80"]).all()
    single = alone.forecast(horizon=5, level=0.8)
    np.testing.assert_array_equal(single["lower_80"], frame["lower_80"])


def test_other_levels_come_from_the_residuals_the_trained_level_was_calibrated_on(alone, pair) -> None:
    """The seam (runs.inmemory.widths_at_level): at the trained level the kept residuals give back the
    recorded multipliers exactly, so another level is the same calibration at another quantile."""
    for fitted, horizons in ((alone, 30), (pair["fitted"], 1)):  # with a covariate: one day ahead only
        recorded = fitted.meta["interval_widths"]
        assert len(recorded) == horizons
        assert list(multiplier_at(fitted._calibration, 0.9)) == pytest.approx(recorded, rel=1e-12)
        wider = list(multiplier_at(fitted._calibration, 0.95))
        assert all(w > r for w, r in zip(wider, recorded, strict=True))
    bands = pair["fitted"].forecast(level=(0.8, 0.95))
    assert len(bands) == 1 and bands["lower_95"].iloc[0] < bands["lower_80"].iloc[0] < bands["predicted"].iloc[0]
    with pytest.raises(seqcast.SeqcastError, match="one day ahead only"):
        pair["fitted"].forecast(horizon=2)


def test_report_and_plot_of_a_fit_in_memory(alone, tmp_path) -> None:
    """(Before the test that saves `alone`.)"""
    from matplotlib.figure import Figure

    assert isinstance(alone.plot(), Figure)
    path = alone.report(tmp_path / "r.md")
    text = path.read_text(encoding="utf-8")
    assert path == tmp_path / "r.md" and "Not saved" in text and alone.verdict in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.md", "r_files"]  # the chart beside it


def test_the_trained_level_forecasts_as_predict_next_and_a_saved_run_is_a_normal_run(alone, tmp_path) -> None:
    home = tmp_path / "ws"
    run_id = alone.save(home=home)
    assert alone.run_id == run_id
    listed = runner.invoke(app, ["runs", "--home", str(home)])
    assert listed.exit_code == 0 and run_id in listed.output
    nxt = runner.invoke(app, ["predict-next", run_id, "--horizon", "3", "--json", "--home", str(home)])
    assert nxt.exit_code == 0, nxt.output
    rows = json.loads(nxt.output)["rows"]
    mine = alone.forecast(horizon=3)
    assert [r["date"] for r in rows] == [d.strftime("%Y-%m-%d") for d in mine.index]
    assert [r["predicted"] for r in rows] == pytest.approx(mine["predicted"].tolist(), rel=1e-12)
    assert [r["lower"] for r in rows] == pytest.approx(mine["lower_90"].tolist(), rel=1e-9)
    reported = runner.invoke(app, ["report", run_id, "--home", str(home)])
    assert reported.exit_code == 0, reported.output
    assert (home / "runs" / run_id / "report.html").is_file()
    data = runner.invoke(app, ["data", "--home", str(home)])
    assert "python" in data.output and "eurpln" in data.output
    back = seqcast.load(run_id, home=home)
    assert back.run_id == run_id and back.verdict == alone.verdict
    pd.testing.assert_frame_equal(back.predictions, alone.predictions, check_exact=False, atol=1e-9, rtol=0)
    np.testing.assert_allclose(back.forecast(horizon=3)["upper_90"], mine["upper_90"], rtol=1e-9)
    # A saved run keeps its calibration (calibration.json, scores to 7 digits): any level, as in memory.
    np.testing.assert_allclose(back.forecast(horizon=3, level=0.8)["lower_80"],
                               alone.forecast(horizon=3, level=0.8)["lower_80"], rtol=1e-6)
    # Retraining on the stored series from the CLI reads the source "python" like any other.
    again = runner.invoke(app, ["train", "--symbol", "eurpln", "--source", "python", *TINY_FLAGS, "--no-shrink",
                                "--json", "--home", str(home)])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["metrics"]["test"]["rmse"] == pytest.approx(alone.scores["test"]["rmse"],
                                                                                rel=1e-12)


def test_a_saved_fit_can_take_another_name(tmp_path) -> None:
    fitted = seqcast.fit(sample_close(400).rename(None), **TINY)
    assert fitted.symbol == "series"
    run_id = fitted.save(home=tmp_path, name="EURPLN_ECB")
    run = seqcast.load_run(run_id, home=tmp_path)
    assert run.meta["symbol"] == "eurpln_ecb" and run.config.data.symbol == "eurpln_ecb"
    assert seqcast.predict_next(run_id, home=tmp_path).symbol == "eurpln_ecb"


def test_a_frame_with_bars_a_timezone_and_any_row_order() -> None:
    """A yfinance-style DataFrame: OHLCV bars, dates at midnight in the exchange's zone, newest first."""
    n = 220
    rng = np.random.default_rng(3)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    index = pd.bdate_range("2021-01-04", periods=n).tz_localize("America/New_York")
    bars = pd.DataFrame({"Open": close * 0.999, "High": close * 1.01, "Low": close * 0.99, "Close": close,
                         "Volume": rng.integers(1_000, 9_000, n), "Dividends": 0.0}, index=index).iloc[::-1]
    epochs = []
    fitted = seqcast.fit(bars, symbol="aapl.us", features="ohlc,volume",
                         on_epoch_end=lambda epoch, *_: epochs.append(epoch), **TINY)
    assert epochs == [1, 2] and fitted.symbol == "aapl.us"
    assert fitted.predictions.index.is_monotonic_increasing
    assert fitted.predictions.index[-1] == pd.Timestamp(index[-1].date())  # the same calendar day, no zone
    assert [r["name"] for r in fitted.meta["inputs"]][1:] == ["aapl.us:python range", "aapl.us:python body",
                                                              "aapl.us:python volume"]
    from seqcast.inputs.memory import checked_frame

    frame = checked_frame(bars, "bars")  # the same closes on the same calendar days, oldest first, no zone
    assert list(frame.columns) == ["Close", "Open", "High", "Low", "Volume"]  # Dividends is not read
    pd.testing.assert_series_equal(frame["Close"], pd.Series(close, index=index.tz_localize(None).rename("Date"),
                                                             name="Close"), check_freq=False)
