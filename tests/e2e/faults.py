"""The real stack for fault injection: like ``tests/e2e/stack.py``'s, but PostgreSQL and the
Temporal dev server are held by the stack itself (not by ``with`` blocks), so a test can stop and
start them again on the same data dir and port while the worker and the API keep running."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from casebridge.db.migrate import upgrade
from casebridge.db.seed import seed_demo_users
from casebridge.devstack import EmbeddedPostgres, EmbeddedTemporal, free_port, start_postgres, start_temporal
from casebridge.devstack.processes import run_sync
from tests.e2e.stack import FAST_POLICY, NAMESPACE, Stack


@dataclass
class FaultStack(Stack):
    pg_port: int = 0
    temporal_port: int = 0
    pg: EmbeddedPostgres | None = None
    temporal: EmbeddedTemporal | None = None

    def start_postgres(self) -> EmbeddedPostgres:
        self.pg = start_postgres(self.data_dir, self.pg_port)
        return self.pg

    def stop_postgres(self) -> None:
        """A clean stop ("fast" shutdown: sessions are rolled back, then a checkpoint)."""
        assert self.pg is not None
        self.pg.stop()
        self.pg = None

    def start_temporal(self) -> EmbeddedTemporal:
        self.temporal = start_temporal(self.data_dir, self.temporal_port, None, NAMESPACE)
        return self.temporal

    def kill_temporal(self) -> None:
        """SIGKILL the dev server: whatever it had not written to its database is gone."""
        assert self.temporal is not None
        os.kill(self.temporal.pid, signal.SIGKILL)
        self.temporal.popen.wait(10)
        self.temporal.stop()  # reaps it and removes the pid file
        self.temporal = None

    def shutdown(self) -> None:
        for name in ("api", "worker"):
            process = self.processes.pop(name, None)
            if process is not None:
                process.stop(timeout=10)
        for server in (self.temporal, self.pg):
            if server is not None:
                with suppress(Exception):
                    server.stop()
        self.temporal = self.pg = None


@contextmanager
def fault_stack(data_dir: Path, policy_text: str = FAST_POLICY) -> Iterator[FaultStack]:
    data_dir.mkdir(parents=True, exist_ok=True)
    policy = data_dir / "policy.toml"
    policy.write_text(policy_text, encoding="utf-8")
    stack = FaultStack(data_dir, {}, free_port(), pg_port=free_port(), temporal_port=free_port())
    try:
        pg = stack.start_postgres()
        temporal = stack.start_temporal()
        upgrade(pg.url)
        run_sync(seed_demo_users(pg.url))
        stack.env = {
            **os.environ,
            "CASEBRIDGE_ENV": "test",
            "CASEBRIDGE_DATA_DIR": str(data_dir),
            "CASEBRIDGE_DATABASE_URL": pg.url,
            "CASEBRIDGE_TEMPORAL_ADDRESS": temporal.address,
            "CASEBRIDGE_TEMPORAL_NAMESPACE": NAMESPACE,
            "CASEBRIDGE_HTTP_PORT": str(stack.http_port),
            "CASEBRIDGE_POLICY": str(policy),
            "CASEBRIDGE_LOG_JSON": "true",
        }
        stack.start("worker")
        stack.start("api")
        stack.wait_ready()
        yield stack
    finally:
        stack.shutdown()


def lock_waiters(pg: EmbeddedPostgres | None) -> int:
    """How many sessions of the application's database are waiting for a lock right now."""
    assert pg is not None

    async def count() -> int:
        conn = await asyncpg.connect(pg.dsn())
        try:
            waiting: int = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'", pg.database
            )
            return waiting
        finally:
            await conn.close()

    return run_sync(count())


class RowLock:
    """Hold ``FOR UPDATE`` locks on some cases' read-model rows from another connection, so the
    projection activities of those cases block (they are "running") until the lock is let go."""

    def __init__(self, dsn: str, case_ids: list[str]) -> None:
        self.dsn = dsn
        self.case_ids = case_ids
        self._locked = threading.Event()
        self._release = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._hold()), daemon=True)
        self._error: BaseException | None = None

    async def _hold(self) -> None:
        try:
            conn = await asyncpg.connect(self.dsn)
            try:
                async with conn.transaction():
                    await conn.execute("SELECT 1 FROM cases WHERE id = ANY($1::text[]) FOR UPDATE", self.case_ids)
                    self._locked.set()
                    await asyncio.to_thread(self._release.wait)
            finally:
                await conn.close()
        except BaseException as exc:  # reported by __enter__ or release
            self._error = exc
            self._locked.set()

    def __enter__(self) -> RowLock:
        self._thread.start()
        self._locked.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def release(self) -> None:
        self._release.set()
        self._thread.join(30)

    def __exit__(self, *exc: object) -> None:
        self.release()
