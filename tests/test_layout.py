"""The library's layout holds: a thin api facade, a registry that only stores, one rule in one place."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from seqcast import api
from seqcast.config import (
    DataConfig,
    ModelConfig,
    RunOptions,
    TrainConfig,
    check_date_range,
    make_config,
    parse_date,
)
from seqcast.errors import ConfigError

SRC = Path(api.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports when run, at any depth (lazy imports included; not the
    `if TYPE_CHECKING:` blocks, which only name types)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_run_options_name_every_config_field() -> None:
    fields_ = {f.name for part in (DataConfig, ModelConfig, TrainConfig) for f in fields(part)}
    assert set(RunOptions.__annotations__) == (fields_ - {"kind"}) | {"model"}


def test_make_config_sets_flat_options_and_refuses_unknown_ones() -> None:
    cfg = make_config(model="gru", split=0.6, lr=0.01, lookback=12)
    assert (cfg.model.kind, cfg.data.split, cfg.train.lr, cfg.data.lookback) == ("gru", 0.6, 0.01, 12)
    assert make_config(cfg, seed=3).model.kind == "gru"  # a base config keeps what is not overridden
    with pytest.raises(ConfigError, match="unknown training option 'colour'"):
        make_config(colour="red")  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="unknown training option 'lookbak'; did you mean 'lookback'"):
        make_config(lookbak=10)  # type: ignore[call-arg]


def test_one_rule_for_from_after_to(tmp_path) -> None:
    message = "--from 2024-02-01 is after --to 2024-01-01"
    with pytest.raises(ConfigError, match=message):
        check_date_range(parse_date("2024-02-01", "--from"), parse_date("2024-01-01", "--to"))
    with pytest.raises(ConfigError, match=message):
        DataConfig(start="2024-02-01", end="2024-01-01")
    with pytest.raises(ConfigError, match=message):
        api.fetch("eurpln", source="sample", start="2024-02-01", end="2024-01-01", home=tmp_path)
    with pytest.raises(ConfigError, match="--to must be a date as YYYY-MM-DD, got '2024-13-01'"):
        DataConfig(end="2024-13-01")
    check_date_range(parse_date("2024-01-01", "--from"), None)  # an open side is no range to check


def test_the_registry_neither_imports_nor_builds_networks() -> None:
    heavy = {"torch", "seqcast.models.networks", "seqcast.models.numpy_forward", "seqcast.models.training",
             "seqcast.forecast.evaluation"}
    assert not imported_modules(SRC / "runs" / "registry.py") & heavy
    assert not imported_modules(SRC / "runs" / "records.py") & heavy
    probe = "import sys, seqcast.runs.registry, seqcast.api; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_library_modules_do_not_import_the_facade() -> None:
    edges = {SRC / "api.py", SRC / "__init__.py", SRC / "__main__.py"}
    importers = [p.name for p in SRC.rglob("*.py")
                 if p not in edges and SRC / "cli" not in p.parents and "seqcast.api" in imported_modules(p)]
    assert importers == []


def test_api_is_a_thin_facade() -> None:
    assert len((SRC / "api.py").read_text(encoding="utf-8").splitlines()) < 300
    for name in api.__all__:
        assert getattr(api, name) is not None
    # The facade re-exports the owning modules' objects, so either import path is the same thing.
    from seqcast.runs import predict_next as nextday
    from seqcast.runs import train as runner

    assert api.train is runner.train and api.predict_next is nextday.predict_next


def test_make_config_checks_the_final_values_once() -> None:
    """--from and --to moved together past an old --to: valid, though each change alone is not."""
    cfg = make_config(make_config(end="2019-01-01"), start="2020-01-01", end="2021-01-01")
    assert (cfg.data.start, cfg.data.end) == ("2020-01-01", "2021-01-01")
    with pytest.raises(ConfigError, match="give 'coverage' once"):
        make_config(level=0.8, coverage=0.9)  # type: ignore[call-arg]
