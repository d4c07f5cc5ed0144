"""One source of findings: each sentence for each case, the coverage backtests against hand-computed
values, and the report saying word for word what `seqcast train` prints."""

from __future__ import annotations

import math

import numpy as np
import pytest
from typer.testing import CliRunner

from seqcast.cli import app
from seqcast.errors import DataError
from seqcast.forecast.metrics import coverage_backtests
from seqcast.forecast.stats import chi2_sf, christoffersen, kupiec
from seqcast.reports.findings import (
    backtest_findings,
    calendar_sentence,
    interval_finding,
    interval_verdict,
    lag_finding,
    misses_finding,
    run_findings,
    shrinkage_finding,
)

runner = CliRunner()

# Misses on days 2, 3, 8 and 14 of 20: x = 4, and the day-to-day transitions counted by hand:
# n00 = 12 (days 1, 5-7, 10-13, 16-19), n01 = 3 (days 2, 8, 14), n10 = 3 (days 4, 9, 15), n11 = 1 (day 3).
MISSES = [0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]


# --------------------------------------------------------------------------- the statistics


def test_kupiec_matches_the_hand_computed_likelihood_ratio():
    n, x, a = 20, 4, 0.1
    lr = -2 * math.log((1 - a) ** (n - x) * a**x / ((1 - x / n) ** (n - x) * (x / n) ** x))
    stat, pvalue = kupiec(MISSES, 0.9)
    assert stat == pytest.approx(lr, rel=1e-12) and stat == pytest.approx(1.776120, abs=1e-6)
    assert pvalue == pytest.approx(math.erfc(math.sqrt(lr / 2)), rel=1e-12)  # chi-square(1) upper tail
    assert pvalue == pytest.approx(0.182626, abs=1e-6)


def test_christoffersen_matches_the_hand_computed_transitions():
    n00, n01, n10, n11 = 12, 3, 3, 1
    pi01, pi11, pi = n01 / (n00 + n01), n11 / (n10 + n11), (n01 + n11) / 19
    lr_ind = -2 * (math.log((1 - pi) ** (n00 + n10) * pi ** (n01 + n11))
                   - math.log((1 - pi01) ** n00 * pi01**n01 * (1 - pi11) ** n10 * pi11**n11))
    out = christoffersen(MISSES, 0.9)
    assert out["lr_ind"] == pytest.approx(lr_ind, rel=1e-12)
    assert out["ind_pvalue"] == pytest.approx(math.erfc(math.sqrt(lr_ind / 2)), rel=1e-12)
    lr_cc = kupiec(MISSES, 0.9)[0] + lr_ind
    assert out["lr_cc"] == pytest.approx(lr_cc, rel=1e-12)
    assert out["cc_pvalue"] == pytest.approx(math.exp(-lr_cc / 2), rel=1e-12)  # chi-square(2) upper tail
    assert out["miss_after_miss"] == pytest.approx(0.25)


def test_chi2_tail_agrees_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    for x in (0.0, 0.01, 0.5, 1.0, 3.841458820694124, 5.991464547107979, 12.0, 80.0):
        assert chi2_sf(x, 1) == pytest.approx(stats.chi2.sf(x, 1), rel=1e-9, abs=1e-300)
        assert chi2_sf(x, 2) == pytest.approx(stats.chi2.sf(x, 2), rel=1e-9, abs=1e-300)
    assert chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-9)
    assert chi2_sf(-1e-12, 1) == 1.0 and math.isnan(chi2_sf(math.nan, 2))


def test_clustered_misses_are_found_and_independent_ones_are_not():
    rng = np.random.default_rng(0)
    scattered = (rng.random(1000) < 0.1).astype(int)
    clustered = np.zeros(1000, dtype=int)
    for start in range(0, 1000, 50):  # the same 10 % miss rate, in runs of five days
        clustered[start:start + 5] = 1
    assert christoffersen(scattered, 0.9)["ind_pvalue"] > 0.05
    assert kupiec(clustered, 0.9)[1] == pytest.approx(1.0)  # the rate is exactly right ...
    assert christoffersen(clustered, 0.9)["ind_pvalue"] < 1e-10  # ... but the misses come together
    assert christoffersen(clustered, 0.9)["cc_pvalue"] < 1e-10


def test_backtests_of_no_misses_and_of_bad_input():
    stat, pvalue = kupiec(np.zeros(100), 0.9)
    assert stat == pytest.approx(-2 * 100 * math.log(0.9)) and pvalue < 0.001  # too few misses
    assert math.isnan(christoffersen(np.zeros(100), 0.9)["ind_pvalue"])  # nothing to test independence on
    with pytest.raises(DataError, match="0 or 1"):
        kupiec([0, 2, 1], 0.9)


