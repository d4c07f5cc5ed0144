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

import json
import math
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast import fileio
from seqcast.config import RunConfig
from seqcast.errors import ConfigError, SeqcastError
from seqcast.runs.grid import (
    DATA_KEYS,
    SweepSpec,
    config_label,
    grid_options,
    parse_grid_args,
    read_config_file,
)
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    from seqcast.inputs.loading import SeriesInput
    from seqcast.runs.train import RunRecord

SAVE_EVERY_S = 1.0
"""The record is rewritten at most this often while cells finish (and always at the end)."""
SUMMARY_METRICS = ("n", "rmse", "naive_rmse", "rmse_ratio", "directional_accuracy", "dm_pvalue",
                   "interval_coverage")
_ID_RE = r"^[0-9]{8}-[0-9]{6}\.[0-9]{3}-sweep-[0-9a-f]{6}$"


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: finished cells are saved; `seqcast sweep --resume ID` runs the rest."""

    def __init__(self, sweep_id: str, done: int, total: int) -> None:
        super().__init__(sweep_id)
        self.sweep_id, self.done, self.total = sweep_id, done, total


# --------------------------------------------------------------------------- tasks (run in workers)


def train_cell(series: SeriesInput) -> RunRecord:
    """One training cell: api.fit_run on the arrays it was sent (no workspace needed)."""
    from seqcast.runs.train import fit_run

    return fit_run(series)[0]


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
    now = datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}.{now.microsecond // 1000:03d}-sweep-{secrets.token_hex(3)}"


def list_sweeps(home: Path | str | None = None) -> list[Sweep]:
    """Saved sweeps, oldest first (unreadable records are skipped)."""
    root = sweeps_dir(home)
    found = []
    for path in sorted(root.glob("*.json")) if root.is_dir() else []:
        try:
            found.append(_read(path))
        except SeqcastError:
            continue
    return found


def load_sweep(sweep_id: str | None = None, home: Path | str | None = None) -> Sweep:
    """A sweep by id or unique id prefix; the latest when None."""
    import re

    from seqcast.errors import RunNotFoundError

    root = sweeps_dir(home)
    ids = sorted(p.stem for p in root.glob("*.json")) if root.is_dir() else []
    if sweep_id is None:
        if not ids:
            raise RunNotFoundError("no sweeps yet; start one: seqcast sweep --model lstm,gru")
        return _read(root / f"{ids[-1]}.json")
    if not re.match(r"^[0-9A-Za-z.-]{1,64}$", sweep_id):
        raise RunNotFoundError(f"{sweep_id!r} is not a sweep id; list sweeps with: seqcast sweeps")
    matches = [i for i in ids if i.startswith(sweep_id)]
    if sweep_id in ids:
        matches = [sweep_id]
    if len(matches) > 1:
        raise RunNotFoundError(f"{sweep_id!r} matches {len(matches)} sweeps; give more of the id (seqcast sweeps)")
    if not matches:
        raise RunNotFoundError(f"no sweep {sweep_id!r}; list sweeps with: seqcast sweeps")
    return _read(root / f"{matches[0]}.json")


_BESIDE = ("html", "md", "png", "svg", "pdf")
"""What seqcast writes beside a sweep's JSON: its report (html, md) and chart (png, svg, pdf)."""


def sweep_files(sweep: Sweep) -> list[Path]:
    """Every file of a sweep in sweeps/: its report and charts, the md report's <id>_files/, then the
    JSON itself (last: a sweep stays listed until everything else is gone). Its runs are not here."""
    folder, ident = sweep.path.parent, sweep.sweep_id
    extra = [folder / f"{ident}.{ext}" for ext in _BESIDE] + [folder / f"{ident}_files"]
    return [p for p in extra if p.is_symlink() or p.exists()] + [sweep.path]


def remove_sweep(sweep: Sweep) -> None:
    """Delete a sweep's record and the report and charts written beside it; its runs and backtests
    stay (they are ordinary runs: `seqcast runs rm`). Refused while a process is running the sweep."""
    import shutil

    lock = sweep.path.parent / f".{sweep.sweep_id}.lock"
    with _locked(lock):
        for path in sweep_files(sweep):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    lock.unlink(missing_ok=True)


