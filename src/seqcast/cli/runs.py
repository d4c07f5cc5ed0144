"""CLI commands over saved results: `seqcast runs` (list, show, rm, export) and `seqcast report`.

Registered on the main app by seqcast.cli (register(app)); shares its console, error
handling and printers. Heavy libraries are imported inside the commands.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any, Literal

import typer

from seqcast.cli.common import (
    HomeOption,
    JsonOption,
    _console,
    _json_out,
    _num,
    _ratio_colour,
    _user_errors,
    flag_option,
)
from seqcast.cli.render import _print_backtest, _print_report
from seqcast.errors import SeqcastError

runs_app = typer.Typer(
    name="runs",
    invoke_without_command=True,
    no_args_is_help=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

IdArgument = Annotated[str | None, typer.Argument(help="Run or backtest id, or a unique prefix "
                                                       "\\[default: the latest run].", show_default=False)]


def register(app: typer.Typer) -> None:
    """Add `runs` (a group) and `report` to the main app."""
    app.add_typer(runs_app)
    app.command("report")(report)


# --------------------------------------------------------------------------- listing


def _inputs_cell(inputs: list[str]) -> str:
    return "close" + (" + " + ", ".join(inputs) if inputs else "")


def run_rows(found: list[Any]) -> list[dict[str, Any]]:
    """Each run as `seqcast runs` lists it (seqcast.runs.index.listing_row), read from its folder."""
    from seqcast.runs.index import listing_row

    return [listing_row(run) for run in found]


def backtest_rows(home: Path | None) -> list[dict[str, Any]]:
    from seqcast import api

    rows: list[dict[str, Any]] = []
    for ident in api.list_backtests(home):
        try:
            bt = api.load_backtest(ident, home).data
        except SeqcastError as exc:
            rows.append({"backtest_id": ident, "error": str(exc)})
            continue
        cfg, pooled = bt.get("config", {}), bt.get("pooled", {})
        rows.append({
            "backtest_id": ident, "model": cfg.get("model", {}).get("kind"), "symbol": bt.get("symbol"),
            "target": cfg.get("data", {}).get("target"), "folds": len(bt.get("folds", [])),
            "rmse": pooled.get("rmse"), "naive_rmse": pooled.get("naive_rmse"),
            "rmse_ratio": pooled.get("rmse_ratio"), "verdict": bt.get("verdict"),
            "path": bt.get("path"),
        })
    return rows


def _listed_runs(home: Path | None) -> list[dict[str, Any]]:
    """run_rows of every run, through the runs folder's index (seqcast.runs.index): the same rows, faster."""
    from seqcast import api
    from seqcast.runs.index import listing
    from seqcast.runs.registry import RunStore

    return listing(RunStore(api.Workspace(home)))


def _verdict_cell(verdict: str | None, ratio: Any) -> str:
    from rich.markup import escape

    if not verdict:
        return ""
    ratio = ratio if isinstance(ratio, (int, float)) else math.nan
    return f"[{_ratio_colour(ratio)}]{escape(verdict)}[/]"


