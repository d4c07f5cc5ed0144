"""The thread policy and the promise that library calls leave the process as they found it."""

from __future__ import annotations

import pytest
import torch

from seqcast import api
from seqcast.config import ModelConfig, TrainConfig
from seqcast.models import perf, threads
from seqcast.models.networks import build_model
from seqcast.models.training import fit


def test_small_networks_train_on_one_thread_even_on_an_idle_machine():
    default_job = threads.step_flop("lstm", batch=64, lookback=60, hidden=32, layers=1)
    classic = threads.step_flop("lstm", batch=32, lookback=60, hidden=50, layers=2)
    for job in (default_job, classic):  # the course's LSTM(50)x2 too: two threads never paid for it
        assert job < threads.STEP_FLOP_FOR_THREADS
        assert threads.choose_threads(job, cpus=8, busy=0.0) == 1


def test_larger_networks_use_the_idle_cores_only():
    large = threads.step_flop("lstm", batch=64, lookback=60, hidden=256, layers=2)
    assert large > threads.STEP_FLOP_FOR_THREADS
    assert threads.choose_threads(large, cpus=2, busy=0.1) == 2
    assert threads.choose_threads(large, cpus=2, busy=2.0) == 1  # two busy loops: one thread
    assert threads.choose_threads(large, cpus=2, busy=12.0) == 1  # never zero
    assert threads.choose_threads(large, cpus=16, busy=0.0) == threads.MAX_DEFAULT_THREADS
    assert threads.choose_threads(large, cpus=1, busy=0.0) == 1


@pytest.mark.parametrize(("average", "text", "expected"),
                         [(0.2, "0.20 0.30 0.40 3/150 999\n", 2.0),   # two loops just started: the run queue
                          (3.5, "3.50 2.00 1.00 1/150 999\n", 3.5),   # the average, when it is larger
                          (0.4, "garbage\n", 0.4)])
def test_busy_cpus_sees_processes_started_a_moment_ago(monkeypatch, tmp_path, average, text, expected):
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (average, 0.0, 0.0))
    (tmp_path / "loadavg").write_text(text)
    assert threads.busy_cpus(tmp_path / "loadavg") == expected
    assert threads.busy_cpus(tmp_path / "missing") == average


def test_step_flop_counts_the_recurrent_arithmetic():
    # 3 x forward; forward per window: lookback * 2 * gates * hidden * (inputs + hidden) per layer.
    one_layer = threads.recurrent_step_flop(batch=1, lookback=1, hidden=2, layers=1, n_features=1, gates=4)
    assert one_layer == 3 * 2 * 4 * 2 * 3
    two_layers = threads.step_flop("lstm", batch=1, lookback=1, hidden=2, layers=2)
    assert two_layers == 3 * (2 * 4 * 2 * 3 + 2 * 4 * 2 * 4)
    assert threads.step_flop("gru", batch=1, lookback=1, hidden=2, layers=1) == 3 * 2 * 3 * 2 * 3


@pytest.mark.parametrize(
    ("files", "expected"),
    [({"cpu.max": "max 100000\n"}, None),
     ({"cpu.max": "150000 100000\n"}, 1.5),
     ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
     ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
     ({}, None)],
    ids=["v2-unlimited", "v2-quota", "v1-quota", "v1-unlimited", "none"],
)
def test_cgroup_quota(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert threads.cgroup_cpu_limit(tmp_path) == expected


def test_usable_cpus_obeys_the_quota_and_omp_num_threads(monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: 1.5)
    assert threads.usable_cpus() == 1
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: None)
    assert threads.usable_cpus() == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.usable_cpus() == 2


def test_fit_uses_the_policy_and_restores_the_thread_count(monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setattr(threads, "choose_threads", lambda flop, **kw: 2)
    model = build_model(ModelConfig(kind="gru", hidden=4))
    x, y = torch.randn(40, 6, 1), torch.randn(40)
    seen = []
    result = fit(model, x, y, None, None, TrainConfig(epochs=1, patience=0),
                 on_epoch_end=lambda *a: seen.append(torch.get_num_threads()))
    assert seen == [2] and result.threads == 2
    assert torch.get_num_threads() == 1
    result = fit(model, x, y, None, None, TrainConfig(epochs=1, patience=0, threads=1))
    assert result.threads == 1


def test_a_library_training_leaves_the_process_as_it_found_it(monkeypatch, sine_frame, tmp_path):
    from tests.conftest import write_csv

    def forbidden() -> bool:
        raise AssertionError("a library call tuned the process's allocator")

    monkeypatch.setattr(perf, "tune_allocator", forbidden)
    api.fetch("sine", csv=write_csv(tmp_path / "sine.csv", sine_frame))
    torch.set_num_threads(1)
    torch.manual_seed(123)
    rng_before = torch.get_rng_state()
    run = api.train(epochs=1, hidden=8, lookback=10, threads=2).run
    assert torch.get_num_threads() == 1
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert run.meta["training"]["threads"] == 2
