"""Models and the training loop: every cell learns a predictable signal, runs are reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqcast import api
from seqcast.config import ModelConfig, TrainConfig
from seqcast.forecast.metrics import rmse
from seqcast.inputs.windows import build_dataset, to_price
from seqcast.models.networks import build_model
from seqcast.models.training import fit, predict_numpy

from .conftest import write_csv


def _train_on(values, kind: str, *, epochs: int = 30, target: str = "change", seed: int = 0, **model_kw):
    ds = build_dataset(values, lookback=20, split=0.7, val_fraction=0.1, target=target)
    torch.manual_seed(seed)
    model = build_model(ModelConfig(kind=kind, hidden=16, **model_kw))
    x, y = torch.from_numpy(ds.x), torch.from_numpy(ds.y)
    cfg = TrainConfig(epochs=epochs, batch_size=32, lr=1e-2, patience=0, seed=seed)
    result = fit(model, x[ds.train], y[ds.train], x[ds.val], y[ds.val], cfg)
    raw = ds.scaler.inverse(predict_numpy(model, ds.x, torch.device("cpu")))
    return ds, to_price(raw, ds.previous, ds.target), result


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "transformer"])
def test_each_model_beats_naive_on_a_sine(kind, sine_frame):
    values = sine_frame["Close"].to_numpy()
    ds, predicted, result = _train_on(values, kind, epochs=40 if kind == "transformer" else 30)
    test = ds.test
    model_rmse = rmse(ds.actual[test], predicted[test])
    naive_rmse = rmse(ds.actual[test], ds.previous[test])
    assert model_rmse < 0.5 * naive_rmse, (kind, model_rmse, naive_rmse)
    assert len(result.history) == (40 if kind == "transformer" else 30)


def test_rnn_uses_relu_by_default_and_tanh_on_request():
    assert build_model(ModelConfig(kind="rnn")).rnn.nonlinearity == "relu"
    assert build_model(ModelConfig(kind="rnn", nonlinearity="tanh")).rnn.nonlinearity == "tanh"


def test_classic_stack_shape():
    model = build_model(ModelConfig(kind="lstm", hidden=50, layers=2, dropout=0.2))
    assert model.rnn.num_layers == 2 and model.rnn.dropout == 0.2 and model.dropout.p == 0.2
    out = model(torch.zeros(7, 60, 1))  # (batch, lookback, features)
    assert out.shape == (7,)


def test_same_seed_same_model(sine_frame):
    values = sine_frame["Close"].to_numpy()
    _, a, _ = _train_on(values, "lstm", epochs=3, seed=5)
    _, b, _ = _train_on(values, "lstm", epochs=3, seed=5)
    _, c, _ = _train_on(values, "lstm", epochs=3, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_clipping_is_applied_each_step(monkeypatch, sine_frame):
    calls = []
    original = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        calls.append(max_norm)
        return original(params, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    ds = build_dataset(sine_frame["Close"].to_numpy(), lookback=20, split=0.7, val_fraction=0.1, target="change")
    x, y = torch.from_numpy(ds.x), torch.from_numpy(ds.y)
    n_batches = -(-len(x[ds.train]) // 32)
    for clip, expected in ((0.5, n_batches), (0.0, 0)):
        calls.clear()
        model = build_model(ModelConfig(kind="rnn", hidden=4))
        fit(model, x[ds.train], y[ds.train], None, None, TrainConfig(epochs=1, batch_size=32, clip=clip))
        assert len(calls) == expected
        assert all(c == clip for c in calls)


def test_early_stopping_restores_best_weights(walk_frame):
    values = walk_frame["Close"].to_numpy()
    ds = build_dataset(values, lookback=10, split=0.7, val_fraction=0.2, target="logret")
    x, y = torch.from_numpy(ds.x), torch.from_numpy(ds.y)
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="lstm", hidden=32))
    cfg = TrainConfig(epochs=60, batch_size=16, lr=3e-2, patience=3)
    result = fit(model, x[ds.train], y[ds.train], x[ds.val], y[ds.val], cfg)
    assert result.stopped_early
    best = min(h["val_loss"] for h in result.history)
    assert result.history[result.best_epoch - 1]["val_loss"] == best
    from seqcast.models.training import evaluate_loss

    assert evaluate_loss(model, x[ds.val], y[ds.val]) == pytest.approx(best, rel=1e-5)


def test_ctrl_c_keeps_best_model_and_saves_run(tmp_path, sine_frame):
    api.fetch("sine", csv=write_csv(tmp_path / "sine.csv", sine_frame))

    def interrupt(epoch, train_loss, val_loss):
        if epoch == 3:
            raise KeyboardInterrupt

    result = api.train(epochs=50, hidden=8, lookback=10, on_epoch_end=interrupt)
    assert result.fit.interrupted
    assert len(result.fit.history) == 3
    assert result.run.meta["training"]["interrupted"] is True
    assert (result.run.path / "model.pt").exists()
    assert api.load_run().run_id == result.run.run_id


# A series with signal and a small network that learns it in well under a second: the forecasts
# are the network's (shrunk part of the way), not the naive ones, so comparing them means something.
SIGNAL_KW = {"epochs": 8, "hidden": 16, "lookback": 20, "lr": 1e-2, "batch_size": 32, "patience": 0, "threads": 1}


def test_seeded_api_runs_are_reproducible_and_the_seed_matters():
    api.fetch("sine", source="synthetic", options={"length": 400})
    a = api.train(seed=3, **SIGNAL_KW).run
    b = api.train(seed=3, **SIGNAL_KW).run
    c = api.train(seed=4, **SIGNAL_KW).run
    assert a.run_id != b.run_id
    pa, pb, pc = a.predictions(), b.predictions(), c.predictions()
    test = (pa["part"] == "test").to_numpy()
    # The network moved the forecasts: they are not the naive ones.
    assert a.meta["shrinkage_weight"] > 0.2
    assert np.abs(pa["predicted"] - pa["naive"]).to_numpy()[test].mean() > 0.05
    # The same seed: the same network, forecasts and metrics, bit for bit.
    np.testing.assert_array_equal(pa["predicted"].to_numpy(), pb["predicted"].to_numpy())
    assert a.metrics == b.metrics
    assert (a.path / "weights.npz").read_bytes() == (b.path / "weights.npz").read_bytes()
    # Another seed: another network, other forecasts.
    assert np.abs(pa["predicted"] - pc["predicted"]).to_numpy()[test].max() > 1e-3
    assert a.metrics["test"]["rmse"] != c.metrics["test"]["rmse"]


def test_shrinkage_falls_back_to_naive_on_a_random_walk():
    """No pattern: the validation tail does not support the network's moves, so the forecasts are naive."""
    api.fetch("randomwalk", source="synthetic", options={"length": 400})
    run = api.train(**SIGNAL_KW).run
    preds = run.predictions()
    assert run.meta["shrinkage_weight"] == 0.0
    np.testing.assert_array_equal(preds["predicted"].to_numpy(), preds["naive"].to_numpy())
    assert run.metrics["test"]["rmse_ratio"] == 1.0 and run.metrics["verdict"] == "same as naive"
    # ...although the network itself did forecast moves: its own direction is scored.
    assert 0.0 < run.metrics["test"]["directional_accuracy"] < 1.0


