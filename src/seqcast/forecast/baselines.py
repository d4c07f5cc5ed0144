"""The simplest model on the same inputs: least squares on the last few window rows.

Shown beside every network so a user sees what the network adds over a linear
regression of the next move on the same (scaled) inputs, fitted on the training
part only (its validation tail included), never on test days.
"""

from __future__ import annotations

import numpy as np

from seqcast.inputs.windows import WindowedData, to_price

LINEAR_DAYS = 5
"""Window rows (the latest days) of every input the regression reads."""


def linear_forecast(ds: WindowedData, days: int = LINEAR_DAYS) -> np.ndarray:
    """Price forecasts for every window of ds from numpy lstsq on the last `days` rows of each input."""
    days = min(days, ds.lookback)
    n = len(ds.y)
    design = np.concatenate(
        [ds.x[:, -days:, :].reshape(n, -1).astype(np.float64), np.ones((n, 1))], axis=1
    )  # (n_windows, days * n_features + 1)
    fit_rows = slice(0, ds.val.stop)  # the training part: its fitting windows and validation tail
    coef, *_ = np.linalg.lstsq(design[fit_rows], ds.y[fit_rows].astype(np.float64), rcond=None)
    raw = ds.scaler.inverse(design @ coef)
    return to_price(raw, ds.previous, ds.target)
