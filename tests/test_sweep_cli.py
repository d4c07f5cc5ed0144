"""`seqcast sweep` / `seqcast sweeps` as a user meets them: whole numbers in tables however
narrow or piped the output, help text, input checks, resume of a finished sweep, rm."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from seqcast.cli import app
from seqcast.cli.common import _num
from seqcast.runs import sweep as sw
from tests.test_sweep import TINY, fetched, strict_json  # noqa: F401  (fetched is a fixture)

runner = CliRunner()
LONG = [a for a in TINY if a not in ("--lookback", "10")]


def _sweep(*extra: str) -> dict:
    result = runner.invoke(app, ["sweep", "--symbol", "sine", "--workers", "1", *LONG, "--lookback", "10,12",
                                 "--model", "lstm,gru", *extra, "--json"])
    assert result.exit_code == 0, result.output
    return strict_json(result.output)


@pytest.mark.parametrize("columns", ["80", "30"])
@pytest.mark.usefixtures("fetched")
def test_tables_never_cut_numbers_when_piped_or_narrow(workspace, monkeypatch, columns):
    payload = _sweep()
    monkeypatch.setenv("COLUMNS", columns)
    sid = payload["sweep_id"]
    shown = runner.invoke(app, ["sweeps", "show", sid])
    assert shown.exit_code == 0, shown.output
    listed = runner.invoke(app, ["sweeps"])
    assert listed.exit_code == 0, listed.output
    for out in (shown.output, listed.output):
        assert "…" not in out, out
    for row in payload["leaderboard"]:
        line = next(ln for ln in shown.output.splitlines() if row["label"] in ln)
        assert _num(row["rmse_ratio_mean"], 4) in line and _num(row["fit_seconds_mean"], 2) in line.split()
        assert _num(row["dm_pvalue_median"], 2) in line.split()
    header = next(ln for ln in listed.output.splitlines() if "sweep id" in ln)
    assert all(word in header for word in ("status", "cells", "done", "failed", "best config", "RMSE / naive"))
    line = next(ln for ln in listed.output.splitlines() if sid in ln)
    best = payload["leaderboard"][0]
    assert best["label"] in line and f"{_num(best['rmse_ratio_mean'], 4)}" in line and "finished" in line


def test_help_shows_the_ray_extra_and_names_every_train_option():
    result = runner.invoke(app, ["sweep", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "pip install 'seqcast[ray]'" in text
    assert "seqcast train --help" in text
    for flag in sw.grid_options():
        assert f"--{flag}," in text or f"--{flag} " in text or f"--{flag}/" in text, flag


@pytest.mark.parametrize(("args", "message"), [
    (["--lookback", "20,,30"], "--lookback has an empty value in '20,,30'"),
    (["--lookback", "20,"], "--lookback has an empty value in '20,'"),
])
def test_bad_values_name_the_flag(args, message):
    result = runner.invoke(app, ["sweep", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.replace("│", " ").split())


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "lstm", "--model", "lstm"], "error: --model is given a value twice: ['lstm', 'lstm']"),
    (["--lookback", "10", "--lookback", "20,10"], "error: --lookback is given a value twice: [10, 20, 10]"),
])
def test_a_repeated_value_names_the_flag(args, message):
    result = runner.invoke(app, ["sweep", *args])
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.output.replace("│", " ").split())


def test_a_repeated_option_adds_its_values():
    assert sw.parse_grid_args(["--model", "lstm", "--model", "gru,transformer", "--lookback", "5"]) == {
        "model": ["lstm", "gru", "transformer"], "lookback": [5]}
    assert sw.parse_grid_args(["--shrink", "--no-shrink"]) == {"shrink": [True, False]}


@pytest.mark.usefixtures("fetched")
def test_repeated_model_option_runs_both(workspace):
    result = runner.invoke(app, ["sweep", "--symbol", "sine", "--workers", "1", *TINY, "--model", "lstm",
                                 "--model", "gru", "--json"])
    assert result.exit_code == 0, result.output
    payload = strict_json(result.output)
    assert [c["options"]["model"] for c in payload["configs"]] == ["lstm", "gru"]


@pytest.mark.usefixtures("fetched")
def test_an_empty_list_in_the_config_file_is_refused(tmp_path, workspace):
    path = tmp_path / "sweep.toml"
    path.write_text("symbol = 'sine'\nlookback = []\n")
    result = runner.invoke(app, ["sweep", "--config", str(path), *[a for a in TINY if a not in ("--lookback", "10")]])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == "error: --lookback has no values (an empty list): give at least one, or " \
                                    "leave the option out"
    assert not (workspace / "sweeps").exists() or not list((workspace / "sweeps").glob("*.json"))


@pytest.mark.usefixtures("fetched")
def test_a_missing_device_is_one_error_before_any_cell(workspace, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = [a for a in TINY if a not in ("--device", "cpu")]
    result = runner.invoke(app, ["sweep", "--symbol", "sine", "--workers", "1", *args, "--device", "cpu,cuda"])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == "error: --device cuda: no CUDA GPU is available here; use --device cpu or auto"
    assert sw.list_sweeps() == []


@pytest.mark.usefixtures("fetched")
def test_resuming_a_finished_sweep_runs_nothing_and_changes_nothing(workspace):
    result = runner.invoke(app, ["sweep", "--symbol", "sine", "--workers", "1", *TINY, "--json"])
    assert result.exit_code == 0, result.output
    sid = strict_json(result.output)["sweep_id"]
    path = workspace / "sweeps" / f"{sid}.json"
    before = path.read_bytes()
    again = runner.invoke(app, ["sweep", "--resume", sid, "--backend", "ray"])
    assert again.exit_code == 0, again.output
    assert f"sweep {sid}: every cell is done (1 of 1); nothing left to run" in again.output
    assert "Ray node" not in again.output and "(local, 1 workers)" in again.output
    assert path.read_bytes() == before
    record = sw.run_sweep(resume=sid, backend="ray")  # the library too: nothing runs, nothing is written
    assert record.data["backend"] == "local" and path.read_bytes() == before


@pytest.mark.usefixtures("fetched")
def test_sweeps_rm_deletes_the_record_and_its_files_not_its_runs(workspace):
    from seqcast import api

    payload = _sweep()
    sid = payload["sweep_id"]
    folder = workspace / "sweeps"
    for ext in ("html", "md", "png"):
        (folder / f"{sid}.{ext}").write_text("x")
    (folder / f"{sid}_files").mkdir()
    (folder / f"{sid}_files" / "chart.png").write_text("x")
    other = folder / "20990101-000000.000-sweep-abcdef.html"  # another sweep's file stays
    other.write_text("x")

    refused = runner.invoke(app, ["sweeps", "rm", sid], input="n\n")
    assert refused.exit_code == 1 and "nothing was deleted" in refused.output
    assert (folder / f"{sid}.json").exists()

    result = runner.invoke(app, ["sweeps", "rm", sid[:22], "--yes"])
    assert result.exit_code == 0, result.output
    assert f"{sid}.html" in result.output and f"{sid}_files" in result.output
    assert "deleted 1 sweep record; its 4 runs and backtests are kept" in result.output
    assert sorted(p.name for p in folder.iterdir()) == [other.name]
    assert len(api.list_runs()) == 4  # the sweep's runs are kept
    assert runner.invoke(app, ["sweeps", "show", sid]).exit_code == 1
    missing = runner.invoke(app, ["sweeps", "rm", "nope", "--yes"])
    assert missing.exit_code == 1 and "no sweep 'nope'" in missing.output
