"""The report a person hands in: one self-contained HTML file (or Markdown with charts beside it).

A report is built once as a list of sections made of simple blocks (paragraphs, tables,
key-value lists, figures) and then rendered as HTML or Markdown, so both say the same.
The HTML references nothing outside itself: charts are inline base64 PNGs, the style sheet
is in the page, there are no scripts, fonts or links except to anchors in the page.

Metrics are read with .get and rendered generically: any numeric key in metrics.json shows
up in the metrics table (with a known label when there is one), so metrics added later
(interval score, MASE, Pesaran–Timmermann, ...) appear without a change here.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast.reports.blocks import Callout, Chart, Code, Columns, Document, KeyValues, Link, Section, Table
from seqcast.reports.findings import backtest_findings, calendar_sentence, run_findings

if TYPE_CHECKING:

    from seqcast.runs.predict_next import Forecast
    from seqcast.runs.records import BacktestRecord
    from seqcast.runs.registry import Run

# Known metric keys: label (the terminal table's where it has the row), and a factor for display
# (shares shown as percent).
METRIC_LABELS: dict[str, tuple[str, float]] = {
    "n": ("days", 1),
    "rmse": ("RMSE", 1),
    "mae": ("MAE", 1),
    "mape": ("MAPE %", 1),
    "mase": ("MASE", 1),
    "directional_accuracy": ("direction %", 100),
    "rmse_ratio": ("RMSE / naive", 1),
    "mae_ratio": ("MAE / naive", 1),
    "dm_stat": ("Diebold–Mariano statistic (vs naive)", 1),
    "dm_pvalue": ("Diebold–Mariano p (vs naive)", 1),
    "majority_direction_accuracy": ("always the majority direction %", 100),
    "pt_stat": ("Pesaran–Timmermann statistic", 1),
    "pt_pvalue": ("Pesaran–Timmermann p (direction, one-sided)", 1),
    "linear_rmse": ("linear regression RMSE", 1),
    "linear_rmse_ratio": ("linear regression RMSE / naive", 1),
    "lag_ratio": ("lag ratio (below 1: closer to yesterday than to today)", 1),
    "lag_spread": ("distance from yesterday, in day-to-day moves", 1),
    "lag_detected": ("lag detected", 1),
    "interval_level": ("interval level %", 100),
    "interval_coverage": ("interval coverage %", 100),
    "interval_coverage_calm": ("coverage in the calm third %", 100),
    "interval_coverage_mid": ("coverage in the middle third %", 100),
    "interval_coverage_wild": ("coverage in the wild third %", 100),
    "interval_miss_rate": ("interval misses %", 100),
    "interval_miss_after_miss": ("misses on the day after a miss %", 100),
    "kupiec_pvalue": ("Kupiec p (miss rate as expected)", 1),
    "christoffersen_ind_pvalue": ("Christoffersen p (misses not clustered)", 1),
    "christoffersen_cc_pvalue": ("Christoffersen p (conditional coverage)", 1),
    "interval_score": ("interval score (lower is better)", 1),
    "interval_width": ("mean interval width", 1),
    "garch_interval_score": ("GARCH(1,1) band's interval score", 1),
    "garch_interval_coverage": ("GARCH(1,1) band's coverage %", 100),
    "interval_score_ratio": ("interval score / GARCH(1,1)'s", 1),
    "interval_score_dm_pvalue": ("Diebold–Mariano p (interval score vs GARCH(1,1))", 1),
    "garch_skipped": ("GARCH(1,1) comparison skipped", 1),
}
HIDDEN_METRICS = frozenset({"da_pvalue"})
"""Recorded but not shown: the binomial test of the direction against 50 %, which calls "always up"
skill in a trending market (the findings test the direction with Pesaran–Timmermann)."""

PARTS = ("train", "val", "test")


def fmt_number(value: Any, digits: int = 5) -> str:
    """A number for people: n/a for missing or NaN, 5 significant digits, ints as ints."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.{digits}g}"
    return str(value)


