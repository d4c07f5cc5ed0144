"""`train --seeds N` on several cores: independent seeds in worker processes at once.

A small recurrent network cannot use a second core well (seqcast.threads), but two seeds
can: each worker of the local executor (seqcast.executors) trains whole seeds with one
torch thread. The driver loads the data once, sends each seed its arrays, and alone
writes the workspace: it saves the runs in seed order, so the result (runs, metrics,
weights, errors) is the one training the seeds one after another gives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast.config import check_workers
from seqcast.errors import ConfigError, SeqcastError, TrainingError, TrainingInterrupted

if TYPE_CHECKING:
    from seqcast.config import RunConfig
    from seqcast.run_inputs import SeriesInput
    from seqcast.runner import RunRecord, TrainResult
    from seqcast.training import FitResult

SeedCallback = Callable[[int, int], None]
"""on_seed_end(index, seed): a seed finished training (in the order seeds finish)."""

MIN_PARALLEL_SEED_FLOP = 1e11
"""By default seeds train at once only when each is expected to cost at least this many
floating-point operations (~2 s on one core here): starting a worker process (Python,
torch) takes 1-2 s, more than a whole early-stopped default training (~0.3 s)."""


def seed_workers(cfg: RunConfig, seeds: int, workers: int | None = None) -> int:
    """How many seeds may train at once: 1 means one after another, in this process.

    By default one worker per usable core (seqcast.threads.usable_cpus: affinity, cgroup
    quota, OMP_NUM_THREADS) and at most one per seed, on the CPU only, and only when each
    training has one thread (--threads unset or 1). workers=1 forces one after another.
    With workers=None, train_seeds also checks the work is worth it (worth_parallel).
    """
    check_workers(workers)
    if seeds < 2 or workers == 1:
        return 1
    if not _on_cpu(cfg.train.device):
        if workers is not None:
            raise ConfigError(f"--workers trains seeds in parallel on the CPU; with --device {cfg.train.device} "
                              "(a GPU here) they train one after another: drop --workers or use --device cpu")
        return 1
    if workers is None:
        if (cfg.train.threads or 1) > 1:
            return 1  # the user asked for several threads per training: those fill the cores
        from seqcast.threads import usable_cpus

        workers = usable_cpus()
    return max(1, min(workers, seeds))


def seed_flop(series: SeriesInput) -> float:
    """A low estimate of one seed's training cost: every epoch when patience is 0, else patience + 1."""
    import math

    from seqcast.threads import step_flop

    d, m, t = series.cfg.data, series.cfg.model, series.cfg.train
    windows = max(1, int(len(series.values) * d.split * (1 - d.val_fraction)) - d.lookback)
    epochs = t.epochs if t.patience == 0 else min(t.epochs, t.patience + 1)
    per_step = step_flop(m.kind, batch=t.batch_size, lookback=d.lookback, hidden=m.hidden, layers=m.layers,
                         n_features=d.n_inputs)
    return per_step * math.ceil(windows / t.batch_size) * epochs


def _on_cpu(device: str) -> bool:
    if device == "cpu":
        return True
    if device != "auto":
        return False
    from seqcast.training import pick_device

    return pick_device("auto").type == "cpu"


def fit_seed(series: SeriesInput) -> tuple[RunRecord, FitResult]:
    """One seed in a worker: api.fit_run on the arrays it was sent (no workspace needed)."""
    from seqcast.runner import fit_run

    return fit_run(series)


def train_parallel(cfg: RunConfig, seeds: int, workers: int, home: Path | str | None = None, *,
                   on_seed_end: SeedCallback | None = None, series: SeriesInput | None = None
                   ) -> list[TrainResult]:
    """Train seeds cfg.train.seed, +1, ... on `workers` processes; their saved runs, in seed order.

    Errors as one after another: the first seed (in seed order) that fails raises its error,
    naming the runs of the seeds before it (which are saved; later seeds are stopped and
    dropped). Ctrl-C stops the workers at once and raises TrainingInterrupted with the runs
    of the seeds that had finished (saved), naming those that had not.
    """
    from seqcast.config import make_config
    from seqcast.executors import LocalExecutor, Task
    from seqcast.run_inputs import load_input
    from seqcast.runner import TrainResult, save_run
    from seqcast.runs import RunStore
    from seqcast.workspace import Workspace

    ws = Workspace.resolve(home)
    series = series or load_input(cfg, ws.root)  # once: every seed trains on the same data
    RunStore(ws).check_writable()  # a read-only or full workspace fails now, not after training
    first = cfg.train.seed
    tasks = [Task(i, fit_seed, (dataclasses.replace(series, cfg=make_config(series.cfg, seed=first + i)),))
             for i in range(seeds)]
    finished: dict[int, tuple[RunRecord, FitResult]] = {}
    failed: dict[int, Any] = {}
    results: list[TrainResult] = []

    def save_ready() -> None:
        while len(results) in finished:  # the next seed in order is done: save it
            record, fit = finished.pop(len(results))
            results.append(TrainResult(save_run(record, ws.root), fit))

    executor = LocalExecutor(workers, threads=cfg.train.threads or 1)
    try:
        for outcome in executor.run(tasks):
            index = int(outcome.key)  # type: ignore[call-overload]  # our keys are the seed indexes
            if outcome.ok:
                finished[index] = outcome.value
            else:
                failed[index] = outcome
            if on_seed_end is not None:
                on_seed_end(index, first + index)
            save_ready()
            if len(results) in failed:
                break  # every seed before the first failure is saved; the later ones are dropped
    except KeyboardInterrupt:
        executor.close()  # stops the workers (SIGTERM, then SIGKILL after executors.STOP_GRACE_S)
        for index in sorted(finished):  # finished seeds are complete runs: keep them, in seed order
            record, fit = finished.pop(index)
            results.append(TrainResult(save_run(record, ws.root), fit))
        saved = {r.run.config.train.seed for r in results}
        lost = [first + i for i in range(seeds) if first + i not in saved]
        note = f"seed{'s' if len(lost) > 1 else ''} {', '.join(map(str, lost))} did not finish and " \
               f"{'were' if len(lost) > 1 else 'was'} not saved" if results and lost else ""
        raise TrainingInterrupted([r.run for r in results], note) from None
    finally:
        executor.close()
    if len(results) < seeds:
        raise _seed_error(failed[len(results)], first + len(results), results)
    return results


def _seed_error(outcome: Any, seed: int, results: list[TrainResult]) -> BaseException:
    """The failed seed's own error, with the runs saved before it named (as one after another)."""
    exc: BaseException | None = outcome.exception
    if exc is not None and not isinstance(exc, SeqcastError):
        return exc  # a bug, not a user's problem: as it was raised
    if exc is None:  # its worker died twice, or the error could not be sent back
        exc = TrainingError(f"seed {seed} could not be trained: {outcome.error}")
    if not results:
        return exc
    ids = ", ".join(r.run.run_id for r in results)
    error = type(exc)(f"{exc} (seed {seed}); the runs of the seeds before it were saved: {ids}")
    error.__cause__ = exc
    return error
