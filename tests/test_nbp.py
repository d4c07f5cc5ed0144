"""NBPSource against a local scripted server: JSON parsing and 93-day chunks."""

from __future__ import annotations

import json
from datetime import date, timedelta
from itertools import pairwise

import pytest

from seqcast.data.sources import FetchRequest, get_source
from seqcast.data.sources._http import user_agent
from seqcast.data.sources.nbp import NBPSource, date_chunks
from seqcast.errors import ConfigError, DownloadError, NoDataError, UnexpectedResponseError
from tests.httpserver import Recorded, Reply, Server

NOT_FOUND = Reply(status=404, body="404 NotFound - Not Found - Brak danych")


def rates_json(code: str, days: list[date]) -> str:
    rates = [
        {"no": f"{i + 1:03d}/A/NBP/{d.year}", "effectiveDate": d.isoformat(), "mid": 4.0 + i / 1000}
        for i, d in enumerate(days)
    ]
    return json.dumps({"table": "A", "currency": "euro", "code": code, "rates": rates})


def by_range(empty: set[str] = frozenset()):
    """A server script answering each chunk with its first and last day, 404 for `empty`."""

    def reply(req: Recorded) -> Reply:
        *_, code, first, last = req.path.rstrip("/").split("/")
        if first in empty:
            return NOT_FOUND
        days = sorted({date.fromisoformat(first), date.fromisoformat(last)})
        return Reply(body=rates_json(code, days), headers={"Content-Type": "application/json"})

    return reply


def make(server: Server) -> NBPSource:
    return NBPSource(base_url=server.url, backoff_factor=0)


def test_one_chunk():
    with Server(by_range()) as server:
        result = make(server).fetch(FetchRequest("eurpln", date(2020, 1, 2), date(2020, 1, 31)))
    [req] = server.requests
    assert req.path == "/api/exchangerates/rates/A/EUR/2020-01-02/2020-01-31/"
    assert req.query == {"format": ["json"]}
    assert req.headers["accept"] == "application/json"
    assert req.headers["user-agent"] == user_agent()
    frame = result.frame
    assert list(frame.columns) == ["Close"] and frame.index.name == "Date"
    assert frame["Close"].tolist() == pytest.approx([4.0, 4.001])
    assert result.meta["url"] == server.url + req.target
    assert result.meta["provider"].startswith("Narodowy Bank Polski")


def test_long_range_is_split_into_93_day_chunks():
    start, end = date(2020, 1, 1), date(2020, 12, 31)
    with Server(by_range()) as server:
        result = make(server).fetch(FetchRequest("usdpln", start, end))
    ranges = [tuple(req.path.rstrip("/").split("/")[-2:]) for req in server.requests]
    assert ranges == [
        ("2020-01-01", "2020-04-02"),
        ("2020-04-03", "2020-07-04"),
        ("2020-07-05", "2020-10-05"),
        ("2020-10-06", "2020-12-31"),
    ]
    assert all("/A/USD/" in req.path for req in server.requests)
    assert len(result.frame) == 8
    assert result.frame.index.is_monotonic_increasing
    assert result.meta["requests"] == 4


def test_date_chunks_cover_the_range_exactly():
    start, end = date(2002, 1, 2), date(2003, 6, 30)
    chunks = list(date_chunks(start, end))
    assert chunks[0][0] == start and chunks[-1][1] == end
    for (_, last), (first, _) in pairwise(chunks):
        assert first == last + timedelta(days=1)
    assert all((last - first).days + 1 <= 93 for first, last in chunks)
    assert list(date_chunks(start, start)) == [(start, start)]


def test_empty_chunk_is_skipped():
    with Server(by_range(empty={"2020-04-03"})) as server:
        result = make(server).fetch(FetchRequest("eurpln", date(2020, 1, 1), date(2020, 12, 31)))
    assert len(server.requests) == 4
    assert len(result.frame) == 6


def test_all_chunks_empty_is_no_data():
    with Server(lambda req: NOT_FOUND) as server, pytest.raises(NoDataError) as info:
        make(server).fetch(FetchRequest("xyzpln", date(2020, 1, 1), date(2020, 6, 30)))
    assert len(server.requests) == 2
    assert "XYZ" in str(info.value) and "--source ecb" in str(info.value)


