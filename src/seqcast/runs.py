"""The run registry: <workspace>/runs/<run_id>/ folders, written atomically.

A run is first written to a hidden temporary folder and renamed into place
when complete, so `seqcast runs` never shows a half-written run. Files from a
run folder are treated as data: JSON is validated, weights load with
torch.load(weights_only=True) only.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast import atomic
from seqcast.config import RunConfig
from seqcast.errors import ConfigError, RunCorruptError, RunNotFoundError
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd
    from torch import nn

REQUIRED_FILES = ("config.json", "meta.json", "metrics.json", "scaler.json", "model.pt")
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._^=-]{0,120}$")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunCorruptError(f"run folder {path.parent} has no {path.name}; train again") from None
    except (OSError, ValueError) as exc:
        raise RunCorruptError(f"{path} is not readable JSON ({exc}); train again") from exc


def _first_line(exc: BaseException) -> str:
    # str(EOFError()) is "" (an empty model.pt): fall back to the exception's name.
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass
class Run:
    """A completed training run on disk."""

    run_id: str
    path: Path

    @cached_property
    def meta(self) -> dict[str, Any]:
        meta = _read_json(self.path / "meta.json")
        if not isinstance(meta, dict):
            raise RunCorruptError(f"{self.path / 'meta.json'} is not a JSON object")
        return meta

    @cached_property
    def config(self) -> RunConfig:
        try:
            return RunConfig.from_dict(_read_json(self.path / "config.json"))
        except ConfigError as exc:
            raise RunCorruptError(f"{self.path / 'config.json'} is invalid: {exc}") from None

    @cached_property
    def metrics(self) -> dict[str, Any]:
        metrics = _read_json(self.path / "metrics.json")
        if not isinstance(metrics, dict):
            raise RunCorruptError(f"{self.path / 'metrics.json'} is not a JSON object")
        return metrics

    @cached_property
    def scaler(self):
        from seqcast.windowing import Scaler

        raw = _read_json(self.path / "scaler.json")
        try:
            scaler = Scaler.from_dict(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise RunCorruptError(f"{self.path / 'scaler.json'} is invalid ({exc})") from None
        if not (scaler.scale > 0 and abs(scaler.center) < float("inf")):
            raise RunCorruptError(f"{self.path / 'scaler.json'} holds an unusable scale")
        return scaler

    def history(self) -> list[dict[str, float]]:
        path = self.path / "history.json"
        return _read_json(path) if path.exists() else []

    def predictions(self) -> pd.DataFrame:
        """date, part, actual, predicted, naive (and lower/upper when recorded)."""
        import pandas as pd

        path = self.path / "predictions.csv"
        try:
            return pd.read_csv(path, parse_dates=["date"])
        except (OSError, ValueError, KeyError) as exc:
            raise RunCorruptError(f"{path} is missing or unreadable ({exc}); train again") from exc

    def load_model(self) -> nn.Module:
        """Rebuild the network from config.json and load model.pt safely on the CPU."""
        import pickle

        import torch

        from seqcast.models import build_model

        model = build_model(self.config.model)
        path = self.path / "model.pt"
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise RunCorruptError(f"run {self.run_id} has no model.pt; train again") from None
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
            raise RunCorruptError(
                f"{path} is not a plain weights file and was not loaded (only tensors are "
                f"accepted, never code): {_first_line(exc)[:200]}"
            ) from None
        if not isinstance(state, dict):
            raise RunCorruptError(f"{path} does not hold a state dict")
        try:
            model.load_state_dict(state)
        except (RuntimeError, KeyError, TypeError) as exc:
            raise RunCorruptError(
                f"{path} holds weights of another architecture than config.json describes "
                f"({_first_line(exc)[:160]})"
            ) from None
        model.eval()
        return model


class RunStore:
    """Runs kept under <workspace>/runs."""

    def __init__(self, workspace: Workspace) -> None:
        self.root = workspace.runs_dir

    def new_id(self, kind: str, symbol: str) -> str:
        """Readable, sortable, unique: 20261127-073512.041-lstm-eurpln-3f9a."""
        now = datetime.now(timezone.utc)
        # Milliseconds: runs trained within one second must still sort oldest first,
        # or get(None) could return the older one (the random suffix does not sort).
        stamp = f"{now:%Y%m%d-%H%M%S}.{now.microsecond // 1000:03d}"
        return f"{stamp}-{kind}-{symbol}-{secrets.token_hex(2)}"

    def ids(self) -> list[str]:
        """Ids of complete runs, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir()
            if not p.name.startswith(".") and p.is_dir() and not p.is_symlink()
            and all((p / f).is_file() for f in REQUIRED_FILES)
        )

    def get(self, run_id: str | None = None) -> Run:
        """The run with that id (or unique id prefix); the latest run when None."""
        ids = self.ids()
        if run_id is None:
            if not ids:
                raise RunNotFoundError("no runs yet; train one first: seqcast train")
            return Run(ids[-1], self.root / ids[-1])
        if not _RUN_ID_RE.match(run_id) or ".." in run_id:
            raise RunNotFoundError(
                f"{run_id!r} is not a run id; list runs with: seqcast runs"
            )
        if run_id in ids:
            return Run(run_id, self.root / run_id)
        matches = [i for i in ids if i.startswith(run_id)]
        if len(matches) == 1:
            return Run(matches[0], self.root / matches[0])
        if len(matches) > 1:
            raise RunNotFoundError(
                f"{run_id!r} matches {len(matches)} runs; give more of the id (seqcast runs)"
            )
        if (self.root / run_id).exists():
            raise RunCorruptError(
                f"run folder {self.root / run_id} is incomplete or not a run (missing one of "
                f"{', '.join(REQUIRED_FILES)}); train again"
            )
        raise RunNotFoundError(f"no run {run_id!r}; list runs with: seqcast runs")

    def list(self) -> list[Run]:
        return [Run(i, self.root / i) for i in self.ids()]

    def writer(self, run_id: str) -> RunWriter:
        return RunWriter(self.root, run_id)


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

            raise WorkspaceError(f"cannot create a run folder in {root}: {exc.strerror or exc}") from exc

    def json(self, name: str, obj: Any) -> None:
        atomic.write_json(self.tmp / name, obj)

    def text(self, name: str, text: str) -> None:
        atomic.write_text(self.tmp / name, text)

    def bytes(self, name: str, data: bytes) -> None:
        atomic.write_bytes(self.tmp / name, data)

    def commit(self) -> Path:
        """Move the finished folder to runs/<run_id>; never overwrites another run."""
        from seqcast.errors import WorkspaceError

        final = self.root / self.run_id
        try:
            os.rename(self.tmp, final)  # fails if final exists and is not empty
        except OSError as exc:
            self.abort()
            raise WorkspaceError(f"cannot save run {self.run_id}: {exc.strerror or exc}") from exc
        return final

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
