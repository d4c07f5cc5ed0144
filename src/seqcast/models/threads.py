"""How many CPU threads a training uses: a default that is never badly wrong.

PyTorch starts one intra-op thread per core. A small recurrent network gains little
from a second thread (each time step is a few small matrix products that must wait
for each other), and as soon as other programs compete for the cores the threads
wait on each other at every barrier: on this project's 2-core machine the classic
LSTM(50)x2 fit took 45-51 s on two threads against 4-6 s on one with other jobs
running, and two threads were no faster (or slower) even when the machine was quiet
(benchmarks/README.md).

The default therefore depends on the work and on the machine:

- one thread for networks whose training step is too small to share
  (below STEP_FLOP_FOR_THREADS floating-point operations per batch): every network
  of the sizes seqcast's options suggest, the course's classic one included;
- above it, the cores this process may really use: CPU affinity and the cgroup CPU
  quota (a container limited to 1.5 CPUs counts as 1), not os.cpu_count(); capped by
  OMP_NUM_THREADS where it is set (the user's or a scheduler's own limit);
- minus the cores other programs keep busy: the larger of the 1-minute load average
  and the processes running right now (/proc/loadavg's run queue), so two busy
  loops started a second ago count although the average has not caught up yet.

`--threads N` (TrainConfig.threads) overrides all of this.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path

STEP_FLOP_FOR_THREADS = 4e9
"""Floating-point operations per training step (forward + backward of one batch) below
which one thread is used. The default job (LSTM(32), batch 64, window 60: ~1e8 per step)
and the course's LSTM(50)x2 with batch 32 (~3.5e8) stay on one thread: for the latter two
threads measured 0.86-1.3x the one-thread time on a quiet 2-core machine and 4-10x under
load. At 4e9 (~40 ms per step on one core; LSTM(256)x2, batch 64) each time step's matrix
products are large enough (~2e7 FLOP each) for a parallel region to pay for its barrier."""

MAX_DEFAULT_THREADS = 4
"""More threads than this never paid for a network of seqcast's size."""


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (1.5 = 150 % of a core), None when unlimited."""
    # cgroup v2: "max 100000" or "150000 100000"
    candidates: list[tuple[Path, Path | None]] = [(root / "cpu.max", None)]
    candidates.append((root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us"))  # v1
    for quota_path, period_path in candidates:
        try:
            text = quota_path.read_text().split()
            if period_path is None:
                quota, period = text[0], text[1]
            else:
                quota, period = text[0], period_path.read_text().split()[0]
        except (OSError, IndexError):
            continue
        if quota in ("max", "-1"):
            return None
        try:
            cpus = int(quota) / int(period)
        except (ValueError, ZeroDivisionError):
            continue
        return cpus if cpus > 0 else None
    return None


def usable_cpus() -> int:
    """Cores this process may run on: affinity, capped by the cgroup quota and OMP_NUM_THREADS."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    if quota is not None:
        cpus = min(cpus, max(1, math.floor(quota)))
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:
        cpus = min(cpus, int(omp))  # the user's (or a job scheduler's) own cap
    return max(1, cpus)


def busy_cpus(loadavg: Path = Path("/proc/loadavg")) -> float:
    """Cores other programs keep busy: the 1-minute load average or, where larger, the
    processes running right now besides this one (Linux: /proc/loadavg's "running/total"
    field); 0 where neither is known."""
    try:
        average = os.getloadavg()[0]
    except (AttributeError, OSError):
        average = 0.0
    try:
        running = int(loadavg.read_text().split()[3].split("/")[0]) - 1  # minus this process
    except (OSError, IndexError, ValueError):
        running = 0
    return max(average, float(running))


def recurrent_step_flop(*, batch: int, lookback: int, hidden: int, layers: int, n_features: int = 1,
                        gates: int = 4) -> float:
    """FLOP of one training step of a recurrent network: 3 x forward (forward + backward).

    Forward per window, per layer and time step: 2 * gates * hidden * (inputs + hidden).
    """
    per_step = sum(2 * gates * hidden * ((n_features if k == 0 else hidden) + hidden) for k in range(layers))
    return 3.0 * batch * lookback * per_step


def step_flop(kind: str, *, batch: int, lookback: int, hidden: int, layers: int, n_features: int = 1) -> float:
    """FLOP of one training step of a seqcast network (models.build_model) of that kind."""
    if kind == "transformer":
        # Per token and layer: attention projections 8h^2, feed-forward (2h wide) 8h^2,
        # attention scores and mixing 4*lookback*h; forward + backward = 3 x forward.
        per_token = layers * (16 * hidden * hidden + 4 * lookback * hidden) + 2 * n_features * hidden
        return 3.0 * batch * lookback * per_token
    gates = {"rnn": 1, "gru": 3, "lstm": 4}.get(kind, 4)
    return recurrent_step_flop(batch=batch, lookback=lookback, hidden=hidden, layers=layers,
                               n_features=n_features, gates=gates)


def choose_threads(step_flop: float, *, cpus: int | None = None, busy: float | None = None) -> int:
    """The default thread count for a training whose steps cost step_flop each."""
    cpus = usable_cpus() if cpus is None else cpus
    busy = busy_cpus() if busy is None else busy
    if step_flop < STEP_FLOP_FOR_THREADS or cpus <= 1:
        return 1
    # Round the idle cores down: a half-busy core makes every thread wait for it.
    idle = math.floor(cpus - busy + 0.25)
    return max(1, min(idle, cpus, MAX_DEFAULT_THREADS))


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with n intra-op threads, then restore the process's previous setting."""
    import torch

    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
