"""The series' own calendar: on which dates it has a value, its next dates, its sampling.

A Calendar is one of
- business-daily: the open weekdays (usually Monday-Friday) less closing days, taken from
  the `holidays` package where it knows the source or market (ECB TARGET for ECB rates,
  NYSE for US stocks, ...) or learned from the data (fixed-date and Easter closures);
- daily: every day of the week (a market that trades on weekends, such as crypto);
- weekly / monthly: one bar a week (on the data's weekday) or a month (at its start, its
  end or a fixed day);
- fixed-step: any other regular spacing, stepped by its median gap in days.

`infer_calendar` chooses one from what is known about the series and from its dates;
`Calendar.next_dates` names forecast dates and `Calendar.periods_between` counts steps
(e.g. how stale the latest stored day is); seqcast.data.sampling checks the sampling of the
rows a training would use. Only numpy, the standard library and `holidays` are used: predict-next needs no pandas.
"""

from __future__ import annotations

import calendar as _stdcal
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

import numpy as np

Frequency = Literal["business-daily", "daily", "weekly", "monthly", "fixed-step"]
FREQUENCIES: tuple[str, ...] = ("business-daily", "daily", "weekly", "monthly", "fixed-step")

# `holidays` calendars seqcast knows by name; two-letter codes are countries' public holidays.
CALENDAR_NAMES = {
    "ECB": "ECB TARGET",
    "NYSE": "NYSE",
    "XWAR": "Warsaw Stock Exchange",
    "XLON": "London Stock Exchange",
    "XETR": "Xetra",
    "PL": "Polish public holidays",
}
# Sources whose publishing days a library calendar describes.
SOURCE_CALENDARS = {"ecb": "ECB", "sample": "ECB", "nbp": "PL"}
# Symbol suffixes (stooq style, "tsla.us") that name an exchange.
SUFFIX_CALENDARS = {".us": "NYSE"}
# Tried against a business-daily series no hint covers; kept when the data confirms one.
CANDIDATE_CALENDARS = ("ECB", "NYSE", "XWAR", "XLON", "XETR")
# Closures learned from the data relative to Easter Sunday: Maundy Thursday, Good Friday,
# Easter Monday, Ascension, Whit Monday, Corpus Christi.
EASTER_OFFSETS = (-3, -2, 1, 39, 50, 60)

LEARN_YEARS = 6
"""Years of the latest data the calendar is learned from (the publishing calendar of now)."""
STALE_AFTER = {"business-daily": 5, "daily": 7, "weekly": 2, "monthly": 2, "fixed-step": 2}
"""More periods than this between the latest stored day and today make the data stale."""
GAP_LIMIT_DAYS = {"business-daily": 14, "daily": 14, "weekly": 35, "monthly": 100}
"""A gap longer than this many calendar days is extreme (fixed-step: 5 steps)."""
UNITS = {"business-daily": "business days", "daily": "days", "weekly": "weeks", "monthly": "months",
         "fixed-step": "periods"}


