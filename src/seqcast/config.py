"""Run configuration: typed dataclasses, checked on creation, saved with every run."""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:
    from typing_extensions import Unpack

from seqcast.errors import ConfigError

ModelKind = Literal["rnn", "lstm", "gru", "transformer"]
Target = Literal["level", "change", "logret"]
MODEL_KINDS: tuple[str, ...] = ("rnn", "lstm", "gru", "transformer")
TARGETS: tuple[str, ...] = ("level", "change", "logret")

# Upper limits, checked before any work: far above any useful setting, and low enough that
# a typo (--hidden 60000, --threads 32768) is one clear line, not a crash of torch or OpenMP.
MAX_SEED = 2**64 - 1
"""torch's generators take seeds up to 2**64 - 1."""
MAX_LOOKBACK = 10_000
MAX_TRANSFORMER_LOOKBACK = 4096
"""Length of models.TransformerRegressor's position table."""
MAX_HIDDEN = 4096
MAX_LAYERS = 16
MAX_HEADS = 64
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 65_536
MAX_THREADS = 1024
MAX_STALE_DAYS = 36_500
"""--max-stale-days: a century; more would overflow a date offset, and means "never stale" anyway."""


# --- the covariate and feature syntax (checked here, built in seqcast.inputs) ---

COVARIATE_TRANSFORMS: tuple[str, ...] = ("logret", "gap")
"""The inputs made from each covariate, in this order."""
FEATURE_TRANSFORMS: dict[str, tuple[str, ...]] = {"ohlc": ("range", "body"), "volume": ("volume",)}
"""--features name -> the inputs made from the target's own columns."""
FEATURE_COLUMNS: dict[str, tuple[str, ...]] = {"ohlc": ("Open", "High", "Low"), "volume": ("Volume",)}

_SPEC_RE = re.compile(r"^[A-Za-z0-9^][A-Za-z0-9._^=-]{0,40}(:[a-z]{2,20})?$")


def parse_covariate(text: str) -> tuple[str, str | None]:
    """'SYMBOL[:SOURCE]' -> (symbol lower-cased, source or None)."""
    if not isinstance(text, str) or not _SPEC_RE.match(text.strip()):
        raise ConfigError(
            f"--covariate must be SYMBOL or SYMBOL:SOURCE (e.g. eurpln:stooq), got {text!r}"
        )
    symbol, _, source = text.strip().partition(":")
    return symbol.lower(), source or None


def parse_features(value: Any) -> list[str]:
    """'ohlc,volume' (or a list) -> ['ohlc', 'volume'], checked."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    out: list[str] = []
    for item in items:
        name = str(item).strip().lower()
        if not name:
            continue
        if name not in FEATURE_TRANSFORMS:
            raise ConfigError(f"--features takes {', '.join(FEATURE_TRANSFORMS)} (comma-separated), "
                              f"got {item!r}")
        if name not in out:
            out.append(name)
    return out


def count_inputs(covariates: list[str], features: list[str]) -> int:
    """Input features per window row: the target's own move plus every extra input."""
    return 1 + len(COVARIATE_TRANSFORMS) * len(covariates) + sum(len(FEATURE_TRANSFORMS[f]) for f in features)


def _cli(flag: str | None = None, *, option: str | None = None, comma_list: bool = False,
         old_flags: tuple[str, ...] = ()) -> dict[str, Any]:
    """A config field's command-line spelling, kept with the field (read by option_specs)."""
    return {"flag": flag, "option": option, "comma_list": comma_list, "old_flags": old_flags}


