"""`seqcast fetch` and `seqcast data` (list, rm): getting series into the workspace and out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from seqcast.cli.common import HomeOption, JsonOption, _console, _given, _json_out, _user_errors, flag_option

# The built-in sources in the order --help lists them; a plug-in source (seqcast.data.sources.register_source)
# follows them and is fetched like any other.
_SHOWN_FIRST = ("stooq", "ecb", "nbp", "sample", "csv", "synthetic")


def source_choices() -> list[str]:
    """Every registered source name, as --source lists and accepts them."""
    from seqcast.data.sources import source_names

    names = source_names()
    return [n for n in _SHOWN_FIRST if n in names] + [n for n in names if n not in _SHOWN_FIRST]


def _source_name(value: str) -> str:
    """--source: any registered source (checked when parsed, so a plug-in registered late counts)."""
    choices = source_choices()
    if value not in choices:
        raise ValueError(f"{value!r} is not one of {', '.join(map(repr, choices))}.")
    return value


def _complete_source(incomplete: str) -> list[str]:
    return [n for n in source_choices() if n.startswith(incomplete)]


data_app = typer.Typer(no_args_is_help=False)


def register(app: typer.Typer) -> None:
    app.command()(fetch)
    app.add_typer(data_app, name="data")


def fetch(
    symbol: Annotated[str | None, typer.Argument(
        help="Ticker as the source spells it: eurpln, aapl.us, wig20, ^spx (none for a --csv folder or zip).",
        show_default=False)] = None,
    source: Annotated[str, typer.Option("--source", "-s", help="Where to get the data.", parser=_source_name,
                                        metavar="<" + "|".join(source_choices()) + ">",
                                        autocompletion=_complete_source)] = "stooq",
    csv: Annotated[Path | None, typer.Option(
        "--csv", help="Import a CSV file saved by hand, or every daily file of a folder or .zip (stooq's bulk "
                      "database: one series per file).")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First date, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last date, YYYY-MM-DD.")] = None,
    interval: Annotated[Literal["d", "w", "m"], typer.Option(help="Bar interval (stooq).")] = "d",
    apikey: Annotated[str | None, typer.Option(envvar="SEQCAST_STOOQ_APIKEY", show_default=False,
                                               help="stooq API key (never printed or stored).")] = None,
    domain: Annotated[Literal["pl", "com"], typer.Option(help="stooq domain: stooq.pl or stooq.com.")] = "pl",
    full: Annotated[bool, flag_option("--full", help="Download everything again, not only new days.")] = False,
    date_format: Annotated[Literal["dmy", "mdy", "ymd"] | None, typer.Option(
        "--date-format", help="Order of --csv dates that read both ways: dmy (31/12/2024), mdy (12/31/2024), ymd."
    )] = None,
    bar_date: Annotated[Literal["written", "next"] | None, typer.Option(
        "--bar-date", help="--csv dates stamped with a time of day: the bar is the day written, or the next day's "
                           "(a session opening the evening before).")] = None,
    decimal: Annotated[Literal["point", "comma"] | None, typer.Option(
        "--decimal", help="--csv prices' decimal separator, where the numbers read two ways (\"1,234\").")] = None,
    length: Annotated[int | None, typer.Option(
        help="synthetic: business days generated, 30-32000 \\[default: 1000].")] = None,
    noise: Annotated[float | None, typer.Option(help="synthetic: sd of the daily shock \\[default: 0.1].")] = None,
    period: Annotated[float | None, typer.Option(help="synthetic: days per sine cycle \\[default: 20].")] = None,
    seed: Annotated[int | None, typer.Option(help="synthetic: random seed \\[default: 0].")] = None,
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Download daily quotes and keep them in the workspace.

    Examples:

      seqcast fetch eurpln --source sample   # bundled, offline

      seqcast fetch eurpln --from 2020-01-01 # stooq

      seqcast fetch eurpln --csv ~/Downloads/eurpln_d.csv

      seqcast fetch usdpln --source nbp --from 2015-01-01

      seqcast fetch sine --source synthetic --noise 0.2   # also: ar1, randomwalk, garch
    """
    from seqcast import api

    generator = {"length": length, "noise": noise, "period": period, "seed": seed}
    with _user_errors():
        if source != "synthetic" and any(v is not None for v in generator.values()):
            raise typer.BadParameter("--length, --noise, --period and --seed need --source synthetic")
        if csv is not None:
            from seqcast.data.bulk import is_bulk_path

            if is_bulk_path(csv):
                _bulk_import(csv, symbol, start, end, date_format, bar_date, decimal, full, as_json, home)
                return
        if not symbol:
            raise typer.BadParameter("give the SYMBOL to fetch (or --csv FOLDER or ZIP to import many)")
        options: dict[str, object] = {k: v for k, v in generator.items() if v is not None}
        for name, value in (("bar_date", bar_date), ("decimal", decimal)):
            if value is not None:
                if csv is None:
                    raise typer.BadParameter(f"--{name.replace('_', '-')} applies to a --csv file only")
                options[name] = value
        err = _console(stderr=True)
        with err.status(f"fetching {symbol} from {'csv' if csv else source} …"):
            stored = api.fetch(symbol, source=source, start=start, end=end, interval=interval,
                               csv=csv, apikey=apikey, domain=domain, full=full, home=home,
                               date_format=date_format, options=options)
        _print_fetched(stored.meta, as_json)


