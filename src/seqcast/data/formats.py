"""How the cells of a price file are written: the order of a date's fields and the number style.

Both are decided once for the whole file, never cell by cell, so that one cell written another
way is refused with its line number instead of being read as a different date or number.

Dates: year first (2024-01-02, 2024/01/02, 20240102) is always year-month-day; dates with
dots (02.01.2024) are day-first unless a field > 12 proves month-first; dates with / or -
and the year last are read day-first or month-first as the whole column allows (a first
field > 12 anywhere means day-first, a second field > 12 month-first); when both readings
fit every row, one is used only if it gives ordered, evenly stepped dates and the other
clearly does not (out of order, or jumping far beyond its usual step); otherwise the file is
refused until `--date-format dmy|mdy|ymd` chooses. A time and a UTC offset after
the date (2024-01-02 00:00:00-05:00) are ignored: the calendar date as written is kept.

Numbers: a style is a decimal separator (point or comma) and at most one thousands separator
(comma, point, space or apostrophe). The price columns (Open..Close) share one style and the
volume has its own: the first style, in an order that depends on the file's field separator,
that reads every cell is used; when none does, the style that reads most cells is assumed and
the first cell it cannot read is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from seqcast.errors import ConfigError, CSVFormatError

__all__ = [
    "BAR_DATES",
    "DATE_FORMATS",
    "DECIMALS",
    "FIRST_YEAR",
    "NumberStyle",
    "check_bar_date",
    "check_date_format",
    "check_decimal",
    "parse_dates",
    "parse_numbers",
]

DATE_FORMATS = {"ymd": "year-month-day", "dmy": "day/month/year", "mdy": "month/day/year"}
"""Values of --date-format: the order of a date's fields, whatever the separator."""

FIRST_YEAR = 1900  # the first year seqcast keeps
EARLIEST_YEAR = 1800  # before this a date is a mistake in the file (0001-01-01, 0024 for 2024); 1800-1899
# (stooq's ^DJI starts in 1896) are real history that a file may hold: left out with a note
BAR_DATES = {"written": "the date as written", "next": "the day after the date written"}
"""Values of --bar-date: the trading day of a bar stamped with a time that is not midnight."""

_NUMERIC_DATE = (
    r"^(?P<a>\d{1,4})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})"
    # An optional time of day and UTC offset: 2024-01-02 00:00:00-05:00, 2024-01-02T16:00Z.
    r"(?:[ T](?P<hh>\d{1,2}):(?P<mm>\d{2})(?::(?P<ss>\d{2})(?:\.\d+)?)?"
    r"(?:\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?))?)?$"
)
_MIDNIGHT = frozenset({"", "0", "000000", "0000", "00:00", "00:00:00"})
_COMPACT_DATE = r"^(?P<a>\d{4})(?P<b>\d{2})(?P<c>\d{2})$"  # YYYYMMDD (stooq's bulk files)
_TEXT_DATE_FORMATS = ("%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%b %d %Y")
_EXPECTED_DATES = "expected YYYY-MM-DD (or YYYYMMDD, DD.MM.YYYY, DD/MM/YYYY, MM/DD/YYYY)"


def check_date_format(date_format: str | None) -> str | None:
    """The --date-format value, lower-cased; ConfigError for an unknown one."""
    if date_format is None:
        return None
    name = str(date_format).strip().lower()
    if name not in DATE_FORMATS:
        raise ConfigError(
            f"--date-format must be one of {', '.join(DATE_FORMATS)} (the order of day, month and "
            f"year), got {date_format!r}"
        )
    return name


