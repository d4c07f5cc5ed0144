"""The seqcast command line: typer commands over seqcast.api, rendered with rich.

Heavy libraries (torch, pandas, matplotlib) are imported inside the commands
that need them, so `seqcast --help` starts instantly.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from seqcast.errors import SeqcastError

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(
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


def _home_from_parent(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """A command's --home: its own when typed, else one typed before it (`seqcast --home X cmd`,
    `seqcast data --home X rm`), else $SEQCAST_HOME or the default."""
    if not _given(ctx, str(param.name)) and isinstance(ctx.obj, dict) and "home" in ctx.obj:
        return ctx.obj["home"]  # type: ignore[no-any-return]
    return value


HomeOption = Annotated[
    Path | None,
    typer.Option("--home", envvar="SEQCAST_HOME", show_envvar=True,
                 callback=_home_from_parent,
                 help="Workspace folder for data and runs \\[default: ~/.seqcast]."),
]


def flag_option(*param_decls: str, **kwargs: Any) -> Any:
    """typer.Option for a bool flag: no value placeholder in --help (typer's rich help would
    show `--yes <bool>`, which reads as if the flag took a value)."""
    return typer.Option(*param_decls, metavar="", **kwargs)


JsonOption = Annotated[bool, flag_option("--json",
                                         help="A flag (no value): print machine-readable JSON instead of tables.")]

# Options shared by train and backtest.
SymbolOption = Annotated[str | None, typer.Option("--symbol", help="Stored symbol \\[default: the last fetched].")]
SourceOption = Annotated[str | None, typer.Option("--source", help="Stored source of the symbol.")]
ModelOption = Annotated[Literal["rnn", "lstm", "gru", "transformer"], typer.Option(help="Network family.")]
LookbackOption = Annotated[int, typer.Option(help="Days of history per forecast.")]
TargetOption = Annotated[Literal["logret", "change", "level"],
    typer.Option(help="Predict the next log-return, change or price level.")]
BatchSizeOption = Annotated[int, typer.Option(help="Windows per batch.")]
HiddenOption = Annotated[int, typer.Option(help="Hidden units per layer.")]
LayersOption = Annotated[int, typer.Option(help="Stacked layers.")]
DropoutOption = Annotated[float, typer.Option(help="Dropout between layers and before the head.")]
ActivationOption = Annotated[Literal["relu", "tanh"], typer.Option(help="Activation of --model rnn.")]
HeadsOption = Annotated[int, typer.Option(help="Attention heads of --model transformer.")]
LrOption = Annotated[float, typer.Option(help="Adam learning rate.")]
ClipOption = Annotated[float, typer.Option(help="Max global gradient norm; 0 = off.")]
PatienceOption = Annotated[int, typer.Option(help="Early-stopping patience in epochs; 0 = off.")]
ShrinkOption = Annotated[bool, flag_option(help="Shrink moves toward naive (fitted on validation).")]
StartOption = Annotated[str | None, typer.Option("--from", help="Use data from this date.")]
EndOption = Annotated[str | None, typer.Option("--to", help="Use data up to this date.")]
DeviceOption = Annotated[Literal["auto", "cpu", "cuda", "mps"], typer.Option(help="Where to train.")]
ConfigFileOption = Annotated[Path | None, typer.Option(
    "--config", is_eager=True, callback=lambda ctx, param, value: _configfile().config_callback(ctx, param, value),
    help="TOML file of options (keys as the option names: model = \"gru\"); command-line options win.")]
SaveConfigOption = Annotated[Path | None, typer.Option(
    "--save-config", help="Also write these options to a TOML file for --config.")]


def _configfile() -> Any:
    from seqcast import configfile

    return configfile


def _maybe_save_config(ctx: Any, path: Path | None, *, quiet: bool) -> None:
    if path is not None:
        _configfile().save_config(path, ctx)
        if not quiet:
            _console(stderr=True).print(f"saved options: {path}", soft_wrap=True)
CovariateOption = Annotated[list[str] | None, typer.Option(
    "--covariate", help="A stored series read as a past covariate, SYMBOL[:SOURCE] (repeatable): the "
    "forecast of day t+1 sees its values dated <= t only.")]
FeaturesOption = Annotated[str | None, typer.Option(
    "--features", help="The target's own other columns as inputs: ohlc, volume (comma-separated).")]
MaxStaleOption = Annotated[int, typer.Option(
    help="A covariate value older than this many calendar days on a target date counts as missing.")]


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    # COLUMNS=0 (or garbage) would make rich print nothing at all: fall back to 80 columns.
    columns = os.environ.get("COLUMNS")
    width = 80 if columns is not None and not (columns.strip().isdigit() and int(columns) > 0) else None

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich exits with code 1 here; a closed pipe is a normal end (see _user_errors).
            self.quiet = True
            raise BrokenPipeError

    return _Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn a SeqcastError into one red line on stderr and exit code 1."""
    try:
        yield
    except SeqcastError as exc:
        from rich.markup import escape

        _console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None
    except BrokenPipeError:
        # `seqcast ... | head -1`: the reader has all it wanted, a normal end. Later writes
        # (and the flush at exit) go nowhere instead of failing again.
        _silence_stdout()
        raise typer.Exit(0) from None
    except KeyboardInterrupt as exc:
        saved = getattr(exc, "saved", None)  # errors.TrainingInterrupted: some runs were saved
        if saved:
            note = f"; {getattr(exc, 'note', '')}" if getattr(exc, "note", "") else ""
            _console(stderr=True).print(
                f"[yellow]interrupted[/]; stopped after saving {len(saved)} run{'s' if len(saved) > 1 else ''}: "
                f"{' '.join(r.run_id for r in saved)}{note}; no mean ± sd was computed", soft_wrap=True)
        else:
            _console(stderr=True).print("[yellow]interrupted[/]; nothing was changed")
        raise typer.Exit(130) from None
    except SystemError as exc:
        # A Ctrl-C that lands while a C extension (pandas, torch) is being imported surfaces as
        # SystemError("... returned a result with an exception set") caused by the interrupt.
        if not isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
            raise
        _console(stderr=True).print("[yellow]interrupted[/]; nothing was changed")
        raise typer.Exit(130) from None


