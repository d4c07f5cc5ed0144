"""`train --seeds N` on several cores: independent seeds in worker processes at once.

A small recurrent network cannot use a second core well (seqcast.models.threads), but two seeds
can: each worker of the local executor (seqcast.runs.parallel.executors) trains whole seeds with one
torch thread. The driver loads the data once, sends each seed its arrays, and alone
writes the workspace: it saves the runs in seed order, so the result (runs, metrics,
weights, errors) is the one training the seeds one after another gives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast.config import RunConfig, RunOptions, check_seeds, check_workers, make_config
from seqcast.errors import ConfigError, SeqcastError, TrainingError, TrainingInterrupted
from seqcast.inputs.loading import load_input
from seqcast.runs.registry import Run
from seqcast.runs.train import TrainResult, train

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from seqcast.inputs.loading import SeriesInput
    from seqcast.models.training import EpochCallback, FitResult
    from seqcast.runs.train import RunRecord

SeedCallback = Callable[[int, int], None]
"""on_seed_end(index, seed): a seed finished training (in the order seeds finish)."""

MIN_PARALLEL_SEED_FLOP = 1e11
"""By default seeds train at once only when each is expected to cost at least this many
floating-point operations (~2 s on one core here): starting a worker process (Python,
torch) takes 1-2 s, more than a whole early-stopped default training (~0.3 s)."""


def seed_workers(cfg: RunConfig, seeds: int, workers: int | None = None) -> int:
    """How many seeds may train at once: 1 means one after another, in this process.

    By default one worker per usable core (seqcast.models.threads.usable_cpus: affinity, cgroup
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
        from seqcast.models.threads import usable_cpus

        workers = usable_cpus()
    return max(1, min(workers, seeds))


def seed_flop(series: SeriesInput) -> float:
    """A low estimate of one seed's training cost: every epoch when patience is 0, else patience + 1."""
    import math

    from seqcast.models.threads import step_flop

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
    from seqcast.models.training import pick_device

    return pick_device("auto").type == "cpu"


def fit_seed(series: SeriesInput) -> tuple[RunRecord, FitResult]:
    """One seed in a worker: api.fit_run on the arrays it was sent (no workspace needed)."""
    from seqcast.runs.train import fit_run

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
    from seqcast.inputs.loading import load_input
    from seqcast.runs.parallel.executors import LocalExecutor, Task
    from seqcast.runs.parallel.fanout import fan_out
    from seqcast.runs.registry import RunStore
    from seqcast.runs.train import TrainResult, save_run
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
        for outcome in fan_out(executor, tasks):  # Ctrl-C or SIGTERM: workers stopped, KeyboardInterrupt
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


# --------------------------------------------------------------------------- train --seeds


MAX_SEEDS = 100
"""train --seeds: trainings of one config."""
SEED_METRICS = ("rmse", "mae", "mape", "directional_accuracy", "rmse_ratio", "naive_rmse")
"""Test metrics summarised across seeds by train_seeds."""


@dataclass
class SeedsResult:
    """One saved run per seed plus mean and sample sd of their test metrics."""

    results: list[TrainResult]
    summary: dict[str, dict[str, float]]  # metric -> {"mean", "sd"}

    @property
    def runs(self) -> list[Run]:
        return [r.run for r in self.results]

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [{"run_id": r.run_id, "seed": r.config.train.seed, "path": str(r.path),
                      "test": r.metrics["test"], "verdict": r.metrics.get("verdict")}
                     for r in self.runs],
            "summary": self.summary,
        }


def train_seeds(
    config: RunConfig | None = None,
    *,
    seeds: int = 3,
    home: Path | str | None = None,
    on_epoch_end: EpochCallback | None = None,
    on_seed_start: Callable[[int, int], None] | None = None,
    on_seed_end: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    on_start: Callable[[int], None] | None = None,
    **overrides: Unpack[RunOptions],
) -> SeedsResult:
    """Train with seeds seed, seed+1, ... (each a saved run); mean ± sd of the test metrics.

    A single seed of a small network is noise; the spread across seeds says how much.
    On the CPU with more than one usable core, seeds train at once in worker processes,
    one thread each (seqcast.runs.seeds.seed_workers; workers=1 forces one after another), with
    the same runs and metrics; the runs are saved in seed order. on_seed_start(index, seed)
    and on_epoch_end are called only one after another (workers report no epochs);
    on_seed_end(index, seed) after each seed's training, either way. By default seeds train
    at once only when each is expected to take longer than starting a worker
    (seqcast.runs.seeds.MIN_PARALLEL_SEED_FLOP). on_start(workers) says which, before training.
    """
    cfg = make_config(config, **overrides)
    check_seeds(cfg.train.seed, seeds, max_seeds=MAX_SEEDS)
    n_workers, series = seed_workers(cfg, seeds, workers), None
    if n_workers > 1 and workers is None:  # by default only when a seed costs more than a worker's start
        series = load_input(cfg, home)
        if seed_flop(series) < MIN_PARALLEL_SEED_FLOP:
            n_workers, series = 1, None
    if on_start is not None:
        on_start(n_workers)
    if n_workers > 1:
        at_once = train_parallel(cfg, seeds, n_workers, home, on_seed_end=on_seed_end, series=series)
        return SeedsResult(at_once, _seed_summary(at_once))
    results = _seeds_in_turn(cfg, seeds, home, on_epoch_end, on_seed_start, on_seed_end)
    return SeedsResult(results, _seed_summary(results))


def _seeds_in_turn(cfg: RunConfig, seeds: int, home: Path | str | None, on_epoch_end: EpochCallback | None,
                   on_seed_start: Callable[[int, int], None] | None,
                   on_seed_end: Callable[[int, int], None] | None) -> list[TrainResult]:
    """train_seeds in this process, one seed after another; Ctrl-C and errors name the runs saved."""
    results: list[TrainResult] = []
    try:
        for i in range(seeds):
            seed = cfg.train.seed + i
            if on_seed_start is not None:
                on_seed_start(i, seed)
            results.append(train(make_config(cfg, seed=seed), home=home, on_epoch_end=on_epoch_end))
            if on_seed_end is not None and not results[-1].fit.interrupted:
                on_seed_end(i, seed)
            if results[-1].fit.interrupted:
                raise KeyboardInterrupt  # Ctrl-C ends the whole command, not just this seed
    except KeyboardInterrupt:
        from seqcast.errors import TrainingInterrupted

        cut = bool(results) and results[-1].fit.interrupted
        note = f"seed {cfg.train.seed + len(results) - 1} was stopped early and saved with its best weights"
        raise TrainingInterrupted([r.run for r in results], note if cut else "") from None
    except SeqcastError as exc:
        if not results:
            raise
        ids = ", ".join(r.run.run_id for r in results)
        raise type(exc)(f"{exc} (seed {cfg.train.seed + len(results)}); the runs of the seeds "
                        f"before it were saved: {ids}") from exc
    return results


def _seed_summary(results: list[TrainResult]) -> dict[str, dict[str, float]]:
    import numpy as np

    summary: dict[str, dict[str, float]] = {}
    for name in SEED_METRICS:
        values = np.array([float(r.run.metrics["test"][name]) for r in results])
        summary[name] = {"mean": float(np.mean(values)),
                         "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}
    return summary
