"""Sweeps on Ray: a two-node cluster on 127.0.0.1 started here gives the local pool's metrics
and runs cells on both nodes; a private Ray (no --address) stays on 127.0.0.1 too.

Skipped when Ray is not installed (pip install 'seqcast[ray]').
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

pytest.importorskip("ray")

from seqcast.cli import app
from tests.test_sweep import TINY, fetched, strict_json  # noqa: F401  (the fixture)

runner = CliRunner()

# `ray start`, except that a node asked for 127.0.0.1 keeps it (Ray on Linux swaps in the machine's
# address, ray-project/ray#26293): the worker node's start needs multi-node mode, which is what swaps it.
RAY_START = ("import sys, ray._private.services as s; s.get_node_ip_address = lambda address=None: '127.0.0.1'; "
             "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_ports() -> list[str]:
    return [arg for name in ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
                             "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port")
            for arg in (name, str(_free_port()))]


def _session_pids(sids: set[int]) -> list[int]:
    """The live processes of these sessions (a zombie has ended; only its parent's reaping is left)."""
    out = subprocess.run(["ps", "-eo", "pid=,sid=,stat="], capture_output=True, text=True, check=True).stdout
    return [int(pid) for pid, sid, stat in (line.split()[:3] for line in out.splitlines())
            if int(sid) in sids and not stat.startswith("Z")]


@pytest.fixture
def ray_env(monkeypatch):
    """What every Ray process here gets: no usage reports, no token (a loopback-only test cluster)."""
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p))


@pytest.fixture
def cluster(ray_env):
    """A head and a second node, one CPU each, on 127.0.0.1; every process they start is ended after."""
    import tempfile
    from pathlib import Path

    tmp_path = Path(tempfile.mkdtemp(prefix="sq-ray-", dir="/tmp"))  # Ray's socket paths must stay short
    port = _free_port()
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--object-store-memory", str(80 * 2**20),
              "--disable-usage-stats", "--include-log-monitor", "false"]
    sessions: set[int] = set()

    def start(args: list[str], env: dict[str, str]) -> None:
        # Its own session: the daemons it leaves running are found (and ended) by that session id.
        proc = subprocess.Popen([sys.executable, "-c", RAY_START, "start", *args, *common, *_node_ports()],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        sessions.add(proc.pid)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out[-2000:]

    try:
        start(["--head", "--port", str(port), "--include-dashboard", "false", "--ray-client-server-port",
               str(_free_port()), "--temp-dir", str(tmp_path / "head")],
              {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"})
        start(["--address", f"127.0.0.1:{port}", "--temp-dir", str(tmp_path / "node")], dict(os.environ))
        yield f"127.0.0.1:{port}"
    finally:
        # A throwaway cluster: SIGKILL at once (its daemons took 2 s and more to end on SIGTERM),
        # then its temp dir goes too. Killed in rounds, in case a daemon was starting a worker.
        deadline = time.monotonic() + 10
        while (pids := _session_pids(sessions)) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        assert not _session_pids(sessions), "the test cluster's processes did not end"
        shutil.rmtree(tmp_path, ignore_errors=True)


def _listening_addresses(pids: set[int]) -> set[str]:
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    return {line.split()[3].rsplit(":", 1)[0] for line in out.splitlines()
            if any(f"pid={pid}," in line for pid in pids)}


def test_cluster_sweep_equals_local_and_uses_both_nodes(fetched, cluster):  # noqa: F811
    grid = ["--symbol", "sine", "--model", "lstm,gru", "--seeds", "2", *TINY, "--json"]
    local = runner.invoke(app, ["sweep", *grid, "--workers", "2"])
    assert local.exit_code == 0, local.output
    on_ray = runner.invoke(app, ["sweep", *grid, "--backend", "ray", "--address", cluster])
    assert on_ray.exit_code == 0, on_ray.output
    local_cells, ray_cells = strict_json(local.output)["cells"], strict_json(on_ray.output)["cells"]
    assert [c["test"] for c in ray_cells] == [c["test"] for c in local_cells]  # identical metrics
    payload = strict_json(on_ray.output)
    assert payload["backend"] == "ray" and payload["address"] == cluster
    assert len(payload["nodes"]) == 2 and sum(payload["nodes"].values()) == 4  # cells ran on both nodes
    assert {c["node"] for c in ray_cells} == set(payload["nodes"])

    import ray

    assert not ray.is_initialized()  # the sweep left the cluster, which keeps running
    backtest = runner.invoke(app, ["backtest", "--folds", "2", "--symbol", "sine", *TINY, "--backend", "ray",
                                   "--address", cluster, "--json"])
    assert backtest.exit_code == 0, backtest.output
    assert json.loads(backtest.output)["pooled"]["n"] > 0


def test_private_ray_stays_on_loopback(ray_env):
    import ray

    from seqcast.runs.parallel.executors import RayExecutor, Task

    before = os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    with RayExecutor(workers=1) as executor:
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
        [outcome] = list(executor.run([Task("k", os.getpid)]))
        assert outcome.ok and outcome.value != os.getpid()
        if shutil.which("ss") and shutil.which("pgrep"):  # every socket Ray's processes listen on
            ours = {int(p) for p in subprocess.run(["pgrep", "-P", str(os.getpid())], capture_output=True,
                                                   text=True).stdout.split()}
            addresses = _listening_addresses(ours)
            assert addresses and addresses <= {"127.0.0.1", "[::ffff:127.0.0.1]"}, addresses
        # A task whose worker dies is retried once, then reported; the executor keeps working.
        retried = []
        [lost] = list(executor.run([Task("dies", os.abort)], on_retry=lambda key, why: retried.append(key)))
        assert retried == ["dies"] and not lost.ok and lost.attempts == 2
        assert lost.error.startswith("Ray worker lost") and lost.error.endswith("also on its retry")
        [again] = list(executor.run([Task("k", os.getpid)]))
        assert again.ok
    assert not ray.is_initialized()
    assert os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == before
