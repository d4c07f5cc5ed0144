"""seqcast's classic job against the same job in Keras, side by side in one run.

    python benchmarks/keras_compare.py --keras-python /tmp/kvenv/bin/python
    python benchmarks/keras_compare.py --keras-python /tmp/kvenv/bin/python --repeats 5 --epochs 25

TensorFlow is never a seqcast dependency: install it in a separate virtual environment
(`python3 -m venv /tmp/kvenv && /tmp/kvenv/bin/pip install tensorflow-cpu`) and pass its
interpreter. The Keras side is the course's model written the way the course writes it:
LSTM(50, return_sequences=True) -> Dropout(0.2) -> LSTM(50) -> Dropout(0.2) -> Dense(1),
Adam 1e-3, MSE, batch 32, shuffled, 25 epochs, no validation and no early stopping, on the
same windows as bench.py's reference loop (MinMax scaling fitted on the training part,
windows of 60 days whose target lies in the training part; the bundled EUR/PLN sample from
2015-01-01). seqcast runs `seqcast train` with bench.py's classic-job options
(`--val-fraction 0 --patience 0`: the same 2,060 training windows, the same 909 test days).

Every timed thing is its own process in a temporary SEQCAST_HOME. Repeats are interleaved
(and the order rotated), first with one thread on both sides (`--threads 1`;
OMP_NUM_THREADS=1 and TensorFlow's intra- and inter-op pools set to 1), then with each
library's default threads (OMP_NUM_THREADS removed from the environment). Fit seconds are
timed inside each process around the training loop only (Keras: `model.fit`; seqcast: the
`training.seconds` it records). Prints medians (min-max) and the ratio seqcast / Keras.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402  (stdlib only at import time: safe in the Keras venv too)


def keras_worker(args: argparse.Namespace) -> dict[str, Any]:
    """The classic job in Keras (runs in the TensorFlow venv; imports nothing from seqcast)."""
    import math

    import numpy as np

    if args.threads == 1:
        os.environ["OMP_NUM_THREADS"] = "1"
    import tensorflow as tf

    if args.threads == 1:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    keras.utils.set_random_seed(args.seed)
    c = bench.CLASSIC
    values = np.array([float(line.split(",")[1]) for line in Path(args.csv).read_text().splitlines()[1:]])
    n = len(values)
    n_train = math.floor(c["split"] * n)
    low, high = values[:n_train].min(), values[:n_train].max()  # MinMaxScaler fitted on train
    scaled = ((values - low) / (high - low)).astype(np.float32)
    lb = c["lookback"]
    x_all = np.stack([scaled[t - lb: t] for t in range(lb, n)])[:, :, None]
    y_all = scaled[lb:]
    n_fit = n_train - lb
    x_train, y_train, x_test = x_all[:n_fit], y_all[:n_fit], x_all[n_fit:]

    h, d = c["hidden"], c["dropout"]
    model = keras.Sequential([
        keras.Input(shape=(lb, 1)),
        keras.layers.LSTM(h, return_sequences=True), keras.layers.Dropout(d),
        keras.layers.LSTM(h), keras.layers.Dropout(d),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=c["lr"]), loss="mse")
    started = time.perf_counter()
    model.fit(x_train, y_train, batch_size=c["batch_size"], epochs=args.epochs, shuffle=True, verbose=0)
    fit_seconds = time.perf_counter() - started
    pred = model.predict(x_test, batch_size=1024, verbose=0)[:, 0].astype(np.float64) * (high - low) + low
    actual, previous = values[n_train:], values[n_train - 1: n - 1]
    rmse = float(np.sqrt(np.mean((pred - actual) ** 2)))
    naive = float(np.sqrt(np.mean((previous - actual) ** 2)))
    return {"fit_s": fit_seconds, "windows": {"train": int(n_fit), "test": len(x_test)},
            "test": {"rmse": rmse, "naive_rmse": naive, "rmse_ratio": rmse / naive},
            "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                        "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
            "tensorflow": tf.__version__, "keras": keras.__version__}


def env_for(base: dict[str, str], threads: int | None) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if threads == 1:
        env["OMP_NUM_THREADS"] = "1"
    return env


def stats(values: list[float]) -> str:
    if not values:
        return "–"
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keras-python", default="/tmp/kvenv/bin/python", help="an interpreter with tensorflow")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=bench.CLASSIC["epochs"])
    p.add_argument("--threads", choices=["1", "default", "both"], default="both")
    p.add_argument("--json-out", type=Path, default=HERE / "results" / "keras.json")
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--keras-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--csv", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--worker-threads", dest="worker_threads", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.keras_worker:
        args.threads = args.worker_threads
        print(json.dumps(keras_worker(args)))
        return 0

    home = Path(tempfile.mkdtemp(prefix="seqcast-keras-"))
    try:
        b = bench.Bench(argparse.Namespace(timeout=args.timeout), home)
        b.run("fetch", [*b.seqcast, "fetch", "eurpln", "--source", "sample"])
        csv_path = home / "closes.csv"
        data = b.worker("export", "--csv", str(csv_path))
        settings = {"1": [1], "default": [None], "both": [1, None]}[args.threads]
        rows: dict[str, dict[str, list[dict[str, Any]]]] = {}
        loads: list[float] = []
        for threads in settings:
            label = "1 thread" if threads == 1 else "default threads"
            env = env_for(b.env, threads)
            seq, ker = rows.setdefault(label, {"seqcast": [], "keras": []}).values()
            for r in range(args.repeats):
                b.log(f"{label}: repeat {r + 1}/{args.repeats} (seed {r})")
                loads.append(os.getloadavg()[0])

                def run_seqcast(r: int = r, env: dict[str, str] = env, threads: int | None = threads,
                                seq: list = seq) -> None:
                    extra = ["--threads", "1"] if threads == 1 else []
                    seq.append(b.seqcast_train("seqcast classic", [*bench.classic_train_args(args.epochs, r), *extra],
                                               env))

                def run_keras(r: int = r, env: dict[str, str] = env, threads: int | None = threads,
                              ker: list = ker) -> None:
                    cmd = [args.keras_python, str(Path(__file__).resolve()), "--keras-worker", "--csv", str(csv_path),
                           "--seed", str(r), "--epochs", str(args.epochs), "--worker-threads", str(threads or 0)]
                    proc = b.run("keras classic", cmd, env)
                    out = bench.last_json(proc.stdout)
                    out["wall"] = proc.wall
                    ker.append(out)

                for job in ([run_seqcast, run_keras] if r % 2 == 0 else [run_keras, run_seqcast]):
                    job()
        loads.append(os.getloadavg()[0])
    except bench.Failed as exc:
        print(f"keras_compare: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(home, ignore_errors=True)

    first = next(iter(rows.values()))
    s0, k0 = first["seqcast"][0], first["keras"][0]
    same = (all(s0["windows"][k] == k0["windows"][k] for k in ("train", "test"))
            and abs(s0["test"]["naive_rmse"] - k0["test"]["naive_rmse"]) < 1e-9)
    print(f"classic job: LSTM(50)x2, window 60, batch 32, {args.epochs} epochs, EUR/PLN sample from "
          f"{data['first']} ({s0['windows']['train']} train / {s0['windows']['test']} test windows"
          f"{'' if same else '; WARNING: seqcast and Keras used different windows'}); {args.repeats} repeats, "
          f"load average {min(loads):.1f}–{max(loads):.1f}; tensorflow {k0['tensorflow']}, keras {k0['keras']}")
    print("| threads | seqcast fit s | Keras fit s | seqcast / Keras (medians) | paired ratios | "
          "test RMSE / naive: seqcast, Keras |")
    print("|---|---|---|---|---|---|")
    result: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "epochs": args.epochs,
                              "repeats": args.repeats, "loadavg": loads, "data": data, "same_windows": same,
                              "rows": rows}
    for label, pair in rows.items():
        sf = [x["fit_s"] for x in pair["seqcast"]]
        kf = [x["fit_s"] for x in pair["keras"]]
        paired = [s / k for s, k in zip(sf, kf, strict=True)]
        ratio = statistics.median(sf) / statistics.median(kf)
        sr = statistics.median(x["test"]["rmse_ratio"] for x in pair["seqcast"])
        kr = statistics.median(x["test"]["rmse_ratio"] for x in pair["keras"])
        used = pair["seqcast"][0].get("threads")
        print(f"| {label} (seqcast used {used}) | {stats(sf)} | {stats(kf)} | {ratio:.3f} | "
              f"{', '.join(f'{x:.3f}' for x in paired)} | {sr:.4f}, {kr:.4f} |")
        result.setdefault("ratios", {})[label] = {"ratio_of_medians": ratio, "paired": paired}
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
