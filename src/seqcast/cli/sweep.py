"""`seqcast sweep` and `seqcast sweeps`: the grid command and its records, rendered with rich.

Registered on the app by seqcast.cli (register(app)); imports nothing heavy until a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from seqcast.cli.common import HomeOption, JsonOption, _console, _json_out, _num, _user_errors
from seqcast.cli.render import _cell_line, _print_leaderboard, _print_table

BackendOption = Annotated[Literal["local", "ray"], typer.Option(
    help="Where cells run: local worker processes, or Ray (pip install 'seqcast\\[ray]').")]
AddressOption = Annotated[str | None, typer.Option(
    help="An existing Ray cluster, HOST:PORT (with --backend ray) \\[default: a private Ray on 127.0.0.1].")]

sweeps_app = typer.Typer(invoke_without_command=True, no_args_is_help=False)


def register(app: typer.Typer) -> None:
    """Add `sweep` and the `sweeps` group to the main app."""
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(sweep)
    app.add_typer(sweeps_app, name="sweeps")


def sweep(
    ctx: typer.Context,
    symbol: Annotated[list[str] | None, typer.Option(
        "--symbol", help="Stored symbol; repeat it (or give a comma list) for several \\[default: the last "
        "fetched].")] = None,
    symbol_file: Annotated[Path | None, typer.Option(
        "--symbol-file", help="A file with one SYMBOL or SYMBOL:SOURCE per line (# comments, blank lines "
        "skipped): a sweep over many series.")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="A TOML file with the grid: option = value or \\[values], symbol, seeds, backtest.")] = None,
    seeds: Annotated[int | None, typer.Option(help="Seeds per config and symbol: --seed, --seed+1, ... "
                                                   "\\[default: 1].")] = None,
    seed: Annotated[int | None, typer.Option(help="First seed \\[default: 0].")] = None,
    backtest: Annotated[int | None, typer.Option(
        "--backtest", help="Walk-forward backtest with this many folds per config, symbol and seed; each fold "
        "is a cell.")] = None,
    backend: BackendOption = "local",
    address: AddressOption = None,
    workers: Annotated[int | None, typer.Option(help="Cells run at once \\[default: one per CPU core this "
                                                     "process may use; on Ray, the cluster's CPUs].")] = None,
    keep_runs: Annotated[str, typer.Option(
        "--keep-runs", help="Which cells get a run folder: all, best:N (the N lowest RMSE / naive) or none; "
        "every cell's config, seed, metrics and fit time are in the sweep's results table either way.")] = "all",
    resume: Annotated[str | None, typer.Option(help="Finish the unfinished cells of a sweep (its id).")] = None,
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Train a grid of configs × symbols × seeds (or × backtest folds) on all cores or on Ray.

    Any `seqcast train` option takes a comma-separated list of values: --model, --split, --lookback,
    --target, --epochs, --batch-size, --hidden, --layers, --dropout, --activation, --heads, --lr,
    --clip, --patience, --val-fraction, --shrink/--no-shrink, --level, --from, --to, --source,
    --device, --threads, --features, --max-stale-days, and --covariate (repeat it: one value)
    (what each one means: seqcast train --help).
    Example: --model lstm,gru --lookback 20,60 --no-shrink. A repeated option adds its values.

    The grid is their product. Each cell is exactly `seqcast train` with its options, saved as a run.

    The leaderboard: per config, RMSE / naive (mean ± sd), Diebold–Mariano p, coverage and fit time.

    Examples:

      seqcast sweep --symbol eurpln --symbol eurusd --model lstm,gru --lookback 20,60 --seeds 3

      seqcast sweep --model lstm,gru,transformer --backtest 4

      seqcast sweep --config sweep.toml --backend ray --address 10.0.0.5:6379

      seqcast sweep --resume 20261130-1402     # after Ctrl-C: only the unfinished cells
    """
    from seqcast.errors import ConfigError
    from seqcast.runs import sweep as sw

    with _user_errors():
        spec = None
        if resume is None:
            try:
                grid = sw.parse_grid_args(list(ctx.args))
            except ConfigError as exc:
                raise typer.BadParameter(str(exc), ctx) from None
            written: dict[str, Any] = sw.read_config_file(config) if config else {"grid": {}}
            symbols: list[str | None] = list(sw.symbol_args(symbol or []))
            if symbol_file is not None:
                symbols += sw.read_symbol_file(symbol_file)
            sw.parse_keep_runs(keep_runs)
            spec = sw.SweepSpec(
                grid={**written["grid"], **grid},
                symbols=symbols or written.get("symbols") or [None],
                seeds=seeds if seeds is not None else written.get("seeds", 1),
                seed=seed if seed is not None else written.get("seed", 0),
                backtest=backtest if backtest is not None else written.get("backtest", 0),
            )
        elif ctx.args or config or symbol or symbol_file or seeds is not None or backtest is not None \
                or keep_runs != "all":
            raise typer.BadParameter("--resume takes the sweep as it was saved; give no other grid options", ctx)
        if resume is not None:
            saved = sw.load_sweep(resume, home)
            if all(c["status"] == "done" for c in saved.cells):
                # Nothing to run: the record stays as it is (its backend and nodes too).
                n = len(saved.cells)
                _console(stderr=True).print(f"sweep {saved.sweep_id}: every cell is done ({n} of {n}); "
                                            "nothing left to run", soft_wrap=True)
                if as_json:
                    _json_out(_strict(sw, saved))
                else:
                    _print_leaderboard(saved)
                return
        try:
            result = _run(sw, spec, resume, home, backend, address, workers, keep_runs, quiet=as_json)
        except sw.SweepInterrupted as stop:
            _console(stderr=True).print(
                f"[yellow]interrupted[/]: {stop.done} of {stop.total} cells finished and saved; "
                f"resume with: seqcast sweep --resume {stop.sweep_id}")
            raise typer.Exit(130) from None
        if as_json:
            _json_out(_strict(sw, result))
            if result.counts()["failed"]:
                raise typer.Exit(1)
            return
        _print_leaderboard(result)
        if result.counts()["failed"]:
            raise typer.Exit(1)


