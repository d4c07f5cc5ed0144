"""Downloads that go wrong in transfer: cut off, too slow, too large, refused (401/403/429).

Every case runs against tests/httpserver.py on 127.0.0.1; a failed download
raises DownloadError (or a subclass) and leaves the stored series byte-for-byte as it was.
"""

from __future__ import annotations

import gzip
import re
import time
from datetime import date

import pytest
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app
from seqcast.data.sources import FetchRequest
from seqcast.data.sources._http import HTTPClient, resolve_base_url, retry_after_text
from seqcast.data.sources.ecb import ECBSource
from seqcast.data.sources.nbp import NBPSource
from seqcast.data.sources.stooq import StooqSource
from seqcast.errors import AccessDeniedError, ConfigError, DownloadError, RateLimitError
from tests.httpserver import Reply, Server

STOOQ = (
    "Date,Open,High,Low,Close\r\n"
    "2024-01-02,4.30,4.31,4.29,4.3012\r\n"
    "2024-01-03,4.30,4.31,4.29,4.3105\r\n"
    "2024-01-04,4.30,4.31,4.29,4.3299\r\n"
)
ECB_HEADER = "KEY,FREQ,CURRENCY,CURRENCY_DENOM,EXR_TYPE,EXR_SUFFIX,TIME_PERIOD,OBS_VALUE\n"


def ecb_row(day: str, value: str) -> str:
    return f"EXR.D.PLN.EUR.SP00.A,D,PLN,EUR,SP00,A,{day},{value}\n"


ECB = ECB_HEADER + ecb_row("2024-01-02", "4.3012") + ecb_row("2024-01-03", "4.3105") + ecb_row("2024-01-04", "4.3299")


def stooq(server: Server, **kwargs) -> StooqSource:
    return StooqSource(base_url=server.url, backoff_factor=0, retries=0, **kwargs)


def fetch_stooq(source: StooqSource):
    return source.fetch(FetchRequest("eurpln"))


def stored_files(home) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}


# --- §1: an answer cut off in transfer is refused, the stored series stays as it was -------------


CUT_STOOQ = STOOQ.rstrip("\r\n")[:-2]  # ... 4.3299 -> 4.32, no line end
CUT_REPLIES = {
    "closed-without-length": Reply(body=CUT_STOOQ, send_length=False),
    "content-length-too-short": Reply(body=STOOQ, content_length=len(STOOQ) - 8),
    "content-length-too-long": Reply(body=STOOQ, content_length=len(STOOQ) + 100),
    "chunked-cut": Reply(body=STOOQ, chunked_cut=True),
}


@pytest.mark.parametrize("kind", list(CUT_REPLIES))
def test_cut_off_stooq_answer_is_refused_and_the_store_is_unchanged(kind, monkeypatch, workspace):
    first = STOOQ.replace("4.3299", "4.3200")
    with Server([Reply(body=first), CUT_REPLIES[kind]]) as server:
        monkeypatch.setenv("SEQCAST_STOOQ_URL", server.url)
        api.fetch("eurpln")
        before = stored_files(workspace)
        with pytest.raises(DownloadError) as info:
            api.fetch("eurpln", full=True)
    message = str(info.value)
    assert "cut off" in message or "broke off" in message, message
    assert stored_files(workspace) == before


def test_cut_off_answer_without_length_is_refused_by_stooq_source():
    with Server(Reply(body=CUT_STOOQ, send_length=False)) as server, pytest.raises(DownloadError) as info:
        fetch_stooq(stooq(server))
    assert "looks cut off" in str(info.value) and "2024-01-04,4.30,4.31,4.29,4.32" in str(info.value)


@pytest.mark.parametrize("cut", [ECB[:-4], ECB[:-1], ECB[: len(ECB) - 20]])
def test_cut_off_ecb_answer_is_refused(cut):
    with Server(Reply(body=cut, send_length=False)) as server, pytest.raises(DownloadError, match="cut off"):
        ECBSource(base_url=server.url, backoff_factor=0).fetch(FetchRequest("eurpln"))