def _print_fetched(meta: dict[str, Any], as_json: bool) -> None:
    """The fetch's summary line ("+0 new, 1 row revised"), then its notes and warnings; or the JSON."""
    if as_json:
        _json_out(meta)
        return
    extra = f" ({meta['derived']})" if meta.get("derived") else ""
    revised = (meta.get("revised") or {}).get("rows", 0)
    changed = f", {revised} row{'s' if revised != 1 else ''} revised" if revised else ""
    _console().print(
        f"[bold]{meta['symbol']}[/]: {meta['rows']} rows, {meta['first']} .. {meta['last']} "
        f"from {meta['source']}{extra}, {meta.get('new_rows', 0):+d} new{changed}"
    )
    _print_notes(meta)


def _print_notes(meta: dict[str, object], prefix: str = "") -> None:
    """A fetch's notes (how the file was read) and warnings (rows that did not really trade), on stderr."""
    err = _console(stderr=True)
    revised = meta.get("revised")
    if isinstance(revised, dict) and revised.get("rows"):
        dates = [str(d) for d in revised.get("dates", [])]
        shown = ", ".join(dates[:5]) + (f" and {len(dates) - 5} more" if len(dates) > 5 else "")
        err.print(f"{prefix}note: the source revised {len(dates)} stored row{'s' if len(dates) != 1 else ''} "
                  f"({shown}); the new values replace the old", soft_wrap=True)
    for key, label in (("notes", "note"), ("warnings", "[yellow]warning:[/]")):
        items = meta.get(key)
        for item in items if isinstance(items, list) else []:
            message = item.get("message", item) if isinstance(item, dict) else item
            err.print(f"{prefix}{label}{':' if label == 'note' else ''} {message}", soft_wrap=True)


def _bulk_import(csv: Path, symbol: str | None, start: str | None, end: str | None, date_format: str | None,
                 bar_date: str | None, decimal: str | None, full: bool, as_json: bool, home: Path | None) -> None:
    """`seqcast fetch --csv FOLDER|ZIP`: one line per refused file, a summary line."""
    from seqcast.config import check_date_range, parse_date
    from seqcast.data.bulk import check_bulk_options, import_folder
    from seqcast.data.formats import check_date_format
    from seqcast.data.store import check_writable
    from seqcast.workspace import Workspace

    check_bulk_options(csv, symbol, bar_date)
    start_d, end_d = parse_date(start, "--from"), parse_date(end, "--to")
    check_date_range(start_d, end_d)
    workspace = Workspace.resolve(home)
    check_writable(workspace)
    err = _console(stderr=True)
    with err.status(f"importing {csv} …"):
        progress = None if as_json else lambda line: err.print(line, soft_wrap=True)
        result = import_folder(workspace, csv, start=start_d, end=end_d, date_format=check_date_format(date_format),
                               decimal=decimal, full=full, progress=progress)
    if as_json:
        _json_out(result.to_dict())
        return
    warned = [s for s in result.imported if s["warnings"] or (s.get("revised") or {}).get("rows")]
    for entry in warned:
        _print_notes({"revised": entry.get("revised"), "warnings": entry["warnings"]}, prefix=f"{entry['symbol']}: ")
    _console().print(result.summary())
    if not result.imported and result.refused:
        raise typer.Exit(1)


@data_app.callback(invoke_without_command=True)
def data(ctx: typer.Context, as_json: JsonOption = False, home: HomeOption = None) -> None:
    """List the series stored in the workspace; `seqcast data rm SYMBOL` removes one.

    Example: seqcast data --json
    """
    from seqcast import api

    if ctx.invoked_subcommand is not None:
        if _given(ctx, "home"):
            ctx.obj = {"home": home}  # `seqcast data --home X rm S` removes from X
        return
    with _user_errors():
        stored = api.stored_series(home)
        if as_json:
            _json_out([s.meta for s in stored])
            return
        if not stored:
            _console().print("no data yet; start with: seqcast fetch eurpln --source sample")
            return
        from rich.table import Table

        table = Table("source", "symbol", "rows", "first", "last", "fetched (UTC)", box=None)
        for s in stored:
            m = s.meta
            table.add_row(m["source"], m["symbol"], str(m["rows"]), m["first"], m["last"],
                          m.get("fetched_at", "")[:19].replace("T", " "))
        _console().print(table)


@data_app.command("rm")
def data_rm(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Stored symbol to remove.")],
    source: Annotated[str | None, typer.Option(
        "--source", "-s", help="Remove only the copy from this source \\[default: every source].")] = None,
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Remove a stored series (its CSV and metadata) from the workspace.

    Example: seqcast data rm eurpln --source stooq
    """
    from seqcast import api

    if not _given(ctx, "home") and ctx.obj and "home" in ctx.obj:
        home = ctx.obj["home"]
    with _user_errors():
        removed = api.remove_series(symbol, source=source, home=home)
        if as_json:
            _json_out([{"source": s.source, "symbol": s.symbol, "rows": s.meta.get("rows")} for s in removed])
            return
        for s in removed:
            _console().print(f"removed [bold]{s.symbol}[/] from {s.source} ({s.meta.get('rows')} rows)")