def _json_out(obj: Any) -> None:
    """Strict JSON (RFC 8259) on stdout: NaN and infinities are written as null."""
    from seqcast.safeio import dumps

    sys.stdout.write(dumps(obj) + "\n")
    sys.stdout.flush()  # a closed pipe shows up here, inside the command, not at exit


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (a test runner's buffer): nothing will flush at exit


def _tolerant_streams() -> None:
    """Print on a terminal or pipe that cannot show every character (PYTHONIOENCODING=ascii,
    LC_ALL=C): unencodable characters (–, ±, ·) become '?', instead of a crash after the
    work was done and saved."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        if reconfigure is not None and encoding not in ("utf8", "utf8sig", "utf16", "utf32"):
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):
                pass


def _num(x: Any, digits: int = 5) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}g}"


def _ratio_colour(ratio: float, pvalue: float | None = None) -> str:
    """Green when the model beats naive, red when it is worse, yellow for a tie or no significant difference."""
    from seqcast.metrics import SIGNIFICANCE

    if math.isnan(ratio) or abs(ratio - 1) < 5e-4:
        return "yellow"
    if pvalue is not None and not pvalue < SIGNIFICANCE:
        return "yellow"
    return "green" if ratio < 1 else "red"


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


# --------------------------------------------------------------------------- fetch / data


@app.command()
def fetch(
    symbol: Annotated[str, typer.Argument(help="Ticker as the source spells it: eurpln, aapl.us, wig20, ^spx.")],
    source: Annotated[Literal["stooq", "ecb", "nbp", "sample", "csv", "synthetic"],
                      typer.Option("--source", "-s", help="Where to get the data.")] = "stooq",
    csv: Annotated[Path | None, typer.Option("--csv", help="Import a CSV file saved by hand.")] = None,
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

      seqcast fetch sine --source synthetic --noise 0.2   # also: ar1, randomwalk
    """
    from seqcast import api

    generator = {"length": length, "noise": noise, "period": period, "seed": seed}
    with _user_errors():
        if source != "synthetic" and any(v is not None for v in generator.values()):
            raise typer.BadParameter("--length, --noise, --period and --seed need --source synthetic")
        err = _console(stderr=True)
        with err.status(f"fetching {symbol} from {'csv' if csv else source} …"):
            stored = api.fetch(symbol, source=source, start=start, end=end, interval=interval,
                               csv=csv, apikey=apikey, domain=domain, full=full, home=home,
                               date_format=date_format,
                               options={k: v for k, v in generator.items() if v is not None})
        meta = stored.meta
        if as_json:
            _json_out(meta)
            return
        extra = f" ({meta['derived']})" if meta.get("derived") else ""
        _console().print(
            f"[bold]{meta['symbol']}[/]: {meta['rows']} rows, {meta['first']} .. {meta['last']} "
            f"from {meta['source']}{extra}, {meta.get('new_rows', 0):+d} new"
        )


data_app = typer.Typer(no_args_is_help=False)
app.add_typer(data_app, name="data")


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


def _given(ctx: typer.Context, name: str) -> bool:
    """True when the option was typed on the command line (not from the environment or a default)."""
    source = ctx.get_parameter_source(name)
    return getattr(source, "name", None) == "COMMANDLINE"  # typer may ship its own click: compare names


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


# --------------------------------------------------------------------------- train


@app.command()
def train(
    symbol: SymbolOption = None,
    source: SourceOption = None,
    model: ModelOption = "lstm",
    split: Annotated[float, typer.Option(help="Train fraction, chronological (0.5-0.95).")] = 0.7,
    lookback: LookbackOption = 60,
    target: TargetOption = "logret",
    epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = 50,
    batch_size: BatchSizeOption = 64,
    hidden: HiddenOption = 32,
    layers: LayersOption = 1,
    dropout: DropoutOption = 0.0,
    activation: ActivationOption = "relu",
    heads: HeadsOption = 4,
    lr: LrOption = 1e-3,
    clip: ClipOption = 1.0,
    patience: PatienceOption = 5,
    val_fraction: Annotated[float, typer.Option(help="Validation tail of the training part.")] = 0.1,
    shrink: ShrinkOption = True,
    coverage: Annotated[float, typer.Option(help="Prediction-interval coverage.")] = 0.9,
    start: StartOption = None,
    end: EndOption = None,
    covariate: CovariateOption = None,
    features: FeaturesOption = None,
    max_stale_days: MaxStaleOption = 7,
    seed: Annotated[int, typer.Option(help="Random seed (runs are reproducible on CPU).")] = 0,
    device: DeviceOption = "auto",
    threads: Annotated[int | None, typer.Option(
        help="CPU threads for PyTorch \\[default: from the network's size, the usable cores and the load].")] = None,
    seeds: Annotated[int, typer.Option(help="Train this many seeds (--seed, --seed+1, ...), each a saved "
                                            "run, and report the mean ± sd of the test metrics.")] = 1,
    workers: Annotated[int | None, typer.Option(
        help="With --seeds: seeds trained at once, one thread each; 1 trains them one after another "
             "\\[default: one per usable core on the CPU].")] = None,
    as_json: JsonOption = False,
    home: HomeOption = None,
    config: ConfigFileOption = None,
    save_config: SaveConfigOption = None,
    ctx: typer.Context = None,  # type: ignore[assignment]
) -> None:
    """Window, scale, train and evaluate against the naive forecast; prints a run id.

    Examples:

      seqcast train                  # LSTM on the last fetched symbol

      seqcast train --model lstm --split 0.7 --target level --layers 2 --hidden 50 --dropout 0.2

      seqcast train --symbol eurpln --model gru --epochs 20 --json

      seqcast train --seeds 5        # mean ± sd over 5 seeds

      seqcast train --config run.toml   # options from a file; --save-config writes one

      seqcast train --symbol eurpln --source ecb --covariate eurpln:stooq   # a past covariate
    """
    from seqcast import api
    from seqcast.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    with _user_errors():
        _maybe_save_config(ctx, save_config, quiet=as_json)
        cfg = RunConfig(
            DataConfig(symbol=symbol, source=source, start=start, end=end, split=split,
                       val_fraction=val_fraction, lookback=lookback, target=target,
                       covariates=covariate or [], features=features.split(",") if features else [],
                       max_stale_days=max_stale_days),
            ModelConfig(kind=model, hidden=hidden, layers=layers, dropout=dropout,
                        nonlinearity=activation, heads=heads),
            TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, clip=clip, patience=patience,
                        seed=seed, shrink=shrink, coverage=coverage, device=device, threads=threads),
        )
        if seeds != 1:
            _train_seeds(api, cfg, seeds, home, as_json=as_json, workers=workers)
            return
        if workers is not None:
            from seqcast.errors import ConfigError

            raise ConfigError("--workers trains several seeds at once; add --seeds N")
        result = _train_with_progress(api, cfg, home, quiet=as_json)
        run = result.run
        if as_json:
            _json_out({"run_id": run.run_id, "path": str(run.path), "metrics": run.metrics,
                       "meta": run.meta})
            return
        _print_report(run)


