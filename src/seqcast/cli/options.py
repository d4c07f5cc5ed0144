"""The run options of `train`, `backtest` and `sweep`, declared once.

Each option is one RunOption keyed by its RunConfig field ("data.lookback", "model.kind"):
its help text and, where the command line differs from the config (a choice shown in another
order, a comma list), its typer type. The flag, its old names and whether it takes a comma list
come from the field itself (seqcast.config.option_specs), defaults from the config dataclasses.
`@run_options("train")` puts the options into a command's signature (typer reads
`inspect.signature`); `build_run_config` turns the parsed values into a RunConfig.
`seqcast sweep` takes the same flags, each with a list of values (seqcast.runs.sweep.grid_options
reads them from the same option_specs), and configfile.to_cli_args writes a saved config back
as these flags.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, TypeVar

import typer

from seqcast import config
from seqcast.cli.common import _console, flag_option
from seqcast.config import DataConfig, ModelConfig, OptionSpec, RunConfig, TrainConfig, spec_of

COMMANDS = ("train", "backtest")
SECTIONS: dict[str, type] = dict(config.SECTIONS)


@functools.cache
def _field_types(section: str) -> dict[str, Any]:
    return typing.get_type_hints(SECTIONS[section])


@dataclass(frozen=True)
class RunOption:
    """One command-line option that sets one RunConfig field."""

    field: str
    """The RunConfig field, section.name: "data.lookback"."""
    help: str | Mapping[str, str]
    """Help text, or per command where the option means something more specific there."""
    param: str = ""
    """The command's parameter name (also a --config file key) [default: the field's flat option name]."""
    type: Any = None
    """The typer type [default: the config field's type]."""
    commands: tuple[str, ...] = COMMANDS

    @property
    def spec(self) -> OptionSpec:
        """The field's flag, old flags and comma-list marker, declared with the field in seqcast.config."""
        return spec_of(self.field)

    @property
    def name(self) -> str:
        return self.param or self.spec.option

    @property
    def long(self) -> str:
        return self.spec.flag

    @property
    def comma_list(self) -> bool:
        return self.spec.comma_list

    @property
    def section(self) -> str:
        return self.field.split(".")[0]

    @property
    def field_name(self) -> str:
        return self.field.split(".")[1]

    def config_field(self) -> dataclasses.Field[Any]:
        return next(f for f in dataclasses.fields(SECTIONS[self.section]) if f.name == self.field_name)

    def annotation(self) -> Any:
        if self.type is not None:
            return self.type
        return _field_types(self.section)[self.field_name]

    def default(self) -> Any:
        f = self.config_field()
        return None if f.default is dataclasses.MISSING else f.default  # lists: None, as "not given"

    def help_for(self, command: str) -> str:
        return self.help if isinstance(self.help, str) else self.help[command]

    def parameter(self, command: str) -> inspect.Parameter:
        """The typer parameter of this option in a command's signature."""
        decls: tuple[str, ...] = ()
        if self.long != self.name.replace("_", "-") or self.spec.old_flags:
            decls = (f"--{self.long}", *(f"--{old}" for old in self.spec.old_flags))
        if self.annotation() is bool:
            info = flag_option(*decls, help=self.help_for(command))
        else:
            info = typer.Option(*decls, help=self.help_for(command))
        return inspect.Parameter(self.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                 annotation=Annotated[self.annotation(), info], default=self.default())

    def to_config(self, value: Any) -> Any:
        """The parsed command-line value as the config field takes it."""
        if self.comma_list:
            return value.split(",") if value else []
        if self.config_field().default is dataclasses.MISSING:
            return value or []  # a repeatable option not given: the field's empty list
        return value


RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption("data.symbol", "Stored symbol \\[default: the last fetched]."),
    RunOption("data.source", "Stored source of the symbol."),
    RunOption("model.kind", "Network family."),
    RunOption("data.split", {"train": "Train fraction, chronological (0.5-0.95).",
                             "backtest": "First fold's train fraction; the rest is tested (0.5-0.95)."}),
    RunOption("data.lookback", "Days of history per forecast."),
    RunOption("data.target", "Predict the next log-return, change or price level.",
              type=Literal["logret", "change", "level"]),
    RunOption("train.epochs", {"train": "Maximum epochs.", "backtest": "Maximum epochs per fold."}),
    RunOption("train.batch_size", "Windows per batch."),
    RunOption("model.hidden", "Hidden units per layer."),
    RunOption("model.layers", "Stacked layers."),
    RunOption("model.dropout", "Dropout between layers and before the head."),
    RunOption("model.nonlinearity", "Activation of --model rnn.", param="activation"),
    RunOption("model.heads", "Attention heads of --model transformer."),
    RunOption("train.lr", "Adam learning rate."),
    RunOption("train.clip", "Max global gradient norm; 0 = off."),
    RunOption("train.patience", "Early-stopping patience in epochs; 0 = off."),
    RunOption("data.val_fraction", {"train": "Validation tail of the training part.",
                                    "backtest": "Validation tail of each fold's training part."}),
    RunOption("train.shrink", "Shrink moves toward naive (fitted on validation)."),
    RunOption("train.level", "Nominal level of the prediction intervals (--coverage: the old name).",
              commands=("train",)),
    RunOption("data.start", "Use data from this date."),
    RunOption("data.end", "Use data up to this date."),
    RunOption("data.covariates", "A stored series read as a past covariate, SYMBOL[:SOURCE] (repeatable): the "
              "forecast of day t+1 sees its values dated <= t only.", param="covariate",
              type=list[str] | None),
    RunOption("data.features", "The target's own other columns as inputs: ohlc, volume (comma-separated).",
              type=str | None),
    RunOption("data.max_stale_days",
              "A covariate value older than this many calendar days on a target date counts as missing."),
    RunOption("train.seed", {"train": "Random seed (runs are reproducible on CPU).",
                             "backtest": "Random seed, the same for every fold."}),
    RunOption("train.device", "Where to train.", type=Literal["auto", "cpu", "cuda", "mps"]),
    RunOption("train.threads", {
        "train": "CPU threads for PyTorch \\[default: from the network's size, the usable cores and the load].",
        "backtest": "CPU threads per fold \\[default: cores / workers]."}),
)
"""Every RunConfig field, in the order --help lists them."""

