"""Saved backtests (<workspace>/backtests/<id>.json): save, list, find by id or prefix, read, remove.

Also resolves an id that may name either a run or a backtest, for `plot` and `report`, and
removes or exports either.
A backtest file is data: it is read as JSON and checked for the fields seqcast uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast.errors import RunNotFoundError
from seqcast.runs import records
from seqcast.runs.registry import CSV_FLOAT_FORMAT, Run, RunStore, remove_run, rename_old_keys
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    from seqcast.inputs.loading import SeriesInput
    from seqcast.runs.backtest import BacktestResult

FIX = "delete it (seqcast runs rm ID), or run the backtest again"
"""The next step after a backtest record that cannot be used."""
HINT = "seqcast runs --backtests"


@dataclass
class BacktestRecord:
    """A saved walk-forward backtest: its id (its file name), file and JSON content (checked on reading)."""

    backtest_id: str
    path: Path
    data: dict[str, Any]


def backtests_dir(ws: Workspace) -> Path:
    return ws.root / "backtests"


def backtest_ids(ws: Workspace) -> list[str]:
    """Ids of saved backtests, oldest first (a record in place that cannot be read too: reading it says why)."""
    return records.json_ids(backtests_dir(ws))


def read_backtest(ws: Workspace, backtest_id: str) -> BacktestRecord:
    """The backtest backtests/<backtest_id>.json, read safely and checked; RunCorruptError otherwise."""
    if not records.is_id(backtest_id):
        raise RunNotFoundError(f"{backtest_id!r} is not a backtest id; list backtests with: {HINT}")
    path = backtests_dir(ws) / f"{backtest_id}.json"
    data = records.read_record(path, ident=backtest_id, id_key="backtest_id", check=check_backtest, fix=FIX)
    for fold in data["folds"]:
        rename_old_keys(fold, {"shrink": "shrinkage_weight"})  # a backtest saved before the rename
    data["path"] = str(path)  # where it is, not where the file says it was
    return BacktestRecord(backtest_id, path, data)


def check_backtest(data: dict[str, Any], path: Path) -> None:
    """Every field of a backtest record that seqcast uses has its type (records.read_record's check)."""
    from datetime import date

    def need(ok: bool, what: str) -> None:
        records.need(ok, path, what, FIX)

    need(isinstance(data.get("folds"), list), "no list of folds")
    need(isinstance(data.get("pooled"), dict) and isinstance(data.get("config"), dict),
         "no pooled metrics and config")
    for key in ("data", "linear", "meta"):
        records.optional(data, key, dict, path, FIX)
    for key in ("symbol", "source", "verdict", "created_at", "calendar_name"):
        records.optional(data, key, str, path, FIX)
    records.optional(data, "inputs", list, path, FIX)
    need(data.get("workers") is None or records.is_int(data["workers"]), "'workers' must be a whole number")
    records.numbers(data.get("pooled") or {}, path, "'pooled'", FIX)
    records.numbers(data.get("linear") or {}, path, "'linear'", FIX)
    for section in ("model", "data", "training", "split"):
        records.optional(data.get("config") or {}, section, dict, path, FIX, f"config.{section}")
    for i, fold in enumerate(data["folds"]):
        need(isinstance(fold, dict), "every fold must be an object")
        where = f"fold {i + 1}"
        need(fold.get("fold") is None or records.is_int(fold["fold"]), f"{where}: 'fold' must be a whole number")
        need(fold.get("n_test") is None or records.is_int(fold["n_test"]), f"{where}: 'n_test' must be a number")
        for key in ("train_first", "train_last", "test_first", "test_last"):
            records.optional(fold, key, str, path, FIX, f"{where}: {key}")
        for key in ("shrinkage_weight", "shrink", "epochs_run", "seconds"):
            need(fold.get(key) is None or records.is_number(fold[key]), f"{where}: {key!r} must be a number")
        records.numbers(fold.get("metrics") or {}, path, f"{where}: 'metrics'", FIX)
        predictions = fold.get("predictions") or []
        need(isinstance(predictions, list), f"{where}: 'predictions' must be a list")
        for row in predictions:
            need(isinstance(row, dict) and all(row.get(k) is None or records.is_number(row[k])
                                               for k in ("actual", "predicted", "naive")),
                 f"{where}: every prediction must hold numbers")
            try:
                date.fromisoformat(row.get("date"))
            except (TypeError, ValueError):
                need(False, f"{where}: a prediction's date must be YYYY-MM-DD")


def get_backtest(ws: Workspace, ident: str | None = None) -> BacktestRecord:
    """A backtest by id or unique prefix; the latest when None."""
    ids = backtest_ids(ws)
    found = records.pick(ids, ident, noun="backtest", hint=HINT,
                         empty="no backtests yet; run one first: seqcast backtest")
    return read_backtest(ws, found)


def resolve(ws: Workspace, ident: str | None, *, unread: bool = False) -> Run | BacktestRecord:
    """A run or a backtest named by id or unique prefix (None: the latest run).

    unread: a backtest is not read (its data is {}): what removing one needs, even an unreadable one.
    """
    read = _unread if unread else read_backtest
    store = RunStore(ws)
    if ident is None or not records.typed_ident(ident):
        return store.get(ident)  # the latest run, or RunStore's message for what is not an id
    runs, backtests = store.ids(), backtest_ids(ws)
    if ident in runs:
        return store.get(ident)
    if ident in backtests:
        return read(ws, ident)
    run_matches = [i for i in runs if i.startswith(ident)]
    bt_matches = [i for i in backtests if i.startswith(ident)]
    if len(run_matches) + len(bt_matches) > 1:
        raise RunNotFoundError(
            f"{ident!r} matches {_count(len(run_matches), 'run')} and {_count(len(bt_matches), 'backtest')}; "
            "give more of the id "
            "(seqcast runs, seqcast runs --backtests)"
        )
    if bt_matches:
        return read(ws, bt_matches[0])
    return store.get(ident)  # a unique run, or RunStore's own message (not found, incomplete, link)


def _unread(ws: Workspace, backtest_id: str) -> BacktestRecord:
    return BacktestRecord(backtest_id, backtests_dir(ws) / f"{backtest_id}.json", {})


def backtest_files(record: BacktestRecord) -> list[Path]:
    """Every file of a backtest in backtests/: its report and charts, the md report's <id>_files/,
    then the JSON itself (last: a backtest stays listed until everything else is gone)."""
    return [*records.beside(record.path, record.backtest_id), record.path]


def remove_backtest(record: BacktestRecord) -> None:
    """Delete the backtest's JSON and the report and charts seqcast wrote beside it (WorkspaceError if not)."""
    records.remove_files(backtest_files(record), record.path.parent)


def remove(found: Run | BacktestRecord) -> None:
    """Delete a run folder, or a backtest with its report and charts (it disappears from listings at once)."""
    if isinstance(found, Run):
        remove_run(found)
        return
    remove_backtest(found)  # its JSON and the report and charts beside it


def save_backtest(result: BacktestResult, series: SeriesInput, home: Path | str | None = None) -> BacktestResult:
    """Give a finished backtest an id and write it to <home>/backtests/<id>.json (atomically)."""
    from seqcast import fileio
    from seqcast.inputs.loading import fingerprint

    ws = Workspace.resolve(home)
    cfg, values, dates = series.cfg, series.values, series.dates
    result.config = cfg
    result.backtest_id = RunStore(ws).new_id(cfg.model.kind, str(cfg.data.symbol))
    result.meta = {
        **result.meta,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "symbol": cfg.data.symbol,
        "source": cfg.data.source,
        "data": {"first": str(dates[0].date()), "last": str(dates[-1].date()), "rows": len(values),
                 "fingerprint": fingerprint(dates, values),
                 "store_sha256": series.store_sha256},
        **series.sampling,
    }
    result.path = backtests_dir(ws) / f"{result.backtest_id}.json"
    fileio.write_json(result.path, result.to_dict(predictions=True))
    return result


def predictions_csv(found: Run | BacktestRecord) -> str:
    """A run's predictions.csv as text; for a backtest, every fold's test forecasts."""
    if isinstance(found, Run):
        return found.predictions().to_csv(index=False, lineterminator="\n", date_format="%Y-%m-%d",
                                          float_format=CSV_FLOAT_FORMAT)
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["fold", "date", "actual", "predicted", "naive"])
    for fold in found.data["folds"]:
        for row in fold.get("predictions") or []:
            writer.writerow([fold.get("fold"), row.get("date"),
                             *(_csv_number(row.get(k)) for k in ("actual", "predicted", "naive"))])
    return buffer.getvalue()


def _csv_number(value: Any) -> Any:
    return CSV_FLOAT_FORMAT % value if isinstance(value, float) else value


def get_run(ws: Workspace, ident: str | None, command: str) -> Run:
    """A run by id or unique prefix for a command that needs a run; a backtest's id is named as one."""
    try:
        return RunStore(ws).get(ident)
    except RunNotFoundError:
        if ident is not None and records.typed_ident(ident) and len(records.matching(backtest_ids(ws), ident)) == 1:
            raise RunNotFoundError(
                f"{ident!r} is a backtest; {command} needs a run id (a backtest has one model per "
                "fold); list runs with: seqcast runs") from None
        raise


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
