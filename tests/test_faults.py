"""Faults survived: Ctrl-C at any moment, two trainings at once, failed writes, the API key.

The invariant everywhere: the workspace is as it was, or holds a complete new entry;
never a half-written file or run, never a leftover temporary file or folder.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import seqcast.fileio
from seqcast import api
from seqcast.cli import app
from seqcast.data.store import Store
from seqcast.runs.registry import REQUIRED_FILES, RunStore
from seqcast.workspace import Workspace
from tests.httpserver import Reply, Server

runner = CliRunner()
TINY = ["--epochs", "1", "--hidden", "8", "--lookback", "10", "--patience", "0", "--threads", "1"]
# Slow enough that a Ctrl-C within 3 s lands in the training loop, not after it.
SLOW = ["--epochs", "200", "--hidden", "32", "--patience", "0", "--threads", "1"]
SECRET = "SECRETKEY123"


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file (and a marker for every folder)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def assert_runs_complete(home: Path) -> list[str]:
    """Every entry of runs/ is a complete run that loads; no hidden .tmp-* folder is left."""
    root = home / "runs"
    entries = sorted(p.name for p in root.iterdir()) if root.exists() else []
    assert not [e for e in entries if e.startswith(".")], entries
    store = RunStore(Workspace.resolve(home))
    for name in entries:
        for required in REQUIRED_FILES:
            assert (root / name / required).is_file(), (name, required)
        run = store.get(name)
        assert run.meta["run_id"] == name
        assert run.config.model.hidden > 0 and "test" in run.metrics
        run.load_model()
    return entries


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQCAST_")}
    env.update(SEQCAST_HOME=str(home), PYTHONUNBUFFERED="1", FORCE_COLOR="1", COLUMNS="120", **extra)
    return env


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "seqcast", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


class StderrReader:
    """Collects a process's stderr in a thread, so the test can wait for a line."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.data = b""
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for chunk in iter(lambda: proc.stderr.read1(4096), b""):
            self.data += chunk

    def wait_for(self, pattern: bytes, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.data):
                return True
            time.sleep(0.05)
        return False

    def text(self) -> str:
        self._thread.join(timeout=5)
        return self.data.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def fetched(tmp_path_factory) -> Path:
    """A workspace holding eurpln from 2015 (3000 rows): training on it takes a while."""
    home = tmp_path_factory.mktemp("faults") / "home"
    api.fetch("eurpln", source="sample", start="2015-01-01", home=home)
    return home


def copy_of(fetched: Path, target: Path) -> Path:
    shutil.copytree(fetched, target)
    return target


# --- Ctrl-C during training ----------------------------------------------------------------------


def test_ctrl_c_during_training_keeps_the_best_model(fetched, tmp_path) -> None:
    home = copy_of(fetched, tmp_path / "home")
    data_before = snapshot(home / "data")
    proc = start(["train", *SLOW], env_for(home))
    err = StderrReader(proc)
    try:
        # The progress bar (on stderr) shows finished epochs: "  3/200".
        assert err.wait_for(rb"\b[1-9]\d*/200\b", timeout=60), err.data[-500:]
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.text()[-2000:]
    assert "Traceback" not in err.text()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode())
    assert "interrupted (Ctrl-C); best weights kept" in text
    run_id = text.split("run id:")[1].split()[0]
    assert assert_runs_complete(home) == [run_id]
    training = json.loads((home / "runs" / run_id / "meta.json").read_text())["training"]
    assert training["interrupted"] is True and 1 <= training["epochs_run"] < 200
    assert snapshot(home / "data") == data_before