@runs_app.callback()
def runs(
    ctx: typer.Context,
    backtests: Annotated[bool, flag_option("--backtests", "-b", help="List saved backtests instead of runs.")]
    = False,
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """List, show, export and remove saved runs (or --backtests); alone, list them oldest first.

    Examples:

      seqcast runs                    # test RMSE vs naive and the verdict

      seqcast runs --backtests        # saved walk-forward backtests

      seqcast runs show 20261127-0931 # the full report again (a run or a backtest)

      seqcast runs export 20261127-0931 -o predictions.csv

      seqcast runs rm 20261127-0931 --yes
    """
    if ctx.invoked_subcommand is not None:
        return

    with _user_errors():
        rows = backtest_rows(home) if backtests else _listed_runs(home)
        if as_json:
            _json_out(rows)
            return
        if not rows:
            _console().print("no backtests yet; run one: seqcast backtest" if backtests
                             else "no runs yet; train one: seqcast train")
            return
        from rich.table import Table

        out = _console()
        if not out.is_terminal:
            out.width = max(out.width, 150)  # a pipe or a file: one line per run
        key = "backtest_id" if backtests else "run_id"
        table = Table(box=None, pad_edge=False)
        table.add_column("backtest id" if backtests else "run id", no_wrap=True,
                         min_width=max(len(r[key]) for r in rows))
        names = (("model", "target", "folds", "RMSE", "naive", "ratio", "verdict") if backtests
                 else ("model", "target", "inputs", "epochs", "test RMSE", "naive", "ratio", "verdict"))
        for name in names:
            left = name in ("model", "target", "inputs", "verdict")
            table.add_column(name, justify="left" if left else "right", no_wrap=name != "verdict")
        for r in rows:
            if "error" in r:
                table.add_row(r[key], "[red]unreadable[/]")
                continue
            numbers = [_num(r["rmse"], 4), _num(r["naive_rmse"], 4), _num(r["rmse_ratio"], 4),
                       _verdict_cell(r["verdict"], r["rmse_ratio"])]
            if backtests:
                table.add_row(r[key], r["model"], r["target"], str(r["folds"]), *numbers)
            else:
                table.add_row(r[key], r["model"], r["target"], _inputs_cell(r["inputs"]), str(r["epochs"]), *numbers)
        out.print(table)
        from rich.markup import escape

        for r in rows:  # why each unreadable one is skipped, in full
            if "error" in r:
                out.print(f"[red]unreadable[/] {r[key]}: {escape(r['error'])}", soft_wrap=True)


# --------------------------------------------------------------------------- show / rm / export


def _as_backtest_result(record: Any) -> Any:
    """A saved backtest's JSON as the object cli._print_backtest prints."""
    data = record.data
    folds = [SimpleNamespace(**{k: f.get(k) for k in ("fold", "train_first", "test_first", "test_last",
                                                     "n_test")}, metrics=f.get("metrics", {}))
             for f in data.get("folds", [])]
    return SimpleNamespace(folds=folds, pooled=data.get("pooled", {}), verdict=data.get("verdict", ""),
                           workers=data.get("workers", 1), path=record.path,
                           meta={"symbol": data.get("symbol")}, linear=data.get("linear"))


@runs_app.command()
def show(
    run_id: IdArgument = None,
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Print a run's full report again (the one train printed), or a backtest's table.

    Example: seqcast runs show 20261127-0931
    """
    from seqcast import api
    from seqcast.runs.records import BacktestRecord

    with _user_errors():
        found = api.find(run_id, home)
        if isinstance(found, BacktestRecord):
            if as_json:
                _json_out(found.data)
                return
            _print_backtest(_as_backtest_result(found))
            return
        if as_json:
            _json_out({"run_id": found.run_id, "path": str(found.path), "metrics": found.metrics,
                       "meta": found.meta, "config": found.config.to_dict()})
            return
        _print_report(found)


@runs_app.command("rm")
def remove(
    run_ids: Annotated[list[str], typer.Argument(help="Run or backtest ids (or unique prefixes).",
                                                 metavar="ID", show_default=False)],
    yes: Annotated[bool, flag_option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    home: HomeOption = None,
) -> None:
    """Delete runs or backtests (asks first unless --yes); a backtest goes with its report and charts.

    Example: seqcast runs rm 20261127-0931 20261127-0945 --yes
    """
    from seqcast import api
    from seqcast.runs.records import BacktestRecord, backtest_files

    with _user_errors():
        from seqcast.runs.registry import resolve
        from seqcast.workspace import Workspace

        ws = Workspace.resolve(home)
        # Every id checked before anything is deleted; a backtest is not read (an unreadable one goes too).
        found = [resolve(ws, i, unread=True) for i in run_ids]
        unique = {str(f.path): f for f in found}
        out = _console()
        for f in unique.values():
            for path in backtest_files(f) if isinstance(f, BacktestRecord) else [f.path]:
                out.print(f"  {path}", soft_wrap=True)
        if not yes and not _confirm(f"delete {len(unique)} saved result{'s' if len(unique) > 1 else ''}?"):
            out.print("nothing was deleted")
            raise typer.Exit(1)
        for f in unique.values():
            api.remove(f)
        out.print(f"deleted {len(unique)}")


def _confirm(question: str) -> bool:
    """typer.confirm, where Ctrl-C or end of input means no (click would print "Aborted.")."""
    try:
        return typer.confirm(question)
    except typer.Abort:
        typer.echo("", err=True)  # end the prompt's line
        raise KeyboardInterrupt from None  # _user_errors: "interrupted; nothing was changed", exit 130


@runs_app.command()
def export(
    run_id: IdArgument = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="CSV file to write \\[default: print it].",
                                             show_default=False)] = None,
    home: HomeOption = None,
) -> None:
    """Export a run's predictions (date, part, actual, predicted, naive, lower, upper) as CSV.

    A backtest exports every fold's test forecasts (fold, date, actual, predicted, naive).

    Example: seqcast runs export 20261127-0931 -o predictions.csv
    """
    import sys

    from seqcast import api

    with _user_errors():
        text = api.export_predictions(run_id, home)
        if out is None:
            sys.stdout.write(text)
            return
        from seqcast import fileio

        fileio.write_text(out, text)
        _console().print(str(out), soft_wrap=True)


# --------------------------------------------------------------------------- report


def report(
    run_id: IdArgument = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write \\[default: report.html in the "
                                             "run folder; <id>.html beside a backtest].", show_default=False)]
    = None,
    fmt: Annotated[Literal["html", "md"], typer.Option("--format", help="HTML (one self-contained file) or "
                                                       "Markdown (charts as PNG files beside it).")] = "html",
    forecast: Annotated[bool, flag_option("--forecast", help="Add the next-day forecast from the latest "
                                          "stored data.")] = False,
    home: HomeOption = None,
) -> None:
    """Write a report to hand in: data, split, configuration, charts, metrics vs naive, verdict, files.

    The HTML file needs no network: charts are inside it. A backtest report shows every fold; a
    sweep report (give a sweep id) its leaderboard, with a link to each cell's own report.

    Examples:

      seqcast report                   # latest run -> runs/<id>/report.html

      seqcast report 20261127-0931 -o eurpln.html --forecast

      seqcast report BACKTEST_ID --format md -o backtest.md
    """
    from seqcast import api

    with _user_errors():
        path = api.report(run_id, home=home, out=out, fmt=fmt, forecast=forecast)
        _console().print(str(path), soft_wrap=True)
