"""Sweeps at scale: honest counting (Holm), --keep-runs and the results table, a resume after
`kill -9` of the driver, the Ray --address check, the grid streamed in linear time, the one fan-out."""

from __future__ import annotations

import collections
import http.server
import json
import os
import signal
import socket
import sqlite3
import subprocess
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
from seqcast.forecast import stats
from seqcast.runs import sweep as sw
from seqcast.runs.parallel.executors import LocalExecutor, Task, check_ray_address
from seqcast.runs.parallel.fanout import fan_out, in_order, sigterm_as_interrupt
from seqcast.runs.results import results_path
from tests.conftest import business_days, write_csv

runner = CliRunner()
TINY = ["--epochs", "1", "--hidden", "8", "--lookback", "10", "--patience", "0", "--device", "cpu", "--no-shrink",
        "--threads", "1"]
N = 200


@pytest.fixture
def fetched(tmp_path):
    rng = np.random.default_rng(1)
    values = 10 + np.sin(np.arange(N) / 5) + rng.normal(0, 0.05, N)
    api.fetch("sine", csv=write_csv(tmp_path / "sine.csv", pd.DataFrame({"Close": values}, index=business_days(N))))


# --------------------------------------------------------------------------- honest counting


def test_holm_matches_the_step_down_rule():
    # m = 4: thresholds 0.0125, 0.0167, 0.025, 0.05; 0.03 > 0.025 stops the procedure there.
    assert stats.holm([0.01, 0.015, 0.03, 0.04]).tolist() == [True, True, False, False]
    assert stats.holm([0.04, 0.001, np.nan]).tolist() == [True, True, False]  # m = 2: 0.001 <= .025, 0.04 <= .05
    assert stats.holm([0.2, 0.01]).tolist() == [False, True]
    assert not stats.holm([]).any()


def test_500_random_walks_none_better_after_holm():
    """500 'models' that are naive plus noise on random walks: every DM p-value is chance."""
    rng = np.random.default_rng(7)
    pvalues, ratios = [], []
    for _ in range(500):
        walk = np.cumsum(rng.normal(0, 1, 251))
        actual, previous = walk[1:], walk[:-1]
        model = previous + rng.normal(0, 0.05, 250)  # no skill: the naive forecast, jittered
        _, p = stats.diebold_mariano(model - actual, previous - actual)
        pvalues.append(p)
        ratios.append(float(np.sqrt(np.mean((model - actual) ** 2) / np.mean((previous - actual) ** 2))))
    counted = stats.multiple_testing(pvalues, ratios)
    raw = counted["raw_better"] + counted["raw_worse"]
    assert counted["method"] == "holm" and counted["tests"] == 500
    assert counted["better"] == 0  # no cell better than naive after the correction
    assert counted["expected_by_chance"] == 25.0
    assert 5 <= raw <= 50  # chance alone at p < 0.05 (about 25)
    sentence = stats.multiple_testing_sentence(counted)
    assert sentence.startswith(f"{raw} of 500 cells differ from naive at p < 0.05, about 25 expected by chance;")
    assert sentence.endswith("after Holm's correction")
    # A real difference survives the correction.
    strong = stats.multiple_testing([1e-9, *pvalues[1:]], [0.5, *ratios[1:]])
    assert strong["better"] == 1


def test_the_leaderboard_counts_after_holm():
    """30 cells at p = 0.01 out of 500: each passes 0.05 alone, none passes Holm (0.05 / 500 = 1e-4)."""
    cells = [{"cell": i, "config": i % 2, "status": "done", "seconds": 0.1,
              "test": {"rmse_ratio": 0.99, "dm_pvalue": 0.01 if i < 30 else 0.5}} for i in range(500)]
    record = {"spec": {"backtest": 0}, "configs": [{"label": "a", "options": {}}, {"label": "b", "options": {}}],
              "cells": cells}
    sweep = sw.Sweep("x", Path("x.json"), record)
    board = sw.leaderboard(sweep)
    assert sum(r["better_raw"] for r in board) == 30 and sum(r["better_than_naive"] for r in board) == 0
    from seqcast.runs.results import counting

    assert counting(sweep) == {"method": "holm", "alpha": 0.05, "tests": 500, "better": 0, "worse": 0,
                               "raw_better": 30, "raw_worse": 0, "expected_by_chance": 25.0}


# --------------------------------------------------------------------------- records at scale


def _rows(sweep):
    with sqlite3.connect(results_path(sweep.path)) as db:
        return db.execute("SELECT cell, seed, status, run_id, test, seconds FROM cells ORDER BY cell").fetchall()


