"""Training that cannot succeed stops with one line: divergence, option limits, memory, Ctrl-C.

No run is saved for a training that diverged; option ranges are checked before any work;
the first Ctrl-C of `train --seeds` ends the command and names the runs saved; a Ctrl-C
during `backtest` stops its worker processes at once.
"""

from __future__ import annotations

import inspect
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app
from seqcast.config import MAX_SEED, MAX_TRANSFORMER_LOOKBACK, DataConfig, ModelConfig, RunConfig, TrainConfig
from seqcast.errors import ConfigError, TrainingDivergedError, TrainingInterrupted
from seqcast.models.networks import TransformerRegressor
from tests.conftest import business_days, write_csv

runner = CliRunner()
TINY = ["--epochs", "3", "--hidden", "8", "--lookback", "10", "--patience", "0", "--threads", "1"]
DIVERGE = ["--lr", "1", "--clip", "0"]


def one_line_error(result, exit_code: int = 1) -> str:
    assert result.exit_code == exit_code, result.output
    message = result.output.strip()
    assert "Traceback" not in message and len(message.splitlines()) == 1, message
    return message


@pytest.fixture
def stock(workspace, tmp_path) -> None:
    """A stock-like random walk around 145 (the shape of the reported diverging series)."""
    rng = np.random.default_rng(17)
    n = 300
    closes = 145 * np.exp(np.cumsum(rng.normal(0, 0.012, n)))
    frame = pd.DataFrame({"Close": closes}, index=business_days(n, "2023-01-02"))
    api.fetch("stock", csv=write_csv(tmp_path / "stock.csv", frame), home=workspace)


def run_folders(home) -> list[str]:
    root = home / "runs"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


# --- divergence ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "loss"),
    [
        pytest.param(["--model", "rnn", "--lr", "1e30", "--clip", "0"], "not a number", id="nan-loss"),
        pytest.param(["--model", "rnn", *DIVERGE], r"\d", id="case-17"),
        pytest.param(["--model", "lstm", "--lr", "1e10", "--clip", "0"], r"\d", id="exploding-loss"),
    ],
)
def test_a_diverging_training_stops_and_saves_nothing(stock, workspace, args, loss) -> None:
    result = runner.invoke(app, ["train", *TINY, *args])
    message = one_line_error(result)
    assert re.match(rf"error: training diverged at epoch 1 \(train loss {loss}", message), message
    assert message.endswith("nothing was saved; lower --lr or keep --clip on"), message
    assert "--clip 0 (off)" in message
    assert run_folders(workspace) == []


def test_divergence_is_a_seqcast_error_in_the_api_and_in_backtest(stock, workspace) -> None:
    with pytest.raises(TrainingDivergedError, match="diverged at epoch 1"):
        api.train(model="rnn", lr=1.0, clip=0.0, epochs=3, hidden=8, lookback=10, patience=0)
    result = runner.invoke(app, ["backtest", "--folds", "2", "--workers", "1", *TINY, "--model", "rnn", *DIVERGE])
    assert one_line_error(result).startswith("error: training diverged at epoch 1")
    assert not (workspace / "backtests").exists() or list((workspace / "backtests").iterdir()) == []


def test_sensible_settings_never_count_as_divergence(stock, workspace) -> None:
    # A high but workable rate with clipping on: it trains (and is compared with naive).
    result = runner.invoke(app, ["train", *TINY, "--lr", "0.05", "--json"])
    assert result.exit_code == 0, result.output


