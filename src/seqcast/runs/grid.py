"""A sweep's grid: its options parsed from the command line or a TOML file, and the cells.

Every train option may take several values; the grid is their product, times the symbols,
times the seeds (--seed, --seed+1, ...), or times the folds of a walk-forward backtest.
"""

from __future__ import annotations

import itertools
import math
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqcast import fileio
from seqcast.config import SECTIONS, check_seeds, option_specs
from seqcast.errors import ConfigError

NOT_IN_GRID = ("symbol", "seed")
"""Given by --symbol (repeatable) and --seed/--seeds instead."""
DATA_KEYS = ("source", "start", "end", "covariates", "features", "max_stale_days")
"""DataConfig fields that change what api.load_input reads (besides the symbol)."""
MAX_CELLS = 100_000
MAX_SEEDS = 1000
"""A sweep's --seeds: seeds per config and symbol."""
CHECK_ALL_CONFIGS = 5000
"""Grids with up to this many configs have every combination built before any cell (~0.2 s)."""


# --------------------------------------------------------------------------- options


def grid_options() -> dict[str, tuple[str, Any]]:
    """Every train option a sweep takes: flag name -> (make_config key, type).

    The flags are the config fields' own (seqcast.config.option_specs), as `seqcast train` takes them.
    """
    hints = {section: typing.get_type_hints(cls) for section, cls in SECTIONS}
    return {spec.flag: (spec.option, hints[spec.section][spec.name])
            for spec in option_specs() if spec.option not in NOT_IN_GRID}


def old_flags() -> dict[str, str]:
    """Flags of earlier seqcast versions -> the flag now (--coverage -> level)."""
    return {old: spec.flag for spec in option_specs() for old in spec.old_flags}


def _comma_lists() -> set[str]:
    """make_config keys whose one value is a comma list (--features ohlc,volume); other list
    options (--covariate) collect their repeats."""
    return {spec.option for spec in option_specs() if spec.comma_list}


def _base_type(tp: Any) -> Any:
    """int | None -> int; Literal[...] -> str; list[str] / tuple[str, ...] -> list."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return type(args[0]) if args else str
    if origin in (list, tuple):
        return list
    if args and origin is not None and len(args) == 1:
        return _base_type(args[0])
    return tp


def parse_value(flag: str, value: Any, tp: Any) -> Any:
    """One option value from text (CLI) or TOML, checked against the option's type."""
    base = _base_type(tp)
    if base is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "1", "on"):
            return True
        if text in ("false", "no", "0", "off"):
            return False
        raise ConfigError(f"--{flag} takes true or false, got {value!r}")
    if base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise ConfigError(f"--{flag} takes whole numbers, got {value!r}") from None
    if base is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return float(str(value).strip())
        except ValueError:
            raise ConfigError(f"--{flag} takes numbers, got {value!r}") from None
    if base is list:
        return tuple(value) if isinstance(value, (list, tuple)) else (str(value),)
    return str(value).strip()