def test_a_trained_run_beats_naive_on_the_synthetic_sine():
    """The report's numbers on a series with a pattern: far below naive, significantly, and consistent."""
    api.fetch("sine", source="synthetic", options={"length": 400})
    run = api.train(**SIGNAL_KW).run
    # Trusted, but not blindly: the shrinkage weight is fitted (slope less two standard errors).
    assert 0.2 < run.meta["shrinkage_weight"] < 0.95
    test = run.metrics["test"]
    preds = run.predictions()
    part = preds[preds["part"] == "test"]
    # The metrics are those of the saved forecasts, against yesterday's close as naive.
    assert test["rmse"] == pytest.approx(rmse(part["actual"], part["predicted"]))
    assert test["naive_rmse"] == pytest.approx(rmse(part["actual"], part["naive"]))
    np.testing.assert_allclose(part["naive"].to_numpy()[1:], part["actual"].to_numpy()[:-1])
    assert test["rmse_ratio"] < 0.85 and test["dm_pvalue"] < 0.01
    assert run.metrics["verdict"].startswith("beats naive")
    assert test["directional_accuracy"] > 0.7  # the sine's turns are called
    # The interval: around each forecast, covering about the nominal share of test days.
    assert (part["lower"] < part["predicted"]).all() and (part["predicted"] < part["upper"]).all()
    assert 0.75 <= test["interval_coverage"] <= 1.0


