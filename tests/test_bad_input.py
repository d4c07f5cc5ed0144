"""The bad-input matrix: every command, fed what users really feed it.

Each case prepares a copy of one workspace (a fetched slice of the bundled sample and
one tiny trained run), runs the CLI, and checks: the exit code (1 for a user error, 2
for a usage error), one message that names the problem and the next step, no
traceback, and that nothing in the workspace changed. Inputs that are accepted by
design (BOM, unsorted dates, a Polish spreadsheet export, ...) have their own table.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import seqcast.data.series
from seqcast import api
from seqcast.cli import app
from seqcast.data.store import Store
from seqcast.workspace import Workspace

runner = CliRunner()
TINY = ["--epochs", "1", "--hidden", "8", "--lookback", "10", "--patience", "0"]


@dataclass
class Ctx:
    """What a case's preparation may touch: the workspace copy, a folder outside it."""

    home: pathlib.Path
    files: pathlib.Path  # outside the workspace: CSV inputs, the pickle marker
    run_id: str
    monkeypatch: pytest.MonkeyPatch

    @property
    def run(self) -> pathlib.Path:
        return self.home / "runs" / self.run_id


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[pathlib.Path, str]:
    """A workspace with eurpln (sample, from 2025) and one tiny run; built once per module."""
    home = tmp_path_factory.mktemp("bad-input") / "home"
    api.fetch("eurpln", source="sample", start="2025-01-01", home=home)
    run = api.train(epochs=1, hidden=8, lookback=10, patience=0, home=home).run
    return home, run.run_id


@pytest.fixture
def ctx(base, workspace, tmp_path, monkeypatch) -> Ctx:
    home, run_id = base
    shutil.copytree(home, workspace)
    files = tmp_path / "files"
    files.mkdir()
    return Ctx(workspace, files, run_id, monkeypatch)


def snapshot(root: pathlib.Path) -> dict[str, str]:
    """Relative path -> sha256 of every file (and a marker for folders and links)."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = pathlib.Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


# --- preparations ---------------------------------------------------------------------------


def csv(body: bytes | str) -> Callable[[Ctx], None]:
    """Write body as files/in.csv (outside the workspace)."""
    data = body.encode("utf-8") if isinstance(body, str) else body

    def prepare(c: Ctx) -> None:
        (c.files / "in.csv").write_bytes(data)

    return prepare


def huge_file(c: Ctx) -> None:
    # A real 100 MB file would slow the suite; the limit is what is tested.
    (c.files / "in.csv").write_text("Date,Close\n" + "2024-01-02,1\n" * 20)
    c.monkeypatch.setattr(seqcast.data.series, "MAX_BYTES", 100)


def run_file(name: str, body: bytes | str | None) -> Callable[[Ctx], None]:
    """Replace (or with None, delete) one file of the trained run."""

    def prepare(c: Ctx) -> None:
        path = c.run / name
        if body is None:
            path.unlink()
        else:
            path.write_bytes(body.encode("utf-8") if isinstance(body, str) else body)

    return prepare


def edit_run_json(name: str, edit: Callable[[dict[str, Any]], None]) -> Callable[[Ctx], None]:
    def prepare(c: Ctx) -> None:
        path = c.run / name
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))

    return prepare


class TouchOnLoad:
    """A pickle payload that creates a file when unpickled: code, not weights."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def pickle_payload(c: Ctx) -> None:
    torch.save(TouchOnLoad(c.files / "pwned"), c.run / "model.pt")


def symlinked_run(c: Ctx) -> None:
    elsewhere = c.files / "their-run"
    shutil.copytree(c.run, elsewhere)
    (c.home / "runs" / "20990101-000000.000-lstm-eurpln-link").symlink_to(elsewhere, target_is_directory=True)


def two_similar_runs(c: Ctx) -> None:
    for suffix in ("aaaa", "aaab"):
        shutil.copytree(c.run, c.home / "runs" / f"20990101-000000.000-lstm-eurpln-{suffix}")


