"""Intervals at any level (stored calibration, multiplier_at, predict-next --level), the garch oracle
series, and no comparison against a band fitted on a training part that never moves (issue 23)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app
from seqcast.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from seqcast.data.sources.synthetic import GARCH_ALPHA, GARCH_BETA, SyntheticSpec, garch_volatility, generate
from seqcast.errors import ConfigError, RunCorruptError
from seqcast.forecast.intervals import Calibration, interval_bounds, multiplier_at
from seqcast.forecast.stats import conformal_quantile, interval_scores, normal_ppf
from seqcast.forecast.volatility import fit_garch, moves
from seqcast.inputs.windows import build_dataset

from .conftest import write_csv

TINY = {"epochs": 1, "hidden": 8, "lookback": 10, "patience": 0, "threads": 1}


# --- multiplier_at ------------------------------------------------------------------


def test_multiplier_at_is_the_conformal_quantile_at_every_level_and_grows_with_it():
    rng = np.random.default_rng(0)
    scores = [np.abs(rng.standard_t(5, n)) for n in (250, 249, 37, 10)]
    cal = Calibration.from_scores(scores, 0.9)
    levels = [0.5, 0.8, 0.9, 0.95, 0.975, 0.999]
    table = np.array([multiplier_at(cal, lv) for lv in levels])  # (levels, horizons)
    for i, level in enumerate(levels):
        assert table[i].tolist() == [conformal_quantile(z, level) for z in scores]
    assert (table[1:] >= table[:-1]).all()  # nested: a higher level is never narrower
    assert math.isinf(table[-1, -1])  # 10 scores cannot give 99.9 %
    again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    np.testing.assert_allclose(np.array([multiplier_at(again, lv) for lv in levels[:-1]]), table[:-1], rtol=1e-6)
    with pytest.raises(ConfigError, match=r"between 0\.5 and 0\.999"):
        multiplier_at(cal, 0.3)


@pytest.mark.parametrize("edit", [
    lambda d: d.update(tails=d["tails"][:1]),
    lambda d: d["tails"][0].reverse(),
    lambda d: d["tails"][0].__setitem__(0, -1.0),
    lambda d: d.update(counts=[3, 5]),
    lambda d: d.update(trained_level="0.9"),
])
def test_a_damaged_calibration_is_refused(edit):
    raw = Calibration.from_scores([np.arange(1.0, 21.0), np.arange(1.0, 13.0)], 0.9).to_dict()
    edit(raw)
    with pytest.raises(RunCorruptError, match="train again"):
        Calibration.from_dict(raw)


# --- predict-next --level -------------------------------------------------------------


def _garch_run(tmp_path):
    frame = generate(SyntheticSpec("garch", length=700, seed=3))
    api.fetch("g", csv=write_csv(tmp_path / "g.csv", frame))
    return api.train(level=0.9, **TINY).run


def test_predict_next_gives_nested_bands_at_other_levels(tmp_path):
    run = _garch_run(tmp_path)
    assert (run.path / "calibration.json").is_file()
    by_level = {lv: api.predict_next(run.run_id, horizon=5, level=lv) for lv in (0.8, 0.9, 0.95)}
    trained = api.predict_next(run.run_id, horizon=5)
    assert [r["upper"] for r in by_level[0.9].rows] == pytest.approx([r["upper"] for r in trained.rows], rel=1e-6)
    assert by_level[0.95].level == 0.95
    for low, high in ((0.8, 0.9), (0.9, 0.95)):
        for a, b in zip(by_level[low].rows, by_level[high].rows, strict=True):
            assert b["lower"] < a["lower"] <= a["predicted"] <= a["upper"] < b["upper"]
    out = CliRunner().invoke(app, ["predict-next", "--level", "0.95", "--horizon", "2", "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)["rows"]
    assert rows[1]["upper"] == pytest.approx(by_level[0.95].rows[1]["upper"], rel=1e-9)


def test_a_run_saved_without_calibration_keeps_its_trained_level_only(tmp_path):
    run = _garch_run(tmp_path)
    (run.path / "calibration.json").unlink()  # as a run saved before seqcast stored it
    assert api.predict_next(run.run_id, level=0.9).rows[0]["upper"] > 0
    with pytest.raises(ConfigError, match=r"trained level 0.9 only: leave out --level, or train again"):
        api.predict_next(run.run_id, level=0.95)
    out = CliRunner().invoke(app, ["predict-next", "--level", "0.95"])
    assert out.exit_code != 0 and "Traceback" not in out.output
    assert "trained level 0.9 only" in out.output


# --- the garch series and its oracle -----------------------------------------------


def test_garch_series_is_seeded_and_has_its_known_parameters():
    spec = SyntheticSpec("garch", length=6000, seed=1)
    a, b = generate(spec), generate(spec)
    pd.testing.assert_frame_equal(a, b)
    p = fit_garch(moves(a["Close"].to_numpy()[1:], True), dist="normal", asymmetric=False)
    assert p.alpha == pytest.approx(GARCH_ALPHA, abs=0.02)
    assert p.beta == pytest.approx(GARCH_BETA, abs=0.03)
    sd = garch_volatility(spec)
    z = moves(a["Close"].to_numpy(), True) / sd[1:]  # standardized by the true volatility: unit normal
    assert np.std(z) == pytest.approx(1.0, abs=0.03)
    with pytest.raises(ConfigError):
        garch_volatility(SyntheticSpec("sine"))


def test_interval_on_the_garch_series_hits_its_level_and_the_oracle():
    from seqcast.forecast.evaluation import fit_evaluate

    spec = SyntheticSpec("garch", length=3000, seed=0)
    values = generate(spec)["Close"].to_numpy()
    cfg = RunConfig(DataConfig(lookback=10), ModelConfig(hidden=8), TrainConfig(epochs=1, patience=0, threads=1))
    fitted = fit_evaluate(values, cfg)
    test, t = fitted.report["test"], fitted.ds.test
    assert 0.88 <= test["interval_coverage"] <= 0.92
    assert test["interval_score_dm_pvalue"] >= 0.05 or test["interval_score_ratio"] < 1
    previous, actual = fitted.ds.previous[t], fitted.ds.actual[t]
    half = normal_ppf(0.95) * garch_volatility(spec)[fitted.ds.positions[t]]
    olo, ohi = interval_bounds(previous, half, True)
    oracle = interval_scores(actual, olo, ohi, 0.9).mean()
    assert test["interval_score"] / oracle <= 1.01


# --- degenerate baselines ---------------------------------------------------------------


def test_no_garch_comparison_on_a_training_part_that_never_moves(tmp_path):
    rng = np.random.default_rng(2)
    n = 600
    close = np.r_[np.full(450, 25.0), 25 * np.exp(np.cumsum(rng.normal(0, 0.02, n - 450)))]
    frame = pd.DataFrame({"Close": close}, index=pd.bdate_range("2022-01-03", periods=n, name="Date"))
    api.fetch("frozen", csv=write_csv(tmp_path / "frozen.csv", frame))
    run = api.train(**TINY).run
    test = run.metrics["test"]
    assert "barely moves" in test["garch_skipped"]
    assert not {"interval_score_dm_pvalue", "garch_interval_score", "interval_score_ratio"} & set(test)
    kinds = [w["kind"] for w in run.meta["data_warnings"]]
    assert "flat-training-part" in kinds
    message = run.meta["data_warnings"][kinds.index("flat-training-part")]["message"]
    assert "2022-01-03" in message and "--from" in message
    out = CliRunner().invoke(app, ["runs", "show", run.run_id])
    line = next(x for x in out.output.splitlines() if "GARCH(1,1) band" in x)
    assert line.startswith("no comparison with a GARCH(1,1) band: the training part barely moves") and "p =" not in line


def test_a_pegged_covariate_is_scaled_by_the_targets_move_not_its_flickers():
    rng = np.random.default_rng(3)
    n = 800
    target = 40 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    peg = np.zeros(n)  # the covariate's log-return: pegged with six one-pip flickers, then floating
    peg[[50, 51, 200, 201, 400, 401]] = [1.3e-5, -1.3e-5, 1.3e-5, -1.3e-5, 1.3e-5, -1.3e-5]
    peg[600:] = rng.normal(0, 0.01, n - 600)
    floating = rng.normal(0, 0.004, n)
    ds = build_dataset(target, lookback=10, split=0.7, val_fraction=0.1, target="logret",
                       inputs=np.c_[peg, floating])
    pegged, normal = ds.input_scalers
    assert pegged.scale == pytest.approx(ds.scaler.scale)  # a 1 % move is about 0.7 sigma, not 5000
    assert normal.scale == pytest.approx(np.std(floating[:560]), rel=1e-9)  # a moving input is untouched
    assert np.abs(ds.x[:, :, 1]).max() < 10