def test_coverage_backtests_count_a_value_outside_its_bounds_as_a_miss():
    actual = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    out = coverage_backtests(actual, actual - [1, 1, -0.5, 1, 1], actual + np.array([1, 1, 1, 1, -0.1]), 0.8)
    assert out["interval_miss_rate"] == pytest.approx(0.4)  # day 3 below, day 5 above; the edges are inside
    assert out["kupiec_pvalue"] == pytest.approx(kupiec([0, 0, 1, 0, 1], 0.8)[1])
    unbounded = coverage_backtests(actual, np.full(5, -np.inf), np.full(5, np.inf), 0.8)
    assert unbounded["interval_miss_rate"] == 0.0


# --------------------------------------------------------------------------- the sentences


def _test(**extra):
    base = {"rmse_ratio": 1.0, "dm_pvalue": 0.5, "rmse": 1.0, "naive_rmse": 1.0, "directional_accuracy": 0.5}
    return {**base, **extra}


@pytest.mark.parametrize(("ratio", "pvalue", "words", "tone"), [
    (0.96, 0.003, "sharper than a GARCH(1,1) band by 4.0 % (p = 0.003)", "good"),
    (0.99, 0.4, "no significant difference from a GARCH(1,1) band (1.0 % lower score, p = 0.4)", "neutral"),
    (1.013, 0.0072, "wider-scored than GARCH(1,1) by 1.3 % (p = 0.0072)", "bad"),
    (1.013, None, "no significant difference from a GARCH(1,1) band (1.3 % higher score, p = n/a)", "neutral"),
    (1.0002, 0.001, "the same score as a GARCH(1,1) band", "neutral"),
])
def test_the_interval_verdict_follows_its_test(ratio, pvalue, words, tone):
    assert interval_verdict(ratio, pvalue) == (words, tone)


def test_the_interval_sentence_names_both_scores():
    test = _test(interval_score=0.05789, garch_interval_score=0.05714, interval_score_ratio=1.013,
                 interval_score_dm_pvalue=0.0072)
    assert interval_finding(test).text == ("interval vs GARCH(1,1) (Diebold–Mariano): wider-scored than GARCH(1,1) "
                                           "by 1.3 % (p = 0.0072); interval score 0.05789 vs 0.05714, lower is better")


def test_a_skipped_garch_comparison_is_said_instead_of_a_number():
    reason = ("the training part barely moves (3 of 400 daily moves differ from 0), so a GARCH(1,1) band "
              "fitted on it is degenerate")
    text = interval_finding(_test(interval_score=0.05, interval_coverage=1.0, garch_skipped=reason)).text
    assert text == f"no comparison with a GARCH(1,1) band: {reason}"
    assert "sharper" not in text and "wider-scored" not in text and "p =" not in text


@pytest.mark.parametrize(("extra", "sentence"), [
    ({"interval_miss_rate": 0.081, "kupiec_pvalue": 0.41, "christoffersen_ind_pvalue": 0.63},
     "misses: 8.1 % of days, as expected (Kupiec p = 0.41); not clustered (Christoffersen p = 0.63)"),
    ({"interval_miss_rate": 0.142, "kupiec_pvalue": 0.003, "christoffersen_ind_pvalue": 0.2},
     "misses: 14.2 % of days, more than the 10 % expected (Kupiec p = 0.003); not clustered (Christoffersen p = 0.2)"),
    ({"interval_miss_rate": 0.051, "kupiec_pvalue": 0.01, "christoffersen_ind_pvalue": 0.7},
     "misses: 5.1 % of days, fewer than the 10 % expected (Kupiec p = 0.01); not clustered (Christoffersen p = 0.7)"),
    ({"interval_miss_rate": 0.1, "kupiec_pvalue": 0.98, "christoffersen_ind_pvalue": 0.0004,
      "interval_miss_after_miss": 0.35},
     "misses: 10.0 % of days, as expected (Kupiec p = 0.98); clustered: 35.0 % of days after a miss missed too "
     "(Christoffersen p = 4.0e-04)"),
    ({"interval_miss_rate": 0.1, "kupiec_pvalue": 0.98, "christoffersen_ind_pvalue": 0.01,
      "interval_miss_after_miss": 0.0},
     "misses: 10.0 % of days, as expected (Kupiec p = 0.98); spread out more evenly than chance "
     "(Christoffersen p = 0.01)"),
    ({"interval_miss_rate": 0.0, "kupiec_pvalue": 1e-5, "christoffersen_ind_pvalue": None},
     "misses: 0.0 % of days, fewer than the 10 % expected (Kupiec p = 1.0e-05); clustering not testable "
     "(too few misses)"),
])
def test_the_misses_sentence_for_each_case(extra, sentence):
    finding = misses_finding(_test(interval_level=0.9, **extra))
    assert finding.text == sentence
    tested = [extra["kupiec_pvalue"], extra["christoffersen_ind_pvalue"] or 1.0]
    assert finding.tone == ("warning" if min(tested) < 0.05 else "plain")