def parse_dates(values: pd.Series, lines: np.ndarray, origin: str,
                date_format: str | None = None, *, times: pd.Series | None = None,
                bar_date: str | None = None, early: bool = False,
                notes: list[dict[str, Any]] | None = None) -> pd.DatetimeIndex:
    """Read a date column (strings) whose rows come from the given file lines.

    times: a separate time-of-day column (MetaTrader's <TIME>), if any. A time that is not
    midnight may mean the next trading day (see _trading_days; bar_date "written" or "next"
    decides where the file cannot). early=True lets dates from 1800 through (the caller drops
    those before 1900 with a note). Notes are appended to `notes` as {"kind", "message", ...}.
    Raises CSVFormatError naming the line of the first date that cannot be read, or lies
    before 1900 (1800 with early) or after tomorrow, or when the column reads both day- and
    month-first."""
    date_format = check_date_format(date_format)
    bar_date = check_bar_date(bar_date)
    values = values.astype(str).str.strip().reset_index(drop=True)
    if times is not None and times.astype(str).str.strip().isin(_MIDNIGHT).all():
        times = None  # stooq's bulk 000000, MetaTrader's 00:00:00: dates as written
    if date_format in (None, "ymd") and times is None:  # fast path: ISO dates, as stored series have
        fast = _iso_dates(values, lines, origin, early)
        if fast is not None:
            return fast
    fields = values.str.extract(_NUMERIC_DATE)
    compact = values.str.extract(_COMPACT_DATE)
    is_compact = compact["a"].notna()
    fields.loc[is_compact, ["a", "b", "c"]] = compact.loc[is_compact, ["a", "b", "c"]]
    fields.loc[is_compact, "sep"] = ""
    numeric = fields["a"].notna().to_numpy()

    if not numeric.all():
        if numeric.any():  # a mix: blame the first row unlike the majority
            bad = np.flatnonzero(~numeric if numeric.mean() >= 0.5 else numeric)[0]
            _cannot_read(values, lines, bad, origin)
        text_dates = _parse_text_dates(values, lines, origin)
        _check_range(text_dates.to_numpy().astype("datetime64[D]"), lines, origin, early)
        return text_dates.rename("Date")

    a, b, c = (fields[k].to_numpy(dtype=str) for k in ("a", "b", "c"))
    year_first = np.char.str_len(a) == 4
    year_last = (np.char.str_len(c) == 4) & ~year_first
    unreadable = ~(year_first | year_last)
    if unreadable.any():  # 01/02/24: a two-digit year
        _cannot_read(values, lines, np.flatnonzero(unreadable)[0], origin)
    if year_first.any() and year_last.any():
        bad = np.flatnonzero(year_last if year_first.mean() >= 0.5 else year_first)[0]
        _cannot_read(values, lines, bad, origin)

    a_i, b_i, c_i = (x.astype(np.int64) for x in (a, b, c))
    readings = {"ymd": (a_i, b_i, c_i), "dmy": (c_i, b_i, a_i), "mdy": (c_i, a_i, b_i)}
    if date_format is not None:
        candidates = [date_format]
    elif year_first.all():
        candidates = ["ymd"]
    else:
        candidates = ["dmy", "mdy"]
    parsed = {name: _calendar_dates(*readings[name]) for name in candidates}
    complete = [name for name in candidates if not np.isnat(parsed[name]).any()]

    if not complete:
        # Blame the first row that the reading with the most rows can't read.
        best = max(candidates, key=lambda name: int((~np.isnat(parsed[name])).sum()))
        bad = np.flatnonzero(np.isnat(parsed[best]))[0]
        how = f" as {DATE_FORMATS[date_format]} (--date-format {date_format})" if date_format else ""
        _cannot_read(values, lines, bad, origin, how)
    if len(complete) == 2:
        shapes = {name: _steps(parsed[name]) for name in complete}
        if (fields["sep"] == ".").all():
            complete = ["dmy"]  # 02.01.2024 is day-first wherever dots are used
        elif sorted(shapes.values()) == ["broken", "even"]:
            complete = [name for name in complete if shapes[name] == "even"]
        else:
            _refuse_ambiguous(values, lines, a_i, b_i, parsed, origin)
    days = parsed[complete[0]]
    seconds = _seconds_of_day(fields, times)
    if (seconds > 0).any():
        days = _trading_days(days, seconds, values, times, lines, origin, bar_date, notes)
    _check_range(days, lines, origin, early)
    # Through text, so that the index has the resolution pandas gives parsed dates elsewhere.
    return pd.DatetimeIndex(pd.to_datetime(days.astype(str), format="%Y-%m-%d"), name="Date")