def _read(path: Path) -> Sweep:
    from seqcast.errors import RunCorruptError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunCorruptError(f"{path} is not a readable sweep record ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or "spec" not in data:
        raise RunCorruptError(f"{path} is not a sweep record")
    return Sweep(str(data.get("sweep_id", path.stem)), path, data)


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
    path.parent.mkdir(parents=True, exist_ok=True)
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
    on_start: Callable[[Sweep], None] | None = None,
    on_cell_end: CellCallback | None = None,
    on_retry: RetryCallback | None = None,
) -> Sweep:
    """Run every unfinished cell of a new sweep (spec) or of a saved one (resume=ID)."""
    from seqcast.data.store import check_writable
    from seqcast.runs.registry import RunStore

    ws = Workspace.resolve(home)
    check_writable(ws)
    RunStore(ws).check_writable()
    if (spec is None) == (resume is None):
        raise ConfigError("give a sweep (options or --config) or --resume SWEEP_ID, not both")
    if resume is not None:
        sweep = load_sweep(resume, ws.root)
        spec = SweepSpec.from_dict(sweep.data["spec"])
    else:
        assert spec is not None
        sweep_id = new_sweep_id()
        sweep = Sweep(sweep_id, sweeps_dir(ws.root) / f"{sweep_id}.json", {})
    if backend == "local":
        check_devices(spec)
    with _locked(sweep.path.parent / f".{sweep.sweep_id}.lock"):
        if resume is not None:
            sweep = _read(sweep.path)  # as the previous process left it, now that we hold the lock
        inputs = _load_inputs(spec, ws.root, sweep)
        if resume is None:
            sweep.data = _new_record(sweep.sweep_id, spec, inputs, backend, address)
        from seqcast.runs.executors import make_executor

        todo = [c for c in sweep.cells if c["status"] != "done"]
        if resume is not None and not todo:
            return sweep  # every cell is done: nothing runs, so the record stays as it was (its backend too)
        # Started before anything is saved: a backend that cannot start changes nothing.
        executor = make_executor(backend, workers=workers, address=address) if todo else None
        try:
            for cell in todo:
                cell.update(status="pending", error=None)
                cell.pop("lasting", None)
            sweep.data.update(status="running", backend=backend, address=address)
            _save(sweep)
            if on_start is not None:
                on_start(sweep)
            if executor is not None:
                _drive(sweep, spec, inputs, todo, executor, ws.root, on_cell_end, on_retry)
        except KeyboardInterrupt:
            if executor is not None:
                executor.close()
            sweep.data["status"] = "interrupted"
            _finish(sweep, spec)
            counts = sweep.counts()
            raise SweepInterrupted(sweep.sweep_id, counts["done"], len(sweep.cells)) from None
        finally:
            if executor is not None:
                executor.close()
        failed = sweep.counts()["failed"]
        sweep.data["status"] = "finished" if not failed else "finished with failed cells"
        _finish(sweep, spec)
    return sweep


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
"""What _data_key returns: the symbol asked for, then the repr of each data option."""


def _load_inputs(spec: SweepSpec, home: Path, sweep: Sweep) -> dict[_DataKey, SeriesInput]:
    """Each distinct data selection (symbol, source, --from, --to) loaded once, by the driver."""
    from seqcast.config import make_config
    from seqcast.inputs.loading import load_input

    inputs: dict[_DataKey, SeriesInput] = {}
    for config in spec.configs():
        for symbol in spec.symbols:
            cfg = make_config(**config, symbol=symbol)
            key = _data_key(cfg, symbol)
            if key not in inputs:
                inputs[key] = load_input(cfg, home)
    return inputs


def _data_key(cfg: RunConfig, symbol: str | None) -> _DataKey:
    """One key per distinct load_input: the symbol asked for and every data option it reads."""
    return (symbol, *(repr(getattr(cfg.data, k)) for k in DATA_KEYS))


def _new_record(sweep_id: str, spec: SweepSpec, inputs: dict[_DataKey, SeriesInput], backend: str,
                address: str | None) -> dict[str, Any]:
    from seqcast.config import make_config
    from seqcast.runs.backtest import check_folds

    configs = spec.configs()
    cells: list[dict[str, Any]] = []
    for ci, config in enumerate(configs):
        for symbol in spec.symbols:
            series = inputs[_data_key(make_config(**config, symbol=symbol), symbol)]
            if spec.backtest:
                check_folds(len(series.values), make_config(series.cfg, **config), spec.backtest)
            for seed in range(spec.seed, spec.seed + spec.seeds):
                for fold in range(1, spec.backtest + 1) if spec.backtest else [None]:
                    cells.append({"cell": len(cells), "config": ci, "symbol": series.cfg.data.symbol,
                                  "source": series.cfg.data.source, "requested_symbol": symbol, "seed": seed,
                                  "fold": fold, "status": "pending"})
    varying = {k for k, v in spec.grid.items() if len(v) > 1}
    return {
        "sweep_id": sweep_id,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "status": "pending",
        "backend": backend,
        "address": address,
        "spec": spec.to_dict(),
        "configs": [{"label": config_label(c, varying), "options": c} for c in configs],
        "cells": cells,
        "backtests": [],
        "leaderboard": [],
    }


