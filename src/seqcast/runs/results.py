"""A sweep's results table: one row per finished cell, in SQLite (the standard library's sqlite3).

<home>/sweeps/<id>.sqlite beside the sweep's JSON record. A cell is done exactly when its row is
committed (one transaction per cell, so a `kill -9` of the driver loses at most the cell being
written); the JSON record is a summary rewritten now and then, and on --resume the table wins.
Every cell's config, symbol, seed, fold, metrics, fit seconds and run id (when its run folder is
kept, --keep-runs) are here, whether or not it got a run folder; `configs` holds each config's
label and options, `backtests` each finished backtest of a --backtest sweep, `losses` each trained
cell's test-part squared errors of the model and of naive per day (float32; the days as int32 days
since 1970-01-01), what the search-aware test of the best config against naive needs (spa_test).
"""

from __future__ import annotations

import heapq
import json
import math
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast.errors import ConfigError, RunCorruptError, SeqcastError

if TYPE_CHECKING:
    from seqcast.config import RunConfig
    from seqcast.inputs.loading import SeriesInput

_MAX_KEPT = 100_000
SUMMARY_METRICS = ("n", "rmse", "naive_rmse", "rmse_ratio", "directional_accuracy", "dm_pvalue",
                   "interval_coverage")
"""The test metrics a sweep keeps per cell (in its record and its results table)."""
KEEP_RUNS_HELP = "all (every cell a run folder), best:N (the N lowest RMSE / naive) or none"


def parse_keep_runs(text: str) -> tuple[str, int | None]:
    """--keep-runs all | best:N | none -> ("all", None) | ("best", N) | ("none", 0)."""
    value = str(text).strip().lower()
    if value in ("all", "none"):
        return value, (None if value == "all" else 0)
    kind, _, count = value.partition(":")
    if kind == "best" and count.isdigit() and 1 <= int(count) <= _MAX_KEPT:
        return "best", int(count)
    raise ConfigError(f"--keep-runs takes {KEEP_RUNS_HELP}, got {text!r}")


CellConfig = Callable[[dict[str, Any]], "tuple[RunConfig, SeriesInput]"]
"""cell -> (its config, the series it trains on)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS configs (config INTEGER PRIMARY KEY, label TEXT NOT NULL, options TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    cell INTEGER PRIMARY KEY, config INTEGER NOT NULL, symbol TEXT, source TEXT, requested_symbol TEXT,
    seed INTEGER NOT NULL, fold INTEGER, status TEXT NOT NULL, run_id TEXT, test TEXT, seconds REAL,
    epochs INTEGER, node TEXT, attempts INTEGER, worker_deaths TEXT, error TEXT, lasting INTEGER,
    fold_out TEXT, backtest_id TEXT);
CREATE TABLE IF NOT EXISTS losses (cell INTEGER PRIMARY KEY, days BLOB NOT NULL, model BLOB NOT NULL,
    naive BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS backtests (
    config INTEGER NOT NULL, requested_symbol TEXT, seed INTEGER NOT NULL, backtest_id TEXT NOT NULL,
    symbol TEXT, cells TEXT NOT NULL, test TEXT, seconds REAL, PRIMARY KEY (config, requested_symbol, seed));
"""
_CELL_COLUMNS = ("cell", "config", "symbol", "source", "requested_symbol", "seed", "fold", "status", "run_id",
                 "test", "seconds", "epochs", "node", "attempts", "worker_deaths", "error", "lasting", "fold_out",
                 "backtest_id")
_JSON_COLUMNS = ("test", "worker_deaths", "fold_out")


def results_path(record_path: Path) -> Path:
    """<id>.sqlite beside <id>.json."""
    return record_path.with_suffix(".sqlite")


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(plain(value), allow_nan=False)


def plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if hasattr(obj, "tolist"):
        return plain(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


class Results:
    """The open table of one sweep; use as a context manager (closes the connection)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, timeout=5.0)
            self._db.executescript(_SCHEMA)
            self._db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            raise RunCorruptError(f"{path} is not a readable sweep results table ({exc})") from None
        except sqlite3.Error as exc:  # OperationalError: a folder, no permission, a full disk
            raise ConfigError(f"cannot write the sweep results table {path}: {exc}") from None

    def __enter__(self) -> Results:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ writing

    def add_configs(self, configs: Iterable[tuple[int, str, dict[str, Any]]]) -> None:
        """(config, label, options) of configs at once (save_cell adds each finished cell's own)."""
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO configs VALUES (?, ?, ?)",
                                 ((i, label, json.dumps(options)) for i, label, options in configs))

    def save_cell(self, cell: dict[str, Any], config: dict[str, Any] | None = None,
                  losses: tuple[bytes, bytes, bytes] | None = None) -> None:
        """The cell's row, committed now: from here on it is done (or failed) for a resume.
        config (the record's {"label", "options"} of the cell's config) is added to configs once;
        losses (test_losses of its predictions) in the same transaction."""
        row = [(_dumps(cell.get(c)) if c in _JSON_COLUMNS else cell.get(c)) for c in _CELL_COLUMNS]
        row[_CELL_COLUMNS.index("lasting")] = int(bool(cell.get("lasting")))
        with self._db:
            if config is not None:
                self._db.execute("INSERT OR IGNORE INTO configs VALUES (?, ?, ?)",
                                 (cell["config"], config["label"], json.dumps(config["options"])))
            self._db.execute(f"INSERT OR REPLACE INTO cells ({', '.join(_CELL_COLUMNS)}) VALUES "
                             f"({', '.join('?' * len(_CELL_COLUMNS))})", row)
            if losses is None:
                self._db.execute("DELETE FROM losses WHERE cell = ?", (cell["cell"],))
            else:
                self._db.execute("INSERT OR REPLACE INTO losses VALUES (?, ?, ?, ?)", (cell["cell"], *losses))

    def set_run(self, cell: int, run_id: str | None) -> None:
        """A cell's run folder kept (its id) or removed (None) under --keep-runs best:N."""
        with self._db:
            self._db.execute("UPDATE cells SET run_id = ? WHERE cell = ?", (run_id, cell))

    def save_backtest(self, entry: dict[str, Any], requested_symbol: str | None) -> None:
        """A backtest of a --backtest sweep saved: its row, and its fold cells' bulky outputs dropped."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO backtests VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (entry["config"], requested_symbol, entry["seed"], entry["backtest_id"],
                              entry.get("symbol"), json.dumps(entry["cells"]), _dumps(entry.get("test")),
                              entry.get("seconds")))
            self._db.executemany("UPDATE cells SET fold_out = NULL, backtest_id = ? WHERE cell = ?",
                                 ((entry["backtest_id"], c) for c in entry["cells"]))

    # ------------------------------------------------------------------ reading

    def cells(self) -> Iterator[dict[str, Any]]:
        """Every saved cell row as the JSON record's cell dict (fold_out included while it is held)."""
        for row in self._db.execute(f"SELECT {', '.join(_CELL_COLUMNS)} FROM cells ORDER BY cell"):
            cell = dict(zip(_CELL_COLUMNS, row, strict=True))
            for name in _JSON_COLUMNS:
                cell[name] = None if cell[name] is None else json.loads(cell[name])
            cell["lasting"] = bool(cell["lasting"])
            yield {k: v for k, v in cell.items() if v is not None or k in ("fold", "run_id", "error")}

    def backtests(self) -> list[tuple[str | None, dict[str, Any]]]:
        """(requested_symbol, the record's backtest entry) per saved backtest."""
        out = []
        for config, requested, seed, ident, symbol, cells, test, seconds in self._db.execute(
                "SELECT * FROM backtests ORDER BY rowid"):
            out.append((requested, {"backtest_id": ident, "config": config, "symbol": symbol, "seed": seed,
                                    "cells": json.loads(cells), "test": json.loads(test) if test else {},
                                    "seconds": seconds}))
        return out

    def losses(self) -> Iterator[tuple[int, Any, Any, Any]]:
        """(cell, days, model, naive) per cell with saved test losses: (n,) int32 days since 1970-01-01
        and the (n,) float32 squared errors of the model and of naive; rows of another length are skipped."""
        import numpy as np

        for cell, days, model, naive in self._db.execute("SELECT cell, days, model, naive FROM losses ORDER BY cell"):
            if not all(isinstance(b, bytes) for b in (days, model, naive)) or not len(days) == len(model) == len(naive):
                continue
            if len(days) % 4:
                continue
            yield (int(cell), np.frombuffer(days, dtype="<i4"), np.frombuffer(model, dtype="<f4"),
                   np.frombuffer(naive, dtype="<f4"))

    def count(self, status: str = "done") -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM cells WHERE status = ?", (status,)).fetchone()[0])


# --------------------------------------------------------------------------- which runs are kept


def _score(cell: dict[str, Any]) -> float:
    ratio = (cell.get("test") or {}).get("rmse_ratio")
    return float(ratio) if ratio is not None and _finite(ratio) else math.inf


class KeptRuns:
    """--keep-runs: which finished training cells have a run folder.

    all: every cell; none: no cell (its row alone); best:N: the N lowest RMSE / naive so far. Under
    best:N a new cell better than the worst kept one gets a folder, and the worst loses its own
    (its row says so first, so a kill between the two leaves at most one folder too many, which a
    resume removes); at the end exactly the N best cells have folders.
    """

    def __init__(self, keep_runs: str, cells: list[dict[str, Any]], table: Results, home: Path) -> None:
        self.mode, self.n = parse_keep_runs(keep_runs)
        self.cells, self.table, self.home = cells, table, home
        # A max-heap on the score (ties: the later cell goes first): the worst kept cell on top.
        self._heap: list[tuple[float, int]] = [(-_score(c), -c["cell"]) for c in cells
                                               if c["status"] == "done" and c.get("run_id") and c["fold"] is None]
        heapq.heapify(self._heap)

    def wants(self, cell: dict[str, Any]) -> bool:
        if self.mode != "best":
            return self.mode == "all"
        assert self.n is not None
        return len(self._heap) < self.n or _score(cell) < -self._heap[0][0]

    def added(self, cell: dict[str, Any]) -> None:
        """After the cell's row is saved: track it, and drop the run of the one it pushed out."""
        if self.mode != "best" or not cell.get("run_id"):
            return
        heapq.heappush(self._heap, (-_score(cell), -cell["cell"]))
        assert self.n is not None
        while len(self._heap) > self.n:
            _, worst = heapq.heappop(self._heap)
            self.drop(self.cells[-worst])

    def drop(self, cell: dict[str, Any]) -> None:
        from seqcast.runs.registry import Run, remove_run
        from seqcast.workspace import Workspace

        run_id = cell.get("run_id")
        cell["run_id"] = None
        self.table.set_run(cell["cell"], None)
        path = Workspace.resolve(self.home).runs_dir / str(run_id)
        if run_id and path.is_dir() and not path.is_symlink():
            remove_run(Run(str(run_id), path))


def tagged_runs(home: Path, sweep_id: str, cells: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Cells whose run folder (meta.json tagged with this sweep) is saved although their row is not:
    each marked done from the run's own metrics and yielded (the caller saves its row)."""
    from seqcast.runs.registry import Run, RunStore
    from seqcast.workspace import Workspace

    store = RunStore(Workspace.resolve(home))
    for run_id in store.ids():
        run = Run(run_id, store.root / run_id)
        try:
            tag = run.meta.get("sweep") or {}
            if not isinstance(tag, dict) or tag.get("sweep_id") != sweep_id:
                continue
            index = tag.get("cell")
            if not isinstance(index, int) or not 0 <= index < len(cells) or cells[index]["status"] == "done":
                continue
            test, training = run.metrics.get("test") or {}, run.meta.get("training") or {}
        except (SeqcastError, OSError, AttributeError):
            continue  # not readable: not adopted (the cell trains again)
        cell = cells[index]
        cell.update(status="done", run_id=run_id, error=None,
                    test=plain({k: test.get(k) for k in SUMMARY_METRICS if k in test}),
                    seconds=training.get("seconds"), epochs=training.get("epochs_run"))
        yield cell


def tagged_backtests(home: Path, sweep_id: str, cells: list[dict[str, Any]], known: set[str]
                     ) -> Iterator[tuple[list[int], dict[str, Any]]]:
    """Backtests saved for this sweep but not in its table: (their fold cells, the record's entry)."""
    from seqcast.runs.records import backtest_ids, read_backtest
    from seqcast.workspace import Workspace

    ws = Workspace.resolve(home)
    for ident in backtest_ids(ws):
        if ident in known:
            continue
        try:
            data = read_backtest(ws, ident).data
            tag = data.get("sweep") or {}
            if not isinstance(tag, dict) or tag.get("sweep_id") != sweep_id:
                continue
            group = [int(i) for i in tag.get("cells") or []]
            if not group or not all(0 <= i < len(cells) for i in group):
                continue
            pooled = data.get("pooled") or {}
            first = cells[group[0]]
            entry = {"backtest_id": ident, "config": first["config"], "symbol": first["symbol"],
                     "seed": first["seed"], "cells": group,
                     "test": plain({k: pooled.get(k) for k in SUMMARY_METRICS if k in pooled}),
                     "seconds": round(sum(float(f.get("seconds") or 0.0) for f in data.get("folds") or []), 3)}
        except (SeqcastError, OSError, AttributeError, TypeError, ValueError):
            continue
        known.add(ident)
        yield group, entry


# --------------------------------------------------------------------------- backtests and resumes


def _group(sweep: Any, folds: int, cell: dict[str, Any]) -> list[dict[str, Any]]:
    """The fold cells of one config × symbol × seed: consecutive in the record (folds innermost)."""
    base = cell["cell"] - (cell["fold"] - 1)
    group: list[dict[str, Any]] = sweep.cells[base:base + folds]
    return group


def save_backtest_if_complete(sweep: Any, folds: int, cell_config: CellConfig, cell: dict[str, Any], home: Path,
                              table: Results) -> None:
    """The last fold of a config × symbol × seed done: save its backtest as `seqcast backtest` would."""
    import dataclasses

    import numpy as np

    from seqcast.runs.backtest import fold_result, pool_folds
    from seqcast.runs.records import save_backtest

    group = _group(sweep, folds, cell)
    if any(c["status"] != "done" or "fold_out" not in c for c in group) or cell.get("backtest_id"):
        return
    cfg, series = cell_config(cell)
    finished = []
    for c in sorted(group, key=lambda c: c["fold"]):
        out = {k: (np.asarray(v, dtype=np.float64) if k in ("actual", "predicted", "previous", "net_price") else v)
               for k, v in c["fold_out"].items()}
        finished.append(fold_result(c["fold"], out, series.dates))
    result = pool_folds(cfg, finished, sweep.data.get("workers", 1))
    result.meta["sweep"] = {"sweep_id": sweep.sweep_id, "cells": [c["cell"] for c in group]}
    save_backtest(result, dataclasses.replace(series, cfg=cfg), home)
    pooled = result.pooled
    _add_backtest(sweep, table, group, {
        "backtest_id": result.backtest_id, "config": cell["config"], "symbol": cell["symbol"],
        "seed": cell["seed"], "cells": [c["cell"] for c in group],
        "test": plain({k: pooled.get(k) for k in SUMMARY_METRICS if k in pooled}),
        "seconds": round(sum(c.get("seconds") or 0.0 for c in group), 3),
    })


def _add_backtest(sweep: Any, table: Results, group: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    table.save_backtest(entry, group[0]["requested_symbol"])
    for c in group:
        c.pop("fold_out", None)
        c["backtest_id"] = entry["backtest_id"]
    sweep.data["backtests"].append(entry)


def reconcile(sweep: Any, folds: int, cell_config: CellConfig, table: Results, home: Path) -> bool:
    """Before a resume: every cell whose row is in the results table, or whose run (or backtest) is saved,
    is done, whatever the JSON record (rewritten only now and then) says. True when anything changed."""
    changed = False
    cells = sweep.cells
    for row in table.cells():
        if not 0 <= row["cell"] < len(cells):
            continue
        cell = cells[row["cell"]]
        if any(cell.get(k) != row.get(k) for k in ("status", "run_id", "backtest_id")):
            cell.update(row)  # the row is the truth: the record was not rewritten after it
            changed = True
    known = {b["backtest_id"] for b in sweep.data["backtests"]}
    for _requested, entry in table.backtests():
        if entry["backtest_id"] not in known:
            sweep.data["backtests"].append(entry)
            for i in entry["cells"]:
                cells[i]["backtest_id"] = entry["backtest_id"]
                cells[i].pop("fold_out", None)
            known.add(entry["backtest_id"])
            changed = True
    for cell in tagged_runs(home, sweep.sweep_id, cells):  # a run saved, its row not (killed between)
        table.save_cell(cell, sweep.data["configs"][cell["config"]])
        changed = True
    for group_cells, entry in tagged_backtests(home, sweep.sweep_id, cells, known):
        group = [cells[i] for i in group_cells]
        for c in group:
            c.update(status="done")
            table.save_cell(c, sweep.data["configs"][c["config"]])
        _add_backtest(sweep, table, group, entry)
        changed = True
    if folds:  # every fold done, but killed before its backtest was saved
        for c in cells:
            if c["fold"] == folds and not c.get("backtest_id"):
                save_backtest_if_complete(sweep, folds, cell_config, c, home, table)
                changed = changed or bool(c.get("backtest_id"))
    return changed


# --------------------------------------------------------------------------- the leaderboard


def _units(record: dict[str, Any], cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What one test against naive is about: a done cell, or with --backtest a whole backtest."""
    if record["spec"].get("backtest"):
        units: list[dict[str, Any]] = record.get("backtests", [])
        return units
    return [c for c in cells if c["status"] == "done"]


def counting(sweep: Any) -> dict[str, Any]:
    """The record's "multiple_testing": Holm's correction over every unit's Diebold–Mariano test
    (seqcast.forecast.stats.multiple_testing), with the raw counts and what chance alone gives."""
    from seqcast.forecast.stats import multiple_testing

    units = _units(sweep.data, sweep.cells)
    p = [u["test"].get("dm_pvalue") if _finite(u["test"].get("dm_pvalue")) else math.nan for u in units]
    r = [u["test"].get("rmse_ratio") if _finite(u["test"].get("rmse_ratio")) else math.nan for u in units]
    return multiple_testing(p, r)


def leaderboard(record: dict[str, Any], cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per config, over its symbols and seeds: RMSE/naive mean ± sd, DM p, coverage, fit time.

    A unit is one training (or, with --backtest, one whole backtest and its pooled test days).
    "better"/"worse" count units whose Diebold–Mariano test says so after Holm's correction over all
    the sweep's units (better_raw / worse_raw: at p < 0.05 alone, which chance gives 5 % of the time).
    Sorted by mean RMSE / naive, best first. One pass over the cells (linear in the grid).
    """
    import statistics

    import numpy as np

    from seqcast.forecast.stats import holm

    units = _units(record, cells)
    p = np.array([u["test"].get("dm_pvalue") if _finite(u["test"].get("dm_pvalue")) else np.nan for u in units],
                 dtype=np.float64)
    rejected = holm(p)
    n = len(record["configs"])
    unit_of: list[list[Any]] = [[] for _ in range(n)]
    holm_of: list[list[bool]] = [[] for _ in range(n)]
    counts = [[0, 0, 0] for _ in range(n)]  # cells, done, failed
    seconds_of: list[list[float]] = [[] for _ in range(n)]
    for unit, rej in zip(units, rejected, strict=True):
        unit_of[unit["config"]].append(unit)
        holm_of[unit["config"]].append(bool(rej))
    for cell in cells:
        tally = counts[cell["config"]]
        tally[0] += 1
        if cell["status"] == "done":
            tally[1] += 1
            if _finite(cell.get("seconds")):
                seconds_of[cell["config"]].append(cell["seconds"])
        elif cell["status"] == "failed":
            tally[2] += 1
    rows = []
    for ci, config in enumerate(record["configs"]):
        mine, seconds, (n_cells, n_done, n_failed) = unit_of[ci], seconds_of[ci], counts[ci]
        if not mine and not n_done and not n_failed:  # nothing finished yet: a row without numbers
            rows.append({"config": ci, "label": config["label"], "options": config["options"], "units": 0,
                         "cells_done": 0, "cells_failed": 0, "cells": n_cells, "rmse_ratio_mean": None,
                         "rmse_ratio_sd": None, "dm_pvalue_median": None, "better_than_naive": 0,
                         "worse_than_naive": 0, "better_raw": 0, "worse_raw": 0, "interval_coverage_mean": None,
                         "fit_seconds_mean": None})
            continue
        tests = [u["test"] for u in mine]
        ratios = [t["rmse_ratio"] for t in tests if _finite(t.get("rmse_ratio"))]
        pvalues = [t["dm_pvalue"] for t in tests if _finite(t.get("dm_pvalue"))]
        coverage = [t["interval_coverage"] for t in tests if _finite(t.get("interval_coverage"))]

        def count(sign: int, corrected: bool, tests: list[dict[str, Any]] = tests,
                  rejected: list[bool] = holm_of[ci]) -> int:
            return sum(1 for t, rej in zip(tests, rejected, strict=True)
                       if _finite(t.get("dm_pvalue")) and (rej if corrected else t["dm_pvalue"] < 0.05)
                       and _finite(t.get("rmse_ratio")) and sign * (1 - t["rmse_ratio"]) > 0)

        rows.append({
            "config": ci, "label": config["label"], "options": config["options"],
            "units": len(mine), "cells_done": n_done, "cells_failed": n_failed, "cells": n_cells,
            "rmse_ratio_mean": statistics.fmean(ratios) if ratios else None,
            "rmse_ratio_sd": statistics.stdev(ratios) if len(ratios) > 1 else None,
            "dm_pvalue_median": statistics.median(pvalues) if pvalues else None,
            "better_than_naive": count(+1, True), "worse_than_naive": count(-1, True),
            "better_raw": count(+1, False), "worse_raw": count(-1, False),
            "interval_coverage_mean": statistics.fmean(coverage) if coverage else None,
            "fit_seconds_mean": statistics.fmean(seconds) if seconds else None,
        })
    rows.sort(key=lambda r: (r["rmse_ratio_mean"] is None, r["rmse_ratio_mean"] or 0.0))
    return rows


def test_losses(predictions: Any) -> tuple[bytes, bytes, bytes] | None:
    """A run's test part as Results.save_cell stores it: (days int32, model and naive squared errors
    float32), little-endian bytes; None when the predictions have no naive column or no test day."""
    import numpy as np

    if not {"date", "part", "actual", "predicted", "naive"} <= set(predictions.columns):
        return None
    test = predictions[predictions["part"] == "test"]
    if test.empty:
        return None
    days = test["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    actual = test["actual"].to_numpy(dtype=np.float64)
    model = (actual - test["predicted"].to_numpy(dtype=np.float64)) ** 2
    naive = (actual - test["naive"].to_numpy(dtype=np.float64)) ** 2
    return (days.astype("<i4").tobytes(), model.astype("<f4").tobytes(), naive.astype("<f4").tobytes())


def spa_test(record: dict[str, Any], cells: list[dict[str, Any]], table: Results) -> dict[str, Any]:
    """The record's "spa": Hansen's SPA test of the best config against naive, accounting for the search
    over every config (seqcast.forecast.stats.spa_pvalue).

    Per symbol, the days every config's cells forecast; per config and day, the gain naive − model of
    the squared errors averaged over the config's seeds and divided by naive's mean squared error on
    that symbol (so symbols of different scales weigh alike); the symbols' days one after the other.
    A config without a trained cell on some symbol is left out. {"method", "pvalue": None, "reason"}
    when there is nothing to test (a --backtest sweep, fewer than 10 common days, no saved losses).
    """
    import numpy as np

    from seqcast.errors import DataError
    from seqcast.forecast.stats import SPA_REPS, spa_pvalue

    none: dict[str, Any] = {"method": "hansen-spa", "pvalue": None, "reps": SPA_REPS}
    if record["spec"].get("backtest"):
        return {**none, "reason": "not computed for a --backtest sweep"}
    by_cell = {c["cell"]: c for c in cells if c["status"] == "done" and c.get("fold") is None}
    groups: dict[str, dict[int, list[tuple[Any, Any, Any]]]] = {}
    for cell, days, model, naive in table.losses():
        if cell in by_cell and np.isfinite(model).all() and np.isfinite(naive).all():
            c = by_cell[cell]
            groups.setdefault(str(c.get("requested_symbol") or c.get("symbol")), {}).setdefault(
                c["config"], []).append((days, model, naive))
    configs = sorted(set.intersection(*(set(g) for g in groups.values()))) if groups else []
    if not configs:
        return {**none, "reason": "no config has saved test losses on every symbol"}
    parts = []
    for symbol in sorted(groups):
        common = None
        for config in configs:
            for days, _, _ in groups[symbol][config]:
                common = days if common is None else np.intersect1d(common, days)
        if common is None or len(common) == 0:
            continue
        gains = []
        for config in configs:
            model = np.mean([m[np.searchsorted(d, common)] for d, m, _ in groups[symbol][config]], axis=0)
            naive = np.mean([n[np.searchsorted(d, common)] for d, _, n in groups[symbol][config]], axis=0)
            scale = float(np.mean(naive))
            gains.append((naive - model) / (scale if scale > 0 else 1.0))
        parts.append(np.column_stack(gains))
    try:
        found = spa_pvalue(np.concatenate(parts, axis=0) if parts else np.zeros((0, len(configs))))
    except DataError as exc:
        return {**none, "reason": str(exc)}
    best = configs[int(found.pop("best"))]
    return {"method": found["method"], "best_config": record["configs"][best]["label"], "config": best,
            "pvalue": found["pvalue"], "reps": found["reps"], "configs": found["models"], "days": found["days"]}


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


__all__ = ["KEEP_RUNS_HELP", "KeptRuns", "Results", "counting", "leaderboard", "parse_keep_runs", "reconcile",
           "results_path", "save_backtest_if_complete", "spa_test", "tagged_backtests", "tagged_runs", "test_losses"]
