"""stooq.pl / stooq.com daily, weekly and monthly history as CSV.

stooq answers almost everything with HTTP 200: the CSV, or a short plain-text
message (no data, daily limit, access denied, API key needed), or an HTML page
with a JavaScript browser check. Each body is classified before it is parsed,
and each case raises its own DownloadError subclass with the next step.
"""

from __future__ import annotations

import os
import re
from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import quote

from seqcast.config import check_date_range
from seqcast.data.series import between, normalise_symbol, parse_price_csv
from seqcast.data.sources import FetchRequest, FetchResult
from seqcast.data.sources._http import (
    HTTPSource,
    check_complete,
    prepared_url,
    range_text,
    redact_url,
    snippet,
)
from seqcast.data.sources.checks import check_series
from seqcast.errors import (
    AccessDeniedError,
    ApiKeyRequiredError,
    BrowserCheckError,
    ConfigError,
    CSVFormatError,
    DownloadError,
    NoDataError,
    RateLimitError,
    UnexpectedResponseError,
)

if TYPE_CHECKING:
    import pandas as pd

DOMAINS = {"pl": "https://stooq.pl", "com": "https://stooq.com"}
URL_ENV = "SEQCAST_STOOQ_URL"
APIKEY_ENV = "SEQCAST_STOOQ_APIKEY"
INTERVALS = ("d", "w", "m")
SYMBOL_EXAMPLES = "eurpln, usdpln, aapl.us, wig20, ^spx"

_NO_DATA = ("no data", "brak danych")
_LIMIT = ("exceeded the daily hits limit", "przekroczony dzienny limit")
_DENIED = ("access denied", "brak dostepu", "brak dostępu")
_BROWSER_CHECK = ("javascript", "verify", "browser", "captcha", "challenge")
_CSV_HEADER_RE = re.compile(r"^\ufeff?\s*(date|data)\s*[,;]", re.IGNORECASE)


class StooqSource(HTTPSource):
    """Downloads a symbol's history from stooq's CSV endpoint /q/d/l/."""

    name = "stooq"
    description = "stooq.pl/stooq.com daily/weekly/monthly prices (stocks, indices, FX)"
    service = "stooq"
    url_env = URL_ENV
    default_url = DOMAINS["pl"]  # unless overridden, the domain is chosen per request

    def fetch(self, request: FetchRequest) -> FetchResult:
        symbol = normalise_symbol(request.symbol)
        options = request.options
        domain = str(options.get("domain") or "pl").lower().lstrip(".")
        domain = domain.removeprefix("stooq.")
        if domain not in DOMAINS:
            raise ConfigError(f"unknown stooq domain {options.get('domain')!r}; use pl or com")
        if request.interval not in INTERVALS:
            raise ConfigError(
                f"unknown interval {request.interval!r} for stooq; use d (daily), w or m"
            )
        check_date_range(request.start, request.end)
        apikey = str(options.get("apikey") or os.environ.get(APIKEY_ENV) or "").strip()
        secrets = (apikey,) if apikey else ()

        base = self.base_url if self.base_url_overridden else DOMAINS[domain]
        url = f"{base}/q/d/l/"
        params = {"s": symbol, "i": request.interval}
        if request.start:
            params["d1"] = request.start.strftime("%Y%m%d")
        if request.end:
            params["d2"] = request.end.strftime("%Y%m%d")
        if apikey:
            params["apikey"] = apikey
        shown_url = redact_url(prepared_url(url, params))

        response = self.http.get(url, params)
        self.http.raise_for_status(response, secrets)
        body = response.content
        _classify(body, symbol, request.start, request.end, bool(apikey), secrets)
        check_complete(body, "stooq", repr(symbol))
        frame = _parse(body, symbol, secrets)
        check_series(frame, f"stooq's answer for {symbol!r}")
        frame = between(frame, request.start, request.end)
        if frame.empty:
            raise NoDataError(_no_data_message(symbol, request.start, request.end))
        meta = {"provider": f"stooq ({host_name(base)})", "url": shown_url,
                "interval": request.interval, "notes": list(frame.attrs.get("notes", []))}
        return FetchResult(frame, meta)


def host_name(base: str) -> str:
    return base.split("://", 1)[-1]


