"""Tests for seqcast.data.series: reading, checking and writing price CSV files."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqcast.data.series import (
    between,
    normalise_symbol,
    parse_price_csv,
    read_price_csv,
    to_csv_text,
)
from seqcast.errors import ConfigError, CSVFormatError


def frame_of(dates: list[str], **columns: list[float]) -> pd.DataFrame:
    """The frame parse_price_csv should return for these dates and columns."""
    index = pd.DatetimeIndex(pd.to_datetime(dates, format="%Y-%m-%d"), name="Date")
    return pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in columns.items()}, index=index)


def assert_valid_series(frame: pd.DataFrame) -> None:
    assert isinstance(frame, pd.DataFrame)
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.name == "Date"
    assert frame.index.is_monotonic_increasing
    assert frame.index.is_unique
    assert len(frame) > 0
    assert frame["Close"].dtype == np.float64
    assert np.isfinite(frame["Close"].to_numpy()).all()


EN_BODY = (
    "Date,Open,High,Low,Close\r\n"
    "2024-01-02,4.3010,4.3250,4.2900,4.3210\r\n"
    "2024-01-03,4.3210,4.3400,4.3100,4.3350\r\n"
)
EN_EXPECTED = frame_of(
    ["2024-01-02", "2024-01-03"],
    Open=[4.3010, 4.3210], High=[4.3250, 4.3400], Low=[4.2900, 4.3100], Close=[4.3210, 4.3350],
)


# --- headers, line ends, encodings --------------------------------------------


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_stooq_english_header(newline: str) -> None:
    body = EN_BODY.replace("\r\n", newline)
    pd.testing.assert_frame_equal(parse_price_csv(body.encode()), EN_EXPECTED)


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_stooq_polish_header(newline: str) -> None:
    body = EN_BODY.replace("Date,Open,High,Low,Close", "Data,Otwarcie,Najwyzszy,Najnizszy,Zamkniecie")
    body = body.replace("\r\n", newline)
    pd.testing.assert_frame_equal(parse_price_csv(body.encode()), EN_EXPECTED)


@pytest.mark.parametrize(
    ("header", "newline"),
    [
        ("Date,Open,High,Low,Close,Volume", "\r\n"),
        ("Data,Otwarcie,Najwyzszy,Najnizszy,Zamkniecie,Wolumen", "\n"),
    ],
)
def test_volume_column_with_fractional_volume(header: str, newline: str) -> None:
    body = newline.join([
        header,
        "2024-01-02,100,101,99,100.5,281749140",
        "2024-01-03,100.5,102,100,101.25,1234.75",
    ]) + newline
    frame = parse_price_csv(body.encode())
    assert list(frame.columns) == ["Open", "High", "Low", "Close", "Volume"]
    assert frame["Volume"].tolist() == [281749140.0, 1234.75]
    assert frame["Close"].tolist() == [100.5, 101.25]


def test_plain_date_close() -> None:
    frame = parse_price_csv("Date,Close\n2024-01-02,1.5\n2024-01-03,1.75\n")
    pd.testing.assert_frame_equal(frame, frame_of(["2024-01-02", "2024-01-03"], Close=[1.5, 1.75]))


def test_utf8_bom_is_ignored_in_bytes_and_str() -> None:
    body = "Date,Close\r\n2024-01-02,1.5\r\n"
    expected = frame_of(["2024-01-02"], Close=[1.5])
    pd.testing.assert_frame_equal(parse_price_csv(b"\xef\xbb\xbf" + body.encode()), expected)
    pd.testing.assert_frame_equal(parse_price_csv("\ufeff" + body), expected)


def test_semicolons_with_decimal_commas() -> None:
    body = "Data;Zamkniecie\r\n2024-01-02;4,3210\r\n2024-01-03;4,3350\r\n"
    frame = parse_price_csv(body.encode())
    pd.testing.assert_frame_equal(frame, frame_of(["2024-01-02", "2024-01-03"], Close=[4.3210, 4.3350]))


def test_semicolons_with_decimal_commas_and_thousands() -> None:
    body = "Data;Zamkniecie;Wolumen\n2024-01-02;2 345,50;1.234.567\n2024-01-03;2 346,25;12,5\n"
    frame = parse_price_csv(body.encode())
    assert frame["Close"].tolist() == [2345.5, 2346.25]
    assert frame["Volume"].tolist() == [1234567.0, 12.5]


def test_semicolons_with_decimal_points_keep_the_point() -> None:
    # Some exports use ';' but a decimal point; 4.3210 must not become 43210.
    frame = parse_price_csv("Date;Close\n2024-01-02;4.3210\n2024-01-03;4.5\n")
    assert frame["Close"].tolist() == [4.3210, 4.5]


def test_windows_1250_polish_header() -> None:
    body = "Data;Zamknięcie\r\n2024-01-02;4,5\r\n".encode("cp1250")
    assert parse_price_csv(body)["Close"].tolist() == [4.5]


# --- order and duplicates -----------------------------------------------------


def test_unsorted_dates_are_sorted() -> None:
    frame = parse_price_csv("Date,Close\n2024-01-04,3\n2024-01-02,1\n2024-01-03,2\n")
    pd.testing.assert_frame_equal(
        frame, frame_of(["2024-01-02", "2024-01-03", "2024-01-04"], Close=[1, 2, 3])
    )


def test_identical_duplicate_rows_are_dropped() -> None:
    frame = parse_price_csv("Date,Close\n2024-01-02,1\n2024-01-03,2\n2024-01-02,1\n")
    pd.testing.assert_frame_equal(frame, frame_of(["2024-01-02", "2024-01-03"], Close=[1, 2]))


def test_conflicting_duplicates_name_the_date() -> None:
    with pytest.raises(CSVFormatError, match="2024-01-03"):
        parse_price_csv("Date,Close\n2024-01-02,1\n2024-01-03,2\n2024-01-03,2.5\n")


# --- bodies that are not price tables -----------------------------------------


@pytest.mark.parametrize("body", [b"", b"   \r\n\r\n", ""])
def test_empty_input(body) -> None:
    with pytest.raises(CSVFormatError, match="empty"):
        parse_price_csv(body)


@pytest.mark.parametrize("body", ["Date,Close\r\n", "Data,Otwarcie,Najwyzszy,Najnizszy,Zamkniecie\n"])
def test_header_only(body: str) -> None:
    with pytest.raises(CSVFormatError, match="no data rows"):
        parse_price_csv(body)


def test_unknown_header() -> None:
    with pytest.raises(CSVFormatError, match="unknown header 'Foo,Bar'"):
        parse_price_csv("Foo,Bar\n2024-01-02,1\n")


def test_non_numeric_value_names_the_line() -> None:
    with pytest.raises(CSVFormatError, match=r"line 3: Close is 'abc', not a number"):
        parse_price_csv("Date,Close\n2024-01-02,1\n2024-01-03,abc\n")


def test_bad_date_names_the_line() -> None:
    with pytest.raises(CSVFormatError, match=r"line 3: cannot read the date 'yesterday'"):
        parse_price_csv("Date,Close\n2024-01-02,1\n yesterday,2\n")


@pytest.mark.parametrize("value", ["N/A", "", "nan", "-"])
def test_missing_close(value: str) -> None:
    with pytest.raises(CSVFormatError, match=r"line 3: Close is empty or N/A"):
        parse_price_csv(f"Date,Close\n2024-01-02,1\n2024-01-03,{value}\n")


def test_missing_optional_column_becomes_nan() -> None:
    frame = parse_price_csv("Date,Close,Volume\n2024-01-02,1,N/A\n2024-01-03,2,10\n")
    assert np.isnan(frame["Volume"].iloc[0])
    assert frame["Volume"].iloc[1] == 10.0


@pytest.mark.parametrize(
    "body",
    [
        "Date,Close\n2024-01-02,1\n2024-01-03\n",  # row shorter than the header
        "Date,Open,Close\n2024-01-02,1,2\n2024-01-03,1\n",
    ],
)
def test_short_row_is_a_format_error(body: str) -> None:
    with pytest.raises(CSVFormatError, match="line 3"):
        parse_price_csv(body)


def test_row_longer_than_header_is_rejected() -> None:
    # A decimal comma in a comma-separated file must not silently become 4.
    with pytest.raises(CSVFormatError):
        parse_price_csv("Date,Close\n2024-01-02,4,3210\n")


def test_infinite_close() -> None:
    with pytest.raises(CSVFormatError, match="not a finite number"):
        parse_price_csv("Date,Close\n2024-01-02,1e400\n")


def test_html_page() -> None:
    body = b"<!DOCTYPE html>\n<html><head><title>stooq</title></head><body>x</body></html>"
    with pytest.raises(CSVFormatError, match="HTML page"):
        parse_price_csv(body)


@pytest.mark.parametrize(
    "body", ["No data", "Brak danych", "Exceeded the daily hits limit", "No data\r\n"]
)
def test_stooq_error_bodies(body: str) -> None:
    with pytest.raises(CSVFormatError, match="stooq's message"):
        parse_price_csv(body.encode())


def test_binary_garbage() -> None:
    with pytest.raises(CSVFormatError, match="binary"):
        parse_price_csv(b"PK\x03\x04\x00\x00\x08\x00garbage\xff\xfe")


def test_future_date() -> None:
    future = date.today() + timedelta(days=10)
    with pytest.raises(CSVFormatError, match=f"{future} is in the future"):
        parse_price_csv(f"Date,Close\n2024-01-02,1\n{future},2\n")


def test_origin_appears_in_messages() -> None:
    with pytest.raises(CSVFormatError, match=r"^prices\.csv, line 2"):
        parse_price_csv("Date,Close\n2024-01-02,x\n", origin="prices.csv")


# --- files --------------------------------------------------------------------


def test_read_price_csv_reads_a_file(tmp_path) -> None:
    path = tmp_path / "eurpln_d.csv"
    path.write_bytes(EN_BODY.encode())
    pd.testing.assert_frame_equal(read_price_csv(path), EN_EXPECTED)
    pd.testing.assert_frame_equal(read_price_csv(str(path)), EN_EXPECTED)


def test_read_price_csv_missing_file(tmp_path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(CSVFormatError, match="does not exist") as info:
        read_price_csv(path)
    assert str(path) in str(info.value)


def test_read_price_csv_folder(tmp_path) -> None:
    with pytest.raises(CSVFormatError, match="is a folder"):
        read_price_csv(tmp_path)


def test_read_price_csv_message_names_the_file(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("Date,Close\n2024-01-02,oops\n")
    with pytest.raises(CSVFormatError, match=r"bad\.csv, line 2"):
        read_price_csv(path)


# --- between, to_csv_text, normalise_symbol -----------------------------------


def test_between_is_inclusive_and_open_ended() -> None:
    frame = frame_of(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], Close=[1, 2, 3, 4])
    assert between(frame, date(2024, 1, 3), date(2024, 1, 4))["Close"].tolist() == [2, 3]
    assert between(frame, date(2024, 1, 4), None)["Close"].tolist() == [3, 4]
    assert between(frame, None, date(2024, 1, 3))["Close"].tolist() == [1, 2]
    assert between(frame, None, None)["Close"].tolist() == [1, 2, 3, 4]
    assert between(frame, date(2025, 1, 1), None).empty


def test_to_csv_text_format() -> None:
    frame = frame_of(["2024-01-02", "2024-01-03"], Close=[1.5, 2.25])
    assert to_csv_text(frame) == "Date,Close\n2024-01-02,1.5\n2024-01-03,2.25\n"


def test_to_csv_text_round_trip_with_all_columns() -> None:
    frame = parse_price_csv(EN_BODY)
    pd.testing.assert_frame_equal(parse_price_csv(to_csv_text(frame)), frame)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("EURPLN", "eurpln"), (" aapl.US ", "aapl.us"), ("^SPX", "^spx"), ("eur=x", "eur=x")],
)
def test_normalise_symbol(raw: str, expected: str) -> None:
    assert normalise_symbol(raw) == expected


@pytest.mark.parametrize("raw", ["", "  ", "../x", "a/b", "a\\b", ".", "..", ".hidden", "a b", "x" * 41])
def test_normalise_symbol_rejects_unsafe_names(raw: str) -> None:
    with pytest.raises(ConfigError, match="invalid symbol"):
        normalise_symbol(raw)


# --- properties ---------------------------------------------------------------

positive_floats = st.floats(
    min_value=5e-324, max_value=1e300, allow_nan=False, allow_infinity=False, exclude_min=False
)
past_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31))


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    data=st.lists(st.tuples(past_dates, positive_floats), min_size=1, max_size=30,
                  unique_by=lambda row: row[0]),
)
def test_round_trip_is_exact(data: list[tuple[date, float]]) -> None:
    data.sort()
    frame = frame_of([str(d) for d, _ in data], Close=[v for _, v in data])
    parsed = parse_price_csv(to_csv_text(frame))
    pd.testing.assert_frame_equal(parsed, frame, check_exact=True)


_odd_tokens = st.one_of(
    st.sampled_from([
        "20240104", "02.01.2024", "2099-01-01", "0001-01-01", "-2", "0", "1e400", "nan",
        "N/A", "", " ", '"', '""', "abc", "<html>", "No data", "\x00", "1 234,5", "1.234.567",
        "01/02/2024", "13/01/2024", "01-13-2024", "2024-01-02 00:00:00-05:00", "Jan 02, 2024", "1'234.5",
        "171.09M", "4.3250", "-0.05%", "99999999", "1899-12-31", "29.02.2023",
    ]),
    st.text(max_size=6),
)
# Mostly well-formed fields, so that the fuzzing reaches the checks after the header.
_date_tokens = st.one_of(st.sampled_from(["2024-01-02", "2024-01-03", "2024-01-04"]), _odd_tokens)
_number_tokens = st.one_of(st.sampled_from(["1", "1.5", "4,3210", "2"]), _odd_tokens)
_headers = st.sampled_from([
    ["Date", "Close"],
    ["Date", "Open", "High", "Low", "Close"],
    ["Data", "Otwarcie", "Najwyzszy", "Najnizszy", "Zamkniecie", "Wolumen"],
    ["Date", "Close", "Volume"],
    ["Close", "Date"],
    ["Date", "Close", "Close"],
    ["Date", "x"],
    ["Date", "Close", "Price"],
    ["<TICKER>", "<PER>", "<DATE>", "<CLOSE>", "<VOL>"],
    ["Date", "Price", "Vol.", "Change %"],
])


@st.composite
def csvish(draw) -> str:
    """Text close to a price CSV: a known header, rows of nearly the right length."""
    sep = draw(st.sampled_from([",", ";", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    header = draw(_headers)
    lines = [sep.join(header)]
    for _ in range(draw(st.integers(0, 5))):
        fields = [draw(_date_tokens if name in ("Date", "Data") else _number_tokens) for name in header]
        extra = draw(st.sampled_from([0, 0, 0, -1, 1]))
        fields = fields[:extra] if extra < 0 else fields + [draw(_number_tokens)] * extra
        lines.append(sep.join(fields))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    return bom + newline.join(lines) + draw(st.sampled_from(["", newline]))


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(body=st.one_of(
    st.text(),
    st.binary(),
    csvish(),
    csvish().map(lambda s: s.encode("utf-8")),
))
def test_arbitrary_input_gives_a_series_or_a_format_error(body) -> None:
    try:
        frame = parse_price_csv(body)
    except CSVFormatError:
        return
    assert_valid_series(frame)
