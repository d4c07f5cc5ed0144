"""Tests for seqcast.inputs.windows: targets, scaling, chronological split, no leakage."""

from __future__ import annotations

import numpy as np
import pytest

from seqcast.errors import ConfigError, NotEnoughDataError
from seqcast.inputs.windows import (
    MIN_TEST_WINDOWS,
    MIN_TRAIN_WINDOWS,
    Scaler,
    build_dataset,
    first_position,
    fit_scaler,
    last_window,
    to_price,
    transform_series,
    windows,
)

TARGETS = ("level", "change", "logret")


def prices(n: int = 300, seed: int = 0) -> np.ndarray:
    """A seeded positive random walk."""
    rng = np.random.default_rng(seed)
    return 4.3 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))


def build(values: np.ndarray, target: str, lookback: int = 10, split: float = 0.7, val_fraction: float = 0.1):
    return build_dataset(values, lookback=lookback, split=split, val_fraction=val_fraction, target=target)


def slow_modelled(values: np.ndarray, target: str) -> np.ndarray:
    """The modelled quantity, one position at a time."""
    out = np.full(len(values), np.nan)
    for t in range(len(values)):
        if target == "level":
            out[t] = values[t]
        elif t > 0 and target == "change":
            out[t] = values[t] - values[t - 1]
        elif t > 0 and target == "logret":
            out[t] = np.log(values[t]) - np.log(values[t - 1])
    return out


# --- transform_series, to_price, fit_scaler -----------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_transform_series_matches_a_loop(target: str) -> None:
    values = prices(50)
    np.testing.assert_allclose(transform_series(values, target), slow_modelled(values, target), rtol=1e-12)


def test_transform_series_level_is_a_copy() -> None:
    values = prices(10)
    out = transform_series(values, "level")
    out[0] = -1.0
    assert values[0] != -1.0


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_logret_needs_positive_prices(bad: float) -> None:
    values = prices(300)
    values[120] = bad
    with pytest.raises(ConfigError, match="zero or negative"):
        transform_series(values, "logret")
    with pytest.raises(ConfigError, match="zero or negative"):
        build(values, "logret")


@pytest.mark.parametrize("target", ["change", "level"])
def test_negative_prices_are_fine_for_change_and_level(target: str) -> None:
    values = prices(300) - 4.3  # crosses zero
    assert (values <= 0).any()
    ds = build(values, target)
    assert np.isfinite(ds.x).all() and np.isfinite(ds.y).all()


def test_unknown_target() -> None:
    with pytest.raises(ConfigError, match="unknown target"):
        transform_series(prices(10), "returns")


@pytest.mark.parametrize("target", TARGETS)
def test_to_price_inverts_the_target(target: str) -> None:
    values = prices(40)
    modelled = transform_series(values, target)
    back = to_price(modelled[1:], values[:-1], target)
    np.testing.assert_allclose(back, values[1:], rtol=1e-12)


def test_fit_scaler_level_is_min_max_ignoring_nan() -> None:
    scaler = fit_scaler(np.array([np.nan, 3.0, 7.0, 5.0]), "level")
    assert scaler == Scaler(3.0, 4.0)
    np.testing.assert_allclose(scaler.transform(np.array([3.0, 5.0, 7.0])), [0.0, 0.5, 1.0])


@pytest.mark.parametrize("target", ["change", "logret"])
def test_fit_scaler_moves_keep_zero_and_use_rms(target: str) -> None:
    scaler = fit_scaler(np.array([np.nan, 3.0, -4.0]), target)
    assert scaler.center == 0.0
    assert scaler.scale == pytest.approx(np.sqrt((9 + 16) / 2))


@pytest.mark.parametrize("target", TARGETS)
def test_fit_scaler_constant_series_does_not_divide_by_zero(target: str) -> None:
    series = np.zeros(5) if target != "level" else np.full(5, 2.0)
    assert fit_scaler(series, target).scale == 1.0


