"""Narodowy Bank Polski: table A mid rates of foreign currencies in PLN.

Business days from 2002-01-02. One request may span at most 93 days, so a
longer range is fetched in consecutive chunks; a chunk without rates (holidays,
a currency not yet quoted) answers 404 and is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pandas as pd

from seqcast.config import check_date_range
from seqcast.data.series import between
from seqcast.data.sources import FetchRequest, FetchResult
from seqcast.data.sources._http import (
    HTTPSource,
    prepared_url,
    range_text,
    snippet,
)
from seqcast.data.sources.checks import check_series
from seqcast.errors import ConfigError, DownloadError, NoDataError, UnexpectedResponseError

if TYPE_CHECKING:
    import requests

DEFAULT_URL = "https://api.nbp.pl"
URL_ENV = "SEQCAST_NBP_URL"
FIRST_DAY = date(2002, 1, 2)
MAX_DAYS = 93
"""The most days (inclusive) NBP serves in one request."""


def warsaw_today(now: datetime | None = None) -> date:
    """Today's date in Warsaw: NBP answers 400 for a range that ends after its today."""
    now = now or datetime.now(timezone.utc)
    try:
        from zoneinfo import ZoneInfo

        return now.astimezone(ZoneInfo("Europe/Warsaw")).date()
    except (ImportError, KeyError, ValueError, OSError):  # no time zone database (ZoneInfoNotFoundError)
        return now.astimezone(timezone(timedelta(hours=1))).date()  # CET; CEST only moves midnight by 1 h


class NBPSource(HTTPSource):
    """Downloads NBP table A mid rates (xxxpln) from api.nbp.pl as JSON."""

    name = "nbp"
    description = "NBP table A mid rates in PLN, daily from 2002 (xxxpln)"
    service = "NBP"
    url_env = URL_ENV
    default_url = DEFAULT_URL

    def fetch(self, request: FetchRequest) -> FetchResult:
        symbol = request.symbol.strip().lower()
        match = re.fullmatch(r"([a-z]{3})pln", symbol)
        if not match or match.group(1) == "pln":
            raise ConfigError(
                f"the NBP source has only rates in PLN (symbols like eurpln, usdpln), "
                f"not {symbol!r}; for other currency pairs use --source ecb"
            )
        if request.interval != "d":
            raise ConfigError(
                f"NBP publishes daily rates only (interval d, not {request.interval!r}); "
                "for weekly or monthly bars use --source stooq"
            )
        code = match.group(1).upper()
        today = warsaw_today()
        start = max(request.start or FIRST_DAY, FIRST_DAY)
        end = min(request.end or today, today)
        check_date_range(request.start, request.end)
        if start > end:
            raise NoDataError(
                f"NBP table A has no rates for {code}{range_text(request.start, request.end)}; "
                f"its rates start on {FIRST_DAY} and end today"
            )

        rows: list[pd.DataFrame] = []
        chunks = list(date_chunks(start, end))
        urls = []
        for chunk_start, chunk_end in chunks:
            url = (f"{self.base_url}/api/exchangerates/rates/A/{code}/"
                   f"{chunk_start.isoformat()}/{chunk_end.isoformat()}/")
            params = {"format": "json"}
            urls.append(prepared_url(url, params))
            response = self.http.get(url, params, headers={"Accept": "application/json"})
            if response.status_code == 404:
                continue  # no rates in this chunk (holidays, currency not quoted then)
            if response.status_code == 400:
                raise DownloadError(
                    f"NBP rejected the request for {code} {chunk_start}..{chunk_end} "
                    f"({snippet(response.content, limit=120)!r}); check the symbol and dates"
                )
            self.http.raise_for_status(response)
            rows.append(parse_rates(response, code))
        if not rows or all(frame.empty for frame in rows):
            raise NoDataError(
                f"NBP table A has no rates for {code} between {start} and {end}; check the "
                "currency (table A has about 30, e.g. eur, usd, chf, gbp, jpy) or the date "
                "range, or try --source ecb"
            )
        frame = pd.concat(rows).sort_index()
        frame = frame[~frame.index.duplicated(keep="last")]
        check_series(frame, f"NBP's rates for {code}")
        frame = between(frame, request.start, request.end)
        if frame.empty:
            raise NoDataError(f"NBP table A has no rates for {code} between {start} and {end}")
        meta = {"provider": "Narodowy Bank Polski table A mid rate", "url": urls[0],
                "requests": len(chunks)}
        return FetchResult(frame, meta)


def date_chunks(start: date, end: date, max_days: int = MAX_DAYS) -> Iterator[tuple[date, date]]:
    """Consecutive inclusive (first, last) ranges of at most max_days covering start..end."""
    step = timedelta(days=max_days - 1)
    first = start
    while first <= end:
        last = min(first + step, end)
        yield first, last
        first = last + timedelta(days=1)


def parse_rates(response: requests.Response, code: str) -> pd.DataFrame:
    """NBP's {"rates": [{"effectiveDate": ..., "mid": ...}]} -> a Close series."""
    try:
        data: Any = response.json()
        rates = data["rates"]
        dates = pd.to_datetime([r["effectiveDate"] for r in rates], format="%Y-%m-%d")
        mids = [float(r["mid"]) for r in rates]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise UnexpectedResponseError(
            f"NBP answered for {code} with something that is not its rates JSON "
            f"({snippet(response.content)!r}); try again later"
        ) from exc
    return pd.DataFrame({"Close": mids}, index=pd.DatetimeIndex(dates, name="Date"), dtype=float)
