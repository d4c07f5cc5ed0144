"""ECBSource against a local scripted server: csvdata parsing and derived pairs."""

from __future__ import annotations

from datetime import date

import pytest

from seqcast.data.sources import FetchRequest, get_source
from seqcast.data.sources._http import user_agent
from seqcast.data.sources.ecb import ECBSource
from seqcast.errors import ConfigError, DownloadError, NoDataError, UnexpectedResponseError
from tests.httpserver import Reply, Server

HEADER = (
    "KEY,FREQ,CURRENCY,CURRENCY_DENOM,EXR_TYPE,EXR_SUFFIX,TIME_PERIOD,OBS_VALUE,OBS_STATUS,"
    "OBS_CONF,TITLE,UNIT\n"
)


def row(cur: str, day: str, value: str) -> str:
    return f'EXR.D.{cur}.EUR.SP00.A,D,{cur},EUR,SP00,A,{day},{value},A,F,"{cur}/Euro, ECB ref",{cur}\n'


PLN = row("PLN", "2020-01-03", "4.2525") + row("PLN", "2020-01-02", "4.2571") + \
    row("PLN", "2020-01-06", "") + row("PLN", "2020-01-07", "NaN") + row("PLN", "2020-01-08", "4.2400")
USD = row("USD", "2020-01-02", "1.1193") + row("USD", "2020-01-03", "1.1147") + row("USD", "2020-01-08", "1.1091")


def make(server: Server) -> ECBSource:
    return ECBSource(base_url=server.url, backoff_factor=0)


def test_eur_pair_csvdata():
    with Server(Reply(body=HEADER + PLN, headers={"Content-Type": "text/csv"})) as server:
        result = make(server).fetch(FetchRequest("eurpln", date(2020, 1, 1), date(2020, 1, 31)))
    frame = result.frame
    assert list(frame.columns) == ["Close"]
    assert frame.index.name == "Date"
    assert [d.isoformat() for d in frame.index.date] == ["2020-01-02", "2020-01-03", "2020-01-08"]
    assert frame["Close"].tolist() == pytest.approx([4.2571, 4.2525, 4.2400])
    [req] = server.requests
    assert req.path == "/service/data/EXR/D.PLN.EUR.SP00.A"
    assert req.query == {"startPeriod": ["2020-01-01"], "endPeriod": ["2020-01-31"], "format": ["csvdata"]}
    assert req.headers["user-agent"] == user_agent()
    assert result.meta["provider"].startswith("European Central Bank")
    assert result.meta["url"] == server.url + req.target
    assert "derived" not in result.meta


def test_missing_values_are_the_csv_files_ones():
    """The ECB's CSV reads every token seqcast's CSV reader takes as "no value" as a day without a rate."""
    from seqcast.data.formats import MISSING

    body = HEADER + row("PLN", "2020-01-02", "4.2571") + "".join(
        row("PLN", f"2020-01-{3 + i:02d}", token.upper() if i % 2 else token) for i, token in enumerate(sorted(MISSING))
    ) + row("PLN", "2020-01-31", "4.2400")
    with Server(Reply(body=body)) as server:
        frame = make(server).fetch(FetchRequest("eurpln")).frame
    assert [d.isoformat() for d in frame.index.date] == ["2020-01-02", "2020-01-31"]


def test_periods_are_omitted_when_absent():
    with Server(Reply(body=HEADER + PLN)) as server:
        make(server).fetch(FetchRequest("eurpln"))
    assert server.requests[0].query == {"format": ["csvdata"]}


def test_cross_rate_is_derived_from_two_eur_series():
    with Server(Reply(body=HEADER + PLN + USD)) as server:
        result = make(server).fetch(FetchRequest("usdpln"))
    assert server.requests[0].path == "/service/data/EXR/D.PLN+USD.EUR.SP00.A"
    frame = result.frame
    assert [d.isoformat() for d in frame.index.date] == ["2020-01-02", "2020-01-03", "2020-01-08"]
    assert frame["Close"].tolist() == pytest.approx([4.2571 / 1.1193, 4.2525 / 1.1147, 4.2400 / 1.1091])
    assert result.meta["derived"] == "usdpln = eurpln / eurusd (ECB reference rates)"


