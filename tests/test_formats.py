"""Price files as people have them: date orders, number styles and layouts read right or refused.

Every input is built here (no third-party data): stooq bulk files, yfinance and investing.com
exports, UTF-16 "Unicode text", spreadsheet exports with decimal commas.
"""

from __future__ import annotations

import codecs
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app
from seqcast.data.series import parse_price_csv, read_price_csv
from seqcast.errors import ConfigError, CSVFormatError

runner = CliRunner()


def dates_of(frame: pd.DataFrame) -> list[str]:
    return [str(d.date()) for d in frame.index]


def table(header: str, rows: list[str], newline: str = "\n") -> str:
    return newline.join([header, *rows]) + newline


# --- the order of a date's fields ---------------------------------------------------------------


def month_starts(n: int, start: str = "2012-01-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="MS")


def test_monthly_month_first_file_is_read_month_first() -> None:
    # 144 monthly rows dated MM/01/YYYY: every first field is <= 12, so both readings fit each
    # row, but day-first gives 1..12 January of each year, which is not evenly stepped.
    days = month_starts(144)
    body = table("Date,Close", [f"{d:%m/%d/%Y},{i + 1}" for i, d in enumerate(days)])
    frame = parse_price_csv(body)
    assert dates_of(frame) == [str(d.date()) for d in days]
    assert frame["Close"].tolist() == [float(i + 1) for i in range(144)]


def test_monthly_day_first_file_is_read_day_first() -> None:
    days = month_starts(36)
    body = table("Date;Close", [f"{d:%d/%m/%Y};{i + 1}" for i, d in enumerate(days)])
    assert dates_of(parse_price_csv(body)) == [str(d.date()) for d in days]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # A first field over 12 anywhere: day-first, for every row.
        (["02/01/2024,1", "03/01/2024,2", "15/01/2024,3"], ["2024-01-02", "2024-01-03", "2024-01-15"]),
        # A second field over 12 anywhere: month-first.
        (["01/02/2024,1", "01/03/2024,2", "01/15/2024,3"], ["2024-01-02", "2024-01-03", "2024-01-15"]),
        # The same with dashes, newest row first.
        (["01-15-2024,3", "01-03-2024,2", "01-02-2024,1"], ["2024-01-02", "2024-01-03", "2024-01-15"]),
    ],
)
def test_a_field_over_12_decides_the_whole_column(rows: list[str], expected: list[str]) -> None:
    frame = parse_price_csv(table("Date,Close", rows))
    assert dates_of(frame) == expected
    assert frame["Close"].tolist() == [1.0, 2.0, 3.0]


def test_monthly_file_with_a_gap_is_refused_not_guessed() -> None:
    # Month-first Jan..Apr and Aug: unevenly stepped, and day-first (1..4 and 8 January) is
    # evenly stepped; neither reading is clearly wrong, so the file is refused.
    body = table("Date,Close", ["01/01/2024,1", "02/01/2024,2", "03/01/2024,3", "04/01/2024,4", "08/01/2024,5"])
    with pytest.raises(CSVFormatError, match="--date-format dmy or --date-format mdy"):
        parse_price_csv(body)
    frame = parse_price_csv(body, date_format="mdy")
    assert dates_of(frame) == ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-08-01"]


def test_dates_that_read_both_ways_are_refused_naming_both_readings() -> None:
    body = table("Date,Close", ["01/02/2024,1", "01/03/2024,2", "01/04/2024,3"])
    with pytest.raises(CSVFormatError) as info:
        parse_price_csv(body, origin="x.csv")
    message = str(info.value)
    assert "x.csv" in message and "line 2" in message and "'01/02/2024'" in message
    assert "day/month/year" in message and "2024-02-01" in message
    assert "month/day/year" in message and "2024-01-02" in message
    assert "--date-format dmy" in message and "--date-format mdy" in message


@pytest.mark.parametrize(
    ("date_format", "expected"),
    [("mdy", ["2024-01-02", "2024-01-03", "2024-01-04"]), ("DMY", ["2024-02-01", "2024-03-01", "2024-04-01"])],
)
def test_date_format_settles_dates_that_read_both_ways(date_format: str, expected: list[str]) -> None:
    body = table("Date,Close", ["01/02/2024,1", "01/03/2024,2", "01/04/2024,3"])
    assert dates_of(parse_price_csv(body, date_format=date_format)) == expected


