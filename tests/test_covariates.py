"""Past covariates and extra columns: alignment, no look-ahead, scaling, messages, end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app
from seqcast.config import DataConfig, RunConfig, parse_covariate
from seqcast.errors import ConfigError, DataError, NotEnoughDataError, SeriesNotFoundError
from seqcast.inputs.covariates import align_asof
from seqcast.inputs.windows import build_dataset
from tests.conftest import business_days, write_csv

FAST = {"epochs": 20, "lr": 1e-2, "hidden": 8, "lookback": 5, "patience": 0, "batch_size": 32}


def leading_pair(n: int = 600, seed: int = 0, lead: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random-walk target and a covariate that, dated d, already shows the target's close `lead` days later."""
    rng = np.random.default_rng(seed)
    dates = business_days(n)
    close = 4.0 * np.exp(np.cumsum(rng.normal(0, 0.005, n)))
    target = pd.DataFrame({"Close": close}, index=dates)
    cov = close[lead:] * np.exp(rng.normal(0, 0.0005, n - lead))
    return target, pd.DataFrame({"Close": cov}, index=dates[: n - lead])


def store_pair(tmp_path, target: pd.DataFrame, cov: pd.DataFrame, name: str = "lead") -> None:
    api.fetch("tgt", csv=write_csv(tmp_path / "tgt.csv", target))
    api.fetch(name, csv=write_csv(tmp_path / f"{name}.csv", cov))


# --------------------------------------------------------------------------- alignment


def test_asof_takes_the_last_value_on_or_before_each_date_and_drops_stale_ones():
    target = np.array(["2024-01-08", "2024-01-09", "2024-01-10", "2024-01-22"], dtype="datetime64[D]")
    dates = np.array(["2024-01-06", "2024-01-09", "2024-01-11"], dtype="datetime64[D]")  # a Saturday row too
    aligned, age = align_asof(target, dates, np.array([1.0, 2.0, 3.0]), max_stale_days=7)
    # 01-10 gets the 01-09 value (never the later 01-11); 01-22 is 11 days after 01-11: stale.
    np.testing.assert_array_equal(aligned[:3], [1.0, 2.0, 2.0])
    assert np.isnan(aligned[3])
    assert list(age) == [2, 0, 1, 11]
    aligned, _ = align_asof(np.array(["2024-01-05"], dtype="datetime64[D]"), dates, np.array([1.0, 2, 3]), 7)
    assert np.isnan(aligned[0])  # before the covariate starts: unknown


def test_no_window_holds_a_covariate_value_dated_after_its_last_day():
    """The leakage rule itself: the window forecasting day t sees covariate dates <= day t-1."""
    from seqcast.inputs.covariates import covariate_columns

    n = 120
    target_dates = business_days(n).to_numpy(dtype="datetime64[D]")
    close = np.linspace(4.0, 4.5, n)
    # The covariate lives on every calendar day; its value *is* its own date (days since epoch).
    cov_dates = np.arange(target_dates[0] - 3, target_dates[-1] + 5, dtype="datetime64[D]")
    cov_close = cov_dates.astype(np.int64).astype(np.float64)
    columns = covariate_columns("c", "csv", target_dates, close, cov_dates, cov_close, 7)
    gap = columns[1].values
    marker = np.exp(gap) * close  # the covariate's own value on each target row: its date
    ds = build_dataset(close, lookback=10, split=0.7, val_fraction=0.1, target="logret",
                       inputs=marker[:, None])
    s = ds.input_scalers[0]
    seen = ds.x[:, :, 1].astype(np.float64) * s.scale + s.center  # (n_windows, lookback) dates seen
    day_before = target_dates[ds.positions - 1].astype(np.int64)
    assert (np.round(seen.max(axis=1)) <= day_before).all()
    # ... and it does see the day before (the alignment is not needlessly stale).
    np.testing.assert_allclose(seen[:, -1], day_before, atol=0.5)


def test_inputs_are_scaled_with_training_statistics_only():
    n = 200
    values = np.linspace(4, 5, n)
    extra = np.concatenate([np.zeros(140), np.full(60, 1000.0)])[:, None]  # the test part is wild
    ds = build_dataset(values, lookback=5, split=0.7, val_fraction=0.1, target="logret", inputs=extra)
    assert ds.input_scalers[0].center == 0.0  # 1000s after row 140 never entered the statistics


def test_windows_with_a_missing_input_are_dropped_not_filled():
    n = 200
    values = np.linspace(4, 5, n)
    extra = np.ones((n, 1))
    extra[50] = np.nan
    ds = build_dataset(values, lookback=5, split=0.7, val_fraction=0.1, target="logret", inputs=extra)
    assert ds.dropped == 5  # the five windows whose rows include row 50
    assert not np.isin(np.arange(51, 56), ds.positions).any()
    assert np.isfinite(ds.x).all()
    np.testing.assert_array_equal(ds.previous, values[ds.positions - 1])


