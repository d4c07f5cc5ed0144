"""StooqSource against a local scripted server: formats, error bodies, HTTP failures."""

from __future__ import annotations

from datetime import date

import pytest

from seqcast.data.sources import FetchRequest, get_source
from seqcast.data.sources._http import redact_url, user_agent
from seqcast.data.sources.stooq import StooqSource
from seqcast.errors import (
    AccessDeniedError,
    ApiKeyRequiredError,
    BrowserCheckError,
    ConfigError,
    DownloadError,
    NoDataError,
    RateLimitError,
    UnexpectedResponseError,
)
from tests.httpserver import Reply, Server

EN_FX = (
    "Date,Open,High,Low,Close\r\n"
    "2020-01-02,4.2571,4.2620,4.2490,4.2553\r\n"
    "2020-01-03,4.2553,4.2650,4.2480,4.2614\r\n"
    "2020-01-06,4.2614,4.2660,4.2510,4.2540\r\n"
)
PL_INDEX = (
    "Data,Otwarcie,Najwyzszy,Najnizszy,Zamkniecie,Wolumen\r\n"
    "2020-01-02,2150.1,2170.5,2140.0,2165.3,33305212.301887\r\n"
    "2020-01-03,2165.3,2166.0,2130.2,2135.8,25000000\r\n"
)
API_KEY_BODY = (
    "Get your apikey:\n\n1. Open https://stooq.com/q/d/?s=eurpln&get_apikey\n"
    "2. Enter the captcha.\n3. Add &apikey=<key> to the download link.\n"
)
JS_CHECK_PAGE = (
    "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
    "<noscript>This site requires JavaScript to verify your browser.</noscript></body></html>"
)
SECRET = "s3cr3tKEY123"


def make(server: Server, **kwargs) -> StooqSource:
    return StooqSource(base_url=server.url, backoff_factor=0, **kwargs)


def fetch(source, symbol="eurpln", **kwargs):
    return source.fetch(FetchRequest(symbol, **kwargs))


def test_english_fx_csv_and_request_parameters():
    with Server(Reply(body=EN_FX)) as server:
        result = fetch(make(server), start=date(2020, 1, 1), end=date(2020, 1, 31))
    frame = result.frame
    assert list(frame.columns) == ["Open", "High", "Low", "Close"]
    assert frame.index.name == "Date"
    assert frame.index[0].date() == date(2020, 1, 2) and len(frame) == 3
    assert frame["Close"].iloc[-1] == pytest.approx(4.2540)
    [req] = server.requests
    assert req.path == "/q/d/l/"
    assert req.query == {"s": ["eurpln"], "i": ["d"], "d1": ["20200101"], "d2": ["20200131"]}
    assert req.headers["user-agent"] == user_agent()
    assert req.headers["user-agent"].startswith("seqcast/")
    assert result.meta["url"].endswith("/q/d/l/?s=eurpln&i=d&d1=20200101&d2=20200131")
    assert result.meta["provider"].startswith("stooq")


def test_polish_csv_with_fractional_volume_and_no_dates():
    with Server(Reply(body=PL_INDEX)) as server:
        result = fetch(make(server), "WIG20", interval="w")
    assert list(result.frame.columns) == ["Open", "High", "Low", "Close", "Volume"]
    assert result.frame["Volume"].iloc[0] == pytest.approx(33305212.301887)
    assert server.requests[0].query == {"s": ["wig20"], "i": ["w"]}


def test_result_is_trimmed_to_the_requested_range():
    with Server(Reply(body=EN_FX)) as server:
        result = fetch(make(server), start=date(2020, 1, 3), end=date(2020, 1, 3))
    assert list(result.frame.index.date) == [date(2020, 1, 3)]


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        ("No data", NoDataError, ["check the symbol", "date range"]),
        ("Brak danych", NoDataError, ["check the symbol"]),
        ("", NoDataError, ["check the symbol"]),
        ("Exceeded the daily hits limit", RateLimitError, ["tomorrow", "--apikey"]),
        ("Przekroczony dzienny limit wywolan", RateLimitError, ["tomorrow", "--apikey"]),
        ("Access denied", AccessDeniedError, ["--csv"]),
        (API_KEY_BODY, ApiKeyRequiredError,
         ["https://stooq.com/q/d/?s=eurpln&get_apikey", "captcha", "--apikey KEY",
          "SEQCAST_STOOQ_APIKEY", "seqcast fetch eurpln --csv FILE", "--source ecb",
          "--source nbp"]),
        (JS_CHECK_PAGE, BrowserCheckError, ["browser", "--csv FILE", "--source ecb"]),
        ("<html><body>Welcome to stooq</body></html>", UnexpectedResponseError, ["--csv"]),
        ("Something else entirely, not a CSV at all, and rather long too", UnexpectedResponseError,
         ["Something else entirely"]),
    ],
)
def test_error_bodies_are_classified(body, error, words):
    with Server(Reply(body=body)) as server, pytest.raises(error) as info:
        fetch(make(server), start=date(2020, 1, 1))
    message = str(info.value)
    for word in words:
        assert word in message


