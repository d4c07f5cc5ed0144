"""Price series: reading and checking date-indexed CSV files.

A series is a pandas DataFrame indexed by a sorted, unique DatetimeIndex named
"Date" with at least a float "Close" column (Open/High/Low/Volume when the
source has them). The reader understands stooq's English, Polish and bulk
headers, a plain Date,Close file, yfinance and investing.com exports, spreadsheet
exports with semicolons or tabs and decimal commas, CRLF, LF or CR line ends,
UTF-8 (with or without a BOM), UTF-16 and Windows-1250. How dates and numbers are
written is decided for the whole file in seqcast.data.formats.
"""

from __future__ import annotations

import codecs
import csv
import errno
import io
import re
from datetime import date
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from seqcast import fileio
from seqcast.data.formats import check_date_format, parse_dates, parse_numbers
from seqcast.data.symbols import normalise_symbol
from seqcast.errors import CSVFormatError

__all__ = ["COLUMNS", "between", "normalise_symbol", "parse_price_csv", "read_price_csv",
           "to_csv_text"]

COLUMNS = ("Open", "High", "Low", "Close", "Volume")
MAX_BYTES = fileio.MAX_CSV_BYTES  # 100 MB is decades of minute bars; a daily file is < 1 MB

_HEADER_ALIASES = {
    "date": "Date",
    "data": "Date",
    "datum": "Date",
    "day": "Date",
    "datetime": "Date",
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
    "ostatnio": "Close",  # pl.investing.com: Ostatnio, Otwarcie, Max., Min., Wol.
    "max": "High",
    "min": "Low",
    "wol": "Volume",
    "ticker": "Ticker",
    "per": "Period",
    "kurs": "Close",  # bankier.pl / NBP archives: Data;Kurs;Zmiana;Nazwa Tabeli
    "kurs_średni": "Close",
    "kurs_sredni": "Close",
    "tickvol": "TickVolume",  # MetaTrader: <TICKVOL> next to a <VOL> that brokers leave at 0 for FX
    "tick_volume": "TickVolume",
    "time": "Time",  # MetaTrader's and stooq's bulk <TIME>
}
_MAX_TITLE_LINES = 30  # lines searched for the header above the table (a portal's title, its period)
_STOOQ_BODIES = ("no data", "brak danych", "exceeded the daily hits limit",
                 "przekroczony dzienny limit", "access denied", "get your apikey")


def read_price_csv(path: Path | str, *, date_format: str | None = None, bar_date: str | None = None,
                   decimal: str | None = None) -> pd.DataFrame:
    """Read a price CSV file from disk into a checked series (date_format, bar_date: see parse_price_csv).

    The frame's attrs["notes"] lists what was read otherwise than row for row (see parse_price_csv).
    """
    path = Path(path).expanduser()
    origin = str(path)
    if path.is_dir():
        raise CSVFormatError(f"{origin} is a folder, not a CSV file; give the path of the file itself")
    try:
        # A link the user named is followed; a FIFO or device is refused, not waited on.
        data = fileio.read_bytes(path, max_bytes=MAX_BYTES, follow_links=True)
    except fileio.RefusedFile as exc:
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
    return parse_price_csv(data, origin=origin, date_format=date_format, bar_date=bar_date, decimal=decimal)


