"""Ticker symbols: normalised and safe to use as file names (no pandas needed)."""

from __future__ import annotations

import re

from seqcast.errors import ConfigError

_SYMBOL_RE = re.compile(r"^[a-z0-9^._\-=]{1,40}$")


def normalise_symbol(symbol: str) -> str:
    """Lower-case a ticker and check it is safe to use as a file name."""
    if not isinstance(symbol, str):
        raise ConfigError(f"invalid symbol {symbol!r}; a symbol is text: letters, digits and . ^ _ - = "
                          "(e.g. eurpln, aapl.us, ^spx)")
    sym = symbol.strip().lower()
    if not _SYMBOL_RE.match(sym) or sym in {".", ".."} or sym.startswith("."):
        raise ConfigError(
            f"invalid symbol {symbol!r}; use letters, digits and . ^ _ - = "
            "(e.g. eurpln, aapl.us, ^spx)"
        )
    return sym
