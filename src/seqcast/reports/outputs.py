"""Files drawn from saved results: the report (seqcast.reports.document) and chart (seqcast.reports.charts) of a
run, a backtest or a sweep, named by one id, written to their default place or `out`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from seqcast.data.store import Store
from seqcast.errors import AmbiguousIdError, ConfigError, DataError, RunCorruptError, RunNotFoundError, SeqcastError
from seqcast.runs.registry import Run
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    from seqcast.runs.records import BacktestRecord
    from seqcast.runs.sweep import Sweep

REPORT_FORMATS = ("html", "md")
CHART_FORMATS = ("png", "svg", "pdf")


def find(ident: str | None = None, home: Path | str | None = None) -> Run | BacktestRecord:
    """A run or a saved backtest by id or unique prefix; the latest run when None."""
    from seqcast.runs.registry import resolve

    return resolve(Workspace.resolve(home), ident)


def chart_format(fmt: str | None, out: Path | str | None) -> str:
    """The chart's format: fmt, else out's extension (.png, .svg, .pdf), else PNG; never a contradiction."""
    if fmt is not None and fmt not in CHART_FORMATS:
        raise ConfigError(f"--format must be png, svg or pdf, got {fmt!r}")
    if out is not None:
        ext = Path(out).suffix.lower().lstrip(".")
        if ext in CHART_FORMATS and fmt is not None and ext != fmt:
            raise ConfigError(f"--format {fmt} does not match the file name {Path(out).name}; "
                              f"name the file .{fmt}, or drop --format (the extension decides)")
        if ext and ext not in CHART_FORMATS:
            raise ConfigError(f"cannot write a .{ext} chart; name the file .png, .svg or .pdf")
        fmt = fmt or ext or None
    return fmt or "png"


def plot(run_id: str | None = None, *, home: Path | str | None = None, fmt: str | None = None,
         out: Path | str | None = None) -> Path:
    """Draw a run's charts, a backtest's folds or a sweep's leaderboard; returns the file written.

    run_id: the id (or unique prefix) of a run, a backtest or a sweep; the latest run when None.
    """
    from seqcast.reports.charts import save_backtest_figure, save_run_figure, save_sweep_figure

    fmt = chart_format(fmt, out)
    sweep = sweep_or_none(run_id, home)
    if sweep is not None:  # a sweep: its leaderboard
        return save_sweep_figure(sweep.data, Path(out) if out else sweep.path.with_suffix(f".{fmt}"), fmt)
    found = find(run_id, home)
    if not isinstance(found, Run):  # a backtest: its folds' test blocks, model vs naive
        return save_backtest_figure(found.data, Path(out) if out else found.path.with_suffix(f".{fmt}"), fmt)
    return save_run_figure(found, Path(out) if out else found.path / f"plot.{fmt}", fmt)


def report(ident: str | None = None, *, home: Path | str | None = None, out: Path | str | None = None,
           fmt: str = "html", forecast: bool = False) -> Path:
    """Write the report of a run, backtest or sweep (HTML, self-contained; or Markdown); returns its path."""
    from seqcast.reports import document as rep

    if fmt not in REPORT_FORMATS:
        raise ConfigError(f"--format must be html or md, got {fmt!r}")
    doc_format = cast(Literal["html", "md"], fmt)
    sweep = sweep_or_none(ident, home)
    if sweep is not None:
        if forecast:
            raise ConfigError("--forecast needs a run; a sweep has one model per cell")
        return _sweep_report(sweep, home=home, out=out, fmt=doc_format)
    found = find(ident, home)
    if isinstance(found, Run):
        target = Path(out) if out else found.path / f"report.{fmt}"
        store_meta = None
        try:
            store_meta = Store(Workspace.resolve(home)).get(found.meta["symbol"], found.meta["source"]).meta
        except (DataError, KeyError):
            store_meta = None
        from seqcast.runs.predict_next import predict_next

        fc = predict_next(found.run_id, home=home) if forecast else None
        doc = rep.run_document(found, forecast=fc, store_meta=store_meta, report_path=target.resolve())
    else:
        if forecast:
            raise ConfigError("--forecast needs a run; a backtest has one model per fold")
        target = Path(out) if out else found.path.with_suffix(f".{fmt}")
        doc = rep.backtest_document(found, report_path=target.resolve())
    from seqcast.reports.render import write

    return write(doc, target, doc_format)


def sweep_or_none(ident: str | None, home: Path | str | None) -> Sweep | None:
    """The sweep ident names when it is no run or backtest id (None otherwise)."""
    from seqcast.runs.sweep import load_sweep

    if not isinstance(ident, str):  # None: the latest run; anything else is no id (find says so)
        return None
    try:
        find(ident, home)
        return None
    except AmbiguousIdError:
        raise  # a prefix of several runs is not a sweep's id either: say so, as `runs show` does
    except RunNotFoundError:
        pass
    try:
        return load_sweep(ident, home)
    except RunCorruptError:
        raise  # a sweep record that cannot be used: say why, not "no run"
    except SeqcastError:
        return None  # find's own message is the one to show


def _sweep_report(sweep: Sweep, *, home: Path | str | None, out: Path | str | None,
                  fmt: Literal["html", "md"]) -> Path:
    """A sweep's report beside its record, plus each finished cell's own report, linked by relative path."""
    from seqcast.reports import document as rep

    target = Path(out) if out else sweep.path.with_suffix(f".{fmt}")
    links: dict[str, str] = {}
    for cell in sweep.cells:
        ident = cell.get("run_id") or cell.get("backtest_id")
        if cell.get("status") != "done" or not ident or ident in links:
            continue
        try:
            cell_report = report(str(ident), home=home, fmt=fmt)
        except SeqcastError:
            continue  # a cell removed since (runs rm): listed without a link
        links[str(ident)] = os.path.relpath(cell_report, target.resolve().parent)
    from seqcast.reports.render import write

    return write(rep.sweep_document(sweep.data, cell_reports=links), target, fmt)