def test_ctrl_c_at_random_moments_never_leaves_half_a_run(fetched, tmp_path) -> None:
    rng = random.Random(20261127)
    # (anchor, seconds after it of each Ctrl-C): "start" of the process (imports, loading
    # data) or its first finished "epoch" (training, then evaluating and saving).
    first = rng.uniform(0.0, 1.0)
    plans = [("start", [rng.uniform(0.3, 1.0)]), ("start", [rng.uniform(1.0, 3.0)]),
             ("epoch", [rng.uniform(0.0, 1.0)]), ("epoch", [first, first + rng.uniform(0.05, 0.5)])]
    procs = []
    for i, _plan in enumerate(plans):
        home = copy_of(fetched, tmp_path / f"home{i}")
        proc = start(["train", *SLOW], env_for(home))
        procs.append((home, snapshot(home / "data"), proc, StderrReader(proc)))
    anchors: list[float | None] = [time.monotonic() if anchor == "start" else None for anchor, _ in plans]
    todo = [list(times) for _, times in plans]
    deadline = time.monotonic() + 90
    try:
        while any(todo) and time.monotonic() < deadline:
            now = time.monotonic()
            for i, (_home, _before, proc, err) in enumerate(procs):
                if anchors[i] is None and re.search(rb"\b[1-9]\d*/200\b", err.data):
                    anchors[i] = now
                if todo[i] and (proc.poll() is not None or (anchors[i] is None and now > deadline - 30)):
                    todo[i] = []  # finished (or never trained): nothing left to interrupt
                elif todo[i] and anchors[i] is not None and now >= anchors[i] + todo[i][0]:
                    proc.send_signal(signal.SIGINT)
                    todo[i].pop(0)
            time.sleep(0.01)
        codes = [proc.wait(timeout=120) for _, _, proc, _ in procs]
    finally:
        for _, _, proc, _ in procs:
            proc.kill()
    assert all(a is not None for a in anchors), "a training never started"
    for (home, data_before, _proc, err), code, plan in zip(procs, codes, plans, strict=True):
        text = err.text()
        # -2: ended by the signal itself, which a shell shows as 130 too. CPython does
        # that when the Ctrl-C lands inside an exec()/eval() (a dataclass or namedtuple
        # being built by an import) even though seqcast handled it and asked for 130.
        assert code in (0, 130, -signal.SIGINT), (plan, text[-2000:])
        if code != -signal.SIGINT:
            assert "Traceback" not in text, (plan, text[-2000:])
        runs = assert_runs_complete(home)
        if code == 0:
            assert len(runs) == 1, (plan, runs)  # stopped training, kept the best model
        elif len(plan[1]) == 1:
            assert runs == [], (plan, runs)  # interrupted before training: nothing saved
        assert snapshot(home / "data") == data_before


def test_interrupt_while_saving_removes_the_hidden_folder(fetched, tmp_path, monkeypatch) -> None:
    home = copy_of(fetched, tmp_path / "home")
    monkeypatch.setenv("SEQCAST_HOME", str(home))
    calls = []

    def interrupted_write(path, obj):
        calls.append(Path(path).name)
        if Path(path).name == "metrics.json":  # most files are written by now
            raise KeyboardInterrupt
        original(path, obj)

    original = seqcast.fileio.write_json
    monkeypatch.setattr(seqcast.fileio, "write_json", interrupted_write)
    result = runner.invoke(app, ["train", *TINY, "--from", "2025-01-01"])
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output and "Traceback" not in result.output
    assert "metrics.json" in calls and (home / "runs").is_dir()
    assert list((home / "runs").iterdir()) == []


# --- Ctrl-C during fetch ---------------------------------------------------------------------------


def stooq_csv(n: int, start: str = "2024-01-01", level: float = 4.3) -> str:
    dates = pd.bdate_range(start, periods=n)
    closes = level + np.sin(np.arange(n) / 7) / 10
    rows = "".join(f"{d:%Y-%m-%d},{c:.4f},{c:.4f},{c:.4f},{c:.4f}\n" for d, c in zip(dates, closes, strict=True))
    return "Date,Open,High,Low,Close\n" + rows