def _label(key: str) -> tuple[str, float]:
    if key in METRIC_LABELS:
        return METRIC_LABELS[key]
    return key.replace("_", " "), 1


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Scalars of a dict, nested dicts flattened one level per dot ("coverage_by_vol.low")."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, (int, float, bool, str)) or value is None:
            out[name] = value
        elif isinstance(value, list) and all(isinstance(v, (int, float, str)) for v in value):
            out[name] = ", ".join(fmt_number(v) for v in value)
    return out


def _display(key: str, value: Any) -> str:
    leaf = key.rsplit(".", 1)[-1]
    factor = _label(key)[1] if key in METRIC_LABELS else _label(leaf)[1] if leaf in METRIC_LABELS else 1
    if isinstance(value, (int, float)) and not isinstance(value, bool) and factor != 1:
        return fmt_number(value * factor, 4)
    return fmt_number(value)


def metrics_table(parts: dict[str, dict[str, Any]]) -> Table:
    """Every metric of every part, model next to naive where a naive_<key> exists.

    parts: {"train": {...}, "test": {...}} (any names, in display order); unknown numeric keys
    are shown with their own name, so new metrics appear without a change here.
    """
    flat = {name: _flatten(values) for name, values in parts.items() if isinstance(values, dict)}
    keys: list[str] = []
    for values in flat.values():
        for key in values:
            if key not in keys and not key.startswith("naive_") and key not in HIDDEN_METRICS:
                keys.append(key)
    order = {k: i for i, k in enumerate(METRIC_LABELS)}
    seen = {k: i for i, k in enumerate(keys)}
    keys.sort(key=lambda k: (order.get(k, len(order)), seen[k]))
    has_naive = {name: any(k.startswith("naive_") for k in values) for name, values in flat.items()}
    headers = ["metric"]
    for name in flat:
        headers.append(f"{name} model" if has_naive[name] else name)
        if has_naive[name]:
            headers.append(f"{name} naive")
    rows = []
    for key in keys:
        row = [_label(key)[0]]
        for name, values in flat.items():
            row.append(_display(key, values.get(key)) if key in values else "")
            if has_naive[name]:
                naive = f"naive_{key}"
                row.append(_display(key, values[naive]) if naive in values else "")
        rows.append(row)
    return Table(headers, rows)


def _kv(mapping: dict[str, Any]) -> KeyValues:
    return KeyValues([(k, fmt_number(v)) for k, v in _flatten(mapping).items()])


def _size(path: Path) -> str:
    try:
        n = float(path.stat().st_size)
    except OSError:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("seqcast")
    except PackageNotFoundError:
        return "(not installed)"


def _generated() -> str:
    return f"generated {time.strftime('%Y-%m-%d %H:%M %Z')} by seqcast {_version()}"


# --------------------------------------------------------------------------- run report


def run_document(run: Run, *, forecast: Forecast | None = None, store_meta: dict[str, Any] | None = None,
                 report_path: Path | None = None) -> Document:
    """The sections of a training run's report."""
    meta, cfg = run.meta, run.config
    symbol = str(meta.get("symbol", "?"))
    sections = [_what_section(run, symbol, store_meta), _split_section(run), _result_section(run),
                _metrics_section(run), _charts_section(run)]
    if forecast is not None:
        sections.append(forecast_section(forecast))
    sections.append(_configuration_section(run))
    sections.append(_files_section(run, report_path))
    title = f"{symbol.upper()} · {cfg.model.kind.upper()} next-day forecast"
    subtitle = f"run {run.run_id} · {_generated()}"
    return Document(title, subtitle, sections)


