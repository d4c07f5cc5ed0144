"""The one training loop (every model kind) and batched prediction."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from seqcast.config import TrainConfig

EpochCallback = Callable[[int, float, float], None]
"""on_epoch_end(epoch, train_loss, val_loss); val_loss is nan without a validation tail."""

DIVERGED_LOSS = 10.0
"""Targets are scaled to about unit size, so a constant forecast of 0 has an MSE of about 1.
An epoch whose mean loss is over ten times that (an order of magnitude worse than knowing
nothing) has diverged: no setting that trains sensibly gets there, even for one epoch."""

PREDICT_BATCH = 512
"""Windows per forward pass in predict(): fastest on CPU here, and keeps peak memory low
(one pass over 3,000 windows of 60 days needs ~100 MB more than passes of 512)."""


@dataclass
class FitResult:
    """What the loop learned besides the weights it leaves in the model."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    interrupted: bool = False
    seconds: float = 0.0
    threads: int = 1
    """CPU threads the loop ran with (--threads, or the default of seqcast.models.threads)."""


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
    Runs with cfg.threads CPU threads (default: seqcast.models.threads.choose_threads for this
    network) and restores the process's thread setting afterwards.
    """
    from seqcast.models.threads import choose_threads, torch_threads

    threads = cfg.threads
    if threads is None:
        threads = choose_threads(_model_step_flop(model, x_train, cfg.batch_size))
    with torch_threads(threads):
        result = _fit(model, x_train, y_train, x_val, y_val, cfg, on_epoch_end)
    result.threads = threads
    return result


def _model_step_flop(model: nn.Module, x: torch.Tensor, batch_size: int) -> float:
    """The FLOP of one training step, from the network's own shape (for the thread policy)."""
    from seqcast.models.threads import step_flop

    rnn = getattr(model, "rnn", None)
    n, lookback, n_features = x.shape if x.dim() == 3 else (len(x), 1, 1)
    batch = min(batch_size, max(n, 1))
    if rnn is not None:
        kind = {"LSTM": "lstm", "GRU": "gru"}.get(rnn.mode, "rnn")
        return step_flop(kind, batch=batch, lookback=lookback, hidden=rnn.hidden_size, layers=rnn.num_layers,
                         n_features=n_features)
    head = getattr(model, "head", None)
    hidden = head.in_features if isinstance(head, nn.Linear) else 32
    layers = len(getattr(getattr(model, "encoder", None), "layers", [None]))
    return step_flop("transformer", batch=batch, lookback=lookback, hidden=hidden, layers=layers,
                     n_features=n_features)


def _fit(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor | None,
    y_val: torch.Tensor | None,
    cfg: TrainConfig,
    on_epoch_end: EpochCallback | None,
) -> FitResult:
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(cfg.seed)
    flat = FlatParams(list(model.parameters()))
    try:
        return _epochs(model, flat, x_train, y_train, x_val, y_val, cfg, on_epoch_end, started, generator)
    finally:
        flat.release()


def _epochs(
    model: nn.Module,
    flat: FlatParams,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor | None,
    y_val: torch.Tensor | None,
    cfg: TrainConfig,
    on_epoch_end: EpochCallback | None,
    started: float,
    generator: torch.Generator,
) -> FitResult:
    optimizer = Adam([flat.param], cfg.lr, fused=flat.param.device.type in ("cpu", "cuda"))
    loss_fn = nn.MSELoss()
    val = (x_val, y_val) if x_val is not None and y_val is not None and len(x_val) > 0 else None
    has_val = val is not None
    early_stopping = cfg.patience > 0 and has_val
    result = FitResult()
    best_loss, best_state, bad_epochs = math.inf, None, 0
    n = len(x_train)
    # The loss of always predicting 0, about 1 on scaled targets: the yardstick of divergence.
    zero_loss = max(float(y_train.float().square().mean()) if n else 1.0, 1.0)  # float32: MPS has no float64

    try:
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            order = torch.randperm(n, generator=generator).to(x_train.device)
            # Shuffle once per epoch; each batch is then a contiguous slice (a view, no copy).
            xs, ys = x_train.index_select(0, order), y_train.index_select(0, order)
            total = torch.zeros((), device=x_train.device)
            for i in range(0, n, cfg.batch_size):
                x, y = xs[i : i + cfg.batch_size], ys[i : i + cfg.batch_size]  # (batch, lookback, 1), (batch,)
                flat.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                if cfg.clip > 0:
                    nn.utils.clip_grad_norm_(flat.param, cfg.clip, foreach=True)  # one norm, one scale
                optimizer.step()  # one fused Adam over all weights
                total += loss.detach() * len(x)
            train_loss = float(total) / n
            val_loss = evaluate_loss(model, *val) if val is not None else math.nan
            _check_diverged(epoch, train_loss, val_loss if has_val else 0.0, zero_loss, cfg)
            result.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
            if on_epoch_end is not None:
                on_epoch_end(epoch, train_loss, val_loss)
            score = val_loss if has_val else train_loss
            if score < best_loss:
                best_loss, bad_epochs, result.best_epoch = score, 0, epoch
                # Kept for early stopping and for Ctrl-C; a copy of a few kB per epoch.
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
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