def _strict(sw: Any, result: Any) -> Any:
    return sw._strict(result.to_dict())


def _run(sw: Any, spec: Any, resume: str | None, home: Path | None, backend: str, address: str | None,
         workers: int | None, keep_runs: str, *, quiet: bool) -> Any:
    if quiet:
        return sw.run_sweep(spec, resume=resume, home=home, backend=backend, address=address, workers=workers,
                            keep_runs=keep_runs)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(TextColumn("[bold]sweep[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("cells"),
                        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                        console=_console(stderr=True), transient=True)
    task: list[Any] = []
    state: dict[str, Any] = {}

    def on_start(sweep: Any) -> None:
        state["sweep"] = sweep
        counts = sweep.counts()
        done = counts["done"]
        total = len(sweep.cells)
        workers_text = f", {backend}" + (f" at {address}" if address else "")
        progress.console.print(f"sweep {sweep.sweep_id}: {total} cells ({total - done} to run){workers_text}")
        task.append(progress.add_task("sweep", total=total, completed=done))
        progress.start()  # only now: a sweep that fails to start prints its one error line alone
        state["started"] = True

    def on_cell_end(cell: dict[str, Any], done: int, total: int) -> None:
        progress.update(task[0], completed=done)
        progress.console.print(_cell_line(state["sweep"], cell, done, total), soft_wrap=True)

    def on_retry(cell: dict[str, Any], reason: str) -> None:
        progress.console.print(f"[yellow]cell {cell['cell'] + 1}[/]: {reason}; running it once more")

    try:
        return sw.run_sweep(spec, resume=resume, home=home, backend=backend, address=address, workers=workers,
                            keep_runs=keep_runs, on_start=on_start, on_cell_end=on_cell_end, on_retry=on_retry)
    finally:
        if state.get("started"):
            progress.stop()


@sweeps_app.callback()
def sweeps(ctx: typer.Context, as_json: JsonOption = False, home: HomeOption = None) -> None:
    """List sweeps, oldest first; `seqcast sweeps show ID` prints one's leaderboard.

    Examples:

      seqcast sweeps

      seqcast sweeps show 20261130-1402 --json

      seqcast sweeps rm 20261130-1402 --yes
    """
    if ctx.invoked_subcommand is not None:
        return
    from seqcast.runs import sweep as sw

    with _user_errors():
        rows: list[dict[str, Any]] = []
        for s in sw.scan_sweeps(home):
            if not isinstance(s, sw.Sweep):  # named, and the listing goes on
                rows.append({"sweep_id": s.ident, "error": s.error})
                continue
            best = s.leaderboard[0] if s.leaderboard else {}
            counts = s.counts()
            rows.append({"sweep_id": s.sweep_id, "status": s.status, "cells": len(s.cells), "done": counts["done"],
                         "failed": counts["failed"], "backend": s.data.get("backend"),
                         "best": best.get("label"), "best_rmse_ratio": best.get("rmse_ratio_mean")})
        if as_json:
            _json_out(sw._strict(rows))
            return
        if not rows:
            _console().print("no sweeps yet; start one: seqcast sweep --model lstm,gru")
            return
        from rich.markup import escape
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for name in ("sweep id", "status", "cells", "done", "failed", "best config", "RMSE / naive"):
            table.add_column(name, no_wrap=True, justify="right" if name in ("cells", "done", "failed",
                                                                              "RMSE / naive") else "left",
                             min_width=len(rows[0]["sweep_id"]) if name == "sweep id" else None)
        for r in rows:
            if "error" in r:
                table.add_row(r["sweep_id"], "[red]unreadable[/]")
                continue
            table.add_row(r["sweep_id"], r["status"], str(r["cells"]), str(r["done"]), str(r["failed"]),
                          escape(r["best"] or "–"), _num(r["best_rmse_ratio"], 4))
        _print_table(_console(), table)
        for r in rows:  # why each unreadable one is skipped, in full
            if "error" in r:
                _console().print(f"[red]unreadable[/] {r['sweep_id']}: {escape(r['error'])}", soft_wrap=True)


@sweeps_app.command("show")
def sweeps_show(
    sweep_id: Annotated[str | None, typer.Argument(help="Sweep id or unique prefix \\[default: latest].")] = None,
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """A sweep's leaderboard and state.

    Example: seqcast sweeps show 20261130-1402
    """
    from seqcast.runs import sweep as sw

    with _user_errors():
        found = sw.load_sweep(sweep_id, home)
        if as_json:
            _json_out(sw._strict(found.to_dict()))
            return
        _print_leaderboard(found)


def _for_removal(sw: Any, ident: str, home: Any) -> Any:
    """The sweep to remove: read (its runs are counted), or, when it cannot be read, only located."""
    from seqcast.errors import RunCorruptError

    try:
        return sw.load_sweep(ident, home)
    except RunCorruptError:
        return sw.load_sweep(ident, home, unread=True)


@sweeps_app.command("rm")
def sweeps_remove(
    sweep_ids: Annotated[list[str], typer.Argument(help="Sweep ids (or unique prefixes).", metavar="ID",
                                                   show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    home: HomeOption = None,
) -> None:
    """Delete sweep records with their report and chart files (asks first unless --yes).

    The sweep's runs and backtests are kept: they are ordinary runs (remove them with seqcast runs rm).

    Example: seqcast sweeps rm 20261130-1402 --yes
    """
    from seqcast.cli.runs import _confirm
    from seqcast.runs import sweep as sw

    with _user_errors():
        found = {s.sweep_id: s for s in (_for_removal(sw, i, home) for i in sweep_ids)}  # all checked first
        out = _console()
        for s in found.values():
            for path in sw.sweep_files(s):
                out.print(f"  {path}", soft_wrap=True)
        kept = sum(1 for s in found.values() for c in s.cells if c.get("run_id"))
        kept += sum(len(s.data.get("backtests") or []) for s in found.values())
        many = len(found) > 1
        if not yes and not _confirm(f"delete {len(found)} sweep record{'s' if many else ''}?"):
            out.print("nothing was deleted")
            raise typer.Exit(1)
        for s in found.values():
            sw.remove_sweep(s)
        out.print(f"deleted {len(found)} sweep record{'s' if many else ''}; "
                  + (f"{'their' if many else 'its'} {kept} runs and backtests are kept (seqcast runs rm ID to "
                     "delete one)" if kept else "no runs were deleted"), soft_wrap=True)
