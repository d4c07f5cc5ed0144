"""Round 3 of real exports (issue 22): each case built in the same shape, with its right value or one clear error."""

from __future__ import annotations

import json
import time
import zipfile

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app
from seqcast.data.bulk import import_folder
from seqcast.data.quality import flat_runs, missing_weekdays
from seqcast.data.series import parse_price_csv
from seqcast.errors import CSVFormatError
from seqcast.workspace import Workspace


def ohlcv(days: pd.DatetimeIndex, seed: int = 0, start: float = 100.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
    return pd.DataFrame({"Open": close * 0.999, "High": close * 1.01, "Low": close * 0.99, "Close": close,
                         "Volume": rng.integers(1000, 9000, len(days)).astype(float)}, index=days)


def csv_text(frame: pd.DataFrame) -> str:
    out = frame.copy()
    out.index = out.index.strftime("%Y-%m-%d")
    return out.to_csv(index_label="Date", float_format="%.4f")


def test_a_refetch_that_revises_a_row_says_so(tmp_path):
    days = pd.bdate_range("2024-01-01", periods=60)
    frame = ohlcv(days)
    (tmp_path / "a.csv").write_text(csv_text(frame))
    api.fetch("x", csv=tmp_path / "a.csv")
    frame.iloc[-1, frame.columns.get_loc("Close")] *= 0.99  # the unfinished bar, settled
    (tmp_path / "b.csv").write_text(csv_text(frame))
    result = CliRunner().invoke(app, ["fetch", "x", "--csv", str(tmp_path / "b.csv")])
    assert result.exit_code == 0, result.output
    assert "+0 new, 1 row revised" in result.output
    assert f"revised 1 stored row ({days[-1].date()})" in result.output
    meta = json.loads(CliRunner().invoke(app, ["fetch", "x", "--csv", str(tmp_path / "a.csv"), "--json"]).output)
    assert meta["revised"] == {"rows": 1, "dates": [str(days[-1].date())]}


def test_a_forward_filled_flat_tail_is_named_at_fetch_and_train(tmp_path):
    days = pd.bdate_range("2023-01-02", periods=300)
    frame = ohlcv(days, seed=1)
    last_real = days[199]
    for col in ("Open", "High", "Low", "Close"):
        frame.iloc[200:, frame.columns.get_loc(col)] = frame["Close"].iloc[199]
    frame.iloc[200:, frame.columns.get_loc("Volume")] = 0
    (tmp_path / "f.csv").write_text(csv_text(frame))
    stored = api.fetch("spy.us", csv=tmp_path / "f.csv")
    (warning,) = [w for w in stored.meta["warnings"] if w["kind"] == "flat-run"]
    assert warning["rows"] == 100 and warning["first"] == str(days[200].date())
    assert warning["to"] == str(last_real.date()) and f"--to {last_real.date()}" in warning["message"]
    run = api.train(symbol="spy.us", epochs=1, hidden=8, lookback=5, threads=1).run
    assert any(w["kind"] == "flat-run" and w["rows"] == 100 for w in run.meta["data_warnings"])


def test_flat_runs_ignore_a_peg_and_real_moves():
    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-03-01"))
    assert flat_runs(days, np.full(len(days), 1.95583)) == []  # a peg: the other rule's business
    close = np.r_[np.linspace(1, 2, 30), np.full(len(days) - 30, 2.0)]
    volume = np.r_[np.ones(30), np.ones(len(days) - 30)]  # traded at one price: volume, not a fill
    assert flat_runs(days, close, volume) == []
    assert flat_runs(days, close, None)[0]["rows"] == len(days) - 30


def test_fridays_missing_lately_are_named():
    days = pd.bdate_range("2022-01-03", "2024-06-27")
    cut = pd.Timestamp("2024-04-05")  # a Friday
    kept = days[~((days >= cut) & (days.day_of_week == 4))]  # 12 Fridays, and 2024-06-28 of its last week
    (warning,) = missing_weekdays(kept.values, (0, 1, 2, 3, 4))
    assert warning["rows"] == 13 and warning["first"] == "2024-04-05" and warning["weekday"] == "Friday"
    assert warning["message"].startswith("13 Fridays missing since 2024-04-05")
    # A few holidays scattered over the years are no such pattern.
    assert missing_weekdays(days.delete([100, 300, 500]).values, (0, 1, 2, 3, 4)) == []


def mt5(days: pd.DatetimeIndex, frame: pd.DataFrame, sunday_ticks: int = 300) -> str:
    lines = ["<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>"]
    for day, row in frame.iterrows():
        ticks = sunday_ticks if day.day_of_week == 6 else 80000
        lines.append(f"{day:%Y.%m.%d}\t00:00:00\t{row.Open:.5f}\t{row.High:.5f}\t{row.Low:.5f}\t{row.Close:.5f}"
                     f"\t{ticks}\t0\t5")
    return "\r\n".join(lines) + "\r\n"


def test_metatrader_sunday_stubs_are_merged_and_tick_volume_used(tmp_path):
    days = pd.date_range("2024-01-07", "2024-06-28")
    days = days[days.day_of_week != 5]  # Sun-Fri: a GMT+0 broker's short Sunday bar each week
    frame = ohlcv(days, seed=2, start=1.08)
    (tmp_path / "eurusd.csv").write_text(mt5(days, frame))
    stored = api.fetch("eurusd", csv=tmp_path / "eurusd.csv")
    kinds = {n["kind"]: n for n in stored.meta["notes"]}
    assert kinds["sunday-stubs"]["rows"] == (days.day_of_week == 6).sum() and kinds["sunday-stubs"]["merged"] >= 24
    assert "tick-volume" in kinds
    from seqcast.data.store import Store

    data = Store(Workspace.resolve(None)).get("eurusd", "csv").load()
    assert not (data.index.day_of_week >= 5).any()
    monday = days[1]
    assert data.loc[monday, "Open"] == pytest.approx(frame.loc[days[0], "Open"], abs=1e-5)  # Sunday's open
    assert data.loc[monday, "Volume"] == 80000 + 300
    run = api.train(symbol="eurusd", epochs=1, hidden=8, lookback=5, threads=1).run
    fc = api.predict_next(run.run_id, horizon=5)
    assert all(pd.Timestamp(r["date"]).day_of_week < 5 for r in fc.rows)  # never a Sunday forecast


def test_a_sun_thu_market_keeps_its_sundays():
    days = pd.date_range("2024-01-07", "2024-06-27")
    days = days[days.day_of_week.isin([6, 0, 1, 2, 3])]  # Tadawul-like: no Friday
    frame = parse_price_csv(csv_text(ohlcv(days)))
    assert (frame.index.day_of_week == 6).sum() == (days.day_of_week == 6).sum()


def test_a_polish_portal_archive_with_title_and_footer():
    days = pd.bdate_range("2024-01-02", periods=40)[::-1]  # newest first
    rows = [f"{d:%Y-%m-%d};{4.3 + i / 1000:.4f};{'+' if i % 2 else '-'}0,0012;{i}/A/NBP/2024"
            for i, d in enumerate(days)]
    text = "\r\n".join(["Archiwum kursów walut - USD", "Okres: 2024-01-02 - 2024-02-27",
                        "Data;Kurs;Zmiana;Nazwa Tabeli", *rows, "", "Źródło: NBP", "Kursy średnie"]) + "\r\n"
    frame = parse_price_csv(text.encode("cp1250"))
    assert list(frame.columns) == ["Close"] and len(frame) == 40
    assert frame["Close"].iloc[-1] == pytest.approx(4.3) and frame.index.is_monotonic_increasing
    kinds = [n["kind"] for n in frame.attrs["notes"]]
    assert "title-lines" in kinds and "footer-lines" in kinds


def test_an_index_from_before_1900_imports_with_a_note(tmp_path):
    days = pd.bdate_range("1897-03-01", "1901-12-31")
    frame = ohlcv(days, seed=3, start=40)[["Open", "High", "Low", "Close"]]
    text = csv_text(frame).replace("Date,Open,High,Low,Close", "Date,Open,High,Low,Close,Volume")
    (tmp_path / "dji.csv").write_text(text)  # rows one field short: no volume in the oldest years
    for extra in ([], ["--from", "1900-01-01"]):
        stored = api.fetch("^dji", csv=tmp_path / "dji.csv", full=True,
                           start=extra[1] if extra else None)
        assert stored.meta["first"] == "1900-01-01"
        assert any(n["kind"] == "before-1900" and n["first"] == "1897-03-01" for n in stored.meta["notes"])
    with pytest.raises(CSVFormatError, match="1899-12-29 is before 1900"):  # a lone old date is a typo
        parse_price_csv("Date,Close\n2024-01-02,1\n1899-12-29,2\n2024-01-03,3\n")


def test_oldest_rows_without_volume_are_named_not_truncated():
    body = "Date,Open,High,Low,Close,Volume\n" + "".join(
        f"2020-01-{d:02d},1,1,1,{d}\n" for d in (2, 3, 6)) + "".join(f"2020-01-{d:02d},1,1,1,{d},100\n" for d in (7, 8))
    frame = parse_price_csv(body)
    (note,) = [n for n in frame.attrs["notes"] if n["kind"] == "column-starts-later"]
    assert note["column"] == "Volume" and note["rows"] == 3 and note["last"] == "2020-01-06"


def test_a_duplicated_date_names_both_lines_and_the_column():
    body = "Date,Open,Close,Volume\n2024-01-02,1,1,10\n2024-01-03,1,2,10\n2024-01-03,1,2,12\n"
    with pytest.raises(CSVFormatError, match=r"lines 3 and 4 differ only in Volume \(Volume 10 vs 12\)"):
        parse_price_csv(body)


@pytest.mark.parametrize(("stamp", "expected"), [
    ("22:00:00", "next"),   # a Sunday-evening open belongs to Monday
    ("16:00:00", "written"),
])
def test_a_time_of_day_is_decided_from_the_weekdays(stamp, expected):
    days = pd.bdate_range("2024-01-01", periods=30)
    written = days - pd.Timedelta(days=1) if expected == "next" else days
    body = "Date,Close\n" + "".join(f"{d:%Y-%m-%d} {stamp},{i + 1}\n" for i, d in enumerate(written))
    frame = parse_price_csv(body)
    assert list(frame.index) == list(days)
    (note,) = [n for n in frame.attrs["notes"] if n["kind"] == "time-of-day"]
    assert note["read_as"] == expected


def test_a_time_of_day_on_a_seven_day_market_is_refused_naming_the_option():
    days = pd.date_range("2024-01-01", periods=30)
    body = "Date,Close\n" + "".join(f"{d:%Y-%m-%d} 23:00:00,{i + 1}\n" for i, d in enumerate(days))
    with pytest.raises(CSVFormatError, match="choose with --bar-date written or --bar-date next"):
        parse_price_csv(body)
    assert parse_price_csv(body, bar_date="next").index[0] == pd.Timestamp("2024-01-02")


def test_weekend_fillers_are_left_out():
    days = pd.date_range("2024-01-01", "2024-04-30")
    frame = ohlcv(days, seed=4)
    for i, day in enumerate(days):
        if day.day_of_week >= 5:
            frame.iloc[i, :4] = frame.iloc[i - 1]["Close"]
            frame.iloc[i, 4] = 0
    settled = parse_price_csv(csv_text(frame))
    assert not (settled.index.day_of_week >= 5).any()
    assert any(n["kind"] == "filler-rows" for n in settled.attrs["notes"])


def stooq_bulk(ticker: str, days: pd.DatetimeIndex, per: str = "D") -> str:
    frame = ohlcv(days, seed=len(ticker))
    lines = ["<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>"]
    lines += [f"{ticker},{per},{d:%Y%m%d},000000,{r.Open:.4f},{r.High:.4f},{r.Low:.4f},{r.Close:.4f},{int(r.Volume)},0"
              for d, r in frame.iterrows()]
    return "\n".join(lines) + "\n"


BULK_FILES = 100  # test-sized: 500 files x 250 rows took ~11 s on the shared 2-core machine


def test_bulk_import_of_a_stooq_zip(tmp_path):
    days = pd.bdate_range("2023-01-02", periods=120)
    path = tmp_path / "d_us_txt.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for k in range(BULK_FILES):
            z.writestr(f"data/daily/us/nasdaq stocks/1/t{k}.us.txt", stooq_bulk(f"T{k}.US", days))
        z.writestr("data/hourly/us/nasdaq stocks/1/t0.us.txt", stooq_bulk("T0.US", days, "60"))
        z.writestr("data/daily/us/nasdaq stocks/1/bad.us.txt", "<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,"
                   "<CLOSE>,<VOL>,<OPENINT>\nBAD.US,D,20240102,000000,1,1,1,abc,1,0\n")
        z.writestr("../evil.txt", "Date,Close\n2024-01-02,1\n")
        z.writestr("readme.md", "hello")
    began = time.perf_counter()
    result = import_folder(Workspace.resolve(None), path)
    seconds = time.perf_counter() - began
    print(f"{BULK_FILES}-file bulk zip imported in {seconds:.1f} s")
    assert len(result.imported) == BULK_FILES and {e["symbol"] for e in result.imported} >= {"t0.us", "t99.us"}
    assert len(result.skipped) == 2  # the hourly file and the readme
    refused = {r["file"]: r["reason"] for r in result.refused}
    assert set(refused) == {"../evil.txt", "data/daily/us/nasdaq stocks/1/bad.us.txt"}
    assert "leads out of the archive" in refused["../evil.txt"] and "'abc', not a number" in str(refused)
    assert seconds < BULK_FILES * 0.25  # a guard on a loaded machine; measured ~0.03 s a file
    assert f"imported {BULK_FILES} series" in result.summary() and "refused 2" in result.summary()


def test_bulk_import_refuses_a_zip_bomb(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.csv", "Date,Close\n" + "0" * (20 * 1024 * 1024))
    result = import_folder(Workspace.resolve(None), path)
    assert result.imported == [] and "zip bomb" in result.refused[0]["reason"]


def test_bulk_import_of_a_folder_via_the_cli(tmp_path):
    folder = tmp_path / "csvs"
    folder.mkdir()
    days = pd.bdate_range("2024-01-01", periods=40)
    (folder / "abc.csv").write_text(csv_text(ohlcv(days)))
    (folder / "weekly.csv").write_text(csv_text(ohlcv(pd.date_range("2020-01-03", periods=40, freq="W-FRI"))))
    (folder / "broken.csv").write_text("Foo,Bar\n1,2\n")
    result = CliRunner().invoke(app, ["fetch", "--csv", str(folder)])
    assert result.exit_code == 0, result.output
    assert "refused broken.csv: " in result.output and "unknown header" in result.output
    assert "imported 1 series" in result.output and "skipped 1 files that are not daily" in result.output
    out = json.loads(CliRunner().invoke(app, ["fetch", "--csv", str(folder), "--json"]).output)
    assert out["counts"] == {"imported": 1, "skipped": 1, "refused": 1}


def test_a_history_rescaled_under_a_run_is_refused_for_a_level_model(tmp_path):
    from seqcast.errors import DataError

    days = pd.bdate_range("2023-01-02", periods=150)
    frame = ohlcv(days, seed=5)
    (tmp_path / "a.csv").write_text(csv_text(frame))
    api.fetch("abc", csv=tmp_path / "a.csv")
    level = api.train(symbol="abc", epochs=1, hidden=8, lookback=5, threads=1, target="level").run
    logret = api.train(symbol="abc", epochs=1, hidden=8, lookback=5, threads=1).run
    split = frame.copy()
    split[["Open", "High", "Low", "Close"]] /= 4  # a 4:1 split, the whole history re-adjusted
    (tmp_path / "b.csv").write_text(csv_text(split))
    api.fetch("abc", csv=tmp_path / "b.csv", full=True)
    with pytest.raises(DataError, match=r"rescaled by 0\.25 .* cannot forecast from this one: train again"):
        api.predict_next(level.run_id, horizon=2)
    fc = api.predict_next(logret.run_id, horizon=2)
    assert any("rescaled by 0.25" in n for n in fc.notes)
    revised = frame.copy()
    revised.iloc[-2, revised.columns.get_loc("Close")] *= 1.01
    (tmp_path / "c.csv").write_text(csv_text(revised))
    api.fetch("abc", csv=tmp_path / "c.csv", full=True)
    fc = api.predict_next(level.run_id, horizon=2)
    assert any(f"1 row revised ({days[-2].date()})" in n for n in fc.notes)


@pytest.mark.parametrize(("sep", "cells", "point", "comma"), [
    (",", ['"4,321"', '"1,000"', "7"], [4321.0, 1000.0, 7.0], [4.321, 1.0, 7.0]),  # quoted: thousands or decimal
    (";", ["4.321", "4.500", "4.125"], [4.321, 4.5, 4.125], [4321.0, 4500.0, 4125.0]),  # a ; file's lone point
])
def test_numbers_that_read_two_ways_are_refused_until_decimal_decides(sep, cells, point, comma):
    body = f"Date{sep}Close\n" + "".join(f"2024-01-0{i + 2}{sep}{c}\n" for i, c in enumerate(cells))
    with pytest.raises(CSVFormatError, match=r"line 2: Close .* reads as .* or as .*choose with --decimal"):
        parse_price_csv(body)
    assert parse_price_csv(body, decimal="point")["Close"].tolist() == point
    assert parse_price_csv(body, decimal="comma")["Close"].tolist() == comma
    # One number that only one style reads settles it.
    settled = body.replace(cells[-1], '"1,234.5"' if sep == "," else "4.5")
    assert parse_price_csv(settled)["Close"].tolist()[-1] == (1234.5 if sep == "," else 4.5)