def parse_grid_args(args: list[str]) -> dict[str, list[Any]]:
    """`--model lstm,gru --lookback 20,60 --no-shrink` -> {"model": ["lstm", "gru"], ...}.

    A comma-separated value is a grid dimension; a list-typed option (repeatable, such
    as a covariate) collects its repeats into one value instead.
    """
    options = grid_options()
    grid: dict[str, list[Any]] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--") or token == "--":
            raise ConfigError(f"unexpected argument {token!r}; sweep options look like --model lstm,gru")
        name, eq, text = token[2:].partition("=")
        name = old_flags().get(name, name)
        negated = name.startswith("no-") and name[3:] in options and name not in options
        flag = name[3:] if negated else name
        if flag not in options:
            raise ConfigError(f"no such option: --{flag}; a sweep takes every train option: "
                              + ", ".join(f"--{f}" for f in options))
        key, tp = options[flag]
        base = _base_type(tp)
        if negated or (base is bool and not eq and (i + 1 >= len(args) or args[i + 1].startswith("--"))):
            if base is not bool or eq:
                raise ConfigError(f"--no-{flag} is not an option; give values: --{flag} A,B")
            grid[key] = [*grid.get(key, []), not negated]
            i += 1
            continue
        if not eq:
            if i + 1 >= len(args):
                raise ConfigError(f"--{flag} needs a value")
            text = args[i + 1]
            i += 1
        i += 1
        if base is list:
            previous = grid.get(key, [()])[0]
            parts = [p.strip() for p in text.split(",")] if key in _comma_lists() else [text]
            grid[key] = [(*previous, *(p for p in parts if p))]
        else:
            parts = text.split(",")
            if any(part.strip() == "" for part in parts):
                raise ConfigError(f"--{flag} has an empty value in {text!r}; give values separated by single "
                                  f"commas: --{flag} A,B")
            # A repeated option adds its values: --model lstm --model gru is --model lstm,gru.
            grid[key] = [*grid.get(key, []), *(parse_value(flag, part, tp) for part in parts)]
    return grid


def read_config_file(path: Path | str) -> dict[str, Any]:
    """A sweep written down (TOML): option = value or [values], plus symbol, seed, seeds, backtest."""
    path = Path(path)
    try:
        raw = fileio.read_toml(path)  # never a FIFO's hang, /dev/zero's memory or deep nesting's recursion
    except ImportError:
        raise ConfigError("--config needs Python 3.11 or the tomli package: pip install tomli") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    options = grid_options()
    by_key = {key: flag for flag, (key, _tp) in options.items()}
    out: dict[str, Any] = {"grid": {}}
    for name, value in raw.items():
        flag = name.replace("_", "-")
        flag = old_flags().get(flag, flag)
        if flag in ("symbol", "symbols"):
            values = value if isinstance(value, list) else [value]
            if not values:
                raise ConfigError(f"{path}: {name} = [] names no symbol; give at least one, or leave it out "
                                  "(the last fetched)")
            out["symbols"] = [*out.get("symbols", []), *symbol_args([str(v) for v in values], f"{path}: {name}")]
        elif flag == "symbol-file":
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{path}: symbol-file takes a file name, got {value!r}")
            listed = path.parent / Path(value).expanduser()  # relative to the TOML file
            out["symbols"] = [*out.get("symbols", []), *read_symbol_file(listed)]
        elif flag in ("seed", "seeds", "backtest"):
            out[flag] = value
        elif flag in options or name in by_key:
            flag = flag if flag in options else by_key[name]
            key, tp = options[flag]
            if _base_type(tp) is list:
                if key in _comma_lists() and isinstance(value, str):
                    value = [v.strip() for v in value.split(",") if v.strip()]
                out["grid"][key] = [parse_value(flag, value, tp)]
            else:
                values = value if isinstance(value, list) else [value]
                out["grid"][key] = [parse_value(flag, v, tp) for v in values]
        else:
            raise ConfigError(f"{path}: unknown key {name!r}; use train options (model, lookback, ...), "
                              "symbol, symbol-file, seed, seeds or backtest")
    return out


MAX_SYMBOL_FILE_BYTES = 4 << 20
"""A --symbol-file is at most this big (100,000 symbols of 40 characters)."""


def symbol_args(texts: list[str], what: str = "--symbol") -> list[str]:
    """--symbol values (each may be a comma list) as the sweep's symbols; an empty one is refused."""
    out: list[str] = []
    for text in texts:
        parts = [part.strip() for part in str(text).split(",")]
        if any(not part for part in parts):
            raise ConfigError(f"{what} has an empty value in {text!r}: give symbols (eurpln or eurpln:stooq), "
                              "or leave it out for the last fetched")
        out += parts
    return out