# --------------------------------------------------------------------------- end to end


def test_a_leading_covariate_lets_the_network_beat_naive(tmp_path):
    """Fails when the network ignores its inputs: without them this target is a pure random walk."""
    target, cov = leading_pair()
    store_pair(tmp_path, target, cov)
    run = api.train(symbol="tgt", covariates=["lead:csv"], **FAST).run
    test = run.metrics["test"]
    assert test["rmse_ratio"] < 0.5, test
    assert test["dm_pvalue"] < 0.01
    assert test["linear_rmse_ratio"] < 0.5  # the simplest model on the same inputs finds it too
    inputs = run.meta["inputs"]
    assert [r["name"] for r in inputs] == ["tgt:csv logret", "lead:csv logret", "lead:csv gap"]
    assert all(r["scaler_fitted_on"] == [run.meta["split"]["train_first"], run.meta["split"]["train_last"]]
               for r in inputs)
    assert inputs[1]["role"] == "covariate" and len(inputs[1]["fingerprint"]) == 16
    assert run.config.data.covariates == ["lead:csv"]
    # The same target without the covariate: nothing to find.
    plain = api.train(symbol="tgt", **FAST).run
    assert plain.metrics["test"]["rmse_ratio"] > 0.97


def test_a_covariate_dated_on_the_target_day_cannot_be_used(tmp_path):
    """A covariate that reveals the target's own move *on its date* is no help for that date's forecast."""
    target, _ = leading_pair(seed=1)
    moves = np.exp(np.diff(np.log(target["Close"].to_numpy()), prepend=np.nan))[1:]
    same_day = pd.DataFrame({"Close": moves}, index=target.index[1:])  # dated d: the target's move on d
    store_pair(tmp_path, target, same_day, name="sameday")
    run = api.train(symbol="tgt", covariates=["sameday:csv"], **FAST).run
    assert run.metrics["test"]["rmse_ratio"] > 0.97
    assert run.metrics["test"]["linear_rmse_ratio"] > 0.97


