"""The run options are declared once (seqcast.cli.options) and reach every RunConfig field the same
way from train, backtest, sweep and config files; fetch takes any registered source."""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from seqcast.cli import app
from seqcast.cli import options as cli_options
from seqcast.cli.configfile import to_cli_args
from seqcast.cli.options import RUN_OPTIONS, build_run_config
from seqcast.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from seqcast.data import sources
from seqcast.data.sources import FetchResult
from seqcast.runs import sweep as sw
from seqcast.runs.grid import NOT_IN_GRID

runner = CliRunner()
FIELDS = [f"{section}.{f.name}" for section, cls in (("data", DataConfig), ("model", ModelConfig),
                                                       ("train", TrainConfig)) for f in dataclasses.fields(cls)]
TRAIN_ONLY = {"train.level"}  # backtest has no --level (its folds report no intervals)

# A value other than the default for every field, as typed on the command line.
OTHER = {
    "data.symbol": ["--symbol", "eurusd"], "data.source": ["--source", "ecb"],
    "data.start": ["--from", "2020-01-02"], "data.end": ["--to", "2021-03-04"],
    "data.split": ["--split", "0.8"], "data.val_fraction": ["--val-fraction", "0.2"],
    "data.lookback": ["--lookback", "17"], "data.target": ["--target", "level"],
    "data.covariates": ["--covariate", "usdpln:nbp", "--covariate", "wig20"],
    "data.features": ["--features", "ohlc,volume"], "data.max_stale_days": ["--max-stale-days", "3"],
    "model.kind": ["--model", "gru"], "model.hidden": ["--hidden", "12"], "model.layers": ["--layers", "2"],
    "model.dropout": ["--dropout", "0.25"], "model.nonlinearity": ["--activation", "tanh"],
    "model.heads": ["--heads", "3"], "train.epochs": ["--epochs", "7"], "train.batch_size": ["--batch-size", "9"],
    "train.lr": ["--lr", "0.02"], "train.clip": ["--clip", "0.5"], "train.patience": ["--patience", "0"],
    "train.seed": ["--seed", "11"], "train.shrink": ["--no-shrink"], "train.level": ["--level", "0.8"],
    "train.device": ["--device", "cpu"], "train.threads": ["--threads", "2"],
}


def _command(name: str) -> Any:
    return typer.main.get_group(app).commands[name]


def _parse(command: str, args: list[str]) -> RunConfig:
    """The RunConfig a command would build from these arguments (nothing runs)."""
    cmd = _command(command)
    ctx = cmd.make_context(command, list(args))
    names = {o.name for o in RUN_OPTIONS}
    return build_run_config({k: v for k, v in ctx.params.items() if k in names})


def _flat(output: str) -> str:
    """Output as one line, without the error box's borders."""
    return " ".join(output.replace("│", " ").split())


def _get(cfg: RunConfig, field: str) -> object:
    section, name = field.split(".")
    return getattr(getattr(cfg, section), name)


def test_every_config_field_has_exactly_one_option():
    assert sorted(o.field for o in RUN_OPTIONS) == sorted(FIELDS)
    assert sorted(OTHER) == sorted(FIELDS)


@pytest.mark.parametrize("command", ["train", "backtest"])
def test_every_field_is_set_by_its_flag(command):
    default = RunConfig()
    args = [a for field, given in OTHER.items() if command == "train" or field not in TRAIN_ONLY for a in given]
    cfg = _parse(command, args)
    for field in FIELDS:
        if command == "backtest" and field in TRAIN_ONLY:
            assert _get(cfg, field) == _get(default, field)
            continue
        assert _get(cfg, field) != _get(default, field), field
        assert _get(cfg, field) == _get(_parse(command, OTHER[field]), field), field
    assert cfg.data.covariates == ["usdpln:nbp", "wig20"]
    assert cfg.data.features == ["ohlc", "volume"]


@pytest.mark.parametrize("command", ["train", "backtest"])
def test_defaults_are_the_configs(command):
    assert _parse(command, []) == RunConfig()