@dataclass(frozen=True)
class Calendar:
    """The dates a series has values on; recorded in a run's meta.json as `calendar`."""

    name: str
    """Shown to the user as "the NAME calendar": "ECB TARGET", "NYSE", "every day", "learned", ..."""
    frequency: Frequency = "business-daily"
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Open weekdays, Monday = 0."""
    holidays: str | None = None
    """A `holidays` financial calendar ("ECB", "NYSE") or a two-letter country code whose
    days are closed."""
    closed_dates: tuple[str, ...] = ()
    """Closed every year on these "MM-DD" dates (learned from the data)."""
    closed_easter: tuple[int, ...] = ()
    """Closed on these days relative to Easter Sunday (-2 = Good Friday, 1 = Easter Monday)."""
    anchor: int | str | None = None
    """weekly: the bar's weekday (0-6); monthly: "start", "end" (first/last open day) or a
    day of the month (1-31)."""
    step_days: int = 1
    """fixed-step: days between two values."""
    reason: str = ""
    """Why this calendar was chosen."""
    known_years: tuple[int, ...] = ()
    """Years whose `holidays` closing days are recorded in known_closed (see with_known_years):
    predict-next then needs no import of the holidays package, and a run's dates do not change
    when that package is updated."""
    known_closed: tuple[str, ...] = ()
    """The `holidays` closing days (YYYY-MM-DD) of known_years."""

    def __post_init__(self) -> None:
        if self.frequency not in FREQUENCIES:
            raise ValueError(f"unknown calendar frequency {self.frequency!r}")
        weekdays = tuple(sorted({int(d) for d in self.weekdays}))
        if not weekdays or not all(0 <= d <= 6 for d in weekdays):
            raise ValueError(f"calendar weekdays must be 0-6, got {self.weekdays!r}")
        object.__setattr__(self, "weekdays", weekdays)
        object.__setattr__(self, "closed_dates", tuple(self.closed_dates))
        object.__setattr__(self, "closed_easter", tuple(int(k) for k in self.closed_easter))
        object.__setattr__(self, "known_years", tuple(int(y) for y in self.known_years))
        object.__setattr__(self, "known_closed", tuple(str(date.fromisoformat(str(k))) for k in self.known_closed))
        for md in self.closed_dates:
            month, _, day = str(md).partition("-")
            if not (month.isdigit() and day.isdigit() and 1 <= int(month) <= 12 and 1 <= int(day) <= 31):
                raise ValueError(f"closed date {md!r} is not MM-DD")
        if self.frequency == "weekly" and not (isinstance(self.anchor, int) and 0 <= self.anchor <= 6):
            raise ValueError(f"a weekly calendar needs a weekday anchor 0-6, got {self.anchor!r}")
        if self.frequency == "monthly" and not (
            self.anchor in ("start", "end") or (isinstance(self.anchor, int) and 1 <= self.anchor <= 31)
        ):
            raise ValueError(f"a monthly calendar needs anchor start, end or 1-31, got {self.anchor!r}")
        if not isinstance(self.step_days, int) or self.step_days < 1:
            raise ValueError(f"step_days must be a positive whole number, got {self.step_days!r}")
        if self.holidays is not None and not self.known_years:
            _holiday_table(self.holidays, [2000])  # an unknown code fails now, not at predict time

    # ------------------------------------------------------------------ dates

    @property
    def unit(self) -> str:
        """The plural name of one period: "business days", "days", "weeks", "months"."""
        return UNITS[self.frequency]

    def closed_days(self, years: Iterable[int]) -> list[date]:
        """Closing days (holidays and learned closures) falling in these years, sorted."""
        from dateutil.easter import easter

        years = list(years)
        days: set[date] = set()
        if self.holidays:
            known = set(self.known_years)
            days.update(d for d in (date.fromisoformat(k) for k in self.known_closed) if d.year in years)
            days.update(_holiday_table(self.holidays, [y for y in years if y not in known]))
        for year in years:
            for md in self.closed_dates:
                month, day = (int(x) for x in md.split("-"))
                if day <= _stdcal.monthrange(year, month)[1]:
                    days.add(date(year, month, day))
            if self.closed_easter:
                sunday = easter(year)
                days.update(sunday + timedelta(days=k) for k in self.closed_easter)
        return sorted(days)

    def with_known_years(self, years: Iterable[int]) -> Calendar:
        """This calendar with the `holidays` closing days of these years written into it."""
        if not self.holidays:
            return self
        years = sorted(set(years))
        closed = sorted(_holiday_table(self.holidays, years))
        return replace(self, known_years=tuple(years), known_closed=tuple(str(d) for d in closed))

    def is_open(self, day: date) -> bool:
        """Whether the series publishes on this day (its weekday is open and it is no closing day)."""
        return day.weekday() in self.weekdays and day not in set(self.closed_days([day.year]))

    def next_dates(self, last: date | np.datetime64 | str, n: int) -> list[date]:
        """The n dates of this calendar that follow `last` (the latest data day), in order.

        A `last` that is itself closed (a weekend row in business-daily data) steps to the
        first open day after it. Weekly: the anchor weekday of each following week (rolled
        back to an open day of that week when it is closed); monthly: the anchor of each
        following month.
        """
        last = _as_date(last)
        if n < 1:
            return []
        if self.frequency in ("business-daily", "daily"):
            span = n * 7 // len(self.weekdays) // 365 + 2  # years the n open days can reach
            busdays = self._busdaycalendar(range(last.year, last.year + span + 1))
            out = np.busday_offset(np.datetime64(last, "D"), np.arange(1, n + 1), roll="backward",
                                   busdaycal=busdays)
            return [d.item() for d in out]
        if self.frequency == "weekly":
            monday = last - timedelta(days=last.weekday())
            return [self._week_anchor(monday + timedelta(weeks=k)) for k in range(1, n + 1)]
        if self.frequency == "monthly":
            index = last.year * 12 + last.month - 1
            return [self._month_anchor(*divmod(index + k, 12)) for k in range(1, n + 1)]
        return [last + timedelta(days=self.step_days * k) for k in range(1, n + 1)]

    def periods_between(self, a: date | np.datetime64 | str, b: date | np.datetime64 | str) -> int:
        """How many dates of this calendar lie after a, up to and including b (0 when b <= a)."""
        a, b = _as_date(a), _as_date(b)
        if b <= a:
            return 0
        if self.frequency in ("business-daily", "daily"):
            busdays = self._busdaycalendar(range(a.year, b.year + 1))
            start, end = np.datetime64(a, "D") + 1, np.datetime64(b, "D") + 1
            return int(np.busday_count(start, end, busdaycal=busdays))
        if self.frequency == "fixed-step":
            return (b - a).days // self.step_days
        return self._anchors_until(b) - self._anchors_until(a)

    def stale_periods(self, last: date | np.datetime64 | str, today: date) -> int | None:
        """Periods between the latest data day and today when more than STALE_AFTER, else None."""
        periods = self.periods_between(last, today)
        return periods if periods > STALE_AFTER[self.frequency] else None

    # ------------------------------------------------------------------ records

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (meta.json's `calendar`)."""
        out = asdict(self)
        for key in ("weekdays", "closed_dates", "closed_easter", "known_years", "known_closed"):
            out[key] = list(out[key])
        return out

    @classmethod
    def from_dict(cls, record: Any) -> Calendar:
        """Rebuild a recorded calendar; ValueError when the record is not a valid one."""
        if not isinstance(record, dict):
            raise ValueError("a calendar record is a JSON object")
        known = set(cls.__dataclass_fields__)
        kwargs: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v)
                                  for k, v in record.items() if k in known}
        try:
            return cls(**kwargs)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"invalid calendar record: {exc}") from None

    # ------------------------------------------------------------------ internals

    def _busdaycalendar(self, years: Iterable[int]) -> np.busdaycalendar:
        mask = [1 if d in self.weekdays else 0 for d in range(7)]
        if self.frequency == "daily":
            mask = [1] * 7
        holidays = np.array(self.closed_days(years), dtype="datetime64[D]")
        return np.busdaycalendar(weekmask=mask, holidays=holidays)

    def _open_back(self, day: date, floor: date) -> date:
        """day, or the latest open day before it but not before floor (then day itself)."""
        closed = set(self.closed_days({day.year, floor.year}))
        d = day
        while d >= floor:
            if d.weekday() in self.weekdays and d not in closed:
                return d
            d -= timedelta(days=1)
        return day

    def _week_anchor(self, monday: date) -> date:
        assert isinstance(self.anchor, int)
        return self._open_back(monday + timedelta(days=self.anchor), monday)

    def _month_anchor(self, year: int, month0: int) -> date:
        month = month0 + 1
        length = _stdcal.monthrange(year, month)[1]
        first, last = date(year, month, 1), date(year, month, length)
        if self.anchor == "end":
            return self._open_back(last, first)
        if self.anchor == "start":
            closed = set(self.closed_days([year]))
            d = first
            while d <= last:
                if d.weekday() in self.weekdays and d not in closed:
                    return d
                d += timedelta(days=1)
            return first
        assert isinstance(self.anchor, int)
        return date(year, month, min(self.anchor, length))

    def _anchors_until(self, day: date) -> int:
        """A running count of weekly/monthly anchors up to and including day (any origin)."""
        if self.frequency == "weekly":
            monday = day - timedelta(days=day.weekday())
            count = monday.toordinal() // 7
            return count - (1 if day < self._week_anchor(monday) else 0)
        count = day.year * 12 + day.month - 1
        return count - (1 if day < self._month_anchor(day.year, day.month - 1) else 0)