def parse_price_csv(data: bytes | str, *, origin: str = "CSV", date_format: str | None = None,
                    bar_date: str | None = None, settle: bool = True, decimal: str | None = None) -> pd.DataFrame:
    """Parse price CSV text into a checked series.

    Reads stooq (English, Polish, bulk <TICKER>,<PER>,<DATE>,... files), Date,Close, yfinance
    (one or three header rows), investing.com exports, spreadsheet exports (`;` or tab,
    decimal commas, UTF-16 "Unicode text"), MetaTrader "Bars" exports and portal archives with
    title and footer lines around the table (bankier.pl: Data;Kurs;...). `date_format` ("dmy",
    "mdy" or "ymd") settles dates that read both day- and month-first, `bar_date` ("written",
    "next") the trading day of bars stamped with a time of day, `decimal` ("point", "comma") the
    prices' decimal separator where the numbers read two ways (see seqcast.data.formats).

    With settle (not for the store's own files), bars that are no trading day are settled
    (seqcast.data.bars: a broker's Sunday stubs merged into Monday, weekend and holiday fillers
    left out) and rows from 1800-1899 left out. attrs["notes"] lists each such step as
    {"kind", "message", ...}: the rows (dates, count) and what to do otherwise.
    """
    notes: list[dict[str, Any]] = []
    date_format = check_date_format(date_format)
    text = _decode(data, origin)
    # CR-only line ends (old Mac spreadsheets) and CRLF both become LF.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    stripped = text.strip()
    if not stripped:
        raise CSVFormatError(f"{origin} is empty; expected a header such as Date,Close")
    blank_lines_before = text[: len(text) - len(text.lstrip())].count("\n")
    lines = stripped.split("\n")
    first_line = lines[0].strip()
    head = stripped[:2048].lower()
    stooq_bulk = _STOOQ_BULK_HEADER.fullmatch(first_line) is not None
    if not stooq_bulk and (head.startswith("<") or "<html" in head or "<!doctype" in head):
        raise CSVFormatError(
            f"{origin} is an HTML page, not CSV; save the CSV file itself "
            "(stooq: the 'Download data in csv file' link)"
        )
    if any(first_line.lower().startswith(body) for body in _STOOQ_BODIES):
        raise CSVFormatError(
            f"{origin} holds stooq's message {first_line[:60]!r}, not prices; "
            "download the file again (check the symbol and date range)"
        )

    lines, skipped = _table_lines(lines, notes)
    blank_lines_before += skipped
    first_line = lines[0].strip()
    sep = _separator(first_line)
    header = _split_line(first_line, sep)
    n_header_lines = 1
    if _normalise(header[0]) == "price" and len(lines) > 1 and _normalise(_split_line(lines[1], sep)[0]) == "ticker":
        n_header_lines = _yfinance_header(header, lines, sep, origin)
    names = [_HEADER_ALIASES.get(_normalise(name), "") for name in header]
    _check_header(names, header, first_line, origin)

    rows, row_lines = _read_rows(lines, n_header_lines, len(header), sep, first_line, origin,
                                 skip_before=blank_lines_before)
    if not rows:
        raise CSVFormatError(
            f"{origin} has a header but no data rows; check that the file is complete, or save it again"
        )
    line_numbers = np.asarray(row_lines)
    raw = pd.DataFrame(rows, columns=[name or f"_{i}" for i, name in enumerate(names)])
    _check_one_series(raw, origin)

    times = raw["Time"] if "Time" in raw.columns else None
    dates = parse_dates(raw["Date"], line_numbers, origin, date_format, times=times, bar_date=bar_date,
                        early=settle, notes=notes)
    present = [col for col in (*COLUMNS, "TickVolume") if col in raw.columns]
    values = parse_numbers({col: raw[col] for col in present}, line_numbers, origin, sep=sep,
                           suffixed=("Volume", "TickVolume"), decimal=decimal)
    if settle:
        _check_early_block(dates, line_numbers, origin)
    _tick_volume(values, notes)
    frame = pd.DataFrame(values, index=dates)
    _note_missing_early(frame, notes)
    frame = _check(frame, line_numbers, origin, notes)
    if settle:
        from seqcast.data.bars import drop_before_1900, settle_bars

        frame = settle_bars(drop_before_1900(frame, origin, notes), notes)
    frame.attrs["notes"] = notes
    return frame


def _check_early_block(dates: pd.DatetimeIndex, lines: np.ndarray, origin: str) -> None:
    """Rows before 1900 are left out only as the oldest block (5 rows or more) of a history that runs on
    into 1900 within a month, in file order; anything else (a lone 1899, 0024 for 2024) is refused."""
    early = np.asarray(dates < pd.Timestamp("1900-01-01"))
    if not early.any() or early.all():
        return
    k = int(early.sum())
    if early[:k].all() or early[-k:].all():
        order = dates[early] if early[:k].all() else dates[early][::-1]
        joins = (dates[~early].min() - dates[early].max()).days  # a continuous history crosses 1900
        if k >= 5 and order.is_monotonic_increasing and 0 < joins <= 31:
            return
    i = int(np.flatnonzero(early)[0])
    raise CSVFormatError(
        f"{origin}, line {lines[i]}: the date {dates[i].date()} is before 1900 ({k} such rows, not the oldest "
        "part of the history); check the date column: seqcast reads dates from 1900 to tomorrow"
    )