def _cell_config(spec: SweepSpec, sweep: Sweep, cell: dict[str, Any], inputs: dict[_DataKey, SeriesInput]
                 ) -> tuple[RunConfig, SeriesInput]:
    import dataclasses

    from seqcast.config import make_config

    options = spec.configs()[cell["config"]]
    series = inputs[_data_key(make_config(**options, symbol=cell["requested_symbol"]), cell["requested_symbol"])]
    # The covariates as load_input resolved them (SYMBOL:SOURCE), as `seqcast train` saves them.
    options = {k: v for k, v in options.items() if k != "covariates"}
    cfg = make_config(series.cfg, **options, seed=cell["seed"])
    # Everything load_input prepared travels with the cell: covariate inputs, descriptors, calendar.
    return cfg, dataclasses.replace(series, cfg=cfg)


def _drive(sweep: Sweep, spec: SweepSpec, inputs: dict[_DataKey, SeriesInput], todo: list[dict[str, Any]],
           executor: Any, home: Path, on_cell_end: CellCallback | None, on_retry: RetryCallback | None) -> None:
    from seqcast.runs.backtest import check_folds, run_fold
    from seqcast.runs.executors import Task
    from seqcast.runs.train import save_run

    tasks = []
    for cell in todo:
        cfg, series = _cell_config(spec, sweep, cell, inputs)
        if cell["fold"] is None:
            tasks.append(Task(cell["cell"], train_cell, (series,)))
        else:
            start, end = check_folds(len(series.values), cfg, spec.backtest)[cell["fold"] - 1]
            fold_inputs = None if series.inputs is None else series.inputs[:end]
            tasks.append(Task(cell["cell"], run_fold, (series.values[:end], cfg, start, fold_inputs)))
    sweep.data["workers"] = executor.workers
    total, done = len(sweep.cells), sum(c["status"] == "done" for c in sweep.cells)
    last_save = time.monotonic()

    def retried(key: Any, reason: str) -> None:
        cell = sweep.cells[key]
        cell.setdefault("worker_deaths", []).append(reason)
        if on_retry is not None:
            on_retry(cell, reason)

    for outcome in executor.run(tasks, on_retry=retried):
        cell = sweep.cells[outcome.key]
        cell.update(node=outcome.node, attempts=outcome.attempts, worker_deaths=outcome.worker_deaths)
        if not outcome.ok:
            # lasting: the options themselves cannot work (a seqcast error such as too little data);
            # running the cell again (--resume) would fail the same way.
            cell.update(status="failed", error=outcome.error, lasting=isinstance(outcome.exception, SeqcastError))
        elif cell["fold"] is None:
            record: RunRecord = outcome.value
            record.meta["sweep"] = {"sweep_id": sweep.sweep_id, "cell": cell["cell"]}
            run = save_run(record, home)
            test = record.report["test"]
            cell.update(status="done", run_id=run.run_id, test={k: test.get(k) for k in SUMMARY_METRICS if k in test},
                        seconds=record.meta["training"]["seconds"], epochs=record.meta["training"]["epochs_run"])
        else:
            out = outcome.value
            cell.update(status="done", test={k: out["metrics"].get(k) for k in SUMMARY_METRICS
                                             if k in out["metrics"]},
                        seconds=out["seconds"], epochs=out["epochs_run"],
                        fold_out={k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in out.items()})
            _save_backtest_if_complete(sweep, spec, inputs, cell, home)
        done += cell["status"] == "done"
        if on_cell_end is not None:
            on_cell_end(cell, done, total)
        if time.monotonic() - last_save >= SAVE_EVERY_S:
            _save(sweep)
            last_save = time.monotonic()


