"""Which database errors the API answers with 503 (the database cannot serve) rather than letting
them through as bugs. The outage itself (PostgreSQL stopped under load) is in tests/e2e/test_faults."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from casebridge.db.session import is_unavailable, make_engine
from casebridge.devstack import free_port

pytestmark = pytest.mark.timeout(30)


async def test_a_refused_connection_is_unavailable() -> None:
    engine = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing", pool_size=1)
    try:
        with pytest.raises(Exception) as refused:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert is_unavailable(refused.value), repr(refused.value)
    finally:
        await engine.dispose()


async def test_a_server_ending_the_session_is_unavailable(engine: AsyncEngine) -> None:
    """What a restart does to a pooled connection: the server terminates its backend (57P01)."""
    async with engine.connect() as victim, engine.connect() as admin:
        pid = (await victim.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DBAPIError) as lost:
            await victim.execute(text("SELECT 1"))
        assert is_unavailable(lost.value), repr(lost.value)
        await victim.invalidate()


async def test_errors_in_the_statement_are_not_unavailable(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        for statement in ("SELECT * FROM no_such_table", "SELECT 1/0", "SELECT 'x'::int"):
            with pytest.raises(DBAPIError) as wrong:
                await conn.execute(text(statement))
            assert not is_unavailable(wrong.value), statement
            await conn.rollback()
