"""Sweeps: a grid of configs × symbols × seeds (or × backtest folds), run on an executor.

Every train option may take several values; the grid is their product, times the
symbols, times the seeds (--seed, --seed+1, ...), or times the folds of a walk-forward
backtest. A cell is exactly one `seqcast train` (or one backtest fold) with its options:
the driver loads the data, a worker (local process or Ray task) trains on the arrays it
is sent, and the driver alone writes the workspace: each finished cell becomes a normal
run (tagged with the sweep id in meta.json), each finished backtest a normal backtest
file, and the sweep record <home>/sweeps/<id>.json (rewritten atomically) keeps every
cell's state, so an interrupted sweep resumes with only its unfinished cells.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast import fileio
from seqcast.config import RunConfig
from seqcast.errors import ConfigError, SeqcastError
from seqcast.runs import records
from seqcast.runs.grid import (
    DATA_KEYS,
    MAX_CELLS,
    MAX_SEEDS,
    NOT_IN_GRID,
    SweepSpec,
    config_label,
    grid_options,
    parse_grid_args,
    read_config_file,
    read_symbol_file,
    symbol_args,
)
from seqcast.runs.results import KEEP_RUNS_HELP, SUMMARY_METRICS, parse_keep_runs, plain
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    from seqcast.inputs.loading import SeriesInput
    from seqcast.runs.train import RunRecord

SAVE_EVERY_S = 1.0
"""The record is rewritten at most this often while cells finish (and always at the end)."""
SWEEP_ID_RE = re.compile(r"^[0-9]{8}-[0-9]{6}\.[0-9]{3}-sweep-[0-9a-f]{6}$")
"""A sweep's id (seqcast.runs.records.ID_RE with the label "sweep"): its record's file name."""


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: finished cells are saved; `seqcast sweep --resume ID` runs the rest."""

    def __init__(self, sweep_id: str, done: int, total: int) -> None:
        super().__init__(sweep_id)
        self.sweep_id, self.done, self.total = sweep_id, done, total


# --------------------------------------------------------------------------- tasks (run in workers)


def train_cell(series: SeriesInput, cfg: RunConfig | None = None) -> RunRecord:
    """One training cell: api.fit_run on the arrays it was sent (no workspace needed), with cfg (the
    cell's config) put on the series (which the sweep's cells of one symbol share) when given."""
    import dataclasses

    from seqcast.runs.train import fit_run

    return fit_run(series if cfg is None else dataclasses.replace(series, cfg=cfg))[0]


# --------------------------------------------------------------------------- the record


@dataclass
class Sweep:
    """A sweep record as saved in <home>/sweeps/<id>.json."""

    sweep_id: str
    path: Path
    data: dict[str, Any]

    @property
    def cells(self) -> list[dict[str, Any]]:
        cells: list[dict[str, Any]] = self.data["cells"]
        return cells

    @property
    def leaderboard(self) -> list[dict[str, Any]]:
        board: list[dict[str, Any]] = self.data.get("leaderboard", [])
        return board

    @property
    def status(self) -> str:
        status: str = self.data.get("status", "?")
        return status

    def counts(self) -> dict[str, int]:
        out = {"done": 0, "failed": 0, "pending": 0}
        for cell in self.cells:
            out[cell["status"]] = out.get(cell["status"], 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**self.data, "path": str(self.path)}


def sweeps_dir(home: Path | str | None) -> Path:
    return Workspace.resolve(home).root / "sweeps"


def new_sweep_id() -> str:
    return records.new_id("sweep", nbytes=3)


def scan_sweeps(home: Path | str | None = None) -> list[Sweep | records.Unreadable]:
    """Every sweep record, oldest first: a Sweep, or an Unreadable naming why it cannot be read."""
    root = sweeps_dir(home)
    found: list[Sweep | records.Unreadable] = []
    for ident in records.json_ids(root, SWEEP_ID_RE):
        path = root / f"{ident}.json"
        try:
            found.append(_read(path))
        except SeqcastError as exc:
            found.append(records.Unreadable(ident, path, str(exc)))
    return found