RunValues = Mapping[str, Any]
"""The run options' parsed values by parameter name, as a command decorated by run_options receives them."""
NO_VALUES: RunValues = MappingProxyType({})


def options_of(command: str) -> list[RunOption]:
    return [o for o in RUN_OPTIONS if command in o.commands]


F = TypeVar("F", bound=Callable[..., Any])


def run_options(command: str) -> Callable[[F], F]:
    """Put the command's run options where its `run_options` parameter stands.

    The command is called with `run_options`, a dict of the run options' parsed values by
    parameter name, for build_run_config.
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func, eval_str=True)
        mine = [o.parameter(command) for o in options_of(command)]
        names = {p.name for p in mine}
        params: list[inspect.Parameter] = []
        for p in signature.parameters.values():
            params.extend(mine if p.name == "run_options" else [p])

        def command_function(**kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in list(kwargs) if name in names}
            return func(**kwargs, run_options=values)

        # No __wrapped__: typer and configfile read this signature and these annotations.
        for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
            setattr(command_function, attr, getattr(func, attr))
        setattr(command_function, "__signature__", signature.replace(parameters=params))  # noqa: B010
        command_function.__annotations__ = {p.name: p.annotation for p in params}
        return typing.cast(F, command_function)

    return decorate


def build_run_config(values: Mapping[str, Any]) -> RunConfig:
    """A RunConfig from parsed run options; an option the command does not have keeps its default."""
    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for option in RUN_OPTIONS:
        if option.name in values:
            sections[option.section][option.field_name] = option.to_config(values[option.name])
    return RunConfig(DataConfig(**sections["data"]), ModelConfig(**sections["model"]),
                     TrainConfig(**sections["train"]))


def _configfile_callback(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    from seqcast.cli import configfile

    return configfile.config_callback(ctx, param, value)


ConfigFileOption = Annotated[Path | None, typer.Option(
    "--config", is_eager=True, callback=_configfile_callback,
    help="TOML file of options (keys as the option names: model = \"gru\"); command-line options win.")]
SaveConfigOption = Annotated[Path | None, typer.Option(
    "--save-config", help="Also write these options to a TOML file for --config.")]


def maybe_save_config(ctx: typer.Context, path: Path | None, *, quiet: bool) -> None:
    """--save-config: write the command's options to a TOML file."""
    if path is not None:
        from seqcast.cli import configfile

        configfile.save_config(path, ctx)
        if not quiet:
            _console(stderr=True).print(f"saved options: {path}", soft_wrap=True)