def _iso_dates(values: pd.Series, lines: np.ndarray, origin: str, early: bool) -> pd.DatetimeIndex | None:
    """The dates when every one is YYYY-MM-DD (or YYYYMMDD), else None."""
    for form, width in (("%Y-%m-%d", 10), ("%Y%m%d", 8)):
        iso = pd.to_datetime(values, format=form, errors="coerce")
        if iso.notna().all() and (values.str.len() == width).all():
            _check_range(iso.to_numpy().astype("datetime64[D]"), lines, origin, early)
            return pd.DatetimeIndex(iso, name="Date")
    return None


def check_bar_date(bar_date: str | None) -> str | None:
    """The --bar-date value, lower-cased; ConfigError for an unknown one."""
    if bar_date is None:
        return None
    name = str(bar_date).strip().lower()
    if name not in BAR_DATES:
        raise ConfigError(f"--bar-date must be written or next (the trading day of a bar stamped with a "
                          f"time of day), got {bar_date!r}")
    return name


def _seconds_of_day(fields: pd.DataFrame, times: pd.Series | None) -> np.ndarray:
    """Seconds after midnight of each row's time stamp (0 where none), from the date or the time column."""
    def seconds(hh: pd.Series, mm: pd.Series, ss: pd.Series) -> np.ndarray:
        out = (pd.to_numeric(hh, errors="coerce").fillna(0) * 3600 + pd.to_numeric(mm, errors="coerce").fillna(0) * 60
               + pd.to_numeric(ss, errors="coerce").fillna(0))
        return out.to_numpy(dtype=np.int64)

    if times is not None:
        text = times.astype(str).str.strip().str.replace(":", "", regex=False).reset_index(drop=True)
        parts = text.str.extract(r"^(?P<hh>\d{1,2}?)(?P<mm>\d{2})(?P<ss>\d{2})?$")
        return seconds(parts["hh"], parts["mm"], parts["ss"])
    return seconds(fields["hh"], fields["mm"], fields["ss"])


def _weekend_share(days: np.ndarray) -> float:
    return float((((days.astype(np.int64) + 3) % 7) >= 5).mean()) if len(days) else 0.0


def _trading_days(days: np.ndarray, seconds: np.ndarray, values: pd.Series, times: pd.Series | None,
                  lines: np.ndarray, origin: str, bar_date: str | None,
                  notes: list[dict[str, Any]] | None) -> np.ndarray:
    """The trading day of each bar when some dates carry a time of day that is not midnight.

    A daily bar stamped 22:00 (a broker's session opening the evening before, in UTC) belongs
    to the next day; one stamped 16:00 or 23:59 to the day written. Decided from the file's
    weekdays: the reading whose bars fall on weekdays (at most 2 % on weekends) wins when the
    other does not; otherwise (both fall on weekends, as a 7-day market's do) the file is
    refused until --bar-date chooses.
    """
    timed = seconds > 0
    i = int(np.flatnonzero(timed)[0])
    stamps = np.unique(np.stack([days.astype(np.int64), seconds]), axis=1)  # distinct (day, time) pairs
    unique_days, first_at = np.unique(days, return_index=True)
    per_day = np.bincount(np.searchsorted(unique_days.astype(np.int64), stamps[0]), minlength=len(unique_days))
    several = np.flatnonzero(per_day > 1)
    if len(several):  # several bars on one day at different times: intraday bars
        day = unique_days[several[0]]
        at = sorted({f"{s // 3600:02d}:{s % 3600 // 60:02d}" for s in seconds[days == day].tolist()})
        raise CSVFormatError(
            f"{origin}, line {lines[first_at[several[0]]]}: the date {day} appears more than once at "
            f"{', '.join(at[:4])}{' ...' if len(at) > 4 else ''} ({len(several)} such dates): intraday bars; "
            "seqcast reads daily bars: download or export daily ones (MetaTrader: the D1 period; stooq: the "
            "daily file)"
        )
    stamp = values.iloc[i][:30] + (f" {str(times.iloc[i]).strip()}" if times is not None else "")
    shifted = days + timed.astype("timedelta64[D]")
    if bar_date is not None:
        return shifted if bar_date == "next" else days
    written_w, shifted_w = _weekend_share(days), _weekend_share(shifted)
    count = f"{int(timed.sum())} of {len(days)} dates carry a time of day (line {lines[i]}: {stamp!r})"
    if written_w <= 0.02 and shifted_w > written_w:
        chosen, how, other = days, "as the day written (the bars fall on weekdays so)", "next"
    elif shifted_w <= 0.02 and written_w > shifted_w:
        chosen, how, other = shifted, (f"as the next day's bars ({written_w:.0%} of them fall on a weekend "
                                      "as written, none as the next day)"), "written"
    elif written_w <= 0.02 and shifted_w <= 0.02 and int(seconds.max()) < 18 * 3600:
        chosen, how, other = days, "as the day written (times before 18:00, on weekdays)", "next"
    else:
        raise CSVFormatError(
            f"{origin}: {count}, so a bar may belong to the day written or to the next trading day, and "
            f"the weekdays do not tell ({written_w:.0%} fall on a weekend as written, {shifted_w:.0%} as the "
            "next day); choose with --bar-date written or --bar-date next"
        )
    if notes is not None:
        notes.append({"kind": "time-of-day", "rows": int(timed.sum()),
                      "read_as": "next" if other == "written" else "written",
                      "message": f"{count}: read {how}; --bar-date {other} reads them the other way"})
    return chosen