def test_start_is_clamped_and_end_defaults_to_today():
    with Server(by_range()) as server:
        make(server).fetch(FetchRequest("eurpln", date(1999, 1, 1), date(2002, 1, 31)))
    assert server.requests[0].path.endswith("/EUR/2002-01-02/2002-01-31/")
    today = date.today()
    with Server(by_range()) as server:
        make(server).fetch(FetchRequest("eurpln", start=today - timedelta(days=10)))
    assert server.requests[-1].path.endswith(f"/{today.isoformat()}/")


def test_warsaw_today_is_not_the_local_or_utc_date():
    from datetime import datetime, timezone

    from seqcast.data.sources.nbp import warsaw_today

    late_utc = datetime(2026, 1, 1, 23, 30, tzinfo=timezone.utc)  # already 2 January in Warsaw (CET)
    assert warsaw_today(late_utc) == date(2026, 1, 2)
    summer = datetime(2026, 7, 1, 22, 30, tzinfo=timezone.utc)  # CEST: 00:30 on 2 July
    assert warsaw_today(summer) == date(2026, 7, 2)
    assert warsaw_today(datetime(2026, 7, 1, 21, 30, tzinfo=timezone.utc)) == date(2026, 7, 1)


def test_end_is_capped_at_warsaw_today(monkeypatch):
    import seqcast.data.sources.nbp as nbp

    monkeypatch.setattr(nbp, "warsaw_today", lambda: date(2026, 3, 10))
    with Server(by_range()) as server:
        make(server).fetch(FetchRequest("eurpln", date(2026, 3, 1), date(2026, 3, 20)))
    assert server.requests[0].path.endswith("/2026-03-01/2026-03-10/")


def test_range_before_2002_is_no_data():
    with pytest.raises(NoDataError, match="2002-01-02"):
        NBPSource(base_url="http://127.0.0.1:9").fetch(
            FetchRequest("eurpln", date(1999, 1, 1), date(2001, 12, 31))
        )


def test_bad_request_shows_nbp_message_and_is_not_retried():
    reply = Reply(status=400, body="400 BadRequest - Błędny zakres dat / Invalid date range")
    with Server([reply, reply]) as server, pytest.raises(DownloadError) as info:
        make(server).fetch(FetchRequest("eurpln", date(2020, 1, 1), date(2020, 1, 31)))
    assert "Invalid date range" in str(info.value)
    assert len(server.requests) == 1


def test_server_error_is_retried():
    ok = Reply(body=rates_json("EUR", [date(2020, 1, 2)]))
    with Server([Reply(status=500), ok]) as server:
        result = make(server).fetch(FetchRequest("eurpln", date(2020, 1, 1), date(2020, 1, 31)))
    assert len(result.frame) == 1 and len(server.requests) == 2


@pytest.mark.parametrize("body", ["<html>oops</html>", '{"rates": [{"effectiveDate": "2020-01-02"}]}'])
def test_unexpected_json(body):
    with Server(Reply(body=body)) as server, pytest.raises(UnexpectedResponseError):
        make(server).fetch(FetchRequest("eurpln", date(2020, 1, 1), date(2020, 1, 31)))


def test_timeout():
    with Server(Reply(delay=1.0, body=rates_json("EUR", [date(2020, 1, 2)]))) as server:
        source = NBPSource(base_url=server.url, timeout=(1, 0.2), backoff_factor=0)
        with pytest.raises(DownloadError, match=r"did not answer within 0\.2 s"):
            source.fetch(FetchRequest("eurpln", date(2020, 1, 1), date(2020, 1, 31)))


def test_base_url_from_environment(monkeypatch):
    with Server(by_range()) as server:
        monkeypatch.setenv("SEQCAST_NBP_URL", server.url)
        result = get_source("nbp").fetch(FetchRequest("chfpln", date(2020, 1, 1), date(2020, 1, 5)))
    assert result.meta["url"].startswith(server.url + "/api/exchangerates/rates/A/CHF/")


@pytest.mark.parametrize(
    "request_",
    [FetchRequest("eurusd"), FetchRequest("plnpln"), FetchRequest("eurpln", interval="m"),
     FetchRequest("eurpln", date(2021, 1, 1), date(2020, 1, 1))],
)
def test_bad_requests(request_):
    with pytest.raises(ConfigError):
        NBPSource(base_url="http://127.0.0.1:9").fetch(request_)


@pytest.mark.network
def test_live_nbp():
    result = NBPSource().fetch(FetchRequest("eurpln", date(2024, 1, 1), date(2024, 6, 30)))
    assert 110 <= len(result.frame) <= 130
    assert 4.0 < result.frame["Close"].iloc[0] < 5.0
