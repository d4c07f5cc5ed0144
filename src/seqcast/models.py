"""Forecasting networks: one module per family, chosen by ModelConfig.kind."""

from __future__ import annotations

import math

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
        out, _ = self.rnn(x)  # (batch, lookback, hidden)
        return self.head(self.dropout(out[:, -1])).squeeze(-1)  # (batch,)


class TransformerRegressor(nn.Module):
    """A small causal transformer encoder over the window, read out at the last token."""

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
        return self.head(self.norm(h[:, -1])).squeeze(-1)  # (batch,)


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
