"""Bars that are no trading day: found in an imported file, settled with a note, never silently.

The calendar and the model should see the days that really traded. Files carry rows that do not:
- a broker's short Sunday bar each week (MetaTrader on a GMT+0 server: the Sunday-evening
  session of Monday's trading day) -> merged into the next day's bar;
- weekend or holiday fillers that only repeat the previous bar with volume 0 -> left out;
- rows from before 1900 (a stooq index from 1896) -> left out.
Forward-filled runs on open weekdays (an export that stopped updating) are not removed here:
seqcast.data.quality names them at fetch and train.

Each step appends a note {"kind", "message", "rows", "first", "last", ...} to the list given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from seqcast.errors import CSVFormatError

__all__ = ["copies_previous", "drop_before_1900", "settle_bars"]

SHORT_BAR = 0.25
"""A Sunday bar whose volume is below this share of the weekdays' median volume is a stub."""


def _weekday(index: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(index.day_of_week)


def _span(index: pd.DatetimeIndex) -> tuple[str, str]:
    return str(index[0].date()), str(index[-1].date())


def drop_before_1900(frame: pd.DataFrame, origin: str, notes: list[dict[str, Any]]) -> pd.DataFrame:
    """frame less its rows before 1900 (a leading run of the history), with a note."""
    early = frame.index < pd.Timestamp("1900-01-01")
    if not early.any():
        return frame
    if early.all():
        raise CSVFormatError(
            f"{origin}: the date {frame.index[0].date()} is before 1900, as is every date up to "
            f"{frame.index[-1].date()}; check the date column: seqcast reads dates from 1900 to tomorrow"
        )
    first, last = _span(pd.DatetimeIndex(frame.index[early]))
    notes.append({"kind": "before-1900", "rows": int(early.sum()), "first": first, "last": last,
                  "message": f"left out the {int(early.sum())} rows before 1900 ({first} .. {last}): seqcast "
                             f"keeps dates from 1900 on; the series starts {frame.index[~early][0].date()}"})
    return frame[~early]


def copies_previous(frame: pd.DataFrame) -> np.ndarray:
    """(rows,) True where a row only repeats the previous bar: the same Close, no range, volume 0 or none.

    No range: High == Low == Close, or every price column equal to the previous row's.
    """
    close = frame["Close"].to_numpy(dtype=float)
    same = np.zeros(len(frame), dtype=bool)
    if len(frame) < 2:
        return same
    same[1:] = close[1:] == close[:-1]
    prices = [c for c in ("Open", "High", "Low") if c in frame.columns]
    if prices:
        values = frame[prices].to_numpy(dtype=float)
        flat = np.all((values == close[:, None]) | np.isnan(values), axis=1)
        repeat = np.zeros(len(frame), dtype=bool)
        repeat[1:] = np.all((values[1:] == values[:-1]) | np.isnan(values[1:]), axis=1)
        same &= flat | repeat
    if "Volume" in frame.columns:
        volume = frame["Volume"].to_numpy(dtype=float)
        same &= np.nan_to_num(volume) == 0
    return same


def settle_bars(frame: pd.DataFrame, notes: list[dict[str, Any]]) -> pd.DataFrame:
    """frame with Sunday stubs merged into the next day's bar and filler rows left out (noted)."""
    if len(frame) < 10:
        return frame
    frame = _merge_sunday_stubs(frame, notes)
    return _drop_fillers(frame, notes)


def _merge_sunday_stubs(frame: pd.DataFrame, notes: list[dict[str, Any]]) -> pd.DataFrame:
    """A broker's Sunday bars merged into the following Monday (dropped where no Monday follows).

    Stubs: Sundays in at least a third of the weeks, Fridays present, Saturdays (almost) never,
    and, where there is a volume, Sundays' median volume below SHORT_BAR of the weekdays'.
    A Sun-Thu market (no Fridays) keeps its Sundays.
    """
    index = pd.DatetimeIndex(frame.index)
    weekday = _weekday(index)
    weeks = max(1.0, (index[-1] - index[0]).days / 7)
    sunday = weekday == 6
    if sunday.sum() < max(3, weeks / 3) or (weekday == 4).sum() < weeks / 3 or (weekday == 5).sum() > weeks / 20:
        return frame
    if "Volume" in frame.columns:
        volume = np.nan_to_num(frame["Volume"].to_numpy(dtype=float))
        weekdays_median = float(np.median(volume[weekday < 5]))
        if weekdays_median > 0 and float(np.median(volume[sunday])) >= SHORT_BAR * weekdays_median:
            return frame
    positions = np.flatnonzero(sunday)
    following = positions + 1
    has_monday = following < len(frame)
    has_monday[has_monday] = (index[following[has_monday]] - index[positions[has_monday]]).days == 1
    src, dst = positions[has_monday], following[has_monday]
    merged, dropped = len(src), int((~has_monday).sum())
    out = frame.copy()
    for column in ("Open", "High", "Low", "Volume"):
        if column not in out.columns:
            continue
        values = out[column].to_numpy(dtype=float).copy()
        a, b = values[src], values[dst]
        if column == "Open":  # Monday opens where the Sunday session opened
            values[dst] = np.where(np.isnan(a), b, a)
        elif column == "High":
            values[dst] = np.fmax(a, b)
        elif column == "Low":
            values[dst] = np.fmin(a, b)
        else:
            values[dst] = np.nansum(np.stack([a, b]), axis=0)
        out[column] = values
    first, last = _span(index[positions])
    tail = f", {dropped} with no Monday after them left out" if dropped else ""
    notes.append({"kind": "sunday-stubs", "rows": len(positions), "merged": merged, "dropped": dropped,
                  "first": first, "last": last, "dates": [str(d.date()) for d in index[positions[:20]]],
                  "message": f"{len(positions)} short Sunday bars ({first} .. {last}) merged into the following "
                             f"Monday's bar{tail}: a broker's Sunday-evening session, not a trading day of its "
                             "own; the calendar is Monday-Friday"})
    return out.drop(index[positions])


def _drop_fillers(frame: pd.DataFrame, notes: list[dict[str, Any]]) -> pd.DataFrame:
    """Weekend rows, and single weekday rows with volume 0, that only repeat the previous bar.

    Weekend fillers are left out when at least 80 % of the weekend rows are such copies (a
    market that trades at weekends has moves there). Holiday fillers: a copy on an open weekday,
    in runs of at most 3 rows, where the volume is otherwise positive (median > 0).
    """
    index = pd.DatetimeIndex(frame.index)
    copies = copies_previous(frame)
    weekend = _weekday(index) >= 5
    drop = np.zeros(len(frame), dtype=bool)
    kinds: list[str] = []
    if weekend.sum() >= 3 and copies[weekend].mean() >= 0.8:
        drop |= weekend & copies
        kinds.append("weekend")
    if "Volume" in frame.columns and np.median(np.nan_to_num(frame["Volume"].to_numpy(dtype=float))) > 0:
        weekday_copies = copies & ~weekend
        runs = _run_lengths(weekday_copies)
        holiday = weekday_copies & (runs <= 3)
        if holiday.any():
            drop |= holiday
            kinds.append("holiday")
    if not drop.any():
        return frame
    dates = index[drop]
    first, last = _span(dates)
    what = " and ".join(kinds)
    notes.append({"kind": "filler-rows", "rows": int(drop.sum()), "first": first, "last": last,
                  "dates": [str(d.date()) for d in dates[:20]],
                  "message": f"left out {int(drop.sum())} {what} rows ({first} .. {last}) that only repeat the "
                             "previous bar with volume 0: fillers, not trading days (they would set the calendar "
                             "and enter the model as days without a move)"})
    return frame[~drop]


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """(rows,) the length of the run of True each True element belongs to (0 where False)."""
    out = np.zeros(len(mask), dtype=np.int64)
    i = 0
    while i < len(mask):
        if mask[i]:
            j = i
            while j < len(mask) and mask[j]:
                j += 1
            out[i:j] = j - i
            i = j
        else:
            i += 1
    return out