def _check_range(name: str, value: float, low: float, high: float, *, flag: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        raise ConfigError(f"{flag} must be a number, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{flag} must be between {low:g} and {high:g}, got {value:g}")


def _check_int(value: Any, *, flag: str, minimum: int, maximum: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{flag} must be a whole number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{flag} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        shown = str(value) if len(str(value)) <= 30 else f"a number of {len(str(value))} digits"
        raise ConfigError(f"{flag} must be at most {maximum}, got {shown}")


SPLIT_RANGE = (0.5, 0.95)
"""--split: at least half the rows train, at least 5 % test."""
VAL_FRACTION_RANGE = (0.0, 0.5)
"""--val-fraction: up to half the training part as the validation tail."""


def check_window_options(*, lookback: Any, split: Any, val_fraction: Any, target: Any,
                         split_range: tuple[float, float] = SPLIT_RANGE,
                         val_fraction_range: tuple[float, float] = VAL_FRACTION_RANGE) -> None:
    """The window options' rule, written once: DataConfig checks the user's bounds (the defaults);
    windowing.build_dataset checks the same rule with the bounds that only keep its arithmetic
    sound (0..1), because a backtest fold derives its own split from its training length.
    split None: the caller gives an exact training length instead."""
    if split is not None:
        _check_range("split", split, *split_range, flag="--split")
    _check_range("val_fraction", val_fraction, *val_fraction_range, flag="--val-fraction")
    _check_int(lookback, flag="--lookback", minimum=1, maximum=MAX_LOOKBACK)
    if target not in TARGETS:
        raise ConfigError(f"--target must be one of {', '.join(TARGETS)}, got {target!r}")


@dataclass
class DataConfig:
    """Which series to use and how to cut it into windows."""

    symbol: str | None = None
    """Stored symbol; None = the most recently fetched one."""
    source: str | None = None
    """Stored source of that symbol; None = the one fetched last."""
    start: str | None = field(default=None, metadata=_cli("from"))
    """First date used (YYYY-MM-DD); None = all stored data."""
    end: str | None = field(default=None, metadata=_cli("to"))
    """Last date used; None = up to the latest stored day."""
    split: float = 0.7
    """Chronological train fraction; the rest is the test part."""
    val_fraction: float = 0.1
    """Tail of the training part held out for early stopping."""
    lookback: int = 60
    """Days of history the model sees for each forecast."""
    target: Target = "logret"
    """What the network predicts: the next log-return (default), change, or level."""
    covariates: list[str] = field(default_factory=list, metadata=_cli("covariate"))
    """Past covariates as SYMBOL[:SOURCE]: stored series read up to each window's last day (--covariate,
    repeatable)."""
    features: list[str] = field(default_factory=list, metadata=_cli(comma_list=True))
    """The target's own other columns to read: ohlc, volume (--features ohlc,volume: one comma list)."""
    max_stale_days: int = 7
    """A covariate value older than this (calendar days) on a target date counts as missing."""

    def __post_init__(self) -> None:
        for flag, value in (("--symbol", self.symbol), ("--source", self.source)):
            if isinstance(value, str) and not value.strip():
                raise ConfigError(f"{flag} is empty; give a value (or leave {flag} out for the last fetched)")
        if not isinstance(self.covariates, (list, tuple)):
            raise ConfigError(f"covariates must be a list of SYMBOL[:SOURCE], got {self.covariates!r}")
        specs = [parse_covariate(c) for c in self.covariates]
        self.covariates = [f"{sym}:{src}" if src else sym for sym, src in specs]
        if len(set(self.covariates)) != len(self.covariates):
            raise ConfigError(f"--covariate lists the same series twice: {', '.join(self.covariates)}")
        self.features = parse_features(self.features)
        _check_int(self.max_stale_days, flag="--max-stale-days", minimum=0, maximum=MAX_STALE_DAYS)
        check_window_options(lookback=self.lookback, split=self.split, val_fraction=self.val_fraction,
                             target=self.target)
        check_date_range(parse_date(self.start, "--from"), parse_date(self.end, "--to"))

    @property
    def n_inputs(self) -> int:
        """Input features per window row (1 without covariates or features)."""
        return count_inputs(self.covariates, self.features)


@dataclass
class ModelConfig:
    """The network: a recurrent (or transformer) encoder and a linear head."""

    kind: ModelKind = field(default="lstm", metadata=_cli("model", option="model"))
    hidden: int = 32
    layers: int = 1
    dropout: float = 0.0
    """Dropout between stacked layers and before the head."""
    nonlinearity: Literal["relu", "tanh"] = field(default="relu", metadata=_cli("activation"))
    """Activation of the plain RNN (the course's RNN uses ReLU)."""
    heads: int = 4
    """Attention heads (transformer only)."""

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ConfigError(f"--model must be one of {', '.join(MODEL_KINDS)}, got {self.kind!r}")
        _check_int(self.hidden, flag="--hidden", minimum=1, maximum=MAX_HIDDEN)
        _check_int(self.layers, flag="--layers", minimum=1, maximum=MAX_LAYERS)
        _check_range("dropout", self.dropout, 0.0, 0.9, flag="--dropout")
        if self.nonlinearity not in ("relu", "tanh"):
            raise ConfigError(f"--activation must be relu or tanh, got {self.nonlinearity!r}")
        _check_int(self.heads, flag="--heads", minimum=1, maximum=MAX_HEADS)
        if self.kind == "transformer" and self.hidden % self.heads:
            raise ConfigError(
                f"--hidden ({self.hidden}) must be divisible by --heads ({self.heads}) for a transformer"
            )


@dataclass
class TrainConfig:
    """The optimisation: one loop for every model kind."""

    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-3
    clip: float = 1.0
    """Max global gradient norm; 0 turns clipping off."""
    patience: int = 5
    """Epochs without validation improvement before stopping; 0 turns early stopping off."""
    seed: int = 0
    shrink: bool = True
    """Scale predicted moves by a shrinkage weight in [0, 1] fitted on the validation tail."""
    level: float = field(default=0.9, metadata=_cli(old_flags=("coverage",)))
    """Nominal level of the prediction intervals (conformal on out-of-sample residuals); the
    coverage they reach is measured on the test part and reported."""
    device: str = "auto"
    threads: int | None = None

    def __post_init__(self) -> None:
        _check_int(self.epochs, flag="--epochs", minimum=1, maximum=MAX_EPOCHS)
        _check_int(self.batch_size, flag="--batch-size", minimum=1, maximum=MAX_BATCH_SIZE)
        if not isinstance(self.lr, (int, float)) or not self.lr > 0 or math.isinf(self.lr):
            raise ConfigError(f"--lr must be a positive number, got {self.lr!r}")
        _check_range("clip", self.clip, 0.0, 1e6, flag="--clip")
        _check_int(self.patience, flag="--patience", minimum=0, maximum=MAX_EPOCHS)
        _check_int(self.seed, flag="--seed", minimum=0, maximum=MAX_SEED)
        _check_range("level", self.level, 0.5, 0.999, flag="--level")
        if self.device not in ("auto", "cpu", "cuda", "mps"):
            raise ConfigError(f"--device must be auto, cpu, cuda or mps, got {self.device!r}")
        if self.threads is not None:
            _check_int(self.threads, flag="--threads", minimum=1, maximum=MAX_THREADS)


@dataclass
class RunConfig:
    """Everything that defines a training run; saved as config.json."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.model.kind == "transformer" and self.data.lookback > MAX_TRANSFORMER_LOOKBACK:
            raise ConfigError(
                f"--lookback must be at most {MAX_TRANSFORMER_LOOKBACK} for --model transformer "
                f"(its position table), got {self.data.lookback}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any) -> RunConfig:
        """Rebuild from config.json, rejecting unknown keys and bad values."""
        if not isinstance(raw, dict):
            raise ConfigError("config must be a JSON object")
        parts: dict[str, Any] = {}
        for name, part_cls in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
            values = raw.get(name, {})
            if not isinstance(values, dict):
                raise ConfigError(f"config section {name!r} must be an object")
            values = {OLD_NAMES.get(name, {}).get(k, k): v for k, v in values.items()
                      if not (k in OLD_NAMES.get(name, {}) and OLD_NAMES[name][k] in values)}
            known = {f.name for f in fields(part_cls)}
            unknown = set(values) - known
            if unknown:
                raise ConfigError(f"config section {name!r} has unknown keys: {', '.join(sorted(unknown))}")
            try:
                parts[name] = part_cls(**values)
            except TypeError as exc:
                raise ConfigError(f"config section {name!r} is invalid: {exc}") from None
        return cls(**parts)


def parse_date(value: date | str | None, flag: str) -> date | None:
    """A user-given date (YYYY-MM-DD, or a date) for the option `flag`; None stays None."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{flag} must be a date as YYYY-MM-DD, got {value!r}") from None


def check_seeds(seed: Any, seeds: Any, *, max_seeds: int) -> None:
    """--seed with --seeds N (seeds seed..seed+N-1; at most max_seeds of them): the one place this rule is checked."""
    if not isinstance(seeds, int) or isinstance(seeds, bool) or not 1 <= seeds <= max_seeds:
        raise ConfigError(f"--seeds must be a whole number between 1 and {max_seeds}, got {seeds!r}")
    _check_int(seed, flag="--seed", minimum=0, maximum=MAX_SEED)
    if seed + seeds - 1 > MAX_SEED:
        raise ConfigError(f"--seed {seed} with --seeds {seeds} goes past the largest seed, "
                          f"{MAX_SEED}; choose a smaller --seed")


def check_workers(workers: Any) -> None:
    """--workers of backtest, --seeds and sweep (None: the default): the one place this rule is checked."""
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ConfigError(f"--workers must be a whole number of at least 1, got {workers!r}")


def check_date_range(start: date | None, end: date | None) -> None:
    """--from must not come after --to: the one place this rule is checked."""
    if start and end and start > end:
        raise ConfigError(f"--from {start} is after --to {end}")


class RunOptions(TypedDict, total=False):
    """Every flat training option make_config, train, train_seeds and backtest take by keyword.

    The names are DataConfig's, ModelConfig's and TrainConfig's fields, except `model`
    (ModelConfig.kind).
    """

    symbol: str | None
    source: str | None
    start: str | None
    end: str | None
    split: float
    val_fraction: float
    lookback: int
    target: Target
    covariates: list[str]
    features: list[str]
    max_stale_days: int
    model: ModelKind
    hidden: int
    layers: int
    dropout: float
    nonlinearity: Literal["relu", "tanh"]
    heads: int
    epochs: int
    batch_size: int
    lr: float
    clip: float
    patience: int
    seed: int
    shrink: bool
    level: float
    device: str
    threads: int | None


SECTIONS: tuple[tuple[str, type[Any]], ...] = (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig))


