"""seqcast against the PyTorch loop users would otherwise write, side by side in one run.

    python benchmarks/bench.py                 # 3 training repeats, 5 of each small command
    python benchmarks/bench.py --quick         # smoke test: 3 epochs, 1 repeat
    python benchmarks/bench.py --repeats 5 --json-out /tmp/bench.json
    git archive HEAD~3 src | tar -x -C /tmp/old && python benchmarks/bench.py --baseline-src /tmp/old/src

Every timed thing is its own process, in a temporary SEQCAST_HOME, with MALLOC_*
variables removed from its environment (seqcast tunes its allocator itself; the
reference runs with glibc's defaults, as users run it). Training repeats are
interleaved (seqcast classic, reference, seqcast default, then rotated) so that
load from other programs hits all of them alike; repeat r uses seed r.

Reports medians with min-max spreads of: fit seconds (timed inside each process)
and process wall time, the ratio seqcast / reference, windows per second, the
fraction of this machine's float32 matmul peak (measured here, all threads) that
the classic job reaches, test RMSE against the naive forecast, peak memory (max
RSS) and page faults of every process; plus `seqcast --help`, `seqcast runs`,
`seqcast predict-next`, and predicting the whole test part in one batch.
--baseline-src DIR also times the classic job with seqcast imported from DIR (an
older checkout's src/), interleaved with the others: before/after in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FROM = "2015-01-01"
TINY = ["--hidden", "8", "--epochs", "2"]
"""The tiny network of the issue's `train --seeds 8` and `backtest --folds 8` figures."""


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

# The classic course job, in seqcast's terms. --val-fraction 0: like the course (and
# the reference) it fits on every training window; no early stopping (--patience 0).
CLASSIC = {"lookback": 60, "split": 0.7, "hidden": 50, "layers": 2, "dropout": 0.2,
           "batch_size": 32, "epochs": 25, "lr": 1e-3}


def classic_train_args(epochs: int, seed: int) -> list[str]:
    c = CLASSIC
    return ["train", "--from", FROM, "--model", "lstm", "--layers", str(c["layers"]), "--hidden", str(c["hidden"]),
            "--dropout", str(c["dropout"]), "--lookback", str(c["lookback"]), "--split", str(c["split"]),
            "--batch-size", str(c["batch_size"]), "--epochs", str(epochs), "--lr", str(c["lr"]),
            "--patience", "0", "--target", "level", "--val-fraction", "0", "--seed", str(seed), "--json"]


def lstm_flop(windows: int, epochs: int, lookback: int, hidden: int, layers: int, n_features: int = 1) -> float:
    """Forward+backward FLOP of training an LSTM stack: 3 x forward, where the forward of
    one layer per window per step is 2*4*H*(I+H) (the four gates' matmuls)."""
    per_step = sum(2 * 4 * hidden * ((n_features if k == 0 else hidden) + hidden) for k in range(layers))
    return 3.0 * per_step * lookback * windows * epochs


# --------------------------------------------------------------------------- processes


@dataclass
class Proc:
    """One finished process: times, memory and its output."""

    cmd: list[str]
    rc: int
    wall: float
    user: float | None = None
    sys: float | None = None
    maxrss_mb: float | None = None
    minflt: int | None = None
    majflt: int | None = None
    load: float | None = None  # 1-minute load average when it started
    stdout: str = ""
    stderr: str = ""

    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("stdout"), d.pop("stderr")
        d["cmd"] = " ".join(Path(a).name if os.sep in a else a for a in self.cmd)
        return d