def _check_diverged(epoch: int, train_loss: float, val_loss: float, zero_loss: float, cfg: TrainConfig) -> None:
    """Stop at the first non-finite loss or one that exploded by orders of magnitude."""
    from seqcast.errors import TrainingDivergedError

    if math.isfinite(train_loss) and math.isfinite(val_loss) and train_loss <= DIVERGED_LOSS * zero_loss:
        return
    what = ("train loss " + (f"{train_loss:.3g}" if math.isfinite(train_loss) else "not a number")
            if not math.isfinite(train_loss) or train_loss > DIVERGED_LOSS * zero_loss
            else "validation loss not a number")
    clip = f"--clip {cfg.clip:g}" if cfg.clip > 0 else "--clip 0 (off)"
    raise TrainingDivergedError(
        f"training diverged at epoch {epoch} ({what}; a constant forecast of 0 scores about "
        f"{zero_loss:.3g}; --lr {cfg.lr:g}, {clip}); nothing was saved; lower --lr or keep --clip on"
    )


class FlatParams:
    """A network's weights and their gradients moved into two flat buffers for the training.

    Each parameter becomes a view of `param` (one 1-D tensor) and its .grad a view of
    `param.grad`, so the backward pass accumulates straight into one buffer and clipping
    and Adam each run as one operation over all weights instead of one per tensor
    (fused Adam over ~31,000 weights of the classic LSTM(50)x2: one kernel instead of
    ~10 foreach ops on 10 tensors). release() gives every parameter its own storage back and
    drops the gradients, so the model leaves fit() as an ordinary module. All parameters
    must share one device and dtype (build_model's networks, moved with .to(), do).
    """

    def __init__(self, params: list[nn.Parameter]) -> None:
        self.params = [p for p in params if p.requires_grad]
        first = self.params[0] if self.params else torch.zeros(0)
        if any(p.device != first.device or p.dtype != first.dtype for p in self.params):
            raise ValueError("FlatParams needs every parameter on one device with one dtype")
        self.param = torch.empty(sum(p.numel() for p in self.params), dtype=first.dtype, device=first.device)
        self.param.grad = torch.zeros_like(self.param)
        offset = 0
        with torch.no_grad():
            for p in self.params:
                n = p.numel()
                view = self.param[offset : offset + n].view_as(p)
                view.copy_(p)
                p.data = view
                p.grad = self.param.grad[offset : offset + n].view_as(p)
                offset += n

    def zero_grad(self) -> None:
        grad = self.param.grad
        if grad is not None:
            grad.zero_()

    def release(self) -> None:
        with torch.no_grad():
            for p in self.params:
                p.data = p.data.clone()
                p.grad = None
        self.param.grad = None


class Adam:
    """Adam through PyTorch's functional API (torch.optim.adam.adam): foreach, or fused.

    The arithmetic, and so the weights, are torch.optim.Adam's bit for bit (with the same
    foreach or fused choice). torch.optim.Adam's step() imports torch._dynamo on first use
    (about 1 s and 70-85 MB per process; measured in benchmarks/README.md); the functional
    adam() it calls does not. Only what the loop needs: no weight decay, amsgrad or param
    groups. fused=True (CPU and CUDA) runs one kernel per tensor: with the loop's single flat
    buffer (FlatParams), one kernel per step.
    """

    def __init__(
        self, params: list[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
        *, fused: bool = False,
    ) -> None:
        self.params = list(params)
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.fused = fused
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        # Per parameter, as torch counts them; float tensors where torch.optim keeps them
        # (on the CPU for foreach, on the parameter's device for fused).
        self.steps = [torch.tensor(0.0, device=p.device if fused else "cpu") for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        from torch.optim.adam import adam

        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        params: list[torch.Tensor] = [self.params[i] for i in live]
        grads = [p.grad for p in params if p.grad is not None]  # all of them: live ones have one
        adam(
            params, grads, [self.exp_avg[i] for i in live],
            [self.exp_avg_sq[i] for i in live], [], [self.steps[i] for i in live],
            foreach=not self.fused, fused=self.fused or None, amsgrad=False, beta1=self.beta1, beta2=self.beta2,
            lr=self.lr, weight_decay=0.0, eps=self.eps, maximize=False,
        )


@torch.no_grad()
def evaluate_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean squared error on a whole part, in eval mode."""
    return float(nn.functional.mse_loss(predict(model, x), y))


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = PREDICT_BATCH) -> torch.Tensor:
    """Model outputs for every window, in large batches, eval mode."""
    model.eval()
    if len(x) <= batch_size:
        out: torch.Tensor = model(x)
        return out
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def predict_numpy(model: nn.Module, x: np.ndarray, device: torch.device) -> np.ndarray:
    """predict() for a numpy array of windows; returns float64 numpy."""
    out = predict(model, torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device))
    return out.cpu().numpy().astype(np.float64)
