"""A history that changed under a run: what a run's data looked like, and what changed since.

A run's meta.json keeps a fingerprint of its data (seqcast.inputs.loading.fingerprint) and, from
`anchors`, the closes of its latest ANCHOR_LATEST rows and of ANCHOR_SPREAD rows spread over the
rest. When the fingerprint no longer matches the stored data, `describe_change` compares those
rows with the stored ones: the whole history rescaled by one factor (a split, a re-adjustment),
or rows revised (dates named), or rows gone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ANCHOR_LATEST", "ANCHOR_SPREAD", "anchors", "describe_change"]

ANCHOR_LATEST = 60
"""The latest rows a run keeps the close of (sources revise their latest rows)."""
ANCHOR_SPREAD = 40
"""Rows spread evenly over the older part whose closes a run keeps (a split rescales all of them)."""
_REL_TOL = 1e-9


def anchors(dates: Any, values: Any) -> dict[str, list[Any]]:
    """{"dates": [YYYY-MM-DD, ...], "close": [float, ...]} of the rows describe_change checks later.

    dates: (rows,) the dates a run was trained on; values: (rows,) their closes.
    """
    days = np.asarray(dates, dtype="datetime64[D]")
    close = np.asarray(values, dtype=float)
    n = len(days)
    older = max(0, n - ANCHOR_LATEST)
    picks = np.unique(np.r_[np.linspace(0, older - 1, min(ANCHOR_SPREAD, older)).astype(int) if older else [],
                            np.arange(older, n)].astype(int))
    return {"dates": [str(d) for d in days[picks]], "close": [float(c) for c in close[picks]]}


def describe_change(recorded: Any, dates: Any, values: Any) -> dict[str, Any] | None:
    """What changed between a run's anchors and the stored (dates, values), or None when nothing did
    (or the record is missing or malformed).

    Returns {"kind": "rescaled", "factor": f, "checked": k, "message"} when every checked close is
    one factor (not 1) times the recorded one, else {"kind": "revised", "rows": n, "dates": [...],
    "missing": m, "checked": k, "message"} naming the revised (and vanished) dates.
    """
    if not isinstance(recorded, dict):
        return None
    try:
        old_days = np.asarray(recorded["dates"], dtype="datetime64[D]")
        old_close = np.asarray(recorded["close"], dtype=float)
    except (KeyError, TypeError, ValueError):
        return None
    if len(old_days) == 0 or len(old_days) != len(old_close):
        return None
    days = np.asarray(dates, dtype="datetime64[D]")
    close = np.asarray(values, dtype=float)
    at = np.searchsorted(days, old_days)
    found = (at < len(days)) & (days[np.minimum(at, len(days) - 1)] == old_days)
    now = np.where(found, close[np.minimum(at, len(days) - 1)], np.nan)
    gone = old_days[~found]
    both = found & (old_close != 0)
    if both.sum() >= 3:
        ratios = now[both] / old_close[both]
        factor = float(np.median(ratios))
        if abs(factor - 1) > 1e-6 and np.allclose(ratios, factor, rtol=1e-3, atol=0) and not len(gone):
            return {"kind": "rescaled", "factor": factor, "checked": int(both.sum()),
                    "message": f"the stored history was rescaled by {factor:.6g} since this run was trained "
                               f"(each of the {int(both.sum())} checked closes is {factor:.6g} times the one "
                               "trained on: a split or a re-adjustment)"}
    differ = found & ~np.isclose(now, old_close, rtol=_REL_TOL, atol=0)
    revised = [str(d) for d in old_days[differ]]
    if not revised and not len(gone):
        return {"kind": "revised", "rows": 0, "dates": [], "missing": 0, "checked": int(found.sum()),
                "message": "the stored data was revised since this run was trained (outside the rows it keeps "
                           "to compare)"}
    shown = ", ".join(revised[:5]) + (f" and {len(revised) - 5} more" if len(revised) > 5 else "")
    parts = [f"{len(revised)} row{'s' if len(revised) != 1 else ''} revised ({shown})"] if revised else []
    if len(gone):
        parts.append(f"{len(gone)} trained date{'s' if len(gone) != 1 else ''} no longer stored (first {gone[0]})")
    return {"kind": "revised", "rows": len(revised), "dates": revised[:50], "missing": len(gone),
            "checked": len(old_days),
            "message": f"the stored data changed since this run was trained: {'; '.join(parts)} "
                       f"(of the {len(old_days)} rows the run keeps to compare)"}
