"""The examples stay runnable: they are the Python API's documentation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_pipeline_example_runs_end_to_end(tmp_path):
    # One thread, as every training in the suite: the example must not slow down under load.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(EXAMPLES / "pipeline.py")], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("fetched 3029 rows of eurpln")
    default = next(line for line in lines if line.startswith("default "))
    assert float(default.split("ratio ")[1].split()[0]) <= 1.005  # the default does no harm
    assert any(line.startswith("chart: ") and line.endswith("plot.png") for line in lines)
    assert sum(line.startswith("2026-11-0") for line in lines) == 3
