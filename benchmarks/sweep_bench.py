"""`seqcast sweep` against the same cells as `seqcast train` commands run one after another.

    python benchmarks/sweep_bench.py                  # 16 cells: --model lstm,gru --lookback 30,60 --seeds 4
    python benchmarks/sweep_bench.py --repeats 3 --json-out /tmp/sweep.json
    python benchmarks/sweep_bench.py --symbols 100,300,1000   # at scale: cells/s, driver CPU, disk, memory

Both sides run as separate processes in one temporary SEQCAST_HOME holding the bundled
sample from 2015-01-01, with one torch thread per training (the sweep's workers use one
each; the train commands get --threads 1), so every cell's test metrics must be identical
on both sides; the script checks that. Repeats alternate the order (sweep first, then
trains; then the other way round) so that load from other programs hits both alike.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS, LOOKBACKS, SEEDS = ("lstm", "gru"), (30, 60), 4
SUMMARY_METRICS = ("n", "rmse", "naive_rmse", "rmse_ratio", "directional_accuracy", "dm_pvalue",
                   "interval_coverage")  # as seqcast.runs.sweep records them
FROM = "2015-01-01"


def seqcast(home: Path, *args: str) -> tuple[float, str]:
    env = {**os.environ, "SEQCAST_HOME": str(home)}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "seqcast", *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"seqcast {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return wall, out.stdout


def at_scale(n_symbols: int, workers: int | None, backend: str, address: str | None) -> dict[str, object]:
    """A --symbol-file sweep over n synthetic 400-day series, one tiny cell each, --keep-runs none:
    wall time, cells per second, the driver's own CPU and peak memory, and disk per cell."""
    home = Path(tempfile.mkdtemp(prefix="seqcast-sweep-scale-"))
    try:
        import numpy as np
        import pandas as pd

        from seqcast import api

        names = [f"s{i:04d}" for i in range(n_symbols)]
        days = pd.bdate_range("2024-01-01", periods=400, name="Date")
        for i, name in enumerate(names):  # random walks: no config should beat naive after Holm
            walk = 100 * np.exp(np.cumsum(np.random.default_rng(i).normal(0, 0.01, 400)))
            csv = home / f"{name}.csv"
            pd.DataFrame({"Close": walk}, index=days).to_csv(csv)
            api.fetch(name, csv=csv, home=home)
            csv.unlink()
        (home / "symbols.txt").write_text("\n".join(names) + "\n")
        cmd = [sys.executable, "-c", DRIVER, str(home), *(["--workers", str(workers)] if workers else []),
               "--backend", backend, *(["--address", address] if address else [])]
        started = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if out.returncode != 0:
            raise SystemExit(f"the sweep failed:\n{out.stderr[-2000:]}")
        stats = json.loads(out.stdout.strip().splitlines()[-1])
        disk = sum(f.stat().st_size for f in (home / "sweeps").rglob("*") if f.is_file())
        if (home / "runs").is_dir():
            disk += sum(f.stat().st_size for f in (home / "runs").rglob("*") if f.is_file())
        return {"symbols": n_symbols, "cells": stats["cells"], "wall_s": round(wall, 2),
                "cells_per_s": round(stats["cells"] / wall, 2), "fit_s_sum": round(stats["fit_s"], 2),
                "driver_cpu_s_per_cell": round(stats["driver_cpu_s"] / stats["cells"], 4),
                "driver_max_rss_mb": round(stats["max_rss_kb"] / 1024, 1),
                "disk_kb_per_cell": round(disk / 1024 / stats["cells"], 2), "backend": backend,
                "multiple_testing": stats["multiple_testing"], "spa": stats.get("spa")}
    finally:
        shutil.rmtree(home, ignore_errors=True)


