"""Rendering for the CLI: run reports, backtest, seed and sweep tables, progress bars, all with rich.

rich and the library modules are imported inside the functions, so importing this is cheap.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from seqcast.cli.common import _console, _num, _ratio_colour


def _progress() -> Any:
    """A transient progress bar on stderr: description, bar, epoch n/N, losses, time."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}[/]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[losses]}"), TimeElapsedColumn(),
        console=_console(stderr=True), transient=True,
    )


def _losses(train_loss: float, val_loss: float) -> str:
    return f"train {train_loss:.4f}  val {_num(val_loss, 4)}"


@contextmanager
def _lazy_progress(description: str, total: int) -> Iterator[Any]:
    """A progress bar that appears with its first update: a command that fails while loading
    its data prints only its error line, not the blank line of a bar that never drew."""
    progress = _progress()
    task: list[Any] = []

    def update(**fields: Any) -> None:
        if not task:
            progress.start()
            task.append(progress.add_task(description, total=total, losses=""))
        progress.update(task[0], **fields)
        progress.refresh()

    try:
        yield update
    finally:
        if task:
            progress.stop()


def _print_seeds(result: Any) -> None:
    from rich.table import Table

    out = _console()
    s = result.summary
    runs = result.runs
    first, last = runs[0].config.train.seed, runs[-1].config.train.seed
    out.print(f"trained {len(runs)} seeds ({first}..{last}); test metrics, mean ± sd across seeds:")

    def pm(key: str, scale: float = 1.0, digits: int = 5) -> str:
        return f"{_num(scale * s[key]['mean'], digits)} ± {_num(scale * s[key]['sd'], 2)}"

    table = Table("metric", "test (mean ± sd)", box=None, pad_edge=False)
    table.add_row("RMSE", pm("rmse"))
    table.add_row("MAE", pm("mae"))
    table.add_row("direction %", pm("directional_accuracy", 100, 3))
    table.add_row("RMSE / naive", pm("rmse_ratio", digits=4))
    table.add_row("naive RMSE", _num(s["naive_rmse"]["mean"]))
    out.print(table)
    from seqcast.forecast.metrics import SIGNIFICANCE

    tests = [r.metrics["test"] for r in runs]
    beats = sum(1 for t in tests if t["rmse_ratio"] < 1 and t.get("dm_pvalue", math.nan) < SIGNIFICANCE)
    worse = sum(1 for t in tests if t["rmse_ratio"] > 1 and t.get("dm_pvalue", math.nan) < SIGNIFICANCE)
    ratio = s["rmse_ratio"]["mean"]
    change = "same RMSE as" if abs(ratio - 1) < 5e-4 else (
        f"{abs(1 - ratio) * 100:.1f} % {'lower' if ratio < 1 else 'higher'} RMSE than")
    out.print(f"test, mean of {len(runs)} seeds: {change} naive; {beats} of {len(runs)} seeds beat naive and "
              f"{worse} are worse, significantly (Diebold–Mariano p < {SIGNIFICANCE:g})")
    out.print("run ids: " + " ".join(f"[bold]{r.run_id}[/]" for r in runs))
    _print_data_warnings(runs[0].meta)


def _print_data_warnings(meta: dict[str, Any]) -> None:
    """The sampling warnings a run or backtest recorded (seqcast.data.calendars.sampling_warnings)."""
    for warning in meta.get("data_warnings") or []:
        _console().print(f"[yellow]warning:[/] {warning.get('message', warning)}", soft_wrap=True)


def _print_report(run: Any) -> None:
    from rich.table import Table

    out = _console()
    m, meta = run.metrics, run.meta
    tr = meta["training"]
    stop = ("interrupted (Ctrl-C); best weights kept" if tr["interrupted"]
            else f"early stop, best epoch {tr['best_epoch']}" if tr["stopped_early"]
            else f"best epoch {tr['best_epoch']}")
    out.print(f"trained {tr['epochs_run']} epochs in {tr['seconds']:.1f} s ({stop}); "
              f"split: train to {meta['split']['train_last']}, test from {meta['split']['test_first']}")
    _print_data_warnings(meta)
    table = Table(box=None, pad_edge=False)
    table.add_column("metric")
    for part in ("train", "test"):
        table.add_column(f"{part} model", justify="right")
        table.add_column(f"{part} naive", justify="right")
    rows = [("RMSE", "rmse", "naive_rmse"), ("MAE", "mae", "naive_mae"),
            ("MAPE %", "mape", "naive_mape"), ("MASE", "mase", "naive_mase")]
    for label, key, naive_key in rows:
        table.add_row(label, *[_num(m[p].get(k)) for p in ("train", "test") for k in (key, naive_key)])
    da = [_num(100 * m[p]["directional_accuracy"], 3) for p in ("train", "test")]
    table.add_row("direction %", da[0], "", da[1], "")
    table.add_row("RMSE / naive", _num(m["train"]["rmse_ratio"], 4), "", _num(m["test"]["rmse_ratio"], 4), "")
    out.print(table)
    from seqcast.reports.findings import run_findings

    found = run_findings(m, meta)
    for finding in found:
        if finding.key == "lag":
            _print_inputs(out, meta)  # the run's inputs come before the lag warning
        out.print(_finding_markup(finding))
    if not any(f.key == "lag" for f in found):
        _print_inputs(out, meta)
    out.print(f"run id: [bold]{run.run_id}[/]")
    out.print(f"files: {run.path} (predictions.csv; seqcast report {run.run_id[:15]} for a report)", soft_wrap=True)


