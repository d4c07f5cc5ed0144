"""The CLI people expect: runs list/show/rm/export, backtests, report, config files, -V, completion."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from seqcast.cli import app

runner = CliRunner()
TINY = ["--epochs", "2", "--hidden", "8", "--lookback", "10", "--patience", "0", "--threads", "1"]


def invoke(*args: str, **kwargs):
    return runner.invoke(app, list(args), **kwargs)


@pytest.fixture
def trained(workspace):
    """A synthetic sine and one tiny run; returns the run id."""
    assert invoke("fetch", "sine", "--source", "synthetic", "--length", "300").exit_code == 0
    result = invoke("train", *TINY)
    assert result.exit_code == 0, result.output
    return result.output.split("run id:")[1].split()[0]


def test_train_prints_the_run_folder_and_runs_lists_the_columns(trained, workspace):
    result = invoke("train", *TINY, "--target", "level")
    folder = workspace / "runs" / result.output.split("run id:")[1].split()[0]
    assert f"files: {folder}" in result.output
    assert (folder / "predictions.csv").is_file()

    result = invoke("runs")
    assert result.exit_code == 0, result.output
    header, first, second = result.output.strip().splitlines()
    for column in ("run id", "model", "target", "inputs", "epochs", "test RMSE", "naive", "ratio", "verdict"):
        assert column in header
    assert first.split()[:6] == [trained, "lstm", "logret", "close", "2", first.split()[5]]
    assert "level" in second and "naive" in second  # the verdict names the comparison
    rows = json.loads(invoke("runs", "--json").output)
    assert [r["target"] for r in rows] == ["logret", "level"] and rows[0]["epochs"] == 2


def test_runs_show_prints_the_train_report_again(trained):
    shown = invoke("runs", "show", trained[:18])
    assert shown.exit_code == 0, shown.output
    for needle in ("RMSE / naive", "test model", "Diebold–Mariano", f"run id: {trained}"):
        assert needle in shown.output
    data = json.loads(invoke("runs", "show", trained, "--json").output)
    assert data["run_id"] == trained and "test" in data["metrics"] and data["config"]["model"]["hidden"] == 8


def test_runs_export_writes_the_predictions(trained, tmp_path):
    out = tmp_path / "p.csv"
    result = invoke("runs", "export", trained, "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0]) == ["date", "part", "actual", "predicted", "naive", "lower", "upper"]
    assert {r["part"] for r in rows} == {"train", "val", "test"}
    assert rows[-1]["date"] == "2026-10-30"
    assert invoke("runs", "export").output == out.read_text()  # latest run, to stdout


def test_runs_rm_asks_first(trained, workspace):
    folder = workspace / "runs" / trained
    result = invoke("runs", "rm", trained, input="n\n")
    assert result.exit_code == 1 and "nothing was deleted" in result.output
    assert folder.is_dir()
    result = invoke("runs", "rm", trained, input="y\n")
    assert result.exit_code == 0, result.output
    assert not folder.exists()
    assert list((workspace / "runs").iterdir()) == []  # no hidden leftovers


def test_runs_rm_checks_every_id_before_deleting(trained, workspace):
    result = invoke("runs", "rm", trained, "nosuchrun", "--yes")
    assert result.exit_code == 1 and "no run 'nosuchrun'" in result.output
    assert (workspace / "runs" / trained).is_dir()
    assert invoke("runs", "rm", trained, "--yes").exit_code == 0
    assert invoke("runs", "--json").output.strip() == "[]"


def test_backtests_listed_shown_exported_and_reported(trained, workspace, tmp_path):
    result = invoke("backtest", "--folds", "2", "--workers", "1", *TINY)
    assert result.exit_code == 0, result.output
    listed = json.loads(invoke("runs", "--backtests", "--json").output)
    assert len(listed) == 1 and listed[0]["folds"] == 2
    bt_id = listed[0]["backtest_id"]
    table = invoke("runs", "--backtests").output
    assert bt_id in table and "folds" in table
    shown = invoke("runs", "show", bt_id)
    assert shown.exit_code == 0, shown.output
    assert "pooled" in shown.output and "walk-forward backtest of sine" in shown.output
    exported = invoke("runs", "export", bt_id).output.splitlines()
    assert exported[0] == "fold,date,actual,predicted,naive" and exported[1].startswith("1,")
    result = invoke("report", bt_id, "-o", str(tmp_path / "bt.html"))
    assert result.exit_code == 0, result.output
    assert "fold 2" in (tmp_path / "bt.html").read_text()
    assert invoke("runs", "rm", bt_id, "--yes").exit_code == 0
    assert invoke("runs", "--backtests", "--json").output.strip() == "[]"


def test_report_command(trained, workspace):
    result = invoke("report", "--forecast")
    assert result.exit_code == 0, result.output
    path = workspace / "runs" / trained / "report.html"
    assert result.output.strip().replace("\n", "") == str(path)
    assert "Next-day forecast" in path.read_text()
    result = invoke("report", "nosuchrun")
    assert result.exit_code == 1 and result.output.startswith("error: no run 'nosuchrun'")


def test_config_file_round_trip(trained, workspace, tmp_path):
    saved = tmp_path / "run.toml"
    result = invoke("train", *TINY, "--model", "gru", "--batch-size", "32", "--no-shrink", "--save-config", str(saved))
    assert result.exit_code == 0, result.output
    text = saved.read_text()
    assert 'model = "gru"' in text and "batch-size = 32" in text and "shrink = false" in text
    assert "home" not in text and "json" not in text
    first = json.loads(invoke("runs", "--json").output)[-1]

    # The file alone reproduces the run's configuration; the command line wins over it.
    result = invoke("train", "--config", str(saved), "--hidden", "12", "--json")
    assert result.exit_code == 0, result.output
    cfg = json.loads((workspace / "runs" / json.loads(result.output)["run_id"] / "config.json").read_text())
    assert cfg["model"]["kind"] == "gru" and cfg["model"]["hidden"] == 12
    assert cfg["train"]["batch_size"] == 32 and cfg["train"]["shrink"] is False
    assert first["model"] == "gru"


@pytest.mark.parametrize(("body", "message"), [
    ("modle = 'gru'\n", "unknown key 'modle'"),
    ("model = 'cnn'\n", "cnn"),
    ("epochs = \n", "not valid TOML"),
    ("[model]\nkind = 'gru'\n", "is a table"),
])
def test_bad_config_files_are_refused(trained, tmp_path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    result = invoke("train", "--config", str(path))
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_version_completion_and_json_flag_help():
    assert invoke("-V").output.startswith("seqcast ")
    top = invoke("--help").output
    assert "--install-completion" in top and "--show-completion" in top
    runs_help = " ".join(invoke("runs", "--help").output.split())
    assert "--json A flag (no value)" in runs_help.replace("│", "").replace("  ", " ")
    for sub in ("show", "rm", "export"):
        assert invoke("runs", sub, "--help").exit_code == 0
