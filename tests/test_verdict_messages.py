"""What train, predict-next and the report say in corner cases: naive exact, no intervals, weekly units."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seqcast.cli import app
from seqcast.forecast.metrics import lag_warning, lag_words
from tests.conftest import business_days, write_csv

runner = CliRunner()
TINY = ["--hidden", "8", "--patience", "0", "--threads", "1", "--device", "cpu"]


def _line(output: str, start: str) -> str:
    """The first output line starting with `start` (wrapping undone)."""
    flat = [" ".join(line.split()) for line in output.splitlines()]
    return next((line for line in flat if line.startswith(start)), "")


def test_pegged_level_model_is_worse_than_exact_naive(tmp_path, workspace):
    # A pegged rate (EUR/BGN-like): every close is the same, so naive is exact.
    peg = pd.DataFrame({"Close": np.full(261, 1.95583)}, index=business_days(261, "2024-01-01"))
    assert runner.invoke(app, ["fetch", "peg", "--csv", write_csv(tmp_path / "peg.csv", peg)]).exit_code == 0
    result = runner.invoke(app, ["train", "--symbol", "peg", "--target", "level", "--no-shrink",
                                 "--epochs", "2", "--lookback", "20", *TINY, "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    test = record["metrics"]["test"]
    assert test["naive_rmse"] == 0.0 and test["rmse"] > 0
    assert test["dm_pvalue"] is None and test["lag_detected"] is False  # no test against a zero loss, no lag
    assert record["metrics"]["verdict"] == "worse than naive (naive is exact here: its RMSE is 0; no test needed)"
    # The same run in words: the verdict without any p-value, and no lag warning.
    result = runner.invoke(app, ["train", "--symbol", "peg", "--target", "level", "--no-shrink",
                                 "--epochs", "2", "--lookback", "20", *TINY])
    assert result.exit_code == 0, result.output
    verdict = _line(result.output, "test vs naive")
    assert "worse than naive (naive is exact" in verdict and "p =" not in verdict
    assert "no naive baseline" not in result.output and "lag warning" not in result.output
    report = runner.invoke(app, ["report", "--format", "md", "--out", str(tmp_path / "r.md")])
    assert report.exit_code == 0, report.output
    text = (tmp_path / "r.md").read_text()
    assert "worse than naive (naive is exact" in text
    assert "test vs naive (Diebold–Mariano): worse than naive (naive is exact here: its RMSE is 0; no test needed)" \
        in text  # the terminal's sentence, word for word


def test_weekly_run_without_intervals_says_why_and_what_to_do(tmp_path, workspace):
    fridays = pd.date_range("2020-01-03", periods=150, freq="W-FRI", name="Date")
    values = 4.2 + 0.1 * np.sin(np.arange(150) / 4) + np.random.default_rng(0).normal(0, 0.01, 150)
    path = write_csv(tmp_path / "w.csv", pd.DataFrame({"Close": values}, index=fridays))
    assert runner.invoke(app, ["fetch", "wk", "--csv", path]).exit_code == 0
    result = runner.invoke(app, ["train", "--symbol", "wk", "--epochs", "1", "--lookback", "10", *TINY])
    assert result.exit_code == 0, result.output
    line = _line(result.output, "no intervals:")
    assert "fewer than the 10 needed to calibrate them" in line and "--val-fraction" in line, result.output
    result = runner.invoke(app, ["predict-next", "--horizon", "3"])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "this run has no calibrated intervals (the validation tail had" in flat
    assert "up to 0" not in flat
    assert "the forecast is for the weeks after" in flat  # the stale note in the calendar's unit
    # A larger validation tail gives intervals, and the line is gone.
    result = runner.invoke(app, ["train", "--symbol", "wk", "--epochs", "1", "--lookback", "10",
                                 "--val-fraction", "0.2", *TINY])
    assert result.exit_code == 0, result.output
    assert "no intervals:" not in result.output and "intervals covered" in result.output


@pytest.mark.parametrize(("frequency", "words"), [
    (None, "the previous day's price than to the real one: the model mostly repeats yesterday, a day late"),
    ("business-daily", "previous day's price than to the real one: the model mostly repeats yesterday, a day late"),
    ("weekly", "previous week's price than to the real one: the model mostly repeats last week, a week late"),
    ("monthly", "previous month's price than to the real one: the model mostly repeats last month, a month late"),
])
def test_lag_warning_speaks_the_calendars_unit(frequency, words):
    calendar = None if frequency is None else {"frequency": frequency}
    assert lag_warning(calendar).endswith(words)


def test_report_lag_sentence_in_weeks():
    from seqcast.reports.findings import lag_finding

    test = {"lag_detected": True, "lag_ratio": 0.8, "rmse_ratio": 1.2, "dm_pvalue": 0.01}
    sentence = lag_finding(test, 1.0, {"calendar": {"frequency": "weekly"}}).text
    assert "previous week's price" in sentence and "a week late" in sentence and "day" not in sentence
    assert lag_words({"frequency": "daily"}) == ("day", "yesterday")
