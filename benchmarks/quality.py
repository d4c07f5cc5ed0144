"""Interval quality of seqcast's default run against a GARCH(1,1) band, on real series.

    python benchmarks/quality.py                          # the bundled sample and the garch oracle series
    python benchmarks/quality.py ~/data/*.csv --from 2015-01-01 --json-out /tmp/quality.json

Needs the `arch` package (pip install arch, or seqcast's `bench` extra): the reference
is arch's GARCH(1,1) with normal errors and zero mean, fitted by maximum likelihood on
each series' training part only and filtered through the test part with those
parameters; its 90 % band is naive forecast ± 1.645 sigma. seqcast's band is what
`seqcast train` saves with default options (one seed, one torch thread).

For each series the table prints the mean interval score (Gneiting & Raftery 2007:
width + 20 x the miss distance at 90 %, in price units) of both, their ratio with a
Diebold-Mariano p-value of the daily score differences, and the test coverage of both
overall and in each third of test days sorted by recent volatility (the RMS of the 20
daily moves before the day). CSV files may use any format `seqcast fetch --csv`
reads. Third-party data is never stored: pass the files' paths.

The oracle rows: seqcast's `garch` synthetic series (GARCH(1,1), 3,000 days, known parameters;
--oracle-seeds of them), where the best possible band is the naive forecast ± 1.645 x the true
volatility; "oracle" is seqcast's score over that band's (goal: within 1 %). Where the run's
metrics hold coverage backtests (Kupiec, Christoffersen: keys with those names), they are printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import math
import sys
import warnings
from datetime import date
from importlib import resources
from pathlib import Path

import numpy as np

from seqcast.config import RunConfig, TrainConfig
from seqcast.data.series import between, parse_price_csv, read_price_csv
from seqcast.forecast.evaluation import fit_evaluate
from seqcast.forecast.intervals import interval_bounds, local_scale
from seqcast.forecast.stats import diebold_mariano, interval_scores, normal_ppf
from seqcast.forecast.volatility import moves


def load(path: str, start: date | None) -> tuple[str, np.ndarray, np.ndarray | None]:
    if path.startswith("garch:"):
        frame = None
    elif path == "sample":
        raw = resources.files("seqcast.data").joinpath("eurpln_ecb.csv.gz").read_bytes()
        frame = parse_price_csv(gzip.decompress(raw), origin="sample")
    else:
        frame = read_price_csv(path)
    if path.startswith("garch:"):  # the oracle series: garch:SEED
        from seqcast.data.sources.synthetic import SyntheticSpec, garch_volatility, generate

        spec = SyntheticSpec("garch", length=3000, seed=int(path.split(":")[1]))
        return f"garch seed {spec.seed}", generate(spec)["Close"].to_numpy(dtype=np.float64), garch_volatility(spec)
    frame = between(frame, start, None)
    name = "sample eurpln" if path == "sample" else Path(path).stem
    return name, frame["Close"].to_numpy(dtype=np.float64), None


def garch_band(values: np.ndarray, positions: np.ndarray, n_train: int, previous: np.ndarray, relative: bool,
               coverage: float) -> tuple[np.ndarray, np.ndarray]:
    """arch's GARCH(1,1)-normal band around the naive forecast, parameters from the training part."""
    from arch import arch_model

    eps = 100 * moves(values, relative)  # arch prefers moves of order 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = arch_model(eps[: n_train - 1], mean="Zero", vol="GARCH", p=1, q=1, dist="normal").fit(disp="off")
        sigma = arch_model(eps, mean="Zero", vol="GARCH", p=1, q=1, dist="normal").fix(
            fitted.params).conditional_volatility / 100
    half = normal_ppf(0.5 + coverage / 2) * sigma[positions - 1]  # sigma of the move into each day
    return interval_bounds(previous, half, relative)


def thirds(inside: np.ndarray, recent: np.ndarray) -> list[float]:
    return [float(np.mean(inside[d])) for d in np.array_split(np.argsort(recent, kind="stable"), 3)]


def evaluate(path: str, start: date | None, seed: int, epochs: int | None = None) -> dict:
    name, values, true_sd = load(path, start)
    train = TrainConfig(seed=seed, threads=1, device="cpu")
    cfg = RunConfig(train=train if epochs is None else dataclasses.replace(train, epochs=epochs))
    fitted = fit_evaluate(values, cfg)
    ds, t = fitted.ds, fitted.ds.test
    level = cfg.train.level
    actual = ds.actual[t]
    lo, hi = fitted.lower[t], fitted.upper[t]
    rlo, rhi = garch_band(values, ds.positions[t], ds.n_train, ds.previous[t], fitted.relative, level)
    ours, ref = interval_scores(actual, lo, hi, level), interval_scores(actual, rlo, rhi, level)
    recent = local_scale(values, ds.positions[t], fitted.relative)
    inside, ref_inside = (actual >= lo) & (actual <= hi), (actual >= rlo) & (actual <= rhi)
    oracle = math.nan
    if true_sd is not None:  # the best band there is: the true volatility around the naive forecast
        olo, ohi = interval_bounds(ds.previous[t], normal_ppf(0.5 + level / 2) * true_sd[ds.positions[t]], True)
        oracle = float(ours.mean() / interval_scores(actual, olo, ohi, level).mean())
    test = fitted.report["test"]
    backtests = {k: v for k, v in test.items() if ("kupiec" in k or "christoffersen" in k) and "pvalue" in k}
    return {
        "oracle_ratio": oracle, "backtests": backtests,
        "app_garch_ratio": test.get("interval_score_ratio"), "garch_skipped": test.get("garch_skipped"),
        "series": name, "rows": len(values), "test_days": len(actual),
        "score": float(ours.mean()), "garch_score": float(ref.mean()), "ratio": float(ours.mean() / ref.mean()),
        "dm_pvalue": diebold_mariano(ours, ref, h=1, power=1)[1],
        "coverage": float(inside.mean()), "thirds": thirds(inside, recent),
        "garch_coverage": float(ref_inside.mean()), "garch_thirds": thirds(ref_inside, recent),
        "rmse_ratio": fitted.report["test"]["rmse_ratio"], "shrink": fitted.shrinkage_weight,
        "volatility": [p.to_dict() for p in fitted.vol] if fitted.vol else None,
    }


