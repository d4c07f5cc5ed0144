"""seqcast: forecast daily financial series with recurrent neural networks, honestly.

The Python API lives in seqcast.api (imported on first use, so that importing
seqcast stays cheap):

    import seqcast
    seqcast.fetch("eurpln", source="sample")
    run = seqcast.train(model="lstm").run
"""

from __future__ import annotations

from typing import Any

from seqcast.errors import SeqcastError

__version__ = "0.1.0"

__all__ = [
    "SeqcastError", "backtest", "fetch", "list_runs", "load_run", "load_series", "plot", "predict_next",
    "train", "train_seeds",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from seqcast import api

        return getattr(api, name)
    raise AttributeError(f"module 'seqcast' has no attribute {name!r}")
