"""The synthetic source: the course's first exercise, reproducible on every machine."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app
from seqcast.data.sources import FetchRequest, get_source, source_names
from seqcast.errors import ConfigError, NoDataError

runner = CliRunner()


def fetch(symbol: str, **options):
    return get_source("synthetic").fetch(FetchRequest(symbol, options=options)).frame


def test_registered_and_reproducible():
    assert "synthetic" in source_names()
    for symbol in ("sine", "ar1", "randomwalk"):
        a, b = fetch(symbol), fetch(symbol)
        assert a.equals(b)  # seeded
        assert len(a) == 1000 and str(a.index[-1].date()) == "2026-10-30"
        assert (a.index.day_of_week < 5).all() and (a["Close"] > 0).all()
    assert not fetch("sine", seed=1).equals(fetch("sine"))


def test_the_series_have_the_shapes_their_names_promise():
    clean = fetch("sine", noise=0.0, period=20, length=200)["Close"].to_numpy()
    np.testing.assert_allclose(clean[:20], clean[20:40], atol=1e-6)  # one period later, the same
    assert clean.max() == pytest.approx(11, abs=0.01) and clean.min() == pytest.approx(9, abs=0.01)
    ar = fetch("ar1", length=5000)["Close"].to_numpy() - 10
    lag1 = np.corrcoef(ar[:-1], ar[1:])[0, 1]
    assert lag1 == pytest.approx(0.5, abs=0.05)  # phi
    walk = np.diff(np.log(fetch("randomwalk", length=5000)["Close"].to_numpy()))
    assert abs(np.corrcoef(walk[:-1], walk[1:])[0, 1]) < 0.05  # moves do not predict moves
    assert np.std(walk) == pytest.approx(0.01, rel=0.05)  # noise 0.1 on a level of 10


@pytest.mark.parametrize(("symbol", "options", "error", "message"), [
    ("cosine", {}, NoDataError, "choose one of: sine, ar1, randomwalk"),
    ("sine", {"length": 5}, ConfigError, "--length"),
    ("sine", {"noise": -1.0}, ConfigError, "--noise"),
    ("sine", {"period": 1.0}, ConfigError, "--period"),
    ("sine", {"seed": -1}, ConfigError, "--seed"),
])
def test_bad_options(symbol, options, error, message):
    with pytest.raises(error, match=message):
        fetch(symbol, **options)


def test_fetch_stores_it_and_a_new_fetch_replaces_it(workspace):
    result = runner.invoke(app, ["fetch", "sine", "--source", "synthetic", "--length", "300", "--noise", "0.2"])
    assert result.exit_code == 0, result.output
    assert "sine: 300 rows" in result.output and "from synthetic" in result.output
    stored = api.stored_series()[0]
    assert stored.meta["generator"] == {"kind": "sine", "length": 300, "noise": 0.2, "seed": 0, "period": 20.0}
    result = runner.invoke(app, ["fetch", "sine", "--source", "synthetic", "--length", "100", "--json"])
    meta = json.loads(result.output)
    assert meta["rows"] == 100  # other options are another series, not new days
    result = runner.invoke(app, ["fetch", "eurpln", "--length", "100"])
    flat = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2 and "need --source synthetic" in flat


def test_length_is_bounded_so_the_dates_start_in_1900_or_later(workspace, monkeypatch):
    from seqcast.data.sources import synthetic

    longest = fetch("randomwalk", length=synthetic.MAX_LENGTH)
    assert len(longest) == synthetic.MAX_LENGTH and longest.index[0].year >= 1900
    # Past the limit: a clear error naming it, raised before anything is generated.
    monkeypatch.setattr(synthetic, "generate", lambda spec: pytest.fail("generated before checking --length"))
    with pytest.raises(ConfigError, match=r"between 30 and 32000 .*1900 or later"):
        fetch("sine", length=synthetic.MAX_LENGTH + 1)
    result = runner.invoke(app, ["fetch", "sine", "--source", "synthetic", "--length", "100000"])
    assert result.exit_code == 1
    assert result.output.startswith("error: --length must be a whole number between 30 and 32000")
    assert "1643" not in result.output and "bad data" not in result.output
