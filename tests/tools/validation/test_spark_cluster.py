"""engine=spark on a Spark standalone cluster: a master and one worker (1 core, 1 GB) started from the
installed pyspark on 127.0.0.1, the server pointed at it with MLOPS_MCP_SPARK_MASTER=spark://127.0.0.1:<port>.
Validation of a 2M-row Parquet there gives the same counts as on pandas.

The module has its own xdist group and its own AppContext: a process holds one SparkContext at a time, and
the other Spark modules' sessions (local[2]) are stopped when their modules end, so this one starts a new
context, on the cluster, in the same JVM (core/spark.py refuses to run on another master's session).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext
from tests.conftest import structured, third_party_env

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.xdist_group("spark-cluster"),
    pytest.mark.timeout(900),
]

ROWS = 2_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def master_state(webui: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{webui}/json/", timeout=5) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def group_members(pgid: int) -> list[psutil.Process]:
    """Live (not zombie) processes in a process group."""
    found = []
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
    return found


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the daemon's process group (the JVM and any executor it started), SIGKILL after 30 s;
    returns when no member is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    deadline = time.monotonic() + 30
    while (left := group_members(proc.pid)) and time.monotonic() < deadline:
        for p in left:
            with contextlib.suppress(psutil.Error):
                p.kill()
        time.sleep(0.2)
    assert not group_members(proc.pid), f"processes left in group {proc.pid}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """(master URL, master web UI port) of a standalone master + one worker, each a `spark-class` JVM in
    its own process group; stopped (with anything they started) at the end of the module."""
    spec = importlib.util.find_spec("pyspark")
    assert spec is not None and spec.submodule_search_locations
    spark_home = Path(next(iter(spec.submodule_search_locations)))
    base = tmp_path_factory.mktemp("spark-cluster")
    (base / "conf").mkdir()  # empty: no spark-env.sh or spark-defaults.conf from anywhere else
    env = third_party_env(
        SPARK_HOME=str(spark_home),
        SPARK_LOCAL_IP="127.0.0.1",  # the daemons bind loopback only
        SPARK_CONF_DIR=str(base / "conf"),
        SPARK_WORKER_DIR=str(base / "work"),  # executors' working dirs and logs
        SPARK_LOG_DIR=str(base / "logs"),
        SPARK_DAEMON_MEMORY="256m",  # the master's and worker's own heaps (the default is 1g each)
    )
    port, webui, worker_webui = free_port(), free_port(), free_port()
    url = f"spark://127.0.0.1:{port}"
    spark_class = str(spark_home / "bin" / "spark-class")
    master = ["org.apache.spark.deploy.master.Master", "--port", str(port), "--webui-port", str(webui)]
    worker = ["org.apache.spark.deploy.worker.Worker", url, "--cores", "1", "--memory", "1g"]
    commands = {
        "master": [spark_class, *master, "--host", "127.0.0.1"],
        "worker": [spark_class, *worker, "--webui-port", str(worker_webui), "--host", "127.0.0.1"],
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: base / f"{name}.log" for name in commands}

    def wait_for(what: str, ready: Any) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    pytest.fail(f"the {name} exited ({proc.returncode}): {logs[name].read_text()[-2000:]}")
            with contextlib.suppress(OSError, ValueError):
                if ready(master_state(webui)):
                    return
            time.sleep(0.5)
        pytest.fail(f"{what} not up after 120 s: {logs['worker'].read_text()[-2000:]}")

    try:
        for name, command in commands.items():
            with logs[name].open("wb") as log:
                procs[name] = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )
            if name == "master":
                wait_for("the master", lambda s: s.get("status") == "ALIVE")
        wait_for("the worker", lambda s: s.get("aliveworkers") == 1)
        yield url, webui
    finally:
        for name in ("worker", "master"):  # the worker first: it kills any executor still running
            if name in procs:
                stop_group(procs[name])


@pytest.fixture(scope="module")
def cluster_app(cluster: tuple[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppContext]:
    url, webui = cluster
    home = tmp_path_factory.mktemp("spark-cluster-home") / "home"
    settings = Settings(home=home, profile="all", spark_master=url, deadline_s=900)
    write_events(ROWS, settings.workspace_dir / "events.parquet")
    app = AppContext.from_settings(settings)
    yield app
    app.close()
    # The application ended on the cluster: the master lists it as completed, none running.
    deadline = time.monotonic() + 30
    while (state := master_state(webui))["activeapps"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not state["activeapps"] and [a["name"] for a in state["completedapps"]] == ["mlops-mcp"]


def write_events(n: int, path: Path) -> None:
    """Every checked column fails somewhere: duplicate ids, out-of-range qty, nulls, unknown plans, bad codes."""
    rng = np.random.default_rng(7)
    ids = np.arange(n)
    ids[rng.choice(n, 40, replace=False)] = 7
    qty = rng.integers(1, 50, n)
    qty[rng.choice(n, 1_500, replace=False)] = 500
    income = rng.normal(50_000, 12_000, n).round(2)
    income[rng.random(n) < 0.03] = np.nan
    plan = rng.choice(np.array(["basic", "plus", "pro"], dtype=object), n)
    plan[rng.choice(n, 300, replace=False)] = "enterprise"
    plan[rng.choice(n, 200, replace=False)] = None
    code = "AB-" + pd.Series(rng.integers(0, 10_000, n)).astype(str).str.zfill(4)
    code.iloc[rng.choice(n, 250, replace=False)] = "bad code"
    df = pd.DataFrame({"id": ids, "qty": qty, "income": income, "plan": plan, "code": code})
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)


SUITE = [
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": 3_000_000}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "qty", "min_value": 1, "max_value": 60},
    },
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "income", "mostly": 0.99}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "income", "min_value": -100_000, "max_value": 200_000},
    },
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "plan"}},
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "plan", "value_set": ["basic", "plus", "pro"]},
    },
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "code", "regex": "^AB-[0-9]{4}$"}},
]


@pytest.fixture
async def cc(cluster_app: AppContext) -> AsyncIterator[Client]:
    server = create_server(cluster_app.settings, app=cluster_app)
    async with Client(server, mode="legacy") as client:
        yield client


async def test_validation_on_a_standalone_cluster_gives_the_same_counts_as_pandas(
    cc: Client, cluster_app: AppContext, cluster: tuple[str, int]
) -> None:
    url, webui = cluster
    structured(await cc.call_tool("validation_create_suite", {"name": "events", "expectations": SUITE}))
    args = {"dataset": "events.parquet", "suite": "events", "limit": 500}
    timings = {}
    reports = {}
    for engine in ("pandas", "spark"):
        started = time.perf_counter()
        reports[engine] = structured(await cc.call_tool("validation_run", {**args, "engine": engine}))
        timings[engine] = round(time.perf_counter() - started, 1)
    print(f"validation_run of {ROWS:,} rows: {timings} s")  # shown with -s
    on_pandas, on_spark = reports["pandas"], reports["spark"]
    assert on_pandas["engine"].endswith("pandas") and on_spark["engine"].endswith(f"spark {url}")

    # It ran on the cluster: one application holding the worker's core, and tasks ran on its executor.
    state = master_state(webui)
    (running,) = state["activeapps"]
    assert running["name"] == "mlops-mcp" and running["cores"] == 1 and state["coresused"] == 1
    session = cluster_app._clients["spark"].session()
    assert session.sparkContext.master == url
    executors = session.sparkContext._jsc.sc().statusTracker().getExecutorInfos()
    assert len(executors) == 2  # the driver (this process) and the worker's executor

    for key in ("success", "row_count", "evaluated", "successful", "failed"):
        assert on_pandas[key] == on_spark[key], key
    assert on_spark["row_count"] == ROWS and on_spark["evaluated"] == len(SUITE)
    p = {o["index"]: o for o in on_pandas["results"]}
    s = {o["index"]: o for o in on_spark["results"]}
    assert p.keys() == s.keys() == set(range(len(SUITE)))
    for i, po in p.items():
        so = s[i]
        assert po["error"] is None and so["error"] is None, (po, so)
        assert (po["type"], po["success"], po["unexpected_count"]) == (
            so["type"],
            so["success"],
            so["unexpected_count"],
        ), (i, po, so)
    # The comparison covers failures: every column check but the income range fails on this data.
    failed = {i for i, o in s.items() if not o["success"]}
    assert failed == {1, 2, 3, 5, 6, 7}
    assert all(s[i]["unexpected_count"] > 0 for i in failed)