def test_ecb_answer_with_a_checked_length_may_lack_the_last_line_end():
    # Whether the ECB ends its last line is not known offline: a length-framed answer is complete anyway.
    body = ECB.rstrip("\n")
    with Server([Reply(body=body), Reply(body=body, send_length=False)]) as server:
        source = ECBSource(base_url=server.url, backoff_factor=0)
        rates = source.fetch(FetchRequest("eurpln")).frame
        with pytest.raises(DownloadError, match="cut off"):
            source.fetch(FetchRequest("eurpln"))
    assert rates["Close"].iloc[-1] == pytest.approx(4.3299)


def test_complete_answers_still_pass():
    with Server([Reply(body=STOOQ, send_length=False), Reply(body=ECB, send_length=False)]) as server:
        frame = fetch_stooq(stooq(server)).frame
        rates = ECBSource(base_url=server.url, backoff_factor=0).fetch(FetchRequest("eurpln")).frame
    assert frame["Close"].iloc[-1] == pytest.approx(4.3299)
    assert rates["Close"].iloc[-1] == pytest.approx(4.3299)


def test_gzip_encoded_answer_is_decoded():
    body = gzip.compress(STOOQ.encode())
    with Server(Reply(body=body, headers={"Content-Encoding": "gzip"})) as server:
        frame = fetch_stooq(stooq(server)).frame
    assert frame["Close"].tolist() == pytest.approx([4.3012, 4.3105, 4.3299])


def test_damaged_gzip_is_a_download_error():
    with Server(Reply(body=STOOQ, headers={"Content-Encoding": "gzip"})) as server, \
            pytest.raises(DownloadError, match="cannot be decoded"):
        fetch_stooq(stooq(server))


# --- §4: a deadline and a size cap per request -------------------------------------------------


def test_a_trickling_server_hits_the_deadline():
    with Server(Reply(body=STOOQ, trickle=0.05, send_length=False)) as server:
        started = time.monotonic()
        with pytest.raises(DownloadError) as info:
            fetch_stooq(stooq(server, deadline=0.3, timeout=(2, 1.0)))
        took = time.monotonic() - started
    assert "took longer than 0.3 s" in str(info.value) and "SEQCAST_DOWNLOAD_DEADLINE" in str(info.value)
    assert took < 1.5  # the deadline, not the read timeout or the whole trickle (~6 s)


def test_a_long_gap_between_bytes_still_stops_at_the_deadline():
    # The gap (1.5 s) is shorter than the read timeout (5 s): only the deadline can stop the read.
    with Server(Reply(body=STOOQ, trickle=1.5, send_length=False)) as server:
        started = time.monotonic()
        with pytest.raises(DownloadError, match="took longer than"):
            fetch_stooq(stooq(server, deadline=0.3, timeout=(2, 5.0)))
        took = time.monotonic() - started
    assert took < 1.0


def test_deadline_from_the_environment(monkeypatch):
    monkeypatch.setenv("SEQCAST_DOWNLOAD_DEADLINE", "0.25")
    assert HTTPClient("stooq").deadline == 0.25
    monkeypatch.setenv("SEQCAST_DOWNLOAD_DEADLINE", "soon")
    with pytest.raises(ConfigError, match="SEQCAST_DOWNLOAD_DEADLINE must be a positive number"):
        HTTPClient("stooq")


def test_an_endless_answer_is_cut_at_the_size_cap():
    with Server(Reply(body="2024-01-02,4.3,4.3,4.3,4.3\r\n" * 100, endless=True)) as server:
        started = time.monotonic()
        with pytest.raises(DownloadError) as info:
            fetch_stooq(stooq(server, max_bytes=100_000))
    assert "larger than 0.1 MB" in str(info.value) and "SEQCAST_DOWNLOAD_MAX_BYTES" in str(info.value)
    assert time.monotonic() - started < 2


def test_an_announced_size_over_the_cap_is_refused_before_reading():
    with Server(Reply(body=STOOQ, content_length=10**9)) as server, pytest.raises(DownloadError) as info:
        fetch_stooq(stooq(server, max_bytes=100_000))
    assert "1000 MB announced" in str(info.value)


