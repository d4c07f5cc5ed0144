"""The series' own calendar: next dates, closing days, staleness, sampling warnings."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app
from seqcast.data.calendars import (
    Calendar,
    infer_calendar,
    recorded_calendar,
    staleness,
)
from seqcast.data.sampling import sampling_warnings
from tests.conftest import write_csv

TINY = {"epochs": 1, "hidden": 8, "lookback": 5, "batch_size": 64, "patience": 0, "threads": 1}


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(*texts: str) -> list[date]:
    return [d(t) for t in texts]


def bdays(start: str, end: str, closed: set[date] = frozenset()) -> pd.DatetimeIndex:
    index = pd.bdate_range(start, end, name="Date")
    return index[~index.isin(pd.DatetimeIndex(sorted(closed)))]


# --------------------------------------------------------------------------- next dates


def test_ecb_skips_target_closing_days():
    cal = infer_calendar(bdays("2026-01-02", "2026-10-30"), source="ecb")
    assert (cal.name, cal.frequency, cal.holidays) == ("ECB TARGET", "business-daily", "ECB")
    # Easter 2027 is 28 March: Good Friday 26 March and Easter Monday 29 March are closed.
    assert cal.next_dates(d("2027-03-25"), 3) == days("2027-03-30", "2027-03-31", "2027-04-01")
    # 25 December 2026 is a Friday, 26 a Saturday; 1 January 2027 a Friday.
    assert cal.next_dates(d("2026-12-24"), 5) == days(
        "2026-12-28", "2026-12-29", "2026-12-30", "2026-12-31", "2027-01-04")
    assert cal.next_dates(d("2026-04-30"), 1) == days("2026-05-04")  # 1 May, a Friday
    assert not cal.is_open(d("2027-03-26")) and cal.is_open(d("2027-03-25"))
    # The sample is ECB data too; a weekend-dated last row steps to the next open day.
    assert infer_calendar([], source="sample").next_dates(d("2026-10-31"), 1) == days("2026-11-02")


def test_nyse_holidays_for_a_us_stock():
    cal = infer_calendar(bdays("2025-01-02", "2026-11-25"), source="stooq", symbol="tsla.us")
    assert cal.name == "NYSE"
    # Thanksgiving 2026 is Thursday 26 November; Juneteenth 2026 a Friday.
    assert cal.next_dates(d("2026-11-25"), 2) == days("2026-11-27", "2026-11-30")
    assert cal.next_dates(d("2026-06-18"), 1) == days("2026-06-22")


def test_a_market_calendar_the_data_confirms():
    import holidays

    closed = set(holidays.financial_holidays("NYSE", years=range(2019, 2027)))
    cal = infer_calendar(bdays("2019-01-02", "2026-11-25", closed), source="csv", symbol="mystock")
    assert cal.holidays == "NYSE" and "match" in cal.reason
    assert cal.next_dates(d("2026-11-25"), 1) == days("2026-11-27")


def test_learned_closures_when_no_market_fits():
    from dateutil.easter import easter

    closed = set()
    for year in range(2019, 2027):
        closed |= {date(year, 1, 1), date(year, 7, 14), easter(year) + timedelta(days=1)}
    cal = infer_calendar(bdays("2019-01-02", "2026-11-27", closed), source="csv")
    assert cal.name == "learned"
    assert cal.closed_dates == ("01-01", "07-14") and cal.closed_easter == (1,)
    assert cal.next_dates(d("2027-07-13"), 1) == days("2027-07-15")
    assert cal.next_dates(d("2027-03-26"), 1) == days("2027-03-30")  # Easter Monday 29 March


def test_seven_day_market_includes_weekends():
    dates = pd.date_range("2026-01-01", "2026-11-27")
    cal = infer_calendar(dates, source="csv", symbol="btcusd")
    assert (cal.name, cal.frequency) == ("every day", "daily")
    assert cal.next_dates(d("2026-11-27"), 3) == days("2026-11-28", "2026-11-29", "2026-11-30")
    assert cal.periods_between(d("2026-11-27"), d("2026-12-27")) == 30


def test_weekly_bars_step_by_week():
    fridays = pd.date_range("2025-01-03", "2026-11-27", freq="W-FRI")
    for cal in (infer_calendar(fridays, source="stooq", interval="w"),   # stored interval
                infer_calendar(fridays, source="csv", interval="d")):   # dates a week apart
        assert (cal.frequency, cal.anchor) == ("weekly", 4)
        assert cal.next_dates(d("2026-11-27"), 3) == days("2026-12-04", "2026-12-11", "2026-12-18")
        assert cal.periods_between(d("2026-11-27"), d("2026-12-17")) == 2
        assert cal.periods_between(d("2026-11-27"), d("2026-12-18")) == 3
    # With a market's holidays a Friday bar falls back to Thursday (Good Friday 2027).
    us = infer_calendar(fridays, source="stooq", symbol="tsla.us", interval="w")
    assert us.next_dates(d("2027-03-19"), 2) == days("2027-03-25", "2027-04-02")


def test_monthly_bars_step_by_month():
    month_ends = pd.date_range("2024-01-31", "2026-10-31", freq="BME")
    cal = infer_calendar(month_ends, source="stooq", interval="m")
    assert (cal.frequency, cal.anchor) == ("monthly", "end")
    # 31 January 2027 is a Sunday: the month's last weekday is Friday 29 January.
    assert cal.next_dates(d("2026-10-30"), 3) == days("2026-11-30", "2026-12-31", "2027-01-29")
    assert cal.periods_between(d("2026-10-30"), d("2027-01-28")) == 2
    firsts = pd.date_range("2020-01-01", "2026-11-01", freq="MS")
    cal = infer_calendar(firsts, source="csv")  # a file whose dates are a month apart
    assert (cal.frequency, cal.anchor) == ("monthly", 1)
    assert cal.next_dates(d("2026-11-01"), 2) == days("2026-12-01", "2027-01-01")


def test_calendar_record_round_trip_and_fallback():
    cal = infer_calendar(pd.date_range("2025-01-03", "2026-11-27", freq="W-FRI"), interval="w")
    record = json.loads(json.dumps(cal.to_dict()))
    assert Calendar.from_dict(record) == cal
    assert recorded_calendar(record, []) == cal
    # An edited record is not trusted: the dates decide.
    ecb = recorded_calendar({"name": "x", "frequency": "hourly"}, bdays("2026-01-02", "2026-10-30"),
                            source="ecb")
    assert ecb.name == "ECB TARGET"
    with pytest.raises(ValueError):
        Calendar("x", "business-daily", holidays="NOPE")


# --------------------------------------------------------------------------- staleness


def test_staleness_counts_open_days_since_the_data():
    ecb = infer_calendar([], source="ecb")
    # After Wed 24 March 2027: 25 Mar, (Good Friday, Easter Monday closed), 30, 31 Mar, 1, 2, 5, 6 Apr.
    assert ecb.periods_between(d("2027-03-24"), d("2027-04-06")) == 7
    stale = staleness(ecb, d("2027-03-24"), d("2027-04-06"))
    assert stale["periods"] == 7 and stale["unit"] == "business days"
    assert stale["message"].startswith("the data ends on 2027-03-24, 7 business days ago")
    assert staleness(ecb, d("2027-03-24"), d("2027-03-31")) is None  # 3 open days: recent enough
    # A rate the ECB stopped publishing (the rouble, last fixed 1 March 2022).
    assert staleness(ecb, d("2022-03-01"), d("2026-11-30"))["periods"] > 1000


# --------------------------------------------------------------------------- sampling


def weekly_then_daily() -> pd.DatetimeIndex:
    """Weekly (Mondays) to 24 December 1990, then every business day from 2 January 1991."""
    weekly = pd.date_range("1988-01-04", "1990-12-24", freq="W-MON")
    daily = pd.bdate_range("1991-01-02", "1991-12-31")
    return weekly.append(daily).rename("Date")


def test_frequency_change_names_the_from_that_avoids_it():
    warnings = sampling_warnings(weekly_then_daily())
    assert [w.kind for w in warnings] == ["frequency-change"]
    w = warnings[0]
    assert w.start == "1991-01-02"
    assert "weekly until 1990-12-24, daily from 1991-01-02" in w.message
    assert "--from 1991-01-02" in w.message
    assert w.to_dict()["from"] == "1991-01-02"
    assert sampling_warnings(weekly_then_daily()[weekly_then_daily() >= "1991-01-02"]) == []


def test_daily_then_weekly_and_regular_series():
    daily = pd.bdate_range("2020-01-01", "2020-12-31")
    weekly = pd.date_range("2021-01-08", "2022-12-30", freq="W-FRI")
    (w,) = sampling_warnings(daily.append(weekly))
    assert w.kind == "frequency-change" and w.start == "2020-12-31"
    # Holidays, weekends, a 7-day market, weekly and monthly bars: nothing to say.
    from dateutil.easter import easter

    closed = {date(y, 12, 25) for y in range(2015, 2027)} | {easter(y) - timedelta(days=2) for y in range(2015, 2027)}
    assert sampling_warnings(bdays("2015-01-01", "2026-11-27", closed)) == []
    assert sampling_warnings(pd.date_range("2020-01-01", "2026-11-27")) == []
    assert sampling_warnings(pd.date_range("2000-01-07", "2026-11-27", freq="W-FRI")) == []
    assert sampling_warnings(pd.date_range("2000-01-31", "2026-10-31", freq="BME")) == []


def test_extreme_gap_is_named_with_the_from_after_it():
    dates = bdays("2020-01-01", "2021-12-31")
    dates = dates[(dates < "2020-06-01") | (dates > "2020-07-15")]  # six weeks missing
    (w,) = sampling_warnings(dates)
    assert w.kind == "gaps" and w.start == "2020-07-16"
    assert "2020-05-29 .. 2020-07-16, 48 days" in w.message and "--from 2020-07-16" in w.message


# --------------------------------------------------------------------------- end to end


def test_weekly_csv_train_and_predict_next(tmp_path, workspace):
    fridays = pd.date_range("2014-01-03", "2019-12-27", freq="W-FRI", name="Date")
    values = 4.2 + 0.1 * np.sin(np.arange(len(fridays)) / 4)
    api.fetch("eurplnw", csv=write_csv(tmp_path / "w.csv", pd.DataFrame({"Close": values}, index=fridays)))
    run = api.train(symbol="eurplnw", **TINY).run
    assert run.meta["calendar"]["frequency"] == "weekly" and run.meta["calendar"]["anchor"] == 4
    assert run.meta["data_warnings"] == []
    fc = api.predict_next(run.run_id, horizon=3)
    assert [r["date"] for r in fc.rows] == ["2020-01-03", "2020-01-10", "2020-01-17"]
    assert fc.calendar["frequency"] == "weekly"
    # The data ended years ago: a note and a record, the forecast dates stay after the data.
    assert fc.stale is not None and fc.stale["unit"] == "weeks" and fc.stale["last_date"] == "2019-12-27"
    assert any(n.startswith("the data ends on 2019-12-27") and "seqcast fetch eurplnw" in n for n in fc.notes)


def test_cli_warns_about_a_frequency_change(tmp_path, workspace):
    dates = weekly_then_daily()
    values = np.linspace(1.0, 1.5, len(dates))
    path = write_csv(tmp_path / "x.csv", pd.DataFrame({"Close": values}, index=dates))
    runner = CliRunner()
    assert runner.invoke(app, ["fetch", "mixed", "--csv", path]).exit_code == 0
    args = ["--epochs", "1", "--hidden", "8", "--lookback", "5", "--patience", "0", "--threads", "1"]
    result = runner.invoke(app, ["train", *args])
    assert result.exit_code == 0, result.output
    assert "warning: the data changes sampling" in result.output and "--from 1991-01-02" in result.output
    result = runner.invoke(app, ["train", *args, "--json"])
    (warning,) = json.loads(result.output)["meta"]["data_warnings"]
    assert warning["kind"] == "frequency-change" and warning["from"] == "1991-01-02"
    result = runner.invoke(app, ["train", *args, "--from", "1991-01-02", "--json"])
    meta = json.loads(result.output)["meta"]
    assert meta["data_warnings"] == [] and meta["calendar"]["frequency"] == "business-daily"
    result = runner.invoke(app, ["predict-next", "--horizon", "2", "--json"])
    forecast = json.loads(result.output)
    assert [r["date"] for r in forecast["rows"]] == ["1992-01-01", "1992-01-02"]  # no closures learned
    assert forecast["stale"]["last_date"] == "1991-12-31"


def test_recorded_closing_days_are_used_for_their_years():
    ecb = infer_calendar([], source="ecb").with_known_years([2027])
    assert ecb.known_closed == ("2027-01-01", "2027-03-26", "2027-03-29", "2027-05-01", "2027-12-25",
                                "2027-12-26")
    assert Calendar.from_dict(json.loads(json.dumps(ecb.to_dict()))) == ecb
    # A record of its years wins over the library: a run's dates stay as they were.
    edited = Calendar("ECB TARGET", holidays="ECB", known_years=(2027,), known_closed=("2027-03-26",))
    assert edited.next_dates(d("2027-03-25"), 1) == days("2027-03-29")
    assert edited.next_dates(d("2028-04-13"), 1) == days("2028-04-18")  # 2028 from the library


def test_backtest_warns_and_records(tmp_path, workspace):
    dates = weekly_then_daily()
    values = 1.0 + 0.1 * np.sin(np.arange(len(dates)) / 7)
    api.fetch("mixed", csv=write_csv(tmp_path / "x.csv", pd.DataFrame({"Close": values}, index=dates)))
    args = ["--epochs", "1", "--hidden", "8", "--lookback", "5", "--patience", "0", "--threads", "1",
            "--folds", "2", "--workers", "1"]
    result = CliRunner().invoke(app, ["backtest", *args])
    assert result.exit_code == 0, result.output
    assert "warning: the data changes sampling" in result.output and "--from 1991-01-02" in result.output
    saved = json.loads(next((workspace / "backtests").glob("*.json")).read_text())
    assert [w["from"] for w in saved["data_warnings"]] == ["1991-01-02"]
    assert saved["calendar"]["frequency"] == "business-daily"
