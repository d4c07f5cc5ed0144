"""A run's network on disk and back: weight files written at save, the network rebuilt to forecast.

The registry (seqcast.runs.registry) only reads and checks a run's files; building a network from them
and running it lives here. model.pt loads with torch.load(weights_only=True) only; recurrent
runs also carry weights.npz, evaluated in numpy (seqcast.models.numpy_forward) for a faster predict-next.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

from seqcast.errors import RunCorruptError

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from seqcast.runs.registry import Run

Predictor = Callable[["np.ndarray"], "np.ndarray"]
"""Scaled windows (batch, lookback, n_features) float32 -> the network's scaled outputs (batch,)."""


def weight_files(weights: dict[str, np.ndarray]) -> dict[str, bytes]:
    """model.pt (a torch state dict) and weights.npz (the same arrays) for a run folder."""
    import torch

    from seqcast.models.numpy_forward import save_npz

    buffer = io.BytesIO()
    torch.save({k: torch.tensor(v) for k, v in weights.items()}, buffer)  # copies (Ray: read-only)
    # The same weights as plain arrays: predict-next runs them without importing torch.
    return {"model.pt": buffer.getvalue(), "weights.npz": save_npz(weights)}


def predictor(run: Run) -> Predictor:
    """The run's network as a function of scaled windows, on the CPU.

    Recurrent runs evaluate weights.npz in numpy (no torch import, a faster
    start); transformer runs and runs saved without weights.npz use torch.
    """
    from seqcast.models.numpy_forward import KINDS, NumpyRegressor, load_npz

    recorded = run.meta.get("weights_sha256")
    # The weight files must be the ones the run saved, for every kind of network: a
    # changed model.pt (even beside an intact weights.npz) is a damaged or tampered run.
    model_pt = run.weights_bytes("model.pt") if isinstance(recorded, dict) else None
    if isinstance(recorded, dict) and run.config.model.kind in KINDS:
        return NumpyRegressor(run.config.model,
                              load_npz(run.weights_bytes("weights.npz"), str(run.path / "weights.npz")),
                              n_features=run.config.data.n_inputs)
    import torch

    from seqcast.models.training import predict_numpy

    model = load_model(run, model_pt)
    return lambda x: predict_numpy(model, x, torch.device("cpu"))


def load_model(run: Run, data: bytes | None = None) -> nn.Module:
    """Rebuild the network from config.json and load model.pt safely on the CPU.

    data: model.pt's bytes when the caller has read (and verified) them already.
    """
    import pickle

    import torch

    from seqcast.models.networks import build_model

    path = run.path / "model.pt"
    if data is None:
        if not (path.exists() or path.is_symlink()):
            raise RunCorruptError(f"run {run.run_id} has no model.pt; train again")
        data = run.weights_bytes("model.pt", verify=False)
    model = build_model(run.config.model, run.config.data.n_inputs)
    buffer = io.BytesIO(data)
    try:
        state = torch.load(buffer, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        # torch's own text for a refused pickle advises turning weights_only off: never show it.
        reason = ("it holds Python objects other than tensors, which could run code"
                  if isinstance(exc, pickle.UnpicklingError) else _first_line(exc)[:200])
        raise RunCorruptError(
            f"{path} is not a plain weights file and was not loaded (only tensors are "
            f"accepted, never code): {reason}; train again, or ask for a run saved by seqcast"
        ) from None
    if not isinstance(state, dict):
        raise RunCorruptError(f"{path} does not hold a state dict; train again")
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise RunCorruptError(
            f"{path} holds weights of another architecture than config.json describes "
            f"({_first_line(exc)[:160]}); train again"
        ) from None
    model.eval()
    return model


def _first_line(exc: BaseException) -> str:
    # str(EOFError()) is "" (an empty model.pt): fall back to the exception's name.
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
