"""The recurrent regressor's forward pass in numpy, for forecasting without importing torch.

Importing torch takes about a second; predict-next needs one forward pass over a
single window. Runs therefore also save their weights as weights.npz (plain
arrays, loaded with allow_pickle=False), and this module evaluates
models.RNNRegressor from them with the same equations as nn.RNN/LSTM/GRU in
eval mode. Transformer runs, and runs without weights.npz, use torch.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from seqcast.config import ModelConfig
from seqcast.errors import RunCorruptError

KINDS = ("rnn", "lstm", "gru")
_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # stable for large |x|


class NumpyRegressor:
    """RNNRegressor.forward in eval mode: (batch, lookback, features) -> (batch,)."""

    def __init__(self, cfg: ModelConfig, weights: Mapping[str, np.ndarray], n_features: int = 1) -> None:
        if cfg.kind not in KINDS:
            raise ValueError(f"no numpy forward for {cfg.kind!r}")
        self.cfg = cfg
        gates, hidden = _GATES[cfg.kind], cfg.hidden
        self.layers = []
        for k in range(cfg.layers):
            fan_in = n_features if k == 0 else hidden
            names = (f"rnn.weight_ih_l{k}", f"rnn.weight_hh_l{k}", f"rnn.bias_ih_l{k}", f"rnn.bias_hh_l{k}")
            shapes = ((gates * hidden, fan_in), (gates * hidden, hidden), (gates * hidden,), (gates * hidden,))
            self.layers.append(tuple(_take(weights, n, s) for n, s in zip(names, shapes, strict=True)))
        self.head_w = _take(weights, "head.weight", (1, hidden))
        self.head_b = _take(weights, "head.bias", (1,))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h_seq = np.asarray(x, dtype=np.float32)  # (batch, lookback, features)
        for w_ih, w_hh, b_ih, b_hh in self.layers:
            h_seq = self._layer(h_seq, w_ih, w_hh, b_ih, b_hh)  # (batch, lookback, hidden)
        out: np.ndarray = (h_seq[:, -1] @ self.head_w.T + self.head_b)[:, 0]  # (batch,)
        return out

    def _layer(self, xs: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray,
               b_hh: np.ndarray) -> np.ndarray:
        batch, steps, _ = xs.shape
        hidden = self.cfg.hidden
        pre = xs @ w_ih.T + b_ih  # input contributions of every step at once: (batch, steps, gates*hidden)
        h = np.zeros((batch, hidden), dtype=np.float32)
        c = np.zeros_like(h)
        out = np.empty((batch, steps, hidden), dtype=np.float32)
        kind = self.cfg.kind
        for t in range(steps):  # the recurrence itself is sequential
            rec = h @ w_hh.T + b_hh
            if kind == "lstm":
                i, f, g, o = np.split(pre[:, t] + rec, 4, axis=1)
                c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
                h = _sigmoid(o) * np.tanh(c)
            elif kind == "gru":
                x_r, x_z, x_n = np.split(pre[:, t], 3, axis=1)
                h_r, h_z, h_n = np.split(rec, 3, axis=1)
                r, z = _sigmoid(x_r + h_r), _sigmoid(x_z + h_z)
                n = np.tanh(x_n + r * h_n)
                h = (1.0 - z) * n + z * h
            else:
                s = pre[:, t] + rec
                h = np.maximum(s, 0.0) if self.cfg.nonlinearity == "relu" else np.tanh(s)
            out[:, t] = h
        return out


def _take(weights: Mapping[str, np.ndarray], name: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.asarray(weights[name], dtype=np.float32)
    except KeyError:
        raise RunCorruptError(f"weights.npz lacks {name}; train again") from None
    if array.shape != shape:
        raise RunCorruptError(
            f"weights.npz holds weights of another architecture than config.json describes ({name}: "
            f"{array.shape}, expected {shape}); train again"
        )
    return array


def save_npz(state: Mapping[str, np.ndarray]) -> bytes:
    """A state dict (as numpy arrays) serialised as an .npz file."""
    buffer = io.BytesIO()
    # numpy's stub lets mypy match **kwds against allow_pickle: bool
    np.savez(buffer, **{k: np.asarray(v) for k, v in state.items()})  # type: ignore[arg-type]
    return buffer.getvalue()


def load_npz(path: Path | bytes, name: str = "weights.npz") -> dict[str, np.ndarray]:
    """Finite float arrays from weights.npz (a path, or its bytes); never unpickles anything."""
    where = name if isinstance(path, bytes) else str(path)
    source = io.BytesIO(path) if isinstance(path, bytes) else path
    try:
        loaded = np.load(source, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a plain .npy array
            raise RunCorruptError(f"{where} is a single array, not an archive of weights; train again")
        with loaded as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise RunCorruptError(f"{where} is not a readable weights archive ({exc}); train again") from None
    for key, array in arrays.items():
        if array.dtype.kind != "f":
            raise RunCorruptError(f"{where} holds {key} as {array.dtype} values, not floating-point "
                                  "weights; train again")
        if not np.isfinite(array).all():
            raise RunCorruptError(f"{where} holds {key} with NaN or infinite weights; train again")
    return arrays
