"""examples/tutorial.ipynb runs, start to end, in a fresh kernel: the tutorial cannot rot."""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "tutorial.ipynb"


def _text(cell) -> str:
    out = []
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        out.append(str(data.get("text/plain", "")) + str(data.get("text/html", "")) + str(output.get("text", "")))
    return "\n".join(out)


def test_the_tutorial_notebook_runs_offline_and_writes_nothing(tmp_path, monkeypatch, workspace) -> None:
    # The kernel imports this checkout's seqcast, with one thread (as the suite), and starts in an empty folder.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    started = time.perf_counter()
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    seconds = time.perf_counter() - started
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not any(o.get("output_type") == "error" for o in c.get("outputs", [])) for c in code)
    sources = [c.source for c in code]
    verdict = code[next(i for i, s in enumerate(sources) if s.rstrip().endswith("fitted.verdict"))]
    assert "naive" in _text(verdict)  # e.g. 'worse than naive by 48 % (p = ...)' or 'same as naive'
    table = _text(code[next(i for i, s in enumerate(sources) if s.strip() == "fitted.metrics")])
    assert "RMSE / naive" in table and "test model" in table
    forecast = _text(code[next(i for i, s in enumerate(sources) if "fitted.forecast(" in s)])
    assert all(name in forecast for name in ("predicted", "lower_80", "upper_80", "lower_95", "upper_95"))
    charts = [c for c in code if any("image/png" in o.get("data", {}) for o in c.get("outputs", []))]
    assert len(charts) == 2  # the train and test charts, and seqcast's own chart of the run
    assert list(cwd.iterdir()) == [] and not workspace.exists()
    assert seconds < 90, f"the tutorial took {seconds:.0f} s"  # about 15 s on an idle core