def _note_missing_early(frame: pd.DataFrame, notes: list[dict[str, Any]]) -> None:
    """Note a column that the oldest rows lack and later rows have (an index's volume from 1938 on)."""
    order = np.argsort(frame.index.to_numpy(), kind="stable")
    for column in frame.columns:
        if column == "Close":
            continue
        empty = np.isnan(frame[column].to_numpy(dtype=float)[order])
        if not empty.any() or empty.all():
            continue
        k = int(np.argmin(empty))  # the first row with a value
        if k and not empty[k:].any():
            dates = frame.index[order[:k]]
            notes.append({"kind": "column-starts-later", "column": column, "rows": k,
                          "first": str(dates[0].date()), "last": str(dates[-1].date()),
                          "message": f"the {k} oldest rows ({dates[0].date()} .. {dates[-1].date()}) have no "
                                     f"{column}; it starts on {frame.index[order[k]].date()}: read what is there"})


def _table_lines(lines: list[str], notes: list[dict[str, Any]]) -> tuple[list[str], int]:
    """The lines from the header to the last row (a portal's title and footer lines noted and left out),
    and how many lines came before the header."""
    title = _title_lines(lines)
    if title:
        notes.append({"kind": "title-lines", "lines": title,
                      "message": f"skipped {title} line{'s' if title > 1 else ''} above the table "
                                 f"({lines[0].strip()[:40]!r}): the header is on line {title + 1}"})
        lines = lines[title:]
    lines, footer = _strip_footer(lines)
    if footer:
        notes.append({"kind": "footer-lines", "lines": footer,
                      "message": f"skipped {footer} line{'s' if footer > 1 else ''} below the table "
                                 "(text, not rows)"})
    return lines, title


def _title_lines(lines: list[str]) -> int:
    """How many lines above the header a portal's export puts (a title, a period): 0 when line 1 is it."""
    for i, line in enumerate(lines[:_MAX_TITLE_LINES]):
        line = line.strip()
        if not line:
            continue
        sep = _separator(line)
        names = {_HEADER_ALIASES.get(_normalise(name), "") for name in _split_line(line, sep)}
        if {"Date", "Close"} <= names:
            return i
        if _STOOQ_BULK_HEADER.fullmatch(line) or re.match(r"^\d", line):
            return 0  # a table starts without a header we know: let the header check explain
    return 0


def _strip_footer(lines: list[str]) -> tuple[list[str], int]:
    """The lines less a footer of text lines below the table ("Źródło: NBP"), and how many there were."""
    end = len(lines)
    footer = 0
    while end > 2:
        line = lines[end - 1].strip()
        if line and (re.match(r"^[\"']?\d", line) or any(sep in line for sep in (",", ";", "\t"))):
            break
        footer += bool(line)
        end -= 1
    return lines[:end], footer


def _tick_volume(values: dict[str, np.ndarray], notes: list[dict[str, Any]]) -> None:
    """MetaTrader's <TICKVOL> becomes Volume where <VOL> is empty or all zero (FX brokers)."""
    ticks = values.pop("TickVolume", None)
    if ticks is None:
        return
    volume = values.get("Volume")
    if (volume is None or not np.nan_to_num(volume).any()) and np.nan_to_num(ticks).any():
        values["Volume"] = ticks
        said = "has no <VOL> column" if volume is None else "has <VOL> 0 on every row"
        notes.append({"kind": "tick-volume", "message": f"Volume is the tick count <TICKVOL>: the file {said} "
                      "(a broker's FX bars); it counts price changes, not traded lots"})


