"""The examples stay runnable: they are the Python API's documentation."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_pipeline_example_runs_end_to_end(tmp_path, monkeypatch, capsys):
    # Run as `python examples/pipeline.py` would (as __main__), but in this process: the suite has
    # torch and pandas imported already, and one torch thread (conftest), so the example does not
    # slow down under load. The course model trains 2 epochs instead of its 10: nothing here
    # depends on how well it fits, and its 10 epochs were most of the test's time.
    from seqcast import api

    train = api.train

    def fewer_epochs(*args, **kwargs):
        if "epochs" in kwargs:
            kwargs["epochs"] = min(kwargs["epochs"], 2)
        return train(*args, **kwargs)

    monkeypatch.setattr(api, "train", fewer_epochs)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(EXAMPLES / "pipeline.py")])
    runpy.run_path(str(EXAMPLES / "pipeline.py"), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("fetched 3029 rows of eurpln")
    default = next(line for line in lines if line.startswith("default "))
    assert float(default.split("ratio ")[1].split()[0]) <= 1.005  # the default does no harm
    assert any(line.startswith("course ") for line in lines)
    assert any(line.startswith("chart: ") and line.endswith("plot.png") for line in lines)
    assert sum(line.startswith("2026-11-0") for line in lines) == 3
