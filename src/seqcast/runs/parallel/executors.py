"""Run many independent tasks in parallel: a local process pool or Ray, behind one interface.

A task is a module-level function and its arguments (both picklable); it must not need
the workspace, so a Ray cluster without a shared disk can run it. The caller gets one
Outcome per task as tasks finish, in any order. A task whose worker process dies is
retried once on another worker, and reported as failed if that dies too; an exception
raised by the task itself is its result (it would only fail again). Ray is imported by
RayExecutor only.
"""

from __future__ import annotations

import os
import socket
import traceback
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from seqcast.config import check_workers
from seqcast.errors import ConfigError

RAY_HINT = "--backend ray needs Ray: pip install 'seqcast[ray]' (or: pip install 'ray>=2.9')"
STOP_GRACE_S = 1.0
"""After Ctrl-C, how long workers get to exit on SIGTERM before they are killed."""


@dataclass
class Task:
    """fn(*args) to run somewhere; key identifies it in the Outcome."""

    key: Hashable
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


@dataclass
class Outcome:
    """How a task ended: its value, or why it failed."""

    key: Hashable
    value: Any = None
    error: str | None = None  # one line; None when the task succeeded
    exception: BaseException | None = None  # the task's own exception, when it raised one
    node: str = ""  # where it ran: "host:pid" locally, the Ray node id on Ray
    attempts: int = 1
    worker_deaths: list[str] = field(default_factory=list)  # why earlier attempts were lost

    @property
    def ok(self) -> bool:
        return self.error is None


RetryCallback = Callable[[Hashable, str], None]
"""on_retry(key, reason): a worker died while running that task; it runs once more."""


def available_cpus() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


class Executor:
    """The interface: run(tasks) yields an Outcome per task as each finishes."""

    name = "executor"
    workers = 1

    def run(self, tasks: Iterable[Task], *, on_retry: RetryCallback | None = None) -> Iterator[Outcome]:
        raise NotImplementedError

    def close(self) -> None:
        """Stop every worker (also after Ctrl-C); safe to call twice."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(backend: str = "local", *, workers: int | None = None, address: str | None = None,
                  threads: int = 1) -> Executor:
    """`local` (a process pool on this machine's cores) or `ray` (address: an existing cluster)."""
    check_workers(workers)
    if backend == "local":
        if address:
            raise ConfigError("--address is for --backend ray; add --backend ray or drop --address")
        return LocalExecutor(workers, threads=threads)
    if backend == "ray":
        return RayExecutor(address=address, workers=workers, threads=threads)
    raise ConfigError(f"--backend must be local or ray, got {backend!r}")


# --------------------------------------------------------------------------- in the worker

_worker_threads: int | None = None


def _prepare_worker(threads: int) -> None:
    """One torch thread per worker (set once): the workers, not torch, fill the cores."""
    global _worker_threads
    if _worker_threads == threads:
        return
    import torch

    torch.set_num_threads(threads)
    _worker_threads = threads


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any, str]:
    """Run fn; ("ok", value, "") or ("error", exception-or-None, one line + traceback)."""
    try:
        return "ok", fn(*args), ""
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
        return "error", exc, text + "\n" + traceback.format_exc()


def _local_worker(conn: Any, threads: int) -> None:
    """A pool process: import torch once, then run tasks one after another until told to stop."""
    import signal

    # Ctrl-C in a terminal reaches the whole process group: the driver alone decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    from seqcast.models.perf import tune_allocator

    tune_allocator()  # seqcast's own process: keep the LSTM workspaces mapped, as the CLI does (perf.py)
    _prepare_worker(threads)
    node = f"{socket.gethostname()}:{os.getpid()}"
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn, args = message
        status, value, text = _call(fn, args)
        try:
            conn.send((status, value, text, node))
        except OSError:  # the driver is gone (killed): nobody to answer, exit quietly
            return
        except Exception:  # the value or the exception does not pickle
            try:
                conn.send(("error", None, f"the result could not be sent back: {traceback.format_exc()}", node))
            except OSError:
                return


