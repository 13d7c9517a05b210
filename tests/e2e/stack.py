"""The real stack for end-to-end tests, started the way ``make run`` starts it: embedded
PostgreSQL and Temporal dev server from the wheels, migrations, demo users, and the worker and the
API as separate processes that a test can SIGKILL and start again."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from casebridge.db.migrate import upgrade
from casebridge.db.seed import seed_demo_users
from casebridge.devstack import ManagedProcess, free_port, start_postgres, start_temporal
from casebridge.devstack.processes import run_sync, spawn

NAMESPACE = "casebridge"

# Clocks short enough to pass during a test: a deadline can fall due while the worker is dead.
FAST_POLICY = """
[meeting]
interval = "30 days"

[departments.hrss]
name = "人力资源和社会保障局"
[departments.justice]
name = "司法局"
[departments.traffic]
name = "交警大队"

[categories.wage_arrears]
lead = "hrss"
assist = ["justice"]
ack_within = "1 working day"
resolve_within = "60 working days"
escalate_after_overdue = "5 working days"

[categories.work_injury]
lead = "hrss"
assist = ["justice"]
ack_within = "1 working day"
resolve_within = "60 days"
escalate_after_overdue = "5 working days"

[categories.safety_hazard]
lead = "traffic"
ack_within = "2 hours"
resolve_within = "2 working days"
escalate_after_overdue = "1 working day"

[categories.hotline_urgent]
label = "测试：秒级时限"
lead = "traffic"
ack_within = "8 seconds"
resolve_within = "1 hours"
warn_at = [0.5]
escalate_after_overdue = "4 seconds"
"""


@dataclass
class Stack:
    data_dir: Path
    env: dict[str, str]
    http_port: int
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    worker_metrics: str | None = None

    def start(self, name: str) -> None:
        module = {"worker": "casebridge.worker", "api": "casebridge.api"}[name]
        env = self.env
        if name == "worker":
            # Each worker process serves its Temporal SDK metrics on a port of its own.
            self.worker_metrics = f"127.0.0.1:{free_port()}"
            env = {**env, "CASEBRIDGE_WORKER_METRICS_ADDRESS": self.worker_metrics}
        self.processes[name] = spawn(name, [sys.executable, "-m", module], self.data_dir, env=env)

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash."""
        process = self.processes.pop(name)
        os.kill(process.pid, signal.SIGKILL)
        process.popen.wait(10)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if not process.alive():
                    log = process.log_path.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"{name} exited with {process.returncode}:\n{log}")
            try:
                response = httpx.get(f"{self.base_url}/readyz", timeout=3)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.3)
        raise TimeoutError(f"stack not ready after {timeout}s: {last}")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=60)

    def token(self, user: str) -> dict[str, str]:
        response = httpx.post(f"{self.base_url}/api/v1/auth/token", data={"username": user, "password": "demo"})
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@contextmanager
def running_stack(data_dir: Path) -> Iterator[Stack]:
    policy = data_dir / "policy.toml"
    data_dir.mkdir(parents=True, exist_ok=True)
    policy.write_text(FAST_POLICY, encoding="utf-8")
    with (
        start_postgres(data_dir, free_port()) as pg,
        start_temporal(data_dir, free_port(), None, NAMESPACE) as temporal,
    ):
        upgrade(pg.url)
        run_sync(seed_demo_users(pg.url))
        http_port = free_port()
        env = {
            **os.environ,
            "CASEBRIDGE_ENV": "test",
            "CASEBRIDGE_DATA_DIR": str(data_dir),
            "CASEBRIDGE_DATABASE_URL": pg.url,
            "CASEBRIDGE_TEMPORAL_ADDRESS": temporal.address,
            "CASEBRIDGE_TEMPORAL_NAMESPACE": NAMESPACE,
            "CASEBRIDGE_HTTP_PORT": str(http_port),
            "CASEBRIDGE_POLICY": str(policy),
            "CASEBRIDGE_LOG_JSON": "true",
            "CASEBRIDGE_OPEN311_API_KEYS": '["e2e-open311-key"]',
        }
        stack = Stack(data_dir, env, http_port)
        try:
            stack.start("worker")
            stack.start("api")
            stack.wait_ready()
            yield stack
        finally:
            for process in list(stack.processes.values()):
                process.stop(timeout=10)
