"""Multi-seed training: one saved run per seed, mean ± sd of the test metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app
from seqcast.errors import ConfigError
from tests.conftest import business_days, write_csv

runner = CliRunner()
TINY = ["--epochs", "2", "--hidden", "8", "--lookback", "10", "--patience", "0", "--device", "cpu"]
TINY_KW = {"epochs": 2, "hidden": 8, "lookback": 10, "patience": 0, "device": "cpu"}


@pytest.fixture
def fetched(tmp_path):
    n = 200
    frame = pd.DataFrame({"Close": 10 + np.sin(np.arange(n) / 5)}, index=business_days(n))
    result = runner.invoke(app, ["fetch", "sine", "--csv", write_csv(tmp_path / "sine.csv", frame)])
    assert result.exit_code == 0, result.output


def test_train_seeds_saves_one_run_per_seed_and_summarises(fetched):
    started = []
    # No shrinkage: a tiny net is often shrunk all the way to naive, hiding the seeds' spread.
    result = api.train_seeds(seeds=3, seed=5, shrink=False, on_seed_start=lambda i, s: started.append((i, s)),
                             **TINY_KW)
    assert started == [(0, 5), (1, 6), (2, 7)]
    assert [r.config.train.seed for r in result.runs] == [5, 6, 7]
    assert sorted(r.run_id for r in api.list_runs()) == sorted(r.run_id for r in result.runs)
    assert set(result.summary) == set(api.SEED_METRICS)
    for name, stats in result.summary.items():
        values = [r.metrics["test"][name] for r in result.runs]
        assert stats["mean"] == pytest.approx(np.mean(values))
        assert stats["sd"] == pytest.approx(np.std(values, ddof=1))
    assert result.summary["naive_rmse"]["sd"] == pytest.approx(0.0)  # same test days for every seed
    assert result.summary["rmse"]["sd"] > 0  # different seeds, different networks


def test_one_seed_has_zero_sd_and_equals_train(fetched):
    result = api.train_seeds(seeds=1, **TINY_KW)
    assert all(s["sd"] == 0.0 for s in result.summary.values())
    single = api.train(**TINY_KW).run
    assert result.summary["rmse"]["mean"] == pytest.approx(single.metrics["test"]["rmse"])


@pytest.mark.parametrize("seeds", [0, 101, True, 2.5])
def test_bad_seed_counts(seeds):
    with pytest.raises(ConfigError, match="--seeds must be"):
        api.train_seeds(seeds=seeds)


def test_cli_train_seeds_prints_mean_and_sd(fetched):
    result = runner.invoke(app, ["train", *TINY, "--seeds", "2"])
    assert result.exit_code == 0, result.output
    assert "mean ± sd" in result.output
    for label in ("RMSE", "MAE", "direction %", "RMSE / naive", "naive RMSE"):
        assert label in result.output
    assert result.output.count("±") >= 5
    runs = api.list_runs()
    assert len(runs) == 2
    assert all(r.run_id in result.output for r in runs)


def test_cli_train_seeds_json(fetched):
    result = runner.invoke(app, ["train", *TINY, "--seeds", "2", "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert set(payload) == {"runs", "summary"}
    assert [r["seed"] for r in payload["runs"]] == [3, 4]
    assert payload["summary"]["rmse_ratio"].keys() == {"mean", "sd"}
    assert payload["runs"][0]["test"]["naive_rmse"] == pytest.approx(payload["summary"]["naive_rmse"]["mean"])


def test_cli_seeds_errors_and_help(fetched):
    result = runner.invoke(app, ["train", *TINY, "--seeds", "0"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("error:") and "--seeds must be" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["train", *TINY, "--seeds", "2", "--lookback", "500"])
    assert result.exit_code == 1 and "too few" in result.output
    assert api.list_runs() == []
    help_text = runner.invoke(app, ["train", "--help"]).output
    assert "--seeds" in help_text and "seqcast train --seeds" in help_text