# --------------------------------------------------------------------------- choosing one


def infer_calendar(
    dates: Any,
    *,
    source: str | None = None,
    symbol: str | None = None,
    interval: str | None = None,
) -> Calendar:
    """The calendar of a series from its dates and what is known about it.

    dates: the stored dates (any datetime array or index; order and duplicates do not matter).
    interval: the stored bar interval ("d", "w", "m"); "w" and "m" fix the frequency, anything
    else lets the spacing of the latest dates decide. A business-daily series takes its
    closing days from the `holidays` package where the source (ecb, sample: ECB TARGET; nbp:
    Polish holidays) or the symbol (".us": NYSE) names one, else from a candidate market
    calendar that the latest data confirms, else from the data itself.
    """
    days = _unique_days(dates)
    days = days[latest_regime(days)[0]:]  # weekly bars before a daily history say nothing of it
    frequency, step = _frequency(days, interval)
    hint, reason = _hinted(source, symbol)
    if frequency in ("weekly", "monthly"):
        anchor = _weekly_anchor(days) if frequency == "weekly" else _monthly_anchor(days)
        label = "weekly bars" if frequency == "weekly" else "monthly bars"
        why = f"stored interval {interval!r}" if interval in ("w", "m") else "the dates are a " + (
            "week apart" if frequency == "weekly" else "month apart")
        weekend = bool((((days[-24:].astype(np.int64) + 3) % 7) >= 5).any())
        return Calendar(label, frequency, weekdays=tuple(range(7 if weekend else 5)), holidays=hint,
                        anchor=anchor,
                        reason=why + (f"; closing days from {reason}" if hint else ""))
    if frequency == "fixed-step":
        return Calendar(f"every {step} days", "fixed-step", weekdays=tuple(range(7)), step_days=step,
                        reason=f"the latest dates are {step} days apart")
    recent = _recent(days)
    weekdays = _open_weekdays(recent)
    if len(weekdays) == 7:
        return Calendar("every day", "daily", weekdays=tuple(range(7)),
                        reason="the data has values on weekends too")
    if hint is not None and weekdays == (0, 1, 2, 3, 4):
        return Calendar(CALENDAR_NAMES.get(hint, hint), "business-daily", holidays=hint, reason=reason)
    if weekdays == (0, 1, 2, 3, 4):
        matched = _matching_market(recent)
        if matched is not None:
            return Calendar(CALENDAR_NAMES.get(matched, matched), "business-daily", holidays=matched,
                            reason=f"the data's closing days match the {matched} calendar")
    closed_dates, closed_easter = _learned_closures(recent, weekdays)
    name = "learned" if closed_dates or closed_easter or weekdays != (0, 1, 2, 3, 4) else "weekdays"
    return Calendar(name, "business-daily", weekdays=weekdays, closed_dates=closed_dates,
                    closed_easter=closed_easter, reason="learned from the data's weekdays and closures")


