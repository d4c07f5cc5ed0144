"""Config files for `seqcast train|backtest --config run.toml` and `--save-config run.toml`.

A config file is flat TOML whose keys are the command's option names, without the
dashes (`model = "gru"`, `batch-size = 32`, `from = "2020-01-01"`; underscores work too).
Options given on the command line win over the file. The keys and their types are read from
the command itself, so an option added to `train` can be set in a file with no change here.
A value of the wrong TOML type (`epochs = true`, `epochs = 2.5`, `lr = "fast"`) is refused
here, naming the file and the key, before the command's own conversion could bend it.
"""

from __future__ import annotations

import inspect
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import typer

from seqcast import fileio

# Parameters that are about the invocation, not the run: never read from or written to a file.
NOT_IN_FILE = frozenset({"config", "save_config", "as_json", "home", "help"})


def _is_option(param: Any) -> bool:
    # typer ships its own copy of click: check the kind, not the class.
    return getattr(param, "param_type_name", None) == "option"


def option_keys(command: Any) -> dict[str, str]:
    """File key -> parameter name: every long option spelling (dashes or underscores) and the name."""
    keys: dict[str, str] = {}
    for param in command.params:
        if not _is_option(param) or param.name is None or param.name in NOT_IN_FILE:
            continue
        keys[param.name] = param.name
        for opt in (*param.opts, *param.secondary_opts):
            if opt.startswith("--") and not opt.startswith("--no-"):
                key = opt[2:]
                keys[key] = param.name
                keys[key.replace("-", "_")] = param.name
    return keys


def _longs(command: Any) -> set[str]:
    """Long option names without the dashes ("batch-size"), file-worthy options only."""
    return {opt[2:] for p in command.params if _is_option(p) and p.name not in NOT_IN_FILE
            for opt in p.opts if opt.startswith("--")}


def read_config(path: Path, command: Any) -> dict[str, Any]:
    """Parameter name -> value from a TOML file; unknown keys and tables are refused."""
    try:
        raw = fileio.read_toml(path)  # never a FIFO's hang, /dev/zero's memory or deep nesting's recursion
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror or exc}", param_hint="--config") from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise typer.BadParameter(f"{path} is not valid TOML: {exc}", param_hint="--config") from None
    keys = option_keys(command)
    hints = _hints(command)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in keys:
            known = sorted(_longs(command))
            raise typer.BadParameter(f"{path}: unknown key {key!r}; keys are the option names: "
                                     f"{', '.join(known)}", param_hint="--config")
        if isinstance(value, dict):
            raise typer.BadParameter(f"{path}: {key!r} is a table; use flat keys such as model = \"gru\"",
                                     param_hint="--config")
        name = keys[key]
        problem = _type_problem(hints.get(name), value)
        if problem:
            raise typer.BadParameter(f"{path}: {key} {problem}, got {_toml_value(value)}", param_hint="--config")
        values[name] = [value] if _is_list(hints.get(name)) and isinstance(value, str) else value
    return values


def _hints(command: Any) -> dict[str, Any]:
    """Parameter name -> its annotation (Annotated and None stripped), from the command's function."""
    callback = getattr(command, "callback", None)
    if callback is None:
        return {}
    try:
        hints = typing.get_type_hints(inspect.unwrap(callback))
    except (NameError, TypeError):  # an annotation that cannot be evaluated: let the command check
        return {}
    return {name: _without_none(hint) for name, hint in hints.items()}


def _without_none(hint: Any) -> Any:
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def _is_list(hint: Any) -> bool:
    return typing.get_origin(hint) is list


def _type_problem(hint: Any, value: Any) -> str | None:
    """What is wrong with a TOML value for an option of this type (None: nothing seqcast checks)."""
    if hint is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be a whole number"
    if hint is float:
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "must be a number"
    if hint in (str, Path):
        return None if isinstance(value, str) else "must be a string (in quotes)"
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        return None if value in choices and not isinstance(value, bool) else (
            "must be one of " + ", ".join(json.dumps(c) for c in choices))
    if _is_list(hint):
        item = typing.get_args(hint)[0] if typing.get_args(hint) else None
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            return "must be a list such as [\"a\", \"b\"]"
        return next((p for p in (_type_problem(item, v) for v in items) if p), None)
    return None


def _toml_value(value: Any) -> str:
    """A value as it reads in the file: true, 2.5, "three"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


def config_callback(ctx: typer.Context, _param: Any, value: Path | None) -> Path | None:
    """Eager --config: the file's values become the defaults of the other options."""
    if value is not None:
        ctx.default_map = {**(ctx.default_map or {}), **read_config(value, ctx.command)}
    return value


def to_toml(values: dict[str, Any], command: str = "train") -> str:
    """Flat TOML of scalars (None is left out: the option's default applies)."""
    lines = [f"# seqcast {command} --config this-file (command-line options win over these)"]
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            if isinstance(value, float) and not math.isfinite(value):
                continue
            text = repr(value)
        elif isinstance(value, (list, tuple)):
            text = json.dumps([v if isinstance(v, (int, float, bool)) else str(v) for v in value])
        else:
            text = json.dumps(str(value))  # a JSON string is a valid TOML basic string
        bare = all(c.isalnum() or c in "-_" for c in key)
        lines.append(f"{key if bare else json.dumps(key)} = {text}")
    return "\n".join(lines) + "\n"


def command_values(ctx: typer.Context) -> dict[str, Any]:
    """The command's option values by their option name (e.g. "batch-size"), file-worthy ones only."""
    out: dict[str, Any] = {}
    for param in ctx.command.params:
        if not _is_option(param) or param.name in NOT_IN_FILE or param.name not in ctx.params:
            continue
        name = str(param.name)
        long = next((o[2:] for o in param.opts if o.startswith("--")), name)
        out[long] = ctx.params[name]
    return out


def save_config(path: Path, ctx: typer.Context) -> Path:
    fileio.write_text(Path(path), to_toml(command_values(ctx), ctx.info_name or "train"))
    return Path(path)


def to_cli_args(config: dict[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    """Command-line options that repeat a saved RunConfig dict (config.json); skip: field names.

    The flags are the config fields' own (seqcast.config.option_specs); a key of an earlier
    seqcast (train.coverage) is written as the option it became (--level).
    """
    from seqcast.config import OLD_NAMES, option_specs

    specs = {spec.field: spec for spec in option_specs()}
    args: list[str] = []
    for section_name, section in config.items():
        if not isinstance(section, dict):
            continue
        for key, value in section.items():
            name = OLD_NAMES.get(section_name, {}).get(key, key)
            spec = specs.get(f"{section_name}.{name}")
            flag = spec.flag if spec is not None else str(name).replace("_", "-")
            if value is None or name in skip or key in skip:
                continue
            if isinstance(value, bool):
                args.append(f"--{flag}" if value else f"--no-{flag}")
            elif isinstance(value, (list, tuple)) and spec is not None and spec.comma_list:
                if value:  # --features takes one comma-separated list
                    args += [f"--{flag}", ",".join(map(str, value))]
            elif isinstance(value, (list, tuple)):
                for item in value:  # repeatable options such as --covariate
                    args += [f"--{flag}", str(item)]
            else:
                args += [f"--{flag}", f"{value:g}" if isinstance(value, float) else str(value)]
    return args
