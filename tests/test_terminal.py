"""The terminal, the environment and machine-readable output.

Strict JSON everywhere (checked with a parser that refuses NaN), a zero or odd terminal
width, an ASCII-only stdout, no home folder, over-long paths, a closed pipe, chart files
whose format follows their name, charts of damaged or unusual runs, runnable examples.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seqcast import api, fileio
from seqcast.cli import app
from tests.conftest import business_days, write_csv

runner = CliRunner()
TINY = ["--epochs", "2", "--hidden", "8", "--lookback", "10", "--patience", "0", "--threads", "1"]
ROOT = Path(__file__).resolve().parents[1]


def strict_loads(text: str):
    """Like JSON.parse in a browser: NaN, Infinity and -Infinity are errors."""

    def refuse(token: str):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def constant_cache(tmp_path_factory) -> dict:
    return {"folder": tmp_path_factory.mktemp("constant") / "home"}


@pytest.fixture
def constant_home(workspace, tmp_path, constant_cache) -> Path:
    """A pegged rate (constant, like the ECB's BGN) and a run on it: its metrics include NaN."""
    cached = constant_cache["folder"]
    if cached.exists():
        shutil.copytree(cached, workspace)
        return workspace
    n = 200
    frame = pd.DataFrame({"Close": np.full(n, 1.95583)}, index=business_days(n))
    api.fetch("eurbgn", csv=write_csv(tmp_path / "bgn.csv", frame), home=workspace)
    api.train(epochs=2, hidden=8, lookback=10, patience=0, val_fraction=0.0, home=workspace)
    shutil.copytree(workspace, cached)
    return workspace


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQCAST_")}
    env.update(SEQCAST_HOME=str(home), PYTHONPATH=str(ROOT / "src"), **extra)
    return env


def seqcast(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seqcast", *args], env=env, capture_output=True,
                          timeout=120, **kwargs)


# --- strict JSON -----------------------------------------------------------------------------


def test_every_json_output_and_file_is_strict(constant_home) -> None:
    # A constant series: naive is exact, so ratios and p-values are NaN (shown as null).
    outputs = {}
    for args in (["train", *TINY, "--val-fraction", "0", "--json"], ["runs", "--json"], ["data", "--json"],
                 ["predict-next", "--json", "--days", "3"],
                 ["train", *TINY, "--val-fraction", "0", "--seeds", "2", "--json"],
                 ["backtest", "--folds", "2", "--workers", "1", *TINY, "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
        outputs[args[0] + str(len(outputs))] = strict_loads(result.stdout)
    train = outputs["train0"]
    assert train["metrics"]["test"]["rmse_ratio"] is None  # NaN in Python, null in JSON
    assert "NaN" not in json.dumps(outputs)
    files = [p for p in constant_home.rglob("*.json")]
    assert any(p.name == "metrics.json" for p in files) and any(p.parent.name == "backtests" for p in files)
    for path in files:
        strict_loads(path.read_text())
    # Read back, null is NaN again for the code that computes with it.
    run = api.load_run(train["run_id"])
    assert math.isnan(run.metrics["test"]["rmse_ratio"])
    assert run.history()[0]["val_loss"] != run.history()[0]["val_loss"]  # NaN: no validation tail


def test_strict_json_helper() -> None:
    assert fileio.dumps({"a": [float("nan"), float("inf"), -float("inf"), np.float32(1.5), np.int64(2)],
                         "b": np.array([1.0, np.nan]), "c": Path("/x")}, indent=None) == (
        '{"a": [null, null, null, 1.5, 2], "b": [1.0, null], "c": "/x"}')


def test_old_runs_with_nan_in_their_files_still_load(constant_home) -> None:
    run = api.load_run()
    path = run.path / "metrics.json"
    path.write_text(path.read_text().replace("null", "NaN"))
    again = api.load_run()
    assert math.isnan(again.metrics["test"]["rmse_ratio"])
    result = runner.invoke(app, ["runs", "--json"])
    assert result.exit_code == 0 and strict_loads(result.stdout)[0]["rmse_ratio"] is None


# --- terminal width, encoding, pipes ---------------------------------------------------------------


@pytest.mark.parametrize("columns", ["0", "-3", "abc", ""])
def test_a_zero_or_odd_terminal_width_still_prints(constant_home, columns) -> None:
    env = {"COLUMNS": columns}
    result = runner.invoke(app, ["runs"], env=env)
    assert result.exit_code == 0 and "run id" in result.output and "eurbgn" in result.output
    result = runner.invoke(app, ["data"], env=env)
    assert result.exit_code == 0 and "eurbgn" in result.output
    result = runner.invoke(app, ["plot", "nope"], env=env)
    assert result.exit_code == 1
    assert result.output.strip() == "error: no run 'nope'; list runs with: seqcast runs"


def test_fetch_prints_with_columns_zero(workspace) -> None:
    result = runner.invoke(app, ["fetch", "eurpln", "--source", "sample", "--from", "2026-01-01"],
                           env={"COLUMNS": "0"})
    assert result.exit_code == 0 and result.output.startswith("eurpln: "), result.output


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"},
                                 {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
                                  "PYTHONIOENCODING": ""}])
def test_an_ascii_only_terminal_does_not_crash_after_saving(constant_home, env) -> None:
    proc = seqcast(["train", *TINY, "--val-fraction", "0"], subprocess_env(constant_home, **env))
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = proc.stdout.decode("ascii")  # nothing but ASCII reached stdout
    assert "run id:" in out and "naive" in out and "Traceback" not in proc.stderr.decode()
    proc = seqcast(["runs"], subprocess_env(constant_home, **env))
    assert proc.returncode == 0 and b"run id" in proc.stdout


def test_a_closed_pipe_is_a_normal_end(constant_home) -> None:
    for args in (["runs"], ["runs", "--json"], ["predict-next", "--days", "30"], ["data"]):
        proc = subprocess.Popen([sys.executable, "-m", "seqcast", *args], env=subprocess_env(constant_home),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.close()  # like `| head -0`: the reader is gone before seqcast writes
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 0, (args, err.decode())
        assert err == b"", (args, err.decode())


def test_shell_pipe_into_head(constant_home) -> None:
    if shutil.which("sh") is None or shutil.which("head") is None:
        pytest.skip("needs sh and head")
    script = f'"{sys.executable}" -m seqcast predict-next --days 200 | head -1; echo "rc=${{PIPESTATUS:-}}"'
    proc = subprocess.run(["bash", "-c", script.replace("rc=${PIPESTATUS:-}", "rc=${PIPESTATUS[0]}")],
                          env=subprocess_env(constant_home), capture_output=True, text=True, timeout=120)
    assert proc.stdout.splitlines()[-1] == "rc=0", proc.stdout + proc.stderr
    assert proc.stderr == ""


# --- workspace location -----------------------------------------------------------------------------


def test_no_home_folder_asks_for_home(monkeypatch) -> None:
    import pwd

    def no_entry(uid):
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.delenv("SEQCAST_HOME", raising=False)
    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    for args in (["runs"], ["data"], ["fetch", "eurpln", "--source", "sample"], ["train"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert result.output.strip() == ("error: cannot find your home folder for the default workspace "
                                         "~/.seqcast (HOME is not set); pass --home or set SEQCAST_HOME")


def test_an_over_long_path_component_is_the_cannot_write_line(tmp_path) -> None:
    home = tmp_path / ("a" * 300) / "ws"
    for args in (["runs"], ["data"], ["fetch", "eurpln", "--source", "sample"], ["train"], ["plot"]):
        result = runner.invoke(app, [*args, "--home", str(home)])
        assert result.exit_code == 1, result.output
        message = result.output.strip()
        assert message == (f"error: cannot write the workspace {home}: File name too long; free some disk "
                           "space, make the folder writable, or use another workspace (--home or SEQCAST_HOME)")


# --- chart files ----------------------------------------------------------------------------------

MAGIC = {"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_the_file_name_decides_the_chart_format(constant_home, tmp_path, ext) -> None:
    out = tmp_path / f"chart.{ext}"
    result = runner.invoke(app, ["plot", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:5].startswith(MAGIC[ext])
    result = runner.invoke(app, ["plot", "-o", str(out), "--format", ext])
    assert result.exit_code == 0, result.output


def test_a_format_that_contradicts_the_file_name_is_an_error(constant_home, tmp_path) -> None:
    for out, fmt in (("x.png", "svg"), ("out.svg", "png"), ("a.PDF", "png")):
        result = runner.invoke(app, ["plot", "-o", str(tmp_path / out), "--format", fmt])
        assert result.exit_code == 1
        assert result.output.strip() == (f"error: --format {fmt} does not match the file name {out}; name the "
                                         f"file .{fmt}, or drop --format (the extension decides)")
        assert not (tmp_path / out).exists()
    result = runner.invoke(app, ["plot", "-o", str(tmp_path / "chart.jpg")])
    assert result.exit_code == 1
    assert result.output.strip() == "error: cannot write a .jpg chart; name the file .png, .svg or .pdf"
    result = runner.invoke(app, ["plot", "--format", "svg"])  # no -o: plot.svg in the run folder
    assert result.exit_code == 0 and result.output.strip().endswith("plot.svg")


def test_the_chart_ignores_the_users_matplotlib_backend(constant_home) -> None:
    for backend in ("nonsense", "TkAgg", "module://nowhere"):
        proc = seqcast(["plot"], subprocess_env(constant_home, MPLBACKEND=backend))
        assert proc.returncode == 0, (backend, proc.stderr.decode()[-1500:])
        assert Path(proc.stdout.decode().strip()).read_bytes()[:4] == MAGIC["png"]


def test_the_chart_import_leaves_mplbackend_as_it_was(monkeypatch) -> None:
    from seqcast.reports.charts import _import_matplotlib

    monkeypatch.setenv("MPLBACKEND", "nonsense")
    _import_matplotlib()
    assert os.environ["MPLBACKEND"] == "nonsense"


def test_the_chart_of_a_run_with_nan_losses(constant_home) -> None:
    run = api.load_run()
    history = [{"epoch": 1, "train_loss": 0.5, "val_loss": None}, {"epoch": 2, "train_loss": None,
                                                                   "val_loss": None}]
    (run.path / "history.json").write_text(json.dumps(history))
    assert api.plot().read_bytes()[:4] == MAGIC["png"]
    (run.path / "history.json").write_text('[{"epoch": 1, "train_loss": NaN, "val_loss": Infinity}]')
    assert api.plot().read_bytes()[:4] == MAGIC["png"]


def test_dates_near_year_one_are_refused_with_one_line(workspace, tmp_path) -> None:
    import datetime

    # 300 rows 2450 days apart from 0001-01-01 (a mis-typed year column): refused when read,
    # so no chart ever has to span 2000 years (matplotlib cannot draw before year 1).
    dates = [datetime.date(1, 1, 1) + datetime.timedelta(days=2450 * i) for i in range(300)]
    body = "Date,Close\n" + "".join(f"{d.isoformat()},{4 + np.sin(i / 5):.4f}\n" for i, d in enumerate(dates))
    (tmp_path / "old.csv").write_text(body)
    result = runner.invoke(app, ["fetch", "old", "--csv", str(tmp_path / "old.csv")], env={"COLUMNS": "400"})
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error:") and "is before 1900" in result.output, result.output
    assert "Traceback" not in result.output


# --- examples and hints are runnable ---------------------------------------------------------------


def test_readme_plot_example_is_an_unambiguous_prefix() -> None:
    # The README and the docs/ pages show one workspace's runs: a shortened id they give names one.
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    text = "\n".join(page.read_text(encoding="utf-8") for page in pages)
    ids = set(re.findall(r"\b\d{8}-\d{6}\.\d{3}-[a-z]+-[a-z0-9]+-[0-9a-f]{4}\b", text))
    prefixes = re.findall(r"seqcast (?:plot|report|runs show|runs export|runs rm|predict-next) (\d{8}-\d+)\b", text)
    assert "20261207-165503" in prefixes  # the docs still show the example this test checks
    for prefix in prefixes:
        matching = {i for i in ids if i.startswith(prefix)}
        assert len(matching) == 1, (prefix, matching)


def test_the_fetch_hint_names_a_source_that_has_the_symbol(workspace) -> None:
    api.fetch("eurpln", source="sample", start="2026-01-01")
    result = runner.invoke(app, ["train", "--symbol", "usdpln"])
    assert result.exit_code == 1
    message = result.output.strip()
    assert message == "error: no stored data for 'usdpln'; fetch it first, e.g. seqcast fetch usdpln --source stooq"
    result = runner.invoke(app, ["train", "--symbol", "eurpln", "--source", "ecb"])
    assert result.output.strip().endswith("seqcast fetch eurpln --source ecb")
    shutil.rmtree(workspace / "data")
    result = runner.invoke(app, ["train", "--symbol", "eurpln"])
    assert result.output.strip().endswith("seqcast fetch eurpln --source sample")
    result = runner.invoke(app, ["fetch", "eurpln", "--source", "sample", "--from", "2026-10-01"])
    assert result.exit_code == 0  # the hint, run as shown, works


def test_a_ctrl_c_inside_a_c_extension_import_is_an_interrupt(monkeypatch) -> None:
    # What CPython raises when SIGINT lands in a Cython module's init (seen importing pandas).
    def interrupted_import(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise SystemError("<class 'x'> returned a result with an exception set") from exc

    monkeypatch.setattr(api, "stored_series", interrupted_import)
    result = runner.invoke(app, ["data"])
    assert result.exit_code == 130
    assert "interrupted; nothing was changed" in result.output and "Traceback" not in result.output

    def other_system_error(*args, **kwargs):
        raise SystemError("a real bug")

    monkeypatch.setattr(api, "stored_series", other_system_error)
    assert isinstance(runner.invoke(app, ["data"]).exception, SystemError)  # bugs keep their traceback
