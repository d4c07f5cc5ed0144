"""The sampling of the rows a training would use: a change of frequency, extreme gaps.

`sampling_warnings` finds them, with the `--from` that avoids them; `sampling_record` is what a
run records about its data: the calendar (seqcast.data.calendars) and these warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np

from seqcast.data.calendars import (
    GAP_LIMIT_DAYS,
    _unique_days,
    infer_calendar,
    latest_regime,
)


@dataclass(frozen=True)
class SamplingWarning:
    """Something in the sampling of a series' dates that a model trained on it would suffer from."""

    kind: Literal["frequency-change", "gaps"]
    message: str
    start: str | None = None
    """The --from date (YYYY-MM-DD) that avoids it."""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "from": self.start, **self.details}




def sampling_warnings(dates: Any) -> list[SamplingWarning]:
    """A change of sampling frequency or extreme gaps in these dates (the rows to train on).

    Frequency: around every gap, the mean of 21 consecutive gaps less the three shortest and
    three longest (so holidays do not count) is read as daily (<= 1.8 days), a few days a week
    (<= 4.5), weekly (<= 10.5), monthly (20-40) or irregular. Where it reads otherwise than
    at the latest dates, the latest regime's first date is the `--from` to suggest. Gaps:
    within the latest regime, gaps longer than GAP_LIMIT_DAYS (14 calendar days for daily
    data, 35 weekly, 100 monthly; else 5 typical gaps); the date after the last one is the
    `--from` to suggest.
    """
    days = _unique_days(dates)
    if len(days) < 3:
        return []
    gaps = np.diff(days).astype(np.int64)  # gaps[i]: days from days[i] to days[i + 1]
    out: list[SamplingWarning] = []
    begin, final, before = latest_regime(days)
    if before is not None:
        first_new = str(days[begin])
        last_old = str(days[begin - 1]) if begin > 0 else str(days[0])
        message = (
            f"the data changes sampling: {_sampling_name(before)} until {last_old}, "
            f"{_sampling_name(final)} from {first_new}; a model trained across the change mixes "
            f"{_move_name(before)} and {_move_name(final)} moves as if they were alike: "
            f"train with --from {first_new}"
        )
        out.append(SamplingWarning("frequency-change", message, first_new,
                                   {"before": _sampling_name(before), "after": _sampling_name(final)}))
    limit = GAP_LIMIT_DAYS.get("business-daily" if final in ("daily", "few-a-week") else final)
    tail = gaps[begin:]
    if limit is None:
        limit = 5 * max(1, int(np.median(tail)))
    big = np.flatnonzero(tail > limit) + begin
    if len(big):
        longest = int(big[np.argmax(gaps[big])])
        after = str(days[big[-1] + 1])
        count = f"{len(big)} gaps" if len(big) > 1 else "a gap"
        message = (
            f"the data has {count} longer than {limit} days (the longest: {days[longest]} .. "
            f"{days[longest + 1]}, {int(gaps[longest])} days), each one step for the model; "
            f"train with --from {after} to start after the last one, or fetch the missing days"
        )
        out.append(SamplingWarning("gaps", message, after,
                                   {"gaps": len(big), "longest_days": int(gaps[longest]),
                                    "limit_days": limit}))
    return out


def _sampling_name(kind: str) -> str:
    return {"daily": "daily", "few-a-week": "a few days a week", "weekly": "weekly",
            "monthly": "monthly"}.get(kind, "irregular")


def _move_name(kind: str) -> str:
    return {"daily": "one-day", "few-a-week": "several-day", "weekly": "one-week",
            "monthly": "one-month"}.get(kind, "irregularly spaced")


# --------------------------------------------------------------------------- runs


def sampling_record(
    stored_dates: Any,
    used_dates: Any,
    *,
    source: str | None = None,
    symbol: str | None = None,
    interval: str | None = None,
    used_close: Any = None,
    used_volume: Any = None,
) -> dict[str, Any]:
    """What a run or backtest records: {"calendar": ..., "data_warnings": [...]}.

    The calendar comes from all stored dates (forecasts continue from the latest of them),
    with its `holidays` closing days from the latest stored year to two years after today
    written into it; the warnings come from the rows actually used: their sampling, and with
    used_close (and used_volume), (rows,) floats, forward-filled runs and lately missing
    weekdays (seqcast.data.quality).
    """
    from seqcast.data.quality import quality_warnings

    calendar = infer_calendar(stored_dates, source=source, symbol=symbol, interval=interval)
    stored_days = _unique_days(stored_dates)
    if len(stored_days):  # closing days from the latest data to two years after today, written down
        first = stored_days[-1].item().year
        calendar = calendar.with_known_years(range(first, max(first, date.today().year) + 3))
    warnings = [w.to_dict() for w in sampling_warnings(used_dates)]
    if used_close is not None:
        warnings += quality_warnings(used_dates, used_close, used_volume, source=source, symbol=symbol,
                                     interval=interval)
    return {"calendar": calendar.to_dict(), "data_warnings": warnings}


__all__ = ["SamplingWarning", "sampling_record", "sampling_warnings"]
