"""api.fetch against a local stooq-shaped server: incremental updates, merges, no lost rows."""

from __future__ import annotations

import pytest

from seqcast import api
from seqcast.data.store import Store
from seqcast.errors import ConfigError, NoDataError, RateLimitError
from seqcast.workspace import Workspace
from tests.httpserver import Reply, Server

HEADER = "Date,Open,High,Low,Close\r\n"


def rows(*pairs: tuple[str, float]) -> str:
    return HEADER + "".join(f"{d},{c},{c},{c},{c}\r\n" for d, c in pairs)


FIRST = rows(("2024-01-02", 4.30), ("2024-01-03", 4.31), ("2024-01-04", 4.32), ("2024-01-05", 4.33))
# stooq revised 2024-01-05 and added two days.
UPDATE = rows(("2024-01-04", 4.32), ("2024-01-05", 4.34), ("2024-01-08", 4.35), ("2024-01-09", 4.36))


def stored_close(home) -> dict[str, float]:
    frame = Store(Workspace.resolve(home)).get("eurpln", "stooq").load()
    return {str(d.date()): c for d, c in frame["Close"].items()}


def test_second_fetch_asks_only_for_new_days_and_merges(monkeypatch, workspace):
    with Server([Reply(body=FIRST), Reply(body=UPDATE)]) as server:
        monkeypatch.setenv("SEQCAST_STOOQ_URL", server.url)
        first = api.fetch("eurpln", start="2024-01-01")
        second = api.fetch("eurpln")
        q1, q2 = server.requests[0].query, server.requests[1].query
    assert q1["s"] == ["eurpln"] and q1["i"] == ["d"] and q1["d1"] == ["20240101"]
    assert q2["d1"] == ["20231229"]  # last stored day minus 7 days: revised rows come again
    assert "d2" not in q2
    assert first.meta["rows"] == 4 and second.meta["rows"] == 6
    assert second.meta["new_rows"] == 2
    close = stored_close(workspace)
    assert close["2024-01-02"] == 4.30  # kept although not in the second answer
    assert close["2024-01-05"] == 4.34  # the revised value wins
    assert close["2024-01-09"] == 4.36


def test_full_replaces_the_stored_series(monkeypatch, workspace):
    with Server([Reply(body=FIRST), Reply(body=rows(("2024-01-05", 4.40)))]) as server:
        monkeypatch.setenv("SEQCAST_STOOQ_URL", server.url)
        api.fetch("eurpln", start="2024-01-01")
        replaced = api.fetch("eurpln", start="2024-01-05", full=True)
        assert server.requests[1].query["d1"] == ["20240105"]
    assert stored_close(workspace) == {"2024-01-05": 4.40}  # the rows it did not return are gone
    assert replaced.meta["rows"] == 1


def test_full_csv_reimport_drops_the_bad_rows(tmp_path, workspace):
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Close\n2024-01-02,4.30\n2024-01-03,43.1\n2024-01-04,4.32\n")
    api.fetch("eurpln", csv=bad)
    fixed = tmp_path / "fixed.csv"
    fixed.write_text("Date,Close\n2024-01-02,4.30\n2024-01-04,4.32\n")
    api.fetch("eurpln", csv=fixed)  # merged: the bad day stays
    assert Store(Workspace.resolve()).get("eurpln", "csv").load()["Close"].tolist() == [4.30, 43.1, 4.32]
    api.fetch("eurpln", csv=fixed, full=True)
    assert Store(Workspace.resolve()).get("eurpln", "csv").load()["Close"].tolist() == [4.30, 4.32]


def test_a_range_inside_the_stored_one_is_fetched_as_asked(monkeypatch, workspace):
    with Server([Reply(body=FIRST), Reply(body=rows(("2024-01-03", 4.5)))]) as server:
        monkeypatch.setenv("SEQCAST_STOOQ_URL", server.url)
        api.fetch("eurpln", start="2024-01-01")
        api.fetch("eurpln", start="2024-01-03", end="2024-01-03")
        assert server.requests[1].query["d1"] == ["20240103"] and server.requests[1].query["d2"] == ["20240103"]
    close = stored_close(workspace)
    assert len(close) == 4 and close["2024-01-03"] == 4.5


@pytest.mark.parametrize(
    ("body", "error"),
    [("No data", NoDataError), ("Exceeded the daily hits limit", RateLimitError)],
)
def test_failed_update_leaves_stored_data_untouched(monkeypatch, workspace, body, error):
    with Server([Reply(body=FIRST), Reply(body=body)]) as server:
        monkeypatch.setenv("SEQCAST_STOOQ_URL", server.url)
        stored = api.fetch("eurpln", start="2024-01-01")
        before = stored.csv_path.read_bytes(), (stored.csv_path.parent / "eurpln.json").read_bytes()
        with pytest.raises(error):
            api.fetch("eurpln")
    after = stored.csv_path.read_bytes(), (stored.csv_path.parent / "eurpln.json").read_bytes()
    assert after == before


def test_changing_the_interval_needs_full(monkeypatch):
    with Server([Reply(body=FIRST), Reply(body=rows(("2024-01-05", 4.33)))]) as server:
        monkeypatch.setenv("SEQCAST_STOOQ_URL", server.url)
        api.fetch("eurpln", start="2024-01-01")
        with pytest.raises(ConfigError, match="--full"):
            api.fetch("eurpln", interval="w")
        weekly = api.fetch("eurpln", interval="w", full=True)
        assert server.requests[-1].query["i"] == ["w"]
    assert weekly.meta["interval"] == "w" and weekly.meta["rows"] == 1


def test_apikey_goes_to_stooq_but_not_into_the_store(monkeypatch, workspace):
    with Server([Reply(body=FIRST)]) as server:
        monkeypatch.setenv("SEQCAST_STOOQ_URL", server.url)
        stored = api.fetch("eurpln", apikey="SECRETKEY42", domain="com")
        assert server.requests[0].query["apikey"] == ["SECRETKEY42"]
    for path in workspace.rglob("*"):
        if path.is_file():
            assert b"SECRETKEY42" not in path.read_bytes(), path
    assert "SECRETKEY42" not in str(stored.meta)


class FakeSource:
    """A plug-in source: three days of prices, registered by name."""

    name = "fake"
    description = "test source"
    incremental = False

    def fetch(self, request):
        import pandas as pd

        from seqcast.data.sources import FetchResult

        index = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04"], name="Date")
        return FetchResult(pd.DataFrame({"Close": [1.0, 2.0, 3.0]}, index=index), {"provider": "fake"})


def test_a_registered_source_is_used_by_name():
    from seqcast.data import sources

    sources.register_source("fake", "tests.test_fetch:FakeSource")
    try:
        stored = api.fetch("thing", source="fake")
    finally:
        sources._REGISTRY.pop("fake")
    assert stored.meta["provider"] == "fake" and stored.meta["rows"] == 3
    assert "fake" not in sources.source_names()
