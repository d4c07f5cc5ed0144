"""The CLI end to end on a slice of the bundled sample, plus its error paths."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from seqcast.cli import app

runner = CliRunner()
TINY = ["--epochs", "2", "--hidden", "8", "--lookback", "10", "--batch-size", "64", "--patience", "0"]


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_fetch_train_plot_predict_runs(workspace):
    result = invoke("fetch", "eurpln", "--source", "sample", "--from", "2023-01-01")
    assert result.exit_code == 0, result.output
    assert "eurpln" in result.output and "from sample" in result.output

    result = invoke("train", *TINY)
    assert result.exit_code == 0, result.output
    assert "run id:" in result.output
    assert "naive" in result.output
    run_id = result.output.split("run id:")[1].split()[0]
    run_dir = workspace / "runs" / run_id
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("rmse", "mae", "mape", "directional_accuracy", "naive_rmse", "naive_mae", "rmse_ratio"):
        assert key in metrics["test"] and key in metrics["train"]
    assert metrics["test"]["naive_rmse"] > 0

    result = invoke("plot", run_id)
    assert result.exit_code == 0, result.output
    png = run_dir / "plot.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000  # a real chart, not an empty canvas

    result = invoke("predict-next", "--json")
    assert result.exit_code == 0, result.output
    forecast = json.loads(result.output)
    assert forecast["run_id"] == run_id
    assert forecast["last_date"] == "2026-10-30"  # a Friday
    assert forecast["rows"][0]["date"] == "2026-11-02"  # the next weekday
    row = forecast["rows"][0]
    assert row["lower"] <= row["predicted"] <= row["upper"]

    result = invoke("runs", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [r["run_id"] for r in listed] == [run_id]
    assert listed[0]["rmse_ratio"] == pytest.approx(metrics["test"]["rmse_ratio"])

    result = invoke("runs")
    assert run_id in result.output

    result = invoke("data")
    assert "eurpln" in result.output and "2026-10-30" in result.output


def test_train_json_and_predict_days(workspace):
    assert invoke("fetch", "eurpln", "--source", "sample", "--from", "2024-01-01").exit_code == 0
    result = invoke("train", *TINY, "--model", "gru", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["meta"]["symbol"] == "eurpln"
    assert set(payload["metrics"]) >= {"train", "test", "verdict"}

    result = invoke("predict-next", payload["run_id"][:20], "--days", "5")
    assert result.exit_code == 0, result.output
    assert sum(line.startswith("2026-11-") for line in result.output.splitlines()) == 5  # table rows


def test_csv_import(tmp_path):
    csv = tmp_path / "eurpln_d.csv"
    csv.write_bytes(
        b"Data,Otwarcie,Najwyzszy,Najnizszy,Zamkniecie\r\n"
        b"2024-01-02,4.34,4.35,4.33,4.341\r\n2024-01-03,4.341,4.36,4.34,4.35\r\n"
    )
    result = invoke("fetch", "eurpln", "--csv", str(csv))
    assert result.exit_code == 0, result.output
    assert "2 rows" in result.output and "from csv" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train"], "no data fetched yet"),
        (["plot"], "no runs yet"),
        (["predict-next"], "no runs yet"),
        (["plot", "nope"], "no run 'nope'"),
        (["plot", "../etc"], "is not a run id"),
        (["fetch", "eurusd", "--source", "sample"], "no bundled sample for 'eurusd'"),
        (["fetch", "eurpln", "--csv", "/no/such/file.csv"], "does not exist"),
        (["fetch", "eurpln", "--source", "sample", "--from", "2024-13-01"], "YYYY-MM-DD"),
        (["fetch", "eurpln", "--source", "sample", "--from", "2024-02-01", "--to", "2024-01-01"], "is after"),
        (["fetch", "../x", "--source", "sample"], "invalid symbol"),
    ],
)
def test_user_errors_are_one_line(args, message):
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.output.strip().startswith("error:")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "0.3"], "--split must be between 0.5 and 0.95"),
        (["--lookback", "5000"], "too few"),
        (["--lr", "0"], "--lr must be a positive number"),
        (["--epochs", "0"], "--epochs must be at least 1"),
    ],
)
def test_bad_training_options(args, message):
    assert invoke("fetch", "eurpln", "--source", "sample", "--from", "2024-01-01").exit_code == 0
    result = invoke("train", *TINY, *args)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_usage_errors_exit_2():
    result = invoke("train", "--model", "cnn")
    assert result.exit_code == 2
    result = invoke("fetch", "eurpln", "--source", "yahoo")
    assert result.exit_code == 2


def test_python_dash_m_and_fast_help():
    out = subprocess.run([sys.executable, "-m", "seqcast", "--help"], capture_output=True, text=True,
                         check=True)
    assert "predict-next" in out.stdout
    # --help must not import the heavy libraries.
    probe = ("import sys; from seqcast.cli import app; from typer.testing import CliRunner; "
             "CliRunner().invoke(app, ['--help']); "
             "print(sorted(m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["fetch", "data", "train", "backtest", "runs", "plot", "predict-next"])
def test_every_command_has_help_with_example(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output
    assert f"seqcast {command}" in result.output


def test_data_lists_and_data_rm_removes(workspace, tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("Date,Close\n2024-01-02,1.5\n2024-01-03,1.6\n")
    assert invoke("fetch", "eurpln", "--source", "sample", "--from", "2026-10-01").exit_code == 0
    assert invoke("fetch", "eurpln", "--csv", str(csv)).exit_code == 0
    listed = json.loads(invoke("data", "--json").output)
    assert sorted((m["source"], m["symbol"]) for m in listed) == [("csv", "eurpln"), ("sample", "eurpln")]

    result = invoke("data", "rm", "eurpln", "--source", "csv")
    assert result.exit_code == 0 and "removed eurpln from csv (2 rows)" in result.output, result.output
    assert [m["source"] for m in json.loads(invoke("data", "--json").output)] == ["sample"]
    assert not list((workspace / "data" / "csv").glob("eurpln*"))

    result = invoke("data", "rm", "eurpln", "--source", "csv")
    assert result.exit_code == 1 and result.output.startswith("error: no stored data for 'eurpln' from csv")
    result = invoke("data", "rm", "eurpln", "--source", "yahoo")
    assert result.exit_code == 1 and "unknown source 'yahoo'" in result.output
    other = tmp_path / "other-home"
    result = invoke("data", "--home", str(other), "rm", "eurpln")  # --home before rm counts too
    assert result.exit_code == 1 and "no stored data" in result.output
    result = invoke("data", "rm", "eurpln", "--json")
    assert result.exit_code == 0 and json.loads(result.output) == [
        {"source": "sample", "symbol": "eurpln", "rows": 22}]
    assert "no data yet" in invoke("data").output
    help_text = invoke("data", "rm", "--help").output
    assert "Example" in help_text and "seqcast data rm" in help_text
