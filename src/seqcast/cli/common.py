"""What every seqcast command shares: the console, the error boundary, strict JSON, common options.

Imports nothing heavy: rich and seqcast.fileio are imported when first used.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from seqcast.errors import SeqcastError

if TYPE_CHECKING:
    from rich.console import Console


def _given(ctx: typer.Context, name: str) -> bool:
    """True when the option was typed on the command line (not from the environment or a default)."""
    source = ctx.get_parameter_source(name)
    return getattr(source, "name", None) == "COMMANDLINE"  # typer may ship its own click: compare names


def _home_from_parent(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """A command's --home: its own when typed, else one typed before it (`seqcast --home X cmd`,
    `seqcast data --home X rm`), else $SEQCAST_HOME or the default."""
    if not _given(ctx, str(param.name)) and isinstance(ctx.obj, dict) and "home" in ctx.obj:
        home: Path | None = ctx.obj["home"]
        return home
    return value


HomeOption = Annotated[
    Path | None,
    typer.Option("--home", envvar="SEQCAST_HOME", show_envvar=True,
                 callback=_home_from_parent,
                 help="Workspace folder for data and runs \\[default: ~/.seqcast]."),
]


def flag_option(*param_decls: str, **kwargs: Any) -> Any:
    """typer.Option for a bool flag: no value placeholder in --help (typer's rich help would
    show `--yes <bool>`, which reads as if the flag took a value)."""
    return typer.Option(*param_decls, metavar="", **kwargs)


JsonOption = Annotated[bool, flag_option("--json",
                                         help="A flag (no value): print machine-readable JSON instead of tables.")]


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    # COLUMNS=0 (or garbage) would make rich print nothing at all: fall back to 80 columns.
    columns = os.environ.get("COLUMNS")
    width = 80 if columns is not None and not (columns.strip().isdigit() and int(columns) > 0) else None

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich exits with code 1 here; a closed pipe is a normal end (see _user_errors).
            self.quiet = True
            raise BrokenPipeError

    return _Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def _interrupted() -> None:
    _console(stderr=True).print("[yellow]interrupted[/]; nothing was changed")


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn a SeqcastError into one red line on stderr and exit code 1."""
    try:
        yield
    except SeqcastError as exc:
        from rich.markup import escape

        _console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None
    except BrokenPipeError:
        # `seqcast ... | head -1`: the reader has all it wanted, a normal end. Later writes
        # (and the flush at exit) go nowhere instead of failing again.
        _silence_stdout()
        raise typer.Exit(0) from None
    except KeyboardInterrupt as exc:
        saved = getattr(exc, "saved", None)  # errors.TrainingInterrupted: some runs were saved
        if saved:
            note = f"; {getattr(exc, 'note', '')}" if getattr(exc, "note", "") else ""
            _console(stderr=True).print(
                f"[yellow]interrupted[/]; stopped after saving {len(saved)} run{'s' if len(saved) > 1 else ''}: "
                f"{' '.join(r.run_id for r in saved)}{note}; no mean ± sd was computed", soft_wrap=True)
        else:
            _interrupted()
        raise typer.Exit(130) from None
    except SystemError as exc:
        # A Ctrl-C that lands while a C extension (pandas, torch) is being imported surfaces as
        # SystemError("... returned a result with an exception set") caused by the interrupt.
        if not isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
            raise
        _interrupted()
        raise typer.Exit(130) from None


def _json_out(obj: Any) -> None:
    """Strict JSON (RFC 8259) on stdout: NaN and infinities are written as null."""
    from seqcast.fileio import dumps

    sys.stdout.write(dumps(obj) + "\n")
    sys.stdout.flush()  # a closed pipe shows up here, inside the command, not at exit


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (a test runner's buffer): nothing will flush at exit


def _tolerant_streams() -> None:
    """Print on a terminal or pipe that cannot show every character (PYTHONIOENCODING=ascii,
    LC_ALL=C): unencodable characters (–, ±, ·) become '?', instead of a crash after the
    work was done and saved."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        if reconfigure is not None and encoding not in ("utf8", "utf8sig", "utf16", "utf32"):
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):
                pass


def _num(x: Any, digits: int = 5) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}g}"


def _ratio_colour(ratio: float, pvalue: float | None = None) -> str:
    """Green when the model beats naive, red when it is worse, yellow for a tie or no significant difference."""
    from seqcast.forecast.metrics import SIGNIFICANCE

    if math.isnan(ratio) or abs(ratio - 1) < 5e-4:
        return "yellow"
    if pvalue is not None and not pvalue < SIGNIFICANCE:
        return "yellow"
    return "green" if ratio < 1 else "red"


def check_one_name_per_option(command: Any, args: list[str]) -> None:
    """Refuse an option given under two of its names (`--level 0.8 --coverage 0.9`, `--horizon 2
    --days 3`): the parser would keep the last one silently. click.UsageError: exit 2, as for
    any other command-line mistake."""
    given = args[:args.index("--")] if "--" in args else args
    for param in getattr(command, "params", []):
        # typer ships its own copy of click: recognise an option by its kind, not its class.
        if (getattr(param, "param_type_name", "") != "option" or param.multiple or len(param.opts) < 2
                or param.name == "help"):
            continue
        used = [o for o in param.opts if any(a == o or a.startswith(f"{o}=") for a in given)]
        if len(used) > 1:
            raise typer.BadParameter(f"{used[0]} and {used[1]} are two names of one option; give it once",
                                     param=param)


@contextmanager
def interrupt_after() -> Iterator[None]:
    """Hold a Ctrl-C until the block ends, then raise it as KeyboardInterrupt.

    For importing torch: a Ctrl-C that lands inside its pybind11 code aborts the process
    (std::terminate, exit -6, no message) instead of raising. Only the main thread can
    set signal handlers; elsewhere the block runs as is.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def import_torch() -> None:
    """Import torch where a Ctrl-C cannot abort the import (see interrupt_after)."""
    with interrupt_after():
        import torch  # noqa: F401