def test_scaler_round_trip() -> None:
    scaler = Scaler(1.5, 2.5)
    z = np.array([-1.0, 0.0, 3.0])
    np.testing.assert_allclose(scaler.transform(scaler.inverse(z)), z)
    assert Scaler.from_dict(scaler.to_dict()) == scaler


def test_windows_shape_and_content() -> None:
    series = np.arange(7.0)
    w = windows(series, 3)
    assert w.shape == (5, 3)
    for t in range(3, 8):
        np.testing.assert_array_equal(w[t - 3], series[t - 3 : t])


def test_first_position() -> None:
    assert first_position(10, "level") == 10
    assert first_position(10, "change") == 11
    assert first_position(10, "logret") == 11


# --- build_dataset ------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("lookback", [1, 10])
def test_windows_equal_a_slow_loop(target: str, lookback: int) -> None:
    values = prices(200)
    ds = build(values, target, lookback=lookback)
    n = len(values)
    start = first_position(lookback, target)
    n_windows = n - start
    assert ds.x.shape == (n_windows, lookback, 1)
    assert ds.y.shape == ds.positions.shape == ds.previous.shape == ds.actual.shape == (n_windows,)
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.float32
    np.testing.assert_array_equal(ds.positions, np.arange(start, n))

    modelled = slow_modelled(values, target)
    train_values = modelled[: ds.n_train]
    train_values = train_values[np.isfinite(train_values)]
    if target == "level":
        center, scale = train_values.min(), train_values.max() - train_values.min()
    else:
        center, scale = 0.0, np.sqrt(np.mean(train_values**2))
    scaled = (modelled - center) / scale
    for i, t in enumerate(ds.positions):
        np.testing.assert_allclose(ds.x[i, :, 0], scaled[t - lookback : t], rtol=1e-5, atol=1e-6)
        assert ds.y[i] == pytest.approx(scaled[t], rel=1e-5, abs=1e-6)
        assert ds.previous[i] == values[t - 1]
        assert ds.actual[i] == values[t]
    assert np.isfinite(ds.x).all()


@pytest.mark.parametrize("target", TARGETS)
def test_split_is_chronological_and_contiguous(target: str) -> None:
    values = prices(300)
    ds = build(values, target, lookback=10, split=0.7, val_fraction=0.1)
    n_windows = len(ds.positions)
    assert ds.n_train == 210
    assert ds.train.start == 0
    assert ds.train.stop == ds.val.start
    assert ds.val.stop == ds.test.start
    assert ds.test.stop == n_windows
    assert ds.val.stop > ds.val.start > ds.train.start
    train_pos, val_pos, test_pos = ds.positions[ds.train], ds.positions[ds.val], ds.positions[ds.test]
    assert train_pos.max() < val_pos.min()
    assert val_pos.max() < test_pos.min()
    assert val_pos.max() == ds.n_train - 1
    assert test_pos[0] == ds.n_train
    assert test_pos[-1] == len(values) - 1
    n_train_windows = ds.n_train - first_position(10, target)
    assert ds.val.stop - ds.val.start == round(0.1 * n_train_windows)


def test_zero_val_fraction_leaves_no_validation_tail() -> None:
    ds = build(prices(300), "logret", val_fraction=0.0)
    assert ds.val.start == ds.val.stop == ds.test.start


def test_tiny_val_fraction_still_holds_out_one_window() -> None:
    ds = build(prices(300), "logret", val_fraction=0.001)
    assert ds.val.stop - ds.val.start == 1


@pytest.mark.parametrize("target", TARGETS)
def test_scaler_uses_the_training_part_only(target: str) -> None:
    values = prices(300)
    ds = build(values, target)
    assert ds.scaler == fit_scaler(transform_series(values[: ds.n_train], target), target)
    if target == "level":
        head = values[: ds.n_train]
        assert ds.scaler == Scaler(float(head.min()), float(head.max() - head.min()))
        # Training targets lie in [0, 1]; the full series' extremes would say otherwise.
        assert ds.y[ds.train].min() >= -1e-6 and ds.y[ds.val].max() <= 1 + 1e-6