def test_shrink_trusts_only_moves_the_validation_tail_supports():
    from seqcast.forecast.intervals import apply_shrink, fit_shrink

    rng = np.random.default_rng(1)
    previous = 100 + np.cumsum(rng.normal(size=500))
    moves = rng.normal(size=500)
    actual = previous + moves
    # Noise forecasts: no evidence they point the right way -> (about) the naive forecast.
    noise = [fit_shrink(previous, actual, previous + rng.normal(size=500)) for _ in range(20)]
    assert max(noise) < 0.1
    assert sum(a == 0.0 for a in noise) >= 18
    # Forecasts that carry the real move plus noise: kept almost whole.
    alpha = fit_shrink(previous, actual, previous + moves + 0.1 * rng.normal(size=500))
    assert 0.9 < alpha <= 1.0
    # Over-confident forecasts (moves 4x too large): scaled down toward the LS slope 0.25.
    alpha = fit_shrink(previous, actual, previous + 4 * moves)
    assert alpha == pytest.approx(0.25, abs=0.02)
    np.testing.assert_allclose(apply_shrink(previous, previous + 2.0, 0.5), previous + 1.0)


def test_defaults_do_no_harm_on_the_bundled_sample():
    # The promise: default training on a real daily series ends at most 0.5 %
    # above the naive forecast's test RMSE.
    api.fetch("eurpln", source="sample", start="2015-01-01")
    run = api.train().run
    test = run.metrics["test"]
    assert test["rmse_ratio"] <= 1.005
    assert 0.0 <= run.meta["shrinkage_weight"] <= 1.0
    assert run.config.data.target == "logret"
    assert 0.75 <= test["interval_coverage"] <= 1.0


