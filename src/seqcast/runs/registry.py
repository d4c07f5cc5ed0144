"""The run registry: <workspace>/runs/<run_id>/ folders, written atomically.

A run is first written to a hidden temporary folder and renamed into place
when complete, so `seqcast runs` never shows a half-written run. Files from a
run folder are treated as data: JSON is validated, weight files are read only
as plain files and checked against their recorded checksums. The registry stores
and reads; rebuilding and running the network is seqcast.runs.networks's (torch.load
with weights_only=True only). Ids, their lookup and removal are seqcast.runs.records's, as are
backtest records; resolve() finds a run or a backtest by one id, for `plot`, `report`, `runs`.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast import fileio
from seqcast.config import MODEL_KINDS, RunConfig
from seqcast.errors import AmbiguousIdError, ConfigError, RunCorruptError, RunNotFoundError
from seqcast.runs import records
from seqcast.runs.records import OLD_META_KEYS, BacktestRecord, backtest_ids, read_backtest, rename_old_keys
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd
    from torch import nn

    from seqcast.forecast.intervals import Calibration
    from seqcast.inputs.windows import Scaler
    from seqcast.runs.networks import Predictor

REQUIRED_FILES = ("config.json", "meta.json", "metrics.json", "scaler.json", "model.pt")
# What RunStore.new_id makes (records.ID_RE for a run): <date>-<time>[.<ms>]-<kind>-<symbol>-<hex>.
# Anything else in runs/ (a copy named <id>.bak, "old", a folder of notes) is not a run.
_REAL_RUN_ID_RE = re.compile(
    rf"^\d{{8}}-\d{{6}}(?:\.\d{{3}})?-(?:{'|'.join(MODEL_KINDS)})-[a-z0-9^._=-]{{1,40}}-[0-9a-f]{{4,8}}$"
)
_TMP_RE = re.compile(r"^\.tmp-(?!probe-).*-(\d+)$")  # RunWriter's .tmp-<run id>-<pid>
MAX_WEIGHTS_BYTES = 2048 * fileio.MB
"""model.pt / weights.npz: the largest network the option limits allow is far smaller."""
MAX_PREDICTIONS_BYTES = 256 * fileio.MB
LEFTOVER_AGE_S = 24 * 3600.0
"""A hidden .tmp-* folder of a process that is gone, or older than this, is a leftover."""


CSV_FLOAT_FORMAT = "%.10g"
"""Every number in predictions.csv and `runs export`: ten significant digits, the same for each column."""


def read_run_file(path: Path, max_bytes: int) -> bytes:
    """A file of a run folder: a regular file, never through a link, at most max_bytes."""
    try:
        return fileio.read_bytes(path, max_bytes=max_bytes)
    except FileNotFoundError:
        raise RunCorruptError(f"run folder {path.parent} has no {path.name}; train again") from None
    except fileio.RefusedFile as exc:
        raise RunCorruptError(
            f"{path} {exc.strerror}; seqcast reads only plain files in a run folder: "
            "copy the run folder again whole, or train again"
        ) from None
    except OSError as exc:
        raise RunCorruptError(f"{path} is not readable ({exc.strerror or exc}); train again") from exc


def _read_json(path: Path) -> Any:
    raw = read_run_file(path, fileio.MAX_JSON_BYTES)
    try:
        return fileio.loads(raw.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError included
        raise RunCorruptError(f"{path} is not readable JSON ({str(exc)[:200]}); train again") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite(value: Any, low: float = -math.inf, high: float = math.inf) -> bool:
    return _is_number(value) and math.isfinite(value) and low <= value <= high


def _nan_for_null(value: Any) -> Any:
    """JSON null where seqcast wrote a NaN (strict JSON has no NaN): NaN again for the code."""
    return math.nan if value is None else value


def _check_meta(meta: dict[str, Any], path: Path) -> None:
    """Reject a meta.json whose fields have the wrong types (a file from elsewhere is data)."""
    from datetime import date

    def bad(what: str) -> RunCorruptError:
        return RunCorruptError(f"{path} is invalid: {what}; train again")

    for key in ("symbol", "source", "interval_scale"):
        if key in meta and not isinstance(meta[key], str):
            raise bad(f"{key!r} must be a string")
    if isinstance(meta.get("symbol"), str):
        _check_symbol(meta["symbol"], bad)
    for key, low, high in (("shrinkage_weight", 0.0, 1.0), ("level", 0.5, 0.999),
                           ("shrink", 0.0, 1.0), ("coverage", 0.5, 0.999)):  # and their old names
        if key in meta and not _is_number(meta[key]):
            raise bad(f"{key!r} must be a number")
        if key in meta and not _is_finite(meta[key], low, high):
            raise bad(f"{key!r} is {meta[key]!r}, outside {low:g}..{high:g}")
    for key in ("data", "split", "training"):
        if key in meta and not isinstance(meta[key], dict):
            raise bad(f"{key!r} must be an object")
    widths = meta.get("interval_widths", [])
    if not (isinstance(widths, list) and all(w is None or _is_number(w) for w in widths)):
        raise bad("'interval_widths' must be a list of numbers")
    # Widths are multiples of the recent daily move (or price units): never negative or huge.
    if not all(w is None or math.isnan(w) or _is_finite(w, 0.0, 1e6) for w in widths):
        raise bad("'interval_widths' holds a negative, infinite or absurdly large width")
    window = meta.get("interval_vol_window")
    if window is not None and not (isinstance(window, int) and not isinstance(window, bool)
                                   and 1 <= window <= 10_000):
        raise bad("'interval_vol_window' must be a whole number of days between 1 and 10000")
    for key in ("first", "last"):
        value = meta.get("data", {}).get(key)
        if value is not None:
            try:
                date.fromisoformat(value)
            except (TypeError, ValueError):
                raise bad(f"data.{key} must be a date as YYYY-MM-DD") from None
    best = meta.get("training", {}).get("best_epoch")
    if best is not None and not _is_number(best):
        raise bad("training.best_epoch must be a number")
    if best is not None and not _is_finite(best, 0, 1e9):
        raise bad(f"training.best_epoch is {best!r}, not an epoch number")


def _check_symbol(symbol: Any, bad: Any) -> None:
    """A run's symbol is one seqcast could have stored (seqcast.data.symbols): raise bad(what) otherwise."""
    from seqcast.data.symbols import normalise_symbol

    try:
        if not isinstance(symbol, str):
            raise ConfigError("not a symbol")
        normalise_symbol(symbol)
    except ConfigError:
        raise bad(f"the symbol {str(symbol)[:60]!r} is not one seqcast stores (letters, digits and . ^ _ - =)") \
            from None


