"""Sweeps on the local pool: the grid, cells as runs equal to `train`, backtest cells, resume,
a worker killed mid-cell, Ctrl-C, the record and leaderboard, the missing Ray extra."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app
from seqcast.errors import ConfigError
from seqcast.runs import sweep as sw
from seqcast.runs.parallel.executors import LocalExecutor, Task
from tests.conftest import business_days, write_csv

runner = CliRunner()
TINY = ["--epochs", "1", "--hidden", "8", "--lookback", "10", "--patience", "0", "--device", "cpu", "--no-shrink"]
TINY_KW = {"epochs": 1, "hidden": 8, "lookback": 10, "patience": 0, "device": "cpu", "shrink": False}
N = 200


def strict_json(text: str):
    def refuse(name: str):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def fetched(tmp_path):
    """Two small noisy series, 'sine' and 'wave', fetched into the test's workspace."""
    rng = np.random.default_rng(1)
    for name, period in (("sine", 5), ("wave", 9)):
        values = 10 + np.sin(np.arange(N) / period) + rng.normal(0, 0.05, N)
        csv = write_csv(tmp_path / f"{name}.csv", pd.DataFrame({"Close": values}, index=business_days(N)))
        api.fetch(name, csv=csv)


# --------------------------------------------------------------------------- options


def test_every_train_option_takes_a_list():
    grid = sw.parse_grid_args(["--model", "lstm,gru", "--lookback", "10,20", "--lr=1e-3,3e-4", "--no-shrink",
                               "--from", "2015-02-01", "--activation", "tanh", "--val-fraction", "0.2"])
    assert grid == {"model": ["lstm", "gru"], "lookback": [10, 20], "lr": [1e-3, 3e-4], "shrink": [False],
                    "start": ["2015-02-01"], "nonlinearity": ["tanh"], "val_fraction": [0.2]}
    assert sw.parse_grid_args(["--shrink", "true,false"]) == {"shrink": [True, False]}
    assert sw.parse_grid_args(["--shrink", "--epochs", "2"]) == {"shrink": [True], "epochs": [2]}
    # Every config field is an option: a field added to the config needs no new sweep code.
    options = sw.grid_options()
    assert {"model", "split", "lookback", "target", "epochs", "batch-size", "hidden", "layers", "dropout",
            "activation", "heads", "lr", "clip", "patience", "val-fraction", "shrink", "level", "from",
            "to", "device", "threads", "source"} <= set(options)
    assert "symbol" not in options and "seed" not in options


@pytest.mark.parametrize(("args", "message"), [
    (["--modle", "lstm"], "no such option: --modle"),
    (["--lookback", "ten"], "--lookback takes whole numbers"),
    (["--epochs"], "--epochs needs a value"),
    (["lstm"], "unexpected argument"),
    (["--no-epochs"], "--no-epochs is not an option"),
])
def test_bad_grid_options(args, message):
    with pytest.raises(ConfigError, match=message):
        sw.parse_grid_args(args)


def test_every_combination_is_checked_before_any_training():
    with pytest.raises(ConfigError, match=r"--hidden .* divisible by --heads"):
        sw.SweepSpec({"model": ["lstm", "transformer"], "hidden": [6], "heads": [4]})
    with pytest.raises(ConfigError, match="--seeds must be"):
        sw.SweepSpec({}, seeds=0)
    assert sw.SweepSpec({"model": ["lstm", "gru"], "lookback": [5, 10]}, ["a", "b"], seeds=3).n_cells == 24
    assert sw.SweepSpec({"model": ["lstm"]}, ["a"], seeds=2, backtest=3).n_cells == 6