def _hinted(source: str | None, symbol: str | None) -> tuple[str | None, str]:
    if source in SOURCE_CALENDARS:
        return SOURCE_CALENDARS[source], f"source {source}"
    for suffix, code in SUFFIX_CALENDARS.items():
        if symbol and symbol.lower().endswith(suffix):
            return code, f"symbol ends in {suffix}"
    return None, ""


def _frequency(days: np.ndarray, interval: str | None) -> tuple[Frequency, int]:
    if interval == "w":
        return "weekly", 7
    if interval == "m":
        return "monthly", 30
    gaps = np.diff(days[-61:]).astype(np.int64)
    if len(gaps) == 0:
        return "business-daily", 1
    kind = gap_bucket(float(np.median(gaps)))
    if kind == "irregular":
        return "fixed-step", max(1, int(np.median(gaps)))
    if kind in ("daily", "few-a-week"):
        return "business-daily", 1  # the open weekdays are learned: Tue and Thu for twice a week
    return kind, 1  # type: ignore[return-value]


def gap_bucket(typical_gap: float) -> str:
    """Sampling read from a typical gap in days: daily, few-a-week, weekly, monthly or irregular."""
    if typical_gap <= 1.8:
        return "daily"
    if typical_gap <= 4.5:
        return "few-a-week"
    if typical_gap <= 10.5:
        return "weekly"
    if 20 <= typical_gap <= 40:
        return "monthly"
    return "irregular"


def _weekly_anchor(days: np.ndarray) -> int:
    if len(days) == 0:
        return 4  # Friday: the week's last business day
    weekdays = ((days[-52:].astype(np.int64) + 3) % 7)  # 1970-01-01 was a Thursday (3)
    return int(np.bincount(weekdays, minlength=7).argmax())


def _monthly_anchor(days: np.ndarray) -> int | str:
    if len(days) == 0:
        return "end"
    mdays = np.array([d.day for d in days[-24:].tolist()])
    values, counts = np.unique(mdays, return_counts=True)
    if counts.max() >= 0.8 * len(mdays):
        return int(values[counts.argmax()])
    if (mdays >= 25).mean() >= 0.8:
        return "end"
    if (mdays <= 7).mean() >= 0.8:
        return "start"
    return int(np.median(mdays))


