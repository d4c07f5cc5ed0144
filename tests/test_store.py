"""Tests for seqcast.data.store: the local store of fetched series."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

import seqcast.fileio
from seqcast.data.store import Store, merge
from seqcast.errors import ConfigError, DataError, SeriesNotFoundError, WorkspaceError
from seqcast.workspace import Workspace


def frame_of(dates: list[str], closes: list[float], **more: list[float]) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime(dates, format="%Y-%m-%d"), name="Date")
    columns = {"Close": np.asarray(closes, dtype=float)}
    columns.update({k: np.asarray(v, dtype=float) for k, v in more.items()})
    return pd.DataFrame(columns, index=index)


@pytest.fixture
def store(workspace) -> Store:
    return Store(Workspace.resolve())


def csv_files(store: Store, source: str) -> list[str]:
    return sorted(p.name for p in (store.root / source).glob("*.csv"))


# --- save, get, list, latest ----------------------------------------------------


def test_store_lives_in_the_workspace(store: Store, workspace) -> None:
    assert store.root == workspace.resolve() / "data"


def test_save_then_get_loads_the_same_frame(store: Store, sine_frame: pd.DataFrame) -> None:
    saved = store.save("csv", "Sine", sine_frame, {"file": "ignored", "note": "kept"})
    got = store.get("SINE")
    assert got.symbol == "sine" and got.source == "csv"
    assert got.csv_path == saved.csv_path
    pd.testing.assert_frame_equal(got.load(), sine_frame, check_freq=False)
    meta = got.meta
    assert meta["note"] == "kept"
    assert meta["file"] == saved.csv_path.name  # ours, not the caller's
    assert meta["rows"] == len(sine_frame)
    assert meta["first"] == "2015-01-01" and meta["last"] == str(sine_frame.index[-1].date())
    assert meta["columns"] == ["Close"]


def test_csv_name_carries_the_checksum(store: Store, sine_frame: pd.DataFrame) -> None:
    saved = store.save("csv", "sine", sine_frame, {})
    body = saved.csv_path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    assert saved.csv_path.name == f"sine-{digest[:12]}.csv"
    assert saved.meta["sha256"] == digest
    meta_path = store.root / "csv" / "sine.json"
    assert json.loads(meta_path.read_text())["file"] == saved.csv_path.name


def test_new_save_removes_the_old_csv(store: Store, sine_frame: pd.DataFrame) -> None:
    first = store.save("csv", "sine", sine_frame, {})
    second = store.save("csv", "sine", sine_frame * 2, {})
    assert first.csv_path.name != second.csv_path.name
    assert not first.csv_path.exists()
    assert csv_files(store, "csv") == [second.csv_path.name]
    pd.testing.assert_frame_equal(store.get("sine").load(), sine_frame * 2, check_freq=False)


def test_saving_the_same_data_twice_keeps_the_file(store: Store, sine_frame: pd.DataFrame) -> None:
    first = store.save("csv", "sine", sine_frame, {})
    second = store.save("csv", "sine", sine_frame, {})
    assert first.csv_path == second.csv_path
    assert csv_files(store, "csv") == [first.csv_path.name]
    pd.testing.assert_frame_equal(store.get("sine").load(), sine_frame, check_freq=False)


def test_list_and_latest(store: Store, sine_frame: pd.DataFrame, walk_frame: pd.DataFrame) -> None:
    assert store.list() == []
    store.save("stooq", "walk", walk_frame, {})
    store.save("csv", "sine", sine_frame, {})
    assert [(s.source, s.symbol) for s in store.list()] == [("csv", "sine"), ("stooq", "walk")]
    assert store.latest().symbol == "sine"
    store.save("stooq", "walk", walk_frame, {})
    assert store.latest().symbol == "walk"


def test_get_prefers_the_named_source_else_the_latest(
    store: Store, sine_frame: pd.DataFrame, walk_frame: pd.DataFrame
) -> None:
    store.save("stooq", "eurpln", sine_frame, {})
    store.save("csv", "eurpln", walk_frame, {})
    assert store.get("eurpln").source == "csv"
    assert store.get("eurpln", "stooq").source == "stooq"
    pd.testing.assert_frame_equal(store.get("eurpln", "stooq").load(), sine_frame, check_freq=False)
    with pytest.raises(SeriesNotFoundError, match="from sample"):
        store.get("eurpln", "sample")


def test_get_unknown_symbol_suggests_fetch(store: Store, sine_frame: pd.DataFrame) -> None:
    with pytest.raises(SeriesNotFoundError, match=r"no stored data for 'nope'.*seqcast fetch nope"):
        store.get("nope")
    store.save("csv", "sine", sine_frame, {})
    with pytest.raises(SeriesNotFoundError, match="seqcast fetch"):
        store.get("other")


def test_latest_in_an_empty_store_suggests_fetch(store: Store) -> None:
    with pytest.raises(SeriesNotFoundError, match="seqcast fetch"):
        store.latest()


@pytest.mark.parametrize("symbol", ["../x", "a/b", "", "..", "/etc/passwd"])
def test_invalid_symbols(store: Store, sine_frame: pd.DataFrame, symbol: str, workspace) -> None:
    with pytest.raises(ConfigError, match="invalid symbol"):
        store.save("csv", symbol, sine_frame, {})
    with pytest.raises(ConfigError, match="invalid symbol"):
        store.get(symbol)
    assert not workspace.exists() or not any(p.is_file() for p in workspace.rglob("*"))


# --- integrity ------------------------------------------------------------------


def test_edited_csv_fails_its_checksum(store: Store, sine_frame: pd.DataFrame) -> None:
    saved = store.save("csv", "sine", sine_frame, {})
    text = saved.csv_path.read_text()
    saved.csv_path.write_text(text.replace("2015-01-01,10.0", "2015-01-01,11.0", 1))
    assert saved.csv_path.read_text() != text
    with pytest.raises(DataError, match=r"checksum.*seqcast fetch sine --csv FILE"):
        store.get("sine").load()


def test_missing_csv_is_a_data_error(store: Store, sine_frame: pd.DataFrame) -> None:
    saved = store.save("csv", "sine", sine_frame, {})
    saved.csv_path.unlink()
    with pytest.raises(DataError, match=r"missing.*seqcast fetch sine"):
        store.get("sine").load()


def test_failed_json_write_keeps_the_previous_series(
    store: Store, sine_frame: pd.DataFrame, walk_frame: pd.DataFrame, monkeypatch
) -> None:
    first = store.save("csv", "sine", sine_frame, {})

    def fail(path, obj):
        raise WorkspaceError(f"cannot write {path}: No space left on device")

    monkeypatch.setattr(seqcast.fileio, "write_json", fail)
    with pytest.raises(WorkspaceError, match="No space left"):
        store.save("csv", "sine", walk_frame, {})
    monkeypatch.undo()

    got = store.get("sine")
    assert got.csv_path == first.csv_path
    assert got.meta["sha256"] == first.meta["sha256"]
    pd.testing.assert_frame_equal(got.load(), sine_frame, check_freq=False)
    assert len(store.list()) == 1


def test_list_skips_unreadable_or_foreign_metadata(store: Store, sine_frame: pd.DataFrame) -> None:
    store.save("csv", "sine", sine_frame, {})
    folder = store.root / "csv"
    (folder / "broken.json").write_text("{not json")
    (folder / "alist.json").write_text("[1, 2]")
    (folder / "escape.json").write_text(json.dumps({"symbol": "escape", "source": "csv", "file": "../x.csv"}))
    (folder / "nofile.json").write_text(json.dumps({"symbol": "nofile", "source": "csv"}))
    (folder / "nosymbol.json").write_text(json.dumps({"file": "nosymbol.csv"}))
    assert [s.symbol for s in store.list()] == ["sine"]
    assert store.get("sine").symbol == "sine"
    assert store.latest().symbol == "sine"
    with pytest.raises(SeriesNotFoundError):
        store.get("escape")


# --- merge ------------------------------------------------------------------------


def test_merge_keeps_old_rows_and_new_values_win() -> None:
    old = frame_of(["2024-01-02", "2024-01-03", "2024-01-04"], [1.0, 2.0, 3.0])
    new = frame_of(["2024-01-04", "2024-01-05"], [30.0, 4.0])
    merged = merge(old, new)
    pd.testing.assert_frame_equal(
        merged, frame_of(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], [1.0, 2.0, 30.0, 4.0])
    )


def test_merge_sorts_and_keeps_every_column() -> None:
    old = frame_of(["2024-01-03", "2024-01-05"], [2.0, 4.0], Volume=[20.0, 40.0])
    new = frame_of(["2024-01-02", "2024-01-05"], [1.0, 5.0], Volume=[10.0, 50.0])
    merged = merge(old, new)
    assert merged.index.is_monotonic_increasing and merged.index.is_unique
    assert merged["Close"].tolist() == [1.0, 2.0, 5.0]
    assert merged["Volume"].tolist() == [10.0, 20.0, 50.0]


def test_merge_of_disjoint_ranges_is_their_union() -> None:
    old = frame_of(["2024-01-02"], [1.0])
    new = frame_of(["2024-02-01"], [2.0])
    assert merge(old, new)["Close"].tolist() == [1.0, 2.0]
    assert merge(new, old)["Close"].tolist() == [1.0, 2.0]


def test_merged_series_round_trips_through_the_store(store: Store) -> None:
    old = frame_of(["2024-01-02", "2024-01-03"], [1.0, 2.0])
    store.save("csv", "x", old, {})
    new = frame_of(["2024-01-03", "2024-01-04"], [2.5, 3.0])
    store.save("csv", "x", merge(store.get("x").load(), new), {})
    assert store.get("x").load()["Close"].tolist() == [1.0, 2.5, 3.0]
    assert store.get("x").meta["rows"] == 3


def test_a_file_as_workspace_is_a_clear_error(tmp_path):
    from seqcast.data.store import check_writable

    not_a_folder = tmp_path / "home"
    not_a_folder.write_text("x")
    with pytest.raises(WorkspaceError, match="is a file, not a folder"):
        check_writable(Workspace(not_a_folder))


# --- concurrent writers, removal --------------------------------------------------------------


def test_four_concurrent_fetches_of_different_ranges_keep_every_row(monkeypatch, workspace) -> None:
    """All four download at once; each merges into what the others saved, under the lock."""
    import threading

    from seqcast import api
    from tests.httpserver import Recorded, Reply, Server

    days = pd.bdate_range("2024-01-01", "2024-12-31")

    def reply(request: Recorded) -> Reply:
        first, last = (pd.Timestamp(request.query[key][0]).date() for key in ("d1", "d2"))
        rows = "".join(f"{d:%Y-%m-%d},4.3,4.3,4.3,{4 + i / 1000:.3f}\r\n" for i, d in enumerate(days)
                       if first <= d.date() <= last)
        return Reply(body="Date,Open,High,Low,Close\r\n" + rows, delay=0.3)

    ranges = [("2024-01-01", "2024-03-31"), ("2024-04-01", "2024-06-30"),
              ("2024-07-01", "2024-09-30"), ("2024-10-01", "2024-12-31")]
    errors: list[BaseException] = []

    def fetch(start: str, end: str) -> None:
        try:
            api.fetch("eurpln", start=start, end=end, home=workspace)
        except BaseException as exc:  # reported below
            errors.append(exc)

    with Server(reply) as server:
        monkeypatch.setenv("SEQCAST_STOOQ_URL", server.url)
        threads = [threading.Thread(target=fetch, args=r) for r in ranges]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert not errors, errors
    stored = Store(Workspace.resolve(workspace)).get("eurpln", "stooq")
    frame = stored.load()
    assert list(frame.index) == list(days)  # the union: no fetch lost another's rows
    assert frame["Close"].iloc[-1] == pytest.approx(4 + (len(days) - 1) / 1000)
    assert stored.meta["rows"] == len(days)
    assert csv_files(Store(Workspace.resolve(workspace)), "stooq") == [stored.csv_path.name]


def test_a_held_lock_makes_a_writer_wait_then_give_up(store: Store, sine_frame: pd.DataFrame) -> None:
    import threading

    waiting = Store(Workspace.resolve(), lock_timeout=0.2)
    with store.lock("csv", "sine"):
        failed: list[BaseException] = []
        thread = threading.Thread(target=lambda: _try(failed, waiting.save, "csv", "sine", sine_frame, {}))
        thread.start()
        thread.join(timeout=10)
    assert len(failed) == 1 and isinstance(failed[0], WorkspaceError)
    assert "another seqcast has been writing sine (csv)" in str(failed[0])
    assert store.list() == []
    store.save("csv", "sine", sine_frame, {})  # released: the next writer goes ahead
    assert len(store.list()) == 1


def _try(failed: list[BaseException], func, *args) -> None:
    try:
        func(*args)
    except BaseException as exc:
        failed.append(exc)


def test_remove_deletes_one_source_or_all(store: Store, sine_frame: pd.DataFrame, walk_frame: pd.DataFrame) -> None:
    a = store.save("stooq", "eurpln", sine_frame, {})
    b = store.save("csv", "eurpln", walk_frame, {})
    store.save("csv", "other", walk_frame, {})
    removed = store.remove("EURPLN", "stooq")
    assert [(s.source, s.symbol) for s in removed] == [("stooq", "eurpln")]
    assert not a.csv_path.exists() and not (store.root / "stooq" / "eurpln.json").exists()
    assert [(s.source, s.symbol) for s in store.list()] == [("csv", "eurpln"), ("csv", "other")]
    store.save("stooq", "eurpln", sine_frame, {})
    assert len(store.remove("eurpln")) == 2
    assert not b.csv_path.exists()
    assert [(s.source, s.symbol) for s in store.list()] == [("csv", "other")]
    with pytest.raises(SeriesNotFoundError, match=r"no stored data for 'eurpln'.*seqcast data"):
        store.remove("eurpln")
