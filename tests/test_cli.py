"""The CLI end to end on a series with signal (the synthetic sine) and on the bundled sample,
plus its error paths."""

from __future__ import annotations

import json
import math
import re
import shlex
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from seqcast.cli import app

runner = CliRunner()
TINY = ["--epochs", "2", "--hidden", "8", "--lookback", "10", "--batch-size", "64", "--patience", "0"]
# Enough for a small network to learn the synthetic sine in well under a second, so the forecast
# is the network's (shrunk part of the way), not the naive one: the values below can be wrong.
SIGNAL = ["--epochs", "8", "--hidden", "16", "--lookback", "20", "--lr", "0.01", "--batch-size", "32",
          "--patience", "0", "--threads", "1"]
SINE_LENGTH = 400  # the next day is t = 400: the noise-free sine is 10 + sin(2π·400/20) = 10 there


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_fetch_train_plot_predict_runs(workspace):
    result = invoke("fetch", "sine", "--source", "synthetic", "--length", str(SINE_LENGTH))
    assert result.exit_code == 0, result.output
    assert "sine" in result.output and "from synthetic" in result.output

    result = invoke("train", *SIGNAL)
    assert result.exit_code == 0, result.output
    assert "run id:" in result.output
    assert "naive" in result.output
    run_id = result.output.split("run id:")[1].split()[0]
    run_dir = workspace / "runs" / run_id
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("rmse", "mae", "mape", "directional_accuracy", "naive_rmse", "naive_mae", "rmse_ratio"):
        assert key in metrics["test"] and key in metrics["train"]
    # The network learned the sine: well below naive, significantly, and the report says so.
    assert 0 < metrics["test"]["rmse_ratio"] < 0.85, metrics["test"]
    assert metrics["test"]["rmse"] == pytest.approx(metrics["test"]["rmse_ratio"] * metrics["test"]["naive_rmse"])
    assert metrics["test"]["dm_pvalue"] < 0.01
    assert "beats naive by" in result.output
    shrink = json.loads((run_dir / "meta.json").read_text())["shrinkage_weight"]
    assert 0.2 < shrink <= 1.0  # the validation tail trusted the network's moves

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
    row, last = forecast["rows"][0], forecast["last_close"]
    # The forecast is the network's: it moves from the last close toward the sine's next value.
    clean_next = 10 + math.sin(2 * math.pi * SINE_LENGTH / 20)
    assert abs(row["predicted"] - last) > 0.02
    assert abs(row["predicted"] - clean_next) < abs(last - clean_next) - 0.02, (row, last)
    assert row["change_pct"] == pytest.approx((row["predicted"] / last - 1) * 100)
    # A real interval around that forecast: about ±1.645 daily noise sd (0.1), neither empty nor huge.
    assert row["lower"] < row["predicted"] < row["upper"]
    assert 0.15 < row["upper"] - row["lower"] < 1.5, row
    assert row["lower"] < row["predicted"] - 0.05 and row["upper"] > row["predicted"] + 0.05

    result = invoke("runs", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [r["run_id"] for r in listed] == [run_id]
    assert listed[0]["rmse_ratio"] == pytest.approx(metrics["test"]["rmse_ratio"])

    result = invoke("runs")
    assert run_id in result.output

    result = invoke("data")
    assert "sine" in result.output and "2026-10-30" in result.output


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


def parse_example(line: str) -> list[str]:
    """Parse `seqcast ...` as the CLI would, without running it; the command path it names."""
    args = shlex.split(line)[1:]
    command = typer.main.get_command(app)  # (typer's own copy of click: duck-typed below)
    ctx = command.make_context("seqcast", args)
    path = []
    while hasattr(command, "resolve_command"):  # a group
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not rest:
            break
        name, command, rest = command.resolve_command(ctx, rest)
        path.append(name)
        ctx = command.make_context(name, rest, parent=ctx)  # unknown options or bad values raise here
    return path


@pytest.mark.parametrize("command", ["fetch", "data", "train", "backtest", "runs", "plot", "predict-next"])
def test_every_command_has_help_with_example(command, tmp_path, monkeypatch):
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    # The examples: after "Example(s):", before the option boxes (not the usage line).
    section = result.output.split("Example", 1)[1].split("╭", 1)[0]
    examples = [m.group(0).strip() for m in re.finditer(rf"seqcast {re.escape(command)}\b[^\n#]*", section)]
    assert [e for e in examples if e != f"seqcast {command}"], section  # one with arguments or options
    monkeypatch.chdir(tmp_path)  # the --config examples read their file
    for name in ("run.toml", "bt.toml"):
        (tmp_path / name).write_text('model = "gru"\n')
    for example in examples:
        try:
            path = parse_example(example)
        except Exception as exc:  # click's usage errors
            message = exc.format_message() if hasattr(exc, "format_message") else repr(exc)
            pytest.fail(f"the help's example {example!r} does not parse: {message}")
        assert path[0] == command, example


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
