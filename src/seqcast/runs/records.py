"""The records layer: runs, backtests and sweeps share one id scheme, one lookup, one reader, one removal.

A record lives in its kind's folder of the workspace: runs/<id>/ (a folder), backtests/<id>.json,
sweeps/<id>.json; a report and charts seqcast wrote for it lie beside it (<id>.html, .md, .png,
.svg, .pdf, <id>_files/). Every record's id comes from its file name and matches ID_RE
(<yyyymmdd>-<hhmmss>[.<ms>]-<label>-<hex>): an id is never read from inside a file, so a
crafted record cannot name a path outside its folder. A record that names another id inside
is not a seqcast record.

Files in the workspace are data anyone may have replaced: read_record() reads through
seqcast.fileio (a regular file, never through a link, at most MAX_RECORD_BYTES, nesting at most
MAX_DEPTH deep) and checks the record's shape once, so the code that uses it never meets a
wrong type. Every failure is one RunCorruptError line; listings show such a record as
unreadable (Unreadable) and go on.

Backtest records (save, list, read, remove) live here; run folders are seqcast.runs.registry's
and sweep records seqcast.runs.sweep's, both on this layer.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast import fileio
from seqcast.errors import AmbiguousIdError, RunCorruptError, RunNotFoundError, WorkspaceError
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    from seqcast.inputs.loading import SeriesInput
    from seqcast.runs.backtest import BacktestResult

ID_RE = re.compile(r"^\d{8}-\d{6}(?:\.\d{3})?-[a-z0-9^._=-]{1,100}-[0-9a-f]{4,8}$")
"""Every record id: <date>-<time>[.<ms>]-<label>-<hex> (label: <model>-<symbol>, or "sweep")."""
_PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._^=-]{0,120}$")
"""What a user may type for an id or a prefix of one (no "/", never "..")."""
MAX_RECORD_BYTES = fileio.MAX_JSON_BYTES
MAX_DEPTH = 64
"""seqcast's records nest 5 levels deep at most; deeper is no record of ours (and would recurse)."""
BESIDE = ("html", "md", "png", "svg", "pdf")
"""What seqcast writes beside a record: its report (html, md) and chart (png, svg, pdf)."""


