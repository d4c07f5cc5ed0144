"""A CSV file saved by hand (stooq in a browser, a spreadsheet export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqcast.data.series import between, read_price_csv
from seqcast.data.sources import FetchRequest, FetchResult
from seqcast.data.sources.checks import check_series
from seqcast.errors import ConfigError, CSVFormatError, NoDataError


class CSVSource:
    """Imports a local CSV file; the request's options carry its path (and date_format)."""

    name = "csv"
    description = "a local CSV file (stooq, yfinance, investing.com, Date,Close, spreadsheet exports)"
    incremental = False
    positive_prices = False  # a file may hold a spread that goes to zero or below

    def fetch(self, request: FetchRequest) -> FetchResult:
        path = request.options.get("path")
        if not path:
            raise ConfigError("the csv source needs a file: seqcast fetch SYMBOL --csv FILE")
        date_format = request.options.get("date_format")
        bar_date = request.options.get("bar_date")
        decimal = request.options.get("decimal")
        whole = read_price_csv(path, date_format=date_format, bar_date=bar_date, decimal=decimal)
        notes = list(whole.attrs.get("notes", []))
        frame = between(whole, request.start, request.end)
        if frame.empty:
            raise NoDataError(
                f"{path} has no rows in the requested date range; it covers "
                f"{whole.index[0].date()} .. {whole.index[-1].date()}: choose --from/--to within it"
            )
        # Zero and negative values are allowed: a file may hold a spread.
        check_series(frame, str(path), positive=False, error=CSVFormatError,
                     next_step="fix or remove that row in the file")
        meta: dict[str, Any] = {"file": str(Path(path).expanduser().resolve())}
        if date_format:
            meta["date_format"] = date_format  # how its dates were read, kept with the series
        if bar_date:
            meta["bar_date"] = bar_date
        if decimal:
            meta["decimal"] = decimal
        return FetchResult(frame, {**meta, "notes": notes})
