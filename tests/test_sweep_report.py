"""A sweep's report and chart: the leaderboard, every cell linked to its own report by relative path."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app
from tests.conftest import business_days, write_csv

TINY_KW = {"epochs": 1, "hidden": 8, "lookback": 10, "patience": 0, "device": "cpu", "shrink": False}


class Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.refs += [v for k, v in attrs if k in ("href", "src") and v]


def test_sweep_report_links_every_cell_and_plot_draws_the_leaderboard(tmp_path):
    rng = np.random.default_rng(1)
    values = 10 + np.sin(np.arange(200) / 5) + rng.normal(0, 0.05, 200)
    api.fetch("sine", csv=write_csv(tmp_path / "s.csv", pd.DataFrame({"Close": values}, index=business_days(200))))
    sweep = api.sweep({"model": ["lstm", "gru"], **TINY_KW}, symbols=["sine"], workers=1)

    result = CliRunner().invoke(app, ["report", sweep.sweep_id[:22]])
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    assert path == sweep.path.with_suffix(".html")
    html = path.read_text()
    assert "Leaderboard" in html and "lstm" in html and "gru" in html
    refs = Refs()
    refs.feed(html)
    cell_links = [r for r in refs.refs if r.endswith("report.html")]
    run_ids = {c["run_id"] for c in sweep.cells}
    assert len(cell_links) == 2 and {Path(r).parent.name for r in cell_links} == run_ids
    for ref in cell_links:  # relative, and each cell's report exists where the link points
        assert not ref.startswith(("/", "http")) and (path.parent / ref).resolve().is_file()
    others = [r for r in refs.refs if r not in cell_links]
    assert all(r.startswith(("#", "data:")) for r in others), others  # nothing else outside the file

    chart = api.plot(sweep.sweep_id)
    assert chart == sweep.path.with_suffix(".png") and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A run id is still a run: the sweep lookup never shadows runs or backtests.
    assert api.plot(sweep.cells[0]["run_id"]).parent.name == sweep.cells[0]["run_id"]