def _ray_task(fn: Callable[..., Any], args: tuple[Any, ...], threads: int) -> tuple[str, Any, str, str]:
    import ray

    _prepare_worker(threads)
    # Arguments the driver put in the object store once (RayExecutor._shared) arrive as references
    # nested in the tuple, which Ray does not resolve by itself: fetched here (cached per node).
    args = tuple(ray.get(a) if isinstance(a, ray.ObjectRef) else a for a in args)
    status, value, text = _call(fn, args)
    return status, value, text, ray.get_runtime_context().get_node_id()


def _outcome(task: Task, attempt: int, deaths: list[str], reply: tuple[str, Any, str, str]) -> Outcome:
    status, value, text, node = reply
    if status == "ok":
        return Outcome(task.key, value, node=node, attempts=attempt, worker_deaths=deaths)
    first, _, _tb = text.partition("\n")
    exc = value if isinstance(value, BaseException) else None
    return Outcome(task.key, error=first, exception=exc, node=node, attempts=attempt, worker_deaths=deaths)


# --------------------------------------------------------------------------- local pool


class _Worker:
    def __init__(self, ctx: Any, threads: int) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.conn = parent
        self.process = ctx.Process(target=_local_worker, args=(child, threads), daemon=True)
        self.process.start()
        child.close()
        self.task: Task | None = None
        self.attempt = 0
        self.deaths: list[str] = []

    def stop(self, force: bool = False) -> None:
        if force:
            self.process.terminate()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass


class LocalExecutor(Executor):
    """Worker processes on this machine (spawned, so no torch state is forked), one per core.

    Each worker imports torch once and runs many tasks with `threads` torch threads.
    A worker is tied to one task at a time, so a worker that dies (killed, out of memory)
    fails only the task it was running; a new worker replaces it.
    """

    name = "local"

    def __init__(self, workers: int | None = None, *, threads: int = 1) -> None:
        check_workers(workers)
        self.workers = workers or available_cpus()
        self.threads = threads
        self._pool: list[_Worker] = []

    def run(self, tasks: Iterable[Task], *, on_retry: RetryCallback | None = None) -> Iterator[Outcome]:
        import multiprocessing
        from multiprocessing.connection import wait

        ctx = multiprocessing.get_context("spawn")
        # Retries first, then the tasks as the caller's iterable yields them: tasks are pulled one at
        # a time, when a worker is free, so a generator of 100,000 tasks starts its first at once.
        queue: deque[tuple[Task, int, list[str]]] = deque()
        pending = iter(tasks)

        def take() -> tuple[Task, int, list[str]] | None:
            if queue:
                return queue.popleft()
            task = next(pending, None)
            return None if task is None else (task, 1, [])

        try:
            while True:
                # Idle workers take the next tasks; a worker is started only for a task to give it.
                idle = [w for w in self._pool if w.task is None]
                while idle or len(self._pool) < self.workers:
                    item = take()
                    if item is None:
                        break
                    if idle:
                        worker = idle.pop()
                    else:
                        worker = _Worker(ctx, self.threads)
                        self._pool.append(worker)
                    worker.task, worker.attempt, worker.deaths = item
                    try:
                        worker.conn.send((worker.task.fn, worker.task.args))
                    except OSError:
                        pass  # it died while idle: its sentinel is ready, the task is retried
                busy = [w for w in self._pool if w.task is not None]
                if not busy:
                    break
                ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
                for worker in busy:
                    if worker.conn in ready or worker.process.sentinel in ready:
                        outcome = self._collect(worker, queue, on_retry)
                        if outcome is not None:
                            yield outcome
        except BaseException:
            self.close(force=True)
            raise

    def _collect(self, worker: _Worker, queue: deque[tuple[Task, int, list[str]]],
                 on_retry: RetryCallback | None) -> Outcome | None:
        task, attempt, deaths = worker.task, worker.attempt, worker.deaths
        assert task is not None
        reply = None
        try:
            if worker.conn.poll():
                reply = worker.conn.recv()
        except (EOFError, OSError):
            reply = None
        if reply is not None:
            worker.task = None
            return _outcome(task, attempt, deaths, reply)
        # No answer and the process is gone: the worker died while running the task.
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        reason = f"worker process died (exit code {code})" if code is None or code >= 0 else \
            f"worker process died (signal {-code})"
        self._pool.remove(worker)
        worker.conn.close()
        deaths = [*deaths, reason]
        if attempt < 2:
            if on_retry is not None:
                on_retry(task.key, reason)
            queue.appendleft((task, attempt + 1, deaths))
            return None
        return Outcome(task.key, error=f"{reason}, also on its retry", attempts=attempt, worker_deaths=deaths)

    def close(self, force: bool = False) -> None:
        import time

        pool, self._pool = self._pool, []
        for worker in pool:
            worker.stop(force=force or worker.task is not None)  # a busy worker would not listen
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in pool:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=1)
            worker.conn.close()