def test_date_format_that_does_not_fit_names_the_line() -> None:
    body = table("Date,Close", ["02/01/2024,1", "15/01/2024,2"])
    with pytest.raises(CSVFormatError, match=r"line 3: cannot read the date '15/01/2024' as month/day/year"):
        parse_price_csv(body, date_format="mdy")


@pytest.mark.parametrize("value", ["%m/%d/%Y", "auto", "", "dd/mm/yyyy"])
def test_unknown_date_format_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="--date-format must be one of ymd, dmy, mdy"):
        parse_price_csv("Date,Close\n2024-01-02,1\n", date_format=value)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (["02.01.2024,1", "03.01.2024,2"], ["2024-01-02", "2024-01-03"]),  # dots: day-first by convention
        (["01.02.2024,1", "01.13.2024,2"], ["2024-01-02", "2024-01-13"]),  # unless a field > 12 says otherwise
        (["20240102,1", "20240103,2"], ["2024-01-02", "2024-01-03"]),  # YYYYMMDD
        (["2024/01/02,1", "2024/01/03,2"], ["2024-01-02", "2024-01-03"]),
        (["2024-1-2,1", "2024-1-3,2"], ["2024-01-02", "2024-01-03"]),
        (['"Jan 02, 2024",1', '"Jan 03, 2024",2'], ["2024-01-02", "2024-01-03"]),  # older investing.com
        (["02 Jan 2024,1", "03 Jan 2024,2"], ["2024-01-02", "2024-01-03"]),
    ],
)
def test_unambiguous_date_shapes(rows: list[str], expected: list[str]) -> None:
    assert dates_of(parse_price_csv(table("Date,Close", rows))) == expected


@pytest.mark.parametrize(
    "stamp",
    [
        "{d} 00:00:00-05:00",  # yfinance, New York
        "{d} 00:00:00+09:00",  # Tokyo: UTC would be the day before
        "{d}T23:30:00-10:00",  # UTC would be the day after
        "{d} 16:00:00",
        "{d}T00:00:00Z",
        "{d} 00:00:00.000000+0100",
    ],
)
def test_times_and_utc_offsets_keep_the_calendar_date_as_written(stamp: str) -> None:
    rows = [f"{stamp.format(d=d)},{c}" for d, c in (("2024-03-08", 1.5), ("2024-03-11", 2.5))]
    frame = parse_price_csv(table("Date,Close", rows))
    assert dates_of(frame) == ["2024-03-08", "2024-03-11"]
    assert frame["Close"].tolist() == [1.5, 2.5]


@pytest.mark.parametrize(
    ("rows", "line", "what"),
    [
        (["2024-01-02,1", "02.01.2024,2", "2024-01-04,3"], 3, "'02.01.2024'"),  # one row written otherwise
        (["01/02/24,1", "01/03/24,2"], 2, "'01/02/24'"),  # two-digit years
        (["2024-01-02,1", "2024-13-01,2"], 3, "'2024-13-01'"),
        (["31/02/2024,1"], 2, "'31/02/2024'"),  # neither reading is a day
    ],
)
def test_unreadable_dates_name_their_line(rows: list[str], line: int, what: str) -> None:
    with pytest.raises(CSVFormatError, match=rf"line {line}: cannot read the date {what}"):
        parse_price_csv(table("Date,Close", rows))


@pytest.mark.parametrize("old", ["0001-01-01", "1899-12-31", "0024-01-02", "01.01.1850"])
def test_dates_before_1900_are_refused_with_their_line(old: str) -> None:
    rows = ["2024-01-02,1", f"{old},2"] if "-" in old else ["02.01.2024,1", f"{old},2"]
    with pytest.raises(CSVFormatError, match=r"line 3: the date \d{4}-\d\d-\d\d is before 1900"):
        parse_price_csv(table("Date,Close", rows))


def test_1900_and_tomorrow_are_the_bounds() -> None:
    tomorrow = date.today() + timedelta(days=1)
    frame = parse_price_csv(table("Date,Close", ["1900-01-01,1", f"{tomorrow},2"]))
    assert dates_of(frame) == ["1900-01-01", str(tomorrow)]
    later = tomorrow + timedelta(days=1)
    with pytest.raises(CSVFormatError, match=rf"line 3: the date {later} is in the future"):
        parse_price_csv(table("Date,Close", ["1900-01-01,1", f"{later},2"]))


