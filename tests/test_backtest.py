"""Walk-forward backtest: fold dates, per-fold scalers, pooled metrics, pool path, CLI."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app
from seqcast.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from seqcast.errors import ConfigError, DataError, NotEnoughDataError
from seqcast.forecast import metrics
from seqcast.inputs.windows import fit_scaler, transform_series
from seqcast.runs.backtest import fold_bounds, walk_forward
from tests.conftest import business_days, write_csv

runner = CliRunner()
TINY = ["--epochs", "2", "--hidden", "8", "--lookback", "10", "--patience", "0", "--device", "cpu"]
N = 200


def tiny_config(target: str = "logret", split: float = 0.6) -> RunConfig:
    return RunConfig(DataConfig(lookback=10, split=split, target=target), ModelConfig(hidden=8),
                     TrainConfig(epochs=2, patience=0, device="cpu"))


def sine(n: int = N) -> tuple[np.ndarray, pd.DatetimeIndex]:
    return 10 + np.sin(np.arange(n) / 5), business_days(n)


def same_metrics(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        (isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k])) or a[k] == pytest.approx(b[k])
        for k in a
    )


def test_fold_bounds_cover_the_test_part_in_contiguous_blocks():
    bounds = fold_bounds(200, 0.6, 3)
    assert bounds[0][0] == 120 and bounds[-1][1] == 200
    assert all(end == nxt for (_, end), (nxt, _) in itertools.pairwise(bounds))
    sizes = [end - start for start, end in bounds]
    assert max(sizes) - min(sizes) <= 1


def test_folds_never_see_their_test_dates():
    values, dates = sine()
    result = walk_forward(values, dates, tiny_config(), 3, workers=1)
    folds = result.folds
    assert [f.fold for f in folds] == [1, 2, 3]
    day = {str(d.date()): i for i, d in enumerate(dates)}
    assert folds[0].train_last == str(dates[int(0.6 * N) - 1].date())
    assert folds[-1].test_last == str(dates[-1].date())
    for f in folds:
        assert f.train_first == str(dates[0].date())
        assert f.train_last < f.test_first  # ISO dates sort as strings
        assert day[f.test_first] == day[f.train_last] + 1  # tested from the very next day
        assert f.test_dates[0] == f.test_first and f.test_dates[-1] == f.test_last
        assert len(f.test_dates) == f.n_test == f.windows["test"] == len(f.actual)
        assert f.n_train == day[f.train_last] + 1
        assert f.windows["val"] > 0  # each fold's validation tail is its own
    for prev, nxt in itertools.pairwise(folds):
        assert day[nxt.test_first] == day[prev.test_last] + 1  # contiguous, no overlap
        assert nxt.train_last == prev.test_last  # expanding: trains on the previous test block
        assert not set(prev.test_dates) & set(nxt.test_dates)
    assert sum(f.n_test for f in folds) == N - int(0.6 * N)
    # The recorded test actuals are the prices on the recorded test dates.
    for f in folds:
        rows = [day[d] for d in f.test_dates]
        np.testing.assert_array_equal(f.actual, values[rows])
        np.testing.assert_array_equal(f.previous, values[np.array(rows) - 1])


def test_each_fold_scaler_comes_from_its_own_training_part_only():
    values, dates = sine()
    values = values + np.arange(N) / 20  # a trend: every fold sees a new maximum
    values[150:] += 40  # and a huge level shift inside the test span
    cfg = tiny_config(target="level")
    base = walk_forward(values, dates, cfg, 3, workers=1)
    for f in base.folds:
        own = fit_scaler(transform_series(values[: f.n_train], "level"), "level")
        assert f.scaler == own.to_dict()
    assert len({(f.scaler["center"], f.scaler["scale"]) for f in base.folds}) == 3

    first = base.folds[0]
    start, end = first.n_train, first.n_train + first.n_test
    # Altering days after fold 1's test block changes nothing in fold 1.
    later = values.copy()
    later[end:] *= 3
    changed = walk_forward(later, dates, cfg, 3, workers=1)
    assert changed.folds[0].scaler == first.scaler
    np.testing.assert_array_equal(changed.folds[0].predicted, first.predicted)
    assert same_metrics(changed.folds[0].metrics, first.metrics)
    # Fold 2 trains on exactly fold 1's past plus fold 1's test block, so its scaler stays too,
    # while it is tested on the altered days; fold 3 trains on them.
    assert changed.folds[1].scaler == base.folds[1].scaler
    assert changed.folds[1].metrics["rmse"] != base.folds[1].metrics["rmse"]
    assert changed.folds[2].scaler != base.folds[2].scaler
    # Altering fold 1's own test block leaves its scaler alone (it is only tested there).
    own_test = values.copy()
    own_test[start:end] *= 3
    tested = walk_forward(own_test, dates, cfg, 3, workers=1)
    assert tested.folds[0].scaler == first.scaler
    assert tested.folds[0].metrics["rmse"] != first.metrics["rmse"]


def test_pooled_metrics_are_evaluate_on_all_test_days():
    values, dates = sine()
    result = walk_forward(values, dates, tiny_config(), 3, workers=1)
    cat = {name: np.concatenate([getattr(f, name) for f in result.folds])
           for name in ("actual", "predicted", "previous", "net_price")}
    expected = metrics.evaluate(cat["actual"], cat["predicted"], cat["previous"],
                                direction_from=cat["net_price"])
    assert same_metrics(result.pooled, expected)
    assert result.pooled["n"] == sum(f.n_test for f in result.folds)
    assert result.verdict == metrics.verdict(expected["rmse_ratio"], expected["dm_pvalue"])


def test_fold_equals_fit_evaluate_on_its_cut():
    from seqcast.forecast.evaluation import fit_evaluate

    values, dates = sine()
    cfg = tiny_config()
    result = walk_forward(values, dates, cfg, 2, workers=1)
    last = result.folds[-1]
    fitted = fit_evaluate(values[: last.n_train + last.n_test], cfg, n_train=last.n_train, intervals=False)
    assert same_metrics(last.metrics, fitted.report["test"])


def test_process_pool_gives_the_same_folds_as_in_process():
    values, dates = sine()
    cfg = tiny_config()
    seen = []
    pooled = walk_forward(values, dates, cfg, 2, workers=2, on_fold_end=lambda f: seen.append(f.fold))
    local = walk_forward(values, dates, cfg, 2, workers=1)
    assert pooled.workers == 2 and local.workers == 1
    assert sorted(seen) == [1, 2]
    assert [f.fold for f in pooled.folds] == [1, 2]
    for a, b in zip(pooled.folds, local.folds, strict=True):
        for name in ("actual", "predicted", "previous", "net_price"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        a_dict = {k: v for k, v in a.to_dict().items() if k not in ("metrics", "seconds")}
        b_dict = {k: v for k, v in b.to_dict().items() if k not in ("metrics", "seconds")}
        assert a_dict == b_dict
        assert same_metrics(a.metrics, b.metrics)
    assert same_metrics(pooled.pooled, local.pooled)


@pytest.mark.parametrize("folds", [0, 21, True, "3", 2.0])
def test_bad_fold_counts(folds):
    values, dates = sine()
    with pytest.raises(ConfigError, match="--folds must be"):
        walk_forward(values, dates, tiny_config(), folds, workers=1)


def test_too_few_test_days_per_fold_names_the_numbers():
    values, dates = sine(100)  # split 0.6 -> 40 test days
    with pytest.raises(NotEnoughDataError, match=r"100 rows .* 40 test days; 10 folds would get 4 each"):
        walk_forward(values, dates, tiny_config(), 10, workers=1)


def test_too_short_first_training_part():
    values, dates = sine(40)
    with pytest.raises(NotEnoughDataError, match="training windows"):
        walk_forward(values, dates, tiny_config(), 1, workers=1)


def test_bad_workers_and_dates():
    values, dates = sine()
    with pytest.raises(ConfigError, match="--workers"):
        walk_forward(values, dates, tiny_config(), 2, workers=0)
    with pytest.raises(DataError, match="dates"):
        walk_forward(values, dates[:-1], tiny_config(), 2, workers=1)


def test_api_backtest_saves_json(tmp_path, workspace):
    values, dates = sine()
    csv = write_csv(tmp_path / "sine.csv", pd.DataFrame({"Close": values}, index=dates))
    api.fetch("sine", csv=csv)
    cfg = tiny_config()
    result = api.backtest(cfg, folds=2, workers=1, start=str(dates[10].date()))
    assert result.path.parent == workspace.resolve() / "backtests"
    saved = json.loads(result.path.read_text())
    assert saved["backtest_id"] == result.backtest_id == result.path.stem
    assert saved["symbol"] == "sine" and saved["data"]["first"] == str(dates[10].date())
    assert saved["data"]["rows"] == N - 10
    assert [f["test_first"] for f in saved["folds"]] == [f.test_first for f in result.folds]
    assert len(saved["folds"][0]["predictions"]) == result.folds[0].n_test
    assert saved["pooled"]["rmse"] == pytest.approx(result.pooled["rmse"])
    assert saved["config"]["data"]["start"] == str(dates[10].date())


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def fetched(tmp_path):
    values, dates = sine()
    csv = write_csv(tmp_path / "sine.csv", pd.DataFrame({"Close": values}, index=dates))
    result = runner.invoke(app, ["fetch", "sine", "--csv", csv])
    assert result.exit_code == 0, result.output
    return dates


def test_cli_backtest_table_and_json(fetched, workspace):
    result = runner.invoke(app, ["backtest", "--folds", "2", "--workers", "1", *TINY])
    assert result.exit_code == 0, result.output
    assert "pooled" in result.output and "naive" in result.output
    assert "2 folds" in result.output
    assert "saved:" in result.output
    assert str(fetched[-1].date()) in result.output  # the last test day
    assert len(list((workspace / "backtests").glob("*.json"))) == 1

    result = runner.invoke(app, ["backtest", "--folds", "2", "--workers", "1", "--split", "0.8", *TINY,
                                 "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert len(payload["folds"]) == 2 and "predictions" not in payload["folds"][0]
    assert payload["folds"][0]["train_last"] < payload["folds"][0]["test_first"]
    assert set(payload["pooled"]) >= {"rmse", "naive_rmse", "rmse_ratio", "directional_accuracy"}
    assert payload["verdict"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--folds", "0"], "--folds must be a whole number between 1 and 20, got 0"),
        (["--folds", "20"], "folds would get"),
        (["--workers", "0"], "--workers must be"),
        (["--lookback", "500"], "too few"),
    ],
)
def test_cli_backtest_user_errors(fetched, args, message):
    result = runner.invoke(app, ["backtest", *TINY, *args])
    assert result.exit_code == 1, result.output
    assert result.output.strip().startswith("error:")
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_backtest_without_data():
    result = runner.invoke(app, ["backtest", *TINY])
    assert result.exit_code == 1
    assert "no data fetched yet" in result.output


def test_cli_backtest_help_has_an_example():
    result = runner.invoke(app, ["backtest", "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and "--folds" in result.output

