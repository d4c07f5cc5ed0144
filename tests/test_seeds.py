"""Multi-seed training: one saved run per seed, mean ± sd of the test metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app
from seqcast.errors import ConfigError
from tests.conftest import business_days, write_csv

runner = CliRunner()
TINY = ["--epochs", "2", "--hidden", "8", "--lookback", "10", "--patience", "0", "--device", "cpu"]
TINY_KW = {"epochs": 2, "hidden": 8, "lookback": 10, "patience": 0, "device": "cpu"}


@pytest.fixture
def fetched(tmp_path):
    n = 200
    frame = pd.DataFrame({"Close": 10 + np.sin(np.arange(n) / 5)}, index=business_days(n))
    result = runner.invoke(app, ["fetch", "sine", "--csv", write_csv(tmp_path / "sine.csv", frame)])
    assert result.exit_code == 0, result.output


def test_train_seeds_saves_one_run_per_seed_and_summarises(fetched):
    started = []
    # No shrinkage: a tiny net is often shrunk all the way to naive, hiding the seeds' spread.
    result = api.train_seeds(seeds=3, seed=5, shrink=False, on_seed_start=lambda i, s: started.append((i, s)),
                             **TINY_KW)
    assert started == [(0, 5), (1, 6), (2, 7)]
    assert [r.config.train.seed for r in result.runs] == [5, 6, 7]
    assert sorted(r.run_id for r in api.list_runs()) == sorted(r.run_id for r in result.runs)
    assert set(result.summary) == set(api.SEED_METRICS)
    for name, stats in result.summary.items():
        values = [r.metrics["test"][name] for r in result.runs]
        assert stats["mean"] == pytest.approx(np.mean(values))
        assert stats["sd"] == pytest.approx(np.std(values, ddof=1))
    assert result.summary["naive_rmse"]["sd"] == pytest.approx(0.0)  # same test days for every seed
    assert result.summary["rmse"]["sd"] > 0  # different seeds, different networks


def test_one_seed_has_zero_sd_and_equals_train(fetched):
    # No shrinkage: a tiny net is shrunk all the way to naive here, and every seed would "equal" any other.
    result = api.train_seeds(seeds=1, seed=4, shrink=False, **TINY_KW)
    assert all(s["sd"] == 0.0 for s in result.summary.values())
    single = api.train(seed=4, shrink=False, **TINY_KW).run
    assert result.summary["rmse"]["mean"] == pytest.approx(single.metrics["test"]["rmse"], rel=1e-12)
    assert single.metrics["test"]["rmse"] != pytest.approx(single.metrics["test"]["naive_rmse"], rel=1e-3)
    other = api.train(seed=5, shrink=False, **TINY_KW).run  # the comparison can fail: seeds matter
    assert result.summary["rmse"]["mean"] != pytest.approx(other.metrics["test"]["rmse"], rel=1e-6)


@pytest.mark.parametrize("seeds", [0, 101, True, 2.5])
def test_bad_seed_counts(seeds):
    with pytest.raises(ConfigError, match="--seeds must be"):
        api.train_seeds(seeds=seeds)


def test_cli_train_seeds_prints_mean_and_sd(fetched):
    result = runner.invoke(app, ["train", *TINY, "--seeds", "2"])
    assert result.exit_code == 0, result.output
    assert "mean ± sd" in result.output
    for label in ("RMSE", "MAE", "direction %", "RMSE / naive", "naive RMSE"):
        assert label in result.output
    assert result.output.count("±") >= 5
    runs = api.list_runs()
    assert len(runs) == 2
    assert all(r.run_id in result.output for r in runs)


def test_cli_train_seeds_json(fetched):
    result = runner.invoke(app, ["train", *TINY, "--seeds", "2", "--seed", "3", "--no-shrink", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert set(payload) == {"runs", "summary"}
    assert [r["seed"] for r in payload["runs"]] == [3, 4]
    assert payload["summary"]["rmse_ratio"].keys() == {"mean", "sd"}
    assert payload["runs"][0]["test"]["naive_rmse"] == pytest.approx(payload["summary"]["naive_rmse"]["mean"])
    # Two seeds, two networks: the summary is their mean and sample sd.
    rmses = [r["test"]["rmse"] for r in payload["runs"]]
    assert rmses[0] != rmses[1]
    assert payload["summary"]["rmse"]["mean"] == pytest.approx(np.mean(rmses))
    assert payload["summary"]["rmse"]["sd"] == pytest.approx(np.std(rmses, ddof=1)) and np.std(rmses) > 0


def test_cli_seeds_errors_and_help(fetched):
    result = runner.invoke(app, ["train", *TINY, "--seeds", "0"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("error:") and "--seeds must be" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["train", *TINY, "--seeds", "2", "--lookback", "500"])
    assert result.exit_code == 1 and "too few" in result.output
    assert api.list_runs() == []
    help_text = runner.invoke(app, ["train", "--help"]).output
    assert "--seeds" in help_text and "seqcast train --seeds" in help_text


# --------------------------------------------------------------------------- seeds at once


def test_parallel_seeds_equal_train_with_each_seed(fetched):
    ended = []
    result = api.train_seeds(seeds=3, seed=2, shrink=False, workers=2, on_seed_end=lambda i, s: ended.append((i, s)),
                             **TINY_KW)
    assert sorted(ended) == [(0, 2), (1, 3), (2, 4)]
    runs = result.runs
    assert [r.config.train.seed for r in runs] == [2, 3, 4]
    assert [r.run_id for r in api.list_runs()] == [r.run_id for r in runs]  # saved in seed order
    assert len({r.meta["training"]["threads"] for r in runs}) == 1 and runs[0].meta["training"]["threads"] == 1
    # One after another in this process: every seed's run equals its parallel twin; and the first
    # equals a plain api.train with that seed (one is enough: the others are the same code path).
    sequential = api.train_seeds(seeds=3, seed=2, shrink=False, workers=1, **TINY_KW)
    alone = api.train(seed=2, shrink=False, **TINY_KW).run
    for run, twin in zip(runs, [alone, *sequential.runs[1:]], strict=True):
        assert twin.config.train.seed == run.config.train.seed
        assert twin.metrics["test"]["rmse"] == run.metrics["test"]["rmse"]
        assert twin.metrics == run.metrics
        assert (twin.path / "weights.npz").read_bytes() == (run.path / "weights.npz").read_bytes()
        assert twin.config.to_dict() == run.config.to_dict()
    assert sequential.runs[0].metrics == alone.metrics
    assert sequential.summary == result.summary


def test_how_many_seeds_train_at_once(monkeypatch):
    from seqcast.config import RunConfig, TrainConfig
    from seqcast.runs import seeds as sd

    cpu = RunConfig(train=TrainConfig(device="cpu"))
    monkeypatch.setattr("seqcast.models.threads.usable_cpus", lambda: 2)
    assert sd.seed_workers(cpu, 4) == 2 and sd.seed_workers(cpu, 1) == 1
    assert sd.seed_workers(cpu, 4, workers=1) == 1 and sd.seed_workers(cpu, 4, workers=3) == 3
    assert sd.seed_workers(cpu, 2, workers=8) == 2  # never more workers than seeds
    assert sd.seed_workers(RunConfig(train=TrainConfig(device="cpu", threads=2)), 4) == 1  # threads fill cores
    monkeypatch.setattr("seqcast.models.threads.usable_cpus", lambda: 1)
    assert sd.seed_workers(cpu, 4) == 1
    with pytest.raises(ConfigError, match="--workers must be"):
        sd.seed_workers(cpu, 4, workers=0)


def failing_fit_seed(series):
    """Seed 1 diverges; the others train."""
    from seqcast.errors import TrainingDivergedError
    from seqcast.runs import seeds as sd

    if series.cfg.train.seed == 1:
        raise TrainingDivergedError("training diverged at epoch 1")
    return sd.fit_seed(series)


def test_an_error_at_a_later_parallel_seed_names_the_runs_saved_before_it(fetched, monkeypatch):
    from seqcast.errors import TrainingDivergedError
    from seqcast.runs import seeds as sd

    monkeypatch.setattr(sd, "fit_seed", failing_fit_seed)
    with pytest.raises(TrainingDivergedError) as caught:
        api.train_seeds(seeds=3, workers=2, **TINY_KW)  # seed 1 fails while 0 trains; 2 is dropped
    saved = api.list_runs()
    assert [r.config.train.seed for r in saved] == [0]  # seeds after the failing one are dropped
    assert str(caught.value) == ("training diverged at epoch 1 (seed 1); the runs of the seeds before it were "
                                 f"saved: {saved[0].run_id}")
    result = runner.invoke(app, ["train", *TINY, "--seeds", "2", "--seed", "1", "--workers", "2"])
    assert result.exit_code == 1 and result.output.strip() == "error: training diverged at epoch 1"
    assert len(api.list_runs()) == 1


def test_cli_parallel_seeds_show_one_bar_and_print_the_summary(fetched):
    result = runner.invoke(app, ["train", *TINY, "--seeds", "2", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "mean ± sd" in result.output and len(api.list_runs()) == 2
    result = runner.invoke(app, ["train", *TINY, "--workers", "2"])
    assert result.exit_code == 1 and "--workers trains several seeds at once; add --seeds N" in result.output
    help_text = runner.invoke(app, ["train", "--help"]).output
    assert "--workers" in help_text


def test_sigint_stops_parallel_seeds_and_their_workers_at_once(workspace):
    import re
    import signal
    import subprocess
    import time

    from tests.test_training_limits import running, start, wait_for

    api.fetch("eurpln", source="sample", start="2015-01-01", home=workspace)
    proc = start(["train", "--seeds", "3", "--workers", "2", "--epochs", "300", "--hidden", "32", "--patience", "0",
                  "--threads", "1"], workspace)
    try:
        wait_for(proc, rb"seeds.*\(2 at once\).*0/3", timeout=60)
        children: list[int] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(children) < 2:
            found = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout
            children = [int(pid) for pid in found.split()]
            time.sleep(0.1)
        assert len(children) >= 2, children
        time.sleep(3.0)  # the workers have imported torch and are training
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", err).decode()
    assert proc.returncode == 130, text[-2000:]
    assert took < 2.5, f"returned {took:.1f} s after Ctrl-C"
    assert "interrupted; nothing was changed" in text and "Traceback" not in text
    time.sleep(0.5)
    alive = {pid: running(pid) for pid in children}
    assert not [pid for pid, what in alive.items() if what], alive
    assert api.list_runs() == []


def test_ctrl_c_with_parallel_seeds_saves_the_finished_ones_and_names_the_rest(fetched):
    from seqcast.errors import TrainingInterrupted

    def interrupt(index: int, seed: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C as the first seed finishes

    with pytest.raises(TrainingInterrupted) as caught:
        api.train_seeds(seeds=3, workers=2, on_seed_end=interrupt, **TINY_KW)
    saved = caught.value.saved
    assert [r.run_id for r in api.list_runs()] == [r.run_id for r in saved] and len(saved) == 1
    lost = sorted({0, 1, 2} - {saved[0].config.train.seed})
    assert caught.value.note == f"seeds {lost[0]}, {lost[1]} did not finish and were not saved"


def test_by_default_seeds_train_at_once_only_when_a_seed_outweighs_starting_a_worker(fetched, monkeypatch):
    from seqcast.api import SeriesInput, make_config
    from seqcast.runs import seeds as sd

    def series(**options):
        return SeriesInput(make_config(**options), np.ones(3029), pd.DatetimeIndex([]))

    # The default job stops early (~0.3 s a seed here); the classic LSTM(50)x2 job runs 25 epochs.
    assert sd.seed_flop(series()) < sd.MIN_PARALLEL_SEED_FLOP
    classic = series(layers=2, hidden=50, batch_size=32, epochs=25, patience=0, val_fraction=0.0)
    assert sd.seed_flop(classic) > 3 * sd.MIN_PARALLEL_SEED_FLOP
    monkeypatch.setattr("seqcast.models.threads.usable_cpus", lambda: 2)
    plans = []
    api.train_seeds(seeds=2, on_start=plans.append, **TINY_KW)  # a tiny job: one after another
    monkeypatch.setattr(sd, "MIN_PARALLEL_SEED_FLOP", sd.seed_flop(series(**TINY_KW)) / 1000)
    api.train_seeds(seeds=2, on_start=plans.append, **TINY_KW)
    assert plans == [1, 2]
