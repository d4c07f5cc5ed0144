"""The runs folder's index (seqcast.runs.index): the listing equals a scan of the folders, always."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app
from seqcast.runs import index
from seqcast.runs.index import INDEX_NAME, listing, listing_row, read_index
from seqcast.runs.registry import RunStore

runner = CliRunner()
TINY = ["--epochs", "1", "--hidden", "8", "--lookback", "10", "--patience", "0", "--threads", "1"]


def copy_run(store: RunStore, source: str, n: int) -> str:
    """A copy of a run folder under a new valid run id (meta.json names its folder)."""
    run_id = f"20261201-0000{n:02d}.000-lstm-sine-{n:04x}"
    shutil.copytree(store.root / source, store.root / run_id)
    meta = json.loads((store.root / run_id / "meta.json").read_text())
    meta["run_id"] = run_id
    (store.root / run_id / "meta.json").write_text(json.dumps(meta))
    return run_id


def scan(store: RunStore) -> list[dict]:
    return [listing_row(run) for run in store.list()]


@pytest.fixture
def store(workspace) -> RunStore:
    assert runner.invoke(app, ["fetch", "sine", "--source", "synthetic", "--length", "300"]).exit_code == 0
    result = runner.invoke(app, ["train", *TINY])
    assert result.exit_code == 0, result.output
    store = RunStore(api.Workspace(workspace))
    first = store.ids()[0]
    for n in range(3):
        copy_run(store, first, n)
    return store


def test_listing_equals_the_folder_scan_and_notices_new_changed_and_removed_runs(store, monkeypatch):
    assert listing(store) == scan(store)
    assert set(read_index(store.root / INDEX_NAME)) == set(store.ids())  # written on the first listing

    reads = []
    real = index.listing_row
    monkeypatch.setattr(index, "listing_row", lambda run: reads.append(run.run_id) or real(run))
    assert listing(store) == scan(store) and reads == []  # served from the index: no folder read

    added = copy_run(store, store.ids()[0], 9)
    removed = store.ids()[1]
    shutil.rmtree(store.root / removed)
    changed = store.ids()[-1]
    path = store.root / changed / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["test"]["rmse"] = 123.0
    path.write_text(json.dumps(metrics))  # rewritten in place: same folder mtime, new size and mtime
    os.utime(path, ns=(1, 1))
    rows = listing(store)
    assert rows == scan(store)
    assert sorted(reads) == sorted({added, changed}) and removed not in [r["run_id"] for r in rows]
    assert next(r for r in rows if r["run_id"] == changed)["rmse"] == 123.0
    assert set(read_index(store.root / INDEX_NAME)) == set(store.ids())


@pytest.mark.parametrize("garbage", [b"", b"not sqlite at all" * 100, b"SQLite format 3\x00" + b"\xff" * 600])
def test_a_corrupt_or_foreign_index_is_ignored_and_rebuilt(store, garbage):
    path = store.root / INDEX_NAME
    expected = scan(store)
    path.write_bytes(garbage)
    assert listing(store) == expected
    assert set(read_index(path)) == set(store.ids())  # replaced by a good one
    result = runner.invoke(app, ["runs", "--json"])
    assert result.exit_code == 0 and json.loads(result.output) == expected


def test_an_index_of_another_format_or_with_lying_rows_is_not_trusted(store):
    listing(store)
    path = store.root / INDEX_NAME
    entries = read_index(path)
    lying = {k: (p, json.dumps({**json.loads(r), "rmse": -1.0, "run_id": "someone-else"}))
             for k, (p, r) in entries.items()}
    index.write_index(path, lying)
    assert listing(store) == scan(store)
    index.FORMAT, old = "another/9", index.FORMAT
    try:
        assert read_index(path) == {}
    finally:
        index.FORMAT = old


def test_a_linked_index_is_not_followed(store, tmp_path):
    elsewhere = tmp_path / "elsewhere.sqlite"
    listing(store)
    os.replace(store.root / INDEX_NAME, elsewhere)
    os.symlink(elsewhere, store.root / INDEX_NAME)
    assert read_index(store.root / INDEX_NAME) == {}
    assert listing(store) == scan(store)  # still right; the link is neither read nor written through
    assert (store.root / INDEX_NAME).is_symlink()


def test_the_cli_listing_is_the_same_with_and_without_an_index(store):
    first = runner.invoke(app, ["runs"]).output
    assert (store.root / INDEX_NAME).is_file()
    assert runner.invoke(app, ["runs"]).output == first
    (store.root / INDEX_NAME).unlink()
    assert runner.invoke(app, ["runs"]).output == first
