"""Charts of a run (train part, test part with naive and interval band, loss curves) and of a backtest."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast import fileio

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from seqcast.runs.registry import Run

ACTUAL, MODEL, NAIVE, BAND = "#1f2933", "#d9480f", "#868e96", "#ffc9a9"

# ISO 4217 codes common in daily FX data: "eurpln" is a pair, "googlx" is not.
_CODES = ("aud bgn brl cad chf cny czk dkk eur gbp hkd huf idr ils inr isk jpy krw mxn myr nok nzd php pln "
          "ron rub sek sgd thb try uah usd zar xau xag")
CURRENCIES = frozenset(_CODES.split())


def unit_label(symbol: str | None) -> str:
    """The y-axis unit: "PLN per EUR" for the pair eurpln, "price" for anything else."""
    sym = (symbol or "").lower()
    if len(sym) == 6 and sym[:3] in CURRENCIES and sym[3:] in CURRENCIES and sym[:3] != sym[3:]:
        return f"{sym[3:].upper()} per {sym[:3].upper()}"
    return "price"


def _date_axis(ax: Axes) -> None:
    """The same concise date ticks on every panel with dates."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _loss_axis(ax: Axes, values: list[float]) -> None:
    """Linear with plain labels over a small range; log (major ticks only) when it spans a decade."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    finite = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    if finite and max(finite) / min(finite) > 10:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)


def _fmt(x: float, digits: int = 4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


def _import_matplotlib() -> None:
    """Import matplotlib whatever $MPLBACKEND says.

    seqcast draws on its own Figure and Agg/SVG/PDF canvas, never on an interactive
    backend; but importing matplotlib with an invalid MPLBACKEND raises. The variable
    is hidden during the import and put back, and a valid value still applies (pyplot
    users in the same process see what they asked for).
    """
    if "matplotlib" in sys.modules:
        return
    saved = os.environ.pop("MPLBACKEND", None)
    try:
        import matplotlib
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved
    if saved is not None:
        try:
            matplotlib.rcParams["backend"] = saved
        except ValueError:
            pass  # not a backend matplotlib knows: pyplot falls back to its default


def _finite_positive(xs: list[float], ys: list[Any]) -> tuple[list[float], list[float]]:
    """The points a log-scaled loss curve can show: finite, positive losses only."""
    keep = [(x, y) for x, y in zip(xs, ys, strict=True)
            if isinstance(y, (int, float)) and math.isfinite(y) and y > 0]
    return [x for x, _ in keep], [y for _, y in keep]


def _clamp_dates(ax: Axes) -> None:
    """Keep a date axis inside the years matplotlib can draw (1..9999): its margins may not."""
    from datetime import datetime

    import matplotlib.dates as mdates

    ax.autoscale_view()
    low, high = ax.get_xlim()
    first = mdates.date2num(datetime(1, 1, 2))
    last = mdates.date2num(datetime(9999, 12, 30))
    if low < first or high > last:
        ax.set_xlim(max(low, first), min(high, last))


def _interval_label(test: dict[str, Any], level: float) -> str:
    """The band's legend entry: coverage overall and per volatility third."""
    label = f"{level:.0%} interval (test coverage {_fmt(test.get('interval_coverage', math.nan), 3)}"
    if "interval_coverage_calm" in test:
        label += (f"; calm/mid/wild thirds {_fmt(test['interval_coverage_calm'], 3)}/"
                  f"{_fmt(test['interval_coverage_mid'], 3)}/{_fmt(test['interval_coverage_wild'], 3)}")
    return label + ")"


CHART_FINDINGS = ("verdict", "shrinkage", "lag", "direction", "misses", "interval")
"""The findings the test panel's box shows (the coverage is in the band's legend)."""


def _test_note(metrics: dict[str, Any], meta: dict[str, Any]) -> str:
    """The verdict box: the run's findings (seqcast.reports.findings) as the terminal words them, wrapped."""
    import textwrap

    from seqcast.reports.findings import run_findings

    found = {f.key: f.text for f in run_findings(metrics, meta)}
    lines = [found[key] for key in CHART_FINDINGS if key in found]
    return "\n".join(textwrap.fill(line, 100, subsequent_indent="    ") for line in lines)