# --------------------------------------------------------------------------- Ray


def import_ray() -> Any:
    """The ray module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_HINT) from None
    return ray


def _is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].removeprefix("ray://")
    return host in ("127.0.0.1", "localhost", "::1", "[::1]")


PROBE_TIMEOUT_S = 3.0
"""Each step of the --address check (TCP connect, the gRPC answer) waits at most this long."""
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def check_ray_address(address: str, timeout: float = PROBE_TIMEOUT_S) -> str:
    """A Ray head at HOST:PORT (or ray://HOST:PORT, Ray's client server), checked before ray.init
    (which retries a wrong address for ever): the form, a TCP connect and a gRPC (HTTP/2) answer,
    each bounded by `timeout` seconds. Returns the address; ConfigError in one line otherwise.
    `auto` (a cluster started on this machine with `ray start`) is left to Ray."""
    text = address.strip()
    if text == "auto":
        return text
    client = text.startswith("ray://")
    rest = text.removeprefix("ray://")
    host, sep, port_text = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    form = (f"--address must be HOST:PORT, the Ray head's address (`ray start --head --port 6379` on "
            f"10.0.0.5: --address 10.0.0.5:6379), got {address!r}")
    if not sep or not host or not port_text.isdigit() or any(c in host for c in "/ ?#@"):
        raise ConfigError(form)
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ConfigError(f"--address {address!r}: the port must be between 1 and 65535")
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror:
        raise ConfigError(f"--address {address!r}: no such host {host!r}") from None
    except TimeoutError:
        raise ConfigError(f"no answer from {where} within {timeout:g} s; check --address (the Ray head's "
                          "HOST:PORT) and that the head is running (`ray status` on it)") from None
    except OSError as exc:
        raise ConfigError(f"nothing answers as a Ray head at {where} ({exc.strerror or exc}); start one with "
                          f"`ray start --head --port {port}` or check --address") from None
    with sock:
        try:
            sock.settimeout(timeout)
            sock.sendall(_H2_PREFACE)
            reply = sock.recv(9)
        except OSError:
            reply = b""
    # A gRPC server (Ray's GCS, or its client server for ray://) answers the HTTP/2 preface with a
    # SETTINGS frame: a 9-byte frame header whose type byte is 4.
    if len(reply) < 4 or reply[3] != 0x04:
        what = "Ray's client server (ray://)" if client else "a Ray head"
        raise ConfigError(f"{where} answers, but not as {what}; check --address (the head's GCS port, "
                          "6379 by default" + (", or 10001 for ray://)" if client else ")"))
    return text


class RayExecutor(Executor):
    """Ray tasks, one CPU each: an existing cluster (`address`), or a private Ray on 127.0.0.1.

    Without an address, Ray is started for this executor on the loopback address only (no
    dashboard, no usage statistics) and shut down by close(). With one, the executor joins
    the cluster and leaves it running. seqcast must be installed on every node.
    """

    name = "ray"

    def __init__(self, *, address: str | None = None, workers: int | None = None, threads: int = 1) -> None:
        if address:
            address = check_ray_address(address)
        ray = import_ray()
        self._ray = ray
        self.threads = threads
        self.address = address
        self._owned = False
        self._saved_env: dict[str, str | None] = {}
        self._saved_cluster_flag: bool | None = None
        if not ray.is_initialized():
            import logging

            # Set for the processes Ray starts; restored by close().
            self._set_env("RAY_USAGE_STATS_ENABLED", "0", keep=True)
            options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
            try:
                if address is None or _is_loopback(address):
                    self._keep_loopback()
                if address:
                    ray.init(address=address, **options)
                else:
                    ray.init(_node_ip_address="127.0.0.1", include_dashboard=False,
                             num_cpus=workers or available_cpus(), **options)
            except ConnectionError as exc:
                self._restore()
                raise ConfigError(f"cannot connect to the Ray cluster at {address}: {str(exc)[:200]}; check "
                                  "--address HOST:PORT (the head's `ray start --head --port`)") from None
            except BaseException:
                self._restore()
                raise
            self._owned = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = min(workers, cpus) if workers else cpus
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
        self._refs: dict[Any, tuple[Task, int, list[str]]] = {}
        self._objects: dict[int, tuple[Any, Any]] = {}

    def run(self, tasks: Iterable[Task], *, on_retry: RetryCallback | None = None) -> Iterator[Outcome]:
        ray = self._ray
        from ray import exceptions as rex

        lost = (rex.WorkerCrashedError, rex.NodeDiedError, rex.ObjectLostError, rex.OwnerDiedError,
                rex.TaskUnschedulableError, rex.LocalRayletDiedError)

        def submit(task: Task, attempt: int, deaths: list[str]) -> None:
            args = tuple(self._shared(a) for a in task.args)
            self._refs[self._remote.remote(task.fn, args, self.threads)] = (task, attempt, deaths)

        pending = iter(tasks)
        in_flight = 2 * max(1, self.workers)  # enough to keep every CPU busy; the rest wait in the iterable

        def top_up() -> None:
            while len(self._refs) < in_flight:
                task = next(pending, None)
                if task is None:
                    return
                submit(task, 1, [])

        try:
            top_up()
            while self._refs:
                ready, _ = ray.wait(list(self._refs), num_returns=1)
                for ref in ready:
                    task, attempt, deaths = self._refs.pop(ref)
                    try:
                        reply = ray.get(ref)
                    except lost as exc:
                        reason = f"Ray worker lost ({type(exc).__name__})"
                        deaths = [*deaths, reason]
                        if attempt < 2:
                            if on_retry is not None:
                                on_retry(task.key, reason)
                            submit(task, attempt + 1, deaths)
                        else:
                            yield Outcome(task.key, error=f"{reason}, also on its retry", attempts=attempt,
                                          worker_deaths=deaths)
                        continue
                    except rex.RayError as exc:
                        yield Outcome(task.key, error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                                      attempts=attempt, worker_deaths=deaths)
                        continue
                    yield _outcome(task, attempt, deaths, reply)
                top_up()
        except BaseException:
            self._cancel()
            raise

    def _shared(self, arg: Any) -> Any:
        """A task argument given to several tasks (the same object: a sweep's series) goes to the object
        store once, on its second use; the tasks get its reference, which Ray resolves to the value."""
        if isinstance(arg, (int, float, str, bool, type(None))):
            return arg
        key = id(arg)
        held = self._objects.get(key)
        if held is not None and held[0] is arg:
            if held[1] is None:
                self._objects[key] = (arg, self._ray.put(arg))
            return self._objects[key][1]
        self._objects[key] = (arg, None)  # held, so its id stays its own
        return arg

    def _cancel(self) -> None:
        for ref in list(self._refs):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # already finished or its worker is gone: nothing left to stop
                pass
        self._refs.clear()

    def _set_env(self, name: str, value: str, *, keep: bool = False) -> None:
        self._saved_env.setdefault(name, os.environ.get(name))
        if keep:
            os.environ.setdefault(name, value)
        else:
            os.environ[name] = value

    def _keep_loopback(self) -> None:
        """Stay on 127.0.0.1: on Linux, Ray otherwise replaces a loopback node address by the machine's
        own address (ray-project/ray#26293) and listens there. Its switch for that is the flag for
        single-machine Ray on macOS and Windows, read once at import and by the processes Ray starts."""
        self._set_env("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        try:
            from ray._private import ray_constants
        except ImportError:  # another Ray layout: its defaults apply
            return
        if hasattr(ray_constants, "ENABLE_RAY_CLUSTER"):
            self._saved_cluster_flag = ray_constants.ENABLE_RAY_CLUSTER
            ray_constants.ENABLE_RAY_CLUSTER = False

    def _restore(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}
        if self._saved_cluster_flag is not None:
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER = self._saved_cluster_flag
            self._saved_cluster_flag = None

    def close(self) -> None:
        self._cancel()
        self._objects.clear()
        if self._owned:
            self._ray.shutdown()
            self._owned = False
        self._restore()