def _calendar_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """datetime64[D] for valid (year, month, day) triples, NaT elsewhere (month 13, 30 February)."""
    ok = (year >= 1) & (year <= 9999) & (month >= 1) & (month <= 12) & (day >= 1)
    months = np.where(ok, (year - 1970) * 12 + month - 1, 0).astype("datetime64[M]")
    first = months.astype("datetime64[D]")
    days_in_month = ((months + 1).astype("datetime64[D]") - first).astype(np.int64)
    ok &= day <= days_in_month
    return np.where(ok, first + np.where(ok, day - 1, 0).astype("timedelta64[D]"),
                    np.datetime64("NaT", "D"))


def _steps(dates: np.ndarray) -> str:
    """How dates in file order step: "even", "uneven" or "broken".

    Even: ordered (either way) with steps of one kind, as daily (1-5 days), weekly (7) or
    monthly (28-31) bars have. Broken: out of order, or with a jump far beyond the usual
    step, as a month-first file read day-first has (12 January, then 1 January next year).
    """
    steps = np.diff(dates.astype(np.int64))
    if not ((steps >= 0).all() or (steps <= 0).all()):
        return "broken"
    steps = np.abs(steps[steps != 0])
    if len(steps) < 2:
        return "even"
    typical, largest = float(np.median(steps)), int(steps.max())
    if largest <= 3 * typical + 4:
        return "even"
    return "broken" if largest > 20 * typical + 30 else "uneven"


def _parse_text_dates(values: pd.Series, lines: np.ndarray, origin: str) -> pd.DatetimeIndex:
    """Dates with English month names (Sep 26, 2025; 26 Sep 2025), one format for the column."""
    tries = [pd.to_datetime(values, format=fmt, errors="coerce") for fmt in _TEXT_DATE_FORMATS]
    best = max(tries, key=lambda parsed: int(parsed.notna().sum()))
    if best.isna().any():
        _cannot_read(values, lines, np.flatnonzero(best.isna().to_numpy())[0], origin)
    return pd.DatetimeIndex(best).normalize()


def _cannot_read(values: pd.Series, lines: np.ndarray, row: int, origin: str, how: str = "") -> NoReturn:
    raise CSVFormatError(
        f"{origin}, line {lines[row]}: cannot read the date {values.iloc[row][:30]!r}{how}; {_EXPECTED_DATES}"
    )


def _refuse_ambiguous(values: pd.Series, lines: np.ndarray, first: np.ndarray, second: np.ndarray,
                      parsed: dict[str, np.ndarray], origin: str) -> NoReturn:
    differ = np.flatnonzero(first != second)
    row = int(differ[0]) if len(differ) else 0
    dmy, mdy = (str(parsed[name][row]) for name in ("dmy", "mdy"))
    raise CSVFormatError(
        f"{origin}: the dates read both as day/month/year (line {lines[row]}: {values.iloc[row][:30]!r} "
        f"= {dmy}) and as month/day/year (= {mdy}), and no field is over 12 to decide; "
        "choose with --date-format dmy or --date-format mdy"
    )