def _what_section(run: Run, symbol: str, store_meta: dict[str, Any] | None) -> Section:
    """What was forecast: symbol, source, inputs, target, data range, calendar, fingerprint."""
    from seqcast.reports.charts import unit_label

    meta, cfg = run.meta, run.config
    data = meta.get("data", {})
    what = Section("What was forecast")
    items = [("symbol", symbol), ("source", str(meta.get("source", "?"))), ("unit", unit_label(symbol))]
    if store_meta:
        for key in ("provider", "derived"):
            if store_meta.get(key):
                items.append((key, str(store_meta[key])))
        if isinstance(store_meta.get("generator"), dict):
            items.append(("generator", ", ".join(f"{k} {fmt_number(v)}" for k, v in store_meta["generator"].items())))
    records = meta.get("inputs")
    if isinstance(records, list) and records:  # seqcast.inputs.covariates.input_records: one per input
        names = [str(r.get("name", r)) if isinstance(r, dict) else str(r) for r in records]
    else:
        names = ["Close (the series' own past only)"]
    items.append(("inputs", ", ".join(names)))
    items.append(("target", {"logret": "the next day's log-return", "change": "the next day's change",
                             "level": "the next day's price level"}.get(cfg.data.target, cfg.data.target)))
    items.append(("data", f"{data.get('first', '?')} .. {data.get('last', '?')}, {data.get('rows', '?')} rows"))
    if meta.get("calendar") is not None:
        items.append(("calendar", calendar_sentence(meta["calendar"])))
    items.append(("data fingerprint", str(data.get("fingerprint", "n/a"))))
    what.blocks.append(KeyValues(items))
    return what


def _split_section(run: Run) -> Section:
    """The chronological split: dates and window counts per part, where scaling was fitted."""
    meta, cfg = run.meta, run.config
    data, split = meta.get("data", {}), meta.get("split", {})
    windows = split.get("windows", {})
    sp = Section("The split (chronological)")
    rows = [
        ["training part", f"{split.get('train_first', '?')} .. {split.get('train_last', '?')}",
         fmt_number(_add(windows.get("train"), windows.get("val")))],
        ["of which validation tail", f"{split.get('val_first')} .. {split.get('train_last')}"
         if split.get("val_first") else "none", fmt_number(windows.get("val"))],
        ["test part", f"{split.get('test_first', '?')} .. {data.get('last', '?')}", fmt_number(windows.get("test"))],
    ]
    sp.blocks.append(Table(["part", "dates", "forecast days (windows)"], rows))
    fitted = split.get("scaler_fitted_on")
    sp.p(f"Split {cfg.data.split:g} of the rows for training; lookback {cfg.data.lookback} days. "
         + (f"Scaling statistics were fitted on {fitted[0]} .. {fitted[1]} only. " if fitted else "")
         + "The test part was never seen during training or model selection.")
    return sp


def _result_section(run: Run) -> Section:
    """The run's findings, word for word as `seqcast train` prints them: the verdict first."""
    verdict, *rest = run_findings(run.metrics, run.meta)
    result = Section("Result")
    result.blocks.append(Callout(verdict.text, _callout_tone(verdict.tone)))
    result.blocks.extend(f.text for f in rest)
    result.p(P_VALUE_NOTE)
    return result


def _metrics_section(run: Run) -> Section:
    """The metrics table per part, model next to naive, and any other recorded measures."""
    metrics = run.metrics
    other = {k: v for k, v in metrics.items() if k not in (*PARTS, "verdict")}
    table = Section("Metrics, model next to naive")
    table.blocks.append(metrics_table({p: metrics[p] for p in PARTS if isinstance(metrics.get(p), dict)}))
    if other:
        table.p("Other measures recorded with the run:")
        table.blocks.append(_kv(other))
    return table


def _charts_section(run: Run) -> Section:
    """The run's chart and a sentence on how training went."""
    from seqcast.reports.charts import run_figure

    training = run.meta.get("training", {})
    charts = Section("Charts")
    charts.blocks.append(Chart("chart", run_figure(run),
                                 "train part, test part with naive forecast and interval band, loss curves"))
    stop = ("interrupted (Ctrl-C); the best weights were kept" if training.get("interrupted")
            else "stopped early" if training.get("stopped_early") else "ran every epoch")
    charts.p(f"Training: {training.get('epochs_run', '?')} epochs, best epoch {training.get('best_epoch', '?')}, "
             f"{stop}, {fmt_number(training.get('seconds'), 3)} s on {training.get('device', '?')}.")
    return charts


