"""The one check every fetched series passes before it may touch the store.

A reply can be well-formed and still poison the store: NBP's JSON may carry
`"mid": NaN`, a CSV a 2099 date, a glitch a zero price. Every source calls
check_series on what it fetched (and the store calls it again for plug-in
sources), so nothing non-finite, non-positive (for prices) or dated outside
1900-01-01 .. tomorrow is ever stored.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from seqcast.errors import SeqcastError, UnexpectedResponseError

if TYPE_CHECKING:
    import pandas as pd

FIRST_DATE = date(1900, 1, 1)
PRICE_COLUMNS = ("Open", "High", "Low", "Close")
MAX_PRICE = 1e15
"""Larger than any price or rate quoted anywhere; beyond it a value is a glitch (e.g. 1e308)."""


def latest_allowed_date() -> date:
    """Tomorrow, by the later of the local and the UTC calendar (a source ahead of us is fine)."""
    return max(date.today(), datetime.now(timezone.utc).date()) + timedelta(days=1)


def check_series(
    frame: pd.DataFrame,
    origin: str,
    *,
    positive: bool = True,
    error: type[SeqcastError] = UnexpectedResponseError,
    next_step: str = "the source sent bad data; nothing was stored, try again later or use another --source",
) -> pd.DataFrame:
    """Return frame unchanged when every row is plausible, else raise `error` naming the first bad row.

    Checked: a date index without duplicates, dates within 1900-01-01 .. tomorrow,
    a finite Close on every row, finite values (or empty) in the other columns,
    and, with positive=True, prices above zero (and below 1e15) and no negative volume.
    A spread or an adjusted series that really goes to zero or below is passed with positive=False.
    """
    import numpy as np
    import pandas as pd

    if not isinstance(frame.index, pd.DatetimeIndex):
        raise error(f"{origin}: the rows are not indexed by date; {next_step}")
    if "Close" not in frame.columns:
        raise error(f"{origin}: there is no Close column; {next_step}")
    index = frame.index
    if index.hasnans:
        raise error(f"{origin}: a row has no date; {next_step}")
    if index.has_duplicates:
        day = index[index.duplicated()][0].date()
        raise error(f"{origin}: the date {day} appears more than once; {next_step}")
    early = index < pd.Timestamp(FIRST_DATE)
    late = index > pd.Timestamp(latest_allowed_date())
    if early.any() or late.any():
        day = index[early | late][0].date()
        when = "before 1900" if early.any() else "in the future"
        raise error(f"{origin}: the date {day} is {when}; {next_step}")

    for column in frame.columns:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        present = ~np.isnan(values) if column != "Close" else np.ones(len(values), dtype=bool)
        bad = present & ~np.isfinite(values)
        problem = "not a finite number"
        if positive and column in PRICE_COLUMNS:
            too_small = present & np.isfinite(values) & (values <= 0)
            too_large = present & np.isfinite(values) & (np.abs(values) >= MAX_PRICE)
            if not bad.any() and too_small.any():
                bad, problem = too_small, "zero or negative, not a price"
            elif not bad.any() and too_large.any():
                bad, problem = too_large, "too large to be a price"
        elif positive and not bad.any():
            negative = present & (values < 0)
            if negative.any():
                bad, problem = negative, "negative"
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise error(
                f"{origin}: {column} on {index[i].date()} is {float(values[i])!r} ({problem}); {next_step}"
            )
    return frame
