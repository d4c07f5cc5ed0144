"""Break seqcast on purpose, one way at a time, and check that the test suite goes red each time.

A test that cannot fail proves nothing. Each sabotage below is a plausible bug (a network that
ignores its input, shrinkage switched off, a scaler that sees the test part, ...). For each one
this script copies the repository to a temporary folder, appends the sabotage to the end of the
module that defines its target (found by name: `def fit_shrink(`, `class RNNRegressor`, ...,
wherever it lives then, so code moving between modules does not break the script), and runs
pytest on the copy. A sabotage is *caught* when at least one test fails.

Every sabotaged function also records, once per process, that it changed something (in the
file named by SEQCAST_SABOTAGE_LOG), so a sabotage that never ran is reported as "not applied"
rather than as "not caught". A baseline run without sabotage comes first: the chosen tests must
pass on the intact code, or "caught" would mean nothing.

Run it (under the CPU lock on a shared machine; one torch thread):

    flock /tmp/seqcast-cpu.lock python scripts/sabotage.py                 # every sabotage, fast subset
    python scripts/sabotage.py --list                                      # the sabotages and their tests
    python scripts/sabotage.py shrink-one scaler-all-data                  # some of them
    python scripts/sabotage.py --full                                      # the whole suite each time (slow)
    python scripts/sabotage.py --tests tests/test_cli.py ignore-input      # your own choice of tests

It prints a table (sabotage, applied, caught, the tests that went red, seconds) and exits 1 when
a sabotage was not caught or not applied. The source tree itself is never changed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Appended to every sabotaged module: records (once per process) that the sabotage fired.
HIT = '''

def _sabotage_hit(name):
    import os
    log = os.environ.get("SEQCAST_SABOTAGE_LOG")
    if log and name not in _SABOTAGE_SEEN:
        _SABOTAGE_SEEN.add(name)
        with open(log, "a") as fh:
            fh.write(name + "\\n")


_SABOTAGE_SEEN = set()
'''


@dataclass(frozen=True)
class Patch:
    """Append `code` to the module that defines `target` (a top-level def or class)."""

    target: str
    code: str


@dataclass(frozen=True)
class Sabotage:
    name: str
    what: str
    patches: tuple[Patch, ...]
    tests: tuple[str, ...]
    """The fast subset of test files that should catch it."""


FORWARD_TESTS = ("tests/test_forward_paths.py", "tests/test_training.py", "tests/test_cli.py",
                 "tests/test_seeds.py::test_one_seed_has_zero_sd_and_equals_train",
                 "tests/test_seeds.py::test_cli_train_seeds_json")

def torch_forward(cls: str, name: str, body: str) -> Patch:
    """Replace cls.forward by `body` (an expression of orig, self and x)."""
    return Patch(cls, f'''
_sabotage_{cls}_forward = {cls}.forward


def _sabotage_{cls}_new_forward(self, x):
    orig = _sabotage_{cls}_forward
    _sabotage_hit("{name}")
    return {body}


{cls}.forward = _sabotage_{cls}_new_forward
''')


def numpy_call(name: str, body: str) -> Patch:
    return Patch("NumpyRegressor", f'''
_sabotage_numpy_call = NumpyRegressor.__call__


def _sabotage_new_numpy_call(self, x):
    orig = _sabotage_numpy_call
    _sabotage_hit("{name}")
    return {body}


NumpyRegressor.__call__ = _sabotage_new_numpy_call
''')


SABOTAGES = [
    Sabotage(
        "zero-network",
        "every network (torch and numpy) outputs 0 whatever its input and weights",
        (
            torch_forward("RNNRegressor", "zero-network", "orig(self, x) * 0.0"),
            torch_forward("TransformerRegressor", "zero-network", "orig(self, x) * 0.0"),
            numpy_call("zero-network", "orig(self, x) * 0.0"),
        ),
        FORWARD_TESTS,
    ),
    Sabotage(
        "ignore-input",
        "every network (torch and numpy) sees a window of zeros instead of its input",
        (
            torch_forward("RNNRegressor", "ignore-input", "orig(self, x * 0.0)"),
            torch_forward("TransformerRegressor", "ignore-input", "orig(self, x * 0.0)"),
            numpy_call("ignore-input", "orig(self, x * 0.0)"),
        ),
        FORWARD_TESTS,
    ),
    Sabotage(
        "shrink-one",
        "the shrinkage weight fitted on the validation tail is forced to 1 (the raw network)",
        (Patch("fit_shrink", '''
_sabotage_fit_shrink = fit_shrink


def fit_shrink(*args, **kwargs):
    if _sabotage_fit_shrink(*args, **kwargs) != 1.0:
        _sabotage_hit("shrink-one")
    return 1.0
'''),),
        ("tests/test_training.py", "tests/test_cli.py", "tests/test_intervals.py"),
    ),
    Sabotage(
        "scaler-all-data",
        "the target's scaler is fitted on the whole series, test part included",
        (Patch("fit_scaler", '''
_sabotage_fit_scaler = fit_scaler


def fit_scaler(series, target):
    import numpy as np

    whole = getattr(series, "base", None)
    if isinstance(whole, np.ndarray) and whole.ndim == series.ndim == 1 and len(whole) > len(series):
        _sabotage_hit("scaler-all-data")
        series = whole  # the training slice's parent array: every row
    return _sabotage_fit_scaler(series, target)
'''),),
        ("tests/test_windowing.py", "tests/test_training.py", "tests/test_cli.py"),
    ),
    Sabotage(
        "naive-shifted",
        "the naive forecast the metrics compare with is the price two days back, not yesterday's",
        (Patch("evaluate", '''
_sabotage_evaluate = evaluate


def evaluate(actual, predicted, previous, *args, **kwargs):
    import numpy as np

    previous = np.asarray(previous, dtype=np.float64)
    if previous.size > 1:
        _sabotage_hit("naive-shifted")
        previous = np.concatenate([previous[:1], previous[:-1]])
    return _sabotage_evaluate(actual, predicted, previous, *args, **kwargs)
'''),),
        ("tests/test_metrics.py", "tests/test_training.py", "tests/test_backtest.py"),
    ),
    Sabotage(
        "covariate-lookahead",
        "a covariate is read as of the day after each target date (tomorrow's value leaks in)",
        (Patch("align_asof", '''
_sabotage_align_asof = align_asof


def align_asof(target_dates, dates, values, max_stale_days):
    import numpy as np

    _sabotage_hit("covariate-lookahead")
    ahead = np.asarray(target_dates, dtype="datetime64[D]") + np.timedelta64(1, "D")
    return _sabotage_align_asof(ahead, dates, values, max_stale_days)
'''),),
        ("tests/test_covariates.py",),
    ),
    Sabotage(
        "conformal-from-test",
        "each test day's interval multiplier is the conformal quantile of every out-of-sample day, "
        "that day and later ones included",
        (Patch("rolling_multipliers", '''
_sabotage_rolling_multipliers = rolling_multipliers


def rolling_multipliers(z, start, stop, first, coverage, window=None):
    import numpy as np

    from seqcast.forecast.stats import conformal_quantile

    _sabotage_hit("conformal-from-test")
    return np.full(stop - start, conformal_quantile(z[first:stop], coverage))
'''),),
        ("tests/test_intervals.py", "tests/test_training.py"),
    ),
]
BY_NAME = {s.name: s for s in SABOTAGES}
IGNORED = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache",
                                 ".hypothesis", "*.egg-info", "build", "dist")


def copy_repo(into: Path) -> Path:
    target = into / "repo"
    shutil.copytree(ROOT, target, ignore=IGNORED, symlinks=True)
    return target


def defining_module(src: Path, name: str) -> Path:
    """The one module under src that defines `name` at top level (def or class)."""
    pattern = re.compile(rf"^(def|class) {re.escape(name)}\b", re.MULTILINE)
    found = [p for p in sorted(src.rglob("*.py")) if pattern.search(p.read_text(encoding="utf-8"))]
    if len(found) != 1:
        raise SystemExit(f"sabotage target {name!r} is defined in {len(found)} modules ({found}); update "
                         "scripts/sabotage.py")
    return found[0]


def apply(sabotage: Sabotage, repo: Path) -> list[str]:
    src = repo / "src"
    touched = []
    for patch in sabotage.patches:
        module = defining_module(src, patch.target)
        text = module.read_text(encoding="utf-8")
        if "_sabotage_hit" not in text:
            text += HIT
        module.write_text(text + "\n" + patch.code, encoding="utf-8")
        touched.append(str(module.relative_to(repo)))
    return touched


@dataclass
class Outcome:
    name: str
    applied: bool
    red: list[str]
    passed: int
    seconds: float
    returncode: int
    tail: str


def run_pytest(repo: Path, tests: list[str], log: Path, extra: list[str]) -> tuple[int, str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQCAST_")}
    env.update(PYTHONPATH=str(repo / "src"), SEQCAST_SABOTAGE_LOG=str(log), OMP_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:randomly", "-p", "no:cacheprovider",
           "--no-header", *extra, *tests]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def red_tests(output: str) -> list[str]:
    return [line.split(" ", 1)[1].split(" - ")[0] for line in output.splitlines()
            if line.startswith(("FAILED ", "ERROR "))]


def passed_count(output: str) -> int:
    match = re.search(r"(\d+) passed", output)
    return int(match.group(1)) if match else 0


def run_one(sabotage: Sabotage | None, tests: list[str], extra: list[str]) -> Outcome:
    name = sabotage.name if sabotage else "(none: baseline)"
    with tempfile.TemporaryDirectory(prefix="seqcast-sabotage-") as tmp:
        repo = copy_repo(Path(tmp))
        if sabotage:
            apply(sabotage, repo)
        log = Path(tmp) / "hits.log"
        log.touch()
        code, output, seconds = run_pytest(repo, tests, log, extra)
        applied = sabotage is None or bool(log.read_text().strip())
    return Outcome(name, applied, red_tests(output), passed_count(output), seconds, code, output[-3000:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="sabotages to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the sabotages and exit")
    parser.add_argument("--full", action="store_true", help="run the whole suite for each sabotage")
    parser.add_argument("--tests", nargs="+", help="test files or ids to run instead of each sabotage's subset")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run without sabotage")
    parser.add_argument("-x", "--exitfirst", action="store_true", help="stop each run at the first red test")
    parser.add_argument("--show", type=int, default=6, metavar="N", help="red tests named per sabotage (6)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print pytest's output tail of every run")
    args = parser.parse_args(argv)
    if args.list:
        for s in SABOTAGES:
            print(f"{s.name:20} {s.what}\n{'':20} targets: {', '.join(p.target for p in s.patches)}; "
                  f"tests: {' '.join(s.tests)}")
        return 0
    unknown = [n for n in args.names if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown sabotage(s) {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    chosen = [BY_NAME[n] for n in args.names] if args.names else SABOTAGES
    extra = ["-x"] if args.exitfirst else []

    def tests_for(s: Sabotage | None) -> list[str]:
        if args.full:
            return []  # pytest's testpaths: everything
        if args.tests:
            return list(args.tests)
        if s is None:
            return sorted({t for c in chosen for t in c.tests})
        return list(s.tests)

    outcomes = []
    runs: list[Sabotage | None] = ([] if args.no_baseline else [None]) + list(chosen)
    for sabotage in runs:
        outcome = run_one(sabotage, tests_for(sabotage), extra)
        outcomes.append(outcome)
        status = ("green" if outcome.returncode == 0 else "RED") if sabotage is None else (
            "not applied" if not outcome.applied else "caught" if outcome.red else "NOT CAUGHT")
        print(f"{outcome.name:22} {status:12} {len(outcome.red):3} red, {outcome.passed:4} passed, "
              f"{outcome.seconds:6.1f} s", flush=True)
        if args.verbose or (sabotage is None and outcome.returncode != 0) or (sabotage and not outcome.red):
            print(outcome.tail)
    print()
    print("| sabotage | applied | caught | red tests | seconds |")
    print("|---|---|---|---|---|")
    for o in outcomes:
        red = [t.removeprefix("tests/") for t in o.red]
        shown = ", ".join(red[:args.show]) + (f", ... ({len(red)} in all)" if len(red) > args.show else "")
        print(f"| {o.name} | {'yes' if o.applied else 'NO'} | {'yes' if o.red else 'no'} | {shown or '-'} | "
              f"{o.seconds:.1f} |")
    baseline_ok = args.no_baseline or outcomes[0].returncode == 0
    sabotaged = outcomes if args.no_baseline else outcomes[1:]
    ok = baseline_ok and all(o.applied and o.red for o in sabotaged)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