def _recent(days: np.ndarray) -> np.ndarray:
    """The latest LEARN_YEARS years of days."""
    if len(days) == 0:
        return days
    recent: np.ndarray = days[days > days[-1] - np.timedelta64(365 * LEARN_YEARS, "D")]
    return recent


def _open_weekdays(days: np.ndarray) -> tuple[int, ...]:
    """Weekdays with a value in at least half of the weeks; Monday-Friday when too short to tell."""
    if len(days) == 0:
        return (0, 1, 2, 3, 4)
    weekday = (days.astype(np.int64) + 3) % 7
    span_weeks = (int((days[-1] - days[0]).astype(np.int64)) + 1) / 7
    if span_weeks < 2:
        present = set(weekday.tolist())
        return tuple(range(7)) if present & {5, 6} else (0, 1, 2, 3, 4)
    counts = np.bincount(weekday, minlength=7)
    open_days = tuple(int(d) for d in np.flatnonzero(counts >= 0.5 * span_weeks))
    return open_days or (0, 1, 2, 3, 4)


def _missing_weekdays(days: np.ndarray, weekdays: tuple[int, ...]) -> np.ndarray:
    """Open weekdays between the first and last day that have no value."""
    every = np.arange(days[0], days[-1] + 1)
    every = every[np.isin((every.astype(np.int64) + 3) % 7, weekdays)]
    return every[~np.isin(every, days)]


def _matching_market(days: np.ndarray) -> str | None:
    """A candidate market calendar whose closing days the data confirms, if any.

    Confirmed: at most one data row on its closing weekdays, at least three of them in the
    data's span, and they explain at least 80 % of the weekdays the data lacks.
    """
    if len(days) < 2 or int((days[-1] - days[0]).astype(np.int64)) < 365:
        return None
    missing = _missing_weekdays(days, (0, 1, 2, 3, 4))
    years = range(days[0].item().year, days[-1].item().year + 1)
    best: tuple[int, str] | None = None
    for code in CANDIDATE_CALENDARS:
        try:
            closed = np.array(sorted(_holiday_table(code, years)), dtype="datetime64[D]")
        except ValueError:
            continue  # an older `holidays` without this market
        closed = closed[(closed >= days[0]) & (closed <= days[-1]) & ((closed.astype(np.int64) + 3) % 7 < 5)]
        if len(closed) < 3 or np.isin(days, closed).sum() > 1:
            continue
        explained = int(np.isin(missing, closed).sum())
        if explained >= 0.8 * len(missing) and (best is None or explained > best[0]):
            best = (explained, code)
    return best[1] if best else None