def _check_range(days: np.ndarray, lines: np.ndarray, origin: str, allow_early: bool = False) -> None:
    """Refuse dates (datetime64[D]) before 1900 (1800 with allow_early) or after tomorrow, naming a line."""
    tomorrow = np.datetime64(date.today() + timedelta(days=1), "D")
    first = EARLIEST_YEAR if allow_early else FIRST_YEAR
    early = np.flatnonzero(days < np.datetime64(f"{first}-01-01", "D"))
    if len(early):
        i = early[0]
        raise CSVFormatError(
            f"{origin}, line {lines[i]}: the date {days[i]} is before {FIRST_YEAR} "
            f"({len(early)} such rows); check the date column: seqcast reads dates from {FIRST_YEAR} to tomorrow"
        )
    late = np.flatnonzero(days > tomorrow)
    if len(late):
        i = late[np.argmax(days[late])]
        raise CSVFormatError(
            f"{origin}, line {lines[i]}: the date {days[i]} is in the future; check the date column"
        )


# --- numbers ---------------------------------------------------------------------------------

_SPACES = "[ \u00a0\u202f\u2009]"  # space, no-break space, narrow no-break space, thin space
_THOUSANDS = {",": ",", ".": r"\.", " ": _SPACES, "'": "['\u2019]"}
_NAMES = {",": "comma", ".": "point", " ": "space", "'": "apostrophe"}
MISSING = frozenset({"", "n/a", "na", "nan", "null", "none", "-", "#n/a", "–", "—"})
"""The cells that mean "no value" (compared stripped and lowercased), in every CSV seqcast reads:
files, stooq's answers (parse_numbers) and the ECB's (sources.ecb)."""
_SUFFIXES = {"k": "e3", "m": "e6", "b": "e9"}  # investing.com volumes: 171.09M


@dataclass(frozen=True)
class NumberStyle:
    """How a file writes numbers: the decimal separator and at most one thousands separator."""

    decimal: str
    thousands: str | None = None

    def describe(self) -> str:
        text = f"decimal {_NAMES[self.decimal]}"
        return text + (f", thousands separated by {_NAMES[self.thousands]}" if self.thousands else "")

    @property
    def pattern(self) -> str:
        dec = re.escape(self.decimal)
        whole = r"\d+"
        if self.thousands:
            whole = rf"(?:\d{{1,3}}(?:{_THOUSANDS[self.thousands]}\d{{3}})+|\d+)"
        return rf"[+-]?(?:{whole}(?:{dec}\d*)?|{dec}\d+)(?:[eE][+-]?\d+)?"

    def to_float_text(self, text: pd.Series) -> pd.Series:
        if self.decimal == "." and not self.thousands:
            return text
        if self.thousands:
            text = text.str.replace(_THOUSANDS[self.thousands], "", regex=True)
        return text.str.replace(self.decimal, ".", regex=False)


# A lone separator before three digits (4,321 or 4.321) fits two styles. In a ';' or tab file
# (spreadsheets) it is the decimal separator; in a ',' file the comma can only be inside quotes
# and is a thousands separator, as in investing.com's "18,696.74".
_STYLES_COMMA_FILE = [NumberStyle(".", None), NumberStyle(".", ","), NumberStyle(".", " "),
                      NumberStyle(".", "'"), NumberStyle(",", None), NumberStyle(",", " "),
                      NumberStyle(",", "."), NumberStyle(",", "'")]
_STYLES_OTHER_FILE = [NumberStyle(",", None), NumberStyle(".", None), NumberStyle(",", " "),
                      NumberStyle(".", " "), NumberStyle(",", "."), NumberStyle(".", ","),
                      NumberStyle(",", "'"), NumberStyle(".", "'")]


