"""The seqcast command line: typer commands over seqcast.api, rendered with rich.

One module per group of commands: cli_data (fetch, data), cli_train (train, backtest; their
options are declared once in cli_options), cli_runs (runs, report), sweep_cli (sweep, sweeps);
plot and predict-next live here. Shared helpers are in cli_common, printing in cli_render.
Heavy libraries (torch, pandas, matplotlib) are imported inside the commands that need them,
so `seqcast --help` starts instantly.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from typer.core import TyperGroup

from seqcast.cli import data as cli_data
from seqcast.cli import runs as cli_runs
from seqcast.cli import sweep as sweep_cli
from seqcast.cli import train as cli_train
from seqcast.cli.common import (
    HomeOption,
    JsonOption,
    _console,
    _given,
    _json_out,
    _tolerant_streams,
    _user_errors,
    check_one_name_per_option,
    flag_option,
)

__all__ = ["app", "main"]

class _Commands(TyperGroup):
    """The top-level group: refuses an option given under both its new and its old name."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        check_one_name_per_option(command, rest)
        return name, command, rest


app = typer.Typer(
    cls=_Commands,
    name="seqcast",
    help="Forecast daily financial series with recurrent neural networks, honestly: every "
    "evaluation is compared with the naive 'tomorrow = today' forecast.\n\n"
    "Quick start: seqcast fetch eurpln --source sample && seqcast train && seqcast plot && "
    "seqcast predict-next",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"seqcast {version('seqcast')}")
        except PackageNotFoundError:
            typer.echo("seqcast (not installed)")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    version: Annotated[bool, flag_option("--version", "-V", callback=version_callback, is_eager=True,
                                         help="Show the version and exit.")] = False,
    home: HomeOption = None,
) -> None:
    """Forecast daily financial series with RNN/LSTM/GRU networks, honestly."""
    if _given(ctx, "home"):
        ctx.ensure_object(dict)["home"] = home  # `seqcast --home X fetch ...`: X for the command



cli_data.register(app)  # fetch, data
cli_train.register(app)  # train, backtest


@app.command()
def plot(
    run_id: Annotated[str | None, typer.Argument(help="Run or backtest id, or a unique prefix "
                                                      "\\[default: latest run].")] = None,
    fmt: Annotated[Literal["png", "svg", "pdf"] | None,
                   typer.Option("--format", help="File format \\[default: from --out's extension, else png].",
                                 show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output file \\[default: in the run folder].")] = None,
    home: HomeOption = None,
) -> None:
    """Chart actual vs predicted on the train and test parts, plus the loss curves.

    A backtest id draws every fold's test block and the RMSE per fold, model vs naive; a sweep id
    its leaderboard (RMSE / naive per configuration).

    Example: seqcast plot 20261127-093129 --format svg
    """
    from seqcast import api

    with _user_errors():
        path = api.plot(run_id, home=home, fmt=fmt, out=out)
        _console().print(str(path), soft_wrap=True)


@app.command("predict-next")
def predict_next(
    run_id: Annotated[str | None, typer.Argument(help="Run id or unique prefix \\[default: latest run].")] = None,
    horizon: Annotated[int, typer.Option("--horizon", "--days",
                                         help="Periods ahead on the series' own calendar: business days "
                                              "(weeks, months for weekly, monthly bars); recursive. "
                                              "--days: the old name.")] = 1,
    level: Annotated[float | None, typer.Option(
        "--level", help="Intervals' nominal level, 0.5-0.999, from the run's stored calibration "
                        "\\[default: the level the run was trained at].")] = None,
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Forecast the next business day(s) from the latest stored data of the run's symbol.

    Example: seqcast predict-next --horizon 5 --level 0.95
    """
    from seqcast import api

    with _user_errors():
        fc = api.predict_next(run_id, horizon=horizon, home=home, level=level)
        if as_json:
            _json_out(fc.to_dict())
            return
        from rich.table import Table

        out = _console()
        out.print(f"[bold]{fc.symbol}[/] last close {fc.last_close:.6g} on {fc.last_date} "
                  f"(run {fc.run_id})")
        table = Table("date", "forecast", f"{fc.level:.0%} interval", "change %",
                      box=None, pad_edge=False)
        for row in fc.rows:
            interval = ("–" if math.isnan(row["lower"])
                        else f"{row['lower']:.6g} .. {row['upper']:.6g}")
            table.add_row(row["date"], f"{row['predicted']:.6g}", interval, f"{row['change_pct']:+.3f}")
        out.print(table)
        if fc.calendar:
            out.print(f"[dim]dates follow the {fc.calendar.get('name')} calendar "
                      f"({fc.calendar.get('frequency')})[/]")
        for note in fc.notes:
            out.print(f"[yellow]note:[/] {note}")


cli_runs.register(app)  # runs, report
sweep_cli.register(app)  # sweep, sweeps


def main() -> None:
    """Console-script entry point: process-wide tuning belongs here, never in library calls."""
    from seqcast.models.perf import tune_allocator

    tune_allocator()  # keeps the multi-MB LSTM workspaces mapped between steps (see perf.py)
    _tolerant_streams()
    try:
        app()
    except (KeyboardInterrupt, SystemError) as exc:
        # Ctrl-C while typer builds the command, before any command ran (a Ctrl-C inside
        # a command is handled there): nothing was done. A SystemError caused by the interrupt
        # is a Ctrl-C that landed while a C extension was being imported.
        if isinstance(exc, SystemError) and not isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
            raise
        sys.stderr.write("interrupted; nothing was changed\n")
        sys.exit(130)