_TONE_COLOURS = {"good": "green", "bad": "red", "neutral": "yellow"}


def _finding_markup(finding: Any) -> str:
    """A finding (seqcast.reports.findings) in rich markup: a verdict's words in its colour, a warning's
    lead in yellow."""
    from rich.markup import escape

    lead, words, tail = escape(finding.lead), escape(finding.words), escape(finding.tail)
    if finding.tone == "warning":
        return f"[yellow]{lead.rstrip()}[/] {words}{tail}" if lead else f"{words}{tail}"
    if finding.tone in _TONE_COLOURS:
        return f"{lead}[{_TONE_COLOURS[finding.tone]}]{words}[/]{tail}"
    return f"{lead}{words}{tail}"


def _print_inputs(out: Any, meta: dict[str, Any]) -> None:
    """The run's extra inputs (past covariates, extra columns), when it has any."""
    records = meta.get("inputs")
    records = [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []
    if not any(r.get("role") != "target" for r in records):
        return
    out.print("inputs: " + ", ".join(str(r.get("name")) for r in records))
    dropped = meta.get("split", {}).get("dropped_windows")
    if dropped:
        out.print(f"{dropped} windows left out: a covariate value was missing or too stale")


def _print_backtest(result: Any) -> None:
    from rich.table import Table

    out = _console()
    table = Table(box=None, pad_edge=False)
    for name in ("fold", "test days", "n", "RMSE", "naive", "ratio", "dir %"):
        table.add_column(name, justify="left" if name in ("fold", "test days") else "right", no_wrap=True)

    def cells(m: dict[str, Any]) -> list[str]:
        return [_num(m["rmse"], 4), _num(m["naive_rmse"], 4), _num(m["rmse_ratio"], 4),
                _num(100 * m["directional_accuracy"], 3)]

    for f in result.folds:
        table.add_row(str(f.fold), f"{f.test_first}..{f.test_last}", str(f.n_test), *cells(f.metrics))
    first, last = result.folds[0], result.folds[-1]
    table.add_row("[bold]pooled[/]", f"{first.test_first}..{last.test_last}", str(result.pooled["n"]),
                  *cells(result.pooled))
    out.print(f"walk-forward backtest of {result.meta.get('symbol', 'the series')}: {len(result.folds)} "
              f"folds, each trained from {first.train_first} to the day before its test block "
              f"({result.workers} worker{'s' if result.workers > 1 else ''})")
    out.print(table)
    from seqcast.reports.findings import backtest_findings

    verdict, *rest = backtest_findings(result.pooled, result.verdict, [f.metrics for f in result.folds],
                                       result.linear)
    out.print(_finding_markup(verdict))
    _print_data_warnings(result.meta)
    for finding in rest:
        out.print(_finding_markup(finding))
    if result.path:
        out.print(f"saved: {result.path}", soft_wrap=True)


def _cell_line(sweep: Any, cell: dict[str, Any], done: int, total: int) -> str:
    from rich.markup import escape

    label = sweep.data["configs"][cell["config"]]["label"]
    what = f"{label} {cell['symbol']} seed {cell['seed']}" + (f" fold {cell['fold']}" if cell["fold"] else "")
    if cell["status"] != "done":
        return f"[red]failed[/] {escape(what)}: {escape(str(cell.get('error')))}"
    test = cell["test"]
    ratio = test.get("rmse_ratio")
    colour = _ratio_colour(ratio if ratio is not None else float("nan"))
    where = f" on {cell['node'][:16]}" if cell.get("node") else ""
    ident = cell.get("run_id") or ""
    return (f"{escape(what)}: RMSE/naive [{colour}]{_num(ratio, 4)}[/] (DM p {_num(test.get('dm_pvalue'), 2)}), "
            f"{cell.get('seconds', 0):.1f} s{where} {ident}").rstrip()


def _holm_count(row: dict[str, Any], side: str) -> str:
    """"0 (3)": units better (or worse) than naive after Holm's correction, and at p < 0.05 alone."""
    raw = row.get(f"{side}_raw")
    return f"{row[f'{side}_than_naive']}" + (f" ({raw})" if raw is not None else "")


def _print_leaderboard(sweep: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = _console()
    counts = sweep.counts()
    unit = "backtests" if sweep.data["spec"].get("backtest") else "runs"
    out.print(f"sweep {sweep.sweep_id}: {sweep.status}; {counts['done']} of {len(sweep.cells)} cells done"
              + (f", [red]{counts['failed']} failed[/]" if counts["failed"] else "")
              + f" ({sweep.data.get('backend')}, {sweep.data.get('workers', '?')} workers)")
    table = Table(box=None, pad_edge=False)
    for name in ("#", "config", unit, "RMSE/naive", "DM p", "better", "worse", "coverage", "fit s"):
        table.add_column(name, justify="left" if name == "config" else "right", no_wrap=True,
                         min_width=max((len(r["label"]) for r in sweep.leaderboard), default=6) if name == "config"
                         else None)
    for rank, row in enumerate(sweep.leaderboard, start=1):
        mean, sd = row["rmse_ratio_mean"], row["rmse_ratio_sd"]
        ratio = "–" if mean is None else f"[{_ratio_colour(mean)}]{_num(mean, 4)}[/]" + (
            f" ± {_num(sd, 2)}" if sd is not None else "")
        cov = row["interval_coverage_mean"]
        table.add_row(str(rank), escape(row["label"]), str(row["units"]), ratio, _num(row["dm_pvalue_median"], 2),
                      _holm_count(row, "better"), _holm_count(row, "worse"),
                      "–" if cov is None else f"{100 * cov:.1f} %", _num(row["fit_seconds_mean"], 2))
    _print_table(out, table)
    out.print(f"RMSE/naive: mean ± sd over the {unit}; DM p: their median Diebold–Mariano p against naive; "
              f"better / worse: {unit} whose test says so after Holm's correction over all the sweep's tests "
              "(in brackets: at p < 0.05 alone)", soft_wrap=True)
    if isinstance(sweep.data.get("multiple_testing"), dict):
        from seqcast.forecast.stats import multiple_testing_sentence

        out.print(multiple_testing_sentence(sweep.data["multiple_testing"], unit), soft_wrap=True)
    if isinstance(sweep.data.get("spa"), dict) and sweep.data["spa"].get("pvalue") is not None:
        from seqcast.forecast.stats import spa_sentence

        out.print(escape(spa_sentence(sweep.data["spa"])), soft_wrap=True)
    for cell in sweep.cells:
        if cell["status"] == "failed":
            out.print(f"[red]failed[/] cell {cell['cell'] + 1} ({escape(cell['symbol'] or '')} seed {cell['seed']}): "
                      f"{escape(str(cell.get('error')))}")
    lasting = [c for c in sweep.cells if c["status"] == "failed" and c.get("lasting")]
    if lasting:
        many = len(lasting) > 1
        out.print(f"{len(lasting)} failed cell{'s' if many else ''} cannot work with {'their' if many else 'its'} "
                  "options (a retry fails the same way): change the options and start a new sweep")
    if counts["pending"] or counts["failed"] > len(lasting):
        out.print(f"finish it with: seqcast sweep --resume {sweep.sweep_id}"
                  + (" (runs the other unfinished cells; the ones above fail again)" if lasting else ""))
    nodes = sweep.data.get("nodes") or {}
    if sweep.data.get("backend") == "ray" and nodes:
        out.print(f"cells ran on {len(nodes)} Ray node(s): "
                  + ", ".join(f"{node[:8]}… {n}" for node, n in nodes.items()))
    out.print(f"saved: {sweep.path}", soft_wrap=True)


def _print_table(out: Any, table: Any) -> None:
    """A table whose every cell is printed whole: never an ellipsis in a number or an id.

    The console is widened to the table's natural width (its no_wrap columns' full content),
    however narrow the terminal or when piped (rich then assumes 80 columns); a terminal
    narrower than that wraps the long lines instead of rich cutting the cells.
    """
    from rich.measure import Measurement

    needed = Measurement.get(out, out.options.update(width=10_000), table).maximum
    if needed > out.width:
        out.width = needed
    out.print(table)