@dataclass(frozen=True)
class OptionSpec:
    """How one RunConfig field is spelled outside the config: its flag, flat keyword, old names."""

    section: str
    name: str
    """The field's name in its section."""
    option: str
    """The flat keyword of make_config, api.train and a sweep's grid (the field's name but model.kind's)."""
    flag: str
    """The long command-line option without dashes, for train, backtest, sweep and config files."""
    comma_list: bool
    """A list field given as one comma-separated value (--features ohlc,volume); other lists repeat."""
    old_flags: tuple[str, ...]
    """Flags (and config-file keys) of earlier seqcast versions, still accepted."""

    @property
    def field(self) -> str:
        """section.name, as "data.lookback"."""
        return f"{self.section}.{self.name}"


@functools.cache
def option_specs() -> tuple[OptionSpec, ...]:
    """Every RunConfig field's command-line spelling, read from the fields' metadata."""
    specs = []
    for section, cls in SECTIONS:
        for f in fields(cls):
            cli = f.metadata or _cli()
            option = cli["option"] or f.name
            specs.append(OptionSpec(section, f.name, option, cli["flag"] or option.replace("_", "-"),
                                    cli["comma_list"], cli["old_flags"]))
    return tuple(specs)


def spec_of(field_path: str) -> OptionSpec:
    """The OptionSpec of "section.name"."""
    return next(s for s in option_specs() if s.field == field_path)


