"""Saved backtests (<workspace>/backtests/<id>.json): list, find by id or prefix, read, remove.

Also resolves an id that may name either a run or a backtest, for `plot` and `report`.
A backtest file is data: it is read as JSON and checked for the fields seqcast uses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqcast.errors import RunCorruptError, RunNotFoundError
from seqcast.runs import Run, RunStore
from seqcast.workspace import Workspace

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