def new_id(label: str, nbytes: int = 2) -> str:
    """Readable, sortable, unique: 20261127-073512.041-<label>-3f9a.

    Milliseconds: records made within one second still sort oldest first (the random
    suffix, nbytes bytes as hex, does not sort).
    """
    now = datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}.{now.microsecond // 1000:03d}-{label}-{secrets.token_hex(nbytes)}"


def is_id(name: str, pattern: re.Pattern[str] = ID_RE) -> bool:
    """Whether name is a record id (of pattern's kind)."""
    return bool(pattern.match(name))


def typed_ident(ident: str) -> bool:
    """Whether what a user typed can be an id or an id prefix at all (no path, no "..")."""
    return isinstance(ident, str) and bool(_PREFIX_RE.match(ident)) and ".." not in ident


def json_ids(folder: Path, pattern: re.Pattern[str] = ID_RE) -> list[str]:
    """Ids of the <id>.json records in folder, oldest first.

    Any entry with a record's name counts (a FIFO or a link in its place too): reading it
    then says what is wrong, where leaving it out would only confuse.
    """
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        raise WorkspaceError(f"cannot list {folder}: a part of the path is a file, not a folder; move the file "
                             "away (seqcast keeps its records in that folder)") from None
    except OSError as exc:
        raise WorkspaceError(f"cannot list {folder}: {exc.strerror or exc}") from exc
    return sorted(n[:-5] for n in names if n.endswith(".json") and pattern.match(n[:-5]))


def pick(ids: list[str], ident: str | None, *, noun: str, hint: str, empty: str) -> str:
    """The id ident names in ids: itself, or the one id it is a prefix of; the latest when None.

    RunNotFoundError (one line, ending in where to list them: hint) when none or several match,
    or when ident cannot be an id; empty is the message when ids is empty and ident None.
    """
    matches = matching(ids, ident, noun=noun, hint=hint)
    if ident is None:
        if not ids:
            raise RunNotFoundError(empty)
        return ids[-1]
    if len(matches) > 1:
        raise AmbiguousIdError(f"{ident!r} matches {len(matches)} {noun}s; give more of the id ({hint})")
    if not matches:
        raise RunNotFoundError(f"no {noun} {ident!r}; list {noun}s with: {hint}")
    return matches[0]


def matching(ids: list[str], ident: str | None, *, noun: str = "record", hint: str = "seqcast runs") -> list[str]:
    """The ids ident names: [ident] when it is one, else those it is a prefix of ([] for None)."""
    if ident is None:
        return []
    if not typed_ident(ident):
        raise RunNotFoundError(f"{ident!r} is not a {noun} id; list {noun}s with: {hint}")
    return [ident] if ident in ids else [i for i in ids if i.startswith(ident)]


@dataclass
class Unreadable:
    """A record a listing found but cannot read: its id, file and why (one line)."""

    ident: str
    path: Path
    error: str


Check = Callable[[dict[str, Any], Path], None]
"""A record's shape check: raises RunCorruptError (via corrupt()) when a field is wrong."""


def corrupt(path: Path, what: str, fix: str) -> RunCorruptError:
    """The one-line error for a record whose content is wrong."""
    return RunCorruptError(f"{path} is not a seqcast record ({what}); {fix}")


def read_record(path: Path, *, ident: str, id_key: str | None, check: Check, fix: str) -> dict[str, Any]:
    """A record's JSON object, read safely and checked once; RunCorruptError (one line) otherwise.

    ident: the id its file name gives; id_key: the field that, when present, must say the same.
    fix: the next step a user can take, ending each message.
    """
    try:
        raw = fileio.read_bytes(path, max_bytes=MAX_RECORD_BYTES)
    except FileNotFoundError:
        raise RunNotFoundError(f"{path} is gone (removed meanwhile)") from None
    except fileio.RefusedFile as exc:
        raise RunCorruptError(f"{path} {exc.strerror}; seqcast reads only plain files here; {fix}") from None
    except OSError as exc:
        raise RunCorruptError(f"{path} is not readable ({exc.strerror or exc}); {fix}") from None
    try:
        data = fileio.loads(raw.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError and deep nesting included
        raise RunCorruptError(f"{path} is not readable JSON ({str(exc)[:160]}); {fix}") from None
    if not isinstance(data, dict):
        raise corrupt(path, "not a JSON object", fix)
    if fileio.depth(data) > MAX_DEPTH:
        raise corrupt(path, f"nested more than {MAX_DEPTH} levels deep", fix)
    if id_key is not None and data.get(id_key) not in (None, ident):
        raise corrupt(path, f"it names another id, {str(data.get(id_key))[:80]!r}, than its file name", fix)
    try:
        check(data, path)
    except (TypeError, KeyError, IndexError, AttributeError, ValueError) as exc:  # a check's own slip
        raise corrupt(path, f"a field has the wrong type: {str(exc)[:120]}", fix) from None
    return data


def beside(path: Path, ident: str, extensions: tuple[str, ...] = BESIDE) -> list[Path]:
    """The files seqcast wrote beside a record (those that exist): <id>.<ext> for each extension (its
    report and charts), then <id>_files/ (a Markdown report's charts)."""
    folder = path.parent
    extra = [folder / f"{ident}.{ext}" for ext in extensions] + [folder / f"{ident}_files"]
    return [p for p in extra if os.path.lexists(p)]


def remove_files(paths: Iterable[Path], folder: Path) -> None:
    """Delete paths, each directly inside folder (never anything outside it); a link goes, not its target.

    WorkspaceError (one line) when one cannot be deleted or lies elsewhere.
    """
    top = os.path.abspath(folder)
    for path in paths:
        if os.path.dirname(os.path.abspath(path)) != top:
            raise WorkspaceError(f"refusing to delete {path}: it is not in {folder}")
    for path in paths:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            raise WorkspaceError(f"cannot delete {path}: {exc.strerror or exc}") from exc


def remove_folder(path: Path, ident: str) -> None:
    """Delete a record that is a folder (a run): renamed out of sight first, so a half-deleted
    record is never listed; then its files. WorkspaceError (one line) when it cannot be."""
    if os.path.basename(path) != ident or not ID_RE.match(ident) or path.is_symlink():
        raise WorkspaceError(f"refusing to delete {path}: it is not a record folder named by its id")
    try:
        hidden = path.with_name(f".tmp-rm-{ident}-{os.getpid()}")
        os.rename(path, hidden)
        shutil.rmtree(hidden)
    except OSError as exc:
        raise WorkspaceError(f"cannot delete {path}: {exc.strerror or exc}") from exc


OLD_META_KEYS = {"shrink": "shrinkage_weight", "coverage": "level"}
"""meta.json keys written by seqcast before the renames -> their names now (still read)."""


def rename_old_keys(values: dict[str, Any], renames: dict[str, str]) -> None:
    """Give a record saved by an earlier seqcast today's key names, in place (a new name wins)."""
    for old, new in renames.items():
        if old in values:
            value = values.pop(old)
            values.setdefault(new, value)


# --------------------------------------------------------------------------- shape checks

SWEEP_FIX = "delete it (seqcast sweeps rm ID), or run the sweep again"
"""The next step after a sweep record that cannot be used."""



def is_number(value: Any) -> bool:
    """int or float, not bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def need(ok: bool, path: Path, what: str, fix: str) -> None:
    """Raise corrupt(path, what, fix) unless ok."""
    if not ok:
        raise corrupt(path, what, fix)


def optional(data: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path, fix: str,
             what: str = "") -> None:
    """data[key], when present and not null, is of kind."""
    value = data.get(key)
    need(value is None or isinstance(value, kind), path,
         f"{what or repr(key)} must be {_kind_name(kind)}", fix)


def numbers(values: Any, path: Path, what: str, fix: str) -> None:
    """values is an object whose values are numbers, flags or null (metrics)."""
    need(isinstance(values, dict) and all(v is None or isinstance(v, (int, float)) for v in values.values()),
         path, f"{what} must map names to numbers", fix)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {dict: "an object", list: "a list", str: "text", int: "a whole number", float: "a number",
             bool: "true or false"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def check_sweep(data: dict[str, Any], path: Path) -> None:
    """Every field of a sweep record that seqcast uses has its type (read_record's check)."""
    def ok(test: bool, what: str) -> None:
        need(test, path, what, SWEEP_FIX)

    spec: Any = data.get("spec")
    ok(isinstance(data.get("cells"), list) and isinstance(spec, dict), "no list of cells and spec")
    ok(isinstance(spec.get("grid"), dict) and all(isinstance(k, str) and isinstance(v, list) and v
                                                     for k, v in spec["grid"].items()),
       "spec.grid must map options to lists of values")
    ok(isinstance(spec.get("symbols"), list) and all(v is None or isinstance(v, str) for v in spec["symbols"]),
       "spec.symbols must be a list of symbols")
    ok(all(is_int(spec.get(k)) for k in ("seeds", "seed", "backtest")), "spec seeds, seed and backtest must be "
       "whole numbers")
    for key in ("status", "backend", "address", "created_at", "updated_at"):
        optional(data, key, str, path, SWEEP_FIX)
    configs: Any = data.get("configs")
    n_configs = math.prod(len(v) for v in spec["grid"].values())
    ok(isinstance(configs, list) and len(configs) == n_configs
       and all(isinstance(c, dict) and isinstance(c.get("label"), str) and isinstance(c.get("options"), dict)
                 for c in configs), "'configs' must list each config of the grid with its label and options")
    for i, cell in enumerate(data["cells"]):
        ok(isinstance(cell, dict) and cell.get("cell") == i and is_int(cell.get("config"))
           and 0 <= cell["config"] < len(configs) and isinstance(cell.get("status"), str)
           and is_int(cell.get("seed")) and (cell.get("fold") is None or is_int(cell["fold"])),
           f"cell {i} must be an object with its number, config, status, seed and fold")
        for key in ("symbol", "source", "requested_symbol", "error", "node"):
            optional(cell, key, str, path, SWEEP_FIX, f"cell {i}: {key}")
        for key in ("run_id", "backtest_id"):
            ok(cell.get(key) is None or (isinstance(cell[key], str) and is_id(cell[key])),
               f"cell {i}: {key} must be a record id")
        ok(all(cell.get(k) is None or is_number(cell[k]) for k in ("seconds", "epochs", "attempts")),
           f"cell {i}: seconds, epochs and attempts must be numbers")
        ok(cell["status"] != "done" or isinstance(cell.get("test"), dict), f"cell {i} is done without its test")
        numbers(cell.get("test") or {}, path, f"cell {i}: 'test'", SWEEP_FIX)
        optional(cell, "fold_out", dict, path, SWEEP_FIX, f"cell {i}: fold_out")
        optional(cell, "worker_deaths", list, path, SWEEP_FIX, f"cell {i}: worker_deaths")
    for key in ("leaderboard", "backtests"):
        ok(isinstance(data.get(key, []), list) and all(isinstance(r, dict) for r in data.get(key, [])),
           f"{key!r} must be a list of objects")
    for row in data.get("leaderboard", []):
        ok(isinstance(row.get("label", ""), str) and all(
          v is None or isinstance(v, (int, float, str, dict)) for v in row.values()), "a leaderboard row is wrong")
        numbers({k: v for k, v in row.items() if k not in ("label", "options")}, path,
                      "a leaderboard row", SWEEP_FIX)
    for unit in data.get("backtests", []):
        ok(isinstance(unit.get("backtest_id"), str) and is_id(unit["backtest_id"])
           and is_int(unit.get("config")) and 0 <= unit["config"] < len(configs)
           and isinstance(unit.get("cells", []), list) and isinstance(unit.get("test"), dict),
           "a backtest of the sweep is wrong")
        numbers(unit.get("test") or {}, path, "a backtest's 'test'", SWEEP_FIX)
    optional(data, "nodes", dict, path, SWEEP_FIX)
    ok(data.get("workers") is None or is_int(data["workers"]), "'workers' must be a whole number")


# --------------------------------------------------------------------------- backtests (backtests/<id>.json)


BACKTEST_FIX = "delete it (seqcast runs rm ID), or run the backtest again"
"""The next step after a backtest record that cannot be used."""
BACKTEST_HINT = "seqcast runs --backtests"


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
    return json_ids(backtests_dir(ws))


def read_backtest(ws: Workspace, backtest_id: str) -> BacktestRecord:
    """The backtest backtests/<backtest_id>.json, read safely and checked; RunCorruptError otherwise."""
    if not is_id(backtest_id):
        raise RunNotFoundError(f"{backtest_id!r} is not a backtest id; list backtests with: {BACKTEST_HINT}")
    path = backtests_dir(ws) / f"{backtest_id}.json"
    data = read_record(path, ident=backtest_id, id_key="backtest_id", check=check_backtest, fix=BACKTEST_FIX)
    for fold in data["folds"]:
        rename_old_keys(fold, {"shrink": "shrinkage_weight"})  # a backtest saved before the rename
    data["path"] = str(path)  # where it is, not where the file says it was
    return BacktestRecord(backtest_id, path, data)


def check_backtest(data: dict[str, Any], path: Path) -> None:
    """Every field of a backtest record that seqcast uses has its type (read_record's check)."""
    from datetime import date

    def ok(test: bool, what: str) -> None:
        need(test, path, what, BACKTEST_FIX)

    ok(isinstance(data.get("folds"), list), "no list of folds")
    ok(isinstance(data.get("pooled"), dict) and isinstance(data.get("config"), dict),
       "no pooled metrics and config")
    for key in ("data", "linear", "meta"):
        optional(data, key, dict, path, BACKTEST_FIX)
    for key in ("symbol", "source", "verdict", "created_at", "calendar_name"):
        optional(data, key, str, path, BACKTEST_FIX)
    optional(data, "inputs", list, path, BACKTEST_FIX)
    ok(data.get("workers") is None or is_int(data["workers"]), "'workers' must be a whole number")
    numbers(data.get("pooled") or {}, path, "'pooled'", BACKTEST_FIX)
    numbers(data.get("linear") or {}, path, "'linear'", BACKTEST_FIX)
    for section in ("model", "data", "training", "split"):
        optional(data.get("config") or {}, section, dict, path, BACKTEST_FIX, f"config.{section}")
    for i, fold in enumerate(data["folds"]):
        ok(isinstance(fold, dict), "every fold must be an object")
        where = f"fold {i + 1}"
        ok(fold.get("fold") is None or is_int(fold["fold"]), f"{where}: 'fold' must be a whole number")
        ok(fold.get("n_test") is None or is_int(fold["n_test"]), f"{where}: 'n_test' must be a number")
        for key in ("train_first", "train_last", "test_first", "test_last"):
            optional(fold, key, str, path, BACKTEST_FIX, f"{where}: {key}")
        for key in ("shrinkage_weight", "shrink", "epochs_run", "seconds"):
            ok(fold.get(key) is None or is_number(fold[key]), f"{where}: {key!r} must be a number")
        numbers(fold.get("metrics") or {}, path, f"{where}: 'metrics'", BACKTEST_FIX)
        predictions = fold.get("predictions") or []
        ok(isinstance(predictions, list), f"{where}: 'predictions' must be a list")
        for row in predictions:
            ok(isinstance(row, dict) and all(row.get(k) is None or is_number(row[k])
                                             for k in ("actual", "predicted", "naive")),
               f"{where}: every prediction must hold numbers")
            try:
                date.fromisoformat(row.get("date"))
            except (TypeError, ValueError):
                ok(False, f"{where}: a prediction's date must be YYYY-MM-DD")


def get_backtest(ws: Workspace, ident: str | None = None) -> BacktestRecord:
    """A backtest by id or unique prefix; the latest when None."""
    ids = backtest_ids(ws)
    found = pick(ids, ident, noun="backtest", hint=BACKTEST_HINT,
                         empty="no backtests yet; run one first: seqcast backtest")
    return read_backtest(ws, found)


def unread_backtest(ws: Workspace, backtest_id: str) -> BacktestRecord:
    """The backtest backtest_id located, not read (data {}): what removing even an unreadable one needs."""
    return BacktestRecord(backtest_id, backtests_dir(ws) / f"{backtest_id}.json", {})


def backtest_files(record: BacktestRecord) -> list[Path]:
    """Every file of a backtest in backtests/: its report and charts, the md report's <id>_files/,
    then the JSON itself (last: a backtest stays listed until everything else is gone)."""
    return [*beside(record.path, record.backtest_id), record.path]


def remove_backtest(record: BacktestRecord) -> None:
    """Delete the backtest's JSON and the report and charts seqcast wrote beside it (WorkspaceError if not)."""
    remove_files(backtest_files(record), record.path.parent)


def save_backtest(result: BacktestResult, series: SeriesInput, home: Path | str | None = None) -> BacktestResult:
    """Give a finished backtest an id and write it to <home>/backtests/<id>.json (atomically)."""
    from seqcast.inputs.loading import fingerprint

    ws = Workspace.resolve(home)
    cfg, values, dates = series.cfg, series.values, series.dates
    result.config = cfg
    result.backtest_id = new_id(f"{cfg.model.kind}-{cfg.data.symbol}")
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
