"""The search-aware test of the best config against naive: Hansen's SPA (arch) on per-day losses."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from seqcast import api
from seqcast.forecast.stats import spa_pvalue, spa_sentence
from seqcast.runs.results import results_path
from tests.conftest import business_days, write_csv

TINY_KW = {"hidden": [8, 4], "lookback": 10, "patience": 0, "device": "cpu", "shrink": False}
N = 300


def test_spa_on_gains_is_seeded_and_tells_luck_from_an_edge():
    rng = np.random.default_rng(0)
    luck = rng.normal(0, 1, (400, 30))  # 30 configs, none better than naive in expectation
    assert luck.mean(axis=0).max() > 0.05  # the best of them looks better by chance
    found = spa_pvalue(luck)
    assert found["pvalue"] > 0.2 and found["models"] == 30 and found["days"] == 400
    assert spa_pvalue(luck) == found  # the same bootstrap every time
    edge = luck.copy()
    edge[:, 7] += 0.4
    found = spa_pvalue(edge)
    assert found["pvalue"] < 0.01 and found["best"] == 7
    assert spa_pvalue(np.zeros((50, 3)))["pvalue"] == 1.0  # configs that are naive cannot beat it
    assert "survives the search: SPA p = " in spa_sentence({**found, "configs": 30})
    assert "could be luck from searching 30 configs: SPA p = " in spa_sentence({"pvalue": 0.41, "configs": 30})


def fetch(tmp_path, name, values):
    api.fetch(name, csv=write_csv(tmp_path / f"{name}.csv", pd.DataFrame({"Close": values}, index=business_days(N))))


def test_a_sweep_of_random_walks_is_luck_and_a_sine_is_an_edge(tmp_path, workspace):
    rng = np.random.default_rng(3)
    for name in ("walka", "walkb"):
        fetch(tmp_path, name, 10 * np.exp(np.cumsum(rng.normal(0, 0.01, N))))
    fetch(tmp_path, "sine", 10 + np.sin(np.arange(N) / 5) + rng.normal(0, 0.05, N))

    walks = api.sweep({**TINY_KW, "epochs": 2}, symbols=["walka", "walkb"], seeds=2, workers=1)
    spa = walks.data["spa"]
    assert spa["method"] == "hansen-spa" and spa["reps"] == 1000 and spa["configs"] == 2
    assert spa["pvalue"] > 0.1 and spa["best_config"] in ("hidden=8", "hidden=4")
    on_disk = json.loads(walks.path.read_text())
    assert on_disk["spa"] == spa and "multiple_testing" in on_disk
    with sqlite3.connect(results_path(walks.path)) as db:  # the per-day losses it rests on
        rows = db.execute("SELECT cell, length(days), length(model), length(naive) FROM losses").fetchall()
    assert len(rows) == 8 and all(d == m == n and d % 4 == 0 and d > 0 for _, d, m, n in rows)

    sine = api.sweep({**TINY_KW, "epochs": 6, "lr": 0.01}, symbols=["sine"], seeds=1, workers=1)
    assert sine.data["spa"]["pvalue"] < 0.05, sine.data["spa"]
    assert min(row["rmse_ratio_mean"] for row in sine.leaderboard) < 0.9


def test_the_sweep_summary_says_it(tmp_path, workspace):
    from typer.testing import CliRunner

    from seqcast.cli import app

    fetch(tmp_path, "walka", 10 * np.exp(np.cumsum(np.random.default_rng(5).normal(0, 0.01, N))))
    result = CliRunner().invoke(app, ["sweep", "--symbol", "walka", "--hidden", "8,4", "--epochs", "1", "--lookback",
                                      "10", "--patience", "0", "--device", "cpu", "--no-shrink", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "SPA p = " in result.output and "edge over naive" in result.output


@pytest.mark.parametrize("bad", [np.zeros((5, 2)), np.zeros((50, 0)), np.full((50, 2), np.nan)])
def test_spa_refuses_what_it_cannot_test(bad):
    from seqcast.errors import DataError

    with pytest.raises(DataError):
        spa_pvalue(bad)
