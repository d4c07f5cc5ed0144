"""One fan-out for every driver: `train --seeds`, backtest folds and sweep cells.

Each driver turns its work into Tasks (seqcast.runs.parallel.executors) and reads the Outcomes through
fan_out(), so the rules are the same everywhere:

- **Order**: outcomes come as tasks finish (any order); `in_order` releases them in the order the
  tasks were given, for a driver that saves in that order (seeds).
- **Streaming**: tasks are pulled from the iterable only when a worker is free, so a generator of
  any length starts its first task at once.
- **Ctrl-C and SIGTERM**: a SIGTERM (what `timeout`, `docker stop`, systemd and CI cancels send) is
  turned into KeyboardInterrupt while the fan-out runs, so both end the same way: the executor
  stops its workers (SIGTERM, then SIGKILL after executors.STOP_GRACE_S) and the driver saves what
  finished. The previous SIGTERM handler is put back afterwards.
- **A dying worker**: its task is retried once on another worker (on_retry says so), then reported
  as failed; a task's own exception is its outcome.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Hashable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from seqcast.runs.parallel.executors import Executor, Outcome, RetryCallback, Task


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (as Ctrl-C does); the handler before is
    restored on leaving. Only in the main thread (signals are delivered there); elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    except (ValueError, OSError):  # no signals here (an embedded interpreter)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def fan_out(executor: Executor, tasks: Iterable[Task], *, on_retry: RetryCallback | None = None
            ) -> Iterator[Outcome]:
    """Run tasks on executor; an Outcome per task, as each finishes.

    Ctrl-C or SIGTERM while it runs: the executor's workers are stopped and KeyboardInterrupt
    propagates to the driver. The executor is also closed on any other exception; on normal
    completion the caller closes it (it may run more tasks on it).
    """
    with sigterm_as_interrupt():
        try:
            yield from executor.run(tasks, on_retry=on_retry)
        except BaseException:
            executor.close()
            raise


def in_order(outcomes: Iterable[Outcome], keys: Iterable[Hashable]) -> Iterator[Outcome]:
    """The outcomes in the order of keys (held back until the ones before them have come)."""
    waiting: dict[Hashable, Outcome] = {}
    order = iter(keys)
    want = next(order, None)
    for outcome in outcomes:
        waiting[outcome.key] = outcome
        while want is not None and want in waiting:
            yield waiting.pop(want)
            want = next(order, None)


__all__ = ["fan_out", "in_order", "sigterm_as_interrupt"]