def _progress() -> Any:
    """A transient progress bar on stderr: description, bar, epoch n/N, losses, time."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}[/]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[losses]}"), TimeElapsedColumn(),
        console=_console(stderr=True), transient=True,
    )


def _losses(train_loss: float, val_loss: float) -> str:
    return f"train {train_loss:.4f}  val {_num(val_loss, 4)}"


@contextmanager
def _lazy_progress(description: str, total: int) -> Iterator[Any]:
    """A progress bar that appears with its first update: a command that fails while loading
    its data prints only its error line, not the blank line of a bar that never drew."""
    progress = _progress()
    task: list[Any] = []

    def update(**fields: Any) -> None:
        if not task:
            progress.start()
            task.append(progress.add_task(description, total=total, losses=""))
        progress.update(task[0], **fields)
        progress.refresh()

    try:
        yield update
    finally:
        if task:
            progress.stop()


def _train_with_progress(api: Any, cfg: Any, home: Path | None, *, quiet: bool) -> Any:
    if quiet:
        return api.train(cfg, home=home)
    with _lazy_progress("training", cfg.train.epochs) as update:

        def on_epoch_end(epoch: int, train_loss: float, val_loss: float) -> None:
            update(completed=epoch, losses=_losses(train_loss, val_loss))

        return api.train(cfg, home=home, on_epoch_end=on_epoch_end)


def _train_seeds(api: Any, cfg: Any, seeds: int, home: Path | None, *, as_json: bool,
                 workers: int | None = None) -> None:
    """train --seeds N: a progress bar per seed (or, seeds at once, one of seeds done), then mean ± sd."""
    if as_json:
        _json_out(api.train_seeds(cfg, seeds=seeds, home=home, workers=workers).to_dict())
        return
    progress = _progress()
    tasks: list[Any] = []

    def on_start(n_workers: int) -> None:
        if n_workers > 1:  # workers report no epochs: one bar of seeds done
            tasks.append(progress.add_task(f"seeds ({n_workers} at once)", total=seeds, losses=""))

    def on_seed_start(index: int, seed: int) -> None:
        if tasks:
            progress.update(tasks[-1], visible=False)
        tasks.append(progress.add_task(f"seed {seed} ({index + 1}/{seeds})", total=cfg.train.epochs,
                                       losses=""))

    def on_epoch_end(epoch: int, train_loss: float, val_loss: float) -> None:
        progress.update(tasks[-1], completed=epoch, losses=_losses(train_loss, val_loss))

    def on_seed_end(index: int, seed: int) -> None:
        if progress.tasks and progress.tasks[0].description.startswith("seeds"):
            progress.advance(tasks[0])

    with progress:
        result = api.train_seeds(cfg, seeds=seeds, home=home, on_epoch_end=on_epoch_end, workers=workers,
                                 on_seed_start=on_seed_start, on_seed_end=on_seed_end, on_start=on_start)
    _print_seeds(result)


def _print_seeds(result: Any) -> None:
    from rich.table import Table

    out = _console()
    s = result.summary
    runs = result.runs
    first, last = runs[0].config.train.seed, runs[-1].config.train.seed
    out.print(f"trained {len(runs)} seeds ({first}..{last}); test metrics, mean ± sd across seeds:")

    def pm(key: str, scale: float = 1.0, digits: int = 5) -> str:
        return f"{_num(scale * s[key]['mean'], digits)} ± {_num(scale * s[key]['sd'], 2)}"

    table = Table("metric", "test (mean ± sd)", box=None, pad_edge=False)
    table.add_row("RMSE", pm("rmse"))
    table.add_row("MAE", pm("mae"))
    table.add_row("direction %", pm("directional_accuracy", 100, 3))
    table.add_row("RMSE / naive", pm("rmse_ratio", digits=4))
    table.add_row("naive RMSE", _num(s["naive_rmse"]["mean"]))
    out.print(table)
    from seqcast.metrics import SIGNIFICANCE

    tests = [r.metrics["test"] for r in runs]
    beats = sum(1 for t in tests if t["rmse_ratio"] < 1 and t.get("dm_pvalue", math.nan) < SIGNIFICANCE)
    worse = sum(1 for t in tests if t["rmse_ratio"] > 1 and t.get("dm_pvalue", math.nan) < SIGNIFICANCE)
    ratio = s["rmse_ratio"]["mean"]
    change = "same RMSE as" if abs(ratio - 1) < 5e-4 else (
        f"{abs(1 - ratio) * 100:.1f} % {'lower' if ratio < 1 else 'higher'} RMSE than")
    out.print(f"test, mean of {len(runs)} seeds: {change} naive; {beats} of {len(runs)} seeds beat naive and "
              f"{worse} are worse, significantly (Diebold–Mariano p < {SIGNIFICANCE:g})")
    out.print("run ids: " + " ".join(f"[bold]{r.run_id}[/]" for r in runs))
    _print_data_warnings(runs[0].meta)


def _print_data_warnings(meta: dict[str, Any]) -> None:
    """The sampling warnings a run or backtest recorded (seqcast.calendars.sampling_warnings)."""
    for warning in meta.get("data_warnings") or []:
        _console().print(f"[yellow]warning:[/] {warning.get('message', warning)}", soft_wrap=True)


def _print_report(run: Any) -> None:
    from rich.table import Table

    out = _console()
    m, meta = run.metrics, run.meta
    tr = meta["training"]
    stop = ("interrupted (Ctrl-C); best weights kept" if tr["interrupted"]
            else f"early stop, best epoch {tr['best_epoch']}" if tr["stopped_early"]
            else f"best epoch {tr['best_epoch']}")
    out.print(f"trained {tr['epochs_run']} epochs in {tr['seconds']:.1f} s ({stop}); "
              f"split: train to {meta['split']['train_last']}, test from {meta['split']['test_first']}")
    _print_data_warnings(meta)
    table = Table(box=None, pad_edge=False)
    table.add_column("metric")
    for part in ("train", "test"):
        table.add_column(f"{part} model", justify="right")
        table.add_column(f"{part} naive", justify="right")
    rows = [("RMSE", "rmse", "naive_rmse"), ("MAE", "mae", "naive_mae"),
            ("MAPE %", "mape", "naive_mape"), ("MASE", "mase", "naive_mase")]
    for label, key, naive_key in rows:
        table.add_row(label, *[_num(m[p].get(k)) for p in ("train", "test") for k in (key, naive_key)])
    da = [_num(100 * m[p]["directional_accuracy"], 3) for p in ("train", "test")]
    table.add_row("direction %", da[0], "", da[1], "")
    table.add_row("RMSE / naive", _num(m["train"]["rmse_ratio"], 4), "", _num(m["test"]["rmse_ratio"], 4), "")
    out.print(table)
    test = m["test"]
    from seqcast.metrics import lag_warning, naive_is_exact

    colour = "red" if naive_is_exact(test) else _ratio_colour(test["rmse_ratio"], test.get("dm_pvalue"))
    out.print(f"test vs naive (Diebold–Mariano): [{colour}]{m['verdict']}[/]")
    for line in _quality_lines(test):
        out.print(line)
    if not meta.get("interval_widths") and "interval_coverage" not in test:
        from seqcast.pipeline import no_intervals_reason

        val_windows = meta.get("split", {}).get("windows", {}).get("val")
        out.print(f"[yellow]no intervals:[/] {no_intervals_reason(val_windows)}")
    alpha = meta.get("shrink", 1.0)
    if alpha == 0.0:
        out.print("[yellow]no signal:[/] on the validation tail the network's moves did not beat "
                  "'no change', so its forecasts were shrunk to the naive forecast "
                  "(direction shown is the network's own)")
    elif alpha < 1.0:
        out.print(f"predicted moves scaled by {alpha:.3f} (fitted on the validation tail)")
    if "linear_rmse_ratio" in test:
        out.print(f"linear regression on the same inputs: ratio {_num(test['linear_rmse_ratio'], 4)}")
    _print_inputs(out, meta)
    beats = test["rmse_ratio"] < 1 and (test.get("dm_pvalue") or 1.0) < 0.05
    if test.get("lag_detected") and alpha > 0.0 and not beats:  # a significant win is no lag
        out.print("[yellow]lag warning:[/] " + lag_warning(meta.get("calendar")))
    out.print(f"run id: [bold]{run.run_id}[/]")
    out.print(f"files: {run.path} (predictions.csv; seqcast report {run.run_id[:15]} for a report)", soft_wrap=True)


def _quality_lines(test: dict[str, Any]) -> list[str]:
    """Direction against the right null, and the interval's quality next to a GARCH(1,1) band."""
    from seqcast.metrics import p_text

    lines = []
    if "pt_pvalue" in test:
        lines.append(f"direction: {_num(100 * test['directional_accuracy'], 3)} % called right; always the "
                     f"majority direction: {_num(100 * test['majority_direction_accuracy'], 3)} % "
                     f"(Pesaran–Timmermann p = {p_text(test['pt_pvalue'])}, one-sided)")
    if "interval_coverage" in test:
        pct = {k: f"{100 * test.get(f'interval_coverage_{k}', math.nan):.1f}" for k in ("calm", "mid", "wild")}
        lines.append(f"{test['interval_level']:.0%} intervals covered {100 * test['interval_coverage']:.1f} % "
                     f"of test days (calm / middle / wild third by recent volatility: "
                     f"{pct['calm']} / {pct['mid']} / {pct['wild']} %)")
    if "garch_interval_score" in test:
        ratio = test["interval_score_ratio"]
        lines.append(f"interval score {_num(test['interval_score'], 4)} vs {_num(test['garch_interval_score'], 4)} "
                     f"for a GARCH(1,1) band (ratio {_num(ratio, 4)}, Diebold–Mariano p = "
                     f"{p_text(test['interval_score_dm_pvalue'])}; lower is better)")
    return lines


