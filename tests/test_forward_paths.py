"""One network, several forward passes: each is checked against torch.nn (or a hand-written reference).

- models.RNNRegressor in eval mode runs nn.RNN/LSTM/GRU itself: it is the reference.
- Its training-mode path on the CPU with dropout between stacked layers runs the stack one
  layer at a time with its own dropout mask: checked against single-layer nn modules fed the
  same mask, and (with a dropout too small to drop anything) against the eval-mode stack.
- npmodel.NumpyRegressor (what predict-next runs for recurrent runs, without torch): checked
  against the torch model on the same weights, for every cell, activation, depth and input width.
- models.TransformerRegressor: nn.TransformerEncoder takes a fused "fast path" in eval mode under
  no_grad and the plain one when training; both are checked against an attention written out by
  hand here, for depth 1..3.
- predict-next end to end (api.train, then api.predict_next): the forecast equals the one computed
  here from the saved weights, for the transformer (torch fallback) and every recurrent cell (numpy).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from seqcast import api
from seqcast.config import ModelConfig
from seqcast.models.networks import build_model
from seqcast.models.numpy_forward import NumpyRegressor

RECURRENT = [("rnn", "relu"), ("rnn", "tanh"), ("lstm", "relu"), ("gru", "relu")]
RECURRENT_IDS = ["rnn-relu", "rnn-tanh", "lstm", "gru"]
DEPTHS = [1, 2, 3]
CELL = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def windows(batch: int = 5, lookback: int = 9, features: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, lookback, features, generator=torch.Generator().manual_seed(seed))


def recurrent_model(kind: str, nonlinearity: str, layers: int, features: int = 1, dropout: float = 0.0,
                    hidden: int = 6, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = build_model(ModelConfig(kind=kind, hidden=hidden, layers=layers, nonlinearity=nonlinearity,
                                    dropout=dropout), features)
    with torch.no_grad():  # biases away from their small initial values: every term matters
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def nn_reference(model: nn.Module, x: torch.Tensor, kind: str, nonlinearity: str, layers: int,
                 masks: list[torch.Tensor] | None = None, head: bool = True) -> torch.Tensor:
    """The regressor's output from fresh single-layer nn modules holding its weights (time-major).

    masks[k-1] multiplies the input of layer k (k >= 1), as inverted dropout between layers does.
    head=False: the last step's hidden state, before the head.
    """
    state = model.state_dict()
    h = x.transpose(0, 1)  # (lookback, batch, features)
    for k in range(layers):
        kwargs = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
        layer = CELL[kind](h.shape[-1], model.rnn.hidden_size, 1, **kwargs)
        layer.load_state_dict({f"{name}_l0": state[f"rnn.{name}_l{k}"]
                               for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
        if k > 0 and masks is not None:
            h = h * masks[k - 1]
        h = layer(h)[0]
    if not head:
        return h[-1]
    return nn.functional.linear(h[-1], state["head.weight"], state["head.bias"]).squeeze(-1)


# --- the recurrent regressor --------------------------------------------------------------------------


@pytest.mark.parametrize("layers", DEPTHS)
@pytest.mark.parametrize(("kind", "nonlinearity"), RECURRENT, ids=RECURRENT_IDS)
def test_eval_forward_is_the_nn_stack(kind, nonlinearity, layers) -> None:
    model = recurrent_model(kind, nonlinearity, layers, features=2).eval()
    x = windows(features=2)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (5,)
        torch.testing.assert_close(out, nn_reference(model, x, kind, nonlinearity, layers), rtol=1e-5, atol=1e-6)
        # The output depends on the input (a network that ignores it would pass the line above
        # only if the reference ignored it too).
        assert not torch.allclose(out, model(windows(features=2, seed=1)))


@pytest.mark.parametrize("layers", [2, 3])
@pytest.mark.parametrize(("kind", "nonlinearity"), RECURRENT, ids=RECURRENT_IDS)
def test_training_forward_without_dropping_equals_eval(kind, nonlinearity, layers) -> None:
    """Dropout 1e-6 rounds to no dropped unit: the layer-by-layer training path equals nn's stack."""
    model = recurrent_model(kind, nonlinearity, layers, dropout=1e-6)
    x = windows()
    model.train()
    train_out = model(x)
    assert train_out.requires_grad  # a training pass, not a no_grad one
    model.eval()
    with torch.no_grad():
        eval_out = model(x)
    torch.testing.assert_close(train_out.detach(), eval_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(eval_out, nn_reference(model, x, kind, nonlinearity, layers), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layers", [2, 3])
@pytest.mark.parametrize(("kind", "nonlinearity"), RECURRENT, ids=RECURRENT_IDS)
def test_training_forward_with_dropout_equals_nn_layers_with_the_same_mask(kind, nonlinearity, layers) -> None:
    """Replays the masks from the same seed: layer k's input is masked, then the head's dropout runs."""
    from seqcast.models.networks import _keep_mask

    p = 0.4
    model = recurrent_model(kind, nonlinearity, layers, dropout=p).train()
    x = windows()
    torch.manual_seed(123)
    out = model(x)
    torch.manual_seed(123)
    shape = (x.shape[1], x.shape[0], model.rnn.hidden_size)  # time-major, as the layers run
    masks = [_keep_mask(torch.empty(shape), p) for _ in range(layers - 1)]
    generator = torch.get_rng_state()
    with torch.no_grad():  # (building the reference's layers draws initial weights from the generator)
        h = nn_reference(model, x, kind, nonlinearity, layers, masks=masks, head=False)
    torch.set_rng_state(generator)
    last = nn.functional.dropout(h, p, training=True)  # nn.Dropout's draw comes next from the generator
    expected = nn.functional.linear(last, model.head.weight.detach(), model.head.bias.detach()).squeeze(-1)
    torch.testing.assert_close(out.detach(), expected, rtol=1e-5, atol=1e-6)
    # The masks really drop units: the dropped pass differs from the eval pass.
    with torch.no_grad():
        assert not torch.allclose(out.detach(), model.eval()(x))


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5])
def test_keep_mask_drops_a_share_p_and_keeps_the_mean(p) -> None:
    from seqcast.models.networks import _keep_mask

    torch.manual_seed(0)
    mask = _keep_mask(torch.empty(200, 500), p)
    kept = mask > 0
    assert abs(1 - kept.float().mean().item() - p) < 0.01
    scale = mask[kept].unique()
    assert len(scale) == 1 and scale.item() == pytest.approx(1 / (1 - p), rel=1e-4)
    assert abs(mask.mean().item() - 1.0) < 0.02
    # Two draws differ (the generator advances), and the same seed replays the same mask.
    torch.manual_seed(0)
    assert torch.equal(_keep_mask(torch.empty(200, 500), p), mask)
    assert not torch.equal(_keep_mask(torch.empty(200, 500), p), mask)


