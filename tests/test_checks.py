"""check_series: no source's reply with NaN, Infinity, a non-positive price or an impossible date is stored."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from seqcast import api
from seqcast.data.sources import FetchRequest, FetchResult, register_source
from seqcast.data.sources.checks import check_series, latest_allowed_date
from seqcast.data.sources.ecb import ECBSource
from seqcast.data.sources.nbp import NBPSource
from seqcast.data.sources.stooq import StooqSource
from seqcast.errors import CSVFormatError, DownloadError, UnexpectedResponseError
from tests.httpserver import Reply, Server


def frame(dates: list[str], closes: list[float], **more: list[float]) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime(dates), name="Date")
    return pd.DataFrame({"Close": closes, **more}, index=index, dtype=float)


# --- the function ------------------------------------------------------------------------------


def test_a_plausible_series_passes_unchanged():
    good = frame(["2024-01-02", "2024-01-03"], [4.3, 4.31], Volume=[0.0, np.nan])
    assert check_series(good, "x") is good


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (frame(["2024-01-02", "2024-01-03"], [4.3, np.nan]), "Close on 2024-01-03 is nan (not a finite number)"),
        (frame(["2024-01-02", "2024-01-03"], [np.inf, 4.3]), "Close on 2024-01-02 is inf"),
        (frame(["2024-01-02"], [0.0]), "Close on 2024-01-02 is 0.0 (zero or negative, not a price)"),
        (frame(["2024-01-02"], [-4.3]), "zero or negative"),
        (frame(["2024-01-02"], [1e308]), "too large to be a price"),
        (frame(["2024-01-02"], [4.3], Open=[-np.inf]), "Open on 2024-01-02 is -inf"),
        (frame(["2024-01-02"], [4.3], Volume=[-5.0]), "Volume on 2024-01-02 is -5.0 (negative)"),
        (frame(["2099-01-05"], [4.3]), "the date 2099-01-05 is in the future"),
        (frame(["1899-12-29"], [4.3]), "the date 1899-12-29 is before 1900"),
        (frame(["2024-01-02", "2024-01-02"], [4.3, 4.4]), "the date 2024-01-02 appears more than once"),
    ],
)
def test_implausible_rows_are_named(bad, words):
    with pytest.raises(UnexpectedResponseError) as info:
        check_series(bad, "NBP's rates for EUR")
    assert str(info.value).startswith("NBP's rates for EUR: ")
    assert words in str(info.value)
    assert "nothing was stored" in str(info.value)


def test_the_date_limits_are_1900_and_tomorrow():
    tomorrow = latest_allowed_date()
    assert tomorrow >= date.today() + timedelta(days=1)
    check_series(frame(["1900-01-01", str(tomorrow)], [1.0, 1.0]), "x")
    with pytest.raises(UnexpectedResponseError, match="in the future"):
        check_series(frame([str(tomorrow + timedelta(days=1))], [1.0]), "x")


def test_a_spread_may_go_negative_but_never_nan():
    spread = frame(["2024-01-02", "2024-01-03"], [0.0, -0.25])
    assert check_series(spread, "f.csv", positive=False, error=CSVFormatError) is spread
    with pytest.raises(CSVFormatError, match=r"f\.csv: Close on 2024-01-03 is nan"):
        check_series(frame(["2024-01-02", "2024-01-03"], [0.0, np.nan]), "f.csv", positive=False,
                     error=CSVFormatError)


# --- every source calls it ----------------------------------------------------------------------


def nbp_reply(mid: str, day: str = "2024-01-03") -> Reply:
    # JSON as Python writes it with allow_nan: NaN and Infinity are bare words.
    body = ('{"table": "A", "code": "EUR", "rates": [{"no": "1/A/NBP/2024", "effectiveDate": "2024-01-02", '
            f'"mid": 4.3}}, {{"no": "2/A/NBP/2024", "effectiveDate": "{day}", "mid": {mid}}}]}}')
    return Reply(body=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (nbp_reply("NaN"), "Close on 2024-01-03 is nan"),
        (nbp_reply("Infinity"), "Close on 2024-01-03 is inf"),
        (nbp_reply("-Infinity"), "Close on 2024-01-03 is -inf"),
        (nbp_reply("0"), "zero or negative"),
        (nbp_reply("4.3", day="2099-01-05"), "the date 2099-01-05 is in the future"),
    ],
)
def test_nbp_poisoned_replies_are_refused(reply, words):
    with Server(lambda request: reply) as server, pytest.raises(UnexpectedResponseError) as info:
        NBPSource(base_url=server.url, backoff_factor=0).fetch(
            FetchRequest("eurpln", date(2024, 1, 2), date(2024, 1, 31)))
    assert str(info.value).startswith("NBP's rates for EUR") and words in str(info.value)


def test_nbp_deeply_nested_json_is_not_a_crash():
    with Server(Reply(body="[" * 100_000 + "]" * 100_000)) as server, \
            pytest.raises(UnexpectedResponseError, match="not its rates JSON"):
        NBPSource(base_url=server.url, backoff_factor=0).fetch(
            FetchRequest("eurpln", date(2024, 1, 2), date(2024, 1, 31)))


ECB_HEADER = "KEY,FREQ,CURRENCY,CURRENCY_DENOM,EXR_TYPE,EXR_SUFFIX,TIME_PERIOD,OBS_VALUE\n"


def ecb(*rows: tuple[str, str]) -> str:
    return ECB_HEADER + "".join(f"EXR.D.PLN.EUR.SP00.A,D,PLN,EUR,SP00,A,{d},{v}\n" for d, v in rows)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (ecb(("2024-01-02", "4.3"), ("2024-01-03", "Infinity")), "the rate inf for PLN on 2024-01-03"),
        (ecb(("2024-01-02", "4.3"), ("2024-01-03", "-4.3")), "the rate -4.3 for PLN on 2024-01-03"),
        (ecb(("2024-01-02", "4.3"), ("2099-01-05", "4.3")), "the date 2099-01-05 is in the future"),
        (ecb(("2024-01-02", "4.3"), ("2024-01-03", "1e308")), "too large to be a price"),
        (ecb(("2024-01-02", "4.3"), ("2024-01-02", "9.9")), "two different rates for PLN on 2024-01-02"),
    ],
)
def test_ecb_poisoned_replies_are_refused(body, words):
    with Server(Reply(body=body)) as server, pytest.raises(UnexpectedResponseError) as info:
        ECBSource(base_url=server.url, backoff_factor=0).fetch(FetchRequest("eurpln"))
    assert words in str(info.value)


def test_ecb_missing_values_are_still_skipped():
    body = ecb(("2024-01-02", "4.3"), ("2024-01-03", "NaN"), ("2024-01-04", ""), ("2024-01-05", "4.4"))
    with Server(Reply(body=body)) as server:
        result = ECBSource(base_url=server.url, backoff_factor=0).fetch(FetchRequest("eurpln"))
    assert result.frame["Close"].tolist() == [4.3, 4.4]


@pytest.mark.parametrize(
    ("row", "words"),
    [("2024-01-04,4.3,4.3,4.3,0\r\n", "Close on 2024-01-04 is 0.0"),
     ("2024-01-04,4.3,-1,4.3,4.3\r\n", "High on 2024-01-04 is -1.0")],
)
def test_stooq_poisoned_replies_are_refused(row, words):
    body = "Date,Open,High,Low,Close\r\n2024-01-02,4.3,4.3,4.3,4.3\r\n" + row
    with Server(Reply(body=body)) as server, pytest.raises(UnexpectedResponseError) as info:
        StooqSource(base_url=server.url, backoff_factor=0).fetch(FetchRequest("eurpln"))
    assert str(info.value).startswith("stooq's answer for 'eurpln'") and words in str(info.value)


# --- nothing reaches the store -------------------------------------------------------------------


def test_a_poisoned_update_leaves_the_store_byte_for_byte(monkeypatch, workspace):
    good = nbp_reply("4.31")
    with Server([good, nbp_reply("NaN")]) as server:
        monkeypatch.setenv("SEQCAST_NBP_URL", server.url)
        api.fetch("eurpln", source="nbp", start="2024-01-02", end="2024-01-31")
        before = {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file()}
        with pytest.raises(DownloadError):
            api.fetch("eurpln", source="nbp", start="2024-01-02", end="2024-01-31")
    assert {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file()} == before
    assert json.loads((workspace / "data" / "nbp" / "eurpln.json").read_text())["rows"] == 2


class NaNSource:
    """A plug-in source that forgets to check its reply."""

    name = "nansource"
    description = "test"
    incremental = False

    def fetch(self, request):
        return FetchResult(frame(["2024-01-02", "2024-01-03"], [1.0, np.nan]), {})


def test_the_store_checks_plug_in_sources_too(workspace):
    from seqcast.data import sources

    register_source("nansource", "tests.test_checks:NaNSource")
    try:
        with pytest.raises(UnexpectedResponseError, match="nansource's answer for x: Close on 2024-01-03 is nan"):
            api.fetch("x", source="nansource")
    finally:
        sources._REGISTRY.pop("nansource")
    assert not (workspace / "data" / "nansource").exists()


def test_a_csv_before_1900_is_refused(tmp_path):
    path = tmp_path / "old.csv"
    path.write_text("Date,Close\n1850-01-02,1.5\n1850-01-03,1.6\n")
    with pytest.raises(CSVFormatError, match="the date 1850-01-02 is before 1900"):
        api.fetch("old", csv=path)