def _configuration_section(run: Run) -> Section:
    """The run's configuration and the command that reproduces it."""
    conf = Section("Configuration")
    conf.blocks.append(_config_columns(run.config.to_dict()))
    conf.p("Reproduce (with the same stored data):")
    conf.blocks.append(Code(reproduce_command(run.config.to_dict())))
    return conf


def _files_section(run: Run, report_path: Path | None) -> Section:
    """The files in the run folder, with their sizes."""
    files = Section("Files")
    if not run.path.is_dir():  # a run in memory (seqcast.fit): nothing on disk yet
        files.p("Not saved: the run lives in Python; Fitted.save() stores it as a run in a workspace.")
        if report_path is not None:
            files.p(f"This report: {report_path}")
        return files
    listing = [[p.name, _size(p)] for p in sorted(run.path.iterdir()) if p.is_file()]
    files.p(f"Run folder: {run.path}")
    files.blocks.append(Table(["file", "size"], listing))
    if report_path is not None:
        files.p(f"This report: {report_path}")
    return files


P_VALUE_NOTE = "A p-value below 0.05 means the difference is unlikely to be luck."


def _callout_tone(tone: str) -> str:
    return tone if tone in ("good", "bad") else "neutral"


def _config_columns(config: dict[str, Any]) -> Columns:
    return Columns([(name, KeyValues([(k, "—" if v is None else fmt_number(v)) for k, v in _flatten(part).items()]))
                    for name, part in config.items() if isinstance(part, dict)])


def _add(a: Any, b: Any) -> Any:
    return a + (b or 0) if isinstance(a, int) else a


def forecast_section(fc: Forecast) -> Section:
    sec = Section("Next-day forecast")
    sec.p(f"{fc.symbol} last close {fmt_number(fc.last_close, 6)} on {fc.last_date}.")
    rows = [[r["date"], fmt_number(r["predicted"], 6),
             "n/a" if math.isnan(r["lower"]) else f"{fmt_number(r['lower'], 6)} .. {fmt_number(r['upper'], 6)}",
             f"{r['change_pct']:+.3f}"] for r in fc.rows]
    sec.blocks.append(Table(["date", "forecast", f"{fc.level:.0%} interval", "change %"], rows))
    for note in fc.notes:
        sec.p(f"Note: {note}")
    sec.p("A forecast is a statistical estimate, not advice.")
    return sec


def reproduce_command(config: dict[str, Any]) -> str:
    """The `seqcast train` command line that repeats a run's configuration (each value shell-quoted:
    a received run's values are data, never commands)."""
    import shlex

    from seqcast.cli.configfile import to_cli_args

    return " ".join(["seqcast", "train", *(shlex.quote(str(a)) for a in to_cli_args(config))])


# --------------------------------------------------------------------------- backtest report


