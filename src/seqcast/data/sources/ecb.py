"""The ECB's euro foreign exchange reference rates (daily, from 1999).

The ECB publishes EUR against about 30 currencies (series EXR D.XXX.EUR.SP00.A,
units of XXX per euro). Other pairs are derived: xxxeur = 1 / eurxxx, and a
cross xxxyyy = euryyy / eurxxx on the dates both are published. Only daily
data; for weekly or monthly bars use stooq.
"""

from __future__ import annotations

import io
import re
from datetime import date

import numpy as np
import pandas as pd

from seqcast.config import check_date_range
from seqcast.data.formats import MISSING
from seqcast.data.series import between
from seqcast.data.sources import FetchRequest, FetchResult
from seqcast.data.sources._http import (
    HTTPSource,
    check_complete,
    is_framed,
    prepared_url,
    range_text,
    snippet,
)
from seqcast.data.sources.checks import check_series
from seqcast.errors import ConfigError, NoDataError, UnexpectedResponseError

DEFAULT_URL = "https://data-api.ecb.europa.eu"
URL_ENV = "SEQCAST_ECB_URL"
CURRENCY_EXAMPLES = "usd, pln, gbp, chf, jpy, czk, huf, sek"
_REQUIRED_COLUMNS = ("CURRENCY", "TIME_PERIOD", "OBS_VALUE")


class ECBSource(HTTPSource):
    """Downloads ECB reference rates as csvdata from the ECB Data Portal API."""

    name = "ecb"
    description = "ECB euro reference rates, daily from 1999 (eurxxx; crosses derived)"
    service = "the ECB"
    url_env = URL_ENV
    default_url = DEFAULT_URL

    def fetch(self, request: FetchRequest) -> FetchResult:
        symbol = request.symbol.strip().lower()
        if not re.fullmatch(r"[a-z]{6}", symbol):
            raise ConfigError(
                f"the ECB source takes currency pairs such as eurpln or usdpln, not {symbol!r}; "
                "for stocks and indices use --source stooq"
            )
        base, quote = symbol[:3].upper(), symbol[3:].upper()
        if base == quote:
            raise ConfigError(f"{symbol!r} pairs a currency with itself")
        if request.interval != "d":
            raise ConfigError(
                f"the ECB publishes daily rates only (interval d, not {request.interval!r}); "
                "for weekly or monthly bars use --source stooq"
            )
        check_date_range(request.start, request.end)

        needed = sorted({base, quote} - {"EUR"})
        url = f"{self.base_url}/service/data/EXR/D.{'+'.join(needed)}.EUR.SP00.A"
        params = {}
        if request.start:
            params["startPeriod"] = request.start.isoformat()
        if request.end:
            params["endPeriod"] = request.end.isoformat()
        params["format"] = "csvdata"
        meta = {"provider": "European Central Bank reference rate",
                "url": prepared_url(url, params)}

        response = self.http.get(url, params)
        if response.status_code == 404 or (response.ok and not response.content.strip()):
            raise NoDataError(_no_data_message(needed, request.start, request.end))
        self.http.raise_for_status(response)
        # (date, currency) -> units per euro
        rates = parse_csvdata(response.content, framed=is_framed(response.headers))
        for currency in needed:
            if currency not in rates.columns or rates[currency].dropna().empty:
                raise NoDataError(_no_data_message([currency], request.start, request.end))

        if base == "EUR":
            close = rates[quote]
        elif quote == "EUR":
            close = 1.0 / rates[base]
            meta["derived"] = f"{symbol} = 1 / eur{base.lower()} (ECB reference rates)"
        else:
            close = rates[quote] / rates[base]
            meta["derived"] = (
                f"{symbol} = eur{quote.lower()} / eur{base.lower()} (ECB reference rates)"
            )
        frame = close.dropna().to_frame("Close")
        check_series(frame, f"the ECB's rates for {symbol}")
        frame = between(frame, request.start, request.end)
        if frame.empty:
            raise NoDataError(
                f"the ECB rates for {base} and {quote} have no common dates"
                f"{range_text(request.start, request.end)}; widen the date range"
            )
        return FetchResult(frame, meta)


