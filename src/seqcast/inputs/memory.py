"""Series held in Python (pandas), checked as a CSV import is, and a store that holds them in memory.

seqcast.fit trains on a MemoryStore: the same seqcast.inputs.loading.input_from that reads the
workspace's Store reads it, so a run on data held in memory gets the same rows, inputs and
numbers as `seqcast fetch SYMBOL --csv FILE` + `seqcast train` on the same data, and nothing is
written. Every frame passes through the very CSV text the store would write (to_csv_text, then
parse_price_csv), so its values, dtypes and checksum are the stored series' ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from seqcast.errors import ConfigError, DataError, SeriesNotFoundError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SOURCE = "python"
"""The source name of a series given from Python (seqcast.fit); Fitted.save stores it under it."""
DEFAULT_SYMBOL = "series"
"""The symbol of a Series without a name (and of a DataFrame) when fit gets no symbol="""

_EXTRA_COLUMNS = ("Open", "High", "Low", "Volume")
_NEXT_STEP = ("fix or drop the rows it names (series.dropna() drops missing values, "
              "series[~series.index.duplicated()] repeated dates) and try again")


@dataclass
class MemorySeries:
    """A checked series in memory with the interface of data.store.StoredSeries (meta, load, load_close)."""

    meta: dict[str, Any]
    frame: pd.DataFrame
    """Indexed by a sorted unique DatetimeIndex named Date; Close and any of Open/High/Low/Volume."""
    csv_text: str
    """The CSV text the workspace's store would write for it (Fitted.save writes the same)."""

    @property
    def symbol(self) -> str:
        return str(self.meta["symbol"])

    @property
    def source(self) -> str:
        return str(self.meta["source"])

    def load(self) -> pd.DataFrame:
        return self.frame.copy()

    def load_close(self) -> tuple[np.ndarray, np.ndarray]:
        """(dates as datetime64[D], Close as float64), as StoredSeries.load_close reads them."""
        import numpy as np

        return (self.frame.index.to_numpy(dtype="datetime64[D]"),
                self.frame["Close"].to_numpy(dtype=np.float64))


class MemoryStore:
    """Series by (symbol, source), with the reading half of data.store.Store's interface."""

    def __init__(self, series: list[MemorySeries]) -> None:
        self.series = list(series)

    def list(self) -> list[MemorySeries]:
        return list(self.series)

    def get(self, symbol: str, source: str | None = None) -> MemorySeries:
        from seqcast.data.symbols import normalise_symbol

        symbol = normalise_symbol(symbol)
        for s in self.series:
            if s.symbol == symbol and source in (None, s.source):
                return s
        names = ", ".join(s.symbol for s in self.series)
        raise SeriesNotFoundError(f"no series {symbol!r} was given (the series given: {names})")

    def latest(self, source: str | None = None) -> MemorySeries:
        return self.series[0]  # the target comes first


def _symbol_of(name: Any, what: str) -> str:
    from seqcast.data.symbols import normalise_symbol

    if not isinstance(name, str):
        raise ConfigError(f"the {what} needs a name (a symbol such as eurpln, aapl.us), got {name!r}; "
                          "name it: series.rename('eurpln'), or pass symbol='eurpln'")
    return normalise_symbol(name)


def checked_frame(y: Any, origin: str) -> pd.DataFrame:
    """y (a Series of closes or a DataFrame with Close) as a series frame, checked as a CSV import.

    Raises ConfigError for something that is not pandas data, DataError for data that fails the
    checks: no DatetimeIndex, no Close column, values that are not numbers, a date given twice,
    NaN or infinite values, dates before 1900 or in the future.
    """
    import pandas as pd

    from seqcast.data.sources.checks import check_series

    if isinstance(y, pd.Series):
        frame = y.to_frame("Close")
    elif isinstance(y, pd.DataFrame):
        by_lower = {str(c).strip().lower(): c for c in y.columns}
        if "close" not in by_lower:
            shown = ", ".join(str(c) for c in list(y.columns)[:8]) or "none"
            raise DataError(f"{origin} has no Close column (its columns: {shown}); pass a DataFrame with "
                            "Close (and Open, High, Low, Volume for features), or a Series of closes")
        keep = {by_lower[c.lower()]: c for c in ("Close", *_EXTRA_COLUMNS) if c.lower() in by_lower}
        frame = y[list(keep)].rename(columns=keep)
    else:
        raise ConfigError(f"{origin} must be a pandas Series of closes with a DatetimeIndex, or a DataFrame "
                          f"with a Close column; got {type(y).__name__}")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise DataError(f"{origin} is not indexed by dates (its index is a {type(frame.index).__name__}); "
                        "give it a DatetimeIndex, e.g. series.index = pd.to_datetime(series.index)")
    if len(frame) == 0:
        raise DataError(f"{origin} is empty; give a series with rows")
    for column in frame.columns:
        if not (pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column])):
            raise DataError(f"{origin}: the {column} values are {frame[column].dtype}, not numbers; convert "
                            "them, e.g. pd.to_numeric(series)")
    index = frame.index
    if index.tz is not None:  # the dates as the market wrote them (yfinance: the exchange's zone)
        index = index.tz_localize(None)
    frame = frame.set_axis(index.normalize().rename("Date"), axis=0).astype("float64")
    frame = check_series(frame, origin, positive=False, error=DataError, next_step=_NEXT_STEP)
    return frame.sort_index()


def memory_series(y: Any, symbol: str, origin: str) -> MemorySeries:
    """A checked MemorySeries of y named symbol (source SOURCE), through the store's CSV text."""
    from seqcast.data.series import parse_price_csv, to_csv_text

    text = to_csv_text(checked_frame(y, origin))
    frame = parse_price_csv(text, origin=origin)
    meta = {"symbol": symbol, "source": SOURCE, "interval": "d", "rows": len(frame),
            "first": str(frame.index[0].date()), "last": str(frame.index[-1].date()),
            "columns": list(frame.columns), "sha256": hashlib.sha256(text.encode("ascii")).hexdigest()}
    return MemorySeries(meta, frame, text)


def memory_store(y: Any, covariates: Mapping[str, Any] | None, symbol: Any) -> MemoryStore:
    """The target (first) and the covariates of seqcast.fit, checked; the covariates' names are their symbols."""
    import pandas as pd

    if symbol is None:
        symbol = y.name if isinstance(y, pd.Series) and y.name is not None else DEFAULT_SYMBOL
    target_symbol = _symbol_of(symbol, "series")
    target = memory_series(y, target_symbol, f"the series {target_symbol!r}")
    if covariates is None:
        covariates = {}
    if not isinstance(covariates, Mapping):
        raise ConfigError("covariates= maps a name to a pandas Series, e.g. {'eurpln_stooq': close}; got "
                          f"{type(covariates).__name__} (stored series are named in seqcast.train(covariates=[...]))")
    series = [target]
    for name, value in covariates.items():
        cov_symbol = _symbol_of(name, "covariate")
        if cov_symbol in (s.symbol for s in series):
            raise ConfigError(f"covariate {cov_symbol!r} has the name of the "
                              f"{'target' if cov_symbol == target.symbol else 'another covariate'}; "
                              "give each series its own name")
        series.append(memory_series(value, cov_symbol, f"covariate {cov_symbol}"))
    return MemoryStore(series)


def covariate_specs(store: MemoryStore) -> list[str]:
    """The covariates of a memory store as DataConfig.covariates spells them (SYMBOL:SOURCE)."""
    return [f"{s.symbol}:{s.source}" for s in store.series[1:]]