def _save_backtest_if_complete(sweep: Sweep, spec: SweepSpec, inputs: dict[_DataKey, SeriesInput],
                               cell: dict[str, Any], home: Path) -> None:
    """The last fold of a config × symbol × seed done: save its backtest as `seqcast backtest` would."""
    import numpy as np

    from seqcast.runs.backtest import fold_result, pool_folds
    from seqcast.runs.backtests import save_backtest

    group = [c for c in sweep.cells if (c["config"], c["requested_symbol"], c["seed"])
             == (cell["config"], cell["requested_symbol"], cell["seed"])]
    if any(c["status"] != "done" for c in group):
        return
    cfg, series = _cell_config(spec, sweep, cell, inputs)
    folds = []
    for c in sorted(group, key=lambda c: c["fold"]):
        out = {k: (np.asarray(v, dtype=np.float64) if k in ("actual", "predicted", "previous", "net_price") else v)
               for k, v in c["fold_out"].items()}
        folds.append(fold_result(c["fold"], out, series.dates))
    result = pool_folds(cfg, folds, sweep.data.get("workers", 1))
    result.meta["sweep"] = {"sweep_id": sweep.sweep_id, "cells": [c["cell"] for c in group]}
    save_backtest(result, series, home)
    for c in group:
        c.pop("fold_out", None)
        c["backtest_id"] = result.backtest_id
    pooled = result.pooled
    sweep.data["backtests"].append({
        "backtest_id": result.backtest_id, "config": cell["config"], "symbol": cell["symbol"],
        "seed": cell["seed"], "cells": [c["cell"] for c in group],
        "test": {k: pooled.get(k) for k in SUMMARY_METRICS if k in pooled},
        "seconds": round(sum(c.get("seconds") or 0.0 for c in group), 3),
    })


def _finish(sweep: Sweep, spec: SweepSpec) -> None:
    sweep.data["leaderboard"] = leaderboard(sweep)
    nodes: dict[str, int] = {}
    for cell in sweep.cells:
        if cell.get("node") and cell["status"] == "done":
            nodes[cell["node"]] = nodes.get(cell["node"], 0) + 1
    sweep.data["nodes"] = nodes
    _save(sweep)


def leaderboard(sweep: Sweep) -> list[dict[str, Any]]:
    """Per config, over its symbols and seeds: RMSE/naive mean ± sd, DM p, coverage, fit time.

    A unit is one training (or, with --backtest, one whole backtest and its pooled test days).
    "better"/"worse" count units whose Diebold–Mariano test says so at the 5 % level.
    Sorted by mean RMSE / naive, best first.
    """
    import statistics

    backtest = bool(sweep.data["spec"].get("backtest"))
    units = sweep.data.get("backtests", []) if backtest else [c for c in sweep.cells if c["status"] == "done"]
    rows = []
    for ci, config in enumerate(sweep.data["configs"]):
        mine = [u for u in units if u["config"] == ci]
        cells = [c for c in sweep.cells if c["config"] == ci]
        ratios = [u["test"]["rmse_ratio"] for u in mine if _finite(u["test"].get("rmse_ratio"))]
        pvalues = [u["test"]["dm_pvalue"] for u in mine if _finite(u["test"].get("dm_pvalue"))]
        coverage = [u["test"]["interval_coverage"] for u in mine if _finite(u["test"].get("interval_coverage"))]
        seconds = [c["seconds"] for c in cells if c["status"] == "done" and _finite(c.get("seconds"))]

        def significant(sign: int, mine: list[dict[str, Any]] = mine) -> int:
            return sum(1 for u in mine if _finite(u["test"].get("dm_pvalue")) and u["test"]["dm_pvalue"] < 0.05
                       and _finite(u["test"].get("rmse_ratio")) and sign * (1 - u["test"]["rmse_ratio"]) > 0)

        rows.append({
            "config": ci, "label": config["label"], "options": config["options"],
            "units": len(mine), "cells_done": sum(c["status"] == "done" for c in cells),
            "cells_failed": sum(c["status"] == "failed" for c in cells), "cells": len(cells),
            "rmse_ratio_mean": statistics.fmean(ratios) if ratios else None,
            "rmse_ratio_sd": statistics.stdev(ratios) if len(ratios) > 1 else None,
            "dm_pvalue_median": statistics.median(pvalues) if pvalues else None,
            "better_than_naive": significant(+1), "worse_than_naive": significant(-1),
            "interval_coverage_mean": statistics.fmean(coverage) if coverage else None,
            "fit_seconds_mean": statistics.fmean(seconds) if seconds else None,
        })
    rows.sort(key=lambda r: (r["rmse_ratio_mean"] is None, r["rmse_ratio_mean"] or 0.0))
    return rows


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


__all__ = ["Sweep", "SweepInterrupted", "SweepSpec", "grid_options", "leaderboard", "list_sweeps", "load_sweep",
           "parse_grid_args", "read_config_file", "remove_sweep", "run_sweep", "sweep_files"]
