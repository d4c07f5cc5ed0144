"""`seqcast train` and `seqcast backtest`: their run options come from seqcast.cli.options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from seqcast.cli.common import HomeOption, JsonOption, _json_out, _user_errors, import_torch
from seqcast.cli.options import (
    NO_VALUES,
    ConfigFileOption,
    RunValues,
    SaveConfigOption,
    build_run_config,
    maybe_save_config,
    run_options,
)
from seqcast.cli.render import _lazy_progress, _losses, _print_backtest, _print_report, _print_seeds, _progress


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(backtest)


@run_options("train")
def train(
    ctx: typer.Context,
    run_options: RunValues = NO_VALUES,
    seeds: Annotated[int, typer.Option(help="Train this many seeds (--seed, --seed+1, ...), each a saved "
                                            "run, and report the mean ± sd of the test metrics.")] = 1,
    workers: Annotated[int | None, typer.Option(
        help="With --seeds: seeds trained at once, one thread each; 1 trains them one after another "
             "\\[default: one per usable core on the CPU].")] = None,
    as_json: JsonOption = False,
    home: HomeOption = None,
    config: ConfigFileOption = None,
    save_config: SaveConfigOption = None,
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

    with _user_errors():
        cfg = build_run_config(run_options)  # checked first: --save-config never writes a config that fails
        maybe_save_config(ctx, save_config, quiet=as_json)
        import_torch()  # here, where a Ctrl-C during it is a clean interrupt
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




@run_options("backtest")
def backtest(
    ctx: typer.Context,
    folds: Annotated[int, typer.Option(help="Expanding-window folds: the test part is cut into this "
                                            "many blocks (1-20).")] = 5,
    workers: Annotated[int | None, typer.Option(help="Folds trained in parallel processes "
                                                     "\\[default: one per CPU core, up to --folds].")] = None,
    run_options: RunValues = NO_VALUES,
    backend: Annotated[Literal["local", "ray"], typer.Option(help="Where folds run: processes or Ray.")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster HOST:PORT (with --backend ray).")] = None,
    as_json: JsonOption = False,
    home: HomeOption = None,
    config: ConfigFileOption = None,
    save_config: SaveConfigOption = None,
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

    with _user_errors():
        cfg = build_run_config(run_options)  # checked first: --save-config never writes a config that fails
        maybe_save_config(ctx, save_config, quiet=as_json)
        import_torch()  # here, where a Ctrl-C during it is a clean interrupt
        if as_json:
            result = api.backtest(cfg, folds=folds, workers=workers, backend=backend, address=address, home=home)
            _json_out(result.to_dict())
            return
        with _lazy_progress("backtest folds", folds) as update:
            result = api.backtest(cfg, folds=folds, workers=workers, backend=backend, address=address, home=home,
                                  on_fold_end=lambda _fold: update(advance=1))
        _print_backtest(result)
