"""What a newcomer tripped over: rm leaving a backtest's files, Markdown links, config-file types,
predict-next on a backtest, write hints, Ctrl-C at the prompt, help placeholders, --home first."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app

runner = CliRunner()
TINY = {"epochs": 2, "hidden": 8, "lookback": 10, "patience": 0, "threads": 1}
TINY_ARGS = ["--epochs", "2", "--hidden", "8", "--lookback", "10", "--patience", "0", "--threads", "1"]


def invoke(*args: str, **kwargs):
    return runner.invoke(app, list(args), **kwargs)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A synthetic sine, one tiny run and one tiny 2-fold backtest."""
    home = tmp_path_factory.mktemp("fixes-home")
    api.fetch("sine", source="synthetic", options={"length": 300}, home=home)
    api.train(home=home, **TINY)
    api.backtest(folds=2, workers=1, home=home, **TINY)
    return home


def ids(home: Path) -> tuple[str, str]:
    return api.list_runs(home)[-1].run_id, api.list_backtests(home)[-1]


def test_rm_deletes_a_backtest_with_its_report_and_charts(home, tmp_path):
    bt = api.backtest(folds=2, workers=1, home=home, **TINY)
    folder, ident = bt.path.parent, bt.path.stem
    for args in (["report", ident], ["report", ident, "--format", "md"], ["plot", ident],
                 ["plot", ident, "--format", "svg"]):
        assert invoke(*args, "--home", str(home)).exit_code == 0
    mine = sorted(p.name for p in folder.iterdir() if p.name.startswith(ident))
    assert mine == sorted(f"{ident}{s}" for s in (".html", ".json", ".md", ".png", ".svg", "_files"))
    result = invoke("runs", "rm", ident, "--yes", "--home", str(home))
    assert result.exit_code == 0, result.output
    assert f"{ident}_files" in result.output and f"{ident}.html" in result.output and "deleted 1" in result.output
    assert not [p for p in folder.iterdir() if p.name.startswith(ident)]
    assert len(api.list_backtests(home)) == 1  # the module's own backtest is untouched


def test_markdown_report_links_survive_spaces_and_brackets(home, tmp_path):
    from markdown_it import MarkdownIt

    run_id, _ = ids(home)
    out = tmp_path / "my sine (v1) [draft].md"
    result = invoke("report", run_id, "--format", "md", "-o", str(out), "--home", str(home))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "](<my sine (v1) [draft]_files/" in text
    images = [t for tok in MarkdownIt("commonmark").parse(text) if tok.type == "inline"
              for t in tok.children or [] if t.type == "image"]
    assert images, "no image parsed: the link is not valid CommonMark"
    for image in images:
        assert (tmp_path / unquote(image.attrs["src"])).is_file()


@pytest.mark.parametrize(("body", "message"), [
    ("epochs = true\n", "run.toml: epochs must be a whole number, got true"),
    ("epochs = 2.5\n", "run.toml: epochs must be a whole number, got 2.5"),
    ("lr = \"fast\"\n", "run.toml: lr must be a number, got \"fast\""),
    ("shrink = 1\n", "run.toml: shrink must be true or false, got 1"),
    ("model = \"cnn\"\n", "run.toml: model must be one of"),
])
def test_config_file_values_of_the_wrong_type_are_refused(tmp_path, body, message):
    path = tmp_path / "run.toml"
    path.write_text(body)
    for command in ("train", "backtest"):
        # Wide enough that the error box never wraps the (long, under pytest-xdist) path.
        result = invoke(command, "--config", str(path), env={"COLUMNS": "400"})
        output = " ".join(result.output.replace("│", " ").split())
        assert result.exit_code == 2 and message in output, output
        assert "'--epochs'" not in output and "Traceback" not in output


def test_backtest_config_file_round_trip(home, tmp_path):
    saved = tmp_path / "bt.toml"
    result = invoke("backtest", "--folds", "2", "--workers", "1", *TINY_ARGS, "--model", "gru",
                    "--save-config", str(saved), "--json", "--home", str(home))
    assert result.exit_code == 0, result.output
    text = saved.read_text()
    assert text.startswith("# seqcast backtest --config") and "folds = 2" in text and 'model = "gru"' in text
    result = invoke("backtest", "--config", str(saved), "--hidden", "6", "--json", "--home", str(home))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["folds"]) == 2
    assert data["config"]["model"]["kind"] == "gru" and data["config"]["model"]["hidden"] == 6


def test_predict_next_names_a_backtest_id(home):
    _, bt = ids(home)
    result = invoke("predict-next", bt, "--home", str(home))
    assert result.exit_code == 1
    assert f"error: '{bt}' is a backtest; predict-next needs a run id" in " ".join(result.output.split())


def test_export_to_a_folder_or_a_too_long_name_says_what_to_do(home, tmp_path):
    run_id, _ = ids(home)
    result = invoke("runs", "export", run_id, "-o", str(tmp_path), "--home", str(home))
    output = " ".join(result.output.split())
    assert result.exit_code == 1 and "it is a folder; give a file name, not a folder" in output
    assert "disk space" not in output
    result = invoke("runs", "export", run_id, "-o", str(tmp_path / ("x" * 300 + ".csv")), "--home", str(home))
    output = " ".join(result.output.split())
    assert result.exit_code == 1 and "File name too long" in output and "choose a shorter one" in output
    assert "disk space" not in output
    (tmp_path / "afile").write_text("x")
    for inside in ("afile/p.csv", "afile/sub/p.csv"):
        result = invoke("runs", "export", run_id, "-o", str(tmp_path / inside), "--home", str(home))
        output = " ".join(result.output.split())
        assert result.exit_code == 1 and "a part of the path is a file, not a folder" in output, output