def test_keep_runs_best_n_keeps_n_folders_and_every_cell_in_the_table(fetched, workspace):
    spec = sw.SweepSpec(sw.parse_grid_args(TINY), ["sine"], seeds=5)
    result = sw.run_sweep(spec, workers=1, keep_runs="best:2")
    rows = _rows(result)
    assert len(rows) == 5 and all(status == "done" for _, _, status, _, _, _ in rows)
    assert [seed for _, seed, *_ in rows] == [0, 1, 2, 3, 4]
    assert all(json.loads(test)["rmse_ratio"] > 0 and seconds > 0 for *_, test, seconds in rows)
    runs = api.list_runs()
    assert len(runs) == 2
    kept = {run_id for *_, run_id, _, _ in rows if run_id}
    assert kept == {r.run_id for r in runs}
    ratios = sorted((json.loads(test)["rmse_ratio"], run_id) for *_, run_id, test, _ in rows)
    assert {run_id for _, run_id in ratios[:2]} == kept  # the two lowest RMSE / naive
    assert result.data["multiple_testing"]["tests"] == 5
    none = sw.run_sweep(spec, workers=1, keep_runs="none")
    assert len(api.list_runs()) == 2 and len(_rows(none)) == 5
    assert none.counts()["done"] == 5 and all(c["run_id"] is None for c in none.cells)
    with pytest.raises(ConfigError, match="--keep-runs takes"):
        sw.parse_keep_runs("best:0")


def test_a_resume_adopts_a_saved_run_and_a_saved_row(fetched, workspace):
    """As after `kill -9` within the record's one-second window: the record says pending, the row or
    the run says done; the resume trains neither again."""
    spec = sw.SweepSpec(sw.parse_grid_args(TINY), ["sine"], seeds=3)
    result = sw.run_sweep(spec, workers=1)
    ids = [c["run_id"] for c in result.cells]
    record = json.loads(result.path.read_text())
    for cell in record["cells"]:
        cell.update(status="pending", run_id=None)
    record["status"] = "running"
    result.path.write_text(json.dumps(record))
    with sqlite3.connect(results_path(result.path)) as db:
        db.execute("DELETE FROM cells WHERE cell = 2")  # its run is saved, its row is not
    resumed = sw.run_sweep(resume=result.sweep_id, workers=1)
    assert [c["run_id"] for c in resumed.cells] == ids
    assert resumed.status == "finished" and len(api.list_runs()) == 3


KILL_SCRIPT = r"""
import os, signal, subprocess, sys, time
home, out = sys.argv[1], sys.argv[2]
cmd = [sys.executable, "-m", "seqcast", "sweep", "--home", home, "--symbol", "sine", "--seeds", "6", "--workers", "1",
       *sys.argv[3:]]
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
for line in p.stdout:
    if "seed 1:" in line:
        time.sleep(0.2); os.kill(p.pid, signal.SIGKILL); break
p.wait(); time.sleep(1.5)  # the orphaned worker finishes its cell, finds no driver and exits
open(out, "w").write(p.stdout.read())
"""