def _classify(
    body: bytes, symbol: str, start: date | None, end: date | None,
    has_key: bool, secrets: tuple[str, ...],
) -> None:
    """Raise the matching DownloadError unless body looks like stooq's CSV."""
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff")
    stripped = text.strip()
    lower = stripped.lower()
    first_line = lower.splitlines()[0] if lower else ""
    if not stripped:
        raise NoDataError(_no_data_message(symbol, start, end, empty=True))
    if _CSV_HEADER_RE.match(stripped):
        return
    asks_for_key = "get_apikey" in lower or "apikey" in lower or "api key" in lower
    is_html = lower.startswith("<") or "<html" in lower[:2048] or "<!doctype" in lower[:2048]
    if is_html and asks_for_key:
        # The key request as a web page mentions a captcha too: it is not a browser check.
        _raise_api_key(symbol, has_key)
    if is_html:
        if any(word in lower for word in _BROWSER_CHECK):
            raise BrowserCheckError(
                "stooq answered with a web page that checks for a browser (JavaScript), "
                f"not with CSV; {_browser_hint(symbol)}"
            )
        raise UnexpectedResponseError(
            f"stooq answered with an HTML page instead of CSV "
            f"({snippet(body, secrets)!r}); {_browser_hint(symbol)}"
        )
    if first_line.startswith(_NO_DATA):
        raise NoDataError(_no_data_message(symbol, start, end))
    if first_line.startswith(_LIMIT):
        raise RateLimitError(
            f"stooq's daily hits limit is exceeded ({snippet(body, secrets)!r}); wait until "
            f"tomorrow, or use --apikey KEY (or {APIKEY_ENV}); {_get_key_hint(symbol)}"
        )
    if first_line.startswith(_DENIED):
        raise AccessDeniedError(
            "stooq denied access ('Access denied'), maybe for your network or for too many "
            f"requests; try again later, or {_browser_hint(symbol)}"
        )
    if asks_for_key:
        _raise_api_key(symbol, has_key)
    raise UnexpectedResponseError(
        f"stooq answered with something that is not CSV ({snippet(body, secrets)!r}); "
        f"try again later, or {_browser_hint(symbol)}"
    )


def _raise_api_key(symbol: str, has_key: bool) -> None:
    if has_key:
        raise ApiKeyRequiredError(
            "stooq did not accept the API key (mistyped or expired?); "
            f"{_get_key_hint(symbol)}; or {_browser_hint(symbol)}"
        )
    raise ApiKeyRequiredError(
        f"stooq now asks for an API key; {_get_key_hint(symbol)}; "
        f"or {_browser_hint(symbol)}"
    )


def _parse(body: bytes, symbol: str, secrets: tuple[str, ...]) -> pd.DataFrame:
    """Parse a CSV body, reporting a cut-off download as DownloadError."""
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = [line for line in text.splitlines() if line.strip()]
    sep = ";" if ";" in lines[0] else ","
    n_fields = lines[0].count(sep) + 1
    if len(lines) < 2:
        raise NoDataError(
            f"stooq sent only the CSV header for {symbol!r}, no rows; check the date range"
        )
    counts = [line.count(sep) + 1 for line in lines[1:]]
    # The oldest rows of a long history may lack a column later rows have (^DJI has no volume
    # before 1938): a leading block of shorter rows, the newest rows complete, is no damage.
    leading = next((k for k, c in enumerate(counts) if c == n_fields), len(counts))
    header = [name.strip().strip("<>").lower() for name in lines[0].split(sep)]
    for number, count in enumerate(counts, start=2):
        optional = set(header[count:]) <= {"volume", "vol", "wolumen", "openint"}  # never Close
        short_old = number - 2 < leading and count < n_fields and leading < len(counts) and optional
        if count != n_fields and not short_old:
            raise DownloadError(
                f"the CSV from stooq for {symbol!r} looks truncated or damaged: line {number} "
                f"has {count} fields, the header {n_fields}; try again"
            )
    origin = f"stooq's CSV for {symbol!r}"
    try:
        return parse_price_csv(body, origin=origin)
    except CSVFormatError as exc:
        if not text.endswith(("\n", "\r")):
            raise DownloadError(
                f"the CSV from stooq for {symbol!r} looks cut off at the end ({exc}); try again"
            ) from exc
        # The parser's message ends with advice for a user's own file ("; check the date
        # column"); for a download only the fact counts, followed by the download's next step.
        fact = str(exc).split("; ")[0]
        raise UnexpectedResponseError(
            f"{snippet(fact, secrets, 200)}; nothing was stored; try again later, or "
            f"{_browser_hint(symbol)}"
        ) from exc


def _no_data_message(
    symbol: str, start: date | None, end: date | None, *, empty: bool = False
) -> str:
    said = "sent an empty answer" if empty else "has no data"
    return (
        f"stooq {said} for {symbol!r}{range_text(start, end)}; check the symbol "
        f"(e.g. {SYMBOL_EXAMPLES}) or the date range"
    )


def _is_currency_pair(symbol: str) -> bool:
    return re.fullmatch(r"[a-z]{6}", symbol) is not None


def _get_key_hint(symbol: str) -> str:
    return (
        f"to get a key open https://stooq.com/q/d/?s={quote(symbol, safe='.-_')}&get_apikey "
        f"in a browser and solve the captcha, then pass --apikey KEY or set {APIKEY_ENV}"
    )


def _browser_hint(symbol: str) -> str:
    hint = (
        "download the CSV in a browser "
        f"(https://stooq.com/q/d/?s={quote(symbol, safe='.-_')}) and run "
        f"`seqcast fetch {symbol} --csv FILE`"
    )
    if _is_currency_pair(symbol):
        hint += "; for a currency pair you can also use --source ecb or --source nbp"
    return hint
