"""Prediction intervals (GJR-GARCH scale, rolling conformal multipliers) and the statistics that judge them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from seqcast import api
from seqcast.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from seqcast.errors import RunCorruptError
from seqcast.forecast.metrics import evaluate, interval_metrics, mase_scale
from seqcast.forecast.stats import interval_scores, normal_cdf, normal_ppf, pesaran_timmermann
from seqcast.forecast.volatility import (
    GarchParams,
    conditional_variance,
    fit_garch,
    horizon_scales,
    log_likelihood,
    models_from_meta,
    moves,
)

from .conftest import write_csv


def simulate_gjr(n: int, *, omega=7.2e-7, alpha=0.06, gamma=0.04, beta=0.9, nu=math.inf, seed=0):
    """Log-returns of a GJR-GARCH(1,1) process (normal or unit-variance Student-t shocks)."""
    rng = np.random.default_rng(seed)
    shocks = rng.standard_normal(n) if math.isinf(nu) else rng.standard_t(nu, n) * math.sqrt((nu - 2) / nu)
    eps = np.empty(n)
    s2 = omega / (1 - alpha - gamma / 2 - beta)
    for t in range(n):
        eps[t] = math.sqrt(s2) * shocks[t]
        s2 = omega + (alpha + gamma * (eps[t] < 0)) * eps[t] ** 2 + beta * s2
    return eps


# --- the volatility model ---------------------------------------------------------


def test_recursion_and_likelihood_match_arch():
    arch = pytest.importorskip("arch")
    eps = simulate_gjr(1500, nu=6.0, seed=1)
    res = arch.arch_model(100 * eps, mean="Zero", o=1, dist="t").fit(disp="off")
    mine = fit_garch(eps)
    q = res.params
    theirs = GarchParams(q["omega"] / 1e4, q["alpha[1]"], q["gamma[1]"], q["beta[1]"], q["nu"], mine.backcast)
    # Same recursion and start: arch's conditional volatility to rounding.
    np.testing.assert_allclose(np.sqrt(conditional_variance(eps, theirs)[:-1]), res.conditional_volatility / 100,
                               rtol=1e-10)
    # Same likelihood (arch's is of 100 * eps), and our optimum is at least as good as arch's.
    assert log_likelihood(eps, theirs) == pytest.approx(res.loglikelihood + len(eps) * math.log(100), abs=1e-6)
    assert log_likelihood(eps, mine) >= log_likelihood(eps, theirs) - 0.5
    assert mine.beta == pytest.approx(q["beta[1]"], abs=0.02)


def test_fit_recovers_the_parameters_of_a_long_simulation():
    eps = simulate_gjr(6000, alpha=0.05, gamma=0.08, beta=0.88, nu=7.0, seed=2)
    p = fit_garch(eps)
    assert p.alpha == pytest.approx(0.05, abs=0.03)
    assert p.gamma == pytest.approx(0.08, abs=0.05)
    assert p.beta == pytest.approx(0.88, abs=0.04)
    assert 4.5 < p.nu < 12
    assert p.persistence < 1


def test_short_or_flat_training_parts_get_a_constant_variance():
    p = fit_garch(np.full(50, 0.01))
    assert (p.alpha, p.gamma, p.beta) == (0.0, 0.0, 0.0)
    assert p.omega == pytest.approx(1e-4)
    flat = fit_garch(np.zeros(500))
    assert flat.omega == 1.0 and np.all(conditional_variance(np.zeros(5), flat) == 1.0)


def test_horizon_scales_sum_the_variance_forecasts():
    p = GarchParams(omega=1e-6, alpha=0.05, gamma=0.1, beta=0.9, nu=8.0, backcast=4e-5)
    values = 100 * np.exp(np.cumsum(np.r_[0.0, simulate_gjr(300, seed=3)]))
    s2 = conditional_variance(moves(values, True), p)
    out = horizon_scales(values, np.array([len(values), 200]), p, True, horizons=3)
    v1 = s2[-1]
    v2 = p.omega + p.persistence * v1
    v3 = p.omega + p.persistence * v2
    np.testing.assert_allclose(out[0], np.sqrt([v1, v1 + v2, v1 + v2 + v3]))
    assert out[1, 0] == pytest.approx(math.sqrt(s2[199]))  # day 200's move: known up to day 199
    # Several models: their variance sums are averaged.
    q = GarchParams(omega=2e-6, alpha=0.1, gamma=0.0, beta=0.8, nu=math.inf, backcast=4e-5)
    both = horizon_scales(values, np.array([len(values)]), [p, q], True, horizons=2)[0]
    one_q = horizon_scales(values, np.array([len(values)]), q, True, horizons=2)[0]
    np.testing.assert_allclose(both**2, (out[0, :2] ** 2 + one_q**2) / 2)


@pytest.mark.parametrize("raw", [
    {"omega": 1e-6, "alpha": 0.05, "gamma": -0.1, "beta": 0.9, "nu": 8.0, "backcast": 1e-5},
    {"omega": 1e-6, "alpha": 0.05, "gamma": 0.0, "beta": 0.9, "nu": 1.5, "backcast": 1e-5},
    {"omega": "x", "alpha": 0.05, "gamma": 0.0, "beta": 0.9, "nu": 8.0, "backcast": 1e-5},
    {"omega": 1e-6},
    [1, 2],
])
def test_stored_parameters_are_checked(raw):
    with pytest.raises(RunCorruptError, match="train again"):
        GarchParams.from_dict(raw)


def test_parameters_round_trip_through_strict_json():
    import json

    p = GarchParams(1e-6, 0.05, 0.02, 0.9, math.inf, 1e-5)
    text = json.dumps(p.to_dict(), allow_nan=False)
    assert GarchParams.from_dict(json.loads(text)) == p


# --- calibration on a simulated GARCH process --------------------------------------


def test_interval_is_calibrated_in_each_volatility_third_of_a_garch_process():
    from seqcast.forecast.evaluation import fit_evaluate

    eps = simulate_gjr(3000, alpha=0.1, gamma=0.0, beta=0.88, seed=4)
    values = 50 * np.exp(np.cumsum(eps))
    cfg = RunConfig(DataConfig(lookback=20), ModelConfig(hidden=8),
                    TrainConfig(epochs=2, patience=0, device="cpu"))
    test = fit_evaluate(values, cfg).report["test"]
    assert 0.87 <= test["interval_coverage"] <= 0.93
    for third in ("calm", "mid", "wild"):
        assert 0.85 <= test[f"interval_coverage_{third}"] <= 0.95, (third, test)
    # Against the process's own model family the band is as good as GARCH(1,1)'s, within noise.
    assert test["interval_score_ratio"] < 1.02


def test_predict_next_uses_the_recorded_volatility_model(tmp_path):
    eps = simulate_gjr(1200, seed=5)
    frame = pd.DataFrame({"Close": 4 * np.exp(np.cumsum(eps))},
                         index=pd.bdate_range("2015-01-01", periods=1200, name="Date"))
    api.fetch("garch", csv=write_csv(tmp_path / "garch.csv", frame))
    run = api.train(epochs=1, hidden=8, lookback=20, patience=0).run
    meta = run.meta
    vol = models_from_meta(meta["volatility"])
    assert len(vol) == 2 and math.isinf(vol[1].nu) and vol[1].gamma == 0.0  # GJR-t and GARCH(1,1)-normal
    _, stored = api.load_series("garch")
    values = stored["Close"].to_numpy()
    forecast = api.predict_next(run.run_id, days=5)
    scales = horizon_scales(values, np.array([len(values)]), vol, True, 5)[0]
    half = np.maximum.accumulate(np.array(meta["interval_widths"][:5]) * scales)
    for row, h in zip(forecast.rows, half, strict=True):
        assert math.log(row["upper"] / row["predicted"]) == pytest.approx(h, rel=1e-9)
        assert math.log(row["predicted"] / row["lower"]) == pytest.approx(h, rel=1e-9)
    widths = [r["upper"] - r["lower"] for r in forecast.rows]
    assert widths == sorted(widths)
    test = run.metrics["test"]
    assert {"interval_score", "interval_coverage_calm", "interval_coverage_mid", "interval_coverage_wild",
            "garch_interval_score", "interval_score_dm_pvalue", "mase", "pt_pvalue",
            "majority_direction_accuracy"} <= set(test)


# --- interval score, MASE, Pesaran–Timmermann ------------------------------------


def test_interval_score_hand_computed():
    # width 2 inside; width 2 plus 20 * 0.5 below; width 1 plus 20 * 1 above (90 %: 2/a = 20).
    scores = interval_scores([1.0, -1.5, 4.0], [0.0, -1.0, 2.0], [2.0, 1.0, 3.0], 0.9)
    np.testing.assert_allclose(scores, [2.0, 12.0, 21.0])
    m = interval_metrics([1.0, -1.5, 4.0], [0.0, -1.0, 2.0], [2.0, 1.0, 3.0], 0.9, [3.0, 1.0, 2.0])
    assert m["interval_score"] == pytest.approx(35 / 3)
    assert m["interval_coverage"] == pytest.approx(1 / 3)
    # sorted by recent volatility: day 2 (calm) missed, day 3 (mid) missed, day 1 (wild) covered
    assert (m["interval_coverage_calm"], m["interval_coverage_mid"], m["interval_coverage_wild"]) == (0, 0, 1)


def test_mase_hand_computed():
    train = [10.0, 11.0, 10.0, 12.0]  # one-day changes 1, 1, 2: scale 4/3
    assert mase_scale(train) == pytest.approx(4 / 3)
    result = evaluate([12.0, 13.0], [12.5, 12.0], [12.0, 12.0], mase_denominator=mase_scale(train))
    assert result["mase"] == pytest.approx(((0.5 + 1.0) / 2) / (4 / 3))  # MAE 0.75
    assert result["naive_mase"] == pytest.approx(0.5 / (4 / 3))
    assert math.isnan(evaluate([1.0, 2.0], [1.0, 2.0], [0.0, 1.0])["mase"])


def test_normal_ppf_inverts_the_cdf():
    for p in (1e-6, 0.05, 0.5, 0.95, 0.999):
        assert normal_cdf(normal_ppf(p)) == pytest.approx(p, rel=1e-9)
    assert normal_ppf(0.95) == pytest.approx(1.6448536269514722, abs=1e-12)


def test_always_up_on_a_drifting_series_is_not_skill():
    rng = np.random.default_rng(0)
    moves_ = rng.normal(0.002, 0.01, 1000)  # about 58 % up days
    prices = 100 * np.exp(np.cumsum(np.r_[0.0, moves_]))
    previous, actual = prices[:-1], prices[1:]
    result = evaluate(actual, previous, previous, direction_from=previous * 1.001)  # always "up"
    assert result["directional_accuracy"] > 0.55
    assert result["da_pvalue"] < 0.01  # the old test against 50 % calls this "significant"
    assert result["majority_direction_accuracy"] == pytest.approx(result["directional_accuracy"])
    assert math.isnan(result["pt_pvalue"])  # no variation in the calls: nothing to test
    # Up on 95 % of days at random: as good as the drift allows, still no skill.
    calls = np.where(rng.random(1000) < 0.95, 1.001, 0.999)
    mostly_up = evaluate(actual, previous, previous, direction_from=previous * calls)
    assert mostly_up["pt_pvalue"] > 0.05


def test_pesaran_timmermann_finds_real_skill_and_matches_its_formula():
    rng = np.random.default_rng(1)
    truth = rng.random(500) < 0.5
    forecast = np.where(rng.random(500) < 0.6, truth, ~truth)  # right 60 % of the time
    stat, p = pesaran_timmermann(forecast, truth)
    assert p < 0.001
    px, py, n = forecast.mean(), truth.mean(), 500
    hit = np.mean(forecast == truth)
    ps = py * px + (1 - py) * (1 - px)
    var = ps * (1 - ps) / n - ((2 * py - 1) ** 2 * px * (1 - px) / n + (2 * px - 1) ** 2 * py * (1 - py) / n
                               + 4 * py * px * (1 - py) * (1 - px) / n**2)
    assert stat == pytest.approx((hit - ps) / math.sqrt(var), rel=1e-12)


def test_fit_survives_a_long_flat_stretch():
    # Mostly zero moves drive the t's degrees of freedom toward 2, where its density breaks down.
    rng = np.random.default_rng(0)
    values = np.r_[np.full(400, 5.0), 5 + np.cumsum(rng.normal(0, 0.01, 200))]
    p = fit_garch(moves(values[:420], True))
    assert p.nu > 2 and np.isfinite(conditional_variance(moves(values, True), p)).all()


def test_a_test_days_interval_and_forecast_use_only_the_days_before_it(tmp_path):
    """Rolling split conformal: later test days cannot reach an earlier day's forecast or band.

    Two series share everything up to day 340 of 400 (the training part ends at 280); after it one
    turns ten times noisier. Every test day before 340 must get the same forecast and interval from both.
    """
    rng = np.random.default_rng(0)
    n, change = 400, 340
    values = 10 + np.sin(2 * np.pi * np.arange(n) / 20) + 0.1 * rng.normal(size=n)
    wild = values.copy()
    wild[change:] += rng.normal(0, 1.0, n - change)
    dates = pd.bdate_range("2020-01-01", periods=n, name="Date")
    options = {"epochs": 8, "hidden": 16, "lookback": 20, "lr": 1e-2, "batch_size": 32, "patience": 0,
               "threads": 1}
    preds = []
    for name, series in (("calm", values), ("wild", wild)):
        api.fetch(name, csv=write_csv(tmp_path / f"{name}.csv", pd.DataFrame({"Close": series}, index=dates)))
        run = api.train(symbol=name, **options).run
        assert run.meta["shrinkage_weight"] > 0  # the network's own forecasts, not naive's
        preds.append(run.predictions().set_index("date"))
    calm, wild_preds = preds
    test = calm["part"] == "test"
    before = test & (calm.index < dates[change])
    after = test & (calm.index > dates[change + 5])
    assert before.sum() > 40 and after.sum() > 40
    for column in ("predicted", "lower", "upper"):
        np.testing.assert_array_equal(calm.loc[before, column], wild_preds.loc[before, column], err_msg=column)
    # The comparison can fail: once the wild days are known, the bands widen.
    width = (calm["upper"] - calm["lower"])[after].mean()
    assert (wild_preds["upper"] - wild_preds["lower"])[after].mean() > 1.5 * width
