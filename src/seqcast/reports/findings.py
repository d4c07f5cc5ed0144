"""What a run found, in sentences: the one source the terminal, the chart's box and the report share.

`seqcast train` prints these sentences under its metric table, the chart's text box shows them
and the report's Result section says them, word for word. Each is built here from a run's
metrics.json and meta.json dicts only (so an old run reads the same way), claims only what its
test supports, and carries a tone the views may colour; no view words a finding itself.

Pure Python: nothing here imports rich, matplotlib or torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Tone = Literal["good", "bad", "neutral", "warning", "plain"]
"""good / bad / neutral: a verdict's words (a win, a loss, a tie or no significant difference);
warning: a caution whose lead ("lag warning: ") the views highlight; plain: a measurement."""

SAME_TOLERANCE = 5e-4
"""Ratios closer to 1 than this are a tie (as seqcast.forecast.metrics.verdict has it)."""


@dataclass(frozen=True)
class Finding:
    """One sentence: lead + words + tail. The views emphasise `words` (a verdict's tone) or `lead` (a warning)."""

    key: str
    """What it is about: verdict, direction, coverage, misses, interval, no_intervals, shrinkage, linear, lag."""
    lead: str
    words: str
    tail: str = ""
    tone: Tone = "plain"

    @property
    def text(self) -> str:
        """The whole sentence, as every view prints it."""
        return self.lead + self.words + self.tail


def _num(x: Any, digits: int = 5) -> str:
    """A number as the terminal's table shows it: `digits` significant digits, a dash for none."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}g}"


def _float(x: Any) -> float:
    """A recorded number (JSON null for nan) as a float; nan for anything else."""
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else math.nan


def _significance() -> float:
    from seqcast.forecast.metrics import SIGNIFICANCE

    return SIGNIFICANCE


def _p(pvalue: Any) -> str:
    from seqcast.forecast.metrics import p_text

    return p_text(_float(pvalue))


def beats_naive(test: Mapping[str, Any]) -> bool:
    """A lower RMSE than naive that the Diebold–Mariano test calls significant."""
    return _float(test.get("rmse_ratio")) < 1 and _float(test.get("dm_pvalue")) < _significance()


def verdict_tone(test: Mapping[str, Any]) -> Tone:
    """The tone of the verdict on the naive forecast: good only for a significant win."""
    from seqcast.forecast.metrics import naive_is_exact

    ratio, pvalue = _float(test.get("rmse_ratio")), _float(test.get("dm_pvalue"))
    if naive_is_exact(dict(test)):
        return "bad"
    if math.isnan(ratio) or abs(ratio - 1) < SAME_TOLERANCE or not pvalue < _significance():
        return "neutral"
    return "good" if ratio < 1 else "bad"


# --------------------------------------------------------------------------- a training run


def run_findings(metrics: Mapping[str, Any], meta: Mapping[str, Any]) -> list[Finding]:
    """Every sentence `seqcast train` prints under its table, in its order.

    metrics, meta: a run's metrics.json and meta.json (seqcast.runs.registry.Run.metrics / .meta).
    The run's extra inputs, printed by the terminal before the lag warning, are not a finding.
    """
    test = metrics.get("test")
    test = test if isinstance(test, Mapping) else {}
    found = [Finding("verdict", "test vs naive (Diebold–Mariano): ", str(metrics.get("verdict", "n/a")),
                     tone=verdict_tone(test))]
    found += [f for f in (direction_finding(test), coverage_finding(test), misses_finding(test),
                          interval_finding(test), no_intervals_finding(test, meta)) if f is not None]
    weight = meta.get("shrinkage_weight", 1.0)
    found += [f for f in (shrinkage_finding(weight), linear_finding(test), lag_finding(test, weight, meta))
              if f is not None]
    return found


def direction_finding(test: Mapping[str, Any]) -> Finding | None:
    """The direction's hit rate against always calling the majority direction (Pesaran–Timmermann)."""
    if "pt_pvalue" not in test:
        return None
    if not math.isfinite(_float(test.get("directional_accuracy"))):
        return Finding("direction", "direction: ", "not measurable (no test day moved)", "")
    return Finding("direction", "direction: ",
                   f"{_num(100 * _float(test.get('directional_accuracy')), 3)} % called right; always the "
                   f"majority direction: {_num(100 * _float(test.get('majority_direction_accuracy')), 3)} % "
                   f"(Pesaran–Timmermann p = {_p(test['pt_pvalue'])}, one-sided)")


def coverage_finding(test: Mapping[str, Any]) -> Finding | None:
    """The interval's coverage on the test days, overall and per third by recent volatility."""
    if "interval_coverage" not in test:
        return None
    pct = {k: f"{100 * _float(test.get(f'interval_coverage_{k}')):.1f}" for k in ("calm", "mid", "wild")}
    return Finding("coverage", "", f"{_float(test.get('interval_level')):.0%} intervals covered "
                   f"{100 * _float(test['interval_coverage']):.1f} % of test days (calm / middle / wild third by "
                   f"recent volatility: {pct['calm']} / {pct['mid']} / {pct['wild']} %)")


def misses_finding(test: Mapping[str, Any]) -> Finding | None:
    """The coverage backtests in words: the miss rate against Kupiec's test, clustering against Christoffersen's.

    "misses: 8.1 % of days, as expected (Kupiec p = 0.41); not clustered (Christoffersen p = 0.63)";
    too many or too few misses and clustered ones are said so only at p below SIGNIFICANCE.
    """
    if "interval_miss_rate" not in test:
        return None
    level = _float(test.get("interval_level"))
    rate, expected = _float(test["interval_miss_rate"]), 1 - level
    kupiec, ind = _float(test.get("kupiec_pvalue")), _float(test.get("christoffersen_ind_pvalue"))
    if kupiec < _significance():
        how = f"{'more' if rate > expected else 'fewer'} than the {100 * expected:.0f} % expected"
    else:
        how = "as expected"
    if math.isnan(ind):
        spread = f"clustering not testable (too few {'misses' if rate < 0.5 else 'days inside the interval'})"
    elif not ind < _significance():
        spread = f"not clustered (Christoffersen p = {_p(ind)})"
    elif _float(test.get("interval_miss_after_miss")) > rate:
        after = 100 * _float(test.get("interval_miss_after_miss"))
        spread = f"clustered: {after:.1f} % of days after a miss missed too (Christoffersen p = {_p(ind)})"
    else:
        spread = f"spread out more evenly than chance (Christoffersen p = {_p(ind)})"
    tone: Tone = "warning" if kupiec < _significance() or ind < _significance() else "plain"
    return Finding("misses", "misses: ", f"{100 * rate:.1f} % of days, {how} (Kupiec p = {_p(kupiec)}); {spread}",
                   tone=tone)


def interval_verdict(ratio: float, pvalue: float | None) -> tuple[str, Tone]:
    """The interval score against a GARCH(1,1) band's, claiming only what its Diebold–Mariano test supports.

    ratio: the interval's mean score over the band's (below 1: better); pvalue: the test of the
    daily score differences (None or nan: no test, so nothing is called significant).
    """
    ratio, p = float(ratio), _float(pvalue)
    if math.isnan(ratio):
        return "not comparable with a GARCH(1,1) band", "neutral"
    if abs(1 - ratio) < SAME_TOLERANCE:
        return "the same score as a GARCH(1,1) band", "neutral"
    percent = abs(1 - ratio) * 100
    if p < _significance():
        if ratio < 1:
            return f"sharper than a GARCH(1,1) band by {percent:.1f} % (p = {_p(p)})", "good"
        return f"wider-scored than GARCH(1,1) by {percent:.1f} % (p = {_p(p)})", "bad"
    direction = "lower" if ratio < 1 else "higher"
    return f"no significant difference from a GARCH(1,1) band ({percent:.1f} % {direction} score, p = {_p(p)})", \
        "neutral"


def interval_finding(test: Mapping[str, Any]) -> Finding | None:
    """The interval score next to a GARCH(1,1) band's, with the verdict of its test (or why there is none)."""
    skipped = test.get("garch_skipped")
    if skipped and "garch_interval_score" not in test:  # the evaluation's reason (forecast.evaluation)
        reason = skipped if isinstance(skipped, str) else "the run recorded no GARCH(1,1) band"
        return Finding("interval", "no comparison with a GARCH(1,1) band: ", reason, tone="neutral")
    if "garch_interval_score" not in test:
        return None
    words, tone = interval_verdict(_float(test.get("interval_score_ratio")), test.get("interval_score_dm_pvalue"))
    return Finding("interval", "interval vs GARCH(1,1) (Diebold–Mariano): ", words,
                   f"; interval score {_num(_float(test.get('interval_score')), 4)} vs "
                   f"{_num(_float(test['garch_interval_score']), 4)}, lower is better", tone=tone)


def no_intervals_finding(test: Mapping[str, Any], meta: Mapping[str, Any]) -> Finding | None:
    """Why a run has no calibrated intervals, with the next step."""
    if meta.get("interval_widths") or "interval_coverage" in test:
        return None
    from seqcast.forecast.evaluation import no_intervals_reason

    split = meta.get("split")
    windows = split.get("windows") if isinstance(split, Mapping) else None
    val_windows = windows.get("val") if isinstance(windows, Mapping) else None
    return Finding("no_intervals", "no intervals: ", no_intervals_reason(val_windows), tone="warning")


def shrinkage_finding(weight: Any) -> Finding | None:
    """What the shrinkage toward naive did: nothing (weight 1), scaled moves, or no signal (weight 0)."""
    if weight == 0.0:
        return Finding("shrinkage", "no signal: ", "on the validation tail the network's moves did not beat "
                       "'no change', so its forecasts were shrunk to the naive forecast "
                       "(direction shown is the network's own)", tone="warning")
    if isinstance(weight, (int, float)) and weight < 1.0:
        return Finding("shrinkage", "", f"predicted moves scaled by {weight:.3f} (fitted on the validation tail)")
    return None


def linear_finding(test: Mapping[str, Any], *, pooled: bool = False) -> Finding | None:
    """The simplest model on the same inputs, as a ratio to naive's RMSE."""
    key = "rmse_ratio" if pooled else "linear_rmse_ratio"
    if key not in test:
        return None
    return Finding("linear", "linear regression on the same inputs: ",
                   f"{'pooled ratio' if pooled else 'ratio'} {_num(_float(test[key]), 4)}")


def lag_finding(test: Mapping[str, Any], weight: Any, meta: Mapping[str, Any]) -> Finding | None:
    """The lag warning: flagged by the diagnosis, the network's moves kept (weight above 0), and no
    significant win over naive (a cautious forecaster sits near yesterday and still wins)."""
    if not test.get("lag_detected") or not _float(weight) > 0.0 or beats_naive(test):
        return None
    from seqcast.forecast.metrics import lag_warning

    return Finding("lag", "lag warning: ", lag_warning(meta.get("calendar")), tone="warning")


# --------------------------------------------------------------------------- a walk-forward backtest


def backtest_findings(pooled: Mapping[str, Any], verdict: str, folds: list[Mapping[str, Any]],
                      linear: Mapping[str, Any] | None = None) -> list[Finding]:
    """The sentences `seqcast backtest` prints under its fold table.

    pooled: the metrics on every fold's test days together; verdict: its verdict on naive;
    folds: each fold's metrics; linear: the pooled least-squares fit's {"rmse_ratio": ...}, if any.
    """
    beats = sum(1 for m in folds if beats_naive(m))
    found = [Finding("verdict", "pooled test vs naive (Diebold–Mariano): ", verdict,
                     f"; {beats} of {len(folds)} folds beat naive significantly", tone=verdict_tone(pooled))]
    line = linear_finding(linear or {}, pooled=True)
    return found + ([line] if line is not None else [])


# --------------------------------------------------------------------------- a calendar

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EASTER = {-3: "Maundy Thursday", -2: "Good Friday", 1: "Easter Monday", 39: "Ascension Day",
           50: "Whit Monday", 60: "Corpus Christi"}


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _weekdays(days: Any) -> str:
    """(0, 1, 2, 3, 4) -> "Monday to Friday"; (0, 2, 4) -> "Monday, Wednesday and Friday"."""
    picked = sorted({d for d in days if isinstance(d, int) and 0 <= d <= 6}) if isinstance(days, list) else []
    if not picked:
        return "unknown weekdays"
    if picked == list(range(7)):
        return "every day of the week"
    if len(picked) > 2 and picked == list(range(picked[0], picked[-1] + 1)):
        return f"{_WEEKDAYS[picked[0]]} to {_WEEKDAYS[picked[-1]]}"
    return _and([_WEEKDAYS[d] for d in picked])


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def _month_day(text: str) -> str:
    """"12-24" -> "24 December"; anything else as it is."""
    month, _, day = text.partition("-")
    if month.isdigit() and day.isdigit() and 1 <= int(month) <= 12:
        return f"{int(day)} {_MONTHS[int(month) - 1]}"
    return text


def _rhythm(cal: Mapping[str, Any]) -> str:
    frequency, anchor = cal.get("frequency"), cal.get("anchor")
    if frequency == "weekly":
        day = _WEEKDAYS[anchor] if isinstance(anchor, int) and 0 <= anchor <= 6 else "the same weekday"
        return f"one value a week, on {day}s"
    if frequency == "monthly":
        where = {"start": "the first open day", "end": "the last open day"}.get(str(anchor), f"day {anchor}")
        return f"one value a month, on {where}"
    if frequency == "fixed-step":
        step = cal.get("step_days")
        return f"one value every {step} days" if isinstance(step, int) and step > 1 else "one value a day"
    if frequency == "daily":
        return "one value every day"
    return f"one value each business day, {_weekdays(cal.get('weekdays'))}"


def calendar_sentence(calendar: Any) -> str:
    """A run's recorded calendar (meta.json `calendar`) in one sentence for people.

    "the ECB TARGET calendar: one value each business day, Monday to Friday, closed on ECB holidays
    (source sample)". Anything that is not a calendar record is shown as it is.
    """
    if not isinstance(calendar, Mapping):
        return str(calendar)
    parts = [_rhythm(calendar)]
    dates = [_month_day(str(d)) for d in calendar.get("closed_dates") or []]
    easter = [_EASTER.get(k, f"{k:+d} days from Easter") for k in calendar.get("closed_easter") or []
              if isinstance(k, int)]
    yearly = f"each year on {_and(dates + easter)}" if dates or easter else ""
    if calendar.get("holidays"):
        parts.append(f"closed on {calendar['holidays']} holidays" + (f" and {yearly}" if yearly else ""))
    elif yearly:
        parts.append(f"closed {yearly}")
    reason = f" ({calendar['reason']})" if calendar.get("reason") else ""
    return f"the {calendar.get('name', 'recorded')} calendar: " + ", ".join(parts) + reason