@st.composite
def date_series(draw) -> pd.DatetimeIndex:
    """Business days, weeks, month starts, or days with random gaps: the shapes price files have."""
    start = pd.Timestamp(draw(st.dates(min_value=date(1990, 1, 1), max_value=date(2020, 1, 1))))
    n = draw(st.integers(1, 40))
    kind = draw(st.sampled_from(["B", "W", "MS", "gaps"]))
    if kind == "gaps":
        gaps = draw(st.lists(st.integers(1, 60), min_size=n - 1, max_size=n - 1))
        return pd.DatetimeIndex([start + pd.Timedelta(days=int(g)) for g in np.cumsum([0, *gaps])])
    return pd.date_range(start, periods=n, freq=kind)


@settings(max_examples=300, deadline=None)
@given(days=date_series(), order=st.sampled_from(["dmy", "mdy"]), sep=st.sampled_from(["/", "-"]),
       newest_first=st.booleans())
def test_day_or_month_first_dates_are_read_right_or_refused(days, order, sep, newest_first) -> None:
    """Never silently the other reading: right, or refused with --date-format, and right with it."""
    fmt = sep.join(["%d", "%m", "%Y"] if order == "dmy" else ["%m", "%d", "%Y"])
    written = list(days)[::-1] if newest_first else list(days)
    body = table("Date,Close", [f"{d.strftime(fmt)},{i}" for i, d in enumerate(written)])
    expected = [str(d.date()) for d in days]
    try:
        frame = parse_price_csv(body)
    except CSVFormatError as exc:
        assert "--date-format" in str(exc)
        # Refused only when no field is over 12.
        assert max(d.day for d in days) <= 12
        frame = parse_price_csv(body, date_format=order)
    assert dates_of(frame) == expected


# --- number styles --------------------------------------------------------------------------------


def test_decimal_comma_column_refuses_a_cell_with_a_point() -> None:
    body = table("Data;Zamkniecie", ["2024-01-02;4,3210", "2024-01-03;4.3250", "2024-01-04;4,3350"])
    with pytest.raises(CSVFormatError, match=r"line 3: Close is '4\.3250', which is written unlike") as info:
        parse_price_csv(body)
    assert "decimal comma" in str(info.value) and "'4,3210' on line 2" in str(info.value)


@pytest.mark.parametrize("sep", [",", ";"])
def test_decimal_point_column_refuses_dotted_thousands(sep: str) -> None:
    body = table(f"Date{sep}Close", [f"2024-01-02{sep}4.31", f"2024-01-03{sep}4.32", f"2024-01-04{sep}1.234.567"])
    with pytest.raises(CSVFormatError, match=r"line 4: Close is '1\.234\.567', which is written unlike") as info:
        parse_price_csv(body)
    assert "decimal point" in str(info.value)


def test_one_style_for_all_price_columns() -> None:
    # Open alone could be 4321 (dot as thousands); Close proves the dot is the decimal point.
    frame = parse_price_csv(table("Date;Open;Close", ["2024-01-02;4.321;4.5", "2024-01-03;4.322;4.25"]))
    assert frame["Open"].tolist() == [4.321, 4.322]
    assert frame["Close"].tolist() == [4.5, 4.25]


@pytest.mark.parametrize(
    ("sep", "cells", "expected"),
    [
        (",", ['"18,696.74"', '"1,234,567.5"', "4.5"], [18696.74, 1234567.5, 4.5]),
        (";", ["18.696,74", "1.234.567,5", "4,5"], [18696.74, 1234567.5, 4.5]),
        (";", ["18 696,74", "1\u00a0234\u00a0567,5", "4,5"], [18696.74, 1234567.5, 4.5]),
        (",", ["1'234.50", "4.5", "-0.25"], [1234.5, 4.5, -0.25]),
        ("\t", ["4,321", "4,5", "1,5e-05"], [4.321, 4.5, 1.5e-05]),  # spreadsheet: a lone comma is decimal
        (",", ['"4,321"', '"1,000.5"', "7"], [4321.0, 1000.5, 7.0]),  # 1,000.5 proves the thousands comma
    ],
)
def test_thousands_and_decimal_separators(sep: str, cells: list[str], expected: list[float]) -> None:
    rows = [f"2024-01-0{i + 2}{sep}{cell}" for i, cell in enumerate(cells)]
    assert parse_price_csv(table(f"Date{sep}Close", rows))["Close"].tolist() == expected