def test_resume_after_kill_9_of_the_driver_has_one_run_per_cell(fetched, workspace, tmp_path):
    home = str(workspace)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(sw.__file__).parents[2]), *sys.path])}
    script, log = tmp_path / "kill.py", tmp_path / "kill.log"
    script.write_text(KILL_SCRIPT)
    subprocess.run([sys.executable, str(script), home, str(log), *TINY], env=env, check=True, timeout=120)
    [sweep_id] = [s.sweep_id for s in sw.list_sweeps(home)]
    done = subprocess.run([sys.executable, "-m", "seqcast", "sweep", "--resume", sweep_id, "--workers", "1",
                           "--home", home], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    per_cell = collections.Counter(r.meta["sweep"]["cell"] for r in api.list_runs(home=home))
    assert sorted(per_cell) == list(range(6)) and set(per_cell.values()) == {1}
    assert sw.load_sweep(sweep_id, home).status == "finished"
    assert "Traceback" not in log.read_text() + done.stderr


def test_sigterm_is_ctrl_c_in_a_fan_out():
    pool = LocalExecutor(1)
    timer = threading.Timer(2.5, os.kill, (os.getpid(), signal.SIGTERM))
    before = signal.getsignal(signal.SIGTERM)
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        for _ in fan_out(pool, [Task(0, time.sleep, (60,))]):
            pass
    timer.cancel()
    assert time.monotonic() - started < 2.5 + 2.0
    assert pool._pool == [] and signal.getsignal(signal.SIGTERM) is before
    with sigterm_as_interrupt():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


def test_in_order_releases_outcomes_in_task_order():
    from seqcast.runs.parallel.executors import Outcome

    got = [o.key for o in in_order([Outcome(k) for k in (2, 0, 3, 1)], range(4))]
    assert got == [0, 1, 2, 3]


# --------------------------------------------------------------------------- grids and Ray addresses


def test_the_first_cell_of_a_100000_cell_grid_comes_at_once():
    started = time.monotonic()
    spec = sw.SweepSpec({"lookback": list(range(10, 1010)), "hidden": list(range(8, 108))})
    first = next(spec.iter_cells())
    assert time.monotonic() - started < 1.0
    assert spec.n_cells == 100_000 and first == (0, 0, None, 0, None)
    assert spec.config_at(99_999) == {"lookback": 1009, "hidden": 107}
    assert [spec.config_at(i) for i in (0, 1, 100)] == [next(iter(spec.iter_configs())),
                                                        {"lookback": 10, "hidden": 9}, {"lookback": 11, "hidden": 8}]
    small = sw.SweepSpec({"model": ["lstm", "gru"], "lookback": [5, 6]}, ["a", "b"], seeds=2, backtest=2)
    assert len(list(small.iter_cells())) == small.n_cells == 32
    # A combination that only a pair of options rules out is still refused on a grid too big to build whole.
    with pytest.raises(ConfigError, match="divisible by --heads"):
        sw.SweepSpec({"model": ["transformer"], "hidden": [6], "heads": [4], "lookback": list(range(10, 6010))})


def test_local_tasks_are_pulled_as_workers_free_up():
    pulled = []

    def tasks():
        for i in range(1_000_000):
            pulled.append(i)
            yield Task(i, int, (i,))

    pool = LocalExecutor(1)
    try:
        for outcome in pool.run(tasks()):
            assert outcome.value == 0
            break
    finally:
        pool.close()
    assert len(pulled) <= 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_a_ray_address_that_is_not_ray_is_one_line_within_the_bound(fetched):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for address, message in ((f"127.0.0.1:{_closed_port()}", "nothing answers as a Ray head"),
                                 (f"127.0.0.1:{server.server_address[1]}", "answers, but not as a Ray head"),
                                 ("nonsense", "--address must be HOST:PORT"),
                                 ("127.0.0.1:99999", "the port must be between 1 and 65535")):
            started = time.monotonic()
            with pytest.raises(ConfigError, match=message):
                check_ray_address(address)
            result = runner.invoke(app, ["sweep", *TINY, "--backend", "ray", "--address", address])
            assert time.monotonic() - started < 15
            assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
            assert message in result.output and "Traceback" not in result.output
    finally:
        server.shutdown()


# --------------------------------------------------------------------------- symbols


def test_symbol_file_and_empty_symbols(fetched, tmp_path):
    listed = tmp_path / "symbols.txt"
    listed.write_text("sine\n# a comment\n\neurpln:sample  # the bundled sample\n")
    assert sw.read_symbol_file(listed) == ["sine", "eurpln:sample"]
    assert sw.symbol_options("eurpln:sample") == {"symbol": "eurpln", "source": "sample"}
    listed.write_text("sine\nsine\n")
    with pytest.raises(ConfigError, match="line 2: sine is already on line 1"):
        sw.read_symbol_file(listed)
    toml = tmp_path / "sweep.toml"
    toml.write_text("symbol = []\n")
    with pytest.raises(ConfigError, match=r"symbol = \[\] names no symbol"):
        sw.read_config_file(toml)
    listed.write_text("sine\n")
    toml.write_text('symbol-file = "symbols.txt"\n')
    assert sw.read_config_file(toml)["symbols"] == ["sine"]
    result = runner.invoke(app, ["sweep", "--symbol", "", *TINY])
    assert result.exit_code == 1 and "--symbol has an empty value" in result.output


@pytest.mark.parametrize("key", ["seed", "symbol"])
def test_seed_and_symbol_in_a_python_grid_are_one_clear_error(key):
    """api.sweep({"seed": [1, 2]}) was a TypeError deep in the driver; the grid refuses it up front."""
    from seqcast.errors import ConfigError
    from seqcast.runs.grid import SweepSpec

    with pytest.raises(ConfigError, match=f"{key} is not a grid option"):
        SweepSpec(grid={key: [1, 2], "epochs": [1]})
