"""Rows that are stored but did not really trade: forward-filled runs and open weekdays without a value.

`quality_warnings` is what `seqcast fetch` prints about the stored series and what a run records
among its data warnings (seqcast.data.sampling): each names the rows (count, first and last date)
and the fix, as {"kind", "message", "rows", "first", "last", "from"/"to", ...}.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np

__all__ = ["FLAT_RUN", "flat_runs", "missing_weekdays", "quality_warnings"]

FLAT_RUN = 10
"""This many consecutive rows with one close (and volume 0 where there is a volume) are a forward fill."""
MISSING_RUN = 3
"""This many occurrences of one open weekday missing lately are named ("9 Fridays missing since ...")."""
_DAY_NAMES = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")


def flat_runs(dates: Any, close: Any, volume: Any = None) -> list[dict[str, Any]]:
    """Runs of at least FLAT_RUN rows repeating one close (volume 0 or absent on every row of the run).

    dates: (rows,) sorted dates; close, volume: (rows,) floats. A series that never moves at all
    (a peg) is no forward fill and gives nothing here. The row before a run is the last real
    bar; the run's own rows are copies of it.
    """
    days = np.asarray(dates, dtype="datetime64[D]")
    close = np.asarray(close, dtype=float)
    if len(close) < FLAT_RUN + 1 or np.unique(close[np.isfinite(close)]).size <= 1:
        return []
    copy = np.zeros(len(close), dtype=bool)
    copy[1:] = close[1:] == close[:-1]
    if volume is not None:
        vol = np.asarray(volume, dtype=float)
        if np.isfinite(vol).any():
            copy &= np.nan_to_num(vol) == 0
    out = []
    i, n = 1, len(close)
    while i < n:
        if not copy[i]:
            i += 1
            continue
        j = i
        while j < n and copy[j]:
            j += 1
        if j - i + 1 >= FLAT_RUN:  # rows i-1 .. j-1 carry one close; i .. j-1 repeat row i-1
            out.append(_flat_warning(days, close, i, j, volume is not None))
        i = j
    return out


def _flat_warning(days: np.ndarray, close: np.ndarray, i: int, j: int, has_volume: bool) -> dict[str, Any]:
    rows, first, last = j - i, str(days[i]), str(days[j - 1])
    at_end = j == len(days)
    vol = " with volume 0" if has_volume else ""
    if at_end:
        key, value = "to", str(days[i - 1])
        fix = f"train with --to {value} (the last real bar), or fetch the series again or from another source"
        what = f"the last {rows} rows"
    else:
        key, value = "from", str(days[j])
        fix = f"train with --from {value} to start after it, or fetch those days again"
        what = f"{rows} rows"
    message = (f"{what} ({first} .. {last}) repeat the close {close[i]:g} of {days[i - 1]}{vol}: a forward-filled "
               "export, not days without a move; a model trained or tested on them learns a market that stood "
               f"still: {fix}")
    return {"kind": "flat-run", "message": message, "rows": rows, "first": first, "last": last,
            "value": float(close[i]), key: value}


def missing_weekdays(dates: Any, weekdays: tuple[int, ...], closed: Any = ()) -> list[dict[str, Any]]:
    """Open weekdays that lately have no value: at least MISSING_RUN occurrences of one weekday missing
    since some date, that weekday present before (a feed that dropped its Fridays).

    dates: stored dates; weekdays: the calendar's open weekdays (Monday = 0); closed: its closing
    days (holidays), which do not count as missing.
    """
    days = np.unique(np.asarray(dates, dtype="datetime64[D]"))
    if len(days) < 20:
        return []
    closed_days = np.asarray(list(closed), dtype="datetime64[D]")
    # Through the end of the latest data's week once that week is over: a feed that stops on
    # Thursdays has lost that week's Friday too.
    week_end = days[-1] + (6 - (int(days[-1].astype(np.int64)) + 3) % 7)
    yesterday = np.datetime64(date.today(), "D") - 1
    every = np.arange(days[0], max(days[-1], min(week_end, yesterday)) + 1)
    every = every[~np.isin(every, closed_days)]
    weekday = (every.astype(np.int64) + 3) % 7
    out = []
    for w in weekdays:
        occurrences = every[weekday == w]
        if len(occurrences) < 2 * MISSING_RUN:
            continue
        present = np.isin(occurrences, days)
        # The longest suffix whose first occurrence is missing and where >= 75 % are missing.
        best = None
        missing_count = 0
        for k in range(len(occurrences) - 1, -1, -1):
            missing_count += not present[k]
            span = len(occurrences) - k
            if not present[k] and missing_count >= MISSING_RUN and missing_count >= 0.75 * span:
                best = k
        if best is None or best == 0 or present[:best].mean() < 0.75:
            continue
        since = occurrences[best]
        gone = occurrences[best:][~present[best:]]
        last_seen = occurrences[:best][present[:best]]
        seen = f" (the last with a value: {last_seen[-1]})" if len(last_seen) else ""
        message = (f"{len(gone)} {_DAY_NAMES[w]} missing since {since}{seen}: open weekdays without a value, so each "
                   f"move across one is two days' move in one step; fetch the series again or from another source, "
                   f"or train with --to {days[days < since][-1]}")
        out.append({"kind": "missing-weekdays", "message": message, "weekday": _DAY_NAMES[w][:-1],
                    "rows": len(gone), "first": str(gone[0]), "last": str(gone[-1]),
                    "dates": [str(d) for d in gone[:20]], "to": str(days[days < since][-1])})
    return out


def quality_warnings(dates: Any, close: Any, volume: Any = None, *, source: str | None = None,
                     symbol: str | None = None, interval: str | None = None) -> list[dict[str, Any]]:
    """Forward-filled runs and lately missing weekdays of a daily series (empty for weekly/monthly bars)."""
    from seqcast.data.calendars import infer_calendar, latest_regime

    out = flat_runs(dates, close, volume)
    days = np.unique(np.asarray(dates, dtype="datetime64[D]"))
    if len(days) < 20 or interval in ("w", "m"):
        return out
    begin, sampling, _ = latest_regime(days)
    if sampling != "daily":
        return out
    days = days[begin:]  # a change of sampling is sampling_warnings' to name
    calendar = infer_calendar(days, source=source, symbol=symbol, interval=interval)
    if calendar.frequency not in ("business-daily", "daily"):
        return out
    years = range(days[0].item().year, days[-1].item().year + 1)
    return out + missing_weekdays(days, calendar.weekdays, calendar.closed_days(years))
