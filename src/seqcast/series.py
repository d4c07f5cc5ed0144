"""Price series: reading and checking date-indexed CSV files.

A series is a pandas DataFrame indexed by a sorted, unique DatetimeIndex named
"Date" with at least a float "Close" column (Open/High/Low/Volume when the
source has them). The reader understands stooq's English and Polish headers,
a plain Date,Close file, CRLF or LF, a UTF-8 BOM, and a spreadsheet export with
semicolons and decimal commas.
"""

from __future__ import annotations

import csv
import errno
import io
import warnings
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from seqcast import safeio
from seqcast.errors import CSVFormatError
from seqcast.symbols import normalise_symbol

__all__ = ["COLUMNS", "between", "normalise_symbol", "parse_price_csv", "read_price_csv",
           "to_csv_text"]

COLUMNS = ("Open", "High", "Low", "Close", "Volume")
MAX_BYTES = safeio.MAX_CSV_BYTES  # 100 MB is decades of minute bars; a daily file is < 1 MB

_HEADER_ALIASES = {
    "date": "Date",
    "data": "Date",
    "datum": "Date",
    "day": "Date",
    "time_period": "Date",
    "open": "Open",
    "otwarcie": "Open",
    "high": "High",
    "najwyzszy": "High",
    "najwyższy": "High",
    "low": "Low",
    "najnizszy": "Low",
    "najniższy": "Low",
    "close": "Close",
    "zamkniecie": "Close",
    "zamknięcie": "Close",
    "price": "Close",
    "rate": "Close",
    "value": "Close",
    "obs_value": "Close",
    "volume": "Volume",
    "wolumen": "Volume",
    "vol": "Volume",
}
_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%d.%m.%Y", "%Y/%m/%d", "%d/%m/%Y")
_STOOQ_BODIES = ("no data", "brak danych", "exceeded the daily hits limit",
                 "przekroczony dzienny limit", "access denied", "get your apikey")


def read_price_csv(path: Path | str) -> pd.DataFrame:
    """Read a price CSV file from disk into a checked series."""
    path = Path(path).expanduser()
    origin = str(path)
    if path.is_dir():
        raise CSVFormatError(f"{origin} is a folder, not a CSV file; give the path of the file itself")
    try:
        # A link the user named is followed; a FIFO or device is refused, not waited on.
        data = safeio.read_bytes(path, max_bytes=MAX_BYTES, follow_links=True)
    except safeio.RefusedFile as exc:
        if exc.errno == errno.EFBIG:
            raise CSVFormatError(
                f"{origin} {(exc.strerror or '').replace('such a file', 'a daily price file')}; "
                "check that it is the right file"
            ) from None
        raise CSVFormatError(f"{origin} {exc.strerror}; give the path of a CSV file") from None
    except FileNotFoundError:
        raise CSVFormatError(f"{origin} does not exist; check the path") from None
    except OSError as exc:
        raise CSVFormatError(f"cannot read {origin}: {exc.strerror or exc}") from exc
    return parse_price_csv(data, origin=origin)


def parse_price_csv(data: bytes | str, *, origin: str = "CSV") -> pd.DataFrame:
    """Parse CSV text (stooq EN/PL, Date,Close, or ;-separated with decimal commas)."""
    text = _decode(data, origin)
    stripped = text.strip()
    if not stripped:
        raise CSVFormatError(f"{origin} is empty; expected a header such as Date,Close")
    head = stripped[:2048].lower()
    if head.startswith("<") or "<html" in head or "<!doctype" in head:
        raise CSVFormatError(
            f"{origin} is an HTML page, not CSV; save the CSV file itself "
            "(stooq: the 'Download data in csv file' link)"
        )
    first_line = stripped.splitlines()[0]
    if any(first_line.lower().startswith(body) for body in _STOOQ_BODIES):
        raise CSVFormatError(
            f"{origin} holds stooq's message {first_line.strip()[:60]!r}, not prices; "
            "download the file again (check the symbol and date range)"
        )

    sep, decimal = _dialect(first_line)
    header = [_normalise(name) for name in first_line.split(sep)]
    names = [_HEADER_ALIASES.get(name, name) for name in header]
    if "Date" not in names or "Close" not in names:
        raise CSVFormatError(
            f"{origin}: unknown header {first_line.strip()[:80]!r}; expected "
            "Date,Open,High,Low,Close[,Volume] (stooq), "
            "Data,Otwarcie,Najwyzszy,Najnizszy,Zamkniecie[,Wolumen] or Date,Close"
        )
    try:
        with warnings.catch_warnings():
            # pandas only warns (and drops the extra fields) when a row is longer than
            # the header, e.g. a decimal comma in a comma-separated file: 4,3210 -> 4.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            raw = pd.read_csv(
                io.StringIO(stripped), sep=sep, dtype=str, keep_default_na=False,
                skipinitialspace=True, header=0, names=names, index_col=False,
                on_bad_lines="error", engine="python",
            )
    except pd.errors.ParserWarning:
        raise CSVFormatError(
            f"{origin}: some rows have more fields than the header {first_line.strip()[:80]!r}; "
            f"check the separator ({sep!r}) and that numbers use a decimal point"
        ) from None
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        raise CSVFormatError(f"{origin}: not a well-formed CSV table ({_first_line(exc)})") from exc
    if raw.empty:
        raise CSVFormatError(
            f"{origin} has a header but no data rows; check that the file is complete, or save it again"
        )
    raw = raw.fillna("")  # fields missing from a short row read as empty, not NaN

    dates = _parse_dates(raw["Date"], origin)
    frame = pd.DataFrame(index=pd.DatetimeIndex(dates, name="Date"))
    for col in COLUMNS:
        if col in raw.columns:
            frame[col] = _parse_numbers(raw[col], col, decimal, origin, required=col == "Close")
    return _check(frame, origin)