def spread_series(c: Ctx) -> None:
    """A series that crosses zero (a spread), stored as symbol 'spread'."""
    n = 120
    frame = pd.DataFrame({"Close": np.sin(np.arange(n) / 5)},
                         index=pd.bdate_range("2024-01-01", periods=n, name="Date"))
    frame.to_csv(c.files / "spread.csv")
    api.fetch("spread", csv=c.files / "spread.csv", home=c.home)


def delete_stored_csv(c: Ctx) -> None:
    for path in (c.home / "data" / "sample").glob("*.csv"):
        path.unlink()


def edit_stored_csv(c: Ctx) -> None:
    [path] = (c.home / "data" / "sample").glob("*.csv")
    text = path.read_text()
    path.write_text(text.replace(",", ",1", 1))


def nothing(c: Ctx) -> None:
    pass


# --- the matrix -------------------------------------------------------------------------------

FUTURE = date.today() + timedelta(days=30)
FETCH_CSV = ["fetch", "eurpln", "--csv", "{files}/in.csv"]


def case(id: str, prepare, args, code: int, message: str, next_step: str):
    return pytest.param(prepare, args, code, message, next_step, id=id)


CASES = [
    # CSV files from browsers and spreadsheets
    case("csv-empty", csv(b""), FETCH_CSV, 1, "is empty", "expected a header such as Date,Close"),
    case("csv-blank-lines", csv("\r\n  \r\n\n"), FETCH_CSV, 1, "is empty", "Date,Close"),
    case("csv-header-only", csv("Date,Open,High,Low,Close\r\n"), FETCH_CSV, 1, "no data rows",
         "check that the file is complete"),
    case("csv-unknown-header", csv("Datum,Betrag,Foo\n2024-01-02,1,2\n"), FETCH_CSV, 1, "unknown header",
         "expected Date,Open,High,Low,Close"),
    case("csv-non-numeric", csv("Date,Close\n2024-01-02,4.31\n2024-01-03,four\n"), FETCH_CSV, 1,
         "line 3: Close is 'four', not a number", "fix or remove that row"),
    case("csv-na-cell", csv("Date,Close\n2024-01-02,4.31\n2024-01-03,N/A\n"), FETCH_CSV, 1,
         "line 3: Close is empty or N/A", "remove or fill those rows"),
    case("csv-empty-cell", csv("Date,Open,Close\n2024-01-02,4.3,\n2024-01-03,4.3,4.31\n"), FETCH_CSV, 1,
         "line 2: Close is empty or N/A", "remove or fill those rows"),
    case("csv-infinite", csv("Date,Close\n2024-01-02,1e999\n"), FETCH_CSV, 1, "not a finite number",
         "fix or remove that row"),
    case("csv-conflicting-duplicates", csv("Date,Close\n2024-01-02,4.31\n2024-01-03,4.32\n2024-01-02,4.35\n"),
         FETCH_CSV, 1, "2024-01-02 appears more than once with different values", "keep one row per date"),
    case("csv-future-date", csv(f"Date,Close\n2024-01-02,4.31\n{FUTURE},4.32\n"), FETCH_CSV, 1,
         f"{FUTURE} is in the future", "check the date column"),
    case("csv-bad-date", csv("Date,Close\n2024-01-02,4.31\n2024-02-30,4.32\n"), FETCH_CSV, 1,
         "line 3: cannot read the date '2024-02-30'", "expected YYYY-MM-DD"),
    case("csv-decimal-comma-in-comma-file", csv("Date,Close\n2024-01-02,4,3210\n"), FETCH_CSV, 1,
         "more fields than the header", "check the separator"),
    case("csv-html-page", csv("<!DOCTYPE html>\n<html><head><title>EURPLN - stooq</title></head></html>"),
         FETCH_CSV, 1, "is an HTML page, not CSV", "save the CSV file itself"),
    case("csv-stooq-message", csv("Exceeded the daily hits limit"), FETCH_CSV, 1, "stooq's message",
         "download the file again"),
    case("csv-binary-garbage", csv(b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 8),
         FETCH_CSV, 1, "is a binary file, not CSV text", "save the prices as CSV"),
    case("csv-not-text", csv(b"\x81\x83\x88\x90\x98" * 200), FETCH_CSV, 1, "is not text",
         "save it as CSV in UTF-8"),
    case("csv-huge-file", huge_file, FETCH_CSV, 1, "more than the 100 bytes", "check that it is the right file"),
    case("csv-missing-file", nothing, ["fetch", "eurpln", "--csv", "{files}/nope.csv"], 1, "does not exist",
         "check the path"),
    case("csv-folder", nothing, ["fetch", "eurpln", "--csv", "{files}"], 1, "is a folder",
         "give the path of the file itself"),
    case("csv-no-rows-in-range", csv("Date,Close\n2024-01-02,4.31\n2024-01-03,4.32\n"),
         [*FETCH_CSV, "--from", "2024-06-01"], 1, "has no rows in the requested date range",
         "it covers 2024-01-02 .. 2024-01-03"),
    # fetch options
    case("fetch-unknown-source", nothing, ["fetch", "eurpln", "--source", "yahoo"], 2,
         "Invalid value for '--source'", "Try 'seqcast fetch -h' for help"),
    case("fetch-from-after-to", nothing, ["fetch", "eurpln", "--source", "sample", "--from", "2024-03-01",
                                          "--to", "2024-02-29"], 1, "--from 2024-03-01 is after --to 2024-02-29",
         "--from"),
    case("fetch-malformed-to", nothing, ["fetch", "eurpln", "--source", "sample", "--to", "31.12.2024"], 1,
         "--to must be a date", "YYYY-MM-DD"),
    case("fetch-unknown-interval", nothing, ["fetch", "eurpln", "--interval", "h"], 2,
         "Invalid value for '--interval'", "Try 'seqcast fetch -h' for help"),
    case("fetch-unsafe-symbol", nothing, ["fetch", "eur/pln", "--source", "sample"], 1, "invalid symbol",
         "use letters, digits"),
    # train options
    case("train-split-too-high", nothing, ["train", *TINY, "--split", "0.99"], 1,
         "--split must be between 0.5 and 0.95", "between 0.5 and 0.95"),
    case("train-split-negative", nothing, ["train", *TINY, "--split", "-0.7"], 1,
         "--split must be between 0.5 and 0.95", "between 0.5 and 0.95"),
    case("train-lookback-longer-than-train-part", nothing, ["train", *TINY, "--lookback", "400"], 1,
         "too few for --lookback 400", "use a shorter --lookback or more data"),
    case("train-lookback-zero", nothing, ["train", *TINY, "--lookback", "0"], 1,
         "--lookback must be at least 1", "at least 1"),
    case("train-zero-epochs", nothing, ["train", *TINY, "--epochs", "0"], 1, "--epochs must be at least 1",
         "at least 1"),
    case("train-negative-lr", nothing, ["train", *TINY, "--lr", "-0.001"], 1,
         "--lr must be a positive number", "positive number"),
    case("train-nan-lr", nothing, ["train", *TINY, "--lr", "nan"], 1, "--lr must be a positive number",
         "positive number"),
    case("train-unknown-model", nothing, ["train", *TINY, "--model", "cnn"], 2,
         "Invalid value for '--model'", "Try 'seqcast train -h' for help"),
    case("train-unknown-target", nothing, ["train", *TINY, "--target", "price"], 2,
         "Invalid value for '--target'", "Try 'seqcast train -h' for help"),
    case("train-unknown-source", nothing, ["train", *TINY, "--source", "yahoo"], 1,
         "unknown source 'yahoo'", "choose one of: sample, csv, stooq"),
    case("train-source-not-stored", nothing, ["train", *TINY, "--source", "nbp"], 1,
         "no data from nbp stored yet", "seqcast fetch SYMBOL --source nbp"),
    case("train-symbol-not-stored", nothing, ["train", *TINY, "--symbol", "usdpln"], 1,
         "no stored data for 'usdpln'", "seqcast fetch usdpln"),
    case("train-from-after-to", nothing, ["train", *TINY, "--from", "2025-06-01", "--to", "2025-05-01"], 1,
         "--from 2025-06-01 is after --to 2025-05-01", "--from"),
    case("train-malformed-from", nothing, ["train", *TINY, "--from", "2025/06/01"], 1,
         "--from must be a date as YYYY-MM-DD", "YYYY-MM-DD"),
    case("train-from-after-all-data", nothing, ["train", *TINY, "--from", "2030-01-01"], 1,
         "no eurpln rows for --from 2030-01-01", "choose dates within it"),
    case("train-lookback-not-a-number", nothing, ["train", *TINY, "--lookback", "ten"], 2,
         "Invalid value for '--lookback'", "Try 'seqcast train -h' for help"),
    case("train-val-fraction-too-high", nothing, ["train", *TINY, "--val-fraction", "0.8"], 1,
         "--val-fraction must be between 0 and 0.5", "between 0 and 0.5"),
    case("train-transformer-heads", nothing, ["train", *TINY, "--model", "transformer", "--heads", "3"], 1,
         "must be divisible by --heads", "--hidden"),
    case("train-logret-on-negative-prices", spread_series, ["train", *TINY, "--symbol", "spread"], 1,
         "zero or negative price", "use --target change or --target level"),
    case("train-stored-data-edited", edit_stored_csv, ["train", *TINY], 1, "does not match its checksum",
         "seqcast fetch eurpln --source sample"),
    # runs: ids, folders, files
    case("run-unknown-id", nothing, ["plot", "20990101-nope"], 1, "no run '20990101-nope'",
         "list runs with: seqcast runs"),
    case("run-id-parent-folder", nothing, ["predict-next", "../x"], 1, "is not a run id",
         "list runs with: seqcast runs"),
    case("run-id-absolute-path", nothing, ["plot", "{run}"], 1, "is not a run id", "seqcast runs"),
    case("run-id-symlink", symlinked_run, ["plot", "20990101-000000.000-lstm-eurpln-link"], 1,
         "is a symbolic link", "copy the run folder"),
    case("run-id-ambiguous", two_similar_runs, ["predict-next", "20990101"], 1, "matches 2 runs",
         "give more of the id"),
    case("run-missing-model", run_file("model.pt", None), ["predict-next", "{run_id}"], 1,
         "is incomplete or not a run", "train again"),
    case("run-missing-meta", run_file("meta.json", None), ["plot", "{run_id}"], 1,
         "is incomplete or not a run", "train again"),
    case("run-config-not-json", run_file("config.json", "{'model': "), ["predict-next"], 1,
         "config.json is not readable JSON", "train again"),
    case("run-config-bad-value", edit_run_json("config.json", lambda d: d["model"].update(kind="cnn")),
         ["plot"], 1, "config.json is invalid", "train again"),
    case("run-config-unknown-key", edit_run_json("config.json", lambda d: d["train"].update(evil="x")),
         ["predict-next"], 1, "unknown keys: evil", "train again"),
    case("run-meta-wrong-types", edit_run_json("meta.json", lambda d: d.update(data=[], shrinkage_weight="x")),
         ["predict-next"], 1, "meta.json is invalid", "train again"),
    case("run-meta-bad-widths", edit_run_json("meta.json", lambda d: d.update(interval_widths="abc")),
         ["predict-next"], 1, "'interval_widths' must be a list of numbers", "train again"),
    case("run-meta-bad-volatility", edit_run_json("meta.json", lambda d: d.update(volatility=[{"omega": "x"}])),
         ["predict-next"], 1, "'volatility' must hold", "train again"),
    case("run-meta-symbol-not-text", edit_run_json("meta.json", lambda d: d.update(symbol=5)),
         ["plot"], 1, "'symbol' must be a string", "train again"),
    case("run-metrics-wrong-types", edit_run_json("metrics.json", lambda d: d.update(test=[1, 2])),
         ["plot"], 1, "metrics.json is invalid", "train again"),
    case("run-history-garbage", run_file("history.json", '[1, "two"]'), ["plot"], 1,
         "history.json is invalid", "train again"),
    case("run-predictions-garbage", run_file("predictions.csv", "a,b\n1,2\n"), ["plot"], 1,
         "predictions.csv", "train again"),
    case("run-scaler-zero-scale", run_file("scaler.json", '{"center": 0, "scale": 0}'), ["predict-next"], 1,
         "scaler.json holds an unusable scale", "train again"),
    case("run-weights-garbage", run_file("model.pt", b"\x00garbage"), ["predict-next"], 1,
         "was changed after the run was saved", "train again"),
    case("run-weights-pickle-payload", pickle_payload, ["predict-next"], 1,
         "model.pt was changed after the run was saved (its checksum differs) and was not loaded", "train again"),
    case("run-weights-other-architecture", edit_run_json("config.json", lambda d: d["model"].update(hidden=16)),
         ["predict-next"], 1, "weights of another architecture", "train again"),
    case("predict-zero-days", nothing, ["predict-next", "--horizon", "0"], 1, "--horizon must be between 1 and 250",
         "between 1 and 250"),
    case("predict-stored-data-missing", delete_stored_csv, ["predict-next"], 1,
         "stored data for eurpln (sample) is missing", "seqcast fetch eurpln --source sample"),
    case("plot-unknown-format", nothing, ["plot", "--format", "gif"], 2, "Invalid value for '--format'",
         "Try 'seqcast plot -h' for help"),
    case("runs-unknown-option", nothing, ["runs", "--all"], 2, "No such option", "Try 'seqcast runs -h'"),
    case("data-extra-argument", nothing, ["data", "eurpln"], 2, "No such command 'eurpln'",
         "Try 'seqcast data -h'"),
]