# --- option ranges, checked before any work ----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", str(2**64)], f"error: --seed must be at most {MAX_SEED}, got 18446744073709551616"),
        (["--seed", str(10**40)], f"error: --seed must be at most {MAX_SEED}, got a number of 41 digits"),
        (["--seed", str(MAX_SEED - 1), "--seeds", "3"],
         f"error: --seed {MAX_SEED - 1} with --seeds 3 goes past the largest seed, {MAX_SEED}; "
         "choose a smaller --seed"),
        (["--threads", "32768"], "error: --threads must be at most 1024, got 32768"),
        (["--hidden", "60000"], "error: --hidden must be at most 4096, got 60000"),
        (["--layers", "100"], "error: --layers must be at most 16, got 100"),
        (["--epochs", "10000000"], "error: --epochs must be at most 100000, got 10000000"),
        (["--batch-size", "10000000"], "error: --batch-size must be at most 65536, got 10000000"),
        (["--lookback", "20000"], "error: --lookback must be at most 10000, got 20000"),
        (["--model", "transformer", "--lookback", "5000"],
         "error: --lookback must be at most 4096 for --model transformer (its position table), got 5000"),
    ],
)
def test_option_ranges_are_checked_before_any_work(workspace, monkeypatch, args, message) -> None:
    def no_work(*_args, **_kwargs):
        raise AssertionError("started working with an option out of range")

    monkeypatch.setattr("seqcast.inputs.loading.load_stored", no_work)
    for command in (["train"], ["backtest"]):
        if "--seeds" in args and command == ["backtest"]:
            continue
        result = runner.invoke(app, [*command, *TINY, *args])
        assert one_line_error(result) == message
    assert run_folders(workspace) == []


def test_the_largest_seed_trains(stock, workspace) -> None:
    result = runner.invoke(app, ["train", *TINY, "--seed", str(MAX_SEED), "--json"])
    assert result.exit_code == 0, result.output


def test_transformer_limit_is_its_position_table() -> None:
    default = inspect.signature(TransformerRegressor.__init__).parameters["max_len"].default
    assert default == MAX_TRANSFORMER_LOOKBACK
    RunConfig(DataConfig(lookback=MAX_TRANSFORMER_LOOKBACK), ModelConfig(kind="transformer"))
    RunConfig(DataConfig(lookback=5000), ModelConfig(kind="lstm"))  # recurrent nets have no table
    with pytest.raises(ConfigError):
        TrainConfig(threads=0)