def test_ctrl_c_during_a_slow_download_keeps_the_stored_series(tmp_path, monkeypatch) -> None:
    home = tmp_path / "home"
    old, new = stooq_csv(100), stooq_csv(110, level=4.5)
    with Server([Reply(body=old), Reply(body=new, delay=2.0)]) as server:
        monkeypatch.setenv("SEQCAST_STOOQ_URL", server.url)
        api.fetch("eurpln", home=home)
        before = snapshot(home)
        proc = start(["fetch", "eurpln"], env_for(home, SEQCAST_STOOQ_URL=server.url))
        try:
            deadline = time.monotonic() + 30
            while len(server.requests) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert len(server.requests) == 2, "the second fetch never asked the server"
            proc.send_signal(signal.SIGINT)
            _out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    assert b"interrupted" in err and b"Traceback" not in err
    assert snapshot(home) == before


def test_ctrl_c_at_random_moments_of_a_fetch(tmp_path, monkeypatch) -> None:
    """Interrupted anywhere (download, parse, save): the old series or the complete new one."""
    rng = random.Random(7)
    old, new = stooq_csv(300), stooq_csv(320, level=4.5)
    with Server(lambda request: Reply(body=new if "d1" in request.query else old,
                                      delay=rng.uniform(0.0, 0.4))) as server:
        monkeypatch.setenv("SEQCAST_STOOQ_URL", server.url)
        homes = []
        for i in range(4):
            home = tmp_path / f"home{i}"
            api.fetch("eurpln", home=home)
            homes.append((home, snapshot(home)))
        procs = [start(["fetch", "eurpln"], env_for(home, SEQCAST_STOOQ_URL=server.url)) for home, _ in homes]
        delays = sorted((rng.uniform(0.3, 3.0), i) for i in range(len(procs)))
        started = time.monotonic()
        try:
            for at, i in delays:
                time.sleep(max(0.0, started + at - time.monotonic()))
                if procs[i].poll() is None:
                    procs[i].send_signal(signal.SIGINT)
            results = [proc.communicate(timeout=60) for proc in procs]
        finally:
            for proc in procs:
                proc.kill()
    expected_new = len(pd.bdate_range("2024-01-01", periods=320))
    for (home, before), proc, (_out, err) in zip(homes, procs, results, strict=True):
        # -2: the Ctrl-C came while Python was exiting, after the command had finished.
        assert proc.returncode in (0, 130, -signal.SIGINT), err.decode()
        if proc.returncode != -signal.SIGINT:
            assert b"Traceback" not in err, err.decode()
        folder = home / "data" / "stooq"
        assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]
        stored = Store(Workspace.resolve(home)).get("eurpln", "stooq")
        frame = stored.load()  # the JSON names a complete CSV with the right checksum
        if proc.returncode != 0 and snapshot(home) == before:
            continue  # interrupted before the save: nothing changed
        assert len(frame) == expected_new and frame["Close"].iloc[-1] == pytest.approx(
            float(new.strip().splitlines()[-1].split(",")[4]))
        csvs = sorted(p.name for p in folder.glob("*.csv"))
        assert csvs == [stored.csv_path.name]  # the previous CSV was replaced, not left behind


# --- two trainings at once ----------------------------------------------------------------------------


def test_two_trainings_started_together_both_finish(fetched, tmp_path) -> None:
    home = copy_of(fetched, tmp_path / "home")
    env = env_for(home)
    procs = [start(["train", *TINY, "--from", "2025-01-01", "--json"], env) for _ in range(2)]
    try:
        results = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
    ids = [json.loads(out)["run_id"] for out, _ in results]
    assert len(set(ids)) == 2
    assert assert_runs_complete(home) == sorted(ids)


# --- failed writes: read-only workspace, full disk ------------------------------------------------------


