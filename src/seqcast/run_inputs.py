"""What one training reads from the workspace: the stored series cut to --from/--to, its inputs, and
the fingerprint that ties a run to that data.

load_input needs the workspace; what it returns (SeriesInput) is plain arrays and dicts, so a
worker process or a Ray task can train on it without one.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast.config import DataConfig, RunConfig, parse_date
from seqcast.errors import DataError
from seqcast.store import Store, StoredSeries, load_stored
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from seqcast.covariates import PreparedInputs


@dataclass
class SeriesInput:
    """What one training takes from the workspace: its config (series resolved) and the data."""

    cfg: RunConfig
    values: np.ndarray  # (n,) closes
    dates: pd.DatetimeIndex  # (n,)
    store_sha256: str | None = None
    inputs: np.ndarray | None = None  # (n, k) unscaled past covariates / extra columns, nan = unknown
    input_descriptors: list[dict[str, Any]] = field(default_factory=list)  # meta "inputs" less scalers
    sampling: dict[str, Any] = field(default_factory=dict)  # meta "calendar" and "data_warnings"


def load_input(cfg: RunConfig, home: Path | str | None = None) -> SeriesInput:
    """The stored series cfg names (the last fetched when None), cut to --from/--to."""
    import numpy as np
    import pandas as pd

    from seqcast.series import between

    ws = Workspace.resolve(home)
    stored, frame = load_stored(ws, cfg.data.symbol, cfg.data.source)
    # The saved config names the series actually used, not "the last fetched".
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, symbol=stored.symbol, source=stored.source))
    selected = between(frame, parse_date(cfg.data.start, "--from"), parse_date(cfg.data.end, "--to"))
    if selected.empty:
        raise DataError(_empty_range_message(stored.symbol, cfg.data, frame))
    sampling = _sampling_record(stored, frame.index, selected.index)  # calendar + data warnings
    prepared = _prepare_inputs(ws, cfg, stored, selected)  # past covariates, extra columns
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, covariates=list(prepared.stored)))
    frame = prepared.frame
    if len(frame) < len(selected):  # the inputs are known on fewer rows than the target has: say so
        sampling = {**sampling, "data_warnings": [*sampling.get("data_warnings", []),
                                                  _inputs_range_warning(stored.symbol, frame, selected)]}
    dates = pd.DatetimeIndex(frame.index)
    descriptors: list[dict[str, Any]] = []
    if prepared.columns:
        from seqcast.covariates import input_descriptors

        descriptors = input_descriptors(prepared, dates, cfg.data.max_stale_days)
    return SeriesInput(cfg, frame["Close"].to_numpy(dtype=np.float64), dates, stored.meta.get("sha256"),
                       inputs=prepared.matrix, input_descriptors=descriptors, sampling=sampling)


def fingerprint(dates: Any, values: np.ndarray) -> str:
    """A short hash of the dates (any datetime array or index) and closes a model was trained on."""
    import numpy as np

    digest = hashlib.sha256()
    days = np.asarray(dates, dtype="datetime64[D]").astype("<i8")
    digest.update(days.tobytes())
    digest.update(np.asarray(values, dtype="<f8").tobytes())
    return digest.hexdigest()[:16]


def _prepare_inputs(ws: Workspace, cfg: RunConfig, stored: StoredSeries, frame: pd.DataFrame) -> PreparedInputs:
    """The covariates and extra columns of cfg on the target's rows (covariates.prepare_inputs)."""
    from seqcast.covariates import prepare_inputs

    return prepare_inputs(Store(ws), cfg.data, stored.symbol, stored.source, frame)


def _inputs_range_warning(symbol: str, frame: pd.DataFrame, selected: pd.DataFrame) -> dict[str, str]:
    """meta's data warning when the inputs are known on fewer rows than the selected target rows."""
    kept = f"{frame.index[0].date()} .. {frame.index[-1].date()}" if len(frame) else "no rows"
    return {
        "kind": "inputs-range",
        "message": (f"the inputs are known on {len(frame)} of the {len(selected)} selected {symbol} rows "
                    f"({kept} of {selected.index[0].date()} .. {selected.index[-1].date()}): a covariate starts "
                    "later or ends earlier; fetch more of it to use the rest"),
    }


def _sampling_record(stored: StoredSeries, stored_dates: Any, used_dates: Any) -> dict[str, Any]:
    """meta's "calendar" (from every stored date) and "data_warnings" (from the rows used)."""
    from seqcast.calendars import sampling_record

    return sampling_record(stored_dates, used_dates, source=stored.source, symbol=stored.symbol,
                           interval=stored.meta.get("interval"))


def _empty_range_message(symbol: str, data: DataConfig, frame: pd.DataFrame) -> str:
    """No stored rows between --from and --to: say what is stored and what to do."""
    asked = " and ".join(f"{flag} {value}" for flag, value in (("--from", data.start), ("--to", data.end))
                         if value)
    return (f"no {symbol} rows for {asked}; the stored data covers {frame.index[0].date()} .. "
            f"{frame.index[-1].date()}: choose dates within it, or fetch more data")
