"""Shared fixtures: a real PostgreSQL (embedded by default) and real Temporal test servers.

``CASEBRIDGE_TEST_DATABASE_URL`` points the suite at an existing server (a URL to any database on
it); each session makes a fresh database there, migrates it with Alembic and drops it at the end.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from casebridge.db.migrate import upgrade_async
from casebridge.db.session import make_engine, make_session_factory

BIN = Path(sys.executable).parent


def binary(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed; run `make test`, which installs it")
    return found


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A URL to a running PostgreSQL server (any database on it)."""
    external = os.environ.get("CASEBRIDGE_TEST_DATABASE_URL")
    if external:
        yield external
        return
    from casebridge.devstack import free_port, start_postgres

    data_dir = Path(tempfile.mkdtemp(prefix="casebridge-test-pg-"))
    server = start_postgres(data_dir, free_port())
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
async def database_url(pg_server_url: str) -> AsyncIterator[str]:
    name = f"casebridge_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_plain(pg_server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(pg_server_url).set(drivername="postgresql+asyncpg", database=name)
    rendered = url.render_as_string(hide_password=False)
    await upgrade_async(rendered)
    yield rendered
    admin = await asyncpg.connect(_plain(pg_server_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_session_factory(engine)


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=binary("temporal-test-server"))
    yield env
    await env.shutdown()