def parse_csvdata(body: bytes | str, *, framed: bool = False) -> pd.DataFrame:
    """ECB csvdata -> one float column per CURRENCY, indexed by "Date", empty values dropped.

    framed: the transfer announced its length (Content-Length or chunked), which
    urllib3 checked; otherwise the body must end with a line end, or it was cut off.
    """
    text = body.decode("utf-8-sig", errors="replace") if isinstance(body, bytes) else body
    head = text.lstrip()[:200].lower()
    if head.startswith("<") or "<html" in head:
        raise UnexpectedResponseError(
            f"the ECB answered with an HTML page, not CSV ({snippet(text)!r}); try again later"
        )
    # Only an unframed answer (ended by closing the connection) can be cut off unnoticed.
    check_complete(text.encode("utf-8"), "the ECB", "its reference rates", line_end=not framed)
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise UnexpectedResponseError(
            f"the ECB answer is not a readable CSV table ({snippet(text)!r}); try again later"
        ) from exc
    missing = [col for col in _REQUIRED_COLUMNS if col not in raw.columns]
    if missing:
        raise UnexpectedResponseError(
            f"the ECB answer lacks the column(s) {', '.join(missing)} "
            f"({snippet(text)!r}); try again later"
        )
    values = raw["OBS_VALUE"].str.strip()
    absent = values.str.lower().isin(MISSING)
    numbers = pd.to_numeric(values.where(~absent), errors="coerce")
    bad = numbers.isna() & ~absent
    if bad.any():
        row = raw[bad].iloc[0]
        raise UnexpectedResponseError(
            f"the ECB answer has a value {row['OBS_VALUE'][:30]!r} for {row['CURRENCY']} on "
            f"{row['TIME_PERIOD']} that is not a number; try again later"
        )
    dates = pd.to_datetime(raw["TIME_PERIOD"].str.strip(), format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        bad_date = raw["TIME_PERIOD"][dates.isna()].iloc[0]
        raise UnexpectedResponseError(
            f"the ECB answer has a TIME_PERIOD {bad_date[:30]!r} that is not a day "
            "(YYYY-MM-DD); only daily series are supported"
        )
    long = pd.DataFrame({
        "Date": dates, "currency": raw["CURRENCY"].str.strip().str.upper(), "value": numbers,
    })
    long = long[long["value"].notna()]  # published as empty or NaN: no rate that day
    implausible = ~np.isfinite(long["value"]) | (long["value"] <= 0)
    if implausible.any():
        row = long[implausible].iloc[0]
        raise UnexpectedResponseError(
            f"the ECB answer has the rate {float(row['value'])!r} for {row['currency']} on "
            f"{row['Date'].date()}, not a positive number; nothing was stored, try again later"
        )
    long = long.drop_duplicates()
    clash = long.duplicated(["Date", "currency"], keep=False)
    if clash.any():
        row = long[clash].iloc[0]
        raise UnexpectedResponseError(
            f"the ECB answer has two different rates for {row['currency']} on {row['Date'].date()}; "
            "nothing was stored, try again later"
        )
    wide = long.pivot(index="Date", columns="currency", values="value").sort_index()
    wide.index.name = "Date"
    wide.columns.name = None
    return wide.astype(float)


def _no_data_message(currencies: list[str], start: date | None, end: date | None) -> str:
    names = " and ".join(currencies)
    return (
        f"the ECB has no euro reference rate for {names}{range_text(start, end)}; check the "
        f"currency (the ECB publishes about 30, e.g. {CURRENCY_EXAMPLES}) or the date range "
        "(daily from 1999-01-04, business days only)"
    )
