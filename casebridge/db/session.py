"""Engines and session factories. Made in the app lifespan and in the worker, never at import."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def make_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


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