def list_sweeps(home: Path | str | None = None) -> list[Sweep]:
    """Saved sweeps, oldest first (unreadable records are left out: scan_sweeps names them)."""
    return [s for s in scan_sweeps(home) if isinstance(s, Sweep)]


def load_sweep(sweep_id: str | None = None, home: Path | str | None = None, *, unread: bool = False) -> Sweep:
    """A sweep by id or unique id prefix; the latest when None. RunNotFoundError or RunCorruptError.

    unread: the record is not read (its data has no cells): what removing one needs, even an unreadable one.
    """
    root = sweeps_dir(home)
    found = records.pick(records.json_ids(root, SWEEP_ID_RE), sweep_id, noun="sweep", hint="seqcast sweeps",
                         empty="no sweeps yet; start one: seqcast sweep --model lstm,gru")
    if unread:
        return Sweep(found, root / f"{found}.json", {"cells": []})
    return _read(root / f"{found}.json")


_BESIDE = (*records.BESIDE, "sqlite", "sqlite-journal")
"""What seqcast writes beside a sweep's JSON: its report (html, md), chart (png, svg, pdf) and results table."""


def sweep_files(sweep: Sweep) -> list[Path]:
    """Every file of a sweep in sweeps/: its report and charts, the md report's <id>_files/, then the
    JSON itself (last: a sweep stays listed until everything else is gone). Its runs are not here."""
    return [*records.beside(sweep.path, sweep.sweep_id, _BESIDE), sweep.path]


def remove_sweep(sweep: Sweep) -> None:
    """Delete a sweep's record and the report and charts written beside it; its runs and backtests
    stay (they are ordinary runs: `seqcast runs rm`). Refused while a process is running the sweep."""
    if sweep.path.name != f"{sweep.sweep_id}.json" or not SWEEP_ID_RE.match(sweep.sweep_id):
        from seqcast.errors import WorkspaceError

        raise WorkspaceError(f"refusing to delete {sweep.path}: it is not the record of sweep {sweep.sweep_id!r}")
    lock = sweep.path.parent / f".{sweep.sweep_id}.lock"
    with _locked(lock):
        records.remove_files(sweep_files(sweep), sweep.path.parent)
    lock.unlink(missing_ok=True)


def _read(path: Path) -> Sweep:
    """The sweep record at path (its id: the file name), read safely and checked once."""
    from seqcast.errors import RunNotFoundError

    ident = path.name.removesuffix(".json")
    if not SWEEP_ID_RE.match(ident) or path.name == ident:
        raise RunNotFoundError(f"{path} is not named like a sweep record (<id>.json)")
    data = records.read_record(path, ident=ident, id_key="sweep_id", check=records.check_sweep, fix=records.SWEEP_FIX)
    data["sweep_id"] = ident
    return Sweep(ident, path, data)


