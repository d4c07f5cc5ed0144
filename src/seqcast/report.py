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

import base64
import html
import io
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from seqcast import atomic
from seqcast.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from seqcast.backtest_store import BacktestRecord
    from seqcast.nextday import Forecast
    from seqcast.runs import Run

Format = Literal["html", "md"]

# Known metric keys: label, and a factor for display (shares shown as percent).
METRIC_LABELS: dict[str, tuple[str, float]] = {
    "n": ("days", 1),
    "rmse": ("RMSE", 1),
    "mae": ("MAE", 1),
    "mape": ("MAPE %", 1),
    "mase": ("MASE", 1),
    "directional_accuracy": ("direction % (right sign of the move)", 100),
    "rmse_ratio": ("RMSE / naive", 1),
    "mae_ratio": ("MAE / naive", 1),
    "da_pvalue": ("direction vs 50 %: p (binomial)", 1),
    "dm_stat": ("Diebold–Mariano statistic", 1),
    "dm_pvalue": ("Diebold–Mariano p", 1),
    "pt_stat": ("Pesaran–Timmermann statistic", 1),
    "pt_pvalue": ("Pesaran–Timmermann p", 1),
    "lag_ratio": ("lag ratio (< 1: closer to yesterday)", 1),
    "lag_spread": ("lag spread (distance from yesterday, in day-to-day moves)", 1),
    "lag_detected": ("lag detected", 1),
    "interval_level": ("interval level %", 100),
    "interval_coverage": ("interval coverage %", 100),
    "interval_score": ("interval score (lower is better)", 1),
    "interval_width": ("mean interval width", 1),
}

PARTS = ("train", "val", "test")


# --------------------------------------------------------------------------- document model


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]  # str, or Link
    numeric: bool = True  # right-align every column but the first


@dataclass
class Chart:
    name: str  # file stem for Markdown
    figure: Any  # a matplotlib Figure
    alt: str


@dataclass
class Section:
    title: str
    blocks: list[Any] = field(default_factory=list)  # str (a paragraph), Table, Chart, KeyValues

    def p(self, text: str) -> Section:
        self.blocks.append(text)
        return self


@dataclass
class KeyValues:
    items: list[tuple[str, str]]


@dataclass
class Link:
    """A table cell that links to a file by relative path (sweep leaderboards)."""

    text: str
    href: str

    def __str__(self) -> str:
        return self.text


@dataclass
class Code:
    """A command line to copy."""

    text: str


@dataclass
class Callout:
    """A highlighted sentence: the verdict. tone: good, bad or neutral."""

    text: str
    tone: str = "neutral"


@dataclass
class Columns:
    """Key-value lists side by side (Markdown: one after another)."""

    groups: list[tuple[str, KeyValues]]


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]