def test_train_and_backtest_share_each_declaration():
    train, backtest = ({p.name: p for p in _command(c).params} for c in ("train", "backtest"))
    for option in RUN_OPTIONS:
        if option.field in TRAIN_ONLY:
            assert option.name not in backtest
            continue
        a, b = train[option.name], backtest[option.name]
        assert a.opts == b.opts == [f"--{option.long}"]
        assert (a.default, a.multiple, a.is_flag, a.secondary_opts) == (b.default, b.multiple, b.is_flag,
                                                                           b.secondary_opts)
        assert a.help == option.help_for("train") and b.help == option.help_for("backtest")
    # The command functions declare none of them: they come from the one table.
    for command in ("train", "backtest"):
        source = inspect.getsource(inspect.getmodule(_command(command).callback))
        for option in RUN_OPTIONS:
            assert not re.search(rf"^\s+{option.name}:", source, re.MULTILINE), option.name


def test_sweep_takes_every_run_option_by_the_same_flag():
    grid = sw.grid_options()  # flag -> (config key, type)
    table = {o.long: o for o in RUN_OPTIONS if o.name not in NOT_IN_GRID}
    assert set(grid) == set(table)
    for flag, (key, _tp) in grid.items():
        assert key == ("model" if table[flag].field == "model.kind" else table[flag].field_name)
    doc = " ".join((_command("sweep").help or "").split())
    for flag in table:
        assert f"--{flag}" in doc, flag  # the sweep's --help names every one


def test_a_config_written_back_as_options_is_the_same_config():
    cfg = _parse("train", [a for given in OTHER.values() for a in given])
    assert _parse("train", to_cli_args(cfg.to_dict())) == cfg
    assert "--level" not in to_cli_args(cfg.to_dict(), skip=("level",))


def test_a_wrong_value_names_its_flag():
    result = runner.invoke(app, ["backtest", "--target", "price"])
    assert result.exit_code == 2
    assert "'price' is not one of 'logret', 'change', 'level'" in _flat(result.output)


class WaveSource:
    """A plug-in source that exists only in this test."""

    name = "wave"
    description = "test plug-in"
    incremental = False

    def fetch(self, request: sources.FetchRequest) -> FetchResult:
        dates = pd.bdate_range("2024-01-01", periods=40)
        return FetchResult(pd.DataFrame({"Close": [100.0 + i % 7 for i in range(40)]}, index=dates))


def test_fetch_takes_a_registered_plugin_source(workspace, monkeypatch):
    result = runner.invoke(app, ["fetch", "w1", "--source", "wave"])
    assert result.exit_code == 2
    assert "'wave' is not one of 'stooq'" in _flat(result.output)
    monkeypatch.setitem(sources._REGISTRY, "wave", f"{__name__}:WaveSource")
    result = runner.invoke(app, ["fetch", "w1", "--source", "wave", "--json"])
    assert result.exit_code == 0, result.output
    assert '"source": "wave"' in result.output and '"rows": 40' in result.output


def test_run_options_reach_only_the_named_command():
    assert [o.name for o in cli_options.options_of("backtest")] == [
        o.name for o in RUN_OPTIONS if o.field not in TRAIN_ONLY]


def test_flags_are_declared_once_with_the_config_fields():
    from seqcast.config import option_specs

    specs = {s.field: s for s in option_specs()}
    assert sorted(specs) == sorted(FIELDS)
    assert {f.name for f in dataclasses.fields(cli_options.RunOption)}.isdisjoint({"flag", "comma_list", "aliases"})
    assert not hasattr(sw, "FLAG_KEYS") and not hasattr(sw, "COMMA_LISTS")
    train = {p.name: p for p in _command("train").params}
    for option in RUN_OPTIONS:
        spec = specs[option.field]
        assert option.long == spec.flag and option.comma_list == spec.comma_list
        assert train[option.name].opts == [f"--{spec.flag}", *(f"--{old}" for old in spec.old_flags)]
    assert [s.flag for s in option_specs() if s.comma_list] == ["features"]
    assert {old: s.flag for s in option_specs() for old in s.old_flags} == {"coverage": "level"}