DRIVER = """
import json, resource, sys, time
from seqcast.runs import sweep as sw
home, rest = sys.argv[1], sys.argv[2:]
opts = dict(zip(rest[::2], rest[1::2]))
spec = sw.SweepSpec(sw.parse_grid_args(["--epochs", "1", "--hidden", "8", "--lookback", "10", "--patience", "0",
                                        "--threads", "1", "--no-shrink"]), sw.read_symbol_file(home + "/symbols.txt"))
workers = int(opts["--workers"]) if "--workers" in opts else None
result = sw.run_sweep(spec, home=home, keep_runs="none", workers=workers, backend=opts.get("--backend", "local"),
                      address=opts.get("--address"))
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"cells": len(result.cells), "fit_s": sum(c.get("seconds") or 0 for c in result.cells),
                  "multiple_testing": result.data["multiple_testing"], "spa": result.data.get("spa"),
                  "driver_cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_kb": usage.ru_maxrss}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--symbols", help="comma list of symbol counts: the at-scale mode (e.g. 100,300,1000)")
    parser.add_argument("--workers", type=int, default=None, help="at-scale mode: the sweep's --workers")
    parser.add_argument("--backend", default="local", help="at-scale mode: local or ray (with --address)")
    parser.add_argument("--address", default=None)
    args = parser.parse_args()
    if args.symbols:
        rows = [at_scale(int(n), args.workers, args.backend, args.address) for n in args.symbols.split(",")]
        print(json.dumps(rows, indent=1))
        if args.json_out:
            args.json_out.write_text(json.dumps(rows, indent=1) + "\n")
        return

    home = Path(tempfile.mkdtemp(prefix="seqcast-sweep-bench-"))
    try:
        seqcast(home, "fetch", "eurpln", "--source", "sample", "--from", FROM)
        grid = ["--model", ",".join(MODELS), "--lookback", ",".join(map(str, LOOKBACKS)), "--seeds", str(SEEDS)]
        cells = list(itertools.product(MODELS, LOOKBACKS, range(SEEDS)))
        results = []
        for r in range(args.repeats):
            timings: dict[str, float] = {}
            metrics: dict[str, dict] = {"sweep": {}, "train": {}}
            for side in (("sweep", "train") if r % 2 == 0 else ("train", "sweep")):
                if side == "sweep":
                    wall, out = seqcast(home, "sweep", *grid, "--json")
                    payload = json.loads(out)
                    for cell in payload["cells"]:
                        opts = payload["configs"][cell["config"]]["options"]
                        metrics["sweep"][f"{opts['model']}-{opts['lookback']}-{cell['seed']}"] = cell["test"]
                    timings["sweep"] = wall
                    workers = payload["workers"]
                else:
                    total = 0.0
                    for model, lookback, seed in cells:
                        wall, out = seqcast(home, "train", "--model", model, "--lookback", str(lookback),
                                            "--seed", str(seed), "--threads", "1", "--json")
                        total += wall
                        test = json.loads(out)["metrics"]["test"]
                        metrics["train"][f"{model}-{lookback}-{seed}"] = {k: _strict(test.get(k)) for k in
                                                                           SUMMARY_METRICS}
                    timings["train"] = total
            same = all(metrics["sweep"][k] == {kk: metrics["train"][k].get(kk) for kk in metrics["sweep"][k]}
                       for k in metrics["sweep"])
            results.append({"repeat": r, "sweep_s": round(timings["sweep"], 2), "trains_s": round(timings["train"], 2),
                            "ratio": round(timings["sweep"] / timings["train"], 3), "identical_metrics": same,
                            "workers": workers, "load_1min": os.getloadavg()[0]})
            print(json.dumps(results[-1]), flush=True)
        summary = {"cells": len(cells), "grid": " ".join(grid), "repeats": results,
                   "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()}
        if args.json_out:
            args.json_out.write_text(json.dumps(summary, indent=2) + "\n")
        ok = all(r["identical_metrics"] for r in results)
        print(f"{len(cells)} cells; sweep / sequential trains: "
              + ", ".join(f"{r['ratio']:.2f} ({r['sweep_s']:.1f} s / {r['trains_s']:.1f} s)" for r in results)
              + f"; identical metrics: {ok}")
        if not ok:
            raise SystemExit(1)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _strict(x: object) -> object:
    """NaN as null, as the sweep record writes it."""
    return None if isinstance(x, float) and math.isnan(x) else x


if __name__ == "__main__":
    main()