def run_process(cmd: list[str], env: dict[str, str], timeout: float) -> Proc:
    """Run cmd to completion; rusage of exactly this child via os.wait4 where there is one."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            if hasattr(os, "wait4"):
                _, status, ru = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
            else:  # Windows: no rusage
                proc.wait()
                ru = None
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        out.seek(0), err.seek(0)
        result = Proc(cmd, proc.returncode, wall, load=load,
                      stdout=out.read().decode(errors="replace"), stderr=err.read().decode(errors="replace"))
    if ru is not None:
        # ru_maxrss is KiB on Linux, bytes on macOS.
        scale = 1 / 2**20 if sys.platform == "darwin" else 1 / 1024
        result.user, result.sys = ru.ru_utime, ru.ru_stime
        result.maxrss_mb = round(ru.ru_maxrss * scale, 1)
        result.minflt, result.majflt = ru.ru_minflt, ru.ru_majflt
    return result


def clean_env(home: Path) -> tuple[dict[str, str], list[str]]:
    """The environment for every timed process: ours minus allocator settings."""
    removed = [k for k in os.environ
               if k.startswith("MALLOC_") or (k == "GLIBC_TUNABLES" and "malloc" in os.environ[k])]
    env = {k: v for k, v in os.environ.items() if k not in removed}
    env["SEQCAST_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    return env, removed


def seqcast_cmd() -> list[str]:
    """The console script next to this interpreter (what users run), else python -m seqcast."""
    script = Path(sys.executable).parent / ("seqcast.exe" if os.name == "nt" else "seqcast")
    return [str(script)] if script.exists() else [sys.executable, "-m", "seqcast"]


class Failed(RuntimeError):
    pass


def checked(proc: Proc, what: str) -> Proc:
    if proc.rc != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise Failed(f"{what} failed (exit {proc.rc}): {' '.join(proc.cmd)}\n" + "\n".join(tail))
    return proc


def last_json(text: str) -> Any:
    """The JSON document a process printed (the whole stdout, else its last line)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(text.strip().splitlines()[-1])


# --------------------------------------------------------------------------- workers
# Small jobs bench.py runs in their own processes: `bench.py --worker NAME ...`.


def worker_export(args: argparse.Namespace) -> dict[str, Any]:
    """Write the stored sample from FROM as date,close for the reference loop."""
    from seqcast import api

    _stored, frame = api.load_series("eurpln", "sample")
    frame = frame[frame.index >= FROM]
    frame["Close"].to_csv(args.csv, header=["close"], index_label="date")
    return {"rows": len(frame), "first": str(frame.index[0].date()), "last": str(frame.index[-1].date())}


def worker_peak(args: argparse.Namespace) -> dict[str, Any]:
    """Best float32 matmul GFLOP/s on all threads (torch's default and os.cpu_count()), and on one."""
    import torch

    default_threads = torch.get_num_threads()
    best: dict[str, Any] = {"gflops": 0.0, "gflops_1thread": 0.0}
    for threads in sorted({1, default_threads, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        for n in args.sizes:
            a, b = torch.randn(n, n), torch.randn(n, n)
            c = torch.empty(n, n)
            for _ in range(2):
                torch.mm(a, b, out=c)
            times, deadline = [], time.perf_counter() + args.seconds
            while len(times) < 3 or time.perf_counter() < deadline:
                t = time.perf_counter()
                torch.mm(a, b, out=c)
                times.append(time.perf_counter() - t)
            gflops = 2 * n**3 / min(times) / 1e9
            if threads == 1:
                best["gflops_1thread"] = max(best["gflops_1thread"], gflops)
            if gflops > best["gflops"]:
                best.update({"gflops": gflops, "n": n, "threads": threads})
    best["torch"] = torch.__version__
    best["default_threads"] = default_threads
    return best


def worker_predict(args: argparse.Namespace) -> dict[str, Any]:
    """Time predicting a run's whole test part: in one batch, and with predict()'s default."""
    import numpy as np
    import torch

    from seqcast import api
    from seqcast.inputs.windows import build_dataset
    from seqcast.models.perf import tune_allocator
    from seqcast.models.training import predict

    tune_allocator()  # as in `seqcast train`, which predicts the test part right after fitting
    torch.set_num_threads(1)  # the thread count seqcast's policy gives this network (seqcast.models.threads)
    run = api.load_run(args.run)
    cfg = run.config
    model = run.load_model()
    _stored, frame = api.load_series(run.meta["symbol"], run.meta["source"])
    first, last = run.meta["data"]["first"], run.meta["data"]["last"]
    frame = frame[(frame.index >= first) & (frame.index <= last)]
    ds = build_dataset(frame["Close"].to_numpy(dtype=np.float64), lookback=cfg.data.lookback,
                       split=cfg.data.split, val_fraction=cfg.data.val_fraction, target=cfg.data.target)
    x_test = torch.from_numpy(ds.x[ds.test])
    x_all = torch.from_numpy(ds.x)

    def timed(fn, reps: int) -> list[float]:
        out = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return out

    predict(model, x_test[:1])  # the process's first forward pass initialises oneDNN: not part of the timing
    one = timed(lambda: predict(model, x_test, batch_size=len(x_test)), 1 + args.reps)
    default = timed(lambda: predict(model, x_test), args.reps)
    every = timed(lambda: predict(model, x_all), args.reps)
    pred = ds.scaler.inverse(predict(model, x_test).numpy().astype(np.float64))
    rmse = float(np.sqrt(np.mean((pred - ds.actual[ds.test]) ** 2)))
    return {
        "test_windows": len(x_test), "all_windows": len(x_all), "threads": torch.get_num_threads(),
        "one_batch_first_s": one[0], "one_batch_s": statistics.median(one[1:]),
        "one_batch_min_s": min(one[1:]), "one_batch_max_s": max(one[1:]),
        "default_s": statistics.median(default), "all_windows_s": statistics.median(every),
        "test_rmse_check": rmse,
    }


WORKERS = {"export": worker_export, "peak": worker_peak, "predict": worker_predict}


# --------------------------------------------------------------------------- the benchmark


@dataclass
class Series:
    """Repeated measurements of one thing."""

    values: list[float] = field(default_factory=list)

    def add(self, v: float | None) -> None:
        if v is not None:
            self.values.append(float(v))

    def stats(self) -> dict[str, Any]:
        v = self.values
        if not v:
            return {"n": 0}
        return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v), "values": v}


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