API_KEY_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>stooq</title></head>\n<body>\n<p>Get your apikey:</p>\n"
    '<ol><li>Open <a href="https://stooq.com/q/d/?s=aapl.us&get_apikey">https://stooq.com/q/d/?s=aapl.us'
    "&amp;get_apikey</a></li>\n<li>Type the captcha code shown there</li></ol>\n</body></html>\n"
)


@pytest.mark.parametrize(("options", "words"), [
    ({}, "stooq now asks for an API key"),
    ({"apikey": SECRET}, "stooq did not accept the API key"),
])
def test_api_key_request_as_a_web_page_is_not_a_browser_check(options, words):
    with Server(Reply(body=API_KEY_PAGE, headers={"Content-Type": "text/html"})) as server, \
            pytest.raises(ApiKeyRequiredError) as info:
        fetch(make(server), "aapl.us", options=options)
    message = str(info.value)
    assert words in message and "https://stooq.com/q/d/?s=aapl.us&get_apikey" in message
    assert "checks for a browser" not in message and SECRET not in message


def test_browser_check_hint_for_a_stock_has_no_currency_sources():
    with Server(Reply(body=JS_CHECK_PAGE)) as server, pytest.raises(BrowserCheckError) as info:
        fetch(make(server), "aapl.us")
    assert "seqcast fetch aapl.us --csv FILE" in str(info.value)
    assert "--source ecb" not in str(info.value)


def test_apikey_is_sent_but_never_shown():
    with Server([Reply(body=EN_FX), Reply(body=API_KEY_BODY + f"key {SECRET} expired"),
                 Reply(body="Exceeded the daily hits limit"),
                 Reply(body=f"Weird answer {SECRET}")]) as server:
        source = make(server)
        result = fetch(source, options={"apikey": SECRET})
        errors = []
        for expected in (ApiKeyRequiredError, RateLimitError, UnexpectedResponseError):
            with pytest.raises(expected) as info:
                fetch(source, options={"apikey": SECRET})
            errors.append(str(info.value))
    assert all(req.query["apikey"] == [SECRET] for req in server.requests)
    assert SECRET not in repr(result.meta)
    assert "apikey=***" in result.meta["url"]
    assert "did not accept the API key" in errors[0]
    for message in errors:
        assert SECRET not in message


def test_apikey_from_environment(monkeypatch):
    monkeypatch.setenv("SEQCAST_STOOQ_APIKEY", SECRET)
    with Server(Reply(body="Access denied")) as server, pytest.raises(AccessDeniedError) as info:
        fetch(make(server))
    assert server.requests[0].query["apikey"] == [SECRET]
    assert SECRET not in str(info.value)


def test_apikey_not_in_timeout_or_status_messages():
    with Server([Reply(delay=1.0, body=EN_FX), Reply(status=404, body="nope")]) as server:
        source = make(server, timeout=(1, 0.2))
        for _ in range(2):
            with pytest.raises(DownloadError) as info:
                fetch(source, options={"apikey": SECRET})
            assert SECRET not in str(info.value)


def test_slow_answer_times_out():
    with Server(Reply(delay=1.0, body=EN_FX)) as server, pytest.raises(DownloadError) as info:
        fetch(make(server, timeout=(1, 0.2)))
    assert "did not answer within 0.2 s" in str(info.value)
    assert "127.0.0.1" in str(info.value)
    assert len(server.requests) == 1  # read timeouts are not retried


def test_server_error_is_retried():
    with Server([Reply(status=500), Reply(status=503), Reply(body=EN_FX)]) as server:
        result = fetch(make(server))
    assert len(result.frame) == 3
    assert len(server.requests) == 3