@pytest.mark.parametrize("target", TARGETS)
def test_no_leakage_from_the_test_part(target: str) -> None:
    values = prices(300)
    ds = build(values, target)
    changed = values.copy()
    changed[ds.n_train :] *= np.linspace(2.0, 50.0, len(values) - ds.n_train)  # a wild test part
    ds2 = build(changed, target)
    assert ds2.scaler == ds.scaler
    assert ds2.n_train == ds.n_train
    for part in (ds.train, ds.val):
        np.testing.assert_array_equal(ds2.x[part], ds.x[part])
        np.testing.assert_array_equal(ds2.y[part], ds.y[part])
        np.testing.assert_array_equal(ds2.previous[part], ds.previous[part])
        np.testing.assert_array_equal(ds2.actual[part], ds.actual[part])
    # ...while the test targets did change, so the comparison above can fail.
    assert not np.array_equal(ds2.y[ds.test], ds.y[ds.test])


def test_level_target_scales_with_train_min_max() -> None:
    values = np.concatenate([np.linspace(1.0, 2.0, 210), np.full(90, 3.0)])
    ds = build(values, "level")
    assert ds.scaler == Scaler(1.0, 1.0)
    np.testing.assert_allclose(ds.y[ds.test], 2.0)  # above 1: only train sets the range


@pytest.mark.parametrize("target", TARGETS)
def test_inverse_scaled_targets_give_back_the_prices(target: str) -> None:
    values = prices(300)
    ds = build(values, target)
    raw = ds.scaler.inverse(ds.y.astype(np.float64))
    np.testing.assert_allclose(to_price(raw, ds.previous, target), ds.actual, rtol=1e-5)


def test_logret_to_price_of_the_actual_target_is_exact() -> None:
    values = prices(300)
    ds = build(values, "logret")
    actual_logret = transform_series(values, "logret")[ds.positions]
    np.testing.assert_allclose(to_price(actual_logret, ds.previous, "logret"), ds.actual, rtol=1e-13)


@pytest.mark.parametrize(
    ("n", "lookback", "split"),
    [(40, 10, 0.7), (30, 5, 0.8), (200, 150, 0.7), (80, 10, 0.95)],
)
def test_too_short_series(n: int, lookback: int, split: float) -> None:
    with pytest.raises(NotEnoughDataError) as info:
        build(prices(n), "logret", lookback=lookback, split=split)
    message = str(info.value)
    assert f"{n} rows" in message
    assert f"--lookback {lookback}" in message
    assert f"--split {split:g}" in message


def test_too_short_message_gives_enough_rows() -> None:
    with pytest.raises(NotEnoughDataError, match=r"at least (\d+) rows") as info:
        build(prices(40), "logret", lookback=10, split=0.7)
    need = int(info.value.args[0].rsplit("at least ", 1)[1].split()[0])
    build(prices(need), "logret", lookback=10, split=0.7)  # the advice is enough
    with pytest.raises(NotEnoughDataError):
        build(prices(need - 1), "logret", lookback=10, split=0.7)


def test_smallest_series_that_fits() -> None:
    lookback, split = 10, 0.5
    start = first_position(lookback, "logret")
    n = 2 * (start + MIN_TRAIN_WINDOWS)
    ds = build(prices(n), "logret", lookback=lookback, split=split)
    assert ds.n_train - start == MIN_TRAIN_WINDOWS
    assert ds.test.stop - ds.test.start >= MIN_TEST_WINDOWS


def test_large_val_fraction_leaving_too_few_fitting_windows() -> None:
    # 20 training windows; a 0.6 tail would leave 8 for fitting.
    with pytest.raises(NotEnoughDataError, match="val-fraction"):
        build(prices(62), "logret", lookback=10, split=0.5, val_fraction=0.6)