class Bench:
    def __init__(self, args: argparse.Namespace, home: Path) -> None:
        self.args = args
        self.home = home
        self.env, self.removed_env = clean_env(home)
        self.seqcast = seqcast_cmd()
        self.procs: dict[str, list[Proc]] = {}

    def log(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def run(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> Proc:
        proc = run_process(cmd, env or self.env, self.args.timeout)
        self.procs.setdefault(name, []).append(proc)
        rss = f"{proc.maxrss_mb:.0f} MB" if proc.maxrss_mb is not None else "?"
        self.log(f"  {name:18s} {proc.wall:7.2f} s wall  {rss:>7s}  load {proc.load or 0:.1f}  rc {proc.rc}")
        return checked(proc, name)

    def worker(self, name: str, *extra: str) -> dict[str, Any]:
        proc = self.run(f"worker {name}", [sys.executable, str(Path(__file__).resolve()), "--worker", name, *extra])
        return last_json(proc.stdout)

    def seqcast_train(self, name: str, args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
        proc = self.run(name, [*self.seqcast, *args], env)
        out = last_json(proc.stdout)
        path = Path(out["path"])
        metrics = json.loads((path / "metrics.json").read_text())
        meta = json.loads((path / "meta.json").read_text())
        training = meta["training"]
        return {"run_id": out["run_id"], "fit_s": training["seconds"], "epochs": training["epochs_run"],
                "windows": meta["split"]["windows"], "test": metrics["test"], "threads": training.get("threads"),
                "wall": proc.wall, "maxrss_mb": proc.maxrss_mb}

    def main(self) -> dict[str, Any]:
        a = self.args
        epochs = 3 if a.quick else CLASSIC["epochs"]
        csv_path = self.home / "closes.csv"
        self.log(f"SEQCAST_HOME={self.home}; removed from the environment: {self.removed_env or 'nothing'}")
        self.run("fetch", [*self.seqcast, "fetch", "eurpln", "--source", "sample"])
        data = self.worker("export", "--csv", str(csv_path))
        peak_args = ["--sizes", "512", "1024"] if a.quick else ["--sizes", "1024", "2048"]
        peaks = [self.worker("peak", *peak_args)]

        classic, reference, default, baseline = [], [], [], []
        default_args = ["train", "--from", FROM, "--json", *(["--epochs", "3"] if a.quick else [])]
        jobs: list[tuple[str, Any]] = [
            ("classic", lambda seed: classic.append(
                self.seqcast_train("seqcast classic", classic_train_args(epochs, seed)))),
            ("reference", lambda seed: reference.append(self.reference(csv_path, epochs, seed))),
            ("default", lambda seed: default.append(self.seqcast_train("seqcast default", default_args))),
        ]
        if a.no_reference:
            jobs.pop(1)
        around: dict[str, list[dict[str, Any]]] = {"floor": [], "seeds": [], "folds": [], "busy": []}
        if not a.no_around:
            jobs += [
                ("floor", lambda seed: around["floor"].append(
                    {"wall": self.run("import floor", [sys.executable, "-c", "import torch, pandas, numpy"]).wall})),
                ("seeds", lambda seed: around["seeds"].append(self.tiny_seeds(seed))),
                ("folds", lambda seed: around["folds"].append(self.tiny_folds(seed))),
                ("busy", lambda seed: around["busy"].append(self.busy_default(default_args, a.busy_loops))),
            ]
        if a.baseline_src:
            paths = [str(a.baseline_src.resolve()), *filter(None, [self.env.get("PYTHONPATH")])]
            base_env = {**self.env, "PYTHONPATH": os.pathsep.join(paths)}
            jobs.insert(1, ("baseline", lambda seed: baseline.append(
                self.seqcast_train("baseline classic", classic_train_args(epochs, seed), base_env))))
        for r in range(a.repeats):
            self.log(f"training repeat {r + 1}/{a.repeats} (seed {r})")
            k = r % len(jobs)  # rotate the order: no job always runs first or after the same one
            for _name, job in jobs[k:] + jobs[:k]:
                job(r)

        self.log("small commands")
        for _ in range(a.small_repeats):
            self.run("seqcast --help", [*self.seqcast, "--help"])
            self.run("seqcast runs", [*self.seqcast, "runs"])
            self.run("seqcast predict-next", [*self.seqcast, "predict-next", classic[-1]["run_id"]])
        predict = self.worker("predict", "--run", classic[-1]["run_id"], "--reps", "3" if a.quick else "7")
        peaks.append(self.worker("peak", *peak_args))
        result = self.report(data, peaks, classic, reference, default, predict, epochs, baseline)
        if not a.no_around:
            result["around"] = self.around_report(around, default, classic, reference, result)
        return result

    # ------------------------------------------------ the work around the training (issue 25)

    def tiny_seeds(self, seed: int) -> dict[str, Any]:
        """`train --seeds 8` of a tiny network: the process's wall time and its runs' summed fit seconds."""
        proc = self.run("train --seeds 8 tiny", [*self.seqcast, "train", "--from", FROM, *TINY, "--seeds", "8",
                                                 "--seed", str(8 * seed), "--json"])
        runs = last_json(proc.stdout)["runs"]
        fits = [json.loads((Path(r["path"]) / "meta.json").read_text())["training"]["seconds"] for r in runs]
        return {"wall": proc.wall, "fit_sum": sum(fits), "n": len(fits), "load": proc.load}

    def tiny_folds(self, seed: int) -> dict[str, Any]:
        """`backtest --folds 8` of a tiny network: wall time and the folds' summed fit seconds."""
        proc = self.run("backtest --folds 8 tiny", [*self.seqcast, "backtest", "--from", FROM, *TINY, "--folds", "8",
                                                    "--seed", str(seed), "--json"])
        out = last_json(proc.stdout)
        return {"wall": proc.wall, "fit_sum": sum(f["seconds"] for f in out["folds"]), "n": len(out["folds"]),
                "workers": out.get("workers"), "load": proc.load}

    def busy_default(self, default_args: list[str], loops: int) -> dict[str, Any]:
        """The default job with `loops` processes spinning on the CPU (started 1 s before, killed after).

        Each loop runs in its own session, as other programs do (another terminal, a browser):
        with the kernel's autogroup scheduling (sched_autogroup_enabled), loops started from the
        benchmark's own session would share that session's CPU share with the training and
        measure the scheduler (benchmarks/README.md); --busy-same-session measures that instead.
        """
        own = not self.args.busy_same_session
        spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=own)
                    for _ in range(loops)]
        try:
            time.sleep(1.0)
            return self.seqcast_train("seqcast default busy", default_args)
        finally:
            for proc in spinners:
                proc.kill()
            for proc in spinners:
                proc.wait()

    def around_report(self, around: dict[str, list[dict[str, Any]]], default: list[dict[str, Any]],
                      classic: list[dict[str, Any]], reference: list[dict[str, Any]],
                      result: dict[str, Any]) -> dict[str, Any]:
        """The issue's figures, each next to its goal, from runs of the same repeats."""
        cores = usable_cores()
        floor = [f["wall"] for f in around["floor"]]
        floor_med = statistics.median(floor)
        # Per repeat: the default process minus its own fit minus that repeat's import floor.
        beyond = [d["wall"] - d["fit_s"] - f for d, f in zip(default, floor, strict=False)]

        def bound(row: dict[str, Any]) -> float:
            return 1.5 * row["fit_sum"] / cores + floor_med + 1.0

        def command(rows: list[dict[str, Any]]) -> dict[str, Any]:
            return {"wall_s": Series([r["wall"] for r in rows]).stats(),
                    "fit_sum_s": Series([r["fit_sum"] for r in rows]).stats(),
                    "bound_s": Series([bound(r) for r in rows]).stats(),
                    "wall_over_bound": Series([r["wall"] / bound(r) for r in rows]).stats(),
                    "load": Series([r["load"] for r in rows if r.get("load") is not None]).stats()}

        busy_idle = [b["fit_s"] / d["fit_s"] for b, d in zip(around["busy"], default, strict=False)]
        peak1 = max(p.get("gflops_1thread", 0.0) for p in result["peaks"])
        c = result["classic"]
        flop = c["gflop"] * 1e9
        return {
            "cores": cores,
            "import_floor_s": Series(floor).stats(),
            "default_beyond_fit_and_floor_s": Series(beyond).stats(),
            "seeds8_tiny": command(around["seeds"]),
            "folds8_tiny": command(around["folds"]),
            "default_busy_fit_s": Series([b["fit_s"] for b in around["busy"]]).stats(),
            "default_busy_threads": [b["threads"] for b in around["busy"]],
            "busy_over_idle_paired": busy_idle,
            "busy_over_idle_of_medians": (statistics.median(b["fit_s"] for b in around["busy"])
                                          / statistics.median(d["fit_s"] for d in default)),
            "busy_loops_own_session": not self.args.busy_same_session,
            "busy_load": Series([p.load for p in self.procs.get("seqcast default busy", []) if p.load]).stats(),
            "peak_gflops_1thread": peak1,
            "classic_share_of_1thread_peak": (flop / statistics.median(r["fit_s"] for r in classic) / 1e9 / peak1
                                              if peak1 else None),
            "reference_share_of_1thread_peak": (flop / statistics.median(r["fit_s"] for r in reference) / 1e9 / peak1
                                                if peak1 and reference else None),
        }

    def reference(self, csv_path: Path, epochs: int, seed: int) -> dict[str, Any]:
        out_path = self.home / "reference.json"
        c = CLASSIC
        cmd = [sys.executable, str(HERE / "reference_loop.py"), "--csv", str(csv_path), "--json-out", str(out_path),
               "--lookback", str(c["lookback"]), "--split", str(c["split"]), "--hidden", str(c["hidden"]),
               "--layers", str(c["layers"]), "--dropout", str(c["dropout"]), "--batch-size", str(c["batch_size"]),
               "--epochs", str(epochs), "--lr", str(c["lr"]), "--seed", str(seed)]
        proc = self.run("reference loop", cmd)
        out = json.loads(out_path.read_text())
        return {"fit_s": out["fit_seconds"], "epochs": out["epochs"], "windows": out["windows"], "test": out["test"],
                "threads": out["threads"], "wall": proc.wall, "maxrss_mb": proc.maxrss_mb}

    # ----------------------------------------------------------------------- report

    def report(self, data, peaks, classic, reference, default, predict, epochs, baseline) -> dict[str, Any]:
        peak = max(p["gflops"] for p in peaks)
        windows = classic[0]["windows"]["train"]
        flop = lstm_flop(windows, epochs, CLASSIC["lookback"], CLASSIC["hidden"], CLASSIC["layers"])

        def col(rows: list[dict], key: str) -> Series:
            s = Series()
            for row in rows:
                s.add(row[key])
            return s

        def test_col(rows: list[dict], key: str) -> Series:
            s = Series()
            for row in rows:
                s.add(row["test"].get(key))
            return s

        c_fit, r_fit = col(classic, "fit_s"), col(reference, "fit_s")
        # Both must fit on the same windows and be scored on the same test targets.
        same_job = not reference or (
            classic[0]["windows"]["train"] == reference[0]["windows"]["train"]
            and classic[0]["windows"]["test"] == reference[0]["windows"]["test"]
            and abs(classic[0]["test"]["naive_rmse"] - reference[0]["test"]["naive_rmse"]) < 1e-9
        )
        if not same_job:
            self.log("WARNING: seqcast and the reference trained or tested on different windows")
        paired = [c["fit_s"] / r["fit_s"] for c, r in zip(classic, reference, strict=False)]
        result: dict[str, Any] = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "machine": machine_info(),
            "removed_env": self.removed_env,
            "data": data,
            "quick": self.args.quick,
            "epochs": epochs,
            "peak_gflops": peak,
            "peaks": peaks,
            "classic": {
                "same_windows_as_reference": same_job,
                "train_windows": windows,
                "test_windows": classic[0]["windows"]["test"],
                "gflop": flop / 1e9,
                "seqcast_fit_s": c_fit.stats(), "reference_fit_s": r_fit.stats(),
                "seqcast_wall_s": col(classic, "wall").stats(), "reference_wall_s": col(reference, "wall").stats(),
                "ratio_of_medians": (median(c_fit.values) / median(r_fit.values)) if r_fit.values else None,
                "paired_ratios": paired, "median_paired_ratio": median(paired),
                "seqcast_windows_per_s": windows * epochs / median(c_fit.values),
                "reference_windows_per_s": (windows * epochs / median(r_fit.values)) if r_fit.values else None,
                "seqcast_peak_fraction": flop / median(c_fit.values) / 1e9 / peak,
                "reference_peak_fraction": (flop / median(r_fit.values) / 1e9 / peak) if r_fit.values else None,
                "seqcast_test_rmse": test_col(classic, "rmse").stats(),
                "reference_test_rmse": test_col(reference, "rmse").stats(),
                "naive_test_rmse": classic[0]["test"]["naive_rmse"],
                "reference_naive_rmse": reference[0]["test"]["naive_rmse"] if reference else None,
                "seqcast_rmse_ratio": test_col(classic, "rmse_ratio").stats(),
                "reference_rmse_ratio": test_col(reference, "rmse_ratio").stats(),
                "threads": {"seqcast": classic[0]["threads"],
                            "reference": reference[0]["threads"] if reference else None},
            },
            "default": {
                "fit_s": col(default, "fit_s").stats(), "wall_s": col(default, "wall").stats(),
                "epochs_run": [d["epochs"] for d in default],
                "test_rmse": test_col(default, "rmse").stats(), "naive_test_rmse": default[0]["test"]["naive_rmse"],
                "rmse_ratio": test_col(default, "rmse_ratio").stats(),
            },
            "predict": predict,
            "baseline": None if not baseline else {
                "src": str(self.args.baseline_src),
                "fit_s": col(baseline, "fit_s").stats(),
                "wall_s": col(baseline, "wall").stats(),
                "test_rmse": test_col(baseline, "rmse").stats(),
                "seqcast_over_baseline": median(c_fit.values) / median(col(baseline, "fit_s").values),
                "paired_ratios": [c["fit_s"] / b["fit_s"] for c, b in zip(classic, baseline, strict=False)],
            },
            "processes": {name: {"wall_s": Series([p.wall for p in procs]).stats(),
                                 "maxrss_mb": Series([p.maxrss_mb for p in procs if p.maxrss_mb is not None]).stats(),
                                 "minflt": Series([p.minflt for p in procs if p.minflt is not None]).stats(),
                                 "user_s": Series([p.user for p in procs if p.user is not None]).stats(),
                                 "sys_s": Series([p.sys for p in procs if p.sys is not None]).stats(),
                                 "runs": [p.summary() for p in procs]}
                          for name, procs in self.procs.items()},
        }
        return result


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpus": os.cpu_count(), "processor": platform.processor()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["processor"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


