"""seqcast: forecast daily financial series with recurrent neural networks, honestly.

On a pandas Series you hold (nothing written to disk):

    import seqcast
    close = seqcast.sample("eurpln")            # or your own Series of closes
    fitted = seqcast.fit(close, epochs=20)      # a Series with a DatetimeIndex
    fitted.verdict, fitted.metrics, fitted.forecast(level=(0.8, 0.95))

On a workspace of fetched series and saved runs (the CLI's verbs):

    ws = seqcast.Workspace()                     # $SEQCAST_HOME, else ~/.seqcast
    ws.fetch("eurpln", source="sample")
    run = ws.train(model="lstm").run

The names below are seqcast.api's (imported on first use, so that importing seqcast stays cheap).
"""

from __future__ import annotations

from typing import Any

from seqcast.errors import SeqcastError

__version__ = "0.1.0"

__all__ = [  # the verbs (fit and load on data in memory, the rest on a workspace) and their results
    "BacktestResult", "Fitted", "Forecast", "Run", "SeedsResult", "SeqcastError", "StoredSeries", "Sweep",
    "TrainResult", "Workspace", "backtest", "fetch", "fit", "list_runs", "load", "load_run", "load_series", "plot",
    "predict_next", "report", "sample", "sweep", "train", "train_seeds",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from seqcast import api

        return getattr(api, name)
    raise AttributeError(f"module 'seqcast' has no attribute {name!r}")
