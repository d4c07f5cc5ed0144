"""Saved backtests (<workspace>/backtests/<id>.json): save, list, find by id or prefix, read, remove.

Also resolves an id that may name either a run or a backtest, for `plot` and `report`, and
removes or exports either.
A backtest file is data: it is read as JSON and checked for the fields seqcast uses.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast.errors import RunCorruptError, RunNotFoundError, WorkspaceError
from seqcast.runs.registry import CSV_FLOAT_FORMAT, Run, RunStore, remove_run, rename_old_keys
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    from seqcast.inputs.loading import SeriesInput
    from seqcast.runs.backtest import BacktestResult

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._^=-]{0,120}$")


@dataclass
class BacktestRecord:
    """A saved walk-forward backtest: its id, file and JSON content."""

    backtest_id: str
    path: Path
    data: dict[str, Any]


def backtests_dir(ws: Workspace) -> Path:
    return ws.root / "backtests"


def backtest_ids(ws: Workspace) -> list[str]:
    """Ids of saved backtests, oldest first."""
    root = backtests_dir(ws)
    if not root.is_dir():
        return []
    return sorted(p.stem for p in root.glob("*.json")
                  if p.is_file() and not p.is_symlink() and not p.name.startswith("."))


def read_backtest(ws: Workspace, backtest_id: str) -> BacktestRecord:
    path = backtests_dir(ws) / f"{backtest_id}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunCorruptError(f"{path} is not readable JSON ({exc}); run the backtest again") from None
    if not isinstance(data, dict) or not isinstance(data.get("folds"), list) or not isinstance(
            data.get("pooled", {}), dict):
        raise RunCorruptError(f"{path} is not a seqcast backtest (no list of folds); run the backtest again")
    for fold in data["folds"]:
        if not isinstance(fold, dict) or not isinstance(fold.get("metrics", {}), dict):
            raise RunCorruptError(f"{path} is invalid: every fold must be an object; run the backtest again")
        rename_old_keys(fold, {"shrink": "shrinkage_weight"})  # a backtest saved before the rename
    return BacktestRecord(backtest_id, path, data)


def get_backtest(ws: Workspace, ident: str | None = None) -> BacktestRecord:
    """A backtest by id or unique prefix; the latest when None."""
    ids = backtest_ids(ws)
    if ident is None:
        if not ids:
            raise RunNotFoundError("no backtests yet; run one first: seqcast backtest")
        return read_backtest(ws, ids[-1])
    _check_id(ident)
    matches = [ident] if ident in ids else [i for i in ids if i.startswith(ident)]
    if len(matches) == 1:
        return read_backtest(ws, matches[0])
    if matches:
        raise RunNotFoundError(f"{ident!r} matches {len(matches)} backtests; give more of the id "
                               "(seqcast runs --backtests)")
    raise RunNotFoundError(f"no backtest {ident!r}; list them with: seqcast runs --backtests")


def resolve(ws: Workspace, ident: str | None) -> Run | BacktestRecord:
    """A run or a backtest named by id or unique prefix (None: the latest run)."""
    store = RunStore(ws)
    if ident is None or not _ID_RE.match(ident) or ".." in ident:
        return store.get(ident)  # the latest run, or RunStore's message for what is not an id
    runs, backtests = store.ids(), backtest_ids(ws)
    if ident in runs:
        return store.get(ident)
    if ident in backtests:
        return read_backtest(ws, ident)
    run_matches = [i for i in runs if i.startswith(ident)]
    bt_matches = [i for i in backtests if i.startswith(ident)]
    if len(run_matches) + len(bt_matches) > 1:
        raise RunNotFoundError(
            f"{ident!r} matches {_count(len(run_matches), 'run')} and {_count(len(bt_matches), 'backtest')}; "
            "give more of the id "
            "(seqcast runs, seqcast runs --backtests)"
        )
    if bt_matches:
        return read_backtest(ws, bt_matches[0])
    return store.get(ident)  # a unique run, or RunStore's own message (not found, incomplete, link)


# What seqcast writes beside a backtest's JSON: its report (html, md) and chart (png, svg, pdf).
_BESIDE = ("html", "md", "png", "svg", "pdf")


def backtest_files(record: BacktestRecord) -> list[Path]:
    """Every file of a backtest in backtests/: its report and charts, the md report's <id>_files/,
    then the JSON itself (last: a backtest stays listed until everything else is gone)."""
    folder, ident = record.path.parent, record.backtest_id
    extra = [folder / f"{ident}.{ext}" for ext in _BESIDE] + [folder / f"{ident}_files"]
    return [p for p in extra if p.is_symlink() or p.exists()] + [record.path]


def remove_backtest(record: BacktestRecord) -> None:
    """Delete the backtest's JSON and the report and charts seqcast wrote beside it."""
    import shutil

    for path in backtest_files(record):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def remove(found: Run | BacktestRecord) -> None:
    """Delete a run folder, or a backtest with its report and charts (it disappears from listings at once)."""
    if isinstance(found, Run):
        remove_run(found)
        return
    try:
        remove_backtest(found)  # its JSON and the report and charts beside it
    except OSError as exc:
        raise WorkspaceError(f"cannot delete {found.path}: {exc.strerror or exc}") from exc


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
        if ident is not None and _ID_RE.match(ident) and ".." not in ident:
            ids = backtest_ids(ws)
            if ident in ids or len([i for i in ids if i.startswith(ident)]) == 1:
                raise RunNotFoundError(
                    f"{ident!r} is a backtest; {command} needs a run id (a backtest has one model per "
                    "fold); list runs with: seqcast runs") from None
        raise


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _check_id(ident: str) -> None:
    if not _ID_RE.match(ident) or ".." in ident:
        raise RunNotFoundError(f"{ident!r} is not a run or backtest id; list them with: seqcast runs")