def print_table(rows: list[dict]) -> None:
    def pct(x: float) -> str:
        return f"{100 * x:.1f}"

    head = (f"{'series':<16} {'test':>5} {'score':>10} {'GARCH':>10} {'ratio':>6} {'DM p':>8}  "
            f"{'coverage: seqcast (calm/mid/wild)':<34} {'GARCH(1,1) (calm/mid/wild)':<27} {'RMSE/naive':>10} "
            f"{'oracle':>7}  backtests p")
    print(head)
    for r in rows:
        p = r["dm_pvalue"]
        print(f"{r['series']:<16} {r['test_days']:>5} {r['score']:>10.4g} {r['garch_score']:>10.4g} "
              f"{r['ratio']:>6.3f} {('n/a' if math.isnan(p) else f'{p:.2g}'):>8}  "
              f"{pct(r['coverage']) + ' (' + '/'.join(pct(x) for x in r['thirds']) + ')':<34} "
              f"{pct(r['garch_coverage']) + ' (' + '/'.join(pct(x) for x in r['garch_thirds']) + ')':<27} "
              f"{r['rmse_ratio']:>10.4f} "
              f"{('' if math.isnan(r['oracle_ratio']) else format(r['oracle_ratio'], '.4f')):>7}  "
              + " ".join(f"{k.replace('_pvalue', '')} {v:.2g}" for k, v in r["backtests"].items()))
    oracle = [r for r in rows if not math.isnan(r["oracle_ratio"])]
    rows = [r for r in rows if math.isnan(r["oracle_ratio"])]
    if oracle:
        within = sum(r["oracle_ratio"] <= 1.01 for r in oracle)
        print(f"garch oracle series: seqcast's score within 1 % of the true-volatility band's on {within} of "
              f"{len(oracle)} (mean ratio {np.mean([r['oracle_ratio'] for r in oracle]):.4f}; coverage "
              + ", ".join(f"{r['coverage']:.3f}" for r in oracle) + ")")
    n = len(rows)
    if not n:
        return
    wins = sum(r["ratio"] <= 1 for r in rows)
    sig_wins = sum(r["ratio"] < 1 and r["dm_pvalue"] < 0.05 for r in rows)
    sig_losses = sum(r["ratio"] > 1 and r["dm_pvalue"] < 0.05 for r in rows)
    in_range = sum(0.88 <= r["coverage"] <= 0.92 for r in rows)
    thirds_ok = sum(all(0.85 <= x <= 0.95 for x in r["thirds"]) for r in rows)
    garch_in_range = sum(0.88 <= r["garch_coverage"] <= 0.92 for r in rows)
    print(f"seqcast's interval score <= GARCH(1,1)'s on {wins} of {n} series (significantly lower on {sig_wins}, "
          f"significantly higher on {sig_losses}; Diebold-Mariano p < 0.05); mean ratio "
          f"{np.mean([r['ratio'] for r in rows]):.4f}")
    print(f"coverage in [88, 92] %: seqcast {in_range} of {n}, GARCH(1,1) {garch_in_range} of {n}; "
          f"every volatility third in [85, 95] %: seqcast {thirds_ok} of {n}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="*", help="price CSV files (any format seqcast fetch --csv reads)")
    parser.add_argument("--from", dest="start", default="2005-01-01", help="first date used (default 2005-01-01)")
    parser.add_argument("--no-sample", action="store_true", help="leave out the bundled EUR/PLN sample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="fewer epochs for a quick look (default: seqcast's)")
    parser.add_argument("--oracle-seeds", type=int, default=3, help="garch oracle series (0: none)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    try:
        import arch  # noqa: F401
    except ImportError:
        sys.exit("benchmarks/quality.py needs the arch package: pip install arch")
    start = date.fromisoformat(args.start) if args.start else None
    paths = ([] if args.no_sample else ["sample"]) + args.csv + [f"garch:{i}" for i in range(args.oracle_seeds)]
    rows = []
    for path in paths:
        rows.append(evaluate(path, start, args.seed, args.epochs))
        print(f"  {rows[-1]['series']}: ratio {rows[-1]['ratio']:.4f}", file=sys.stderr, flush=True)
    print(f"90 % intervals on the test part (split 0.7, default options, seed {args.seed}, data from {args.start}; "
          "the garch series: 3,000 synthetic days)")
    print_table(rows)
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
