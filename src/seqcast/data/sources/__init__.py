"""Data sources: a small interface and a registry by name.

A source turns a FetchRequest into a series (see seqcast.data.series). Adding one is
a module with a class that has `name`, `incremental` and `fetch()`, plus one
line in _REGISTRY. Sources are imported only when used, so the CLI starts fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, Protocol

from seqcast.errors import UnknownSourceError

if TYPE_CHECKING:
    import pandas as pd

Interval = Literal["d", "w", "m"]


@dataclass(frozen=True)
class FetchRequest:
    """What to fetch: a symbol, an optional inclusive date range, an interval."""

    symbol: str
    start: date | None = None
    end: date | None = None
    interval: Interval = "d"
    options: dict[str, Any] = field(default_factory=dict)
    """Source-specific settings (csv: path; stooq: apikey, domain; synthetic: length, noise, period, seed)."""


@dataclass
class FetchResult:
    """A fetched series plus notes worth keeping in the store's metadata."""

    frame: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    """What every data source provides."""

    name: str
    description: str
    incremental: bool
    """True when a later fetch may ask only for the newest days (remote APIs)."""
    # Optional: positive_prices = False lets zero and negative prices through check_series
    # (a spread); the store assumes True for a source that does not say.

    def fetch(self, request: FetchRequest) -> FetchResult: ...


# name -> "module:Class"; imported lazily.
_REGISTRY: dict[str, str] = {
    "sample": "seqcast.data.sources.sample:SampleSource",
    "csv": "seqcast.data.sources.csvfile:CSVSource",
    "stooq": "seqcast.data.sources.stooq:StooqSource",
    "ecb": "seqcast.data.sources.ecb:ECBSource",
    "nbp": "seqcast.data.sources.nbp:NBPSource",
    "synthetic": "seqcast.data.sources.synthetic:SyntheticSource",
    "python": "seqcast.data.sources.memory:MemorySource",
}


def source_names() -> list[str]:
    """Names of all registered sources."""
    return list(_REGISTRY)


def register_source(name: str, target: str) -> None:
    """Register a source class given as "module:Class" (for plug-ins and tests)."""
    _REGISTRY[name] = target


def get_source(name: str, **kwargs: Any) -> Source:
    """Instantiate the source registered under name."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise UnknownSourceError(
            f"unknown source {name!r}; choose one of: {', '.join(_REGISTRY)}"
        ) from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    source: Source = cls(**kwargs)
    return source
