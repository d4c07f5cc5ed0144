"""The bundled sample: the ECB's daily EUR/PLN reference rate, no network needed."""

from __future__ import annotations

import gzip
from importlib import resources
from typing import TYPE_CHECKING

from seqcast.data.series import between, parse_price_csv
from seqcast.data.sources import FetchRequest, FetchResult
from seqcast.data.sources.checks import check_series
from seqcast.errors import NoDataError

if TYPE_CHECKING:
    import pandas as pd

SAMPLES = {"eurpln": "eurpln_ecb.csv.gz"}


class SampleSource:
    """Real series shipped inside the package (built by scripts/build_sample.py)."""

    name = "sample"
    description = "bundled ECB EUR/PLN reference rate 1999-2026, offline"
    incremental = False

    def fetch(self, request: FetchRequest) -> FetchResult:
        try:
            file_name = SAMPLES[request.symbol]
        except KeyError:
            raise NoDataError(
                f"no bundled sample for {request.symbol!r}; the sample has: "
                f"{', '.join(SAMPLES)} (other symbols: --source stooq, ecb, nbp or --csv FILE)"
            ) from None
        raw = resources.files("seqcast.data").joinpath(file_name).read_bytes()
        frame = parse_price_csv(gzip.decompress(raw), origin=f"sample {file_name}")
        frame = between(frame, request.start, request.end)
        if frame.empty:
            raise NoDataError(f"the sample {request.symbol} has no rows in the requested range")
        check_series(frame, f"the sample {request.symbol}")
        return FetchResult(frame, {"provider": "European Central Bank reference rate"})



def sample_series(symbol: str = "eurpln") -> pd.Series:
    """A bundled sample as a pandas Series of closes named `symbol`, indexed by date (DatetimeIndex
    "Date"), ready for seqcast.fit; "eurpln": the ECB's EUR/PLN reference rate (PLN per EUR) from
    1999, offline. Raises NoDataError for a symbol the sample does not have."""
    from seqcast.data.symbols import normalise_symbol

    symbol = normalise_symbol(symbol)
    close: pd.Series = SampleSource().fetch(FetchRequest(symbol)).frame["Close"].rename(symbol)
    return close