def _learned_closures(days: np.ndarray, weekdays: tuple[int, ...]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Fixed dates and Easter-relative days that, on open weekdays, never have a value.

    A closure needs at least three open-weekday occurrences in the data's span, all missing.
    """
    from dateutil.easter import easter

    if len(days) < 2:
        return (), ()
    first, last = days[0].item(), days[-1].item()
    present = set(days.tolist())

    def verdict(occurrences: list[date]) -> bool:
        seen = [d for d in occurrences if first <= d <= last and d.weekday() in weekdays]
        return len(seen) >= 3 and not any(d in present for d in seen)

    missing = _missing_weekdays(days, weekdays).tolist()
    candidates = sorted({(d.month, d.day) for d in missing})
    years = range(first.year, last.year + 1)
    closed_dates = tuple(
        f"{m:02d}-{d:02d}" for m, d in candidates
        if verdict([date(y, m, d) for y in years if d <= _stdcal.monthrange(y, m)[1]])
    )
    closed_easter = tuple(k for k in EASTER_OFFSETS
                          if verdict([easter(y) + timedelta(days=k) for y in years]))
    return closed_dates, closed_easter


_HOLIDAY_CACHE: dict[tuple[str, int], frozenset[date]] = {}


def _holiday_table(code: str, years: Iterable[int]) -> set[date]:
    """Closing days of a `holidays` financial calendar (or country, for two letters) in years."""
    out: set[date] = set()
    for year in years:
        key = (code, year)
        if key not in _HOLIDAY_CACHE:
            import holidays as holidays_lib  # only when needed: it takes a few tenths of a second

            try:
                if len(code) == 2:
                    table = holidays_lib.country_holidays(code, years=year)
                else:
                    table = holidays_lib.financial_holidays(code, years=year)
            except (NotImplementedError, KeyError) as exc:
                raise ValueError(f"the holidays package has no calendar {code!r}") from exc
            _HOLIDAY_CACHE[key] = frozenset(table.keys())
        out.update(_HOLIDAY_CACHE[key])
    return out


def recorded_calendar(
    record: Any,
    dates: Any,
    *,
    source: str | None = None,
    symbol: str | None = None,
    interval: str | None = None,
) -> Calendar:
    """The calendar a run recorded (meta.json `calendar`); inferred from dates when it has none."""
    if record is not None:
        try:
            return Calendar.from_dict(record)
        except ValueError:
            pass  # an edited or foreign record: the data still tells
    return infer_calendar(dates, source=source, symbol=symbol, interval=interval)


def staleness(calendar: Calendar, last: date | np.datetime64 | str, today: date) -> dict[str, Any] | None:
    """How stale the latest data day is on `today`, or None when it is recent enough.

    Stale: more than STALE_AFTER periods of the calendar lie after `last` up to today (5
    business days, 7 days, 2 weeks or 2 months). The record holds last_date, today, periods,
    unit and a message.
    """
    last = _as_date(last)
    periods = calendar.stale_periods(last, today)
    if periods is None:
        return None
    message = (f"the data ends on {last}, {periods} {calendar.unit} ago (on the {calendar.name} "
               f"calendar; today is {today}): the forecast is for the {calendar.unit} after {last}, not "
               "after today; fetch the series again for a current forecast")
    return {"last_date": str(last), "today": str(today), "periods": periods, "unit": calendar.unit,
            "message": message}


# --------------------------------------------------------------------------- sampling regimes

REGIME_RANGES = {"daily": (1, 5), "few-a-week": (1, 6), "weekly": (4, 11), "monthly": (20, 40)}
REGIME_WINDOW = 21  # consecutive gaps whose trimmed mean decides the sampling around a row


def latest_regime(days: np.ndarray) -> tuple[int, str, str | None]:
    """(first row of the latest sampling regime, its sampling, the sampling before it or None)."""
    gaps = np.diff(days).astype(np.int64)  # gaps[i]: days from days[i] to days[i + 1]
    if len(gaps) == 0:
        return 0, "daily", None
    final = gap_bucket(float(np.median(gaps[-60:])))
    if len(gaps) < 2 * REGIME_WINDOW:
        return 0, final, None
    half = REGIME_WINDOW // 2
    windows = np.sort(np.lib.stride_tricks.sliding_window_view(gaps, REGIME_WINDOW), axis=1)
    typical = windows[:, 3:-3].mean(axis=1)  # trimmed: three holidays or outages do not count
    typical = np.concatenate([[typical[0]] * half, typical, [typical[-1]] * (len(gaps) - len(typical) - half)])
    regimes = np.array([gap_bucket(float(m)) for m in typical])  # (n_gaps,) sampling around each gap
    final = str(regimes[-1])
    other = np.flatnonzero(regimes != final)
    if len(other) == 0:
        return 0, final, None
    begin = regime_start(gaps, int(other[-1]), final)  # other[-1]: the last gap read otherwise
    return begin, final, str(regimes[max(0, begin - REGIME_WINDOW)])  # clear of the blend at the boundary


def regime_start(gaps: np.ndarray, j: int, final: str) -> int:
    """The first row of the latest regime: walk back from gap j + 1 while gaps fit that regime.

    j is the last gap whose rolling median reads as another sampling; the walk stops at the
    first gap outside the latest regime's range (or 2 windows before j).
    """
    low, high = REGIME_RANGES.get(final, (1, 10**6))
    start = j + 1
    while start - 1 > max(-1, j - 2 * REGIME_WINDOW) and low <= gaps[start - 1] <= high:
        start -= 1
    return start


# --------------------------------------------------------------------------- helpers


def _as_date(value: date | np.datetime64 | str) -> date:
    if isinstance(value, datetime):
        return value.date()  # a datetime or Timestamp counts by its day
    if isinstance(value, date):
        return value
    day: date = np.asarray(value, dtype="datetime64[D]").item()
    return day


def _unique_days(dates: Any) -> np.ndarray:
    """Sorted unique datetime64[D] from any sequence of dates."""
    return np.unique(np.asarray(dates, dtype="datetime64[D]"))


__all__ = ["Calendar", "infer_calendar", "recorded_calendar", "staleness"]