def test_run_findings_in_the_terminals_order():
    metrics = {"verdict": "beats naive by 2.0 % (p = 0.01)",
               "test": _test(rmse_ratio=0.98, dm_pvalue=0.01, lag_detected=True, pt_pvalue=0.2,
                             majority_direction_accuracy=0.52, interval_level=0.9, interval_coverage=0.9,
                             interval_coverage_calm=0.9, interval_coverage_mid=0.9, interval_coverage_wild=0.9,
                             interval_miss_rate=0.1, kupiec_pvalue=0.9, christoffersen_ind_pvalue=0.5,
                             interval_score=1.0, garch_interval_score=1.1, interval_score_ratio=0.909,
                             interval_score_dm_pvalue=0.02, linear_rmse_ratio=1.01)}
    found = run_findings(metrics, {"shrinkage_weight": 0.5, "interval_widths": [1.0]})
    assert [f.key for f in found] == ["verdict", "direction", "coverage", "misses", "interval", "shrinkage", "linear"]
    assert found[0].text == "test vs naive (Diebold–Mariano): beats naive by 2.0 % (p = 0.01)"
    assert found[0].tone == "good"
    assert found[5].text == "predicted moves scaled by 0.500 (fitted on the validation tail)"
    # a significant win is no lag: the lag warning is left out (the terminal's rule, now the report's too)
    assert "lag" not in [f.key for f in found]


def test_verdict_tone_claims_only_what_the_test_supports():
    lost = run_findings({"verdict": "x", "test": _test(rmse_ratio=1.1, dm_pvalue=0.01)}, {})[0]
    untested = run_findings({"verdict": "x", "test": _test(rmse_ratio=0.9, dm_pvalue=None)}, {})[0]
    exact = run_findings({"verdict": "x", "test": _test(rmse_ratio=math.nan, naive_rmse=0.0, rmse=0.1)}, {})[0]
    assert (lost.tone, untested.tone, exact.tone) == ("bad", "neutral", "bad")


def test_the_lag_rule():
    lagging = _test(rmse_ratio=1.01, dm_pvalue=0.3, lag_detected=True)
    assert lag_finding(lagging, 1.0, {}).text.startswith("lag warning: test predictions are closer to the previous")
    assert lag_finding(lagging, 0.0, {}) is None  # shrunk to naive: yesterday's price by construction
    assert lag_finding({**lagging, "rmse_ratio": 0.97, "dm_pvalue": 0.01}, 1.0, {}) is None  # a significant win
    assert lag_finding({**lagging, "lag_detected": False}, 1.0, {}) is None


def test_shrinkage_sentences():
    assert shrinkage_finding(1.0) is None
    assert shrinkage_finding(0.0).text.startswith("no signal: on the validation tail the network's moves")
    assert shrinkage_finding(0.25).text == "predicted moves scaled by 0.250 (fitted on the validation tail)"


def test_backtest_findings_count_only_significant_wins():
    folds = [{"rmse_ratio": 0.9, "dm_pvalue": 0.01}, {"rmse_ratio": 0.95, "dm_pvalue": 0.3}, {"rmse_ratio": 1.2}]
    found = backtest_findings({"rmse_ratio": 0.97, "dm_pvalue": 0.2}, "no significant difference (3.0 % lower "
                              "RMSE, p = 0.2)", folds, {"rmse_ratio": 1.004})
    assert [f.text for f in found] == [
        "pooled test vs naive (Diebold–Mariano): no significant difference (3.0 % lower RMSE, p = 0.2); 1 of 3 "
        "folds beat naive significantly",
        "linear regression on the same inputs: pooled ratio 1.004"]