def read_symbol_file(path: Path | str) -> list[str]:
    """A --symbol-file: one SYMBOL or SYMBOL:SOURCE per line; blank lines and # comments skipped.

    Read as a regular file of at most MAX_SYMBOL_FILE_BYTES (no device, FIFO or link); a line
    that is not one symbol, a symbol twice or no symbol at all is a ConfigError naming the line.
    """
    import re

    path = Path(path).expanduser()
    try:
        raw = fileio.read_bytes(path, max_bytes=MAX_SYMBOL_FILE_BYTES, follow_links=True)
    except OSError as exc:
        raise ConfigError(f"cannot read --symbol-file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"--symbol-file {path} is not UTF-8 text") from None
    symbols: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        if not re.fullmatch(r"[^\s:,]+(:[A-Za-z0-9_-]+)?", entry):
            raise ConfigError(f"{path}, line {number}: {line.strip()[:60]!r} is not SYMBOL or SYMBOL:SOURCE "
                              "(one per line)")
        if entry in seen:
            raise ConfigError(f"{path}, line {number}: {entry} is already on line {seen[entry]}")
        seen[entry] = number
        symbols.append(entry)
    if not symbols:
        raise ConfigError(f"--symbol-file {path} lists no symbol (one SYMBOL or SYMBOL:SOURCE per line)")
    return symbols


# --------------------------------------------------------------------------- the grid


@dataclass
class SweepSpec:
    """What to sweep: option values (a product), symbols, seeds, and optionally backtest folds."""

    grid: dict[str, list[Any]] = field(default_factory=dict)  # make_config key -> values
    symbols: list[str | None] = field(default_factory=lambda: [None])  # None: the last fetched
    seeds: int = 1
    seed: int = 0
    backtest: int = 0  # folds per config × symbol × seed; 0: one training per cell

    def __post_init__(self) -> None:
        from seqcast.runs.backtest import MAX_FOLDS

        check_seeds(self.seed, self.seeds, max_seeds=MAX_SEEDS)
        if not isinstance(self.backtest, int) or isinstance(self.backtest, bool) or not 0 <= self.backtest <= MAX_FOLDS:
            raise ConfigError(f"--backtest must be a whole number between 0 and {MAX_FOLDS}, got {self.backtest!r}")
        if not self.symbols:
            self.symbols = [None]
        if any(s is not None and (not isinstance(s, str) or not s.strip()) for s in self.symbols):
            raise ConfigError("a --symbol is empty: give symbols (eurpln or eurpln:stooq), or leave --symbol out "
                              "for the last fetched")
        if len(set(self.symbols)) != len(self.symbols):
            raise ConfigError("a --symbol is given twice")
        flags = {key: flag for flag, (key, _tp) in grid_options().items()}
        for key in NOT_IN_GRID:
            if key in self.grid:
                raise ConfigError(f"{key} is not a grid option: give symbols with --symbol (symbols=[...]) and "
                                  "seeds with --seed and --seeds (seed=, seeds=)")
        for key, values in self.grid.items():
            if not values:
                raise ConfigError(f"--{flags.get(key, key)} has no values (an empty list): give at least one, "
                                  "or leave the option out")
            if len(values) != len(set(map(repr, values))):
                raise ConfigError(f"--{flags.get(key, key)} is given a value twice: {values}; give each value once")
        if self.n_cells > MAX_CELLS:
            raise ConfigError(f"the grid has {self.n_cells} cells (at most {MAX_CELLS}); give fewer values")
        self.check_configs()

    def check_configs(self, budget: int = CHECK_ALL_CONFIGS) -> None:
        """Every combination is a valid config, or ConfigError before any training.

        Up to `budget` configs every combination is built. A bigger grid (where building them all
        would take seconds) builds every value of every option with the others' first values, then
        the combinations of each pair of options, smallest pairs first, while the budget lasts: a
        config's constraints are between two options (--hidden divisible by --heads, ...). A cell
        whose config still fails is a failed cell that says why (its task is built as it starts).
        """
        from seqcast.config import make_config

        if self.n_configs <= budget:
            for config in self.iter_configs():
                make_config(**config)
            return
        first = {k: v[0] for k, v in self.grid.items()}
        for key, values in self.grid.items():
            for value in values:
                make_config(**{**first, key: value})
        left = budget
        pairs = sorted(itertools.combinations(self.grid, 2),
                       key=lambda ab: len(self.grid[ab[0]]) * len(self.grid[ab[1]]))
        for a, b in pairs:
            size = len(self.grid[a]) * len(self.grid[b])
            if size > left:
                break
            left -= size
            for va, vb in itertools.product(self.grid[a], self.grid[b]):
                make_config(**{**first, a: va, b: vb})

    def configs(self) -> list[dict[str, Any]]:
        """Every config of the grid, in order (a list: iter_configs streams them)."""
        return list(self.iter_configs())

    def iter_configs(self) -> Iterator[dict[str, Any]]:
        """The configs one by one, in the order of itertools.product over the grid's options."""
        keys = list(self.grid)
        for combo in itertools.product(*self.grid.values()):
            yield dict(zip(keys, combo, strict=True))

    def iter_cells(self) -> Iterator[tuple[int, int, str | None, int, int | None]]:
        """(cell, config, symbol, seed, fold) for every cell, in the record's order, one at a time:
        config-major, then symbol, seed and fold. Linear: the first cell comes at once whatever the
        grid's size (a 100,000-cell grid's first cell in microseconds)."""
        folds: list[int | None] = list(range(1, self.backtest + 1)) if self.backtest else [None]
        cell = 0
        for ci in range(self.n_configs):
            for symbol in self.symbols:
                for seed in range(self.seed, self.seed + self.seeds):
                    for fold in folds:
                        yield cell, ci, symbol, seed, fold
                        cell += 1

    def config_at(self, index: int) -> dict[str, Any]:
        """The index-th config of iter_configs, computed (mixed radix, the last option fastest)."""
        out: dict[str, Any] = {}
        for key in reversed(list(self.grid)):
            values = self.grid[key]
            index, digit = divmod(index, len(values))
            out[key] = values[digit]
        return {key: out[key] for key in self.grid}

    @property
    def n_configs(self) -> int:
        return math.prod(len(v) for v in self.grid.values())

    @property
    def n_cells(self) -> int:
        return self.n_configs * len(self.symbols) * self.seeds * max(1, self.backtest)

    def to_dict(self) -> dict[str, Any]:
        return {"grid": {k: [list(v) if isinstance(v, tuple) else v for v in vs] for k, vs in self.grid.items()},
                "symbols": self.symbols, "seeds": self.seeds, "seed": self.seed, "backtest": self.backtest}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SweepSpec:
        from seqcast.config import OLD_NAMES

        old = {k: v for section in OLD_NAMES.values() for k, v in section.items()}  # a sweep saved before a rename
        grid = {old.get(k, k): [tuple(v) if isinstance(v, list) else v for v in vs] for k, vs in raw["grid"].items()}
        return cls(grid, list(raw["symbols"]), raw["seeds"], raw["seed"], raw["backtest"])


def config_label(config: dict[str, Any], varying: set[str] | None = None,
                 flags: dict[str, str] | None = None) -> str:
    """model=gru lookback=20, with CLI flag names; only the options that vary when given.
    flags (make_config key -> flag, from grid_flags()) saves rebuilding it for every config."""
    flags = flags if flags is not None else grid_flags()
    parts = [f"{flags.get(k, k)}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
             for k, v in config.items() if varying is None or k in varying]
    return " ".join(parts) or "defaults"


def grid_flags() -> dict[str, str]:
    """make_config key -> its CLI flag (lookback -> lookback, nonlinearity -> activation)."""
    return {key: flag for flag, (key, _tp) in grid_options().items()}
