"""Forecasting networks: one module per family, chosen by ModelConfig.kind."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from seqcast.config import ModelConfig


class RNNRegressor(nn.Module):
    """Recurrent encoder (RNN, LSTM or GRU) -> dropout -> linear head on the last step.

    With layers=2 and dropout=0.2 this is the classic LSTM -> Dropout -> LSTM ->
    Dropout -> Dense(1) stack.
    """

    def __init__(self, cfg: ModelConfig, n_features: int = 1) -> None:
        super().__init__()
        kwargs = {"nonlinearity": cfg.nonlinearity} if cfg.kind == "rnn" else {}
        cell = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cfg.kind]
        self.rnn = cell(
            n_features, cfg.hidden, cfg.layers, batch_first=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0, **kwargs,
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rnn = self.rnn
        if self.training and rnn.num_layers > 1 and rnn.dropout > 0 and x.device.type == "cpu":
            last = self._layer_by_layer(x)
        else:
            out, _ = rnn(x)  # (batch, lookback, hidden)
            last = out[:, -1]
        y: torch.Tensor = self.head(self.dropout(last)).squeeze(-1)  # (batch,)
        return y

    def _layer_by_layer(self, x: torch.Tensor) -> torch.Tensor:
        """The stack one layer at a time with our own dropout between layers (CPU training).

        Same weights and the same computation as self.rnn(x), except the dropout mask
        between layers (_keep_mask): nn.LSTM draws it with bernoulli_, which on
        non-Intel x86 CPUs is a serial kernel taking ~10 % of a training step of the
        classic LSTM(50) x2 (~0.7 ms of ~6.5 ms); _keep_mask takes ~0.1 ms.
        """
        rnn, p = self.rnn, self.rnn.dropout
        layer_fn = _LAYER_FNS[rnn.mode]
        h = x.transpose(0, 1).contiguous()  # (lookback, batch, features): no transposes between layers
        zeros = h.new_zeros(1, h.shape[1], rnn.hidden_size)
        state = (zeros, zeros) if rnn.mode == "LSTM" else zeros
        for k, weights in enumerate(rnn.all_weights):
            if k > 0:
                h = h * _keep_mask(h, p)
            h = layer_fn(h, state, weights, rnn.bias, 1, 0.0, True, False, False)[0]  # (lookback, batch, hidden)
        return h[-1]


# The functions nn.LSTM/GRU/RNN call for their forward pass, by nn.RNNBase.mode.
_LAYER_FNS: dict[str, Callable[..., tuple[torch.Tensor, ...]]] = {
    "LSTM": torch.lstm, "GRU": torch.gru, "RNN_TANH": torch.rnn_tanh, "RNN_RELU": torch.rnn_relu,
}


def _keep_mask(h: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted-dropout multiplier: 0 with probability p, else 1/(1-p).

    Each decision compares 16 random bits with p * 2**16: four decisions per 64-bit
    draw of the seeded generator, where rand() and bernoulli_() make one serial draw
    per element (~3 and ~7 ns each on CPU). p is thereby rounded to a multiple of
    1/65536 (0.2 -> 0.19999695); the scale uses the rounded p, so the expected
    multiplier stays exactly 1.
    """
    n = h.numel()
    bits = torch.randint(-(2**63), 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64, device=h.device)
    bits = bits.view(torch.int16)[:n].view(h.shape)  # uniform on [-32768, 32767]
    drop = round(p * 65536)
    return bits.ge(drop - 32768).to(h.dtype).mul_(65536 / (65536 - drop))


class TransformerRegressor(nn.Module):
    """A small causal transformer encoder over the window, read out at the last token."""

    pos: torch.Tensor  # a buffer: (max_len, hidden) sinusoidal positions

    def __init__(self, cfg: ModelConfig, n_features: int = 1, max_len: int = 4096) -> None:
        super().__init__()
        self.embed = nn.Linear(n_features, cfg.hidden)
        self.register_buffer("pos", _sinusoidal(max_len, cfg.hidden), persistent=False)
        layer = nn.TransformerEncoderLayer(
            cfg.hidden, cfg.heads, dim_feedforward=2 * cfg.hidden, dropout=cfg.dropout,
            batch_first=True, norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.hidden)
        self.head = nn.Linear(cfg.hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        h = self.embed(x) + self.pos[:t]  # (batch, lookback, hidden)
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=x.device, dtype=h.dtype)
        h = self.encoder(h, mask=mask, is_causal=True)
        y: torch.Tensor = self.head(self.norm(h[:, -1])).squeeze(-1)  # (batch,)
        return y


def _sinusoidal(length: int, dim: int) -> torch.Tensor:
    position = torch.arange(length).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(position * freq)
    pe[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return pe


def build_model(cfg: ModelConfig, n_features: int = 1) -> nn.Module:
    """The network for cfg.kind."""
    if cfg.kind == "transformer":
        return TransformerRegressor(cfg, n_features)
    return RNNRegressor(cfg, n_features)