@pytest.mark.parametrize("features", [1, 3])
@pytest.mark.parametrize("layers", DEPTHS)
@pytest.mark.parametrize(("kind", "nonlinearity"), RECURRENT, ids=RECURRENT_IDS)
def test_numpy_forward_equals_torch(kind, nonlinearity, layers, features) -> None:
    model = recurrent_model(kind, nonlinearity, layers, features=features, dropout=0.2).eval()
    weights = {k: v.numpy() for k, v in model.state_dict().items()}
    cfg = ModelConfig(kind=kind, hidden=6, layers=layers, nonlinearity=nonlinearity, dropout=0.2)
    x = windows(batch=7, lookback=12, features=features)
    with torch.no_grad():
        expected = nn_reference(model, x, kind, nonlinearity, layers).numpy()
        np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    got = NumpyRegressor(cfg, weights, n_features=features)(x.numpy())
    assert got.shape == (7,)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_numpy_forward_refuses_the_transformer() -> None:
    with pytest.raises(ValueError, match="transformer"):
        NumpyRegressor(ModelConfig(kind="transformer", hidden=8, heads=2), {})


# --- the transformer ----------------------------------------------------------------------------------


def transformer_reference(state: dict[str, torch.Tensor], x: torch.Tensor, layers: int, heads: int) -> torch.Tensor:
    """TransformerRegressor written out by hand: pre-norm layers, causal softmax attention, ReLU MLP."""
    hidden = state["embed.weight"].shape[0]
    t = x.shape[1]
    position = torch.arange(t, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, hidden, 2, dtype=torch.float32) * (-math.log(10000.0) / hidden))
    pos = torch.zeros(t, hidden)
    pos[:, 0::2] = torch.sin(position * freq)
    pos[:, 1::2] = torch.cos(position * freq[: hidden // 2])
    h = x @ state["embed.weight"].T + state["embed.bias"] + pos  # (batch, t, hidden)
    causal = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)  # True = a later token: hidden
    dh = hidden // heads

    def norm(v, name):
        return nn.functional.layer_norm(v, (hidden,), state[f"{name}.weight"], state[f"{name}.bias"], eps=1e-5)

    for k in range(layers):
        pre = f"encoder.layers.{k}."
        a = norm(h, pre + "norm1")
        qkv = a @ state[pre + "self_attn.in_proj_weight"].T + state[pre + "self_attn.in_proj_bias"]
        q, kk, v = (z.reshape(len(x), t, heads, dh).transpose(1, 2) for z in qkv.split(hidden, dim=-1))
        scores = (q @ kk.transpose(-1, -2)) / math.sqrt(dh)
        attn = torch.softmax(scores.masked_fill(causal, float("-inf")), dim=-1) @ v  # (batch, heads, t, dh)
        attn = attn.transpose(1, 2).reshape(len(x), t, hidden)
        h = h + attn @ state[pre + "self_attn.out_proj.weight"].T + state[pre + "self_attn.out_proj.bias"]
        m = norm(h, pre + "norm2")
        m = torch.relu(m @ state[pre + "linear1.weight"].T + state[pre + "linear1.bias"])
        h = h + m @ state[pre + "linear2.weight"].T + state[pre + "linear2.bias"]
    last = norm(h[:, -1], "norm")
    return (last @ state["head.weight"].T + state["head.bias"]).squeeze(-1)


def transformer_model(layers: int, features: int = 1, hidden: int = 8, heads: int = 2) -> nn.Module:
    torch.manual_seed(layers)
    model = build_model(ModelConfig(kind="transformer", hidden=hidden, layers=layers, heads=heads), features)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("layers", DEPTHS)
@pytest.mark.parametrize("features", [1, 3])
def test_transformer_eval_and_training_paths_equal_the_hand_written_one(layers, features) -> None:
    model = transformer_model(layers, features)
    x = windows(batch=4, lookback=11, features=features)
    with torch.no_grad():
        expected = transformer_reference(model.state_dict(), x, layers, heads=2)
        model.eval()
        fast = model(x)  # eval + no_grad: nn's fused fast path where it applies
    model.train()  # dropout is 0: the plain path, same numbers
    slow = model(x)
    assert slow.requires_grad
    torch.testing.assert_close(fast, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(slow.detach(), expected, rtol=1e-4, atol=1e-5)


def test_transformer_is_causal_and_reads_its_input() -> None:
    """Changing the window changes the forecast; a token's output ignores the tokens after it."""
    model = transformer_model(2).eval()
    x = windows(batch=3, lookback=10)
    with torch.no_grad():
        out = model(x)
        changed = x.clone()
        changed[:, -1] += 1.0
        assert (model(changed) - out).abs().min() > 1e-4
        # The output at token 6 of the full window is the last-token output of the first 7 tokens:
        # with a causal mask the later tokens cannot reach it.
        prefix = model(x[:, :7])
        hidden = model.embed(x) + model.pos[:10]
        mask = nn.Transformer.generate_square_subsequent_mask(10)
        full = model.head(model.norm(model.encoder(hidden, mask=mask, is_causal=True)[:, 6])).squeeze(-1)
    torch.testing.assert_close(prefix, full, rtol=1e-4, atol=1e-5)


# --- predict-next end to end --------------------------------------------------------------------------


@pytest.fixture
def sine_series(workspace):
    api.fetch("sine", source="synthetic", options={"length": 160, "noise": 0.05, "seed": 1})


def expected_forecast(run, reference) -> float:
    """The next-day forecast from the saved files: last window, scaling, network, price, shrinkage."""
    values = api.load_series("sine", "synthetic")[1]["Close"].to_numpy()
    scaler = json.loads((run.path / "scaler.json").read_text())
    lookback = run.config.data.lookback
    moves = np.diff(np.log(values[-(lookback + 1):]))
    x = torch.tensor((moves - scaler["center"]) / scaler["scale"], dtype=torch.float32)[None, :, None]
    state = torch.load(run.path / "model.pt", weights_only=True)
    with torch.no_grad():
        raw = float(reference(state, x)) * scaler["scale"] + scaler["center"]
    last = values[-1]
    return last + run.meta["shrinkage_weight"] * (last * math.exp(raw) - last)


@pytest.mark.parametrize("layers", [1, 2])
def test_predict_next_of_a_transformer_run(sine_series, layers) -> None:
    run = api.train(model="transformer", hidden=8, heads=2, layers=layers, lookback=12, epochs=1, patience=0,
                    shrink=False, threads=1).run
    assert run.meta["shrinkage_weight"] == 1.0
    forecast = api.predict_next(run.run_id)
    got = forecast.rows[0]["predicted"]
    expected = expected_forecast(run, lambda s, x: transformer_reference(s, x, layers, heads=2))
    assert got == pytest.approx(expected, rel=1e-6)
    assert got != pytest.approx(forecast.last_close, abs=1e-6)  # the network moved the forecast
    # Two days ahead feed the first forecast back: a different number again.
    two = api.predict_next(run.run_id, days=2).rows
    assert two[0]["predicted"] == pytest.approx(got, rel=1e-9) and two[1]["predicted"] != pytest.approx(got)


@pytest.mark.parametrize(("kind", "nonlinearity"), RECURRENT, ids=RECURRENT_IDS)
def test_predict_next_of_a_recurrent_run_runs_the_saved_network(sine_series, kind, nonlinearity) -> None:
    run = api.train(model=kind, nonlinearity=nonlinearity, hidden=6, layers=2, lookback=12, epochs=1, patience=0,
                    shrink=False, threads=1).run
    got = api.predict_next(run.run_id).rows[0]["predicted"]

    def reference(state, x):
        model = build_model(run.config.model)
        model.load_state_dict(state)
        return nn_reference(model.eval(), x, kind, run.config.model.nonlinearity, 2)

    assert got == pytest.approx(expected_forecast(run, reference), rel=1e-6)
    assert got != pytest.approx(api.predict_next(run.run_id).last_close, abs=1e-6)