# --------------------------------------------------------------------------- formatting helpers


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
            if key not in keys and not key.startswith("naive_"):
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
    from seqcast.plotting import unit_label

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
    if isinstance(records, list) and records:  # seqcast.covariates.input_records: one per input
        names = [str(r.get("name", r)) if isinstance(r, dict) else str(r) for r in records]
    else:
        names = ["Close (the series' own past only)"]
    items.append(("inputs", ", ".join(names)))
    items.append(("target", {"logret": "the next day's log-return", "change": "the next day's change",
                             "level": "the next day's price level"}.get(cfg.data.target, cfg.data.target)))
    items.append(("data", f"{data.get('first', '?')} .. {data.get('last', '?')}, {data.get('rows', '?')} rows"))
    if meta.get("calendar") is not None:
        cal = meta["calendar"]
        items.append(("calendar", ", ".join(f"{k} {v}" for k, v in _flatten(cal).items())
                      if isinstance(cal, dict) else str(cal)))
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
    """The verdict on the test part, shrinkage, lag and interval sentences."""
    from seqcast.metrics import naive_is_exact

    meta, metrics = run.meta, run.metrics
    test = metrics.get("test", {})
    verdict = Section("Result")
    verdict.blocks.append(Callout(
        f"Test: {metrics.get('verdict', 'n/a')} (RMSE {fmt_number(test.get('rmse'))} vs naive "
        f"{fmt_number(test.get('naive_rmse'))}, ratio {fmt_number(test.get('rmse_ratio'), 4)}).",
        "bad" if naive_is_exact(test) else _tone(test.get("rmse_ratio"))))
    verdict.p(_tests_sentence(test))
    shrinkage_weight = meta.get("shrinkage_weight", 1.0)
    if shrinkage_weight == 0.0:
        verdict.p("No signal: on the validation tail the network's moves did not beat 'no change', so its "
                  "forecasts were shrunk to the naive forecast (the direction shown is the network's own).")
    elif isinstance(shrinkage_weight, (int, float)) and shrinkage_weight < 1.0:
        verdict.p(f"Predicted moves were scaled by {shrinkage_weight:.3f} (fitted on the validation tail).")
    verdict.p(_lag_sentence(test, shrinkage_weight, meta.get("calendar")))
    if "interval_coverage" in test:
        level = test.get("interval_level", meta.get("level", 0.9))
        verdict.p(f"Intervals: the {level:.0%} prediction intervals covered "
                  f"{100 * test['interval_coverage']:.1f} % of test days"
                  + (f" (interval score {fmt_number(test['interval_score'])})" if "interval_score" in test else "")
                  + ".")
    return verdict


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
    from seqcast.plotting import run_figure

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
    listing = [[p.name, _size(p)] for p in sorted(run.path.iterdir()) if p.is_file()]
    files.p(f"Run folder: {run.path}")
    files.blocks.append(Table(["file", "size"], listing))
    if report_path is not None:
        files.p(f"This report: {report_path}")
    return files


def _tone(ratio: Any) -> str:
    if not isinstance(ratio, (int, float)) or math.isnan(ratio) or abs(ratio - 1) < 5e-4:
        return "neutral"
    return "good" if ratio < 1 else "bad"


def _config_columns(config: dict[str, Any]) -> Columns:
    return Columns([(name, KeyValues([(k, "—" if v is None else fmt_number(v)) for k, v in _flatten(part).items()]))
                    for name, part in config.items() if isinstance(part, dict)])


def _add(a: Any, b: Any) -> Any:
    return a + (b or 0) if isinstance(a, int) else a


def _tests_sentence(test: dict[str, Any]) -> str:
    from seqcast.metrics import naive_is_exact

    dm = test.get("dm_pvalue")
    dm_text = fmt_number(dm, 2) if isinstance(dm, (int, float)) and not math.isnan(dm) else (
        "n/a (the forecasts equal the naive ones: nothing to test)" if test.get("rmse_ratio") == 1 else
        "n/a (naive is exact: any error is worse, nothing to test)" if naive_is_exact(test) else "n/a")
    parts = [f"Diebold–Mariano test of model vs naive squared errors: p = {dm_text}"]
    parts.append(f"direction called right on {fmt_number(100 * test.get('directional_accuracy', math.nan), 3)} % "
                 f"of days with a move (binomial test vs 50 %: p = {fmt_number(test.get('da_pvalue'), 2)})")
    if "pt_pvalue" in test:
        parts.append(f"Pesaran–Timmermann test: p = {fmt_number(test.get('pt_pvalue'), 2)}")
    return "Tests: " + "; ".join(parts) + ". A p-value below 0.05 means the difference is unlikely to be luck."


def _lag_sentence(test: dict[str, Any], shrinkage_weight: Any, calendar: Any = None) -> str:
    from seqcast.metrics import lag_words

    ratio = fmt_number(test.get("lag_ratio"), 3)
    period, last = lag_words(calendar)
    if shrinkage_weight == 0.0:
        return "Lag diagnosis: not applicable — the forecast is yesterday's price by construction (shrunk to naive)."
    if test.get("lag_detected") and test.get("rmse_ratio", 1.0) < 1 and (test.get("dm_pvalue") or 1.0) < 0.05:
        return (f"Lag diagnosis: the forecasts sit closer to yesterday's price than to the real one (lag ratio "
                f"{ratio}), yet beat naive significantly: a cautious forecast that moves part of the way.")
    if test.get("lag_detected"):
        return (f"Lag diagnosis: warning — test predictions are closer to the previous {period}'s price than to "
                f"the real one (lag ratio {ratio}): the model mostly repeats {last}, a {period} late.")
    return f"Lag diagnosis: no one-day lag flagged (lag ratio {ratio})."


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
    """The `seqcast train` command line that repeats a run's configuration."""
    from seqcast.configfile import to_cli_args

    return " ".join(["seqcast", "train", *to_cli_args(config)])