def _print_inputs(out: Any, meta: dict[str, Any]) -> None:
    """The run's extra inputs (past covariates, extra columns), when it has any."""
    records = meta.get("inputs")
    records = [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []
    if not any(r.get("role") != "target" for r in records):
        return
    out.print("inputs: " + ", ".join(str(r.get("name")) for r in records))
    dropped = meta.get("split", {}).get("dropped_windows")
    if dropped:
        out.print(f"{dropped} windows left out: a covariate value was missing or too stale")


# --------------------------------------------------------------------------- backtest


@app.command()
def backtest(
    folds: Annotated[int, typer.Option(help="Expanding-window folds: the test part is cut into this "
                                            "many blocks (1-20).")] = 5,
    workers: Annotated[int | None, typer.Option(help="Folds trained in parallel processes "
                                                     "\\[default: one per CPU core, up to --folds].")] = None,
    symbol: SymbolOption = None,
    source: SourceOption = None,
    model: ModelOption = "lstm",
    split: Annotated[float, typer.Option(help="First fold's train fraction; the rest is tested (0.5-0.95).")] = 0.7,
    lookback: LookbackOption = 60,
    target: TargetOption = "logret",
    epochs: Annotated[int, typer.Option(help="Maximum epochs per fold.")] = 50,
    batch_size: BatchSizeOption = 64,
    hidden: HiddenOption = 32,
    layers: LayersOption = 1,
    dropout: DropoutOption = 0.0,
    activation: ActivationOption = "relu",
    heads: HeadsOption = 4,
    lr: LrOption = 1e-3,
    clip: ClipOption = 1.0,
    patience: PatienceOption = 5,
    val_fraction: Annotated[float, typer.Option(help="Validation tail of each fold's training part.")] = 0.1,
    shrink: ShrinkOption = True,
    start: StartOption = None,
    end: EndOption = None,
    covariate: CovariateOption = None,
    features: FeaturesOption = None,
    max_stale_days: MaxStaleOption = 7,
    seed: Annotated[int, typer.Option(help="Random seed, the same for every fold.")] = 0,
    device: DeviceOption = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads per fold \\[default: cores / workers].")] = None,
    backend: Annotated[Literal["local", "ray"], typer.Option(help="Where folds run: processes or Ray.")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster HOST:PORT (with --backend ray).")] = None,
    as_json: JsonOption = False,
    home: HomeOption = None,
    config: ConfigFileOption = None,
    save_config: SaveConfigOption = None,
    ctx: typer.Context = None,  # type: ignore[assignment]
) -> None:
    """Walk-forward backtest: retrain on an expanding window and test on each following block.

    Every fold fits its own scaler and model on everything before its test block only;
    the table shows each fold and all test days pooled, against the naive forecast.
    Saved as <home>/backtests/<id>.json.

    Examples:

      seqcast backtest               # 5 folds, last fetched symbol

      seqcast backtest --folds 8 --model gru --epochs 20 --workers 2

      seqcast backtest --symbol eurpln --from 2018-01-01 --json

      seqcast backtest --symbol eurpln --source ecb --covariate eurpln:stooq --folds 4

      seqcast backtest --config bt.toml   # options from a file; --save-config writes one
    """
    from seqcast import api
    from seqcast.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    with _user_errors():
        _maybe_save_config(ctx, save_config, quiet=as_json)
        cfg = RunConfig(
            DataConfig(symbol=symbol, source=source, start=start, end=end, split=split,
                       val_fraction=val_fraction, lookback=lookback, target=target,
                       covariates=covariate or [], features=features.split(",") if features else [],
                       max_stale_days=max_stale_days),
            ModelConfig(kind=model, hidden=hidden, layers=layers, dropout=dropout,
                        nonlinearity=activation, heads=heads),
            TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, clip=clip, patience=patience,
                        seed=seed, shrink=shrink, device=device, threads=threads),
        )
        if as_json:
            result = api.backtest(cfg, folds=folds, workers=workers, backend=backend, address=address, home=home)
            _json_out(result.to_dict())
            return
        with _lazy_progress("backtest folds", folds) as update:
            result = api.backtest(cfg, folds=folds, workers=workers, backend=backend, address=address, home=home,
                                  on_fold_end=lambda _fold: update(advance=1))
        _print_backtest(result)


def _print_backtest(result: Any) -> None:
    from rich.table import Table

    out = _console()
    table = Table(box=None, pad_edge=False)
    for name in ("fold", "test days", "n", "RMSE", "naive", "ratio", "dir %"):
        table.add_column(name, justify="left" if name in ("fold", "test days") else "right", no_wrap=True)

    def cells(m: dict[str, Any]) -> list[str]:
        return [_num(m["rmse"], 4), _num(m["naive_rmse"], 4), _num(m["rmse_ratio"], 4),
                _num(100 * m["directional_accuracy"], 3)]

    for f in result.folds:
        table.add_row(str(f.fold), f"{f.test_first}..{f.test_last}", str(f.n_test), *cells(f.metrics))
    first, last = result.folds[0], result.folds[-1]
    table.add_row("[bold]pooled[/]", f"{first.test_first}..{last.test_last}", str(result.pooled["n"]),
                  *cells(result.pooled))
    out.print(f"walk-forward backtest of {result.meta.get('symbol', 'the series')}: {len(result.folds)} "
              f"folds, each trained from {first.train_first} to the day before its test block "
              f"({result.workers} worker{'s' if result.workers > 1 else ''})")
    out.print(table)
    from seqcast.metrics import SIGNIFICANCE

    colour = _ratio_colour(result.pooled["rmse_ratio"], result.pooled.get("dm_pvalue"))
    beats = sum(1 for f in result.folds
                if f.metrics["rmse_ratio"] < 1 and f.metrics.get("dm_pvalue", math.nan) < SIGNIFICANCE)
    out.print(f"pooled test vs naive (Diebold–Mariano): [{colour}]{result.verdict}[/]; {beats} of "
              f"{len(result.folds)} folds beat naive significantly")
    _print_data_warnings(result.meta)
    if result.linear:
        out.print(f"linear regression on the same inputs: pooled ratio {_num(result.linear['rmse_ratio'], 4)}")
    if result.path:
        out.print(f"saved: {result.path}", soft_wrap=True)


# --------------------------------------------------------------------------- runs / plot / predict


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
    days: Annotated[int, typer.Option(help="Steps ahead on the series' own calendar: trading days "
                                           "(weeks, months for weekly, monthly bars); recursive.")] = 1,
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Forecast the next trading day(s) from the latest stored data of the run's symbol.

    Example: seqcast predict-next --days 5
    """
    from seqcast import api

    with _user_errors():
        fc = api.predict_next(run_id, days=days, home=home)
        if as_json:
            _json_out(fc.to_dict())
            return
        from rich.table import Table

        out = _console()
        out.print(f"[bold]{fc.symbol}[/] last close {fc.last_close:.6g} on {fc.last_date} "
                  f"(run {fc.run_id})")
        table = Table("date", "forecast", f"{fc.coverage:.0%} interval", "change %",
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


from seqcast.cli_runs import register  # noqa: E402  (runs group and report: they use the helpers above)

register(app)

from seqcast import sweep_cli  # noqa: E402, F401  (registers `sweep` and `sweeps` on app)


def main() -> None:
    """Console-script entry point: process-wide tuning belongs here, never in library calls."""
    from seqcast.perf import tune_allocator

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
