"""Files in the workspace and on the command line, and the run folders built from them.

Only regular files are read, up to a size cap; links in the workspace are never followed
(a --csv link the user named is); deep JSON is "not readable JSON"; a run folder with
numbers no training produces is refused with one line; leftovers of killed saves are
cleaned; files get the permissions the umask says.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from seqcast import api, fileio
from seqcast.cli import app
from seqcast.errors import RunCorruptError, RunNotFoundError
from seqcast.runs.registry import Run, RunStore
from seqcast.workspace import Workspace

from .conftest import write_csv

runner = CliRunner()
TINY = {"epochs": 2, "hidden": 8, "lookback": 10, "patience": 0}
DEEP = "[" * 100_000 + "]" * 100_000


def one_line_error(result, exit_code: int = 1) -> str:
    assert result.exit_code == exit_code, result.output
    message = result.output.strip()
    assert "Traceback" not in message and len(message.splitlines()) == 1, message
    return message


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> dict:
    return {"folder": tmp_path_factory.mktemp("safeio") / "home"}


@pytest.fixture
def trained(tmp_path, sine_frame, workspace, cache) -> Run:
    """One tiny recurrent run on a sine series (trained once per module, then copied)."""
    if not cache["folder"].exists():
        api.fetch("sine", csv=write_csv(tmp_path / "sine.csv", sine_frame))
        api.train(**TINY)
        shutil.copytree(workspace, cache["folder"])
    else:
        shutil.copytree(cache["folder"], workspace)
    return api.load_run()


def rewrite(run: Run, name: str, data: bytes) -> None:
    """Replace a weights file and record its checksum, as a careful tamperer would."""
    (run.path / name).write_bytes(data)
    meta_path = run.path / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["weights_sha256"][name] = hashlib.sha256(data).hexdigest()
    meta_path.write_text(json.dumps(meta))


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


# --- safeio itself --------------------------------------------------------------------------------


def test_read_bytes_reads_a_regular_file_and_refuses_everything_else(tmp_path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"12345")
    assert fileio.read_bytes(plain, max_bytes=5) == b"12345"
    link = tmp_path / "link.txt"
    link.symlink_to(plain)
    with pytest.raises(fileio.RefusedFile, match="is a symbolic link, which seqcast does not follow here"):
        fileio.read_bytes(link, max_bytes=100)
    assert fileio.read_bytes(link, max_bytes=100, follow_links=True) == b"12345"
    with pytest.raises(fileio.RefusedFile, match=r"is 5 bytes, more than the 4 bytes such a file can be"):
        fileio.read_bytes(plain, max_bytes=4)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(fileio.RefusedFile, match=r"is a FIFO \(named pipe\), not a regular file"):
        fileio.read_bytes(fifo, max_bytes=100, follow_links=True)  # returns at once: no writer needed
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")
    with pytest.raises(fileio.RefusedFile, match="is a character device, not a regular file"):
        fileio.read_bytes(zero, max_bytes=100, follow_links=True)
    with pytest.raises(fileio.RefusedFile, match="is a folder, not a regular file"):
        fileio.read_bytes(tmp_path, max_bytes=100)
    with pytest.raises(FileNotFoundError):
        fileio.read_bytes(tmp_path / "missing", max_bytes=100)
    assert isinstance(fileio.RefusedFile(1, "x"), OSError)


def test_deeply_nested_json_is_a_value_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        fileio.loads(DEEP)
    assert fileio.loads("[[1]]") == [[1]]


# --- a --csv file named on the command line -------------------------------------------------------


def test_csv_given_as_a_link_is_followed(workspace, tmp_path, sine_frame) -> None:
    real = Path(write_csv(tmp_path / "real.csv", sine_frame))
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    result = runner.invoke(app, ["fetch", "sine", "--csv", str(link)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("make", "what"), [
    (lambda p: os.mkfifo(p), "is a FIFO (named pipe), not a regular file"),
    (lambda p: p.symlink_to("/dev/zero"), "is a character device, not a regular file"),
])
def test_csv_that_is_a_fifo_or_device_is_refused_at_once(workspace, tmp_path, make, what) -> None:
    path = tmp_path / "prices.csv"
    make(path)
    result = runner.invoke(app, ["fetch", "x", "--csv", str(path)])
    assert one_line_error(result) == f"error: {path} {what}; give the path of a CSV file"


# --- the store --------------------------------------------------------------------------------------


def stored_csv(home: Path) -> Path:
    return next((home / "data" / "csv").glob("sine-*.csv"))


@pytest.mark.parametrize("kind", ["link-to-copy", "fifo", "dev-zero"])
def test_a_stored_series_replaced_by_a_link_fifo_or_device_is_not_read(trained, workspace, tmp_path, kind) -> None:
    csv = stored_csv(workspace)
    copy = tmp_path / "copy.csv"
    shutil.copy(csv, copy)  # same bytes, same checksum: only the link gives it away
    csv.unlink()
    if kind == "link-to-copy":
        csv.symlink_to(copy)
        reason = "is a symbolic link, which seqcast does not follow here"
    elif kind == "fifo":
        os.mkfifo(csv)
        reason = "is a FIFO (named pipe), not a regular file"
    else:
        csv.symlink_to("/dev/zero")
        reason = "is a symbolic link, which seqcast does not follow here"
    expected = (f"error: stored data for sine (csv) was not read: {csv} {reason}; fetch it again with: "
                "seqcast fetch sine --csv FILE")
    for args in (["train", "--epochs", "1"], ["predict-next"]):
        assert one_line_error(runner.invoke(app, args)) == expected


def test_store_metadata_that_is_a_link_or_deep_json_is_skipped(trained, workspace, tmp_path) -> None:
    meta = workspace / "data" / "csv" / "sine.json"
    elsewhere = tmp_path / "meta.json"
    shutil.copy(meta, elsewhere)
    meta.unlink()
    meta.symlink_to(elsewhere)
    result = runner.invoke(app, ["data", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    meta.unlink()
    meta.write_text(DEEP)
    result = runner.invoke(app, ["data", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []


# --- run folders: links, FIFOs, deep JSON ----------------------------------------------------------


def test_run_files_that_are_links_or_fifos_are_refused(trained, tmp_path) -> None:
    meta = trained.path / "meta.json"
    elsewhere = tmp_path / "meta.json"
    shutil.copy(meta, elsewhere)
    meta.unlink()
    meta.symlink_to(elsewhere)
    result = runner.invoke(app, ["predict-next"])
    assert one_line_error(result) == (
        f"error: {meta} is a symbolic link, which seqcast does not follow here; seqcast reads only plain "
        "files in a run folder: copy the run folder again whole, or train again")
    meta.unlink()
    shutil.copy(elsewhere, meta)
    history = trained.path / "history.json"
    history.unlink()
    os.mkfifo(history)
    result = runner.invoke(app, ["plot"])  # returns at once, no writer needed
    assert one_line_error(result) == (
        f"error: {history} is a FIFO (named pipe), not a regular file; seqcast reads only plain files in "
        "a run folder: copy the run folder again whole, or train again")
    history.unlink()
    model = trained.path / "model.pt"
    model.unlink()
    model.symlink_to("/dev/zero")
    result = runner.invoke(app, ["predict-next"])
    assert one_line_error(result).startswith(f"error: {model} is a symbolic link")


def test_deeply_nested_run_json_is_not_readable_json(trained) -> None:
    (trained.path / "metrics.json").write_text(DEEP)
    with pytest.raises(RunCorruptError, match=r"metrics\.json is not readable JSON \(nested too deeply\)"):
        api.load_run().metrics  # noqa: B018
    result = runner.invoke(app, ["runs"])
    assert result.exit_code == 0
    assert (f"unreadable {trained.run_id}: {trained.path / 'metrics.json'} is not readable JSON "
            "(nested too deeply); train again") in result.output


# --- run folders: numbers no training produces -------------------------------------------------------


def test_weights_npz_must_be_an_archive_of_finite_floats(trained) -> None:
    path = trained.path / "weights.npz"
    original = path.read_bytes()
    cases = []
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3, dtype=np.float32))
    cases.append((buffer.getvalue(), f"{path} is a single array, not an archive of weights; train again"))
    with np.load(io.BytesIO(original)) as archive:
        arrays = {k: archive[k] for k in archive.files}
    first = next(iter(arrays))
    for value, message in (
        (np.array(["a", "b"]), f"{path} holds {first} as <U1 values, not floating-point weights; train again"),
        (np.full(arrays[first].shape, np.nan, dtype=np.float32),
         f"{path} holds {first} with NaN or infinite weights; train again"),
    ):
        buffer = io.BytesIO()
        np.savez(buffer, **{**arrays, first: value})
        cases.append((buffer.getvalue(), message))
    for data, message in cases:
        rewrite(trained, "weights.npz", data)
        assert one_line_error(runner.invoke(app, ["predict-next"])) == f"error: {message}"


@pytest.mark.parametrize(("file", "change", "message"), [
    ("meta.json", lambda m: m.update(shrinkage_weight=5),
     "meta.json is invalid: 'shrinkage_weight' is 5, outside 0..1; train again"),
    ("meta.json", lambda m: m.update(level=-1.0),
     "meta.json is invalid: 'level' is -1.0, outside 0.5..0.999; train again"),
    ("meta.json", lambda m: m.update(interval_widths=[-1.0]),
     "meta.json is invalid: 'interval_widths' holds a negative, infinite or absurdly large width; train again"),
    ("meta.json", lambda m: m.update(interval_widths=[1e300]),
     "meta.json is invalid: 'interval_widths' holds a negative, infinite or absurdly large width; train again"),
    ("meta.json", lambda m: m.update(interval_vol_window=10**9),
     "meta.json is invalid: 'interval_vol_window' must be a whole number of days between 1 and 10000; "
     "train again"),
    ("meta.json", lambda m: m["training"].update(best_epoch=-5),
     "meta.json is invalid: training.best_epoch is -5, not an epoch number; train again"),
    ("scaler.json", lambda s: s.update(scale=1e300),
     "scaler.json holds an unusable scale or centre (1e+300, {center}); train again"),
    ("scaler.json", lambda s: s.update(center=-1e200),
     "scaler.json holds an unusable scale or centre ({scale}, -1e+200); train again"),
])
def test_run_numbers_out_of_any_sane_range(trained, file, change, message) -> None:
    scaler = json.loads((trained.path / "scaler.json").read_text())
    edit_json(trained.path / file, change)
    expected = f"error: {trained.path / message.format(**{k: repr(v) for k, v in scaler.items()})}"
    assert one_line_error(runner.invoke(app, ["predict-next"])) == expected


def test_history_with_nan_or_wrong_types(trained) -> None:
    history = trained.path / "history.json"
    history.write_text('[{"epoch": 1, "train_loss": NaN, "val_loss": NaN}]')
    assert api.load_run().history()[0]["train_loss"] != 0  # read (as NaN), not refused
    result = runner.invoke(app, ["plot"])
    assert result.exit_code == 0, result.output
    history.write_text('[{"epoch": 1, "train_loss": "high"}]')
    assert one_line_error(runner.invoke(app, ["plot"])) == (
        f"error: {history} is invalid: expected a list of epochs with losses; train again")


def test_a_transformer_runs_weights_are_checksummed(workspace, tmp_path, sine_frame) -> None:
    api.fetch("sine", csv=write_csv(tmp_path / "sine.csv", sine_frame))
    run = api.train(model="transformer", hidden=8, heads=2, layers=1, epochs=1, lookback=10, patience=0).run
    assert run.config.model.kind == "transformer"
    api.predict_next()  # intact: loads
    state = torch.load(run.path / "model.pt", weights_only=True)
    state = {k: v + 1.0 for k, v in state.items()}  # same architecture, other weights
    torch.save(state, run.path / "model.pt")
    run.load_model()  # loadable as such ...
    assert one_line_error(runner.invoke(app, ["predict-next"])) == (  # ... but not used for a forecast
        f"error: {run.path / 'model.pt'} was changed after the run was saved (its checksum differs) and was "
        "not loaded; train again, or copy the run folder again whole")


def test_runs_shows_why_a_run_is_skipped_in_full(trained) -> None:
    edit_json(trained.path / "meta.json", lambda m: m.update(shrinkage_weight=5))
    result = runner.invoke(app, ["runs"], env={"COLUMNS": "60"})
    assert result.exit_code == 0
    reason = f"{trained.path / 'meta.json'} is invalid: 'shrinkage_weight' is 5, outside 0..1; train again"
    assert f"unreadable {trained.run_id}: {reason}" in result.output.replace("\n", "")
    result = runner.invoke(app, ["runs", "--json"])
    assert json.loads(result.stdout) == [{"run_id": trained.run_id, "error": reason}]


# --- what counts as a run ---------------------------------------------------------------------------


def test_a_backup_copy_is_not_a_run(trained) -> None:
    runs = RunStore(Workspace.resolve())
    later = trained.run_id.replace(trained.run_id[:8], "20991231", 1)
    for name in (f"{trained.run_id}.bak", f"{later}.bak", f"{later} (copy)", "old", f"{later}-copy"):
        shutil.copytree(trained.path, runs.root / name)
        assert runs.ids() == [trained.run_id], name
        assert api.load_run().run_id == trained.run_id
    with pytest.raises(RunNotFoundError, match=r"\.bak is not named like a run seqcast saved"):
        runs.get(f"{later}.bak")
    result = runner.invoke(app, ["plot", "old"])
    assert one_line_error(result) == (
        f"error: {runs.root / 'old'} is not named like a run seqcast saved (such as "
        "20261127-093129.228-lstm-eurpln-fa7b), so it is not used as one; rename it back to its run id, "
        "or list runs with: seqcast runs")


def test_leftovers_of_a_killed_save_are_cleaned_at_the_next_write(trained) -> None:
    root = trained.path.parent
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(gone.stdout)
    leftover = root / f".tmp-20261130-101010.000-lstm-sine-abcd-{dead_pid}"
    shutil.copytree(trained.path, leftover)
    live = root / f".tmp-20261130-101010.000-lstm-sine-abce-{os.getppid()}"  # a save in progress elsewhere
    shutil.copytree(trained.path, live)
    probe = root / ".tmp-probe-xyz"  # not a run save: left alone
    probe.mkdir()
    api.train(**TINY)
    assert not leftover.exists()
    assert live.is_dir() and probe.is_dir()
    assert len(RunStore(Workspace.resolve()).ids()) == 2


def test_a_save_killed_by_sigterm_leaves_nothing_after_the_next_one(trained, workspace) -> None:
    """A real SIGTERM in the middle of writing a run folder."""
    script = (
        "import os, signal, seqcast.fileio as a\n"
        "orig = a.write_json\n"
        "def w(path, obj):\n"
        "    orig(path, obj)\n"
        "    if str(path).endswith('metrics.json'): os.kill(os.getpid(), signal.SIGTERM)\n"
        "a.write_json = w\n"
        "from seqcast import api\n"
        "api.train(epochs=1, hidden=8, lookback=10, patience=0)\n"
    )
    env = {**os.environ, "SEQCAST_HOME": str(workspace)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=120)
    assert proc.returncode == -15, proc.stderr.decode()[-1000:]
    root = workspace / "runs"
    assert [p.name for p in root.iterdir() if p.name.startswith(".tmp-")]  # the leftover
    api.train(**TINY)
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []


# --- permissions follow the umask --------------------------------------------------------------------


@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                              (0o002, 0o664, 0o775)])
def test_files_get_the_permissions_the_umask_gives(workspace, tmp_path, sine_frame, umask, file_mode,
                                                   dir_mode) -> None:
    old = os.umask(umask)
    try:
        api.fetch("sine", csv=write_csv(tmp_path / "sine.csv", sine_frame))
        run = api.train(**TINY).run
        api.plot()
    finally:
        os.umask(old)
    files = [p for p in workspace.rglob("*") if p.is_file()]
    assert len(files) > 10
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == file_mode, path
    assert stat.S_IMODE(run.path.stat().st_mode) == dir_mode