@pytest.mark.parametrize(
    ("error", "size"),
    [
        pytest.param(MemoryError(), "", id="MemoryError"),
        pytest.param(RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate "
                                  "memory: you tried to allocate 57600000000 bytes. Error code 12"),
                     " (one allocation of 57.6 GB)", id="torch-cpu"),
        pytest.param(RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB"), "", id="torch-cuda"),
    ],
)
def test_running_out_of_memory_names_the_options_to_lower(stock, workspace, monkeypatch, error, size) -> None:
    import seqcast.forecast.evaluation

    def out_of_memory(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(seqcast.forecast.evaluation, "fit_evaluate", out_of_memory)
    result = runner.invoke(app, ["train", *TINY])
    assert one_line_error(result) == (
        f"error: not enough memory to train this network{size}; lower --hidden (now 8), --layers (1), "
        "--batch-size (64) or --lookback (10)"
    )
    assert run_folders(workspace) == []


def test_other_runtime_errors_stay_bugs(stock, monkeypatch) -> None:
    import seqcast.forecast.evaluation

    def bug(*_args, **_kwargs):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(seqcast.forecast.evaluation, "fit_evaluate", bug)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        api.train(epochs=1, hidden=8, lookback=10)


# --- Ctrl-C with --seeds -----------------------------------------------------------------------


def test_ctrl_c_during_a_seed_ends_the_command_and_names_the_saved_runs(stock, workspace, monkeypatch) -> None:
    import seqcast.models.training

    calls = {"n": 0}
    original = seqcast.models.training.evaluate_loss

    def interrupt_third_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # seed 1's first epoch (3 epochs per seed)
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(seqcast.models.training, "evaluate_loss", interrupt_third_epoch)
    result = runner.invoke(app, ["train", *TINY, "--seeds", "4"])
    message = one_line_error(result, 130)
    saved = run_folders(workspace)
    assert len(saved) == 2 and calls["n"] == 4  # seeds 2 and 3 never started
    assert message == (f"interrupted; stopped after saving 2 runs: {saved[0]} {saved[1]}; seed 1 was "
                       "stopped early and saved with its best weights; no mean ± sd was computed")


def test_ctrl_c_between_seeds_says_which_runs_were_saved(stock, workspace, monkeypatch) -> None:
    calls = {"n": 0}
    import seqcast.inputs.loading

    original = seqcast.inputs.loading.load_stored

    def interrupt_second_load(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(seqcast.inputs.loading, "load_stored", interrupt_second_load)
    result = runner.invoke(app, ["train", *TINY, "--seeds", "3", "--json"])
    message = one_line_error(result, 130)
    saved = run_folders(workspace)
    assert len(saved) == 1
    assert message == f"interrupted; stopped after saving 1 run: {saved[0]}; no mean ± sd was computed"
    assert "nothing was changed" not in message

    with pytest.raises(TrainingInterrupted) as caught:  # the API says the same, as a KeyboardInterrupt
        calls["n"] = 0
        api.train_seeds(seeds=3, epochs=1, hidden=8, lookback=10)
    assert isinstance(caught.value, KeyboardInterrupt) and len(caught.value.saved) == 1


def test_an_error_at_a_later_seed_names_the_runs_already_saved(stock, workspace, monkeypatch) -> None:
    import seqcast.models.training

    calls = {"n": 0}
    original = seqcast.models.training.evaluate_loss

    def diverge_at_seed_1(*args, **kwargs):
        calls["n"] += 1
        return float("nan") if calls["n"] == 4 else original(*args, **kwargs)

    monkeypatch.setattr(seqcast.models.training, "evaluate_loss", diverge_at_seed_1)
    result = runner.invoke(app, ["train", *TINY, "--seeds", "3"])
    message = one_line_error(result)
    saved = run_folders(workspace)
    assert message.startswith("error: training diverged at epoch 1 (validation loss not a number")
    assert message.endswith(f"(seed 1); the runs of the seeds before it were saved: {saved[0]}")


# --- real Ctrl-C (SIGINT) in a separate process -------------------------------------------------


def start(args: list[str], home) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQCAST_")}
    env.update(SEQCAST_HOME=str(home), PYTHONUNBUFFERED="1", COLUMNS="120", FORCE_COLOR="1")
    return subprocess.Popen([sys.executable, "-m", "seqcast", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(proc: subprocess.Popen, pattern: bytes, timeout: float) -> bytes:
    """Read stderr until pattern appears (the progress bar); returns what was read."""
    os.set_blocking(proc.stderr.fileno(), False)
    data, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline and not re.search(pattern, data):
        chunk = proc.stderr.read()
        data += chunk or b""
        time.sleep(0.05)
    assert re.search(pattern, data), data[-500:]
    return data


def running(pid: int) -> str:
    """The command line of a live (not zombie) process, or "" when it has ended."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return ""
    return "" if state in ("Z", "X") else cmdline


def torch_loaded(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/maps") as fh:
            return "libtorch_cpu" in fh.read()
    except OSError:
        return False


@pytest.fixture
def sample_home(workspace):
    api.fetch("eurpln", source="sample", start="2015-01-01", home=workspace)
    return workspace


def test_sigint_with_seeds_stops_the_whole_command(sample_home) -> None:
    proc = start(["train", "--seeds", "3", "--epochs", "200", "--hidden", "32", "--patience", "0",
                  "--threads", "1"], sample_home)
    try:
        wait_for(proc, rb"seed 0 \(1/3\).*\b[1-9]\d*/200\b", timeout=60)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", err).decode()
    assert proc.returncode == 130, text[-2000:]
    saved = run_folders(sample_home)
    assert len(saved) == 1  # seeds 1 and 2 never trained
    assert f"stopped after saving 1 run: {saved[0]}; seed 0 was stopped early" in text
    assert "Traceback" not in text


def test_sigint_during_backtest_stops_the_workers_at_once(sample_home) -> None:
    proc = start(["backtest", "--folds", "4", "--workers", "2", "--epochs", "300", "--hidden", "32",
                  "--patience", "0"], sample_home)
    try:
        # The bar draws when the first fold ends (minutes away at 300 epochs): wait for the workers
        # instead, until both have torch loaded, i.e. are (about to start) training their folds.
        deadline = time.monotonic() + 60
        children: list[int] = []
        while time.monotonic() < deadline and len([c for c in children if torch_loaded(c)]) < 2:
            found = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout
            children = [int(pid) for pid in found.split() if "spawn_main" in running(int(pid))]
            time.sleep(0.1)
        assert len([c for c in children if torch_loaded(c)]) >= 2, children
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 130, err.decode()[-2000:]
    assert took < 2.5, f"returned {took:.1f} s after Ctrl-C"
    assert b"Traceback" not in err and b"interrupted" in err
    time.sleep(0.5)
    alive = {pid: running(pid) for pid in children}
    assert not [pid for pid, what in alive.items() if what], alive
    assert not (sample_home / "backtests").exists()
