"""The seqcast command line: one typer app, one module per group of commands.

commands (the app, plot and predict-next), data (fetch, data), train (train, backtest), runs (runs,
report), sweep (sweep, sweeps); options declares the run options once, configfile reads and
writes --config files, common holds the error boundary and strict JSON, render all rich output.
typer and rich are imported only under this package.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app", "main"]


def main() -> None:
    """The `seqcast` console script."""
    from seqcast.cli.commands import main as run

    run()


def __getattr__(name: str) -> Any:
    if name == "app":
        from seqcast.cli.commands import app

        return app
    raise AttributeError(f"module 'seqcast.cli' has no attribute {name!r}")
