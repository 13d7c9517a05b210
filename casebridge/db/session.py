"""Engines and session factories. Made in the app lifespan and in the worker, never at import."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

# asyncpg prepares every statement, and after five runs PostgreSQL may keep a generic plan for it,
# blind to the values: for a department's list or a word search that meant a bitmap of a third of
# a million cases, or a sequential scan, where the values' own plan walks an index and stops at the
# count's cap (bench/read_model_scale.py: 436 ms against 20 ms at a million cases). Planning each
# run costs well under a millisecond.
SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


def make_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    connect_args = {"server_settings": SERVER_SETTINGS} if url.startswith("postgresql+asyncpg") else {}
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, connect_args=connect_args
    )


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


# SQLSTATE classes of a server that cannot serve now: 08 connection exception; 57 operator
# intervention (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now: shutting down
# or starting up, 57014 statement cancelled).
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "57")


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached or is not serving (refused, lost,
    shutting down, starting up), as opposed to an error in what was asked of it."""
    # InterfaceError: the driver's side of the connection (asyncpg: "the connection is closed").
    if isinstance(exc, OSError | TimeoutError | OperationalError | InterfaceError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc.orig, OSError | TimeoutError):
        return True
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    return sqlstate[:2] in UNAVAILABLE_SQLSTATE_CLASSES