OLD_NAMES = {"train": {"coverage": "level"}}
"""Config keys of each section written by earlier seqcast versions -> their names now (still read)."""


def make_config(config: RunConfig | None = None, **overrides: Unpack[RunOptions]) -> RunConfig:
    """A RunConfig from defaults (or `config`) with flat overrides such as model="gru", lr=1e-3."""
    config = config or RunConfig()
    parts: dict[str, Any] = {"data": config.data, "model": config.model, "train": config.train}
    by_option = {s.option: s for s in option_specs()}
    for section_name, renames in OLD_NAMES.items():  # flat keywords of earlier versions
        by_option.update({old: spec_of(f"{section_name}.{new}") for old, new in renames.items()})
    changes: dict[str, dict[str, Any]] = {name: {} for name in parts}
    for key, value in overrides.items():
        spec = by_option.get(key)
        if spec is None:
            import difflib

            close = difflib.get_close_matches(key, [s.option for s in option_specs()], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown training option {key!r}{hint} (options: seqcast.config.RunOptions)")
        if spec.name in changes[spec.section]:
            raise ConfigError(f"give {key!r} once (an old and a new name of one option were both given)")
        changes[spec.section][spec.name] = value
    # One replace per section: its checks see the final values (--from and --to changed together).
    return RunConfig(**{name: dataclasses.replace(part, **changes[name]) for name, part in parts.items()})
