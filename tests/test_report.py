"""The report: a self-contained HTML file (parsed here), Markdown with charts beside it, backtests."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from seqcast import api
from seqcast.errors import ConfigError
from seqcast.reports.document import metrics_table, sweep_document
from seqcast.reports.render import render_html

TINY = {"epochs": 2, "hidden": 8, "lookback": 10, "patience": 0, "threads": 1}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """One workspace with a synthetic sine, a tiny run and a tiny 2-fold backtest."""
    home = tmp_path_factory.mktemp("report-home")
    api.fetch("sine", source="synthetic", options={"length": 300}, home=home)
    api.train(home=home, **TINY)
    api.backtest(folds=2, workers=1, home=home, **TINY)
    return home


class Refs(HTMLParser):
    """Every URL-like attribute, every tag name, and inline style text."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_style = tag == "style"
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "poster", "data", "background", "formaction"):
                self.urls.append((tag, name, value or ""))
            if name == "style":
                self.styles.append(value or "")

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def outside_references(text: str) -> tuple[list[str], Refs]:
    parser = Refs()
    parser.feed(text)
    bad = [f"{tag} {name}={value[:60]}" for tag, name, value in parser.urls
           if not (value.startswith("#") or value.startswith("data:"))]
    bad += [f"<{t}>" for t in parser.tags if t in ("script", "link", "iframe", "object", "embed", "base")]
    for style in parser.styles:
        bad += [f"css {m}" for m in re.findall(r"url\(|@import", style)]
    return bad, parser


def test_run_report_is_one_self_contained_html_file(home):
    run = api.load_run(home=home)
    path = api.report(home=home)
    assert path == run.path / "report.html"
    text = path.read_text(encoding="utf-8")
    bad, parser = outside_references(text)
    assert bad == []
    images = [v for t, n, v in parser.urls if t == "img"]
    assert len(images) == 1 and images[0].startswith("data:image/png;base64,")
    png = base64.b64decode(images[0].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # a real chart
    anchors = {v[1:] for t, n, v in parser.urls if n == "href"}
    for anchor in anchors:  # every in-page link has its target
        assert f'id="{anchor}"' in text
    # What a reader needs: the data, the split with dates, naive, the verdict, the tests, the files.
    meta = run.meta
    for needle in ("sine", "synthetic", meta["split"]["test_first"], meta["split"]["train_last"],
                   "naive", run.metrics["verdict"], "Diebold", "Pesaran–Timmermann", "predictions.csv",
                   str(run.path), "seqcast train --symbol sine", "generator"):
        assert needle in text, needle


def test_report_shows_metrics_it_does_not_know_yet(home):
    table = metrics_table({"test": {"rmse": 1.0, "naive_rmse": 2.0, "interval_score": 0.5,
                                    "coverage_by_tercile": {"low": 0.9, "high": 0.8}, "brand_new": 3.25}})
    rows = {r[0]: r[1:] for r in table.rows}
    assert table.headers == ["metric", "test model", "test naive"]
    assert rows["RMSE"] == ["1", "2"]
    assert rows["interval score (lower is better)"] == ["0.5", ""]
    assert rows["coverage by tercile.low"] == ["0.9", ""]
    assert rows["brand new"] == ["3.25", ""]


def test_forecast_and_markdown_with_charts_beside_it(home, tmp_path):
    out = tmp_path / "sub" / "sine.md"
    path = api.report(home=home, out=out, fmt="md", forecast=True)
    assert path == out
    text = out.read_text(encoding="utf-8")
    assert "## Next-day forecast" in text and "2026-11-02" in text  # the weekday after 2026-10-30
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links == ["<sine_files/chart.png>"]  # <...>: any file name is a valid CommonMark destination
    assert (out.parent / links[0].strip("<>")).read_bytes()[:4] == b"\x89PNG"
    assert "| metric |" in text


def test_backtest_report_shows_every_fold(home):
    bt_id = api.list_backtests(home)[-1]
    path = api.report(bt_id[:22], home=home)
    assert path.name == f"{bt_id}.html"
    text = path.read_text(encoding="utf-8")
    assert outside_references(text)[0] == []
    record = api.load_backtest(bt_id, home).data
    for fold in record["folds"]:
        assert f"{fold['test_first']} .. {fold['test_last']}" in text
    assert "fold 1 model" in text and "pooled naive" in text
    with pytest.raises(ConfigError, match="--forecast needs a run"):
        api.report(bt_id, home=home, forecast=True)


def test_backtest_plot(home):
    bt_id = api.list_backtests(home)[-1]
    path = api.plot(bt_id, home=home)
    assert path.name == f"{bt_id}.png" and path.read_bytes()[:4] == b"\x89PNG"


def test_sweep_document_links_each_cell_to_its_report():
    record = {"sweep_id": "s1", "spec": {"symbols": ["sine"], "grid": {"model": ["gru"]}},
              "cells": [{"cell": 0, "config": 0, "symbol": "sine", "seed": 0, "fold": None, "status": "done",
                         "run_id": "r1", "test": {"rmse_ratio": 0.98, "dm_pvalue": 0.01}}],
              "leaderboard": [{"label": "model=gru", "rmse_ratio_mean": 0.98, "cells_done": 1, "cells": 1}]}
    doc = sweep_document(record, cell_reports={"r1": "../runs/r1/report.html"})
    assert [s.title for s in doc.sections] == ["What was swept", "Leaderboard", "Cells"]
    cells = doc.sections[2].blocks[0]
    assert [str(c) for c in cells.rows[0]] == ["0", "0", "sine", "0", "", "done", "0.98", "0.01", "r1"]
    html = render_html(doc)
    assert '<a href="../runs/r1/report.html">r1</a>' in html and "model=gru" in html