def test_our_adam_matches_torch_adam_bit_for_bit():
    from seqcast.models.training import Adam

    def train(make_optimizer):
        torch.manual_seed(0)
        model = build_model(ModelConfig(kind="lstm", hidden=8, layers=2))
        x, y = torch.randn(16, 12, 1), torch.randn(16)
        optimizer = make_optimizer(list(model.parameters()))
        for _ in range(30):
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
        return [p.detach().clone() for p in model.parameters()]

    ours = train(lambda params: Adam(params, lr=3e-3))
    reference = train(lambda params: torch.optim.Adam(params, lr=3e-3))
    for a, b in zip(ours, reference, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(ours[0], train(lambda params: Adam(params, lr=1e-2))[0])


def test_fused_adam_over_one_flat_buffer_matches_torch_fused_adam_bit_for_bit():
    # What fit() runs: every weight a view of one buffer, clipped and stepped as one tensor.
    from seqcast.models.training import Adam, FlatParams

    def train(flat_buffer: bool):
        torch.manual_seed(0)
        model = build_model(ModelConfig(kind="lstm", hidden=8, layers=2))
        x, y = torch.randn(16, 12, 1), torch.randn(16)
        if flat_buffer:
            flat = FlatParams(list(model.parameters()))
            optimizer, zero = Adam([flat.param], lr=3e-3, fused=True), flat.zero_grad
        else:
            torch_adam = torch.optim.Adam(list(model.parameters()), lr=3e-3, fused=True)
            optimizer, zero = torch_adam, torch_adam.zero_grad
        for _ in range(30):
            zero()
            torch.nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
        if flat_buffer:
            flat.release()
        return [p.detach().clone() for p in model.parameters()]

    ours, reference = train(True), train(False)
    for a, b in zip(ours, reference, strict=True):
        assert torch.equal(a, b)


def test_fit_gives_each_parameter_its_own_storage_back():
    model = build_model(ModelConfig(kind="lstm", hidden=4, layers=2, dropout=0.2))
    before = [p.detach().clone() for p in model.parameters()]
    x, y = torch.randn(40, 6, 1), torch.randn(40)
    fit(model, x, y, None, None, TrainConfig(epochs=1, patience=0, threads=1))
    params = list(model.parameters())
    assert all(p.grad is None for p in params)
    assert len({p.untyped_storage().data_ptr() for p in params}) == len(params)  # no shared buffer left
    assert any(not torch.equal(a, b) for a, b in zip(before, params, strict=True))  # it did train


@pytest.mark.parametrize(
    "cfg",
    [ModelConfig(kind="lstm", hidden=6, layers=2), ModelConfig(kind="gru", hidden=5),
     ModelConfig(kind="rnn", hidden=4, layers=2), ModelConfig(kind="rnn", hidden=4, nonlinearity="tanh")],
    ids=["lstm", "gru", "rnn-relu", "rnn-tanh"],
)
def test_numpy_forward_matches_torch(cfg):
    from seqcast.models.numpy_forward import NumpyRegressor

    torch.manual_seed(0)
    model = build_model(cfg).eval()
    x = torch.randn(9, 15, 1)
    ours = NumpyRegressor(cfg, {k: v.numpy() for k, v in model.state_dict().items()})(x.numpy())
    np.testing.assert_allclose(ours, model(x).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_predict_next_needs_neither_torch_nor_pandas(tmp_path, sine_frame):
    import json
    import subprocess
    import sys

    from seqcast.models.training import predict_numpy

    api.fetch("sine", csv=write_csv(tmp_path / "sine.csv", sine_frame))
    run = api.train(epochs=2, hidden=8, lookback=10, model="gru").run
    probe = (
        "import sys, json; from seqcast import api; "
        f"rows = api.predict_next({run.run_id!r}, horizon=3).rows; "
        "print(json.dumps([rows, sorted(m for m in ('torch', 'pandas') if m in sys.modules)]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    rows, heavy = json.loads(out.stdout)
    assert heavy == []
    assert [r["date"] for r in rows] == ["2016-07-14", "2016-07-15", "2016-07-18"]  # last day: Wed 13th
    # The numpy path gives what the torch model gives on the same windows.
    x = np.random.default_rng(0).normal(size=(4, 10, 1)).astype(np.float32)
    torch_out = predict_numpy(run.load_model(), x, torch.device("cpu"))
    np.testing.assert_allclose(run.predictor()(x), torch_out, rtol=1e-4, atol=1e-6)


def test_local_scale_uses_only_past_moves():
    from seqcast.forecast.intervals import local_scale

    values = np.array([10.0, 11.0, 9.0, 9.0, 12.0, 100.0])  # changes: +1, -2, 0, +3, +88
    scale = local_scale(values, np.array([3, 5]), relative=False, window=2)
    # before position 3: the last two changes are +1, -2; before 5: 0, +3. Day 5's jump is unseen.
    np.testing.assert_allclose(scale, [np.sqrt((1 + 4) / 2), np.sqrt((0 + 9) / 2)])
    log_scale = local_scale(values, np.array([2]), relative=True, window=5)
    np.testing.assert_allclose(log_scale, [np.log(11 / 10)])  # only one move known, none invented


def test_intervals_follow_a_volatility_regime(tmp_path):
    # Calm training part, wild test part: scaled intervals widen and keep their coverage.
    rng = np.random.default_rng(7)
    vol = np.r_[np.full(700, 0.003), np.full(300, 0.012)]
    values = 4.0 * np.exp(np.cumsum(rng.normal(0, vol)))
    import pandas as pd

    frame = pd.DataFrame({"Close": values}, index=pd.bdate_range("2015-01-01", periods=1000, name="Date"))
    api.fetch("regime", csv=write_csv(tmp_path / "regime.csv", frame))
    run = api.train(epochs=2, hidden=8, lookback=20, patience=0).run
    test = run.metrics["test"]
    assert 0.8 <= test["interval_coverage"] <= 0.97
    preds = run.predictions()
    width = (preds["upper"] - preds["lower"]) / preds["predicted"]
    assert width[preds["part"] == "test"].median() > 2.5 * width[preds["part"] == "train"].median()