@pytest.mark.parametrize(("prepare", "args", "code", "message", "next_step"), CASES)
def test_bad_input(ctx: Ctx, prepare, args, code, message, next_step) -> None:
    prepare(ctx)
    before = snapshot(ctx.home)
    argv = [a.format(files=ctx.files, run=ctx.run, run_id=ctx.run_id) for a in args]
    result = runner.invoke(app, argv)
    out = result.output
    assert result.exit_code == code, out
    assert "Traceback" not in out
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), out
    flat = " ".join(out.split())  # usage errors come in a wrapped box
    assert " ".join(message.split()) in flat, out
    assert " ".join(next_step.split()) in flat, out
    if code == 1:
        lines = out.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), out
    assert snapshot(ctx.home) == before
    assert not (ctx.files / "pwned").exists()  # a pickle payload never ran


def test_the_matrix_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    commands = {c.values[1][0] for c in CASES}
    assert commands >= {"fetch", "train", "plot", "predict-next", "runs", "data"}


def test_symlinked_run_is_not_listed(ctx: Ctx) -> None:
    symlinked_run(ctx)
    result = runner.invoke(app, ["runs", "--json"])
    assert result.exit_code == 0, result.output
    assert [r["run_id"] for r in json.loads(result.output)] == [ctx.run_id]
    # Not the latest run either, although its id sorts last.
    result = runner.invoke(app, ["predict-next", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["run_id"] == ctx.run_id


# --- accepted inputs ---------------------------------------------------------------------------


def accepted(id: str, body: bytes | str, dates: list[str], closes: list[float], **more: list[float]):
    return pytest.param(body, dates, closes, more, id=id)


ACCEPTED = [
    accepted("utf8-bom", b"\xef\xbb\xbfDate,Close\r\n2024-01-02,4.31\r\n2024-01-03,4.32\r\n",
             ["2024-01-02", "2024-01-03"], [4.31, 4.32]),
    accepted("unsorted-dates", "Date,Close\n2024-01-04,3\n2024-01-02,1\n2024-01-03,2\n",
             ["2024-01-02", "2024-01-03", "2024-01-04"], [1, 2, 3]),
    accepted("polish-spreadsheet-export",
             "Data;Otwarcie;Najwyższy;Najniższy;Zamknięcie;Wolumen\r\n"
             "2024-01-02;4,3010;4,3250;4,2900;4,3210;1 234\r\n"
             "2024-01-03;4,3210;4,3400;4,3100;4,3350;2 345,5\r\n".encode("cp1250"),
             ["2024-01-02", "2024-01-03"], [4.321, 4.335], Volume=[1234.0, 2345.5]),
    accepted("gaps-of-weeks", "Date,Close\n2024-01-02,1\n2024-02-20,2\n2024-05-07,3\n",
             ["2024-01-02", "2024-02-20", "2024-05-07"], [1, 2, 3]),
    accepted("identical-duplicate-rows", "Date,Close\n2024-01-02,1.5\n2024-01-03,2.5\n2024-01-02,1.5\n",
             ["2024-01-02", "2024-01-03"], [1.5, 2.5]),
    accepted("zero-and-negative-prices", "Date,Close\n2024-01-02,0.5\n2024-01-03,0\n2024-01-04,-0.25\n",
             ["2024-01-02", "2024-01-03", "2024-01-04"], [0.5, 0.0, -0.25]),
    accepted("tab-separated-day-first", "Date\tClose\n02.01.2024\t1.5\n03.01.2024\t1.75\n",
             ["2024-01-02", "2024-01-03"], [1.5, 1.75]),
]


@pytest.mark.parametrize(("body", "dates", "closes", "more"), ACCEPTED)
def test_accepted_input(workspace, tmp_path, body, dates, closes, more) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(body.encode("utf-8") if isinstance(body, str) else body)
    result = runner.invoke(app, ["fetch", "acc", "--csv", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{len(dates)} rows" in result.output
    frame = Store(Workspace.resolve()).get("acc", "csv").load()
    assert [str(d.date()) for d in frame.index] == dates
    assert frame["Close"].tolist() == pytest.approx(closes)
    for column, values in more.items():
        assert frame[column].tolist() == pytest.approx(values)


def test_negative_prices_train_with_target_change(ctx: Ctx) -> None:
    spread_series(ctx)
    result = runner.invoke(app, ["train", *TINY, "--symbol", "spread", "--target", "change", "--json"])
    assert result.exit_code == 0, result.output
    run = api.load_run(json.loads(result.output)["run_id"])
    assert run.config.data.target == "change" and run.meta["symbol"] == "spread"
    assert run.metrics["test"]["n"] > 0
    result = runner.invoke(app, ["predict-next", run.run_id, "--json"])
    assert result.exit_code == 0, result.output


# --- files from elsewhere are data --------------------------------------------------------------


def test_foreign_store_metadata_is_skipped(workspace) -> None:
    folder = workspace / "data" / "csv"
    folder.mkdir(parents=True)
    (folder / "x.json").write_text(json.dumps({"symbol": "x", "source": "csv", "file": "x.csv",
                                               "fetched_at": 5}))
    (folder / "y.json").write_text(json.dumps({"symbol": "y", "source": "csv", "file": "y.csv"}))
    result = runner.invoke(app, ["data"])
    assert result.exit_code == 0 and "no data yet" in result.output, result.output
    result = runner.invoke(app, ["train", *TINY])
    assert result.exit_code == 1 and "no data fetched yet" in result.output, result.output


def test_no_code_is_ever_loaded_from_files() -> None:
    """No eval/exec/pickle in seqcast; every torch.load is weights_only=True."""
    source_root = pathlib.Path(seqcast.data.series.__file__).parent
    for path in source_root.rglob("*.py"):
        text = path.read_text()
        for forbidden in (r"(?<![.\w])eval\(", r"(?<![.\w])exec\(", r"pickle\.loads?\(", r"weights_only=False",
                          r"import marshal", r"yaml\.load\("):
            assert not re.search(forbidden, text), (path, forbidden)
        for call in text.split("torch.load(")[1:]:
            assert "weights_only=True" in call.split(")")[0], path
