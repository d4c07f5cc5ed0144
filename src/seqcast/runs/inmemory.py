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
    import numpy as np
    import pandas as pd

    from seqcast.config import RunConfig
    from seqcast.forecast.evaluation import Fitted as Evaluation
    from seqcast.forecast.intervals import Predictor
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


def widths_at_level(run: Any, evaluation: Evaluation | None, values: np.ndarray, level: float) -> list[float]:
    """The run's interval multipliers per horizon (meta.json's interval_widths) at `level`.

    At the level the run was trained at: the recorded ones, as predict-next uses them. At another
    level: the same conformal quantiles of the same standardized out-of-sample residuals, taken
    again at `level`, which needs the evaluation in memory (a run from seqcast.fit). A saved run
    records its multipliers at one level only, so another level raises ConfigError.

    This is the seam for stored calibration residuals (seqcast.forecast.intervals): once runs keep
    them, a saved run's multipliers at any level come from there too.
    """
    widths = [float(w) for w in run.meta.get("interval_widths", [])]
    trained = float(run.meta.get("level", run.config.train.level))
    if not widths or math.isclose(level, trained, rel_tol=0, abs_tol=1e-12):
        return widths
    if evaluation is None:
        raise ConfigError(
            f"run {run.run_id} was calibrated at level {trained:g} and a saved run keeps only that level's "
            f"multipliers; forecast at level={trained:g}, or fit again (a Fitted from seqcast.fit forecasts "
            "at any level)")
    return _recalibrated(evaluation, run.config, values, level)


def _recalibrated(ev: Evaluation, cfg: RunConfig, values: np.ndarray, level: float) -> list[float]:
    """fit_evaluate's calibration of the widths (seqcast.forecast.evaluation), at another level."""
    import numpy as np

    from seqcast.forecast.evaluation import MAX_HORIZON
    from seqcast.forecast.intervals import CALIBRATION_DAYS, horizon_multipliers, interval_residuals
    from seqcast.forecast.stats import conformal_quantile
    from seqcast.forecast.volatility import horizon_scales
    from seqcast.models.threads import torch_threads
    from seqcast.models.training import predict_numpy

    ds, vol = ev.ds, ev.vol
    if vol is None:
        return []
    if ds.n_features > 1:  # one day ahead only: the latest out-of-sample days' multiplier
        scale = horizon_scales(values, ds.positions, vol, ev.relative)[:, 0]
        z = interval_residuals(ds.actual, ev.predicted, ev.relative) / scale
        return [float(conformal_quantile(z[ds.val.start:][-CALIBRATION_DAYS:], level))]
    with torch_threads(ev.threads):
        return horizon_multipliers(
            lambda x: predict_numpy(ev.model, x, ev.device), np.asarray(values, dtype=np.float64),
            ds.positions[ds.val.start:], MAX_HORIZON, level, vol=vol, target=ds.target, scaler=ds.scaler,
            lookback=ds.lookback, shrinkage_weight=ev.shrinkage_weight, relative=ev.relative)
