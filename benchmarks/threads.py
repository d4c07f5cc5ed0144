"""The thread policy on an idle and on a busy machine, side by side in one run.

    python benchmarks/threads.py                 # 3 repeats, ~5 min on 2 cores
    python benchmarks/threads.py --repeats 1 --classic-epochs 3   # a quick look
    python benchmarks/threads.py --same-session  # busy loops in this session (autogroup: see README)

For the default job (`seqcast train --from 2015-01-01`) and the course's classic job
(LSTM(50)x2, batch 32, window 60; --classic-epochs epochs, default 8), each with
seqcast's default thread choice, `--threads 1` and `--threads <all cores>`, it times
the fit (measured inside the process) twice: on the machine as it is ("idle") and
with two busy loops running (two processes spinning on the CPU, as a newcomer's
other programs would, each in its own session). Idle and busy alternate within every
repeat, and runs are rotated, so load from anything else hits all settings alike.
Prints medians (min-max) of fit seconds, the threads each setting ended up with, the
busy/idle ratio of each setting, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FROM = "2015-01-01"
JOBS = {
    "default": ["train", "--from", FROM],
    "classic": ["train", "--from", FROM, "--model", "lstm", "--layers", "2", "--hidden", "50", "--dropout", "0.2",
                "--batch-size", "32", "--patience", "0", "--target", "level", "--val-fraction", "0"],
}


def seqcast_cmd() -> list[str]:
    return [sys.executable, "-m", "seqcast"]


def train(home: Path, args: list[str]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "OMP_NUM_THREADS"))}
    env["SEQCAST_HOME"] = str(home)
    load = os.getloadavg()[0]
    out = subprocess.run([*seqcast_cmd(), *args, "--json"], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{out.stderr[-2000:]}")
    run = json.loads(out.stdout)
    training = run["meta"]["training"]
    return {"fit_s": training["seconds"], "threads": training["threads"], "load": load}


def median_text(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--classic-epochs", type=int, default=8)
    p.add_argument("--busy-loops", type=int, default=2)
    p.add_argument("--same-session", action="store_true",
                   help="start the busy loops in this session (they then share its autogroup CPU share)")
    p.add_argument("--json-out", type=Path, default=Path(__file__).resolve().parent / "results" / "threads.json")
    a = p.parse_args(argv)

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    settings = {"default": [], "--threads 1": ["--threads", "1"], f"--threads {cores}": ["--threads", str(cores)]}
    home = Path(tempfile.mkdtemp(prefix="seqcast-threads-"))
    env = {**os.environ, "SEQCAST_HOME": str(home)}
    subprocess.run([*seqcast_cmd(), "fetch", "eurpln", "--source", "sample"], check=True, env=env,
                   capture_output=True)
    results: dict[str, dict[str, list[dict]]] = {}
    cells = [(job, name) for job in JOBS for name in settings]
    for r in range(a.repeats):
        # Idle and busy alternate within each repeat (and swap order every repeat), so a
        # change in the machine's background load hits both conditions alike.
        for condition in ("idle", "busy") if r % 2 == 0 else ("busy", "idle"):
            loops = []
            if condition == "busy":
                # Each loop in its own session, as other programs are: with autogroup scheduling a
                # loop in this benchmark's session takes its share from the training's session.
                loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                                          start_new_session=not a.same_session) for _ in range(a.busy_loops)]
                time.sleep(1)
            try:
                k = r % len(cells)
                for job, name in cells[k:] + cells[:k]:
                    args = [*JOBS[job], *settings[name], "--seed", str(r)]
                    if job == "classic":
                        args += ["--epochs", str(a.classic_epochs)]
                    row = train(home, args)
                    results.setdefault(condition, {}).setdefault(f"{job} {name}", []).append(row)
                    print(f"{condition:5s} {job:8s} {name:12s} fit {row['fit_s']:6.2f} s  threads {row['threads']}  "
                          f"load {row['load']:.1f}", file=sys.stderr, flush=True)
            finally:
                for proc in loops:
                    proc.kill()
                for proc in loops:
                    proc.wait()
    where = "this session" if a.same_session else "their own sessions"
    print(f"\nfit seconds, median (min-max) of {a.repeats}; {cores} usable cores; "
          f"busy = {a.busy_loops} spinning processes in {where}")
    print(f"{'job, threads':26s} {'idle':>22s} {'busy':>22s}  busy/idle  threads used (idle, busy)")
    for key in results["idle"]:
        idle = [row["fit_s"] for row in results["idle"][key]]
        busy = [row["fit_s"] for row in results["busy"][key]]
        used = (sorted({row["threads"] for row in results["idle"][key]}),
                sorted({row["threads"] for row in results["busy"][key]}))
        ratio = statistics.median(busy) / statistics.median(idle)
        print(f"{key:26s} {median_text(idle):>22s} {median_text(busy):>22s}  {ratio:8.2f}x  {used[0]}, {used[1]}")
    loads = {c: [row["load"] for rows in results[c].values() for row in rows] for c in results}
    print("load average at starts: " + "; ".join(f"{c} median {statistics.median(v):.2f}" for c, v in loads.items()))
    a.json_out.parent.mkdir(parents=True, exist_ok=True)
    a.json_out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
