"""The embedded stack behind `make run`: real PostgreSQL and Temporal processes, no mocks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import psutil
import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, WorkflowExecutionStatus

from casebridge.devstack import StartupError, free_port, start_postgres, start_temporal, stop_leftovers
from casebridge.devstack.processes import run_sync

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "devstack-test"


async def _fetch(dsn: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(query)
        return rows
    finally:
        await conn.close()


async def _retention(address: str, namespace: str) -> timedelta:
    client = await Client.connect(address, namespace=namespace)
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    return described.config.workflow_execution_retention_ttl.ToTimedelta()


async def _workflow_status(address: str, workflow_id: str) -> WorkflowExecutionStatus | None:
    client = await Client.connect(address, namespace=NAMESPACE)
    return (await client.get_workflow_handle(workflow_id).describe()).status


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    yield path
    stop_leftovers(path)  # whatever a failing test left running


def _clean_env(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CASEBRIDGE_")}
    env.update(overrides)
    return env


@pytest.mark.timeout(60)
def test_embedded_servers_start_answer_and_stop(data_dir: Path) -> None:
    with (
        start_postgres(data_dir, free_port()) as postgres,
        start_temporal(data_dir, free_port(), None, NAMESPACE) as temporal,
    ):
        rows = run_sync(_fetch(postgres.dsn(), "SELECT current_database() AS db, current_user AS usr"))
        assert (rows[0]["db"], rows[0]["usr"]) == ("casebridge", "postgres")
        assert postgres.url.startswith("postgresql+asyncpg://postgres@127.0.0.1:")
        if os.geteuid() == 0:
            assert psutil.Process(postgres.pid).username() != "root"  # postgres refuses root
        # The dev server's 24 h default would drop closed cases the next day.
        assert run_sync(_retention(temporal.address, NAMESPACE)) >= timedelta(days=3650)
        assert {p.name for p in (data_dir / "run").glob("*.pid")} == {"postgres.pid", "temporal.pid"}
        assert (data_dir / "logs" / "temporal.log").exists()
    assert not postgres.alive()
    assert not temporal.alive()
    assert list((data_dir / "run").glob("*.pid")) == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "taken",
    ["CASEBRIDGE_HTTP_PORT", "CASEBRIDGE_EMBEDDED_PG_PORT", "CASEBRIDGE_TEMPORAL_PORT", "CASEBRIDGE_TEMPORAL_UI_PORT"],
)
def test_supervisor_names_a_port_that_is_taken(data_dir: Path, taken: str) -> None:
    ports = {
        name: free_port()
        for name in (
            "CASEBRIDGE_HTTP_PORT",
            "CASEBRIDGE_EMBEDDED_PG_PORT",
            "CASEBRIDGE_TEMPORAL_PORT",
            "CASEBRIDGE_TEMPORAL_UI_PORT",
        )
    }
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports[taken]))
        squatter.listen()
        env = _clean_env(CASEBRIDGE_DATA_DIR=str(data_dir), **{k: str(v) for k, v in ports.items()})
        result = subprocess.run(
            [sys.executable, "-m", "casebridge.devstack"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=45,
            check=False,
        )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"port {ports[taken]}" in output and taken in output, output
    assert list((data_dir / "run").glob("*.pid")) == []  # nothing was left running


@pytest.mark.timeout(30)
def test_a_server_that_fails_to_start_is_reported_with_its_log(data_dir: Path) -> None:
    pgdata = data_dir / "postgres"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("18\n")  # looks initialised, but is no cluster at all
    port = free_port()
    with pytest.raises(StartupError) as failure:
        start_postgres(data_dir, port)
    message = str(failure.value)
    assert f"PostgreSQL on port {port}" in message
    assert str(data_dir / "logs" / "postgres.log") in message
    assert "postgresql.conf" in message  # the log's tail says why
    assert list((data_dir / "run").glob("*.pid")) == []


CRASH_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    import asyncpg
    from temporalio.client import Client
    from casebridge.devstack import start_postgres, start_temporal

    data_dir, pg_port, temporal_port, mark = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    postgres = start_postgres(data_dir, pg_port)
    temporal = start_temporal(data_dir, temporal_port, None, sys.argv[5])

    async def record() -> None:
        conn = await asyncpg.connect(postgres.dsn())
        await conn.execute("CREATE TABLE IF NOT EXISTS marks (mark text)")
        await conn.execute("INSERT INTO marks VALUES ($1)", mark)
        await conn.close()
        client = await Client.connect(temporal.address, namespace=temporal.namespace)
        await client.start_workflow("NoWorkerForThis", id=f"case-{mark}", task_queue="nobody-polls")

    asyncio.run(record())
    print("ready", postgres.pid, temporal.pid, flush=True)
    time.sleep(600)
    """
)


