"""The one training loop (every model kind) and batched prediction."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from seqcast.config import TrainConfig

EpochCallback = Callable[[int, float, float], None]
"""on_epoch_end(epoch, train_loss, val_loss); val_loss is nan without a validation tail."""


@dataclass
class FitResult:
    """What the loop learned besides the weights it leaves in the model."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    interrupted: bool = False
    seconds: float = 0.0


def pick_device(name: str) -> torch.device:
    """Resolve auto|cpu|cuda|mps to a device that exists here."""
    from seqcast.errors import ConfigError

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available here; use --device cpu or auto")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("--device mps: Apple's MPS is not available here; use --device cpu or auto")
    return torch.device(name)


def fit(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor | None,
    y_val: torch.Tensor | None,
    cfg: TrainConfig,
    on_epoch_end: EpochCallback | None = None,
) -> FitResult:
    """Adam + MSE with gradient clipping and early stopping; restores the best weights.

    Ctrl-C ends training after the current batch and keeps the best weights so far.
    """
    import time

    started = time.perf_counter()
    generator = torch.Generator().manual_seed(cfg.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loss_fn = nn.MSELoss()
    has_val = x_val is not None and len(x_val) > 0
    early_stopping = cfg.patience > 0 and has_val
    result = FitResult()
    best_loss, best_state, bad_epochs = math.inf, None, 0
    n = len(x_train)

    try:
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            order = torch.randperm(n, generator=generator).to(x_train.device)
            total = 0.0
            for i in range(0, n, cfg.batch_size):
                idx = order[i : i + cfg.batch_size]
                x, y = x_train[idx], y_train[idx]  # (batch, lookback, 1), (batch,)
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), y)
                loss.backward()
                if cfg.clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                optimizer.step()
                total += loss.detach() * len(idx)
            train_loss = float(total) / n
            val_loss = evaluate_loss(model, x_val, y_val) if has_val else math.nan
            result.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
            if on_epoch_end is not None:
                on_epoch_end(epoch, train_loss, val_loss)
            score = val_loss if has_val else train_loss
            if score < best_loss:
                best_loss, bad_epochs, result.best_epoch = score, 0, epoch
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad_epochs += 1
                if early_stopping and bad_epochs >= cfg.patience:
                    result.stopped_early = True
                    break
    except KeyboardInterrupt:
        result.interrupted = True

    if best_state is not None and (early_stopping or result.interrupted):
        model.load_state_dict(best_state)
    if not early_stopping and not result.interrupted:
        result.best_epoch = len(result.history)
    model.eval()
    result.seconds = time.perf_counter() - started
    return result


@torch.no_grad()
def evaluate_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean squared error on a whole part, in eval mode."""
    model.eval()
    loss = float(nn.functional.mse_loss(predict(model, x), y))
    return loss


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
    """Model outputs for every window, in large batches, eval mode."""
    model.eval()
    if len(x) <= batch_size:
        return model(x)
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def predict_numpy(model: nn.Module, x: np.ndarray, device: torch.device) -> np.ndarray:
    """predict() for a numpy array of windows; returns float64 numpy."""
    out = predict(model, torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device))
    return out.cpu().numpy().astype(np.float64)
