"""Property tests: whatever arrives, the CSV reader and the windowing raise only seqcast's
own errors or return something consistent; valid inputs round-trip.

(test_series.py already fuzzes parse_price_csv on text; these go on from there: files on
disk, spreadsheet exports, and what the reader's output does to build_dataset.)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import seqcast.data.series
from seqcast.data.series import parse_price_csv, read_price_csv, to_csv_text
from seqcast.errors import CSVFormatError, SeqcastError
from seqcast.inputs.windows import build_dataset, first_position, to_price, transform_series

PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TARGETS = ("level", "change", "logret")

any_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@st.composite
def price_arrays(draw) -> np.ndarray:
    """Mostly usable series (so that the success path is reached), some hostile ones."""
    kind = draw(st.sampled_from(["walk", "walk", "walk-with-holes", "anything", "constant"]))
    n = draw(st.integers(0, 300))
    if kind == "anything":
        return draw(arrays(np.float64, n, elements=any_floats))
    if kind == "constant":
        return np.full(n, draw(any_floats))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    level = draw(st.sampled_from([1e-300, 1e-6, 0.01, 4.3, 1e4, 1e150, 1e300]))
    with np.errstate(over="ignore"):  # inf from overflow is one more hostile input
        values = level * np.exp(np.cumsum(rng.normal(0, draw(st.sampled_from([0.0, 0.01, 1.0, 50.0])), n)))
    if draw(st.booleans()):
        values -= level * draw(st.sampled_from([0.5, 1.0, 2.0]))  # zero and negative prices
    if kind == "walk-with-holes" and n:
        for i in draw(st.lists(st.integers(0, n - 1), max_size=3)):
            values[i] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -1.0, 1e308]))
    return values


lookbacks = st.one_of(st.integers(1, 40), st.integers(-3, 400), st.sampled_from([None, 2.5, "10", True]))
splits = st.one_of(st.floats(0.5, 0.95), any_floats, st.sampled_from([0, 1, None]))
val_fractions = st.one_of(st.floats(0.0, 0.5), any_floats)
targets = st.one_of(st.sampled_from(TARGETS), st.sampled_from(["LOGRET", "", "price", None]))


def assert_consistent(ds, values: np.ndarray, lookback: int, target: str) -> None:
    n_windows = len(ds.positions)
    assert n_windows > 0
    assert ds.x.shape == (n_windows, lookback, 1) and ds.x.dtype == np.float32
    assert ds.y.shape == ds.previous.shape == ds.actual.shape == (n_windows,)
    assert np.isfinite(ds.x).all() and np.isfinite(ds.y).all()
    assert math.isfinite(ds.scaler.center) and math.isfinite(ds.scaler.scale) and ds.scaler.scale > 0
    # Positions are contiguous, start at the first full window and end at the last row.
    first = first_position(lookback, target)
    np.testing.assert_array_equal(ds.positions, np.arange(first, len(values)))
    np.testing.assert_array_equal(ds.actual, values[ds.positions])
    np.testing.assert_array_equal(ds.previous, values[ds.positions - 1])
    # The parts tile the windows in time order: train, validation tail, test.
    assert ds.train.start == 0 and ds.train.stop == ds.val.start and ds.val.stop == ds.test.start
    assert ds.test.stop == n_windows and ds.train.stop > 0 and ds.test.stop > ds.test.start
    assert ds.n_train == first + ds.val.stop
    # Each window ends the day before its target: window k's last value is target k-1.
    np.testing.assert_array_equal(ds.x[1:, -1, 0], ds.y[:-1])


@PROPERTY
@given(values=price_arrays(), lookback=lookbacks, split=splits, val_fraction=val_fractions, target=targets)
def test_build_dataset_raises_only_seqcast_errors(values, lookback, split, val_fraction, target) -> None:
    try:
        ds = build_dataset(values, lookback=lookback, split=split, val_fraction=val_fraction, target=target)
    except SeqcastError as exc:
        assert str(exc)  # a message for the user, never an empty one
        return
    assert_consistent(ds, np.asarray(values, dtype=np.float64), lookback, target)


@PROPERTY
@given(values=price_arrays(), lookback=st.integers(1, 30), target=st.sampled_from(TARGETS))
def test_valid_options_on_any_series(values, lookback, target) -> None:
    """With options the CLI accepts, any series gives a dataset or a clear DataError/ConfigError."""
    try:
        ds = build_dataset(values, lookback=lookback, split=0.7, val_fraction=0.1, target=target)
    except SeqcastError as exc:
        finite_positive = len(values) and np.isfinite(values).all() and (values > 0).all()
        if finite_positive and len(values) >= 100:
            # Only overflow of huge moves may stop a finite series long enough for lookback 30.
            assert "too large" in str(exc), exc
        return
    assert_consistent(ds, values, lookback, target)


positive_series = arrays(np.float64, st.integers(2, 200),
                         elements=st.floats(1e-3, 1e6, allow_nan=False, allow_infinity=False))


@PROPERTY
@given(values=positive_series, target=st.sampled_from(TARGETS))
def test_targets_round_trip_to_prices(values, target) -> None:
    modelled = transform_series(values, target)
    assert np.isfinite(modelled[1:]).all()
    prices = to_price(modelled[1:], values[:-1], target)
    # A change adds back to the previous price: its rounding error is relative to the
    # larger of the two prices, not to the smaller result.
    atol = 1e-12 * np.abs(values).max() if target == "change" else 0.0
    np.testing.assert_allclose(prices, values[1:], rtol=1e-9, atol=atol)


@PROPERTY
@given(values=arrays(np.float64, st.integers(60, 200), elements=st.floats(1e-2, 1e4)),
       target=st.sampled_from(TARGETS), lookback=st.integers(1, 20))
def test_scaled_targets_round_trip_to_prices(values, target, lookback) -> None:
    """What the network is trained on (scaled float32) maps back to the real prices."""
    ds = build_dataset(values, lookback=lookback, split=0.7, val_fraction=0.1, target=target)
    restored = to_price(ds.scaler.inverse(ds.y.astype(np.float64)), ds.previous, target)
    tolerance = 1e-5 * (np.abs(ds.y.astype(np.float64)) + 1) * ds.scaler.scale
    if target == "logret":
        tolerance = tolerance * ds.actual * 2
    assert (np.abs(restored - ds.actual) <= tolerance + 1e-9 * np.abs(ds.actual)).all()


# --- the CSV reader on files and spreadsheet exports ----------------------------------------------

past_days = st.dates(min_value=pd.Timestamp("1990-01-01").date(), max_value=pd.Timestamp("2024-12-31").date())
reasonable = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 6))


@st.composite
def frames(draw) -> pd.DataFrame:
    rows = draw(st.lists(st.tuples(past_days, reasonable, reasonable), min_size=1, max_size=40,
                         unique_by=lambda row: row[0]))
    rows.sort()
    index = pd.DatetimeIndex(pd.to_datetime([str(d) for d, _, _ in rows], format="%Y-%m-%d"), name="Date")
    # Volume above 0: a row repeating the previous bar with volume 0 is a filler that the reader
    # leaves out on purpose (seqcast.data.bars), which no round trip should be judged by.
    return pd.DataFrame({"Close": [c for _, c, _ in rows], "Volume": [abs(v) + 1.0 for _, _, v in rows]},
                        index=index)


def polish_export(frame: pd.DataFrame, encoding: str) -> bytes:
    """As a Polish spreadsheet saves it: ';' separators, decimal commas, CRLF, day-first dates."""
    lines = ["Data;Zamknięcie;Wolumen"]
    for day, row in frame.iterrows():
        close, volume = (repr(float(v)).replace(".", ",") for v in (row["Close"], row["Volume"]))
        lines.append(f"{day:%d.%m.%Y};{close};{volume}")
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


@PROPERTY
@given(frame=frames(), encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1250"]))
def test_polish_spreadsheet_export_round_trips(frame, encoding) -> None:
    parsed = parse_price_csv(polish_export(frame, encoding))
    pd.testing.assert_frame_equal(parsed, frame[["Close", "Volume"]], check_exact=True, check_freq=False)
    # ...and what seqcast stores from it reads back the same.
    pd.testing.assert_frame_equal(parse_price_csv(to_csv_text(parsed)), parsed, check_exact=True)


@PROPERTY
@given(body=st.one_of(st.binary(max_size=2000), st.text(max_size=500).map(str.encode)),
       limit=st.sampled_from([None, 10, 100]))
def test_any_file_gives_a_series_or_a_format_error(tmp_path, monkeypatch, body, limit) -> None:
    path = tmp_path / "download.csv"
    path.write_bytes(body)
    with monkeypatch.context() as patch:
        if limit is not None:
            patch.setattr(seqcast.data.series, "MAX_BYTES", limit)
        try:
            frame = read_price_csv(path)
        except CSVFormatError as exc:
            assert str(path) in str(exc)
            return
    assert len(body) <= (limit or seqcast.data.series.MAX_BYTES)
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert np.isfinite(frame["Close"].to_numpy()).all()


_cells = st.one_of(
    st.sampled_from(["2024-01-02", "2024-01-03", "20240104", "05.01.2024", "", "N/A", "0", "-1", "1e308",
                     "1e-320", "4,3210", "4.3210", "nan", "inf", "x"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)


@st.composite
def date_close_tables(draw) -> str:
    """Date,Close tables of good rows with a few odd cells among them."""
    sep = draw(st.sampled_from([",", ";"]))
    n = draw(st.integers(1, 120))
    closes = [repr(v) for v in draw(st.lists(st.floats(0.5, 10.0), min_size=n, max_size=n))]
    for i in draw(st.lists(st.integers(0, n - 1), max_size=2)):
        closes[i] = draw(_cells)
    step = draw(st.sampled_from([1, 1, 7, 30]))
    lines = [f"Date{sep}Close"]
    for i, close in enumerate(closes):
        day = pd.Timestamp("2020-01-01") + pd.Timedelta(days=i * step)
        lines.append(f"{day:%Y-%m-%d}{sep}{close}")
    return "\n".join(lines) + "\n"


@PROPERTY
@given(body=date_close_tables(), lookback=st.integers(1, 15), target=st.sampled_from(TARGETS))
def test_from_any_table_to_windows_only_seqcast_errors(body, lookback, target) -> None:
    """The reader's output, whatever the table held, is safe to window."""
    try:
        frame = parse_price_csv(body)
        values = frame["Close"].to_numpy(dtype=np.float64)
        ds = build_dataset(values, lookback=lookback, split=0.7, val_fraction=0.1, target=target)
    except SeqcastError:
        return
    assume(len(ds.positions) > 0)
    assert_consistent(ds, values, lookback, target)


def test_nan_or_inf_in_prices_is_a_clear_data_error() -> None:
    values = 4.3 + np.sin(np.arange(200) / 5)
    for bad in (np.nan, np.inf, -np.inf):
        broken = values.copy()
        broken[57] = bad
        with pytest.raises(SeqcastError, match=r"1 missing or infinite values \(first at row 58\)"):
            build_dataset(broken, lookback=10, split=0.7, val_fraction=0.1, target="level")


def test_moves_too_large_to_scale_are_a_clear_data_error() -> None:
    values = np.r_[np.full(100, 1.0), np.full(50, 1e300), np.full(50, -1e300)]
    with pytest.raises(SeqcastError, match="too large or too uneven to scale"):
        build_dataset(values, lookback=10, split=0.7, val_fraction=0.1, target="change")