def run_figure(run: Run) -> Figure:
    """A Figure with three panels; nothing is shown or saved."""
    import numpy as np

    _import_matplotlib()
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
        if name == "test" and "naive" in part and len(part):
            same = bool(np.allclose(part["predicted"], part["naive"], rtol=0, atol=1e-12 * max(
                1.0, float(np.nanmax(np.abs(part["naive"]))))))
            ax.plot(part["date"], part["naive"], color=NAIVE, lw=1.0, ls=(0, (4, 2)),
                    label="naive = predicted (the model adds nothing)" if same
                    else "naive (yesterday's price)")
        if name == "test" and "lower" in part and part["lower"].notna().any():
            level = metrics.get("test", {}).get("interval_level", meta.get("level", 0.9))
            ax.fill_between(part["date"], part["lower"], part["upper"], color=BAND, alpha=0.5, lw=0,
                            label=_interval_label(metrics.get("test", {}), level))
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
            note = _test_note(metrics, meta)
            ax.text(0.01, 0.97, note, transform=ax.transAxes, va="top", fontsize=8,
                    bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "#ced4da"})
        ax.set_ylabel(unit_label(meta.get("symbol")))
        _date_axis(ax)
        if len(part):
            _clamp_dates(ax)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right" if name == "test" else "best", fontsize=8, framealpha=0.85)  # box: upper left

    ax = fig.add_subplot(grid[2])
    history = run.history()
    epochs = [h["epoch"] for h in history]
    train_curve = _finite_positive(epochs, [h["train_loss"] for h in history])
    val_curve = _finite_positive(epochs, [h["val_loss"] for h in history])
    if train_curve[0]:
        ax.plot(*train_curve, label="train loss", color=ACTUAL)
        if val_curve[0]:
            ax.plot(*val_curve, label="validation loss", color=MODEL)
        best = meta.get("training", {}).get("best_epoch")
        if best:
            ax.axvline(best, color=NAIVE, ls="--", lw=1, label=f"best epoch {best}")
        _loss_axis(ax, train_curve[1] + val_curve[1])
        ax.legend(fontsize=8)
    ax.set_title("loss (MSE on scaled targets)", fontsize=10, loc="left")
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    return fig


