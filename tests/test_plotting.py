"""Charts people read: naive in the test panel, the unit on the y axis, legible losses, backtests."""

from __future__ import annotations

import pytest

from seqcast import api
from seqcast.reports.charts import backtest_figure, run_figure, unit_label

TINY = {"epochs": 2, "hidden": 8, "lookback": 10, "patience": 0, "threads": 1}


@pytest.mark.parametrize(("symbol", "unit"), [
    ("eurpln", "PLN per EUR"), ("usdjpy", "JPY per USD"), ("aapl.us", "price"), ("wig20", "price"),
    ("sine", "price"), ("googlx", "price"), (None, "price"),
])
def test_unit_label(symbol, unit):
    assert unit_label(symbol) == unit


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("plot-home")
    api.fetch("eurpln", source="sample", start="2024-06-01", home=home)
    return home


def labels(ax):
    return [line.get_label() for line in ax.get_lines()]


def test_test_panel_draws_naive_and_says_when_it_is_the_prediction(home):
    run = api.train(home=home, shrink=True, **TINY).run
    fig = run_figure(run)
    train_ax, test_ax, _loss = fig.axes
    assert train_ax.get_ylabel() == test_ax.get_ylabel() == "PLN per EUR"
    naive = [lbl for lbl in labels(test_ax) if lbl.startswith("naive")]
    assert len(naive) == 1
    if run.meta["shrinkage_weight"] == 0.0:
        assert "naive = predicted" in naive[0]
    # the same date formatter on both price panels
    assert type(train_ax.xaxis.get_major_formatter()) is type(test_ax.xaxis.get_major_formatter())
    assert type(train_ax.xaxis.get_major_formatter()).__name__ == "ConciseDateFormatter"


def test_naive_is_named_apart_when_the_model_differs(home):
    run = api.train(home=home, shrink=False, target="level", **TINY).run
    assert "naive (yesterday's price)" in labels(run_figure(run).axes[1])


def test_loss_panel_is_linear_over_a_small_range_and_log_over_a_wide_one(home, monkeypatch):
    run = api.load_run(home=home)
    flat = [{"epoch": i, "train_loss": 0.9 + i / 100, "val_loss": 0.95} for i in range(1, 6)]
    monkeypatch.setattr(type(run), "history", lambda self: flat)
    ax = run_figure(run).axes[2]
    assert ax.get_yscale() == "linear"
    steep = [{"epoch": i, "train_loss": 10.0 ** -i, "val_loss": None} for i in range(1, 6)]
    monkeypatch.setattr(type(run), "history", lambda self: steep)
    ax = run_figure(run).axes[2]
    assert ax.get_yscale() == "log"
    ax.figure.canvas.draw()
    minor = [t.get_text() for t in ax.yaxis.get_minorticklabels()]
    assert not any(minor)  # no 9×10⁻¹ clutter


def test_backtest_figure_has_every_fold(home):
    result = api.backtest(home=home, folds=2, workers=1, **TINY)
    record = api.load_backtest(result.backtest_id, home).data
    fig = backtest_figure(record)
    blocks, bars = fig.axes
    assert blocks.get_ylabel() == "PLN per EUR"
    assert [t.get_text() for t in bars.get_xticklabels()] == ["1", "2", "pooled"]
    assert len(bars.patches) == 6  # model and naive per fold and pooled