# --------------------------------------------------------------------------- printing


def fmt_s(st: dict[str, Any], digits: int = 2) -> str:
    if not st.get("n"):
        return "–"
    if st["n"] == 1:
        return f"{st['median']:.{digits}f}"
    return f"{st['median']:.{digits}f} ({st['min']:.{digits}f}–{st['max']:.{digits}f})"


def print_table(res: dict[str, Any]) -> None:
    c, d, p, procs = res["classic"], res["default"], res["predict"], res["processes"]
    rows: list[tuple[str, str]] = []

    def proc_row(label: str, name: str, digits: int = 2) -> None:
        if name not in procs:
            return
        pr = procs[name]
        rows.append((label, f"{fmt_s(pr['wall_s'], digits)} s wall; max RSS {fmt_s(pr['maxrss_mb'], 0)} MB; "
                            f"page faults {fmt_s(pr['minflt'], 0)}"))

    epochs = res["epochs"]
    rows.append(("classic job", f"{c['train_windows']} train / {c['test_windows']} test windows, {epochs} epochs, "
                                f"{c['gflop']:.0f} GFLOP; medians (min–max)"))
    rows.append(("seqcast classic fit", f"{fmt_s(c['seqcast_fit_s'])} s"))
    rows.append(("reference loop fit", f"{fmt_s(c['reference_fit_s'])} s"))
    if c["ratio_of_medians"] is not None:
        paired = ", ".join(f"{r:.2f}" for r in c["paired_ratios"])
        rows.append(("ratio seqcast/reference", f"{c['ratio_of_medians']:.2f} (of medians); paired: {paired}"))
    ref_wps = c["reference_windows_per_s"]
    rows.append(("windows per second", f"seqcast {c['seqcast_windows_per_s']:.0f}; reference "
                                       f"{ref_wps:.0f}" if ref_wps else f"seqcast {c['seqcast_windows_per_s']:.0f}"))
    ref_frac = c["reference_peak_fraction"]
    rows.append(("fraction of matmul peak", f"seqcast {100 * c['seqcast_peak_fraction']:.1f} %; reference "
                 + (f"{100 * ref_frac:.1f} %" if ref_frac else "–")
                 + f" (peak {res['peak_gflops']:.0f} GFLOP/s)"))
    rows.append(("classic test RMSE", f"seqcast {fmt_s(c['seqcast_test_rmse'], 5)}; reference "
                                      f"{fmt_s(c['reference_test_rmse'], 5)}; naive {c['naive_test_rmse']:.5f}"))
    rows.append(("classic RMSE / naive", f"seqcast {fmt_s(c['seqcast_rmse_ratio'], 3)}; reference "
                                         f"{fmt_s(c['reference_rmse_ratio'], 3)}"))
    b = res.get("baseline")
    if b:
        paired = ", ".join(f"{r:.2f}" for r in b["paired_ratios"])
        rows.append(("baseline classic fit", f"{fmt_s(b['fit_s'])} s ({b['src']}); seqcast/baseline "
                                             f"{b['seqcast_over_baseline']:.2f}, paired: {paired}"))
        proc_row("baseline process", "baseline classic")
    proc_row("seqcast classic process", "seqcast classic")
    proc_row("reference process", "reference loop")
    rows.append(("seqcast default fit", f"{fmt_s(d['fit_s'])} s, epochs run {d['epochs_run']}"))
    proc_row("seqcast default process", "seqcast default")
    rows.append(("default test RMSE", f"{fmt_s(d['test_rmse'], 5)}; naive {d['naive_test_rmse']:.5f}; "
                                      f"ratio {fmt_s(d['rmse_ratio'], 4)}"))
    proc_row("seqcast --help", "seqcast --help", 3)
    proc_row("seqcast runs", "seqcast runs", 3)
    proc_row("seqcast predict-next", "seqcast predict-next", 3)
    rows.append(("predict test part", f"{p['test_windows']} windows in one batch: {1000 * p['one_batch_s']:.1f} ms "
                                      f"(first call {1000 * p['one_batch_first_s']:.1f} ms); predict() default "
                                      f"{1000 * p['default_s']:.1f} ms; all {p['all_windows']} windows "
                                      f"{1000 * p['all_windows_s']:.1f} ms"))
    ar = res.get("around")
    if ar:
        def load_of(name: str) -> str:
            ls = [r["load"] for r in procs.get(name, {}).get("runs", []) if r.get("load") is not None]
            return f"load {statistics.median(ls):.1f}" if ls else "load ?"

        def goal(ok: bool) -> str:
            return "met" if ok else "NOT met"

        rows.append(("-- issue 25", "the work around the training (goals in brackets)"))
        rows.append(("import floor", f"{fmt_s(ar['import_floor_s'])} s wall (python -c 'import torch, pandas, "
                                     f"numpy'); {load_of('import floor')}"))
        b = ar["default_beyond_fit_and_floor_s"]
        rows.append(("default train beyond", f"{fmt_s(b)} s = process - its fit - the floor, per repeat "
                                             f"[<= 0.40: {goal(b['median'] <= 0.40)}]; {load_of('seqcast default')}"))
        for key, label, name in (("seeds8_tiny", "train --seeds 8 tiny", "train --seeds 8 tiny"),
                                 ("folds8_tiny", "backtest --folds 8 tiny", "backtest --folds 8 tiny")):
            cmd = ar[key]
            ratio = cmd["wall_over_bound"]
            rows.append((label, f"{fmt_s(cmd['wall_s'])} s wall; fits {fmt_s(cmd['fit_sum_s'])} s; bound 1.5 x "
                                f"fits / {ar['cores']} cores + floor + 1 = {fmt_s(cmd['bound_s'])} s; wall/bound "
                                f"{fmt_s(ratio)} [<= 1: {goal(ratio['median'] <= 1.0)}]; {load_of(name)}"))
        paired = ", ".join(f"{r:.2f}" for r in ar["busy_over_idle_paired"])
        ratio = ar["busy_over_idle_of_medians"]
        where = "own sessions" if ar.get("busy_loops_own_session", True) else "this session"
        rows.append(("default fit, busy", f"{fmt_s(ar['default_busy_fit_s'])} s with 2 busy loops ({where}), threads "
                                          f"{ar['default_busy_threads']}; busy/idle {ratio:.2f} (paired {paired}) "
                                          f"[<= 2.5: {goal(ratio <= 2.5)}]; {load_of('seqcast default busy')}"))
        share, ref_share = ar["classic_share_of_1thread_peak"], ar["reference_share_of_1thread_peak"]
        if share is not None:
            ratio = c["ratio_of_medians"]
            met = share >= 0.60 or (ratio is not None and ratio <= 0.45)
            rows.append(("classic vs 1-thread peak", f"seqcast {100 * share:.0f} %, reference "
                         + (f"{100 * ref_share:.0f} %" if ref_share else "–")
                         + f" of {ar['peak_gflops_1thread']:.0f} GFLOP/s over the whole fit; seqcast/reference "
                         + (f"{ratio:.2f}" if ratio is not None else "–")
                         + f" [>= 60 % or <= 0.45: {goal(met)}]; {load_of('seqcast classic')}"))
    loads = [r["load"] for pr in procs.values() for r in pr["runs"] if r.get("load") is not None]
    if loads:
        rows.append(("load average (1 min)", f"median {statistics.median(loads):.2f}, max {max(loads):.2f} "
                                             f"at process starts; {res['machine']['cpus']} CPUs"))
    width = max(len(k) for k, _ in rows)
    print()
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=None, help="training repeats (default 3; --quick: 1)")
    p.add_argument("--small-repeats", type=int, default=None,
                   help="repeats of --help/runs/predict-next (default 5; --quick: 1)")
    p.add_argument("--quick", action="store_true", help="smoke test: 3 classic epochs, 1 repeat (~1-2 min)")
    p.add_argument("--no-reference", action="store_true", help="skip the reference loop")
    p.add_argument("--no-around", action="store_true",
                   help="skip the import floor, the tiny --seeds 8 / --folds 8 commands and the busy default job")
    p.add_argument("--busy-loops", type=int, default=2, help="spinning processes for the busy default job (2)")
    p.add_argument("--busy-same-session", action="store_true",
                   help="start the busy loops in the benchmark's own session (shares its autogroup CPU share)")
    p.add_argument("--baseline-src", type=Path, help="also time the classic job with seqcast imported from this src/")
    p.add_argument("--json-out", type=Path, default=HERE / "results" / "latest.json")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before a process is killed")
    p.add_argument("--keep-home", action="store_true", help="keep the temporary SEQCAST_HOME")
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--csv", help=argparse.SUPPRESS)
    p.add_argument("--run", help=argparse.SUPPRESS)
    p.add_argument("--reps", type=int, default=7, help=argparse.SUPPRESS)
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048], help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, default=1.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return 0
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.small_repeats is None:
        args.small_repeats = 1 if args.quick else 5
    if args.repeats < 1 or args.small_repeats < 1:
        p.error("--repeats and --small-repeats must be at least 1")

    home = Path(tempfile.mkdtemp(prefix="seqcast-bench-"))
    try:
        res = Bench(args, home).main()
    except Failed as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep_home:
            print(f"kept {home}", file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)
    print_table(res)
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"\nwritten: {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