# stooq's bulk "ASCII" files: <TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>
_STOOQ_BULK_HEADER = re.compile(r"<[A-Za-z]+>(?:[,;\t]<[A-Za-z]+>)+")


def _decode(data: bytes | str, origin: str) -> str:
    text = data.lstrip("\ufeff") if isinstance(data, str) else _decode_bytes(data, origin)
    if "\x00" in text[:8192]:
        raise CSVFormatError(
            f"{origin} is a binary file, not CSV text; save the prices as CSV (e.g. from a "
            "spreadsheet: Save as CSV) and try again"
        )
    return text


def _decode_bytes(data: bytes, origin: str) -> str:
    encoding = _utf16_or_32(data)
    if encoding is not None:
        try:
            return data.decode(encoding).lstrip("\ufeff")
        except UnicodeDecodeError:
            raise CSVFormatError(
                f"{origin} looks like {encoding.upper()} text but cannot be decoded; save it again as CSV in UTF-8"
            ) from None
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
            f"{origin} is not text (neither UTF-8, UTF-16 nor Windows-1250); save it as CSV in UTF-8 and try again"
        ) from None


def _utf16_or_32(data: bytes) -> str | None:
    """The encoding of a spreadsheet's "Unicode text" export (UTF-16, BOM or not), else None."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    # Without a BOM: ASCII text in UTF-16 has a zero in every other byte.
    sample = data[:512] if len(data) % 2 == 0 else data[: min(512, len(data) - 1)]
    if len(sample) >= 8:
        even, odd = sample[0::2], sample[1::2]
        if not odd.strip(b"\x00") and b"\x00" not in even:
            return "utf-16-le"
        if not even.strip(b"\x00") and b"\x00" not in odd:
            return "utf-16-be"
    return None


def _separator(header: str) -> str:
    """The field separator: the most frequent of ; tab , in the header (outside quotes)."""
    unquoted = re.sub(r'"[^"]*"', "", header)
    counts = {sep: unquoted.count(sep) for sep in (";", "\t", ",")}
    best = max(counts, key=lambda sep: counts[sep])  # ties: ; before tab before ,
    return best if counts[best] else ","


def _split_line(line: str, sep: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=sep, skipinitialspace=True), [""]) or [""]
    except csv.Error:
        return line.split(sep)


def _normalise(name: str) -> str:
    # "Vol." (investing.com), "<CLOSE>" (stooq bulk), "Close*" (a copied Yahoo table)
    name = name.strip().strip('"').strip("'").strip().strip("<>*").rstrip(".").strip()
    return name.lower().replace(" ", "_")


def _yfinance_header(header: list[str], lines: list[str], sep: str, origin: str) -> int:
    """yfinance's three header rows: Price,Close,... / Ticker,XYZ,... / Date,,,; returns how many."""
    tickers = {cell.strip() for cell in _split_line(lines[1], sep)[1:] if cell.strip()}
    if len(tickers) > 1:
        raise CSVFormatError(
            f"{origin} holds several tickers ({', '.join(sorted(tickers)[:5])}); "
            "save one ticker per file (yfinance: download one symbol at a time)"
        )
    header[0] = "Date"
    third = _split_line(lines[2], sep) if len(lines) > 2 else []
    if third and _HEADER_ALIASES.get(_normalise(third[0])) == "Date" and not any(c.strip() for c in third[1:]):
        return 3
    return 2


def _check_header(names: list[str], header: list[str], first_line: str, origin: str) -> None:
    if "Date" not in names or "Close" not in names:
        raise CSVFormatError(
            f"{origin}: unknown header {first_line[:80]!r}; expected "
            "Date,Open,High,Low,Close[,Volume] (stooq), "
            "Data,Otwarcie,Najwyzszy,Najnizszy,Zamkniecie[,Wolumen] or Date,Close"
        )
    for name in dict.fromkeys(names):
        same = [h.strip() for h, n in zip(header, names, strict=True) if n == name and name]
        if len(same) > 1:
            raise CSVFormatError(
                f"{origin}: the columns {' and '.join(repr(h) for h in same)} all read as {name}; "
                "keep one of them (delete or rename the others) and try again"
            )