def test_volume_suffixes_and_its_own_thousands() -> None:
    body = table("Date;Close;Volume", ["2024-01-02;4,5;171,09M", "2024-01-03;4,6;1,5K", "2024-01-04;4,7;2,1B",
                                       "2024-01-05;4,8;1.234", "2024-01-08;4,9;-"])
    frame = parse_price_csv(body)
    assert frame["Volume"].tolist()[:4] == [171_090_000.0, 1_500.0, 2_100_000_000.0, 1234.0]
    assert np.isnan(frame["Volume"].iloc[4])
    with pytest.raises(CSVFormatError, match=r"line 3: Volume is '2,1B', .* unlike .*'171\.09M' on line 2"):
        parse_price_csv("Date,Close,Volume\n2024-01-02,4.5,171.09M\n2024-01-03,4.6,\"2,1B\"\n")


def test_a_suffix_is_not_a_price() -> None:
    with pytest.raises(CSVFormatError, match=r"line 2: Close is '4\.5M', not a number"):
        parse_price_csv("Date,Close\n2024-01-02,4.5M\n")


_styles = st.sampled_from([(".", ","), (".", ""), (",", "."), (",", " "), (",", ""), (".", "'")])


@settings(max_examples=150, deadline=None)
@given(cents=st.lists(st.integers(-10**11, 10**11), min_size=1, max_size=20), style=_styles,
       sep=st.sampled_from([",", ";", "\t"]))
def test_numbers_with_two_decimals_read_exactly_in_any_style(cents, style, sep) -> None:
    decimal, thousands = style
    cells = []
    for c in cents:
        whole = f"{abs(c) // 100:,}".replace(",", thousands)
        cell = f"{'-' if c < 0 else ''}{whole}{decimal}{abs(c) % 100:02d}"
        cells.append(f'"{cell}"' if sep in cell else cell)
    days = pd.bdate_range("2020-01-01", periods=len(cents))
    body = table(f"Date{sep}Close", [f"{d:%Y-%m-%d}{sep}{cell}" for d, cell in zip(days, cells, strict=True)])
    assert parse_price_csv(body)["Close"].tolist() == [float(f"{c / 100:.2f}") for c in cents]


# --- layouts: stooq bulk, yfinance, investing.com ---------------------------------------------------


STOOQ_BULK = table(
    "<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>",
    ["EURPLN,D,20240102,000000,4.3010,4.3250,4.2900,4.3210,0,0",
     "EURPLN,D,20240103,000000,4.3210,4.3400,4.3100,4.3350,12,0"],
    "\r\n",
)


def test_stooq_bulk_ascii_file() -> None:
    frame = parse_price_csv(STOOQ_BULK.encode())
    assert dates_of(frame) == ["2024-01-02", "2024-01-03"]
    assert list(frame.columns) == ["Open", "High", "Low", "Close", "Volume"]
    assert frame["Open"].tolist() == [4.3010, 4.3210]
    assert frame["Close"].tolist() == [4.3210, 4.3350]
    assert frame["Volume"].tolist() == [0.0, 12.0]


def test_stooq_bulk_with_two_tickers_or_intraday_bars_is_refused() -> None:
    two = STOOQ_BULK.replace("EURPLN,D,20240103", "USDPLN,D,20240103")
    with pytest.raises(CSVFormatError, match=r"several tickers \(EURPLN, USDPLN\)"):
        parse_price_csv(two)
    with pytest.raises(CSVFormatError, match=r"intraday bars \(<PER> 5\)"):
        parse_price_csv(STOOQ_BULK.replace(",D,", ",5,"))


def test_a_real_html_page_is_still_an_html_page() -> None:
    with pytest.raises(CSVFormatError, match="HTML page"):
        parse_price_csv("<html><body><TICKER>,<PER></body></html>")


