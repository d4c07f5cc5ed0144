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


class Calibration:
    """The standardized out-of-sample residuals a run in memory calibrated its intervals on, per horizon.

    fit_evaluate (seqcast.forecast.evaluation) takes one conformal quantile of them at the trained
    level (horizon_multipliers; one day ahead with extra inputs); here they are kept, computed once
    on first use, so that any level is one quantile away.
    """

    def __init__(self, evaluation: Evaluation, values: np.ndarray) -> None:
        self.evaluation = evaluation
        self.values = values
        self._scores: list[np.ndarray] | None = None

    @property
    def scores(self) -> list[np.ndarray]:
        """scores[h - 1]: |residual| / volatility scale of the h-day forecasts from the latest origins."""
        if self._scores is None:
            self._scores = _scores(self.evaluation, self.values)
        return self._scores

    def multipliers(self, level: float) -> list[float]:
        from seqcast.forecast.stats import conformal_quantile

        return [float(conformal_quantile(z, level)) for z in self.scores]


def widths_at_level(run: Any, calibration: Calibration | None, level: float) -> list[float]:
    """The run's interval multipliers per horizon (meta.json's interval_widths) at `level`.

    At the level the run was trained at: the recorded ones, as predict-next uses them. At another
    level: the conformal quantiles at `level` of the same standardized out-of-sample residuals,
    which a run in memory keeps (Calibration). A saved run records its multipliers at one level
    only, so another level raises ConfigError.

    This is the seam for stored calibration residuals (seqcast.forecast.intervals): once runs keep
    them, a saved run's multipliers at any level come from there too.
    """
    widths = [float(w) for w in run.meta.get("interval_widths", [])]
    trained = float(run.meta.get("level", run.config.train.level))
    if not widths or math.isclose(level, trained, rel_tol=0, abs_tol=1e-12):
        return widths
    if calibration is None:
        raise ConfigError(
            f"run {run.run_id} was calibrated at level {trained:g} and a saved run keeps only that level's "
            f"multipliers; forecast at level={trained:g}, or fit again (a Fitted from seqcast.fit forecasts "
            "at any level)")
    return calibration.multipliers(level)[:len(widths)]


def _scores(ev: Evaluation, values: np.ndarray) -> list[np.ndarray]:
    """fit_evaluate's calibration residuals (horizon_multipliers' z per horizon), before the quantile."""
    import numpy as np

    from seqcast.forecast.evaluation import MAX_HORIZON
    from seqcast.forecast.intervals import CALIBRATION_DAYS, interval_residuals, recursive_forecast
    from seqcast.forecast.volatility import horizon_scales
    from seqcast.inputs.windows import first_position
    from seqcast.models.threads import torch_threads
    from seqcast.models.training import predict_numpy

    ds, vol, relative = ev.ds, ev.vol, ev.relative
    if vol is None:
        return []
    values = np.asarray(values, dtype=np.float64)
    if ds.n_features > 1:  # one day ahead only: the latest out-of-sample days
        scale = horizon_scales(values, ds.positions, vol, relative)[:, 0]
        z = interval_residuals(ds.actual, ev.predicted, relative) / scale
        return [z[ds.val.start:][-CALIBRATION_DAYS:]]
    need, n, window = first_position(ds.lookback, ds.target), len(values), CALIBRATION_DAYS
    origins = ds.positions[ds.val.start:]
    origins = origins[(origins >= need) & (origins < n)][-(window + MAX_HORIZON):]
    if len(origins) == 0:
        return []
    if ev.shrinkage_weight == 0.0:
        paths = np.repeat(values[origins - 1][:, None], MAX_HORIZON, axis=1)
    else:
        idx = origins[:, None] - need + np.arange(need)[None, :]
        with torch_threads(ev.threads):
            paths = recursive_forecast(lambda x: predict_numpy(ev.model, x, ev.device), values[idx], MAX_HORIZON,
                                       target=ds.target, scaler=ds.scaler, lookback=ds.lookback,
                                       shrinkage_weight=ev.shrinkage_weight)
    scales = horizon_scales(values, origins, vol, relative, MAX_HORIZON)
    out = []
    for h in range(MAX_HORIZON):
        ok = np.flatnonzero(origins + h < n)[-window:]
        if len(ok) < 10:
            break
        out.append(interval_residuals(values[origins[ok] + h], paths[ok, h], relative) / scales[ok, h])
    return out