@pytest.mark.parametrize(("calendar", "sentence"), [
    ({"name": "ECB TARGET", "frequency": "business-daily", "weekdays": [0, 1, 2, 3, 4], "holidays": "ECB",
      "closed_dates": [], "closed_easter": [], "reason": "source sample", "known_closed": ["2026-01-01"]},
     "the ECB TARGET calendar: one value each business day, Monday to Friday, closed on ECB holidays "
     "(source sample)"),
    ({"name": "learned", "frequency": "business-daily", "weekdays": [0, 1, 2, 3, 4], "holidays": None,
      "closed_dates": ["12-24", "12-31"], "closed_easter": [-2, 1], "reason": ""},
     "the learned calendar: one value each business day, Monday to Friday, closed each year on 24 December, "
     "31 December, Good Friday and Easter Monday"),
    ({"name": "weekly bars", "frequency": "weekly", "anchor": 4, "weekdays": [0, 1, 2, 3, 4]},
     "the weekly bars calendar: one value a week, on Fridays"),
    ({"name": "monthly bars", "frequency": "monthly", "anchor": "end"},
     "the monthly bars calendar: one value a month, on the last open day"),
    ({"name": "every day", "frequency": "daily", "weekdays": [0, 1, 2, 3, 4, 5, 6]},
     "the every day calendar: one value every day"),
])
def test_the_calendar_in_one_sentence(calendar, sentence):
    assert calendar_sentence(calendar) == sentence


# --------------------------------------------------------------------------- terminal and report agree


def _findings_lines(output: str) -> list[str]:
    """The lines `train` prints under its table: from the verdict to the run id, less the inputs line."""
    lines = [" ".join(line.split()) for line in output.splitlines()]
    first = next(i for i, line in enumerate(lines) if line.startswith("test vs naive"))
    last = next(i for i, line in enumerate(lines) if line.startswith("run id:"))
    return [line for line in lines[first:last] if not line.startswith("inputs:")]


def test_the_report_says_word_for_word_what_the_terminal_says(tmp_path):
    assert runner.invoke(app, ["fetch", "sine", "--source", "synthetic", "--length", "400"]).exit_code == 0
    trained = runner.invoke(app, ["train", "--epochs", "1", "--hidden", "8", "--lookback", "10", "--threads", "1",
                                  "--device", "cpu", "--no-shrink"])
    assert trained.exit_code == 0, trained.output
    said = _findings_lines(trained.output)
    assert any(line.startswith("misses: ") for line in said)  # the coverage backtests, on every run
    assert any(line.startswith("interval vs GARCH(1,1)") for line in said)
    from seqcast import api

    test = api.load_run().metrics["test"]  # metrics.json: the backtests behind the sentence
    assert {"kupiec_pvalue", "christoffersen_ind_pvalue", "christoffersen_cc_pvalue", "interval_miss_rate"} <= set(test)
    assert test["interval_miss_rate"] == pytest.approx(1 - test["interval_coverage"])
    out = tmp_path / "r.md"
    report = runner.invoke(app, ["report", "--format", "md", "--out", str(out)])
    assert report.exit_code == 0, report.output
    text = out.read_text(encoding="utf-8")
    result = text[text.index("## Result"):text.index("## Metrics")]
    paragraphs = [p.strip().strip("*") for p in result.split("\n\n")[1:] if p.strip()]
    assert paragraphs[:len(said)] == said  # the same sentences, in the same order
    assert "binomial" not in text and "Lag diagnosis" not in text
    # The metric table in the terminal's names, never a field name; the calendar in one sentence.
    rows = [line.split("|")[1].strip() for line in text[text.index("## Metrics"):].splitlines()
            if line.startswith("| ")]
    assert {"RMSE", "MAE", "MAPE %", "MASE", "direction %", "RMSE / naive"} <= set(rows)
    for field in ("garch interval score", "lag spread", "interval score dm pvalue", "da pvalue", "kupiec pvalue"):
        assert field not in rows, field
    calendar = next(line for line in text.splitlines() if line.startswith("| **calendar**"))
    assert "one value each business day, Monday to Friday" in calendar
    assert "weekdays 0, 1" not in calendar and "closed_dates" not in calendar


def test_direction_on_a_test_part_that_never_moves_says_so():
    """A pegged series: no hit rate to show, so one plain sentence instead of '– % called right'."""
    from seqcast.reports.findings import direction_finding

    found = direction_finding({"pt_pvalue": None, "directional_accuracy": None,
                               "majority_direction_accuracy": None})
    assert found is not None and found.lead + found.words == "direction: not measurable (no test day moved)"
    moved = direction_finding({"pt_pvalue": 0.01, "directional_accuracy": 0.6, "majority_direction_accuracy": 0.5})
    assert moved is not None and "60 % called right" in moved.words