YFINANCE = table(
    "Price,Adj Close,Close,High,Low,Open,Volume",
    ["Ticker,XYZ,XYZ,XYZ,XYZ,XYZ,XYZ", "Date,,,,,,",
     "2024-01-02,179.5,181.25,182.5,179.0,180.0,75100245",
     "2024-01-03,174.75,176.5,182.25,175.5,181.25,45114241"],
)


def test_yfinance_three_header_rows_use_close_not_adj_close() -> None:
    frame = parse_price_csv(YFINANCE)
    assert dates_of(frame) == ["2024-01-02", "2024-01-03"]
    assert frame["Close"].tolist() == [181.25, 176.5]
    assert frame["Open"].tolist() == [180.0, 181.25]
    assert frame["Volume"].tolist() == [75100245.0, 45114241.0]


def test_yfinance_line_numbers_count_the_header_rows() -> None:
    with pytest.raises(CSVFormatError, match=r"line 5: Close is 'x', not a number"):
        parse_price_csv(YFINANCE.replace("176.5", "x"))


def test_yfinance_with_several_tickers_is_refused() -> None:
    body = table("Price,Close,Close", ["Ticker,AAA,BBB", "Date,,", "2024-01-02,1,2"])
    with pytest.raises(CSVFormatError, match=r"several tickers \(AAA, BBB\)"):
        parse_price_csv(body)


def test_yfinance_intraday_file_is_refused() -> None:
    body = table("Price,Close", ["Ticker,XYZ", "Datetime,", "2024-01-02 09:30:00-05:00,1.5",
                                 "2024-01-02 10:30:00-05:00,1.6"])
    with pytest.raises(CSVFormatError, match=r"2024-01-02 appears more than once .* intraday"):
        parse_price_csv(body)
    assert parse_price_csv(body.replace("10:30", "09:30").replace("1.6", "1.5"))["Close"].tolist() == [1.5]


def test_yfinance_one_header_row_with_time_zone_dates() -> None:
    body = table("Date,Open,High,Low,Close,Adj Close,Volume,Dividends,Stock Splits",
                 ["2024-01-02 00:00:00-05:00,40.0,40.16,39.69,39.85,39.5,6460434,0.0,0.0",
                  "2024-07-29 00:00:00-04:00,38.08,38.37,37.92,38.21,38.0,6449866,0.0,0.0"])
    frame = parse_price_csv(body)
    assert dates_of(frame) == ["2024-01-02", "2024-07-29"]
    assert frame["Close"].tolist() == [39.85, 38.21]


INVESTING = table(
    '"Date","Price","Open","High","Low","Vol.","Change %"',
    ['"09/26/2025","18,696.74","18,705.84","18,780.67","18,621.95","171.09M","-0.05%"',
     '"09/25/2025","18,705.84","18,808.55","18,883.78","18,631.02","309.41M","-0.55%"',
     '"09/24/2025","18,808.55","18,725.65","18,883.78","18,650.74","","0.44%"'],
    "\r\n",
)


def test_investing_com_export() -> None:
    frame = parse_price_csv(INVESTING.encode("utf-8-sig"))
    assert dates_of(frame) == ["2025-09-24", "2025-09-25", "2025-09-26"]  # sorted, oldest first
    assert frame["Close"].tolist() == [18808.55, 18705.84, 18696.74]
    assert frame["High"].tolist() == [18883.78, 18883.78, 18780.67]
    assert frame["Volume"].tolist()[1:] == [309_410_000.0, 171_090_000.0]
    assert np.isnan(frame["Volume"].iloc[0])
    assert "Change %" not in frame.columns


def test_polish_investing_com_export() -> None:
    body = table('"Data","Ostatnio","Otwarcie","Max.","Min.","Wol.","Zmiana%"',
                 ['"26.09.2025","4,2660","4,2680","4,2710","4,2630","","-0,05%"',
                  '"25.09.2025","4,2681","4,2650","4,2700","4,2640","1,2K","0,07%"'])
    frame = parse_price_csv(body)
    assert dates_of(frame) == ["2025-09-25", "2025-09-26"]
    assert frame["Close"].tolist() == [4.2681, 4.266]
    assert frame["High"].tolist() == [4.27, 4.271]
    assert frame["Volume"].iloc[0] == 1200.0