def test_the_default_cap_is_200_mb(monkeypatch):
    monkeypatch.delenv("SEQCAST_DOWNLOAD_MAX_BYTES", raising=False)
    assert HTTPClient("stooq").max_bytes == 200_000_000


# --- §4: 401, 403 and 429 get their own messages, from every source --------------------------


def remote_sources(server: Server):
    return [
        (StooqSource(base_url=server.url, backoff_factor=0), FetchRequest("eurpln")),
        (ECBSource(base_url=server.url, backoff_factor=0), FetchRequest("eurpln")),
        (NBPSource(base_url=server.url, backoff_factor=0),
         FetchRequest("eurpln", date(2024, 1, 2), date(2024, 1, 31))),
    ]


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (Reply(status=429, body="Too Many Requests", headers={"Retry-After": "3600"}), RateLimitError,
         ["too many requests", "wait about 1 h (the server's Retry-After)"]),
        (Reply(status=429, body="slow down"), RateLimitError, ["too many requests", "wait a while"]),
        (Reply(status=401, body="Unauthorized"), AccessDeniedError, ["requires a login or key", "API key"]),
        (Reply(status=403, body="Forbidden"), AccessDeniedError, ["refused access (forbidden)", "proxy"]),
    ],
)
def test_refusals_get_their_own_message(reply, error, words):
    with Server(lambda request: reply) as server:
        for source, request in remote_sources(server):
            with pytest.raises(error) as info:
                source.fetch(request)
            message = str(info.value)
            assert "check the symbol and dates" not in message, message
            for word in words:
                assert word in message, message
        assert len(server.requests) == 3  # not retried


def test_retry_after_in_words():
    assert retry_after_text("30") == "30 s (the server's Retry-After)"
    assert retry_after_text("120") == "about 2 min (the server's Retry-After)"
    assert retry_after_text("Wed, 21 Oct 2026 07:28:00 GMT").startswith("until Wed, 21 Oct")
    assert retry_after_text(None).startswith("a while")


# --- §4: a SEQCAST_*_URL that is not an http(s) URL is a one-line error --------------------------


@pytest.mark.parametrize("url", ["not a url", "stooq.pl", "ftp://stooq.pl", "http://", "http://host:port",
                                 "http://host:99999", "https://exa mple.com"])
def test_bad_url_override_is_a_config_error(url):
    with pytest.raises(ConfigError, match="is not an http\\(s\\) URL"):
        resolve_base_url(url, "SEQCAST_X_URL", "https://stooq.pl")


@pytest.mark.parametrize(("env", "source"), [("SEQCAST_STOOQ_URL", "stooq"), ("SEQCAST_ECB_URL", "ecb"),
                                              ("SEQCAST_NBP_URL", "nbp")])
def test_bad_url_override_in_the_cli(env, source):
    result = CliRunner().invoke(app, ["fetch", "eurpln", "--source", source], env={env: "htp:/oops"})
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {env} 'htp:/oops' is not an http(s) URL"), lines


# --- odd answers -----------------------------------------------------------------------------------


def test_binary_answer_is_named_binary():
    with Server(Reply(body=b"\x00\x01\x02" * 1000)) as server, pytest.raises(DownloadError) as info:
        ECBSource(base_url=server.url, backoff_factor=0).fetch(FetchRequest("eurpln"))
    assert "binary data, not text" in str(info.value) and "\x00" not in str(info.value)


@pytest.mark.parametrize(("location", "words"), [
    ("/q/d/l/", "redirected too many times"),
    ("file:///etc/passwd", "redirected to an address that is not http(s)"),
    ("ftp://127.0.0.1/x.csv", "redirected to an address that is not http(s)"),
])
def test_bad_redirects_are_refused(location, words):
    with Server(lambda request: Reply(status=302, headers={"Location": location})) as server, \
            pytest.raises(DownloadError, match=re.escape(words)):
        fetch_stooq(stooq(server))
