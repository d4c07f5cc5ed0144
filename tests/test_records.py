"""The records layer (seqcast.runs.records): one id scheme and prefix lookup, one safe reader with the
record's shape checked on reading, one removal — for runs, backtests and sweeps.

Every hostile record (a FIFO, a link, /dev/zero, a 1 GB file, deep nesting, wrong field types, a
record naming another id) is one error line in `show`, `report`, `plot`, `export`, `--resume` and an
"unreadable" row in the listings: never a hang, a traceback, or a path outside the workspace touched.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app
from seqcast.errors import RunNotFoundError, WorkspaceError
from seqcast.runs import sweep as sw
from seqcast.runs.registry import RunStore
from seqcast.workspace import Workspace
from tests.conftest import business_days, write_csv

runner = CliRunner()
TINY = ["--epochs", "1", "--hidden", "8", "--lookback", "10", "--patience", "0", "--threads", "1", "--no-shrink"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A workspace with one run, one finished 1-cell sweep and one 2-fold backtest (built once)."""
    home = tmp_path_factory.mktemp("records") / "home"
    rng = np.random.default_rng(3)
    values = 10 + np.sin(np.arange(160) / 5) + rng.normal(0, 0.05, 160)
    csv = write_csv(home.parent / "s.csv", pd.DataFrame({"Close": values}, index=business_days(160)))
    for args in (["fetch", "sine", "--csv", csv], ["train", "--symbol", "sine", *TINY],
                 ["sweep", "--symbol", "sine", *TINY, "--workers", "1"],
                 ["backtest", "--symbol", "sine", "--folds", "2", *TINY, "--workers", "1"]):
        result = runner.invoke(app, [*args, "--home", str(home)])
        assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def home(pristine, workspace) -> Path:
    """A copy of the pristine workspace for this test to tamper with (SEQCAST_HOME points at it)."""
    shutil.copytree(pristine, workspace)
    return workspace


@pytest.fixture(autouse=True)
def no_hang():
    """A command that hangs (a FIFO opened for reading) fails the test after 20 s instead of blocking."""
    def hung(*_args):
        raise TimeoutError("hung")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def ids(home: Path) -> tuple[str, str, str]:
    run = sorted(os.listdir(home / "runs"))[0]
    sweep = sorted(p.stem for p in (home / "sweeps").glob("*.json"))[0]
    backtest = sorted(p.stem for p in (home / "backtests").glob("*.json"))[0]
    return run, sweep, backtest


def one_line(args: list[str]) -> str:
    """The command fails with exit 1 and one `error:` line (no traceback)."""
    result = runner.invoke(app, args)
    assert result.exit_code == 1, (args, result.output, result.exception)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


TAMPER = {
    "fifo": lambda p: (p.unlink(), os.mkfifo(p)),
    "link-to-copy": lambda p: (shutil.copy(p, p.parent.parent / "copy.json"), p.unlink(),
                               p.symlink_to(p.parent.parent / "copy.json")),
    "link-to-dev-zero": lambda p: (p.unlink(), p.symlink_to("/dev/zero")),
    "1-GB": lambda p: os.truncate(p, 1 << 30),
    "deep": lambda p: p.write_text("[" * 200_000 + "]" * 200_000),
    "deep-within-limits": lambda p: p.write_text('{"cells": ' + "[" * 900 + "]" * 900 + "}"),
    "not-an-object": lambda p: p.write_text("[1, 2]"),
    "not-json": lambda p: p.write_bytes(b"\xff{"),
}


# --------------------------------------------------------------------------- ids


def test_one_id_scheme_for_every_record(workspace):
    from seqcast.runs import records

    store = RunStore(Workspace.resolve(workspace))
    for ident in (records.new_id("lstm-eurpln"), store.new_id("gru", "aapl.us"), sw.new_sweep_id()):
        assert records.is_id(ident), ident
    assert sw.SWEEP_ID_RE.match(sw.new_sweep_id())
    for bad in ("../../victim", "..", "a/b", "", ".hidden", "20261127-073512.041-sweep-zz"):
        assert not records.is_id(bad)


