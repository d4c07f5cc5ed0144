"""scripts/sabotage.py keeps working as the code moves: every target is found once, every patch compiles,
and one sabotage, run for real on one test, turns it red."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sabotage():
    spec = importlib.util.spec_from_file_location("seqcast_sabotage_script", ROOT / "scripts" / "sabotage.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_every_sabotage_finds_its_target_once_and_compiles(sabotage, tmp_path) -> None:
    assert {s.name for s in sabotage.SABOTAGES} >= {
        "zero-network", "ignore-input", "shrink-one", "scaler-all-data", "naive-shifted", "covariate-lookahead",
        "conformal-from-test"}
    for s in sabotage.SABOTAGES:
        repo = tmp_path / s.name
        shutil.copytree(ROOT / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__"))
        touched = sabotage.apply(s, repo)
        assert len(touched) == len(s.patches)
        for path in set(touched):
            text = (repo / path).read_text(encoding="utf-8")
            compile(text, path, "exec")  # a syntax error here would only show as "caught" later
            assert "_sabotage_hit" in text
        for test in s.tests:
            assert (ROOT / test.split("::")[0]).is_file(), test


def test_one_sabotage_turns_its_tests_red(sabotage) -> None:
    tests = ["tests/test_forward_paths.py::test_numpy_forward_equals_torch[lstm-2-1]"]
    broken = sabotage.run_one(sabotage.BY_NAME["ignore-input"], tests, [])
    assert broken.applied, broken.tail
    assert broken.red == tests, broken.tail  # (on the intact code it passes: it is part of this suite)