def test_predict_next_numpy_path_and_refusals(tmp_path):
    target, cov = leading_pair(n=300)
    cov_full = pd.concat([cov, pd.DataFrame({"Close": [cov["Close"].iloc[-1]]}, index=target.index[-1:])])
    store_pair(tmp_path, target, cov_full)
    run = api.train(symbol="tgt", covariates=["lead"], **FAST).run
    assert run.config.data.covariates == ["lead:csv"]  # the source actually used is recorded
    fc = api.predict_next(run.run_id)
    assert len(fc.rows) == 1 and np.isfinite(fc.rows[0]["predicted"])
    # A covariate run's forecast, too, runs in numpy: neither torch nor pandas is imported.
    import subprocess
    import sys

    probe = ("import sys, json; from seqcast import api; "
             f"row = api.predict_next({run.run_id!r}).rows[0]; "
             "print(json.dumps([row['predicted'], [m for m in ('torch', 'pandas') if m in sys.modules]]))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    predicted, heavy = json.loads(done.stdout)
    assert heavy == [] and predicted == fc.rows[0]["predicted"]
    # The numpy forward of a 3-input network is the torch one.
    import torch

    from seqcast.models.training import predict_numpy

    x = np.random.default_rng(0).normal(size=(4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(run.predictor()(x), predict_numpy(run.load_model(), x, torch.device("cpu")),
                               rtol=1e-4, atol=1e-6)
    with pytest.raises(ConfigError, match="one day ahead only"):
        api.predict_next(run.run_id, horizon=3)
    # A covariate revised over the training dates is noted, as the target's own revisions are.
    revised = cov_full.copy()
    revised.iloc[100, 0] *= 1.01
    api.fetch("lead", csv=write_csv(tmp_path / "lead2.csv", revised))
    assert any("covariate lead:csv was revised" in n for n in api.predict_next(run.run_id).notes)
    # The target moves on; the covariate does not.
    later = pd.DataFrame({"Close": [target["Close"].iloc[-1]] * 2},
                         index=pd.bdate_range(target.index[-1] + pd.Timedelta(days=1), periods=2))
    api.fetch("tgt", csv=write_csv(tmp_path / "tgt2.csv", later))
    with pytest.raises(DataError, match=r"covariate lead:csv ends .*seqcast fetch lead --csv"):
        api.predict_next(run.run_id)


def test_stale_and_missing_rows_are_left_out_and_reported(tmp_path):
    target, cov = leading_pair(n=400)
    holey = cov.drop(cov.index[200:215])  # three weeks without covariate data
    store_pair(tmp_path, target, holey)
    run = api.train(symbol="tgt", covariates=["lead:csv"], **FAST).run
    dropped = run.meta["split"]["dropped_windows"]
    assert dropped > 0
    preds = run.predictions()
    # 398 usable rows (the covariate's first log-return is on row 1 and it ends a day early), the
    # first lookback + 1 of them history only, and no window with an unknown input.
    assert len(preds) == 398 - (FAST["lookback"] + 1) - dropped
    result = CliRunner().invoke(app, ["runs"])
    assert "lead:csv" in result.output
    listed = json.loads(CliRunner().invoke(app, ["runs", "--json"]).output)
    assert listed[-1]["inputs"] == ["lead:csv"]


def test_misaligned_calendars_are_aligned_and_the_range_trimmed(tmp_path):
    target, cov = leading_pair(n=400)
    # The covariate trades every calendar day (weekends too) and starts a month later.
    daily = cov.reindex(pd.date_range(cov.index[20], cov.index[-1], freq="D", name="Date"), method="ffill")
    store_pair(tmp_path, target, daily)
    run = api.train(symbol="tgt", covariates=["lead:csv"], **FAST).run
    # The first day with a covariate log-return: the target day after the covariate's first.
    assert run.meta["data"]["first"] == str((daily.index[0] + pd.offsets.BDay(1)).date())
    assert run.meta["split"]["dropped_windows"] == 0
    # A covariate that has no value within --max-stale-days of most target days is refused.
    sparse = cov.iloc[::15]
    api.fetch("sparse", csv=write_csv(tmp_path / "sparse.csv", sparse))
    with pytest.raises(NotEnoughDataError, match="missing or too stale"):
        api.train(symbol="tgt", covariates=["sparse:csv"], max_stale_days=3, **FAST)


def test_messages_for_unusable_covariates(tmp_path):
    target, cov = leading_pair(n=200)
    store_pair(tmp_path, target, cov)
    api.fetch("short", csv=write_csv(tmp_path / "short.csv", cov.iloc[:4]))
    with pytest.raises(NotEnoughDataError, match="short:csv has 4 rows, fewer than --lookback 5"):
        api.train(symbol="tgt", covariates=["short"], **FAST)
    with pytest.raises(SeriesNotFoundError, match="no stored data for 'nothere'"):
        api.train(symbol="tgt", covariates=["nothere:stooq"], **FAST)
    with pytest.raises(ConfigError, match="the target series itself"):
        api.train(symbol="tgt", covariates=["tgt:csv"], **FAST)
    api.fetch("later", csv=write_csv(tmp_path / "later.csv", cov.set_axis(cov.index + pd.Timedelta(days=400))))
    with pytest.raises(NotEnoughDataError, match="share no dates"):
        api.train(symbol="tgt", covariates=["later"], **FAST)
    with pytest.raises(DataError, match="--features ohlc needs the Open, High, Low"):
        api.train(symbol="tgt", features="ohlc", **FAST)
    result = CliRunner().invoke(app, ["train", "--symbol", "tgt", "--covariate", "bad spec!"])
    assert result.exit_code == 1 and "--covariate must be SYMBOL" in result.output
    assert "Traceback" not in result.output


def test_features_from_the_targets_own_bars(tmp_path):
    rng = np.random.default_rng(3)
    n = 300
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    frame = pd.DataFrame({"Open": open_, "High": np.maximum(open_, close) * 1.004,
                          "Low": np.minimum(open_, close) * 0.996, "Close": close,
                          "Volume": rng.integers(1000, 5000, n)}, index=business_days(n))
    frame.rename_axis("Date").to_csv(tmp_path / "bars.csv")
    api.fetch("bars", csv=tmp_path / "bars.csv")
    run = api.train(symbol="bars", features="ohlc,volume", **FAST).run
    assert run.config.data.features == ["ohlc", "volume"]
    assert [r["transform"] for r in run.meta["inputs"]] == ["logret", "range", "body", "volume"]
    assert np.isfinite(api.predict_next(run.run_id).rows[0]["predicted"])


def test_backtest_folds_fit_their_own_input_scalers(tmp_path):
    target, cov = leading_pair(n=400)
    store_pair(tmp_path, target, cov)
    result = api.backtest(symbol="tgt", covariates=["lead:csv"], folds=2, workers=1, **FAST)
    first, second = (f.input_scalers for f in result.folds)
    assert len(first) == 2 and first != second
    assert result.pooled["rmse_ratio"] < 0.7
    assert result.linear["rmse_ratio"] < 0.7
    saved = json.loads(result.path.read_text())
    assert saved["config"]["data"]["covariates"] == ["lead:csv"]
    assert saved["linear"]["rmse_ratio"] == result.linear["rmse_ratio"]


def test_seeds_with_a_covariate(tmp_path):
    target, cov = leading_pair(n=300)
    store_pair(tmp_path, target, cov)
    result = api.train_seeds(symbol="tgt", covariates=["lead:csv"], seeds=2, **FAST)
    assert [r.config.data.covariates for r in result.runs] == [["lead:csv"]] * 2
    assert result.summary["rmse_ratio"]["mean"] < 0.5


def test_cli_train_with_a_covariate_reports_inputs_and_the_linear_baseline(tmp_path):
    target, cov = leading_pair(n=300)
    store_pair(tmp_path, target, cov)
    result = CliRunner().invoke(app, ["train", "--symbol", "tgt", "--covariate", "lead:csv", "--epochs", "3",
                                      "--hidden", "8", "--lookback", "5"])
    assert result.exit_code == 0, result.output
    assert "linear regression on the same inputs: ratio" in result.output
    assert "inputs: tgt:csv logret, lead:csv logret, lead:csv gap" in result.output
    assert api.plot().exists()


def test_config_fields_round_trip_and_old_configs_still_load():
    cfg = RunConfig(DataConfig(covariates=["EURPLN:stooq", "eurusd"], features="volume, ohlc"))
    assert cfg.data.covariates == ["eurpln:stooq", "eurusd"]
    assert cfg.data.features == ["volume", "ohlc"]
    assert cfg.data.n_inputs == 1 + 2 * 2 + 3
    again = RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    old = cfg.to_dict()
    for key in ("covariates", "features", "max_stale_days"):
        del old["data"][key]
    assert RunConfig.from_dict(old).data.n_inputs == 1
    with pytest.raises(ConfigError, match="features takes"):
        DataConfig(features="ohlc,price")
    with pytest.raises(ConfigError, match="the same series twice"):
        DataConfig(covariates=["a:csv", "A:csv"])
    assert parse_covariate("^spx:stooq") == ("^spx", "stooq")


@pytest.mark.parametrize("options", [{"model": "transformer"}, {"target": "change"}])
def test_other_models_and_targets_read_covariates_and_forecast(tmp_path, options):
    target, cov = leading_pair(n=300)
    cov_full = pd.concat([cov, pd.DataFrame({"Close": [cov["Close"].iloc[-1]]}, index=target.index[-1:])])
    store_pair(tmp_path, target, cov_full)
    run = api.train(symbol="tgt", covariates=["lead:csv"], **{**FAST, **options}).run
    assert run.metrics["test"]["rmse_ratio"] < 0.5
    assert np.isfinite(api.predict_next(run.run_id).rows[0]["predicted"])  # the torch path for a transformer


def test_cli_json_output_with_covariates_is_strict_json(tmp_path):
    target, cov = leading_pair(n=300)
    store_pair(tmp_path, target, cov)
    result = CliRunner().invoke(app, ["train", "--symbol", "tgt", "--covariate", "lead:csv", "--epochs", "20",
                                      "--lr", "0.01", "--patience", "0", "--batch-size", "32", "--hidden", "8",
                                      "--lookback", "5", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert [r["name"] for r in out["meta"]["inputs"]][1:] == ["lead:csv logret", "lead:csv gap"]
    assert "linear_rmse_ratio" in out["metrics"]["test"]


def test_a_covariate_that_ends_early_is_named_in_a_warning(tmp_path):
    target, cov = leading_pair(n=400)
    store_pair(tmp_path, target, cov.iloc[:250])  # the covariate stops 150 days before the target
    run = api.train(symbol="tgt", covariates=["lead:csv"], **{**FAST, "epochs": 1}).run
    warnings = [w for w in run.meta["data_warnings"] if w["kind"] == "inputs-range"]
    assert len(warnings) == 1
    assert "known on 249 of the 400 selected tgt rows" in warnings[0]["message"]
    full = api.train(symbol="tgt", **{**FAST, "epochs": 1}).run  # no covariate: no such warning
    assert not [w for w in full.meta["data_warnings"] if w["kind"] == "inputs-range"]


def test_a_zero_volume_day_does_not_blow_up_the_volume_input():
    from seqcast.inputs.covariates import VOLUME_CHANGE_CAP, feature_columns

    volume = np.array([1e6, 1.1e6, 0.0, 1.2e6, 9e5])
    close = np.array([10.0, 10.1, 10.2, 10.1, 10.0])
    (column,) = feature_columns("x", "csv", ["volume"], {"Close": close, "Volume": volume})
    assert np.isnan(column.values[0])
    np.testing.assert_allclose(column.values[1], np.log1p(1.1e6) - np.log1p(1e6))
    assert column.values[2] == -VOLUME_CHANGE_CAP and column.values[3] == VOLUME_CHANGE_CAP
