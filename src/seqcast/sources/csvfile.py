"""A CSV file saved by hand (stooq in a browser, a spreadsheet export)."""

from __future__ import annotations

from pathlib import Path

from seqcast.errors import ConfigError, CSVFormatError, NoDataError
from seqcast.series import between, read_price_csv
from seqcast.sources import FetchRequest, FetchResult
from seqcast.sources.checks import check_series


class CSVSource:
    """Imports a local CSV file; the request's options carry its path."""

    name = "csv"
    description = "a local CSV file (stooq EN/PL headers, Date,Close, ;-separated)"
    incremental = False
    positive_prices = False  # a file may hold a spread that goes to zero or below

    def fetch(self, request: FetchRequest) -> FetchResult:
        path = request.options.get("path")
        if not path:
            raise ConfigError("the csv source needs a file: seqcast fetch SYMBOL --csv FILE")
        whole = read_price_csv(path)
        frame = between(whole, request.start, request.end)
        if frame.empty:
            raise NoDataError(
                f"{path} has no rows in the requested date range; it covers "
                f"{whole.index[0].date()} .. {whole.index[-1].date()}: choose --from/--to within it"
            )
        # Zero and negative values are allowed: a file may hold a spread.
        check_series(frame, str(path), positive=False, error=CSVFormatError,
                     next_step="fix or remove that row in the file")
        return FetchResult(frame, {"file": str(Path(path).expanduser().resolve())})