class FailingOs:
    """seqcast.fileio's view of `os` in which one call fails like a broken disk."""

    def __init__(self, code: int, *, fail_write: int | None = None, fail_replace: bool = False) -> None:
        self.code = code
        self.fail_write = fail_write  # the n-th file written fails halfway (1-based)
        self.fail_replace = fail_replace
        self.writes = 0

    def __getattr__(self, name: str):
        return getattr(os, name)

    def error(self) -> OSError:
        return OSError(self.code, os.strerror(self.code))

    def replace(self, src, dst) -> None:
        if self.fail_replace:
            raise self.error()
        os.replace(src, dst)

    def fdopen(self, fd, mode="r", *args, **kwargs):
        fh = os.fdopen(fd, mode, *args, **kwargs)
        self.writes += 1
        if self.writes != self.fail_write:
            return fh
        outer = self

        class HalfWritten:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                fh.close()

            def write(self, data):
                fh.write(data[: len(data) // 2])  # half of it reaches the disk, then it is full
                fh.flush()
                raise outer.error()

            def __getattr__(self, name):
                return getattr(fh, name)

        return HalfWritten()


@pytest.fixture
def small_home(fetched, workspace) -> Path:
    """eurpln from 2025 and one tiny run, in the test's SEQCAST_HOME."""
    api.fetch("eurpln", source="sample", start="2025-01-01", home=workspace)
    api.train(epochs=1, hidden=8, lookback=10, patience=0, home=workspace)
    return workspace


REFETCH = ["fetch", "eurpln", "--source", "sample", "--from", "2024-06-01"]
RETRAIN = ["train", *TINY]


@pytest.mark.parametrize(
    ("args", "failing"),
    [
        pytest.param(REFETCH, FailingOs(errno.ENOSPC, fail_write=1), id="fetch-disk-full-writing-csv"),
        pytest.param(REFETCH, FailingOs(errno.ENOSPC, fail_write=2), id="fetch-disk-full-writing-json"),
        pytest.param(REFETCH, FailingOs(errno.EROFS, fail_replace=True), id="fetch-read-only-rename"),
        pytest.param(RETRAIN, FailingOs(errno.ENOSPC, fail_write=1), id="train-disk-full-writing-weights"),
        pytest.param(RETRAIN, FailingOs(errno.ENOSPC, fail_write=4), id="train-disk-full-midway"),
        pytest.param(RETRAIN, FailingOs(errno.EACCES, fail_replace=True), id="train-permission-denied"),
        pytest.param(["plot", "--out", "{home}/chart.png"], FailingOs(errno.ENOSPC, fail_write=1),
                     id="plot-disk-full"),
    ],
)
def test_failed_write_keeps_the_previous_files(small_home, monkeypatch, args, failing) -> None:
    before = snapshot(small_home)
    monkeypatch.setattr(seqcast.fileio, "os", failing)
    result = runner.invoke(app, [a.format(home=small_home) for a in args])
    assert result.exit_code == 1, result.output
    assert failing.writes >= (failing.fail_write or 1)  # the fault was really hit
    message = result.output.strip()
    assert message.startswith("error: cannot write") and len(message.splitlines()) == 1, message
    assert os.strerror(failing.code) in message
    # The next step fits the cause: disk space for a full disk, permission for a refused write (issue 26 N1).
    hint = {errno.ENOSPC: "free some disk space", errno.EACCES: "permission denied", errno.EROFS: "read-only"}
    assert hint[failing.code] in message
    assert "--home" in message
    assert "Traceback" not in result.output
    assert snapshot(small_home) == before


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_ctrl_c_right_after_a_rename_leaves_a_consistent_store(small_home, monkeypatch, suffix) -> None:
    """The worst moment: the file is in place, the code that wrote it has not returned."""

    class InterruptAfterReplace(FailingOs):
        def replace(self, src, dst) -> None:
            os.replace(src, dst)
            if str(dst).endswith(suffix):
                raise KeyboardInterrupt

    monkeypatch.setattr(seqcast.fileio, "os", InterruptAfterReplace(errno.EIO))
    with pytest.raises(KeyboardInterrupt):
        api.fetch("eurpln", source="sample", start="2024-06-01", home=small_home)
    monkeypatch.undo()
    stored = Store(Workspace.resolve(small_home)).get("eurpln", "sample")
    frame = stored.load()  # the JSON names a complete CSV, whichever one it is
    assert str(frame.index[0].date()) == ("2025-01-02" if suffix == ".csv" else "2024-06-03")
    assert not [p for p in stored.csv_path.parent.iterdir() if p.name.startswith(".")]


def test_unwritable_runs_folder_fails_before_training(workspace, monkeypatch) -> None:
    api.fetch("eurpln", source="sample", start="2025-01-01", home=workspace)
    (workspace / "runs").write_text("not a folder")  # as good as read-only, even for root
    before = snapshot(workspace)
    import seqcast.forecast.evaluation

    def must_not_train(*args, **kwargs):
        raise AssertionError("trained although the run could not be saved")

    monkeypatch.setattr(seqcast.forecast.evaluation, "fit_evaluate", must_not_train)
    result = runner.invoke(app, RETRAIN)
    assert result.exit_code == 1, result.output
    assert result.output.strip().startswith("error: cannot write a run folder"), result.output
    assert snapshot(workspace) == before


# --- the stooq API key --------------------------------------------------------------------------------


def echo_server_script(mode: dict[str, str]):
    """Answers as stooq might, echoing the request (and so the key) where a server could."""
    csv = stooq_csv(120)

    def reply(request) -> Reply:
        kind = mode["kind"]
        echoed = f"request {request.target} "
        bodies = {
            "no data": Reply(body="No data"),
            "limit": Reply(body=f"Exceeded the daily hits limit {echoed}"),
            "denied": Reply(body="Access denied"),
            "apikey": Reply(body=f"Get your apikey: key {SECRET} was refused ({echoed})"),
            "html": Reply(body=f"<html><body>Error for {echoed}</body></html>"),
            "browser check": Reply(body=f"<html><script>verify your browser</script>{echoed}</html>"),
            "garbage": Reply(body=f"weird {echoed}"),
            "404": Reply(status=404, body=f"Not found: {echoed}"),
            "cut off": Reply(body=csv[: len(csv) // 2]),
            "csv": Reply(body=csv),
        }
        return bodies[kind]

    return reply


ERROR_KINDS = ["no data", "limit", "denied", "apikey", "html", "browser check", "garbage", "404", "cut off"]


def test_api_key_never_appears_anywhere(workspace, monkeypatch) -> None:
    mode = {"kind": "csv"}
    outputs = []
    with Server(echo_server_script(mode)) as server:
        monkeypatch.setenv("SEQCAST_STOOQ_URL", server.url)
        for kind in ERROR_KINDS:
            mode["kind"] = kind
            for how in ("option", "env"):
                if how == "option":
                    result = runner.invoke(app, ["fetch", "eurpln", "--apikey", SECRET])
                else:
                    result = runner.invoke(app, ["fetch", "eurpln"], env={"SEQCAST_STOOQ_APIKEY": SECRET})
                assert result.exit_code == 1, (kind, result.output)
                assert result.output.startswith("error:") and "Traceback" not in result.output
                outputs.append(result.output)
        mode["kind"] = "csv"
        result = runner.invoke(app, ["fetch", "eurpln", "--apikey", SECRET, "--json"])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
        assert "apikey=***" in json.loads(result.output)["url"]
        sent = [r.query.get("apikey") for r in server.requests]
    assert sent and all(key == [SECRET] for key in sent)  # the key did travel to stooq

    result = runner.invoke(app, ["train", *TINY, "--json"])
    assert result.exit_code == 0, result.output
    outputs.append(result.output)
    result = runner.invoke(app, ["runs", "--json"])
    outputs.append(result.output)
    result = runner.invoke(app, ["data", "--json"])
    outputs.append(result.output)

    for text in outputs:
        assert SECRET not in text
    files = [p for p in workspace.rglob("*") if p.is_file()]
    assert any(p.name == "config.json" for p in files) and any(p.name == "meta.json" for p in files)
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path


def test_a_ctrl_c_during_the_torch_import_waits_for_its_end() -> None:
    """pybind11 turns a Ctrl-C inside torch's import into std::terminate (exit -6, seen in CI):
    the CLI holds it until the import is done and raises it then."""
    import os

    from seqcast.cli.common import interrupt_after

    finished, before = False, signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), interrupt_after():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs here; the block goes on
        finished = True
    assert finished
    assert signal.getsignal(signal.SIGINT) is before