def parse_numbers(columns: dict[str, pd.Series], lines: np.ndarray, origin: str, *, sep: str = ",",
                  required: tuple[str, ...] = ("Close",), suffixed: tuple[str, ...] = ("Volume",),
                  decimal: str | None = None) -> dict[str, np.ndarray]:
    """Read number columns (strings): the price columns in one style decided from all their cells,
    each `suffixed` column (Volume) in its own.

    Empty and N/A cells become NaN, refused in `required` columns; cells in `suffixed` columns
    may end in K, M or B (thousands, millions, billions). decimal ("point" or "comma", --decimal)
    fixes the prices' decimal separator; without it, prices that read two ways (every "1,234" a
    thousands comma or a decimal one, nothing in the column to tell) are refused.
    """
    texts, missing = {}, {}
    for name, column in columns.items():
        text = column.astype(str).str.strip().reset_index(drop=True)
        missing[name] = text.str.lower().isin(MISSING).to_numpy()
        if name in suffixed and text.str.endswith(("k", "K", "m", "M", "b", "B")).any():
            # 171.09M -> 171.09e6, exact where 171.09 * 1e6 is not
            parts = text.str.extract(r"^(.*\d)\s*([kKmMbB])$")
            has = parts[0].notna()
            text = text.where(~has, parts[0] + parts[1].str.lower().map(_SUFFIXES))
        texts[name] = text

    # Prices (Open..Close) share one style; each suffixed column (Volume) has its own, preferring
    # the prices' decimal separator: 1.234 is a volume of 1234 next to prices like 4,32.
    styles = _STYLES_COMMA_FILE if sep == "," else _STYLES_OTHER_FILE
    decimal = check_decimal(decimal)
    forced = DECIMALS[decimal] if decimal else None
    chosen: dict[str, NumberStyle] = {}
    groups = [[name for name in texts if name not in suffixed]] + [[name] for name in texts if name in suffixed]
    for k, group in enumerate(groups):
        if not group:
            continue
        group_styles = [st for st in styles if st.decimal == forced] if forced and k == 0 else styles
        plain = _plain_style(texts, missing, group, chosen) if forced in (None, ".") or k else None
        if plain is not None:
            style = plain
        else:
            if chosen:
                point = next(iter(chosen.values())).decimal
                group_styles = sorted(group_styles, key=lambda style: style.decimal != point)
            style = _decide_style({name: texts[name] for name in group}, missing, columns, group_styles, lines,
                                  origin)
        if k == 0 and forced is None:
            _refuse_two_readings({name: texts[name] for name in group}, missing, style, sep, lines, origin)
        chosen.update(dict.fromkeys(group, style))

    values = {}
    for name, text in texts.items():
        numbers = pd.to_numeric(chosen[name].to_float_text(text.where(~missing[name], "nan")), errors="coerce")
        values[name] = np.where(missing[name], np.nan, numbers.to_numpy(dtype=float))
        if name in required and missing[name].any():
            i = int(np.flatnonzero(missing[name])[0])
            raise CSVFormatError(
                f"{origin}, line {lines[i]}: {name} is empty or N/A ({int(missing[name].sum())} such rows); "
                "remove or fill those rows"
            )
        infinite = ~np.isfinite(values[name]) & ~missing[name]
        if infinite.any():
            i = int(np.flatnonzero(infinite)[0])
            raise CSVFormatError(
                f"{origin}, line {lines[i]}: {name} is not a finite number; fix or remove that row"
            )
    return values


DECIMALS = {"point": ".", "comma": ","}
"""Values of --decimal: the prices' decimal separator, where a file's numbers read two ways."""


def check_decimal(decimal: str | None) -> str | None:
    """The --decimal value, lower-cased; ConfigError for an unknown one."""
    if decimal is None:
        return None
    name = str(decimal).strip().lower()
    if name not in DECIMALS:
        raise ConfigError(f"--decimal must be point or comma (the prices' decimal separator), got {decimal!r}")
    return name