# --------------------------------------------------------------------------- backtest report


def backtest_document(record: BacktestRecord, *, report_path: Path | None = None) -> Document:
    from seqcast.plotting import backtest_figure, unit_label

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
        *([("calendar", str(bt["calendar"]))] if bt.get("calendar") is not None else []),
    ]))
    what.p("Walk-forward: each fold fits its own scaler and model on everything before its test block, "
           "and is tested on that block only.")
    sections.append(what)

    beats = sum(1 for f in folds if f.get("metrics", {}).get("rmse_ratio", math.nan) < 1)
    res = Section("Result")
    res.blocks.append(Callout(
        f"Pooled test ({fmt_number(pooled.get('n'))} days): {bt.get('verdict', 'n/a')} (RMSE "
        f"{fmt_number(pooled.get('rmse'))} vs naive {fmt_number(pooled.get('naive_rmse'))}, ratio "
        f"{fmt_number(pooled.get('rmse_ratio'), 4)}); {beats} of {len(folds)} folds beat naive.",
        _tone(pooled.get("rmse_ratio"))))
    res.p(_tests_sentence(pooled))
    res.p(_lag_sentence(pooled, None))
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
    from seqcast.configfile import to_cli_args

    return [a for a in to_cli_args(config, skip=("level",))]


# --------------------------------------------------------------------------- sweep report (hook)


def sweep_document(record: dict[str, Any], *, cell_reports: dict[str, str] | None = None) -> Document:
    """A sweep's report: what was swept, the leaderboard (per config, over symbols and seeds), its
    chart, and every cell with a link (relative path) to that cell's own report.

    record is the sweep's saved dict (seqcast.sweep.Sweep.data); cell_reports maps a cell's run
    id (or backtest id) to the relative path of its report file.
    """
    from seqcast.plotting import sweep_figure

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
            "spread, the median Diebold–Mariano p, how many trainings beat or lost to naive at the 5 % level, "
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


# --------------------------------------------------------------------------- rendering


CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2933;
max-width:1100px;margin:2em auto;padding:0 1.5em;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.1em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #dee2e6;
padding-bottom:.2em}.sub{color:#868e96;margin-top:0}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{padding:.25em .8em;border-bottom:1px solid #e9ecef;text-align:left;vertical-align:top}
th{background:#f8f9fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
table.kv th{background:none;font-weight:600;color:#495057}
img{max-width:100%;height:auto;border:1px solid #e9ecef}
nav a{margin-right:1em;color:#d9480f;text-decoration:none}
code{background:#f1f3f5;padding:.1em .3em;border-radius:3px}
pre code{display:block;padding:.6em .8em;white-space:pre-wrap;word-break:break-word}
figure{margin:.5em 0}.callout{padding:.6em 1em;border-left:5px solid #868e96;background:#f8f9fa;font-weight:600}
.callout.good{border-color:#2f9e44;background:#ebfbee}.callout.bad{border-color:#e03131;background:#fff5f5}
.columns{display:flex;flex-wrap:wrap;gap:0 2.5em}.columns h3{font-size:1em;margin:.6em 0 0}
"""


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _html_kv(block: KeyValues) -> str:
    e = html.escape
    return '<table class="kv">' + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in block.items) + \
        "</table>"


def _html_cell(cell: Any) -> str:
    if isinstance(cell, Link):
        return f'<a href="{html.escape(cell.href)}">{html.escape(cell.text)}</a>'
    return html.escape(str(cell))


def render_html(doc: Document) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(doc.title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{e(doc.title)}</h1>", f'<p class="sub">{e(doc.subtitle)}</p>',
           "<nav>" + "".join(f'<a href="#{_anchor(s.title)}">{e(s.title)}</a>' for s in doc.sections) + "</nav>"]
    for sec in doc.sections:
        out.append(f'<h2 id="{_anchor(sec.title)}">{e(sec.title)}</h2>')
        for block in sec.blocks:
            if isinstance(block, str):
                out.append(f"<p>{e(block)}</p>")
            elif isinstance(block, KeyValues):
                out.append(_html_kv(block))
            elif isinstance(block, Callout):
                out.append(f'<p class="callout {e(block.tone)}">{e(block.text)}</p>')
            elif isinstance(block, Code):
                out.append(f"<pre><code>{e(block.text)}</code></pre>")
            elif isinstance(block, Columns):
                out.append('<div class="columns">' + "".join(
                    f"<div><h3>{e(title)}</h3>{_html_kv(kv)}</div>" for title, kv in block.groups) + "</div>")
            elif isinstance(block, Table):
                head = "".join(f"<th>{e(h)}</th>" for h in block.headers)
                body = "".join(
                    "<tr>" + "".join(
                        f'<td{" class=num" if block.numeric and i else ""}>{_html_cell(c)}</td>'
                        for i, c in enumerate(row)
                    ) + "</tr>" for row in block.rows)
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif isinstance(block, Chart):
                data = base64.b64encode(_png(block.figure)).decode("ascii")
                out.append(f'<figure><img alt="{e(block.alt)}" src="data:image/png;base64,{data}"></figure>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _md_cell(text: Any) -> str:
    if isinstance(text, Link):
        return f"[{_md_text(text.text)}]({_md_destination(text.href)})".replace("|", "\\|")
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_destination(href: str) -> str:
    """A CommonMark link destination that any file name survives: spaces and brackets are fine
    inside <...>; a backslash, <, > and a line break are escaped, and % is written %25 (a renderer
    would read "a%20b" as "a b")."""
    for char, escaped in (("\\", "\\\\"), ("<", "\\<"), (">", "\\>"), ("%", "%25"), ("\n", "%0A"),
                          ("\r", "%0D")):
        href = href.replace(char, escaped)
    return f"<{href}>"


def _md_text(text: str) -> str:
    """Text inside [...] (a link's or an image's): brackets and backslashes escaped."""
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]").replace("\n", " ")


def _md_kv(block: KeyValues) -> list[str]:
    return ["| | |", "|---|---|", *[f"| **{_md_cell(k)}** | {_md_cell(v)} |" for k, v in block.items], ""]


def render_markdown(doc: Document, path: Path) -> tuple[str, dict[Path, bytes]]:
    """Markdown text plus the chart files it links to (relative to path's folder)."""
    assets: dict[Path, bytes] = {}
    folder = f"{path.stem}_files"
    out = [f"# {doc.title}", "", f"*{doc.subtitle}*", ""]
    for sec in doc.sections:
        out += [f"## {sec.title}", ""]
        for block in sec.blocks:
            if isinstance(block, str):
                out += [block, ""]
            elif isinstance(block, KeyValues):
                out += _md_kv(block)
            elif isinstance(block, Callout):
                out += [f"**{block.text}**", ""]
            elif isinstance(block, Code):
                out += ["```", block.text, "```", ""]
            elif isinstance(block, Columns):
                for title, kv in block.groups:
                    out += [f"*{title}*", "", *_md_kv(kv)]
            elif isinstance(block, Table):
                out.append("| " + " | ".join(_md_cell(h) for h in block.headers) + " |")
                out.append("|" + "|".join("---" if i == 0 or not block.numeric else "---:"
                                          for i in range(len(block.headers))) + "|")
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
                out.append("")
            elif isinstance(block, Chart):
                rel = f"{folder}/{block.name}.png"
                assets[path.parent / rel] = _png(block.figure)
                out += [f"![{_md_text(block.alt)}]({_md_destination(rel)})", ""]
    return "\n".join(out), assets


def write(doc: Document, path: Path, fmt: Format = "html") -> Path:
    """Render doc to path atomically (Markdown: its charts beside it in <stem>_files/)."""
    if fmt == "html":
        atomic.write_text(path, render_html(doc))
    elif fmt == "md":
        text, assets = render_markdown(doc, path)
        for asset, data in assets.items():
            asset.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_bytes(asset, data)
        atomic.write_text(path, text)
    else:
        raise ConfigError(f"--format must be html or md, got {fmt!r}")
    return path