def test_inverse_pair():
    with Server(Reply(body=HEADER + USD)) as server:
        result = make(server).fetch(FetchRequest("usdeur", end=date(2020, 1, 3)))
    assert server.requests[0].path == "/service/data/EXR/D.USD.EUR.SP00.A"
    assert result.frame["Close"].tolist() == pytest.approx([1 / 1.1193, 1 / 1.1147])
    assert result.meta["derived"] == "usdeur = 1 / eurusd (ECB reference rates)"


@pytest.mark.parametrize("reply", [Reply(status=404, body="No results found."), Reply(body=""),
                                   Reply(body=HEADER)])
def test_no_data(reply):
    with Server(reply) as server, pytest.raises(NoDataError) as info:
        make(server).fetch(FetchRequest("eurxyz", date(2020, 1, 1)))
    assert "XYZ" in str(info.value) and "check the currency" in str(info.value)


def test_cross_with_one_series_missing():
    with Server(Reply(body=HEADER + USD)) as server, pytest.raises(NoDataError) as info:
        make(server).fetch(FetchRequest("usdxyz"))
    assert "XYZ" in str(info.value)


@pytest.mark.parametrize(
    "body",
    ["<!DOCTYPE html><html><body>Maintenance</body></html>", "KEY,FREQ\nEXR.D,D\n",
     HEADER + row("PLN", "2020-01-02", "abc")],
)
def test_unexpected_answers(body):
    with Server(Reply(body=body)) as server, pytest.raises(UnexpectedResponseError):
        make(server).fetch(FetchRequest("eurpln"))


def test_server_error_retried_and_client_error_not():
    with Server([Reply(status=503), Reply(body=HEADER + PLN)]) as server:
        assert len(make(server).fetch(FetchRequest("eurpln")).frame) == 3
    assert len(server.requests) == 2
    script = [Reply(status=400, body="Bad query"), Reply(body=HEADER + PLN)]
    with Server(script) as server, pytest.raises(DownloadError) as info:
        make(server).fetch(FetchRequest("eurpln"))
    assert len(server.requests) == 1 and "400" in str(info.value)


def test_timeout():
    with Server(Reply(delay=1.0, body=HEADER + PLN)) as server:
        source = ECBSource(base_url=server.url, timeout=(1, 0.2), backoff_factor=0)
        with pytest.raises(DownloadError, match=r"did not answer within 0\.2 s"):
            source.fetch(FetchRequest("eurpln"))


def test_base_url_from_environment(monkeypatch):
    with Server(Reply(body=HEADER + PLN)) as server:
        monkeypatch.setenv("SEQCAST_ECB_URL", server.url + "/")
        result = get_source("ecb").fetch(FetchRequest("eurpln"))
    assert result.meta["url"].startswith(server.url + "/service/data/EXR/")
    assert ECBSource(base_url="https://example.org").base_url == "https://example.org"


@pytest.mark.parametrize(
    "request_",
    [FetchRequest("eurpln", interval="w"), FetchRequest("aapl.us"), FetchRequest("eureur"),
     FetchRequest("eurpln", date(2021, 1, 1), date(2020, 1, 1))],
)
def test_bad_requests(request_):
    with pytest.raises(ConfigError):
        ECBSource(base_url="http://127.0.0.1:9").fetch(request_)


@pytest.mark.network
def test_live_ecb():
    result = ECBSource().fetch(FetchRequest("usdpln", date(2024, 1, 2), date(2024, 1, 31)))
    assert 15 <= len(result.frame) <= 25
    assert 3.5 < result.frame["Close"].iloc[0] < 4.5
