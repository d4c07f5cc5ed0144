"""Tests for seqcast.runs.registry: the run registry, safe loading, atomic writes."""

from __future__ import annotations

import json
import pathlib
import pickle
import shutil
import time

import pytest
import torch

from seqcast import api
from seqcast.errors import RunCorruptError, RunNotFoundError, SeqcastError, WorkspaceError
from seqcast.runs.registry import REQUIRED_FILES, Run, RunStore
from seqcast.workspace import Workspace

from .conftest import write_csv


@pytest.fixture
def runs(workspace) -> RunStore:
    return RunStore(Workspace.resolve())


@pytest.fixture(scope="module")
def trained_cache(tmp_path_factory) -> dict:
    """The first real run of this module, kept to be copied into later workspaces."""
    return {"folder": tmp_path_factory.mktemp("trained") / "home"}


@pytest.fixture
def trained(tmp_path, sine_frame, workspace, trained_cache) -> Run:
    """One real, tiny run in the test's workspace (trained once, then copied: fast)."""
    cached = trained_cache["folder"]
    if not cached.exists():
        api.fetch("sine", csv=write_csv(tmp_path / "sine.csv", sine_frame))
        api.train(epochs=2, hidden=8, lookback=10, patience=0)
        shutil.copytree(workspace, cached)
    else:
        shutil.copytree(cached, workspace)
    return RunStore(Workspace.resolve()).get(None)


def copy_run(run: Run, name: str) -> pathlib.Path:
    """A copy of a real run under another folder name in the same registry."""
    target = run.path.parent / name
    shutil.copytree(run.path, target)
    return target