def _save(sweep: Sweep) -> None:
    sweep.data["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    fileio.write_text(sweep.path, json.dumps(_strict(sweep.data), indent=1, allow_nan=False) + "\n")


def _strict(obj: Any) -> Any:
    """JSON without NaN/Infinity (null instead) and with plain Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return _strict(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Only one process runs a given sweep at a time (another resume of it is refused)."""
    try:
        import fcntl
    except ImportError:  # Windows: sweep ids are unique anyway
        yield
        return
    fileio.make_folder(path.parent)  # one line when a file named sweeps is in the way
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(f"sweep {path.stem.lstrip('.').removesuffix('.lock')} is being run by another "
                              "process; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- the driver

CellCallback = Callable[[dict[str, Any], int, int], None]
"""on_cell_end(cell, done, total): a cell finished (cell["status"] is done or failed)."""
RetryCallback = Callable[[dict[str, Any], str], None]
"""on_retry(cell, reason): the worker running that cell died; it runs once more."""
def run_sweep(
    spec: SweepSpec | None = None,
    *,
    resume: str | None = None,
    home: Path | str | None = None,
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
    keep_runs: str = "all",
    on_start: Callable[[Sweep], None] | None = None,
    on_cell_end: CellCallback | None = None,
    on_retry: RetryCallback | None = None,
) -> Sweep:
    """Run every unfinished cell of a new sweep (spec) or of a saved one (resume=ID).

    Every finished cell is a row of the sweep's results table (<id>.sqlite, seqcast.runs.results),
    committed as it finishes; keep_runs says which cells also get a run folder (all, best:N, none;
    a resume keeps the sweep's own). A resume adopts every cell whose row or run is saved, so no
    done cell trains twice. Ctrl-C or SIGTERM: the record is marked interrupted, the workers are
    stopped, SweepInterrupted is raised.
    """
    from seqcast.data.store import check_writable
    from seqcast.runs.parallel.executors import check_ray_address
    from seqcast.runs.parallel.fanout import sigterm_as_interrupt
    from seqcast.runs.registry import RunStore
    from seqcast.runs.results import Results, reconcile, results_path

    ws = Workspace.resolve(home)
    check_writable(ws)
    RunStore(ws).check_writable()
    parse_keep_runs(keep_runs)
    if (spec is None) == (resume is None):
        raise ConfigError("give a sweep (options or --config) or --resume SWEEP_ID, not both")
    if backend == "ray" and address:
        address = check_ray_address(address)  # one clear line before any data is loaded
    if resume is not None:
        sweep = load_sweep(resume, ws.root)
        spec = SweepSpec.from_dict(sweep.data["spec"])
    else:
        assert spec is not None
        sweep_id = new_sweep_id()
        sweep = Sweep(sweep_id, sweeps_dir(ws.root) / f"{sweep_id}.json", {})
    if backend == "local":
        check_devices(spec)
    with _locked(sweep.path.parent / f".{sweep.sweep_id}.lock"), sigterm_as_interrupt():
        if resume is not None:
            sweep = _read(sweep.path)  # as the previous process left it, now that we hold the lock
            keep_runs = str(sweep.data.get("keep_runs") or "all")
        inputs = _load_inputs(spec, ws.root)
        if resume is None:
            sweep.data = _new_record(sweep.sweep_id, spec, inputs, backend, address)
            sweep.data["keep_runs"] = keep_runs
        fileio.make_folder(sweep.path.parent)
        with Results(results_path(sweep.path)) as table:
            if resume is None:
                adopted = False
            else:
                adopted = reconcile(sweep, spec.backtest, lambda c: _cell_config(spec, c, inputs), table, ws.root)
            todo = [c for c in sweep.cells if c["status"] != "done"]
            if resume is not None and not todo:
                if adopted:  # the last cells were saved but the record did not say so yet
                    sweep.data["status"] = "finished" if not sweep.counts()["failed"] else "finished with failed cells"
                    _finish(sweep, spec, table)
                return sweep  # every cell is done: nothing runs (the record keeps its backend)
            _run_todo(sweep, spec, inputs, todo, table, ws.root, backend, address, workers,
                      (on_start, on_cell_end, on_retry))
    return sweep


def _run_todo(sweep: Sweep, spec: SweepSpec, inputs: dict[_DataKey, SeriesInput], todo: list[dict[str, Any]],
              table: Any, home: Path, backend: str, address: str | None, workers: int | None,
              callbacks: tuple[Any, CellCallback | None, RetryCallback | None]) -> None:
    from seqcast.runs.parallel.executors import make_executor

    on_start, on_cell_end, on_retry = callbacks
    # Started before anything is saved: a backend that cannot start changes nothing.
    executor = make_executor(backend, workers=workers, address=address)
    try:
        for cell in todo:
            cell.update(status="pending", error=None)
            cell.pop("lasting", None)
        sweep.data.update(status="running", backend=backend, address=address)
        _save_summary(sweep)
        if on_start is not None:
            on_start(sweep)
        _drive(sweep, spec, inputs, todo, executor, home, table, on_cell_end, on_retry)
    except KeyboardInterrupt:
        executor.close()
        sweep.data["status"] = "interrupted"
        _finish(sweep, spec, table)
        counts = sweep.counts()
        raise SweepInterrupted(sweep.sweep_id, counts["done"], len(sweep.cells)) from None
    finally:
        executor.close()
    failed = sweep.counts()["failed"]
    sweep.data["status"] = "finished" if not failed else "finished with failed cells"
    _finish(sweep, spec, table)


def _save_summary(sweep: Sweep) -> None:
    """The record rewritten while cells finish: as _save, compact (the C JSON encoder: a 100,000-cell
    record in well under a second, where an indented one takes many). Every value the driver puts in
    the record is plain JSON already; anything else falls back to _save."""
    sweep.data["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    try:
        text = json.dumps(sweep.data, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        _save(sweep)
        return
    fileio.write_text(sweep.path, text + "\n")


def check_devices(spec: SweepSpec) -> None:
    """Every --device the grid names exists on this machine (ConfigError otherwise), checked once
    before any cell starts. Local workers only: a Ray cluster's nodes may have devices the driver lacks."""
    devices = {str(d) for d in spec.grid.get("device", [])} - {"auto", "cpu"}
    if not devices:
        return
    from seqcast.models.training import pick_device

    for device in sorted(devices):
        pick_device(device)


_DataKey = tuple[str | None, ...]
"""What _data_key returns: the symbol asked for, then the repr of each data option the grid sets."""


def symbol_options(symbol: str | None) -> dict[str, Any]:
    """A sweep's symbol as make_config options: "eurpln" -> symbol; "eurpln:stooq" -> symbol and source;
    None (the last fetched) -> nothing."""
    if symbol is None:
        return {}
    name, sep, source = symbol.partition(":")
    return {"symbol": name, "source": source} if sep and source else {"symbol": name}


def _data_key(options: dict[str, Any], symbol: str | None) -> _DataKey:
    """One key per distinct load_input: the symbol asked for and the data options of the config."""
    return (symbol, *(repr(options.get(k)) for k in DATA_KEYS))


def _load_inputs(spec: SweepSpec, home: Path) -> dict[_DataKey, SeriesInput]:
    """Each distinct data selection (symbol, source, --from, --to, ...) loaded once, by the driver:
    the product of the grid's data options only (linear in the rest of the grid)."""
    from seqcast.config import make_config
    from seqcast.inputs.loading import load_input

    first = {k: v[0] for k, v in spec.grid.items()}
    data_grid = {k: v for k, v in spec.grid.items() if k in DATA_KEYS}
    inputs: dict[_DataKey, SeriesInput] = {}
    for combo in itertools.product(*data_grid.values()):
        options = {**first, **dict(zip(data_grid, combo, strict=True))}
        for symbol in spec.symbols:
            key = _data_key(options, symbol)
            if key not in inputs:
                inputs[key] = load_input(make_config(**options, **symbol_options(symbol)), home)
    return inputs


def _new_record(sweep_id: str, spec: SweepSpec, inputs: dict[_DataKey, SeriesInput], backend: str,
                address: str | None) -> dict[str, Any]:
    from seqcast.config import make_config
    from seqcast.runs.backtest import check_folds
    from seqcast.runs.grid import grid_flags

    if spec.backtest:
        for config in spec.iter_configs():
            for symbol in spec.symbols:
                series = inputs[_data_key(config, symbol)]
                check_folds(len(series.values), make_config(series.cfg, **config), spec.backtest)
    by_data = any(k in DATA_KEYS for k in spec.grid)  # else every config reads the same series per symbol
    per_symbol = {symbol: inputs[_data_key({}, symbol)] for symbol in spec.symbols} if not by_data else {}
    cells: list[dict[str, Any]] = []
    for cell, ci, symbol, seed, fold in spec.iter_cells():
        series = inputs[_data_key(spec.config_at(ci), symbol)] if by_data else per_symbol[symbol]
        cells.append({"cell": cell, "config": ci, "symbol": series.cfg.data.symbol, "source": series.cfg.data.source,
                      "requested_symbol": symbol, "seed": seed, "fold": fold, "status": "pending"})
    varying = {k for k, v in spec.grid.items() if len(v) > 1}
    flags = grid_flags()
    return {
        "sweep_id": sweep_id,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "status": "pending",
        "backend": backend,
        "address": address,
        "spec": spec.to_dict(),
        "configs": [{"label": config_label(c, varying, flags), "options": c} for c in spec.iter_configs()],
        "cells": cells,
        "backtests": [],
        "leaderboard": [],
    }


def _cell_config(spec: SweepSpec, cell: dict[str, Any], inputs: dict[_DataKey, SeriesInput]
                 ) -> tuple[RunConfig, SeriesInput]:
    """The cell's config and the series it trains on (the loaded series, shared by its cells)."""
    from seqcast.config import make_config

    options = spec.config_at(cell["config"])
    series = inputs[_data_key(options, cell["requested_symbol"])]
    # The covariates as load_input resolved them (SYMBOL:SOURCE), as `seqcast train` saves them.
    options = {k: v for k, v in options.items() if k != "covariates"}
    return make_config(series.cfg, **options, seed=cell["seed"]), series


def _task(spec: SweepSpec, cell: dict[str, Any], inputs: dict[_DataKey, SeriesInput]) -> Any:
    from seqcast.runs.backtest import check_folds, run_fold
    from seqcast.runs.parallel.executors import Task

    cfg, series = _cell_config(spec, cell, inputs)
    if cell["fold"] is None:
        # The series object itself travels (the same for every cell of it: on Ray it is put in the
        # object store once); the worker puts the cell's config on it.
        return Task(cell["cell"], train_cell, (series, cfg))
    start, end = check_folds(len(series.values), cfg, spec.backtest)[cell["fold"] - 1]
    fold_inputs = None if series.inputs is None else series.inputs[:end]
    return Task(cell["cell"], run_fold, (series.values[:end], cfg, start, fold_inputs))


def _drive(sweep: Sweep, spec: SweepSpec, inputs: dict[_DataKey, SeriesInput], todo: list[dict[str, Any]],
           executor: Any, home: Path, table: Any, on_cell_end: CellCallback | None,
           on_retry: RetryCallback | None) -> None:
    from seqcast.runs.parallel.executors import Outcome
    from seqcast.runs.parallel.fanout import fan_out
    from seqcast.runs.results import KeptRuns

    sweep.data["workers"] = executor.workers
    total, done = len(sweep.cells), sum(c["status"] == "done" for c in sweep.cells)
    kept = KeptRuns(sweep.data.get("keep_runs") or "all", sweep.cells, table, home)
    refused: list[Outcome] = []  # cells whose config cannot be built (a combination checked only now)
    last_save, save_every = time.monotonic(), SAVE_EVERY_S

    def tasks() -> Iterator[Any]:  # built one at a time, as workers become free
        for cell in todo:
            try:
                yield _task(spec, cell, inputs)
            except SeqcastError as exc:
                refused.append(Outcome(cell["cell"], error=str(exc), exception=exc))

    def retried(key: Any, reason: str) -> None:
        cell = sweep.cells[key]
        cell.setdefault("worker_deaths", []).append(reason)
        if on_retry is not None:
            on_retry(cell, reason)

    def outcomes() -> Iterator[Outcome]:
        for outcome in fan_out(executor, tasks(), on_retry=retried):
            yield from _drain(refused)
            yield outcome
        yield from _drain(refused)

    for outcome in outcomes():
        cell = sweep.cells[int(outcome.key)]  # type: ignore[call-overload]  # our keys are cell numbers
        _record_outcome(sweep, spec, inputs, cell, outcome, home, table, kept)
        done += cell["status"] == "done"
        if on_cell_end is not None:
            on_cell_end(cell, done, total)
        if time.monotonic() - last_save >= save_every:
            started = time.monotonic()
            _save_summary(sweep)  # a summary: the results table already holds the cell
            last_save = time.monotonic()
            save_every = max(SAVE_EVERY_S, 20 * (last_save - started))  # a big record: at most 5 % of the time


def leaderboard(sweep: Sweep) -> list[dict[str, Any]]:
    """Per config, over its symbols and seeds (seqcast.runs.results.leaderboard)."""
    from seqcast.runs.results import leaderboard as board

    return board(sweep.data, sweep.cells)


def _drain(items: list[Any]) -> Iterator[Any]:
    while items:
        yield items.pop(0)


def _record_outcome(sweep: Sweep, spec: SweepSpec, inputs: dict[_DataKey, SeriesInput], cell: dict[str, Any],
                    outcome: Any, home: Path, table: Any, kept: Any) -> None:
    """A finished cell into the workspace: its run folder when kept, then its row (from then on done)."""
    from seqcast.runs.results import save_backtest_if_complete, test_losses
    from seqcast.runs.train import save_run

    cell.update(node=outcome.node, attempts=outcome.attempts, worker_deaths=outcome.worker_deaths)
    if not outcome.ok:
        # lasting: the options themselves cannot work (a seqcast error such as too little data);
        # running the cell again (--resume) would fail the same way.
        cell.update(status="failed", error=outcome.error, lasting=isinstance(outcome.exception, SeqcastError))
        table.save_cell(cell, sweep.data["configs"][cell["config"]])
    elif cell["fold"] is None:
        record: RunRecord = outcome.value
        record.meta["sweep"] = {"sweep_id": sweep.sweep_id, "cell": cell["cell"]}
        test = record.report["test"]
        cell.update(status="done", run_id=None, test=plain({k: test.get(k) for k in SUMMARY_METRICS if k in test}),
                    seconds=record.meta["training"]["seconds"], epochs=record.meta["training"]["epochs_run"])
        if kept.wants(cell):
            cell["run_id"] = save_run(record, home).run_id
        table.save_cell(cell, sweep.data["configs"][cell["config"]], test_losses(record.predictions))
        kept.added(cell)
    else:
        out = outcome.value
        summary = {k: out["metrics"].get(k) for k in SUMMARY_METRICS if k in out["metrics"]}
        cell.update(status="done", test=plain(summary),
                    seconds=out["seconds"], epochs=out["epochs_run"], fold_out=plain(out))
        table.save_cell(cell, sweep.data["configs"][cell["config"]])
        save_backtest_if_complete(sweep, spec.backtest, lambda c: _cell_config(spec, c, inputs), cell, home,
                                  table)


def _finish(sweep: Sweep, spec: SweepSpec, table: Any) -> None:
    from seqcast.runs.results import counting, spa_test

    sweep.data["leaderboard"] = leaderboard(sweep)
    sweep.data["multiple_testing"] = counting(sweep)
    sweep.data["spa"] = spa_test(sweep.data, sweep.cells, table)
    nodes: dict[str, int] = {}
    for cell in sweep.cells:
        if cell.get("node") and cell["status"] == "done":
            nodes[cell["node"]] = nodes.get(cell["node"], 0) + 1
    sweep.data["nodes"] = nodes
    _save_summary(sweep)


__all__ = ["KEEP_RUNS_HELP", "MAX_CELLS", "MAX_SEEDS", "NOT_IN_GRID", "SUMMARY_METRICS", "Sweep", "SweepInterrupted",
           "SweepSpec", "grid_options", "leaderboard", "list_sweeps", "load_sweep",
           "parse_grid_args", "parse_keep_runs", "read_config_file", "read_symbol_file", "remove_sweep",
           "run_sweep", "scan_sweeps", "sweep_files", "symbol_args"]