def _read_rows(lines: list[str], skip: int, width: int, sep: str, first_line: str, origin: str,
               skip_before: int = 0) -> tuple[list[list[str]], list[int]]:
    """The data rows, padded to the header's width, and the file line each came from.

    lines[skip:] are the data lines; skip_before blank lines came before lines[0] in the file.
    """
    reader = csv.reader(io.StringIO("\n".join(lines[skip:])), delimiter=sep, skipinitialspace=True)
    rows: list[list[str]] = []
    row_lines: list[int] = []
    try:
        for row in reader:
            line = reader.line_num + skip + skip_before
            if not any(cell.strip() for cell in row):
                continue  # a blank line
            if len(row) > width:
                if any(cell.strip() for cell in row[width:]):
                    raise CSVFormatError(
                        f"{origin}, line {line}: some rows have more fields than the header {first_line[:80]!r}; "
                        f"check the separator ({sep!r}) and that numbers use a decimal point"
                    )
                row = row[:width]  # empty fields after a trailing separator
            rows.append(row + [""] * (width - len(row)))
            row_lines.append(line)
    except csv.Error as exc:
        raise CSVFormatError(
            f"{origin}, line {reader.line_num + skip + skip_before}: not a well-formed CSV table ({exc}); "
            "save it again as CSV"
        ) from exc
    return rows, row_lines


def _check_one_series(raw: pd.DataFrame, origin: str) -> None:
    """A file with a ticker or period column (stooq's bulk files) must hold one daily/weekly/monthly series."""
    if "Ticker" in raw.columns:
        tickers = sorted({t.strip() for t in raw["Ticker"] if t.strip()})
        if len(tickers) > 1:
            raise CSVFormatError(
                f"{origin} holds several tickers ({', '.join(tickers[:5])}); save one ticker per file"
            )
    if "Period" in raw.columns:
        periods = sorted({p.strip().upper() for p in raw["Period"]} - {"D", "W", "M", ""})
        if periods:
            raise CSVFormatError(
                f"{origin} holds intraday bars (<PER> {periods[0]}); seqcast reads daily, weekly or "
                "monthly bars: download stooq's daily file"
            )


def _check(frame: pd.DataFrame, lines: np.ndarray, origin: str, notes: list[dict[str, Any]]) -> pd.DataFrame:
    """Sorted by date, one row per date: identical repeats are dropped (noted), differing ones refused."""
    dup = frame.index.duplicated(keep=False)
    if dup.any():
        positions = np.flatnonzero(dup)
        for day in dict.fromkeys(frame.index[positions]):
            at = np.flatnonzero(frame.index == day)
            rows = frame.iloc[at]
            differ = [c for c in rows.columns if rows[c].nunique(dropna=False) > 1]
            if differ:
                where = " and ".join(str(lines[i]) for i in at[:3]) + (" ..." if len(at) > 3 else "")
                shown = "; ".join(
                    f"{c} {' vs '.join(f'{v:.10g}' for v in rows[c].to_numpy(dtype=float))}" for c in differ[:3])
                only = "only in " if len(differ) < len(rows.columns) else "in "
                raise CSVFormatError(
                    f"{origin}: the date {day.date()} appears more than once with different values: lines "
                    f"{where} differ {only}{', '.join(differ)} ({shown}); keep one row per date, deleting the "
                    "other line (for intraday bars: download daily ones)"
                )
        repeated = frame.index[frame.index.duplicated()]
        notes.append({"kind": "repeated-rows", "rows": len(repeated), "dates": [str(d.date()) for d in repeated[:20]],
                      "message": f"{len(repeated)} line{'s' if len(repeated) > 1 else ''} repeat an earlier line "
                                 f"exactly (first: {repeated[0].date()}); kept once"})
        frame = frame[~frame.index.duplicated(keep="first")]
    return frame.sort_index()


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
    out.index = cast(pd.DatetimeIndex, out.index).strftime("%Y-%m-%d")
    out.index.name = "Date"
    return out.to_csv(lineterminator="\n")