def save_figure(fig: Figure, path: Path, fmt: str = "png") -> Path:
    """Render a figure to path atomically (Agg, SVG or PDF canvas: no interactive backend)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # savefig switches to the SVG/PDF canvas for those formats by itself
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=110)
    fileio.write_bytes(path, buffer.getvalue())
    return path


def save_run_figure(run: Run, path: Path, fmt: str = "png") -> Path:
    """Render run_figure to path atomically."""
    return save_figure(run_figure(run), path, fmt)


def backtest_figure(record: dict[str, Any]) -> Figure:
    """A saved backtest (its JSON record, with predictions): every fold's test block, then
    model vs naive RMSE per fold; nothing is shown or saved."""
    import numpy as np
    import pandas as pd

    _import_matplotlib()
    from matplotlib.figure import Figure

    folds = record.get("folds", [])
    cfg = record.get("config", {})
    model = cfg.get("model", {})
    fig = Figure(figsize=(12, 8), layout="constrained")
    grid = fig.add_gridspec(2, 1, height_ratios=[1.3, 0.9])
    fig.suptitle(f"{str(record.get('symbol', '?')).upper()} · walk-forward backtest, {len(folds)} folds · "
                 f"{str(model.get('kind', '?')).upper()} (hidden {model.get('hidden', '?')}×"
                 f"{model.get('layers', '?')}, target {cfg.get('data', {}).get('target', '?')}) · "
                 f"{record.get('backtest_id', '')}", fontsize=11)

    ax = fig.add_subplot(grid[0])
    for i, fold in enumerate(folds):
        rows = fold.get("predictions") or []
        if not rows:
            continue
        frame = pd.DataFrame(rows)
        dates: Any = pd.to_datetime(frame["date"])
        first = i == 0
        ax.axvspan(dates.iloc[0], dates.iloc[-1], color="#f1f3f5" if i % 2 else "#ffffff", zorder=0)
        ax.plot(dates, frame["actual"], color=ACTUAL, lw=1.0, label="actual" if first else None)
        ax.plot(dates, frame["naive"], color=NAIVE, lw=1.0, ls=(0, (4, 2)),
                label="naive (yesterday's price)" if first else None)
        ax.plot(dates, frame["predicted"], color=MODEL, lw=1.0, alpha=0.9,
                label="predicted (each fold its own model)" if first else None)
        ratio = fold.get("metrics", {}).get("rmse_ratio")
        ax.text(dates.iloc[len(dates) // 2], 1.0, f"fold {fold.get('fold', i + 1)}\nratio {_fmt(ratio, 4)}",
                transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=8, color="#495057",
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1})
    pooled = record.get("pooled", {})
    ax.set_title(f"test blocks: pooled RMSE {_fmt(pooled.get('rmse'))} vs naive {_fmt(pooled.get('naive_rmse'))} "
                 f"(ratio {_fmt(pooled.get('rmse_ratio'))}): {record.get('verdict', '')}", fontsize=10, loc="left")
    ax.set_ylabel(unit_label(record.get("symbol")))
    _date_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)

    ax = fig.add_subplot(grid[1])
    labels = [str(f.get("fold", i + 1)) for i, f in enumerate(folds)] + ["pooled"]
    model_rmse = [f.get("metrics", {}).get("rmse", math.nan) for f in folds] + [pooled.get("rmse", math.nan)]
    naive_rmse = [f.get("metrics", {}).get("naive_rmse", math.nan) for f in folds] + [
        pooled.get("naive_rmse", math.nan)]
    x = np.arange(len(labels))
    ax.bar(x - 0.2, model_rmse, width=0.4, color=MODEL, label="model RMSE")
    ax.bar(x + 0.2, naive_rmse, width=0.4, color=NAIVE, label="naive RMSE")
    ax.set_xticks(x, labels)
    ax.set_xlabel("fold")
    ax.set_ylabel(f"RMSE ({unit_label(record.get('symbol'))})")
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    ax.set_title("RMSE per fold, model vs naive (lower is better)", fontsize=10, loc="left")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return fig


def save_backtest_figure(record: dict[str, Any], path: Path, fmt: str = "png") -> Path:
    """Render backtest_figure to path atomically."""
    return save_figure(backtest_figure(record), path, fmt)


def sweep_figure(record: dict[str, Any]) -> Figure:
    """A sweep's leaderboard as a chart: RMSE / naive per configuration (mean ± sd over its
    symbols and seeds), with the naive line at 1; nothing is shown or saved."""
    import numpy as np

    _import_matplotlib()
    from matplotlib.figure import Figure

    rows = [r for r in record.get("leaderboard", []) or [] if isinstance(r, dict)]
    labels = [str(r.get("label", "?")) for r in rows]
    means = np.array([r.get("rmse_ratio_mean") if r.get("rmse_ratio_mean") is not None else np.nan for r in rows],
                     dtype=float)
    sds = np.array([r.get("rmse_ratio_sd") if r.get("rmse_ratio_sd") is not None else 0.0 for r in rows],
                   dtype=float)
    fig = Figure(figsize=(10, max(2.5, 0.45 * len(rows) + 1.5)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]  # best (first) at the top
    colours = [MODEL if m < 1 else NAIVE for m in np.nan_to_num(means, nan=1.0)]
    ax.barh(y, means - 1.0, left=1.0, xerr=sds, color=colours, height=0.6, capsize=3)
    ax.axvline(1.0, color=ACTUAL, lw=1, ls="--", label="naive (ratio 1)")
    finite = means[np.isfinite(means)]
    if finite.size:  # naive's line inside the frame, with room on both sides
        low, high = float(np.min(finite - sds[np.isfinite(means)])), float(np.max(finite + sds[np.isfinite(means)]))
        pad = 0.05 * max(high, 1.0) - 0.05 * min(low, 1.0) + 1e-3
        ax.set_xlim(min(low, 1.0) - pad, max(high, 1.0) + pad)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("test RMSE / naive RMSE (mean ± sd over symbols and seeds; below 1: lower RMSE than naive)")
    ax.ticklabel_format(axis="x", style="plain", useOffset=False)
    ax.set_title(f"sweep {record.get('sweep_id', '')}: leaderboard", fontsize=10, loc="left")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def save_sweep_figure(record: dict[str, Any], path: Path, fmt: str = "png") -> Path:
    """Render sweep_figure to path atomically."""
    return save_figure(sweep_figure(record), path, fmt)
