"""Charts of a run: train part, test part (with interval band) and loss curves."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from seqcast import atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from seqcast.runs import Run

ACTUAL, MODEL, NAIVE, BAND = "#1f2933", "#d9480f", "#868e96", "#ffc9a9"


def _fmt(x: float, digits: int = 4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


def run_figure(run: Run) -> Figure:
    """A Figure with three panels; nothing is shown or saved."""
    from matplotlib.figure import Figure

    preds = run.predictions()
    metrics = run.metrics
    meta = run.meta
    cfg = run.config
    fig = Figure(figsize=(12, 10), layout="constrained")
    grid = fig.add_gridspec(3, 1, height_ratios=[1.1, 1.1, 0.8])
    title = (f"{meta.get('symbol', '?').upper()} · {cfg.model.kind.upper()} "
             f"(hidden {cfg.model.hidden}×{cfg.model.layers}, lookback {cfg.data.lookback}, "
             f"target {cfg.data.target}) · run {run.run_id}")
    extra = [*cfg.data.covariates, *cfg.data.features]
    if extra:
        title += f"\ninputs besides the target: {', '.join(extra)}"
    fig.suptitle(title, fontsize=11)

    train = preds[preds["part"].isin(["train", "val"])]
    test = preds[preds["part"] == "test"]
    for row, (part, name) in enumerate(((train, "train"), (test, "test"))):
        ax = fig.add_subplot(grid[row])
        m = metrics.get(name, {})
        ax.plot(part["date"], part["actual"], color=ACTUAL, lw=1.0, label="actual")
        ax.plot(part["date"], part["predicted"], color=MODEL, lw=1.0, alpha=0.9, label="predicted")
        if name == "test" and "lower" in part and part["lower"].notna().any():
            level = metrics.get("test", {}).get("interval_level", meta.get("coverage", 0.9))
            cov = metrics.get("test", {}).get("interval_coverage")
            ax.fill_between(part["date"], part["lower"], part["upper"], color=BAND, alpha=0.5, lw=0,
                            label=f"{level:.0%} interval (test coverage {_fmt(cov, 3)})")
        if name == "train":
            val = part[part["part"] == "val"]
            if len(val):
                ax.axvspan(val["date"].iloc[0], val["date"].iloc[-1], color="#e9ecef", zorder=0,
                           label="validation tail")
        span = f"{part['date'].iloc[0]:%Y-%m-%d} .. {part['date'].iloc[-1]:%Y-%m-%d}" if len(part) else ""
        ax.set_title(
            f"{name} part ({span}): RMSE {_fmt(m.get('rmse'))} vs naive {_fmt(m.get('naive_rmse'))} "
            f"(ratio {_fmt(m.get('rmse_ratio'), 4)}), MAE {_fmt(m.get('mae'))}, "
            f"direction {_fmt(100 * m.get('directional_accuracy', math.nan), 3)} %",
            fontsize=10, loc="left",
        )
        if name == "test":
            note = metrics.get("verdict", "")
            beats = m.get("rmse_ratio", 1.0) < 1 and (m.get("dm_pvalue") or 1.0) < 0.05
            if m.get("lag_detected") and not beats:  # a significant win over naive is no lag
                note += (" · lag warning: predictions track yesterday's price "
                         "(a one-day-late copy of the series)")
            ax.text(0.01, 0.97, note, transform=ax.transAxes, va="top", fontsize=9,
                    bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "#ced4da"})
        ax.set_ylabel("price")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)

    ax = fig.add_subplot(grid[2])
    history = run.history()
    if history:
        epochs = [h["epoch"] for h in history]
        ax.plot(epochs, [h["train_loss"] for h in history], label="train loss", color=ACTUAL)
        val = [h["val_loss"] for h in history]
        if not all(v is None or (isinstance(v, float) and math.isnan(v)) for v in val):
            ax.plot(epochs, val, label="validation loss", color=MODEL)
        best = meta.get("training", {}).get("best_epoch")
        if best:
            ax.axvline(best, color=NAIVE, ls="--", lw=1, label=f"best epoch {best}")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax.set_title("loss (MSE on scaled targets)", fontsize=10, loc="left")
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    return fig


def save_run_figure(run: Run, path: Path, fmt: str = "png") -> Path:
    """Render run_figure to path atomically."""
    import io

    fig = run_figure(run)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=110)
    atomic.write_bytes(path, buffer.getvalue())
    return path
