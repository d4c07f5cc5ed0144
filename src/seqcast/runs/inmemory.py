"""A trained run that lives in memory (seqcast.fit): read as a saved Run is, and its intervals at any level.

MemoryRun has what charts, reports and predict-next read from a runs.registry.Run (meta, config,
metrics, scaler, history(), predictions(), weights_bytes()), taken from the RunRecord that
save_run would write, so a Fitted draws, reports and forecasts as the saved run would.

widths_at_level is the one place that turns a run's calibration into interval multipliers at a
level chosen at forecast time.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from seqcast.config import RunConfig
    from seqcast.forecast.intervals import Calibration, Predictor
    from seqcast.inputs.windows import Scaler
    from seqcast.runs.train import RunRecord

UNSAVED = "unsaved"
"""The run id a run in memory shows (charts, reports) until Fitted.save gives it one."""


@dataclass
class MemoryRun:
    """A RunRecord read as a saved Run (runs.registry.Run) is read; nothing on disk."""

    record: RunRecord
    run_id: str = UNSAVED
    path: Path = field(default_factory=lambda: Path("(not saved)"))

    @cached_property
    def files(self) -> dict[str, bytes]:
        """model.pt and weights.npz, as save_run writes them."""
        from seqcast.runs.networks import weight_files

        return weight_files(self.record.weights)

    @cached_property
    def meta(self) -> dict[str, Any]:
        return {"run_id": self.run_id, **self.record.meta,
                "weights_sha256": {name: hashlib.sha256(data).hexdigest() for name, data in self.files.items()}}

    @property
    def config(self) -> RunConfig:
        return self.record.config

    @property
    def metrics(self) -> dict[str, Any]:
        return self.record.report

    @cached_property
    def scaler(self) -> Scaler:
        from seqcast.inputs.windows import Scaler

        return Scaler.from_dict(self.record.scaler)

    def history(self) -> list[dict[str, float]]:
        return [dict(h) for h in self.record.history]

    def predictions(self) -> pd.DataFrame:
        """As Run.predictions reads predictions.csv: a `date` column of datetimes."""
        import pandas as pd

        preds = self.record.predictions.copy()
        preds["date"] = pd.to_datetime(preds["date"])
        return preds

    def weights_bytes(self, name: str, *, verify: bool = True) -> bytes:
        return self.files[name]

    def predictor(self) -> Predictor:
        from seqcast.runs.networks import predictor

        return predictor(self)  # type: ignore[arg-type]  # a Run in all that predictor reads


def check_level(level: Any) -> float:
    """A forecast level: a number strictly between 0 and 1 (0.9 = a 90 % interval)."""
    if (not isinstance(level, (int, float)) or isinstance(level, bool) or math.isnan(level)
            or not 0 < level < 1):
        raise ConfigError(f"level must be a number between 0 and 1 (e.g. 0.9, or a list such as "
                          f"(0.8, 0.95)), got {level!r}")
    return float(level)


def widths_at_level(run: Any, calibration: Calibration | None, level: float) -> list[float]:
    """The run's interval multipliers per horizon (meta.json's interval_widths) at `level`.

    At the level the run was trained at: the recorded ones, as predict-next uses them. At another
    level: forecast.intervals.multiplier_at of the run's calibration (the standardized
    out-of-sample scores the evaluation kept; a saved run's calibration.json), as predict-next
    --level computes them. No calibration (a run saved before it was stored): ConfigError.
    """
    widths = [float(w) for w in run.meta.get("interval_widths", [])]
    trained = float(run.meta.get("level", run.config.train.level))
    if not widths or math.isclose(level, trained, rel_tol=0, abs_tol=1e-12):
        return widths
    if calibration is None:
        raise ConfigError(
            f"run {run.run_id} was saved without its interval calibration, so it has intervals at its "
            f"trained level {trained:g} only: forecast at level={trained:g}, or fit again")
    from seqcast.forecast.intervals import multiplier_at

    return [float(m) for m in multiplier_at(calibration, level)][:len(widths)]