# --- last_window ----------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("lookback", [1, 10])
def test_last_window_is_the_next_window(target: str, lookback: int) -> None:
    values = prices(301)
    ds = build(values, target, lookback=lookback)
    # The window for the final position of a longer series looks at values[:-1] only.
    w = last_window(values[:-1], lookback=lookback, target=target, scaler=ds.scaler)
    assert w.shape == (1, lookback, 1) and w.dtype == np.float32
    np.testing.assert_allclose(w, ds.x[-1:], rtol=1e-6, atol=1e-7)
    # Any earlier position too.
    t = int(ds.positions[100])
    w = last_window(values[:t], lookback=lookback, target=target, scaler=ds.scaler)
    np.testing.assert_allclose(w[0], ds.x[100], rtol=1e-6, atol=1e-7)


def test_last_window_after_the_dataset_uses_the_newest_values() -> None:
    values = prices(300)
    ds = build(values, "logret")
    w = last_window(values, lookback=10, target="logret", scaler=ds.scaler)
    expected = ds.scaler.transform(np.diff(np.log(values[-11:])))
    np.testing.assert_allclose(w[0, :, 0], expected, rtol=1e-6)


@pytest.mark.parametrize(("target", "need"), [("level", 10), ("logret", 11)])
def test_last_window_too_short(target: str, need: int) -> None:
    with pytest.raises(NotEnoughDataError, match=f"has {need - 1} rows.*at least {need}"):
        last_window(prices(need - 1), lookback=10, target=target, scaler=Scaler(0.0, 1.0))
    assert last_window(prices(need), lookback=10, target=target, scaler=Scaler(0.0, 1.0)).shape == (1, 10, 1)


@pytest.mark.parametrize("target", TARGETS)
def test_explicit_n_train_overrides_the_split(target: str) -> None:
    values = prices(300)
    ds = build_dataset(values, lookback=10, split=0.7, val_fraction=0.1, target=target, n_train=250)
    assert ds.n_train == 250
    assert ds.positions[ds.test][0] == 250 and ds.positions[ds.val][-1] == 249
    assert ds.scaler == fit_scaler(transform_series(values[:250], target), target)
    same = build_dataset(values, lookback=10, split=0.7, val_fraction=0.1, target=target, n_train=210)
    default = build(values, target)
    np.testing.assert_array_equal(same.x, default.x)
    assert same.scaler == default.scaler and same.test == default.test


def test_window_options_follow_the_config_rule_with_wider_bounds() -> None:
    """One rule (config.check_window_options): the user's bounds in DataConfig, 0..1 in windowing."""
    from seqcast.config import DataConfig

    values = prices(400)
    # A split DataConfig refuses is still a valid training length for a backtest fold.
    with pytest.raises(ConfigError, match=r"^--split must be between 0\.5 and 0\.95, got 0\.3$"):
        DataConfig(split=0.3)
    assert build(values, "logret", split=0.3).n_train == 120
    with pytest.raises(ConfigError, match=r"^--val-fraction must be between 0 and 0\.5, got 0\.6$"):
        DataConfig(val_fraction=0.6)
    assert build(values, "logret", val_fraction=0.6).val.stop > 0
    # Outside 0..1, or not a number: the same rule and words as the config's.
    for kwargs, message in (({"split": 1.5}, r"^--split must be between 0 and 1, got 1\.5$"),
                            ({"split": float("nan")}, r"^--split must be a number, got nan$"),
                            ({"val_fraction": -0.1}, r"^--val-fraction must be between 0 and 1, got -0\.1$"),
                            ({"lookback": 0}, r"^--lookback must be at least 1, got 0$"),
                            ({"lookback": "10"}, r"^--lookback must be a whole number, got '10'$")):
        with pytest.raises(ConfigError, match=message):
            build(values, "logret", **kwargs)
    with pytest.raises(ConfigError, match=r"^--target must be one of level, change, logret, got 'price'$"):
        build(values, "price")
    with pytest.raises(ConfigError, match=r"^--target must be one of level, change, logret, got 'price'$"):
        DataConfig(target="price")  # type: ignore[arg-type]