def test_prefix_lookup_is_one_function_with_one_set_of_messages():
    from seqcast.runs import records

    ids_ = ["20261127-073512.041-lstm-a-0001", "20261127-073512.041-lstm-b-0002"]
    kw = {"noun": "sweep", "hint": "seqcast sweeps", "empty": "none yet"}
    assert records.pick(ids_, None, **kw) == ids_[-1]
    assert records.pick(ids_, "20261127-073512.041-lstm-b", **kw) == ids_[1]
    with pytest.raises(RunNotFoundError, match="matches 2 sweeps; give more of the id"):
        records.pick(ids_, "2026", **kw)
    with pytest.raises(RunNotFoundError, match="no sweep 'x'; list sweeps with: seqcast sweeps"):
        records.pick(ids_, "x", **kw)
    with pytest.raises(RunNotFoundError, match="is not a sweep id"):
        records.pick(ids_, "../x", **kw)
    with pytest.raises(RunNotFoundError, match="none yet"):
        records.pick([], None, **kw)


def test_removal_never_leaves_its_folder(tmp_path):
    from seqcast.runs import records

    folder, outside = tmp_path / "sweeps", tmp_path / "victim.html"
    folder.mkdir()
    outside.write_text("keep")
    with pytest.raises(WorkspaceError, match="not in"):
        records.remove_files([folder / "a.json", folder / ".." / "victim.html"], folder)
    assert outside.read_text() == "keep"


# --------------------------------------------------------------------------- sweeps


@pytest.mark.parametrize("kind", sorted(TAMPER))
def test_a_hostile_sweep_record_is_one_line_and_an_unreadable_row(home, kind):
    _run, sweep, _bt = ids(home)
    path = home / "sweeps" / f"{sweep}.json"
    TAMPER[kind](path)
    listed = runner.invoke(app, ["sweeps"])
    assert listed.exit_code == 0, listed.output
    assert f"unreadable {sweep}: " in listed.output, listed.output
    as_json = runner.invoke(app, ["sweeps", "--json"])
    assert json.loads(as_json.output)[0]["sweep_id"] == sweep and "error" in json.loads(as_json.output)[0]
    for args in (["sweeps", "show", sweep], ["report", sweep], ["plot", sweep], ["sweep", "--resume", sweep]):
        assert sweep in one_line(args)
    removed = runner.invoke(app, ["sweeps", "rm", sweep, "--yes"])  # what the error lines advise
    assert removed.exit_code == 0 and not os.path.lexists(path), removed.output


WRONG_SWEEPS = {
    "cells-not-objects": lambda d: d.update(cells=[1, 2]),
    "leaderboard-text": lambda d: d.update(leaderboard="x"),
    "no-status": lambda d: [c.pop("status") for c in d["cells"]],
    "empty-spec": lambda d: d.update(spec={}),
    "config-out-of-range": lambda d: d["cells"][0].update(config=7),
    "run-id-a-path": lambda d: d["cells"][0].update(run_id="../../etc"),
    "another-id": lambda d: d.update(sweep_id="../../victim"),
}


@pytest.mark.parametrize("kind", sorted(WRONG_SWEEPS))
def test_a_wrongly_shaped_sweep_record_is_refused_on_reading(home, kind):
    _run, sweep, _bt = ids(home)
    edit(home / "sweeps" / f"{sweep}.json", WRONG_SWEEPS[kind])
    assert "is not a seqcast record" in one_line(["sweeps", "show", sweep])
    assert "is not a seqcast record" in one_line(["sweep", "--resume", sweep])
    listed = runner.invoke(app, ["sweeps"])
    assert listed.exit_code == 0 and f"unreadable {sweep}" in listed.output, listed.output


def test_a_sweep_naming_another_id_deletes_nothing_outside_the_workspace(home):
    _run, sweep, _bt = ids(home)
    victim = home.parent
    for name in ("victim.pdf", "victim.html"):
        (victim / name).write_text("keep")
    (victim / "victim_files").mkdir()
    edit(home / "sweeps" / f"{sweep}.json", lambda d: d.update(sweep_id="../../victim"))
    assert "names another id" in one_line(["sweeps", "show", sweep])
    removed = runner.invoke(app, ["sweeps", "rm", sweep, "--yes"])
    assert removed.exit_code == 0, removed.output
    assert not (home / "sweeps" / f"{sweep}.json").exists()
    assert (victim / "victim.pdf").read_text() == "keep" and (victim / "victim_files").is_dir()
    assert not list(victim.glob("victim*.lock")) and not (victim / "victim").exists()