def _decode(data: bytes | str, origin: str) -> str:
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    if b"\x00" in data[:8192]:
        raise CSVFormatError(
            f"{origin} is a binary file, not CSV text; save the prices as CSV (e.g. from a "
            "spreadsheet: Save as CSV) and try again"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # Polish spreadsheets often save in Windows-1250.
        return data.decode("cp1250")
    except UnicodeDecodeError:
        raise CSVFormatError(
            f"{origin} is not text (neither UTF-8 nor Windows-1250); save it as CSV in UTF-8 and try again"
        ) from None


def _dialect(header: str) -> tuple[str, str]:
    if ";" in header:
        return ";", ","  # spreadsheet export: semicolons, decimal commas
    if "\t" in header and "," not in header:
        return "\t", "."
    return ",", "."


def _normalise(name: str) -> str:
    return name.strip().strip('"').strip("'").strip().lower().replace(" ", "_")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _parse_dates(column: pd.Series, origin: str) -> pd.DatetimeIndex:
    values = column.str.strip()
    for fmt in _DATE_FORMATS:
        parsed = pd.to_datetime(values, format=fmt, errors="coerce")
        if parsed.notna().all():
            return pd.DatetimeIndex(parsed)
    # Report the first row that the most successful format could not read.
    best = max(
        (pd.to_datetime(values, format=fmt, errors="coerce") for fmt in _DATE_FORMATS),
        key=lambda p: int(p.notna().sum()),
    )
    bad = int(np.flatnonzero(best.isna().to_numpy())[0])
    raise CSVFormatError(
        f"{origin}, line {bad + 2}: cannot read the date {values.iloc[bad][:30]!r}; "
        "expected YYYY-MM-DD"
    )


_MISSING = {"", "n/a", "na", "nan", "null", "none", "-", "#n/a"}


def _parse_numbers(column: pd.Series, name: str, decimal: str, origin: str, *, required: bool) -> np.ndarray:
    text = column.str.strip()
    if decimal == ",":
        text = text.str.replace(r"\s", "", regex=True)
        # Dots are thousands separators only next to decimal commas (1.234,5) or when
        # repeated (1.234.567); a column like 4.3210 keeps its decimal point.
        if text.str.contains(",", regex=False).any() or text.str.count(r"\.").gt(1).any():
            text = text.str.replace(".", "", regex=False)
        text = text.str.replace(",", ".", regex=False)
    missing = text.str.lower().isin(_MISSING).to_numpy()
    numbers = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(numbers) & ~missing
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CSVFormatError(
            f"{origin}, line {i + 2}: {name} is {column.iloc[i][:30]!r}, not a number; "
            "fix or remove that row"
        )
    if required and missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise CSVFormatError(
            f"{origin}, line {i + 2}: {name} is empty or N/A ({int(missing.sum())} such rows); "
            "remove or fill those rows"
        )
    if not np.isfinite(numbers[~missing]).all():
        i = int(np.flatnonzero(~np.isfinite(numbers) & ~missing)[0])
        raise CSVFormatError(
            f"{origin}, line {i + 2}: {name} is not a finite number; fix or remove that row"
        )
    return numbers


def _check(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    dup = frame.index.duplicated(keep=False)
    if dup.any():
        dups = frame[dup]
        conflicting = dups.groupby(level=0).nunique(dropna=False).gt(1).any(axis=1)
        if conflicting.any():
            day = conflicting[conflicting].index[0].date()
            raise CSVFormatError(
                f"{origin}: the date {day} appears more than once with different values; "
                "keep one row per date"
            )
        frame = frame[~frame.index.duplicated(keep="first")]
    frame = frame.sort_index()
    tomorrow = pd.Timestamp(date.today() + timedelta(days=1))
    if frame.index[-1] > tomorrow:
        raise CSVFormatError(
            f"{origin}: the date {frame.index[-1].date()} is in the future; check the date column"
        )
    return frame


def between(frame: pd.DataFrame, start: date | None, end: date | None) -> pd.DataFrame:
    """Rows whose date lies in [start, end]; None leaves that side open."""
    if start is not None:
        frame = frame[frame.index >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[frame.index <= pd.Timestamp(end)]
    return frame


def to_csv_text(frame: pd.DataFrame) -> str:
    """Serialise a series as Date,<columns> CSV with LF line ends."""
    out = frame.copy()
    out.index = out.index.strftime("%Y-%m-%d")
    out.index.name = "Date"
    return out.to_csv(lineterminator="\n")
