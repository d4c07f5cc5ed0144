"""The whole seqcast pipeline from Python: fetch, train two models, compare, plot, forecast.

    python examples/pipeline.py            # uses a temporary workspace, offline

Runs on the bundled ECB EUR/PLN sample, so it needs no network.
"""

from __future__ import annotations

import tempfile

import seqcast
from seqcast import api


def main() -> None:
    home = tempfile.mkdtemp(prefix="seqcast-example-")
    stored = api.fetch("eurpln", source="sample", start="2015-01-01", home=home)
    print(f"fetched {stored.meta['rows']} rows of {stored.symbol}: {stored.meta['first']} .. {stored.meta['last']}")

    # The default: a small LSTM on next-day log-returns, early stopping, shrinkage toward naive.
    default = api.train(home=home).run
    # The course's model: two stacked LSTM(50) layers with dropout on the price level.
    course = api.train(home=home, model="lstm", target="level", layers=2, hidden=50, dropout=0.2,
                       epochs=10, batch_size=32, patience=0, shrink=False).run

    for name, run in (("default", default), ("course", course)):
        test = run.metrics["test"]
        print(f"{name:8s} test RMSE {test['rmse']:.5f}  naive {test['naive_rmse']:.5f}  "
              f"ratio {test['rmse_ratio']:.4f}  -> {run.metrics['verdict']}"
              + ("  [no signal: forecasts = naive]" if run.meta["shrinkage_weight"] == 0
                 else "  [lag: repeats yesterday]" if test["lag_detected"] else ""))

    print("chart:", api.plot(course.run_id, home=home))
    forecast = seqcast.predict_next(default.run_id, horizon=3, home=home)
    for row in forecast.rows:
        print(f"{row['date']}: {row['predicted']:.4f} ({forecast.level:.0%} interval "
              f"{row['lower']:.4f} .. {row['upper']:.4f})")


if __name__ == "__main__":
    main()