def _start_crash_script(data_dir: Path, pg_port: int, temporal_port: int, mark: str) -> tuple[int, list[int]]:
    """Run the servers in a child process the way `make run` does; return its pid and the servers'."""
    argv = [sys.executable, "-c", CRASH_SCRIPT, str(data_dir), str(pg_port), str(temporal_port), mark, NAMESPACE]
    proc = subprocess.Popen(argv, cwd=ROOT, env=_clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        pytest.fail(f"servers did not start: {line}{proc.stderr.read()}")
    server_pids = [int(pid) for pid in line.split()[1:]]
    return proc.pid, server_pids


def _gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


@pytest.mark.timeout(60)
def test_restart_after_crash_keeps_data(data_dir: Path) -> None:
    pg_port, temporal_port = free_port(), free_port()

    # 1. Everything SIGKILLed: stale postmaster.pid and socket lock, WAL to replay.
    script, servers = _start_crash_script(data_dir, pg_port, temporal_port, "one")
    for pid in [script, *servers]:
        os.kill(pid, signal.SIGKILL)

    # 2. Only the supervisor SIGKILLed: its servers live on as orphans, holding the ports.
    script, orphans = _start_crash_script(data_dir, pg_port, temporal_port, "two")
    os.kill(script, signal.SIGKILL)
    assert not any(_gone(pid) for pid in orphans)

    # 3. The next start on the same data dir stops the orphans and finds everything recorded.
    with (
        start_postgres(data_dir, pg_port) as postgres,
        start_temporal(data_dir, temporal_port, None, NAMESPACE) as temporal,
    ):
        assert all(_gone(pid) for pid in orphans)
        rows = run_sync(_fetch(postgres.dsn(), "SELECT mark FROM marks ORDER BY mark"))
        assert [row["mark"] for row in rows] == ["one", "two"]
        for mark in ("one", "two"):
            status = run_sync(_workflow_status(temporal.address, f"case-{mark}"))
            assert status == WorkflowExecutionStatus.RUNNING


class _Supervisor:
    """`python -m casebridge.devstack` as `make run` starts it, with its output collected."""

    def __init__(self, data_dir: Path, http_port: int, ports: dict[str, int]) -> None:
        env = _clean_env(
            CASEBRIDGE_DATA_DIR=str(data_dir),
            CASEBRIDGE_HTTP_PORT=str(http_port),
            **{name: str(port) for name, port in ports.items()},
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "casebridge.devstack"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        self.lines.extend(iter(self.proc.stdout.readline, ""))

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 45) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert self.proc.poll() is None or text in self.output, self.output
            assert time.monotonic() < deadline, self.output
            time.sleep(0.1)

    def exit_code(self, timeout: float = 45) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code


@pytest.mark.timeout(90)
def test_supervisor_runs_the_stack_and_stops_it_in_order(data_dir: Path) -> None:
    http_port = free_port()
    ports = {
        "CASEBRIDGE_EMBEDDED_PG_PORT": free_port(),
        "CASEBRIDGE_TEMPORAL_PORT": free_port(),
        "CASEBRIDGE_TEMPORAL_UI_PORT": free_port(),
    }
    first = _Supervisor(data_dir, http_port, ports)
    first.wait_for("Casebridge is running")
    assert "demo users created" in first.output
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=5) as response:
        assert response.status == 200
    # A worker that dies takes the stack down with a non-zero exit, and says so.
    worker_pid = json.loads((data_dir / "run" / "worker.pid").read_text())["pid"]
    os.kill(worker_pid, signal.SIGKILL)
    assert first.exit_code() != 0
    assert "worker exited unexpectedly" in first.output
    assert list((data_dir / "run").glob("*.pid")) == []

    # The next run keeps the data (no new demo users) and SIGTERM stops API, worker, Temporal, PostgreSQL.
    second = _Supervisor(data_dir, http_port, ports)
    second.wait_for("Casebridge is running")
    second.proc.send_signal(signal.SIGTERM)
    assert second.exit_code() == 0, second.output
    assert "demo users created" not in second.output
    stops = [line.split()[1] for line in second.lines if line.startswith("stopping ") and "..." in line]
    assert stops == ["api", "worker", "temporal", "postgres"], second.output
    assert list((data_dir / "run").glob("*.pid")) == []


def test_a_port_the_dev_server_chose_itself_is_a_race_worth_another_start() -> None:
    from casebridge.devstack.temporal import lost_port_race

    fatal = '{"level":"FATAL","message":"listen tcp 127.0.0.1:%d: bind: address already in use"}'
    assert lost_port_race("exited with code 1\n" + fatal % 36369, {35067, 35068}) == 36369
    assert lost_port_race("exited with code 1\n" + fatal % 35067, {35067, None}) is None, "ours: say so, stop"
    assert lost_port_race("exited with code 1: no such file", {35067}) is None