def test_config_file_is_the_same_grid(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text('symbol = ["sine", "wave"]\nseeds = 2\nmodel = ["lstm", "gru"]\nlookback = [10, 20]\n'
                    'epochs = 1\nshrink = false\nbatch-size = 16\n')
    written = sw.read_config_file(path)
    assert written["symbols"] == ["sine", "wave"] and written["seeds"] == 2
    assert written["grid"] == {**sw.parse_grid_args(["--model", "lstm,gru", "--lookback", "10,20", "--epochs", "1",
                                                     "--no-shrink", "--batch-size", "16"])}
    path.write_text("modle = 'lstm'\n")
    with pytest.raises(ConfigError, match="unknown key 'modle'"):
        sw.read_config_file(path)
    path.write_bytes(b'model = "\xff\xfe"\n')  # not UTF-8: one ConfigError, not a UnicodeDecodeError
    with pytest.raises(ConfigError, match="not valid TOML"):
        sw.read_config_file(path)


# --------------------------------------------------------------------------- sweeps


def test_cells_are_runs_identical_to_train(fetched, workspace):
    result = runner.invoke(app, ["sweep", "--symbol", "sine", "--symbol", "wave", "--model", "lstm,gru",
                                 "--seeds", "2", "--workers", "2", *TINY, "--json"])
    assert result.exit_code == 0, result.output
    payload = strict_json(result.output)
    sweep_id = payload["sweep_id"]
    assert payload["status"] == "finished" and len(payload["cells"]) == 8
    assert all(c["status"] == "done" for c in payload["cells"])
    assert len({c["node"] for c in payload["cells"]}) == 2  # both workers took cells

    runs = {r.run_id: r for r in api.list_runs()}
    assert len(runs) == 8 and {c["run_id"] for c in payload["cells"]} == set(runs)
    for cell in payload["cells"]:
        run = runs[cell["run_id"]]
        assert run.meta["sweep"] == {"sweep_id": sweep_id, "cell": cell["cell"]}
        assert run.meta["symbol"] == cell["symbol"] and run.config.train.seed == cell["seed"]
        assert run.metrics["test"]["rmse"] == cell["test"]["rmse"]

    # A cell is exactly `seqcast train` with its options: same weights, so the same metrics.
    cell = next(c for c in payload["cells"] if c["symbol"] == "wave" and c["seed"] == 1
                and payload["configs"][c["config"]]["options"]["model"] == "gru")
    trained = api.train(symbol="wave", model="gru", seed=1, **TINY_KW).run
    assert trained.metrics == runs[cell["run_id"]].metrics
    assert (trained.path / "weights.npz").read_bytes() == (runs[cell["run_id"]].path / "weights.npz").read_bytes()
    assert api.predict_next(cell["run_id"]).rows  # a sweep's run works like any other

    board = payload["leaderboard"]
    assert [row["label"] for row in board] != [] and {row["label"] for row in board} == {"model=lstm", "model=gru"}
    assert all(row["units"] == 4 and row["cells_done"] == 4 for row in board)
    ratios = [row["rmse_ratio_mean"] for row in board]
    assert ratios == sorted(ratios)
    lstm = [c["test"]["rmse_ratio"] for c in payload["cells"] if payload["configs"][c["config"]]["options"]["model"]
            == "lstm"]
    row = next(r for r in board if r["label"] == "model=lstm")
    assert row["rmse_ratio_mean"] == pytest.approx(np.mean(lstm))
    assert row["rmse_ratio_sd"] == pytest.approx(np.std(lstm, ddof=1))

    saved = strict_json((workspace / "sweeps" / f"{sweep_id}.json").read_text())
    assert saved["leaderboard"] == board
    listed = runner.invoke(app, ["sweeps"])
    assert listed.exit_code == 0 and sweep_id[:20] in listed.output
    shown = runner.invoke(app, ["sweeps", "show", sweep_id[:22]])
    assert shown.exit_code == 0, shown.output
    assert "model=lstm" in shown.output and "RMSE/naive" in shown.output and "saved:" in shown.output
    assert strict_json(runner.invoke(app, ["sweeps", "--json"]).output)[0]["sweep_id"] == sweep_id


def test_progress_lines_and_leaderboard_text(fetched):
    result = runner.invoke(app, ["sweep", "--symbol", "sine", "--lookback", "10,12", "--workers", "1",
                                 *[a for a in TINY if a not in ("--lookback", "10")]])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "2 cells (2 to run)" in out
    assert out.count("lookback=1") >= 4  # a line per finished cell, then the leaderboard rows
    assert "DM p" in out and "better" in out and "finished; 2 of 2 cells done" in out


def test_backtest_cells_give_the_backtest(fetched, workspace):
    result = runner.invoke(app, ["sweep", "--symbol", "sine", "--backtest", "2", "--split", "0.6", "--workers", "2",
                                 *TINY, "--json"])
    assert result.exit_code == 0, result.output
    payload = strict_json(result.output)
    assert [c["fold"] for c in payload["cells"]] == [1, 2]
    [entry] = payload["backtests"]
    saved = json.loads((workspace / "backtests" / f"{entry['backtest_id']}.json").read_text())
    assert saved["sweep"]["sweep_id"] == payload["sweep_id"]
    alone = api.backtest(folds=2, workers=1, symbol="sine", split=0.6, **TINY_KW)
    assert saved["pooled"]["rmse"] == alone.pooled["rmse"] == entry["test"]["rmse"]
    assert [f["test_first"] for f in saved["folds"]] == [f.test_first for f in alone.folds]
    assert payload["leaderboard"][0]["units"] == 1
    assert all("fold_out" not in c for c in payload["cells"])


def test_resume_after_an_interrupted_sweep(fetched, workspace):
    spec = sw.SweepSpec(sw.parse_grid_args(["--model", "lstm,gru", *TINY]), ["sine"], seeds=2)
    seen = []

    def stop_after_first(cell, done, total):
        seen.append(cell["cell"])
        raise KeyboardInterrupt

    with pytest.raises(sw.SweepInterrupted) as stop:
        sw.run_sweep(spec, workers=1, on_cell_end=stop_after_first)
    assert stop.value.done == 1 and stop.value.total == 4
    record = sw.load_sweep(stop.value.sweep_id)
    assert record.status == "interrupted" and record.counts() == {"done": 1, "failed": 0, "pending": 3}
    [first] = [c for c in record.cells if c["status"] == "done"]
    assert len(api.list_runs()) == 1

    result = runner.invoke(app, ["sweep", "--resume", stop.value.sweep_id[:24], "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "4 cells (3 to run)" in result.output
    record = sw.load_sweep(stop.value.sweep_id)
    assert record.status == "finished" and record.counts()["done"] == 4
    assert record.cells[first["cell"]]["run_id"] == first["run_id"]  # kept, not trained again
    assert len(api.list_runs()) == 4
    assert len({c["run_id"] for c in record.cells}) == 4
    again = runner.invoke(app, ["sweep", "--resume", stop.value.sweep_id, "--model", "gru"])
    assert again.exit_code == 2  # --resume takes the sweep as saved


def dying_train_cell(series, cfg=None):
    """Kills its own worker process: once for seed 1 (then trains), every time for seed 2."""
    seed = (cfg or series.cfg).train.seed
    marker = Path(os.environ["SEQCAST_TEST_MARKER"]) / f"seed{seed}"
    if seed == 2 or (seed == 1 and not marker.exists()):
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return sw.train_cell(series, cfg)


def test_a_killed_worker_fails_only_its_cell_and_is_retried_once(fetched, monkeypatch, tmp_path):
    monkeypatch.setattr(sw, "train_cell", dying_train_cell)
    monkeypatch.setenv("SEQCAST_TEST_MARKER", str(tmp_path))
    retries = []
    spec = sw.SweepSpec(sw.parse_grid_args(TINY), ["sine"], seeds=3)
    result = sw.run_sweep(spec, workers=2, on_retry=lambda cell, reason: retries.append((cell["seed"], reason)))
    by_seed = {c["seed"]: c for c in result.cells}
    assert by_seed[0]["status"] == "done" and by_seed[0]["attempts"] == 1
    assert by_seed[1]["status"] == "done" and by_seed[1]["attempts"] == 2
    assert by_seed[1]["worker_deaths"] == ["worker process died (signal 9)"]
    assert by_seed[2]["status"] == "failed"
    assert by_seed[2]["error"] == "worker process died (signal 9), also on its retry"
    assert sorted(seed for seed, _ in retries) == [1, 2]
    assert result.status == "finished with failed cells"
    assert len(api.list_runs()) == 2
    assert result.leaderboard[0]["cells_failed"] == 1 and result.leaderboard[0]["units"] == 2


def test_a_failing_cell_is_reported_and_the_others_finish(fetched):
    tiny = [a for a in TINY if a not in ("--lookback", "10")]
    result = runner.invoke(app, ["sweep", "--symbol", "sine", "--workers", "2", *tiny, "--lookback", "10,150"])
    assert result.exit_code == 1, result.output
    assert "failed" in result.output and "too few" in result.output
    # Too little data for --lookback 150: a retry cannot help, so --resume is not offered.
    assert "1 failed cell cannot work with its options (a retry fails the same way)" in result.output
    assert "--resume" not in result.output
    assert len(api.list_runs()) == 1
    assert "Traceback" not in result.output


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_ctrl_c_stops_the_workers_within_two_seconds():
    pool = LocalExecutor(2)
    timer = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGINT))  # after the workers started
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        for _ in pool.run([Task(i, _sleep, (60,)) for i in range(2)]):
            pass
    stopped = time.monotonic()
    timer.cancel()
    assert stopped - started < 3.0 + 2.0
    assert pool._pool == []


def test_two_sweeps_at_once_never_collide(fetched, workspace):
    spec = sw.SweepSpec(sw.parse_grid_args(TINY), ["sine"])
    results = []
    threads = [threading.Thread(target=lambda: results.append(sw.run_sweep(spec, workers=1))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.sweep_id for r in results}) == 2
    assert len(api.list_runs()) == 2 and len(sw.list_sweeps()) == 2
    with sw._locked(results[0].path.parent / f".{results[0].sweep_id}.lock"), pytest.raises(
            ConfigError, match="is being run by another process"):
        sw.run_sweep(resume=results[0].sweep_id)


def test_without_ray_the_backend_says_how_to_install_it(fetched, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    for command in (["sweep", *TINY, "--backend", "ray"], ["backtest", "--folds", "2", *TINY, "--backend", "ray"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, result.output
        assert result.output.strip() == "error: --backend ray needs Ray: pip install 'seqcast[ray]' " \
                                        "(or: pip install 'ray>=2.9')"


def test_sweep_user_errors(fetched):
    result = runner.invoke(app, ["sweep", "--modle", "lstm"])
    assert result.exit_code == 2 and "no such option: --modle" in result.output
    result = runner.invoke(app, ["sweep", "--symbol", "nope", *TINY])
    assert result.exit_code == 1 and result.output.startswith("error:") and "Traceback" not in result.output
    result = runner.invoke(app, ["sweeps", "show", "nope"])
    assert result.exit_code == 1 and "no sweep 'nope'" in result.output
    result = runner.invoke(app, ["sweep", *TINY, "--address", "127.0.0.1:1"])
    assert result.exit_code == 1 and "--address is for --backend ray" in result.output


def test_python_api(fetched):
    result = api.sweep({"model": ["lstm", "gru"], **TINY_KW}, symbols=["sine"], workers=1)
    assert result.counts() == {"done": 2, "failed": 0, "pending": 0}
    assert api.load_sweep(result.sweep_id[:20]).leaderboard == result.leaderboard
    assert [s.sweep_id for s in api.list_sweeps()] == [result.sweep_id]


@pytest.mark.parametrize("command", [["sweep"], ["sweeps"], ["sweeps", "show"]])
def test_help_has_examples(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and "seqcast sweep" in result.output


# --------------------------------------------------------------------------- covariates


def test_covariate_and_features_options_collect_into_one_value(tmp_path):
    grid = sw.parse_grid_args(["--covariate", "eurusd:csv", "--covariate", "eurpln", "--features", "ohlc,volume",
                               "--model", "lstm,gru"])
    assert grid == {"covariates": [("eurusd:csv", "eurpln")], "features": [("ohlc", "volume")],
                    "model": ["lstm", "gru"]}
    path = tmp_path / "sweep.toml"
    path.write_text('covariate = ["eurusd:csv", "eurpln"]\nfeatures = "ohlc,volume"\n')
    assert sw.read_config_file(path)["grid"] == {k: v for k, v in grid.items() if k != "model"}


def test_a_sweep_cell_with_a_covariate_equals_train_with_it(tmp_path, workspace):
    """`sweep --covariate X --features ohlc` trains on the covariate and the bars, as `train` does."""
    rng = np.random.default_rng(4)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, N)))
    open_ = close * np.exp(rng.normal(0, 0.003, N))
    bars = pd.DataFrame({"Open": open_, "High": np.maximum(open_, close) * 1.004,
                         "Low": np.minimum(open_, close) * 0.996, "Close": close}, index=business_days(N))
    bars.rename_axis("Date").to_csv(tmp_path / "bars.csv")
    api.fetch("bars", csv=tmp_path / "bars.csv")
    lead = pd.DataFrame({"Close": close[1:] * np.exp(rng.normal(0, 0.001, N - 1))}, index=business_days(N)[:-1])
    api.fetch("lead", csv=write_csv(tmp_path / "lead.csv", lead))

    result = runner.invoke(app, ["sweep", "--symbol", "bars", "--covariate", "lead:csv", "--features", "ohlc",
                                 "--model", "lstm,gru", "--workers", "2", *TINY, "--json"])
    assert result.exit_code == 0, result.output
    payload = strict_json(result.output)
    assert [c["status"] for c in payload["cells"]] == ["done", "done"]
    assert payload["configs"][0]["label"] == "model=lstm"
    cell = next(c for c in payload["cells"] if payload["configs"][c["config"]]["options"]["model"] == "gru")
    swept = api.load_run(cell["run_id"])
    assert swept.config.data.covariates == ["lead:csv"] and swept.config.data.features == ["ohlc"]
    assert [r["symbol"] for r in swept.meta["inputs"]] == ["bars", "lead", "lead", "bars", "bars"]

    trained = api.train(symbol="bars", covariates=["lead:csv"], features=["ohlc"], model="gru", seed=0,
                        **TINY_KW).run
    assert trained.metrics == swept.metrics
    assert (trained.path / "weights.npz").read_bytes() == (swept.path / "weights.npz").read_bytes()
    assert trained.meta["inputs"] == swept.meta["inputs"]
    assert swept.config.to_dict() == trained.config.to_dict()


def allocator_tuned() -> bool:
    from seqcast.models import perf

    return perf._done


def test_local_workers_tune_the_allocator_once_at_start():
    from seqcast.models import perf

    with LocalExecutor(1) as pool:
        outcomes = list(pool.run([Task(0, allocator_tuned)]))
    assert outcomes[0].ok and outcomes[0].value is (perf.glibc_version() is not None)