def backtest_document(record: BacktestRecord, *, report_path: Path | None = None) -> Document:
    from seqcast.reports.charts import backtest_figure, unit_label

    bt = record.data
    folds = bt.get("folds", [])
    pooled = bt.get("pooled", {})
    data = bt.get("data", {})
    symbol = str(bt.get("symbol", "?"))
    sections = []

    what = Section("What was forecast")
    cfg = bt.get("config", {})
    what.blocks.append(KeyValues([
        ("symbol", symbol), ("source", str(bt.get("source", "?"))), ("unit", unit_label(symbol)),
        ("inputs", ", ".join(map(str, bt.get("inputs") or ["Close (the series' own past only)"]))),
        ("target", str(cfg.get("data", {}).get("target", "?"))),
        ("data", f"{data.get('first', '?')} .. {data.get('last', '?')}, {data.get('rows', '?')} rows"),
        *([("calendar", calendar_sentence(bt["calendar"]))] if bt.get("calendar") is not None else []),
    ]))
    what.p("Walk-forward: each fold fits its own scaler and model on everything before its test block, "
           "and is tested on that block only.")
    sections.append(what)

    verdict, *rest = backtest_findings(pooled, str(bt.get("verdict", "n/a")),
                                       [f.get("metrics", {}) for f in folds if isinstance(f, dict)],
                                       bt.get("linear") if isinstance(bt.get("linear"), dict) else None)
    res = Section("Result")
    res.blocks.append(Callout(verdict.text, _callout_tone(verdict.tone)))
    res.blocks.extend(f.text for f in rest)
    res.p(P_VALUE_NOTE)
    sections.append(res)

    fold_sec = Section("Folds")
    rows = []
    for f in folds:
        m = f.get("metrics", {})
        rows.append([str(f.get("fold", "?")), f"{f.get('train_first')} .. {f.get('train_last')}",
                     f"{f.get('test_first')} .. {f.get('test_last')}", fmt_number(f.get("n_test")),
                     fmt_number(m.get("rmse"), 4), fmt_number(m.get("naive_rmse"), 4),
                     fmt_number(m.get("rmse_ratio"), 4),
                     fmt_number(100 * m.get("directional_accuracy", math.nan), 3),
                     fmt_number(f.get("shrinkage_weight"), 3), fmt_number(f.get("epochs_run"))])
    fold_sec.blocks.append(Table(["fold", "trained on", "tested on", "days", "RMSE", "naive", "ratio", "dir %",
                                  "shrinkage weight", "epochs"], rows))
    fold_sec.blocks.append(Chart("backtest", backtest_figure(bt), "every fold's test block, model vs naive"))
    sections.append(fold_sec)

    table = Section("Metrics, model next to naive")
    parts = {"pooled": pooled}
    if len(folds) <= 4:  # more folds: their key numbers are in the folds table above
        parts.update({f"fold {f.get('fold', i + 1)}": f.get("metrics", {}) for i, f in enumerate(folds)})
    table.blocks.append(metrics_table(parts))
    sections.append(table)

    conf = Section("Configuration")
    conf.blocks.append(_config_columns(cfg))
    conf.p("Reproduce (with the same stored data):")
    conf.blocks.append(Code(f"seqcast backtest --folds {len(folds)} {' '.join(to_backtest_args(cfg))}"))
    sections.append(conf)

    files = Section("Files")
    files.p(f"Backtest record (every fold's forecasts): {record.path}")
    if report_path is not None:
        files.p(f"This report: {report_path}")
    sections.append(files)
    return Document(f"{symbol.upper()} · walk-forward backtest, {len(folds)} folds",
                    f"backtest {record.backtest_id} · {_generated()}", sections)


def to_backtest_args(config: dict[str, Any]) -> list[str]:
    from seqcast.cli.configfile import to_cli_args

    return [a for a in to_cli_args(config, skip=("level",))]


# --------------------------------------------------------------------------- sweep report (hook)


