"""The simplest model on the same inputs: least squares on the last few window rows.

Shown beside every network so a user sees what the network adds over a linear
regression of the next move on the same (scaled) inputs, fitted on the training
part only (its validation tail included), never on test days.
"""

from __future__ import annotations

import numpy as np

from seqcast.inputs.windows import WindowedData, to_price

RIDGE = 1e-3
"""Ridge penalty per fitting window on the (unit-scaled) inputs' coefficients."""
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
    # An input that barely moves there (non-zero in fewer than 5 % of the windows: a pegged covariate's
    # few one-pip flickers) would get an arbitrary coefficient that explodes once it floats: left out.
    moving = np.count_nonzero(design[fit_rows], axis=0) >= 0.05 * max(ds.val.stop, 1)
    moving[-1] = True  # the intercept
    design = design[:, moving]
    # A small ridge penalty (not on the intercept) keeps near-collinear inputs from offsetting huge
    # coefficients (a pegged covariate's gap to the target is minus the target's move until it floats).
    x, y = design[fit_rows], ds.y[fit_rows].astype(np.float64)
    penalty = RIDGE * len(x) * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0
    coef = np.linalg.solve(x.T @ x + penalty, x.T @ y)
    raw = ds.scaler.inverse(design @ coef)
    return to_price(raw, ds.previous, ds.target)