def test_two_columns_for_close_are_refused() -> None:
    with pytest.raises(CSVFormatError, match=r"the columns 'Close' and 'Price' all read as Close"):
        parse_price_csv("Date,Close,Price\n2024-01-02,4.31,9\n2024-01-03,4.32,9\n")


POLISH = table(
    "Data;Otwarcie;Najwyższy;Najniższy;Zamknięcie;Wolumen",
    ["02.01.2024;2\u00a0345,00;2\u00a0354,38;2\u00a0301,31;2\u00a0310,55;72\u00a0498\u00a0494",
     "03.01.2024;2\u00a0310,55;2\u00a0330,31;2\u00a0301,31;2\u00a0321,02;70\u00a0643\u00a0907"],
    "\r\n",
)


def test_polish_excel_export_in_windows_1250() -> None:
    frame = parse_price_csv(POLISH.encode("cp1250"))
    assert dates_of(frame) == ["2024-01-02", "2024-01-03"]
    assert frame["Open"].tolist() == [2345.0, 2310.55]
    assert frame["Close"].tolist() == [2310.55, 2321.02]
    assert frame["Volume"].tolist() == [72498494.0, 70643907.0]


# --- encodings, line ends, blank lines -------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("sep", ["\t", ","])
def test_utf16_unicode_text(encoding: str, sep: str) -> None:
    # Excel's "Unicode text": UTF-16 with a BOM, tab-separated; "utf-16-le/-be" have no BOM.
    body = table(f"Date{sep}Close", [f"2024-01-02{sep}4.5", f"2024-01-03{sep}4.75"], "\r\n")
    frame = parse_price_csv(body.encode(encoding))
    assert dates_of(frame) == ["2024-01-02", "2024-01-03"]
    assert frame["Close"].tolist() == [4.5, 4.75]


def test_utf16_polish_unicode_text_with_decimal_commas() -> None:
    body = POLISH.replace(";", "\t")
    frame = parse_price_csv(codecs.BOM_UTF16_LE + body.encode("utf-16-le"))
    assert frame["Close"].tolist() == [2310.55, 2321.02]


def test_cr_only_line_ends() -> None:
    frame = parse_price_csv(b"Date,Close\r2024-01-02,4.31\r2024-01-03,4.32\r")
    assert dates_of(frame) == ["2024-01-02", "2024-01-03"]
    assert frame["Close"].tolist() == [4.31, 4.32]


def test_blank_lines_and_trailing_separators_keep_line_numbers() -> None:
    frame = parse_price_csv("Date,Close,\n\n2024-01-02,4.31,\n\n2024-01-03,4.32,\n")
    assert frame["Close"].tolist() == [4.31, 4.32]
    with pytest.raises(CSVFormatError, match=r"line 5: Close is 'x'"):
        parse_price_csv("Date,Close,\n\n2024-01-02,4.31,\n\n2024-01-03,x,\n")


def test_blank_lines_before_the_header_count() -> None:
    with pytest.raises(CSVFormatError, match=r"line 4: Close is 'x'"):
        parse_price_csv("\r\n\r\nDate,Close\r\n2024-01-02,x\r\n")


def test_a_longer_row_names_its_line() -> None:
    with pytest.raises(CSVFormatError, match=r"line 3: some rows have more fields than the header"):
        parse_price_csv("Date,Close\n2024-01-02,4.31\n2024-01-03,4,32\n")


# --- plumbing: fetch --csv FILE --date-format ------------------------------------------------------


def test_fetch_date_format_reaches_the_reader(tmp_path, workspace) -> None:
    path = tmp_path / "monthly.csv"
    path.write_text(table("Date,Close", ["01/02/2024,1", "01/03/2024,2"]))
    result = runner.invoke(app, ["fetch", "amb", "--csv", str(path)])
    assert result.exit_code == 1 and "--date-format" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["fetch", "amb", "--csv", str(path), "--date-format", "dmy"])
    assert result.exit_code == 0, result.output
    stored, frame = api.load_series("amb", "csv")
    assert dates_of(frame) == ["2024-02-01", "2024-03-01"]
    assert stored.meta["date_format"] == "dmy"
    assert dates_of(read_price_csv(path, date_format="mdy")) == ["2024-01-02", "2024-01-03"]


def test_date_format_without_a_csv_file_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--date-format applies to a --csv file only"):
        api.fetch("eurpln", source="sample", date_format="dmy")
