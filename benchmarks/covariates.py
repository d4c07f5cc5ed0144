"""Past covariates: the network against naive and a linear regression on the same inputs.

    python benchmarks/covariates.py --stooq-dir /path/to/stooq/csvs      # 3 seeds per case
    python benchmarks/covariates.py --stooq-dir DIR --seeds 1 --json-out /tmp/cov.json

Target: the bundled ECB EUR/PLN reference rate (fixed about 14:15 CET). Covariates:
stooq daily closes saved as CSV (eurpln_d.csv: the market's EUR/PLN close, hours after
the fixing; eurusd_d.csv: another currency, no information on tomorrow's fixing move).
Every case runs `seqcast train` with its defaults (plus --covariate) through the Python
API in a temporary workspace, one torch thread, seeds 0..N-1; it reports the test
RMSE / naive (mean and range over seeds), the Diebold-Mariano p-value of the first
seed, and the ratio of the least-squares regression on the same inputs
(baselines.linear_forecast: the last 5 rows of every input, fitted on the training part).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

FROM = "2010-01-01"


def cases(stooq: Path) -> list[tuple[str, dict, list[tuple[str, Path]]]]:
    """(label, train options, covariate CSVs to fetch as (symbol, path))."""
    eurpln, eurusd = stooq / "eurpln_d.csv", stooq / "eurusd_d.csv"
    return [
        ("ECB EUR/PLN, no covariate (to 2024-02-14)", {"end": "2024-02-14"}, []),
        ("ECB EUR/PLN + stooq EUR/PLN close", {"covariates": ["eurpln:csv"]}, [("eurpln", eurpln)]),
        ("ECB EUR/PLN, no covariate (to 2022-03-18)", {"end": "2022-03-18"}, []),
        ("ECB EUR/PLN + stooq EUR/USD close", {"covariates": ["eurusd:csv"]}, [("eurusd", eurusd)]),
        ("ECB EUR/PLN, no covariate (all, from 2010)", {}, []),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stooq-dir", type=Path, required=True, help="folder with eurpln_d.csv and eurusd_d.csv")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--json-out", type=Path)
    args = p.parse_args(argv)

    import torch

    from seqcast import api

    torch.set_num_threads(1)
    home = Path(tempfile.mkdtemp(prefix="seqcast-cov-bench-"))
    api.fetch("eurpln", source="sample", home=home)
    results = []
    for label, options, covs in cases(args.stooq_dir):
        for symbol, path in covs:
            api.fetch(symbol, csv=path, home=home)
        runs = [api.train(symbol="eurpln", source="sample", start=FROM, seed=seed, threads=1, home=home,
                          **options).run for seed in range(args.seeds)]
        tests = [r.metrics["test"] for r in runs]
        ratios = [t["rmse_ratio"] for t in tests]
        row = {
            "case": label, "rows": runs[0].meta["data"]["rows"],
            "test_first": runs[0].meta["split"]["test_first"], "test_days": tests[0]["n"],
            "ratio_mean": statistics.fmean(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "dm_pvalue": tests[0]["dm_pvalue"], "linear_ratio": tests[0]["linear_rmse_ratio"],
            "shrink": [r.meta["shrinkage_weight"] for r in runs],
        }
        results.append(row)
        print(f"{label}: ratio {row['ratio_mean']:.4f} ({row['ratio_min']:.4f}-{row['ratio_max']:.4f}), "
              f"DM p {row['dm_pvalue']:.2g}, linear {row['linear_ratio']:.4f}", file=sys.stderr)

    print(f"| case | test days | seqcast RMSE / naive (seeds 0-{args.seeds - 1}) | DM p | "
          "linear regression, same inputs |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['case']} | {r['test_days']} from {r['test_first']} | {r['ratio_mean']:.4f} "
              f"({r['ratio_min']:.4f}–{r['ratio_max']:.4f}) | {r['dm_pvalue']:.2g} | {r['linear_ratio']:.4f} |")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