def _refuse_two_readings(texts: dict[str, pd.Series], missing: dict[str, np.ndarray], style: NumberStyle,
                         sep: str, lines: np.ndarray, origin: str) -> None:
    """Refuse prices that another style reads as well, to other values, with nothing in the file to tell.

    The other reading: a thousands comma or point as the decimal separator (quoted "4,321" in a
    comma file), and in a ; or tab file a lone decimal point or comma as a thousands separator.
    A comma file's plain decimal point (4.321) is the convention and is not questioned.
    """
    if style.thousands in (",", "."):
        other = NumberStyle(style.thousands, None)
    elif style.thousands is None and sep != "," and style.decimal in (",", "."):
        other = NumberStyle("." if style.decimal == "," else ",", style.decimal)
    else:
        return
    for name, text in texts.items():
        if not (text.str.fullmatch(other.pattern).to_numpy(dtype=bool) | missing[name]).all():
            return  # some cell can only be read the chosen way
    for name, text in texts.items():
        sep_cells = np.flatnonzero(text.str.contains(re.escape(style.thousands or style.decimal)).to_numpy() &
                                   ~missing[name])
        if len(sep_cells):
            i = int(sep_cells[0])
            cell = text.iloc[i]
            a = float(style.to_float_text(pd.Series([cell])).iloc[0])
            b = float(other.to_float_text(pd.Series([cell])).iloc[0])
            raise CSVFormatError(
                f"{origin}, line {lines[i]}: {name} {cell!r} reads as {a:g} ({style.describe()}) or as {b:g} "
                f"({other.describe()}), and no number in the file tells which; choose with --decimal "
                f"{'point' if style.decimal == '.' else 'comma'} or --decimal "
                f"{'point' if other.decimal == '.' else 'comma'}"
            )


def _plain_style(texts: dict[str, pd.Series], missing: dict[str, np.ndarray], group: list[str],
                 chosen: dict[str, NumberStyle]) -> NumberStyle | None:
    """NumberStyle(".") when every cell of the group is a plain number (digits, a point, an exponent):
    the style the full search would choose too (a fast path for large files), else None.

    Not for a volume with points next to decimal-comma prices: 1.234 is a thousands point there.
    """
    decimal = next(iter(chosen.values())).decimal if chosen else "."
    for name in group:
        text = texts[name]
        if decimal != "." and text.str.contains(".", regex=False).any():
            return None
        if not text.str.fullmatch(_PLAIN).to_numpy(dtype=bool).__or__(missing[name]).all():
            return None
    return NumberStyle(".", None)


_PLAIN = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"


def _decide_style(texts: dict[str, pd.Series], missing: dict[str, np.ndarray], columns: dict[str, pd.Series],
                  styles: list[NumberStyle], lines: np.ndarray, origin: str) -> NumberStyle:
    """The first style that reads every cell of these columns, or CSVFormatError for the first misfit."""
    fits: dict[NumberStyle, dict[str, np.ndarray]] = {}
    for style in styles:
        fits[style] = {name: text.str.fullmatch(style.pattern).to_numpy(dtype=bool) | missing[name]
                       for name, text in texts.items()}
        if all(f.all() for f in fits[style].values()):
            return style
    _refuse_cell(texts, columns, fits, styles, lines, origin)


def _refuse_cell(texts: dict[str, pd.Series], columns: dict[str, pd.Series],
                 fits: dict[NumberStyle, dict[str, np.ndarray]], styles: list[NumberStyle],
                 lines: np.ndarray, origin: str) -> NoReturn:
    """Raise for the first cell that is no number at all, else for the first that has another style."""
    def first_bad(mask_of: dict[str, np.ndarray]) -> tuple[int, str] | None:
        found = [(int(lines[np.flatnonzero(~m)[0]]), int(np.flatnonzero(~m)[0]), name)
                 for name, m in mask_of.items() if (~m).any()]
        return min(found)[1:] if found else None

    any_style = {name: np.logical_or.reduce([fits[s][name] for s in styles]) for name in texts}
    hit = first_bad(any_style)
    if hit is not None:
        i, name = hit
        raise CSVFormatError(
            f"{origin}, line {lines[i]}: {name} is {columns[name].iloc[i].strip()[:30]!r}, not a number; "
            "fix or remove that row"
        )
    # max() keeps the first of equals: the preferred style wins a tie.
    best = max(styles, key=lambda s: sum(int(f.sum()) for f in fits[s].values()))
    i, name = first_bad(fits[best])  # type: ignore[misc]
    example = next(
        ((int(lines[j]), n, columns[n].iloc[j].strip()) for j in range(len(lines)) for n in texts
         if fits[best][n][j] and re.search(r"[.,]", texts[n].iloc[j])),
        None,
    )
    like = f" as in {example[2]!r} on line {example[0]}" if example else ""
    raise CSVFormatError(
        f"{origin}, line {lines[i]}: {name} is {columns[name].iloc[i].strip()[:30]!r}, which is written "
        f"unlike the other numbers ({best.describe()}{like}); write every number of the column the same way"
    )