def test_persistent_server_error_gives_up():
    with Server([Reply(status=502)] * 4) as server, pytest.raises(DownloadError) as info:
        fetch(make(server))
    assert len(server.requests) == 4  # first try + 3 retries
    assert "502" in str(info.value) and "try again later" in str(info.value)


@pytest.mark.parametrize("status", [400, 404])
def test_client_errors_are_not_retried(status):
    script = [Reply(status=status, body="bad"), Reply(body=EN_FX)]
    with Server(script) as server, pytest.raises(DownloadError) as info:
        fetch(make(server))
    assert len(server.requests) == 1
    assert str(status) in str(info.value)


def test_connection_refused():
    with Server(Reply(body=EN_FX)) as server:
        url = server.url
    source = StooqSource(base_url=url, backoff_factor=0, retries=0)
    with pytest.raises(DownloadError) as info:
        fetch(source)
    assert "cannot connect" in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        EN_FX + "2020-01-07,4.2540,4.26",  # last row cut, fewer fields
        EN_FX + "2020-01-07,4.2540,4.2600,4.2500,",  # cut right before Close
        "Date,Open,High,Low,Close\r\n2020-01-02,4.25\r\n2020-01-03,4.25,4.26,4.24,4.25\r\n",
    ],
)
def test_truncated_csv_is_a_download_error(body):
    with Server(Reply(body=body)) as server, pytest.raises(DownloadError) as info:
        fetch(make(server))
    assert "truncated" in str(info.value) or "cut off" in str(info.value)


def test_unreadable_row_is_one_sentence_with_the_line_and_next_step():
    with Server(Reply(body=EN_FX + "2099-01-02,4.3,4.3,4.3,4.3\r\n")) as server, \
            pytest.raises(UnexpectedResponseError) as info:
        fetch(make(server))
    message = str(info.value)
    assert message.startswith("stooq's CSV for 'eurpln', line 5: the date 2099-01-02 is in the future; "
                              "nothing was stored; try again later, or download the CSV in a browser")
    assert "--csv FILE" in message
    # Said once: no "cannot read" wrapped around the parser's own words, no advice meant for a user's file.
    assert message.count("stooq") == 2 and "cannot read" not in message and "check the date column" not in message


def test_transfer_cut_short_is_a_download_error():
    with Server(Reply(body=EN_FX, content_length=len(EN_FX) + 100)) as server, pytest.raises(DownloadError) as info:
        fetch(make(server, retries=0))
    assert "broke off" in str(info.value)


def test_header_only_csv_is_no_data():
    with Server(Reply(body="Date,Open,High,Low,Close\r\n")) as server, pytest.raises(NoDataError):
        fetch(make(server))


def test_domains_and_env_override(monkeypatch):
    monkeypatch.delenv("SEQCAST_STOOQ_URL", raising=False)
    assert not StooqSource().base_url_overridden  # chosen per request by the domain option
    with Server(Reply(body=EN_FX)) as server:
        monkeypatch.setenv("SEQCAST_STOOQ_URL", server.url)
        source = get_source("stooq")
        result = fetch(source, options={"domain": "com"})
    assert result.meta["url"].startswith(server.url)
    overridden = StooqSource(base_url="https://example.org")
    assert overridden.base_url == "https://example.org" and overridden.base_url_overridden


def test_bad_options():
    source = StooqSource(base_url="http://127.0.0.1:9")
    with pytest.raises(ConfigError):
        fetch(source, options={"domain": "de"})
    with pytest.raises(ConfigError):
        fetch(source, interval="h")
    with pytest.raises(ConfigError):
        fetch(source, start=date(2021, 1, 1), end=date(2020, 1, 1))


def test_redact_url():
    assert redact_url("https://x/q/d/l/?s=a&apikey=abc&i=d") == "https://x/q/d/l/?s=a&apikey=***&i=d"


@pytest.mark.network
def test_live_stooq():
    try:
        result = StooqSource().fetch(FetchRequest("eurpln", start=date(2024, 1, 2),
                                                  end=date(2024, 1, 31)))
    except (ApiKeyRequiredError, BrowserCheckError, RateLimitError) as exc:
        pytest.skip(f"stooq refuses anonymous downloads: {exc}")
    assert 15 <= len(result.frame) <= 25