def _check_metrics(metrics: dict[str, Any], path: Path) -> None:
    """Every part's metrics are numbers (or flags); the verdict and the "*_skipped" reasons are text."""
    for part in ("train", "val", "test"):
        values = metrics.get(part, {})
        if not isinstance(values, dict) or not all(v is None or isinstance(v, (int, float))
                                                   or (k.endswith("_skipped") and isinstance(v, str))
                                                   for k, v in values.items()):
            raise RunCorruptError(f"{path} is invalid: {part!r} must map names to numbers; train again")
        metrics[part] = {k: _nan_for_null(v) for k, v in values.items()}
    if not isinstance(metrics.get("verdict", ""), str):
        raise RunCorruptError(f"{path} is invalid: 'verdict' must be a string; train again")


@dataclass
class Run:
    """A completed training run on disk."""

    run_id: str
    path: Path

    @cached_property
    def meta(self) -> dict[str, Any]:
        meta = _read_json(self.path / "meta.json")
        if not isinstance(meta, dict):
            raise RunCorruptError(f"{self.path / 'meta.json'} is not a JSON object; train again")
        _check_meta(meta, self.path / "meta.json")
        if meta.get("run_id") not in (None, self.run_id):  # a run's id is its folder's name
            raise RunCorruptError(f"{self.path / 'meta.json'} names another run, {str(meta['run_id'])[:80]!r}, "
                                  "than its folder; it is not a seqcast run: train again")
        rename_old_keys(meta, OLD_META_KEYS)
        if "interval_widths" in meta:
            meta["interval_widths"] = [_nan_for_null(w) for w in meta["interval_widths"]]
        return meta

    @cached_property
    def config(self) -> RunConfig:
        path = self.path / "config.json"
        try:
            cfg = RunConfig.from_dict(_read_json(path))
        except ConfigError as exc:
            raise RunCorruptError(f"{path} is invalid: {exc}; train again") from None
        symbol = cfg.data.symbol
        if symbol is not None:  # checked as meta.json's is: a symbol is a file name, never markup or a command
            _check_symbol(symbol, lambda what: RunCorruptError(f"{path} is invalid: {what}; train again"))
        return cfg

    @cached_property
    def metrics(self) -> dict[str, Any]:
        metrics = _read_json(self.path / "metrics.json")
        if not isinstance(metrics, dict):
            raise RunCorruptError(f"{self.path / 'metrics.json'} is not a JSON object; train again")
        _check_metrics(metrics, self.path / "metrics.json")
        return metrics

    @cached_property
    def scaler(self) -> Scaler:
        from seqcast.inputs.windows import Scaler

        raw = _read_json(self.path / "scaler.json")
        try:
            scaler = Scaler.from_dict(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise RunCorruptError(f"{self.path / 'scaler.json'} is invalid ({exc}); train again") from None
        # Prices and moves are scaled to about unit size: a scale or centre beyond 1e12 (or a
        # scale below 1e-12) is no scaler seqcast fitted, and would forecast nonsense.
        if not (_is_finite(scaler.scale, 1e-12, 1e12) and _is_finite(scaler.center, -1e12, 1e12)):
            raise RunCorruptError(
                f"{self.path / 'scaler.json'} holds an unusable scale or centre "
                f"({scaler.scale!r}, {scaler.center!r}); train again"
            )
        return scaler

    def calibration(self) -> Calibration | None:
        """The interval calibration (calibration.json), or None for a run saved without one
        (before seqcast stored it, or without intervals): such a run has intervals at its trained level only."""
        from seqcast.forecast.intervals import Calibration

        path = self.path / "calibration.json"
        if not (path.exists() or path.is_symlink()):
            return None
        return Calibration.from_dict(_read_json(path), str(path))

    def history(self) -> list[dict[str, float]]:
        """Epochs with their losses; a loss that is not a finite number reads as NaN."""
        path = self.path / "history.json"
        history = _read_json(path) if path.exists() or path.is_symlink() else []
        if not isinstance(history, list) or not all(
            isinstance(h, dict) and _is_number(h.get("epoch"))
            and (h.get("train_loss") is None or _is_number(h.get("train_loss")))
            and (h.get("val_loss") is None or _is_number(h.get("val_loss")))
            for h in history
        ):
            raise RunCorruptError(f"{path} is invalid: expected a list of epochs with losses; train again")
        return [{**h, "train_loss": _nan_for_null(h.get("train_loss")),
                 "val_loss": _nan_for_null(h.get("val_loss"))} for h in history]

    def predictions(self) -> pd.DataFrame:
        """date, part, actual, predicted, naive (and lower/upper when recorded)."""
        import pandas as pd

        path = self.path / "predictions.csv"
        raw = read_run_file(path, MAX_PREDICTIONS_BYTES)
        try:
            preds = pd.read_csv(io.BytesIO(raw), parse_dates=["date"])
        except (OSError, ValueError, KeyError) as exc:
            raise RunCorruptError(f"{path} is missing or unreadable ({exc}); train again") from exc
        numeric = ("actual", "predicted", "naive", "lower", "upper")
        if ("part" not in preds or "actual" not in preds or "predicted" not in preds
                or not pd.api.types.is_datetime64_any_dtype(preds["date"])
                or not all(pd.api.types.is_numeric_dtype(preds[c]) for c in numeric if c in preds)):
            raise RunCorruptError(
                f"{path} is invalid: expected columns date, part, actual, predicted with dates "
                "and numbers; train again"
            )
        return preds

    def weights_bytes(self, name: str, *, verify: bool = True) -> bytes:
        """A weights file's bytes, checked against the checksum meta.json recorded for it.

        Runs saved before checksums were recorded have none to check; verify=False reads the
        file (size-capped, no link followed) without the check.
        """
        path = self.path / name
        if not (path.exists() or path.is_symlink()):
            raise RunCorruptError(f"run {self.run_id} has no readable {name}; train again")
        data = read_run_file(path, MAX_WEIGHTS_BYTES)
        if not verify:
            return data
        recorded = self.meta.get("weights_sha256")
        if isinstance(recorded, dict) and hashlib.sha256(data).hexdigest() != recorded.get(name):
            raise RunCorruptError(
                f"{path} was changed after the run was saved (its checksum differs) and was "
                "not loaded; train again, or copy the run folder again whole"
            )
        return data

    # The network itself is seqcast.runs.networks's: these two stay for callers that ask the run.
    def predictor(self) -> Predictor:
        """The network as a function of scaled windows, on the CPU (seqcast.runs.networks.predictor)."""
        from seqcast.runs.networks import predictor

        return predictor(self)

    def load_model(self, data: bytes | None = None) -> nn.Module:
        """The network rebuilt with model.pt's weights, on the CPU (seqcast.runs.networks.load_model)."""
        from seqcast.runs.networks import load_model

        return load_model(self, data)


class RunStore:
    """Runs kept under <workspace>/runs."""

    def __init__(self, workspace: Workspace) -> None:
        self.root = workspace.runs_dir

    def new_id(self, kind: str, symbol: str) -> str:
        """Readable, sortable, unique: 20261127-073512.041-lstm-eurpln-3f9a."""
        return records.new_id(f"{kind}-{symbol}")

    def ids(self) -> list[str]:
        """Ids of complete runs, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir()
            if _REAL_RUN_ID_RE.match(p.name) and p.is_dir() and not p.is_symlink()
            # lexists: a required file replaced by a link or a pipe still shows the run, and
            # reading it then says what is wrong (a run that vanished would only confuse)
            and all(os.path.lexists(p / f) for f in REQUIRED_FILES)
        )

    def get(self, run_id: str | None = None) -> Run:
        """The run with that id (or unique id prefix); the latest run when None."""
        ids = self.ids()
        if run_id is None:
            found = records.pick(ids, None, noun="run", hint="seqcast runs",
                                 empty="no runs yet; train one first: seqcast train")
            return Run(found, self.root / found)
        matches = records.matching(ids, run_id, noun="run", hint="seqcast runs")
        if len(matches) == 1:
            return Run(matches[0], self.root / matches[0])
        if len(matches) > 1:
            raise RunNotFoundError(
                f"{run_id!r} matches {len(matches)} runs; give more of the id (seqcast runs)"
            )
        if (self.root / run_id).is_symlink():
            raise RunNotFoundError(
                f"{self.root / run_id} is a symbolic link; seqcast does not follow links in the "
                "runs folder: copy the run folder there instead"
            )
        if (self.root / run_id).is_dir() and not _REAL_RUN_ID_RE.match(run_id):
            raise RunNotFoundError(
                f"{self.root / run_id} is not named like a run seqcast saved (such as "
                f"20261127-093129.228-lstm-eurpln-fa7b), so it is not used as one; rename it "
                "back to its run id, or list runs with: seqcast runs"
            )
        if (self.root / run_id).exists():
            raise RunCorruptError(
                f"run folder {self.root / run_id} is incomplete or not a run (missing one of "
                f"{', '.join(REQUIRED_FILES)}); train again"
            )
        raise RunNotFoundError(f"no run {run_id!r}; list runs with: seqcast runs")

    def check_writable(self) -> None:
        """Fail before a long training, not after it, when no run folder can be written."""
        import tempfile

        from seqcast.errors import WorkspaceError

        try:
            self.root.mkdir(parents=True, exist_ok=True)
            os.rmdir(tempfile.mkdtemp(prefix=".tmp-probe-", dir=self.root))
        except OSError as exc:
            raise WorkspaceError(
                f"cannot write a run folder in {self.root}: {exc.strerror or exc}; {fileio.WRITE_HINT}"
            ) from exc

    def list(self) -> list[Run]:
        return [Run(i, self.root / i) for i in self.ids()]

    def writer(self, run_id: str) -> RunWriter:
        self.clean_leftovers()
        return RunWriter(self.root, run_id)

    def clean_leftovers(self) -> None:
        """Remove hidden .tmp-* folders left by a save that was killed (SIGTERM, power cut).

        Only those of a process that no longer runs, or older than a day: a training
        saving right now in another process keeps its folder.
        """
        _clean_leftovers(self.root)


def remove_run(run: Run) -> None:
    """Delete a run folder; it disappears from listings at once (WorkspaceError when it cannot)."""
    records.remove_folder(run.path, run.run_id)


def _clean_leftovers(root: Path) -> list[str]:
    """RunStore.clean_leftovers; returns the names removed."""
    import time

    removed: list[str] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for path in entries:
        match = _TMP_RE.match(path.name)
        probe = path.name.startswith(".tmp-probe-")  # check_writable's, removed at once when not killed
        if not (match or probe) or path.is_symlink() or not path.is_dir():
            continue
        try:
            old = time.time() - path.stat().st_mtime > LEFTOVER_AGE_S
        except OSError:
            continue
        if old or (match and not _process_alive(int(match.group(1)))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # exists (another user's), or not a pid we can judge: leave it
    return True


class RunWriter:
    """Collects a run's files in a hidden folder, then renames it into place."""

    def __init__(self, root: Path, run_id: str) -> None:
        self.root = root
        self.run_id = run_id
        self.tmp = root / f".tmp-{run_id}-{os.getpid()}"
        try:
            self.tmp.mkdir(parents=True)
        except OSError as exc:
            from seqcast.errors import WorkspaceError

            raise WorkspaceError(
                f"cannot write a run folder in {root}: {exc.strerror or exc}; {fileio.WRITE_HINT}"
            ) from exc

    def json(self, name: str, obj: Any) -> None:
        fileio.write_json(self.tmp / name, obj)

    def text(self, name: str, text: str) -> None:
        fileio.write_text(self.tmp / name, text)

    def bytes(self, name: str, data: bytes) -> None:
        fileio.write_bytes(self.tmp / name, data)

    def commit(self) -> Path:
        """Move the finished folder to runs/<run_id>; never overwrites another run."""
        from seqcast.errors import WorkspaceError

        final = self.root / self.run_id
        try:
            os.rename(self.tmp, final)  # fails if final exists and is not empty
        except OSError as exc:
            self.abort()
            raise WorkspaceError(
                f"cannot save run {self.run_id}: {exc.strerror or exc}; {fileio.WRITE_HINT}"
            ) from exc
        return final

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------- a run or a backtest


def resolve(ws: Workspace, ident: str | None, *, unread: bool = False) -> Run | BacktestRecord:
    """A run or a backtest named by id or unique prefix (None: the latest run).

    unread: a backtest is not read (its data is {}): what removing one needs, even an unreadable one.
    """
    read = records.unread_backtest if unread else read_backtest
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
        raise AmbiguousIdError(
            f"{ident!r} matches {_count(len(run_matches), 'run')} and {_count(len(bt_matches), 'backtest')}; "
            "give more of the id "
            "(seqcast runs, seqcast runs --backtests)"
        )
    if bt_matches:
        return read(ws, bt_matches[0])
    return store.get(ident)  # a unique run, or RunStore's own message (not found, incomplete, link)


def remove(found: Run | BacktestRecord) -> None:
    """Delete a run folder, or a backtest with its report and charts (it disappears from listings at once)."""
    if isinstance(found, Run):
        remove_run(found)
        return
    records.remove_backtest(found)  # its JSON and the report and charts beside it


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
