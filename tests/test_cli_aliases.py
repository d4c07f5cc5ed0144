"""An option given under its new and its old name at once is refused, not resolved by order."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from seqcast.cli import app

runner = CliRunner()


@pytest.mark.parametrize("args, names", [
    (["predict-next", "--horizon", "2", "--days", "3"], ("--horizon", "--days")),
    (["predict-next", "--days=3", "--horizon", "2"], ("--days", "--horizon")),
    (["train", "--level", "0.8", "--coverage", "0.9"], ("--level", "--coverage")),
    (["train", "--coverage=0.8", "--level=0.9"], ("--coverage", "--level")),
])
def test_two_names_of_one_option_are_refused(tmp_path, args, names) -> None:
    result = runner.invoke(app, [*args, "--home", str(tmp_path)], env={"COLUMNS": "400"})
    assert result.exit_code == 2, result.output
    assert "are two names of one option; give it once" in result.output
    assert all(name in result.output for name in names)
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args", [["predict-next", "--days", "2"], ["train", "--coverage", "0.8"],
                                  ["train", "-h", "--help"]])
def test_one_name_alone_is_not_refused(tmp_path, args) -> None:
    result = runner.invoke(app, [*args, "--home", str(tmp_path)], env={"COLUMNS": "400"})
    assert "two names of one option" not in result.output
    if args[-1] == "--help":
        assert result.exit_code == 0 and "--level" in result.output, result.output
    else:  # parsed, then stopped because this workspace is empty
        assert result.exit_code == 1, result.output
        expected = "error: no runs yet" if args[0] == "predict-next" else "error: no data fetched yet"
        assert result.output.startswith(expected), result.output


def test_save_config_writes_nothing_for_options_that_fail(tmp_path) -> None:
    saved = tmp_path / "run.toml"
    result = runner.invoke(app, ["train", "--split", "2", "--save-config", str(saved), "--home", str(tmp_path)],
                           env={"COLUMNS": "400"})
    assert result.exit_code == 1 and "--split must be between 0.5 and 0.95" in result.output
    assert not saved.exists()