def sweep_document(record: dict[str, Any], *, cell_reports: dict[str, str] | None = None) -> Document:
    """A sweep's report: what was swept, the leaderboard (per config, over symbols and seeds), its
    chart, and every cell with a link (relative path) to that cell's own report.

    record is the sweep's saved dict (seqcast.runs.sweep.Sweep.data); cell_reports maps a cell's run
    id (or backtest id) to the relative path of its report file.
    """
    from seqcast.reports.charts import sweep_figure

    spec = record.get("spec", {}) if isinstance(record.get("spec"), dict) else {}
    cells = [c for c in record.get("cells", []) if isinstance(c, dict)]
    links = cell_reports or {}
    done = sum(c.get("status") == "done" for c in cells)
    failed = sum(c.get("status") == "failed" for c in cells)

    what = Section("What was swept")
    grid = spec.get("grid", {}) if isinstance(spec.get("grid"), dict) else {}
    what.blocks.append(KeyValues([
        ("sweep id", str(record.get("sweep_id", ""))),
        ("symbols", ", ".join(map(str, spec.get("symbols") or [])) or "the last fetched"),
        ("grid", "; ".join(f"{k} = {', '.join(map(str, v)) if isinstance(v, list) else v}"
                           for k, v in grid.items()) or "defaults only"),
        ("seeds", f"{spec.get('seeds', 1)} from {spec.get('seed', 0)}"),
        ("backtest folds", str(spec.get("backtest") or "no (one chronological split per cell)")),
        ("cells", f"{len(cells)}: {done} done, {failed} failed, {len(cells) - done - failed} pending"),
        ("backend", f"{record.get('backend', 'local')}" + (f" at {record['address']}" if record.get("address")
                                                            else "")),
        ("status", str(record.get("status", "?"))),
    ]))

    board = Section("Leaderboard")
    board.p("One row per configuration, best first, over its symbols and seeds: the mean test RMSE / naive "
            "(below 1: a lower RMSE than naive, a win only where the Diebold–Mariano test says so) with its "
            "spread, the median Diebold–Mariano p, how many trainings beat or lost to naive (Holm-corrected), "
            "the mean 90 % interval coverage and fit time.")
    rows = []
    for row in record.get("leaderboard", []) or []:
        if not isinstance(row, dict):
            continue
        rows.append([str(row.get("label", "")), fmt_number(row.get("rmse_ratio_mean"), 4),
                     fmt_number(row.get("rmse_ratio_sd"), 2), fmt_number(row.get("dm_pvalue_median"), 2),
                     f"{row.get('better_than_naive', 0)} / {row.get('worse_than_naive', 0)}",
                     fmt_number(row.get("interval_coverage_mean"), 3), fmt_number(row.get("fit_seconds_mean"), 3),
                     f"{row.get('cells_done', 0)}/{row.get('cells', 0)}"])
    board.blocks.append(Table(["config", "RMSE / naive", "sd", "DM p (median)", "beat / lost", "coverage",
                               "fit s", "cells"], rows))
    counted = record.get("multiple_testing")
    if isinstance(counted, dict):
        from seqcast.forecast.stats import multiple_testing_sentence

        unit = "backtests" if spec.get("backtest") else "cells"
        board.p(multiple_testing_sentence(counted, unit) + ". \"Beat / lost\" counts them after Holm's "
                "correction over all the sweep's tests: at p < 0.05 alone, chance makes about one test in twenty "
                "look like a difference.")
    spa = record.get("spa")
    if isinstance(spa, dict) and spa.get("pvalue") is not None:
        from seqcast.forecast.stats import spa_sentence

        board.p(spa_sentence(spa)[0].upper() + spa_sentence(spa)[1:] + " (Hansen's test for superior predictive "
                "ability over every config searched, on their per-day losses against naive).")
    if rows:
        board.blocks.append(Chart("leaderboard", sweep_figure(record), "RMSE / naive per configuration"))

    table = Section("Cells")
    cell_rows = []
    for c in cells:
        test = c.get("test")
        test = test if isinstance(test, dict) else {}
        ident = c.get("run_id") or c.get("backtest_id")
        href = links.get(str(ident)) if ident else None
        cell_rows.append([str(c.get("cell", "")), str(c.get("config", "")), str(c.get("symbol", "")),
                          str(c.get("seed", "")), "" if c.get("fold") is None else str(c.get("fold")),
                          str(c.get("status", "")), fmt_number(test.get("rmse_ratio"), 4),
                          fmt_number(test.get("dm_pvalue"), 2),
                          Link(str(ident), href) if href else str(ident or c.get("error", ""))])
    table.blocks.append(Table(["cell", "config", "symbol", "seed", "fold", "status", "RMSE / naive", "DM p",
                               "run (report)"], cell_rows))
    return Document(f"sweep {record.get('sweep_id', '')}", _generated(), [what, board, table])