class TouchOnLoad:
    """A pickle payload that creates a file when unpickled: code, not weights."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


# --- a real run ---------------------------------------------------------------------


def test_trained_run_is_complete_and_loads(trained: Run, runs: RunStore, workspace) -> None:
    assert trained.path == workspace.resolve() / "runs" / trained.run_id
    for name in REQUIRED_FILES:
        assert (trained.path / name).is_file()
    assert runs.ids() == [trained.run_id]
    run = runs.get(trained.run_id)
    assert run.config.model.hidden == 8 and run.config.data.lookback == 10
    assert run.meta["run_id"] == trained.run_id and run.meta["symbol"] == "sine"
    assert run.scaler.scale > 0
    assert "test" in run.metrics
    model = run.load_model()
    assert not model.training
    saved = torch.load(trained.path / "model.pt", weights_only=True)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, saved[name])
    assert len(run.history()) == 2
    assert len(run.predictions()) > 0


def test_ids_are_unique_and_sorted_oldest_first(trained: Run, runs: RunStore) -> None:
    second = api.train(epochs=1, hidden=8, lookback=10, patience=0).run
    third = api.train(epochs=1, hidden=8, lookback=10, patience=0).run
    created = [trained.run_id, second.run_id, third.run_id]
    assert len(set(created)) == 3
    assert runs.ids() == created == sorted(created)
    assert [r.run_id for r in runs.list()] == created
    assert runs.get(None).run_id == third.run_id
    assert runs.get().run_id == third.run_id
    assert api.load_run().run_id == third.run_id


def test_new_ids_sort_in_creation_order(runs: RunStore) -> None:
    # A run takes far more than a millisecond to train and save; within one second
    # the ids must still sort in creation order.
    ids = []
    for _ in range(20):
        ids.append(runs.new_id("lstm", "eurpln"))
        time.sleep(0.0015)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert ids[0].split("-")[2:4] == ["lstm", "eurpln"]


def test_get_latest_without_runs(runs: RunStore) -> None:
    assert runs.ids() == [] and runs.list() == []
    with pytest.raises(RunNotFoundError, match="seqcast train"):
        runs.get(None)


# --- lookup by id and prefix -----------------------------------------------------------


def test_unique_prefix_and_ambiguous_prefix(trained: Run, runs: RunStore) -> None:
    copy_run(trained, "20240101-090000.000-lstm-sine-aaaa")
    copy_run(trained, "20240101-090000.000-lstm-sine-aaab")
    copy_run(trained, "20240102-090000.000-gru-sine-cccc")
    assert runs.get("20240102").run_id == "20240102-090000.000-gru-sine-cccc"
    assert runs.get("20240101-090000.000-lstm-sine-aaab").run_id == "20240101-090000.000-lstm-sine-aaab"
    assert runs.get("20240101-090000.000-lstm-sine-aaaa").path.name == "20240101-090000.000-lstm-sine-aaaa"
    with pytest.raises(RunNotFoundError, match="matches 2 runs"):
        runs.get("20240101")
    with pytest.raises(RunNotFoundError, match="matches 4 runs"):
        runs.get("20")
    assert runs.get(trained.run_id[:-1]).run_id == trained.run_id
    assert runs.get(None).run_id == trained.run_id  # the newest id


def test_exact_id_wins_over_a_longer_id_with_that_prefix(trained: Run, runs: RunStore) -> None:
    copy_run(trained, "20240101-090000.000-lstm-sine-aaaa")
    copy_run(trained, "20240101-090000.000-lstm-sine-aaaa2")
    assert runs.get("20240101-090000.000-lstm-sine-aaaa").run_id == "20240101-090000.000-lstm-sine-aaaa"


UNSAFE_IDS = [
    "nope", "../x", "..", ".", "/etc", "/etc/passwd", "a/b", "a\\b", "runs/../..", "",
    ".tmp-x", "x" * 300, "a\x00b", "~", "unknown-run\n", "20261127-075253.123-lstm-sine-aaaa/..",
]


def test_unknown_or_unsafe_ids(trained: Run, runs: RunStore) -> None:
    for run_id in UNSAFE_IDS:
        with pytest.raises(RunNotFoundError):
            runs.get(run_id)
        # Any id that starts like a real one and then leaves the registry, too.
        with pytest.raises(RunNotFoundError):
            runs.get(trained.run_id + "/" + run_id)


def test_unsafe_id_is_not_looked_up_outside_the_registry(trained: Run, runs: RunStore) -> None:
    # ../<run id> would be a real folder if the lookup ever left runs/.
    outside = copy_run(trained, f"../{trained.run_id}-outside")
    assert outside.is_dir()
    with pytest.raises(RunNotFoundError):
        runs.get(f"../{outside.name}")
    assert runs.ids() == [trained.run_id]


def test_api_errors_are_seqcast_errors(trained: Run) -> None:
    with pytest.raises(SeqcastError):
        api.load_run("/etc")
    with pytest.raises(SeqcastError):
        api.predict_next("../x")


# --- incomplete and hidden folders -------------------------------------------------------


def test_hidden_tmp_folder_is_not_listed(trained: Run, runs: RunStore) -> None:
    hidden = copy_run(trained, f".tmp-20991231-000000.000-lstm-sine-ffff-{12345}")
    assert (hidden / "model.pt").is_file()
    assert runs.ids() == [trained.run_id]
    assert runs.get(None).run_id == trained.run_id
    with pytest.raises(RunNotFoundError):
        runs.get(hidden.name)


def test_run_without_model_is_not_listed(trained: Run, runs: RunStore) -> None:
    broken = copy_run(trained, "20991231-000000.000-lstm-sine-ffff")
    (broken / "model.pt").unlink()
    assert runs.ids() == [trained.run_id]
    assert runs.get(None).run_id == trained.run_id
    with pytest.raises(RunCorruptError, match=r"incomplete.*model\.pt"):
        runs.get(broken.name)


def test_run_missing_any_required_file_is_not_listed(trained: Run, runs: RunStore) -> None:
    for missing in REQUIRED_FILES:
        data = (trained.path / missing).read_bytes()
        (trained.path / missing).unlink()
        assert runs.ids() == [], missing
        with pytest.raises(RunCorruptError, match="incomplete"):
            runs.get(trained.run_id)
        (trained.path / missing).write_bytes(data)
        assert runs.ids() == [trained.run_id]


def test_files_and_symlinks_in_the_registry_are_not_runs(trained: Run, runs: RunStore) -> None:
    (runs.root / "20991231-stray-file").write_text("x")
    (runs.root / "20991231-link").symlink_to(trained.path, target_is_directory=True)
    assert runs.ids() == [trained.run_id]


# --- corrupted files -----------------------------------------------------------------------


BAD_CONFIGS = [
    "{not json", "", "[1, 2]", '"x"', '{"model": {"hidden": "big"}}', '{"model": {"kind": "cnn"}}',
    '{"data": {"nope": 1}}', '{"data": {"lookback": 0}}', '{"train": []}',
]


def test_corrupted_config(trained: Run, runs: RunStore) -> None:
    for body in BAD_CONFIGS:
        (trained.path / "config.json").write_text(body)
        run = runs.get(trained.run_id)  # the folder is complete: listed, found
        with pytest.raises(RunCorruptError, match=r"config\.json"):
            run.config  # noqa: B018
        with pytest.raises(RunCorruptError):
            runs.get(trained.run_id).load_model()
        with pytest.raises(RunCorruptError):
            api.predict_next(trained.run_id)


def test_corrupted_meta(trained: Run, runs: RunStore) -> None:
    for body in [b"{not json", b"", b"[]", b"null", b"\xff\xfe\x00garbage"]:
        (trained.path / "meta.json").write_bytes(body)
        with pytest.raises(RunCorruptError, match=r"meta\.json"):
            runs.get(trained.run_id).meta  # noqa: B018
        with pytest.raises(RunCorruptError):
            api.predict_next(trained.run_id)


def test_corrupted_scaler(trained: Run, runs: RunStore) -> None:
    for body in ["{}", '{"center": 0, "scale": 0}', '{"center": "x", "scale": 1}', "nope", "[]"]:
        (trained.path / "scaler.json").write_text(body)
        with pytest.raises(RunCorruptError, match=r"scaler\.json"):
            runs.get(trained.run_id).scaler  # noqa: B018


def test_malicious_pickle_is_not_executed(trained: Run, runs: RunStore, tmp_path) -> None:
    marker = tmp_path / "pwned"
    torch.save(TouchOnLoad(marker), trained.path / "model.pt")
    with pytest.raises(RunCorruptError, match="not a plain weights file"):
        runs.get(trained.run_id).load_model()
    with pytest.raises(RunCorruptError):
        api.predict_next(trained.run_id)
    assert not marker.exists()
    # The payload is live: an unsafe load would have run it.
    torch.load(trained.path / "model.pt", weights_only=False)
    assert marker.exists()


def test_malicious_plain_pickle_is_not_executed(trained: Run, runs: RunStore, tmp_path) -> None:
    marker = tmp_path / "pwned"
    (trained.path / "model.pt").write_bytes(pickle.dumps(TouchOnLoad(marker), protocol=2))
    with pytest.raises(RunCorruptError):
        runs.get(trained.run_id).load_model()
    assert not marker.exists()


def test_garbage_weights(trained: Run, runs: RunStore) -> None:
    for body in [b"", b"garbage", b"PK\x03\x04broken zip", b"\x80\x02}q\x00."]:
        (trained.path / "model.pt").write_bytes(body)
        with pytest.raises(RunCorruptError, match=r"model\.pt"):
            runs.get(trained.run_id).load_model()


def test_weights_that_are_not_a_state_dict(trained: Run, runs: RunStore) -> None:
    torch.save([torch.zeros(3)], trained.path / "model.pt")
    with pytest.raises(RunCorruptError, match="state dict"):
        runs.get(trained.run_id).load_model()


def test_weights_of_another_architecture(trained: Run, runs: RunStore) -> None:
    path = trained.path / "config.json"
    config = json.loads(path.read_text())
    assert config["model"]["hidden"] == 8
    config["model"]["hidden"] = 16
    path.write_text(json.dumps(config))
    with pytest.raises(RunCorruptError, match="another architecture"):
        runs.get(trained.run_id).load_model()


def test_weights_of_another_cell(trained: Run, runs: RunStore) -> None:
    path = trained.path / "config.json"
    config = json.loads(path.read_text())
    config["model"]["kind"] = "gru"
    path.write_text(json.dumps(config))
    with pytest.raises(RunCorruptError, match="another architecture"):
        runs.get(trained.run_id).load_model()


# --- RunWriter -------------------------------------------------------------------------------


def test_writer_commit_moves_the_folder_into_place(runs: RunStore) -> None:
    writer = runs.writer("20240101-000000.000-lstm-x-0000")
    assert writer.tmp.name.startswith(".tmp-")
    writer.json("meta.json", {"a": 1})
    writer.text("notes.txt", "hello")
    writer.bytes("blob.bin", b"\x00\x01")
    assert runs.ids() == []  # nothing visible before commit
    final = writer.commit()
    assert final == runs.root / "20240101-000000.000-lstm-x-0000"
    assert json.loads((final / "meta.json").read_text()) == {"a": 1}
    assert (final / "notes.txt").read_text() == "hello"
    assert (final / "blob.bin").read_bytes() == b"\x00\x01"
    assert not writer.tmp.exists()
    assert sorted(p.name for p in runs.root.iterdir()) == [final.name]


def test_writer_abort_leaves_nothing_behind(runs: RunStore) -> None:
    writer = runs.writer("20240101-000000.000-lstm-x-0000")
    writer.json("config.json", {"a": 1})
    writer.bytes("model.pt", b"weights")
    writer.abort()
    assert not writer.tmp.exists()
    assert list(runs.root.iterdir()) == []
    writer.abort()  # twice is harmless


def test_writer_never_overwrites_another_run(trained: Run, runs: RunStore) -> None:
    before = {p.name: p.read_bytes() for p in trained.path.iterdir()}
    writer = runs.writer(trained.run_id)
    writer.json("meta.json", {"other": True})
    with pytest.raises(WorkspaceError, match="cannot save run"):
        writer.commit()
    assert not writer.tmp.exists()
    assert {p.name: p.read_bytes() for p in trained.path.iterdir()} == before
    assert sorted(p.name for p in runs.root.iterdir()) == [trained.run_id]


def test_failed_training_save_leaves_no_folder(tmp_path, sine_frame, runs: RunStore, monkeypatch) -> None:
    api.fetch("sine", csv=write_csv(tmp_path / "sine.csv", sine_frame))
    import seqcast.fileio

    def fail(path, obj):
        raise WorkspaceError(f"cannot write {path}: disk full")

    monkeypatch.setattr(seqcast.fileio, "write_json", fail)
    with pytest.raises(WorkspaceError, match="disk full"):
        api.train(epochs=1, hidden=8, lookback=10, patience=0)
    assert list(runs.root.iterdir()) == []