def test_a_sweep_is_listed_and_removed_by_its_file_name(home):
    _run, sweep, _bt = ids(home)
    (home / "sweeps" / f"{sweep}.html").write_text("report")
    (home / "sweeps" / f"{sweep}_files").mkdir()
    assert [s.sweep_id for s in sw.list_sweeps(home)] == [sweep]
    result = runner.invoke(app, ["sweeps", "rm", sweep[:15], "--yes"])
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(home / "sweeps")) == []


# --------------------------------------------------------------------------- backtests


@pytest.mark.parametrize("kind", sorted(TAMPER))
def test_a_hostile_backtest_record_is_one_line_and_an_unreadable_row(home, kind):
    _run, _sweep, bt = ids(home)
    TAMPER[kind](home / "backtests" / f"{bt}.json")
    listed = runner.invoke(app, ["runs", "--backtests"])
    assert listed.exit_code == 0 and f"unreadable {bt}: " in listed.output, listed.output
    for args in (["runs", "show", bt], ["report", bt], ["plot", bt], ["runs", "export", bt]):
        assert bt in one_line(args)
    removed = runner.invoke(app, ["runs", "rm", bt, "--yes"])  # what the error lines advise
    assert removed.exit_code == 0 and not os.path.lexists(home / "backtests" / f"{bt}.json"), removed.output


WRONG_BACKTESTS = {
    "predictions-text": lambda d: d["folds"][0].update(predictions="x"),
    "no-pooled": lambda d: d.pop("pooled"),
    "config-text": lambda d: d.update(config="x"),
    "bad-date": lambda d: d["folds"][0]["predictions"][0].update(date="not-a-date"),
    "metrics-text": lambda d: d["folds"][0].update(metrics={"rmse": "x"}),
    "fold-not-object": lambda d: d["folds"].append(3),
    "another-id": lambda d: d.update(backtest_id="../../victim"),
}


@pytest.mark.parametrize("kind", sorted(WRONG_BACKTESTS))
def test_a_wrongly_shaped_backtest_record_is_refused_on_reading(home, kind):
    _run, _sweep, bt = ids(home)
    edit(home / "backtests" / f"{bt}.json", WRONG_BACKTESTS[kind])
    for args in (["runs", "show", bt], ["report", bt], ["plot", bt], ["runs", "export", bt]):
        assert "is not a seqcast record" in one_line(args)
    listed = runner.invoke(app, ["runs", "--backtests", "--json"])
    assert listed.exit_code == 0 and "error" in json.loads(listed.output)[0], listed.output


def test_a_backtest_named_unlike_a_record_is_not_one(home):
    _run, _sweep, bt = ids(home)
    shutil.copy(home / "backtests" / f"{bt}.json", home / "backtests" / "notes.json")
    assert api.list_backtests(home) == [bt]


def test_a_run_whose_meta_names_another_id_is_not_a_seqcast_run(home):
    run, _sweep, _bt = ids(home)
    edit(home / "runs" / run / "meta.json", lambda d: d.update(run_id="../../victim"))
    assert "names another run" in one_line(["runs", "show", run])


def test_a_prefix_of_several_runs_is_refused_by_plot_and_report_too(home):
    """A prefix that matches several runs (and a sweep) is ambiguous everywhere: plot and report do not
    fall through to the sweep, as `runs show` does not (a newcomer's finding)."""
    runs = sorted(os.listdir(home / "runs"))
    assert len(runs) >= 2
    names = [*runs, *ids(home)[1:]]
    prefix = names[0][:next(i for i, chars in enumerate(zip(*names, strict=False)) if len(set(chars)) > 1)][:13]
    for command in (["plot", prefix], ["report", prefix], ["runs", "show", prefix]):
        assert "give more of the id" in one_line(command)
