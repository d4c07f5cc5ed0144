"""Runs, backtests, configs and sweeps saved under the names seqcast used before the renames of
issue 16 still load, show, report, plot and predict-next; the old flags are still accepted.

Old -> new: meta.json "shrink" -> "shrinkage_weight" and "coverage" -> "level"; config.json /
TOML / sweep "coverage" -> "level"; a backtest fold's "shrink" -> "shrinkage_weight";
--coverage -> --level; predict-next --days -> --horizon (api: days= -> horizon=).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app
from seqcast.config import RunConfig, make_config
from seqcast.errors import ConfigError
from seqcast.runs import sweep as sw

from .conftest import write_csv

runner = CliRunner()
TINY = {"epochs": 2, "hidden": 8, "lookback": 10, "patience": 0, "device": "cpu", "level": 0.9}


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _to_old_meta(weight: float, level: float):
    def change(meta: dict) -> None:
        meta.pop("shrinkage_weight", None)
        meta.pop("level")
        meta["shrink"], meta["coverage"] = weight, level
    return change


def _to_old_config(config: dict) -> None:
    config["train"]["coverage"] = config["train"].pop("level")


@pytest.fixture(scope="module")
def saved(tmp_path_factory, request) -> Path:
    """A workspace with one tiny run (trained once per module; each test works on a copy)."""
    import numpy as np
    import pandas as pd

    home = tmp_path_factory.mktemp("old-names") / "home"
    n = 300
    frame = pd.DataFrame({"Close": 10 + np.sin(np.arange(n) / 5) + np.arange(n) / 100},
                         index=pd.bdate_range("2015-01-01", periods=n, name="Date"))
    api.fetch("sine", csv=write_csv(home.parent / "sine.csv", frame), home=home)
    api.train(home=home, **TINY)
    return home


@pytest.fixture
def run(saved, workspace):
    shutil.copytree(saved, workspace)
    return api.load_run()


def test_a_run_saves_the_new_names(run) -> None:
    meta = json.loads((run.path / "meta.json").read_text(encoding="utf-8"))
    assert "shrinkage_weight" in meta and "level" in meta
    assert "shrink" not in meta and "coverage" not in meta
    config = json.loads((run.path / "config.json").read_text(encoding="utf-8"))
    assert config["train"]["level"] == 0.9 and "coverage" not in config["train"]


def test_an_old_run_folder_loads_shows_reports_plots_and_predicts(run) -> None:
    # The same run with the new keys and with the old ones forecasts the same; a weight of 0.5
    # moves the forecast away from the default weight 1 (so a key that is not read shows).
    _edit(run.path / "meta.json", lambda m: m.update(shrinkage_weight=0.5, level=0.8))
    new = api.predict_next(run.run_id, horizon=3)
    _edit(run.path / "meta.json", lambda m: m.pop("shrinkage_weight"))
    unweighted = api.predict_next(run.run_id, horizon=3)
    assert [r["predicted"] for r in unweighted.rows] != [r["predicted"] for r in new.rows]

    _edit(run.path / "meta.json", _to_old_meta(0.5, 0.8))
    _edit(run.path / "config.json", _to_old_config)
    old = api.load_run(run.run_id)
    assert old.meta["shrinkage_weight"] == 0.5 and old.meta["level"] == 0.8
    assert old.config.train.level == 0.9
    fc = api.predict_next(run.run_id, horizon=3)
    assert [r["predicted"] for r in fc.rows] == [r["predicted"] for r in new.rows]
    assert fc.level == 0.8 and fc.coverage == 0.8  # the old attribute name still reads

    shown = runner.invoke(app, ["runs", "show", run.run_id])
    assert shown.exit_code == 0, shown.output
    assert "predicted moves scaled by 0.500" in shown.output
    predicted = runner.invoke(app, ["predict-next", run.run_id, "--days", "2"])
    assert predicted.exit_code == 0, predicted.output
    assert "80% interval" in predicted.output and len(predicted.output.strip().splitlines()) >= 4
    report = runner.invoke(app, ["report", run.run_id, "--format", "md", "-o", str(run.path / "r.md")])
    assert report.exit_code == 0, report.output
    assert "predicted moves scaled by 0.500" in (run.path / "r.md").read_text(encoding="utf-8")  # the terminal's words
    plotted = runner.invoke(app, ["plot", run.run_id])
    assert plotted.exit_code == 0, plotted.output


def test_an_old_run_with_shrinkage_weight_0_says_so_in_every_view(run) -> None:
    _edit(run.path / "meta.json", _to_old_meta(0.0, 0.9))
    shown = runner.invoke(app, ["runs", "show", run.run_id])
    assert shown.exit_code == 0, shown.output
    assert "no signal:" in shown.output
    from seqcast.reports.charts import _test_note

    note = " ".join(_test_note(api.load_run(run.run_id).metrics, api.load_run(run.run_id).meta).split())
    assert "no signal: on the validation tail the network's moves did not beat 'no change'" in note


def test_an_old_meta_value_out_of_range_is_refused_by_its_old_name(run) -> None:
    _edit(run.path / "meta.json", _to_old_meta(5.0, 0.9))
    result = runner.invoke(app, ["predict-next", run.run_id])
    assert result.exit_code == 1
    assert "'shrink' is 5.0, outside 0..1" in result.output.replace("\n", "")


def test_an_old_config_dict_reads_coverage_as_level() -> None:
    raw = RunConfig().to_dict()
    raw["train"].pop("level")
    raw["train"]["coverage"] = 0.8
    assert RunConfig.from_dict(raw).train.level == 0.8
    with pytest.raises(ConfigError, match=r"--level must be between 0\.5 and 0\.999"):
        RunConfig.from_dict({"train": {"coverage": 0.2}})
    assert make_config(coverage=0.7).train.level == 0.7  # type: ignore[call-arg]


def test_the_old_flags_and_toml_key_still_set_the_new_fields(tmp_path) -> None:
    from .test_cli_options import _parse

    assert _parse("train", ["--coverage", "0.8"]).train.level == 0.8
    assert _parse("train", ["--level", "0.8"]).train.level == 0.8
    toml = tmp_path / "old.toml"
    toml.write_text("coverage = 0.7\n", encoding="utf-8")
    assert _parse("train", ["--config", str(toml)]).train.level == 0.7
    assert sw.parse_grid_args(["--coverage", "0.8,0.95"]) == {"level": [0.8, 0.95]}
    assert sw.parse_grid_args(["--level", "0.8"]) == {"level": [0.8]}


def test_an_old_backtest_file_still_reports(workspace, tmp_path) -> None:
    import numpy as np
    import pandas as pd

    n = 260
    frame = pd.DataFrame({"Close": 10 + np.sin(np.arange(n) / 5)},
                         index=pd.bdate_range("2015-01-01", periods=n, name="Date"))
    api.fetch("sine", csv=write_csv(tmp_path / "sine.csv", frame))
    bt = api.backtest(make_config(epochs=1, hidden=8, lookback=10, patience=0, device="cpu", split=0.8), folds=2,
                      workers=1)
    assert bt.path is not None
    data = json.loads(bt.path.read_text(encoding="utf-8"))
    assert all("shrinkage_weight" in f and "shrink" not in f for f in data["folds"])

    def to_old(d: dict) -> None:
        for i, fold in enumerate(d["folds"]):
            fold.pop("shrinkage_weight")
            fold["shrink"] = 0.25 + i / 2
        d["config"]["train"]["coverage"] = d["config"]["train"].pop("level")

    _edit(bt.path, to_old)
    record = api.load_backtest(bt.backtest_id)
    assert [f["shrinkage_weight"] for f in record.data["folds"]] == [0.25, 0.75]
    out = tmp_path / "bt.md"
    result = runner.invoke(app, ["report", str(bt.backtest_id), "--format", "md", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "shrinkage weight" in text and "0.25" in text and "0.75" in text
    assert "--coverage" not in text and "--level" not in text  # backtests have no intervals to set
    shown = runner.invoke(app, ["runs", "show", str(bt.backtest_id)])
    assert shown.exit_code == 0, shown.output


def test_an_old_sweep_spec_reads_coverage_as_level() -> None:
    spec = sw.SweepSpec.from_dict({"grid": {"coverage": [0.8], "model": ["gru"]}, "symbols": ["x"],
                                   "seeds": 1, "seed": 0, "backtest": 0})
    assert spec.grid == {"level": [0.8], "model": ["gru"]}


def test_predict_next_takes_the_horizon_by_its_old_name_once(run) -> None:
    assert len(api.predict_next(run.run_id, days=2).rows) == 2
    assert len(api.predict_next(run.run_id, horizon=2).rows) == 2
    with pytest.raises(ConfigError, match="once"):
        api.predict_next(run.run_id, horizon=2, days=2)
    result = runner.invoke(app, ["predict-next", run.run_id, "--horizon", "0"])
    assert result.exit_code == 1 and "--horizon must be between 1 and 250" in result.output