def test_end_of_input_at_the_rm_prompt_changes_nothing(home):
    run_id, _ = ids(home)
    result = invoke("runs", "rm", run_id, "--home", str(home), input="")
    assert result.exit_code == 130, result.output
    assert "interrupted; nothing was changed" in result.output and "Aborted" not in result.output
    assert (home / "runs" / run_id).is_dir()


def test_ctrl_c_at_the_rm_prompt_changes_nothing(home, monkeypatch):
    import typer

    run_id, _ = ids(home)

    def ctrl_c(*_args, **_kwargs):
        raise typer.Abort()  # what click's prompt raises on Ctrl-C

    monkeypatch.setattr(typer, "confirm", ctrl_c)
    result = invoke("runs", "rm", run_id, "--home", str(home))
    assert result.exit_code == 130 and "interrupted; nothing was changed" in result.output
    assert "Aborted" not in result.output
    assert (home / "runs" / run_id).is_dir()


def test_flags_show_no_value_placeholder_and_home_goes_before_the_command(tmp_path):
    for args, flags in ((["runs", "rm"], ["--yes"]), (["runs"], ["--backtests", "--json"]),
                        (["fetch"], ["--full"]), ([], ["--version"]), (["report"], ["--forecast"]),
                        (["train"], ["--shrink"])):
        text = invoke(*args, "--help", env={"COLUMNS": "200"}).output
        for flag in flags:
            line = next(row for row in text.splitlines() if f"{flag} " in row)
            assert "<bool>" not in line, line
    assert "{ID}..." in invoke("runs", "rm", "--help").output

    other = tmp_path / "other"
    result = invoke("--home", str(other), "fetch", "sine", "--source", "synthetic", "--length", "300")
    assert result.exit_code == 0, result.output
    assert (other / "data" / "synthetic").is_dir()
    listed = invoke("--home", str(other), "data", "--json")
    assert [s["symbol"] for s in json.loads(listed.output)] == ["sine"]
    # The command's own --home wins over one before it.
    assert json.loads(invoke("--home", str(other), "data", "--json", "--home", str(tmp_path / "x")).output) == []


def test_ambiguous_prefix_counts_in_the_singular(home, tmp_path):
    import shutil

    run_id, bt = ids(home)
    other = tmp_path / "other"
    shutil.copytree(home / "runs" / run_id, other / "runs" / run_id)
    (other / "backtests").mkdir()
    shutil.copy(home / "backtests" / f"{bt}.json", other / "backtests")
    result = invoke("runs", "show", "2", "--home", str(other))
    assert result.exit_code == 1
    assert "'2' matches 1 run and 1 backtest; give more" in " ".join(result.output.split())


def test_exported_numbers_share_one_precision(home):
    run_id, bt = ids(home)
    for ident, columns in ((run_id, ("actual", "predicted", "naive", "lower", "upper")),
                           (bt, ("actual", "predicted", "naive"))):
        rows = list(csv.DictReader(io.StringIO(invoke("runs", "export", ident, "--home", str(home)).output)))
        assert rows
        for row in rows:
            for column in columns:
                digits = re.sub(r"[^0-9]", "", row[column].split("e")[0]).lstrip("0")
                assert len(digits) <= 10, (column, row[column])
    predictions = (home / "runs" / run_id / "predictions.csv").read_text().splitlines()[1].split(",")
    assert all(len(re.sub(r"[^0-9]", "", v).lstrip("0")) <= 10 for v in predictions[2:])


def test_reproduce_command_of_a_covariate_run_uses_the_cli_flags():
    from seqcast.cli.configfile import to_cli_args
    from seqcast.config import RunConfig

    cfg = RunConfig.from_dict({"data": {"symbol": "eurpln", "source": "sample", "covariates": ["eurpln:csv", "x:ecb"],
                                        "features": ["ohlc", "volume"]}})
    args = to_cli_args(cfg.to_dict())
    assert args[args.index("--features") + 1] == "ohlc,volume"
    assert [args[i + 1] for i, a in enumerate(args) if a == "--covariate"] == ["eurpln:csv", "x:ecb"]
    assert "--covariates" not in args
    from seqcast.cli import app

    # The command line is accepted by train (checked up to its own validation, without training).
    result = runner.invoke(app, ["train", *args, "--epochs", "0"])
    assert "No such option" not in result.output and result.exit_code == 1, result.output


def test_hints_for_csv_series_name_the_file_and_typos_get_a_suggestion(tmp_path, sine_frame):
    from seqcast import api
    from seqcast.errors import SeriesNotFoundError, UnknownSourceError
    from tests.conftest import write_csv

    api.fetch("eurpln", csv=write_csv(tmp_path / "e.csv", sine_frame))
    with pytest.raises(SeriesNotFoundError, match=r"did you mean 'eurpln'.*seqcast fetch eurpnl --csv FILE"):
        api.train(symbol="eurpnl", source="csv")
    with pytest.raises(UnknownSourceError, match="unknown source 'bogus'"):
        api.train(symbol="eurpln", covariates=["eurpln:bogus"], source="csv")
